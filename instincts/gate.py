"""The gate: compare a run's ``reports/claims.json`` with a committed baseline and fail on regressions.

Usage (the command line is ``instincts.cli``)::

    instincts gate [--baseline reports/baseline/<budget>.json] [--current reports/claims.json]
                   [--strict] [--tolerance 1e-6] [--alpha 0.05] [--update]

Claims are matched by ``nodeid`` (several entries may share an ``id``). Every claim gets a status:

regressed  fails the gate:
           - SUPPORTED -> REFUTED (on a random run only if it survives Holm, below);
           - a claim of the baseline is missing from the current run;
           - a claim that ran in the baseline now ends in ERROR;
           - on a deterministic run, the effect moved by more than ``--tolerance`` (absolute).
warning    SUPPORTED -> INCONCLUSIVE, and, on a random run, a SUPPORTED -> REFUTED flip that does not
           survive Holm; passes unless ``--strict``.
improved   INCONCLUSIVE/REFUTED -> SUPPORTED.
changed    another verdict change with no support to lose (INCONCLUSIVE <-> REFUTED, SKIPPED -> ...).
           A claim that was ERROR in the baseline and is ERROR again is "unchanged".
unchanged, new, skipped (the current run skipped it): reported only.

Exit status: 0 clean, 1 regression, 2 unusable input (a missing or malformed file, no "claims" list,
a budget mismatch between baseline and current) with one message on stderr.

Deterministic or random. Smoke runs on the CPU are bit-reproducible (derandomized configs, fixed
seeds), so when baseline and current both have budget "smoke" and device "cpu" there is no chance to
blame: every flip is taken at face value and any drift of an effect beyond the tolerance means the
code changed behaviour. Every other budget draws fresh configs, so with many claims some verdict
flips by chance alone; there the gate controls the family-wise false-alarm rate with Holm.

The Holm rule (random runs only). The family is every claim that is SUPPORTED in the baseline and
has a verdict (SUPPORTED, INCONCLUSIVE or REFUTED) in the current run. For each, the evidence that
the claim no longer holds is the current run's p-value of the test *against* the claim:

    p_against = min(1, comparisons * (1 - p))

- ``p`` is the claim's recorded p-value: the supporting test of its deciding comparison.
  claims.json does not store the opposite test, but for every expectation the engine has it is
  the complementary tail of the same t statistic: one-sided t for Superior, NonInferior and the
  trends (p_opposite = 1 - p), and for Equivalent min(p_above, p_below) = 1 - max(p_low, p_high)
  = 1 - p_TOST. So a REFUTED claim has small ``1 - p``; a SUPPORTED one has ``1 - p`` near 1.
- The claim's verdict is the worst of its ``comparisons`` (hypothesis-drawn configs), so it had
  that many chances to flip: Bonferroni within the claim (conservative under any dependence).
- A claim without a p-value (exact checks, alpha 0) has no sampling noise: ``p_against`` is 0
  when it flipped and 1 when it did not.

``statsmodels.stats.multitest.multipletests(p_against, alpha, method="holm")`` then decides at the
family level ``--alpha`` (default 0.05): a REFUTED or INCONCLUSIVE flip is a hard regression only if
Holm rejects its hypothesis "the claim still holds"; otherwise it is a warning. So when every
baseline-supported claim still holds, the chance that a fresh random run fails the gate through a
verdict flip is at most ``--alpha`` (missing claims and errors are not chance and always fail).
An INCONCLUSIVE flip rarely survives (its opposite test did not reach the claim's own alpha), which
is as it should be: lost power is not evidence of a broken claim; ``--strict`` fails it anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from instincts import fmt, results
from instincts.errors import ClaimsFileError, InvalidArgument
from instincts.results import RAN, ClaimResult, ClaimsFile

# Most severe first: the order of the table.
STATUSES = ("regressed", "missing", "warning", "improved", "changed", "new", "skipped", "unchanged")
FAILING = ("regressed", "missing")
DEFAULT_TOLERANCE = 1e-6
DEFAULT_ALPHA = 0.05
DEFAULT_CURRENT = Path("reports/claims.json")
BASELINE_DIR = Path("reports/baseline")


@dataclass(frozen=True)
class Row:
    """One claim's comparison."""

    key: str  # nodeid
    id: str
    before: str | None  # baseline verdict (None: new)
    after: str | None  # current verdict (None: missing)
    effect_before: float | None
    effect_after: float | None
    unit: str
    status: str
    note: str = ""
    p_against: float | None = None  # the flip's evidence against the claim (random runs)


