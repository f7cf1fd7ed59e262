"""Readable numbers in the Allure report (parameters, the configs table), and the report's own entries:
the catalogue summary listed first, the gate's table of changes, both written by the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from instincts import BUDGETS, Superior, catalogue, cli, report
from instincts.cache import RunCache
from instincts.experiment import Experiment
from instincts.marks import ClaimInfo
from instincts.results import ClaimResult, write


def _accuracy(shift: float):
    def arm(seed: int) -> dict[str, float]:
        noise = 0.001 * (seed % 3) if shift else 0.0005 * (seed % 5)  # paired differences that vary
        return {"test_accuracy": 0.9 + shift + noise, "epochs_run": 10.0}
    return arm


def _records():
    exp = Experiment(BUDGETS["smoke"], torch.device("cpu"), RunCache(None))
    for lr in (0.01, 0.1):
        exp.compare(_accuracy(0.012), _accuracy(0.0), metric="test_accuracy", expect=Superior(min_effect=0.001),
                    config={"lr": lr, "batch": 16}, labels=("b=16", "b=512"))
    return exp.records


def test_claim_parameters_read_as_people_read_them():
    result = ClaimResult(id="X-1", nodeid="t.py::x", verdict="SUPPORTED", effect=0.0013888974984486897,
                         ci=[-0.001, 0.004], confidence=0.95, p=3e-7, unit="pp", seeds_used=12, seeds_max=24)
    assert report.claim_parameters(result) == [("verdict", "SUPPORTED"), ("effect", "+0.1pp"),
                                               ("ci", "95% CI [-0.1, +0.4]"), ("p", "p<1e-4"),
                                               ("n", "12 of 24 seeds")]
    check = ClaimResult(id="X-2", nodeid="t.py::y", verdict="REFUTED", check=True, effect=None, ci=None, p=None)
    assert dict(report.claim_parameters(check)) == {"verdict": "REFUTED (check)", "effect": "-", "ci": "-",
                                                    "p": "-", "n": "-"}


def test_the_description_lists_every_config_that_ran_with_formatted_numbers():
    records = _records()
    text = report.description(ClaimInfo("X-1", "small batches win"), records, "smoke")
    table = report.configs_table(records)
    assert table in text
    rows = table.splitlines()[2:]
    assert [r.split(" | ")[1] for r in rows] == ["lr=0.01, batch=16", "lr=0.1, batch=16"]
    assert all("| SUPPORTED | +1.2pp | 90% CI [" in r for r in rows), rows
    assert "0.0119" not in text  # no raw floats in the table


def _claims_json(tmp_path: Path) -> Path:
    path = tmp_path / "reports" / "claims.json"
    path.parent.mkdir()
    claim = ClaimResult(id="RC-2", nodeid="t.py::a", verdict="SUPPORTED", statement="A equals B", unit="pp",
                        effect=0.0005, ci=[-0.001, 0.002], confidence=0.9, p=0.01, n=6, line="x",
                        expectation="equivalent")
    write(path, [claim], {"budget": "smoke"})
    return path


def _allure_result(folder: Path, name: str, start: int) -> None:
    (folder / f"{name}-result.json").write_text(json.dumps({"uuid": name, "name": name, "start": start}))


def test_the_summary_is_listed_before_the_claims_and_is_a_global_attachment(tmp_path: Path):
    claims_json = _claims_json(tmp_path)
    results = tmp_path / "allure-results"
    results.mkdir()
    _allure_result(results, "late", 2_000)
    _allure_result(results, "early", 1_000)
    path = catalogue.allure_summary(results, claims_json)
    doc = json.loads(path.read_text())
    assert doc["start"] == 999
    (globals_file,) = results.glob("*-globals.json")
    (picture,) = json.loads(globals_file.read_text())["attachments"]
    assert picture["type"] == "image/png" and (results / picture["source"]).read_bytes()[:4] == b"\x89PNG"


def test_report_command_writes_the_catalogue_beside_claims_json(tmp_path: Path, monkeypatch):
    claims_json = _claims_json(tmp_path)
    results = tmp_path / "allure-results"
    results.mkdir()
    _allure_result(results, "claim", 5_000)
    made = []
    monkeypatch.setattr("instincts.htmlreport.make_report", lambda *args: made.append(args) or tmp_path / "i.html")
    assert cli.main(["report", "--results", str(results), "--claims", str(claims_json),
                     "--repo-root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert made and {p.name for p in claims_json.parent.iterdir()} >= {"catalogue.png", "catalogue.svg",
                                                                         "catalogue.md"}
    names = {json.loads(p.read_text())["name"] for p in results.glob("*-result.json")}
    assert names == {"claim", catalogue.SUMMARY_NAME}
    assert cli.main(["report", "--results", str(results), "--claims", str(tmp_path / "missing.json"),
                     "--repo-root", str(tmp_path)]) == 2


@pytest.mark.parametrize("regressed", [False, True])
def test_gate_attaches_its_table_to_the_runs_allure_results(tmp_path: Path, capsys, regressed: bool):
    current = _claims_json(tmp_path)
    baseline = tmp_path / "baseline.json"
    base = ClaimResult.from_dict(json.loads(current.read_text())["claims"][0])
    if regressed:
        current_doc = json.loads(current.read_text())
        current_doc["claims"][0].update(verdict="REFUTED", line="refuted now")
        current.write_text(json.dumps(current_doc))
    write(baseline, [base], {"budget": "smoke"})
    results = current.parent / "allure-results"
    results.mkdir()
    _allure_result(results, "claim", 5_000)
    code = cli.main(["gate", "--baseline", str(baseline), "--current", str(current), "--strict"])
    assert code == (1 if regressed else 0)
    (entry,) = [json.loads(p.read_text()) for p in results.glob("*-result.json")
                if json.loads(p.read_text())["name"] == catalogue.GATE_NAME]
    assert entry["status"] == ("failed" if regressed else "passed")
    assert {"name": "tag", "value": "gate"} in entry["labels"]
    table = (results / entry["attachments"][0]["source"]).read_text()
    assert "RC-2" in table and table.strip() in capsys.readouterr().out


def test_report_command_attaches_each_claims_effect_over_runs(tmp_path: Path, monkeypatch):
    claims_json = tmp_path / "reports" / "claims.json"
    claims_json.parent.mkdir()
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "c-result.json").write_text(json.dumps({"uuid": "c", "name": "A equals B", "start": 1, "labels": [
        {"name": report.NODEID_LABEL, "value": "t.py::a"}]}))
    monkeypatch.setattr("instincts.htmlreport.make_report", lambda *args: tmp_path / "i.html")
    argv = ["report", "--results", str(results), "--claims", str(claims_json), "--repo-root", str(tmp_path)]
    for written, effect, verdict in (("2026-01-01T00:00", 0.004, "SUPPORTED"), ("2026-01-02T00:00", 0.03, "REFUTED"),
                                     ("2026-01-02T00:00", 0.03, "REFUTED")):  # the last: the same run reported again
        claim = ClaimResult(id="RC-2", nodeid="t.py::a", verdict=verdict, statement="A equals B", unit="pp",
                            effect=effect, ci=[effect - 0.002, effect + 0.002], confidence=0.9, p=0.01, line="x",
                            expectation="equivalent")
        write(claims_json, [claim], {"budget": "smoke", "written": written})
        assert cli.main(argv) == 0
    runs = [json.loads(line) for line in (claims_json.parent / catalogue.HISTORY_NAME).read_text().splitlines()]
    assert [r["claims"]["t.py::a"]["effect"] for r in runs] == [0.004, 0.03]
    doc = json.loads((results / "c-result.json").read_text())
    by_name = {a["name"]: results / a["source"] for a in doc["attachments"]}
    assert set(by_name) == {"effect over runs", "effect over runs (table)"}  # replaced, not added twice
    assert by_name["effect over runs"].read_bytes()[:4] == b"\x89PNG"
    table = by_name["effect over runs (table)"].read_text().splitlines()
    assert table == ["2026-01-01T00:00  SUPPORTED    +0.4pp  [+0.2, +0.6]",
                     "2026-01-02T00:00  REFUTED      +3.0pp  [+2.8, +3.2]"]
