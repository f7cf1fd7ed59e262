"""Sequential looks: add seeds in pre-planned looks and stop at the first conclusive one.

Why: most claims are either clearly true or clearly false, and a fixed number of seeds spends
the whole budget on both. Looking at the data after each group of seeds and stopping early saves
compute, but naive peeking (testing at alpha at every look) inflates the error rate: four looks
at a one-sided 5% make about 12%. A group-sequential design spends alpha over the looks so that
the chance of a false conclusion over all looks together stays alpha.

The design here is the Lan-DeMets approximation of O'Brien-Fleming, in the form gsDesign calls
``sfLDOF``: alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)) spent by information fraction
t = seeds so far / maximum seeds, with alpha one-sided and alpha(1) = alpha. It spends almost
nothing early (the first of four equal looks needs z > 4.33 at one-sided 2.5%) and keeps the
last look close to the fixed-n test, so little power is lost when the effect is borderline.

Boundaries on the z scale come from the Armitage-McPherson-Rowe recursion: the density of the
score (a Brownian motion B(t) under the null) on the continuation region is carried from look to
look by numerical integration on a grid, and each look's boundary b_k is found by root-finding
so that P(no crossing before k, B(t_k) >= b_k) equals the alpha spent at look k.

Per-seed metrics have unknown variance and few seeds, so each look is judged by a t test, not a
z test: the look's z boundary c_k becomes the nominal one-sided level p_k = 1 - Phi(c_k), and a
look rejects when the t test's one-sided p-value (n_k - 1 df) is below p_k. That is the
"significance level approach" of Jennison & Turnbull (2000, sec. 3.8); ``tests/test_sequential.py``
checks by simulation that it keeps the error rate within the binomial CI of alpha for 6/12/18/24
and 8/16/24 seeds. It is not exact: each look's level is exact on its own, but the looks share
their variance estimates, and 400,000 simulated null experiments at one-sided 5% give 5.18%
(6/12/18/24), 5.14% (8/16/24), 5.30% (3/6/9/12) and 5.06% (16/32/48/64): a small liberal bias that
shrinks with the seeds per look (and with alpha: 0.84% at alpha 0.83%, 6/12/18/24).

Both one-sided tests of an expectation (the claim's and its opposite's) use the same boundaries:
SUPPORTED or REFUTED at the first look where one of them crosses, INCONCLUSIVE only after the
last. Stopping for one side can only lower the other side's crossing probability, so each side's
error stays <= alpha.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

from instincts.errors import InvalidArgument
from instincts.expect import check_alpha
from instincts.verdict import INCONCLUSIVE, Verdict

__all__ = ["Design", "annotate", "obf_spending", "run_looks"]

GRID = 2001  # grid points per look for the numerical integration (odd: Simpson's rule)
TAIL_SD = 9.0  # the grid reaches this many standard deviations below the mean
MAX_LOOKS = 10


def obf_spending(t: float | np.ndarray, alpha: float) -> float | np.ndarray:
    """Cumulative one-sided alpha spent by information fraction t (Lan-DeMets O'Brien-Fleming)."""
    t = np.asarray(t, dtype=float)
    z = sps.norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore"):
        spent = 2.0 * sps.norm.sf(z / np.sqrt(t))
    return float(spent) if spent.ndim == 0 else spent


def _simpson(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3.0


def _excess(b: float, mass: np.ndarray, x: np.ndarray, step: float, target: float) -> float:
    """P(continue to the last look at x, then B jumps above b) - the alpha to spend at this look."""
    return float(mass @ special.ndtr((x - b) / step)) - target


@functools.lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """z-scale upper boundaries c_k with P_null(first crossing at look k) = alpha(t_k) - alpha(t_{k-1})."""
    spent = obf_spending(np.asarray(fractions), alpha)
    increments = np.diff(np.concatenate([[0.0], spent]))
    t0 = fractions[0]
    bounds = [float(sps.norm.isf(increments[0]))]
    # the density of B(t) on the continuation region, on a grid x with quadrature weights w
    x = np.linspace(-TAIL_SD * math.sqrt(t0), bounds[0] * math.sqrt(t0), GRID)
    dens = sps.norm.pdf(x, scale=math.sqrt(t0))
    w = _simpson(GRID, x[1] - x[0])
    for k in range(1, len(fractions)):
        t = fractions[k]
        step = math.sqrt(t - fractions[k - 1])
        mass = w * dens
        target = float(increments[k])
        hi = 12.0 * math.sqrt(t)
        if _excess(hi, mass, x, step, target) >= 0:  # nothing left to spend at this look (machine precision)
            b = hi
        else:
            b = optimize.brentq(_excess, -12.0 * math.sqrt(t), hi, args=(mass, x, step, target), xtol=1e-12)
        bounds.append(b / math.sqrt(t))
        if k + 1 < len(fractions):
            new_x = np.linspace(-TAIL_SD * math.sqrt(t), b, GRID)
            gap = (new_x[:, None] - x[None, :]) / step
            dens = np.exp(-0.5 * gap * gap) @ mass / (step * math.sqrt(2.0 * math.pi))
            x, w = new_x, _simpson(GRID, new_x[1] - new_x[0])
    return tuple(bounds)


@dataclass(frozen=True)
class Design:
    """A group-sequential plan: cumulative seeds at each look and the one-sided alpha per side.

    ``Design((6, 12, 18, 24), alpha=0.05)`` looks after 6, 12, 18 and 24 seeds. One look is the
    fixed-n test: its nominal level is alpha itself.
    """

    looks: tuple[int, ...]
    alpha: float = 0.05

    def __post_init__(self) -> None:
        looks = tuple(self.looks) if isinstance(self.looks, (list, tuple)) else self.looks
        if not isinstance(looks, tuple) or not looks or not 1 <= len(looks) <= MAX_LOOKS:
            raise InvalidArgument(f"looks={self.looks!r} is not allowed: give 1 to {MAX_LOOKS} cumulative seed "
                                  "counts, e.g. (6, 12, 18, 24)")
        if any(not isinstance(n, int) or isinstance(n, bool) for n in looks) or looks[0] < 2 or any(
                b <= a for a, b in zip(looks, looks[1:])):
            raise InvalidArgument(f"looks={self.looks!r} is not allowed: seed counts must be strictly increasing "
                                  "integers, the first >= 2 (a t test needs 2 seeds)")
        object.__setattr__(self, "looks", looks)
        object.__setattr__(self, "alpha", check_alpha(self.alpha))

    @classmethod
    def equally_spaced(cls, seeds: int, looks: int, alpha: float = 0.05) -> Design:
        """``looks`` looks at round(seeds * k / looks) seeds, k = 1..looks."""
        if not isinstance(looks, int) or isinstance(looks, bool) or not 1 <= looks <= MAX_LOOKS:
            raise InvalidArgument(f"looks={looks!r} is not allowed: the number of looks must be an integer "
                                  f"from 1 to {MAX_LOOKS}")
        if not isinstance(seeds, int) or seeds < 2 * looks:
            raise InvalidArgument(f"looks={looks} with seeds={seeds!r} is not allowed: each look needs >= 2 new "
                                  f"seeds, so seeds must be >= {2 * looks}")
        return cls(tuple(round(seeds * k / looks) for k in range(1, looks + 1)), alpha)

    @property
    def k(self) -> int:
        return len(self.looks)

    @property
    def max_seeds(self) -> int:
        return self.looks[-1]

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.max_seeds for n in self.looks)

    @property
    def spending(self) -> tuple[float, ...]:
        """Cumulative alpha spent by each look."""
        return tuple(float(a) for a in np.atleast_1d(obf_spending(np.asarray(self.fractions), self.alpha)))

    @property
    def boundaries(self) -> tuple[float, ...]:
        """z-scale boundaries, one per look (cached per fractions and alpha)."""
        if self.k == 1:
            return (float(sps.norm.isf(self.alpha)),)
        return _boundaries(self.fractions, self.alpha)

    @property
    def nominal_levels(self) -> tuple[float, ...]:
        """One-sided level each look's t test is judged at: 1 - Phi(c_k); alpha itself for one look."""
        if self.k == 1:
            return (self.alpha,)
        return tuple(float(sps.norm.sf(c)) for c in self.boundaries)

    @property
    def t_boundaries(self) -> tuple[float, ...]:
        """The same levels as t critical values with n_k - 1 df (what a look's t statistic must pass)."""
        return tuple(float(sps.t.isf(p, n - 1)) for p, n in zip(self.nominal_levels, self.looks))

    def describe(self) -> dict[str, object]:
        return {"looks": list(self.looks), "alpha": self.alpha, "spending": "Lan-DeMets O'Brien-Fleming",
                "z_boundaries": [round(c, 4) for c in self.boundaries],
                "nominal_levels": list(self.nominal_levels)}


def run_looks(design: Design, seeds: Sequence[int], collect: Callable[[Sequence[int]], np.ndarray],
              judge: Callable[[np.ndarray, float], Verdict]) -> tuple[np.ndarray, Verdict]:
    """Collect seeds look by look and judge each look at its nominal level; stop when conclusive.

    ``collect(new_seeds)`` returns a seeds x columns block for the seeds added at a look (only the
    new ones, so nothing is rerun even when an arm cannot be cached); ``judge(data, level)`` judges
    all the data so far at the look's nominal one-sided level. A sample with zero spread at an
    interim look does not stop the run: a few equal values (tied accuracies) are not yet proof
    that the metric is deterministic. Returns the data used and the annotated verdict.
    """
    if len(seeds) != design.max_seeds:
        raise InvalidArgument(f"{len(seeds)} seeds given for a design that plans {design.max_seeds}")
    blocks: list[np.ndarray] = []
    done = 0
    for k, (n, level) in enumerate(zip(design.looks, design.nominal_levels), 1):
        blocks.append(np.asarray(collect(list(seeds[done:n])), dtype=float))
        done = n
        data = np.concatenate(blocks)
        verdict = judge(data, level)
        degenerate = verdict.ci[0] == verdict.ci[1]
        if k == design.k or (verdict.outcome is not INCONCLUSIVE and not degenerate):
            return data, annotate(verdict, design, k)
    raise AssertionError("unreachable: the last look always returns")  # pragma: no cover


def annotate(verdict: Verdict, design: Design, look: int) -> Verdict:
    """The verdict with the seeds used, the maximum, the look index and (for >1 look) the design."""
    details = dict(verdict.details)
    if design.k > 1:
        details["sequential"] = {**design.describe(), "stopped_at_look": look}
    return replace(verdict, seeds_max=design.max_seeds, look=look, looks=design.k, details=details)
