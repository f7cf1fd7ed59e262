"""Arms: what an experiment runs per seed. A config (dataclass with ``run``) or a callable.

An arm's *identity* keys the run cache: for a config its type and fields, for a callable its
qualified name and the values it closes over; both with a hash of the defining module's source,
so editing the code invalidates old results. An arm whose identity cannot be written down
stably (it closes over a tensor, say) is run every time instead of risking a wrong cache hit.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import random
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

Metrics = dict[str, float]


@runtime_checkable
class Config(Protocol):
    """A built-in trainer's config: a frozen dataclass that trains many seeds at once."""

    def run(self, seeds: list[int], context: Any) -> list[Metrics]: ...


def is_config(arm: object) -> bool:
    return dataclasses.is_dataclass(arm) and not isinstance(arm, type) and callable(getattr(arm, "run", None))


def check_arm(arm: object, name: str) -> None:
    if is_config(arm) or (callable(arm) and not isinstance(arm, type)):
        return
    raise TypeError(
        f"{name}={arm!r} is neither a config (a dataclass with a run(seeds, context) method) "
        "nor a callable (seed: int) -> float | dict[str, float]"
    )


@functools.cache
def _module_hash(module_name: str) -> str:
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module else ""
    except (OSError, TypeError):
        source = ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


_PLAIN = (str, int, float, bool, type(None))


def _stable(value: Any) -> Any:
    """A JSON-able, run-independent description of ``value``; raises TypeError if none exists."""
    if isinstance(value, _PLAIN):
        return value if not (isinstance(value, float) and math.isnan(value)) else "nan"
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": _qualname(type(value)), "fields": _stable(dataclasses.asdict(value))}
    if inspect.isfunction(value) or inspect.isclass(value):
        return _qualname(value)
    if isinstance(value, functools.partial):
        return {"partial": _stable(value.func), "args": _stable(value.args), "kw": _stable(value.keywords)}
    raise TypeError(f"no stable identity for {type(value).__name__}")


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", "?")
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}@{_module_hash(module)}"


def identity(arm: Any) -> Any | None:
    """The arm's cache identity, or None when it has no stable one."""
    try:
        if is_config(arm):
            return _stable(arm)
        if isinstance(arm, functools.partial):
            return _stable(arm)
        fn = arm if inspect.isfunction(arm) else getattr(arm, "__call__", None)
        if inspect.ismethod(fn):
            return {"callable": _qualname(type(arm)), "state": _stable(vars(arm))}
        closure = [c.cell_contents for c in (fn.__closure__ or ())]
        return {"callable": _qualname(fn), "closure": _stable(closure),
                "defaults": _stable(list(fn.__defaults__ or ())), "kwdefaults": _stable(fn.__kwdefaults__ or {})}
    except (TypeError, ValueError, AttributeError):
        return None


def describe(arm: Any) -> dict[str, Any]:
    """A short, human-readable description of an arm for reports."""
    if is_config(arm):
        return {"arm": type(arm).__name__, **{k: v for k, v in dataclasses.asdict(arm).items()}}
    name = getattr(arm, "__qualname__", None) or type(arm).__qualname__
    return {"arm": name.replace(".<locals>", "")}


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random, so a callable arm is paired with its twin by seed."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def run_callable(arm: Callable[[int], Any], seed: int) -> Metrics:
    seed_everything(seed)
    out = arm(seed)
    if isinstance(out, dict):
        return {str(k): _to_float(v, k) for k, v in out.items()}
    return {"value": _to_float(out, "value")}


def _to_float(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor):
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r} must be a number, got {value!r}") from None
