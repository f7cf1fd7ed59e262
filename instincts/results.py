"""claims.json, in one place: the typed record of a claim's result, and how files of them are
built, validated, read, merged and written (atomically).

The plugin writes it, the gate compares two of them, the report reads it. A file states its
``meta.schema_version``; a file without one was written before versions existed and is read as
version 1, whose fields are today's. Unusable input raises one ``ClaimsFileError`` that names the
file, the claim and the field: ``baseline file X: claims[3] (tests/a.py::t) has no "verdict"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instincts.cache import write_json_atomic
from instincts.errors import ClaimsFileError

if TYPE_CHECKING:
    import numpy as np

    from instincts.experiment import Record
    from instincts.marks import ClaimInfo

SCHEMA_VERSION = 2  # 2: parts keep per-seed data and alphas; claims their alpha spent, q-values, seed base
VERDICTS = ("SUPPORTED", "REFUTED", "INCONCLUSIVE", "SKIPPED", "ERROR")
RAN = ("SUPPORTED", "REFUTED", "INCONCLUSIVE")  # verdicts of claims whose comparisons ran

# JSON kind of a field -> (Python types it may hold, the adjective for a value of another type)
_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "text": ((str,), "non-text"), "number": ((int, float), "non-numeric"), "integer": ((int,), "non-integer"),
    "flag": ((bool,), "non-boolean"), "list": ((list,), "non-list"), "object": ((dict,), "non-object"),
}


def _spec(kind: str, default: Any = None, *, required: Sequence[str] = (), nullable: bool = False) -> Any:
    """A record field: its JSON kind, the verdicts whose records must have it, whether null is allowed."""
    meta = {"kind": kind, "required": tuple(required), "nullable": nullable}
    if isinstance(default, (list, dict)):
        return field(default_factory=type(default), metadata=meta)
    return field(default=default, metadata=meta)


def finite_number(value: Any) -> float | None:
    """A finite number (not a bool) as a float, else None: how a claims.json field is read as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def _check_fields(cls: type, data: dict[str, Any], where: str, verdict: str | None) -> None:
    for f in fields(cls):
        if "kind" not in f.metadata:
            continue
        if f.name not in data:
            if verdict in f.metadata["required"]:
                raise ClaimsFileError(f'{where} has no "{f.name}" (every {verdict} claim records it)')
            continue
        value = data[f.name]
        types, adjective = _KINDS[f.metadata["kind"]]
        if value is None and f.metadata["nullable"]:
            continue
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            raise ClaimsFileError(f"{where} has a {adjective} {f.name!r}: {value!r}")


