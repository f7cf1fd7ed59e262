"""The outcome of a claim: SUPPORTED, REFUTED or INCONCLUSIVE, with the numbers behind it.

A verdict keeps its expectation *object* and the arms' labels, not a sentence about them: the
sentence ("b=16 superior to b=512 by > 1.0pp: ...") is built on demand, and plots, reports and
claims.json read margins and tolerances from the object.
"""

from __future__ import annotations

import enum
import math
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

    How big and how sure (``instincts.effects``; filled by every paired judge, not by Exact):
    ``sd`` (seed-to-seed, ddof=1), ``d_z`` (effect / sd), ``p_improve`` with ``p_improve_ci`` (a
    Wilson interval at the verdict's confidence) of what ``p_improve_label`` names, and for an
    INCONCLUSIVE verdict ``mde`` (the true value detected at 80% power by the supporting test, in
    the metric's unit) and ``seeds_needed`` (for 80% power at the observed effect; 10,000 means
    "at least"). ``reason`` says why a verdict could not be reached (zero spread).
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
    alpha_refute: float | None = None  # the level REFUTED was judged at; None: alpha
    pvalue_refute: float = math.nan  # the refuting test's p-value (compared with refute_level)
    reason: str = ""  # why no conclusion could be reached, e.g. zero spread
    sd: float = math.nan  # seed-to-seed sd of the judged values (ddof=1)
    d_z: float = math.nan  # standardized effect: effect / sd
    p_improve: float = math.nan  # probability of improvement, e.g. P(A>B): share of seeds, ties half
    p_improve_ci: tuple[float, float] = (math.nan, math.nan)  # Wilson interval at confidence_level
    p_improve_label: str = "P(A>B)"  # what p_improve is the probability of
    mde: float | None = None  # INCONCLUSIVE: the true value the run detects with 80% power
    seeds_needed: int | None = None  # INCONCLUSIVE: seeds for 80% power at the observed effect

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
    def refute_level(self) -> float:
        """The level REFUTED was judged at: ``alpha_refute``, or alpha when none was given."""
        return self.alpha if self.alpha_refute is None else self.alpha_refute

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
        head = f"{self.expected}: {self.label} {fmt.number(self.effect, self.unit)}"
        if self.reason:
            return f"{head}, {self._sample_size()}; {self.reason}"
        ci = "repeated CI" if self.looks > 1 else "CI"  # after looks: the CI at the stopping look's level
        return (f"{head}, {fmt.percent(self.confidence_level)} {ci} {fmt.interval(*self.ci, self.unit)}, "
                f"{self._sample_size()}, {fmt.pvalue(self.pvalue)}{self._early_stop()}{self._how_big()}"
                f"{self._could_detect()}")

    def _early_stop(self) -> str:
        """" (adjusted +1.2pp, stage-wise p=0.003)" after a stop before the last look, else ""."""
        seq = self.details.get("sequential") or {}
        if self.look >= self.looks or seq.get("adjusted_effect") is None:
            return ""
        return (f" (adjusted {fmt.number(seq['adjusted_effect'], self.unit)}, stage-wise "
                f"{fmt.pvalue(seq['stagewise_p'])})" if seq.get("stagewise_p") is not None else "")

    def _how_big(self) -> str:
        """"; sd 1.1pp, d_z 0.91, P(A>B) 0.81 [0.6, 0.93]", or "" for a verdict made without them."""
        if math.isnan(self.sd):
            return ""
        text = f"; sd {fmt.number(self.sd, self.unit, signed=False)}, d_z {fmt.ratio(self.d_z)}"
        if not math.isnan(self.p_improve):
            label = self.p_improve_label
            if label == "P(A>B)" and self.labels != ARMS:
                label = f"P({self.labels[0]}>{self.labels[1]})"
            text += f", {label} {fmt.share(self.p_improve)} {fmt.share_interval(*self.p_improve_ci)}"
        return text

    def _could_detect(self) -> str:
        """"; could detect >= 1.4pp (80% power), ~40 seeds to decide" for an INCONCLUSIVE verdict."""
        if self.mde is None or math.isnan(self.mde):
            return ""
        kind = getattr(self.expectation, "kind", "")
        if kind in ("equivalent", "predicts"):
            what = (f"could show |{self.label}| <= {fmt.number(self.mde, self.unit, signed=False)}" if self.mde > 0
                    else f"cannot show equivalence with {self.n} seeds, even at {self.label} 0")
        else:
            what = f"could detect {'<=' if kind == 'decreasing' else '>='} {fmt.number(self.mde, self.unit)}"
        text = f"; {what} (80% power)"
        if self.seeds_needed is not None:
            from instincts.effects import SEEDS_CAP

            many = f">= {SEEDS_CAP}" if self.seeds_needed >= SEEDS_CAP else f"~{self.seeds_needed}"
            text += f", {many} seeds to decide"
        return text

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
                    seeds_max=self.seeds_max or self.n, p_improve_ci=list(self.p_improve_ci),
                    refute_level=self.refute_level)
        return finite_or_none(data)
