"""The pytest plugin: options, the ``experiment`` fixture, verdict outcomes, claims.json."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from instincts import devices
from instincts.budget import BUDGETS, Budget, default_budget_name, get_budget
from instincts.cache import RunCache
from instincts.claim import ClaimInfo, claim_info
from instincts.experiment import ENGINE_VERSION, Experiment
from instincts.report import (
    attach_allure,
    claim_result,
    show_refutations_as_failed,
    write_claims_json,
    write_environment,
)

PROPERTY = "instincts_claim"


@dataclass
class State:
    budget: Budget
    device: torch.device
    cache: RunCache
    strict: bool
    claims_json: Path
    versions: dict[str, str]
    known_refuted: dict[str, str] | None = None  # with --claims-baseline: nodeid -> its REFUTED line
    results: list[dict[str, Any]] = field(default_factory=list)


STATE = pytest.StashKey[State]()
EXPERIMENT = pytest.StashKey[Experiment]()
RESULT = pytest.StashKey[dict]()
GPU_PLAN = pytest.StashKey["list[int] | None"]()
PLANNED_GPU = "instincts_gpu"  # workerinput key: the cuda:N index the controller planned for the worker


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("instincts", "statistical claims")
    group.addoption("--budget", default=None,
                    help=f"claim budget: {' | '.join(BUDGETS)} (default: smoke on CPU, standard with CUDA)")
    group.addoption("--strict-claims", action="store_true",
                    help="INCONCLUSIVE verdicts fail (default: reported as their own outcome)")
    group.addoption("--claims-device", default=None, help="torch device for built-in trainers (default: auto)")
    group.addoption("--no-claims-cache", action="store_true", help="recompute every run (no disk cache)")
    group.addoption("--claims-cache-dir", default=None, help="run-cache folder (default: <rootdir>/.instincts-cache)")
    group.addoption("--claims-json", default=None,
                    help="where to write claims.json (default: <rootdir>/reports/claims.json)")
    group.addoption("--keep-allure-results", action="store_true",
                    help="do not clear old results from --alluredir at the start of a run")
    group.addoption("--claims-merge", action="store_true",
                    help="merge this run's verdicts into an existing claims.json (and keep the Allure results): "
                         "for a second session, e.g. timing claims run alone after the rest ran in parallel")
    group.addoption("--claims-baseline", default=None,
                    help="a claims.json of known verdicts: a claim REFUTED there too is a known finding, and a "
                         "REFUTED timing claim is machine-dependent; both are "
                         "reported as xfail, not a failure; any other REFUTED still fails")


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselect
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``-k BS-1`` selects a claim by its catalogue id, whatever its test is called; timing claims
    carry the ``timing`` mark, so ``-m timing`` runs them alone and ``-m "not timing"`` in parallel."""
    for item in items:
        info = claim_info(item)
        if info is not None:
            item.extra_keyword_matches.add(info.id)
            if info.timing:
                item.add_marker(pytest.mark.timing)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): a statistical claim from the catalogue")
    config.addinivalue_line("markers", "slow: long-running (calibration by thousands of simulations)")
    config.addinivalue_line("markers", "timing: a wall-clock claim; run it alone (-m timing, no -n) for clean numbers")
    devices.pin_device_order()  # before the first CUDA call, so that CUDA numbers GPUs as NVML does
    name = config.getoption("budget") or default_budget_name(torch.cuda.is_available())
    try:
        budget = get_budget(name)
        device = devices.choose_device(config.getoption("claims_device"), _planned_gpu(config))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    devices.configure_threads()
    if device.type == "cuda" and not getattr(config.option, "numprocesses", None):
        torch.cuda.set_device(device)  # workers and serial runs pin their GPU; an xdist controller trains nothing
    root = config.rootpath
    cache_dir = None if config.getoption("no_claims_cache") else Path(
        config.getoption("claims_cache_dir") or root / ".instincts-cache")
    claims_json = Path(config.getoption("claims_json") or root / "reports" / "claims.json")
    versions = {"instincts": ENGINE_VERSION, "torch": torch.__version__}
    config.stash[STATE] = State(budget, device, RunCache(cache_dir), config.getoption("strict_claims"),
                                claims_json, versions, _known_refuted(config.getoption("claims_baseline")))
    _load_hypothesis_profile(config, budget)
    if not _is_worker(config):
        config.pluginmanager.register(Collector(config.stash[STATE]), "instincts-collector")
    alluredir = getattr(config.option, "allure_report_dir", None)
    keep = config.getoption("keep_allure_results") or config.getoption("claims_merge")
    if alluredir and not _is_worker(config) and not keep:
        _clear_allure_results(Path(alluredir))


def _auto_cuda(config: pytest.Config) -> bool:
    """The device is chosen automatically and CUDA is present: GPUs are planned by NVML free memory."""
    return config.getoption("claims_device") in (None, "", "auto", "cuda") and torch.cuda.is_available()


