"""The gate: compare a run's ``reports/claims.json`` with a committed baseline and fail on regressions.

Usage (the command line is ``instincts.cli``)::

    instincts gate [--baseline reports/baseline/<budget>.json] [--current reports/claims.json]
                   [--strict] [--tolerance 1e-6] [--alpha 0.05] [--effect-tolerance 0|margin] [--update]

Claims are matched by ``nodeid`` (several entries may share an ``id``). Every claim gets a status:

regressed  fails the gate:
           - SUPPORTED -> REFUTED (on a random run only if it survives Holm, below);
           - on a random run, the effect dropped significantly (the two-sample test below, Holm);
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
code changed behaviour. Only on the same kind of CPU, though: the environment records the processor
and the kernels torch picked for it (``cpu``, ``cpu_capability``: AVX2, AVX512, ...), and another CPU
sums floats in another order, which a trained net amplifies (the smoke catalogue on one AVX512 machine,
then with torch held to its AVX2 kernels: of 64 claims with an effect, 35 identical, 9 moved beyond 1pp
or across a verdict boundary; RC-4's exact identity went from 3.66e-16 to 4.36e-16). A smoke run
on another CPU than its baseline's is therefore judged as a random run, with a note saying so. Every
other budget draws fresh configs and seeds, so with many claims some
verdict flips, and some effect moves, by chance alone; there the gate tests two kinds of hypothesis,
flips and effect drops, and controls the family-wise false-alarm rate over all of them with Holm.

Flips (random runs). For every claim that is SUPPORTED in the baseline and has a verdict (SUPPORTED,
INCONCLUSIVE or REFUTED) in the current run, the hypothesis is "the claim still holds", and its
evidence against is the current run's p-value of the refuting test, ``p_against``:

- per part (one comparison): ``pvalue_refute``, the refuting test the verdict used (Equivalent and
  Predicts: the Bonferroni of the two one-sided tests, ``2 min(p_above, p_below)``). After
  sequential looks (``looks > 1``) it is ``stagewise_p_refute``, the stage-wise ordering p-value: the
  naive p of an early-stopped run is not uniform under the null (it gave 5.56% false regressions
  at the boundary with 8/16/24 looks), while the stage-wise p of the refuting side is <= alpha
  exactly when the design refuted. Equivalence designs stop on two sides and are not adjusted
  (``stagewise_p`` is the naive p there).
- per claim: weighted Bonferroni over its parts, ``min_j p_j / w_j`` with ``w_j = alpha_refute_j /
  alpha_j`` (the share of the claim's alpha each part's refuting test had, summing to <= 1, as in
  ``instincts.alpha`` and ``instincts.fdr``), or ``k * min_j p_j`` over k parts without recorded
  alphas. Exact parts (no sampling noise) give 0 when one is REFUTED, 1 otherwise.
- a claim without parts (files written before per-part data): ``comparisons * (1 - p)``, doubled for
  Equivalent and Predicts (their refuting test is two one-sided tests), from the claim's ``p``.

Effect drops (random runs; issue 12 item 5). A verdict is a coarse signal: an effect can shrink a lot
without flipping. So every claim whose parts carry per-seed data (``Part.seeds``, ``values``) in both
files is also tested for a drop of its effect:

- Matching. Parts are matched by ``config`` and ``metric`` (the i-th occurrence with the i-th); only
  matched parts are compared, so a freshly drawn config is never compared with a different old one.
  A current part without a match is reported as "not compared (config not in baseline)". Timing
  claims are not compared (their effect belongs to the machine).
- Orientation ("better"): a larger per-seed effect for Superior, NonInferior and Increasing; a
  smaller one for Decreasing; one closer to zero for Equivalent, Predicts and Exact. For those the
  test asks whether the effect moved away from zero in the direction of the baseline's sign, i.e.
  the orientation is ``-sign(baseline mean)``. That choice uses the baseline's data, but it only makes
  the test conservative: given the sign, the baseline's mean is truncated away from zero, so the
  estimated move away is stochastically smaller than without the choice. A move across zero to the
  other side is left to the flip signal.
- The drop is ``better(before) - better(after)`` in the metric's unit; the hypothesis is H0:
  drop <= tolerance, tested one-sided. ``--effect-tolerance`` is a number >= 0 in each claim's metric
  unit (default 0: any significant drop), or ``margin``: the expectation's own slack (NonInferior's and
  Equivalent's margin, Predicts' and Exact's tol, Superior's min_effect; 0 for trends).
- Test. A paired t test on the per-seed differences of the effects (``scipy.stats.ttest_rel``) when
  both parts used the same seed list (a replayed run), Welch's t (``ttest_ind(equal_var=False)``)
  otherwise. A sample with zero spread is not tested (nothing to judge), nor one with < 2 seeds.
- After sequential looks the per-seed data are biased: how many seeds a run used depends on what it
  saw, and a Welch test on all the seeds used gave 5.97% false drops at the boundary with 8/16/24
  looks (N=100,000; tests/engine/test_gate.py). So a part of a sequential design is compared on
  its first look's seeds only: every run collects them whatever it sees, so they carry no selection
  and the t test is exact there. It costs power only for runs that went on past the first look
  (borderline claims); a clear claim stops at the first look, which is then all its data. The
  first look's size is read from ``n``, ``look`` and ``looks`` (``Design.equally_spaced``).
- Per claim, the parts' p-values are combined by Bonferroni (``min(1, k * min p)``).

Holm. ``statsmodels.stats.multitest.multipletests(p, alpha, method="holm")`` runs once over every
flip hypothesis and every claim's drop hypothesis together, at ``--alpha`` (default 0.05). A flip
that Holm rejects is a regression, one it does not is a warning; a drop that Holm rejects is a
regression. So when the code changed nothing, the chance that a fresh random run fails the gate
through a flip or an effect drop is at most ``--alpha`` (missing claims and errors are not chance
and always fail). Measured (tests/engine/test_gate.py, -m slow, N=100,000 simulated baseline/current
pairs each, normal per-seed effects, Superior at its boundary, effect unchanged, 99.9% CIs): fixed
n=16 Welch 4.92% [4.70, 5.15], paired 4.93% [4.71, 5.16]; 8/16/24 looks on the first look, Welch
4.80% [4.58, 5.03], paired 5.06% [4.84, 5.29]; Equivalent(margin = 2 SE) at +margin 3.76% and inside
0.28% (the side choice is conservative); 10 claims x 2 parts, Bonferroni then Holm, family-wise
4.23% [4.03, 4.45]. Welch on all the seeds used after 8/16/24 looks: 5.97% [5.73, 6.23] (rejected).

Caveat: the drop test is calibrated for a baseline that is an ordinary run. A baseline committed
*because* a borderline claim came out SUPPORTED (rerun until green) overstates that claim's effect
(the winner's curse), and the next honest run then looks like a drop (18% false drops at alpha 5%
for a Superior claim at its boundary whose 8/16/24 baseline was kept because it was SUPPORTED): commit
baselines without selecting them on their verdicts. An INCONCLUSIVE flip rarely survives Holm (its opposite test did
not reach the claim's own alpha), which is as it should be: lost power is not evidence of a broken
claim; ``--strict`` fails it anyway.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instincts import fmt, results
from instincts.errors import ClaimsFileError, InvalidArgument
from instincts.results import RAN, ClaimResult, ClaimsFile, Part
from instincts.results import finite_number as _number

# Most severe first: the order of the table.
STATUSES = ("regressed", "missing", "warning", "improved", "changed", "new", "skipped", "unchanged")
FAILING = ("regressed", "missing")
DEFAULT_TOLERANCE = 1e-6
DEFAULT_ALPHA = 0.05
DEFAULT_EFFECT_TOLERANCE: float | str = 0.0
EFFECT_TOLERANCE_MODES = ("margin",)
DEFAULT_CURRENT = Path("reports/claims.json")
BASELINE_DIR = Path("reports/baseline")

LARGER = ("superior", "noninferior", "increasing")  # better = a larger per-seed effect
SMALLER = ("decreasing",)  # better = a smaller one
TOWARD_ZERO = ("equivalent", "predicts", "exact")  # better = closer to zero
TWO_SIDED_REFUTE = ("equivalent", "predicts")  # REFUTED by two one-sided tests (Bonferroni)
NOT_IN_BASELINE = "not compared (config not in baseline)"


@dataclass(frozen=True)
class DropTest:
    """One matched part's test of H0: drop <= tolerance (the effect did not get worse by more)."""

    config: dict[str, Any]
    metric: str
    test: str  # "paired t" or "Welch t"
    drop: float  # better(before) - better(after), in the metric's unit: > 0 is worse
    tolerance: float
    p: float  # one-sided
    n_before: int
    n_after: int
    first_look: bool  # compared on the first look's seeds (sequential parts)
    better: str  # the orientation, in words

    def describe(self, unit: str) -> str:
        seeds = f"{self.n_before} seeds" if self.test == "paired t" else f"{self.n_before}+{self.n_after} seeds"
        look = ", first look" if self.first_look else ""
        tol = f" > {fmt.number(self.tolerance, unit, signed=False)}" if self.tolerance else ""
        return f"drop {fmt.number(self.drop, unit)}{tol} ({self.test}{look}, {seeds}, {fmt.pvalue(self.p)})"


