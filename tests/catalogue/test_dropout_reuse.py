"""RC-5's dropout pairs and RC-7's scaled Thresholdout: what they report, and that bad values are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures.ablation import HiddenUnits, unit_importance
from fixtures.arms.dropout import DropoutPairs, dropout_mlp
from fixtures.arms.selection import ReuseGap
from fixtures.recipes import fit_val_test
from fixtures.thresholdout import Thresholdout, reuse_gaps
from instincts import BUDGETS, RunContext

ONE_EPOCH = RunContext(BUDGETS["smoke"].with_(epochs=1), torch.device("cpu"))


def test_pairs_without_dropout_differ_only_across_seeds():
    masks, seeds = DropoutPairs("masks", dropout=0.0).run([0], ONE_EPOCH)[0], DropoutPairs("seeds", 0.0).run(
        [0], ONE_EPOCH)[0]
    # the loss gap to float32 rounding: it measured 3e-8 on one CPU and 0 on another
    assert masks["disagreement"] == 0.0 and masks["loss_gap"] == pytest.approx(0.0, abs=1e-6)
    assert masks["importance_rho"] == pytest.approx(1)
    assert seeds["disagreement"] > 0.0 and abs(seeds["importance_rho"]) < 0.5


def test_scale_multiplies_the_spread_only():
    full, half = (DropoutPairs("seeds", 0.0, scale).run([0], ONE_EPOCH)[0] for scale in (1.0, 0.5))
    assert half["disagreement"] == pytest.approx(full["disagreement"] / 2)
    assert half["importance_rho"] == full["importance_rho"]


def test_hidden_units_skip_the_dropout_layer():
    torch.manual_seed(0)
    net = dropout_mlp(0.5).eval()
    x = fit_val_test()[0][:20]
    assert torch.allclose(HiddenUnits.of([net]).logits(x)[0], net(x), atol=1e-5)


def test_loss_importance_is_zero_for_a_disconnected_unit():
    torch.manual_seed(0)
    units = HiddenUnits.of([dropout_mlp(0.0).eval()])
    units.w2[0, 3] = 0.0
    x, y = fit_val_test()[2:4]
    assert unit_importance(units, x, y, by="loss")[0, 3] == pytest.approx(0.0, abs=1e-6)


def test_thresholdout_scales_with_one_over_sqrt_n():
    assert Thresholdout.scaled(10_000) == Thresholdout()
    scaled = Thresholdout.scaled(100)
    assert scaled.threshold == pytest.approx(0.4) and scaled.sigma == pytest.approx(0.1)


def test_thresholdout_gap_uses_the_scaled_mechanism_and_reports_fresh_accuracy():
    row = ReuseGap(200, 25, "thresholdout").run([0], ONE_EPOCH)[0]
    assert set(row) == {"gap", "fresh", "holdout_answers"} and 0.5 < row["fresh"] <= 1.0
    exact = reuse_gaps(0, 200, 25, fresh_size=ONE_EPOCH.budget.scaled(5000), mechanism=Thresholdout.scaled(200))
    assert row["gap"] == exact["gap_thresholdout"]


@pytest.mark.parametrize("make, bad", [
    (lambda: DropoutPairs("inits"), "differ='inits'"), (lambda: DropoutPairs("masks", 1.0), "dropout=1.0"),
    (lambda: DropoutPairs("masks", scale=0.0), "scale=0.0"), (lambda: Thresholdout.scaled(0), "n=0"),
    (lambda: unit_importance(HiddenUnits.of([dropout_mlp(0.0)]), torch.zeros(1, 64), torch.zeros(1).long(), "f1"),
     "by='f1'"),
])
def test_bad_values_are_named(make, bad):
    with pytest.raises(ValueError, match=bad.replace("(", r"\(")):
        make()


def test_answers_are_training_side_when_close():
    mech = Thresholdout(threshold=0.5, sigma=0.0)
    answers, used = mech.answers(np.array([0.7]), np.array([0.8]), np.random.default_rng(0))
    assert answers.tolist() == [0.7] and used == 0
