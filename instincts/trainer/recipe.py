"""How to train, as frozen (hashable, cacheable) configs: the recipe and its hooks' settings.

``Recipe`` is the optimiser, learning rate, batch size, epoch cap (or exact step count), warm-up and
precision; ``Switch``, ``Group`` and a schedule refine it; ``EarlyStopping`` and ``Split`` say when to stop and on what
data; ``Member`` is one network of a batched run (a seed, and optionally its own recipe, dropout
seed or label noise). All validate their input and name the bad value.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from instincts.errors import InvalidArgument

OPTIMIZERS = ("sgd", "adam", "adamw")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} is not allowed: give a finite number > 0")


def _non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} is not allowed: give a finite number >= 0")


def _count(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} is not allowed: use an integer >= {minimum}")


@dataclass(frozen=True)
class Switch:
    """From epoch ``epoch`` on, train with momentum SGD at ``lr`` (Adam then SGD, Keskar & Socher 2017).

    The SGD starts fresh (its momentum buffer is the first gradient), as a new ``torch.optim.SGD`` would.
    """

    epoch: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _count("switch epoch", self.epoch)
        _positive("switch lr", self.lr)
        _non_negative("switch momentum", self.momentum)
        _non_negative("switch weight_decay", self.weight_decay)


@dataclass(frozen=True)
class Group:
    """Parameters whose name starts with ``prefix`` ("0." = the first layer) get their own lr / decay."""

    prefix: str
    lr: float | None = None
    weight_decay: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix:
            raise InvalidArgument(f"group prefix={self.prefix!r} is not allowed: give a parameter-name prefix")
        if self.lr is not None:
            _positive("group lr", self.lr)
        if self.weight_decay is not None:
            _non_negative("group weight_decay", self.weight_decay)


@dataclass(frozen=True)
class Cosine:
    """Cosine decay of the learning rate to 0 over the epoch cap's steps (the last iterate settles)."""

    def factor(self, step: int, total: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * step / total))


@dataclass(frozen=True)
class RangeSchedule:
    """The LR range test (Smith 2017): lr rises exponentially from ``lo`` to ``hi`` over ``steps`` steps,
    then training ends; the data keep cycling through the epochs' permutations."""

    lo: float = 1e-6
    hi: float = 1.0
    steps: int = 100

    def __post_init__(self) -> None:
        _positive("lo", self.lo)
        _positive("hi", self.hi)
        _count("steps", self.steps, 2)
        if not self.hi > self.lo:
            raise InvalidArgument(f"lo={self.lo!r}, hi={self.hi!r} are not allowed: the range needs lo < hi")

    def lrs(self) -> list[float]:
        return [self.lo * (self.hi / self.lo) ** (i / (self.steps - 1)) for i in range(self.steps)]


Schedule = Cosine | RangeSchedule


