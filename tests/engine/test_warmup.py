"""The recipe's warm-up and exact step count against a plain PyTorch loop written here, per seed.

``reference`` restates the seed contract (init after ``torch.manual_seed(seed)``, a fresh permutation
from ``Generator().manual_seed(seed)`` each epoch, ``torch.optim`` on one model) and sets the lr
itself each step: ``lr * min(1, (step + 1) / warmup)``, times the cosine factor when there is one,
stopping after exactly ``steps`` steps. Every strategy, and per-member recipes, must match it.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from instincts.errors import InvalidArgument
from instincts.trainer import Cosine, EarlyStopping, Member, RangeSchedule, Recipe, Split, Switch, fit, train
from tests.engine.nets import Conv

DROPOUT = 31_337


def data(n: int, seed: int, d: int = 12, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(0)) * 1.5
    y = torch.randint(0, classes, (n,), generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


X, Y = data(90, 0)  # 90 images at batch 16: 6 steps per epoch, the last one short
TESTS = {"test": data(64, 1)}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


def reference(make, seed: int, recipe: Recipe) -> dict[str, float]:
    """Test accuracy and loss of one model trained by hand with the recipe's warm-up and length."""
    torch.manual_seed(seed)
    model = make()
    torch.manual_seed(DROPOUT + seed)
    if recipe.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    per_epoch = math.ceil(len(X) / recipe.batch_size)
    total = recipe.steps if recipe.steps is not None else recipe.epochs * per_epoch
    order = torch.Generator().manual_seed(seed)
    step = 0
    while step < total:
        perm = torch.randperm(len(X), generator=order)
        for i in range(0, len(X), recipe.batch_size):
            if step == total:
                break
            lr = recipe.lr * min(1.0, (step + 1) / recipe.warmup) if recipe.warmup else recipe.lr
            if recipe.schedule is not None:
                lr *= 0.5 * (1 + math.cos(math.pi * step / total))
            for group in opt.param_groups:
                group["lr"] = lr
            idx = perm[i:i + recipe.batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[idx]), Y[idx]).backward()
            opt.step()
            step += 1
    model.eval()
    xt, yt = TESTS["test"]
    with torch.no_grad():
        logits = model(xt)
    return {"test_accuracy": (logits.argmax(-1) == yt).float().mean().item(),
            "test_loss": nn.functional.cross_entropy(logits, yt).item()}