@dataclass(frozen=True)
class EffectCheck:
    """A claim's effect-drop evidence: its parts' tests, the Bonferroni p, and what was not compared."""

    tests: tuple[DropTest, ...] = ()
    skipped: tuple[str, ...] = ()  # why parts were not compared

    @property
    def p(self) -> float | None:
        if not self.tests:
            return None
        return min(1.0, len(self.tests) * min(t.p for t in self.tests))

    @property
    def worst(self) -> DropTest | None:
        return min(self.tests, key=lambda t: t.p) if self.tests else None

    def describe(self, unit: str, holm: bool | None) -> str:
        out = []
        if self.worst is not None:
            text = self.worst.describe(unit)
            if len(self.tests) > 1:
                text += f"; {len(self.tests)} parts, Bonferroni p={self.p:.2g}"
            if holm is not None:
                text += ", Holm " + ("rejects" if holm else "does not reject")
            out.append(text)
        counts: dict[str, int] = {}
        for why in self.skipped:
            counts[why] = counts.get(why, 0) + 1
        out += [f"{n} part{'' if n == 1 else 's'} {why}" for why, n in counts.items()]
        return "; ".join(out)


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
    p_drop: float | None = None  # the effect drop's evidence (random runs with per-seed data)
    effect_test: str = ""  # the drop test used and its numbers


