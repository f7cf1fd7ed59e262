"""The pytest plugin: options, the ``experiment`` fixture, verdict outcomes, claims.json.

It loads lazily: at start-up it reads options only, so ``pytest --version`` and runs without
claims never import torch, scipy, hypothesis or allure. The run's state (budget, device, run
cache, hypothesis profile) is built when a claim is collected or the ``experiment``/``budget``
fixture is used; the hypothesis profile is loaded before a module that uses instincts is
imported, because ``@given``/``@settings`` copy the profile's values when they decorate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from instincts import results
from instincts.budget import BUDGETS, Budget, default_budget_name, get_budget
from instincts.errors import ClaimsFileError, InstinctsError
from instincts.executors import EXECUTORS
from instincts.marks import ClaimInfo, claim_info
from instincts.results import ClaimResult

if TYPE_CHECKING:
    import torch

    from instincts.cache import RunCache
    from instincts.executors import Executor
    from instincts.experiment import Experiment

PROPERTY = "instincts_claim"
PLANNED_GPU = "instincts_gpu"  # workerinput key: the cuda:N index the controller planned for the worker
SEED_BASE = "instincts_seed_base"  # workerinput key: the run's seed base, drawn once by the controller
DASK_ADDRESS = "instincts_dask_scheduler"  # workerinput key: the controller's dask-local cluster
AUTO_DEVICES = (None, "", "auto", "cuda")  # --claims-device values that let the plugin pick the GPU


@dataclass(frozen=True)
class Options:
    """What the command line asks for, read at start-up without importing anything heavy."""

    budget_name: str | None  # None: smoke on CPU, standard with CUDA (known once torch is loaded)
    device_request: str | None
    strict: bool
    claims_json: Path
    cache_dir: Path | None
    allure: bool  # --alluredir is set
    seed_base: int | None = None  # --claims-seed-base; None: the budget's (smoke 0, else drawn)
    known_refuted: dict[str, str] | None = None  # with --claims-baseline: nodeid -> its REFUTED line
    durations: dict[str, float] | None = None  # with --claims-baseline: nodeid -> its claim's seconds there


@dataclass
class State:
    """The run's budget, device and run cache, built when the first claim needs them."""

    budget: Budget
    device: torch.device
    cache: RunCache
    versions: dict[str, str]


OPTIONS = pytest.StashKey[Options]()
STATE = pytest.StashKey[State]()
BUDGET = pytest.StashKey[Budget]()
PROFILE = pytest.StashKey[bool]()
EXPERIMENT = pytest.StashKey["Experiment"]()
EXECUTOR = pytest.StashKey["Executor"]()
RESULT = pytest.StashKey[ClaimResult]()
GPU_PLAN = pytest.StashKey["list[int] | None"]()
DRAW_SEED = pytest.StashKey[int]()
DEFERRED = pytest.StashKey[AssertionError]()
ALLURE_DIRS = pytest.StashKey["instincts.report.AllureDirs | None"]()
ALLURE_STAGING = "instincts_allure_staging"  # workerinput key: the controller's Allure staging folder
PLUGIN_ERROR = pytest.StashKey[str]()  # the failure text of an ERROR the plugin found (no comparison, ...)


