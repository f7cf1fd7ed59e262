"""IN-1/IN-2/IN-4 fixtures: fine-structure shapes, squash and pad fits, the deeper ShapesCNN, the derived arms."""

from __future__ import annotations

import math

import pytest
import torch

from fixtures.arms.input import AffineCost, Gain, ShapesNet, log_odds, train_and_score
from fixtures.samples import attach_samples
from fixtures.shape_sets import PAD_VALUE, equal_pixel_square, fitted
from fixtures.shapes import FINE_CLASSES, POLYGONS, STARS, Style, render, sample_scenes
from models.cnn import ShapesCNN


def test_fine_shapes_have_their_corner_counts_and_nearly_equal_areas():
    s = sample_scenes(len(FINE_CLASSES), 0, classes=FINE_CLASSES, colours=("white",),
                      style=Style(jitter=0.0, rotate=False, scale=(0.9, 0.9)))
    s = s.with_(shape=torch.arange(len(FINE_CLASSES)))
    area = render(s, 128, antialias=4)[:, 0].mean((1, 2))
    expected = {**{n: k / 2 * 0.95 ** 2 * math.sin(2 * math.pi / k) for n, k in POLYGONS.items()},
                "hexagon": 3 * math.sqrt(3) / 2 * 0.95 ** 2,
                **{n: k * 0.6 * math.sin(math.pi / k) for n, k in STARS.items()}}
    for i, name in enumerate(FINE_CLASSES):
        assert area[i].item() == pytest.approx(expected[name] * 0.81 / 4, rel=0.02), name
    assert (area.max() / area.min()).item() < 1.5  # area alone does not tell the classes apart


def test_squash_and_pad_reach_the_equal_pixel_square():
    x = render(sample_scenes(3, 1), 12, 24)
    assert equal_pixel_square((12, 24)) == (17, 17)
    assert torch.equal(fitted(x, "native"), x)
    squashed, padded = fitted(x, "squash"), fitted(x, "pad")
    assert squashed.shape == padded.shape == (3, 3, 17, 17)
    assert torch.allclose(padded[:, :, :4], torch.full_like(padded[:, :, :4], PAD_VALUE))  # letterbox rows
    assert not torch.allclose(padded[:, :, 8], torch.full_like(padded[:, :, 8], PAD_VALUE))
    with pytest.raises(ValueError, match="fit='crop'"):
        fitted(x, "crop")


def test_deeper_shapes_cnn_takes_any_size_and_rejects_too_few_blocks():
    net = ShapesCNN(8, 4, blocks=4)
    assert net(torch.zeros(2, 3, 16, 16)).shape == net(torch.zeros(2, 3, 24, 48)).shape == (2, 8)
    assert len(list(ShapesCNN(5, 4).parameters())) + 3 == len(list(net.parameters()))  # conv + 2 BN params
    with pytest.raises(ValueError, match="blocks=2"):
        ShapesCNN(blocks=2)


def test_log_odds_stays_finite():
    assert log_odds(0.5, 100) == 0.0
    assert math.isfinite(log_odds(1.0, 100)) and log_odds(1.0, 100) == pytest.approx(-log_odds(0.0, 100))


def test_converging_recalibrated_arm_reports_its_facts():
    torch.set_num_threads(1)
    arm = ShapesNet(train_sizes=((8, 8), (12, 12)), test_sizes=((12, 12),), recalibrate=True, n_train=60,
                    n_test=20, converge=True, patience=1)
    got = train_and_score(arm, 0, 1, 1.0)
    assert {"recal_accuracy_12x12", "accuracy_12x12", "fixres_train_accuracy", "best_val_accuracy",
            "log_odds"} <= set(got)
    assert 1 <= got["epochs_run"] <= 3  # the cap is 3 x 1 epoch
    with pytest.raises(ValueError, match="fit='pad'"):
        ShapesNet(train_sizes=((8, 8), (12, 12)), fit="pad")


class Fixed:
    """An arm with given per-seed results."""

    def __init__(self, side: int, rows: list[dict[str, float]]):
        self.train_sizes, self.rows = ((side, side),), rows

    def run(self, seeds, context):
        return self.rows


def test_gain_and_affine_cost_read_their_arms():
    low = Fixed(16, [{"log_odds": 0.0, "train_accuracy": 0.9, "cpu_seconds_per_epoch": 2.0}])
    mid = Fixed(32, [{"log_odds": 1.0, "train_accuracy": 0.8, "cpu_seconds_per_epoch": 5.0}])
    high = Fixed(64, [{"log_odds": 1.5, "train_accuracy": 0.7, "cpu_seconds_per_epoch": 17.0}])
    assert Gain(low, high).run([0], None) == [{"gain": 0.75, "train_accuracy": 0.7}]
    (cost,) = AffineCost(low, mid, high).run([0], None)
    # a + b px through (256, 2) and (1024, 5): b = 3/768, a = 1, predicted 1 + 16 = 17 at 4096 px
    assert cost["log_cost"] == pytest.approx(cost["log_affine"]) and cost["overhead_share"] == pytest.approx(0.5)


class Recorder:
    def __init__(self):
        self.attached: dict[str, object] = {}

    def attach(self, name, obj, kind=None):
        self.attached[name] = obj


def test_sample_grids_show_the_arms_classes_and_fit():
    rec = Recorder()
    attach_samples(rec, ShapesNet(train_sizes=((12, 24),), fit="pad"), "padded")
    attach_samples(rec, ShapesNet(train_sizes=((16, 16),), classes=FINE_CLASSES), "fine")
    assert set(rec.attached) == {"training images 12x24 padded", "training images 16x16"}
