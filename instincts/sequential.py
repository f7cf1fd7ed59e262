"""Sequential looks: add seeds in pre-planned looks and stop at the first conclusive one.

Why: most claims are either clearly true or clearly false, and a fixed number of seeds spends
the whole budget on both. Looking at the data after each group of seeds and stopping early saves
compute, but naive peeking (testing at alpha at every look) inflates the error rate: four looks
at a one-sided 5% make about 12%. A group-sequential design spends alpha over the looks so that
the chance of a false conclusion over all looks together stays alpha.

Spending. The Lan-DeMets approximation of O'Brien-Fleming, in the form gsDesign calls ``sfLDOF``:
alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)) spent by information fraction t = seeds so far /
maximum seeds, alpha one-sided, alpha(1) = alpha. It spends almost nothing early (the first of
four equal looks needs z > 4.33 at one-sided 2.5%) and keeps the last look close to the fixed-n
test. Each side spends its own alpha: the supporting test ``alpha``, the refuting test
``alpha_refute`` (the plugin gives it a small share, e.g. 0.05 x 0.9 / 6 = 0.0075; 1e-7 works).

Boundaries on the z scale come from the Armitage-McPherson-Rowe recursion: the density of the
score (a Brownian motion B(t) under the null) on the continuation region is carried from look to
look by numerical integration on a grid, and each look's boundary c_k is found by root-finding
so that P(no crossing before k, B(t_k) >= c_k sqrt(t_k)) equals the alpha spent at look k.

Small df. Per-seed metrics have unknown variance and few seeds, so each look is a t test at a
nominal one-sided level (Jennison & Turnbull 2000, sec. 3.8, the "significance level approach").
At the z levels 1 - Phi(c_k) it is liberal, because the looks share their variance estimates:
400,000 null experiments at one-sided 5% gave 5.44% (2/4/6), 5.30% (3/6/9/12), 5.18% (6/12/18/24),
5.14% (8/16/24). So the levels are m (1 - Phi(c_k)) with one multiplier m <= 1 per (looks, alpha),
found by a deterministic Monte Carlo (``_calibration``, lru-cached): >= 1,000,000 null experiments
(>= 2,000 expected crossings), fixed seed, simulated through sufficient statistics (per look block
one normal sum and one chi-square within-block sum of squares, so the cost does not grow with the
seeds); m is the alpha-quantile of min_k p_k / z-level_k, which puts exactly alpha of the simulated
experiments over a boundary. m is about 0.92 for 2/4/6, 0.94 for 3/6/9/12, 0.96-0.98 for 24 seeds,
0.99 for 16/32/48/64. Below alpha 0.01 the Monte Carlo rate is noisy (+-2% at 1e-3), so m is the
smaller of the multipliers at alpha (floored at 1e-3) and at 0.01; below 1e-3 (unresolvable) it is
that of 1e-3: the bias being corrected does not grow as alpha falls (measured: the rate at 1e-3 and
2e-4 is not above alpha), so this is a safe choice. Only 2 seeds per look are needed (``max_looks``).

Evidence (``tests/engine/test_sequential.py``, 99.9% Clopper-Pearson CIs, N = 200,000 each, t tests
on raw normal data at the boundary null, SUPPORTED / REFUTED): 2/4/6 4.99% / 5.01%; 3/6/9/12 5.08% /
5.08%; 6/12/18/24 4.96% / 4.94%; 8/16/24 4.95% / 5.11%, and at alpha_refute 0.0075 REFUTED 0.76%;
16/32/48/64 4.91% / 5.07%. Every equally spaced design of 4..64 seeds with 3 or 4 looks wanted
(168 rates, sides at 0.05, 0.0075, 0.00225) lies within its CI of alpha. At 1e-3: 0.097-0.100%
(4,000,000 each); at 2e-4: 0.019-0.020% (10,000,000 each).

Both one-sided tests of an expectation (the claim's and its opposite's) are calibrated on their
own: SUPPORTED or REFUTED at the first look where one of them crosses, INCONCLUSIVE only after the
last. Stopping for one side can only lower the other side's crossing probability, so each side's
error stays <= its alpha.

After a stop. The naive mean of an early-stopped run is biased up (+6.7% of a 0.5 sd effect with
8/16/24) and its p-value is not uniform. ``run_looks`` reports beside them (``details["sequential"]``):

* ``stagewise_p``: the p-value under the stage-wise ordering for the supporting test, P0(cross
  before look k) + P0(no crossing before k, T_k >= t_obs). The crossing probabilities are the Monte
  Carlo ones at the corrected t levels, so the p-value equals P0(crossed by k) at look k's boundary
  and is <= alpha exactly when the design crossed; between them the tail's shape comes from the
  normal model on the continuation region after the probability transform z = Phi^-1(F_t(T)).
  Measured at the null (8/16/24): P(p <= u) = 1.07%, 4.87%, 19.6%, 49.7% for u = 1, 5, 20, 50%.
  ``stagewise_p_refute`` is the same for the refuting side (-T, its levels).
* ``adjusted_effect``: Whitehead's bias-adjusted estimate, iterated: sd x h(naive / sd), h chosen
  by Monte Carlo (common random numbers over a grid of true effects, the design's stopping rule) so
  that the estimate's mean is the true effect. Measured (8/16/24, alpha_refute 0.0075, N = 400,000):
  mean bias +0.16%, +0.57%, -0.39% of true effects 0.35, 0.5, 1 sd (naive +6.6%, +6.7%, +2.8%;
  se 0.04-0.10%). The one-step Whitehead fixed point left +0.9%, +1.7%, -0.3% (N = 200,000); a
  median-unbiased estimate was not tried.
* ``ci_kind``: "repeated CI at look k" for several looks (the CI at the stopping look's level is a
  repeated confidence interval: it covers at the stated level whenever the run stops), "fixed-n CI"
  for one look. Equivalence stops on two sides: reported naive ("two-sided stopping: not adjusted").

A single-look design puts ``stagewise_p`` and ``adjusted_effect`` (= the naive ones) in ``details``.
The first sequential verdict of a design costs about 1-2 s per side for the calibration and 3 s for
the bias table (cached for the process).
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

__all__ = ["Design", "adjusted_estimate", "after_stop", "annotate", "max_looks", "obf_spending", "run_looks",
           "simulate_t_statistics", "stagewise_p"]

GRID = 2001  # grid points per look for the numerical integration (odd: Simpson's rule)
TAIL_SD = 9.0  # the grid reaches this many standard deviations below the mean
MAX_LOOKS = 10
MIN_SEEDS_PER_LOOK = 2
SIDES = ("support", "refute")
CAL_SEED = 20260412  # the Monte Carlo calibration's fixed seed: the levels are deterministic
CAL_SIMS = 1_000_000  # null experiments per calibration (at least)
CAL_EVENTS = 2_000  # ... and at least this many expected crossings: n_sim >= CAL_EVENTS / alpha
CAL_CHUNK = 250_000
ALPHA_MC_MIN = 1e-3  # below: the multiplier found at this alpha (see _calibration)
ALPHA_RESOLVED = 0.01  # below: the smaller of the multipliers at alpha and at this alpha
BIAS_SIMS = 100_000  # experiments per point of the bias grid
BIAS_ITERATIONS = 4
BIAS_GRID = np.concatenate([np.linspace(-8.0, -3.0, 11)[:-1], np.linspace(-3.0, 3.0, 61),  # delta, in sd units
                            np.linspace(3.0, 8.0, 11)[1:]])


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
    """A group-sequential plan: cumulative seeds at each look and the one-sided alpha of each side.

    ``Design((6, 12, 18, 24), alpha=0.05, alpha_refute=0.0075)`` looks after 6, 12, 18 and 24
    seeds; the supporting test spends ``alpha``, the refuting test ``alpha_refute`` (None: alpha).
    One look is the fixed-n test: its levels are the alphas themselves.
    """

    looks: tuple[int, ...]
    alpha: float = 0.05
    alpha_refute: float | None = None

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
        refute = self.alpha if self.alpha_refute is None else check_alpha(self.alpha_refute)
        object.__setattr__(self, "alpha_refute", refute)

    @classmethod
    def equally_spaced(cls, seeds: int, looks: int, alpha: float = 0.05, alpha_refute: float | None = None) -> Design:
        """``looks`` looks at round(seeds * k / looks) seeds, k = 1..looks."""
        if not isinstance(looks, int) or isinstance(looks, bool) or not 1 <= looks <= MAX_LOOKS:
            raise InvalidArgument(f"looks={looks!r} is not allowed: the number of looks must be an integer "
                                  f"from 1 to {MAX_LOOKS}")
        if not isinstance(seeds, int) or seeds < MIN_SEEDS_PER_LOOK * looks:
            raise InvalidArgument(f"looks={looks} with seeds={seeds!r} is not allowed: each look needs >= "
                                  f"{MIN_SEEDS_PER_LOOK} new seeds, so seeds must be >= {MIN_SEEDS_PER_LOOK * looks}")
        return cls(tuple(round(seeds * k / looks) for k in range(1, looks + 1)), alpha, alpha_refute)

    @property
    def k(self) -> int:
        return len(self.looks)

    @property
    def max_seeds(self) -> int:
        return self.looks[-1]

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.max_seeds for n in self.looks)

    def _alpha(self, side: str) -> float:
        if side not in SIDES:
            raise InvalidArgument(f"side={side!r} is not allowed: give one of {SIDES}")
        return self.alpha if side == "support" else float(self.alpha_refute)

    @property
    def spending(self) -> tuple[float, ...]:
        """Cumulative alpha the supporting side spends by each look (``refute_spending``: the other side)."""
        return _spent(self.fractions, self.alpha)

    @property
    def refute_spending(self) -> tuple[float, ...]:
        return _spent(self.fractions, self._alpha("refute"))

    @property
    def boundaries(self) -> tuple[float, ...]:
        """z-scale boundaries of the supporting side, one per look (cached per fractions and alpha)."""
        return _z_bounds(self.fractions, self.alpha)

    @property
    def refute_boundaries(self) -> tuple[float, ...]:
        return _z_bounds(self.fractions, self._alpha("refute"))

    def correction(self, side: str = "support") -> float:
        """The multiplier (<= 1) on the z levels 1 - Phi(c_k) that keeps the t tests' error at alpha."""
        return _calibration(self.looks, self._alpha(side))[0]

    def levels(self, side: str = "support") -> tuple[float, ...]:
        """One-sided level each look's t test of ``side`` is judged at: m (1 - Phi(c_k)); alpha for one look."""
        alpha = self._alpha(side)
        if self.k == 1:
            return (alpha,)
        m = self.correction(side)
        return tuple(m * float(sps.norm.sf(c)) for c in _z_bounds(self.fractions, alpha))

    @property
    def nominal_levels(self) -> tuple[float, ...]:
        """The supporting test's level at each look (corrected for small df)."""
        return self.levels("support")

    @property
    def refute_levels(self) -> tuple[float, ...]:
        """The refuting test's level at each look (corrected for small df)."""
        return self.levels("refute")

    @property
    def t_boundaries(self) -> tuple[float, ...]:
        """The supporting levels as t critical values with n_k - 1 df (what a look's t statistic must pass)."""
        return tuple(float(c) for c in _t_crit(self.nominal_levels, self.looks))

    def crossed(self, side: str = "support") -> tuple[float, ...]:
        """P_null(the side's t test crosses by look k), k = 1..K (Monte Carlo; alpha at the last look)."""
        return _calibration(self.looks, self._alpha(side))[1]

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"looks": list(self.looks), "alpha": self.alpha, "alpha_refute": self.alpha_refute,
                                  "spending": "Lan-DeMets O'Brien-Fleming",
                                  "z_boundaries": [round(c, 4) for c in self.boundaries],
                                  "nominal_levels": list(self.nominal_levels),
                                  "refute_z_boundaries": [round(c, 4) for c in self.refute_boundaries],
                                  "refute_levels": list(self.refute_levels)}
        if self.k > 1:
            out["level_correction"] = {"support": self.correction("support"), "refute": self.correction("refute"),
                                       "method": f"t levels = m x z levels, m by Monte Carlo (>= {CAL_SIMS:,} "
                                                 f"null experiments, seed {CAL_SEED}); alpha < {ALPHA_RESOLVED:g}: "
                                                 f"the smaller of m at alpha (>= {ALPHA_MC_MIN:g}) and at "
                                                 f"{ALPHA_RESOLVED:g}"}
        return out