# Deprecated spellings of the options (kept for one release): old name -> the --claims-* name.
DEPRECATED_OPTIONS = {"--budget": "--claims-budget", "--strict-claims": "--claims-strict",
                      "--no-claims-cache": "--claims-no-cache", "--keep-allure-results": "--claims-keep-allure-results"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("instincts", "instincts statistical claims (old spellings: deprecated aliases)")
    group.addoption("--claims-budget", "--budget", dest="budget", default=None, metavar="NAME",
                    help=f"claim budget: {' | '.join(BUDGETS)} (default: ini claims_budget, else smoke on CPU, "
                         "standard with CUDA)")
    group.addoption("--claims-strict", "--strict-claims", dest="strict_claims", action="store_true",
                    help="INCONCLUSIVE verdicts fail (default: ini claims_strict, else their own outcome)")
    group.addoption("--claims-device", default=None, help="torch device for built-in trainers (default: auto)")
    group.addoption("--claims-no-cache", "--no-claims-cache", dest="no_claims_cache", action="store_true",
                    help="recompute every run (no disk cache)")
    group.addoption("--claims-cache-dir", default=None, help="run-cache folder (default: <rootdir>/.instincts-cache)")
    group.addoption("--claims-json", default=None,
                    help="where to write claims.json (default: <rootdir>/reports/claims.json)")
    group.addoption("--claims-keep-allure-results", "--keep-allure-results", dest="keep_allure_results",
                    action="store_true", help="do not clear old results from --alluredir at the start of a run")
    group.addoption("--claims-merge", action="store_true",
                    help="merge this run's verdicts into an existing claims.json (a second session, e.g. timing "
                         "claims run alone)")
    group.addoption("--claims-seed-base", default=None, type=_seed_base, metavar="N",
                    help="seeds are N + 0..n-1: replays a run whose claims.json records seed_base N "
                         "(default: 0 on smoke, else drawn)")
    group.addoption("--claims-executor", default="inprocess", choices=EXECUTORS,
                    help="where trials run: inprocess (default) | dask-local (a LocalCluster here) | dask "
                         "(--claims-dask-scheduler) | submitit-local | slurm; see instincts.executors")
    group.addoption("--claims-dask-scheduler", "--dask-scheduler", dest="dask_scheduler", default=None,
                    metavar="tcp://HOST:PORT",
                    help="the running Dask scheduler for --claims-executor dask")
    group.addoption("--claims-dask-workers", "--dask-workers", dest="dask_workers", default=2, type=int,
                    metavar="N",
                    help="worker processes (one thread each) of --claims-executor dask-local (default 2)")
    group.addoption("--claims-threads", default=None, type=_threads, metavar="N",
                    help="torch threads a claim trains with in the pytest process (default 1: the numbers "
                         "then do not depend on -n; Dask/submitit workers use 1; timing claims get the cores)")
    group.addoption("--claims-trial-timeout", default=None, type=float, metavar="SECONDS",
                    help="a remote trial still running after this long is cancelled and reported (default 3600)")
    group.addoption("--claims-slurm-partition", "--slurm-partition", dest="slurm_partition", default=None,
                    help="Slurm partition for --claims-executor slurm")
    group.addoption("--claims-baseline", default=None, metavar="FILE",
                    help="claims.json of known verdicts: a claim REFUTED there too (or a REFUTED timing claim) is "
                         "xfail (default: ini claims_baseline)")
    group.addoption("--claims-check-determinism", action="store_true",
                    help="rerun without the cache one seed of every callable arm and the first batch of every "
                         "config; a claim whose numbers change is an ERROR")
    group.addoption("--claims-determinism-tolerance", default=None, type=_tolerance, metavar="TOL",
                    help="relative and absolute tolerance of --claims-check-determinism (default: 1e-06)")
    parser.addini("claims_budget", f"default claim budget: {' | '.join(BUDGETS)}", default="")
    parser.addini("claims_baseline", "default --claims-baseline file (relative to the ini file)", default="")
    group.addoption("--claims-alluredir", default=None, metavar="DIR",
                    help="the claims' Allure results, claims only (default: the claims_alluredir ini option, else "
                         "<rootdir>/reports/allure-results; 'none': no Allure results). --alluredir wins, and "
                         "then allure-pytest writes every test there")
    parser.addini("claims_alluredir", "folder of the claims' Allure results, relative to the ini file "
                                      "('none': no Allure results; default reports/allure-results)", default="")
    parser.addini("claims_strict", "INCONCLUSIVE verdicts fail (as --claims-strict)", type="bool", default=False)


def _tolerance(text: str) -> float:
    import argparse

    from instincts.determinism import check_tolerance

    try:
        return check_tolerance(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give a number from 0 (exact) to below 1, "
                                         "e.g. 1e-6 (relative and absolute)") from None


def _threads(text: str) -> int:
    import argparse

    if not (text.isdigit() and 1 <= int(text) <= 1024):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give a whole number of torch threads from 1 "
                                         "to 1024 (default 1: the numbers then do not depend on -n)")
    return int(text)


def _seed_base(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give an integer from 0 to {2**31 - 1} "
                                         "(the seed_base a claims.json records)")
    return value


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _alluredir(config: pytest.Config) -> Path | None:
    """The claims' Allure folder (where the report is made from), None without Allure results."""
    dirs = config.stash.get(ALLURE_DIRS, None)
    return dirs.final if dirs else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): a statistical claim from the catalogue")
    config.addinivalue_line("markers", "timing: a wall-clock claim; run it alone (-m timing, no -n) for clean numbers")
    from instincts import devices  # torch-free at import

    devices.pin_device_order()  # before the first CUDA call, so that CUDA numbers GPUs as NVML does
    _warn_deprecated_options(config)
    name = config.getoption("budget") or config.getini("claims_budget").strip() or None
    try:
        if name:
            get_budget(name)
        baseline = _baseline(_baseline_path(config))
    except (ValueError, ClaimsFileError) as exc:
        raise pytest.UsageError(str(exc)) from None
    root = config.rootpath
    cache_dir = None if config.getoption("no_claims_cache") else _cache_root(config)
    alluredir = _configure_allure(config)
    config.stash[OPTIONS] = Options(
        budget_name=name, device_request=config.getoption("claims_device"),
        strict=bool(config.getoption("strict_claims") or config.getini("claims_strict")),
        claims_json=Path(config.getoption("claims_json") or root / "reports" / "claims.json"), cache_dir=cache_dir,
        allure=alluredir is not None, seed_base=_run_seed_base(config, baseline),
        known_refuted=None if baseline is None else
        {c.nodeid: c.line or "" for c in baseline.claims if c.verdict == "REFUTED"},
        durations=None if baseline is None else {c.nodeid: c.duration_s for c in baseline.claims if c.duration_s})
    if not _is_worker(config):
        config.pluginmanager.register(Collector(config), "instincts-collector")
        _probe_scheduler(config)
        if config.stash[OPTIONS].durations:
            _one_at_a_time(config)


