"""``--claims-check-determinism``: an arm must give the same numbers for the same seed.

The run cache keeps an arm's first draw per seed, so an arm that reads an unseeded source (a
``np.random.default_rng()`` without a seed, the clock, ``os.urandom``) would be judged on a frozen
sample and would look reproducible when it is not. After a claim ran, this module reruns one seed
of every callable arm the claim used (the first seed the claim ran it with), and the first training
batch of every config, outside the cache, and compares each metric with the first run's value within
a tolerance. A mismatch names the arm, where its code is, the metric, both values and the names in its
code that may draw from unseeded sources.

A config reruns its whole first batch, not one seed: a vectorised trainer picks its strategy by the
batch's size (one seed trains in a loop, twelve as batched matmuls or under vmap) and the kernels
sum in another order, which training amplifies; a one-seed rerun flagged 6 of 68 deterministic
smoke claims (RC-5's ablation accuracy 0.4710 -> 0.4704), the same batch none. It doubles the cost
of a config's first look, which is why the check is an option.

Outside the cache means outside in-memory memos too: while an arm reruns, the ``functools.cache`` /
``lru_cache`` functions its code calls by name (and the arm itself, when it is one) are swapped for the
functions they wrap, so a memoised training runs again instead of returning its first result (memos
one call deeper stay). Metrics an arm declares ``measured`` (wall or CPU seconds: they measure the
machine, and no seed fixes them) are not compared; an arm that appears under several names reruns once.

The experiment records the trials (``Experiment.trials``: name -> (arm, seeds, their metrics));
callables rerun through ``instincts.arms.run_callable`` (which seeds torch, numpy and random as the
first run did), configs through ``arm.run(seeds, context)``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TOLERANCE = 1e-6  # relative and absolute: float noise passes, a redrawn sample does not
SHOWN = 12  # mismatches listed in a claim's message; the rest are counted

# names in an arm's code that often mean a draw no seed fixes (a hint beside a mismatch, not a proof)
UNSEEDED_NAMES = frozenset({
    "default_rng", "SystemRandom", "urandom", "getrandbits", "uuid1", "uuid4", "token_bytes", "token_hex",
    "randbelow", "time", "time_ns", "perf_counter", "monotonic", "now", "getpid",
})


@dataclass(frozen=True)
class Mismatch:
    """One metric of one arm that changed between two runs of the same seed."""

    name: str  # the arm's role in the claim: "arm_a", "arm_b", "level 3", "arm"
    arm: str  # its qualified name
    where: str  # file:line of its code, or "" when unknown
    seed: int
    metric: str
    first: float | None  # None: the metric was missing from that run
    again: float | None
    suspects: tuple[str, ...] = ()

    def message(self) -> str:
        place = f" ({self.where})" if self.where else ""
        hint = (f"; its code uses {', '.join(self.suspects)}, which seeding torch, numpy and random does not fix"
                if self.suspects else "")
        return (f"{self.name} {self.arm}{place}: seed {self.seed} gave {self.metric}={_show(self.first)} "
                f"and then {_show(self.again)}{hint}")


def _show(value: float | None) -> str:
    return "(missing)" if value is None else f"{value:.10g}"


def check_tolerance(value: float) -> float:
    """The tolerance as given by the user, or ValueError naming what is allowed."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1 or math.isnan(value):
        raise ValueError(f"--claims-determinism-tolerance {value!r} is not allowed: give a number from 0 "
                         "(exact) to below 1 (relative and absolute, default 1e-06)")
    return float(value)


def rerun(arm: Any, seeds: list[int], context: Any) -> list[dict[str, float]]:
    """The arm's metrics for ``seeds`` (a config's batch, or one seed of a callable), computed again
    without the run cache and without the memos its code calls (``unmemoised``)."""
    from instincts import arms

    with unmemoised(arm):
        if arms.is_config(arm):
            results = arm.run(list(seeds), context)
            if len(results) != len(seeds):
                raise ValueError(f"{type(arm).__name__}.run returned {len(results)} results for {len(seeds)} seeds")
            return [{str(k): float(v) for k, v in r.items()} for r in results]
        fresh = _unwrapped(arm)
        return [arms.run_callable(fresh, s, context) for s in seeds]  # a (seed, context) arm gets its context


def measured(arm: Any) -> frozenset[str]:
    """The metrics an arm declares ``measured`` (an attribute of the config's class or of the function:
    names of wall- or CPU-time metrics), which the check does not compare."""
    for obj in (arm, _target(arm)):
        names = getattr(obj, "measured", None)
        if names is None:
            continue
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"measured={names!r} of {describe(arm)[0]} is not allowed: give a tuple of metric "
                             "names, e.g. measured = ('seconds_per_epoch',)")
        return frozenset(names)
    return frozenset()


def _is_memo(obj: Any) -> bool:
    """A ``functools.cache`` / ``lru_cache`` wrapper."""
    return callable(getattr(obj, "cache_clear", None)) and callable(getattr(obj, "__wrapped__", None))


def _unwrapped(arm: Any) -> Any:
    """The arm with a memo it is (or a partial wraps) replaced by the function the memo wraps."""
    if isinstance(arm, functools.partial):
        return functools.partial(_unwrapped(arm.func), *arm.args, **arm.keywords)
    return arm.__wrapped__ if _is_memo(arm) else arm