@dataclass
class GateResult:
    rows: list[Row]
    strict: bool
    tolerance: float
    alpha: float
    deterministic: bool
    budget: str
    notes: list[str] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[Row]:
        return [r for r in self.rows if r.status in statuses]

    @property
    def failures(self) -> list[Row]:
        return self.with_status(*FAILING, *(("warning",) if self.strict else ()))

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def table(self) -> str:
        header = ("status", "id", "baseline", "current", "effect before -> after", "note", "claim")
        lines = [header]
        for r in self.rows:
            effect = f"{fmt.number(r.effect_before, r.unit)} -> {fmt.number(r.effect_after, r.unit)}"
            lines.append((r.status, r.id, r.before or "-", r.after or "-", effect, r.note, r.key))
        widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
                         for row in lines).rstrip()

    def summary(self) -> str:
        counts = {s: len(self.with_status(s)) for s in STATUSES}
        counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        mode = (f"deterministic (smoke/cpu, tolerance {self.tolerance:g})" if self.deterministic
                else f"random, Holm at alpha {self.alpha:g}")
        verdict = "PASS" if self.passed else "FAIL"
        strict = ", strict" if self.strict else ""
        n = len(self.rows)
        claims = f"{n} claim{'' if n == 1 else 's'} ({counted or 'none'})"
        return f"gate {verdict}: {claims}; {self.budget} budget, {mode}{strict}"

    def report(self) -> str:
        return "\n".join([self.table(), *self.notes, self.summary()])


# ---------------------------------------------------------------------------------------------
# Comparison


def _number(value: float | None) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def p_against(claim: ClaimResult) -> float:
    """The current run's p-value against a claim (see the module docstring)."""
    p = _number(claim.p)
    if p is None:
        return 1.0 if claim.verdict == "SUPPORTED" else 0.0
    k = max(1, int(claim.comparisons or 1))
    return min(1.0, k * max(0.0, 1.0 - p))


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected at family-wise level alpha."""
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    reject, *_ = multipletests(pvalues, alpha=alpha, method="holm")
    return [bool(r) for r in reject]


def check_settings(tolerance: float, alpha: float) -> None:
    """InvalidArgument unless the tolerance is a finite number >= 0 and alpha lies in (0, 1)."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                           and tolerance >= 0):
        raise InvalidArgument(f"--tolerance must be a finite number >= 0, got {tolerance!r}")
    if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise InvalidArgument(f"--alpha must lie in (0, 1), got {alpha!r}")


def compare(baseline: ClaimsFile, current: ClaimsFile, strict: bool = False,
            tolerance: float = DEFAULT_TOLERANCE, alpha: float = DEFAULT_ALPHA) -> GateResult:
    """Compare two claims files. ClaimsFileError when their budgets differ."""
    check_settings(tolerance, alpha)
    b_budget, c_budget = baseline.fact("budget"), current.fact("budget")
    if b_budget != c_budget:
        raise ClaimsFileError(f"budget mismatch: baseline is {b_budget or 'unknown'}, current is "
                              f"{c_budget or 'unknown'} (compare against reports/baseline/{c_budget}.json)")
    deterministic = b_budget == "smoke" and baseline.fact("device") == current.fact("device") == "cpu"

    old, new = baseline.by_nodeid(), current.by_nodeid()

    # Holm over the baseline-SUPPORTED claims that ran again (random runs only).
    family = [k for k in old if old[k].verdict == "SUPPORTED" and k in new and new[k].verdict in RAN]
    evidence = {k: p_against(new[k]) for k in family}
    rejected = dict(zip(family, holm([evidence[k] for k in family], alpha))) if not deterministic else {}

    rows = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: ((old.get(k) or new[k]).id, k)):
        b, c = old.get(key), new.get(key)
        ref = c or b
        assert ref is not None
        status, note, pa = _judge(b, c, deterministic, tolerance, evidence.get(key), rejected.get(key))
        rows.append(Row(key=key, id=ref.id or key, before=b and b.verdict, after=c and c.verdict,
                        effect_before=_number(b.effect) if b else None,
                        effect_after=_number(c.effect) if c else None, unit=ref.unit or "",
                        status=status, note=note, p_against=pa))
    rows.sort(key=lambda r: STATUSES.index(r.status))
    notes = _version_notes(baseline, current) if deterministic else []
    return GateResult(rows, strict, float(tolerance), float(alpha), deterministic, str(c_budget), notes)


