"""The plugin as a user meets it: a claim that judges nothing is an ERROR, the summary fits long ids,
options share the ``--claims-`` prefix (old spellings warn), ini defaults, the determinism check,
and one claims.json record per claim.

Inner sessions run in-process, as in test_plugin.py (whose module-level imports load torch, numpy,
scipy and matplotlib once for the outer session).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import ClassVar  # module level: dataclasses must resolve it there

import pytest
import statsmodels.stats.weightstats  # noqa: F401 - loaded once (see test_plugin.py)

import instincts.experiment  # noqa: F401 - loaded once
import instincts.plots  # noqa: F401 - loaded once
from instincts import determinism
from instincts.plugin import summary_lines
from instincts.results import ClaimResult
from tests.engine.test_plugin import _restore_hypothesis_profile, claims_of  # noqa: F401 - fixture, helper

pytest_plugins = ["pytester"]

HEADER = '''
import numpy as np
from instincts import Equivalent, Superior, claim


def noise(seed):
    return float(np.random.default_rng(seed).normal())


def shifted(seed):
    return noise(seed) + 1.0 + 0.3 * float(np.random.default_rng(seed + 99).normal())
'''

SILENT = HEADER + '''

@claim("S-1", "a claim that forgot to compare")
def test_forgot(experiment):
    experiment.run(noise, [0, 1])


@claim("S-2", "a claim without the fixture")
def test_no_fixture():
    assert 1 + 1 == 2


@claim("S-3", "a claim that compares")
def test_compares(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())


def test_plain_test_is_not_a_claim():
    assert True
'''


def test_a_claim_that_judged_nothing_is_an_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=SILENT)
    result = pytester.runpytest_inprocess("--claims-json", "c.json", "--claims-no-cache")
    assert result.parseoutcomes() == {"passed": 2, "failed": 2}
    result.stdout.fnmatch_lines(["claim S-1 ERROR — claim made no comparison: the test never called *",
                                 "claim S-2 ERROR — claim made no comparison: *",
                                 "*FAILED test_user.py::test_forgot - claim S-1 ERROR*",
                                 "*FAILED test_user.py::test_no_fixture - claim S-2 ERROR*"])
    result.stdout.fnmatch_lines(["S-1 * ERROR *a claim that forgot to compare", "*claim made no comparison*"])
    claims = claims_of(pytester.path / "c.json")
    assert {k: c["verdict"] for k, c in claims.items()} == {"S-1": "ERROR", "S-2": "ERROR", "S-3": "SUPPORTED"}
    assert claims["S-1"]["error"].startswith("claim made no comparison: the test never called experiment.compare")


def test_the_summary_columns_fit_long_ids():
    def record(id_: str, verdict: str) -> ClaimResult:
        return ClaimResult.from_dict({"id": id_, "nodeid": f"t.py::{id_}", "statement": f"statement of {id_}",
                                      "verdict": verdict, "error": "boom"} if verdict == "ERROR" else
                                     {"id": id_, "nodeid": f"t.py::{id_}", "statement": f"statement of {id_}",
                                      "verdict": verdict, "reason": "why"})
    lines = summary_lines([record("A-1", "SKIPPED"), record("MY-MODEL-WIDTH-12", "ERROR")])
    heads = lines[0::2]
    assert [h.index(v) for h, v in zip(heads, ("SKIPPED", "ERROR"))] == [len("MY-MODEL-WIDTH-12") + 1] * 2
    assert len({h.index("statement of") for h in heads}) == 1  # the statements line up too
    assert lines[1].strip() == "why" and lines[1].index("why") == heads[0].index("statement of")
    short = summary_lines([record("A-1", "SKIPPED")])
    assert short[0].index("SKIPPED") == 9  # ids up to 8 characters keep the old layout


def test_options_share_one_prefix_and_old_spellings_warn(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=HEADER + '''

@claim("P-1", "a shift is superior")
def test_one(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())
''')
    help_text = pytester.runpytest_inprocess("--help").stdout.str()
    section = help_text[help_text.index("instincts statistical claims"):]
    for name in ("--claims-budget", "--claims-strict", "--claims-no-cache", "--claims-keep-allure-results",
                 "--claims-check-determinism", "claims_budget", "claims_baseline", "claims_strict"):
        assert name in section, name
    old = pytester.runpytest_inprocess("--budget", "smoke", "--no-claims-cache", "--claims-json", "c.json")
    old.assert_outcomes(passed=1)
    old.stdout.fnmatch_lines(["*--budget is deprecated*use --claims-budget*",
                              "*--no-claims-cache is deprecated*use --claims-no-cache*"])
    new = pytester.runpytest_inprocess("--claims-budget", "smoke", "--claims-no-cache", "--claims-json", "c.json")
    new.assert_outcomes(passed=1)
    assert "deprecated" not in new.stdout.str()


def test_ini_defaults_for_budget_strict_and_baseline(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=HEADER + '''

@claim("P-2", "independent noise is superior")
def test_unclear(experiment):
    experiment.compare(lambda s: float(np.random.default_rng(s + 5).normal()), noise, metric="value",
                       expect=Superior())
''')
    pytester.makeini("[pytest]\nclaims_budget = bogus\n")
    bad = pytester.runpytest_inprocess()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*unknown budget 'bogus'*"])
    pytester.makeini("[pytest]\nclaims_budget = smoke\nclaims_strict = true\nclaims_baseline = base/b.json\n")
    (pytester.path / "base").mkdir()
    (pytester.path / "base" / "b.json").write_text("not json")
    broken = pytester.runpytest_inprocess()
    assert broken.ret == pytest.ExitCode.USAGE_ERROR  # the ini's baseline is read (relative to the ini file)
    broken.stderr.fnmatch_lines(["*--claims-baseline*b.json*"])
    (pytester.path / "base" / "b.json").unlink()
    pytester.makeini("[pytest]\nclaims_budget = smoke\nclaims_strict = true\n")
    strict = pytester.runpytest_inprocess("--claims-json", "c.json")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*INCONCLUSIVE (--claims-strict)*", "*claims (smoke budget, cpu)*"])


DETERMINISM = HEADER + '''
import os

def drifting(seed):
    """Reads a source no seed fixes."""
    return noise(seed) + 1.0 + 0.3 * float(np.random.default_rng().normal())


@claim("D-1", "a deterministic shift is superior")
def test_deterministic(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())


@claim("D-2", "a drifting shift is superior")
def test_drifting(experiment):
    assert experiment.compare(drifting, noise, metric="value", expect=Superior())
'''


def test_a_non_deterministic_arm_fails_the_determinism_check(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=DETERMINISM)
    plain = pytester.runpytest_inprocess("--claims-json", "c.json", "--claims-cache-dir", "cache")
    plain.assert_outcomes(passed=2)  # without the check the drift goes unnoticed
    checked = pytester.runpytest_inprocess("--claims-json", "c.json", "--claims-cache-dir", "cache",
                                           "--claims-check-determinism")
    checked.assert_outcomes(passed=1, failed=1)
    out = checked.stdout.str()
    checked.stdout.fnmatch_lines([
        "*claim D-2 ERROR — claim D-2 is not deterministic (--claims-check-determinism, tolerance 1e-06)*",
        "*arm_a test_user.drifting (*test_user.py:*): seed 0 gave value=* and then *; its code uses "
        "default_rng, which seeding torch, numpy and random does not fix*"])
    assert "test_user.shifted" not in out and "test_user.noise" not in out  # deterministic arms are not named
    claims = claims_of(pytester.path / "c.json")
    assert claims["D-1"]["verdict"] == "SUPPORTED"
    assert claims["D-2"]["verdict"] == "ERROR" and "is not deterministic" in claims["D-2"]["error"]


def test_the_determinism_tolerance_is_checked(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=DETERMINISM)
    result = pytester.runpytest_inprocess("--claims-determinism-tolerance", "two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'two' is not allowed: give a number from 0 (exact) to below 1*"])


def test_determinism_compares_metrics_within_the_tolerance():
    assert determinism.compare_metrics({"a": 1.0, "b": 2.0}, {"a": 1.0 + 1e-9, "b": 2.0}, 1e-6) == []
    assert determinism.compare_metrics({"a": 1.0}, {"a": 1.1}, 1e-6) == [("a", 1.0, 1.1)]
    assert determinism.compare_metrics({"a": 1.0}, {"a": 1.0, "b": 3.0}, 1e-6) == [("b", None, 3.0)]
    assert determinism.compare_metrics({"a": float("nan")}, {"a": float("nan")}, 0.0) == []
    with pytest.raises(ValueError, match="is not allowed"):
        determinism.check_tolerance(1.5)


def test_determinism_reruns_configs_through_run():
    class Context:
        pass

    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Counter:
        start: float

        def run(self, seeds, context):
            return [{"value": self.start + s} for s in seeds]

    arm = Counter(1.0)
    assert determinism.check({"arm": (arm, [3, 4], [{"value": 4.0}, {"value": 5.0}])}, Context()) == []
    [mismatch] = determinism.check({"arm": (arm, [3, 4], [{"value": 4.0}, {"value": 7.0}])}, Context())
    assert (mismatch.name, mismatch.seed, mismatch.metric, mismatch.first, mismatch.again) == ("arm", 4, "value",
                                                                                              7.0, 5.0)
    assert "Counter" in mismatch.arm and "test_plugin_user.py:" in mismatch.where


def test_determinism_leaves_out_measured_metrics_and_reruns_an_arm_once():
    calls = []

    @dataclasses.dataclass(frozen=True)
    class Timed:
        measured: ClassVar[tuple[str, ...]] = ("seconds",)

        def run(self, seeds, context):
            calls.append(list(seeds))
            return [{"value": float(s), "seconds": 0.1 * len(calls)} for s in seeds]

    trials = {"arm_a": (Timed(), [0, 1], [{"value": 0.0, "seconds": 0.5}, {"value": 1.0, "seconds": 0.5}]),
              "table": (Timed(), [0, 1], [{"value": 0.0, "seconds": 0.5}, {"value": 1.0, "seconds": 0.5}])}
    assert determinism.check(trials, None) == [] and calls == [[0, 1]]  # equal configs under two names: one rerun
    Timed.measured = ()
    assert {m.metric for m in determinism.check(trials, None)} == {"seconds"}
    Timed.measured = "seconds"  # a string, not a tuple of names
    with pytest.raises(ValueError, match="measured='seconds' of .*Timed is not allowed: give a tuple"):
        determinism.check(trials, None)


_draws = iter(range(100))


@functools.cache
def _memoised_draw(seed: int) -> float:
    return float(next(_draws))  # a new number on every call that the memo does not answer


@dataclasses.dataclass(frozen=True)
class _Memoised:
    def run(self, seeds, context):
        return [{"value": _memoised_draw(s)} for s in seeds]


def test_determinism_reruns_past_in_memory_memos_and_keeps_them():
    """A memo the arm calls would answer the rerun with the first draw: the check bypasses it."""
    first = [{"value": _memoised_draw(0)}]
    [mismatch] = determinism.check({"arm": (_Memoised(), [0], first)}, None)
    assert mismatch.metric == "value" and mismatch.first != mismatch.again
    assert _memoised_draw(0) == first[0]["value"] and _memoised_draw.cache_info().currsize == 1  # memo intact
    arm = functools.partial(_memoised_draw)  # a memoised callable arm, through a partial
    [mismatch] = determinism.check({"arm": (arm, [0], first)}, None)
    assert mismatch.first != mismatch.again and "_memoised_draw" in mismatch.arm


BATCHED = HEADER + '''
import dataclasses


@dataclasses.dataclass(frozen=True)
class Batched:
    """A vectorised trainer's numbers follow the batch it trained (its size picks the kernels)."""

    shift: float

    def run(self, seeds, context):
        return [{"value": shifted(s) if self.shift else noise(s) + 1e-3 * len(seeds)} for s in seeds]


