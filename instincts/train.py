"""Training loops over many seeds: plain (one model per seed) and vectorised (torch.func vmap).

Both loops see the same thing per seed: the model initialised after ``torch.manual_seed(seed)``
and one data permutation per epoch drawn from ``torch.Generator().manual_seed(seed)``. So two
arms with the same seed share init (where shapes match) and data order: paired by construction.
Vectorised training stacks the seeds' parameters and runs one batched forward/backward per step;
the loss is the sum of per-seed mean losses, so each seed's gradient is its own, and Adam/SGD
updates (elementwise) equal per-seed training up to float rounding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

Strategy = Literal["auto", "bmm", "vmap", "loop"]
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.Identity, nn.LeakyReLU)


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, learning rate, batch size, epochs, weight decay."""

    batch_size: int
    lr: float
    epochs: int
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} is not allowed: use an integer >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} is not allowed: the learning rate must be > 0")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: use an integer >= 1")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer={self.optimizer!r} is not allowed: choose 'sgd', 'adam' or 'adamw'")

    def make(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=self.lr, weight_decay=self.weight_decay)


Data = tuple[torch.Tensor, torch.Tensor]


def _permutations(n: int, seeds: list[int], epochs: int) -> torch.Tensor:
    """epochs x seeds x n: each seed's data order, the same whatever the batch size."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return torch.stack([torch.stack([torch.randperm(n, generator=g) for g in gens]) for _ in range(epochs)])


def _init(make_model: Callable[[], nn.Module], seeds: list[int], device: torch.device) -> list[nn.Module]:
    models = []
    for s in seeds:
        torch.manual_seed(s)
        models.append(make_model().to(device))
    return models


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == y).float().mean(-1)


def fit_classifiers(make_model: Callable[[], nn.Module], seeds: list[int], train: Data, test: Data,
                    recipe: Recipe, device: torch.device | str = "cpu",
                    strategy: Strategy = "auto") -> list[dict[str, float]]:
    """Train one classifier per seed with cross-entropy; returns per-seed metrics.

    Metrics: ``test_accuracy``, ``test_loss``, ``train_loss`` (mean over the last epoch).
    """
    device = torch.device(device)
    if strategy == "auto":
        strategy = "loop" if len(seeds) < 4 else "bmm" if _is_plain_mlp(make_model()) else "vmap"
    x, y = (t.to(device) for t in train)
    xt, yt = (t.to(device) for t in test)
    perms = _permutations(len(x), seeds, recipe.epochs).to(device)
    models = _init(make_model, seeds, device)
    run = {"bmm": _fit_bmm, "vmap": _fit_vmap, "loop": _fit_loop}[strategy]
    return run(models, x, y, xt, yt, perms, recipe)


def _is_plain_mlp(model: nn.Module) -> bool:
    """Linear layers and elementwise activations only: stackable as batched matmuls."""
    return isinstance(model, nn.Sequential) and all(isinstance(m, (nn.Linear, *ELEMENTWISE)) for m in model)


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _fit_loop(models, x, y, xt, yt, perms, recipe):
    out = []
    for k, model in enumerate(models):
        opt = recipe.make(list(model.parameters()))
        last = []
        for epoch_perm in perms:
            last = []
            for sl in _batches(len(x), recipe.batch_size):
                idx = epoch_perm[k, sl]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                last.append(loss.detach())
        with torch.no_grad():
            logits = model(xt)
            out.append({"test_accuracy": _accuracy(logits, yt).item(),
                        "test_loss": nn.functional.cross_entropy(logits, yt).item(),
                        "train_loss": torch.stack(last).mean().item()})
    return out


def _fit_vmap(models, x, y, xt, yt, perms, recipe):
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p, b, inputs):
        return functional_call(base, (p, b), (inputs,))

    batched = vmap(forward)
    return _fit_stacked(lambda inputs: batched(params, buffers, inputs),
                        lambda inputs: vmap(forward, in_dims=(0, 0, None))(params, buffers, inputs),
                        list(params.values()), len(models), x, y, xt, yt, perms, recipe)


def _fit_bmm(models, x, y, xt, yt, perms, recipe):
    """Plain MLPs as batched matmuls: weights seeds x in x out, one baddbmm per layer."""
    layers = []
    for i, m in enumerate(models[0]):
        if isinstance(m, nn.Linear):
            w = torch.stack([mod[i].weight.detach().t() for mod in models]).requires_grad_()
            b = torch.stack([mod[i].bias.detach()[None] for mod in models]).requires_grad_()
            layers.append((w, b))
        else:
            layers.append(m)

    def forward(inputs):  # seeds x batch x features
        for layer in layers:
            inputs = torch.baddbmm(layer[1], inputs, layer[0]) if isinstance(layer, tuple) else layer(inputs)
        return inputs

    params = [t for layer in layers if isinstance(layer, tuple) for t in layer]
    n_seeds = len(models)
    return _fit_stacked(forward, lambda inputs: forward(inputs.expand(n_seeds, *inputs.shape)), params, n_seeds,
                        x, y, xt, yt, perms, recipe)


def _fit_stacked(forward, evaluate, params, n_seeds, x, y, xt, yt, perms, recipe):
    """The shared loop of the vectorised strategies: one step trains every seed."""
    opt = recipe.make(params)
    last = []
    for epoch_perm in perms:
        last = []
        for sl in _batches(len(x), recipe.batch_size):
            idx = epoch_perm[:, sl]  # seeds x batch
            logits = forward(x[idx])
            per_seed = nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            loss = per_seed.view(n_seeds, -1).mean(1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            last.append(loss.detach())
    with torch.no_grad():
        logits = evaluate(xt)
        acc = _accuracy(logits, yt)
        test_loss = nn.functional.cross_entropy(logits.flatten(0, 1), yt.repeat(n_seeds), reduction="none")
        test_loss = test_loss.view(n_seeds, -1).mean(1)
        train_loss = torch.stack(last).mean(0)
    return [{"test_accuracy": acc[k].item(), "test_loss": test_loss[k].item(), "train_loss": train_loss[k].item()}
            for k in range(n_seeds)]
