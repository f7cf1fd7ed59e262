"""Dataset: how much data do we need? (DS-1) A learning curve fitted on small sizes, tested on a larger one."""

from fixtures.arms.dataset import MixtureLearningCurve
from fixtures.learning_curve import attach_learning_curve
from instincts import Predicts, Superior, claim

SECTION = "Dataset"
QUESTION = "How much data do we need?"
ANCHORS = ["Hestness et al. 2017: generalization error follows a power law in data, exponents -0.07 to -0.35",
           "Kaplan et al. 2020: loss ~ power law in data plus an irreducible term"]
CURVE = MixtureLearningCurve()
METHOD = (f"Two-class Gaussian mixture (20 features, Bayes error 13.2%); per seed a fresh training pool and "
          f"{CURVE.test_size:,} test points (x the budget's data scale). MLP 20-{CURVE.hidden}-2, Adam lr {CURVE.lr}, "
          f"batch {CURVE.batch_size}, about {CURVE.steps} steps at every size (epochs = steps x batch / n), so small "
          f"sets are not also undertrained. Test error at n = {', '.join(map(str, CURVE.sizes))} (nested prefixes of "
          f"the pool); per seed, err(n) = a n^-b + c and the pure law a n^-b are fitted by least squares "
          f"(scipy curve_fit) and extrapolated to n = {CURVE.heldout} (4x the largest), where the error is "
          f"measured but never fitted. Paired by seed: observed minus predicted.")


@claim("DS-1", "A power law with offset, err(n) = a n^-b + c, fitted on n = 100..800 predicts the test error at "
       "4x the largest n to within ±2pp",
       section=SECTION, question=QUESTION, anchors=ANCHORS, method=METHOD)
def test_power_law_with_offset_predicts_a_larger_dataset(experiment):
    verdict = experiment.predicts(CURVE, observed="heldout_error", predicted="offset_law_prediction",
                                  expect=Predicts(tol=0.02), config={"heldout": CURVE.heldout})
    attach_learning_curve(experiment, CURVE)
    assert verdict


@claim("DS-1", "A pure power law without offset over-predicts the gain: the observed error at 4x the largest n "
       "is above its prediction",
       section=SECTION, question=QUESTION, anchors=ANCHORS, method=METHOD)
def test_pure_power_law_over_predicts_the_gain(experiment):
    verdict = experiment.predicts(CURVE, observed="heldout_error", predicted="pure_law_prediction",
                                  expect=Superior(), config={"heldout": CURVE.heldout})
    attach_learning_curve(experiment, CURVE)
    assert verdict
