"""Manipulation checks: what each arm must have done before its comparison can be judged.

A verdict about "batch 512 generalizes worse" means nothing when batch 512 never trained. So a
comparison may name preconditions (``requires=``); each is checked on every arm's per-seed
metrics (the trainer's facts among them) after the seeds ran, and a failed one turns the verdict
into INCONCLUSIVE with the reason, never into SUPPORTED or REFUTED. The check only withholds
verdicts, so it can only lower either error rate.

``Requires(metric, at_least=..., at_most=...)`` bounds the mean over seeds of one metric in every
arm it names (all arms by default); ``trained(above)`` is the usual one: mean train accuracy
above a floor (chance plus a margin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instincts import fmt
from instincts.errors import InvalidArgument


@dataclass(frozen=True)
class Requires:
    """Every named arm's mean ``metric`` over its seeds is >= ``at_least`` and/or <= ``at_most``.

    ``arms`` names the arms (their labels) the check applies to; empty means every arm. ``why``
    says in words what a failure means ("did not train", "teacher is weak").
    """

    metric: str
    at_least: float | None = None
    at_most: float | None = None
    arms: tuple[str, ...] = ()
    why: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise InvalidArgument(f"metric={self.metric!r} is not allowed: name the per-seed metric to check, "
                                  "e.g. 'train_accuracy'")
        bounds = [b for b in (self.at_least, self.at_most) if b is not None]
        if not bounds:
            raise InvalidArgument(f"Requires({self.metric!r}) has no bound: give at_least=, at_most= or both")
        for b in bounds:
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
                raise InvalidArgument(f"bound {b!r} is not allowed: give a finite number")
        if not isinstance(self.arms, tuple) or not all(isinstance(a, str) for a in self.arms):
            raise InvalidArgument(f"arms={self.arms!r} is not allowed: give a tuple of arm labels")

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f">= {fmt.short(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"<= {fmt.short(self.at_most)}")
        return f"mean {self.metric} {' and '.join(parts)}"

    def check(self, runs: Mapping[str, Sequence[Mapping[str, float]]]) -> list[dict[str, Any]]:
        """One result per checked arm: its label, the mean value, the bounds and whether it passed."""
        labels = list(self.arms) or list(runs)
        unknown = [a for a in labels if a not in runs]
        if unknown:
            raise InvalidArgument(f"Requires({self.metric!r}) names arms {unknown}, but the comparison's arms are "
                                  f"{list(runs)}: use their labels")
        out = []
        for label in labels:
            values = [m[self.metric] for m in runs[label] if self.metric in m]
            if not values:
                raise InvalidArgument(f"Requires({self.metric!r}): arm {label!r} reported no {self.metric!r} "
                                      f"(its metrics: {sorted(runs[label][0]) if runs[label] else []})")
            mean = float(sum(values) / len(values))
            passed = ((self.at_least is None or mean >= self.at_least)
                      and (self.at_most is None or mean <= self.at_most))
            out.append({"arm": label, "metric": self.metric, "value": mean, "at_least": self.at_least,
                        "at_most": self.at_most, "passed": passed, "why": self.why})
        return out


def trained(above: float, metric: str = "train_accuracy", arms: tuple[str, ...] = ()) -> Requires:
    """The arms trained: their mean ``metric`` (train accuracy by default) is at least ``above``."""
    return Requires(metric, at_least=above, arms=arms, why="did not train")


def as_checks(requires: Requires | Sequence[Requires] | None) -> tuple[Requires, ...]:
    """``requires=`` as a tuple, validated."""
    if requires is None:
        return ()
    items = (requires,) if isinstance(requires, Requires) else tuple(requires)
    for r in items:
        if not isinstance(r, Requires):
            raise InvalidArgument(f"requires={r!r} is not allowed: give Requires(...) or trained(...), or a list of "
                                  "them")
    return items


def failure_reason(results: Sequence[Mapping[str, Any]]) -> str:
    """The reason an INCONCLUSIVE verdict gives for its failed checks, or "" when all passed."""
    failed = [r for r in results if not r["passed"]]
    if not failed:
        return ""
    parts = []
    for r in failed:
        bound = " and ".join(b for b in (f">= {fmt.short(r['at_least'])}" if r["at_least"] is not None else "",
                                          f"<= {fmt.short(r['at_most'])}" if r["at_most"] is not None else "") if b)
        parts.append(f"{r['arm']}: {r['metric']} {fmt.short(r['value'])}, needs {bound}"
                     + (f" ({r['why']})" if r["why"] else ""))
    return "manipulation check failed: " + "; ".join(parts)
