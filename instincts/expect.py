"""Pre-registered expectations: the hypothesis, its margin and alpha, fixed before any data.

Each expectation judges paired per-seed data and returns a Verdict. The decision rule is the
same for every kind: SUPPORTED when the test for the claim rejects at alpha, REFUTED when the
test for its opposite rejects at alpha, INCONCLUSIVE otherwise. When the data have zero
variance the effect is known exactly and the verdict is SUPPORTED or REFUTED by that value.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from instincts import stats
from instincts.errors import InvalidArgument
from instincts.fmt import number
from instincts.verdict import ARMS, INCONCLUSIVE, REFUTED, SUPPORTED, Labels, Outcome, Verdict


def _is_real(value: object) -> bool:
    """A real number, numpy scalars included (np.float32 is no subclass of float); bools are not."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_alpha(alpha: float) -> float:
    if not _is_real(alpha) or not 0.0 < alpha < 0.5 or math.isnan(alpha):
        raise InvalidArgument(f"alpha={alpha!r} is not allowed: alpha must lie in the open interval (0, 0.5)")
    return float(alpha)


def _check_margin(name: str, value: float, allow_zero: bool = False) -> None:
    ok = _is_real(value) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        allowed = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{name}={value!r} is not allowed: {name} must be a finite number {allowed}")


def _decide(p_claim: float, p_opposite: float, alpha: float) -> Outcome:
    if p_claim < alpha:
        return SUPPORTED
    if p_opposite < alpha:
        return REFUTED
    return INCONCLUSIVE


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
        """The pre-registered design as data: kind, margin or tolerance, alpha."""
        return {"kind": self.kind, **asdict(self)}

    def judge(self, sample: np.ndarray, alpha: float | None = None, unit: str = "") -> Verdict:
        raise NotImplementedError  # pragma: no cover

    def _paired(self, d: np.ndarray, alpha: float, unit: str, test: str,
                outcome_if_exact: bool, p_claim: float, p_opposite: float,
                pvalues: dict[str, float], band: tuple[float, float], label: str = "diff") -> Verdict:
        lo, hi = stats.t_interval(d, 1.0 - 2.0 * alpha)
        if lo == hi:  # zero variance: the effect is known exactly
            outcome = SUPPORTED if outcome_if_exact else REFUTED
        else:
            outcome = _decide(p_claim, p_opposite, alpha)
        return Verdict(outcome=outcome, expectation=self, test=test,
                       effect=float(d.mean()), ci=(lo, hi), pvalue=p_claim, n=int(d.size),
                       alpha=alpha, unit=unit, label=label, pvalues=pvalues,
                       details={"band": [b if math.isfinite(b) else None for b in band]})


@dataclass(frozen=True)
class Superior(Expectation):
    """Arm A beats arm B by more than ``min_effect`` (one-sided paired t test)."""

    min_effect: float = 0.0
    kind = "superior"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("min_effect", self.min_effect, allow_zero=True)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"{labels[0]} superior to {labels[1]} by > {number(self.min_effect, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit=""):
        a = check_alpha(alpha if alpha is not None else self.alpha)
        d = stats.as_sample(sample, "differences")
        p_sup = stats.t_pvalue(d, self.min_effect, "greater")
        p_ref = stats.t_pvalue(d, self.min_effect, "less")
        return self._paired(d, a, unit, "paired t, one-sided (scipy ttest_1samp)",
                            float(d.mean()) > self.min_effect, p_sup, p_ref,
                            {"superior": p_sup, "not_superior": p_ref}, (self.min_effect, math.inf))


@dataclass(frozen=True)
class NonInferior(Expectation):
    """Arm A is worse than arm B by less than ``margin`` (one-sided paired t test)."""

    margin: float = 0.01
    kind = "noninferior"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("margin", self.margin)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"{labels[0]} non-inferior to {labels[1]} within {number(self.margin, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit=""):
        a = check_alpha(alpha if alpha is not None else self.alpha)
        d = stats.as_sample(sample, "differences")
        p_ni = stats.t_pvalue(d, -self.margin, "greater")
        p_inf = stats.t_pvalue(d, -self.margin, "less")
        return self._paired(d, a, unit, "paired t, one-sided against -margin (scipy ttest_1samp)",
                            float(d.mean()) > -self.margin, p_ni, p_inf,
                            {"noninferior": p_ni, "inferior": p_inf}, (-self.margin, math.inf))