def _configure_allure(config: pytest.Config) -> Path | None:
    """The claims' Allure folder (``instincts.report.allure_dirs``); the controller publishes the
    claims into it at the end of a staged run, or clears it now when --alluredir was given."""
    from instincts import report

    staging = config.workerinput.get(ALLURE_STAGING) if _is_worker(config) else None
    dirs = config.stash[ALLURE_DIRS] = report.allure_dirs(config, staging)
    if dirs is None or _is_worker(config):
        return dirs.final if dirs else None
    keep = config.getoption("keep_allure_results") or config.getoption("claims_merge")
    if dirs.staging is None:
        if not keep:
            report.clear_results(dirs.final)
    else:
        stage = report.AllureStage(dirs, keep)
        config.pluginmanager.register(stage, "instincts-allure-stage")
        config.add_cleanup(stage.cleanup)
    return dirs.final


def _probe_scheduler(config: pytest.Config) -> None:
    """``--claims-executor dask``: a missing or silent scheduler is a usage error now, not one per claim."""
    if config.getoption("claims_executor") != "dask":
        return
    from instincts import executors

    try:
        executors.make("dask", scheduler=config.getoption("dask_scheduler")).close()
    except InstinctsError as exc:
        raise pytest.UsageError(str(exc)) from None


def _given_args(config: pytest.Config) -> list[str]:
    """The command line's arguments and those the ini file and PYTEST_ADDOPTS add."""
    import os
    import shlex

    extra = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    return [*config.getini("addopts"), *extra, *map(str, config.invocation_params.args)]


def _warn_deprecated_options(config: pytest.Config) -> None:
    """An old option spelling still works, with a warning naming its --claims-* replacement."""
    used = {arg.split("=", 1)[0] for arg in _given_args(config)} & DEPRECATED_OPTIONS.keys()
    for old in sorted(used):
        config.issue_config_time_warning(pytest.PytestDeprecationWarning(
            f"{old} is deprecated and will be removed in the next release: use {DEPRECATED_OPTIONS[old]}"),
            stacklevel=2)


def _baseline_path(config: pytest.Config) -> str | None:
    """--claims-baseline, else the ini's claims_baseline (relative to the ini file's folder)."""
    given = config.getoption("claims_baseline")
    if given:
        return given
    ini = config.getini("claims_baseline").strip()
    if not ini:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return str(base / ini)


def _run_seed_base(config: pytest.Config, baseline: results.ClaimsFile | None) -> int | None:
    """--claims-seed-base, else the baseline's (a gated run replays the baseline's seeds and configs),
    else the controller's draw (passed on to xdist workers)."""
    given = config.getoption("claims_seed_base")
    if given is not None:
        return given
    if _is_worker(config):
        return config.workerinput.get(SEED_BASE)
    recorded = baseline.meta.get("seed_base") if baseline is not None else None
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    import secrets

    return secrets.randbelow(2**31)


def _baseline(path: str | None) -> results.ClaimsFile | None:
    """The --claims-baseline file: its REFUTED claims are findings already reported, not regressions."""
    if not path:
        return None
    try:
        return results.read(Path(path), "baseline")
    except ClaimsFileError as exc:
        raise ClaimsFileError(f"--claims-baseline: {exc}") from None


# -- lazily built state -----------------------------------------------------------------------

def _budget(config: pytest.Config) -> Budget:
    """The run's budget; without --budget it asks torch whether CUDA is present."""
    if BUDGET not in config.stash:
        name = config.stash[OPTIONS].budget_name
        if name is None:
            import torch

            name = default_budget_name(torch.cuda.is_available())
        config.stash[BUDGET] = get_budget(name)
    return config.stash[BUDGET]


def seed_base(config: pytest.Config) -> int:
    """Seeds are ``base + 0..n-1``: 0 on a derandomized budget (CI determinism) unless given,
    else the run's draw, recorded in claims.json so that ``--claims-seed-base`` replays it."""
    options = config.stash[OPTIONS]
    if config.getoption("claims_seed_base") is not None or not _budget(config).derandomize:
        return int(options.seed_base or 0)
    return 0  # smoke: fixed, whatever a baseline recorded (its base is 0 too)


