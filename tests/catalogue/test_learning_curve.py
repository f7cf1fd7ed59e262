"""DS-1's helpers: the laws are fitted and extrapolated correctly, the arm rejects unusable sizes, and
the evidence helper attaches its figure and text through the experiment."""

import numpy as np
import pytest

from fixtures.arms.dataset import DataNeeded, MixtureLearningCurve, MixtureMLP
from fixtures.learning_curve import (
    attach_learning_curve,
    bootstrap_band,
    facts_table,
    fit_law,
    n_needed,
    power_law_offset,
    predict,
)
from instincts import BUDGETS, Predicts, RunContext

SIZES = (100, 141, 200, 283, 400, 566, 800)


def test_offset_law_is_recovered_and_extrapolated():
    errors = power_law_offset(np.asarray(SIZES, dtype=float), 2.0, 0.5, 0.1)
    a, b, c = fit_law(SIZES, errors)
    assert (a, b, c) == pytest.approx((2.0, 0.5, 0.1), rel=1e-3)
    assert predict((a, b, c), 3200) == pytest.approx(2.0 * 3200 ** -0.5 + 0.1, rel=1e-4)


def test_pure_law_has_no_floor_so_it_over_predicts_the_gain():
    errors = power_law_offset(np.asarray(SIZES, dtype=float), 2.0, 0.5, 0.1)
    truth = 2.0 * 3200 ** -0.5 + 0.1
    assert predict(fit_law(SIZES, errors, offset=False), 3200) < truth


@pytest.mark.parametrize("sizes, errors", [((100, 200, 400), (0.3, 0.2, 0.15)), (SIZES, (0.1,) * 6 + (np.nan,))])
def test_fit_law_names_what_it_cannot_fit(sizes, errors):
    with pytest.raises(ValueError, match="sizes"):
        fit_law(sizes, errors)


def test_bootstrap_band_brackets_a_noiseless_prediction():
    curve = power_law_offset(np.asarray(SIZES, dtype=float), 2.0, 0.5, 0.1)
    lo, hi = bootstrap_band(SIZES, np.stack([curve] * 4), 3200, draws=20)
    assert lo == pytest.approx(hi, rel=1e-6) and lo == pytest.approx(predict(fit_law(SIZES, curve), 3200), rel=1e-6)


@pytest.mark.parametrize("kwargs", [{"sizes": (100, 200, 400)}, {"sizes": (400, 200, 100, 50)},
                                    {"heldout": 800}])
def test_curve_arm_rejects_unusable_sizes(kwargs):
    with pytest.raises(ValueError, match="sizes"):
        MixtureLearningCurve(**kwargs)


class FakeExperiment:
    """The two things the helper asks of an experiment: rows per seed, and attachments."""

    def __init__(self, rows):
        self.rows, self.attached = rows, []

    def seeds(self, n=None):
        return list(range(len(self.rows)))

    def run(self, arm, seeds):
        return [self.rows[s] for s in seeds]

    def attach(self, name, obj, kind=None):
        self.attached.append((name, obj, kind))


def test_evidence_is_a_figure_and_a_line_of_text():
    curve = MixtureLearningCurve()
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(4):
        errs = power_law_offset(np.asarray((*curve.sizes, curve.heldout), dtype=float), 2.0, 0.5, 0.1)
        errs = errs + rng.normal(0, 0.003, len(errs))
        rows.append({**{f"err@{n}": e for n, e in zip((*curve.sizes, curve.heldout), errs)},
                     "heldout_error": errs[-1]})
    experiment = FakeExperiment(rows)
    attach_learning_curve(experiment, curve)
    (plot_name, figure, _), (text_name, text, _) = experiment.attached
    assert plot_name == "learning curve" and hasattr(figure, "savefig") and len(figure.axes[0].lines) > 4
    assert text_name == "bootstrap band" and "observed mean" in text and f"n={curve.heldout}" in text


def test_the_curve_is_titled_with_the_verdict_it_stands_behind():
    curve = MixtureLearningCurve()
    sizes = np.asarray((*curve.sizes, curve.heldout), dtype=float)
    rows = [{**{f"err@{n}": e for n, e in zip(sizes.astype(int), power_law_offset(sizes, 2.0, 0.5, 0.1) + d)},
             "heldout_error": float(power_law_offset(sizes[-1:], 2.0, 0.5, 0.1)[0] + d)} for d in (-0.002, 0.0, 0.002)]
    verdict = Predicts(tol=0.005).judge(np.array([0.001, -0.002, 0.0005]), alpha=0.05, unit="pp")
    experiment = FakeExperiment(rows)
    attach_learning_curve(experiment, curve, label="160 features", verdict=verdict)
    title = experiment.attached[0][1].axes[0].get_title(loc="left")
    assert title == f"{verdict.outcome.value}: {verdict.expected} (160 features)" and "0.5pp" in title


def test_n_needed_inverts_the_offset_law_and_caps_an_unreachable_target():
    params = (2.0, 0.5, 0.1)
    n = n_needed(params, 0.12)
    assert n == pytest.approx(10_000, rel=1e-9) and predict(params, n) == pytest.approx(0.12)
    assert n_needed(params, 0.1, most=5000) == 5000 and n_needed(params, 0.12, most=5000) == 5000
    with pytest.raises(ValueError, match="target"):
        n_needed(params, 1.5)


def test_weighted_fit_is_not_pulled_by_noise_at_the_smallest_size():
    sizes = np.array([50, 100, 200, 400, 800, 1600], dtype=float)
    errors = power_law_offset(sizes, 2.0, 0.7, 0.13)
    errors[0] += 0.04  # the scatter a 50-example net shows
    assert fit_law(sizes, errors)[2] == pytest.approx(0.13, abs=0.01)


def test_the_procedure_trains_each_seed_on_its_own_nested_subset_and_reports_facts():
    net = MixtureMLP(dim=4, hidden=8, min_steps=20, pool=4096)
    context = RunContext(BUDGETS["smoke"].with_(epochs=2), "cpu")
    rows = net.train(40, [0, 1], context)
    assert rows[0]["err"] != rows[1]["err"] and rows[0]["batch"] == 8 and net.n_train(40) == 32
    assert {"epochs_run", "cap_hit", "train_accuracy", "best_val_accuracy", "train_loss"} <= set(rows[0])
    arm = DataNeeded(net, ((0, 40), (1, 60)), target=0.2)
    out = arm.run([1, 0], context)
    assert [r["n_needed"] for r in out] == [60, 40] and out[1]["error_at_needed"] == rows[0]["err"]
    with pytest.raises(ValueError, match="seeds"):
        arm.run([2], context)


@pytest.mark.parametrize("n", [10, 41, 4096])
def test_the_procedure_names_a_size_it_cannot_train(n):
    with pytest.raises(ValueError, match="n="):
        MixtureMLP(dim=4, pool=4096).check_size(n)


def test_facts_table_summarises_each_size_over_seeds():
    rows = [{"epochs@50": e, "cap_hit@50": 0.0, "train_accuracy@50": 0.9, "best_val_accuracy@50": 0.8,
             "err@50": 0.2, "batch@50": 8.0, "cap@50": 600.0} for e in (10.0, 14.0)]
    (row,) = facts_table(rows, (50, 100))
    assert row["epochs_mean"] == 12.0 and row["epochs_min"] == 10.0 and row["cap_hit_share"] == 0.0
