"""Paired, interleaved timing: speed claims that survive a noisy, shared machine.

Timing two variants one after the other (all of A, then all of B) measures the machine's mood
as much as the code: another process starts, the CPU clocks down, a cache warms. Interleaving
A and B in short blocks (A B, B A, A B, ... "ABBA", or a coin flip per pair) puts both under the
same conditions, and the per-repetition *ratio* t_A / t_B cancels whatever slowed that moment
down. Warm-up calls come first (allocator, lazy init, cuDNN autotune, caches); on CUDA every
timed block is bracketed by ``torch.cuda.synchronize`` so the clock sees the kernels, not their
launches. Clock: ``time.perf_counter``.

``benchmark_interleaved`` does the same with ``torch.utils.benchmark``: each measurement is a
``Timer.blocked_autorange`` of at least ``min_run_time`` seconds (the Timer synchronises the
accelerator), and the configs are measured in palindromic passes (A B, B A for two: ABBA; A B C,
C B A for three), so a linear drift over a repetition hits every config equally.

Also here: ``Reference``, a constant arm to compare a measured ratio against (1.0 = perfect
scaling, 0 = no difference), and ``copy_bandwidth`` (GB/s of a tensor copy).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from instincts.errors import InvalidArgument

ORDERS = ("abba", "random", "ab")
CLOCKS = ("wall", "cpu")


@dataclass(frozen=True)
class PairedTimes:
    """Seconds per timed block of A and of B, one pair per repetition (same index = same moment)."""

    a: np.ndarray
    b: np.ndarray
    inner: int  # calls per timed block

    @property
    def ratios(self) -> np.ndarray:
        """t_A / t_B per repetition: < 1 means A is faster."""
        return self.a / self.b

    @property
    def log_ratio(self) -> float:
        """Mean log(t_A / t_B): symmetric in A and B, robust to one slow repetition's scale."""
        return float(np.mean(np.log(self.ratios)))

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.ratios))


