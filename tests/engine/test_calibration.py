"""Calibration by simulation: every expectation's error rates and power, measured.

The pattern of scipy's ``test_resampling.py``: simulate thousands of experiments with numpy
stand-ins for per-seed metrics (paired differences of 16 seeds; seeds x levels matrices for
trends), judge each with the engine exactly as a claim would, and compare the rate of each
outcome with what the test promises:

* at the boundary null (true difference = min_effect, -margin, ±margin; zero slope) the rate of
  SUPPORTED is alpha: ``alpha`` must lie in the 99.9% Clopper-Pearson CI of the observed rate
  (``scipy.stats.binomtest(k, N).proportion_ci``). At the same point the opposite claim is at its
  boundary too, so the rate of REFUTED must also be alpha; for Equivalent and Predicts, which
  refute by two one-sided tests at alpha / 2 each, it is alpha / 2 there (the far side is 8 SE
  away), and at most alpha over the whole grid of margin / SE in {0, 0.2, 0.5, 1, 4} and true
  means 0, ±margin (``test_equivalence_refutes_at_alpha_over_the_grid``, N = 20,000 per cell
  fast, 200,000 slow, by a vectorised twin of the rule checked against ``judge``);
* judged with two levels (``alpha_refute``), SUPPORTED errs at alpha and REFUTED at alpha_refute;
* under a planted effect the power (rate of SUPPORTED) must be significantly above a stated floor
  and match the textbook power of the test (noncentral t; numerical integration for TOST),
  and the rate of a false REFUTED must stay below alpha;
* splitting alpha (``judge(sample, alpha=alpha / k)``) gives rates within the CI of alpha / k;
* Exact is deterministic: every error <= tol is SUPPORTED, any error above tol is REFUTED.

Every measured rate is printed in the "calibration" section of the terminal summary (see
``tests/conftest.py``). The fast set (default) uses N = 2000 experiments per null; the slow set
(``-m slow``) uses N = 20000 and also probes heavy-tailed (t, 5 df) and skewed (gamma)
differences against Bradley's robustness bands. All simulations use fixed numpy seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import integrate, special
from scipy import stats as sps

from instincts.expect import Decreasing, Equivalent, Exact, Expectation, Increasing, NonInferior, Predicts, Superior
from instincts.verdict import REFUTED, SUPPORTED, Outcome

ALPHA = 0.05
N_SEEDS = 16  # paired seeds per simulated experiment
N_LEVELS = 5  # levels of the ordered factor in trend experiments
N_FAST = 2000  # experiments per boundary null, default run
N_SLOW = 20000  # experiments per boundary null, -m slow
N_POWER = 500  # experiments per power estimate
CONFIDENCE = 0.999  # of the binomial CI around each observed rate
SD = 0.01  # per-seed noise: one percentage point of accuracy, the scale the claims work at
MARGIN = 0.01  # 1pp: NonInferior and Equivalent margins
MIN_EFFECT = 0.005  # 0.5pp: Superior's minimum effect
POSITIONS = np.arange(N_LEVELS, dtype=float)
SLOPE_SD = SD / math.sqrt(float(((POSITIONS - POSITIONS.mean()) ** 2).sum()))  # sd of one seed's slope


# ---------------------------------------------------------------------------------------------
# numpy stand-ins for per-seed metrics


def noise(rng: np.random.Generator, shape: tuple[int, ...], dist: str) -> np.ndarray:
    """Mean-zero noise with standard deviation SD."""
    if dist == "normal":
        return rng.normal(0.0, SD, shape)
    if dist == "t5":  # heavy tails, symmetric (variance of t_5 is 5/3)
        return rng.standard_t(5, shape) * SD / math.sqrt(5.0 / 3.0)
    if dist.startswith("gamma"):  # right-skewed: gamma(k) has skewness 2 / sqrt(k)
        k = float(dist.removeprefix("gamma"))
        return (rng.gamma(k, 1.0, shape) - k) / math.sqrt(k) * SD
    raise ValueError(dist)


def skewness(dist: str) -> float:
    return 2.0 / math.sqrt(float(dist.removeprefix("gamma"))) if dist.startswith("gamma") else 0.0


def paired_differences(rng: np.random.Generator, n_sim: int, mean: float | np.ndarray,
                       dist: str = "normal") -> np.ndarray:
    """n_sim experiments x N_SEEDS paired differences (arm A - arm B) with the given true mean."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (n_sim,))[:, None]
    return mean + noise(rng, (n_sim, N_SEEDS), dist)


