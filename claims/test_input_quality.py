"""Input quality: do low-quality images hurt, and which kinds hurt most (IN-3)? Rendered shapes, as in
``test_input.py``; the degradations live in ``fixtures.degrade``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.input import CLEAN_32, DEGRADED_32, Metric
from fixtures.samples import attach_degraded_tests, attach_means, attach_samples
from fixtures.shape_sets import TEST_DEGRADATIONS
from instincts import Superior, claim

SECTION = "Input"
MODEL = ("ShapesCNN width 8 (conv 8-16-16 with batch norm, global average pooling, 5 classes: circle, square, "
         "triangle, star, cross), Adam lr 1e-2 with cosine decay to 0 over the run, batch 32, epochs from the "
         "budget, trained per seed")
DATA = ("shapes rendered from scene descriptions (random palette colour on black, random rotation, position "
        "and scale 0.45-0.7 of the half-side, 3x3 supersampled); training scenes drawn per seed (600 x the "
        "budget's data scale), one fixed test set of 1,000 scenes; paired by seed: same scenes, init and order")
IN3 = dict(section=SECTION, question="Do low-quality images hurt, and which kinds hurt most?",
           anchors=["Dodge & Karam 2016: blur and noise degrade CNNs far more than JPEG compression",
                    "ImageNet-C (Hendrycks & Dietterich 2019): ResNet-50 mCE 76.7%"])


@claim("IN-3", "Training on degraded images (blur, noise, low resolution, JPEG) lowers clean-test accuracy",
       **IN3, method=f"{MODEL}; {DATA}. 32 px. Degraded training set: a quarter each of Gaussian blur (sigma 0.8 "
                     "px), Gaussian noise (sd 0.09), 2x down-up sampling and JPEG quality 50 (CIFAR-10-C severity "
                     "4 for blur, noise and JPEG); the same scenes clean in arm B. One-sided paired t test on "
                     "clean-test accuracy.")
def test_clean_training_beats_degraded_training(experiment):
    attach_samples(experiment, DEGRADED_32, "degraded training images")
    assert experiment.compare(CLEAN_32, DEGRADED_32, metric="accuracy", expect=Superior(),
                              labels=("trained clean", "trained degraded"))


@claim("IN-3", "At test time, blur and noise hurt a clean-trained net more than JPEG-50",
       **IN3, method=f"{MODEL}; {DATA}. 32 px, trained clean; the fixed test set blurred (sigma 0.8 px), noised "
                     "(sd 0.09) or JPEG-compressed (quality 50), CIFAR-10-C severity 4 each. Per seed, accuracy "
                     "under JPEG minus accuracy under blur (noise); one-sided paired t tests, both must hold.")
@given(other=st.sampled_from(["blur", "noise"]))
def test_blur_and_noise_hurt_more_than_jpeg(experiment, other):
    verdict = experiment.compare(Metric(CLEAN_32, "jpeg_accuracy"), Metric(CLEAN_32, f"{other}_accuracy"),
                                 metric="accuracy", expect=Superior(), config={"vs": other},
                                 labels=("JPEG-50 test", f"{other} test"))
    attach_means(experiment, {"trained clean": CLEAN_32, "trained degraded": DEGRADED_32},
                 ("accuracy", *(f"{d}_accuracy" for d in TEST_DEGRADATIONS)), "accuracy per test condition")
    attach_degraded_tests(experiment)
    assert verdict
