"""Augmentation ops and test corruptions (RC-6, RC-12, IN-5); the trainer's transform hook and
several test sets are tested with the engine (tests/engine/test_train.py)."""

import pytest
import torch

from fixtures.augment import (
    AUGMENTATIONS,
    CORRUPTIONS,
    compose_random,
    contrast,
    corruption_samples,
    cutout,
    get_augmentation,
    rotate,
    scale,
    shift,
)
from fixtures.styles import KINDS, SIDE, style_images, style_samples


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_ops_keep_shape_and_range_and_are_deterministic_per_generator(name):
    op, x = AUGMENTATIONS[name], images()
    a, b, c = op(x, gen(1)), op(x, gen(1)), op(x, gen(2))
    assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("op,kwargs", [(shift, {"max_fraction": 0.0}), (rotate, {"max_degrees": 0.0}),
                                       (scale, {"low": 1.0, "high": 1.0})])
def test_geometric_ops_at_zero_magnitude_are_the_identity(op, kwargs):
    x = images()
    torch.testing.assert_close(op(x, gen(0), **kwargs), x, rtol=0, atol=1e-5)


def test_cutout_zeroes_one_square_per_image():
    out = cutout(torch.ones(20, 3, 8, 8), gen(0))
    side = round(0.375 * 8)
    assert ((out == 0).sum(dim=(2, 3)) == side * side).all()


def test_composition_applies_every_op_deterministically():
    x = torch.ones(20, 1, 8, 8)
    composed = compose_random(["cutout", "cutout"])
    a = composed(x, gen(3))
    assert torch.equal(a, composed(x, gen(3)))
    holes = (a == 0).sum(dim=(1, 2, 3))
    assert ((holes >= 9) & (holes <= 18)).all() and (holes > 9).any()  # two 3 x 3 squares, overlapping or not


def test_corruptions_are_fixed_and_keep_shape():
    x = images()
    for name, corrupt in CORRUPTIONS.items():
        out = corrupt(x)
        assert out.shape == x.shape, name
        assert torch.equal(out, corrupt(x)), name
        assert not torch.equal(out, x), name
    torch.testing.assert_close(contrast(x).mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))


def test_bad_names_and_values_are_rejected():
    with pytest.raises(ValueError, match="'flip' is unknown"):
        get_augmentation("flip")
    with pytest.raises(ValueError, match="names="):
        compose_random([])
    with pytest.raises(ValueError, match="factor=1.5"):
        contrast(images(), factor=1.5)
    with pytest.raises(ValueError, match="n x C x H x W"):
        shift(torch.zeros(8, 8), gen(0))


def test_sample_grids_have_one_row_per_corruption_and_per_style():
    images, labels = corruption_samples(4)
    assert images.shape == (4 * (1 + len(CORRUPTIONS)), 1, 8, 8) and labels[:5] == ["clean"] * 4 + ["noise"]
    images, labels = style_samples(3)
    assert images.shape == (3 * len(KINDS), 3, SIDE, SIDE) and labels[-1] == "held out"


def test_style_families_are_balanced_and_an_unknown_one_is_rejected():
    for kind in KINDS:
        x, y = style_images(kind, 10, seed=0)
        assert x.shape == (10, 3, SIDE, SIDE) and torch.bincount(y).tolist() == [2] * 5, kind
    with pytest.raises(ValueError, match="'sepia' is unknown"):
        style_images("sepia", 10, seed=0)


def test_rand_augment_is_deterministic_and_leaves_some_images_as_they_are():
    from fixtures.augment import rand_augment

    x = torch.ones(60, 1, 8, 8)
    op = rand_augment(["cutout"], magnitude=1.0, layers=1)
    a = op(x, gen(4))
    assert torch.equal(a, op(x, gen(4)))
    untouched = (a == 1).all(dim=(1, 2, 3))
    assert untouched.any() and not untouched.all()  # the identity is one of the two choices per image
    with pytest.raises(ValueError, match="layers=0"):
        rand_augment(["shift"], 0.5, layers=0)


def test_magnitude_scales_the_op_and_is_checked():
    from fixtures.augment import at_magnitude

    out = at_magnitude("cutout", 0.25)(torch.ones(5, 1, 8, 8), gen(0))
    assert ((out == 0).sum(dim=(2, 3)) == 1).all()  # a 0.125 x 8 = 1 px hole at a quarter of full strength
    with pytest.raises(ValueError, match="magnitude=0"):
        at_magnitude("shift", 0)


def test_rand_conv_restyles_the_background_and_is_deterministic():
    from fixtures.augment import rand_conv

    x = style_images("fixed", 8, seed=0)[0]
    a = rand_conv(x, gen(5))
    assert a.shape == x.shape and torch.equal(a, rand_conv(x, gen(5)))
    assert float(a.min()) >= 0 and float(a.max()) <= 1 and not torch.equal(a, x)
    assert float(a[:, :, 0, 0].std()) > 0  # the black corners turn colours that differ by image


def test_faster_rcnn_grid_and_kmeans_restarts():
    import numpy as np

    from fixtures.boxes import draw_boxes, faster_rcnn_anchors, kmeans_anchors, mean_best_iou

    grid = faster_rcnn_anchors()
    assert grid.shape == (9, 2) and np.allclose(grid.prod(1), np.repeat([128.0, 256.0, 512.0], 3) ** 2)
    boxes = draw_boxes(0, 300, "mixed")
    one, many = (kmeans_anchors(boxes, 5, "iou", seed=1, restarts=r) for r in (1, 5))
    assert mean_best_iou(boxes, many) >= mean_best_iou(boxes, one) - 1e-9
    with pytest.raises(ValueError, match="restarts=0"):
        kmeans_anchors(boxes, 5, restarts=0)