@claim("B-1", "a batched shift is superior")
def test_batched(experiment):
    assert experiment.compare(Batched(1.0), Batched(0.0), metric="value", expect=Superior())
'''


def test_a_config_reruns_the_batch_it_trained(pytester: pytest.Pytester):
    """A config whose numbers depend on its batch is deterministic: rerun as one seed it would not be."""
    pytester.makepyfile(test_user=BATCHED)
    for _ in range(2):  # trained, then every seed from the cache: the batch the cached run trained
        result = pytester.runpytest_inprocess("--claims-json", "c.json", "--claims-cache-dir", "cache",
                                              "--claims-check-determinism")
        result.assert_outcomes(passed=1)
    assert claims_of(pytester.path / "c.json")["B-1"]["verdict"] == "SUPPORTED"


def test_one_record_per_claim_when_a_test_reports_twice(pytester: pytest.Pytester):
    """A test reported twice (as rerun plugins do) leaves one claims.json record: the last."""
    pytester.makepyfile(test_user=HEADER + '''

@claim("R-1", "a shift is superior")
def test_one(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())
''')
    pytester.makeconftest('''
import pytest
from _pytest.runner import runtestprotocol


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem)  # a first run whose reports are logged
    runtestprotocol(item, nextitem=nextitem)  # and a second
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
''')
    result = pytester.runpytest_inprocess("--claims-json", "c.json")
    result.assert_outcomes(passed=2)
    doc = json.loads((pytester.path / "c.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["R-1"]
    assert result.stdout.str().count("supported: 1") == 1


THREADS = HEADER + '''
import torch


