"""The Allure side of a claim: title, labels, parameters, description and attachments, the run's
environment, and the claim's own attachments (``Experiment.attach``).

allure is imported only where something is attached to a running Allure report, so claims and
plain runs never load it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instincts import fmt
from instincts.cache import write_json_atomic
from instincts.errors import InvalidArgument
from instincts.results import ClaimResult, finite_or_none

if TYPE_CHECKING:
    from instincts.experiment import Record
    from instincts.marks import ClaimInfo

NODEID_LABEL = "instincts_nodeid"  # ties an Allure result to its claims.json entry

# attachment kind -> allure.attachment_type member
KINDS = {"text": "TEXT", "txt": "TEXT", "csv": "CSV", "tsv": "TSV", "json": "JSON", "html": "HTML", "xml": "XML",
         "yaml": "YAML", "svg": "SVG", "png": "PNG", "jpg": "JPG", "jpeg": "JPG", "gif": "GIF", "pdf": "PDF"}
TEXT_KINDS = ("text", "txt", "csv", "tsv", "json", "html", "xml", "yaml", "svg")
FIGURE_KINDS = ("png", "svg", "pdf", "jpg", "jpeg")


def per_seed_csv(records: Sequence[Record]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["comparison", "config", "metric", "seed", "column", "value"])
    for i, r in enumerate(records, 1):
        cfg = json.dumps(r.config, sort_keys=True, default=str)
        for seed, row in zip(r.seeds, r.values):
            for label, value in zip(r.labels, row):
                writer.writerow([i, cfg, r.metric, seed, label, repr(value)])
    return buf.getvalue()


def facts_text(facts: Mapping[str, Mapping[str, float]]) -> str:
    """Training facts per arm in one line: "A: epochs_run 11.5 (10-12), cap_hit 0.25 (0-1); B: ..."."""
    arms = []
    for label, values in facts.items():
        parts = []
        for name, value in values.items():
            if name.endswith(("_min", "_max")):
                continue
            spread = (f" ({fmt.short(values[f'{name}_min'])}-{fmt.short(values[f'{name}_max'])})"
                      if f"{name}_min" in values else "")
            parts.append(f"{name} {fmt.short(value)}{spread}")
        arms.append(f"{label}: {', '.join(parts)}")
    return "; ".join(arms)


def checks_text(checks: Sequence[Mapping[str, Any]]) -> str:
    """Manipulation checks in one line, e.g. "b=512: train_accuracy 0.998 >= 0.5 passed"."""
    out = []
    for c in checks:
        bound = " and ".join(b for b in (f">= {fmt.short(c['at_least'])}" if c.get("at_least") is not None else "",
                                          f"<= {fmt.short(c['at_most'])}" if c.get("at_most") is not None else "")
                             if b)
        out.append(f"{c['arm']}: {c['metric']} {fmt.short(c['value'])} {bound} "
                   f"{'passed' if c['passed'] else 'FAILED'}")
    return "; ".join(out)


def description(info: ClaimInfo, records: Sequence[Record], budget: str) -> str:
    """Markdown: the method, the pre-registered test (margin, alpha), anchors, each verdict and the
    arms' training facts."""
    lines = [f"**{info.id}**: {info.statement}", ""]
    if info.check:
        lines += ["*Check, not evidence:* it guards the apparatus (an identity or a result true by construction) "
                  "and is counted apart from the catalogue's evidence.", ""]
    if info.question:
        lines += [f"*Seed question:* {info.question}", ""]
    if info.method:
        lines += [f"*Method:* {info.method}", ""]
    lines += [f"*Budget:* {budget}. Seeds are paired across arms (same init where shapes match, same data order).",
              ""]
    for r in records:
        v = r.verdict
        share = f"{fmt.short(r.alpha_refute or v.alpha)} to refute ({r.slot or 'fixed'} share)"
        alpha = "" if v.alpha == 0 else f", alpha {fmt.short(v.expectation.alpha)} to support, {share}"
        lines.append(f"- `{v.outcome.value}` {v.line()} — test: {v.test}{alpha}")
        if r.config:
            lines.append("  - config: " + ", ".join(f"{k}={v}" for k, v in r.config.items()))
        if r.facts:
            lines.append(f"  - training: {facts_text(r.facts)}")
        if r.checks:
            lines.append(f"  - checks: {checks_text(r.checks)}")
    if info.prediction:
        lines += ["", f"*Literature predicts:* {info.prediction}"]
    if info.anchors:
        lines += ["", "*Anchors:* " + "; ".join(info.anchors)]
    return "\n".join(lines)


