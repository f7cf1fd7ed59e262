"""Claim time: the one place that adds up what the catalogue costs, per seed section, and checks it
against a limit (CI gates on the smoke catalogue's time, so a claim cannot quietly grow).

Time is each claim's own ``duration_s`` summed (serial seconds: what one worker spends), so the
number does not depend on how xdist balanced the run; with ``-n W`` the wall time is about the sum
over W when the run is balanced.

Wall time depends on the machine: the same catalogue took 19 serial minutes on one CI machine and 41
on another (stop 22, no claim changed). So the limit is checked in *baseline-machine minutes*: the
run's time divided by the machine factor, the median over claims of current / baseline duration
(claims present in both, at least ``MIN_MATCHED`` of them, each at least ``MIN_SECONDS``). A claim
that grows moves the total, not the median; a machine that is slower moves both.
"""

from __future__ import annotations

import statistics
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


MIN_MATCHED = 10
MIN_SECONDS = 1.0


def machine_factor(claims: Sequence[ClaimResult], baseline: Sequence[ClaimResult]) -> float | None:
    """How much slower this run's machine was than the baseline's (median duration ratio over the
    claims both ran for at least ``MIN_SECONDS``); None with fewer than ``MIN_MATCHED`` such claims."""
    before = {c.nodeid: c.duration_s for c in baseline if c.nodeid and (c.duration_s or 0) >= MIN_SECONDS}
    ratios = [c.duration_s / before[c.nodeid] for c in claims
              if c.nodeid in before and (c.duration_s or 0) >= MIN_SECONDS]
    return statistics.median(ratios) if len(ratios) >= MIN_MATCHED else None


def over_limit(claims: Sequence[ClaimResult], max_minutes: float,
               baseline: Sequence[ClaimResult] | None = None) -> str:
    """A message when the claims' serial time exceeds ``max_minutes``, else "". With a ``baseline``
    the time is first divided by ``machine_factor`` (minutes on the baseline's machine)."""
    if isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float)) or not max_minutes > 0:
        raise InvalidArgument(f"max_minutes={max_minutes!r} is not allowed: give a number of minutes > 0")
    total = total_seconds(claims)
    factor = machine_factor(claims, baseline) if baseline is not None else None
    scaled = total / factor if factor else total
    if scaled <= max_minutes * 60:
        return ""
    unit = (f"{scaled / 60:.1f} baseline-machine minutes ({total / 60:.1f} here, on a machine {factor:.2f}x "
            "the baseline's time)") if factor else f"{total / 60:.1f} serial minutes"
    return (f"the claims took {unit}, over the limit of {max_minutes:g}: "
            f"{summary(claims)}; make the slowest sections cheaper or raise the limit deliberately")