def trend_matrices(rng: np.random.Generator, n_sim: int, slope: float, dist: str = "normal") -> np.ndarray:
    """n_sim experiments x N_SEEDS seeds x N_LEVELS levels: seed offset + slope * level + noise.

    The per-seed offsets are large (5 SD) so that a test that does not pair by seed would lose.
    """
    offsets = rng.normal(0.7, 5 * SD, (n_sim, N_SEEDS, 1))
    return offsets + slope * POSITIONS + noise(rng, (n_sim, N_SEEDS, N_LEVELS), dist)


def judge_all(expect: Expectation, samples: np.ndarray, alpha: float | None = None) -> list[Outcome]:
    return [expect.judge(sample, alpha=alpha).outcome for sample in samples]


# ---------------------------------------------------------------------------------------------
# rates, their binomial CIs and the printed lines


def rate_line(label: str, what: str, k: int, n: int, target_text: str) -> tuple[str, float, float]:
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE)
    line = (f"{label}: {what} {k / n:.2%} ({k}/{n}), {CONFIDENCE:.1%} CI [{ci.low:.2%}, {ci.high:.2%}]; "
            f"{target_text}")
    return line, ci.low, ci.high


@dataclass(frozen=True)
class Rate:
    """An observed rate k / n and what it must be compatible with: ``target`` (exact calibration,
    target inside the rate's 99.9% CI) or ``band`` (robustness: the CI meets the band)."""

    label: str
    what: str
    k: int
    n: int
    target: float | None = None
    band: tuple[float, float] | None = None
    band_name: str = ""

    def judged(self) -> tuple[str, bool]:
        if self.target is not None:
            p = sps.binomtest(self.k, self.n, self.target).pvalue
            text = f"alpha {self.target:.2%} (binomial p={p:.3g})"
        else:
            text = f"{self.band_name} band [{self.band[0]:.2%}, {self.band[1]:.2%}]"
        line, lo, hi = rate_line(self.label, self.what, self.k, self.n, text)
        ok = lo <= self.target <= hi if self.target is not None else hi >= self.band[0] and lo <= self.band[1]
        return line, ok


def check_rates(log: Callable[[str], None], rates: list[Rate]) -> None:
    """Log every rate first (so all show in the summary), then fail on any that is off."""
    judged = [rate.judged() for rate in rates]
    for line, _ in judged:
        log(line)
    off = [line for line, ok in judged if not ok]
    assert not off, "rates off:\n" + "\n".join(off)


def check_power(log: Callable[[str], None], label: str, outcomes: list[Outcome], floor: float,
                alpha: float, theory: float | None) -> None:
    """Power is significantly above ``floor``, matches theory, and false REFUTED stays <= alpha."""
    n = len(outcomes)
    counts = Counter(outcomes)
    k = counts[SUPPORTED]
    extra = f"floor {floor:.0%}" + (f"; theory {theory:.2%}" if theory is not None else "")
    line, lo, hi = rate_line(f"{label} power", "SUPPORTED", k, n, extra)
    log(line)
    false_refuted = counts[REFUTED] / n
    log(f"{label}: false REFUTED {false_refuted:.2%} ({counts[REFUTED]}/{n}); must be <= alpha {alpha:.0%}")
    assert lo > floor, f"power not above its floor: {line}"
    if theory is not None:
        assert lo <= theory <= hi, f"power differs from theory: {line}"
    assert false_refuted <= alpha


# ---------------------------------------------------------------------------------------------
# the boundary nulls, one per expectation kind


