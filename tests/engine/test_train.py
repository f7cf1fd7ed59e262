"""The trainer against an independent reference: a plain PyTorch loop written here, per seed.

``reference`` re-states the seed contract from scratch (init after ``torch.manual_seed(seed)``, a
fresh ``torch.randperm`` from ``Generator().manual_seed(seed)`` every epoch, ``torch.optim`` on one
model, ``model.eval()`` to score) and never calls the engine's own helpers. Each hook is checked for
every strategy that can train the model, so a mutation that drops per-epoch reshuffling, ignores
SGD momentum or skips eval mode fails here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from instincts.errors import InvalidArgument
from instincts.trainer import (
    Cosine,
    EarlyStopping,
    Group,
    Member,
    MemberOptimizer,
    RangeSchedule,
    Recipe,
    SoftTargets,
    Split,
    Switch,
    check_strategy,
    choose_strategy,
    fit,
    recalibrate_batchnorm,
    train,
)
from tests.engine.nets import Conv

AUGMENT, DROPOUT, LABEL_NOISE = 7919, 31_337, 10_000  # the documented streams, restated


def data(n: int = 96, d: int = 12, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * 1.5
    y = torch.randint(0, classes, (n,), generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


X, Y = data()
XT, YT = data(64, seed=1)
TESTS = {"test": (XT, YT)}


def mlp(dropout: float = 0.0) -> nn.Module:
    layers = [nn.Linear(12, 16), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(16, 3)]
    return nn.Sequential(*layers)


def bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def reference(make, seed, recipe: Recipe, x=X, y=Y, tests=TESTS, loss=None, transform=None, labels=None,
              opt_factory=None):
    """A plain loop: one model, one optimiser, fresh permutation per epoch."""
    torch.manual_seed(seed)
    model = make()
    torch.manual_seed(DROPOUT + seed)
    if opt_factory is not None:
        opt = opt_factory(model)
    elif recipe.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay)
    else:
        cls = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
        opt = cls(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    order = torch.Generator().manual_seed(seed)
    aug = torch.Generator().manual_seed(AUGMENT + seed)
    labels = y if labels is None else labels
    model.train()
    step = 0
    total = recipe.epochs * -(-len(x) // recipe.batch_size)
    for epoch in range(recipe.epochs):
        if recipe.switch is not None and epoch == recipe.switch.epoch:
            opt = torch.optim.SGD(model.parameters(), lr=recipe.switch.lr, momentum=recipe.switch.momentum)
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            if isinstance(recipe.schedule, Cosine):
                for group in opt.param_groups:
                    group["lr"] = recipe.lr * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * step / total)).item())
            xb = x[idx] if transform is None else transform(x[idx], aug)
            with recipe.autocast(torch.device("cpu")):
                logits = model(xb)
            out = nn.functional.cross_entropy(logits.float(), labels[idx]) if loss is None else loss(logits, idx)
            opt.zero_grad()
            out.backward()
            opt.step()
            step += 1
    model.eval()
    with torch.no_grad(), recipe.autocast(torch.device("cpu")):
        return {f"{name}_accuracy": (model(xt).float().argmax(-1) == yt).float().mean().item()
                for name, (xt, yt) in tests.items()}, model


def close(metrics, expected, tol=1e-6):
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=tol), key


SEEDS = [0, 1, 2, 3]
ADAM = Recipe(batch_size=16, lr=1e-2, epochs=3)
SGD_MOMENTUM = Recipe(batch_size=16, lr=5e-2, epochs=3, optimizer="sgd", momentum=0.9, weight_decay=1e-3)
ADAMW = Recipe(batch_size=16, lr=1e-2, epochs=3, optimizer="adamw", weight_decay=0.1)


@pytest.mark.parametrize("strategy,make", [("bmm", mlp), ("vmap", mlp), ("loop", mlp), ("vmap", Conv),
                                           ("loop", Conv)])
@pytest.mark.parametrize("recipe", [ADAM, SGD_MOMENTUM, ADAMW], ids=["adam", "sgd-momentum", "adamw"])
def test_every_strategy_equals_separate_training(strategy, make, recipe):
    got = fit(make, SEEDS, (X, Y), recipe, tests=TESTS, strategy=strategy)
    for seed, metrics in zip(SEEDS, got):
        close(metrics, reference(make, seed, recipe)[0], tol=1.5 / len(XT))  # at most one flipped prediction


def test_a_seed_does_not_depend_on_its_neighbours():
    alone = fit(mlp, [2], (X, Y), ADAM, tests=TESTS)
    batched = fit(mlp, [5, 2, 7], (X, Y), ADAM, tests=TESTS)
    assert batched[1]["test_accuracy"] == alone[0]["test_accuracy"]
    assert batched[1]["train_loss"] == pytest.approx(alone[0]["train_loss"], abs=1e-6)


def test_data_order_is_reshuffled_every_epoch():
    """The same epoch's order twice is a different training from a fresh permutation each epoch."""
    recipe = Recipe(batch_size=16, lr=5e-2, epochs=4, optimizer="sgd")
    got = fit(mlp, [0], (X, Y), recipe, tests={"train": (X, Y)})[0]
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=5e-2)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    for _ in range(4):  # one order, reused
        for i in range(0, len(X), 16):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[perm[i:i + 16]]), Y[perm[i:i + 16]]).backward()
            opt.step()
    with torch.no_grad():
        same_order_loss = nn.functional.cross_entropy(model(X), Y).item()
    assert got["train_loss"] != pytest.approx(same_order_loss, abs=1e-4)
    expected, _ = reference(mlp, 0, recipe, tests={"train": (X, Y)})
    close(got, expected, tol=1.5 / len(X))


