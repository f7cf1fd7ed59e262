"""Claim time: the one place that adds up what the catalogue costs, per seed section, and checks it
against a limit (CI gates on the smoke catalogue's time, so a claim cannot quietly grow).

Time is each claim's own ``duration_s`` summed (serial seconds: what one worker spends), so the
number does not depend on how xdist balanced the run; with ``-n W`` the wall time is about the sum
over W when the run is balanced.
"""

from __future__ import annotations

from collections.abc import Sequence

from instincts.errors import InvalidArgument
from instincts.results import ClaimResult


def section_seconds(claims: Sequence[ClaimResult]) -> dict[str, float]:
    """Serial seconds per seed section (the claim id's prefix where a claim has no section), largest first."""
    out: dict[str, float] = {}
    for c in claims:
        key = c.section or c.id.split("-")[0]
        out[key] = out.get(key, 0.0) + (c.duration_s or 0.0)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def total_seconds(claims: Sequence[ClaimResult]) -> float:
    return float(sum(c.duration_s or 0.0 for c in claims))


def summary(claims: Sequence[ClaimResult], workers: int = 1) -> str:
    """"claim time (serial s): Input 224, Batch Size 61, ...; total 410 s (about 3.4 min on 2 workers)"."""
    sections = ", ".join(f"{name} {seconds:.0f}" for name, seconds in section_seconds(claims).items())
    total = total_seconds(claims)
    wall = f" (about {total / workers / 60:.1f} min on {workers} workers)" if workers > 1 else ""
    return f"claim time (serial s): {sections}; total {total:.0f} s{wall}"


def over_limit(claims: Sequence[ClaimResult], max_minutes: float) -> str:
    """A message when the claims' serial time exceeds ``max_minutes``, else ""."""
    if isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float)) or not max_minutes > 0:
        raise InvalidArgument(f"max_minutes={max_minutes!r} is not allowed: give a number of minutes > 0")
    total = total_seconds(claims)
    if total <= max_minutes * 60:
        return ""
    return (f"the claims took {total / 60:.1f} serial minutes, over the limit of {max_minutes:g}: "
            f"{summary(claims)}; make the slowest sections cheaper or raise the limit deliberately")
