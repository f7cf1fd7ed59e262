"""How big and how sure: effect sizes, probability of improvement, and what a run could detect.

A p-value says whether an effect is there, not how large it is or how often a seed shows it. Each
paired verdict also carries (as rliable, Agarwal et al. 2021, and Bouthillier et al. 2021 report):

* the seed-to-seed sd of the paired differences (or slopes, or prediction errors), ddof=1;
* the standardized paired effect d_z = mean / sd (Cohen's d for paired data);
* the probability of improvement P(A > B), estimated by the share of seeds whose difference is
  > 0 (ties count half), with a Wilson score interval (Wilson 1927): unlike Clopper-Pearson it
  takes the half counts that ties give, and it does not collapse to a point at 0 or 1 seeds;
* for an INCONCLUSIVE verdict, the minimum detectable effect (MDE) at 80% power of the run's
  one-sided t test at its n and alpha, and the seeds a conclusive answer would need at the
  observed effect (statsmodels ``TTestPower``). Both plug the sample sd in for the true one, the
  usual (and optimistic, at small n) practice of a power analysis.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
from scipy import stats as sps

from instincts.errors import InvalidArgument

POWER = 0.8  # the power the MDE and the seeds needed are computed for
SEEDS_CAP = 10_000  # seeds_needed is capped here: "at least this many"
NAN = math.nan  # one NaN object, so verdicts holding it compare equal


def _real(name: str, value: object, low: float, high: float, low_open: bool = True, high_open: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    ok = ok and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
    if not ok:
        brackets = ("(" if low_open else "[") + f"{low:g}, {high:g}" + (")" if high_open else "]")
        raise InvalidArgument(f"{name}={value!r} is not allowed: {name} must be a finite number in {brackets}")
    return float(value)


def _nobs(n: object) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, (bool, np.bool_)) or n < 2:
        raise InvalidArgument(f"n={n!r} is not allowed: a t test needs an integer number of seeds >= 2")
    return int(n)


def _values(values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size < 1 or not np.all(np.isfinite(arr)):
        raise InvalidArgument(f"values must be a non-empty 1-D array of finite numbers, got shape {arr.shape}")
    return arr


def spread(values: object) -> float:
    """Seed-to-seed sd (ddof=1); NaN for a single seed."""
    arr = _values(values)
    return float(arr.std(ddof=1)) if arr.size > 1 else NAN


def standardized(mean: float, sd: float) -> float:
    """d_z = mean / sd, the effect in units of its own seed-to-seed spread; NaN when sd is 0 or NaN."""
    return float(mean) / float(sd) if sd > 0 and math.isfinite(sd) else NAN


def share_above(values: object, threshold: float = 0.0) -> float:
    """The share of seeds with value > threshold, ties (value == threshold) counting half."""
    arr = _values(values)
    return float(((arr > threshold).sum() + 0.5 * (arr == threshold).sum()) / arr.size)


def share_within(values: object, tol: float) -> float:
    """The share of seeds with |value| < tol, a value at exactly ±tol counting half."""
    arr = np.abs(_values(values))
    return float(((arr < tol).sum() + 0.5 * (arr == tol).sum()) / arr.size)


def wilson_interval(share: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a proportion observed as ``share`` of ``n`` trials."""
    share = _real("share", share, 0.0, 1.0, low_open=False, high_open=False)
    n = int(_real("n", n, 0.0, math.inf))
    confidence = _real("confidence", confidence, 0.0, 1.0)
    z = float(sps.norm.isf((1.0 - confidence) / 2.0))
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def detectable_shift(n: int, alpha: float, power: float = POWER) -> float:
    """The standardized shift (in sds) a one-sided one-sample t test at ``alpha`` with ``n``
    seeds detects with probability ``power`` (statsmodels ``TTestPower.solve_power``)."""
    n, alpha = _nobs(n), _real("alpha", alpha, 0.0, 0.5)
    return _shift(n, alpha, _real("power", power, alpha, 1.0))


@functools.lru_cache(maxsize=256)
def _shift(n: int, alpha: float, power: float) -> float:
    """Cached: a root search per verdict would cost more than the test itself."""
    from statsmodels.stats.power import TTestPower  # imported late: ~1 s at start-up

    return float(TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="larger"))


def minimum_detectable_effect(n: int, sd: float, alpha: float, threshold: float = 0.0, direction: float = 1.0,
                              power: float = POWER) -> float:
    """The true value, in the metric's unit, the test against ``threshold`` detects at ``power``:
    threshold + direction * shift * sd (direction +1: the test asks "greater than threshold",
    -1: "less than"). NaN when sd is 0 (the t test cannot judge)."""
    sd = _real("sd", sd, 0.0, math.inf, low_open=False)
    if direction not in (1.0, -1.0):
        raise InvalidArgument(f"direction={direction!r} is not allowed: give +1 (greater) or -1 (less)")
    if sd == 0.0:
        return NAN
    return float(threshold) + direction * detectable_shift(n, alpha, power) * sd


def seeds_needed(effect_size: float, alpha: float, power: float = POWER, cap: int = SEEDS_CAP) -> int | None:
    """Seeds for a one-sided t test at ``alpha`` to detect a standardized effect |effect_size| at
    ``power`` (rounded up); ``cap`` when more would be needed; None when the effect is 0 or NaN."""
    alpha = _real("alpha", alpha, 0.0, 0.5)
    if not isinstance(effect_size, numbers.Real) or not math.isfinite(effect_size) or effect_size == 0:
        return None
    from statsmodels.stats.power import TTestPower

    solver = TTestPower()
    size = abs(float(effect_size))
    if solver.power(effect_size=size, nobs=cap, alpha=alpha, alternative="larger") < power:
        return cap
    try:
        nobs = float(solver.solve_power(effect_size=size, nobs=None, alpha=alpha, power=power, alternative="larger"))
    except (ValueError, RuntimeError):  # pragma: no cover - the root finder failed: search instead
        nobs = math.nan
    if not math.isfinite(nobs):  # pragma: no cover
        return None
    n = max(2, math.ceil(nobs - 1e-9))
    while n < cap and solver.power(effect_size=size, nobs=n, alpha=alpha, alternative="larger") < power:
        n += 1  # the root is approximate: step up to the first n that reaches the power
    return min(n, cap)