def _load_hypothesis_profile(config: pytest.Config) -> None:
    """Hypothesis follows the budget: examples, no deadline, determinism and shrinking (once a run)."""
    if config.stash.get(PROFILE, False):
        return
    config.stash[PROFILE] = True
    budget = _budget(config)
    from hypothesis import HealthCheck, Phase, settings

    phases = [p for p in Phase if budget.shrink or p not in (Phase.shrink, Phase.explain)]
    # No example database: replaying configs that failed before would make the draws a biased sample
    # (and spend alpha on them); a run is replayed with --claims-seed-base instead.
    kwargs: dict[str, Any] = dict(max_examples=budget.max_examples, deadline=None, phases=phases,
                                  derandomize=budget.derandomize, print_blob=True, database=None,
                                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                         HealthCheck.too_slow, HealthCheck.data_too_large,
                                                         HealthCheck.filter_too_much])
    settings.register_profile(f"instincts-{budget.name}", **kwargs)
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile(f"instincts-{budget.name}")


def _state(config: pytest.Config) -> State:
    """Budget, device, threads and run cache: built on first use, then kept for the session."""
    if STATE in config.stash:
        return config.stash[STATE]
    import torch

    from instincts import devices
    from instincts._version import __version__
    from instincts.cache import RunCache

    options = config.stash[OPTIONS]
    _load_hypothesis_profile(config)
    try:
        device = devices.choose_device(options.device_request, _planned_gpu(config))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    devices.configure_threads()
    if device.type == "cuda" and not getattr(config.option, "numprocesses", None):
        torch.cuda.set_device(device)  # workers and serial runs pin their GPU; an xdist controller trains nothing
    state = State(_budget(config), device, RunCache(options.cache_dir),
                  {"instincts": __version__, "torch": torch.__version__})
    config.stash[STATE] = state
    return state


def _mentions_instincts(path: Path) -> bool:
    """A test module that may hold claims or use the ``experiment`` fixture (read before it is imported)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "instincts" in text or "experiment" in text


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Load the hypothesis profile before a module that uses instincts is imported."""
    if isinstance(collector, pytest.Module) and OPTIONS in collector.config.stash \
            and _mentions_instincts(collector.path):
        _load_hypothesis_profile(collector.config)


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``-k BS-1`` selects a claim by its catalogue id, whatever its test is called; timing claims
    carry the ``timing`` mark, so ``-m timing`` runs them alone and ``-m "not timing"`` in parallel."""
    found = False
    for item in items:
        info = claim_info(item)
        if info is not None:
            found = True
            item.extra_keyword_matches.add(info.id)
            if config.stash.get(ALLURE_DIRS, None):
                from instincts.report import label_claim

                label_claim(item, info)
            if info.timing:
                item.add_marker(pytest.mark.timing)
            _seed_draws(item, config)
    if found:
        _state(config)  # a bad --claims-device is a usage error now, not at the first claim
        _longest_first(items, config.stash[OPTIONS].durations)


def _one_at_a_time(config: pytest.Config) -> None:
    """Claims ordered longest first (``_longest_first``) must go out one by one: xdist's load
    scheduler otherwise hands each worker a first chunk of consecutive items (a quarter of its share),
    and the first worker would get every long claim. ``--maxschedchunk`` given by the user is kept."""
    if getattr(config.option, "dist", "no") == "load" and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def _longest_first(items: list[pytest.Item], durations: dict[str, float] | None) -> None:
    """With a baseline, claims go out longest first (its recorded seconds), then everything else in
    collection order; sent one at a time (``_one_at_a_time``), each goes to whichever worker is free
    (longest-processing-time-first), so the long claims no longer land on one worker's queue."""
    if durations:
        items.sort(key=lambda item: -durations.get(item.nodeid, 0.0))  # stable: unknown ones keep their order


