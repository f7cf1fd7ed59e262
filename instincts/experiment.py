"""The ``experiment`` fixture's object: runs arms over paired seeds and judges expectations.

Every comparison leaves a ``Record`` (per-seed data, arms, verdict, the arms' training facts)
that the plugin turns into claims.json and the Allure report; ``attach`` adds a claim's own
figures and tables to that report without the claim importing allure.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from instincts import arms as arms_mod
from instincts import executors
from instincts._version import __version__
from instincts.alpha import Ledger, Share
from instincts.budget import Budget
from instincts.cache import RunCache
from instincts.checks import Requires, as_checks, failure_reason
from instincts.errors import InvalidArgument
from instincts.expect import Exact, Expectation, Increasing
from instincts.facts import TRAINING_FACTS
from instincts.sequential import Design, max_looks, run_looks
from instincts.verdict import INCONCLUSIVE, Outcome, Verdict

SPREAD_FACTS = ("epochs_run", "cap_hit")  # facts whose range over the seeds matters, not only the mean
Runs = dict[str, list[arms_mod.Metrics]]  # arm label -> the metrics of each seed it ran in a comparison


@dataclass
class RunContext:
    """What an arm may use: the budget and the device (a config's ``run`` and a callable taking
    ``(seed, context)``)."""

    budget: Budget
    device: torch.device

    @property
    def epochs(self) -> int:
        return self.budget.epochs

    @property
    def data_scale(self) -> float:
        return self.budget.data_scale


def train_config(arm: Any, seeds: list[int], budget: Budget, device: torch.device | str) -> list[arms_mod.Metrics]:
    """One task: a config trains a batch of seeds (on a remote worker ``device`` is the type, e.g.
    ``"cuda"``, and the worker's own device of that type is used)."""
    return arm.run(seeds, RunContext(budget, torch.device(device)))


@dataclass
class Record:
    """One judged comparison: the per-seed data, the arms and the verdict."""

    kind: str  # "compare", "trend", "predicts" or "exact"
    metric: str
    seeds: list[int]
    labels: list[str]  # arm or level names, one per column of ``values``
    values: list[list[float]]  # seeds x columns
    arms: list[dict[str, Any]]
    verdict: Verdict
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    facts: dict[str, dict[str, float]] = field(default_factory=dict)  # arm label -> training facts
    alpha_refute: float | None = None  # the refuting test's level: this comparison's share of alpha
    slot: str = ""  # "planned" or "extra" (instincts.alpha)
    checks: list[dict[str, Any]] = field(default_factory=list)  # manipulation checks (instincts.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "seeds": self.seeds, "labels": self.labels,
                "values": self.values, "arms": self.arms, "config": self.config,
                "seconds": round(self.seconds, 3), "facts": self.facts, "alpha_refute": self.alpha_refute,
                "slot": self.slot, "checks": self.checks, "verdict": self.verdict.to_dict()}


def training_facts(results: Sequence[arms_mod.Metrics]) -> dict[str, float]:
    """The trainer's facts (``instincts.facts``) over an arm's seeds: the mean of each, and the
    range of ``SPREAD_FACTS`` (did any seed hit the cap? how many epochs at least and at most?)."""
    out: dict[str, float] = {}
    for name in TRAINING_FACTS:
        values = [m[name] for m in results if name in m]
        if not values:
            continue
        out[name] = float(np.mean(values))
        if name in SPREAD_FACTS:
            out[f"{name}_min"], out[f"{name}_max"] = float(min(values)), float(max(values))
    return out


def default_unit(metric: str) -> str:
    """Accuracy-like metrics in [0, 1] read best as percentage points."""
    return "pp" if any(w in metric for w in ("accuracy", "acc", "error", "err_rate")) else ""