@contextlib.contextmanager
def unmemoised(arm: Any) -> Iterator[None]:
    """While the arm reruns, every memo its functions call by a global name computes anew: the name is
    bound to the wrapped function and bound back afterwards, so the memo keeps its entries for later claims."""
    patched: list[tuple[dict[str, Any], str, Any]] = []
    for fn in _functions(arm):
        namespace = getattr(fn, "__globals__", {})
        for name in sorted({n for code in _nested(fn.__code__) for n in code.co_names}):
            value = namespace.get(name)
            if _is_memo(value):
                patched.append((namespace, name, value))
                namespace[name] = value.__wrapped__
    try:
        yield
    finally:
        for namespace, name, value in reversed(patched):
            namespace[name] = value


def _same(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def compare_metrics(first: Mapping[str, float], again: Mapping[str, float],
                    tolerance: float) -> list[tuple[str, float | None, float | None]]:
    """(metric, first, again) for every metric that differs beyond the tolerance or is in one run only."""
    out = []
    for metric in sorted({*first, *again}):
        a, b = first.get(metric), again.get(metric)
        if not _same(a, b, tolerance):
            out.append((metric, a, b))
    return out


def _target(arm: Any) -> Any:
    """The function or class whose code an arm runs."""
    while isinstance(arm, functools.partial) or _is_memo(arm):
        arm = arm.func if isinstance(arm, functools.partial) else arm.__wrapped__
    if inspect.isfunction(arm) or inspect.ismethod(arm):
        return arm
    return type(arm)


def describe(arm: Any) -> tuple[str, str]:
    """The arm's qualified name and the file:line of its code ("" where the source cannot be found)."""
    target = _target(arm)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    try:
        path = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return name, ""
    return name, f"{path}:{line}" if path else ""


def _functions(arm: Any) -> Iterator[Any]:
    """The functions an arm runs: its own (a config's methods) and the functions it closes over."""
    target = _target(arm)
    todo = [m for m in vars(target).values() if inspect.isfunction(m)] if inspect.isclass(target) else [target]
    seen: set[int] = set()
    while todo:
        fn = todo.pop()
        fn = getattr(fn, "__func__", fn)  # a bound method: its function
        if id(fn) in seen or getattr(fn, "__code__", None) is None:
            continue
        seen.add(id(fn))
        yield fn
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if inspect.isfunction(value) or isinstance(value, functools.partial) or _is_memo(value):
                todo.append(_target(value))


def _nested(code: Any) -> Iterator[Any]:
    """A code object and those of the functions, lambdas and comprehensions defined in it."""
    stack = [code]
    while stack:
        c = stack.pop()
        yield c
        stack.extend(k for k in c.co_consts if inspect.iscode(k))


def suspects(arm: Any) -> tuple[str, ...]:
    """Names in the arm's code that may draw from sources no seed fixes."""
    names = {n for fn in _functions(arm) for code in _nested(fn.__code__)
             for n in (*code.co_names, *code.co_varnames) if n in UNSEEDED_NAMES}
    return tuple(sorted(names))


def check(trials: Mapping[str, tuple[Any, list[int], list[Mapping[str, float]]]], context: Any,
          tolerance: float = DEFAULT_TOLERANCE) -> list[Mismatch]:
    """Rerun the recorded seeds of every arm of ``trials`` (once per arm and seeds, whatever its names);
    the metrics that changed, leaving out those the arm declares ``measured`` (empty: deterministic)."""
    out = []
    done: set[Any] = set()
    for name, (arm, seeds, first) in trials.items():
        key = (_identity(arm), tuple(seeds))
        if key in done:
            continue
        done.add(key)
        skip = measured(arm)
        again = rerun(arm, seeds, context)
        differing = [(seed, metric, a, b) for seed, a_run, b_run in zip(seeds, first, again)
                     for metric, a, b in compare_metrics(a_run, b_run, tolerance) if metric not in skip]
        if differing:  # the arm's name, place and suspects once, however many seeds and metrics changed
            qualname, where = describe(arm)
            hints = suspects(arm)
            out.extend(Mismatch(name, qualname, where, seed, metric, a, b, hints) for seed, metric, a, b in differing)
    return out


def _identity(arm: Any) -> Any:
    """The arm itself where it can be a set member (equal configs rerun once), else its id."""
    try:
        hash(arm)
    except TypeError:
        return id(arm)
    return arm


def report(claim_id: str, mismatches: list[Mismatch], tolerance: float) -> str:
    """The claim's error message: what changed, where the arm is, and what to do."""
    lines = [f"claim {claim_id} is not deterministic (--claims-check-determinism, tolerance {tolerance:g}): "
             "an arm gave other numbers when its seed ran again without the cache:"]
    lines += [f"  {m.message()}" for m in mismatches[:SHOWN]]
    if len(mismatches) > SHOWN:
        lines.append(f"  ... and {len(mismatches) - SHOWN} more")
    lines.append("  seed every random source from the seed the arm is given (np.random.default_rng(seed), "
                 "torch.Generator().manual_seed(seed)); its cached first draw would otherwise be judged; "
                 "declare metrics that measure the machine (seconds) in the arm's `measured`")
    return "\n".join(lines)