def _seed_draws(item: pytest.Item, config: pytest.Config) -> None:
    """A claim's hypothesis draws follow from its node id and the run's seed base.

    So a run replays from its recorded seed base (``--claims-seed-base``), and on the smoke budget
    (base 0: the node id alone) the draws are fixed. Hypothesis's own derandomization seeds from a
    hash of the test function's source, so editing a claim's body (a comment, a helper call) would
    redraw its configs and flip a gated verdict for no reason about the claim. A seed the user set
    with ``@hypothesis.seed`` is kept.
    """
    fn = getattr(item, "obj", None)
    if not getattr(fn, "is_hypothesis_test", False):
        return
    if not hasattr(fn, "_instincts_user_seed"):  # parametrized items share one function: ask once
        fn._instincts_user_seed = getattr(fn, "_hypothesis_internal_use_seed", None) is not None
    if fn._instincts_user_seed:
        return
    base = seed_base(config)
    key = item.nodeid if base == 0 else f"{item.nodeid}@{base}"
    item.stash[DRAW_SEED] = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    fn._hypothesis_internal_use_seed = item.stash[DRAW_SEED]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tests that use torch without a claim get the same per-worker thread count as claims."""
    if "torch" in sys.modules:
        from instincts import devices

        devices.configure_threads()


# -- rerun plugins ----------------------------------------------------------------------------

RERUN_PLUGINS = ("rerunfailures", "flaky")  # pytest-rerunfailures and flaky, by their pytest11 names
NOT_RERUN = pytest.StashKey[bool]()


def rerun_plugins(config: pytest.Config) -> list[str]:
    """The rerun plugins active in this run."""
    return [name for name in RERUN_PLUGINS if config.pluginmanager.has_plugin(name)]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A claim runs once, whatever a rerun plugin asks (``--reruns``, ``--force-reruns``, ``--force-flaky``,
    a ``flaky`` mark): rerunning a REFUTED claim until it passes would be p-hacking. The claim gets
    pytest's own protocol here, before the rerun plugins' protocols could take it."""
    if claim_info(item) is None or not rerun_plugins(item.config):
        return None
    from _pytest.runner import runtestprotocol

    item.config.stash[NOT_RERUN] = True
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


# -- devices under xdist ----------------------------------------------------------------------

def _planned_gpu(config: pytest.Config) -> int | None:
    """This process's GPU: a worker's from the controller's plan, a serial run's the freest one."""
    from instincts import devices

    if _is_worker(config):
        return config.workerinput.get(PLANNED_GPU)
    if config.getoption("claims_device") in AUTO_DEVICES:
        plan = devices.plan_cuda(1)
        return plan[0] if plan else None
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller, once per worker: its GPU from one NVML plan, made before any worker holds memory.

    NVML alone decides (no torch in the controller); without NVIDIA GPUs there is no plan and each
    worker picks round robin."""
    config = node.config
    if OPTIONS in config.stash:
        node.workerinput[SEED_BASE] = config.stash[OPTIONS].seed_base
    if config.getoption("claims_executor") == "dask-local":  # one cluster, every worker its client
        node.workerinput[DASK_ADDRESS] = _local_cluster(config)
    dirs = config.stash.get(ALLURE_DIRS, None)
    if dirs is not None and dirs.staging is not None:
        node.workerinput[ALLURE_STAGING] = str(dirs.staging)
    if config.getoption("claims_device") not in AUTO_DEVICES:
        return
    from instincts import devices

    if GPU_PLAN not in config.stash:
        config.stash[GPU_PLAN] = devices.plan_cuda(int(node.workerinput["workercount"]))
    plan = config.stash[GPU_PLAN]
    index = devices.worker_index(str(node.workerinput["workerid"]))
    if plan and index < len(plan):
        node.workerinput[PLANNED_GPU] = plan[index]


# -- fixtures ---------------------------------------------------------------------------------

def _examples(item: pytest.Item) -> int:
    """The examples a claim plans: hypothesis's ``max_examples`` plus its explicit ``@example`` decorators."""
    fn = getattr(item, "obj", None)
    if not getattr(fn, "is_hypothesis_test", False):
        return 1
    inner = getattr(getattr(fn, "hypothesis", None), "inner_test", fn)
    explicit = getattr(inner, "hypothesis_explicit_examples", None) or getattr(fn, "hypothesis_explicit_examples", ())
    return fn._hypothesis_internal_use_settings.max_examples + len(explicit)


def _executor(config: pytest.Config) -> Executor:
    """The run's executor (``--claims-executor``), started on first use and closed at the end.

    Under xdist with ``dask-local`` the controller starts one LocalCluster and each worker is a
    client of it (``pytest_configure_node``), so ``-n`` workers share the cluster's processes."""
    if EXECUTOR in config.stash:
        return config.stash[EXECUTOR]
    kind, scheduler = config.getoption("claims_executor"), config.getoption("dask_scheduler")
    if _is_worker(config) and config.workerinput.get(DASK_ADDRESS):
        kind, scheduler = "dask", config.workerinput[DASK_ADDRESS]
    return _start(config, kind, scheduler=scheduler, gpu=_state(config).device.type == "cuda",
                  folder=_cache_root(config) / "submitit", partition=config.getoption("slurm_partition"))


def _local_cluster(config: pytest.Config) -> str:
    """The controller's LocalCluster for ``dask-local`` under xdist (no torch here): its scheduler's address."""
    executor = config.stash[EXECUTOR] if EXECUTOR in config.stash else _start(config, "dask-local")
    return executor.address  # type: ignore[attr-defined]


