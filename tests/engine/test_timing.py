"""The paired interleaved timer: it detects a slower function, sees equal ones as equal, alternates
as promised, and rejects bad input with a clear message."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from instincts.timing import PairedTimes, Reference, copy_bandwidth, synchronizer, throughput_ratio, time_interleaved


def sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def test_a_deliberately_slower_function_is_detected():
    times = time_interleaved(sleeper(0.004), sleeper(0.001), repetitions=6, warmup=1)
    assert times.median_ratio > 2.0  # 4x nominal; sleep overshoot and a busy machine only shrink it
    assert times.log_ratio > 0


def test_equal_functions_give_a_ratio_near_one():
    times = time_interleaved(sleeper(0.003), sleeper(0.003), repetitions=8, warmup=1)
    assert 0.6 < times.median_ratio < 1.6


def test_abba_alternates_and_warmup_is_untimed():
    calls: list[str] = []
    times = time_interleaved(lambda: calls.append("a"), lambda: calls.append("b"), repetitions=4, warmup=2,
                             inner=3, order="abba")
    assert "".join(calls[:4]) == "abab"  # warm-up: one of each, twice
    blocks = "".join(calls[4:])[::3]  # one letter per timed block of 3 calls
    assert blocks == "abbaabba"
    assert len(times.a) == len(times.b) == 4 and times.inner == 3


def test_random_order_is_seeded_and_balanced_enough():
    def order(seed):
        calls: list[str] = []
        time_interleaved(lambda: calls.append("a"), lambda: calls.append("b"), repetitions=40, warmup=0,
                         order="random", seed=seed)
        return "".join(calls)

    assert order(1) == order(1)
    firsts = order(1)[::2]
    assert 8 < firsts.count("a") < 32


def test_sync_brackets_every_timed_block():
    count = []
    time_interleaved(lambda: None, lambda: None, repetitions=3, warmup=1, sync=lambda: count.append(1))
    assert len(count) == 1 + 3 * 2 * 2  # after warm-up, then before and after each block


def test_synchronizer_is_a_no_op_on_cpu():
    assert synchronizer("cpu")() is None
    assert synchronizer(None)() is None


def test_throughput_ratio_counts_work_per_block():
    times = PairedTimes(np.array([2.0, 2.0]), np.array([1.0, 1.0]), inner=1)
    # A does twice the work in twice the time: same throughput
    assert throughput_ratio(times, 2.0, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="work_b=0"):
        throughput_ratio(times, 1.0, 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"repetitions": 0}, "repetitions=0"),
    ({"repetitions": 2.5}, "repetitions=2.5"),
    ({"warmup": -1}, "warmup=-1"),
    ({"inner": 0}, "inner=0"),
    ({"order": "ba"}, "order='ba' is not allowed: choose one of abba, random, ab"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        time_interleaved(lambda: None, lambda: None, **kwargs)


def test_a_non_callable_is_named():
    with pytest.raises(TypeError, match="fn_b=3 is not callable"):
        time_interleaved(lambda: None, 3)  # type: ignore[arg-type]


def test_copy_bandwidth_is_positive_and_checks_shapes():
    src = torch.ones(1 << 18)
    assert copy_bandwidth(torch.empty_like(src), src, repetitions=2) > 0
    with pytest.raises(ValueError, match="shape"):
        copy_bandwidth(torch.empty(3), src)


def test_reference_is_a_constant_arm():
    assert Reference(1.0, "efficiency").run([0, 1, 2], None) == [{"efficiency": 1.0}] * 3
    with pytest.raises(ValueError, match="value=nan"):
        Reference(float("nan"))
    with pytest.raises(ValueError, match="metric=''"):
        Reference(1.0, "")


def test_a_crashed_worker_fails_fast_with_its_error():
    """The process fixture behind the timing claims (fixtures/ddp.py): a worker's error ends the group and
    comes back with the rank and the worker's stderr, instead of a hang."""
    from fixtures.ddp import WorkerError, WorkerGroup

    with pytest.raises(ValueError, match="backend='mpi' is not allowed"):
        WorkerGroup(1, backend="mpi")
    group = WorkerGroup(1, backend="none", timeout=120)
    with pytest.raises(WorkerError, match=r"rank 0 of 1 \(none\) reported ValueError.*model='nope'") as info:
        group.run({"model": "nope", "seed": 0, "batch": 4, "steps": 1})
    assert "Traceback" in str(info.value)
    assert all(p.poll() is not None for p in group.procs)
    with pytest.raises(WorkerError, match="gave no reply within"):  # a worker that hangs is killed
        WorkerGroup(1, backend="none", timeout=0.01)


def test_benchmark_interleaved_times_each_function_in_palindromic_passes():
    from instincts.timing import benchmark_interleaved

    runs: list[str] = []  # one letter per run of calls to the same function

    def mark(letter: str):
        def fn() -> None:
            if not runs or runs[-1] != letter:
                runs.append(letter)
            time.sleep(0.0002)
        return fn

    seconds = benchmark_interleaved([mark("a"), mark("b"), mark("c")], passes=2, min_run_time=0.005, warmup=1)
    assert seconds.shape == (2, 3) and (seconds > 0).all()
    assert "".join(runs) == "abc" + "abc" + "ba"  # warm-up, pass 0 forward, pass 1 reversed (its c joins pass 0s)


def test_benchmark_interleaved_sees_a_slower_function_on_either_clock():
    from instincts.timing import benchmark_interleaved

    def busy(n: int):
        return lambda: sum(range(n))

    for clock in ("wall", "cpu"):
        seconds = benchmark_interleaved([busy(4000), busy(1000)], min_run_time=0.01, clock=clock).mean(axis=0)
        assert seconds[0] / seconds[1] > 2.0, clock


@pytest.mark.parametrize("kwargs, message", [
    ({"fns": []}, "fns=\\[\\] is not allowed"),
    ({"fns": [3]}, "fns\\[0\\]=3 is not callable"),
    ({"passes": 0}, "passes=0"),
    ({"min_run_time": 0}, "min_run_time=0 is not allowed"),
    ({"clock": "tsc"}, "clock='tsc' is not allowed: choose one of wall, cpu"),
])
def test_benchmark_interleaved_names_bad_input(kwargs, message):
    from instincts.timing import benchmark_interleaved

    kwargs = {"fns": [lambda: None], **kwargs}
    with pytest.raises(ValueError, match=message):
        benchmark_interleaved(kwargs.pop("fns"), **kwargs)
