"""Input: resolution, aspect ratio, image quality and multi-resolution training on rendered shapes (IN-1..IN-4).

Every arm trains the same small CNN with global average pooling (``models.cnn.ShapesCNN``) on
procedurally rendered shapes (``fixtures.shapes``): one scene description per image, rendered at
whatever resolution or aspect ratio the arm asks for. So arms differ only in how the *same* scenes
are drawn, and seeds pair them fully: seed s fixes the training scenes, the initial weights (the
network has the same parameters at every input size) and the data order. Test scenes are one fixed
set, rendered per arm at the sizes it is scored on.

Training is a plain loop per seed: ``fit_classifiers`` scores one test set at the training size,
and these claims need several (other resolutions, degraded copies) and training at several
resolutions in turn; per-seed loops also beat ``vmap`` for convs on a CPU (grouped convolutions).
Results are memoised in the process, so the claims' derived arms (gains, cost exponents, one test
set against another) reuse trainings instead of repeating them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import allure
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from fixtures.degrade import degrade
from fixtures.shapes import DEFAULT_CLASSES, render, sample_grid, sample_scenes
from instincts import Increasing, NonInferior, Predicts, Superior, claim
from instincts.experiment import RunContext
from instincts.train import Recipe, batches
from models.cnn import ShapesCNN

SECTION = "Input"
Size = tuple[int, int]  # (height, width)
TRAIN_STREAM = 10_000  # training scenes of seed s are sample_scenes(n, TRAIN_STREAM + s)
TEST_SEED = 999  # the one fixed test set
DEGRADED_TRAINING = ("blur", "noise", "downup", "jpeg")  # image i of a degraded training set gets the (i mod 4)-th
TEST_DEGRADATIONS = ("blur", "noise", "downup", "jpeg")
UNSEEN_SIZES = (12, 20, 24, 40, 48)  # IN-4 test resolutions that neither arm trains on
MODEL = ("ShapesCNN width 8 (conv 8-16-16 with batch norm, global average pooling, 5 classes: circle, square, "
         "triangle, star, cross), Adam lr 1e-2 with cosine decay to 0 over the run, batch 32, epochs from the "
         "budget, trained per seed")
DATA = ("shapes rendered from scene descriptions (random palette colour on black, random rotation, position "
        "and scale 0.45-0.7 of the half-side, 3x3 supersampled); training scenes drawn per seed (600 x the "
        "budget's data scale), one fixed test set of 1,000 scenes; paired by seed: same scenes, init and order")


@dataclass(frozen=True)
class ShapesNet:
    """A ShapesCNN trained on shapes rendered at ``train_sizes`` (cycled step by step when several).

    Metrics per seed: ``accuracy`` (clean, at ``test_sizes[0]``), ``accuracy_HxW`` for every test
    size, ``<degradation>_accuracy`` for every test degradation (at ``test_sizes[0]``), and the cost
    of training: ``cpu_seconds_per_epoch`` (process time) and ``seconds_per_epoch`` (wall).
    """

    train_sizes: tuple[Size, ...] = ((32, 32),)
    test_sizes: tuple[Size, ...] = ()  # default: the first training size
    train_degraded: bool = False  # degrade every training image with one of DEGRADED_TRAINING
    test_degradations: tuple[str, ...] = ()
    n_train: int = 600
    n_test: int = 1000
    width: int = 8
    batch_size: int = 32
    lr: float = 1e-2

    def __post_init__(self) -> None:
        sizes = self.train_sizes + self.test_sizes
        if not self.train_sizes or not all(len(s) == 2 and min(s) >= 4 for s in sizes):
            raise ValueError(f"sizes {sizes!r} are not allowed: give (height, width) pairs, each side >= 4 px")

    @property
    def scored_sizes(self) -> tuple[Size, ...]:
        return self.test_sizes or self.train_sizes[:1]

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        return [train_and_score(self, s, context.budget.epochs, context.budget.data_scale, str(context.device))
                for s in seeds]


@functools.cache
def scored_images(n: int, size: Size, degradation: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed test scenes at ``size``, optionally degraded (noise seeded by TEST_SEED)."""
    scenes = sample_scenes(n, TEST_SEED)
    x = render(scenes, *size)
    if degradation == "noise":
        x = degrade(x, "noise", seed=TEST_SEED)
    elif degradation is not None:
        x = degrade(x, degradation)
    return x, scenes.labels()