def _version_notes(baseline: ClaimsFile, current: ClaimsFile) -> list[str]:
    """On a deterministic run, library upgrades explain drift as well as code changes do."""
    env_b = baseline.meta.get("environment") or {}
    env_c = current.meta.get("environment") or {}
    if not (isinstance(env_b, dict) and isinstance(env_c, dict)):
        return []
    differ = [f"{k} {env_b.get(k)} -> {env_c.get(k)}" for k in ("python", "torch", "numpy", "scipy")
              if env_b.get(k) != env_c.get(k)]
    if not differ:
        return []
    return ["note: library versions differ (" + ", ".join(differ) + "); effect drift may "
            "come from them rather than from the code"]


def _judge(b: ClaimResult | None, c: ClaimResult | None, deterministic: bool, tolerance: float,
           evidence: float | None, rejected: bool | None) -> tuple[str, str, float | None]:
    if b is None:
        return "new", "", None
    if c is None:
        return "missing", "in the baseline, not in this run", None
    before, after = b.verdict, c.verdict
    if after == "ERROR" and before != "ERROR":
        return "regressed", "error: " + str(c.error or "")[:80], None
    if after == "SKIPPED":
        reason = str(c.reason or "")[:80]
        return ("skipped" if before != "SKIPPED" else "unchanged"), reason, None
    if c.timing and before in RAN and after in RAN:  # wall-clock: no run is deterministic
        return ("warning", "timing claim: verdict varies with machine and load", None) if after != before \
            else ("unchanged", "timing claim: effect not compared", None)
    if deterministic and before in RAN and after in RAN:
        e0, e1 = _number(b.effect), _number(c.effect)
        drift = None
        if (e0 is None) != (e1 is None):
            drift = "effect appeared or vanished"
        elif e0 is not None and e1 is not None and abs(e1 - e0) > tolerance:
            drift = f"effect drift {abs(e1 - e0):.3g} > tolerance {tolerance:g}"
        if drift:
            flipped = f"{before} -> {after} on a deterministic run; " if before != after else ""
            return "regressed", flipped + drift, None
    if before == "SUPPORTED" and after in ("REFUTED", "INCONCLUSIVE"):
        if deterministic:
            if after == "REFUTED":
                return "regressed", "flip on a deterministic run", None
            return "warning", "lost support", None
        holm_note = f"p_against={evidence:.2g}, Holm " + ("rejects" if rejected else "does not reject")
        if rejected:
            return "regressed", holm_note, evidence
        return "warning", holm_note + (" (chance flip?)" if after == "REFUTED" else ""), evidence
    if after == "SUPPORTED" and before != "SUPPORTED":
        return "improved", "", None
    if after != before:
        return "changed", "", None
    return "unchanged", "", evidence


# ---------------------------------------------------------------------------------------------
# Baselines


def default_baseline(current: ClaimsFile, current_path: Path) -> Path:
    """reports/baseline/<budget of the current run>.json."""
    budget = current.fact("budget")
    if not budget:
        raise ClaimsFileError(f"current file {current_path} names no budget; pass --baseline")
    return BASELINE_DIR / f"{budget}.json"


def update_baseline(current: ClaimsFile, current_path: Path, baseline_path: Path) -> str:
    """Write the current run as the baseline (a deliberate review's outcome); return what was written."""
    from instincts.budget import BUDGETS

    budget = current.fact("budget")
    if baseline_path.stem in BUDGETS and budget and baseline_path.stem != budget:
        raise ClaimsFileError(f"refusing to write a {budget} run from {current_path} as baseline {baseline_path} "
                              f"(a {baseline_path.stem} baseline)")
    results.write(baseline_path, current.claims, current.meta)
    counts: dict[str, int] = {}
    for c in current.claims:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no claims"
    device = current.fact("device") or "unknown device"
    return (f"wrote baseline {baseline_path}: {len(current.claims)} claims ({tally}); "
            f"{budget or 'unknown'} budget, {device}, from {current_path} ({current.written})")
