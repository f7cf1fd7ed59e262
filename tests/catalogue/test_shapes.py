"""The shapes renderer and the degradations (geometry, determinism, ranges, labels, resolutions, speed), and the
input claims' shapes data sets, arm and report helpers built on them."""

from __future__ import annotations

import math
import time

import pytest
import torch

from fixtures import degrade as dg
from fixtures.arms.input import ShapesNet, train_and_score
from fixtures.samples import attach_degraded_tests, attach_samples
from fixtures.shape_sets import DEGRADED_TRAINING, TRAIN_STREAM, degraded_training, training_images
from fixtures.shapes import (
    DEFAULT_CLASSES,
    PALETTE,
    SHAPES,
    Scenes,
    Style,
    render,
    render_many,
    sample_grid,
    sample_scenes,
    stage_extent,
)


def centred(classes=SHAPES, scale: float = 0.9) -> Scenes:
    """One upright, centred, white-on-black scene per class."""
    s = sample_scenes(len(classes), 0, classes=classes, colours=("white",), style=Style(jitter=0.0, rotate=False))
    return s.with_(shape=torch.arange(len(classes)), scale=torch.full((len(classes),), scale))


def test_each_shape_covers_its_analytic_area():
    # areas in the object's frame (radius-1 units) times scale^2, over the stage area 4
    s3 = math.sqrt(3)
    star_r, star_o = 0.45, 1.0
    areas = {"circle": math.pi * 0.85 ** 2, "square": 1.4 ** 2, "triangle": 3 * s3 / 4,
             "star": 5 * star_o * star_r * math.sin(math.pi / 5), "cross": 2 * 1.9 * 0.6 - 0.6 ** 2,
             "ring": math.pi * (0.95 ** 2 - 0.55 ** 2), "hexagon": 3 * s3 / 2 * 0.95 ** 2}
    x = render(centred(scale=0.9), 128, antialias=4)
    covered = x[:, 0].mean((1, 2))
    for i, name in enumerate(SHAPES):
        expected = areas[name] * 0.9 ** 2 / 4
        assert covered[i].item() == pytest.approx(expected, rel=0.02), name