def test_momentum_is_not_ignored():
    plain = Recipe(batch_size=16, lr=5e-2, epochs=3, optimizer="sgd")
    with_momentum = Recipe(batch_size=16, lr=5e-2, epochs=3, optimizer="sgd", momentum=0.9)
    a, b = (fit(mlp, [0], (X, Y), r, tests=TESTS)[0]["test_loss"] for r in (plain, with_momentum))
    assert a != pytest.approx(b, abs=1e-3)


@pytest.mark.parametrize("strategy", ["bmm", "loop"])
def test_dropout_masks_come_from_the_seed(strategy):
    make = lambda: mlp(0.3)  # noqa: E731
    got = fit(make, [0, 1], (X, Y), ADAM, tests=TESTS, strategy=strategy)
    for seed, metrics in zip([0, 1], got):
        close(metrics, reference(make, seed, ADAM)[0], tol=1.5 / len(XT))
    other_masks = fit(make, [Member(0, dropout_seed=99)], (X, Y), ADAM, tests=TESTS, strategy=strategy)[0]
    assert other_masks["train_loss"] != pytest.approx(got[0]["train_loss"], abs=1e-6)


@pytest.mark.parametrize("strategy,make", [("vmap", Conv), ("loop", Conv), ("bmm", mlp)])
def test_transform_hook_gets_the_seeds_own_generator(strategy, make):
    def jitter(xb, generator):
        return xb + 0.3 * torch.randn(xb.shape, generator=generator)

    got = fit(make, SEEDS, (X, Y), ADAM, tests=TESTS, strategy=strategy,
              transform=lambda xb, info: jitter(xb, info.generator))
    for seed, metrics in zip(SEEDS, got):
        close(metrics, reference(make, seed, ADAM, transform=jitter)[0], tol=1.5 / len(XT))


