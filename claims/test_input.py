"""Input: resolution, aspect ratio and multi-resolution training on rendered shapes (IN-1, IN-2, IN-4).

Every arm trains a small CNN with global average pooling (``models.cnn.ShapesCNN``) on procedurally
rendered shapes (``fixtures.shape_sets``): one scene description per image, rendered at whatever
resolution or aspect ratio the arm asks for. So arms differ only in how the *same* scenes are drawn,
and seeds pair them fully: seed s fixes the training scenes, the validation split, the initial weights
(the network has the same parameters at every input size) and the data order. Test scenes are one
fixed set, rendered per arm at the sizes it is scored on. The arms live in ``fixtures.arms.input``.
"""

from __future__ import annotations

import math

from fixtures.arms.input import (
    CAP_FACTOR,
    FINE_NET,
    IN2_SIZE,
    IN4_ABOVE,
    IN4_BELOW,
    IN4_BETWEEN,
    IN4_TESTS,
    MULTI_RES_FIXRES,
    PATIENCE,
    SINGLE_32_FIXRES,
    SMOKE_RESOLUTIONS,
    VALIDATION,
    WIDE_RESOLUTIONS,
    AffineCost,
    Gain,
    aspect_arm,
    by_resolution,
)
from fixtures.samples import attach_means, attach_samples
from fixtures.shape_sets import equal_pixel_square
from fixtures.shapes import FINE_CLASSES
from instincts import Increasing, NonInferior, Predicts, Requires, Superior, claim, trained

SECTION = "Input"


def converged(patience: int = PATIENCE) -> str:
    return (f"Adam lr 3e-3, batch 32, early stopping on a per-seed {VALIDATION:.0%} validation split (patience "
            f"{patience}, best epoch restored), cap {CAP_FACTOR} x the budget's epochs (36 on smoke), no tuning")


CONVERGED = converged()
DATA = ("shapes rendered from scene descriptions (random palette colour on black, random rotation, position and "
        "scale 0.45-0.7 of the half-side, 3x3 supersampled); training scenes drawn per seed, one fixed test set of "
        "1,000 scenes; paired by seed: same scenes, split, init and order")
IN1_TRAINING = converged(FINE_NET["patience"])
FINE = (f"{len(FINE_CLASSES)} classes that differ in corner or point count only, at nearly equal area "
        f"({', '.join(FINE_CLASSES)}); 1,000 training scenes x the budget's data scale")
IN1_MODEL = "ShapesCNN width 8, 4 conv blocks with batch norm (a final unit sees 38 px), global average pooling"
IN1 = dict(section=SECTION, question="Does input resolution matter?",
           anchors=["EfficientNet (Tan & Le 2019): ResNet-50 76.0% -> 77.5% at 2x resolution; 'the accuracy gain "
                    "diminishes for bigger models'",
                    "FixRes (Touvron et al. 2019): 77.1% at 128 px vs 79.8% at 224 px"])
CHANCE_FINE = 1 / len(FINE_CLASSES)
TRAINED_FINE = trained(CHANCE_FINE + 0.25)  # 12.5% chance + 25pp


def resolutions(experiment) -> tuple[int, int, int]:
    """IN-1's levels: 16, 24, 32 px on smoke (CPU minutes); 16, 32, 64 px on the larger budgets."""
    return SMOKE_RESOLUTIONS if experiment.budget.name == "smoke" else WIDE_RESOLUTIONS


@claim("IN-1", "Accuracy increases with render resolution when the classes differ in fine structure: the log-odds "
       "of test accuracy rise over 16, 24, 32 px (16, 32, 64 px on larger budgets)", **IN1,
       prediction="Rising: EfficientNet's 76.0 -> 77.5% at 2x resolution is +0.08 log-odds per doubling, FixRes's "
                  "77.1 -> 79.8% from 128 to 224 px is +0.16; here the gain should be far larger, since 16 px blurs "
                  "the corners that separate the classes",
       method=f"{IN1_MODEL}, trained per seed and resolution ({IN1_TRAINING}); {DATA}; {FINE}. The same scenes "
              "rendered at each resolution; trend test (per-seed slope, one-sided t) on log(acc / (1 - acc)), which "
              f"a ceiling does not flatten. Check: every level's train accuracy >= {CHANCE_FINE + 0.25:.1%} "
              "(chance + 25pp).")
def test_accuracy_increases_with_resolution(experiment):
    arms = by_resolution(resolutions(experiment))
    for side, arm in arms.items():
        attach_samples(experiment, arm, f"the same scenes at {side} px")
    assert experiment.trend(arms, metric="log_odds", expect=Increasing(), unit="", requires=TRAINED_FINE)


@claim("IN-1", "Diminishing returns: each doubling of the side gains less log-odds of accuracy than the one before "
       "(16 -> 24 px more per doubling than 24 -> 32 px on smoke; 16 -> 32 than 32 -> 64 on larger budgets)", **IN1,
       prediction="Diminishing: EfficientNet reports resolution gains that shrink as resolution grows; its 2x step "
                  "is +0.08 log-odds, less than the first step here should give",
       method=f"{IN1_MODEL} ({IN1_TRAINING}); {DATA}; {FINE}. The trainings of the trend. Per seed, gain = change in "
              "log-odds of test accuracy per doubling of the side (log2 of the side ratio), lower step minus upper "
              "step; one-sided paired t test that the lower step gains more. Check: both trainings of each step "
              "trained (the lower train accuracy >= chance + 25pp).")
