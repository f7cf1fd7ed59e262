"""Pre-registered expectations: the hypothesis, its margin and alpha, fixed before any data.

Each expectation judges paired per-seed data and returns a Verdict. The decision rule is the
same for every kind (``decide``): SUPPORTED when the test for the claim rejects at ``alpha``,
REFUTED when the test for its opposite rejects at ``alpha_refute`` (default: alpha), INCONCLUSIVE
otherwise. Two levels because a claim over many comparisons needs no split of alpha to be
SUPPORTED (every part must hold: an intersection-union test, Berger 1982), but does to be REFUTED
(some part fails). A sample with zero spread is INCONCLUSIVE: a tie on every seed gives the t
test no variance to judge, and is no certainty about the next seed. ``Exact`` alone has exact
semantics.

Every paired verdict also says how big and how sure (``instincts.effects``): the seed-to-seed sd,
d_z, the probability of improvement with its interval, and, when INCONCLUSIVE, the minimum
effect the run could detect and the seeds a conclusive answer would need.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from instincts import effects, stats
from instincts.errors import InvalidArgument
from instincts.fmt import number
from instincts.verdict import ARMS, INCONCLUSIVE, REFUTED, SUPPORTED, Labels, Outcome, Verdict


def _is_real(value: object) -> bool:
    """A real number, numpy scalars included (np.float32 is no subclass of float); bools are not."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_alpha(alpha: float) -> float:
    """alpha in the open interval (0, 0.5); tiny levels (1e-9, from splitting alpha) are fine."""
    if not _is_real(alpha) or not 0.0 < alpha < 0.5 or math.isnan(alpha):
        raise InvalidArgument(f"alpha={alpha!r} is not allowed: alpha must lie in the open interval (0, 0.5)")
    return float(alpha)


def _check_margin(name: str, value: float, allow_zero: bool = False) -> None:
    ok = _is_real(value) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        allowed = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{name}={value!r} is not allowed: {name} must be a finite number {allowed}")


def decide(p_claim: float, p_opposite: float, alpha: float, alpha_refute: float | None = None) -> Outcome:
    """The one decision rule: SUPPORTED wins when both tests reject (one-sided complementary tests
    cannot); a NaN p-value (zero spread) rejects nothing."""
    if p_claim < alpha:
        return SUPPORTED
    if p_opposite < (alpha if alpha_refute is None else alpha_refute):
        return REFUTED
    return INCONCLUSIVE


_decide = decide  # the old private name


def _levels(expect: Expectation, alpha: float | None, alpha_refute: float | None) -> tuple[float, float | None]:
    a = check_alpha(alpha if alpha is not None else expect.alpha)
    return a, (check_alpha(alpha_refute) if alpha_refute is not None else None)


@dataclass(frozen=True)
class _Judged:
    """What a paired expectation's tests found, before it becomes a Verdict."""

    p_claim: float
    p_opposite: float  # already adjusted to be compared with alpha_refute (Equivalent: Bonferroni)
    pvalues: dict[str, float]
    band: tuple[float, float]
    share: float  # the probability-of-improvement estimate (see each kind)
    share_label: str  # what it is the probability of: "P(A>B)", "P(slope>0)", "P(|err|<tol)"
    mde_at: tuple[float, float]  # (threshold, direction) of the supporting test, for the MDE
    distance: float  # the observed mean's distance from the threshold that would decide, in sds
    distance_alpha: float  # the level the test at that threshold is judged at
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expectation:
    """Base class: subclasses set ``kind`` and implement ``judge``."""

    alpha: float = field(default=0.05, kw_only=True)

    kind = "expectation"
    data = "differences"  # or "levels": a seeds x levels matrix

    def __post_init__(self) -> None:
        check_alpha(self.alpha)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:  # pragma: no cover - abstract
        """The expectation in words, in the metric's unit, the arms called by ``labels``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The pre-registered design as data: kind, margin or tolerance, alpha (and test)."""
        return {"kind": self.kind, **asdict(self)}

    def judge(self, sample: np.ndarray, alpha: float | None = None, unit: str = "",
              alpha_refute: float | None = None) -> Verdict:
        raise NotImplementedError  # pragma: no cover


ZERO_SPREAD_WHAT = {"diff": "difference", "slope/level": "slope", "observed - predicted": "prediction error"}