@pytest.mark.parametrize("strategy", ["bmm", "loop"])
def test_soft_targets_distil_per_seed(strategy):
    teacher_probs = torch.softmax(torch.randn(2, len(X), 3, generator=torch.Generator().manual_seed(3)) * 2, -1)
    hook = SoftTargets(teacher_probs, temperature=2.0, alpha=0.7)
    got = fit(mlp, [0, 1], (X, Y), ADAM, tests=TESTS, strategy=strategy, loss=hook)
    for k, seed in enumerate([0, 1]):
        def loss(logits, idx, k=k):
            kl = nn.functional.kl_div(nn.functional.log_softmax(logits / 2.0, -1), teacher_probs[k, idx],
                                      reduction="batchmean")
            return 0.7 * 4.0 * kl + 0.3 * nn.functional.cross_entropy(logits, Y[idx])
        close(got[k], reference(mlp, seed, ADAM, loss=loss)[0], tol=1.5 / len(XT))


def test_label_noise_is_the_members_and_from_its_seed():
    got = fit(mlp, [Member(0, label_noise=0.4), Member(1, label_noise=0.4)], (X, Y), ADAM, tests={"train": (X, Y)})
    for k, seed in enumerate([0, 1]):
        g = torch.Generator().manual_seed(LABEL_NOISE + seed)
        flip = torch.rand(len(Y), generator=g) < 0.4
        noisy = torch.where(flip, (Y + torch.randint(1, 3, (len(Y),), generator=g)) % 3, Y)
        expected, model = reference(mlp, seed, ADAM, labels=noisy, tests={"train": (X, noisy)})
        assert got[k]["train_accuracy"] == pytest.approx(expected["train_accuracy"], abs=1.5 / len(X))


@pytest.mark.parametrize("strategy", ["bmm", "vmap", "loop"])
def test_parameter_groups_switch_and_schedule(strategy):
    recipe = Recipe(batch_size=16, lr=1e-2, epochs=4, groups=(Group("0.", lr=1e-3),), schedule=Cosine(),
                    switch=Switch(epoch=2, lr=5e-2, momentum=0.9))

    def opt_factory(model):
        return torch.optim.Adam([{"params": model[0].parameters(), "lr": 1e-3},
                                 {"params": model[2].parameters()}], lr=1e-2)

    # the reference's schedule sets every group to the recipe's lr: compare without groups there
    plain = Recipe(batch_size=16, lr=1e-2, epochs=4, schedule=Cosine(), switch=Switch(epoch=2, lr=5e-2, momentum=0.9))
    got = fit(mlp, [0, 1, 2, 3], (X, Y), plain, tests=TESTS, strategy=strategy)
    for seed, metrics in zip(SEEDS, got):
        close(metrics, reference(mlp, seed, plain)[0], tol=1.5 / len(XT))
    grouped = Recipe(batch_size=16, lr=1e-2, epochs=2, groups=(Group("0.", lr=1e-3),))
    got = fit(mlp, [0, 1], (X, Y), grouped, tests=TESTS, strategy=strategy)
    for seed, metrics in zip([0, 1], got):
        close(metrics, reference(mlp, seed, grouped, opt_factory=opt_factory)[0], tol=1.5 / len(XT))
    assert recipe.groups


def test_bf16_precision_matches_autocast_reference():
    recipe = Recipe(batch_size=16, lr=1e-2, epochs=2, precision="bf16")
    got = fit(mlp, [0, 1], (X, Y), recipe, tests=TESTS, strategy="loop")
    for seed, metrics in zip([0, 1], got):
        close(metrics, reference(mlp, seed, recipe)[0], tol=1.5 / len(XT))


def test_fp16_trains_one_scaler_per_seed():
    recipe = Recipe(batch_size=16, lr=1e-2, epochs=1, precision="fp16")
    with pytest.raises(InvalidArgument, match="one GradScaler per seed"):
        fit(mlp, [0, 1], (X, Y), recipe, tests=TESTS, strategy="bmm")
    alone = fit(mlp, [1], (X, Y), recipe, tests=TESTS)[0]
    assert fit(mlp, [0, 1], (X, Y), recipe, tests=TESTS)[1] == alone


def test_several_test_sets_are_scored_from_one_model():
    tests = {"a": (XT, YT), "b": (XT[:10], YT[:10])}
    (got,) = fit(mlp, [0], (X, Y), ADAM, tests=tests)
    expected, _ = reference(mlp, 0, ADAM, tests=tests)
    close(got, expected, tol=1e-6)
    assert {"a_loss", "b_loss", "train_loss", "train_accuracy", "epochs_run", "cap_hit"} <= set(got)