def test_resolution_has_diminishing_returns(experiment):
    low, mid, high = by_resolution(resolutions(experiment)).values()
    assert experiment.compare(Gain(low, mid), Gain(mid, high), metric="gain", expect=Superior(), unit="",
                              labels=("gain low->mid", "gain mid->high"), requires=TRAINED_FINE)


@claim(id="IN-1", timing=True,
       statement="Training cost per epoch grows with resolution and is affine in pixel count: a + b * pixels, fitted "
       "per seed at the two lower resolutions, predicts the top resolution's CPU time per epoch within ±25%",
       **IN1, comparisons=2,
       prediction="FLOPs per image grow with pixel count (4x from 16 to 32 px), so the per-pixel part b grows "
                  "linearly; the fixed per-step overhead a (about 1.5 ms of a 3 ms step at 16 px) does not, which is "
                  "why a pure power law read pixels^0.51 before",
       method=f"{IN1_MODEL}; the accuracy trainings of the trend. Cost = process CPU time per epoch run (one torch "
              "thread; other processes do not count). Trend test over the three resolutions; then per seed a and b "
              "through the two lower levels, log(observed / predicted) at the top level judged by TOST against "
              "±0.22 (±25%). The table lists each level's cost, the overhead share a / cost and the old exponent.")
def test_cost_grows_with_pixel_count(experiment):
    arms = by_resolution(resolutions(experiment))
    trend = experiment.trend(arms, metric="cpu_seconds_per_epoch", expect=Increasing(), unit="s")
    law = experiment.predicts(AffineCost(*arms.values()), observed="log_cost", predicted="log_affine",
                              expect=Predicts(tol=math.log(1.25)), unit="")
    attach_means(experiment, {f"{r} px": arm for r, arm in arms.items()},
                 ("accuracy", "log_odds", "cpu_seconds_per_epoch", "epochs_run"), "accuracy and cost per resolution")
    attach_means(experiment, {"affine fit": AffineCost(*arms.values())},
                 ("log_cost", "log_affine", "overhead_share", "exponent"), "affine cost law")
    assert trend and law


# -- IN-2: width != height -------------------------------------------------------------------------------
IN2 = dict(section=SECTION, question="Must the input be square (width = height)?")
IN2_MODEL = f"ShapesCNN width 8 (3 conv blocks with batch norm, global average pooling), {CONVERGED}"
IN2_DATA = f"{DATA}; 5 classes (circle, square, triangle, star, cross), 800 training scenes x the data scale"
TRAINED_5 = trained(0.2 + 0.3)  # 20% chance + 30pp


@claim("IN-2", "Non-square inputs are non-inferior (1pp) to square inputs of the same pixel count", **IN2,
       anchors=["CNNs with global pooling take any input size (Lin et al. 2014, Network in Network)"],
       prediction="Equal within noise: with global pooling and the object covering the same pixels, the aspect "
                  "ratio only changes where the object may sit (no anchor reports a gap)",
       method=f"{IN2_MODEL}; {IN2_DATA}. The stage unit is half the side of the square with the image's pixel count, "
              "so an object covers the same number of pixels, undistorted, in a 12x24 and a 17x17 image; the scene's "
              "position uses the free room on each axis. Aspect 2 at 288 px, the photo of the next claim; "
              "portrait 24x12 is the same task transposed (every class is mirror-symmetric up to rotation), so it is "
              "not drawn. Non-inferiority (margin 1pp) on paired test accuracy; check: "
              "train accuracy >= 50%.")
def test_non_square_inputs_are_non_inferior(experiment):
    size = IN2_SIZE
    sq = equal_pixel_square(size)
    kept = aspect_arm(size)
    attach_samples(experiment, kept, "non-square")
    assert experiment.compare(kept, aspect_arm(sq), metric="accuracy", expect=NonInferior(margin=0.01),
                              labels=(f"{size[0]}x{size[1]}", f"{sq[0]}x{sq[1]}"), requires=TRAINED_5)


@claim("IN-2", f"A non-square photo ({IN2_SIZE[0]}x{IN2_SIZE[1]}) kept at its shape is non-inferior (1pp) to the "
       "same photo squashed (resized) to the square of equal pixel count, and to it padded (letterboxed) to that "
       "square", **IN2, comparisons=2,
       anchors=["CNNs with global pooling take any input size (Lin et al. 2014, Network in Network)",
                "Letterboxing (YOLOv5, gray 114 borders) keeps the aspect ratio at the cost of padded pixels"],
       prediction="Kept >= padded by several pp: at aspect 2 the letterbox spends half its 289 px on padding, so the "
                  "object spans 0.71x the pixels per side (IN-1's low-resolution loss); kept ~ squashed: the 2x "
                  "distortion is the same in training and test, so the net can learn the squashed shapes",
       method=f"{IN2_MODEL}; {IN2_DATA}. The scenes are rendered at {IN2_SIZE[0]}x{IN2_SIZE[1]} (the photo); "
              "squashed: resized to 17x17 (bilinear, antialiased); padded: resized to 8x17 keeping the aspect "
              "ratio, centred on gray; the same treatment in training and test. Non-inferiority (margin 1pp) on "
              "paired test accuracy, both must hold; check: train accuracy >= 50%.")
