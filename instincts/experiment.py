"""The ``experiment`` fixture's object: runs arms over paired seeds and judges expectations."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from instincts import arms as arms_mod
from instincts.budget import Budget
from instincts.cache import RunCache
from instincts.expect import Exact, Expectation, Increasing
from instincts.sequential import Design, run_looks
from instincts.verdict import Outcome, Verdict

ENGINE_VERSION = "0.1"


@dataclass
class RunContext:
    """What a config's ``run`` may use: the budget and the device."""

    budget: Budget
    device: torch.device


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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "seeds": self.seeds, "labels": self.labels,
                "values": self.values, "arms": self.arms, "config": self.config,
                "seconds": round(self.seconds, 3), "verdict": self.verdict.to_dict()}


def default_unit(metric: str) -> str:
    """Accuracy-like metrics in [0, 1] read best as percentage points."""
    return "pp" if any(w in metric for w in ("accuracy", "acc", "error", "err_rate")) else ""


class Experiment:
    """Runs arms over the budget's seeds (paired: the same seed list for every arm) and judges."""

    def __init__(self, budget: Budget, device: torch.device, cache: RunCache, examples: int = 1):
        self.budget = budget
        self.device = device
        self.cache = cache
        self.examples = max(1, examples)
        self.context = RunContext(budget, device)
        self.records: list[Record] = []

    # -- running ---------------------------------------------------------------------------
    def seeds(self, n: int | None = None) -> list[int]:
        n = self.budget.seeds if n is None else n
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"seeds={n!r} is not allowed: a paired test needs an integer >= 2")
        return list(range(n))

    def run(self, arm: Any, seeds: Sequence[int], name: str = "arm") -> list[arms_mod.Metrics]:
        """Metrics for each seed, from the cache where present; missing seeds run in one batch."""
        arms_mod.check_arm(arm, name)
        ident = arms_mod.identity(arm)
        keys = [None if ident is None else {"arm": ident, "seed": s, "budget": self.budget.name,
                                            "device": self.device.type, "engine": ENGINE_VERSION}
                for s in seeds]
        results: list[arms_mod.Metrics | None] = [self.cache.get(k) if k else None for k in keys]
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            todo = [seeds[i] for i in missing]
            if arms_mod.is_config(arm):
                fresh = arm.run(todo, self.context)
                if len(fresh) != len(todo):
                    raise ValueError(f"{type(arm).__name__}.run returned {len(fresh)} results for {len(todo)} seeds")
            else:
                fresh = [arms_mod.run_callable(arm, s) for s in todo]
            for i, metrics in zip(missing, fresh):
                results[i] = metrics
                if keys[i] is not None and all(math.isfinite(v) for v in metrics.values()):
                    self.cache.put(keys[i], metrics)
        return results  # type: ignore[return-value]

    def values(self, arm: Any, metric: str, seeds: Sequence[int], name: str = "arm") -> np.ndarray:
        """One metric per seed, with clear errors for a missing or non-finite metric."""
        return _pick(self.run(arm, seeds, name), metric, seeds, name)

    # -- judging ---------------------------------------------------------------------------
    def alpha_for(self, expect: Expectation) -> float:
        """The expectation's alpha split evenly over the claim's hypothesis examples."""
        return expect.alpha / self.examples

    def design(self, expect: Expectation, n: int, looks: int | None = None) -> Design:
        """The group-sequential plan for ``n`` seeds: ``looks`` (default: the budget's) equal looks.

        The budget's looks shrink when ``n`` is too small for them (each look adds >= 2 seeds);
        an explicit ``looks=`` that does not fit is an error.
        """
        if looks is None:
            looks = max(1, min(self.budget.looks, n // 2))
        return Design.equally_spaced(n, looks, self.alpha_for(expect))

    def compare(self, arm_a: Any, arm_b: Any, *, metric: str, expect: Expectation,
                seeds: int | None = None, unit: str | None = None,
                config: Mapping[str, Any] | None = None, labels: tuple[str, str] = ("A", "B"),
                looks: int | None = None) -> Verdict:
        """Judge ``expect`` on the paired per-seed differences metric(A) - metric(B).

        With more than one look (the budget's ``looks`` or ``looks=``) seeds are added look by
        look and the comparison stops at the first conclusive look (``instincts.sequential``).
        """
        _check_expectation(expect, "differences")
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(metric) if unit is None else unit

        def collect(new: Sequence[int]) -> np.ndarray:
            return np.stack([self.values(arm_a, metric, new, "arm_a"), self.values(arm_b, metric, new, "arm_b")],
                            axis=1)

        matrix, verdict = run_looks(self.design(expect, len(s), looks), s, collect,
                                    lambda m, level: expect.judge(m[:, 0] - m[:, 1], alpha=level, unit=unit))
        verdict = _with_labels(verdict, labels)
        return self._record("compare", metric, s[:len(matrix)], list(labels), matrix,
                            [arms_mod.describe(arm_a), arms_mod.describe(arm_b)], verdict, config, start)

    def trend(self, arms_by_level: Mapping[Any, Any] | Sequence[tuple[Any, Any]], *, metric: str,
              expect: Expectation | None = None, seeds: int | None = None, unit: str | None = None,
              config: Mapping[str, Any] | None = None, looks: int | None = None) -> Verdict:
        """Judge a trend of the metric over ordered levels (keys in order: low to high).

        Seeds are added in looks as in ``compare``.
        """
        expect = Increasing() if expect is None else expect
        _check_expectation(expect, "levels")
        pairs = list(arms_by_level.items()) if isinstance(arms_by_level, Mapping) else list(arms_by_level)
        if len(pairs) < 2:
            raise ValueError(f"a trend needs at least 2 levels, got {len(pairs)}")
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(metric) if unit is None else unit

        def collect(new: Sequence[int]) -> np.ndarray:
            return np.stack([self.values(arm, metric, new, f"level {level!r}") for level, arm in pairs], axis=1)

        matrix, verdict = run_looks(self.design(expect, len(s), looks), s, collect,
                                    lambda m, level: expect.judge(m, alpha=level, unit=unit))
        return self._record("trend", metric, s[:len(matrix)], [str(level) for level, _ in pairs], matrix,
                            [arms_mod.describe(arm) for _, arm in pairs], verdict, config, start)

    def exact(self, arm: Callable[[int], Any] | Any, *, metric: str = "value", expect: Exact | None = None,
              seeds: int | None = None, config: Mapping[str, Any] | None = None) -> Verdict:
        """Judge a deterministic property: the arm returns an error per seed, all must be <= tol."""
        expect = Exact() if expect is None else expect
        _check_expectation(expect, "differences", exact=True)
        start = time.perf_counter()
        s = self.seeds(seeds)
        errors = self.values(arm, metric, s, "arm")
        verdict = expect.judge(errors, unit="")
        return self._record("exact", metric, s, ["error"], errors[:, None], [arms_mod.describe(arm)],
                            verdict, config, start)

    def predicts(self, arm: Any, *, observed: str, predicted: str, expect: Expectation,
                 seeds: int | None = None, unit: str | None = None,
                 config: Mapping[str, Any] | None = None, looks: int | None = None) -> Verdict:
        """Judge ``expect`` on per-seed ``observed - predicted``, two metrics of one arm.

        For laws fitted per seed (a learning curve, a scaling rule): the arm trains, fits and
        predicts once per seed and returns both numbers, so nothing is trained twice.
        ``expect`` is usually ``Predicts(tol)``; ``Superior`` says the law under-predicts.
        """
        _check_expectation(expect, "differences")
        start = time.perf_counter()
        s = self.seeds(seeds)
        unit = default_unit(observed) if unit is None else unit

        def collect(new: Sequence[int]) -> np.ndarray:
            results = self.run(arm, new, "arm")
            return np.stack([_pick(results, m, new, "arm") for m in (observed, predicted)], axis=1)

        matrix, verdict = run_looks(self.design(expect, len(s), looks), s, collect,
                                    lambda m, level: expect.judge(m[:, 0] - m[:, 1], alpha=level, unit=unit))
        return self._record("predicts", observed, s[:len(matrix)], [observed, predicted], matrix,
                            [arms_mod.describe(arm)], verdict, config, start)

    def _record(self, kind, metric, seeds, labels, matrix, arms, verdict, config, start) -> Verdict:
        record = Record(kind=kind, metric=metric, seeds=list(seeds), labels=labels,
                        values=np.asarray(matrix).tolist(), arms=arms, verdict=verdict,
                        config=dict(config or {}), seconds=time.perf_counter() - start)
        # hypothesis replays a failing example once more: keep one record per identical comparison.
        # The data belong to the key: callables describe by name only, so two examples (or a loop)
        # without config= look alike, and dropping one of them would hide its verdict.
        self.records = [r for r in self.records if (r.kind, r.metric, r.arms, r.config, r.seeds, r.values) !=
                        (kind, metric, arms, record.config, record.seeds, record.values)]
        self.records.append(record)
        return verdict

    @property
    def outcome(self) -> Outcome | None:
        """The claim's verdict over every comparison so far: it holds only if each part holds."""
        if not self.records:
            return None
        return Outcome.worst([r.verdict.outcome for r in self.records])


def _check_expectation(expect: object, data: str, exact: bool = False) -> None:
    if not isinstance(expect, Expectation):
        raise TypeError(f"expect={expect!r} is not an expectation: use Superior, NonInferior, Equivalent, "
                        "Predicts, Increasing, Decreasing or Exact from instincts")
    if exact != isinstance(expect, Exact) or (not exact and expect.data != data):
        where = {"differences": "compare()", "levels": "trend()"}[data] if not exact else "exact()"
        raise TypeError(f"expect={expect!r} cannot be judged by {where}: compare() and predicts() take "
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
            raise KeyError(f"{name} returned metrics {sorted(metrics)}, not {metric!r}; "
                           f"pass one of those as metric=")
        if not math.isfinite(value):
            raise ValueError(f"{name} gave {metric}={value!r} at seed {seed}; metrics must be finite "
                             "(a diverged run should report its failure as a number, e.g. chance accuracy)")
        out.append(value)
    return np.asarray(out, dtype=float)


def _with_labels(verdict: Verdict, labels: Sequence[str]) -> Verdict:
    """"A superior to B" reads better with the arms' names: "b=16 superior to b=512"."""
    a, b = (str(x) for x in labels)
    text = verdict.expectation
    if (a, b) == ("A", "B") or not text.startswith("A ") or " to B" not in text:
        return verdict
    return replace(verdict, expectation=f"{a} " + text[2:].replace(" to B", f" to {b}", 1))