def test_evaluation_is_in_eval_mode():
    """A batch-norm net scored with running statistics: equal to the reference's model.eval()."""
    got = fit(bn_net, [0, 1], (X, Y), ADAM, tests={"one": (XT[:1], YT[:1]), "test": (XT, YT)})
    for seed, metrics in zip([0, 1], got):
        close(metrics, reference(bn_net, seed, ADAM, tests={"one": (XT[:1], YT[:1]), "test": (XT, YT)})[0],
              tol=1.5 / len(XT))


def test_early_stopping_restores_the_best_epoch_and_reports_facts():
    recipe = Recipe(batch_size=16, lr=3e-2, epochs=30)
    out = train(mlp, [0, 1, 2], (X, Y), recipe, tests=TESTS, validation=(XT[:32], YT[:32]),
                early_stopping=EarlyStopping(patience=2))
    for metrics in out.metrics:
        assert metrics["best_val_accuracy"] == pytest.approx(metrics["validation_accuracy"])
        assert 1 <= metrics["epochs_run"] <= 30
        assert metrics["cap_hit"] == float(metrics["epochs_run"] == 30)
    # a seed trained alone stops at the same epoch with the same result
    alone = fit(mlp, [1], (X, Y), recipe, tests=TESTS, validation=(XT[:32], YT[:32]),
                early_stopping=EarlyStopping(patience=2))[0]
    assert alone == pytest.approx(out.metrics[1], abs=1e-6)


def test_early_stopping_on_a_per_seed_split():
    recipe = Recipe(batch_size=16, lr=3e-2, epochs=20)
    got = fit(mlp, [0, 1], (X, Y), recipe, split=Split(validation=0.25, test=0.25),
              early_stopping=EarlyStopping(patience=3))
    assert all({"test_accuracy", "validation_accuracy", "best_val_accuracy"} <= set(m) for m in got)
    pinned = fit(mlp, [0, 1], (X, Y), recipe, split=Split(validation=0.25, test=0.25, seed=5))
    again = fit(mlp, [0, 1], (X, Y), recipe, split=Split(validation=0.25, test=0.25, seed=5))
    assert pinned == again


def test_range_schedule_records_every_step_loss():
    out = train(mlp, [0, 1], (X, Y), Recipe(batch_size=16, lr=1e-3, epochs=1, schedule=RangeSchedule(1e-5, 1.0, 20)))
    assert out.step_losses.shape == (20, 2)


def test_member_optimizer_equals_torch_optim_step_by_step():
    """Members with different optimisers, lrs, decays and a switch, against separate torch.optim models."""
    recipes = [Recipe(16, 1e-2, 4, "adam", weight_decay=1e-3), Recipe(16, 3e-3, 4, "adamw", weight_decay=0.1),
               Recipe(16, 5e-2, 4, "sgd", momentum=0.9, weight_decay=1e-3), Recipe(16, 5e-2, 4, "sgd"),
               Recipe(16, 1e-2, 4, "adam", switch=Switch(epoch=2, lr=5e-2, momentum=0.9))]
    members = [Member(k, recipe=r) for k, r in enumerate(recipes)]
    got = fit(mlp, members, (X, Y), tests=TESTS, strategy="bmm")
    for k, r in enumerate(recipes):
        close(got[k], reference(mlp, k, r)[0], tol=1.5 / len(XT))
        assert got[k]["test_loss"] == pytest.approx(_reference_loss(k, r), abs=1e-4)


def _reference_loss(seed, recipe):
    _, model = reference(mlp, seed, recipe)
    with torch.no_grad():
        return nn.functional.cross_entropy(model(XT), YT).item()


def test_member_optimizer_rejects_mixed_groups():
    with pytest.raises(InvalidArgument, match="parameter groups"):
        MemberOptimizer([Recipe(16, 1e-2, 2), Recipe(16, 1e-2, 2, groups=(Group("0."),))],
                        [torch.zeros(2, 3, requires_grad=True)])


