"""Training loops over many seeds: plain (one model per seed) and vectorised (torch.func vmap).

All strategies see the same thing per seed: the model initialised after ``torch.manual_seed(seed)``
and one data permutation per epoch drawn from ``torch.Generator().manual_seed(seed)``. So two
arms with the same seed share init (where shapes match) and data order: paired by construction.
Vectorised training stacks the seeds' parameters and runs one batched forward/backward per step;
the loss is the sum of per-seed mean losses, so each seed's gradient is its own, and Adam/SGD
updates (elementwise) equal per-seed training up to float rounding.

Which strategy runs is a measured rule, ``choose_strategy`` (its docstring has the numbers).
On CUDA everything stays on the device: data, permutations and losses are moved or made once,
and per-seed metrics come back to the host in one transfer at the end, never inside a step.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

Strategy = Literal["auto", "bmm", "vmap", "loop"]
STRATEGIES = ("auto", "bmm", "vmap", "loop")
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.Identity, nn.LeakyReLU)
# Modules that vmap cannot train like separate models: running statistics are updated in place
# (an error under vmap) and dropout would need per-seed randomness that the loop does not share.
NOT_VMAPPABLE = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
VMAP_MIN_SEEDS = {"cpu": 4, "cuda": 2}  # below this, a loop of models is as fast (see choose_strategy)
FUSED_DEVICES = ("cpu", "cuda")  # where torch's fused Adam kernels run


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, learning rate, batch size, epochs, weight decay, precision."""

    batch_size: int
    lr: float
    epochs: int
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    precision: str = "fp32"  # "bf16" or "fp16": autocast (fp16 with loss scaling), for claims about precision

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} is not allowed: use an integer >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} is not allowed: the learning rate must be > 0")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: use an integer >= 1")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer={self.optimizer!r} is not allowed: choose 'sgd', 'adam' or 'adamw'")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not allowed: choose one of {', '.join(PRECISIONS)}")

    def make(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        """The optimiser. Adam/AdamW run fused (one kernel for all tensors): measured 15-20% faster
        here, and equal to the default implementation within float rounding (1e-7 in the loss)."""
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        fused = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
        return cls(params, lr=self.lr, weight_decay=self.weight_decay, fused=fused)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes when ``precision`` asks for it, else nothing."""
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


Data = tuple[torch.Tensor, torch.Tensor]


def permutations(n: int, seeds: list[int], epochs: int) -> torch.Tensor:
    """epochs x seeds x n: each seed's data order, the same whatever the batch size."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    return torch.stack([torch.stack([torch.randperm(n, generator=g) for g in gens]) for _ in range(epochs)])


def init_models(make_model: Callable[[], nn.Module], seeds: list[int], device: torch.device) -> list[nn.Module]:
    """One model per seed, built after ``torch.manual_seed(seed)``: arms with the same seed share init."""
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
    ``strategy="auto"`` picks the fastest correct strategy by ``choose_strategy``; naming one forces
    it (tests and benchmarks do), and an impossible one is an error, never a silent fallback.
    """
    device = torch.device(device)
    if not seeds:
        raise ValueError("seeds=[] is not allowed: give at least one seed")
    strategy = check_strategy(strategy, make_model(), len(seeds), device)
    x, y = (t.to(device) for t in train)
    xt, yt = (t.to(device) for t in test)
    perms = permutations(len(x), seeds, recipe.epochs).to(device)
    models = init_models(make_model, seeds, device)
    run = {"bmm": _fit_bmm, "vmap": _fit_vmap, "loop": _fit_loop}[strategy]
    return run(models, x, y, xt, yt, perms, recipe)


def choose_strategy(model: nn.Module, n_seeds: int, device: torch.device | str = "cpu") -> str:
    """The fastest way to train ``n_seeds`` copies of ``model`` on ``device``: a measured rule.

    Measured with ``python -m benchmarks --only training`` (torch 2.13, 2 CPU cores at load ~1, Adam,
    batch 32, digits, 2 epochs; speed-up = loop time / vectorised time, above 1 is faster):

    ===========================  =====  =====  =====  =====
    model, strategy (threads)    K=2    K=4    K=16   K=32
    ===========================  =====  =====  =====  =====
    MLP 64-128-10 vmap (1)       0.97x  1.39x  2.98x  3.36x
    MLP 64-128-10 bmm  (1)       1.61x  2.30x  3.24x  4.44x
    MLP 64-128-10 bmm  (2)       1.73x  2.89x  5.94x  6.18x
    CNN 8-16 conv vmap (1)       0.84x  1.12x  1.72x  2.75x
    CNN 8-16 conv vmap (2)       0.84x  1.62x  2.52x  4.40x
    ===========================  =====  =====  =====  =====

    (At K=1, on a busier machine, vmap ran at 0.4-0.7x the loop and bmm at 1.05x.)

    So: plain MLPs (linear layers and elementwise activations) train as batched matmuls from two
    seeds on; other models use vmap from ``VMAP_MIN_SEEDS`` seeds on (4 on CPU, where vmap lost to
    the loop below that; 2 on CUDA, where a loop pays one kernel launch per seed and op; not measured
    here, no GPU); a single seed, and models that vmap cannot train like separate models (batch norm,
    dropout), use the loop. Small convnets on CPU were *faster* under vmap here (vmap turns K convs
    into one grouped convolution), unlike the 0.5-0.8x once measured on an older setup, so they are
    not special-cased. Seeds are not split into chunks: per-seed cost of bmm stayed flat from K=16 to
    K=128 here (the rise past K=32 once reported was within this machine's noise). torch.compile is
    never used: the issue measured 1-11 s of compiling and then a 1.4x slower tiny MLP.
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
        raise ValueError(f"strategy={strategy!r} is not allowed: choose one of {', '.join(STRATEGIES)}")
    if strategy == "auto":
        return choose_strategy(model, n_seeds, device)
    if strategy == "bmm" and not _is_plain_mlp(model):
        raise ValueError(f"strategy='bmm' is not allowed for {type(model).__name__}: it needs an nn.Sequential of "
                         "Linear layers and elementwise activations; use 'vmap', 'loop' or 'auto'")
    if strategy == "vmap" and not _vmappable(model):
        raise ValueError(f"strategy='vmap' is not allowed for {type(model).__name__}: batch norm and dropout do not "
                         "train under vmap as in separate models; use 'loop' or 'auto'")
    return strategy


def _is_plain_mlp(model: nn.Module) -> bool:
    """Linear layers and elementwise activations only: stackable as batched matmuls."""
    return isinstance(model, nn.Sequential) and all(isinstance(m, (nn.Linear, *ELEMENTWISE)) for m in model)


def _vmappable(model: nn.Module) -> bool:
    return not any(isinstance(m, NOT_VMAPPABLE) for m in model.modules())


def batches(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of an epoch's permutation (the last one may be short)."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


class _Stepper:
    """One optimiser step on a loss; fp16 scales the loss (GradScaler) so small gradients survive."""

    def __init__(self, recipe: Recipe, params: list[torch.Tensor], device: torch.device):
        self.opt = recipe.make(params)
        self.scaler = torch.amp.GradScaler(device.type) if recipe.precision == "fp16" else None

    def __call__(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()


def _metrics(acc: torch.Tensor, test_loss: torch.Tensor, train_loss: torch.Tensor) -> list[dict[str, float]]:
    """Per-seed metrics from three device tensors of length K, in one transfer to the host."""
    rows = torch.stack([acc.float(), test_loss.float(), train_loss.float()], dim=1).cpu().tolist()
    return [{"test_accuracy": a, "test_loss": tl, "train_loss": tr} for a, tl, tr in rows]


def _fit_loop(models, x, y, xt, yt, perms, recipe):
    accs, test_losses, train_losses = [], [], []
    for k, model in enumerate(models):
        step = _Stepper(recipe, list(model.parameters()), x.device)
        last = []
        for epoch_perm in perms:
            last = []
            for sl in batches(len(x), recipe.batch_size):
                idx = epoch_perm[k, sl]
                with recipe.autocast(x.device):
                    logits = model(x[idx])
                loss = nn.functional.cross_entropy(logits.float(), y[idx])
                step(loss)
                last.append(loss.detach())
        with torch.no_grad(), recipe.autocast(x.device):
            logits = model(xt).float()
        accs.append(_accuracy(logits, yt))
        test_losses.append(nn.functional.cross_entropy(logits, yt))
        train_losses.append(torch.stack(last).mean())
    return _metrics(torch.stack(accs), torch.stack(test_losses), torch.stack(train_losses))


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
    step = _Stepper(recipe, params, x.device)
    last = []
    for epoch_perm in perms:
        last = []
        for sl in batches(len(x), recipe.batch_size):
            idx = epoch_perm[:, sl]  # seeds x batch
            with recipe.autocast(x.device):
                logits = forward(x[idx])
            per_seed = nn.functional.cross_entropy(logits.float().flatten(0, 1), y[idx].flatten(), reduction="none")
            loss = per_seed.view(n_seeds, -1).mean(1)
            step(loss.sum())
            last.append(loss.detach())
    with torch.no_grad(), recipe.autocast(x.device):
        logits = evaluate(xt).float()
    test_loss = nn.functional.cross_entropy(logits.flatten(0, 1), yt.repeat(n_seeds), reduction="none")
    return _metrics(_accuracy(logits, yt), test_loss.view(n_seeds, -1).mean(1), torch.stack(last).mean(0))