def _start(config: pytest.Config, kind: str, **kwargs: Any) -> Executor:
    """Start an executor with the run's worker count and trial timeout; keep it, close it at the end."""
    from instincts import executors

    try:
        executor = executors.make(kind, workers=config.getoption("dask_workers"),
                                  trial_timeout=config.getoption("claims_trial_timeout"), **kwargs)
    except InstinctsError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[EXECUTOR] = executor
    config.add_cleanup(executor.close)
    return executor


def _cache_root(config: pytest.Config) -> Path:
    return Path(config.getoption("claims_cache_dir") or config.rootpath / ".instincts-cache")


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> Experiment:
    """Runs arms over the budget's paired seeds and judges pre-registered expectations."""
    from instincts import devices
    from instincts.experiment import Experiment

    state = _state(request.config)
    info = claim_info(request.node)
    exp = Experiment(state.budget, state.device, state.cache, examples=_examples(request.node),
                     allure=request.config.stash[OPTIONS].allure, comparisons=info.comparisons if info else 1,
                     seed_base=seed_base(request.config), executor=_executor(request.config))
    request.node.stash[EXPERIMENT] = exp
    trial = request.config.getoption("claims_threads") or devices.TRIAL_THREADS
    devices.configure_threads(None if info is not None and info.timing else trial)  # timing: the cores
    return exp


@pytest.fixture
def budget(request: pytest.FixtureRequest) -> Budget:
    """The run's budget profile (seeds, examples, epochs, data scale)."""
    return _state(request.config).budget


# -- verdicts become outcomes -----------------------------------------------------------------

def _info(item: pytest.Item) -> ClaimInfo | None:
    info = claim_info(item)
    if info is None and EXPERIMENT in item.stash and item.stash[EXPERIMENT].records:
        info = ClaimInfo(id=item.name, statement=item.name)
    return info


def _xfail_reason(options: Options, nodeid: str, info: ClaimInfo) -> str | None:
    """Why a REFUTED verdict is reported as xfail when gating on a baseline: a refutation the baseline
    records is a finding on record; a timing claim's verdict belongs to the machine and its load."""
    if options.known_refuted is None:
        return None
    if nodeid in options.known_refuted:
        return "known finding, REFUTED in the baseline too"
    if info.timing:
        return "timing claim, machine-dependent: reported, not gated"
    return None


def _result(item: pytest.Item, info: ClaimInfo, exp: Experiment, exc: BaseException | None,
            seconds: float) -> ClaimResult | None:
    """The claim's record after its test ran, or None when there is nothing to record (a skip)."""
    state, options = _state(item.config), item.config.stash[OPTIONS]
    where = (info, item.nodeid)
    if exp.records and isinstance(exc, AssertionError) and exp.outcome.value == "SUPPORTED":
        # every verdict holds, so the failed assert is about something else: not a SUPPORTED claim
        return ClaimResult.for_error(*where, f"verdicts SUPPORTED, but an assertion failed: {exc!r}",
                                     state.budget.name, str(state.device), seconds)
    if exp.records and (exc is None or isinstance(exc, AssertionError)):
        result = ClaimResult.for_records(*where, exp.records, exp.outcome.value, state.budget.name,
                                         str(state.device), seconds, state.versions).with_(
            alpha_spent=exp.alpha_spent, comparisons_planned=exp.ledger.planned, seed_base=exp.seed_base)
        why = _xfail_reason(options, item.nodeid, info) if result.verdict == "REFUTED" else None
        if why:
            result = result.with_(known_finding=True, xfail_reason=why)
        return result
    if exc is not None and not isinstance(exc, pytest.skip.Exception):
        return ClaimResult.for_error(*where, repr(exc), state.budget.name, str(state.device), seconds)
    return None


def _every_example_runs(item: pytest.Item) -> Callable[[], None]:
    """Let a claim's planned examples all run: a verdict that fails its ``assert`` in one example
    is kept (the first such) and raised after the last, instead of stopping hypothesis at once.

    Otherwise a claim whose first config came out INCONCLUSIVE would never try its second, and the
    configs that ran would not span the strategy. Other errors still stop the test. Returns the undo.
    """
    handle = getattr(item.obj, "hypothesis", None)
    exp = item.stash.get(EXPERIMENT, None)
    if handle is None or exp is None or claim_info(item) is None:
        return lambda: None
    inner = handle.inner_test

    @functools.wraps(inner)
    def run_example(*args: Any, **kwargs: Any) -> None:
        before = {id(r.verdict) for r in exp.records}
        try:
            inner(*args, **kwargs)
        except AssertionError as exc:
            if not any(r.verdict.tested_false for r in exp.records if id(r.verdict) not in before):
                raise  # not a verdict's assert: a real failure
            item.stash.setdefault(DEFERRED, exc)

    handle.inner_test = run_example

    def undo() -> None:
        handle.inner_test = inner

    return undo


