"""The catalogue at a glance: rows, standardized effects, the markdown table, the Allure summary, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from instincts import catalogue, cli, fmt
from instincts.results import ClaimResult, Part, write

SEEDS = list(range(6))


def _part(diffs: list[float], kind: str = "compare", **expect: float) -> Part:
    return Part(config={"lr": 0.1}, metric="test_accuracy", verdict="SUPPORTED", kind=kind,
                expect={"kind": "equivalent", "test": "t", **expect}, seeds=SEEDS, labels=["A", "B"],
                values=[[0.9 + d, 0.9] for d in diffs], effect=sum(diffs) / len(diffs), n=len(diffs))


def _claims() -> list[ClaimResult]:
    diffs = [0.001, -0.002, 0.003, 0.0, 0.002, -0.001]
    evidence = ClaimResult(id="RC-2", nodeid="t.py::a", verdict="SUPPORTED", statement="A equals B", unit="pp",
                           effect=0.0005, ci=[-0.001, 0.002], confidence=0.9, n=6, seeds_used=6, seeds_max=12,
                           line="x", expectation="equivalent", p=0.01, prediction="within 1pp",
                           parts=[_part(diffs, margin=0.01),
                                  replace(_part(diffs[::-1], margin=0.01), verdict="INCONCLUSIVE")])
    check = ClaimResult(id="BS-1", nodeid="t.py::b", verdict="SUPPORTED", statement="identity", check=True,
                        line="x", expectation="exact", effect=1e-16, ci=[0, 0], p=0.0,
                        parts=[Part(kind="exact", verdict="SUPPORTED", expect={"kind": "exact", "tol": 1e-6},
                                    effect=1e-16, seeds=SEEDS, labels=["error"], values=[[1e-16]] * 6)])
    skipped = ClaimResult(id="GPU-1", nodeid="t.py::c", verdict="SKIPPED", statement="needs a GPU",
                          reason="needs CUDA")
    return [evidence, check, skipped]


def test_rows_standardize_by_the_per_seed_sd_and_keep_sections_in_order():
    rows = catalogue.rows(_claims())
    assert [r.section for r in rows] == ["BS", "GPU", "RC", "RC"]  # BS, GPU, ..., RC: the seed order
    rc = rows[2]
    d = rc.part.per_seed()
    sd = float(d.std(ddof=1))
    assert rc.dz == pytest.approx(d.mean() / sd)
    assert rc.band == pytest.approx((-0.01 / sd, 0.01 / sd))
    assert rc.ci[0] < rc.dz < rc.ci[1]
    assert rows[0].exact == pytest.approx(1e-10)  # |error| / tol
    assert rows[1].part is None and rows[1].dz is None  # SKIPPED: listed, no bar


@pytest.mark.parametrize(("expect", "band"), [
    ({"kind": "superior", "min_effect": 0.01}, (0.01, math.inf)),
    ({"kind": "noninferior", "margin": 0.02}, (-0.02, math.inf)),
    ({"kind": "predicts", "tol": 0.5}, (-0.5, 0.5)),
    ({"kind": "decreasing"}, (-math.inf, 0.0)),
])
def test_band_is_where_the_claim_holds(expect, band):
    assert catalogue._band(expect, None) == band


def test_counts_keep_checks_apart_from_evidence():
    assert catalogue.counts_text(_claims()) == "evidence: 1 SUPPORTED, 1 SKIPPED; checks: 1 SUPPORTED"


def test_table_formats_numbers_as_people_read_them():
    md = catalogue.table(_claims())
    rc = next(line for line in md.splitlines() if line.startswith("| RC-2"))
    assert "+0.1pp" in rc and "90% CI [-0.1, +0.2]" in rc and "6/12" in rc and "within 1pp" in rc
    assert "SUPPORTED (check)" in md and "needs CUDA" in md


def test_fmt_labelled_interval_and_training_facts():
    assert fmt.labelled_interval(-0.001, 0.004, 0.95, "pp") == "95% CI [-0.1, +0.4]"
    facts = {"A": {"epochs_run": 12.0, "train_accuracy": 0.991}, "B": {"epochs_run": 10.0, "train_accuracy": 0.95}}
    assert fmt.training_facts(facts) == "epochs 12/10, train acc 99.1%/95.0%"


def test_write_and_cli_write_the_three_files(tmp_path, capsys):
    claims_json = tmp_path / "claims.json"
    write(claims_json, _claims(), {"budget": "smoke"})
    assert cli.main(["catalogue", "--claims", str(claims_json), "--out", str(tmp_path / "out")]) == 0
    png, svg, md = (tmp_path / "out" / f"catalogue.{ext}" for ext in ("png", "svg", "md"))
    assert png.read_bytes()[:4] == b"\x89PNG" and b"<svg" in svg.read_bytes()[:500]
    assert "| RC-2 |" in md.read_text()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind
    assert cli.main(["catalogue", "--claims", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_allure_summary_is_one_passed_result_with_both_attachments(tmp_path):
    claims_json = tmp_path / "claims.json"
    write(claims_json, _claims(), {"budget": "smoke"})
    results = tmp_path / "allure-results"
    for _ in range(2):  # a rerun replaces the summary, it does not add one
        path = catalogue.allure_summary(results, claims_json)
    assert list(results.glob("*-result.json")) == [path]
    doc = json.loads(path.read_text())
    assert doc["status"] == "passed" and doc["name"] == "Catalogue at a glance"
    assert {"name": "epic", "value": "Catalogue"} in doc["labels"]
    assert {"name": "tag", "value": "summary"} in doc["labels"]
    assert "1 SKIPPED" in doc["description"]
    for attachment in doc["attachments"]:
        assert (results / attachment["source"]).stat().st_size > 0
    assert [a["type"] for a in doc["attachments"]] == ["image/png", "text/markdown"]
