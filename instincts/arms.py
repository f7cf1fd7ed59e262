"""Arms: what an experiment runs per seed. A config (dataclass with ``run``) or a callable.

An arm's *identity* keys the run cache: for a config its type and fields, for a callable its
qualified name and the values it closes over; both with a hash of the defining module's source
and of the project modules it imports (recursively), so editing the code or a helper it calls
invalidates old results. An arm whose identity cannot be written down stably (it closes over a
tensor, say) is run every time instead of risking a wrong cache hit.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import os
import random
import sys
import sysconfig
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
        "nor a callable (seed: int[, context]) -> float | dict[str, float]"
    )


def _is_project_module(module: Any) -> bool:
    """A module of the user's project: a source file outside the interpreter's and site-packages' trees."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return False
    path = os.path.realpath(path)
    return not any(path.startswith(root) for root in _LIBRARY_ROOTS)


_LIBRARY_ROOTS = tuple({os.path.realpath(p) + os.sep for p in
                        (sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))})


def _project_imports(module: Any) -> set[str]:
    """Project modules that ``module`` uses: imported modules and the home of imported names."""
    names = set()
    for value in vars(module).values():
        home = value if inspect.ismodule(value) else sys.modules.get(getattr(value, "__module__", None) or "")
        if home is not None and home is not module and _is_project_module(home):
            names.add(home.__name__)
    return names


@functools.cache
def _module_hash(module_name: str) -> str:
    """Hash of the module's source and of every project module it reaches through its imports, so that
    editing a helper in ``fixtures/`` or ``models/`` invalidates the arms that call it."""
    digest = hashlib.sha256()
    todo, done = [module_name], set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        module = sys.modules.get(name)
        try:
            source = inspect.getsource(module) if module else ""
        except (OSError, TypeError):
            source = ""
        digest.update(f"{name}\0{source}\0".encode())
        if module is not None and _is_project_module(module):
            todo.extend(sorted(_project_imports(module) - done))
    return digest.hexdigest()[:16]


_PLAIN = (str, int, float, bool, type(None))


def _stable(value: Any, seen: frozenset[int] = frozenset()) -> Any:
    """A JSON-able, run-independent description of ``value``; raises TypeError if none exists."""
    if isinstance(value, _PLAIN):
        # JSON (and the cache's strict writer) has no NaN or infinity: name them instead
        return value if not (isinstance(value, float) and not math.isfinite(value)) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_stable(v, seen) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v, seen) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": _qualname(type(value)), "fields": _stable(dataclasses.asdict(value), seen)}
    if inspect.isfunction(value):
        return _function_identity(value, seen)
    if inspect.isclass(value):
        return _qualname(value)
    if isinstance(value, functools.partial):
        return {"partial": _stable(value.func, seen), "args": _stable(value.args, seen),
                "kw": _stable(value.keywords, seen)}
    raise TypeError(f"no stable identity for {type(value).__name__}")


def _function_identity(fn: Any, seen: frozenset[int] = frozenset()) -> Any:
    """A function's name, code and the values it closes over (recursively: a closure over a local
    helper that itself captures ``batch`` must differ per ``batch``). Two lambdas of one scope
    share a qualified name, so the code tells them apart."""
    if id(fn) in seen:  # a recursive local function refers to itself
        return {"ref": _qualname(fn)}
    seen = seen | {id(fn)}
    closure = [c.cell_contents for c in (fn.__closure__ or ())]
    return {"callable": _qualname(fn), "code": _code_hash(fn.__code__), "closure": _stable(closure, seen),
            "defaults": _stable(list(fn.__defaults__ or ()), seen),
            "kwdefaults": _stable(fn.__kwdefaults__ or {}, seen)}


def _code_text(code: Any) -> str:
    consts = []
    for c in code.co_consts:
        if inspect.iscode(c):
            consts.append(_code_text(c))
        elif isinstance(c, frozenset):  # set literals: repr order follows string hashing
            consts.append("frozenset(" + ",".join(sorted(map(repr, c))) + ")")
        else:
            consts.append(repr(c))
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _code_hash(code: Any) -> str:
    return hashlib.sha256(_code_text(code).encode()).hexdigest()[:16]


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
        if inspect.isfunction(arm):
            return _function_identity(arm)
        if callable(arm) and inspect.ismethod(arm.__call__):  # an instance of a class with __call__
            return {"callable": _qualname(type(arm)), "state": _stable(vars(arm))}
        return None  # a builtin or a bound method: nothing stable to write down
    except (TypeError, ValueError, AttributeError):
        return None


def describe(arm: Any) -> dict[str, Any]:
    """A short, human-readable description of an arm for reports."""
    if is_config(arm):
        return {"arm": type(arm).__name__, **{k: v for k, v in dataclasses.asdict(arm).items()}}
    name = getattr(arm, "__qualname__", None) or type(arm).__qualname__
    return {"arm": name.replace(".<locals>", "")}


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random, so a callable arm is paired with its twin by seed.

    ``torch.manual_seed`` also queues a seed for every accelerator backend, recording a stack trace
    each time while the backend is not initialised (1 ms a call, most of a cheap arm's cost); so the
    CPU generator is seeded directly and CUDA only where it is available.
    """
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def takes_context(arm: Callable[..., Any]) -> bool:
    """An arm ``(seed, context)``: two positional parameters without defaults (or one named
    ``context``), else ``(seed)``: ``def arm(seed, width=64)`` keeps its default."""
    try:
        params = inspect.signature(arm).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called as (seed)
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) >= 2 or any(p.name == "context" for p in positional[1:2])


def run_callable(arm: Callable[..., Any], seed: int, context: Any = None) -> Metrics:
    """One seed of a callable arm, seeded first; ``context`` (budget, device, epochs, data scale)
    goes to an arm that takes ``(seed, context)``."""
    seed_everything(seed)
    out = arm(seed, context) if context is not None and takes_context(arm) else arm(seed)
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
