"""How big and how sure (issue 12, item 6): sd, d_z, probability of improvement with its interval,
the minimum detectable effect and the seeds needed, checked against statsmodels and by simulation.

The MDE is checked twice: against ``TTestPower.solve_power`` to 1e-6, and by simulating the
one-sided t test at the MDE (N=20,000 fast, N=200,000 slow): the simulated power must have 0.80
in its 99.9% Clopper-Pearson CI. The Wilson interval's coverage is computed exactly (a binomial
sum), not simulated.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint

from instincts import effects
from instincts.errors import InvalidArgument
from instincts.expect import Decreasing, Equivalent, Exact, Increasing, NonInferior, Predicts, Superior
from instincts.verdict import INCONCLUSIVE, SUPPORTED, Verdict

CONFIDENCE = 0.999


def normal(mean: float, sd: float = 0.01, n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


# ---------------------------------------------------------------------------------------------
# the minimum detectable effect and the seeds needed


@pytest.mark.parametrize("n,alpha,sd,threshold,direction", [
    (16, 0.05, 0.01, 0.0, 1.0), (16, 0.05, 0.01, 0.005, 1.0), (6, 0.01, 0.02, -0.01, 1.0),
    (40, 0.025, 0.003, 0.0, -1.0), (3, 0.05, 1.0, 2.0, 1.0), (16, 1e-9, 0.01, 0.0, 1.0),
])
def test_mde_matches_ttestpower(n, alpha, sd, threshold, direction):
    shift = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=0.8, alternative="larger")
    mde = effects.minimum_detectable_effect(n, sd, alpha, threshold, direction)
    assert abs(mde - (threshold + direction * shift * sd)) < 1e-6 * max(1.0, abs(mde))
    assert effects.minimum_detectable_effect(n, 0.0, alpha) != effects.minimum_detectable_effect(n, 0.0, alpha)  # NaN


def one_sided_t_rejects(x: np.ndarray, threshold: float, alpha: float) -> np.ndarray:
    """Vectorised one-sided t test (mean > threshold) over rows."""
    n = x.shape[1]
    t = (x.mean(axis=1) - threshold) / np.sqrt(x.var(axis=1, ddof=1) / n)
    return special.stdtr(n - 1, -t) < alpha


def simulated_power(n: int, alpha: float, n_sim: int, seed: int) -> tuple[int, float]:
    sd, threshold = 1.0, 0.0
    mde = effects.minimum_detectable_effect(n, sd, alpha, threshold)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_sim, 50_000):  # chunks: bounded memory
        size = min(50_000, n_sim - start)
        hits += int(one_sided_t_rejects(rng.normal(mde, sd, (size, n)), threshold, alpha).sum())
    return hits, mde


def check_power_at_mde(log, n: int, alpha: float, n_sim: int, seed: int) -> None:
    hits, mde = simulated_power(n, alpha, n_sim, seed)
    ci = sps.binomtest(hits, n_sim).proportion_ci(CONFIDENCE)
    log(f"one-sided t at its MDE (n={n}, alpha={alpha}, MDE {mde:.4f} sd): power {hits / n_sim:.2%} "
        f"({hits}/{n_sim}), {CONFIDENCE:.1%} CI [{ci.low:.2%}, {ci.high:.2%}]; target 80%")
    assert ci.low <= 0.8 <= ci.high


@pytest.mark.parametrize("n,alpha", [(16, 0.05), (6, 0.01), (40, 0.025)])
def test_power_at_the_mde_is_80_percent(n, alpha, calibration_log):
    check_power_at_mde(calibration_log, n, alpha, 20_000, seed=n * 1000 + int(alpha * 1000))


@pytest.mark.slow
@pytest.mark.parametrize("n,alpha", [(16, 0.05), (6, 0.01), (40, 0.025), (16, 0.001)])
def test_power_at_the_mde_is_80_percent_slow(n, alpha, calibration_log):
    check_power_at_mde(calibration_log, n, alpha, 200_000, seed=7 + n * 1000 + int(alpha * 1000))


@pytest.mark.parametrize("size,alpha", [(0.5, 0.05), (0.2, 0.01), (1.5, 0.05), (0.05, 0.05), (0.91, 1e-4)])
def test_seeds_needed_is_the_first_n_with_80_percent_power(size, alpha):
    n = effects.seeds_needed(size, alpha)
    power = TTestPower().power
    assert power(effect_size=size, nobs=n, alpha=alpha, alternative="larger") >= 0.8
    if n > 2:
        assert power(effect_size=size, nobs=n - 1, alpha=alpha, alternative="larger") < 0.8
    assert effects.seeds_needed(-size, alpha) == n  # the size's sign does not matter


def test_seeds_needed_is_capped_and_none_without_an_effect():
    assert effects.seeds_needed(1e-4, 0.05) == effects.SEEDS_CAP
    assert effects.seeds_needed(0.0, 0.05) is None
    assert effects.seeds_needed(math.nan, 0.05) is None


# ---------------------------------------------------------------------------------------------
# sd, d_z, probability of improvement


def test_share_counts_ties_half_and_the_interval_is_wilson():
    d = np.array([0.01, 0.0, -0.02, 0.03, 0.0, 0.05, 0.01, 0.02])
    assert effects.share_above(d) == (5 + 0.5 * 2) / 8
    assert effects.share_within(np.array([0.005, -0.01, 0.02, 0.0]), 0.01) == (2 + 0.5) / 4
    for share, n, conf in [(6 / 8, 8, 0.9), (12.5 / 16, 16, 0.95), (0.0, 16, 0.9), (1.0, 5, 0.99)]:
        lo, hi = proportion_confint(share * n, n, alpha=1 - conf, method="wilson")
        assert effects.wilson_interval(share, n, conf) == pytest.approx((lo, hi), abs=1e-12)


def test_the_wilson_interval_covers_on_average(calibration_log):
    """Exact coverage (binomial sums) over p in [0.05, 0.95] at n=16, 90%: Wilson's average coverage is
    nominal; its worst case dips a few points below (the discreteness every binomial interval has)."""
    n, conf = 16, 0.9
    ks = np.arange(n + 1)
    ends = np.array([effects.wilson_interval(k / n, n, conf) for k in ks])
    coverage = []
    for p in np.linspace(0.05, 0.95, 181):
        inside = (ends[:, 0] <= p) & (p <= ends[:, 1])
        coverage.append(float(sps.binom.pmf(ks, n, p)[inside].sum()))
    mean, worst = float(np.mean(coverage)), float(np.min(coverage))
    calibration_log(f"Wilson interval for P(A>B), n={n}, {conf:.0%}: coverage mean {mean:.2%}, "
                    f"min {worst:.2%} over p in [0.05, 0.95] (exact)")
    assert abs(mean - conf) < 0.02 and worst > conf - 0.08


@pytest.mark.parametrize("expect", [Superior(), NonInferior(), Equivalent(), Predicts()], ids=lambda e: e.kind)
def test_every_paired_verdict_says_how_big(expect):
    d = normal(0.003, seed=4)
    v = expect.judge(d, unit="pp")
    sd = d.std(ddof=1)
    assert v.sd == pytest.approx(sd) and v.d_z == pytest.approx(d.mean() / sd)
    share = (d > 0).mean() if expect.kind != "predicts" else (np.abs(d) < expect.tol).mean()
    assert v.p_improve == pytest.approx(share)
    assert v.p_improve_ci == pytest.approx(effects.wilson_interval(share, 16, v.confidence_level))
    assert f"sd {sd * 100:.1f}pp, d_z {d.mean() / sd:.2f}" in v.line()
    assert v.p_improve_label in v.line()


def test_trends_report_the_share_of_slopes_with_the_claimed_sign():
    rng = np.random.default_rng(5)
    m = rng.normal(0.0, 0.01, (16, 4)) + 0.002 * np.arange(4)
    up, down = Increasing().judge(m), Decreasing().judge(m)
    slopes = np.array([np.polyfit(np.arange(4), row, 1)[0] for row in m])
    assert up.p_improve == pytest.approx((slopes > 0).mean()) and up.p_improve_label == "P(slope>0)"
    assert down.p_improve == pytest.approx((slopes < 0).mean()) and down.p_improve_label == "P(slope<0)"
    assert up.sd == pytest.approx(slopes.std(ddof=1))


def test_exact_has_none_of_them():
    v = Exact().judge([0.0, 1e-9])
    assert math.isnan(v.sd) and v.mde is None and "d_z" not in v.line()


# ---------------------------------------------------------------------------------------------
# what an INCONCLUSIVE verdict could have detected


def test_inconclusive_superior_says_what_it_could_detect():
    d = normal(0.001, seed=1)
    v = Superior(min_effect=0.002).judge(d, unit="pp")
    assert v.outcome is INCONCLUSIVE
    sd = d.std(ddof=1)
    shift = TTestPower().solve_power(effect_size=None, nobs=16, alpha=0.05, power=0.8, alternative="larger")
    assert v.mde == pytest.approx(0.002 + shift * sd, abs=1e-9)
    assert v.seeds_needed == effects.seeds_needed(abs(d.mean() - 0.002) / sd, 0.05)
    assert f"; could detect >= +{v.mde * 100:.1f}pp (80% power), ~{v.seeds_needed} seeds to decide" in v.line()
    data = v.to_dict()
    assert data["mde"] == pytest.approx(v.mde) and data["seeds_needed"] == v.seeds_needed
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_mde_per_kind():
    d = normal(0.0, sd=0.02, seed=2)
    sd, shift = d.std(ddof=1), effects.detectable_shift(16, 0.05)
    assert NonInferior(margin=0.005).judge(d).mde == pytest.approx(-0.005 + shift * sd)
    eq = Equivalent(margin=0.005).judge(d)
    assert eq.outcome is INCONCLUSIVE and eq.mde == pytest.approx(0.005 - shift * sd)
    assert "could show |diff| <=" in eq.line() or "cannot show equivalence with 16 seeds" in eq.line()
    m = np.random.default_rng(3).normal(0.0, 0.01, (16, 5))
    dec = Decreasing().judge(m)
    slopes_sd = dec.sd
    assert dec.outcome is INCONCLUSIVE and dec.mde == pytest.approx(-shift * slopes_sd)
    assert "could detect <= -" in dec.line()


def test_conclusive_verdicts_have_no_mde():
    v = Superior().judge(normal(0.02, seed=3))
    assert v.outcome is SUPPORTED and v.mde is None and v.seeds_needed is None and "could" not in v.line()


def test_a_hand_made_verdict_reads_as_before():
    v = Verdict(outcome=SUPPORTED, expectation=Superior(), test="t", effect=0.01, ci=(0.0, 0.02), pvalue=0.01,
                n=16, alpha=0.05, unit="pp")
    assert v.line() == "A superior to B by > 0.0pp: diff +1.0pp, 90% CI [+0.0, +2.0], n=16, p=0.01"
    assert v.refute_level == 0.05 and Verdict(**{**v.__dict__, "alpha_refute": 0.01}).refute_level == 0.01


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("call,pattern", [
    (lambda: effects.minimum_detectable_effect(1, 0.01, 0.05), r"n=1 is not allowed: .*>= 2"),
    (lambda: effects.minimum_detectable_effect(16.5, 0.01, 0.05), r"n=16\.5 is not allowed"),
    (lambda: effects.minimum_detectable_effect(16, -0.01, 0.05), r"sd=-0\.01 is not allowed"),
    (lambda: effects.minimum_detectable_effect(16, 0.01, 0.7), r"alpha=0\.7 is not allowed: .*\(0, 0\.5\)"),
    (lambda: effects.minimum_detectable_effect(16, 0.01, 0.05, direction=0.0), r"direction=0\.0 is not allowed"),
    (lambda: effects.seeds_needed(0.5, 0.0), r"alpha=0\.0 is not allowed"),
    (lambda: effects.wilson_interval(1.5, 16, 0.9), r"share=1\.5 is not allowed: .*\[0, 1\]"),
    (lambda: effects.wilson_interval(0.5, 16, 1.0), r"confidence=1\.0 is not allowed"),
    (lambda: effects.share_above([]), r"values must be a non-empty 1-D array"),
    (lambda: effects.spread([[1.0, 2.0]]), r"values must be a non-empty 1-D array of finite numbers, got shape"),
])
def test_bad_input(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()