def _spent(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    return tuple(float(a) for a in np.atleast_1d(obf_spending(np.asarray(fractions), alpha)))


def _z_bounds(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    if len(fractions) == 1:
        return (float(sps.norm.isf(alpha)),)
    return _boundaries(fractions, alpha)


def max_looks(seeds: int, wanted: int) -> int:
    """The most looks (<= ``wanted``) an equally spaced design over ``seeds`` seeds may have.

    Each look must add >= MIN_SEEDS_PER_LOOK seeds (a t test needs 2); the small-df correction of
    the levels keeps every such design calibrated, so no larger minimum is needed.
    """
    for name, value, low in (("seeds", seeds, 1), ("wanted", wanted, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InvalidArgument(f"{name}={value!r} is not allowed: give an integer >= {low}")
    return max(1, min(wanted, MAX_LOOKS, seeds // MIN_SEEDS_PER_LOOK))


# ---------------------------------------------------------------------------------------------
# after the stop: stage-wise p-value and bias-adjusted estimate


def stagewise_p(design: Design, look: int, t_stat: float | np.ndarray, side: str = "support") -> float | np.ndarray:
    """P_null(an outcome at least as extreme as (look, t_stat) under the stage-wise ordering) for ``side``.

    ``t_stat`` is the supporting test's t statistic (toward the claim); the refuting side uses -t_stat
    and its own levels. = P0(the side crosses before ``look``) + P0(no crossing before, T_look >= t_stat):
    the crossing probabilities A_k are the Monte Carlo ones of the corrected t levels (so the p-value is
    <= the side's alpha exactly when the design crossed), the tail between them comes from the normal model
    on the continuation region after the probability transform z = Phi^-1(F_t(T)). One look: the t test's p.
    """
    _check_look(design, look)
    levels, crossed = design.levels(side), design.crossed(side)
    stat = np.asarray(t_stat, dtype=float) * (1.0 if side == "support" else -1.0)
    upper = tuple(float(c) for c in sps.norm.isf(levels))
    z = sps.norm.isf(sps.t.sf(stat, design.looks[look - 1] - 1)).reshape(-1)
    f = design.fractions
    tail, at_bound = _z_tail(f, upper, look, z), float(_z_tail(f, upper, look, np.asarray([upper[look - 1]]))[0])
    reach = float(_z_tail(f, upper, look, np.asarray([-np.inf]))[0])
    before, by = (crossed[look - 2] if look > 1 else 0.0), crossed[look - 1]
    inside = before + (by - before) * tail / max(at_bound, 1e-300)
    outside = by + (1.0 - by) * (tail - at_bound) / max(reach - at_bound, 1e-300)
    p = np.clip(np.where(z >= upper[look - 1], inside, outside), 0.0, 1.0)
    return float(p[0]) if np.ndim(t_stat) == 0 else p.reshape(np.shape(t_stat))


def _extrapolate(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp, continued beyond the grid with slope 1 (far from the boundaries the bias is constant)."""
    y = np.interp(x, xp, fp)
    y = np.where(x > xp[-1], fp[-1] + (x - xp[-1]), y)
    return np.where(x < xp[0], fp[0] + (x - xp[0]), y)


def _stops(looks: tuple[int, ...], sums: np.ndarray, within: np.ndarray, effect: float, up: np.ndarray,
           down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd at the stopping look of each simulated experiment (first crossing of either side, or the last)."""
    n = np.asarray(looks, dtype=float)
    t, mean = _t_from_blocks(looks, sums, within, effect)
    stop = (t > up) | (t < down)
    stop[:, -1] = True
    rows, at = np.arange(len(t)), np.argmax(stop, axis=1)
    m = mean[rows, at]
    return m.astype(np.float32), (m * np.sqrt(n[at]) / t[rows, at]).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _bias_table(looks: tuple[int, ...], support: tuple[float, ...], refute: tuple[float, ...]) -> np.ndarray:
    """h on BIAS_GRID: the estimate (in sd units) is sd x h(naive / sd), h chosen so that E_delta[estimate] = delta.

    Whitehead's bias adjustment, iterated: h_0(u) = u (the naive mean), h_{j+1} = h_j - r_j(h_j) with
    r_j(delta) = E_delta[sd h_j(naive / sd)] - delta the remaining bias, by Monte Carlo over the grid with
    common random numbers (BIAS_SIMS experiments per point, fixed seed), stopping as the design does
    (t tests at the corrected levels of both sides). BIAS_ITERATIONS steps: the equation is ill-posed,
    so few steps (measured residual bias < 1%, see the module header) and no more.
    """
    sums, within = _blocks(looks, BIAS_SIMS, np.random.default_rng([CAL_SEED + 1, *looks]))
    up, down = _t_crit(support, looks), -_t_crit(refute, looks)
    paths = [_stops(looks, sums, within, float(delta), up, down) for delta in BIAS_GRID]
    h = BIAS_GRID.copy()
    for _ in range(BIAS_ITERATIONS):
        mean_estimate = np.array([np.mean(sd * _extrapolate(m / sd, BIAS_GRID, h)) for m, sd in paths])
        h = h - np.interp(h, BIAS_GRID, mean_estimate - BIAS_GRID)
    return h


def adjusted_estimate(design: Design, look: int, t_stat: float | np.ndarray, n: int, sd: float | np.ndarray,
                      threshold: float, direction: int = 1) -> float | np.ndarray:
    """The bias-adjusted mean after stopping at ``look`` (iterated Whitehead: mean-unbiased by simulation).

    ``t_stat`` = direction (mean - threshold) / (sd / sqrt(n)) is the supporting test's statistic
    (direction +1: the claim is "mean > threshold", -1: "mean < threshold"). The estimate is
    threshold + direction sd h(t_stat / sqrt(n)), h from ``_bias_table``: it undoes the naive mean's
    bias under the design's stopping rule. One look: the naive mean. Vectorised over t_stat and sd.
    """
    _check_look(design, look)
    if n != design.looks[look - 1]:
        raise InvalidArgument(f"n={n!r} is not allowed: look {look} of {design.looks} has {design.looks[look - 1]} "
                              "seeds")
    if direction not in (1, -1):
        raise InvalidArgument(f"direction={direction!r} is not allowed: give 1 (mean > threshold) or -1")
    naive = np.asarray(t_stat, dtype=float) / math.sqrt(n)
    if design.k == 1:
        delta = naive
    else:
        delta = _extrapolate(naive, BIAS_GRID, _bias_table(design.looks, design.nominal_levels, design.refute_levels))
    out = threshold + direction * np.asarray(sd, dtype=float) * delta
    return float(out) if out.ndim == 0 else out


def _check_look(design: Design, look: int) -> None:
    if not isinstance(look, int) or isinstance(look, bool) or not 1 <= look <= design.k:
        raise InvalidArgument(f"look={look!r} is not allowed: give a look from 1 to {design.k}")


# ---------------------------------------------------------------------------------------------
# the engine


def run_looks(design: Design, seeds: Sequence[int], collect: Callable[[Sequence[int]], np.ndarray],
              judge: Callable[[np.ndarray, float, float], Verdict]) -> tuple[np.ndarray, Verdict]:
    """Collect seeds look by look and judge each look at its levels; stop when conclusive.

    ``collect(new_seeds)`` returns a seeds x columns block for the seeds added at a look (only the
    new ones, so nothing is rerun even when an arm cannot be cached); ``judge(data, level,
    level_refute)`` judges all the data so far at the look's one-sided levels of the supporting
    and the refuting test. A sample with zero spread at an interim look does not stop the run: a
    few equal values (tied accuracies) are not yet proof that the metric is deterministic.
    Returns the data used and the annotated verdict.
    """
    if len(seeds) != design.max_seeds:
        raise InvalidArgument(f"{len(seeds)} seeds given for a design that plans {design.max_seeds}")
    blocks: list[np.ndarray] = []
    done = 0
    for k, (n, level, level_refute) in enumerate(zip(design.looks, design.nominal_levels, design.refute_levels), 1):
        blocks.append(np.asarray(collect(list(seeds[done:n])), dtype=float))
        done = n
        data = np.concatenate(blocks)
        verdict = judge(data, level, level_refute)
        degenerate = verdict.ci[0] == verdict.ci[1]
        if k == design.k or (verdict.outcome is not INCONCLUSIVE and not degenerate):
            return data, annotate(verdict, design, k)
    raise AssertionError("unreachable: the last look always returns")  # pragma: no cover


def _direction(verdict: Verdict) -> tuple[int, float] | None:
    """(+1, t) for a band [t, None] ("mean > t"), (-1, t) for [None, t]; None when both ends are finite."""
    band = verdict.details.get("band")
    if not band or len(band) != 2 or (band[0] is None) == (band[1] is None):
        return None
    return (1, float(band[0])) if band[1] is None else (-1, float(band[1]))


def _sd(verdict: Verdict) -> float:
    """The seed-to-seed sd: the verdict's, or recovered from its t interval at level alpha."""
    sd = getattr(verdict, "sd", None)
    if sd is not None and math.isfinite(sd):
        return float(sd)
    if verdict.n < 2 or not 0.0 < verdict.alpha < 0.5:
        return math.nan
    half = (verdict.ci[1] - verdict.ci[0]) / 2.0
    return half / float(sps.t.isf(verdict.alpha, verdict.n - 1)) * math.sqrt(verdict.n)


def after_stop(verdict: Verdict, design: Design, look: int) -> dict[str, object]:
    """The stopping look, the naive and adjusted estimates and p-values, and what the CI is."""
    out: dict[str, object] = {"stopped_at_look": look, "naive_effect": verdict.effect, "naive_p": verdict.pvalue,
                              "ci_kind": f"repeated CI at look {look}" if design.k > 1 else "fixed-n CI",
                              "stagewise_p": verdict.pvalue, "adjusted_effect": verdict.effect,
                              "stagewise_p_refute": getattr(verdict, "pvalue_refute", None)}
    if design.k == 1:
        return out
    sided, sd = _direction(verdict), _sd(verdict)
    if sided is None:
        return {**out, "adjust_reason": "two-sided stopping: not adjusted"}
    if not (math.isfinite(sd) and sd > 0.0 and math.isfinite(verdict.effect)):
        return {**out, "stagewise_p": None, "adjusted_effect": None, "stagewise_p_refute": None,
                "adjust_reason": "zero spread: no t statistic"}
    direction, threshold = sided
    t_stat = direction * (verdict.effect - threshold) / (sd / math.sqrt(verdict.n))
    return {**out, "stagewise_p": stagewise_p(design, look, t_stat),
            "stagewise_p_refute": stagewise_p(design, look, t_stat, side="refute"),
            "adjusted_effect": adjusted_estimate(design, look, t_stat, verdict.n, sd, threshold, direction),
            "estimator": "Whitehead bias-adjusted mean (stage-wise p: stage-wise ordering)"}


def annotate(verdict: Verdict, design: Design, look: int) -> Verdict:
    """The verdict with the seeds used, the maximum, the look index, the design and the after-stop numbers.

    Several looks: under ``details["sequential"]``; one look: ``stagewise_p`` and ``adjusted_effect``
    (the naive ones) at the top of ``details``.
    """
    details = dict(verdict.details)
    stop = after_stop(verdict, design, look)
    if design.k > 1:
        details["sequential"] = {**design.describe(), **stop}
    else:
        details.update(stagewise_p=stop["stagewise_p"], adjusted_effect=stop["adjusted_effect"])
    return replace(verdict, seeds_max=design.max_seeds, look=look, looks=design.k, details=details)


# ---------------------------------------------------------------------------------------------
# small-df correction: t statistics simulated through their sufficient statistics


def _block_sizes(looks: Sequence[int]) -> np.ndarray:
    return np.diff(np.concatenate([[0], np.asarray(looks)]))


def _blocks(looks: Sequence[int], n_sim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per look block of standard normal seeds: the block's sum and its within-block sum of squares."""
    b = _block_sizes(looks)
    sums = rng.standard_normal((n_sim, len(b))) * np.sqrt(b)
    within = np.zeros((n_sim, len(b)))
    for j, size in enumerate(b):
        if size > 1:
            within[:, j] = rng.chisquare(size - 1, n_sim)
    return sums, within


def _t_from_blocks(looks: Sequence[int], sums: np.ndarray, within: np.ndarray,
                   effect: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One-sample t statistics against 0 and running means at each look, for seeds with mean ``effect``, sd 1."""
    n = np.asarray(looks, dtype=float)
    b = _block_sizes(looks)
    shifted = sums + effect * b
    total = np.cumsum(shifted, axis=1)
    ss = np.maximum(np.cumsum(within + shifted * shifted / b, axis=1) - total * total / n, 1e-300)
    return total / np.sqrt(n) / np.sqrt(ss / (n - 1)), total / n


def simulate_t_statistics(looks: Sequence[int], n_sim: int, rng: np.random.Generator,
                          effect: float = 0.0) -> np.ndarray:
    """n_sim x looks t statistics of normal seeds (mean ``effect``, sd 1), as t tests on the data would give.

    Costs O(n_sim x looks) whatever the seeds: each look block is one normal sum and one chi-square.
    """
    sums, within = _blocks(tuple(looks), n_sim, rng)
    return _t_from_blocks(tuple(looks), sums, within, effect)[0]


def _t_crit(levels: Sequence[float], looks: Sequence[int]) -> np.ndarray:
    return np.asarray([sps.t.isf(p, n - 1) for p, n in zip(levels, looks)])


@functools.lru_cache(maxsize=128)
def _calibration(looks: tuple[int, ...], alpha: float) -> tuple[float, tuple[float, ...]]:
    """(m, A): the multiplier m <= 1 on the z levels that makes P_null(any t test crosses) = alpha, and A_k =
    P_null(a crossing by look k) at the corrected levels, by a deterministic Monte Carlo over null experiments.

    Below ALPHA_RESOLVED the Monte Carlo rate is noisy (2,000 crossings at least: +-2%), and the bias it
    corrects does not grow as alpha falls, so the smaller of the two multipliers (at alpha, floored at
    ALPHA_MC_MIN, and at ALPHA_RESOLVED) is used: a safe choice. Below ALPHA_MC_MIN, A comes from the
    normal (z) model at the corrected levels.
    """
    if len(looks) == 1:
        return 1.0, (alpha,)
    z_levels = sps.norm.sf(np.asarray(_boundaries(tuple(n / looks[-1] for n in looks), alpha)))
    if alpha >= ALPHA_RESOLVED:
        return _monte_carlo(looks, alpha, z_levels, None)
    m = min(_monte_carlo(looks, max(alpha, ALPHA_MC_MIN), None, None)[0],
            _calibration(looks, ALPHA_RESOLVED)[0])
    if alpha < ALPHA_MC_MIN:
        return m, _z_crossings(looks, tuple(float(v) for v in m * z_levels))
    return _monte_carlo(looks, alpha, z_levels, m)


@functools.lru_cache(maxsize=128)
def _null_ratios(looks: tuple[int, ...], alpha: float) -> tuple[np.ndarray, int]:
    """p_k / z level_k per look (inf where p_k >= the z level) for the null experiments with some p_k below
    it, and the number simulated (n_sim >= CAL_SIMS and >= CAL_EVENTS / alpha)."""
    z_levels = sps.norm.sf(np.asarray(_boundaries(tuple(n / looks[-1] for n in looks), alpha)))
    n_sim = max(CAL_SIMS, math.ceil(CAL_EVENTS / alpha))
    rng = np.random.default_rng([CAL_SEED, *looks])
    crit, df = _t_crit(z_levels, looks), np.asarray(looks) - 1
    ratios = []
    for start in range(0, n_sim, CAL_CHUNK):
        t = _t_from_blocks(looks, *_blocks(looks, min(CAL_CHUNK, n_sim - start), rng))[0]
        rows = np.flatnonzero((t > crit).any(axis=1))
        r = np.full((len(rows), len(looks)), np.inf)
        hit = t[rows] > crit
        r[hit] = special.stdtr(np.broadcast_to(df, hit.shape)[hit], -t[rows][hit]) / np.broadcast_to(
            z_levels, hit.shape)[hit]
        ratios.append(r)
    return np.concatenate(ratios), n_sim


def _monte_carlo(looks: tuple[int, ...], alpha: float, z_levels: np.ndarray | None,
                 m: float | None) -> tuple[float, tuple[float, ...]]:
    """The Monte Carlo multiplier (or the given ``m``) and the crossing probabilities by look at m."""
    r, n_sim = _null_ratios(looks, alpha)
    if m is None:
        j = round(alpha * n_sim)  # the multiplier puts exactly j of n_sim null experiments over a boundary
        smallest = np.sort(r.min(axis=1))
        m = 1.0 if len(smallest) <= j else min(1.0, float(0.5 * (smallest[j - 1] + smallest[j])))
    if z_levels is None:
        return m, ()
    first = np.where((r < m).any(axis=1), np.argmax(r < m, axis=1), len(looks))
    crossed = np.cumsum(np.bincount(first, minlength=len(looks) + 1)[:-1]) / n_sim
    crossed[0] = m * z_levels[0]  # exact: the first look is one t test
    return m, tuple(float(a) for a in np.maximum.accumulate(crossed))


# ---------------------------------------------------------------------------------------------
# the normal model on the continuation region (for the stage-wise p-value's tail shape)


@functools.lru_cache(maxsize=128)
def _continuation(fractions: tuple[float, ...], upper: tuple[float, ...]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Grid and quadrature mass of B(t_k) on {no crossing of the upper z boundaries up to look k}, k < K."""
    out = []
    t0 = fractions[0]
    x = np.linspace(-TAIL_SD * math.sqrt(t0), upper[0] * math.sqrt(t0), GRID)
    mass = _simpson(GRID, x[1] - x[0]) * sps.norm.pdf(x, scale=math.sqrt(t0))
    out.append((x, mass))
    for k in range(1, len(fractions) - 1):
        t, step = fractions[k], math.sqrt(fractions[k] - fractions[k - 1])
        new_x = np.linspace(-TAIL_SD * math.sqrt(t), upper[k] * math.sqrt(t), GRID)
        gap = (new_x[:, None] - x[None, :]) / step
        dens = np.exp(-0.5 * gap * gap) @ mass / (step * math.sqrt(2.0 * math.pi))
        x, mass = new_x, _simpson(GRID, new_x[1] - new_x[0]) * dens
        out.append((x, mass))
    return tuple(out)


def _z_tail(fractions: tuple[float, ...], upper: tuple[float, ...], look: int, z: np.ndarray) -> np.ndarray:
    """P_null(no crossing before ``look``, Z_look >= z) in the normal model, vectorised over z."""
    z = np.asarray(z, dtype=float)
    if look == 1:
        return sps.norm.sf(z)
    x, mass = _continuation(fractions, upper)[look - 2]
    t, step = fractions[look - 1], math.sqrt(fractions[look - 1] - fractions[look - 2])
    return special.ndtr((x[None, :] - z.reshape(-1, 1) * math.sqrt(t)) / step) @ mass


def _z_crossings(looks: tuple[int, ...], levels: tuple[float, ...]) -> tuple[float, ...]:
    """P_null(a crossing by look k) in the normal model with one-sided levels per look."""
    fractions = tuple(n / looks[-1] for n in looks)
    upper = tuple(float(c) for c in sps.norm.isf(levels))
    reach = [1.0] + [float(mass.sum()) for _, mass in _continuation(fractions, upper)]
    crossed = [1.0 - reach[k] + float(_z_tail(fractions, upper, k + 1, np.asarray([upper[k]]))[0])
               for k in range(len(looks))]
    return tuple(float(v) for v in np.maximum.accumulate(crossed))