@dataclass(frozen=True)
class Equivalent(Expectation):
    """Arms A and B differ by less than ``margin`` either way (TOST, paired)."""

    margin: float = 0.01
    kind = "equivalent"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("margin", self.margin)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"equivalent within ±{number(self.margin, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit=""):
        a = check_alpha(alpha if alpha is not None else self.alpha)
        d = stats.as_sample(sample, "differences")
        m = self.margin
        p_eq, p_low, p_high = stats.tost(d, -m, m)
        p_above = stats.t_pvalue(d, m, "greater")
        p_below = stats.t_pvalue(d, -m, "less")
        return self._paired(d, a, unit, "TOST, paired t (statsmodels ttost_paired)",
                            abs(float(d.mean())) < m, p_eq, min(p_above, p_below),
                            {"tost": p_eq, "tost_low": p_low, "tost_high": p_high,
                             "above_margin": p_above, "below_margin": p_below}, (-m, m))


@dataclass(frozen=True)
class Increasing(Expectation):
    """The metric rises along an ordered factor: per-seed slopes > 0 (one-sided t test).

    Page's L test (scipy ``page_trend_test``), a rank test for the same ordered alternative,
    is reported beside it.
    """

    kind = "increasing"
    data = "levels"
    sign = 1.0

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return "increasing with the factor" if self.sign > 0 else "decreasing with the factor"

    def judge(self, sample, alpha=None, unit=""):
        a = check_alpha(alpha if alpha is not None else self.alpha)
        matrix = np.asarray(sample, dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] < 2:
            raise InvalidArgument(f"a trend needs a seeds x levels matrix with >= 2 levels, got shape {matrix.shape}")
        bad = np.argwhere(~np.isfinite(matrix))
        if bad.size:  # name the seed and the level, not an index into the flattened matrix
            i, j = (int(v) for v in bad[0])
            raise InvalidArgument(f"trend values has non-finite values ({float(matrix[i, j])!r} at seed index {i}, "
                                  f"level index {j}); a metric must be a finite number for every seed and level")
        s = stats.as_sample(stats.slopes(matrix, np.arange(matrix.shape[1], dtype=float)), "slopes")
        signed = s * self.sign
        p_claim = stats.t_pvalue(signed, 0.0, "greater")
        p_opp = stats.t_pvalue(signed, 0.0, "less")
        page = stats.page_pvalue(matrix[:, :: int(self.sign)])
        return self._paired(s, a, unit, "per-seed slope, one-sided t (scipy ttest_1samp); Page's L beside it",
                            float(signed.mean()) > 0, p_claim, p_opp,
                            {"trend": p_claim, "opposite": p_opp, "page_L": page},
                            (0.0, math.inf) if self.sign > 0 else (-math.inf, 0.0), label="slope/level")


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

    def judge(self, sample, alpha=None, unit=""):
        errors = np.abs(stats.as_sample(sample, "errors", min_n=1))
        worst = float(errors.max())
        outcome = SUPPORTED if worst <= self.tol else REFUTED
        return Verdict(outcome=outcome, expectation=self, test="exact (max |error| <= tol)",
                       effect=worst, ci=(float(errors.min()), worst), pvalue=float("nan"),
                       n=int(errors.size), alpha=0.0, unit=unit, label="max |error|",
                       details={"worst_index": int(errors.argmax())})


@dataclass(frozen=True)
class Predicts(Expectation):
    """A law fitted on part of the data predicts a held-out observation to within ``tol``.

    Judged on per-seed prediction errors (observed - predicted) by TOST against ±tol, the same
    calibrated test as ``Equivalent``: SUPPORTED when the error is shown to lie inside ±tol,
    REFUTED when it is shown to lie outside, so a law that misses is caught, not excused by noise.
    """

    tol: float = 0.01
    kind = "predicts"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_margin("tol", self.tol)

    def describe(self, unit: str = "", labels: Labels = ARMS) -> str:
        return f"predicts within ±{number(self.tol, unit, signed=False)}"

    def judge(self, sample, alpha=None, unit=""):
        verdict = Equivalent(self.tol, alpha=self.alpha).judge(sample, alpha, unit)
        return replace(verdict, expectation=self, label="observed - predicted")
