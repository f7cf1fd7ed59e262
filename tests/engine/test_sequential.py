"""Sequential looks: boundaries, small-df calibration, stage-wise p-values and adjusted estimates.

* Boundaries: Lan-DeMets O'Brien-Fleming z boundaries for K = 2..4 equally spaced looks at
  one-sided 2.5% match gsDesign's ``sfLDOF`` values (K = 4: 4.3326, 2.9631, 2.3590, 2.0141) and
  SeqBounds.jl's table at one-sided 5%; the crossing probabilities they imply, recomputed by an
  independent method (scipy's multivariate normal CDF), equal the alpha spent.
* Naive peeking (each of 4 looks at alpha) inflates the one-sided 5% error to ~12%.
* Calibration: t tests at the corrected levels keep SUPPORTED (alpha) and REFUTED (alpha_refute)
  at the boundary null within the 99.9% binomial CI, for the designs ``Experiment.design`` builds
  (fast set N = 20,000; slow set N = 200,000 on raw normal data for 2/4/6, 3/6/9/12, 6/12/18/24,
  8/16/24, 16/32/48/64, and a sweep of every equally spaced design of 4..64 seeds through
  sufficient statistics), and at alpha 1e-3 and 2e-4 the rate is not above alpha.
* After a stop: the stage-wise p-value is the naive one for one look, is <= alpha exactly when the
  design crossed, and the adjusted estimate's mean bias is under 1% of the effect (slow: 0.35,
  0.5, 1 sd, 8/16/24 with alpha_refute 0.0075), where the naive mean's is 3-7%.
* The experiment fixture stops at the first conclusive look, reports "n=8 of 24 (look 1/3)", and
  runs each seed once.

The simulations use ``run_paths`` below (the engine's decision rule, both sides with their own
levels, vectorised over experiments); ``test_vectorised_rule_matches_the_engine`` checks it
verdict for verdict and seed for seed against ``run_looks`` + ``expect.judge``. Rates go to the
"calibration" section of the summary, like ``test_calibration.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from scipy import stats as sps
from test_calibration import ALPHA, CONFIDENCE, MARGIN, MIN_EFFECT, SD, Rate, check_rates, noise

from instincts import BUDGETS, Decreasing, Equivalent, Increasing, NonInferior, Superior
from instincts.cache import RunCache
from instincts.expect import Expectation
from instincts.experiment import Experiment
from instincts.sequential import (
    Design,
    adjusted_estimate,
    after_stop,
    max_looks,
    obf_spending,
    run_looks,
    simulate_t_statistics,
    stagewise_p,
)
from instincts.verdict import INCONCLUSIVE, REFUTED, SUPPORTED

# gsDesign::gsDesign(k, test.type = 1, alpha = 0.025, sfu = sfLDOF)$upper$bound, equal spacing
PUBLISHED_025 = {2: (2.9626, 1.9686), 3: (3.7103, 2.5114, 1.9930), 4: (4.3326, 2.9631, 2.3590, 2.0141)}
# SeqBounds.jl README: bounds([0.25, 0.5, 0.75, 1.0], 0.05), grid h = 0.05 (about 3 decimals)
SEQBOUNDS_05 = (3.74955, 2.53993, 2.01604, 1.72014)

DESIGNS = {"2/4/6": (2, 4, 6), "3/6/9/12": (3, 6, 9, 12), "6/12/18/24": (6, 12, 18, 24), "8/16/24": (8, 16, 24),
           "16/32/48/64": (16, 32, 48, 64)}
REFUTE_ALPHAS = (0.05 * 0.9 / 6, 0.05 * 0.9 / 20)  # what the plugin gives the refuting side: 0.0075, 0.00225
N_FAST = 20_000
N_SLOW = 200_000
SIM_SUPPORTED, SIM_REFUTED = 1, -1


# ---------------------------------------------------------------------------------------------
# the vectorised twin of the engine's rule


def pvalues(expect: Expectation, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(claim, opposite) p-values of ``expect.judge`` per row of d; the opposite's is compared with alpha_refute."""
    n = d.shape[1]
    mean, se = d.mean(axis=1), d.std(axis=1, ddof=1) / np.sqrt(n)

    def above(threshold: float) -> np.ndarray:
        return sps.t.sf((mean - threshold) / se, n - 1)

    def below(threshold: float) -> np.ndarray:
        return sps.t.cdf((mean - threshold) / se, n - 1)

    if isinstance(expect, Superior):
        return above(expect.min_effect), below(expect.min_effect)
    if isinstance(expect, NonInferior):
        return above(-expect.margin), below(-expect.margin)
    if isinstance(expect, Equivalent):  # TOST; its opposite by Bonferroni over the two sides
        m = expect.margin
        return np.maximum(above(-m), below(m)), np.minimum(1.0, 2.0 * np.minimum(above(m), below(-m)))
    raise TypeError(f"expect={expect!r} is not simulated here")