NO_COMPARISON = "claim made no comparison"


def _error(item: pytest.Item, info: ClaimInfo, message: str, seconds: float) -> ClaimResult:
    """An ERROR record whose message also becomes the test's failure (``PLUGIN_ERROR``)."""
    state = _state(item.config)
    item.stash[PLUGIN_ERROR] = f"claim {info.id} ERROR — {message}"
    return ClaimResult.for_error(info, item.nodeid, message, state.budget.name, str(state.device), seconds)


def _no_comparison(item: pytest.Item, info: ClaimInfo, seconds: float) -> None:
    """A @claim test that ran to its end without judging anything is an ERROR, not a silent pass."""
    if claim_info(item) is None:
        return
    item.stash[RESULT] = _error(item, info, f"{NO_COMPARISON}: the test never called experiment.compare, trend, "
                                "exact or predicts, so there is no verdict; judge at least one expectation",
                                seconds)


def _checked_determinism(item: pytest.Item, info: ClaimInfo, exp: Experiment, result: ClaimResult) -> ClaimResult:
    """--claims-check-determinism: ``result``, or an ERROR when an arm's numbers change for the same seed."""
    from instincts import determinism

    tolerance = item.config.getoption("claims_determinism_tolerance")
    tolerance = determinism.DEFAULT_TOLERANCE if tolerance is None else tolerance
    seconds = result.duration_s or 0.0
    try:
        mismatches = determinism.check(exp.trials, exp.context, tolerance)
    except Exception as exc:  # the rerun itself failed: the claim's numbers cannot be vouched for
        return _error(item, info, f"the determinism rerun (--claims-check-determinism) raised {exc!r}", seconds)
    if not mismatches:
        return result
    return _error(item, info, determinism.report(info.id, mismatches, tolerance), seconds)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    for key in (RESULT, PLUGIN_ERROR):  # a test run again (the same item) starts clean
        if key in item.stash:
            del item.stash[key]
    if DRAW_SEED in item.stash:  # each parametrized item draws from its own node id
        item.obj._hypothesis_internal_use_seed = item.stash[DRAW_SEED]
    undo = _every_example_runs(item)
    start = time.perf_counter()
    try:
        outcome = yield
    finally:
        undo()
    deferred = item.stash.get(DEFERRED, None)
    if deferred is not None and outcome.exception is None:
        outcome.force_exception(deferred)
    exp = item.stash.get(EXPERIMENT, None)
    info = _info(item)
    if info is None:
        return
    seconds = time.perf_counter() - start
    if (exp is None or not exp.records) and outcome.exception is None:
        _no_comparison(item, info, seconds)
        return
    if exp is None:
        return
    result = _result(item, info, exp, outcome.exception, seconds)
    if result is None:
        return
    if result.verdict in results.RAN and item.config.getoption("claims_check_determinism") and not info.timing:
        result = _checked_determinism(item, info, exp, result)
    workers = int(getattr(item.config, "workerinput", {}).get("workercount", 1))
    if info.timing and workers > 1:
        result = result.with_(note=f"timed beside {workers - 1} other xdist worker(s); for clean numbers run "
                                   "timing claims alone: pytest claims -m timing")
    if result.parts is not None and item.config.stash[OPTIONS].allure:
        from instincts.report import attach_allure

        attach_allure(info, exp.records, result, labelled=claim_info(item) is not None)
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
        result = ClaimResult.for_skip(info, item.nodeid, reason, _budget(item.config).name)
    if result is None:
        return
    report.user_properties.append((PROPERTY, json.dumps(result.to_dict())))
    strict = item.config.stash[OPTIONS].strict
    line = result.line or ""
    if PLUGIN_ERROR in item.stash and call.when == "call":
        report.outcome = "failed"
        report.longrepr = item.stash[PLUGIN_ERROR]
    elif result.known_finding:
        report.outcome = "skipped"  # pytest's xfail
        report.wasxfail = f"{result.xfail_reason} — {line}"
    elif result.verdict == "REFUTED" and report.passed:
        report.outcome = "failed"
        report.longrepr = f"claim {result.id} REFUTED — {line}"
    elif result.verdict == "INCONCLUSIVE":
        exp = item.stash.get(EXPERIMENT, None)
        asserted = call.excinfo is not None and call.excinfo.errisinstance(AssertionError) \
            and exp is not None and exp.asserted_unsupported
        if strict and report.passed:
            report.outcome = "failed"
            report.longrepr = f"claim {result.id} INCONCLUSIVE (--claims-strict) — {line}"
        elif not strict and (report.passed or asserted):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"INCONCLUSIVE — {line}")


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if report.when == "call" and report.skipped:
        for name, value in report.user_properties:
            if name == PROPERTY and json.loads(value)["verdict"] == "INCONCLUSIVE":
                return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