@dataclass
class GateResult:
    rows: list[Row]
    strict: bool
    tolerance: float
    alpha: float
    deterministic: bool
    budget: str
    notes: list[str] = field(default_factory=list)
    effect_tolerance: float | str = DEFAULT_EFFECT_TOLERANCE

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
        header = ("status", "id", "baseline", "current", "effect before -> after", "note", "effect test", "claim")
        lines = [header]
        for r in self.rows:
            effect = f"{fmt.number(r.effect_before, r.unit)} -> {fmt.number(r.effect_after, r.unit)}"
            lines.append((r.status, r.id, r.before or "-", r.after or "-", effect, r.note, r.effect_test, r.key))
        widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
                         for row in lines).rstrip()

    def summary(self) -> str:
        counts = {s: len(self.with_status(s)) for s in STATUSES}
        counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if self.deterministic:
            mode = f"deterministic (smoke/cpu, tolerance {self.tolerance:g})"
        else:
            tested = sum(r.p_drop is not None for r in self.rows)
            tol = self.effect_tolerance if isinstance(self.effect_tolerance, str) else f"{self.effect_tolerance:g}"
            mode = (f"random, Holm at alpha {self.alpha:g} over flips and effect drops ({tested} claim"
                    f"{'' if tested == 1 else 's'} tested for a drop, effect tolerance {tol})")
        verdict = "PASS" if self.passed else "FAIL"
        strict = ", strict" if self.strict else ""
        n = len(self.rows)
        claims = f"{n} claim{'' if n == 1 else 's'} ({counted or 'none'})"
        return f"gate {verdict}: {claims}; {self.budget} budget, {mode}{strict}"

    def report(self) -> str:
        return "\n".join([self.table(), *self.notes, self.summary()])