def attach_allure(info: ClaimInfo, records: Sequence[Record], result: ClaimResult) -> None:
    """Title, labels, parameters and attachments for the running test (needs allure-pytest)."""
    import allure

    from instincts.plots import claim_plot

    allure.dynamic.title(info.statement)
    if info.section:
        allure.dynamic.epic(info.section)
    if info.question:
        allure.dynamic.feature(info.question)
    allure.dynamic.story(info.id)
    allure.dynamic.tag(result.verdict.lower())
    if info.check:
        allure.dynamic.tag("check")
    allure.dynamic.label(NODEID_LABEL, result.nodeid)
    allure.dynamic.description(description(info, records, str(result.budget)))
    for i, r in enumerate(records, 1):
        cfg = ", ".join(f"{k}={v}" for k, v in r.config.items()) or json.dumps(r.arms, default=str)
        allure.dynamic.parameter(f"config {i}", cfg)
    allure.dynamic.parameter("budget", result.budget)
    for name in ("verdict", "effect", "ci", "p", "n"):
        allure.dynamic.parameter(name, str(getattr(result, name)), excluded=True)
    allure.attach(claim_plot(records, f"{info.id}: {info.statement}"), name="paired per-seed values",
                  attachment_type=allure.attachment_type.PNG)
    allure.attach(per_seed_csv(records), name="per-seed data", attachment_type=allure.attachment_type.CSV)
    full = {**result.to_dict(), "records": [r.to_dict() for r in records]}
    allure.attach(json.dumps(finite_or_none(full), indent=1, default=str), name="verdict",
                  attachment_type=allure.attachment_type.JSON)


def write_environment(alluredir: Path, facts: dict[str, str]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in sorted(facts.items()))
    (alluredir / "environment.properties").write_text(text)


def show_refutations_as_failed(alluredir: Path, claims: Sequence[ClaimResult]) -> int:
    """A REFUTED claim pytest reports as xfail (a known finding, or a machine-dependent timing claim)
    is still a refutation: the Allure report shows it failed, in "Claim refuted", not skipped.

    Allure results are matched to ``claims`` by the nodeid label ``attach_allure`` writes."""
    xfailed = {c.nodeid: c for c in claims if c.known_finding}
    changed = 0
    for path in alluredir.glob("*-result.json"):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        nodeid = next((label.get("value") for label in result.get("labels", [])
                       if label.get("name") == NODEID_LABEL), None)
        claim = xfailed.get(nodeid)
        if claim is None or result.get("status") != "skipped":
            continue
        result["status"] = "failed"
        details = result.setdefault("statusDetails", {})
        details["message"] = f"REFUTED ({claim.xfail_reason}; xfail in pytest) — {claim.line}"
        write_json_atomic(path, result)
        changed += 1
    return changed


# ---------------------------------------------------------------------------------------------
# a claim's own attachments


def _rows_csv(rows: Sequence[Any], delimiter: str) -> str:
    buf = io.StringIO()
    if rows and all(isinstance(r, Mapping) for r in rows):
        header = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(buf, header, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    else:
        csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue()


def _kind(obj: Any, kind: str | None) -> str:
    """The attachment kind of ``obj`` (``kind`` or its default), or InvalidArgument saying what fits."""
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in KINDS):
        raise InvalidArgument(f"kind={kind!r} is not allowed: choose one of {', '.join(KINDS)}")
    kind = kind.lower() if kind else None
    if hasattr(obj, "savefig"):  # a matplotlib Figure
        allowed, default = FIGURE_KINDS, "png"
    elif isinstance(obj, (bytes, bytearray)):
        if kind is None:
            raise InvalidArgument("bytes need their kind: attach(name, data, kind='png') (or svg, pdf, csv, ...)")
        return kind
    elif isinstance(obj, str):
        allowed, default = TEXT_KINDS, "text"
    elif isinstance(obj, Mapping):
        allowed, default = ("json",), "json"
    elif isinstance(obj, (list, tuple)) and all(isinstance(r, (list, tuple, Mapping)) for r in obj):
        allowed, default = ("csv", "tsv"), "csv"
    else:
        raise InvalidArgument(f"cannot attach an object of type {type(obj).__name__}: give a matplotlib Figure, "
                              "rows (a list of lists or dicts), a str, a dict (JSON) or bytes with kind=")
    if kind is not None and kind not in allowed:
        raise InvalidArgument(f"kind={kind!r} does not fit a {type(obj).__name__}: use one of {', '.join(allowed)}")
    return kind or default


def _body(obj: Any, kind: str) -> str | bytes:
    if hasattr(obj, "savefig"):
        buf = io.BytesIO()
        obj.savefig(buf, format="jpg" if kind == "jpeg" else kind, dpi=80, bbox_inches="tight")
        return buf.getvalue()
    if isinstance(obj, (bytes, bytearray, str)):
        return bytes(obj) if isinstance(obj, bytearray) else obj
    if isinstance(obj, Mapping):
        return json.dumps(finite_or_none(dict(obj)), indent=1, default=str)
    return _rows_csv(obj, "\t" if kind == "tsv" else ",")


def attach(name: str, obj: Any, kind: str | None = None, *, active: bool) -> None:
    """Attach ``obj`` to the running test's Allure report when ``active``; check the arguments always."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"name={name!r} is not allowed: name the attachment, e.g. 'loss curves'")
    kind = _kind(obj, kind)
    if not active:
        return
    import allure

    allure.attach(_body(obj, kind), name=name, attachment_type=getattr(allure.attachment_type, KINDS[kind]))
