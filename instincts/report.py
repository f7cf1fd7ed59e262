"""Allure labels and attachments per claim, environment facts, and reports/claims.json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from instincts.cache import write_json_atomic
from instincts.claim import ClaimInfo
from instincts.experiment import Record
from instincts.verdict import finite_or_none


def claim_result(info: ClaimInfo, nodeid: str, records: list[Record], outcome: str, budget: str,
                 device: str, seconds: float, versions: dict[str, str]) -> dict[str, Any]:
    """The claims.json entry: the claim's verdict and the numbers of its deciding comparison."""
    deciding = next((r for r in records if r.verdict.outcome.value == outcome), records[-1])
    v = deciding.verdict
    return finite_or_none({
        **info.to_dict(), "nodeid": nodeid, "verdict": outcome, "line": v.line(),
        "expectation": v.expectation, "test": v.test, "effect": v.effect, "ci": list(v.ci),
        "confidence": v.confidence_level, "p": v.pvalue, "alpha": v.alpha, "unit": v.unit,
        "n": v.n, "seeds_used": sum(len(r.seeds) for r in records),
        "seeds_max": sum(r.verdict.seeds_max or r.verdict.n for r in records), "comparisons": len(records),
        "budget": budget, "device": device, "duration_s": round(seconds, 2), "versions": versions,
        "parts": [{"config": r.config, "metric": r.metric, "verdict": r.verdict.outcome.value,
                   "line": r.verdict.line()} for r in records],
    })


def per_seed_csv(records: list[Record]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["comparison", "config", "metric", "seed", "column", "value"])
    for i, r in enumerate(records, 1):
        cfg = json.dumps(r.config, sort_keys=True, default=str)
        for seed, row in zip(r.seeds, r.values):
            for label, value in zip(r.labels, row):
                writer.writerow([i, cfg, r.metric, seed, label, repr(value)])
    return buf.getvalue()


def description(info: ClaimInfo, records: list[Record], budget: str) -> str:
    """Markdown: the method, the pre-registered test (margin, alpha), anchors, and each verdict."""
    lines = [f"**{info.id}**: {info.statement}", ""]
    if info.question:
        lines += [f"*Seed question:* {info.question}", ""]
    if info.method:
        lines += [f"*Method:* {info.method}", ""]
    lines += [f"*Budget:* {budget}. Seeds are paired across arms (same init where shapes match, same data order).",
              ""]
    for r in records:
        v = r.verdict
        alpha = "" if v.alpha == 0 else f", alpha {v.alpha:.3g} per comparison"
        lines.append(f"- `{v.outcome.value}` {v.line()} — test: {v.test}{alpha}")
    if info.anchors:
        lines += ["", "*Anchors:* " + "; ".join(info.anchors)]
    return "\n".join(lines)


def attach_allure(info: ClaimInfo, records: list[Record], result: dict[str, Any]) -> None:
    """Title, labels, parameters and attachments for the running test (no-op without allure)."""
    import allure

    from instincts.plots import claim_plot

    allure.dynamic.title(info.statement)
    if info.section:
        allure.dynamic.epic(info.section)
    if info.question:
        allure.dynamic.feature(info.question)
    allure.dynamic.story(info.id)
    allure.dynamic.tag(result["verdict"].lower())
    allure.dynamic.description(description(info, records, result["budget"]))
    for i, r in enumerate(records, 1):
        cfg = ", ".join(f"{k}={v}" for k, v in r.config.items()) or json.dumps(r.arms, default=str)
        allure.dynamic.parameter(f"config {i}", cfg)
    allure.dynamic.parameter("budget", result["budget"])
    for name in ("verdict", "effect", "ci", "p", "n"):
        allure.dynamic.parameter(name, str(result[name]), excluded=True)
    allure.attach(claim_plot(records, f"{info.id}: {info.statement}"), name="paired per-seed values",
                  attachment_type=allure.attachment_type.PNG)
    allure.attach(per_seed_csv(records), name="per-seed data", attachment_type=allure.attachment_type.CSV)
    full = {**result, "records": [r.to_dict() for r in records]}
    allure.attach(json.dumps(finite_or_none(full), indent=1, default=str), name="verdict",
                  attachment_type=allure.attachment_type.JSON)


def write_environment(alluredir: Path, facts: dict[str, str]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in sorted(facts.items()))
    (alluredir / "environment.properties").write_text(text)


def show_refutations_as_failed(alluredir: Path) -> int:
    """A REFUTED claim pytest reports as xfail (a known finding, or a machine-dependent timing claim)
    is still a refutation: the Allure report shows it failed, in "Claim refuted", not skipped."""
    changed = 0
    for path in alluredir.glob("*-result.json"):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        tags = {label.get("value") for label in result.get("labels", []) if label.get("name") == "tag"}
        message = result.get("statusDetails", {}).get("message", "")
        if result.get("status") == "skipped" and "refuted" in tags and message.startswith("XFAIL"):
            reason, _, rest = message[len("XFAIL"):].strip().partition(" — ")
            result["status"] = "failed"
            result["statusDetails"]["message"] = f"REFUTED ({reason}; xfail in pytest) — {rest}"
            write_json_atomic(path, result)
            changed += 1
    return changed


def write_claims_json(path: Path, claims: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    ordered = sorted(claims, key=lambda c: (c["id"], c["nodeid"]))
    write_json_atomic(path, {"meta": meta, "claims": ordered})