# ---------------------------------------------------------------------------------------------
# Flip evidence


def _kind(part: Part) -> str:
    return str((part.expect or {}).get("kind") or "")


def _claim_kind(claim: ClaimResult) -> str:
    """The expectation's kind, from the parts or (files without parts) the expectation's words."""
    kinds = {_kind(p) for p in claim.parts or ()} - {""}
    if len(kinds) == 1:
        return kinds.pop()
    text = (claim.expectation or "").strip().lower()
    return next((k for k in TWO_SIDED_REFUTE if text.startswith(k)), "")


def part_p_against(part: Part) -> float | None:
    """A part's p-value of the refuting test (see the module docstring); None for exact parts."""
    kind, p, p_refute = _kind(part), _number(part.pvalue), _number(part.pvalue_refute)
    if kind == "exact" or (p is None and p_refute is None):
        return None
    if kind in TWO_SIDED_REFUTE:
        return p_refute if p_refute is not None else min(1.0, 2.0 * (1.0 - p))  # type: ignore[operator]
    stagewise = _number(part.stagewise_p_refute)
    if (part.looks or 1) > 1 and stagewise is not None:
        return stagewise
    return p_refute if p_refute is not None else max(0.0, 1.0 - p)  # type: ignore[operator]


def _weights(parts: Sequence[Part]) -> list[float]:
    """Each part's share of the claim's refuting alpha (sum <= 1); equal shares when not recorded."""
    shares = [_number(p.alpha_refute) for p in parts]
    alphas = [_number(p.alpha) for p in parts]
    if all(s and a for s, a in zip(shares, alphas)):
        w = [s / a for s, a in zip(shares, alphas)]  # type: ignore[operator]
        if sum(w) <= 1.0 + 1e-9:
            return w
    return [1.0 / len(parts)] * len(parts)