def test_shapes_are_distinguishable():
    masks = render(centred(), 64)[:, 0] > 0.5
    for i in range(len(SHAPES)):
        for j in range(i + 1, len(SHAPES)):
            iou = ((masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()).item()
            # the default classes differ clearly; the hexagon is meant as a hard neighbour of the circle
            limit = 0.8 if SHAPES[i] in DEFAULT_CLASSES and SHAPES[j] in DEFAULT_CLASSES else 0.95
            assert iou < limit, (SHAPES[i], SHAPES[j], iou)


def test_same_seed_same_scenes_and_images():
    style = Style(background="random", texture="random")
    a, b = sample_scenes(50, 7, style=style), sample_scenes(50, 7, style=style)
    assert torch.equal(render(a, 24), render(b, 24))
    assert not torch.equal(render(a, 24), render(sample_scenes(50, 8, style=style), 24))


def test_values_dtype_and_shape():
    s = sample_scenes(40, 1, classes=SHAPES, style=Style(background="random", texture="random"))
    for h, w in [(8, 8), (32, 16), (17, 40)]:
        x = render(s, h, w)
        assert x.shape == (40, 3, h, w) and x.dtype == torch.float32
        assert 0.0 <= x.min().item() and x.max().item() <= 1.0


def test_antialiasing_gives_partial_coverage_and_one_gives_none():
    s = centred(("circle",))
    soft, hard = render(s, 16, antialias=4)[:, 0], render(s, 16, antialias=1)[:, 0]
    partial = ((soft > 0.01) & (soft < 0.99)).sum().item()
    assert partial > 8
    assert set(hard.unique().tolist()) <= {0.0, 1.0}


def test_labels_by_shape_balanced_and_by_colour():
    s = sample_scenes(100, 3, colours=("red", "green", "blue"))
    counts = torch.bincount(s.labels(), minlength=len(DEFAULT_CLASSES))
    assert counts.tolist() == [20] * 5
    by_colour = s.labels(by="colour")
    assert set(by_colour.tolist()) == {0, 1, 2}
    assert torch.equal(s.colour, torch.tensor([PALETTE[c] for c in ("red", "green", "blue")])[by_colour])
    with pytest.raises(ValueError, match="by='size'"):
        s.labels(by="size")


def test_same_scene_at_several_resolutions_agrees():
    s = sample_scenes(30, 4, style=Style(background="gray"))
    images = render_many(s, [16, 32, 64])
    big = images[(64, 64)]
    for side in (16, 32):
        down = torch.nn.functional.interpolate(big, size=(side, side), mode="area")
        assert (down - images[(side, side)]).abs().mean().item() < 0.02


def test_aspect_ratio_keeps_object_size_at_equal_pixel_count():
    s = centred(("circle",), scale=0.6)
    wide, square = render(s, 16, 32, antialias=4), render(s, 23, 23, antialias=4)
    assert stage_extent(16, 32) == pytest.approx((math.sqrt(2), math.sqrt(0.5)))
    # the same object covers about the same number of pixels (pixel counts 512 vs 529)
    assert wide[:, 0].sum().item() == pytest.approx(square[:, 0].sum().item() * 512 / 529, rel=0.05)


def test_colour_background_and_texture_controls():
    style = Style(background=(0.2, 0.4, 0.6), texture="stripes", texture_amp=(0.5, 0.5))
    s = sample_scenes(10, 0, colours=("yellow",), style=style)
    x = render(s, 32)
    corner = x[:, :, 0, 0]
    assert bool((corner <= torch.tensor([0.2, 0.4, 0.6]) + 1e-6).all())  # texture only darkens
    assert x[:, 2].std().item() > 0.05  # stripes vary
    rand = sample_scenes(200, 0, style=Style(background="random"))
    assert (rand.background - rand.colour).norm(dim=1).min().item() > 0.3


def test_bad_inputs_name_the_value():
    with pytest.raises(ValueError, match="classes=.*'oval'"):
        sample_scenes(5, 0, classes=("oval",))
    with pytest.raises(ValueError, match="colours=.*'teal'"):
        sample_scenes(5, 0, colours=("teal",))
    with pytest.raises(ValueError, match="n=0"):
        sample_scenes(0, 0)
    with pytest.raises(ValueError, match="background='pink'"):
        Style(background="pink")
    with pytest.raises(ValueError, match="height=0"):
        render(sample_scenes(2, 0), 0)
    with pytest.raises(ValueError, match="quality=0"):
        dg.jpeg(torch.zeros(1, 3, 8, 8), quality=0)
    with pytest.raises(ValueError, match="'smudge'"):
        dg.degrade(torch.zeros(1, 3, 8, 8), "smudge")


def test_render_speed_at_32px():
    torch.set_num_threads(1)
    s = sample_scenes(2000, 0)
    render(s[:50], 32)
    start = time.perf_counter()
    render(s, 32)
    rate = 2000 / (time.perf_counter() - start)
    assert rate >= 1000, f"{rate:.0f} images/s"


def test_sample_grid_is_a_png():
    png = sample_grid(render(sample_scenes(10, 0), 16), labels=[str(i) for i in range(10)])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# -- degradations ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return render(sample_scenes(16, 5, style=Style(background="gray")), 32)


@pytest.mark.parametrize("name", list(dg.DEGRADATIONS))
def test_degradations_keep_shape_range_and_are_deterministic(images, name):
    out = dg.degrade(images, name)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0
    assert torch.equal(out, dg.degrade(images, name))
    assert (out - images).abs().mean().item() > 1e-3


def test_degradations_behave_as_named(images):
    assert torch.allclose(dg.invert(dg.invert(images)), images)
    gray = dg.grayscale(images)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(dg.blur(flat, sigma=1.5), flat) and torch.allclose(dg.downup(flat, 4), flat)
    sharp = images.diff(dim=-1).abs().mean()
    assert dg.blur(images, 1.5).diff(dim=-1).abs().mean() < dg.blur(images, 0.5).diff(dim=-1).abs().mean() < sharp
    assert (dg.noise(images, 0.1) - images).std() > (dg.noise(images, 0.02) - images).std()
    err = {q: (dg.jpeg(images, q) - images).abs().mean() for q in (10, 50, 95)}
    assert err[10] > err[50] > err[95]
    assert not torch.equal(dg.noise(images, seed=1), dg.noise(images, seed=2))


# -- the input claims' data sets, arm and report helpers ------------------------------------------------
def test_degraded_training_degrades_each_image_once_in_turn():
    x = render(sample_scenes(8, 2), 16)
    out = degraded_training(x, seed=3)
    for k, name in enumerate(DEGRADED_TRAINING):
        kwargs = {"seed": 3} if name == "noise" else {}
        assert torch.equal(out[k::4], dg.degrade(x[k::4], name, **kwargs)), name


def test_training_images_are_the_seeds_scenes_at_every_size():
    xs, y = training_images(10, 4, [(8, 8), (8, 16)])
    scenes = sample_scenes(10, TRAIN_STREAM + 4)
    assert [tuple(x.shape[2:]) for x in xs] == [(8, 8), (8, 16)]
    assert torch.equal(xs[1], render(scenes, 8, 16)) and torch.equal(y, scenes.labels())


def test_shapes_net_scores_every_test_set_under_its_old_names():
    torch.set_num_threads(1)
    arm = ShapesNet(train_sizes=((8, 8), (12, 12)), test_sizes=((12, 12), (8, 8)), test_degradations=("blur",),
                    n_train=50, n_test=20)
    got = train_and_score(arm, 0, 1, 1.0)
    assert {"accuracy", "accuracy_12x12", "accuracy_8x8", "blur_accuracy", "cpu_seconds_per_epoch",
            "seconds_per_epoch", "epochs_run", "train_loss"} <= set(got)
    assert got["accuracy"] == got["accuracy_12x12"] and got["epochs_run"] == 1
    assert got["cpu_seconds_per_epoch"] > 0
    one_size = train_and_score(ShapesNet(train_sizes=((8, 8),), test_sizes=arm.test_sizes, n_train=50, n_test=20),
                               0, 1, 1.0)
    assert one_size["train_loss"] != got["train_loss"]  # the second size took part in training


def test_shapes_net_rejects_tiny_sizes():
    with pytest.raises(ValueError, match="each side >= 4 px"):
        ShapesNet(train_sizes=((2, 8),))


class Recorder:
    """Just enough of an experiment for the report helpers: it keeps what they attach."""

    def __init__(self):
        self.attached: dict[str, object] = {}

    def attach(self, name, obj, kind=None):
        self.attached[name] = obj


def test_report_helpers_attach_png_grids():
    rec = Recorder()
    attach_samples(rec, ShapesNet(train_sizes=((8, 8), (8, 16)), train_degraded=True), "degraded")
    attach_degraded_tests(rec)
    assert set(rec.attached) == {"training images 8x8", "training images 8x16", "degraded test images"}
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in rec.attached.values())