def test_recalibrate_batchnorm_recomputes_running_statistics():
    torch.manual_seed(0)
    net = bn_net().eval()
    shifted = X * 3 + 2
    recalibrate_batchnorm(net, shifted, batch_size=len(shifted))
    with torch.no_grad():
        h = net[0](shifted)
    assert torch.allclose(net[1].running_mean, h.mean(0), atol=1e-5)
    assert not net.training  # the mode it had comes back


def test_recalibrate_hook_scores_with_recalibrated_statistics():
    shifted = (XT * 3 + 2, YT)
    plain = fit(bn_net, [0], (X, Y), ADAM, tests={"shifted": shifted})[0]
    recal = fit(bn_net, [0], (X, Y), ADAM, tests={"shifted": shifted, "again": shifted},
                recalibrate={"shifted": X * 3 + 2})[0]
    assert recal["again_accuracy"] == plain["shifted_accuracy"]  # the trained statistics come back after
    assert recal["shifted_loss"] != pytest.approx(plain["shifted_loss"], abs=1e-6)


def test_strategy_rule_and_errors():
    assert choose_strategy(mlp(), 1) == "loop"
    assert choose_strategy(mlp(), 2) == "bmm"
    assert choose_strategy(mlp(0.2), 8) == "bmm"
    assert choose_strategy(Conv(), 2) == "loop"
    assert choose_strategy(Conv(), 4) == "vmap"
    assert choose_strategy(bn_net(), 16) == "loop"
    with pytest.raises(InvalidArgument, match="strategy='bmm' is not allowed for Conv"):
        check_strategy("bmm", Conv(), 4)
    with pytest.raises(InvalidArgument, match="strategy='vmap' is not allowed"):
        check_strategy("vmap", bn_net(), 4)
    with pytest.raises(ValueError, match="strategy='fast' is not allowed"):
        check_strategy("fast", mlp(), 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(members=[]), "members=\\[\\] is not allowed"),
    (dict(early_stopping=EarlyStopping()), "early_stopping needs a validation set"),
    (dict(recalibrate={"nope": X}), "recalibrate names"),
    (dict(members=[Member(0, recipe=Recipe(16, 1e-2, 2)), Member(1, recipe=Recipe(32, 1e-2, 2))]),
     "must share batch_size"),
])
def test_bad_input_is_named(kwargs, match):
    args = dict(members=[0], tests=TESTS) | kwargs
    with pytest.raises(InvalidArgument, match=match):
        fit(mlp, args.pop("members"), (X, Y), ADAM, **args)


@pytest.mark.parametrize("bad,match", [(dict(batch_size=0), "batch_size=0"), (dict(lr=0), "lr=0"),
                                       (dict(optimizer="rmsprop"), "optimizer='rmsprop'"),
                                       (dict(precision="fp8"), "precision='fp8'")])
def test_recipe_validates(bad, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**(dict(batch_size=16, lr=1e-2, epochs=2) | bad))


def test_loop_strategy_with_early_stopping_pads_seeds_that_stop_sooner():
    """Seeds trained one at a time may stop at different steps: their losses line up, NaN after the stop."""
    from instincts import EarlyStopping, Recipe, Split, train

    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=g)
    y = (x[:, 0] > 0).long()
    out = train(lambda: nn.Linear(4, 2), [0, 1, 2], (x, y), Recipe(batch_size=16, lr=0.5, epochs=40),
                split=Split(validation=0.3), early_stopping=EarlyStopping(patience=1), strategy="loop")
    epochs = [m["epochs_run"] for m in out.metrics]
    assert out.step_losses.shape[1] == 3
    assert len(set(epochs)) > 1, epochs  # the seeds stopped at different epochs (else this tests nothing)
    steps = torch.isfinite(out.step_losses).sum(0)
    assert steps.max() == out.step_losses.shape[0] and steps.min() < steps.max()
