"""The gate: compare a run's ``reports/claims.json`` with a committed baseline and fail on regressions.

Usage::

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

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("SUPPORTED", "REFUTED", "INCONCLUSIVE", "SKIPPED", "ERROR")
RAN = ("SUPPORTED", "REFUTED", "INCONCLUSIVE")
# Most severe first: the order of the table.
STATUSES = ("regressed", "missing", "warning", "improved", "changed", "new", "skipped", "unchanged")
FAILING = ("regressed", "missing")
DEFAULT_TOLERANCE = 1e-6
DEFAULT_ALPHA = 0.05
DEFAULT_CURRENT = Path("reports/claims.json")
BASELINE_DIR = Path("reports/baseline")


class GateInputError(ValueError):
    """Unusable input: the message names the file and what is wrong with it."""


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
            effect = f"{_fmt(r.effect_before, r.unit)} -> {_fmt(r.effect_after, r.unit)}"
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


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "pp":
        return f"{value * 100:+.2f}pp"
    return f"{value:+.4g}{unit}"


# ---------------------------------------------------------------------------------------------
# Input


def load(path: Path, what: str) -> dict[str, Any]:
    """Read and validate a claims.json; GateInputError names the file and the problem."""
    if not path.exists():
        raise GateInputError(f"{what} file {path} not found")
    if not path.is_file():
        raise GateInputError(f"{what} file {path} is not a file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GateInputError(f"{what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateInputError(f"{what} file {path} cannot be read: {exc}") from None
    try:
        validate(data)
    except GateInputError as exc:
        raise GateInputError(f"{what} file {path}: {exc}") from None
    return data


def validate(doc: Any) -> None:
    """A claims.json document: {"meta": {...}, "claims": [{"nodeid", "verdict", ...}, ...]}."""
    if not isinstance(doc, dict):
        raise GateInputError(f"expected a JSON object with a \"claims\" list, got {type(doc).__name__}")
    if "claims" not in doc:
        raise GateInputError("no \"claims\" list (not a claims.json written by `pytest claims`?)")
    if not isinstance(doc["claims"], list):
        raise GateInputError(f"\"claims\" is a {type(doc['claims']).__name__}, not a list")
    if not isinstance(doc.get("meta", {}), dict):
        raise GateInputError("\"meta\" is not an object")
    seen: set[str] = set()
    for i, c in enumerate(doc["claims"]):
        where = f"claims[{i}]"
        if not isinstance(c, dict):
            raise GateInputError(f"{where} is not an object")
        key = c.get("nodeid")
        if not isinstance(key, str) or not key:
            raise GateInputError(f"{where} has no \"nodeid\"")
        if key in seen:
            raise GateInputError(f"{where}: nodeid {key} appears twice")
        seen.add(key)
        if c.get("verdict") not in VERDICTS:
            raise GateInputError(f"{where} ({key}) has verdict {c.get('verdict')!r}, not one of {', '.join(VERDICTS)}")
        for name in ("effect", "p"):
            value = c.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise GateInputError(f"{where} ({key}) has a non-numeric {name!r}: {value!r}")
        comparisons = c.get("comparisons")
        if comparisons is not None and (isinstance(comparisons, bool) or not isinstance(comparisons, int)):
            raise GateInputError(f"{where} ({key}) has a non-integer \"comparisons\": {comparisons!r}")


def run_fact(doc: dict[str, Any], name: str) -> str | None:
    """The run's budget or device: from meta, else the one value all claims agree on."""
    value = doc.get("meta", {}).get(name)
    if value:
        return str(value)
    values = {c.get(name) for c in doc["claims"] if c.get(name)}
    return str(values.pop()) if len(values) == 1 else None