# -- claims.json and the summary --------------------------------------------------------------

class Collector:
    """Controller-side: gathers claim results from every worker's reports, writes claims.json."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.by_nodeid: dict[str, ClaimResult] = {}
        self.fdr_line = ""

    @property
    def results(self) -> list[ClaimResult]:
        """One record per claim: a test reported twice (a rerun plugin, a repeated item) keeps its last."""
        return list(self.by_nodeid.values())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in getattr(report, "user_properties", ()):
            if name == PROPERTY:
                result = ClaimResult.from_dict(json.loads(value))
                self.by_nodeid.pop(result.nodeid, None)  # the last report of a nodeid wins, in its order
                self.by_nodeid[result.nodeid] = result

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.results:
            return
        from instincts import devices, fdr
        from instincts.report import show_refutations_as_failed, write_environment

        state, options = _state(self.config), self.config.stash[OPTIONS]
        facts = {**devices.environment(), "budget": state.budget.name, "device": str(state.device)}
        claims = self.results
        if self.config.getoption("claims_merge"):
            try:
                claims = results.merged(options.claims_json, claims, state.budget.name)
            except ClaimsFileError as exc:
                raise pytest.UsageError(f"--claims-merge: {exc}") from None
        claims = fdr.annotate(claims)
        self.fdr_line = fdr.summary(claims)
        results.write(options.claims_json, claims,
                      {"budget": state.budget.name, "device": str(state.device), "environment": facts,
                       "seed_base": seed_base(self.config), "false_discovery": self.fdr_line,
                       "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        facts = {**facts, "seed_base": str(seed_base(self.config)), "false_discovery": self.fdr_line}
        alluredir = _alluredir(self.config)
        if alluredir:
            write_environment(alluredir, facts)
            show_refutations_as_failed(alluredir, claims)

    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config) -> None:
        if not self.results:
            return
        state, options = _state(config), config.stash[OPTIONS]
        tr = terminalreporter
        tr.write_sep("=", f"claims ({state.budget.name} budget, {state.device})")
        counts: dict[str, int] = {}
        for line in summary_lines(self.results):
            tr.write_line(line)
        for r in self.results:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        tr.write_line("  ".join(f"{k.lower()}: {v}" for k, v in sorted(counts.items())))
        if self.fdr_line:
            tr.write_line(self.fdr_line)
        tr.write_line(f"seed base: {seed_base(config)} (replay with --claims-seed-base {seed_base(config)})")
        from instincts import runtime

        workers = getattr(config.option, "numprocesses", None)
        tr.write_line(runtime.summary(self.results, workers if isinstance(workers, int) and workers > 1 else 1))
        if config.stash.get(NOT_RERUN, False):
            tr.write_line(f"claims ran once: {' and '.join(rerun_plugins(config))} do not rerun claims (retrying a "
                          "REFUTED verdict until it passes would be p-hacking)")
        if any(r.note for r in self.results):
            tr.write_line("note: timing claims ran beside other xdist workers; run them alone with "
                          "`pytest claims -m timing` (no -n) for clean numbers")
        tr.write_line(f"claims.json: {options.claims_json}")
        alluredir = _alluredir(config)
        if alluredir:
            tr.write_line(f"allure results: {alluredir}")
        elif not hasattr(config.option, "allure_report_dir"):
            from instincts.report import ALLURE_MISSING

            tr.write_line(f"note: {ALLURE_MISSING}")


def summary_lines(claims: list[ClaimResult]) -> list[str]:
    """Two lines a claim: id, verdict, time and statement in columns as wide as the longest id; then its detail."""
    width = max([8, *(len(r.id) for r in claims)])
    indent = width + 23  # under the statement
    lines = []
    for r in sorted(claims, key=lambda c: (c.id, c.nodeid)):
        detail = r.line or r.reason or r.error or ""
        if r.known_finding:
            detail = f"(known finding) {detail}"
        secs = f"{r.duration_s:6.1f}s" if r.duration_s is not None else " " * 7
        statement = r.statement if len(r.statement) <= 100 else r.statement[:99] + "…"
        lines.append(f"{r.id:<{width}} {r.verdict:<12} {secs}  {'[check] ' if r.check else ''}{statement}")
        first = detail.splitlines()[0] if detail else ""
        lines.append(f"{'':<{indent}}{first}"[:indent + 220])
    return lines
