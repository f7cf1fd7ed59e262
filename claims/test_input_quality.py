"""Input quality: do low-quality images hurt, and which kinds hurt most (IN-3)? Rendered shapes; the arm
(a clean + degraded training mix, early-stopped) lives in ``fixtures.arms.quality``."""

from __future__ import annotations

from hypothesis import given

from fixtures.arms.quality import (
    CAP_FACTOR,
    CHANCE,
    KINDS,
    PATIENCE,
    SIDE,
    Metric,
    MixedQuality,
    corruption_grid,
    training_grid,
)
from fixtures.samples import attach_means
from instincts import NonInferior, Requires, Superior, claim, log_floats, trained

SECTION = "Input"
MODEL = ("ShapesCNN width 8 (conv 8-16-16 with batch norm, global average pooling, 5 classes: circle, square, "
         f"triangle, star, cross), Adam lr 1e-2 with cosine decay to 0 over {CAP_FACTOR} x the budget's epochs (24 "
         "on smoke), batch 32, trained per seed to convergence: the schedule's end or early stopping on the seed's "
         f"validation fifth (patience {PATIENCE} epochs), the best epoch restored; no tuning (one recipe for every "
         "arm)")
DATA = (f"shapes rendered at {SIDE} px (random palette colour on black, random rotation, position and scale, 3x3 "
        "supersampled); 500 training scenes per seed x the budget's data scale (a stratified fifth held out for "
        "validation), one fixed test set of 1,000 scenes; paired by seed: same scenes, split, init and order")
DEGRADATIONS = ("Gaussian blur sigma 0.6 px (CIFAR-10-C severity 4's 0.8 px at 32 px, scaled to 24 px), Gaussian "
                "noise sd 0.09, 2x down-up sampling, JPEG quality 50")
IN3 = dict(section=SECTION, question="Do low-quality images hurt, and which kinds hurt most?",
           anchors=["Vasiljevic et al. 2016: training on clean + blurred images makes a CNN robust to blur with "
                    "little loss on clean images",
                    "Dodge & Karam 2016: blur and noise degrade CNNs far more than JPEG compression",
                    "ImageNet-C (Hendrycks & Dietterich 2019): a clean-trained ResNet-50 has mCE 76.7%"])
# the cosine schedule ends at the cap (lr 0), so reaching it is the schedule's end, not a cut-off: the convergence
# check is that every arm fits its (clean) training images
CHECKS = (trained(CHANCE + 0.3), Requires("train_accuracy", at_least=0.9, why="did not fit its training set"))
CLEAN = MixedQuality(share=0.0)


@claim("IN-3", "Training on a clean + degraded mix costs little clean accuracy and buys robustness: the mixed net is "
       "within 2pp of the clean-trained net on the clean test and superior on the degraded test",
       **IN3, comparisons=2,
       method=f"{MODEL}; {DATA}. Mixed arm: each training image of a batch is degraded with probability p (drawn "
              f"log-uniform in 0.2..0.8), by one kind drawn uniformly from {DEGRADATIONS} (noise fresh per batch, "
              "from the seed's augmentation stream); its validation fifth degraded the same way. Clean arm: p = 0. "
              "Metrics: clean-test accuracy (one-sided paired t against -2pp) and the mean accuracy over the four "
              "degraded copies of the test set (one-sided paired t, mixed superior). Checks: every arm trains "
              "(train accuracy >= chance + 30pp) and fits its clean training images (>= 90%).",
       prediction="Vasiljevic et al. 2016: training on a clean + blurred mix keeps clean accuracy close to the "
                  "clean-trained net's (read here as within 2pp) while recovering most of the accuracy lost to "
                  "blur; ImageNet-C: a clean-trained ResNet-50 "
                  "errs 76.7% as often as AlexNet under corruption (mCE), far above its clean error, so training on "
                  "the corruptions should gain tens of pp on the degraded test and lose < 2pp on the clean one")
@given(share=log_floats(0.2, 0.8))
def test_mixed_training_keeps_clean_accuracy_and_gains_on_degraded(experiment, share):
    mixed = MixedQuality(share=share)
    experiment.attach(f"training batch, p={share:g}", training_grid(share), "png")
    clean_test = experiment.compare(mixed, CLEAN, metric="clean_accuracy", expect=NonInferior(margin=0.02),
                                    config={"share": share}, labels=(f"mixed p={share:g}", "clean"), requires=CHECKS)
    degraded_test = experiment.compare(mixed, CLEAN, metric="degraded_accuracy", expect=Superior(),
                                       config={"share": share}, labels=(f"mixed p={share:g}", "clean"),
                                       requires=CHECKS)
    attach_means(experiment, {"clean": CLEAN, f"mixed p={share:g}": mixed},
                 ("clean_accuracy", *(f"{k}_accuracy" for k in KINDS), "epochs_run"), "accuracy per test condition")
    assert clean_test and degraded_test


@claim("IN-3", "At test time, blur and noise hurt a clean-trained net more than JPEG-50",
       **IN3, comparisons=2,
       method=f"{MODEL}; {DATA}. The clean-trained arm (p = 0) scored on the fixed test set under each of "
              f"{DEGRADATIONS}. Per seed, accuracy under JPEG-50 minus accuracy under blur (noise); one-sided "
              "paired t tests, both must hold. Checks as in the mixed-training claim.",
       prediction="Dodge & Karam 2016: accuracy of ImageNet CNNs falls steeply with Gaussian blur and noise but "
                  "little under JPEG until the lowest qualities; ImageNet-C ranks noise and blur among the "
                  "corruptions a clean-trained ResNet-50 suffers most (mCE 76.7% overall), JPEG among the least")
def test_blur_and_noise_hurt_more_than_jpeg(experiment):
    verdicts = [experiment.compare(Metric(CLEAN, "jpeg_accuracy"), Metric(CLEAN, f"{other}_accuracy"),
                                   metric="accuracy", expect=Superior(), config={"vs": other},
                                   labels=("JPEG-50 test", f"{other} test"), requires=CHECKS)
                for other in ("blur", "noise")]
    experiment.attach("degraded test images", corruption_grid(), "png")
    assert all(verdicts)
