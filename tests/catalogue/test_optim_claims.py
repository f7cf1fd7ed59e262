"""The optimiser and dropout claims' helpers: the batched trainer is torch's, the exact arms can fail.

Each Exact arm of RC-4 is run here with its property broken on purpose (SGD without lr / S, Adam
with a real eps at a tiny scale) and must then report a large error; the batched trainer of
``fixtures.recipes`` must match the engine's ``fit_classifiers`` seed for seed.
"""

from __future__ import annotations

import pytest
import torch

from fixtures.ablation import Ablation, random_keep, unit_importance
from fixtures.loss_scaling import scaled_run_deviation, underflow_fraction
from fixtures.recipes import Grid, Member, fit_val_test, read_range_test, train_members
from instincts.budget import get_budget
from instincts.experiment import RunContext
from instincts.train import Recipe, fit_classifiers
from models.mlp import MLP


@pytest.fixture(scope="module")
def small():
    x_fit, y_fit, x_val, y_val, x_te, y_te = fit_val_test()
    return x_fit[:200], y_fit[:200], x_te, y_te


@pytest.mark.parametrize("optimizer,lr,wd", [("adam", 1e-3, 1e-3), ("adamw", 3e-3, 1e-2), ("sgd", 0.05, 1e-3)])
def test_batched_trainer_matches_fit_classifiers(small, optimizer, lr, wd):
    x, y, xt, yt = small
    ref = fit_classifiers(lambda: MLP(64, 64, 10), [0, 1, 2, 3], (x, y), (xt, yt),
                          Recipe(32, lr, 2, optimizer=optimizer, weight_decay=wd), strategy="bmm")
    net = train_members([Member(s, lr=lr, optimizer=optimizer, weight_decay=wd) for s in range(4)], x, y, 2)
    assert net.train_loss.tolist() == pytest.approx([r["train_loss"] for r in ref], rel=1e-4, abs=1e-5)
    assert net.accuracy(xt, yt).tolist() == pytest.approx([r["test_accuracy"] for r in ref], abs=2 / 360)


def test_a_member_does_not_depend_on_its_batch(small):
    """The engine caches per seed: a member's result must not change with the members beside it."""
    x, y, _, _ = small
    alone = train_members([Member(3, dropout=0.3, label_noise=0.2)], x, y, 2)
    crowd = train_members([Member(5, lr=1e-2), Member(3, dropout=0.3, label_noise=0.2)], x, y, 2)
    assert torch.allclose(alone.w1[0], crowd.w1[1], atol=1e-6)


def test_switch_to_sgd_changes_the_run_after_the_switch_only(small):
    x, y, _, _ = small
    plain, switched = train_members([Member(0), Member(0, switch_epoch=1, switch_lr=0.05)], x, y, 1).w1
    assert torch.equal(plain, switched)  # no switch within the first epoch
    plain, switched = train_members([Member(0), Member(0, switch_epoch=1, switch_lr=0.05)], x, y, 2).w1
    assert not torch.allclose(plain, switched)


def test_sgd_invariance_breaks_without_dividing_lr():
    assert scaled_run_deviation(0, 1000.0) < 1e-9
    assert scaled_run_deviation(0, 1000.0, divide_lr=False) > 1.0


def test_adam_invariance_breaks_with_a_real_eps_at_tiny_scales():
    assert scaled_run_deviation(0, 2.0 ** -16, "adam", eps=1e-300) < 1e-9
    assert scaled_run_deviation(0, 2.0 ** -16, "adam", eps=1e-8) > 1e-3


def test_underflow_counts_zeros_and_scaling_removes_them(small):
    x, y, _, _ = small
    net = train_members([Member(0)], x, y, 1)
    net.w2.mul_(1e-6)  # shrink the output layer: its activation gradients now underflow float16
    unscaled = underflow_fraction(net, 0, x, y, 1.0)
    scaled = underflow_fraction(net, 0, x, y, 2.0 ** 14)
    assert unscaled["zeroed_fraction"] > 0.5
    assert scaled["zeroed_fraction"] < unscaled["zeroed_fraction"]


def test_range_test_reading_rule():
    lrs = [10.0 ** (k / 2) for k in range(-12, 1)]  # 1e-6 .. 1
    losses = [2.3] * 5 + [2.0, 1.5, 1.0, 0.6, 0.5, 0.9, 3.0, 9.0]
    bands = read_range_test(lrs, losses)
    assert bands["min_loss_lr"] < bands["diverges_from"]
    assert bands["flat_until"] > lrs[0]
    assert bands["pick"] == pytest.approx(bands["min_loss_lr"] / 10)


def test_importance_ranks_a_dead_unit_last(small):
    x, y, xt, yt = small
    net = train_members([Member(0)], x, y, 1)
    net.w2[0, 5] = 0.0  # unit 5 no longer reaches the output: zeroing it costs nothing
    assert unit_importance(net, xt, yt)[0, 5] == 0
    assert random_keep(0, 64, 8, 3).sum(1).tolist() == [56, 56, 56]


@pytest.mark.parametrize("kwargs,match", [
    ({"optimizer": "rmsprop"}, r"optimizer='rmsprop' is not allowed"),
    ({"lr": 0.0}, r"lr=0.0 is not allowed"),
    ({"dropout": 1.0}, r"dropout=1.0 is not allowed"),
    ({"label_noise": -0.1}, r"label_noise=-0.1 is not allowed"),
    ({"switch_epoch": 2}, r"switch_epoch=2, switch_lr=0.0 are not allowed"),
])
def test_member_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Member(0, **kwargs)


def test_other_bad_values_are_named():
    with pytest.raises(ValueError, match=r"ranking='best' is not allowed"):
        Ablation(8, "best")
    with pytest.raises(ValueError, match=r"scale=0.0 is not allowed"):
        scaled_run_deviation(0, 0.0)
    with pytest.raises(ValueError, match=r"optimizer='lbfgs' is not allowed"):
        scaled_run_deviation(0, 2.0, "lbfgs")
    with pytest.raises(ValueError, match="members=\\[\\] is not allowed"):
        train_members([], torch.zeros(1, 64), torch.zeros(1, dtype=torch.long), 1)


def test_grid_reports_each_recipe(small):
    from fixtures.recipes import DigitsRecipe

    context = RunContext(get_budget("smoke").with_(epochs=1), torch.device("cpu"))
    rows = Grid((DigitsRecipe(lr=1e-3), DigitsRecipe(lr=1e-6))).run([0, 1], context)
    assert set(rows[0]) == {f"{m}[{i}]" for m in ("val_accuracy", "test_accuracy", "train_loss") for i in (0, 1)}
    assert all(r["val_accuracy[0]"] > r["val_accuracy[1]"] for r in rows)