def _to_dict(record: Any, verdict: str | None) -> dict[str, Any]:
    """A record's fields as JSON: absent values (None, False flags) left out unless the verdict needs them."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if "kind" not in f.metadata:
            continue
        if (value is None or value is False) and verdict not in f.metadata["required"]:
            continue
        out[f.name] = [p.to_dict() for p in value] if f.name == "parts" and value is not None else value
    return finite_or_none({**out, **getattr(record, "extra", {})})


@dataclass(frozen=True)
class Part:
    """One comparison of a claim (a hypothesis example, or one of several compare() calls).

    It keeps the per-seed data (``seeds``, ``values``) so that the gate can test a change of the
    effect, not only a change of the verdict, and the alpha each side was judged at: ``alpha``
    for SUPPORTED (the claim's own alpha: "every part holds" is an intersection-union test) and
    ``alpha_refute`` for REFUTED (this comparison's share of the claim's alpha).
    """

    config: dict[str, Any] = _spec("object", {})
    metric: str = _spec("text", "")
    verdict: str = _spec("text", "")
    line: str = _spec("text", "")
    facts: dict[str, dict[str, float]] | None = _spec("object")  # arm label -> training facts
    kind: str | None = _spec("text")  # "compare", "trend", "predicts" or "exact"
    expect: dict[str, Any] | None = _spec("object")  # the expectation as data: kind, margin, alpha
    seeds: list[int] | None = _spec("list")
    labels: list[str] | None = _spec("list")  # one per column of ``values``
    values: list[list[float]] | None = _spec("list")  # seeds x columns
    effect: float | None = _spec("number", nullable=True)
    sd: float | None = _spec("number", nullable=True)
    n: int | None = _spec("integer")
    pvalue: float | None = _spec("number", nullable=True)
    alpha: float | None = _spec("number", nullable=True)
    alpha_refute: float | None = _spec("number", nullable=True)
    slot: str | None = _spec("text")  # where alpha_refute came from: "planned" or "extra" (see instincts.alpha)
    pvalue_refute: float | None = _spec("number", nullable=True)  # the refuting test's p-value
    look: int | None = _spec("integer")
    looks: int | None = _spec("integer")
    seeds_max: int | None = _spec("integer")  # the most seeds the design could use
    stagewise_p: float | None = _spec("number", nullable=True)
    stagewise_p_refute: float | None = _spec("number", nullable=True)
    adjusted_effect: float | None = _spec("number", nullable=True)
    checks: list[dict[str, Any]] | None = _spec("list")  # manipulation checks per arm (instincts.checks)

    @classmethod
    def from_record(cls, record: Record) -> Part:
        v = record.verdict
        seq = v.details.get("sequential") or {}
        return cls(config=record.config, metric=record.metric, verdict=v.outcome.value, line=v.line(),
                   facts=record.facts or None, kind=record.kind, expect=v.expectation.to_dict(),
                   seeds=list(record.seeds), labels=list(record.labels), values=record.values,
                   effect=v.effect, sd=getattr(v, "sd", None), n=v.n, pvalue=v.pvalue,
                   pvalue_refute=getattr(v, "pvalue_refute", None), alpha=v.expectation.alpha if v.alpha else 0.0,
                   alpha_refute=record.alpha_refute, slot=record.slot or None, look=v.look, looks=v.looks,
                   seeds_max=v.seeds_max or v.n,
                   stagewise_p=seq.get("stagewise_p", v.details.get("stagewise_p")),
                   stagewise_p_refute=seq.get("stagewise_p_refute", v.details.get("stagewise_p_refute")),
                   adjusted_effect=seq.get("adjusted_effect", v.details.get("adjusted_effect")),
                   checks=record.checks or None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, None)

    def per_seed(self) -> np.ndarray | None:
        """The per-seed effect the verdict judged: A - B (compare), observed - predicted (predicts),
        the least-squares slope over the levels (trend), the error (exact); None without data."""
        if not self.values or self.kind is None:
            return None
        import numpy as np

        matrix = np.asarray(self.values, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            return None
        if self.kind in ("compare", "predicts") and matrix.shape[1] == 2:
            return matrix[:, 0] - matrix[:, 1]
        if self.kind == "trend" and matrix.shape[1] >= 2:
            from instincts.stats import slopes

            return slopes(matrix, np.arange(matrix.shape[1], dtype=float))
        if self.kind == "exact":
            return matrix[:, 0]
        return None


@dataclass(frozen=True)
class ClaimResult:
    """One claim's entry in claims.json: what it claims, its verdict, and the numbers behind it.

    ``effect``, ``ci``, ``p``, ``line`` and ``expectation`` are those of the deciding comparison
    (the first with the claim's verdict); ``parts`` lists every comparison.
    """

    id: str = _spec("text", "", required=VERDICTS)
    nodeid: str = _spec("text", "", required=VERDICTS)
    verdict: str = _spec("text", "", required=VERDICTS)
    statement: str = _spec("text", "")
    section: str = _spec("text", "")
    question: str = _spec("text", "")
    anchors: list[str] = _spec("list", [])
    method: str = _spec("text", "")
    prediction: str = _spec("text", "")  # what the anchors predict, beside the measurement
    timing: bool = _spec("flag", False)  # a wall-clock claim: its verdict belongs to the machine
    check: bool = _spec("flag", False)  # guards the apparatus: counted apart from evidence
    budget: str | None = _spec("text")
    device: str | None = _spec("text")
    duration_s: float | None = _spec("number")
    line: str | None = _spec("text", required=RAN)
    expectation: str | None = _spec("text", required=RAN)
    test: str | None = _spec("text")
    effect: float | None = _spec("number", required=RAN, nullable=True)
    ci: list[float | None] | None = _spec("list", required=RAN, nullable=True)
    confidence: float | None = _spec("number", nullable=True)
    p: float | None = _spec("number", required=RAN, nullable=True)
    alpha: float | None = _spec("number")
    unit: str | None = _spec("text")
    n: int | None = _spec("integer")
    seeds_used: int | None = _spec("integer")
    seeds_max: int | None = _spec("integer")
    comparisons: int | None = _spec("integer")
    comparisons_planned: int | None = _spec("integer")  # examples x comparisons per example (instincts.alpha)
    alpha_spent: float | None = _spec("number")  # the parts' refuting alphas summed: <= the claim's alpha
    seed_base: int | None = _spec("integer")  # seeds were seed_base + 0..n-1 (--claims-seed-base replays)
    p_refute: float | None = _spec("number", nullable=True)  # the claim's p-value for REFUTED (instincts.fdr)
    q_refuted: float | None = _spec("number", nullable=True)  # its BH q-value across the run's claims
    p_support: float | None = _spec("number", nullable=True)  # the claim's p-value for SUPPORTED (the largest)
    q_supported: float | None = _spec("number", nullable=True)
    versions: dict[str, str] | None = _spec("object")
    parts: list[Part] | None = _spec("list")
    reason: str | None = _spec("text", required=("SKIPPED",))
    error: str | None = _spec("text", required=("ERROR",))
    note: str | None = _spec("text")
    known_finding: bool = _spec("flag", False)  # REFUTED, reported as xfail: see xfail_reason
    xfail_reason: str | None = _spec("text")
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know, kept as read

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def _of(cls, info: ClaimInfo, nodeid: str, verdict: str, **values: Any) -> ClaimResult:
        return cls(id=info.id, nodeid=nodeid, verdict=verdict, statement=info.statement, section=info.section,
                   question=info.question, anchors=list(info.anchors), method=info.method, timing=info.timing,
                   prediction=info.prediction, check=info.check, **values)

    @classmethod
    def for_records(cls, info: ClaimInfo, nodeid: str, records: Sequence[Record], outcome: str, budget: str,
                    device: str, seconds: float, versions: dict[str, str]) -> ClaimResult:
        """A claim whose comparisons ran: the deciding comparison's numbers, every part's verdict."""
        deciding = next((r for r in records if r.verdict.outcome.value == outcome), records[-1])
        v = deciding.verdict
        return cls._of(info, nodeid, outcome, line=v.line(), expectation=v.expected, test=v.test,
                       effect=v.effect, ci=list(v.ci), confidence=v.confidence_level, p=v.pvalue, alpha=v.alpha,
                       unit=v.unit, n=v.n, seeds_used=sum(len(r.seeds) for r in records),
                       seeds_max=sum(r.verdict.seeds_max or r.verdict.n for r in records),
                       comparisons=len(records), budget=budget, device=device, duration_s=round(seconds, 2),
                       versions=dict(versions), parts=[Part.from_record(r) for r in records])

    @classmethod
    def for_error(cls, info: ClaimInfo, nodeid: str, error: str, budget: str, device: str,
                  seconds: float) -> ClaimResult:
        return cls._of(info, nodeid, "ERROR", error=error[:500], budget=budget, device=device,
                       duration_s=round(seconds, 2))

    @classmethod
    def for_skip(cls, info: ClaimInfo, nodeid: str, reason: str, budget: str) -> ClaimResult:
        return cls._of(info, nodeid, "SKIPPED", reason=reason, budget=budget)

    def with_(self, **changes: Any) -> ClaimResult:
        return replace(self, **changes)

    # -- JSON -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "claim") -> ClaimResult:
        """A record from its JSON; ClaimsFileError (naming ``where`` and the field) when it is malformed."""
        if not isinstance(data, dict):
            raise ClaimsFileError(f"{where} is not an object")
        key = data.get("nodeid")
        if not isinstance(key, str) or not key:
            raise ClaimsFileError(f'{where} has no "nodeid"')
        where = f"{where} ({key})"
        if "verdict" not in data:
            raise ClaimsFileError(f'{where} has no "verdict"')
        verdict = data["verdict"]
        if verdict not in VERDICTS:
            raise ClaimsFileError(f"{where} has verdict {verdict!r}, not one of {', '.join(VERDICTS)}")
        _check_fields(cls, data, where, verdict)
        for i, part in enumerate(data.get("parts") or []):
            if not isinstance(part, dict):
                raise ClaimsFileError(f"{where}: parts[{i}] is not an object")
            _check_fields(Part, part, f"{where}: parts[{i}]", None)
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("parts") is not None:
            values["parts"] = [Part.from_dict(p) for p in values["parts"]]
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, self.verdict)


@dataclass(frozen=True)
class ClaimsFile:
    """A claims.json document: the run's facts (``meta``) and one record per claim."""

    claims: list[ClaimResult]
    meta: dict[str, Any] = field(default_factory=dict)

    def fact(self, name: str) -> str | None:
        """The run's budget or device: from meta, else the one value all claims agree on."""
        value = self.meta.get(name)
        if value:
            return str(value)
        values = {getattr(c, name) for c in self.claims if getattr(c, name, None)}
        return str(values.pop()) if len(values) == 1 else None

    @property
    def written(self) -> str:
        return str(self.meta.get("written") or "time unknown")

    def by_nodeid(self) -> dict[str, ClaimResult]:
        return {c.nodeid: c for c in self.claims}

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.claims, key=lambda c: (c.id, c.nodeid))
        return {"meta": {**self.meta, "schema_version": SCHEMA_VERSION}, "claims": [c.to_dict() for c in ordered]}


def parse(doc: Any) -> ClaimsFile:
    """A validated claims.json document (already decoded from JSON)."""
    if not isinstance(doc, dict):
        raise ClaimsFileError(f"expected a JSON object with a \"claims\" list, got {type(doc).__name__}")
    if "claims" not in doc:
        raise ClaimsFileError("no \"claims\" list (not a claims.json written by `pytest claims`?)")
    if not isinstance(doc["claims"], list):
        raise ClaimsFileError(f"\"claims\" is a {type(doc['claims']).__name__}, not a list")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ClaimsFileError("\"meta\" is not an object")
    _check_schema(meta.get("schema_version", 1))
    claims, seen = [], set()
    for i, data in enumerate(doc["claims"]):
        claim = ClaimResult.from_dict(data, f"claims[{i}]")
        if claim.nodeid in seen:
            raise ClaimsFileError(f"claims[{i}]: nodeid {claim.nodeid} appears twice")
        seen.add(claim.nodeid)
        claims.append(claim)
    return ClaimsFile(claims, {k: v for k, v in meta.items() if k != "schema_version"})


def _check_schema(version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ClaimsFileError(f"\"meta\": schema_version {version!r} is not a schema version (an integer >= 1)")
    if version > SCHEMA_VERSION:
        raise ClaimsFileError(f"\"meta\": schema_version {version} is newer than this instincts reads "
                              f"({SCHEMA_VERSION}); upgrade instincts to read it")


def read(path: Path, what: str = "claims") -> ClaimsFile:
    """Read and validate a claims.json; ClaimsFileError names ``what``, the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise ClaimsFileError(f"{what} file {path} not found")
    if not path.is_file():
        raise ClaimsFileError(f"{what} file {path} is not a file")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ClaimsFileError(f"{what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimsFileError(f"{what} file {path} cannot be read: {exc}") from None
    try:
        return parse(doc)
    except ClaimsFileError as exc:
        raise ClaimsFileError(f"{what} file {path}: {exc}") from None


def write(path: Path, claims: Iterable[ClaimResult], meta: dict[str, Any]) -> None:
    """Write claims.json atomically, claims sorted by id and nodeid, with the schema version."""
    write_json_atomic(Path(path), ClaimsFile(list(claims), dict(meta)).to_dict())


def merged(path: Path, fresh: Sequence[ClaimResult], budget: str) -> list[ClaimResult]:
    """The claims of an earlier session's file, with ``fresh`` replacing any of the same nodeid."""
    path = Path(path)
    if not path.exists():
        return list(fresh)
    earlier = read(path, "claims.json to merge into")
    if earlier.meta.get("budget") not in (None, budget):
        raise ClaimsFileError(f"{path} holds a {earlier.meta['budget']!r} run and this is a {budget!r} run; "
                              "merge runs of one budget only")
    replaced = {c.nodeid for c in fresh}
    return [c for c in earlier.claims if c.nodeid not in replaced] + list(fresh)