def close(got: dict[str, float], expected: dict[str, float]) -> None:
    assert got["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=1.5 / 64)  # one flipped prediction
    assert got["test_loss"] == pytest.approx(expected["test_loss"], abs=1e-4)


SEEDS = [0, 1, 2]
WARM_SGD = Recipe(batch_size=16, lr=0.2, epochs=3, optimizer="sgd", momentum=0.9, warmup=8)
WARM_ADAM_STEPS = Recipe(batch_size=16, lr=2e-2, steps=14, warmup=5)
WARM_COSINE_STEPS = Recipe(batch_size=16, lr=0.2, steps=11, optimizer="sgd", momentum=0.9, warmup=4, schedule=Cosine())


@pytest.mark.parametrize("strategy,make", [("bmm", mlp), ("vmap", mlp), ("loop", mlp), ("vmap", Conv),
                                           ("loop", Conv)])
@pytest.mark.parametrize("recipe", [WARM_SGD, WARM_ADAM_STEPS, WARM_COSINE_STEPS],
                         ids=["sgd-warmup", "adam-warmup-steps", "sgd-warmup-cosine-steps"])
def test_every_strategy_equals_separate_training(strategy, make, recipe):
    got = fit(make, SEEDS, (X, Y), recipe, tests=TESTS, strategy=strategy)
    for seed, metrics in zip(SEEDS, got):
        close(metrics, reference(make, seed, recipe))


@pytest.mark.parametrize("strategy", ["bmm", "loop"])
def test_members_with_their_own_lr_share_the_warmup(strategy):
    """A tuning grid (MemberOptimizer) warms each member up from its own lr."""
    recipes = [Recipe(batch_size=16, lr=lr, steps=14, optimizer="sgd", momentum=0.9, warmup=6) for lr in (0.05, 0.3)]
    got = fit(mlp, [Member(0, recipe=r) for r in recipes], (X, Y), tests=TESTS, strategy=strategy)
    for metrics, recipe in zip(got, recipes):
        close(metrics, reference(mlp, 0, recipe))


def test_warmup_changes_training():
    """Guards the comparison above: a trainer that ignored the warm-up would fail it, not pass by luck."""
    cold = fit(mlp, [0], (X, Y), Recipe(batch_size=16, lr=0.2, epochs=3, optimizer="sgd", momentum=0.9),
               tests=TESTS)[0]
    warm = fit(mlp, [0], (X, Y), WARM_SGD, tests=TESTS)[0]
    assert cold["test_loss"] != pytest.approx(warm["test_loss"], abs=1e-3)


def test_lr_ramps_linearly_then_stays():
    recipe = Recipe(batch_size=8, lr=0.4, epochs=1, warmup=4)
    assert [recipe.lr_at(s, 100) for s in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    cosine = Recipe(batch_size=8, lr=0.4, epochs=1, warmup=4, schedule=Cosine())
    assert cosine.lr_at(1, 10) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi / 10)))
    assert [recipe.sets_lr(s) for s in range(6)] == [True] * 5 + [False]
    assert not Recipe(batch_size=8, lr=0.4, epochs=1).sets_lr(0)


def test_steps_train_exactly_that_many_steps():
    run = train(mlp, [0, 1], (X, Y), Recipe(batch_size=16, lr=1e-2, steps=14), tests=TESTS)
    assert run.step_losses.shape == (14, 2)  # 6 + 6 + 2: the third epoch is partial
    assert all(m["epochs_run"] == 3 and m["cap_hit"] == 1.0 for m in run.metrics)


def test_steps_cap_early_stopping():
    """With early stopping the step count is the cap: a seed that stops sooner has not hit it."""
    run = train(mlp, [0, 1], (X, Y), Recipe(batch_size=16, lr=1e-2, steps=600), tests=TESTS,
                split=Split(validation=0.3), early_stopping=EarlyStopping(patience=2))
    assert len(run.step_losses) < 600
    assert all(m["cap_hit"] == 0.0 and m["epochs_run"] < 600 / 4 for m in run.metrics)


@pytest.mark.parametrize("kwargs,bad", [
    (dict(), "epochs=None, steps=None"),
    (dict(epochs=2, steps=10), "epochs=2, steps=10"),
    (dict(steps=0), "steps=0"),
    (dict(epochs=2, warmup=-1), "warmup=-1"),
    (dict(epochs=2, warmup=1.5), "warmup=1.5"),
    (dict(epochs=2, warmup=3, schedule=RangeSchedule()), "warmup=3"),
    (dict(steps=5, schedule=RangeSchedule()), "steps=5"),
    (dict(epochs=2, warmup=3, switch=Switch(1, 0.1)), "warmup=3"),
])
def test_bad_length_or_warmup_names_the_value(kwargs, bad):
    with pytest.raises(InvalidArgument, match=bad.replace("(", r"\(")):
        Recipe(batch_size=16, lr=0.1, **kwargs)


def test_members_must_share_warmup_and_steps():
    a = Recipe(batch_size=16, lr=0.1, steps=10, warmup=2)
    for b in (Recipe(batch_size=16, lr=0.1, steps=10, warmup=3), Recipe(batch_size=16, lr=0.1, steps=12, warmup=2)):
        with pytest.raises(InvalidArgument, match="must share"):
            fit(mlp, [Member(0, recipe=a), Member(1, recipe=b)], (X, Y))