def degraded_training(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Each image degraded once, the kinds in turn: a quarter each of blur, noise, down-up and JPEG."""
    x = x.clone()
    for k, name in enumerate(DEGRADED_TRAINING):
        idx = torch.arange(k, len(x), len(DEGRADED_TRAINING))
        x[idx] = degrade(x[idx], name, seed=seed) if name == "noise" else degrade(x[idx], name)
    return x


@contextlib.contextmanager
def one_thread():
    """Train with one torch thread, whatever the run's setting: convs on 8-32 px images gain nothing from
    intra-op threads, and under load idle threads spin and inflate the CPU time the cost claim measures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
@one_thread()
def train_and_score(arm: ShapesNet, seed: int, epochs: int, data_scale: float,
                    device: str = "cpu") -> dict[str, float]:
    """Train one seed of ``arm`` and score it (memoised: derived arms reuse the training)."""
    n = max(50, round(arm.n_train * data_scale))
    scenes = sample_scenes(n, TRAIN_STREAM + seed)
    y = scenes.labels().to(device)
    xs = [render(scenes, *size) for size in arm.train_sizes]
    if arm.train_degraded:
        xs = [degraded_training(x, seed) for x in xs]
    xs = [x.to(device) for x in xs]
    torch.manual_seed(seed)
    model = ShapesCNN(classes=len(DEFAULT_CLASSES), width=arm.width).to(device)
    opt = Recipe(batch_size=arm.batch_size, lr=arm.lr, epochs=epochs).make(list(model.parameters()))
    steps = epochs * len(batches(n, arm.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)  # the last iterate settles
    order = torch.Generator().manual_seed(seed)
    step, cpu, wall = 0, time.process_time(), time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order)
        for sl in batches(n, arm.batch_size):
            idx = perm[sl]
            loss = nn.functional.cross_entropy(model(xs[step % len(xs)][idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
    out = {"cpu_seconds_per_epoch": (time.process_time() - cpu) / epochs,
           "seconds_per_epoch": (time.perf_counter() - wall) / epochs}
    model.eval()
    with torch.no_grad():
        for i, size in enumerate(arm.scored_sizes):
            for deg in (None, *arm.test_degradations) if i == 0 else (None,):
                xt, yt = scored_images(arm.n_test, size, deg)
                acc = (model(xt.to(device)).argmax(1).cpu() == yt).float().mean().item()
                out[f"{deg}_accuracy" if deg else f"accuracy_{size[0]}x{size[1]}"] = acc
                if i == 0 and deg is None:
                    out["accuracy"] = acc
    return out


@dataclass(frozen=True)
class Difference:
    """Metric ``a_metric`` of arm ``a`` minus ``b_metric`` of arm ``b``, per seed (reuses both trainings)."""

    a: ShapesNet
    b: ShapesNet
    a_metric: str = "accuracy"
    b_metric: str = "accuracy"

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        a, b = self.a.run(seeds, context), self.b.run(seeds, context)
        return [{"difference": ra[self.a_metric] - rb[self.b_metric]} for ra, rb in zip(a, b)]


@dataclass(frozen=True)
class Metric:
    """One metric of an arm under the name ``accuracy``, so two test sets of one model can be compared."""

    arm: ShapesNet
    metric: str

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        return [{"accuracy": r[self.metric]} for r in self.arm.run(seeds, context)]


@dataclass(frozen=True)
class CostExponent:
    """b in cost ~ pixels^b between two resolutions, per seed, from the trainings' CPU time per epoch."""

    low: ShapesNet
    high: ShapesNet

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        pixels = math.prod(self.high.train_sizes[0]) / math.prod(self.low.train_sizes[0])
        return [{"exponent": math.log(h["cpu_seconds_per_epoch"] / lo["cpu_seconds_per_epoch"]) / math.log(pixels),
                 "pixel_law": 1.0}
                for lo, h in zip(self.low.run(seeds, context), self.high.run(seeds, context))]


def square(side: int) -> Size:
    return (side, side)


def attach_samples(arm: ShapesNet, title: str) -> None:
    """A grid of the arm's first training images at each training size (what the network sees)."""
    scenes = sample_scenes(16, TRAIN_STREAM)
    names = [scenes.classes[i] for i in scenes.shape]
    for size in arm.train_sizes:
        x = render(scenes, *size)
        x = degraded_training(x, 0) if arm.train_degraded else x
        allure.attach(sample_grid(x, names, rows=2, title=f"{title}: {size[0]}x{size[1]}"),
                      name=f"training images {size[0]}x{size[1]}", attachment_type=allure.attachment_type.PNG)


def attach_means(experiment, arms: dict[str, ShapesNet], metrics: Sequence[str], name: str) -> None:
    """A table of each arm's mean metrics over the seeds, read through the run cache (nothing retrains)."""
    seeds = experiment.seeds()
    lines = ["arm".ljust(18) + "".join(m.rjust(22) for m in metrics)]
    for label, arm in arms.items():
        runs = experiment.run(arm, seeds, label)
        lines.append(label.ljust(18) + "".join(f"{sum(r[m] for r in runs) / len(runs):22.4f}" for m in metrics))
    allure.attach("\n".join(lines) + f"\n(means over {len(seeds)} seeds)", name=name,
                  attachment_type=allure.attachment_type.TEXT)


RESOLUTIONS = (8, 16, 32)
BY_RESOLUTION = {r: ShapesNet(train_sizes=(square(r),)) for r in RESOLUTIONS}
# the 32 px arm is shared by IN-1, IN-3 (clean training) and IN-4 (single resolution): one training
BY_RESOLUTION[32] = ShapesNet(train_sizes=(square(32),), test_sizes=(square(32), *map(square, UNSEEN_SIZES)),
                              test_degradations=TEST_DEGRADATIONS)
CLEAN_32 = BY_RESOLUTION[32]
IN1 = dict(section=SECTION, question="Does input resolution matter?",
           anchors=["EfficientNet (Tan & Le 2019): ResNet-50 76.0% -> 77.5% at 2x resolution",
                    "FixRes (Touvron et al. 2019): 77.1% at 128 px vs 79.8% at 224 px"])


@claim("IN-1", "Accuracy increases with render resolution (8, 16, 32 px)", **IN1,
       method=f"{MODEL}; {DATA}. The same scenes rendered at 8, 16 and 32 px; trend test over the three levels, "
              "paired by seed.")
def test_accuracy_increases_with_resolution(experiment):
    attach_samples(ShapesNet(train_sizes=tuple(map(square, RESOLUTIONS))), "the same scenes at 8, 16, 32 px")
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
                     "against 1 ± 0.25 (4x pixels costing 2.8x to 5.7x).")
def test_cost_grows_with_pixel_count(experiment):
    trend = experiment.trend(BY_RESOLUTION, metric="cpu_seconds_per_epoch", expect=Increasing(), unit="s")
    law = experiment.predicts(CostExponent(BY_RESOLUTION[16], BY_RESOLUTION[32]), observed="exponent",
                              predicted="pixel_law", expect=Predicts(tol=0.25), unit="")
    attach_means(experiment, {f"{r} px": arm for r, arm in BY_RESOLUTION.items()},
                 ("accuracy", "cpu_seconds_per_epoch", "seconds_per_epoch"), "accuracy and cost per resolution")
    assert trend and law


def equal_pixel_square(size: Size) -> Size:
    side = round(math.sqrt(size[0] * size[1]))
    return (side, side)


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
    attach_samples(wide, "non-square")
    verdict = experiment.compare(wide, ShapesNet(train_sizes=(sq,)), metric="accuracy",
                                 expect=NonInferior(margin=0.01), config={"size": f"{size[0]}x{size[1]}"},
                                 labels=(f"{size[0]}x{size[1]}", f"{sq[0]}x{sq[1]}"))
    assert verdict


IN3 = dict(section=SECTION, question="Do low-quality images hurt, and which kinds hurt most?",
           anchors=["Dodge & Karam 2016: blur and noise degrade CNNs far more than JPEG compression",
                    "ImageNet-C (Hendrycks & Dietterich 2019): ResNet-50 mCE 76.7%"])
DEGRADED_32 = ShapesNet(train_sizes=(square(32),), train_degraded=True, test_degradations=TEST_DEGRADATIONS)


@claim("IN-3", "Training on degraded images (blur, noise, low resolution, JPEG) lowers clean-test accuracy",
       **IN3, method=f"{MODEL}; {DATA}. 32 px. Degraded training set: a quarter each of Gaussian blur (sigma 0.8 "
                     "px), Gaussian noise (sd 0.09), 2x down-up sampling and JPEG quality 50 (CIFAR-10-C severity "
                     "4 for blur, noise and JPEG); the same scenes clean in arm B. One-sided paired t test on "
                     "clean-test accuracy.")
def test_clean_training_beats_degraded_training(experiment):
    attach_samples(DEGRADED_32, "degraded training images")
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
    xt, _ = scored_images(16, square(32))
    grid = torch.cat([xt[:8], *(degrade(xt[:8], d) for d in TEST_DEGRADATIONS)])
    allure.attach(sample_grid(grid, rows=5, title="test images: clean, " + ", ".join(TEST_DEGRADATIONS)),
                  name="degraded test images", attachment_type=allure.attachment_type.PNG)
    assert verdict


MULTI_RES = ShapesNet(train_sizes=(square(16), square(32)), test_sizes=CLEAN_32.test_sizes)


@claim("IN-4", "Training on the same scenes rendered at 16 and 32 px beats training at 32 px only, at a test "
       "resolution neither has seen", section=SECTION,
       question="The same image at several resolutions: does multi-resolution training help?",
       anchors=["FixRes (Touvron et al. 2019): a train/test resolution discrepancy costs accuracy"],
       method=f"{MODEL}; {DATA}. Multi-resolution arm: training steps alternate between the 16 px and the "
              "32 px rendering of the same scenes (same number of steps as the 32 px arm). Test resolution drawn "
              "from 12, 20, 24, 40, 48 px; one-sided paired t test on test accuracy there.")
@given(test_side=st.sampled_from(UNSEEN_SIZES))
def test_multi_resolution_training_generalises_to_unseen_resolution(experiment, test_side):
    attach_samples(MULTI_RES, "multi-resolution training")
    verdict = experiment.compare(MULTI_RES, CLEAN_32, metric=f"accuracy_{test_side}x{test_side}",
                                 expect=Superior(), config={"test_px": test_side},
                                 labels=("trained 16+32 px", "trained 32 px"))
    attach_means(experiment, {"trained 16+32 px": MULTI_RES, "trained 32 px": CLEAN_32},
                 [f"accuracy_{h}x{w}" for h, w in CLEAN_32.test_sizes], "accuracy per test resolution")
    assert verdict
