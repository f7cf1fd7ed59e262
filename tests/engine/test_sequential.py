"""Sequential looks: boundaries against published values, error rates and savings by simulation.

* Boundaries: Lan-DeMets O'Brien-Fleming z boundaries for K = 2..4 equally spaced looks at
  one-sided 2.5% match gsDesign's ``sfLDOF`` values (K = 4: 4.3326, 2.9631, 2.3590, 2.0141) and
  SeqBounds.jl's table at one-sided 5%; the crossing probabilities they imply, recomputed by an
  independent method (scipy's multivariate normal CDF), equal the alpha spent.
* Naive peeking (each of 4 looks at alpha) inflates the one-sided 5% error to ~12%.
* The design (t tests at each look's nominal level) keeps SUPPORTED and REFUTED at the boundary
  null within the 99.9% binomial CI of alpha for Superior, NonInferior and Equivalent at 6/12/18/24
  and 8/16/24 seeds, while a clear effect is decided with >= 30% fewer seeds than a fixed n.
* The experiment fixture stops at the first conclusive look, reports "n=8 of 24 (look 1/3)", and
  runs each seed once.

The simulations use ``benchmarks.sequential.run_paths`` (the engine's decision rule vectorised
over experiments); ``test_vectorised_rule_matches_the_engine`` checks it verdict for verdict and
seed for seed against ``run_looks`` + ``expect.judge``. Fast set N = 2000 per null; ``-m slow``
N = 20000. Rates go to the "calibration" section of the summary, like ``test_calibration.py``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats as sps
from test_calibration import ALPHA, CONFIDENCE, MARGIN, MIN_EFFECT, N_FAST, N_SLOW, SD, Rate, check_rates, noise

from benchmarks.sequential import REFUTED as SIM_REFUTED
from benchmarks.sequential import SUPPORTED as SIM_SUPPORTED
from benchmarks.sequential import run_paths
from instincts import BUDGETS, Decreasing, Equivalent, Increasing, NonInferior, Superior
from instincts.cache import RunCache
from instincts.expect import Expectation
from instincts.experiment import Experiment
from instincts.sequential import Design, obf_spending, run_looks
from instincts.verdict import INCONCLUSIVE, REFUTED, SUPPORTED

# gsDesign::gsDesign(k, test.type = 1, alpha = 0.025, sfu = sfLDOF)$upper$bound, equal spacing
PUBLISHED_025 = {2: (2.9626, 1.9686), 3: (3.7103, 2.5114, 1.9930), 4: (4.3326, 2.9631, 2.3590, 2.0141)}
# SeqBounds.jl README: bounds([0.25, 0.5, 0.75, 1.0], 0.05), grid h = 0.05 (about 3 decimals)
SEQBOUNDS_05 = (3.74955, 2.53993, 2.01604, 1.72014)

DESIGNS = {"6/12/18/24": (6, 12, 18, 24), "8/16/24": (8, 16, 24)}


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
    design = Design((12,), alpha=0.05)
    assert design.nominal_levels == (0.05,)
    assert obf_spending(1.0, 0.05) == pytest.approx(0.05, abs=1e-15)


def test_nominal_levels_and_t_boundaries():
    design = Design((6, 12, 18, 24), alpha=0.05)
    assert design.nominal_levels == pytest.approx([sps.norm.sf(c) for c in design.boundaries])
    assert all(a < b for a, b in zip(design.nominal_levels, design.nominal_levels[1:]))
    assert design.nominal_levels[-1] < 0.05  # the last look pays a little for the earlier ones
    assert design.t_boundaries[0] == pytest.approx(sps.t.isf(design.nominal_levels[0], 5))
    assert design.boundaries is Design((6, 12, 18, 24), alpha=0.05).boundaries  # cached


@pytest.mark.parametrize("looks,alpha,match", [
    ((), 0.05, "looks=()"), ((1, 4), 0.05, "first >= 2"), ((6, 6), 0.05, "strictly increasing"),
    ((6, 4), 0.05, "strictly increasing"), ((2.5, 6), 0.05, "integers"), (tuple(range(2, 24, 2)), 0.05, "1 to 10"),
    ((6, 12), 0.5, "alpha=0.5"), ((6, 12), 0.0, "alpha=0.0"), ("6,12", 0.05, "looks='6,12'"),
])
def test_design_rejects_bad_input(looks, alpha, match):
    with pytest.raises(ValueError, match=match):
        Design(looks, alpha)


@pytest.mark.parametrize("seeds,looks,match", [(24, 0, "looks=0"), (24, 11, "looks=11"), (5, 3, "seeds must be >= 6"),
                                               (24, True, "looks=True")])
def test_equally_spaced_rejects_bad_input(seeds, looks, match):
    with pytest.raises(ValueError, match=match):
        Design.equally_spaced(seeds, looks)


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
                                  lambda d, level: expect.judge(d[:, 0], alpha=level))
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
    design = Design((6, 12, 18, 24), alpha=ALPHA)
    rng = np.random.default_rng(7)
    diffs = np.concatenate([m + noise(rng, (40, 24), "normal") for m in means])
    outcomes, used = engine_paths(design, diffs, expect)
    sim, sim_used = run_paths(design.looks, design.nominal_levels, diffs, expect)
    code = {SUPPORTED: SIM_SUPPORTED, REFUTED: SIM_REFUTED, INCONCLUSIVE: 0}
    assert [code[o] for o in outcomes] == sim.tolist()
    assert used == sim_used.tolist()
    assert len(set(used)) > 1  # some experiments stopped early, some ran to the end


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


def outcome_rates(label: str, outcome: np.ndarray, **expected) -> list[Rate]:
    n = len(outcome)
    return [Rate(label, "SUPPORTED", int((outcome == SIM_SUPPORTED).sum()), n, **expected),
            Rate(label, "REFUTED", int((outcome == SIM_REFUTED).sum()), n, **expected)]


def sequential_null_rates(kind: str, design_name: str, n_sim: int, seed: int) -> list[Rate]:
    looks = DESIGNS[design_name]
    design = Design(looks, alpha=ALPHA)
    expect, diffs = boundary_null(kind, np.random.default_rng([seed, looks[-1], sum(map(ord, kind))]), n_sim, looks[-1])
    outcome, used = run_paths(design.looks, design.nominal_levels, diffs, expect)
    label = f"sequential {type(expect).__name__} boundary null, looks {design_name} (mean n {used.mean():.1f})"
    rates = outcome_rates(label, outcome, target=ALPHA)
    if kind == "equivalent":  # each side of the band on its own
        half = n_sim // 2
        rates += outcome_rates("  +margin half", outcome[:half], target=ALPHA)
        rates += outcome_rates("  -margin half", outcome[half:], target=ALPHA)
    return rates


@pytest.mark.parametrize("kind", ["superior", "equivalent"])
def test_sequential_null_rates_are_alpha(kind, calibration_log):
    check_rates(calibration_log, sequential_null_rates(kind, "6/12/18/24", N_FAST, 11))


@pytest.mark.slow
@pytest.mark.parametrize("design_name", list(DESIGNS))
@pytest.mark.parametrize("kind", ["superior", "noninferior", "equivalent"])
def test_sequential_null_rates_are_alpha_slow(kind, design_name, calibration_log):
    check_rates(calibration_log, sequential_null_rates(kind, design_name, N_SLOW, 12))


def naive_peeking(n_sim: int, seed: int, calibration_log) -> None:
    """Testing at alpha at each of 4 looks: the error rate is far above alpha, as theory says."""
    looks = DESIGNS["6/12/18/24"]
    expect, diffs = boundary_null("superior", np.random.default_rng(seed), n_sim, looks[-1])
    outcome, _ = run_paths(looks, [ALPHA] * len(looks), diffs, expect)
    k = int((outcome == SIM_SUPPORTED).sum())
    t = np.asarray(looks) / looks[-1]
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    theory = 1.0 - sps.multivariate_normal(np.zeros(4), corr, seed=1).cdf(np.full(4, sps.norm.isf(ALPHA)))
    ci = sps.binomtest(k, n_sim).proportion_ci(CONFIDENCE)
    calibration_log(f"naive peeking, Superior boundary null, 4 looks {looks} each at {ALPHA:.0%}: SUPPORTED "
                    f"{k / n_sim:.2%} ({k}/{n_sim}), {CONFIDENCE:.1%} CI [{ci.low:.2%}, {ci.high:.2%}]; "
                    f"z theory {theory:.2%}, alpha {ALPHA:.0%}")
    assert ci.low > ALPHA  # inflated: the reason for the design
    assert ci.low <= theory + 0.005 and ci.high >= theory - 0.005  # t at small n is a little above z


def test_naive_peeking_inflates_alpha(calibration_log):
    naive_peeking(N_FAST, 21, calibration_log)


@pytest.mark.slow
def test_naive_peeking_inflates_alpha_slow(calibration_log):
    naive_peeking(N_SLOW, 22, calibration_log)


def savings(n_sim: int, seed: int, calibration_log) -> None:
    """A clear effect (1 sd) is decided with >= 30% fewer seeds, losing almost no power."""
    expect = Superior(min_effect=0.0, alpha=ALPHA)
    diffs = np.random.default_rng(seed).normal(SD, SD, (n_sim, 24))
    fixed, _ = run_paths((24,), (ALPHA,), diffs, expect)
    for name, looks in DESIGNS.items():
        design = Design(looks, alpha=ALPHA)
        outcome, used = run_paths(design.looks, design.nominal_levels, diffs, expect)
        power, fixed_power = np.mean(outcome == SIM_SUPPORTED), np.mean(fixed == SIM_SUPPORTED)
        saved = 1.0 - used.mean() / 24
        calibration_log(f"clear effect (1 sd), looks {name}: mean seeds {used.mean():.2f} of 24 ({saved:.0%} fewer; "
                        f"target >= 30%), power {power:.2%} vs fixed n {fixed_power:.2%}")
        assert saved >= 0.30
        assert power >= fixed_power - 0.01  # O'Brien-Fleming: the final look is close to the fixed test
        assert np.all(outcome[fixed == SIM_SUPPORTED] != SIM_REFUTED)


def test_clear_effect_saves_seeds(calibration_log):
    savings(N_FAST, 31, calibration_log)


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
    ex = standard_experiment()
    v = ex.compare(lambda s: 0.5, lambda s: 0.5, metric="value", expect=Equivalent(margin=0.1))
    assert v.outcome is SUPPORTED and (v.n, v.look) == (24, 3)


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
                              lambda d, level: Superior().judge(d[:, 0], alpha=level))
    assert calls == [[100, 101, 102], [103, 104, 105], [106, 107, 108]]
    assert verdict.outcome is INCONCLUSIVE and len(data) == 9 and Counter(map(len, calls)) == {3: 3}
    with pytest.raises(ValueError, match="8 seeds given for a design that plans 9"):
        run_looks(design, list(range(8)), collect, lambda d, level: None)