# ---------------------------------------------------------------------------------------------
# Comparison


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def p_against(claim: dict[str, Any]) -> float:
    """The current run's p-value against a claim (see the module docstring)."""
    p = _number(claim.get("p"))
    if p is None:
        return 1.0 if claim["verdict"] == "SUPPORTED" else 0.0
    k = max(1, int(claim.get("comparisons") or 1))
    return min(1.0, k * max(0.0, 1.0 - p))


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected at family-wise level alpha."""
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    reject, *_ = multipletests(pvalues, alpha=alpha, method="holm")
    return [bool(r) for r in reject]


def compare(baseline: dict[str, Any], current: dict[str, Any], strict: bool = False,
            tolerance: float = DEFAULT_TOLERANCE, alpha: float = DEFAULT_ALPHA) -> GateResult:
    """Compare two claims.json documents. Raises GateInputError on unusable input."""
    for what, doc in (("baseline", baseline), ("current", current)):
        try:
            validate(doc)
        except GateInputError as exc:
            raise GateInputError(f"{what}: {exc}") from None
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise GateInputError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise GateInputError(f"alpha must lie in (0, 1), got {alpha!r}")
    b_budget, c_budget = run_fact(baseline, "budget"), run_fact(current, "budget")
    if b_budget != c_budget:
        raise GateInputError(f"budget mismatch: baseline is {b_budget or 'unknown'}, current is "
                             f"{c_budget or 'unknown'} (compare against reports/baseline/{c_budget}.json)")
    deterministic = b_budget == "smoke" and run_fact(baseline, "device") == run_fact(current, "device") == "cpu"

    old = {c["nodeid"]: c for c in baseline["claims"]}
    new = {c["nodeid"]: c for c in current["claims"]}

    # Holm over the baseline-SUPPORTED claims that ran again (random runs only).
    family = [k for k in old if old[k]["verdict"] == "SUPPORTED" and k in new and new[k]["verdict"] in RAN]
    evidence = {k: p_against(new[k]) for k in family}
    rejected = dict(zip(family, holm([evidence[k] for k in family], alpha))) if not deterministic else {}

    rows = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: ((old.get(k) or new[k]).get("id", ""), k)):
        b, c = old.get(key), new.get(key)
        ref = c or b
        assert ref is not None
        row = dict(key=key, id=str(ref.get("id", key)), before=b and b["verdict"], after=c and c["verdict"],
                   effect_before=_number(b.get("effect")) if b else None,
                   effect_after=_number(c.get("effect")) if c else None, unit=str(ref.get("unit") or ""))
        status, note, pa = _judge(b, c, deterministic, tolerance, evidence.get(key), rejected.get(key))
        rows.append(Row(**row, status=status, note=note, p_against=pa))
    rows.sort(key=lambda r: STATUSES.index(r.status))

    notes = []
    if deterministic:
        env_b = baseline.get("meta", {}).get("environment") or {}
        env_c = current.get("meta", {}).get("environment") or {}
        if isinstance(env_b, dict) and isinstance(env_c, dict):
            differ = [f"{k} {env_b.get(k)} -> {env_c.get(k)}" for k in ("python", "torch", "numpy", "scipy")
                      if env_b.get(k) != env_c.get(k)]
            if differ:
                notes.append("note: library versions differ (" + ", ".join(differ) + "); effect drift may "
                             "come from them rather than from the code")
    return GateResult(rows, strict, float(tolerance), float(alpha), deterministic, str(c_budget), notes)


def _judge(b: dict | None, c: dict | None, deterministic: bool, tolerance: float,
           evidence: float | None, rejected: bool | None) -> tuple[str, str, float | None]:
    if b is None:
        return "new", "", None
    if c is None:
        return "missing", "in the baseline, not in this run", None
    before, after = b["verdict"], c["verdict"]
    if after == "ERROR" and before != "ERROR":
        return "regressed", "error: " + str(c.get("error", ""))[:80], None
    if after == "SKIPPED":
        reason = str(c.get("reason", ""))[:80]
        return ("skipped" if before != "SKIPPED" else "unchanged"), reason, None
    if c.get("timing") and before in RAN and after in RAN:  # wall-clock: no run is deterministic
        return ("warning", "timing claim: verdict varies with machine and load", None) if after != before \
            else ("unchanged", "timing claim: effect not compared", None)
    if deterministic and before in RAN and after in RAN:
        e0, e1 = _number(b.get("effect")), _number(c.get("effect"))
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
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instincts", description="instincts: deep-learning folklore, tested.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    gate = sub.add_parser("gate", help="compare claims.json with a baseline; exit 1 on regressions",
                          description="Compare the current claims.json with a committed baseline. Exit 0: clean, "
                                      "1: regression, 2: unusable input.")
    gate.add_argument("--baseline", type=Path, default=None,
                      help=f"baseline claims.json (default: {BASELINE_DIR}/<budget of the current run>.json)")
    gate.add_argument("--current", type=Path, default=DEFAULT_CURRENT, help=f"this run (default: {DEFAULT_CURRENT})")
    gate.add_argument("--strict", action="store_true", help="warnings (SUPPORTED -> INCONCLUSIVE, chance flips) fail")
    gate.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                      help="absolute effect drift allowed on deterministic smoke/cpu runs "
                           f"(default: {DEFAULT_TOLERANCE:g})")
    gate.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                      help=f"family-wise false-alarm rate for Holm on random runs (default: {DEFAULT_ALPHA:g})")
    gate.add_argument("--update", action="store_true",
                      help="write the current claims.json as the new baseline (deliberately) instead of gating")
    from instincts.htmlreport import add_report_parser

    add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (argparse already printed it)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "gate":
        try:
            return _gate(args)
        except GateInputError as exc:
            print(f"instincts gate: {exc}", file=sys.stderr)
            return 2
    if hasattr(args, "func"):
        return args.func(args)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


def _gate(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise GateInputError(f"--tolerance must be a finite number >= 0, got {args.tolerance:g}")
    if not 0 < args.alpha < 1:
        raise GateInputError(f"--alpha must lie in (0, 1), got {args.alpha:g}")
    current = load(args.current, "current")
    budget = run_fact(current, "budget")
    baseline_path = args.baseline
    if baseline_path is None:
        if not budget:
            raise GateInputError(f"current file {args.current} names no budget; pass --baseline")
        baseline_path = BASELINE_DIR / f"{budget}.json"
    if args.update:
        return _update(current, args.current, baseline_path, budget)
    if not baseline_path.exists():
        raise GateInputError(f"baseline file {baseline_path} not found (after a deliberate review, create it "
                             f"with: instincts gate --baseline {baseline_path} --current {args.current} --update)")
    baseline = load(baseline_path, "baseline")
    try:
        result = compare(baseline, current, strict=args.strict, tolerance=args.tolerance, alpha=args.alpha)
    except GateInputError as exc:
        raise GateInputError(f"{baseline_path} vs {args.current}: {exc}") from None
    print(f"baseline {baseline_path} ({_written(baseline)})  vs  current {args.current} ({_written(current)})")
    print(result.report())
    return result.exit_code


def _update(current: dict[str, Any], current_path: Path, baseline_path: Path, budget: str | None) -> int:
    from instincts.budget import BUDGETS
    from instincts.cache import write_json_atomic

    if baseline_path.stem in BUDGETS and budget and baseline_path.stem != budget:
        raise GateInputError(f"refusing to write a {budget} run from {current_path} as baseline {baseline_path} "
                             f"(a {baseline_path.stem} baseline)")
    write_json_atomic(baseline_path, current)
    counts: dict[str, int] = {}
    for c in current["claims"]:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no claims"
    device = run_fact(current, "device") or "unknown device"
    print(f"wrote baseline {baseline_path}: {len(current['claims'])} claims ({tally}); "
          f"{budget or 'unknown'} budget, {device}, from {current_path} ({_written(current)})")
    return 0


def _written(doc: dict[str, Any]) -> str:
    return str(doc.get("meta", {}).get("written") or "time unknown")
