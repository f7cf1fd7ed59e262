"""The outcome of a claim: SUPPORTED, REFUTED or INCONCLUSIVE, with the numbers behind it.

A verdict keeps its expectation *object* and the arms' labels, not a sentence about them: the
sentence ("b=16 superior to b=512 by > 1.0pp: ...") is built on demand, and plots, reports and
claims.json read margins and tolerances from the object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from instincts import fmt

if TYPE_CHECKING:
    from instincts.expect import Expectation


class Outcome(str, enum.Enum):
    SUPPORTED = "SUPPORTED"
    REFUTED = "REFUTED"
    INCONCLUSIVE = "INCONCLUSIVE"

    @classmethod
    def worst(cls, outcomes: list[Outcome]) -> Outcome:
        """REFUTED beats INCONCLUSIVE beats SUPPORTED: a claim holds only if every part holds."""
        order = [cls.REFUTED, cls.INCONCLUSIVE, cls.SUPPORTED]
        return min(outcomes, key=order.index) if outcomes else cls.INCONCLUSIVE


SUPPORTED, REFUTED, INCONCLUSIVE = Outcome.SUPPORTED, Outcome.REFUTED, Outcome.INCONCLUSIVE

Labels = tuple[str, str]
ARMS: Labels = ("A", "B")  # the arms' names in a sentence when the comparison gives none


@dataclass(frozen=True)
class Verdict:
    """A pre-registered hypothesis tested on paired per-seed data.

    Mirrors scipy.stats result objects: ``statistic`` is the effect estimate, ``pvalue`` the
    p-value of the supporting test, ``confidence_interval()`` the (1 - 2 alpha) two-sided CI,
    which is the one consistent with one-sided tests at level alpha.
    """

    outcome: Outcome
    expectation: Expectation  # what was pre-registered: kind, margin or tolerance, alpha
    test: str  # e.g. "TOST, paired t (statsmodels ttost_paired)"
    effect: float
    ci: tuple[float, float]
    pvalue: float
    n: int
    alpha: float
    unit: str = ""
    label: str = "diff"  # what ``effect`` is: "diff", "slope/level", "max |error|"
    labels: Labels = ARMS  # the compared arms' names, as the sentence calls them
    pvalues: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seeds_max: int = 0  # the most seeds the design could use (0: n, a fixed-n test)
    look: int = 1  # the look the verdict was reached at (group-sequential designs)
    looks: int = 1  # the looks planned

    def __bool__(self) -> bool:
        """True only when SUPPORTED; a False answer is remembered, so the plugin can tell that a
        failing ``assert verdict`` (not another assertion) ended the test."""
        held = self.outcome is Outcome.SUPPORTED
        if not held:
            object.__setattr__(self, "_tested_false", True)
        return held

    @property
    def tested_false(self) -> bool:
        """``bool(verdict)`` has returned False at least once (e.g. ``assert verdict`` failed)."""
        return getattr(self, "_tested_false", False)

    @property
    def statistic(self) -> float:
        return self.effect

    @property
    def confidence_level(self) -> float:
        return 1.0 - 2.0 * self.alpha

    @property
    def seeds_used(self) -> int:
        return self.n

    @property
    def expected(self) -> str:
        """The expectation in words, with the arms' names: "b=16 superior to b=512 by > 1.0pp"."""
        return self.expectation.describe(self.unit, self.labels)

    def _sample_size(self) -> str:
        """"n=12", or "n=8 of 24 (look 2/3)" when seeds were added in looks."""
        if self.looks <= 1:
            return f"n={self.n}"
        return f"n={self.n} of {self.seeds_max or self.n} (look {self.look}/{self.looks})"

    def confidence_interval(self) -> tuple[float, float]:
        return self.ci

    def line(self) -> str:
        """One line a person can read: what was expected, what was measured, how sure."""
        if self.alpha == 0.0:  # an exact property: no interval, no p-value
            return f"{self.expected}: {self.label} {fmt.short(self.effect)}, {self._sample_size()}"
        return (f"{self.expected}: {self.label} {fmt.number(self.effect, self.unit)}, "
                f"{fmt.percent(self.confidence_level)} CI {fmt.interval(*self.ci, self.unit)}, "
                f"{self._sample_size()}, {fmt.pvalue(self.pvalue)}")

    def __str__(self) -> str:
        return f"{self.outcome.value} — {self.line()}"

    def __repr__(self) -> str:
        return f"<Verdict {self}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the numbers, the expectation in words (``expectation``) and as data (``expect``)."""
        from instincts.results import finite_or_none

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(outcome=self.outcome.value, expectation=self.expected, expect=self.expectation.to_dict(),
                    labels=list(self.labels), ci=list(self.ci), line=self.line(), seeds_used=self.n,
                    seeds_max=self.seeds_max or self.n)
        return finite_or_none(data)