def test_keeping_the_shape_is_non_inferior_to_squashing_or_padding(experiment):
    kept = aspect_arm(IN2_SIZE)
    (h, w), (side, _) = IN2_SIZE, equal_pixel_square(IN2_SIZE)
    verdicts = []
    for fit in ("squash", "pad"):
        other = aspect_arm(IN2_SIZE, fit)
        attach_samples(experiment, other, f"{fit} to square")
        verdicts.append(experiment.compare(kept, other, metric="accuracy", expect=NonInferior(margin=0.01),
                                           config={"vs": fit}, labels=(f"kept {h}x{w}", f"{fit} to {side}x{side}"),
                                           requires=TRAINED_5))
    assert all(verdicts)


# -- IN-4: multi-resolution training ----------------------------------------------------------------------
IN4 = dict(section=SECTION, question="The same image at several resolutions: does multi-resolution training help?",
           anchors=["FixRes (Touvron et al. 2019): a train/test resolution discrepancy costs accuracy (77.1% at "
                    "128 px vs 79.8% at 224 px); recomputing batch-norm statistics at the test resolution "
                    "recovers +1-2pp"])
IN4_METHOD = ("ShapesCNN width 8 (3 conv blocks with batch norm, global average pooling), Adam lr 1e-2 with cosine "
              "decay to 0, batch 32, the budget's epochs: both arms take the same number of steps (12 x 19 on "
              f"smoke); {DATA}; 5 classes, 600 training scenes x the data scale. Multi-resolution arm: steps "
              "alternate between the 16 px and the 32 px rendering of the same scenes; single arm: 32 px. At every "
              "test size both arms' batch-norm statistics are recomputed (FixRes) on the seed's training scenes "
              "rendered at that size (256 of them). One-sided paired t test on recalibrated test accuracy; check: "
              "train accuracy >= 50% at each training size, recalibrated there. The table lists accuracy with and "
              "without recalibration at 32, 12, 24 and 48 px.")
IN4_ARMS = {"trained 16+32 px": MULTI_RES_FIXRES, "trained 32 px": SINGLE_32_FIXRES}


def attach_in4(experiment) -> None:
    attach_samples(experiment, MULTI_RES_FIXRES, "multi-resolution training")
    attach_means(experiment, IN4_ARMS, [f"{p}accuracy_{h}x{w}" for p in ("", "recal_") for h, w in IN4_TESTS],
                 "accuracy per test resolution (recal_: batch norm recomputed there)")


# the trainer's train_accuracy scores the 16 px images under BN statistics mixed over 16 and 32 px: not a fit test
FIT_IN4 = Requires("fixres_train_accuracy", at_least=0.5, why="did not train")


def compare_at(experiment, side: int):
    """Multi- vs single-resolution training at one test side, both recalibrated there."""
    return experiment.compare(MULTI_RES_FIXRES, SINGLE_32_FIXRES, metric=f"recal_accuracy_{side}x{side}",
                              expect=Superior(), config={"test_px": side}, labels=tuple(IN4_ARMS),
                              requires=FIT_IN4)


@claim("IN-4", f"Training on the same scenes at 16 and 32 px beats training at 32 px only at unseen resolutions "
       f"below and inside the training range ({IN4_BELOW} and {IN4_BETWEEN} px), with batch norm recalibrated at the "
       "test resolution for both", **IN4, comparisons=2,
       prediction="Multi-resolution wins by a few pp: FixRes's 2.7pp train/test discrepancy loss (77.1 vs 79.8%) "
                  "shrinks when training covers the test scale; recalibration (+1-2pp) is given to both arms",
       method=IN4_METHOD)
def test_multi_resolution_training_generalises_below_and_inside_its_range(experiment):
    attach_in4(experiment)
    verdicts = [compare_at(experiment, side) for side in (IN4_BELOW, IN4_BETWEEN)]
    assert all(verdicts)


@claim("IN-4", f"Training on the same scenes at 16 and 32 px beats training at 32 px only at an unseen resolution "
       f"above both training ranges ({IN4_ABOVE} px), with batch norm recalibrated at the test resolution for both",
       **IN4,
       prediction="Little or no gain: at 48 px neither arm trained closer than 32 px, so FixRes's discrepancy "
                  "argument predicts the same loss for both; the multi-resolution arm wins only if mixing scales "
                  "teaches scale invariance beyond its range",
       method=IN4_METHOD)
def test_multi_resolution_training_generalises_above_its_range(experiment):
    attach_in4(experiment)
    assert compare_at(experiment, IN4_ABOVE)