def _planned_gpu(config: pytest.Config) -> int | None:
    """This process's GPU: a worker's from the controller's plan, a serial run's the freest one."""
    if _is_worker(config):
        return config.workerinput.get(PLANNED_GPU)
    if _auto_cuda(config):
        plan = devices.plan_cuda(1)
        return plan[0] if plan else None
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller, once per worker: its GPU from one NVML plan, made before any worker holds memory."""
    config = node.config
    if not _auto_cuda(config):
        return
    if GPU_PLAN not in config.stash:
        config.stash[GPU_PLAN] = devices.plan_cuda(int(node.workerinput["workercount"]))
    plan = config.stash[GPU_PLAN]
    index = devices.worker_index(str(node.workerinput["workerid"]))
    if plan and index < len(plan):
        node.workerinput[PLANNED_GPU] = plan[index]


def _load_claims(path: Path, what: str, option: str) -> dict[str, Any]:
    """A validated claims.json, or a usage error that names the option and the problem."""
    from instincts.gate import GateInputError, load

    try:
        return load(path, what)
    except GateInputError as exc:
        raise pytest.UsageError(f"{option}: {exc}") from None


def _known_refuted(path: str | None) -> dict[str, str] | None:
    """Claims the baseline records as REFUTED: findings already reported, not regressions."""
    if not path:
        return None
    doc = _load_claims(Path(path), "baseline", "--claims-baseline")
    return {c["nodeid"]: c.get("line", "") for c in doc["claims"] if c.get("verdict") == "REFUTED"}


def _load_hypothesis_profile(config: pytest.Config, budget: Budget) -> None:
    """Hypothesis follows the budget: examples, no deadline, determinism and shrinking."""
    from hypothesis import HealthCheck, Phase, settings

    phases = [p for p in Phase if budget.shrink or p not in (Phase.shrink, Phase.explain)]
    kwargs: dict[str, Any] = dict(max_examples=budget.max_examples, deadline=None, phases=phases,
                                  derandomize=budget.derandomize, print_blob=True,
                                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                         HealthCheck.too_slow, HealthCheck.data_too_large])
    if budget.derandomize:
        kwargs["database"] = None
    settings.register_profile(f"instincts-{budget.name}", **kwargs)
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile(f"instincts-{budget.name}")


def _clear_allure_results(alluredir: Path) -> None:
    """Old results would show up as retries of this run; history lives elsewhere."""
    if alluredir.is_dir():
        for pattern in ("*-result.json", "*-container.json", "*-attachment*", "environment.properties"):
            for path in alluredir.glob(pattern):
                path.unlink(missing_ok=True)


def _examples(item: pytest.Item) -> int:
    fn = getattr(item, "obj", None)
    if getattr(fn, "is_hypothesis_test", False):
        return fn._hypothesis_internal_use_settings.max_examples
    return 1


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> Experiment:
    """Runs arms over the budget's paired seeds and judges pre-registered expectations."""
    state = request.config.stash[STATE]
    exp = Experiment(state.budget, state.device, state.cache, examples=_examples(request.node))
    request.node.stash[EXPERIMENT] = exp
    return exp


@pytest.fixture
def budget(request: pytest.FixtureRequest) -> Budget:
    """The run's budget profile (seeds, examples, epochs, data scale)."""
    return request.config.stash[STATE].budget


