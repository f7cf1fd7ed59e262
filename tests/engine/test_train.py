"""Vectorised training equals per-seed training; seeds pair arms; runs are reproducible."""

import warnings

import pytest
import torch
from torch import nn

from fixtures.digits import digits_split
from instincts.train import Recipe, check_strategy, choose_strategy, fit_classifiers
from models.mlp import MLP


@pytest.fixture(scope="module")
def small_digits():
    x_tr, y_tr, x_te, y_te = digits_split()
    return (x_tr[:300], y_tr[:300]), (x_te, y_te)


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 10))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("strategy,make", [("bmm", lambda: MLP(64, 32, 10)), ("vmap", lambda: MLP(64, 32, 10)),
                                           ("vmap", conv_net)])
def test_vectorised_equals_loop(small_digits, optimizer, strategy, make):
    recipe = Recipe(batch_size=16, lr=0.05 if optimizer == "sgd" else 3e-3, epochs=3, optimizer=optimizer,
                    momentum=0.9 if optimizer == "sgd" else 0.0)
    seeds = [0, 1, 2, 3, 4]
    loop = fit_classifiers(make, seeds, *small_digits, recipe, strategy="loop")
    fast = fit_classifiers(make, seeds, *small_digits, recipe, strategy=strategy)
    for a, b in zip(loop, fast):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3, abs=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-3, abs=1e-4)
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 360  # at most a borderline image or two


def bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


def dropout_net() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 10))


@pytest.mark.parametrize("make,k,device,expected", [
    (lambda: MLP(64, 32, 10), 1, "cpu", "loop"),  # one seed: nothing to vectorise
    (lambda: MLP(64, 32, 10), 2, "cpu", "bmm"),  # batched matmuls beat the loop from K=2
    (lambda: MLP(64, 32, 10, act=None), 16, "cuda", "bmm"),  # a deep linear net is a plain MLP too
    (conv_net, 3, "cpu", "loop"),  # vmap lost to the loop below K=4 on CPU
    (conv_net, 4, "cpu", "vmap"),  # and won from K=4 on, convolutions included
    (conv_net, 2, "cuda", "vmap"),  # on CUDA a loop pays a kernel launch per seed and op
    (bn_net, 16, "cpu", "loop"),  # running statistics cannot update under vmap
    (dropout_net, 16, "cuda", "loop"),  # per-seed dropout masks would not match the loop's
])
def test_auto_rule(make, k, device, expected):
    assert choose_strategy(make(), k, device) == expected
    assert check_strategy("auto", make(), k, device) == expected


@pytest.mark.parametrize("strategy,make,match", [
    ("bmm", conv_net, r"strategy='bmm' is not allowed for Sequential: it needs an nn.Sequential of Linear"),
    ("vmap", bn_net, r"strategy='vmap' is not allowed for Sequential: batch norm and dropout"),
    ("fast", conv_net, r"strategy='fast' is not allowed: choose one of auto, bmm, vmap, loop"),
])
def test_impossible_strategy_is_an_error(strategy, make, match):
    with pytest.raises(ValueError, match=match):
        check_strategy(strategy, make(), 8)


def test_no_seeds_is_an_error(small_digits):
    with pytest.raises(ValueError, match=r"seeds=\[\] is not allowed"):
        fit_classifiers(lambda: MLP(64, 32, 10), [], *small_digits, Recipe(batch_size=16, lr=1e-3, epochs=1))


def test_auto_at_two_seeds_equals_loop(small_digits):
    """auto now trains two MLP seeds as batched matmuls: still the loop's numbers."""
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=2)
    loop = fit_classifiers(lambda: MLP(64, 32, 10), [3, 4], *small_digits, recipe, strategy="loop")
    auto = fit_classifiers(lambda: MLP(64, 32, 10), [3, 4], *small_digits, recipe)
    for a, b in zip(loop, auto):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_fused_adam_equals_reference_adam(small_digits, monkeypatch):
    """Recipe.make runs Adam fused for speed; it must train like torch's default Adam."""
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=2)
    assert recipe.make([torch.zeros(2, requires_grad=True)]).defaults["fused"] is True
    fused = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe, strategy="bmm")
    monkeypatch.setattr(Recipe, "make", lambda self, params: torch.optim.Adam(params, lr=self.lr))
    reference = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe, strategy="bmm")
    for a, b in zip(fused, reference):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_vectorises(small_digits, precision):
    """Autocast (fp16 with loss scaling) learns, and the vectorised run stays close to the loop."""
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=3, precision=precision)
    loop = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1], *small_digits, recipe, strategy="loop")
    fast = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1], *small_digits, recipe, strategy="bmm")
    for a, b in zip(loop, fast):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-2)
        assert b["train_loss"] < 2.0  # down from ln(10) = 2.30 at chance


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: checks the device path")


@CUDA
@pytest.mark.parametrize("strategy", ["loop", "bmm", "vmap"])
def test_cuda_training_makes_no_host_round_trips_per_step(small_digits, strategy):
    """Synchronising calls (``.item()``, host copies) must not grow with the number of steps."""
    def syncs(epochs: int) -> int:
        recipe = Recipe(batch_size=16, lr=3e-3, epochs=epochs)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe, "cuda", strategy)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    assert syncs(1) == syncs(3)


@CUDA
def test_cuda_trains_like_cpu(small_digits):
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=2)
    cpu = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe, "cpu")
    cuda = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe, "cuda")
    for a, b in zip(cpu, cuda):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-3, abs=1e-4)


def test_same_seed_same_init_and_order(small_digits):
    """Two arms with the same seed and shapes start from the same weights and see the same data."""
    recipe = Recipe(batch_size=16, lr=1e-3, epochs=2)
    one = fit_classifiers(lambda: MLP(64, 32, 10), [7, 8], *small_digits, recipe, strategy="loop")
    other = fit_classifiers(lambda: MLP(64, 32, 10), [7, 9], *small_digits, recipe, strategy="loop")
    assert one[0] == other[0]
    assert one[1] != other[1]


def test_reproducible_on_cpu(small_digits):
    recipe = Recipe(batch_size=32, lr=1e-3, epochs=2)
    runs = [fit_classifiers(lambda: MLP(64, 32, 10), list(range(6)), *small_digits, recipe) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, r"batch_size=0 is not allowed"),
    ({"lr": -1.0}, r"lr=-1.0 is not allowed"),
    ({"epochs": 0}, r"epochs=0 is not allowed"),
    ({"optimizer": "rmsprop"}, r"optimizer='rmsprop' is not allowed: choose 'sgd', 'adam' or 'adamw'"),
    ({"precision": "fp8"}, r"precision='fp8' is not allowed: choose one of fp32, bf16, fp16"),
])
def test_recipe_rejects_bad_values(kwargs, match):
    base = {"batch_size": 8, "lr": 1e-3, "epochs": 1}
    with pytest.raises(ValueError, match=match):
        Recipe(**{**base, **kwargs})


def test_loss_is_finite_and_learning(small_digits):
    recipe = Recipe(batch_size=16, lr=3e-3, epochs=5)
    out = fit_classifiers(lambda: MLP(64, 32, 10), [0, 1, 2, 3], *small_digits, recipe)
    assert all(torch.isfinite(torch.tensor(o["train_loss"])) for o in out)
    assert min(o["test_accuracy"] for o in out) > 0.8