@dataclass(frozen=True)
class Paired(Expectation):
    """An expectation judged by a one-sided test of a mean: ``test="t"`` (paired t test, the
    default) or ``test="bootstrap-t"`` (studentized bootstrap, 3000 resamples seeded from the
    data, so the same data give the same verdict).

    Use ``"bootstrap-t"`` for skewed per-seed metrics at small n (time-to-accuracy, losses,
    divergence counts): with gamma(2) differences at n=16 the t test wrongly REFUTES about 9% of
    the time at alpha 5%, the bootstrap-t 6.5% (false SUPPORTED 3.7% instead of 2.4%). On normal
    data it keeps alpha (5.1% / 5.3%, N=20,000). It needs ~10 seeds or more to mean anything, and
    its p-values cannot fall below 1/3000: a level under ~3e-4 (a heavily split ``alpha_refute``)
    never rejects with it.
    """

    test: str = field(default="t", kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        stats.check_test(self.test)

    def _verdict(self, d: np.ndarray, found: _Judged, alpha: float, alpha_refute: float | None, unit: str,
                 test: str, label: str = "diff") -> Verdict:
        """The shared tail of every paired judge: CI, decision, effect sizes, what could be detected."""
        lo, hi = stats.t_interval(d, 1.0 - 2.0 * alpha, self.test)
        mean, n = float(d.mean()), int(d.size)
        flat = stats.is_degenerate(d)
        sd = 0.0 if flat else effects.spread(d)
        reason = ""
        if flat:  # zero spread: nothing to judge
            outcome = INCONCLUSIVE
            reason = (f"zero spread: every seed gave the same {ZERO_SPREAD_WHAT.get(label, label)} "
                      f"({number(mean, unit)}); a t test has no variance to judge")
        else:
            outcome = decide(found.p_claim, found.p_opposite, alpha, alpha_refute)
        mde, needed = None, None
        if outcome is INCONCLUSIVE and sd > 0:
            mde = effects.minimum_detectable_effect(n, sd, alpha, *found.mde_at)
            needed = effects.seeds_needed(found.distance, found.distance_alpha)
        band = [b if math.isfinite(b) else None for b in found.band]
        return Verdict(outcome=outcome, expectation=self, test=test,
                       effect=mean, ci=(lo, hi), pvalue=found.p_claim, n=n, alpha=alpha, unit=unit, label=label,
                       pvalues=found.pvalues, details={"band": band, **found.details}, alpha_refute=alpha_refute,
                       pvalue_refute=found.p_opposite,
                       reason=reason, sd=sd, d_z=effects.standardized(mean, sd), p_improve=found.share,
                       p_improve_ci=effects.wilson_interval(found.share, n, 1.0 - 2.0 * alpha),
                       p_improve_label=found.share_label, mde=mde, seeds_needed=needed)


def _one_sided(d: np.ndarray, threshold: float, test: str) -> tuple[float, float]:
    """(p for mean > threshold, p for mean < threshold)."""
    return stats.t_pvalue(d, threshold, "greater", test), stats.t_pvalue(d, threshold, "less", test)


def _distance(mean: float, threshold: float, sd: float) -> float:
    return abs(mean - threshold) / sd if sd > 0 else math.nan


def _against_threshold(expect: Paired, d: np.ndarray, threshold: float, direction: float, alpha: float,
                       alpha_refute: float | None, names: tuple[str, str]) -> _Judged:
    """A one-sided claim "direction * (mean - threshold) > 0" and its opposite."""
    p_up, p_down = _one_sided(d, threshold, expect.test)
    p_claim, p_opp = (p_up, p_down) if direction > 0 else (p_down, p_up)
    mean, sd = float(d.mean()), effects.spread(d)
    toward_claim = direction * (mean - threshold) > 0
    return _Judged(p_claim=p_claim, p_opposite=p_opp, pvalues={names[0]: p_claim, names[1]: p_opp},
                   band=(threshold, math.inf) if direction > 0 else (-math.inf, threshold),
                   share=effects.share_above(direction * d, 0.0), share_label="",
                   mde_at=(threshold, direction),
                   distance=_distance(mean, threshold, sd),
                   distance_alpha=alpha if toward_claim or alpha_refute is None else alpha_refute)


BOOT = "studentized bootstrap-t, 3000 resamples seeded from the data"


@dataclass(frozen=True)
class Superior(Paired):
    """Arm A beats arm B by more than ``min_effect`` (one-sided paired test; ``test`` as in Paired).

    P(A>B) is the share of seeds whose difference is > 0 (ties half); an INCONCLUSIVE verdict's
    ``mde`` is min_effect + the shift the test detects at 80% power (a true difference).
    """

    min_effect: float = 0.0
    kind = "superior"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("min_effect", self.min_effect, allow_zero=True)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"{labels[0]} superior to {labels[1]} by > {number(self.min_effect, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        a, ar = _levels(self, alpha, alpha_refute)
        d = stats.as_sample(sample, "differences")
        found = _against_threshold(self, d, self.min_effect, 1.0, a, ar, ("superior", "not_superior"))
        name = "paired t, one-sided (scipy ttest_1samp)" if self.test == "t" else f"paired {BOOT}, one-sided"
        return self._verdict(d, replace(found, share_label="P(A>B)"), a, ar, unit, name)


@dataclass(frozen=True)
class NonInferior(Paired):
    """Arm A is worse than arm B by less than ``margin`` (one-sided paired test; ``test`` as in Paired).

    P(A>B) as for Superior; an INCONCLUSIVE verdict's ``mde`` is -margin + the detectable shift:
    the true difference at or above which non-inferiority is shown with 80% power.
    """

    margin: float = 0.01
    kind = "noninferior"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("margin", self.margin)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"{labels[0]} non-inferior to {labels[1]} within {number(self.margin, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        a, ar = _levels(self, alpha, alpha_refute)
        d = stats.as_sample(sample, "differences")
        found = _against_threshold(self, d, -self.margin, 1.0, a, ar, ("noninferior", "inferior"))
        name = ("paired t, one-sided against -margin (scipy ttest_1samp)" if self.test == "t"
                else f"paired {BOOT}, one-sided against -margin")
        return self._verdict(d, replace(found, share_label="P(A>B)"), a, ar, unit, name)


def _equivalence(expect: Paired, d: np.ndarray, margin: float, alpha: float, alpha_refute: float | None) -> _Judged:
    """TOST for |mean| < margin; its opposite, |mean| >= margin, by two one-sided tests at half the
    refuting level each (Bonferroni), so REFUTED errs at most at alpha_refute when the mean lies
    inside the margin. No test with a fixed critical value does better: as margin / SE -> 0 the
    two sides become one two-sided test at the same point, where Bonferroni is exact."""
    m = margin
    p_eq, p_low, p_high = stats.tost(d, -m, m, expect.test)
    p_above = stats.t_pvalue(d, m, "greater", expect.test)
    p_below = stats.t_pvalue(d, -m, "less", expect.test)
    p_out = min(1.0, 2.0 * min(p_above, p_below)) if not math.isnan(p_above + p_below) else math.nan
    mean, sd = float(d.mean()), effects.spread(d)
    inside = abs(mean) < m
    refute_level = alpha if alpha_refute is None else alpha_refute
    return _Judged(p_claim=p_eq, p_opposite=p_out,
                   pvalues={"tost": p_eq, "tost_low": p_low, "tost_high": p_high, "above_margin": p_above,
                            "below_margin": p_below, "outside_margin": p_out},
                   band=(-m, m), share=effects.share_above(d, 0.0), share_label="P(A>B)", mde_at=(m, -1.0),
                   distance=abs(abs(mean) - m) / sd if sd > 0 else math.nan,
                   distance_alpha=alpha if inside else refute_level / 2.0,
                   details={"refute_ci": list(stats.t_interval(d, 1.0 - refute_level, expect.test))})


@dataclass(frozen=True)
class Equivalent(Paired):
    """Arms A and B differ by less than ``margin`` either way (TOST, paired; ``test`` as in Paired).

    SUPPORTED: both one-sided tests reject at alpha (the (1 - 2 alpha) CI lies inside ±margin).
    REFUTED: |diff| >= margin is shown by a one-sided test at alpha_refute / 2 on either side (the
    (1 - alpha_refute) CI, ``details["refute_ci"]``, lies outside), which keeps a false REFUTED at
    most alpha_refute even when the margin is narrow against the noise. P(A>B) is the share of
    seeds with a positive difference (0.5 for balanced arms); an INCONCLUSIVE verdict's ``mde``
    is margin - the detectable shift: the largest |true diff| shown equivalent with ~80% power
    (<= 0: no true difference can be shown equivalent with these seeds).
    """

    margin: float = 0.01
    kind = "equivalent"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("margin", self.margin)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"equivalent within ±{number(self.margin, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        a, ar = _levels(self, alpha, alpha_refute)
        d = stats.as_sample(sample, "differences")
        name = "TOST, paired t (statsmodels ttost_paired)" if self.test == "t" else f"TOST, paired {BOOT}"
        return self._verdict(d, _equivalence(self, d, self.margin, a, ar), a, ar, unit, name)


@dataclass(frozen=True)
class Increasing(Paired):
    """The metric rises along an ordered factor: per-seed slopes > 0 (one-sided t or bootstrap-t).

    Page's L test (scipy ``page_trend_test``), a rank test for the same ordered alternative,
    is reported beside it. P(slope>0) is the share of seeds whose slope has the claimed sign
    (ties half); an INCONCLUSIVE verdict's ``mde`` is the slope per level detected with 80% power.
    """

    kind = "increasing"
    data = "levels"
    sign = 1.0

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return "increasing with the factor" if self.sign > 0 else "decreasing with the factor"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        a, ar = _levels(self, alpha, alpha_refute)
        matrix = np.asarray(sample, dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] < 2:
            raise InvalidArgument(f"a trend needs a seeds x levels matrix with >= 2 levels, got shape {matrix.shape}")
        bad = np.argwhere(~np.isfinite(matrix))
        if bad.size:  # name the seed and the level, not an index into the flattened matrix
            i, j = (int(v) for v in bad[0])
            raise InvalidArgument(f"trend values has non-finite values ({float(matrix[i, j])!r} at seed index {i}, "
                                  f"level index {j}); a metric must be a finite number for every seed and level")
        s = stats.as_sample(stats.slopes(matrix, np.arange(matrix.shape[1], dtype=float)), "slopes")
        found = _against_threshold(self, s, 0.0, self.sign, a, ar, ("trend", "opposite"))
        pvalues = {**found.pvalues, "page_L": stats.page_pvalue(matrix[:, :: int(self.sign)])}
        label = "P(slope>0)" if self.sign > 0 else "P(slope<0)"
        how = "one-sided t (scipy ttest_1samp)" if self.test == "t" else f"one-sided {BOOT}"
        return self._verdict(s, replace(found, pvalues=pvalues, share_label=label), a, ar, unit,
                             f"per-seed slope, {how}; Page's L beside it", label="slope/level")


@dataclass(frozen=True)
class Decreasing(Increasing):
    """The metric falls along an ordered factor: per-seed slopes < 0."""

    kind = "decreasing"
    sign = -1.0


@dataclass(frozen=True)
class Exact(Expectation):
    """A deterministic property: every per-seed error is within ``tol`` (no statistics)."""

    tol: float = 1e-6
    kind = "exact"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("tol", self.tol, allow_zero=True)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"exact within {self.tol:g}"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        errors = np.abs(stats.as_sample(sample, "errors", min_n=1))
        worst = float(errors.max())
        outcome = SUPPORTED if worst <= self.tol else REFUTED
        return Verdict(outcome=outcome, expectation=self, test="exact (max |error| <= tol)",
                       effect=worst, ci=(float(errors.min()), worst), pvalue=float("nan"),
                       n=int(errors.size), alpha=0.0, unit=unit, label="max |error|",
                       details={"worst_index": int(errors.argmax())})


@dataclass(frozen=True)
class Predicts(Paired):
    """A law fitted on part of the data predicts a held-out observation to within ``tol``.

    Judged on per-seed prediction errors (observed - predicted) by TOST against ±tol, the same
    calibrated test as ``Equivalent``: SUPPORTED when the error is shown to lie inside ±tol,
    REFUTED when it is shown to lie outside (at alpha_refute / 2 a side), so a law that misses is
    caught, not excused by noise. The probability reported is P(|err|<tol), the share of seeds
    whose prediction lands within tol (an error of exactly ±tol counts half).
    """

    tol: float = 0.01
    kind = "predicts"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("tol", self.tol)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"predicts within ±{number(self.tol, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit="", alpha_refute=None):
        a, ar = _levels(self, alpha, alpha_refute)
        d = stats.as_sample(sample, "differences")
        found = replace(_equivalence(self, d, self.tol, a, ar), share=effects.share_within(d, self.tol),
                        share_label="P(|err|<tol)")
        name = "TOST, paired t (statsmodels ttost_paired)" if self.test == "t" else f"TOST, paired {BOOT}"
        return self._verdict(d, found, a, ar, unit, name, label="observed - predicted")