def run_paths(design: Design, diffs: np.ndarray, expect: Expectation) -> tuple[np.ndarray, np.ndarray]:
    """Outcome (+1 SUPPORTED, -1 REFUTED, 0 INCONCLUSIVE) and seeds used per row of ``diffs``, as run_looks does."""
    outcome = np.zeros(len(diffs), dtype=int)
    used = np.full(len(diffs), design.max_seeds)
    running = np.ones(len(diffs), dtype=bool)
    for n, level, level_refute in zip(design.looks, design.nominal_levels, design.refute_levels):
        idx = np.flatnonzero(running)
        p_claim, p_opposite = pvalues(expect, diffs[idx, :n])
        supported = p_claim < level
        refuted = ~supported & (p_opposite < level_refute)
        outcome[idx[supported]], outcome[idx[refuted]] = SIM_SUPPORTED, SIM_REFUTED
        used[idx[supported | refuted]] = n
        running[idx[supported | refuted]] = False
    return outcome, used


def stopped(design: Design, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Look, mean, sd and t statistic (against 0) at the stop of each row (Superior(0) with the design's rule)."""
    look, mean, sd, t = (np.zeros(len(x), dtype=int), np.empty(len(x)), np.empty(len(x)), np.empty(len(x)))
    up = np.asarray(design.t_boundaries)
    down = -np.asarray([sps.t.isf(p, n - 1) for p, n in zip(design.refute_levels, design.looks)])
    running = np.ones(len(x), dtype=bool)
    for k, n in enumerate(design.looks):
        m, s = x[:, :n].mean(axis=1), x[:, :n].std(axis=1, ddof=1)
        tk = m / (s / np.sqrt(n))
        stop = running & ((tk > up[k]) | (tk < down[k]) | (k == design.k - 1))
        look[stop], mean[stop], sd[stop], t[stop] = k + 1, m[stop], s[stop], tk[stop]
        running &= ~stop
    return look, mean, sd, t


# ---------------------------------------------------------------------------------------------
# the boundaries


@pytest.mark.parametrize("k", sorted(PUBLISHED_025))
def test_boundaries_match_gsdesign(k):
    design = Design.equally_spaced(12 * k, k, alpha=0.025)
    assert design.boundaries == pytest.approx(PUBLISHED_025[k], abs=1e-4)


def test_boundaries_match_seqbounds_at_five_percent():
    assert Design((6, 12, 18, 24), alpha=0.05).boundaries == pytest.approx(SEQBOUNDS_05, abs=2e-3)


@pytest.mark.parametrize("looks", [(5, 12, 20), (6, 12, 18, 24), (3, 4, 9, 10)])
def test_crossing_probabilities_are_the_alpha_spent(looks):
    """Independent check: 1 - P(Z_j < c_j for j <= k) by scipy's multivariate normal CDF (Genz)."""
    design = Design(looks, alpha=0.05)
    t = np.asarray(design.fractions)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in range(1, design.k + 1):
        mvn = sps.multivariate_normal(np.zeros(k), corr[:k, :k], seed=1, abseps=1e-7, releps=1e-7, maxpts=1_000_000)
        crossed = 1.0 - mvn.cdf(np.asarray(design.boundaries[:k]))
        assert crossed == pytest.approx(design.spending[k - 1], abs=2e-5)
    assert design.spending[-1] == pytest.approx(0.05, abs=1e-15)


def test_one_look_is_the_fixed_test():
    design = Design((12,), alpha=0.05, alpha_refute=0.001)
    assert design.nominal_levels == (0.05,) and design.refute_levels == (0.001,)
    assert design.correction() == 1.0
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05, abs=1e-15)


def test_nominal_levels_are_the_corrected_z_levels():
    design = Design((6, 12, 18, 24), alpha=0.05)
    m = design.correction()
    assert 0.9 < m < 1.0  # the t tests at the z levels are liberal: the correction lowers every level
    assert design.nominal_levels == pytest.approx([m * sps.norm.sf(c) for c in design.boundaries])
    assert all(a < b for a, b in zip(design.nominal_levels, design.nominal_levels[1:]))
    assert design.nominal_levels[-1] < 0.05  # the last look pays a little for the earlier ones
    assert design.t_boundaries[0] == pytest.approx(sps.t.isf(design.nominal_levels[0], 5))
    assert design.boundaries is Design((6, 12, 18, 24), alpha=0.05).boundaries  # cached
    assert Design((6, 12, 18, 24), alpha=0.05).correction() == m  # deterministic (fixed seed)
    assert design.crossed()[-1] == pytest.approx(0.05, abs=1e-12)  # the Monte Carlo size is alpha


def test_two_alphas():
    design = Design.equally_spaced(24, 3, alpha=0.05, alpha_refute=1e-7)
    assert design.alpha_refute == 1e-7 and Design((8, 16, 24), 0.05).alpha_refute == 0.05
    assert all(0 < r < s for r, s in zip(design.refute_levels, design.nominal_levels))
    assert design.refute_spending[-1] == pytest.approx(1e-7, rel=1e-9)
    assert design.correction("refute") == Design((8, 16, 24), 0.05, 1e-3).correction("refute")  # alpha < 1e-3
    described = design.describe()
    assert described["alpha_refute"] == 1e-7 and len(described["refute_levels"]) == 3
    assert described["nominal_levels"] == list(design.nominal_levels)
    with pytest.raises(ValueError, match="side='both' is not allowed"):
        design.levels("both")


@pytest.mark.parametrize("looks,alpha,refute,match", [
    ((), 0.05, None, "looks=()"), ((1, 4), 0.05, None, "first >= 2"), ((6, 6), 0.05, None, "strictly increasing"),
    ((6, 4), 0.05, None, "strictly increasing"), ((2.5, 6), 0.05, None, "integers"),
    (tuple(range(2, 24, 2)), 0.05, None, "1 to 10"), ((6, 12), 0.5, None, "alpha=0.5"),
    ((6, 12), 0.0, None, "alpha=0.0"), ("6,12", 0.05, None, "looks='6,12'"), ((6, 12), 0.05, 0.0, "alpha=0.0"),
    ((6, 12), 0.05, 0.7, "alpha=0.7"),
])
def test_design_rejects_bad_input(looks, alpha, refute, match):
    with pytest.raises(ValueError, match=match):
        Design(looks, alpha, refute)


@pytest.mark.parametrize("seeds,looks,match", [(24, 0, "looks=0"), (24, 11, "looks=11"), (5, 3, "seeds must be >= 6"),
                                               (24, True, "looks=True")])
def test_equally_spaced_rejects_bad_input(seeds, looks, match):
    with pytest.raises(ValueError, match=match):
        Design.equally_spaced(seeds, looks)


def test_max_looks():
    assert [max_looks(n, 3) for n in (1, 2, 3, 4, 5, 6, 24, 64)] == [1, 1, 1, 2, 2, 3, 3, 3]
    assert max_looks(64, 40) == 10 and max_looks(7, 4) == 3
    for n in range(4, 65):
        for wanted in (3, 4):
            Design.equally_spaced(n, max_looks(n, wanted))  # every design it allows can be built
    for bad in ((0, 3, "seeds=0"), (4, 0, "wanted=0"), (4.0, 3, "seeds=4.0"), (4, True, "wanted=True")):
        with pytest.raises(ValueError, match=bad[2]):
            max_looks(bad[0], bad[1])


def test_budget_looks():
    assert (BUDGETS["smoke"].looks, BUDGETS["standard"].looks, BUDGETS["full"].looks) == (1, 3, 4)
    with pytest.raises(ValueError, match="looks=0 is not allowed"):
        BUDGETS["smoke"].with_(looks=0)


# ---------------------------------------------------------------------------------------------
# the vectorised rule is the engine's rule


def engine_paths(design: Design, diffs: np.ndarray, expect: Expectation) -> tuple[list, list]:
    outcomes, used = [], []
    for row in diffs:
        data, verdict = run_looks(design, range(design.max_seeds), lambda new, row=row: row[list(new)][:, None],
                                  lambda d, level, refute: expect.judge(d[:, 0], alpha=level, alpha_refute=refute))
        outcomes.append(verdict.outcome)
        used.append(len(data))
        assert verdict.n == len(data) and verdict.seeds_max == design.max_seeds
    return outcomes, used


@pytest.mark.parametrize("expect,means", [
    (Superior(min_effect=MIN_EFFECT), (MIN_EFFECT, MIN_EFFECT + 0.008, -0.004)),
    (Equivalent(margin=MARGIN), (MARGIN, 0.0, 0.02)),
    (NonInferior(margin=MARGIN), (-MARGIN, 0.0, -0.02)),
])
def test_vectorised_rule_matches_the_engine(expect, means):
    design = Design((6, 12, 18, 24), alpha=ALPHA, alpha_refute=0.02)
    rng = np.random.default_rng(7)
    diffs = np.concatenate([m + noise(rng, (40, 24), "normal") for m in means])
    outcomes, used = engine_paths(design, diffs, expect)
    sim, sim_used = run_paths(design, diffs, expect)
    code = {SUPPORTED: SIM_SUPPORTED, REFUTED: SIM_REFUTED, INCONCLUSIVE: 0}
    assert [code[o] for o in outcomes] == sim.tolist()
    assert used == sim_used.tolist()
    assert len(set(used)) > 1  # some experiments stopped early, some ran to the end


def test_sufficient_statistics_give_the_t_statistics():
    """simulate_t_statistics (one normal and one chi-square per block) has the law of t tests on the data."""
    looks, n_sim = (3, 6, 9, 12), 20_000
    fast = simulate_t_statistics(looks, n_sim, np.random.default_rng(1))
    x = np.random.default_rng(2).normal(size=(n_sim, 12))
    raw = np.stack([x[:, :n].mean(1) / (x[:, :n].std(1, ddof=1) / np.sqrt(n)) for n in looks], axis=1)
    for k, n in enumerate(looks):  # each margin is t(n - 1); the joint law matches (KS on the max)
        assert sps.kstest(fast[:, k], sps.t(n - 1).cdf).pvalue > 1e-3
    assert sps.ks_2samp(fast.max(1), raw.max(1)).pvalue > 1e-3
    assert sps.ks_2samp(fast[:, 0] - fast[:, 3], raw[:, 0] - raw[:, 3]).pvalue > 1e-3


# ---------------------------------------------------------------------------------------------
# error rates by simulation


def boundary_null(kind: str, rng: np.random.Generator, n_sim: int, seeds: int) -> tuple[Expectation, np.ndarray]:
    """The expectation and n_sim experiments x seeds differences at its boundary null (as in test_calibration)."""
    if kind == "superior":
        return Superior(min_effect=MIN_EFFECT, alpha=ALPHA), MIN_EFFECT + noise(rng, (n_sim, seeds), "normal")
    if kind == "noninferior":
        return NonInferior(margin=MARGIN, alpha=ALPHA), -MARGIN + noise(rng, (n_sim, seeds), "normal")
    means = np.where(np.arange(n_sim) < n_sim // 2, MARGIN, -MARGIN)[:, None]  # half at +margin, half at -margin
    return Equivalent(margin=MARGIN, alpha=ALPHA), means + noise(rng, (n_sim, seeds), "normal")


def null_rates(kind: str, looks: Sequence[int], n_sim: int, seed: int, alpha_refute: float | None = None) -> list[Rate]:
    """SUPPORTED (target alpha) and REFUTED (target alpha_refute) at the boundary null, in chunks of 50,000."""
    design = Design(tuple(looks), alpha=ALPHA, alpha_refute=alpha_refute)
    rng = np.random.default_rng([seed, looks[-1], len(looks), sum(map(ord, kind))])
    outcome, used = [], []
    for start in range(0, n_sim, 50_000):
        expect, diffs = boundary_null(kind, rng, min(50_000, n_sim - start), looks[-1])
        o, u = run_paths(design, diffs, expect)
        outcome.append(o)
        used.append(u)
    o, u = np.concatenate(outcome), np.concatenate(used)
    name = "/".join(map(str, looks))
    label = (f"sequential {type(expect).__name__} boundary null, looks {name}, alpha {ALPHA:g} / refute "
             f"{design.alpha_refute:g} (mean n {u.mean():.1f})")
    rates = [Rate(label, "SUPPORTED", int((o == SIM_SUPPORTED).sum()), len(o), target=ALPHA)]
    if kind != "equivalent":  # at +-margin the refuting test (two one-sided at alpha_refute / 2) is below alpha_refute
        rates.append(Rate(label, "REFUTED", int((o == SIM_REFUTED).sum()), len(o), target=design.alpha_refute))
    return rates


@pytest.mark.parametrize("kind,name,refute", [
    ("superior", "2/4/6", None), ("superior", "8/16/24", REFUTE_ALPHAS[0]), ("equivalent", "6/12/18/24", None),
    ("noninferior", "3/6/9/12", None),
])
def test_sequential_null_rates_are_alpha(kind, name, refute, calibration_log):
    check_rates(calibration_log, null_rates(kind, DESIGNS[name], N_FAST, 11, refute))


@pytest.mark.slow
@pytest.mark.parametrize("name,refute", [(name, None) for name in DESIGNS] + [("8/16/24", REFUTE_ALPHAS[0])])
def test_sequential_null_rates_are_alpha_slow(name, refute, calibration_log):
    check_rates(calibration_log, null_rates("superior", DESIGNS[name], N_SLOW, 12, refute))


def t_null_rate(design: Design, n_sim: int, seed: int, side: str) -> tuple[int, int]:
    """Crossings of one side at the null through sufficient statistics (independent of the calibration's seed)."""
    levels = design.nominal_levels if side == "support" else design.refute_levels
    crit = np.asarray([sps.t.isf(p, n - 1) for p, n in zip(levels, design.looks)])
    rng, k = np.random.default_rng([seed, *design.looks]), 0
    for start in range(0, n_sim, 500_000):
        t = simulate_t_statistics(design.looks, min(500_000, n_sim - start), rng)
        k += int((t > crit).any(axis=1).sum())
    return k, n_sim


@pytest.mark.slow
def test_every_buildable_design_is_calibrated(calibration_log):
    """Every equally spaced design Experiment.design can build (4..64 seeds, 3 or 4 looks wanted) at alpha 0.05,
    and every fifth at the refuting alphas the plugin uses: the rate is within its 99.9% CI of alpha."""
    rates, seen = [], set()
    for n in range(4, 65):
        for wanted in (3, 4):
            design = Design.equally_spaced(n, max_looks(n, wanted), ALPHA)
            if design.looks in seen or design.k == 1:
                continue
            seen.add(design.looks)
            sides = [("support", ALPHA)] + ([("refute", a) for a in REFUTE_ALPHAS] if n % 5 == 4 else [])
            for side, a in sides:
                d = Design(design.looks, ALPHA, a if side == "refute" else None)
                k, n_sim = t_null_rate(d, N_SLOW, 31, side)
                rates.append(Rate(f"t tests at the corrected levels, looks {d.looks}, {side} alpha {a:g}", "crossed",
                                  k, n_sim, target=a))
    check_rates(calibration_log, rates)


@pytest.mark.slow
@pytest.mark.parametrize("alpha,n_sim", [(1e-3, 4_000_000), (2e-4, 10_000_000)])
def test_small_alpha_is_not_liberal(alpha, n_sim, calibration_log):
    """Where Monte Carlo cannot resolve the rate the multiplier is a safe choice: never significantly above alpha."""
    lines, off = [], []
    for looks in ((2, 4, 6), (3, 6, 9, 12), (8, 16, 24)):
        design = Design(looks, ALPHA, alpha)
        k, n = t_null_rate(design, n_sim, 41, "refute")
        ci = sps.binomtest(k, n).proportion_ci(CONFIDENCE)
        line = (f"refuting side at alpha {alpha:g}, looks {looks} (multiplier {design.correction('refute'):.4f}): "
                f"crossed {k / n:.4%} ({k}/{n}), {CONFIDENCE:.1%} CI [{ci.low:.4%}, {ci.high:.4%}]; not above alpha")
        calibration_log(line)
        lines.append(line)
        if ci.low > alpha:
            off.append(line)
    assert not off, "liberal:\n" + "\n".join(off)


def naive_peeking(n_sim: int, seed: int, calibration_log) -> None:
    """Testing at alpha at each of 4 looks: the error rate is far above alpha, as theory says."""
    looks = DESIGNS["6/12/18/24"]
    rng = np.random.default_rng(seed)
    t = simulate_t_statistics(looks, n_sim, rng)
    k = int((t > np.asarray([sps.t.isf(ALPHA, n - 1) for n in looks])).any(axis=1).sum())
    tf = np.asarray(looks) / looks[-1]
    corr = np.sqrt(np.minimum.outer(tf, tf) / np.maximum.outer(tf, tf))
    theory = 1.0 - sps.multivariate_normal(np.zeros(4), corr, seed=1).cdf(np.full(4, sps.norm.isf(ALPHA)))
    ci = sps.binomtest(k, n_sim).proportion_ci(CONFIDENCE)
    calibration_log(f"naive peeking, boundary null, 4 looks {looks} each at {ALPHA:.0%}: SUPPORTED "
                    f"{k / n_sim:.2%} ({k}/{n_sim}), {CONFIDENCE:.1%} CI [{ci.low:.2%}, {ci.high:.2%}]; "
                    f"z theory {theory:.2%}, alpha {ALPHA:.0%}")
    assert ci.low > ALPHA  # inflated: the reason for the design
    assert ci.low <= theory + 0.005 and ci.high >= theory - 0.005  # t at small n is a little above z


def test_naive_peeking_inflates_alpha(calibration_log):
    naive_peeking(N_FAST, 21, calibration_log)


def savings(n_sim: int, seed: int, calibration_log) -> None:
    """A clear effect (1 sd) is decided with >= 30% fewer seeds, losing almost no power."""
    expect = Superior(min_effect=0.0, alpha=ALPHA)
    diffs = np.random.default_rng(seed).normal(SD, SD, (n_sim, 24))
    fixed, _ = run_paths(Design((24,), ALPHA), diffs, expect)
    for name in ("6/12/18/24", "8/16/24"):
        design = Design(DESIGNS[name], alpha=ALPHA, alpha_refute=REFUTE_ALPHAS[0])
        outcome, used = run_paths(design, diffs, expect)
        power, fixed_power = np.mean(outcome == SIM_SUPPORTED), np.mean(fixed == SIM_SUPPORTED)
        saved = 1.0 - used.mean() / 24
        calibration_log(f"clear effect (1 sd), looks {name}: mean seeds {used.mean():.2f} of 24 ({saved:.0%} fewer; "
                        f"target >= 30%), power {power:.2%} vs fixed n {fixed_power:.2%}")
        assert saved >= 0.30
        assert power >= fixed_power - 0.01  # O'Brien-Fleming: the final look is close to the fixed test
        assert np.all(outcome[fixed == SIM_SUPPORTED] != SIM_REFUTED)


def test_clear_effect_saves_seeds(calibration_log):
    savings(5000, 31, calibration_log)


# ---------------------------------------------------------------------------------------------
# after the stop: stage-wise p-value and adjusted estimate


def test_stagewise_p_is_the_naive_p_for_one_look():
    design = Design((12,), 0.05)
    t = np.array([-2.0, 0.0, 1.0, 1.8, 3.0])
    assert stagewise_p(design, 1, t) == pytest.approx(sps.t.sf(t, 11), rel=1e-9)
    assert adjusted_estimate(design, 1, 2.0, 12, 0.5, 0.1) == pytest.approx(0.1 + 0.5 * 2.0 / np.sqrt(12))


@pytest.mark.parametrize("looks,refute", [((8, 16, 24), None), ((2, 4, 6), 0.0075), ((6, 12, 18, 24), 0.00225)])
def test_stagewise_p_agrees_with_the_design(looks, refute):
    """p equals P0(crossed by look k) at look k's boundary, falls as t rises, and is <= alpha iff crossed."""
    design = Design(looks, 0.05, refute)
    for side, levels, alpha in (("support", design.nominal_levels, 0.05),
                                ("refute", design.refute_levels, design.alpha_refute)):
        for k, (n, level) in enumerate(zip(looks, levels), 1):
            crit = sps.t.isf(level, n - 1)
            sign = 1.0 if side == "support" else -1.0
            assert stagewise_p(design, k, sign * crit, side) == pytest.approx(design.crossed(side)[k - 1], rel=1e-6)
            grid = np.linspace(crit - 3, crit + 6, 50)
            p = stagewise_p(design, k, sign * grid, side)
            assert np.all(np.diff(p) <= 1e-15) and np.all((0 <= p) & (p <= 1))
            assert np.all(p[grid > crit] <= alpha) and np.all(p[grid > crit] >= (design.crossed(side)[k - 2]
                                                                                    if k > 1 else 0.0))
        last = sps.t.isf(levels[-1], looks[-1] - 1)
        assert stagewise_p(design, design.k, sign * (last - 1e-6), side) > alpha - 1e-9


def test_stagewise_p_is_uniform_at_the_null(calibration_log):
    """Under the null, P(stage-wise p <= u) <= u (within the CI) for u in {0.01, 0.05, 0.2, 0.5}."""
    design = Design((8, 16, 24), 0.05, 0.0075)
    look, _, _, t = stopped(design, np.random.default_rng(51).normal(size=(N_FAST, 24)))
    p = np.empty(len(t))
    for k in range(1, design.k + 1):
        p[look == k] = stagewise_p(design, k, t[look == k])
    rates = [Rate("stage-wise p at the null, looks 8/16/24", f"p <= {u:g}", int((p <= u).sum()), len(p), target=u)
             for u in (0.01, 0.05, 0.2, 0.5)]
    check_rates(calibration_log, rates)


def bias_rows(design: Design, effect: float, n_sim: int, seed: int) -> tuple[float, float, float]:
    """Mean bias of the naive and adjusted estimates (true sd 1) and the adjusted one's standard error."""
    naive, adjusted = [], []
    rng = np.random.default_rng([seed, round(effect * 1000)])
    for start in range(0, n_sim, 50_000):
        x = rng.normal(effect, 1.0, (min(50_000, n_sim - start), design.max_seeds))
        look, mean, sd, t = stopped(design, x)
        adj = np.empty(len(x))
        for k in range(1, design.k + 1):
            adj[look == k] = adjusted_estimate(design, k, t[look == k], design.looks[k - 1], sd[look == k], 0.0)
        naive.append(mean)
        adjusted.append(adj)
    naive_all, adjusted_all = np.concatenate(naive), np.concatenate(adjusted)
    return naive_all.mean() - effect, adjusted_all.mean() - effect, adjusted_all.std() / np.sqrt(n_sim)


def check_bias(design: Design, effects: Sequence[float], n_sim: int, tolerance: float, calibration_log) -> None:
    off = []
    for effect in effects:
        naive, adjusted, se = bias_rows(design, effect, n_sim, 61)
        line = (f"estimate after stopping, looks {design.looks}, refute {design.alpha_refute:g}, true effect "
                f"{effect:g} sd (N={n_sim}): naive bias {naive / effect:+.2%}, adjusted {adjusted / effect:+.2%} "
                f"(se {se / effect:.2%}); target |adjusted| < {tolerance:.0%}")
        calibration_log(line)
        if not abs(adjusted) < tolerance * effect or abs(adjusted) >= abs(naive):
            off.append(line)
    assert not off, "biased:\n" + "\n".join(off)


def test_adjusted_estimate_removes_most_of_the_bias(calibration_log):
    check_bias(Design((8, 16, 24), 0.05, REFUTE_ALPHAS[0]), (0.5,), N_FAST, 0.03, calibration_log)


@pytest.mark.slow
def test_adjusted_estimate_is_mean_unbiased_slow(calibration_log):
    check_bias(Design((8, 16, 24), 0.05, REFUTE_ALPHAS[0]), (0.35, 0.5, 1.0), 400_000, 0.01, calibration_log)


def verdict_at(design: Design, x: np.ndarray, expect: Expectation):
    return run_looks(design, range(design.max_seeds), lambda new: x[list(new)][:, None],
                     lambda d, level, refute: expect.judge(d[:, 0], alpha=level, alpha_refute=refute))[1]


def test_run_looks_reports_the_after_stop_numbers():
    design = Design((8, 16, 24), 0.05, REFUTE_ALPHAS[0])
    x = np.random.default_rng(3).normal(2.0, 0.5, 24)
    v = verdict_at(design, x, Superior())
    seq = v.details["sequential"]
    assert v.outcome is SUPPORTED and seq["stopped_at_look"] == 1 == v.look
    assert seq["naive_effect"] == v.effect and seq["naive_p"] == v.pvalue
    assert seq["ci_kind"] == "repeated CI at look 1"
    t = v.effect / (x[:8].std(ddof=1) / np.sqrt(8))
    assert seq["stagewise_p"] == pytest.approx(stagewise_p(design, 1, t)) and seq["stagewise_p"] <= 0.05
    assert seq["adjusted_effect"] == pytest.approx(adjusted_estimate(design, 1, t, 8, x[:8].std(ddof=1), 0.0))
    assert seq["adjusted_effect"] < v.effect  # an early stop overstates the effect: the adjustment shrinks it
    assert seq["alpha_refute"] == REFUTE_ALPHAS[0] and seq["refute_levels"] == list(design.refute_levels)
    down = verdict_at(design, -x, Superior())  # the mirror image: the refuting side's p says whether it refuted
    assert (down.details["sequential"]["stagewise_p_refute"] <= REFUTE_ALPHAS[0]) == (down.outcome is REFUTED)


def test_after_stop_for_other_bands():
    design = Design((8, 16, 24), 0.05)
    x = np.random.default_rng(4).normal(0.0, 1.0, 24)
    eq = verdict_at(design, x, Equivalent(margin=2.0))
    seq = eq.details["sequential"]
    assert seq["adjust_reason"] == "two-sided stopping: not adjusted" and seq["adjusted_effect"] == eq.effect
    assert seq["stagewise_p"] == eq.pvalue
    one = verdict_at(Design((24,), 0.05), x, Superior())
    assert "sequential" not in one.details
    assert (one.details["stagewise_p"], one.details["adjusted_effect"]) == (one.pvalue, one.effect)
    flat = after_stop(verdict_at(design, np.zeros(24), Superior()), design, 3)
    assert flat["adjusted_effect"] is None and flat["adjust_reason"].startswith("zero spread")


def test_decreasing_band_mirrors_increasing():
    design = Design((8, 16, 24), 0.05)
    rng = np.random.default_rng(5)
    data = rng.normal(0, 1, (24, 4)) + 0.4 * np.arange(4.0)  # seeds x levels
    up = run_looks(design, range(24), lambda new: data[list(new)],
               lambda d, a, r: Increasing().judge(d, alpha=a, alpha_refute=r))[1]
    down = run_looks(design, range(24), lambda new: -data[list(new)],
                 lambda d, a, r: Decreasing().judge(d, alpha=a, alpha_refute=r))[1]
    s_up, s_down = up.details["sequential"], down.details["sequential"]
    assert s_up["stagewise_p"] == pytest.approx(s_down["stagewise_p"], rel=1e-9)
    assert s_up["adjusted_effect"] == pytest.approx(-s_down["adjusted_effect"], rel=1e-9)


def test_adjusted_estimate_rejects_bad_input():
    design = Design((8, 16, 24), 0.05)
    for kwargs, match in (({"look": 4}, "look=4"), ({"n": 9}, "n=9"), ({"direction": 0}, "direction=0")):
        args = {"look": 1, "t_stat": 1.0, "n": 8, "sd": 1.0, "threshold": 0.0, **kwargs}
        with pytest.raises(ValueError, match=match):
            adjusted_estimate(design, **args)


# ---------------------------------------------------------------------------------------------
# the experiment fixture


def standard_experiment() -> Experiment:
    return Experiment(BUDGETS["standard"], torch.device("cpu"), RunCache(None))


def shifted(shift: float, sd: float = 0.3):
    def arm(seed: int) -> float:
        return base(seed) + shift + sd * base(seed + 99)
    return arm


def base(seed: int) -> float:
    return float(np.random.default_rng(seed).normal())


def test_compare_stops_at_the_first_conclusive_look():
    ex = standard_experiment()
    v = ex.compare(shifted(1.0), base, metric="value", expect=Superior())
    assert v.outcome is SUPPORTED and (v.n, v.seeds_max, v.look, v.looks) == (8, 24, 1, 3)
    assert "n=8 of 24 (look 1/3)" in v.line()
    d = v.to_dict()
    assert (d["seeds_used"], d["seeds_max"], d["look"], d["looks"]) == (8, 24, 1, 3)
    assert d["details"]["sequential"]["looks"] == [8, 16, 24]
    assert d["details"]["sequential"]["stopped_at_look"] == 1
    assert v.alpha == pytest.approx(Design((8, 16, 24), 0.05).nominal_levels[0])
    assert ex.records[-1].seeds == list(range(8)) and len(ex.records[-1].values) == 8


def test_compare_runs_to_the_last_look_when_unclear():
    ex = standard_experiment()
    v = ex.compare(lambda s: float(np.random.default_rng(s + 1000).normal()), base, metric="value",
                   expect=Superior())
    assert (v.n, v.look) == (24, 3)
    assert v.alpha == pytest.approx(Design((8, 16, 24), 0.05).nominal_levels[-1])
    if v.outcome is INCONCLUSIVE:
        assert "n=24 of 24 (look 3/3)" in v.line()


def test_looks_override_and_fixed_n_verdict_is_unchanged():
    ex = standard_experiment()
    v = ex.compare(shifted(1.0), base, metric="value", expect=Superior(), looks=1)
    a = np.array([shifted(1.0)(s) for s in range(24)])
    b = np.array([base(s) for s in range(24)])
    fixed = Superior().judge(a - b)
    assert (v.outcome, v.n, v.ci, v.pvalue, v.alpha) == (fixed.outcome, 24, fixed.ci, fixed.pvalue, 0.05)
    assert v.line() == fixed.line() and "of 24" not in v.line()
    v4 = ex.compare(shifted(1.0), base, metric="value", expect=Superior(), looks=4)
    assert v4.looks == 4 and v4.n in (6, 12) and v4.outcome is SUPPORTED


def test_smoke_budget_keeps_a_fixed_n():
    ex = Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None))
    v = ex.compare(shifted(1.0), base, metric="value", expect=Superior())
    assert (v.n, v.seeds_max, v.looks) == (12, 12, 1) and "sequential" not in v.details
    assert ", n=12, " in v.line()


