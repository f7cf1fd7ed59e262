"""Strategies: K networks as one "stack" that the trainer steps at once.

- ``bmm``: plain MLPs (Linear, elementwise activations, Dropout) as batched matmuls, weights
  seeds x in x out; dropout masks from each seed's own generator, drawn as ``nn.Dropout`` draws them.
- ``vmap``: any model without batch norm or dropout, ``stack_module_state`` + ``torch.func.vmap``.
- ``loop``: one ``nn.Module`` (a stack of one); the trainer runs it once per seed. Batch norm and
  dropout train exactly as in plain PyTorch (dropout from the seed's stream on the global RNG).
Every stack maps seeds x batch x ... inputs to seeds x batch x classes logits, so one training loop
serves all three; a stack of K equals K separately trained models (tests/engine/test_train.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from instincts.errors import InvalidArgument

Strategy = Literal["auto", "bmm", "vmap", "loop"]
STRATEGIES = ("auto", "bmm", "vmap", "loop")
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.Identity, nn.LeakyReLU)
# Modules that vmap cannot train like separate models: running statistics are updated in place
# (an error under vmap) and dropout would need per-seed randomness that vmap does not give.
NOT_VMAPPABLE = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
VMAP_MIN_SEEDS = {"cpu": 4, "cuda": 2}  # below this a loop of models is as fast (python -m benchmarks)
EVAL_CHUNK = 512


def choose_strategy(model: nn.Module, n_seeds: int, device: torch.device | str = "cpu") -> str:
    """The fastest correct way to train ``n_seeds`` copies of ``model``: a rule measured by
    ``python -m benchmarks --only training`` (its table prints loop time / vectorised time).

    Plain MLPs train as batched matmuls from two seeds on; other models use vmap from
    ``VMAP_MIN_SEEDS`` seeds on (4 on CPU, where vmap lost to the loop below that; 2 on CUDA, where
    a loop pays a kernel launch per seed and op); one seed, and models that vmap cannot train like
    separate models (batch norm, dropout outside a plain MLP), use the loop. torch.compile is never
    used: compiling cost 1-11 s and then ran a tiny MLP 1.4x slower.
    """
    device = torch.device(device)
    if n_seeds < 2:
        return "loop"
    if _is_plain_mlp(model):
        return "bmm"
    if n_seeds >= VMAP_MIN_SEEDS.get(device.type, 4) and _vmappable(model):
        return "vmap"
    return "loop"


def check_strategy(strategy: str, model: nn.Module, n_seeds: int, device: torch.device | str = "cpu") -> str:
    """``strategy`` resolved (auto -> ``choose_strategy``), with a clear error when it cannot train ``model``."""
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"strategy={strategy!r} is not allowed: choose one of {', '.join(STRATEGIES)}")
    if strategy == "auto":
        return choose_strategy(model, n_seeds, device)
    if strategy == "bmm" and not _is_plain_mlp(model):
        raise InvalidArgument(f"strategy='bmm' is not allowed for {type(model).__name__}: it needs an nn.Sequential "
                              "of Linear layers, elementwise activations and Dropout; use 'vmap', 'loop' or 'auto'")
    if strategy == "vmap" and not _vmappable(model):
        raise InvalidArgument(f"strategy='vmap' is not allowed for {type(model).__name__}: batch norm and dropout do "
                              "not train under vmap as in separate models; use 'loop' or 'auto'")
    return strategy


def _is_plain_mlp(model: nn.Module) -> bool:
    return isinstance(model, nn.Sequential) and all(isinstance(m, (nn.Linear, nn.Dropout, *ELEMENTWISE))
                                                    for m in model)


def _vmappable(model: nn.Module) -> bool:
    return not any(isinstance(m, NOT_VMAPPABLE) for m in model.modules())


def _chunks(x: torch.Tensor, dim: int):
    for i in range(0, x.shape[dim], EVAL_CHUNK):
        yield x.narrow(dim, i, min(EVAL_CHUNK, x.shape[dim] - i))


class Stack:
    """K networks stepped together. ``params`` have a leading seeds dimension (except a loop stack's)."""

    names: list[str]
    params: list[torch.Tensor]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # seeds x batch x ... -> seeds x batch x classes
        raise NotImplementedError

    def _eval_forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        raise NotImplementedError

    def train(self, mode: bool = True) -> None:
        """Training mode (dropout on, batch statistics) or evaluation mode."""

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Logits in evaluation mode, in chunks: ``x`` is n x ... for every seed (shared) or seeds x n x ...;
        the stack is back in training mode afterwards."""
        self.train(False)
        try:
            dim = 0 if shared else 1
            return torch.cat([self._eval_forward(c, shared) for c in _chunks(x, dim)], dim=1)
        finally:
            self.train(True)

    def snapshot(self, k: int) -> list[torch.Tensor]:
        return [p[k].detach().clone() for p in self.params]

    @torch.no_grad()
    def restore(self, k: int, state: list[torch.Tensor]) -> None:
        for p, s in zip(self.params, state):
            p[k].copy_(s)

    def models(self) -> list[nn.Module]:
        """The trained networks as plain modules, in evaluation mode."""
        raise NotImplementedError


class LoopStack(Stack):
    """One module, trained as plain PyTorch trains it; dropout draws from the seed's own stream."""

    def __init__(self, model: nn.Module, dropout_seed: int):
        self.model = model
        named = list(model.named_parameters())
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.dropout_seed = dropout_seed
        model.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x[0])[None]

    def _eval_forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        return self.model(x if shared else x[0])[None]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def snapshot(self, k: int) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return copy.deepcopy(self.model.state_dict())

    def restore(self, k: int, state: dict[str, torch.Tensor]) -> None:  # type: ignore[override]
        self.model.load_state_dict(state)

    def models(self) -> list[nn.Module]:
        return [self.model.eval()]


