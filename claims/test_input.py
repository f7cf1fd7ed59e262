"""Input: resolution, aspect ratio, image quality and multi-resolution training on rendered shapes (IN-1..IN-4).

Every arm trains the same small CNN with global average pooling (``models.cnn.ShapesCNN``) on
procedurally rendered shapes (``fixtures.shape_sets``): one scene description per image, rendered at
whatever resolution or aspect ratio the arm asks for. So arms differ only in how the *same* scenes
are drawn, and seeds pair them fully: seed s fixes the training scenes, the initial weights (the
network has the same parameters at every input size) and the data order. Test scenes are one fixed
set, rendered per arm at the sizes it is scored on. The arms live in ``fixtures.arms.input``.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.input import (
    BY_RESOLUTION,
    CLEAN_32,
    MULTI_RES,
    RESOLUTIONS,
    UNSEEN_SIZES,
    CostExponent,
    Difference,
    ShapesNet,
    equal_pixel_square,
)
from fixtures.samples import attach_means, attach_samples
from fixtures.shape_sets import square
from instincts import Increasing, NonInferior, Predicts, Superior, claim

SECTION = "Input"
MODEL = ("ShapesCNN width 8 (conv 8-16-16 with batch norm, global average pooling, 5 classes: circle, square, "
         "triangle, star, cross), Adam lr 1e-2 with cosine decay to 0 over the run, batch 32, epochs from the "
         "budget, trained per seed")
DATA = ("shapes rendered from scene descriptions (random palette colour on black, random rotation, position "
        "and scale 0.45-0.7 of the half-side, 3x3 supersampled); training scenes drawn per seed (600 x the "
        "budget's data scale), one fixed test set of 1,000 scenes; paired by seed: same scenes, init and order")
IN1 = dict(section=SECTION, question="Does input resolution matter?",
           anchors=["EfficientNet (Tan & Le 2019): ResNet-50 76.0% -> 77.5% at 2x resolution",
                    "FixRes (Touvron et al. 2019): 77.1% at 128 px vs 79.8% at 224 px"])


@claim("IN-1", "Accuracy increases with render resolution (8, 16, 32 px)", **IN1,
       method=f"{MODEL}; {DATA}. The same scenes rendered at 8, 16 and 32 px; trend test over the three levels, "
              "paired by seed.")
def test_accuracy_increases_with_resolution(experiment):
    every_size = ShapesNet(train_sizes=tuple(map(square, RESOLUTIONS)))
    attach_samples(experiment, every_size, "the same scenes at 8, 16, 32 px")
    assert experiment.trend(BY_RESOLUTION, metric="accuracy", expect=Increasing())


@claim("IN-1", "Diminishing returns: doubling the resolution from 8 to 16 px gains more accuracy than from 16 to 32 px",
       **IN1, method=f"{MODEL}; {DATA}. Per seed, gain(8->16) = acc16 - acc8 and gain(16->32) = acc32 - acc16 "
                     "(the same trainings as the trend); one-sided paired t test that the first gain is larger.")
def test_resolution_has_diminishing_returns(experiment):
    r = BY_RESOLUTION
    assert experiment.compare(Difference(r[16], r[8]), Difference(r[32], r[16]), metric="difference",
                              expect=Superior(), labels=("gain 8->16", "gain 16->32"), unit="pp")


@claim(id="IN-1", timing=True,
       statement="Training cost per epoch grows with resolution, about with pixel count: CPU time per epoch is "
       "increasing over 8, 16, 32 px, and from 16 to 32 px (4x pixels) it grows as pixels^b with b within 1 ± 0.25",
       **IN1, method=f"{MODEL}; {DATA}. Cost = process CPU time per training epoch of the accuracy trainings "
                     "(one torch thread per worker under -n; contention from other processes does not count). "
                     "Trend test over 8, 16, 32 px; the exponent b = log(t32/t16)/log(4) per seed, judged by TOST "
                     "against 1 ± 0.25 (4x pixels costing 2.8x to 5.7x).", comparisons=2)
def test_cost_grows_with_pixel_count(experiment):
    trend = experiment.trend(BY_RESOLUTION, metric="cpu_seconds_per_epoch", expect=Increasing(), unit="s")
    law = experiment.predicts(CostExponent(BY_RESOLUTION[16], BY_RESOLUTION[32]), observed="exponent",
                              predicted="pixel_law", expect=Predicts(tol=0.25), unit="")
    attach_means(experiment, {f"{r} px": arm for r, arm in BY_RESOLUTION.items()},
                 ("accuracy", "cpu_seconds_per_epoch", "seconds_per_epoch"), "accuracy and cost per resolution")
    assert trend and law


@claim("IN-2", "Non-square inputs are non-inferior (1pp) to square inputs of the same pixel count",
       section=SECTION, question="Must the input be square (width = height)?",
       anchors=["CNNs with global pooling take any input size (Lin et al. 2014, Network in Network)"],
       method=f"{MODEL}; {DATA}. The stage unit is half the side of the square with the image's pixel count, so "
              "an object covers the same number of pixels, undistorted, in a 16x32 and a 23x23 image; the scene's "
              "position uses the free room on each axis. Non-inferiority (margin 1pp) on paired test accuracy.")
@given(size=st.sampled_from([(16, 32), (32, 16), (12, 24), (24, 12)]))
def test_non_square_inputs_are_non_inferior(experiment, size):
    sq = equal_pixel_square(size)
    wide = ShapesNet(train_sizes=(size,))
    attach_samples(experiment, wide, "non-square")
    verdict = experiment.compare(wide, ShapesNet(train_sizes=(sq,)), metric="accuracy",
                                 expect=NonInferior(margin=0.01), config={"size": f"{size[0]}x{size[1]}"},
                                 labels=(f"{size[0]}x{size[1]}", f"{sq[0]}x{sq[1]}"))
    assert verdict


@claim("IN-4", "Training on the same scenes rendered at 16 and 32 px beats training at 32 px only, at a test "
       "resolution neither has seen", section=SECTION,
       question="The same image at several resolutions: does multi-resolution training help?",
       anchors=["FixRes (Touvron et al. 2019): a train/test resolution discrepancy costs accuracy"],
       method=f"{MODEL}; {DATA}. Multi-resolution arm: training steps alternate between the 16 px and the "
              "32 px rendering of the same scenes (same number of steps as the 32 px arm). Test resolution drawn "
              "from 12, 20, 24, 40, 48 px; one-sided paired t test on test accuracy there.")
@given(test_side=st.sampled_from(UNSEEN_SIZES))
def test_multi_resolution_training_generalises_to_unseen_resolution(experiment, test_side):
    attach_samples(experiment, MULTI_RES, "multi-resolution training")
    verdict = experiment.compare(MULTI_RES, CLEAN_32, metric=f"accuracy_{test_side}x{test_side}",
                                 expect=Superior(), config={"test_px": test_side},
                                 labels=("trained 16+32 px", "trained 32 px"))
    attach_means(experiment, {"trained 16+32 px": MULTI_RES, "trained 32 px": CLEAN_32},
                 [f"accuracy_{h}x{w}" for h, w in CLEAN_32.test_sizes], "accuracy per test resolution")
    assert verdict