@dataclass(frozen=True)
class Null:
    """An expectation and experiments simulated exactly at its boundary null."""

    name: str
    expect: Expectation
    where: str  # the boundary, in words
    simulate: Callable[[np.random.Generator, int, str], np.ndarray]
    sides: tuple[tuple[str, str], ...] = ()  # sub-rates to report: (label, "first" or "second" half)
    refute_share: float = 1.0  # REFUTED's rate at the boundary, as a share of alpha (Equivalent: 1/2)


def _equivalent_boundary(rng: np.random.Generator, n: int, dist: str) -> np.ndarray:
    # first half at +margin, second half at -margin; SE = SD / 4 = margin / 4, so the far side
    # of the band is 8 SE away and does not matter (its one-sided p-value is ~1e-9)
    means = np.where(np.arange(n) < n // 2, MARGIN, -MARGIN)
    return paired_differences(rng, n, means, dist)


NULLS = {
    "superior": Null("Superior(min_effect=0.5pp)", Superior(min_effect=MIN_EFFECT, alpha=ALPHA),
                     "true diff = +0.5pp", lambda rng, n, dist: paired_differences(rng, n, MIN_EFFECT, dist)),
    "noninferior": Null("NonInferior(margin=1pp)", NonInferior(margin=MARGIN, alpha=ALPHA),
                        "true diff = -1pp", lambda rng, n, dist: paired_differences(rng, n, -MARGIN, dist)),
    "equivalent": Null("Equivalent(margin=1pp)", Equivalent(margin=MARGIN, alpha=ALPHA),
                       "true diff = ±1pp", _equivalent_boundary,
                       sides=(("+margin half", "first"), ("-margin half", "second")), refute_share=0.5),
    "predicts": Null("Predicts(tol=1pp)", Predicts(tol=MARGIN, alpha=ALPHA),
                     "prediction error = ±1pp", _equivalent_boundary,
                     sides=(("+tol half", "first"), ("-tol half", "second")), refute_share=0.5),
    "increasing": Null("Increasing()", Increasing(alpha=ALPHA), "zero slope",
                       lambda rng, n, dist: trend_matrices(rng, n, 0.0, dist)),
    "decreasing": Null("Decreasing()", Decreasing(alpha=ALPHA), "zero slope",
                       lambda rng, n, dist: trend_matrices(rng, n, 0.0, dist)),
}
SEEDS = {name: 1000 + i for i, name in enumerate(NULLS)}


def run_null(kind: str, n_sim: int, dist: str, seed_offset: int = 0) -> tuple[Null, list[Outcome]]:
    null = NULLS[kind]
    rng = np.random.default_rng([SEEDS[kind], seed_offset, sum(map(ord, dist))])
    return null, judge_all(null.expect, null.simulate(rng, n_sim, dist))


def sub_rates(null: Null, outcomes: list[Outcome]) -> list[tuple[str, list[Outcome]]]:
    half = len(outcomes) // 2
    parts = {"first": outcomes[:half], "second": outcomes[half:]}
    return [(label, parts[rows]) for label, rows in null.sides]


def scaled(expected: dict, share: float) -> dict:
    """The expected rate (target or band) times ``share``: REFUTED's for Equivalent and Predicts."""
    if share == 1.0:
        return expected
    out = dict(expected)
    if out.get("target") is not None:
        out["target"] = out["target"] * share
    if out.get("band") is not None:
        out["band"] = (out["band"][0] * share, out["band"][1] * share)
        out["band_name"] = f"{out.get('band_name', '')} x {share:g}"
    return out


def null_rates(null: Null, outcomes: list[Outcome], dist: str, **expected) -> list[Rate]:
    """SUPPORTED and REFUTED rates, overall and per reported half, each with what it must match."""
    label = f"{null.name} boundary null ({null.where}, {dist}"
    label += f", skewness {skewness(dist):.2f}" if dist.startswith("gamma") else ""
    parts = [(f"{label}, n={N_SEEDS})", outcomes)] + [(f"  {side}", part) for side, part in sub_rates(null, outcomes)]
    rates = []
    for name, part in parts:
        counts = Counter(part)
        rates += [Rate(name, SUPPORTED.value, counts[SUPPORTED], len(part), **expected),
                  Rate(name, REFUTED.value, counts[REFUTED], len(part), **scaled(expected, null.refute_share))]
    return rates


@pytest.mark.parametrize("kind", list(NULLS))
def test_boundary_null_rates_are_alpha(kind, calibration_log):
    """At the boundary null both SUPPORTED and REFUTED happen at rate alpha (normal differences)."""
    null, outcomes = run_null(kind, N_FAST, "normal")
    check_rates(calibration_log, null_rates(null, outcomes, "normal", target=ALPHA))


def test_alpha_split_gives_alpha_over_k(calibration_log):
    """judge(sample, alpha=alpha / k), as for a claim over k hypothesis examples, errs at rate alpha / k."""
    k = 5
    split = ALPHA / k
    expect = NonInferior(margin=MARGIN, alpha=ALPHA)
    rng = np.random.default_rng(2024)
    outcomes = judge_all(expect, paired_differences(rng, N_FAST, -MARGIN), alpha=split)
    counts = Counter(outcomes)
    label = f"NonInferior(margin=1pp) boundary null, alpha split over k={k} (judged at {split:.2%})"
    check_rates(calibration_log, [Rate(label, what.value, counts[what], N_FAST, target=split)
                                  for what in (SUPPORTED, REFUTED)])


@pytest.mark.parametrize("kind,alpha_refute", [("superior", 0.01), ("noninferior", 0.001), ("increasing", 0.01)])
def test_two_levels_supported_at_alpha_refuted_at_alpha_refute(kind, alpha_refute, calibration_log):
    """judge(sample, alpha, alpha_refute=...): at the boundary SUPPORTED errs at alpha, REFUTED at alpha_refute."""
    null = NULLS[kind]
    rng = np.random.default_rng([SEEDS[kind], 77])
    samples = null.simulate(rng, N_FAST, "normal")
    counts = Counter(null.expect.judge(x, alpha=ALPHA, alpha_refute=alpha_refute).outcome for x in samples)
    label = f"{null.name} boundary null, alpha {ALPHA:.0%} and alpha_refute {alpha_refute:g}"
    check_rates(calibration_log, [Rate(label, SUPPORTED.value, counts[SUPPORTED], N_FAST, target=ALPHA),
                                  Rate(label, REFUTED.value, counts[REFUTED], N_FAST, target=alpha_refute)])


# ---------------------------------------------------------------------------------------------
# Equivalent and Predicts refute at alpha (issue 12, item 2), over a grid of margin / SE


GRID_RATIOS = (0.0, 0.2, 0.5, 1.0, 4.0)  # margin / SE; 0 stands for a margin of 1e-9 SE
GRID_MEANS = ("0", "+margin", "-margin")
N_GRID = 20_000
N_GRID_SLOW = 200_000


def equivalence_outcomes(x: np.ndarray, margin: float, alpha: float,
                         alpha_refute: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised twin of Equivalent's rule over rows: (SUPPORTED, REFUTED) flags.

    SUPPORTED: TOST at alpha. REFUTED: one of the two one-sided tests of |mean| >= margin rejects
    at alpha_refute / 2 (Bonferroni-adjusted p = 2 min(p_above, p_below) < alpha_refute).
    """
    ar = alpha if alpha_refute is None else alpha_refute
    n = x.shape[1]
    mean, se = x.mean(axis=1), np.sqrt(x.var(axis=1, ddof=1) / n)
    df = n - 1
    p_low, p_high = special.stdtr(df, -(mean + margin) / se), special.stdtr(df, (mean - margin) / se)
    p_above, p_below = special.stdtr(df, -(mean - margin) / se), special.stdtr(df, (mean + margin) / se)
    supported = np.maximum(p_low, p_high) < alpha
    refuted = ~supported & (np.minimum(1.0, 2.0 * np.minimum(p_above, p_below)) < ar)
    return supported, refuted


def test_the_vectorised_twin_agrees_with_judge():
    """The grid simulates the rule with ``equivalence_outcomes``: it must be the rule ``judge`` applies."""
    rng = np.random.default_rng(5150)
    checked = Counter()
    for _ in range(300):
        n = int(rng.integers(3, 30))
        sd = float(rng.uniform(0.001, 0.03))
        margin = float(sd / math.sqrt(n) * rng.choice([1e-9, 0.2, 0.5, 1.0, 2.0, 4.0]))
        x = rng.normal(margin * rng.uniform(-3, 3), sd, n)
        alpha = float(rng.choice([0.05, 0.025, 0.01]))
        alpha_refute = float(rng.choice([alpha, alpha / 10]))
        sup, ref = equivalence_outcomes(x[None, :], margin, alpha, alpha_refute)
        twin = SUPPORTED if sup[0] else REFUTED if ref[0] else Outcome.INCONCLUSIVE
        for expect in (Equivalent(margin=margin), Predicts(tol=margin)):
            v = expect.judge(x, alpha=alpha, alpha_refute=alpha_refute)
            edge = [p for p in (v.pvalue, v.pvalues["outside_margin"]) if abs(p - alpha) < 1e-9 or
                    abs(p - alpha_refute) < 1e-9]
            if not edge:
                assert v.outcome is twin, (expect, x, alpha, alpha_refute)
                checked[twin] += 1
    assert set(checked) == set(Outcome)  # the sample reached every outcome


def refuted_theory(mean: float, margin: float, se: float, n: int, alpha: float) -> float:
    """P(REFUTED) for normal differences: two disjoint one-sided t rejections at alpha / 2 (noncentral t)."""
    df, crit = n - 1, sps.t.isf(alpha / 2.0, n - 1)
    return float(sps.nct.sf(crit, df, (mean - margin) / se) + sps.nct.cdf(-crit, df, (mean + margin) / se))


def grid_rates(n_sim: int, seed: int) -> list[tuple[str, int, int, float, str]]:
    """(label, k, N, theory, what) for every cell of the grid: REFUTED everywhere, SUPPORTED at ±margin."""
    se = SD / math.sqrt(N_SEEDS)
    rows = []
    for i, ratio in enumerate(GRID_RATIOS):
        margin = se * (ratio if ratio > 0 else 1e-9)
        for j, where in enumerate(GRID_MEANS):
            mean = {"0": 0.0, "+margin": margin, "-margin": -margin}[where]
            rng = np.random.default_rng([seed, i, j])
            k_sup = k_ref = 0
            for start in range(0, n_sim, 50_000):
                x = rng.normal(mean, SD, (min(50_000, n_sim - start), N_SEEDS))
                sup, ref = equivalence_outcomes(x, margin, ALPHA)
                k_sup, k_ref = k_sup + int(sup.sum()), k_ref + int(ref.sum())
            label = f"Equivalent/Predicts, margin/SE={ratio:g}, true mean {where}, n={N_SEEDS}"
            rows.append((label, k_ref, n_sim, refuted_theory(mean, margin, se, N_SEEDS, ALPHA), REFUTED.value))
            if where != "0":  # the boundary of the SUPPORTED null: TOST errs at most alpha
                rows.append((label, k_sup, n_sim, tost_power(mean, SD, N_SEEDS, margin, ALPHA), SUPPORTED.value))
    return rows


def check_grid(log: Callable[[str], None], rows: list[tuple[str, int, int, float, str]]) -> None:
    """Each false-verdict rate: not significantly above alpha, and equal (within its CI) to the theory."""
    off = []
    for label, k, n, theory, what in rows:
        line, lo, hi = rate_line(label, f"false {what}", k, n, f"theory {theory:.2%}; must be <= alpha {ALPHA:.0%}")
        log(line)
        if not (lo <= ALPHA and theory <= ALPHA + 1e-12 and lo <= theory <= hi):
            off.append(line)
    assert not off, "rates off:\n" + "\n".join(off)


def test_equivalence_refutes_at_alpha_over_the_grid(calibration_log):
    check_grid(calibration_log, grid_rates(N_GRID, seed=6000))


@pytest.mark.slow
def test_equivalence_refutes_at_alpha_over_the_grid_slow(calibration_log):
    check_grid(calibration_log, grid_rates(N_GRID_SLOW, seed=6001))


# ---------------------------------------------------------------------------------------------
# power under planted effects

POWER_FLOOR = 0.80  # stated floor: each planted effect below is detected in >= 80% of experiments


def t_power(shift: float, se_one: float, n: int, alpha: float) -> float:
    """Power of the one-sided one-sample t test when the true mean exceeds the null by ``shift``."""
    crit = sps.t.ppf(1.0 - alpha, n - 1)
    return float(sps.nct.sf(crit, n - 1, shift / (se_one / math.sqrt(n))))


def tost_power(mean: float, sd: float, n: int, margin: float, alpha: float) -> float:
    """Power of the paired TOST for normal differences: integrate over the sample SD's chi-square law."""
    crit = sps.t.ppf(1.0 - alpha, n - 1)
    se = sd / math.sqrt(n)
    df = n - 1

    def given_q(q: float) -> float:
        half = margin - crit * sd * math.sqrt(q / df) / math.sqrt(n)  # |mean_hat| < half rejects both
        if half <= 0:
            return 0.0
        inside = sps.norm.cdf((half - mean) / se) - sps.norm.cdf((-half - mean) / se)
        return float(inside * sps.chi2.pdf(q, df))

    upper = (margin * math.sqrt(n) / (crit * sd)) ** 2 * df
    return float(integrate.quad(given_q, 0.0, upper, limit=200)[0])


def test_superior_power(calibration_log):
    effect = MIN_EFFECT + 0.008  # true diff 1.3pp against a minimum effect of 0.5pp
    rng = np.random.default_rng(3001)
    outcomes = judge_all(NULLS["superior"].expect, paired_differences(rng, N_POWER, effect))
    check_power(calibration_log, "Superior(min_effect=0.5pp), true diff +1.3pp", outcomes, POWER_FLOOR, ALPHA,
                t_power(effect - MIN_EFFECT, SD, N_SEEDS, ALPHA))


def test_noninferior_power(calibration_log):
    rng = np.random.default_rng(3002)  # arms truly equal, margin 1pp
    outcomes = judge_all(NULLS["noninferior"].expect, paired_differences(rng, N_POWER, 0.0))
    check_power(calibration_log, "NonInferior(margin=1pp), true diff 0", outcomes, POWER_FLOOR, ALPHA,
                t_power(MARGIN, SD, N_SEEDS, ALPHA))


def test_equivalent_power(calibration_log):
    rng = np.random.default_rng(3003)  # arms truly equal, margin 1pp
    outcomes = judge_all(NULLS["equivalent"].expect, paired_differences(rng, N_POWER, 0.0))
    check_power(calibration_log, "Equivalent(margin=1pp), true diff 0", outcomes, POWER_FLOOR, ALPHA,
                tost_power(0.0, SD, N_SEEDS, MARGIN, ALPHA))


@pytest.mark.parametrize("kind,slope", [("increasing", 0.0025), ("decreasing", -0.0025)])
def test_trend_power(kind, slope, calibration_log):
    rng = np.random.default_rng(3004 if slope > 0 else 3005)  # 0.25pp per level, 1pp noise per cell
    outcomes = judge_all(NULLS[kind].expect, trend_matrices(rng, N_POWER, slope))
    check_power(calibration_log, f"{NULLS[kind].name}, slope {slope * 100:+.2f}pp/level", outcomes, POWER_FLOOR,
                ALPHA, t_power(abs(slope), SLOPE_SD, N_SEEDS, ALPHA))


# ---------------------------------------------------------------------------------------------
# Exact: deterministic, no error rate at all


def test_exact_is_deterministic(calibration_log):
    rng = np.random.default_rng(4000)
    n_cases = N_FAST
    within = above = 0
    for _ in range(n_cases):
        n = int(rng.integers(1, 33))
        tol = float(10.0 ** rng.uniform(-12, 0))
        errors = rng.uniform(-tol, tol, n)
        errors[rng.integers(n)] = tol * rng.choice([-1.0, 1.0])  # the boundary itself is within tol
        within += Exact(tol=tol).judge(errors).outcome is SUPPORTED
        worse = errors.copy()
        worse[rng.integers(n)] = np.nextafter(tol, np.inf) * rng.choice([-1.0, 1.0])  # just above tol
        verdict = Exact(tol=tol).judge(worse)
        above += verdict.outcome is REFUTED and verdict.effect > tol
    calibration_log(f"Exact(tol), every |error| <= tol: SUPPORTED {within / n_cases:.2%} ({within}/{n_cases})")
    calibration_log(f"Exact(tol), one |error| one ulp above tol: REFUTED {above / n_cases:.2%} ({above}/{n_cases})")
    assert within == n_cases
    assert above == n_cases


def test_exact_absorbs_floating_noise_below_tol(calibration_log):
    rng = np.random.default_rng(4001)
    a, b, c = rng.normal(size=(3, N_FAST, N_SEEDS))
    rounding = (a + b) + c - (a + (b + c))  # associativity: pure float rounding, |error| ~ 1e-16
    assert np.any(rounding != 0.0)
    supported = sum(Exact(tol=1e-12).judge(row).outcome is SUPPORTED for row in rounding)
    noisy_rows = [row for row in rounding if np.any(row != 0.0)]
    refuted_at_zero = sum(Exact(tol=0.0).judge(row).outcome is REFUTED for row in noisy_rows)
    exact_zero = Exact(tol=0.0).judge(np.zeros(N_SEEDS)).outcome
    calibration_log(f"Exact(tol=1e-12), float rounding noise (max {np.abs(rounding).max():.1e}): "
                    f"SUPPORTED {supported}/{N_FAST}")
    calibration_log(f"Exact(tol=0), the same noise: REFUTED {refuted_at_zero}/{len(noisy_rows)}; "
                    f"exact zeros: {exact_zero.value}")
    assert supported == N_FAST
    assert refuted_at_zero == len(noisy_rows)
    assert exact_zero is SUPPORTED


# ---------------------------------------------------------------------------------------------
# slow: N = 20000 per null, and non-normal differences

BRADLEY_STRINGENT = (0.9 * ALPHA, 1.1 * ALPHA)  # Bradley (1978): a robust test keeps 0.9a..1.1a
BRADLEY_LIBERAL = (0.5 * ALPHA, 1.5 * ALPHA)  # ... or, liberally, 0.5a..1.5a

SLOW_NULLS = [(kind, "normal") for kind in NULLS] + [
    ("superior", "t5"), ("noninferior", "t5"), ("equivalent", "t5"), ("increasing", "t5"),
    ("superior", "gamma8"), ("noninferior", "gamma8"), ("equivalent", "gamma8"),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind,dist", SLOW_NULLS)
def test_boundary_null_rates_slow(kind, dist, calibration_log):
    """N = 20000. Normal: rates within the 99.9% CI of alpha. t (5 df): within Bradley's stringent
    band. Gamma(8) (skewness 0.71): within Bradley's liberal band (the t test leans: one side
    conservative, the other anti-conservative)."""
    null, outcomes = run_null(kind, N_SLOW, dist, seed_offset=1)
    if dist == "normal":
        expected = dict(target=ALPHA)
    elif dist == "t5":
        expected = dict(band=BRADLEY_STRINGENT, band_name="Bradley stringent")
    else:
        expected = dict(band=BRADLEY_LIBERAL, band_name="Bradley liberal")
    check_rates(calibration_log, null_rates(null, outcomes, dist, **expected))


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known limitation: with 16 seeds the paired t test is anti-conservative "
                   "on one side when differences are strongly skewed (skewness >= 1): REFUTED ~9% at alpha 5%")
def test_strong_skew_breaks_the_t_test(calibration_log):
    null, outcomes = run_null("superior", N_SLOW, "gamma2", seed_offset=1)
    check_rates(calibration_log, null_rates(null, outcomes, "gamma2", band=BRADLEY_LIBERAL,
                                            band_name="Bradley liberal"))