class Experiment:
    """Runs arms over the budget's seeds (paired: the same seed list for every arm) and judges."""

    def __init__(self, budget: Budget, device: torch.device, cache: RunCache, examples: int = 1,
                 allure: bool = False, comparisons: int = 1, seed_base: int = 0,
                 executor: executors.Executor | None = None):
        self.budget = budget
        self.device = device
        self.cache = cache
        self.ledger = Ledger(max(1, examples), comparisons)  # how the claim's alpha is spent
        self.seed_base = seed_base
        self.allure = allure  # attachments go to the Allure report (the run has --alluredir)
        self.context = RunContext(budget, device)
        self.executor = executors.InProcess() if executor is None else executor  # where trials run
        self.records: list[Record] = []
        # arm name -> (arm, the seeds of its first training batch, their metrics): what
        # --claims-check-determinism reruns (instincts.determinism)
        self.trials: dict[str, tuple[Any, list[int], list[arms_mod.Metrics]]] = {}

    @property
    def examples(self) -> int:
        return self.ledger.examples

    # -- running ---------------------------------------------------------------------------
    def seeds(self, n: int | None = None) -> list[int]:
        """The paired seeds: ``seed_base + 0 .. n-1`` (the budget's ``seeds`` by default)."""
        n = self.budget.seeds if n is None else n
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise InvalidArgument(f"seeds={n!r} is not allowed: a paired test needs an integer >= 2")
        return list(range(self.seed_base, self.seed_base + n))

    def run(self, arm: Any, seeds: Sequence[int], name: str = "arm") -> list[arms_mod.Metrics]:
        """Metrics for each seed, from the cache where present; missing seeds run in one batch."""
        return self._submit(arm, seeds, name)()

    def _submit(self, arm: Any, seeds: Sequence[int], name: str,
                label: str | None = None) -> Callable[[], list[arms_mod.Metrics]]:
        """Send the arm's missing seeds to the executor (one task for a config's batch, one per seed
        for a callable) and return the wait for them: callers submit every arm of a look before
        they wait, so on a cluster the arms train side by side. Only this process touches the cache.

        In process, everything (cache lookup included) happens at the wait, in order, as a plain
        serial run: arm B that is arm A finds A's seeds in the cache."""
        if not self.executor.remote:
            return lambda: self._dispatch(arm, seeds, name, label)()
        return self._dispatch(arm, seeds, name, label)

    def _dispatch(self, arm: Any, seeds: Sequence[int], name: str,
                  label: str | None) -> Callable[[], list[arms_mod.Metrics]]:
        arms_mod.check_arm(arm, name)
        ident = arms_mod.identity(arm)
        keys = [None if ident is None else {"arm": ident, "seed": s, "budget": self.budget.name,
                                            "device": self.device.type, "engine": __version__}
                for s in seeds]
        results: list[arms_mod.Metrics | None] = [self.cache.get(k) if k else None for k in keys]
        missing = [i for i, r in enumerate(results) if r is None]
        todo = [seeds[i] for i in missing]
        remote = self.executor.remote
        shown = name if label in (None, name) else f"{name} ({label})"  # arm_a (b=16): for error messages
        device = torch.device(self.device.type) if remote else self.device  # a worker uses its own of this type
        config = arms_mod.is_config(arm)
        if not todo:
            tasks = []
        elif config:  # one task trains the batch
            tasks = [(todo, self.executor.submit(train_config, arm, todo, self.budget, device))]
        else:
            context = RunContext(self.budget, device)
            tasks = [([s], self.executor.submit(arms_mod.run_callable, arm, s, context)) for s in todo]

        def wait() -> list[arms_mod.Metrics]:
            fresh: list[arms_mod.Metrics] = []
            for batch, task in tasks:
                out = executors.collect(self.executor, task, shown, batch)
                out = list(out) if config else [out]
                if len(out) != len(batch):
                    raise InvalidArgument(f"{type(arm).__name__}.run returned {len(out)} results for "
                                          f"{len(batch)} seeds")
                fresh.extend({str(k): float(v) for k, v in m.items()} if remote else m for m in out)
            for i, metrics in zip(missing, fresh):
                results[i] = metrics
                if keys[i] is not None and all(math.isfinite(v) for v in metrics.values()):
                    self.cache.put(keys[i], metrics)
            if seeds and name not in self.trials:
                # a config trains its missing seeds as one batch, and a vectorised trainer's numbers may
                # follow the batch (its size picks the strategy and kernels): the batch is what reruns.
                # All cached: the seeds asked for, which is the batch of the run that cached them.
                batch = (missing or list(range(len(seeds)))) if config else [0]
                self.trials[name] = (arm, [seeds[i] for i in batch], [results[i] for i in batch])  # type: ignore[misc]
            return results  # type: ignore[return-value]

        return wait

    def values(self, arm: Any, metric: str, seeds: Sequence[int], name: str = "arm") -> np.ndarray:
        """One metric per seed, with clear errors for a missing or non-finite metric."""
        return _pick(self.run(arm, seeds, name), metric, seeds, name)

    def _column(self, runs: Runs, label: str, arm: Any, metric: str, seeds: Sequence[int],
                name: str) -> Callable[[], np.ndarray]:
        """Submit ``values``; the wait keeps each seed's metrics under ``label`` for the training facts."""
        wait = self._submit(arm, seeds, name, label)

        def column() -> np.ndarray:
            results = wait()
            runs.setdefault(label, []).extend(results)
            return _pick(results, metric, seeds, name)

        return column

    # -- judging ---------------------------------------------------------------------------
    def design(self, expect: Expectation, n: int, looks: int | None = None) -> Design:
        """The group-sequential plan for ``n`` seeds: ``looks`` (default: the budget's) equal looks.

        The budget's looks shrink when ``n`` is too small for them; an explicit ``looks=`` that
        does not fit is an error. Both sides spend the expectation's alpha until ``_judged`` sets
        the refuting side's share (``instincts.alpha``).
        """
        if looks is None:
            looks = max_looks(n, self.budget.looks)
        return Design.equally_spaced(n, looks, expect.alpha)

    def _judged(self, kind: str, metric: str, expect: Expectation, seeds: list[int], arms: list[dict[str, Any]],
                config: Mapping[str, Any] | None, looks: int | None, collect: Callable[[Sequence[int]], np.ndarray],
                judge: Callable[[np.ndarray, float, float], Verdict]) -> tuple[np.ndarray, Verdict, Share]:
        """Run the looks at this comparison's share of the claim's alpha (``instincts.alpha``).

        The share is fixed by the first look's data, before anything is judged, so that a replay
        of the same comparison gets the same alpha. An example beyond the claim's plan (hypothesis
        shrinking or explaining) is rejected before it trains.
        """
        signature = (kind, metric, repr(arms), repr(sorted(dict(config or {}).items())), tuple(seeds))
        self.ledger.enter(_hypothesis_example())
        if not self.ledger.may_train(signature):
            from hypothesis import reject

            reject()
        design = self.design(expect, len(seeds), looks)
        first = np.asarray(collect(seeds[:design.looks[0]]), dtype=float)
        share = self.ledger.share(signature, (signature, first.tobytes()))
        design = replace(design, alpha_refute=share.weight * expect.alpha)
        pending = [first]  # run_looks asks for the first look's seeds first: they are in hand

        def resume(new: Sequence[int]) -> np.ndarray:
            return pending.pop() if pending else collect(new)

        matrix, verdict = run_looks(design, seeds, resume, judge)
        return matrix, verdict, share

    def compare(self, arm_a: Any, arm_b: Any, *, metric: str, expect: Expectation,
                seeds: int | None = None, unit: str | None = None,
                config: Mapping[str, Any] | None = None, labels: tuple[str, str] = ("A", "B"),
                looks: int | None = None, requires: Requires | Sequence[Requires] | None = None) -> Verdict:
        """Judge ``expect`` on the paired per-seed differences metric(A) - metric(B).

        With more than one look (the budget's ``looks`` or ``looks=``) seeds are added look by
        look and the comparison stops at the first conclusive look (``instincts.sequential``).
        ``requires`` are manipulation checks on the arms (``instincts.checks``): a failed one
        makes the verdict INCONCLUSIVE with its reason.
        """
        checks = as_checks(requires)
        _check_expectation(expect, "differences")
        names = _check_labels(labels)
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(metric) if unit is None else unit
        runs: Runs = {}

        def collect(new: Sequence[int]) -> np.ndarray:
            columns = [self._column(runs, names[0], arm_a, metric, new, "arm_a"),
                       self._column(runs, names[1], arm_b, metric, new, "arm_b")]  # both in flight
            return np.stack([column() for column in columns], axis=1)

        arms = [arms_mod.describe(arm_a), arms_mod.describe(arm_b)]
        matrix, verdict, share = self._judged("compare", metric, expect, s, arms, config, looks, collect,
                                              _judge_differences(expect, unit))
        return self._record("compare", metric, s[:len(matrix)], list(names), matrix, arms,
                            replace(verdict, labels=names), config, start, runs, share, checks)

    def trend(self, arms_by_level: Mapping[Any, Any] | Sequence[tuple[Any, Any]], *, metric: str,
              expect: Expectation | None = None, seeds: int | None = None, unit: str | None = None,
              config: Mapping[str, Any] | None = None, looks: int | None = None,
              requires: Requires | Sequence[Requires] | None = None) -> Verdict:
        """Judge a trend of the metric over ordered levels (keys in order: low to high).

        Seeds are added in looks, and ``requires`` checked (levels by ``str(level)``), as in ``compare``.
        """
        checks = as_checks(requires)
        expect = Increasing() if expect is None else expect
        _check_expectation(expect, "levels")
        pairs = list(arms_by_level.items()) if isinstance(arms_by_level, Mapping) else list(arms_by_level)
        if len(pairs) < 2:
            raise InvalidArgument(f"a trend needs at least 2 levels, got {len(pairs)}")
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(metric) if unit is None else unit
        runs: Runs = {}

        def collect(new: Sequence[int]) -> np.ndarray:
            columns = [self._column(runs, str(level), arm, metric, new, f"level {level!r}")
                       for level, arm in pairs]  # every level in flight before the first wait
            return np.stack([column() for column in columns], axis=1)

        arms = [arms_mod.describe(arm) for _, arm in pairs]

        def judge(m: np.ndarray, level: float, level_refute: float) -> Verdict:
            return expect.judge(m, alpha=level, unit=unit, alpha_refute=level_refute)

        matrix, verdict, share = self._judged("trend", metric, expect, s, arms, config, looks, collect, judge)
        return self._record("trend", metric, s[:len(matrix)], [str(level) for level, _ in pairs], matrix,
                            arms, verdict, config, start, runs, share, checks)

    def exact(self, arm: Callable[[int], Any] | Any, *, metric: str = "value", expect: Exact | None = None,
              seeds: int | None = None, config: Mapping[str, Any] | None = None) -> Verdict:
        """Judge a deterministic property: the arm returns an error per seed, all must be <= tol."""
        expect = Exact() if expect is None else expect
        _check_expectation(expect, "differences", exact=True)
        start = time.perf_counter()
        s = self.seeds(seeds)
        runs: Runs = {}
        errors = self._column(runs, "arm", arm, metric, s, "arm")()
        verdict = expect.judge(errors, unit="")
        return self._record("exact", metric, s, ["error"], errors[:, None], [arms_mod.describe(arm)],
                            verdict, config, start, runs)

    def predicts(self, arm: Any, *, observed: str, predicted: str, expect: Expectation,
                 seeds: int | None = None, unit: str | None = None,
                 config: Mapping[str, Any] | None = None, looks: int | None = None,
                 requires: Requires | Sequence[Requires] | None = None) -> Verdict:
        """Judge ``expect`` on per-seed ``observed - predicted``, two metrics of one arm (``requires``
        checks it under the label "arm").

        For laws fitted per seed (a learning curve, a scaling rule): the arm trains, fits and
        predicts once per seed and returns both numbers, so nothing is trained twice.
        ``expect`` is usually ``Predicts(tol)``; ``Superior`` says the law under-predicts.
        """
        _check_expectation(expect, "differences")
        checks = as_checks(requires)
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(observed) if unit is None else unit
        runs: Runs = {}

        def collect(new: Sequence[int]) -> np.ndarray:
            results = self.run(arm, new, "arm")
            runs.setdefault("arm", []).extend(results)
            return np.stack([_pick(results, m, new, "arm") for m in (observed, predicted)], axis=1)

        arms = [arms_mod.describe(arm)]
        matrix, verdict, share = self._judged("predicts", observed, expect, s, arms, config, looks, collect,
                                              _judge_differences(expect, unit))
        return self._record("predicts", observed, s[:len(matrix)], [observed, predicted], matrix, arms,
                            verdict, config, start, runs, share, checks)

    def _record(self, kind: str, metric: str, seeds: Sequence[int], labels: list[str], matrix: np.ndarray,
                arms: list[dict[str, Any]], verdict: Verdict, config: Mapping[str, Any] | None, start: float,
                runs: Runs, share: Share | None = None, checks: Sequence[Requires] = ()) -> Verdict:
        facts = {label: f for label, results in runs.items() if (f := training_facts(results))}
        checked = [result for c in checks for result in c.check(runs)]
        reason = failure_reason(checked)
        if reason:  # the arms did not do what the claim assumes: no verdict either way
            verdict = replace(verdict, outcome=INCONCLUSIVE, reason=reason,
                              details={**verdict.details, "unchecked_outcome": verdict.outcome.value})
        record = Record(kind=kind, metric=metric, seeds=list(seeds), labels=labels,
                        values=np.asarray(matrix).tolist(), arms=arms, verdict=verdict,
                        config=dict(config or {}), seconds=time.perf_counter() - start, facts=facts,
                        alpha_refute=None if share is None else share.weight * verdict.expectation.alpha,
                        slot="" if share is None else share.slot, checks=checked)
        # hypothesis replays a failing example once more: keep one record per identical comparison.
        # The data belong to the key: callables describe by name only, so two examples (or a loop)
        # without config= look alike, and dropping one of them would hide its verdict.
        self.records = [r for r in self.records if (r.kind, r.metric, r.arms, r.config, r.seeds, r.values) !=
                        (kind, metric, arms, record.config, record.seeds, record.values)]
        self.records.append(record)
        return verdict

    @property
    def alpha_spent(self) -> float:
        """The refuting tests' alphas summed: the chance bound on a false REFUTED for this claim."""
        return float(sum(r.alpha_refute or 0.0 for r in self.records))

    @property
    def outcome(self) -> Outcome | None:
        """The claim's verdict over every comparison so far: it holds only if each part holds."""
        if not self.records:
            return None
        return Outcome.worst([r.verdict.outcome for r in self.records])

    @property
    def asserted_unsupported(self) -> bool:
        """A verdict that is not SUPPORTED was truth-tested (``assert verdict``) and came out False:
        an AssertionError then is the verdict's, not some other check's."""
        return any(r.verdict.tested_false for r in self.records)

    # -- reporting -------------------------------------------------------------------------
    def attach(self, name: str, obj: Any, kind: str | None = None) -> None:
        """Attach ``obj`` to the claim's Allure report: a matplotlib Figure (PNG), CSV rows (a list of
        sequences or dicts), a str (text, or ``kind`` such as "csv", "tsv", "html", "svg"), a dict
        (JSON) or bytes with their ``kind`` ("png", "svg", "pdf", ...). Without Allure it checks the
        arguments and does nothing, so claims never import allure themselves."""
        from instincts.report import attach

        attach(name, obj, kind, active=self.allure)


