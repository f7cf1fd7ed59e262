"""DS-1's helpers: the laws are fitted and extrapolated correctly, the arm rejects unusable sizes, and
the evidence helper attaches its figure and text through the experiment."""

import numpy as np
import pytest

from fixtures.arms.dataset import MixtureLearningCurve
from fixtures.learning_curve import attach_learning_curve, bootstrap_band, fit_law, power_law_offset, predict

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
    assert text_name == "bootstrap band" and "observed mean" in text and "n=3200" in text