def synchronizer(device: torch.device | str | None) -> Callable[[], None]:
    """What makes the clock honest on ``device``: ``cuda.synchronize`` on CUDA, nothing on CPU."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} is not allowed: use an integer >= {minimum}")
    return value


def _block(fn: Callable[[], Any], inner: int, sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    sync()
    return time.perf_counter() - start


def time_interleaved(fn_a: Callable[[], Any], fn_b: Callable[[], Any], *, repetitions: int = 5,
                     warmup: int = 2, inner: int = 1, order: str = "abba", seed: int = 0,
                     device: torch.device | str | None = None,
                     sync: Callable[[], None] | None = None) -> PairedTimes:
    """Time ``fn_a`` and ``fn_b`` in alternation and return the paired block times.

    ``warmup`` calls of each come first (untimed). Then ``repetitions`` pairs of timed blocks of
    ``inner`` calls each; ``order`` says which runs first in a pair: "abba" alternates (A B, B A,
    ...: balanced against a linear drift), "random" flips a coin per pair (seeded by ``seed``),
    "ab" always runs A first (only for tests of the timer itself). ``sync`` (default: from
    ``device``) is called before and after each timed block.
    """
    for name, fn in (("fn_a", fn_a), ("fn_b", fn_b)):
        if not callable(fn):
            raise InvalidArgument(f"{name}={fn!r} is not callable: pass a function of no arguments to time")
    _check_int("repetitions", repetitions, 1)
    _check_int("warmup", warmup, 0)
    _check_int("inner", inner, 1)
    if order not in ORDERS:
        raise InvalidArgument(f"order={order!r} is not allowed: choose one of {', '.join(ORDERS)}")
    sync = synchronizer(device) if sync is None else sync
    for _ in range(warmup):
        fn_a()
        fn_b()
    sync()
    rng = random.Random(seed)
    a, b = [], []
    for i in range(repetitions):
        a_first = {"abba": i % 2 == 0, "random": rng.random() < 0.5, "ab": True}[order]
        if a_first:
            a.append(_block(fn_a, inner, sync))
            b.append(_block(fn_b, inner, sync))
        else:
            b.append(_block(fn_b, inner, sync))
            a.append(_block(fn_a, inner, sync))
    return PairedTimes(np.asarray(a), np.asarray(b), inner)


MIN_RUN_TIME = 0.2  # seconds per blocked_autorange measurement: long enough to average out the timer's jitter


def benchmark_interleaved(fns: Sequence[Callable[[], Any]], *, passes: int = 2, min_run_time: float = MIN_RUN_TIME,
                          warmup: int = 1, num_threads: int | None = None, clock: str = "wall") -> np.ndarray:
    """Seconds per call of each of ``fns``, shape (passes, len(fns)), by ``torch.utils.benchmark``.

    Each entry is the median time per call of one ``Timer.blocked_autorange(min_run_time=...)``.
    Pass 0 measures the functions in order, pass 1 in reverse, and so on (palindromic: ABBA for
    two), after ``warmup`` untimed calls of each. ``num_threads`` defaults to torch's current
    thread count, so the Timer measures the process as configured (its own default is 1 thread).
    ``clock="wall"``: the Timer's clock (wall time, accelerator synchronised); ``clock="cpu"``: the
    process's CPU time (``time.process_time``), which a neighbour taking the core does not inflate:
    for CPU-bound work on a shared machine, where wall time swings by +-50% between measurements.
    """
    from torch.utils.benchmark import Timer

    fns = list(fns)
    if not fns:
        raise InvalidArgument("fns=[] is not allowed: give at least one function of no arguments to time")
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise InvalidArgument(f"fns[{i}]={fn!r} is not callable: pass functions of no arguments to time")
    _check_int("passes", passes, 1)
    _check_int("warmup", warmup, 0)
    if isinstance(min_run_time, bool) or not isinstance(min_run_time, (int, float)) or not min_run_time > 0:
        raise InvalidArgument(f"min_run_time={min_run_time!r} is not allowed: give seconds > 0 (claims use >= 0.2)")
    threads = torch.get_num_threads() if num_threads is None else _check_int("num_threads", num_threads, 1)
    if clock not in CLOCKS:
        raise InvalidArgument(f"clock={clock!r} is not allowed: choose one of {', '.join(CLOCKS)}")
    extra = {"timer": time.process_time} if clock == "cpu" else {}
    for fn in fns:
        for _ in range(warmup):
            fn()
    timers = [Timer("fn()", globals={"fn": fn}, num_threads=threads, **extra) for fn in fns]
    out = np.empty((passes, len(fns)))
    for p in range(passes):
        order = range(len(fns)) if p % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            out[p, i] = timers[i].blocked_autorange(min_run_time=min_run_time).median
    return out


def throughput_ratio(times: PairedTimes, work_a: float, work_b: float) -> float:
    """Throughput of A over throughput of B (work per second, e.g. samples/s), from the median of the
    per-repetition time ratios: (work_a / t_A) / (work_b / t_B). > 1 means A does more per second."""
    for name, work in (("work_a", work_a), ("work_b", work_b)):
        if not (isinstance(work, (int, float)) and math.isfinite(work) and work > 0):
            raise InvalidArgument(f"{name}={work!r} is not allowed: work per block must be a finite number > 0")
    return (work_a / work_b) / times.median_ratio


def copy_bandwidth(dst: torch.Tensor, src: torch.Tensor, *, repetitions: int = 5, warmup: int = 1,
                   non_blocking: bool = False) -> float:
    """GB/s (1e9 bytes) of ``dst.copy_(src)``, median over ``repetitions`` timed copies.

    Synchronised on whichever side is a CUDA tensor, so host-to-device copies are timed whole.
    """
    if dst.shape != src.shape:
        raise InvalidArgument(f"dst shape {tuple(dst.shape)} != src shape {tuple(src.shape)}: copy needs equal shapes")
    _check_int("repetitions", repetitions, 1)
    cuda = dst if dst.is_cuda else src if src.is_cuda else None
    sync = synchronizer(cuda.device if cuda is not None else None)
    _check_int("warmup", warmup, 0)
    for _ in range(warmup):
        dst.copy_(src, non_blocking=non_blocking)
    seconds = [_block(lambda: dst.copy_(src, non_blocking=non_blocking), 1, sync) for _ in range(repetitions)]
    return src.numel() * src.element_size() / float(np.median(seconds)) / 1e9


@dataclass(frozen=True)
class Reference:
    """A constant arm: the level a measured ratio is judged against (1.0 = perfect scaling).

    ``experiment.compare(measured, Reference(1.0, "efficiency"), ...)`` is a one-sample paired t
    test of the measured values against the constant, with the same report as any comparison.
    """

    value: float
    metric: str = "value"

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value)):
            raise InvalidArgument(f"Reference value={self.value!r} is not allowed: use a finite number")
        if not isinstance(self.metric, str) or not self.metric:
            raise InvalidArgument(f"Reference metric={self.metric!r} is not allowed: name the metric it stands for")

    def run(self, seeds: Sequence[int], context: Any) -> list[dict[str, float]]:
        return [{self.metric: float(self.value)} for _ in seeds]
