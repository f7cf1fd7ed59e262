"""Hypothesis strategies for configs that span their range on every budget.

Hypothesis tries its simplest example first: for ``st.integers(3, 255)`` that is 3, for
``st.sampled_from([1e-3, 3e-3])`` the first item. On the smoke budget (two examples per claim)
the first example is half the evidence, so a claim would mostly test the corner of its range.
These strategies put the simplest example at the range's geometric middle, a typical config,
and spread the others over the whole range (log scale).

Hypothesis draws integers with a bias toward small values and bounds, which would give the middle
again as the second example. So a draw k becomes the position frac(0.5 + k * phi) (a golden-ratio
Weyl sequence): k = 0 is the middle, and k = 1, 2, 3, ... or any large k land far apart.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from instincts.errors import InvalidArgument

GOLDEN = (math.sqrt(5) - 1) / 2  # frac(k * GOLDEN) is spread evenly over [0, 1) for k = 1, 2, 3, ...


def _check_range(lo: float, hi: float, what: str) -> None:
    for name, value in (("lo", lo), ("hi", hi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise InvalidArgument(f"{what}: {name}={value!r} is not allowed: give a finite number > 0")
    if not hi > lo:
        raise InvalidArgument(f"{what}: lo={lo!r}, hi={hi!r} are not allowed: the range needs lo < hi")


def _log_position(lo: float, hi: float) -> st.SearchStrategy[float]:
    """``log(x)`` for x spread over [lo, hi] on a log scale, the simplest example at the geometric middle."""
    mid, half = (math.log(lo) + math.log(hi)) / 2, (math.log(hi) - math.log(lo)) / 2
    return st.integers(0, 2**32 - 1).map(lambda k: mid + half * (2 * ((0.5 + k * GOLDEN) % 1.0) - 1))


def log_floats(lo: float, hi: float, digits: int = 2) -> st.SearchStrategy[float]:
    """Floats log-uniform in [lo, hi], rounded to ``digits`` significant digits (readable configs:
    lr=0.0031, not 0.0031268); the simplest example is the geometric middle."""
    _check_range(lo, hi, "log_floats")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise InvalidArgument(f"log_floats: digits={digits!r} is not allowed: give an integer >= 1")

    def rounded(log_x: float) -> float:
        return min(hi, max(lo, float(f"{math.exp(log_x):.{digits}g}")))

    return _log_position(lo, hi).map(rounded)


def log_integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers log-uniform in [lo, hi] (batch sizes, widths, dataset sizes); the simplest example
    is the geometric middle, rounded."""
    for name, value in (("lo", lo), ("hi", hi)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"log_integers: {name}={value!r} is not allowed: give an integer >= 1")
    _check_range(lo, hi, "log_integers")
    return _log_position(lo, hi).map(lambda log_x: min(hi, max(lo, round(math.exp(log_x)))))