def p_against(claim: ClaimResult) -> float:
    """The current run's p-value against a claim (see the module docstring)."""
    parts = list(claim.parts or ())
    tested = [(p, part_p_against(p)) for p in parts]
    with_p = [(part, pa) for part, pa in tested if pa is not None]
    if with_p:
        w = _weights([part for part, _ in with_p])
        return min(1.0, min(pa / wi for (_, pa), wi in zip(with_p, w)))
    if parts and all(_kind(p) == "exact" for p in parts):
        return 0.0 if any(p.verdict == "REFUTED" for p in parts) else 1.0
    p = _number(claim.p)
    if p is None:
        return 1.0 if claim.verdict == "SUPPORTED" else 0.0
    k = max(1, int(claim.comparisons or 1))
    per = max(0.0, 1.0 - p) * (2.0 if _claim_kind(claim) in TWO_SIDED_REFUTE else 1.0)
    return min(1.0, k * per)


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected at family-wise level alpha."""
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    reject, *_ = multipletests(pvalues, alpha=alpha, method="holm")
    return [bool(r) for r in reject]


# ---------------------------------------------------------------------------------------------
# Effect drops


def first_look_size(n: int, look: int | None, looks: int | None, seeds_max: int | None = None) -> int:
    """Seeds in the first look of an equally spaced design that used ``n`` seeds and stopped at ``look``.

    ``Design.equally_spaced(m, K)`` looks at round(m k / K) seeds. With the maximum m known (``seeds_max``)
    that is exact. Without it, m is any maximum that puts ``n`` seeds at look k; they agree on the
    first look for the budgets' designs (24 seeds in 3 looks, 64 in 4), and where they do not the
    smallest first look is taken (a few seeds fewer, all of the first look).
    """
    if not looks or looks <= 1 or not look:
        return n
    if seeds_max and round(seeds_max * look / looks) == n:
        return round(seeds_max / looks)
    if look == 1:
        return n
    candidates = [m for m in range(n, n * looks // look + looks + 1) if round(m * look / looks) == n]
    return min((round(m / looks) for m in candidates), default=max(2, round(n / look)))


def _seeds_max(part: Part, claim: ClaimResult | None) -> int | None:
    """The part's planned maximum of seeds: its own record, else the claim's when every part shares it."""
    own = getattr(part, "seeds_max", None)
    if isinstance(own, int) and own > 0:
        return own
    parts = list(claim.parts or ()) if claim is not None else []
    if claim is None or not claim.seeds_max or not parts or claim.seeds_max % len(parts):
        return None
    return claim.seeds_max // len(parts)


def _per_seed(part: Part, claim: ClaimResult | None = None) -> tuple[list[int], np.ndarray] | None:
    """The part's seeds and per-seed effects (first look only after sequential looks)."""
    effects = part.per_seed()
    if effects is None:
        return None
    seeds = list(part.seeds or range(len(effects)))
    if len(seeds) != len(effects):
        return None
    if (part.looks or 1) > 1:
        k = first_look_size(len(effects), part.look, part.looks, _seeds_max(part, claim))
        seeds, effects = seeds[:k], effects[:k]
    return seeds, np.asarray(effects, dtype=float)


def _orientation(kind: str, before: np.ndarray) -> tuple[float, str] | None:
    """+1 when a larger effect is better, -1 when smaller is; for toward-zero kinds, away from the baseline's sign."""
    if kind in LARGER:
        return 1.0, "larger is better"
    if kind in SMALLER:
        return -1.0, "smaller is better"
    if kind in TOWARD_ZERO:
        sign = 1.0 if float(before.mean()) >= 0 else -1.0
        return -sign, "closer to zero is better"
    return None


def part_tolerance(setting: float | str, expect: dict[str, Any] | None) -> float:
    """The drop a part may show without regressing: the number given, or its expectation's own slack."""
    if not isinstance(setting, str):
        return float(setting)
    expect = expect or {}
    for name in ("margin", "tol", "min_effect"):
        value = _number(expect.get(name))
        if value is not None:
            return abs(value)
    return 0.0


def drop_pvalue(before: np.ndarray, after: np.ndarray, tolerance: float, paired: bool) -> float:
    """One-sided p of H0: mean(before) - mean(after) <= tolerance (effects already oriented: larger is better)."""
    from scipy import stats as sps

    if paired:
        return float(sps.ttest_rel(before - tolerance, after, alternative="greater").pvalue)
    return float(sps.ttest_ind(before - tolerance, after, equal_var=False, alternative="greater").pvalue)


