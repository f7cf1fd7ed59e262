"""Executors (instincts.executors): where trials run. In-process is today's serial path; on a Dask
LocalCluster and on submitit's local executor the same seeds give bit-identical numbers, a killed
worker costs only time, and every failure names its arm and seed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from fixtures.arms.digits import DigitsMLP
from instincts import Equivalent, InvalidArgument
from instincts.budget import BUDGETS
from instincts.cache import RunCache
from instincts.executors import InProcess, TrialError, make
from instincts.experiment import Experiment

pytest.importorskip("distributed")
pytest_plugins = ["pytester"]

SMALL = DigitsMLP(batch_size=64, lr=1e-2, epochs=3)
LARGER = DigitsMLP(batch_size=128, lr=1e-2, epochs=3)


def experiment(executor=None, cache_dir: Path | None = None) -> Experiment:
    return Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(cache_dir), executor=executor)


def slow(seed: int) -> float:
    time.sleep(0.5)
    return 0.5 + 0.01 * seed


def slower(seed: int) -> float:
    time.sleep(0.5)
    return 0.5 + 0.01 * seed + 0.001 * (seed % 2)


def fails_at_three(seed: int) -> float:
    if seed == 3:
        raise ValueError("bad seed")
    return 0.1


def hangs(seed: int) -> float:
    time.sleep(60)
    return 0.0


def with_context(seed: int, context) -> dict[str, float]:
    return {"epochs": float(context.epochs), "scale": context.data_scale, "seed": float(seed)}


class NothingRuns(InProcess):
    def submit(self, fn, *args):
        raise AssertionError(f"{fn.__name__} was submitted: the cache should have held every seed")


@pytest.fixture(scope="module")
def dask_local():
    executor = make("dask-local", workers=2, trial_timeout=120)
    yield executor
    executor.close()


def compare(exp: Experiment):
    return exp.compare(SMALL, LARGER, metric="test_accuracy", expect=Equivalent(0.05), seeds=4, looks=1)


def test_dask_local_gives_the_in_process_numbers_and_the_same_cache(dask_local, tmp_path):
    here, there = experiment(cache_dir=tmp_path / "a"), experiment(dask_local, tmp_path / "b")
    verdict_here, verdict_there = compare(here), compare(there)
    assert there.records[0].values == here.records[0].values  # bit-identical per seed
    assert verdict_there.outcome == verdict_here.outcome
    names = sorted(p.name for p in (tmp_path / "a").rglob("*.json"))
    assert names and names == sorted(p.name for p in (tmp_path / "b").rglob("*.json"))
    rerun = experiment(NothingRuns(), tmp_path / "b")  # a rerun hits the cache whatever executed it
    compare(rerun)
    assert rerun.records[0].values == here.records[0].values


def timed(seed: int) -> dict[str, float]:
    """Half a second asleep, and when: the wall clock is shared by the processes of one machine."""
    start = time.time()
    time.sleep(0.5)
    return {"value": 0.5 + 0.01 * seed, "start": start, "end": time.time()}


def timed_too(seed: int) -> dict[str, float]:
    return {**timed(seed), "value": 0.5 + 0.009 * seed}


class Watched:
    """An executor that logs every submission and every wait for a result (with the result)."""

    def __init__(self, inner):
        self.inner, self.log = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit(self, fn, *args):
        self.log.append(("submit", None))
        return _Logged(self.inner.submit(fn, *args), self.log)


class _Logged:
    def __init__(self, pending, log):
        self.pending, self.log = pending, log

    def result(self, timeout=None):
        value = self.pending.result(timeout)
        self.log.append(("result", value))
        return value


def test_both_arms_are_in_flight_at_once(dask_local):
    """Every trial of both arms is submitted before the first result is awaited, and trials overlap on
    the two workers (checked from the trials' own clocks, not from a wall-time bound a loaded machine
    can miss)."""
    watched = Watched(dask_local)
    experiment(watched).compare(timed, timed_too, metric="value", expect=Equivalent(0.1), seeds=4, looks=1)
    assert [kind for kind, _ in watched.log] == ["submit"] * 8 + ["result"] * 8
    spans = sorted((r["start"], r["end"]) for kind, r in watched.log if kind == "result")
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), f"no two trials overlapped: {spans}"


def test_a_callable_learns_the_budget_through_its_context(dask_local):
    for executor in (None, dask_local):
        out = experiment(executor).run(with_context, [0, 1])
        assert out == [{"epochs": 12.0, "scale": 1.0, "seed": 0.0}, {"epochs": 12.0, "scale": 1.0, "seed": 1.0}]


def test_a_trial_error_names_the_arm_and_the_seed_with_its_traceback(dask_local):
    exp = experiment(dask_local)
    with pytest.raises(TrialError, match=r"arm_a \(A\) failed at seed 3: ValueError: bad seed") as info:
        exp.compare(fails_at_three, slow, metric="value", expect=Equivalent(0.1), seeds=4, looks=1)
    assert "fails_at_three" in str(info.value)  # the trial's own traceback


def test_in_process_errors_keep_their_type_and_name_the_place():
    with pytest.raises(ValueError, match="bad seed") as info:
        experiment().compare(fails_at_three, slow, metric="value", expect=Equivalent(0.1), seeds=4, looks=1)
    assert "(in arm_a (A) at seed 3)" in info.value.__notes__


def test_a_trial_past_its_timeout_is_cancelled_and_reported():
    executor = make("dask-local", workers=1, trial_timeout=1)
    try:
        start = time.perf_counter()
        with pytest.raises(TrialError, match="still running after 1 s"):
            experiment(executor).run(hangs, [0], "arm_a")
        assert time.perf_counter() - start < 15
    finally:
        executor.close()


def test_a_worker_killed_mid_claim_costs_time_not_the_verdict(tmp_path):
    executor = make("dask-local", workers=2, trial_timeout=120)
    client = executor.client
    try:
        pids = list(client.run(os.getpid).values())
        killer = threading.Timer(1.0, os.kill, (pids[0], signal.SIGKILL))  # while trials are running
        killer.start()
        exp = experiment(executor, tmp_path)
        verdict = exp.compare(slow, slower, metric="value", expect=Equivalent(0.1), seeds=6, looks=1)
        killer.join()
        assert verdict.outcome.value == "SUPPORTED"
        here = experiment()
        here.compare(slow, slower, metric="value", expect=Equivalent(0.1), seeds=6, looks=1)
        assert exp.records[0].values == here.records[0].values
        for path in tmp_path.rglob("*.json"):
            json.loads(path.read_text())  # every cache entry whole
        assert pids[0] not in client.run(os.getpid).values()  # the worker did die (and was replaced)
    finally:
        executor.close()


def test_an_unreachable_scheduler_is_one_clear_error_within_seconds():
    start = time.perf_counter()
    with pytest.raises(InvalidArgument, match=r"--claims-dask-scheduler 'tcp://127.0.0.1:9' did not answer within 5 s"):
        make("dask", scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - start < 15


def test_bad_executor_options_are_named():
    with pytest.raises(InvalidArgument, match="'ray' is not allowed: use one of inprocess, dask-local"):
        make("ray")
    with pytest.raises(InvalidArgument, match="needs --claims-dask-scheduler"):
        make("dask")
    with pytest.raises(InvalidArgument, match="--dask-workers 0 is not allowed"):
        make("dask-local", workers=0)
    with pytest.raises(InvalidArgument, match="--claims-trial-timeout -1 is not allowed"):
        make("dask-local", trial_timeout=-1)


def test_slurm_without_slurm_says_so(tmp_path):
    pytest.importorskip("submitit")
    with pytest.raises(InvalidArgument, match=r"--claims-executor slurm: .*srun.* Use submitit-local"):
        make("slurm", folder=tmp_path)


def test_submitit_local_gives_the_in_process_numbers(tmp_path):
    pytest.importorskip("submitit")
    executor = make("submitit-local", trial_timeout=300, folder=tmp_path / "jobs")
    arm = DigitsMLP(batch_size=64, lr=1e-2, epochs=2)
    there = experiment(executor).run(arm, [0, 1], "arm")
    assert there == experiment().run(arm, [0, 1], "arm")


# -- through the plugin: the options, xdist, start-up errors ------------------------------------

def _values(path: Path) -> dict[str, list]:
    claims = json.loads(path.read_text())["claims"]
    return {c["nodeid"]: [(p["values"], p["verdict"]) for p in c["parts"]] for c in claims}


def test_xdist_workers_share_one_local_cluster_and_verdicts_do_not_change(pytester: pytest.Pytester):
    from tests.engine.test_plugin import CLAIMS

    pytester.makepyfile(test_user=CLAIMS)
    plain = pytester.runpytest_subprocess("--claims-json", "plain.json", "-p", "no:cacheprovider",
                                          "--claims-no-cache")
    dask = pytester.runpytest_subprocess("-n", "2", "--claims-executor", "dask-local", "--dask-workers", "2",
                                         "--claims-json", "dask.json", "-p", "no:cacheprovider", "--claims-no-cache")
    outcomes = [{k: v for k, v in r.parseoutcomes().items() if k != "warnings"} for r in (dask, plain)]
    assert outcomes[0] == outcomes[1]
    assert _values(pytester.path / "dask.json") == _values(pytester.path / "plain.json")


def test_an_unreachable_scheduler_stops_the_run_at_start_up(pytester: pytest.Pytester):
    from tests.engine.test_plugin import CLAIMS

    pytester.makepyfile(test_user=CLAIMS)
    start = time.perf_counter()
    result = pytester.runpytest_subprocess("--claims-executor", "dask", "--dask-scheduler", "tcp://127.0.0.1:9",
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-dask-scheduler 'tcp://127.0.0.1:9' did not answer within 5 s*"])
    assert time.perf_counter() - start < 30
