"""Paired tests behind the expectations: thin, checked wrappers over scipy and statsmodels.

Every function takes per-seed paired data (differences, or a seeds x levels matrix) and returns
plain numbers. A sample with zero spread (identical arms, deterministic metrics) gives a t test
nothing to judge: its p-values are NaN and its CI collapses to the mean; the expectations call it
INCONCLUSIVE (a tie on 16 seeds is not certainty about the next one).

Two one-sided tests are offered for a mean against a threshold: the paired t test (``"t"``) and
the studentized bootstrap (``"bootstrap-t"``), which corrects the t test's error under skewed
differences (time-to-accuracy, losses) at small n.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Literal

import numpy as np
from scipy import special
from scipy import stats as sps

from instincts.errors import InvalidArgument

Alternative = Literal["greater", "less"]
TESTS = ("t", "bootstrap-t")  # the one-sided tests an expectation can be judged by
BOOTSTRAP_RESAMPLES = 3000  # B: the p-value's Monte Carlo sd at p = 0.05 is ~0.004
NAN = math.nan  # one NaN object: verdicts holding it compare equal (tuples compare by identity first)


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


def check_test(test: object) -> str:
    """The name of a supported one-sided test, or InvalidArgument naming the bad one."""
    if not isinstance(test, str) or test not in TESTS:
        raise InvalidArgument(f"test={test!r} is not allowed: give one of {', '.join(map(repr, TESTS))}")
    return test


def is_degenerate(d: np.ndarray) -> bool:
    """Zero spread (up to float rounding): every seed gave the same value."""
    return bool(np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())))


_degenerate = is_degenerate  # the old private name


def t_pvalue(d: np.ndarray, threshold: float, alternative: Alternative, test: str = "t") -> float:
    """One-sided test of mean(d) against ``threshold`` (t or bootstrap-t); NaN at zero spread."""
    if is_degenerate(d):
        return NAN
    if check_test(test) == "bootstrap-t":
        return bootstrap_t_pvalue(d, threshold, alternative)
    mean, se, df = _moments(d)
    t = (mean - threshold) / se
    return float(special.stdtr(df, -t if alternative == "greater" else t))  # what scipy's ttest_1samp computes


def _moments(d: np.ndarray) -> tuple[float, float, int]:
    """(mean, standard error, degrees of freedom): the t test's ingredients, without scipy's per-call overhead."""
    n = d.size
    return float(d.mean()), math.sqrt(float(d.var(ddof=1)) / n), n - 1


def t_interval(d: np.ndarray, confidence: float, test: str = "t") -> tuple[float, float]:
    """Two-sided confidence interval for the mean of ``d``: t, or percentile-t for the bootstrap."""
    if is_degenerate(d):
        return float(d[0]), float(d[0])
    if check_test(test) == "bootstrap-t":
        return bootstrap_t_interval(d, confidence)
    mean, se, df = _moments(d)
    half = float(special.stdtrit(df, 0.5 + confidence / 2.0)) * se
    return mean - half, mean + half


def tost(d: np.ndarray, low: float, high: float, test: str = "t") -> tuple[float, float, float]:
    """TOST for low < mean(d) < high: (p overall, p against low, p against high)."""
    if is_degenerate(d):
        return NAN, NAN, NAN
    p_low = t_pvalue(d, low, "greater", test)  # the two one-sided tests of statsmodels' ttost_paired
    p_high = t_pvalue(d, high, "less", test)
    return max(p_low, p_high), p_low, p_high


# ---------------------------------------------------------------------------------------------
# the studentized bootstrap (bootstrap-t)


def bootstrap_t_distribution(d: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float, np.ndarray]:
    """(mean, se, T*): the studentized bootstrap law T* = (mean* - mean) / se* from one (B, n)
    index matrix drawn with a data-derived seed. A resample with zero spread has T* = +-inf
    (its mean differs from the sample's) or 0 (it does not). Cached: a verdict asks for several
    p-values and an interval of the same sample."""
    x = np.sort(np.asarray(d, dtype=float))
    return _bootstrap_law(x.tobytes(), int(resamples))


@functools.lru_cache(maxsize=32)
def _bootstrap_law(data: bytes, resamples: int) -> tuple[float, float, np.ndarray]:
    x = np.frombuffer(data, dtype=float)
    n = x.size
    seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    r = x[np.random.default_rng(seed).integers(0, n, (resamples, n))]
    ses = r.std(axis=1, ddof=1) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.nan_to_num((r.mean(axis=1) - x.mean()) / ses, nan=0.0, posinf=np.inf, neginf=-np.inf)
    t_star.setflags(write=False)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(n)), t_star


def bootstrap_t_pvalue(d: np.ndarray, threshold: float, alternative: Alternative,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> float:
    """One-sided studentized-bootstrap p-value of mean(d) against ``threshold`` (Efron & Tibshirani
    1993, ch. 12; Hall 1992): the share of T* at least as extreme as the observed t."""
    if is_degenerate(d):
        return NAN
    mean, se, t_star = bootstrap_t_distribution(d, resamples)
    t_obs = (mean - threshold) / se
    extreme = t_star >= t_obs if alternative == "greater" else t_star <= t_obs
    return float(extreme.mean())


def bootstrap_t_interval(d: np.ndarray, confidence: float,
                         resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """Percentile-t interval [mean - q_hi se, mean - q_lo se], the one the bootstrap-t p-values invert."""
    mean, se, t_star = bootstrap_t_distribution(d, resamples)
    tail = (1.0 - confidence) / 2.0
    q_lo, q_hi = np.quantile(t_star, [tail, 1.0 - tail], method="inverted_cdf")
    return float(mean - q_hi * se), float(mean - q_lo * se)


# ---------------------------------------------------------------------------------------------
# trends


def slopes(matrix: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per-seed least-squares slope of the metric against the factor's positions."""
    x = positions - positions.mean()
    return (matrix - matrix.mean(axis=1, keepdims=True)) @ x / float(x @ x)


def page_pvalue(matrix: np.ndarray) -> float:
    """Page's L test for an increasing trend across ordered levels (seeds are blocks).

    Page's L needs at least two seeds and three levels; with fewer it is not defined (NaN),
    and the slope test, which needs only two levels, decides alone.
    """
    if matrix.shape[0] < 2 or matrix.shape[1] < 3 or is_degenerate(matrix.ravel()):
        return NAN
    return float(sps.page_trend_test(matrix).pvalue)