def drop_test(before: Part, after: Part, tolerance: float | str = DEFAULT_EFFECT_TOLERANCE,
              claims: tuple[ClaimResult | None, ClaimResult | None] = (None, None)) -> DropTest | str:
    """The two-sample test of one matched part's effect; a reason (str) when it cannot be tested.

    ``claims`` (baseline's, current's) supply the planned seeds when the parts do not record them.
    """
    kind = _kind(before) or _kind(after)
    b, a = _per_seed(before, claims[0]), _per_seed(after, claims[1])
    if b is None or a is None:
        return "not compared (no per-seed data)"
    (seeds_b, x), (seeds_a, y) = b, a
    oriented = _orientation(kind, x)
    if oriented is None:
        return "not compared (no expectation recorded)"
    sign, better = oriented
    if min(len(x), len(y)) < 2:
        return "not compared (fewer than 2 seeds)"
    paired = seeds_b == seeds_a
    x, y = sign * x, sign * y
    spread = np.ptp(x - y) if paired else max(np.ptp(x), np.ptp(y))  # exact: std() of equal values may not be 0
    if not spread > 0:
        return "not compared (zero spread)"
    tol = part_tolerance(tolerance, before.expect or after.expect)
    return DropTest(config=dict(before.config), metric=before.metric, test="paired t" if paired else "Welch t",
                    drop=float(x.mean() - y.mean()), tolerance=tol, p=drop_pvalue(x, y, tol, paired),
                    n_before=len(x), n_after=len(y), first_look=(before.looks or 1) > 1 or (after.looks or 1) > 1,
                    better=better)


def _part_key(part: Part) -> str:
    return json.dumps([part.config, part.metric], sort_keys=True, default=str)


def match_parts(before: Sequence[Part], after: Sequence[Part]) -> tuple[list[tuple[Part, Part]], list[Part]]:
    """Pairs of parts with the same config and metric (i-th occurrence with i-th); the unmatched current parts."""
    pool: dict[str, list[Part]] = {}
    for part in before:
        pool.setdefault(_part_key(part), []).append(part)
    pairs, unmatched = [], []
    for part in after:
        same = pool.get(_part_key(part))
        if same:
            pairs.append((same.pop(0), part))
        else:
            unmatched.append(part)
    return pairs, unmatched


def effect_check(before: ClaimResult, after: ClaimResult,
                 tolerance: float | str = DEFAULT_EFFECT_TOLERANCE) -> EffectCheck | None:
    """The claim's drop tests over its matched parts; None when neither file has per-seed data."""
    if not any(p.values for p in before.parts or ()) or not any(p.values for p in after.parts or ()):
        return None
    pairs, unmatched = match_parts(before.parts or (), after.parts or ())
    tests, skipped = [], [NOT_IN_BASELINE] * len(unmatched)
    for b, a in pairs:
        found = drop_test(b, a, tolerance, (before, after))
        (tests if isinstance(found, DropTest) else skipped).append(found)
    return EffectCheck(tuple(tests), tuple(skipped))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Comparison


def check_settings(tolerance: float, alpha: float, effect_tolerance: float | str = DEFAULT_EFFECT_TOLERANCE) -> None:
    """InvalidArgument unless the tolerances are finite numbers >= 0 ("margin" for the effect's) and alpha
    lies in (0, 1)."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)
                                           and tolerance >= 0):
        raise InvalidArgument(f"--tolerance must be a finite number >= 0, got {tolerance!r}")
    if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise InvalidArgument(f"--alpha must lie in (0, 1), got {alpha!r}")
    if isinstance(effect_tolerance, str):
        if effect_tolerance not in EFFECT_TOLERANCE_MODES:
            raise InvalidArgument(f"--effect-tolerance {effect_tolerance!r} is not allowed: give a number >= 0 in "
                                  "the metric's unit, or 'margin' (each expectation's own margin or tol)")
    elif isinstance(effect_tolerance, bool) or not (isinstance(effect_tolerance, (int, float))
                                                    and math.isfinite(effect_tolerance) and effect_tolerance >= 0):
        raise InvalidArgument(f"--effect-tolerance {effect_tolerance!r} is not allowed: give a number >= 0 in the "
                              "metric's unit, or 'margin'")


def parse_effect_tolerance(text: str) -> float | str:
    """The command line's --effect-tolerance: "margin" or a number (validated by check_settings)."""
    if text.strip().lower() in EFFECT_TOLERANCE_MODES:
        return text.strip().lower()
    try:
        return float(text)
    except ValueError:
        return text