class VmapStack(Stack):
    """Stacked parameters and a meta-device copy of the model, run through ``vmap(functional_call)``."""

    def __init__(self, models: list[nn.Module]):
        self.originals = models
        params, self.buffers = stack_module_state(models)
        self.names = list(params)
        self.params = list(params.values())
        base = copy.deepcopy(models[0]).to("meta")

        def call(p, b, inputs):
            return functional_call(base, (p, b), (inputs,))

        self._each = vmap(call)
        self._shared = vmap(call, in_dims=(0, 0, None))

    def _dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.params))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._each(self._dict(), self.buffers, x)

    def _eval_forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        return (self._shared if shared else self._each)(self._dict(), self.buffers, x)

    @torch.no_grad()
    def models(self) -> list[nn.Module]:
        for k, model in enumerate(self.originals):
            for name, p in model.named_parameters():
                p.copy_(self._dict()[name][k])
        return [m.eval() for m in self.originals]


@dataclass
class _Linear:
    """A Linear layer of every seed: weights seeds x in x out, biases seeds x 1 x out."""

    w: torch.Tensor
    b: torch.Tensor


@dataclass
class _Dropout:
    """A Dropout layer of every seed: each seed's keep probability, seeds x 1 x 1."""

    keep: torch.Tensor


class BmmStack(Stack):
    """Plain MLPs as batched matmuls: one ``baddbmm`` per Linear layer for every seed at once."""

    def __init__(self, models: list[nn.Module], dropout_seeds: list[int], device: torch.device):
        self.originals = models
        self.layers: list[_Linear | _Dropout | nn.Module] = []
        self.names, self.params = [], []
        for i, m in enumerate(models[0]):
            if isinstance(m, nn.Linear):
                w = torch.stack([mod[i].weight.detach().t() for mod in models]).requires_grad_()
                b = torch.stack([mod[i].bias.detach()[None] for mod in models]).requires_grad_()
                self.layers.append(_Linear(w, b))
                self.names += [f"{i}.weight", f"{i}.bias"]
                self.params += [w, b]
            elif isinstance(m, nn.Dropout):
                self.layers.append(_Dropout(torch.tensor([1.0 - mod[i].p for mod in models],
                                                         device=device)[:, None, None]))
            else:
                self.layers.append(m)
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in dropout_seeds]
        self.training = True

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if isinstance(layer, _Linear):
                x = torch.baddbmm(layer.b, x, layer.w)
            elif isinstance(layer, _Dropout):
                if self.training:
                    # nn.Dropout's own draw: bernoulli(keep) on the input's shape, scaled by 1 / keep
                    masks = torch.stack([torch.empty(x.shape[1:], device=x.device).bernoulli_(float(layer.keep[k]),
                                                                                             generator=g)
                                         for k, g in enumerate(self.gens)])
                    x = x * (masks / layer.keep)
            else:
                x = layer(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x.flatten(2))

    def _eval_forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        x = x.flatten(1) if shared else x.flatten(2)
        return self._run(x.expand(len(self.gens), *x.shape) if shared else x)

    def train(self, mode: bool = True) -> None:
        self.training = mode

    @torch.no_grad()
    def models(self) -> list[nn.Module]:
        for k, model in enumerate(self.originals):
            for i, layer in enumerate(self.layers):
                if isinstance(layer, _Linear):
                    model[i].weight.copy_(layer.w[k].t())
                    model[i].bias.copy_(layer.b[k, 0])
        return [m.eval() for m in self.originals]
