"""The catalogue-wide false-discovery view (instincts.fdr): claim p-values and BH q-values."""

import numpy as np
import pytest
from scipy import stats as sps

from instincts.fdr import annotate, claim_pvalues, summary
from instincts.results import ClaimResult, Part


def claim(name: str, verdict: str, parts: list[Part]) -> ClaimResult:
    return ClaimResult(id=name, nodeid=f"t.py::{name}", verdict=verdict, parts=parts)


def part(p: float, p_refute: float, alpha_refute: float = 0.025, alpha: float = 0.05) -> Part:
    return Part(pvalue=p, pvalue_refute=p_refute, alpha=alpha, alpha_refute=alpha_refute)


def test_claim_pvalues_weight_refutation_back_and_take_the_largest_support():
    c = claim("A", "REFUTED", [part(0.01, 0.99), part(0.9, 0.004, alpha_refute=0.01)])
    p_refute, p_support = claim_pvalues(c)
    assert p_refute == pytest.approx(0.004 * 0.05 / 0.01)  # REFUTED at fixed n iff < alpha
    assert p_support == 0.9  # intersection-union: the weakest part decides


def test_exact_parts_and_old_files_take_no_part():
    exact = claim("E", "SUPPORTED", [Part(pvalue=None, alpha=0.0)])
    old = claim("O", "SUPPORTED", [Part()])
    assert claim_pvalues(exact) == (None, None) == claim_pvalues(old)
    out = annotate([exact, old, ClaimResult(id="S", nodeid="t.py::S", verdict="SKIPPED", reason="no GPU")])
    assert all(c.q_refuted is None and c.q_supported is None for c in out)


def test_q_values_are_benjamini_hochberg():
    from statsmodels.stats.multitest import multipletests

    ps = [0.001, 0.02, 0.03, 0.5]
    claims = [claim(str(i), "SUPPORTED", [part(p, 1 - p, alpha_refute=0.05)]) for i, p in enumerate(ps)]
    out = annotate(claims)
    assert [c.q_supported for c in out] == pytest.approx(list(multipletests(ps, method="fdr_bh")[1]))
    assert "SUPPORTED 4 of 4, 3 with BH q <= 0.05" in summary(out)


def test_global_null_discovers_at_most_alpha(calibration_log):
    """61 claims with uniform p-values (every claim's null true): BH at 0.05 makes any discovery in at
    most 5% of runs (under the global null BH controls the family-wise rate)."""
    rng = np.random.default_rng(12)
    runs, hits = 2000, 0
    for _ in range(runs):
        u = rng.uniform(size=61)
        out = annotate([claim(str(i), "REFUTED", [part(1 - x, x, alpha_refute=0.05)]) for i, x in enumerate(u)])
        hits += any(c.q_refuted <= 0.05 for c in out)
    ci = sps.binomtest(hits, runs).proportion_ci(0.999)
    calibration_log(f"BH over 61 null claims: any q_refuted <= 0.05 in {hits / runs:.2%} of {runs} runs, "
                    f"99.9% CI [{ci.low:.2%}, {ci.high:.2%}]")
    assert ci.low <= 0.05


def test_checks_are_counted_apart_from_evidence():
    from instincts import fdr
    from instincts.results import ClaimResult, Part

    def claim(nodeid, verdict, check, p):
        part = Part(verdict=verdict, kind="compare", pvalue=p, pvalue_refute=1 - p, alpha=0.05, alpha_refute=0.05)
        return ClaimResult(id="X-1", nodeid=nodeid, verdict=verdict, check=check, line="l", expectation="e",
                           effect=0.1, ci=[0.0, 0.2], p=p, parts=[part])

    claims = fdr.annotate([claim("a", "SUPPORTED", False, 0.001), claim("b", "SUPPORTED", True, 0.0),
                           claim("c", "REFUTED", True, 0.99)])
    assert claims[1].q_supported is None and claims[2].q_refuted is None  # checks are not discoveries
    line = fdr.summary(claims)
    assert "SUPPORTED 1 of 1" in line and line.endswith("(checks apart: 1 of 2 hold)")
