"""The optimiser and dropout claims' helpers and arms: what each reports, and that the exact arms can fail.

Each Exact arm of RC-4 is run here with its property broken on purpose (SGD without lr / S, Adam
with a real eps at a tiny scale) and must then report a large error; a tuning grid must report each
recipe as that recipe trained alone; a dropout pair that shares its masks must not differ.
"""

from __future__ import annotations

import pytest
import torch

from fixtures.ablation import HiddenUnits, random_keep, unit_importance
from fixtures.arms.dropout import Ablation, MaskSpread
from fixtures.arms.optimizers import DigitsRecipe, Grid, RangeTest, WithControl, fit_subset, scaled_run_deviation
from fixtures.loss_scaling import underflow_fraction
from fixtures.recipes import fit_val_test, read_range_test
from instincts import BUDGETS, InvalidArgument, Recipe, RunContext, Switch, train
from models.mlp import MLP

ONE_EPOCH = RunContext(BUDGETS["smoke"].with_(epochs=1), torch.device("cpu"))


@pytest.fixture(scope="module")
def small():
    x_fit, y_fit, x_val, y_val, x_te, y_te = fit_val_test()
    return x_fit[:200], y_fit[:200], x_te, y_te


@pytest.fixture(scope="module")
def trained(small):
    x, y, _, _ = small
    return train(lambda: MLP(64, 64, 10), [0], (x, y), Recipe(batch_size=32, lr=1e-3, epochs=1)).models[0]


def test_grid_reports_each_recipe_as_trained_alone():
    recipes = (DigitsRecipe(lr=1e-3), DigitsRecipe(lr=3e-3, optimizer="adamw", weight_decay=1e-2))
    rows = Grid(recipes).run([0, 1], ONE_EPOCH)
    for i, recipe in enumerate(recipes):
        alone = recipe.run([0, 1], ONE_EPOCH)
        for row, ref in zip(rows, alone):
            assert set(row) >= {f"{m}[{i}]" for m in ("val_accuracy", "test_accuracy", "train_loss")}
            assert row[f"train_loss[{i}]"] == pytest.approx(ref["train_loss"], rel=1e-4)
            assert row[f"val_accuracy[{i}]"] == pytest.approx(ref["val_accuracy"], abs=1 / 288)


def test_grid_mixes_activations_and_groups_as_if_trained_alone():
    recipes = (DigitsRecipe(act="gelu"), DigitsRecipe(), DigitsRecipe(head_lr=1e-2), DigitsRecipe(act="gelu", lr=3e-3))
    rows = Grid(recipes).run([0], ONE_EPOCH)[0]
    for i, recipe in enumerate(recipes):
        assert rows[f"train_loss[{i}]"] == pytest.approx(recipe.run([0], ONE_EPOCH)[0]["train_loss"], rel=1e-4)
    assert rows["train_loss[0]"] != rows["train_loss[1]"] != rows["train_loss[2]"]  # act and head lr took effect


def test_head_lr_is_a_parameter_group_and_steps_fix_the_length():
    recipe = DigitsRecipe(head_lr=4e-3, steps=50).recipe(12)
    assert recipe.groups[0].prefix == "2." and recipe.groups[0].lr == 4e-3 and recipe.steps == 50
    assert DigitsRecipe(epochs=40).recipe(12).epochs == 40 and DigitsRecipe().recipe(12).epochs == 12


def test_subset_is_stratified_and_control_gain_is_zero_against_itself():
    _, y = fit_subset(300)
    assert len(y) == 300 and torch.bincount(y).min() >= 28
    arm = DigitsRecipe(train_size=300, steps=20)
    rows = WithControl(arm, arm).run([0, 1], ONE_EPOCH)
    assert all(r["gain"] == 0.0 and "val_accuracy" in r for r in rows)


def test_switch_hands_over_after_the_stated_fraction_of_epochs():
    assert DigitsRecipe(switch_at=0.5, switch_lr=0.05).recipe(12).switch == Switch(6, 0.05, momentum=0.9)
    assert DigitsRecipe(switch_at=0.5, switch_lr=0.05).recipe(1).switch is None  # rounds to epoch 0: never
    assert DigitsRecipe().recipe(12).switch is None


def test_a_tiny_lr_leaves_the_loss_where_it_started():
    rows = Grid((DigitsRecipe(lr=1e-3), DigitsRecipe(lr=1e-6))).run([0, 1], ONE_EPOCH)
    assert all(r["val_accuracy[0]"] > r["val_accuracy[1]"] for r in rows)