def _info(item: pytest.Item) -> ClaimInfo | None:
    info = claim_info(item)
    if info is None and EXPERIMENT in item.stash and item.stash[EXPERIMENT].records:
        info = ClaimInfo(id=item.name, statement=item.name)
    return info


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    start = time.perf_counter()
    outcome = yield
    exp = item.stash.get(EXPERIMENT, None)
    info = _info(item)
    if info is None or exp is None:
        return
    state = item.config.stash[STATE]
    seconds = time.perf_counter() - start
    exc = outcome.exception
    error = None
    if exp.records and isinstance(exc, AssertionError) and exp.outcome.value == "SUPPORTED":
        # every verdict holds, so the failed assert is about something else: not a SUPPORTED claim
        error = f"verdicts SUPPORTED, but an assertion failed: {exc!r}"
    elif exp.records and (exc is None or isinstance(exc, AssertionError)):
        result = claim_result(info, item.nodeid, exp.records, exp.outcome.value, state.budget.name,
                              str(state.device), seconds, state.versions)
        if getattr(item.config.option, "allure_report_dir", None):
            attach_allure(info, exp.records, result)
    elif exc is not None and not isinstance(exc, pytest.skip.Exception):
        error = repr(exc)
    else:
        return
    if error is not None:
        result = {**info.to_dict(), "nodeid": item.nodeid, "verdict": "ERROR", "error": error[:500],
                  "budget": state.budget.name, "device": str(state.device), "duration_s": round(seconds, 2)}
    workers = int(getattr(item.config, "workerinput", {}).get("workercount", 1))
    if info.timing and workers > 1:
        result = {**result, "note": f"timed beside {workers - 1} other xdist worker(s); for clean numbers run "
                                    "timing claims alone: pytest claims -m timing"}
    item.stash[RESULT] = result


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Turn the claim's verdict into the test outcome (runs before allure reads the report)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    info = claim_info(item)
    result = item.stash.get(RESULT, None) if call.when == "call" else None
    if result is None and info is not None and report.skipped and call.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        result = {**info.to_dict(), "nodeid": item.nodeid, "verdict": "SKIPPED", "reason": reason,
                  "budget": item.config.stash[STATE].budget.name}
    if result is None:
        return
    verdict = result["verdict"]
    state = item.config.stash[STATE]
    strict = state.strict
    line = result.get("line", "")
    # gating on a baseline: a refutation it records is a finding on record; a timing claim's verdict
    # belongs to the machine and its load, so its refutation is reported (the gate warns), not failed
    gating = state.known_refuted is not None
    why = ("known finding, REFUTED in the baseline too" if gating and item.nodeid in state.known_refuted else
           "timing claim, machine-dependent: reported, not gated" if gating and info and info.timing else None)
    known = verdict == "REFUTED" and why is not None and (
        report.passed or call.excinfo is not None and call.excinfo.errisinstance(AssertionError))
    if known:
        result = {**result, "known_finding": True}
    report.user_properties.append((PROPERTY, json.dumps(result)))
    if known:
        report.outcome = "skipped"  # pytest's xfail
        report.wasxfail = f"{why} — {line}"
    elif verdict == "REFUTED" and report.passed:
        report.outcome = "failed"
        report.longrepr = f"claim {result['id']} REFUTED — {line}"
    elif verdict == "INCONCLUSIVE":
        exc = call.excinfo.value if call.excinfo else None
        from_verdict = report.passed or (isinstance(exc, AssertionError) and "Verdict INCONCLUSIVE" in str(exc))
        if strict and report.passed:
            report.outcome = "failed"
            report.longrepr = f"claim {result['id']} INCONCLUSIVE (--strict-claims) — {line}"
        elif not strict and from_verdict:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"INCONCLUSIVE — {line}")


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if report.when == "call" and report.skipped:
        for name, value in report.user_properties:
            if name == PROPERTY and json.loads(value)["verdict"] == "INCONCLUSIVE":
                return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


def _merged(path: Path, results: list[dict[str, Any]], budget: str) -> list[dict[str, Any]]:
    """The earlier session's claims, with this session's replacing any of the same nodeid."""
    if not path.exists():
        return results
    earlier = _load_claims(path, "claims.json to merge into", "--claims-merge")
    if earlier["meta"].get("budget") not in (None, budget):
        raise pytest.UsageError(f"--claims-merge: {path} holds a {earlier['meta']['budget']!r} run and this is a "
                                f"{budget!r} run; merge runs of one budget only")
    fresh = {r["nodeid"] for r in results}
    return [c for c in earlier["claims"] if c["nodeid"] not in fresh] + results


class Collector:
    """Controller-side: gathers claim results from every worker's reports, writes claims.json."""

    def __init__(self, state: State):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in getattr(report, "user_properties", ()):
            if name == PROPERTY:
                self.state.results.append(json.loads(value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = self.state
        if not state.results:
            return
        facts = {**devices.environment(), "budget": state.budget.name, "device": str(state.device)}
        claims = state.results
        if session.config.getoption("claims_merge"):
            claims = _merged(state.claims_json, claims, state.budget.name)
        write_claims_json(state.claims_json, claims,
                          {"budget": state.budget.name, "device": str(state.device), "environment": facts,
                           "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        alluredir = getattr(session.config.option, "allure_report_dir", None)
        if alluredir:
            write_environment(Path(alluredir), facts)
            show_refutations_as_failed(Path(alluredir))

    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config) -> None:
        state = self.state
        if not state.results:
            return
        tr = terminalreporter
        tr.write_sep("=", f"claims ({state.budget.name} budget, {state.device})")
        counts: dict[str, int] = {}
        for r in sorted(state.results, key=lambda c: (c["id"], c["nodeid"])):
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
            detail = r.get("line") or r.get("reason") or r.get("error", "")
            if r.get("known_finding"):
                detail = f"(known finding) {detail}"
            secs = f"{r['duration_s']:6.1f}s" if "duration_s" in r else " " * 7
            statement = r.get("statement", "")
            statement = statement if len(statement) <= 100 else statement[:99] + "…"
            tr.write_line(f"{r['id']:<8} {r['verdict']:<12} {secs}  {statement}")
            tr.write_line(f"{'':<30}{detail}"[:250])
        tr.write_line("  ".join(f"{k.lower()}: {v}" for k, v in sorted(counts.items())))
        if any("note" in r for r in state.results):
            tr.write_line("note: timing claims ran beside other xdist workers; run them alone with "
                          "`pytest claims -m timing` (no -n) for clean numbers")
        tr.write_line(f"claims.json: {state.claims_json}")
        alluredir = getattr(config.option, "allure_report_dir", None)
        if alluredir:
            tr.write_line(f"allure results: {alluredir}")