def _judge_differences(expect: Expectation, unit: str) -> Callable[[np.ndarray, float, float], Verdict]:
    """A look's judge for two-column data: the expectation on column 0 - column 1."""
    def judge(m: np.ndarray, level: float, level_refute: float) -> Verdict:
        return expect.judge(m[:, 0] - m[:, 1], alpha=level, unit=unit, alpha_refute=level_refute)

    return judge


def _hypothesis_example() -> object:
    """The current hypothesis example (its build context), or None outside a hypothesis test."""
    if "hypothesis" not in sys.modules:
        return None
    from hypothesis import currently_in_test_context
    from hypothesis.control import current_build_context

    return current_build_context() if currently_in_test_context() else None


def _check_labels(labels: Sequence[str]) -> tuple[str, str]:
    if isinstance(labels, str) or len(labels) != 2:
        raise InvalidArgument(f"labels={labels!r} is not allowed: give two names, arm A's and arm B's, "
                              "e.g. labels=('b=16', 'b=512')")
    return str(labels[0]), str(labels[1])


def _check_expectation(expect: object, data: str, exact: bool = False) -> None:
    if not isinstance(expect, Expectation):
        raise InvalidArgument(f"expect={expect!r} is not an expectation: use Superior, NonInferior, Equivalent, "
                              "Predicts, Increasing, Decreasing or Exact from instincts")
    if exact != isinstance(expect, Exact) or (not exact and expect.data != data):
        where = {"differences": "compare()", "levels": "trend()"}[data] if not exact else "exact()"
        raise InvalidArgument(f"expect={expect!r} cannot be judged by {where}: compare() and predicts() take "
                              "Superior, NonInferior, Equivalent or Predicts; trend() takes Increasing or Decreasing; "
                              "exact() takes Exact")


def _pick(results: Sequence[arms_mod.Metrics], metric: str, seeds: Sequence[int], name: str) -> np.ndarray:
    """``metric`` from each seed's results, with clear errors for a missing or non-finite metric."""
    out = []
    for seed, metrics in zip(seeds, results):
        if metric in metrics:
            value = metrics[metric]
        elif set(metrics) == {"value"}:
            value = metrics["value"]
        else:
            raise InvalidArgument(f"{name} returned metrics {sorted(metrics)}, not {metric!r}; "
                                  f"pass one of those as metric=")
        if not math.isfinite(value):
            raise InvalidArgument(f"{name} gave {metric}={value!r} at seed {seed}; metrics must be finite "
                                  "(a diverged run should report its failure as a number, e.g. chance accuracy)")
        out.append(value)
    return np.asarray(out, dtype=float)

