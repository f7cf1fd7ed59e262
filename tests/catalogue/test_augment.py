"""Augmentation ops, test corruptions and the augmented trainer (RC-6, RC-12, IN-5)."""

import pytest
import torch
from torch import nn

from fixtures.augment import (
    AUGMENTATIONS,
    CORRUPTIONS,
    compose_random,
    contrast,
    cutout,
    get_augmentation,
    rotate,
    scale,
    shift,
)
from fixtures.augmented_fit import fit_augmented
from fixtures.digits import digits_split
from instincts.train import Recipe, fit_classifiers


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


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


@pytest.fixture(scope="module")
def small_digits():
    x_tr, y_tr, x_te, y_te = digits_split()
    return (x_tr[:200].view(-1, 1, 8, 8), y_tr[:200]), (x_te.view(-1, 1, 8, 8), y_te)


def test_without_augmentation_it_trains_like_the_engine(small_digits):
    """Same init, data order and loss as fit_classifiers: an arm here pairs with the engine's arms."""
    train, test = small_digits
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=2)
    ours = fit_augmented(conv_net, [0, 1, 2, 3], train, {"test": test}, recipe)
    engine = fit_classifiers(conv_net, [0, 1, 2, 3], train, test, recipe, strategy="vmap")
    for a, b in zip(ours, engine):
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=1 / len(test[1]) + 1e-9)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_a_seed_gives_the_same_result_whatever_seeds_train_beside_it(small_digits):
    train, test = small_digits
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=1)
    augment = compose_random(["shift", "noise"])
    alone = fit_augmented(conv_net, [5], train, {"test": test}, recipe, augment=augment)[0]
    together = fit_augmented(conv_net, [4, 5, 6], train, {"test": test}, recipe, augment=augment)[1]
    assert alone["train_loss"] == pytest.approx(together["train_loss"], rel=1e-4)
    assert abs(alone["test_accuracy"] - together["test_accuracy"]) <= 1 / len(test[1]) + 1e-9


def test_trainer_rejects_bad_input(small_digits):
    train, test = small_digits
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=1)
    with pytest.raises(ValueError, match="seeds"):
        fit_augmented(conv_net, [], train, {"test": test}, recipe)
    with pytest.raises(ValueError, match="tests"):
        fit_augmented(conv_net, [0], train, {}, recipe)
    with pytest.raises(ValueError, match="'short'"):
        fit_augmented(conv_net, [0], train, {"short": (test[0], test[1][:3])}, recipe)


def test_batch_norm_models_train_one_seed_at_a_time_with_the_same_streams(small_digits):
    """Batch norm cannot run under vmap: those models train per seed, still independent of their companions."""
    train, test = small_digits
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=1)

    def bn_net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))

    augment = compose_random(["shift"])
    alone = fit_augmented(bn_net, [5], train, {"test": test}, recipe, augment=augment)[0]
    together = fit_augmented(bn_net, [4, 5], train, {"test": test}, recipe, augment=augment)[1]
    assert alone == together
    assert alone["test_accuracy"] > 0.3  # it learned something in one epoch (chance is 0.1)
