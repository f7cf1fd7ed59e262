"""Paired tests behind the expectations: thin, checked wrappers over scipy and statsmodels.

Every function takes per-seed paired data (differences, or a seeds x levels matrix) and returns
plain numbers. A sample with zero variance (identical arms, deterministic metrics) has an exactly
known mean: its CI collapses to that mean and p-values are 0 or 1, instead of scipy's NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats as sps

from instincts.errors import InvalidArgument

Alternative = Literal["greater", "less"]


def as_sample(values: object, name: str = "values", min_n: int = 2) -> np.ndarray:
    """Validate a 1-D sample of finite floats."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InvalidArgument(f"{name} must be one-dimensional (one value per seed), got shape {arr.shape}")
    if arr.size < min_n:
        raise InvalidArgument(f"{name} needs at least {min_n} paired seeds, got {arr.size}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidArgument(
            f"{name} has non-finite values ({float(arr[bad[0]])!r} at seed index {bad[0]}); "
            "a metric must be a finite number for every seed"
        )
    return arr


def _degenerate(d: np.ndarray) -> bool:
    """Zero spread (up to float rounding): the mean is known exactly."""
    return bool(np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())))


def t_pvalue(d: np.ndarray, threshold: float, alternative: Alternative) -> float:
    """One-sided one-sample t test of mean(d) against ``threshold``."""
    if _degenerate(d):
        mean = float(d[0])
        holds = mean > threshold if alternative == "greater" else mean < threshold
        return 0.0 if holds else 1.0
    return float(sps.ttest_1samp(d, threshold, alternative=alternative).pvalue)


def t_interval(d: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided t confidence interval for the mean of ``d``."""
    if _degenerate(d):
        return float(d[0]), float(d[0])
    ci = sps.ttest_1samp(d, 0.0).confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)


def tost(d: np.ndarray, low: float, high: float) -> tuple[float, float, float]:
    """TOST for low < mean(d) < high: (p overall, p against low, p against high)."""
    if _degenerate(d):
        p_low = t_pvalue(d, low, "greater")
        p_high = t_pvalue(d, high, "less")
        return max(p_low, p_high), p_low, p_high
    zeros = np.zeros_like(d)
    from statsmodels.stats.weightstats import ttost_paired  # imported late: ~1 s at start-up

    p, (_, p_low, _), (_, p_high, _) = ttost_paired(d, zeros, low, high)
    return float(p), float(p_low), float(p_high)


def slopes(matrix: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per-seed least-squares slope of the metric against the factor's positions."""
    x = positions - positions.mean()
    return (matrix - matrix.mean(axis=1, keepdims=True)) @ x / float(x @ x)


def page_pvalue(matrix: np.ndarray) -> float:
    """Page's L test for an increasing trend across ordered levels (seeds are blocks).

    Page's L needs at least two seeds and three levels; with fewer it is not defined (NaN),
    and the slope test, which needs only two levels, decides alone.
    """
    if matrix.shape[0] < 2 or matrix.shape[1] < 3 or _degenerate(matrix.ravel()):
        return float("nan")
    return float(sps.page_trend_test(matrix).pvalue)
