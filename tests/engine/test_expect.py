"""Unit tests of expectations and verdicts: format, accessors, exact cases, hand computations,
consistency of CI and decision, bad input, and properties (hypothesis)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as sps

from instincts.expect import Decreasing, Equivalent, Exact, Increasing, NonInferior, Predicts, Superior
from instincts.verdict import INCONCLUSIVE, REFUTED, SUPPORTED, Outcome, Verdict

ALPHA = 0.05


def sample(mean: float = 0.002, sd: float = 0.005, n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def trend(slope: float, n: int = 16, levels: int = 5, sd: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.8, 0.05, (n, 1)) + slope * np.arange(levels) + rng.normal(0.0, sd, (n, levels))


def make_verdict(outcome: Outcome = SUPPORTED, **kw) -> Verdict:
    fields = dict(outcome=outcome, expectation=Equivalent(margin=0.01), test="TOST", effect=0.002,
                  ci=(-0.003, 0.007), pvalue=0.004, n=16, alpha=0.05, unit="pp")
    return Verdict(**{**fields, **kw})


# ---------------------------------------------------------------------------------------------
# the verdict: one line, truth value, scipy-like accessors


def test_line_format_in_percentage_points():
    v = make_verdict()
    assert v.line() == "equivalent within ±1.0pp: diff +0.2pp, 90% CI [-0.3, +0.7], n=16, p=0.004"
    assert str(v) == "SUPPORTED — " + v.line()
    assert "SUPPORTED" in repr(v)


def test_line_format_small_p_and_plain_units():
    v = make_verdict(REFUTED, expectation=Superior(), effect=-0.0123, ci=(-0.02, -0.004),
                     pvalue=3e-6, alpha=0.01, unit="")
    assert v.line() == "A superior to B by > 0.000: diff -0.012, 98% CI [-0.020, -0.004], n=16, p<1e-4"


def test_the_sentence_names_the_arms_and_the_expectation_stays_an_object():
    v = make_verdict(REFUTED, expectation=NonInferior(margin=0.02), labels=("b=16", "b=512"))
    assert v.line().startswith("b=16 non-inferior to b=512 within 2.0pp: diff +0.2pp")
    assert v.expectation == NonInferior(margin=0.02) and v.expected == "b=16 non-inferior to b=512 within 2.0pp"
    data = v.to_dict()
    assert data["expectation"] == v.expected and data["labels"] == ["b=16", "b=512"]
    assert data["expect"] == {"kind": "noninferior", "margin": 0.02, "alpha": 0.05, "test": "t"}
    assert Equivalent(margin=0.01).judge(sample(), unit="pp").expected == "equivalent within ±1.0pp"


def test_a_false_truth_test_is_remembered():
    held, failed = make_verdict(SUPPORTED), make_verdict(INCONCLUSIVE)
    assert held and not held.tested_false
    assert not failed.tested_false
    assert not failed
    assert failed.tested_false and failed == make_verdict(INCONCLUSIVE)  # not part of equality


def test_line_of_a_judged_sample_reads_like_the_design():
    v = Equivalent(margin=0.01).judge(sample(), unit="pp")
    pattern = (r"equivalent within ±1\.0pp: diff [+-]\d+\.\dpp, 90% CI \[[+-]\d+\.\d, [+-]\d+\.\d\], "
               r"n=16, p(=[0-9.e-]+|<1e-4); sd \d+\.\dpp, d_z -?\d+\.\d\d, P\(A>B\) [0-9.]+ \[[0-9.]+, [0-9.]+\]"
               r"(; could show \|diff\| <= \d+\.\dpp \(80% power\), ~\d+ seeds to decide)?")
    assert re.fullmatch(pattern, v.line()), v.line()


def test_exact_line_has_no_interval():
    v = Exact(tol=1e-6).judge([0.0, 1e-7, -2e-8])
    assert v.line() == "exact within 1e-06: max |error| 1e-07, n=3"
    assert v.outcome is SUPPORTED and v.effect == pytest.approx(1e-7)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_bool_is_true_only_for_supported(outcome):
    assert bool(make_verdict(outcome)) is (outcome is SUPPORTED)


def test_worst_outcome():
    assert Outcome.worst([SUPPORTED, INCONCLUSIVE, SUPPORTED]) is INCONCLUSIVE
    assert Outcome.worst([SUPPORTED, REFUTED, INCONCLUSIVE]) is REFUTED
    assert Outcome.worst([SUPPORTED, SUPPORTED]) is SUPPORTED
    assert Outcome.worst([]) is INCONCLUSIVE


def test_scipy_like_accessors():
    d = sample()
    v = NonInferior(margin=0.01).judge(d, alpha=0.025)
    assert v.statistic == v.effect == pytest.approx(d.mean())
    assert v.confidence_interval() == v.ci
    assert v.confidence_level == pytest.approx(0.95)
    assert v.pvalue == v.pvalues["noninferior"]
    assert v.n == 16 and v.alpha == 0.025


def test_to_dict_is_json_with_null_for_nan():
    v = Exact(tol=0.0).judge([0.0, 0.0])
    data = v.to_dict()
    assert data["outcome"] == "SUPPORTED" and data["pvalue"] is None
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    d = Equivalent(margin=0.01).judge(sample()).to_dict()
    assert d["ci"] == list(d["ci"]) and d["line"].startswith("equivalent within")


# ---------------------------------------------------------------------------------------------
# zero spread: a tie on every seed is not certainty (issue 12, item 3): INCONCLUSIVE, with the reason
# (these tests said SUPPORTED/REFUTED by the exact value before; the issue changes that)

ZERO_SPREAD = "zero spread: every seed gave the same"


def assert_zero_spread(v: Verdict, mean: float) -> None:
    assert v.outcome is INCONCLUSIVE and v.reason.startswith(ZERO_SPREAD), v
    assert v.ci == (pytest.approx(mean), pytest.approx(mean))
    assert all(math.isnan(p) for p in v.pvalues.values()) and math.isnan(v.pvalue)
    assert v.sd == 0.0 and math.isnan(v.d_z) and v.mde is None and v.seeds_needed is None
    assert v.reason in v.line() and "p=" not in v.line()
    assert json.loads(json.dumps(v.to_dict(), allow_nan=False))["reason"] == v.reason


def test_identical_arms_are_inconclusive_with_the_reason():
    a = np.linspace(0.90, 0.95, 16)
    d = a - a.copy()
    for expect in (Equivalent(margin=0.01), Superior(min_effect=0.0), NonInferior(margin=0.01),
                   Predicts(tol=0.01), Superior(test="bootstrap-t")):
        v = expect.judge(d, unit="pp")
        assert_zero_spread(v, 0.0)
    v = Superior().judge(d, unit="pp")
    assert v.reason == ("zero spread: every seed gave the same difference (+0.0pp); "
                        "a t test has no variance to judge")
    assert v.p_improve == 0.5  # every seed a tie: each counts half


def test_constant_difference_is_inconclusive_whatever_its_value():
    d = np.full(16, 0.02)
    for expect in (Equivalent(margin=0.01), Equivalent(margin=0.03), Superior(min_effect=0.01),
                   Superior(min_effect=0.02), NonInferior(margin=0.01)):
        assert_zero_spread(expect.judge(d), 0.02)
    assert_zero_spread(NonInferior(margin=0.01).judge(-d), -0.02)
    assert Superior().judge(d).p_improve == 1.0 and Superior().judge(-d).p_improve == 0.0


def test_float_rounding_of_equal_metrics_counts_as_zero_spread():
    rng = np.random.default_rng(1)
    a, b, c = rng.uniform(0.2, 0.4, (3, 16))
    d = ((a + b) + c) - (a + (b + c))  # the same accuracy computed two ways
    assert np.any(d != 0)
    v = Equivalent(margin=1e-6).judge(d)
    assert v.outcome is INCONCLUSIVE and v.ci[0] == v.ci[1] and v.reason.startswith(ZERO_SPREAD)


def test_exact_trends_are_inconclusive():
    perfect = np.tile(np.arange(5) * 0.01, (16, 1)) + np.linspace(0, 1, 16)[:, None]  # same slope every seed
    for expect in (Increasing(), Decreasing()):
        v = expect.judge(perfect)
        assert v.outcome is INCONCLUSIVE and "same slope (+0.010)" in v.reason
    flat = np.full((16, 5), 0.7)
    v = Increasing().judge(flat)
    assert v.outcome is INCONCLUSIVE and math.isnan(v.pvalues["page_L"])


def test_exact_keeps_its_exact_semantics():
    assert Exact(tol=0.0).judge(np.zeros(16)).outcome is SUPPORTED
    assert Exact(tol=0.01).judge(np.full(16, 0.02)).outcome is REFUTED


def test_two_level_trend_is_a_paired_comparison():
    m = trend(0.01, levels=2)
    v = Increasing().judge(m)
    # the slope over two levels is the per-seed difference, tested as a paired one-sided t test
    assert v.effect == pytest.approx(np.mean(m[:, 1] - m[:, 0]))
    assert v.pvalue == pytest.approx(sps.ttest_1samp(m[:, 1] - m[:, 0], 0.0, alternative="greater").pvalue)
    assert math.isnan(v.pvalues["page_L"])  # Page's L needs >= 3 levels: reported as not defined


# ---------------------------------------------------------------------------------------------
# hand computations with scipy


def test_noninferior_matches_a_hand_computed_t_test():
    d, margin, alpha = sample(-0.003, 0.006, seed=7), 0.01, 0.05
    v = NonInferior(margin=margin).judge(d, alpha=alpha)
    n, mean, se = d.size, d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    t = (mean + margin) / se
    assert v.pvalue == pytest.approx(sps.t.sf(t, n - 1), rel=1e-9)
    assert v.pvalue == pytest.approx(sps.ttest_1samp(d, -margin, alternative="greater").pvalue, rel=1e-12)
    half = sps.t.ppf(1 - alpha, n - 1) * se
    assert v.ci == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert v.pvalues["inferior"] == pytest.approx(sps.t.cdf(t, n - 1), rel=1e-9)
    assert v.outcome is (SUPPORTED if v.pvalue < alpha else REFUTED if sps.t.cdf(t, n - 1) < alpha
                         else INCONCLUSIVE)


def test_equivalent_tost_matches_hand_computation():
    d, m = sample(0.001, 0.006, seed=3), 0.01
    v = Equivalent(margin=m).judge(d)
    n, mean, se = d.size, d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    p_low = sps.t.sf((mean + m) / se, n - 1)
    p_high = sps.t.cdf((mean - m) / se, n - 1)
    assert v.pvalues["tost_low"] == pytest.approx(p_low, rel=1e-9)
    assert v.pvalues["tost_high"] == pytest.approx(p_high, rel=1e-9)
    assert v.pvalue == pytest.approx(max(p_low, p_high), rel=1e-9)


def test_trend_matches_per_seed_least_squares_slopes():
    m = trend(-0.004, seed=5)
    v = Decreasing().judge(m)
    slopes = np.array([np.polyfit(np.arange(5), row, 1)[0] for row in m])
    assert v.effect == pytest.approx(slopes.mean(), rel=1e-9)
    assert v.pvalue == pytest.approx(sps.ttest_1samp(slopes, 0.0, alternative="less").pvalue, rel=1e-9)
    assert v.pvalues["page_L"] == pytest.approx(sps.page_trend_test(m[:, ::-1]).pvalue)


def test_alpha_in_constructor_equals_alpha_in_judge():
    d = sample(0.004, 0.01, seed=11)
    a = Equivalent(margin=0.01, alpha=0.01).judge(d)
    b = Equivalent(margin=0.01).judge(d, alpha=0.01)
    # the verdicts keep their own expectation objects (alpha 0.01 registered vs 0.05 overridden)
    assert replace(a, expectation=b.expectation) == b
    assert a.alpha == 0.01 and a.confidence_level == pytest.approx(0.98)


# ---------------------------------------------------------------------------------------------
# CI and decision agree: SUPPORTED iff the (1 - 2 alpha) CI lies inside the claim's band


def ci_verdict_agree(expect, v: Verdict, band: tuple[float, float]) -> None:
    """SUPPORTED iff the (1 - 2 alpha) CI lies inside the band; REFUTED iff the refuting CI lies outside
    it: the same CI for one-sided claims, the (1 - alpha) CI ``details["refute_ci"]`` for Equivalent,
    whose two refuting sides are judged at alpha / 2 each (issue 12, item 2)."""
    lo, hi = v.ci
    b_lo, b_hi = band
    inside = b_lo < lo and hi < b_hi
    r_lo, r_hi = v.details.get("refute_ci", v.ci)
    outside = r_hi < b_lo or r_lo > b_hi
    assert (v.outcome is SUPPORTED) == inside, (expect, v)
    assert (v.outcome is REFUTED) == outside, (expect, v)


CASES = [
    (Equivalent(margin=0.01), (-0.01, 0.01)),
    (NonInferior(margin=0.01), (-0.01, math.inf)),
    (Superior(min_effect=0.005), (0.005, math.inf)),
]


def near_band(v: Verdict, band: tuple[float, float], scale: float) -> bool:
    ends = [*v.ci, *v.details.get("refute_ci", ())]
    return any(abs(c - b) < 1e-9 * scale for c in ends for b in band if math.isfinite(b))


@pytest.mark.parametrize("expect,band", CASES, ids=lambda x: getattr(x, "kind", ""))
def test_ci_and_decision_agree_on_a_sweep(expect, band):
    rng = np.random.default_rng(42)
    seen = set()
    for _ in range(300):
        d = rng.normal(rng.uniform(-0.03, 0.03), rng.uniform(0.001, 0.02), int(rng.integers(3, 40)))
        alpha = float(rng.choice([0.05, 0.025, 0.01, 0.001]))
        v = expect.judge(d, alpha=alpha)
        if not near_band(v, band, 0.01):
            ci_verdict_agree(expect, v, band)
            seen.add(v.outcome)
    assert seen == set(Outcome)  # the sweep reached every outcome


def test_ci_and_decision_agree_for_trends():
    rng = np.random.default_rng(43)
    for _ in range(100):
        m = trend(float(rng.uniform(-0.01, 0.01)), n=int(rng.integers(3, 20)), seed=int(rng.integers(1 << 30)))
        ci_verdict_agree("increasing", Increasing().judge(m), (0.0, math.inf))
        ci_verdict_agree("decreasing", Decreasing().judge(m), (-math.inf, 0.0))


# ---------------------------------------------------------------------------------------------
# bad input: ValueError naming the bad value and what is allowed


@pytest.mark.parametrize("make,pattern", [
    (lambda: Equivalent(margin=0), r"margin=0 is not allowed: margin must be a finite number > 0"),
    (lambda: Equivalent(margin=-0.01), r"margin=-0\.01 is not allowed: .*> 0"),
    (lambda: NonInferior(margin=0.0), r"margin=0\.0 is not allowed: .*> 0"),
    (lambda: NonInferior(margin=float("nan")), r"margin=nan is not allowed: margin must be a finite number"),
    (lambda: Equivalent(margin=float("inf")), r"margin=inf is not allowed: margin must be a finite number"),
    (lambda: Equivalent(margin="0.01"), r"margin='0\.01' is not allowed: margin must be a finite number"),
    (lambda: Superior(min_effect=-0.01), r"min_effect=-0\.01 is not allowed: .*>= 0"),
    (lambda: Exact(tol=-1e-6), r"tol=-1e-06 is not allowed: tol must be a finite number >= 0"),
])
def test_bad_margins(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


BAD_ALPHAS = [0, 0.0, 0.5, -1, 1.0, float("nan"), float("inf"), "0.05", True]


@pytest.mark.parametrize("alpha", BAD_ALPHAS, ids=repr)
def test_bad_alpha_in_constructor(alpha):
    with pytest.raises(ValueError, match=rf"alpha={re.escape(repr(alpha))} is not allowed: "
                                         r"alpha must lie in the open interval \(0, 0\.5\)"):
        Equivalent(margin=0.01, alpha=alpha)


@pytest.mark.parametrize("alpha", BAD_ALPHAS, ids=repr)
@pytest.mark.parametrize("expect,data", [(Superior(), sample()), (NonInferior(), sample()),
                                         (Equivalent(), sample()), (Increasing(), trend(0.01)),
                                         (Decreasing(), trend(0.01))], ids=lambda x: getattr(x, "kind", ""))
def test_bad_alpha_in_judge(expect, data, alpha):
    with pytest.raises(ValueError, match=rf"alpha={re.escape(repr(alpha))} is not allowed: .*\(0, 0\.5\)"):
        expect.judge(data, alpha=alpha)


def test_numpy_scalars_are_numbers():
    v = Superior(min_effect=np.float32(0.001)).judge(sample(0.01), alpha=np.float32(0.01))
    assert v.alpha == pytest.approx(0.01) and isinstance(v.alpha, float)
    assert Equivalent(margin=np.float64(0.01), alpha=np.float64(0.05)).judge(sample()).n == 16


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_sample(bad):
    d = sample()
    d[3] = bad
    with pytest.raises(ValueError, match=rf"differences has non-finite values \({bad!r} at seed index 3\); "
                                         r"a metric must be a finite number for every seed"):
        Equivalent(margin=0.01).judge(d)


def test_non_finite_trend_names_seed_and_level():
    m = trend(0.01)
    m[2, 4] = float("nan")
    with pytest.raises(ValueError, match=r"trend values has non-finite values \(nan at seed index 2, level index 4\)"):
        Increasing().judge(m)


@pytest.mark.parametrize("values,got", [([0.01], 1), ([], 0)])
def test_too_few_seeds(values, got):
    with pytest.raises(ValueError, match=rf"differences needs at least 2 paired seeds, got {got}"):
        Superior().judge(values)


def test_too_few_seeds_in_a_trend_and_for_exact():
    with pytest.raises(ValueError, match=r"slopes needs at least 2 paired seeds, got 1"):
        Increasing().judge(trend(0.01, n=1))
    with pytest.raises(ValueError, match=r"errors needs at least 1 paired seeds, got 0"):
        Exact().judge([])
    assert Exact().judge([0.0]).outcome is SUPPORTED  # one deterministic check is enough


@pytest.mark.parametrize("expect", [Superior(), NonInferior(), Equivalent(), Exact()], ids=lambda e: e.kind)
def test_differences_must_be_one_dimensional(expect):
    with pytest.raises(ValueError, match=r"must be one-dimensional \(one value per seed\), got shape \(16, 3\)"):
        expect.judge(np.zeros((16, 3)))


@pytest.mark.parametrize("shape", [(16,), (16, 1), (4, 5, 2)], ids=str)
def test_trend_needs_seeds_by_levels(shape):
    with pytest.raises(ValueError, match=rf"a trend needs a seeds x levels matrix with >= 2 levels, "
                                         rf"got shape {re.escape(str(shape))}"):
        Increasing().judge(np.zeros(shape))


# ---------------------------------------------------------------------------------------------
# properties


@st.composite
def paired_samples(draw, min_n: int = 3, max_n: int = 40) -> np.ndarray:
    """Per-seed differences: location + scale * a well-spread standardised draw."""
    n = draw(st.integers(min_n, max_n))
    z = draw(arrays(np.float64, n, elements=st.floats(-3, 3, allow_nan=False, allow_infinity=False)))
    assume(np.std(z) > 0.05)
    loc = draw(st.floats(-0.03, 0.03))
    scale = draw(st.floats(0.001, 0.03))
    return loc + scale * z


margins = st.floats(0.001, 0.05)
alphas = st.sampled_from([0.05, 0.025, 0.01, 0.005])


def away_from_alpha(v: Verdict) -> bool:
    """Not on a knife edge: rounding cannot flip the decision."""
    return all(abs(p - v.alpha) > 1e-6 for p in v.pvalues.values() if math.isfinite(p))


@settings(max_examples=50, derandomize=True, deadline=None)
@given(d=paired_samples(), m=margins, alpha=alphas)
def test_equivalent_is_symmetric_under_sign_flip(d, m, alpha):
    v, w = Equivalent(margin=m).judge(d, alpha=alpha), Equivalent(margin=m).judge(-d, alpha=alpha)
    assume(away_from_alpha(v))
    assert w.outcome is v.outcome
    assert w.pvalue == pytest.approx(v.pvalue, rel=1e-6, abs=1e-12)
    assert w.effect == pytest.approx(-v.effect)
    assert w.ci == pytest.approx((-v.ci[1], -v.ci[0]))


@settings(max_examples=50, derandomize=True, deadline=None)
@given(d=paired_samples(), alpha=alphas)
def test_superior_by_zero_swaps_outcomes_under_sign_flip(d, alpha):
    v, w = Superior().judge(d, alpha=alpha), Superior().judge(-d, alpha=alpha)
    assume(away_from_alpha(v))
    swap = {SUPPORTED: REFUTED, REFUTED: SUPPORTED, INCONCLUSIVE: INCONCLUSIVE}
    assert w.outcome is swap[v.outcome]


@settings(max_examples=50, derandomize=True, deadline=None)
@given(d=paired_samples(), m=margins, shift=st.floats(0.0, 0.5), alpha=alphas)
def test_shifting_the_sample_shifts_the_effect(d, m, shift, alpha):
    v = Superior(min_effect=m).judge(d, alpha=alpha)
    w = Superior(min_effect=m + shift).judge(d + shift, alpha=alpha)
    assume(away_from_alpha(v))
    assert w.effect == pytest.approx(v.effect + shift, abs=1e-12)
    assert w.ci == pytest.approx((v.ci[0] + shift, v.ci[1] + shift), abs=1e-12)
    assert w.outcome is v.outcome
    assert w.pvalue == pytest.approx(v.pvalue, rel=1e-6, abs=1e-12)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(d=paired_samples(), m=margins, k=st.floats(1e-3, 1e3), alpha=alphas)
def test_verdicts_do_not_depend_on_units(d, m, k, alpha):
    v, w = Equivalent(margin=m).judge(d, alpha=alpha), Equivalent(margin=m * k).judge(d * k, alpha=alpha)
    assume(away_from_alpha(v))
    assert w.outcome is v.outcome
    assert w.pvalue == pytest.approx(v.pvalue, rel=1e-6, abs=1e-12)


@settings(max_examples=50, derandomize=True, deadline=None)
@given(d=paired_samples(), m=margins, alpha=alphas)
def test_equivalent_supported_iff_ci_inside_margin(d, m, alpha):
    v = Equivalent(margin=m).judge(d, alpha=alpha)
    assume(not near_band(v, (-m, m), m))
    ci_verdict_agree("equivalent", v, (-m, m))
    n = NonInferior(margin=m).judge(d, alpha=alpha)
    assume(not near_band(n, (-m, math.inf), m))
    ci_verdict_agree("noninferior", n, (-m, math.inf))


@settings(max_examples=50, derandomize=True, deadline=None)
@given(slope=st.floats(-0.01, 0.01), n=st.integers(3, 20), seed=st.integers(0, 2**31), alpha=alphas)
def test_decreasing_is_increasing_mirrored(slope, n, seed, alpha):
    m = trend(slope, n=n, seed=seed)
    up = Increasing().judge(m, alpha=alpha)
    assume(away_from_alpha(up))
    for v in (Decreasing().judge(-m, alpha=alpha), Decreasing().judge(m[:, ::-1], alpha=alpha)):
        assert v.outcome is up.outcome
        assert v.pvalue == pytest.approx(up.pvalue, rel=1e-6, abs=1e-12)
        assert v.pvalues["page_L"] == pytest.approx(up.pvalues["page_L"], rel=1e-6)