def test_bad_looks_are_refused():
    ex = standard_experiment()
    with pytest.raises(ValueError, match="looks=13 is not allowed"):
        ex.compare(base, base, metric="value", expect=Superior(), looks=13)
    with pytest.raises(ValueError, match="looks=6 with seeds=10 is not allowed"):
        ex.compare(base, base, metric="value", expect=Superior(), looks=6, seeds=10)
    with pytest.raises(ValueError, match="looks=0"):
        ex.trend({0: base, 1: base}, metric="value", looks=0)


def test_budget_looks_shrink_for_few_seeds():
    v = standard_experiment().compare(shifted(1.0), base, metric="value", expect=Superior(), seeds=4)
    assert (v.n, v.looks) in {(2, 2), (4, 2)}


def test_zero_spread_at_an_interim_look_does_not_stop():
    """Ties are not certainty: equal values run to the last look and end INCONCLUSIVE, with the reason."""
    ex = standard_experiment()
    v = ex.compare(lambda s: 0.5, lambda s: 0.5, metric="value", expect=Equivalent(margin=0.1))
    assert v.outcome is INCONCLUSIVE and (v.n, v.look) == (24, 3) and "zero spread" in v.reason
    assert v.details["sequential"]["adjust_reason"].startswith("two-sided")


def test_trend_stops_early():
    ex = standard_experiment()
    arms = {level: (lambda s, level=level: base(s) + 0.5 * level + 0.1 * base(s + 7 * level + 1)) for level in range(4)}
    up = ex.trend(arms, metric="value", expect=Increasing())
    down = ex.trend(arms, metric="value", expect=Decreasing())
    assert up.outcome is SUPPORTED and down.outcome is REFUTED
    assert (up.n, up.look, down.n, down.look) == (8, 1, 8, 1)
    assert ex.records[-1].values and len(ex.records[-1].values) == 8


def test_run_looks_collects_each_seed_once():
    calls: list[list[int]] = []

    def collect(new):
        calls.append(list(new))
        return np.asarray([[1.0 if s % 2 == 0 else -1.0] for s in new])  # mean ~0: never conclusive

    design = Design((3, 6, 9), alpha=0.05)
    data, verdict = run_looks(design, list(range(100, 109)), collect,
                              lambda d, level, level_refute: Superior().judge(d[:, 0], alpha=level,
                                                                            alpha_refute=level_refute))
    assert calls == [[100, 101, 102], [103, 104, 105], [106, 107, 108]]
    assert verdict.outcome is INCONCLUSIVE and len(data) == 9 and Counter(map(len, calls)) == {3: 3}
    with pytest.raises(ValueError, match="8 seeds given for a design that plans 9"):
        run_looks(design, list(range(8)), collect, lambda d, level, level_refute: None)
