"""The catalogue-wide false-discovery view: Benjamini-Hochberg q-values across a run's claims.

Each claim's verdict controls its own error at alpha, but a run judges many claims, so "9 REFUTED
of 61" needs reading against what chance gives. Every claim gets two p-values from its parts:

- ``p_refute``: the evidence that some part fails. A part's refuting test ran at its share of the
  claim's alpha (``instincts.alpha``), so its p-value is weighted back to the claim's scale,
  ``p * alpha / alpha_refute`` (weighted Bonferroni: the claim is REFUTED at fixed n exactly when
  the smallest of them is below alpha), capped at 1.
- ``p_support``: the evidence that every part holds: the largest supporting p-value (the
  intersection-union test).

``q_refuted`` and ``q_supported`` are their BH q-values over the run's claims
(``statsmodels.stats.multitest.multipletests(method="fdr_bh")``): a claim with q <= 0.05 belongs to a
set of discoveries whose expected share of false ones is at most 5% (for independent or positively
dependent p-values, Benjamini & Hochberg 1995; Benjamini & Yekutieli 2001). After sequential looks
the parts' naive p-values are used, which slightly overstate the evidence of an early stop.
Exact parts (no sampling noise) take no part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from instincts.results import RAN, ClaimResult, finite_number

LEVEL = 0.05  # the q-value the summary counts discoveries at


def claim_pvalues(claim: ClaimResult) -> tuple[float | None, float | None]:
    """(p_refute, p_support) of a claim from its parts; None where no part has a statistical test."""
    refute, support = [], []
    for part in claim.parts or ():
        alpha, alpha_refute = finite_number(part.alpha), finite_number(part.alpha_refute)
        p_sup, p_ref = finite_number(part.pvalue), finite_number(part.pvalue_refute)
        if not alpha:  # an exact part, or one written before alphas were recorded
            continue
        if p_sup is not None:
            support.append(p_sup)
        if p_ref is not None and alpha_refute:
            refute.append(min(1.0, p_ref * alpha / alpha_refute))
    return (min(refute) if refute else None), (max(support) if support else None)


def _bh(pvalues: Sequence[float]) -> list[float]:
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(q) for q in multipletests(list(pvalues), method="fdr_bh")[1]]


def annotate(claims: Sequence[ClaimResult]) -> list[ClaimResult]:
    """The claims with p_refute, q_refuted, p_support and q_supported set (evidence claims that ran;
    checks, ``@claim(check=True)``, guard the apparatus and are not discoveries)."""
    pvalues = {c.nodeid: claim_pvalues(c) for c in claims if c.verdict in RAN and not c.check}
    refute = [(k, p[0]) for k, p in pvalues.items() if p[0] is not None]
    support = [(k, p[1]) for k, p in pvalues.items() if p[1] is not None]
    q_ref = dict(zip([k for k, _ in refute], _bh([p for _, p in refute])))
    q_sup = dict(zip([k for k, _ in support], _bh([p for _, p in support])))
    out = []
    for c in claims:
        if c.nodeid in pvalues:
            p_ref, p_sup = pvalues[c.nodeid]
            c = replace(c, p_refute=p_ref, q_refuted=q_ref.get(c.nodeid), p_support=p_sup,
                        q_supported=q_sup.get(c.nodeid))
        out.append(c)
    return out


def summary(claims: Sequence[ClaimResult], level: float = LEVEL) -> str:
    """One line: the verdict counts read against chance, e.g. "REFUTED 9 of 61, 7 with q <= 0.05; ..."."""
    ran = [c for c in claims if c.verdict in RAN and not c.check]
    checks = [c for c in claims if c.verdict in RAN and c.check]
    if not ran:
        return ""
    parts = []
    for verdict, q in (("REFUTED", "q_refuted"), ("SUPPORTED", "q_supported")):
        hits = [c for c in ran if c.verdict == verdict]
        sure = [c for c in hits if (v := getattr(c, q)) is not None and v <= level]
        parts.append(f"{verdict} {len(hits)} of {len(ran)}, {len(sure)} with BH q <= {level:g}")
    held = sum(c.verdict == "SUPPORTED" for c in checks)
    apart = f" (checks apart: {held} of {len(checks)} hold)" if checks else ""
    return "false-discovery view: " + "; ".join(parts) + apart