@claim("T-1", "a claim trains with the trial threads")
def test_trains(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())
    assert torch.get_num_threads() == {trial}


@claim("T-2", "a timing claim gets the cores", timing=True)
def test_times(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())
    assert torch.get_num_threads() == {cores}
'''


@pytest.mark.parametrize("asked", [None, 2])
def test_claims_train_with_one_thread_whatever_the_workers(pytester: pytest.Pytester, monkeypatch, asked):
    """Numbers must not depend on -n: a claim trains with --claims-threads (default 1) in a serial run too;
    a timing claim measures the machine with the cores (split over workers, capped by OMP_NUM_THREADS)."""
    import torch

    from instincts import devices

    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    before = torch.get_num_threads()
    pytester.makepyfile(test_user=THREADS.format(trial=asked or 1, cores=4))
    try:
        result = pytester.runpytest_inprocess("--claims-no-cache", "--claims-json", "c.json",
                                              *(["--claims-threads", str(asked)] if asked else []))
    finally:
        torch.set_num_threads(before)
    result.assert_outcomes(passed=2)


def test_a_bad_thread_count_is_named(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=THREADS.format(trial=1, cores=1))
    result = pytester.runpytest_inprocess("--claims-threads", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'0' is not allowed: give a whole number of torch threads from 1 to 1024*"])