def test_range_test_reports_every_step():
    rows = RangeTest(steps=40).run([0], ONE_EPOCH)
    assert len(rows[0]) == 40 and rows[0]["loss[0]"] == pytest.approx(2.3, abs=0.1)


def test_masks_are_all_that_differ_in_a_dropout_pair():
    assert MaskSpread(dropout=0.0).run([0], ONE_EPOCH)[0]["abs_diff"] == 0.0


def test_sgd_invariance_breaks_without_dividing_lr():
    assert scaled_run_deviation(0, 1000.0) < 1e-9
    assert scaled_run_deviation(0, 1000.0, divide_lr=False) > 1.0


def test_adam_invariance_breaks_with_a_real_eps_at_tiny_scales():
    assert scaled_run_deviation(0, 2.0 ** -16, "adam", eps=1e-300) < 1e-9
    assert scaled_run_deviation(0, 2.0 ** -16, "adam", eps=1e-8) > 1e-3


def test_underflow_counts_zeros_and_scaling_removes_them(small, trained):
    x, y, _, _ = small
    net = MLP(64, 64, 10)
    net.load_state_dict(trained.state_dict())
    with torch.no_grad():
        net[2].weight.mul_(1e-6)  # shrink the output layer: its activation gradients now underflow float16
    unscaled = underflow_fraction(net, x, y, 1.0)
    scaled = underflow_fraction(net, x, y, 2.0 ** 14)
    assert unscaled["zeroed_fraction"] > 0.5
    assert scaled["zeroed_fraction"] < unscaled["zeroed_fraction"]


def test_range_test_reading_rule():
    lrs = [10.0 ** (k / 2) for k in range(-12, 1)]  # 1e-6 .. 1
    losses = [2.3] * 5 + [2.0, 1.5, 1.0, 0.6, 0.5, 0.9, 3.0, 9.0]
    bands = read_range_test(lrs, losses)
    assert bands["min_loss_lr"] < bands["diverges_from"]
    assert bands["flat_until"] > lrs[0]
    assert bands["pick"] == pytest.approx(bands["min_loss_lr"] / 10)


def test_importance_ranks_a_dead_unit_last(small, trained):
    _, _, xt, yt = small
    net = HiddenUnits.of([trained])
    net.w2[0, 5] = 0.0  # unit 5 no longer reaches the output: zeroing it costs nothing
    assert unit_importance(net, xt, yt)[0, 5] == 0
    assert torch.equal(trained[2].weight[:, 5], HiddenUnits.of([trained]).w2[0, 5])  # the network is unchanged
    assert random_keep(0, 64, 8, 3).sum(1).tolist() == [56, 56, 56]


@pytest.mark.parametrize("kwargs,match", [
    ({"optimizer": "rmsprop"}, r"optimizer='rmsprop' is not allowed"),
    ({"lr": 0.0}, r"lr=0.0 is not allowed"),
    ({"switch_at": 1.0}, r"switch_at=1.0 is not allowed"),
    ({"switch_at": 0.2}, r"switch_at=0.2, switch_lr=0.0 are not allowed"),
    ({"weight_decay": -1.0}, r"weight_decay=-1.0 is not allowed"),
    ({"act": "tanh"}, r"act='tanh' is not allowed"),
    ({"train_size": 5}, r"train_size=5 is not allowed"),
    ({"head_lr": 0.0}, r"group lr=0.0 is not allowed"),
])
def test_recipe_rejects_bad_values(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        DigitsRecipe(**kwargs)


def test_other_bad_values_are_named():
    with pytest.raises(InvalidArgument, match=r"ranking='best' is not allowed"):
        Ablation(8, "best")
    with pytest.raises(InvalidArgument, match=r"dropout=1.0 is not allowed"):
        MaskSpread(dropout=1.0)
    with pytest.raises(InvalidArgument, match=r"scale=0.0 is not allowed"):
        scaled_run_deviation(0, 0.0)
    with pytest.raises(InvalidArgument, match=r"optimizer='lbfgs' is not allowed"):
        scaled_run_deviation(0, 2.0, "lbfgs")
    with pytest.raises(InvalidArgument, match="a Grid trains in one batch"):
        Grid((DigitsRecipe(), DigitsRecipe(hidden=32))).run([0], ONE_EPOCH)


def test_grid_width_counts_cells_near_each_seeds_best():
    from fixtures.arms.optimizers import GridWidth

    cells = (DigitsRecipe(lr=1e-3), DigitsRecipe(lr=1e-6))  # the tiny lr stays near chance: 1 of 2 cells is good
    rows = GridWidth(cells, cells[:1]).run([0, 1], ONE_EPOCH)
    assert all(r["width"] == 0.5 and r["gain"] == 0.0 for r in rows)
