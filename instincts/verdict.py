"""The outcome of a claim: SUPPORTED, REFUTED or INCONCLUSIVE, with the numbers behind it."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any


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


def fmt(value: float, unit: str = "", signed: bool = True) -> str:
    """Format a number in the metric's display unit ("pp" shows fractions as percentage points)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if unit == "pp":
        value *= 100.0
    sign = "+" if signed else ""
    magnitude = abs(value)
    digits = 1 if unit == "pp" else (3 if magnitude >= 0.01 or magnitude == 0 else 6)
    text = f"{value:{sign}.{digits}f}" if digits != 6 else f"{value:{sign}.3g}"
    return text + unit


def percent(level: float) -> str:
    """A confidence level as a percentage with enough decimals to tell it from 100% (99.98%)."""
    tail = 100.0 * (1.0 - level)
    digits = 0 if tail >= 1.0 or tail <= 0.0 else math.ceil(-math.log10(tail) - 1e-9)
    return f"{level:.{digits}%}"


@dataclass(frozen=True)
class Verdict:
    """A pre-registered hypothesis tested on paired per-seed data.

    Mirrors scipy.stats result objects: ``statistic`` is the effect estimate, ``pvalue`` the
    p-value of the supporting test, ``confidence_interval()`` the (1 - 2 alpha) two-sided CI,
    which is the one consistent with one-sided tests at level alpha.
    """

    outcome: Outcome
    expectation: str  # e.g. "equivalent within ±1.0pp"
    test: str  # e.g. "TOST, paired t (statsmodels ttost_paired)"
    effect: float
    ci: tuple[float, float]
    pvalue: float
    n: int
    alpha: float
    unit: str = ""
    label: str = "diff"
    pvalues: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seeds_max: int = 0  # the most seeds the design could use (0: n, a fixed-n test)
    look: int = 1  # the look the verdict was reached at (group-sequential designs)
    looks: int = 1  # the looks planned

    def __bool__(self) -> bool:
        return self.outcome is Outcome.SUPPORTED

    @property
    def statistic(self) -> float:
        return self.effect

    @property
    def confidence_level(self) -> float:
        return 1.0 - 2.0 * self.alpha

    @property
    def seeds_used(self) -> int:
        return self.n

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
            return f"{self.expectation}: {self.label} {self.effect:.3g}, {self._sample_size()}"
        lo, hi = (fmt(v, self.unit).removesuffix(self.unit) if self.unit else fmt(v) for v in self.ci)
        p = "p<1e-4" if self.pvalue < 1e-4 else f"p={self.pvalue:.2g}"
        return (
            f"{self.expectation}: {self.label} {fmt(self.effect, self.unit)}, "
            f"{percent(self.confidence_level)} CI [{lo}, {hi}], {self._sample_size()}, {p}"
        )

    def __str__(self) -> str:
        return f"{self.outcome.value} — {self.line()}"

    def __repr__(self) -> str:
        return f"<Verdict {self}>"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["ci"] = list(self.ci)
        data["line"] = self.line()
        data["seeds_used"] = self.n
        data["seeds_max"] = self.seeds_max or self.n
        return finite_or_none(data)


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