def compare(baseline: ClaimsFile, current: ClaimsFile, strict: bool = False,
            tolerance: float = DEFAULT_TOLERANCE, alpha: float = DEFAULT_ALPHA,
            effect_tolerance: float | str = DEFAULT_EFFECT_TOLERANCE) -> GateResult:
    """Compare two claims files. ClaimsFileError when their budgets differ."""
    check_settings(tolerance, alpha, effect_tolerance)
    b_budget, c_budget = baseline.fact("budget"), current.fact("budget")
    if b_budget != c_budget:
        raise ClaimsFileError(f"budget mismatch: baseline is {b_budget or 'unknown'}, current is "
                              f"{c_budget or 'unknown'} (compare against reports/baseline/{c_budget}.json)")
    on_cpu = b_budget == "smoke" and baseline.fact("device") == current.fact("device") == "cpu"
    cpus = _cpu(baseline), _cpu(current)
    other_cpu = None not in cpus and cpus[0] != cpus[1]
    deterministic = on_cpu and not other_cpu

    old, new = baseline.by_nodeid(), current.by_nodeid()
    evidence, drops, rejected = ({}, {}, {}) if deterministic else _random_family(old, new, alpha, effect_tolerance)

    rows = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: ((old.get(k) or new[k]).id, k)):
        b, c = old.get(key), new.get(key)
        ref = c or b
        assert ref is not None
        status, note, pa = _judge(b, c, deterministic, tolerance, evidence.get(key), rejected.get((key, "flip")))
        check, unit = drops.get(key), ref.unit or ""
        drop_rejected = rejected.get((key, "drop"))
        if drop_rejected and status not in FAILING:
            note = "effect dropped" + (f"; {note}" if note else "")
            status = "regressed"
        rows.append(Row(key=key, id=ref.id or key, before=b and b.verdict, after=c and c.verdict,
                        effect_before=_number(b.effect) if b else None,
                        effect_after=_number(c.effect) if c else None, unit=unit,
                        status=status, note=note, p_against=pa, p_drop=check.p if check else None,
                        effect_test=check.describe(unit, drop_rejected) if check else ""))
    rows.sort(key=lambda r: STATUSES.index(r.status))
    notes = _version_notes(baseline, current) if deterministic else []
    if on_cpu and other_cpu:
        notes.append(f"note: the baseline ran on {cpus[0]}, this run on {cpus[1]}: float kernels differ "
                     "across CPUs and a trained net amplifies the last bit, so the smoke run is compared as a "
                     "random one (Holm over flips and effect drops), not number for number")
    return GateResult(rows, strict, float(tolerance), float(alpha), deterministic, str(c_budget), notes,
                      effect_tolerance)


def _random_family(old: dict[str, ClaimResult], new: dict[str, ClaimResult], alpha: float,
                   effect_tolerance: float | str) -> tuple[dict[str, float], dict[str, EffectCheck],
                                                           dict[tuple[str, str], bool]]:
    """Flip evidence, drop checks, and Holm's decisions over both kinds of hypothesis together."""
    both = [k for k in old if k in new and old[k].verdict in RAN and new[k].verdict in RAN]
    evidence = {k: p_against(new[k]) for k in both if old[k].verdict == "SUPPORTED"}
    drops = {}
    for k in both:
        if not new[k].timing:
            check = effect_check(old[k], new[k], effect_tolerance)
            if check is not None:
                drops[k] = check
    family = [((k, "flip"), p) for k, p in evidence.items()]
    family += [((k, "drop"), c.p) for k, c in drops.items() if c.p is not None]
    decided = holm([p for _, p in family], alpha)
    return evidence, drops, {name: r for (name, _), r in zip(family, decided)}


def _cpu(claims: ClaimsFile) -> str | None:
    """The processor a run trained on and the kernels torch chose for it ("AMD EPYC (AVX2)"), if recorded."""
    env = claims.meta.get("environment") or {}
    if not isinstance(env, dict) or not env.get("cpu_capability"):
        return None
    return f"{env.get('cpu') or 'unknown CPU'} ({env['cpu_capability']})"


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