@dataclass(frozen=True)
class Recipe:
    """Optimiser, learning rate, batch size, length of training, weight decay, precision, and refinements.

    Length: ``epochs`` is a cap (with early stopping training may end sooner); ``steps`` instead
    trains exactly that many optimizer steps (the last epoch may be partial), so arms at different
    batch sizes can take equal steps without rounding to epochs. Give one of the two.
    ``warmup`` ramps the lr linearly over the first ``warmup`` steps, ``lr * (step + 1) / warmup``
    (Goyal et al. 2017), then leaves it to the schedule (or constant); it multiplies a schedule.
    ``precision`` "bf16"/"fp16" runs forward passes under autocast (fp16 with a GradScaler).
    """

    batch_size: int
    lr: float
    epochs: int | None = None
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    precision: str = "fp32"
    switch: Switch | None = None
    groups: tuple[Group, ...] = ()
    schedule: Schedule | None = None
    steps: int | None = None
    warmup: int = 0

    def __post_init__(self) -> None:
        _count("batch_size", self.batch_size)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise InvalidArgument(f"lr={self.lr!r} is not allowed: the learning rate must be > 0")
        self._check_length()
        if self.optimizer not in OPTIMIZERS:
            raise InvalidArgument(f"optimizer={self.optimizer!r} is not allowed: choose 'sgd', 'adam' or 'adamw'")
        _non_negative("momentum", self.momentum)
        _non_negative("weight_decay", self.weight_decay)
        if self.precision not in PRECISIONS:
            raise InvalidArgument(f"precision={self.precision!r} is not allowed: choose one of {', '.join(PRECISIONS)}")
        if self.switch is not None and not isinstance(self.switch, Switch):
            raise InvalidArgument(f"switch={self.switch!r} is not allowed: give a Switch(epoch, lr) or None")
        if not isinstance(self.groups, tuple) or not all(isinstance(g, Group) for g in self.groups):
            raise InvalidArgument(f"groups={self.groups!r} is not allowed: give a tuple of Group(prefix, ...)")
        if self.schedule is not None and not isinstance(self.schedule, (Cosine, RangeSchedule)):
            raise InvalidArgument(f"schedule={self.schedule!r} is not allowed: give Cosine(), RangeSchedule() or None")
        self._check_warmup()

    def _check_length(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise InvalidArgument(f"epochs={self.epochs!r}, steps={self.steps!r} are not allowed: give epochs= (a cap) "
                                  "or steps= (an exact number of optimizer steps), one of the two")
        if self.epochs is not None:
            _count("epochs", self.epochs)
        if self.steps is not None:
            _count("steps", self.steps)
            if isinstance(self.schedule, RangeSchedule):
                raise InvalidArgument(f"steps={self.steps!r} is not allowed with a RangeSchedule: its own steps "
                                      "end the range test")

    def _check_warmup(self) -> None:
        _count("warmup", self.warmup, 0)
        if self.warmup and isinstance(self.schedule, RangeSchedule):
            raise InvalidArgument(f"warmup={self.warmup!r} is not allowed with a RangeSchedule: the range test "
                                  "sets every step's lr itself")
        if self.warmup and self.switch is not None:
            raise InvalidArgument(f"warmup={self.warmup!r} is not allowed with a Switch: warm up the first "
                                  "optimiser or switch, not both")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes when ``precision`` asks for it, else nothing."""
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    def sets_lr(self, step: int) -> bool:
        """Whether the trainer must set the lr at ``step``: every step under a schedule; under a warm-up
        alone its steps and the first after it (back to the full lr, where it then stays)."""
        return self.schedule is not None or (self.warmup > 0 and step <= self.warmup)

    def lr_at(self, step: int, total: int) -> float:
        """The base learning rate at optimiser step ``step`` of ``total`` (before any group's own lr)."""
        if isinstance(self.schedule, RangeSchedule):
            return self.schedule.lrs()[min(step, self.schedule.steps - 1)]
        lr = self.lr * min(1.0, (step + 1) / self.warmup) if self.warmup else self.lr
        if isinstance(self.schedule, Cosine):
            return lr * self.schedule.factor(step, total)
        return lr


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a seed when its validation accuracy has not improved by more than ``min_delta`` for
    ``patience`` epochs, and restore its best epoch; the recipe's ``epochs`` is the cap."""

    patience: int = 5
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        _count("patience", self.patience)
        _non_negative("min_delta", self.min_delta)


@dataclass(frozen=True)
class Split:
    """Carve per-seed ``test`` and ``validation`` fractions out of the training data, stratified by label.

    ``seed=None`` (the default): each seed draws its own split, so the split's luck is part of the
    seed-to-seed variation, and both arms of a seed see the same split (paired). An int pins one
    split for every seed, for a question that needs the split fixed.
    """

    validation: float = 0.0
    test: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("validation", "test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise InvalidArgument(f"{name}={value!r} is not allowed: give a fraction in [0, 1)")
        if self.validation + self.test >= 1:
            raise InvalidArgument(f"validation={self.validation!r} + test={self.test!r} leave no training data: "
                                  "their sum must be < 1")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidArgument(f"split seed={self.seed!r} is not allowed: give an integer or None (per seed)")


@dataclass(frozen=True)
class Member:
    """One network of a batched run: its ``seed`` (init, data order, augmentation, dropout, split) and,
    where members of one batch differ (a tuning grid), its own ``recipe``, ``dropout_seed`` (the masks;
    default: the seed) or ``label_noise`` (that fraction of training labels moved to another class)."""

    seed: int
    recipe: Recipe | None = None
    dropout_seed: int | None = None
    label_noise: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidArgument(f"seed={self.seed!r} is not allowed: give an integer")
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise InvalidArgument(f"recipe={self.recipe!r} is not allowed: give a Recipe or None")
        if isinstance(self.label_noise, bool) or not 0.0 <= self.label_noise < 1.0:
            raise InvalidArgument(f"label_noise={self.label_noise!r} is not allowed: use a fraction in [0, 1)")
