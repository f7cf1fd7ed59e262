"""The gate: verdict flips, missing claims, effect drift, Holm on random runs, unusable input, --update;
and the claims.json reader it shares with the plugin (schema version, one error per malformed field)."""

import json
from pathlib import Path

import numpy as np
import pytest

from instincts import Equivalent, Increasing, NonInferior, Superior, results
from instincts.cli import main
from instincts.errors import ClaimsFileError
from instincts.gate import compare, p_against
from instincts.results import SCHEMA_VERSION, ClaimResult

REPO = Path(__file__).resolve().parents[2]


def claim(name: str, verdict: str = "SUPPORTED", effect: float | None = 0.002, p: float | None = 1e-4,
          comparisons: int = 1, budget: str = "smoke", **extra) -> dict:
    return {"id": name.upper(), "statement": f"claim {name}", "nodeid": f"claims/test_x.py::test_{name}",
            "verdict": verdict, "line": f"equivalent within ±1.0pp: diff {effect}",
            "expectation": "equivalent within ±1.0pp", "effect": effect, "ci": [effect, effect], "p": p,
            "alpha": 0.025, "unit": "pp", "comparisons": comparisons, "budget": budget, "device": "cpu", **extra}


def doc(claims: list[dict], budget: str = "smoke", device: str = "cpu") -> dict:
    return {"meta": {"budget": budget, "device": device, "environment": {"torch": "2.13.0"},
                     "written": "2026-01-01T00:00:00+0000"},
            "claims": sorted(claims, key=lambda c: (c["id"], c["nodeid"]))}


def parsed(document: dict) -> results.ClaimsFile:
    return results.parse(document)


def write(path: Path, document: dict) -> Path:
    results.write(path, parsed(document).claims, document["meta"])  # the writer `pytest claims` uses
    return path


def gate(tmp_path: Path, baseline: dict, current: dict, *flags: str) -> int:
    b = write(tmp_path / "baseline" / "smoke.json", baseline)
    c = write(tmp_path / "claims.json", current)
    return main(["gate", "--baseline", str(b), "--current", str(c), *flags])


BASE = [claim("a"), claim("b", effect=-0.001), claim("c", verdict="INCONCLUSIVE", p=0.3)]


def replaced(claims: list[dict], name: str, **changes) -> list[dict]:
    return [{**c, **changes} if c["id"] == name.upper() else c for c in claims]


def test_unchanged_run_passes(tmp_path, capsys):
    assert gate(tmp_path, doc(BASE), doc(BASE)) == 0
    out = capsys.readouterr().out
    assert "gate PASS: 3 claims (3 unchanged)" in out
    assert "deterministic (smoke/cpu" in out


def test_refuted_flip_fails_and_names_the_claim(tmp_path, capsys):
    current = replaced(BASE, "a", verdict="REFUTED", p=0.9999)
    assert gate(tmp_path, doc(BASE), doc(current)) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "test_a" in line)
    assert row.split()[:4] == ["regressed", "A", "SUPPORTED", "REFUTED"]
    assert out.strip().splitlines()[-1].startswith("gate FAIL: 3 claims (1 regressed, 2 unchanged)")


@pytest.mark.parametrize("budget", ["smoke", "standard"])
def test_lost_support_warns_and_fails_when_strict(tmp_path, capsys, budget):
    base = [claim(n, budget=budget) for n in "abc"]
    current = replaced(base, "a", verdict="INCONCLUSIVE", p=0.2)
    assert gate(tmp_path, doc(base, budget), doc(current, budget)) == 0
    assert "warning    A" in capsys.readouterr().out
    assert gate(tmp_path, doc(base, budget), doc(current, budget), "--strict") == 1
    assert "gate FAIL" in capsys.readouterr().out


def test_missing_claim_fails(tmp_path, capsys):
    assert gate(tmp_path, doc(BASE), doc(BASE[1:])) == 1
    out = capsys.readouterr().out
    assert "missing    A" in out and "test_a" in out


def test_error_fails_and_improvements_new_and_skipped_pass(tmp_path, capsys):
    current = replaced(BASE, "b", verdict="ERROR", effect=None, p=None, error="RuntimeError('boom')")
    assert gate(tmp_path, doc(BASE), doc(current)) == 1
    assert "RuntimeError" in capsys.readouterr().out

    current = replaced(BASE, "c", verdict="SUPPORTED", p=0.001)
    current = replaced(current, "b", verdict="SKIPPED", effect=None, p=None, reason="needs CUDA")
    current = [*current, claim("d", verdict="REFUTED", p=0.999)]
    assert gate(tmp_path, doc(BASE), doc(current), "--strict") == 0
    out = capsys.readouterr().out
    assert "1 improved, 1 new, 1 skipped, 1 unchanged" in out


def test_effect_drift_on_deterministic_run(tmp_path, capsys):
    drifted = replaced(BASE, "b", effect=-0.001 + 5e-6)
    assert gate(tmp_path, doc(BASE), doc(drifted)) == 1
    assert "effect drift 5e-06 > tolerance 1e-06" in capsys.readouterr().out
    assert gate(tmp_path, doc(BASE), doc(drifted), "--tolerance", "1e-5") == 0
    assert gate(tmp_path, doc(BASE), doc(replaced(BASE, "b", effect=-0.001 + 1e-9))) == 0
    # Random runs (another budget, or smoke on a GPU) may drift: only verdicts count there.
    assert gate(tmp_path, doc(BASE, "standard"), doc(drifted, "standard")) == 0
    assert gate(tmp_path, doc(BASE, device="cuda:0"), doc(drifted, device="cuda:0")) == 0


def test_missing_baseline_exits_2_with_one_clear_message(tmp_path, capsys):
    current = write(tmp_path / "claims.json", doc(BASE))
    missing = tmp_path / "baseline" / "smoke.json"
    assert main(["gate", "--baseline", str(missing), "--current", str(current)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert f"baseline file {missing} not found" in captured.err


def malformed(**changes) -> str:
    """A claims.json whose second claim has ``changes`` (a value None removes the field)."""
    bad = {**claim("b"), **changes}
    document = doc([claim("a")])
    document["claims"].append({k: v for k, v in bad.items() if v is not None})
    return json.dumps(document)


@pytest.mark.parametrize("text,problem", [
    ('{"claims": [', "is not valid JSON"),
    ('{"meta": {"budget": "smoke"}}', 'no "claims" list'),
    ("[1, 2]", "expected a JSON object"),
    (malformed(verdict="PASSED"), "claims[1] (claims/test_x.py::test_b) has verdict 'PASSED'"),
    (malformed(nodeid=None), 'claims[1] has no "nodeid"'),
    (malformed(verdict=None), 'claims[1] (claims/test_x.py::test_b) has no "verdict"'),
    (malformed(line=None), 'claims[1] (claims/test_x.py::test_b) has no "line" (every SUPPORTED claim records it)'),
    (malformed(verdict="SKIPPED"), 'has no "reason" (every SKIPPED claim records it)'),
    (malformed(effect="big"), "claims[1] (claims/test_x.py::test_b) has a non-numeric 'effect': 'big'"),
    (malformed(comparisons=1.5), "has a non-integer 'comparisons': 1.5"),
    (malformed(parts=[{"verdict": 3}]), "test_b): parts[0] has a non-text 'verdict': 3"),
    (malformed(nodeid="claims/test_x.py::test_a"), "claims[1]: nodeid claims/test_x.py::test_a appears twice"),
    ('{"meta": {"schema_version": 99}, "claims": []}', "schema_version 99 is newer than this instincts reads"),
    ('{"meta": {"schema_version": "1"}, "claims": []}', "schema_version '1' is not a schema version"),
])
@pytest.mark.parametrize("which", ["baseline", "current"])
def test_malformed_input_exits_2(tmp_path, capsys, text, problem, which):
    good, bad = write(tmp_path / "good.json", doc(BASE)), tmp_path / "bad.json"
    bad.write_text(text)
    files = {"baseline": good, "current": good, which: bad}
    assert main(["gate", "--baseline", str(files["baseline"]), "--current", str(files["current"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"instincts gate: {which} file {bad}") and problem in err
    assert err.count("\n") == 1


def test_budget_mismatch_exits_2(tmp_path, capsys):
    assert gate(tmp_path, doc(BASE, "smoke"), doc(BASE, "standard")) == 2
    err = capsys.readouterr().err
    assert "budget mismatch: baseline is smoke, current is standard" in err
    with pytest.raises(ClaimsFileError, match="budget mismatch"):
        compare(parsed(doc(BASE, "full")), parsed(doc(BASE, "standard")))


def holm_family(weak: bool, strong: bool) -> tuple[dict, dict]:
    """20 baseline-SUPPORTED claims on a random budget, Holm at 0.05: the first threshold is 0.0025.

    The weak flip is REFUTED with p_against = 0.04 (< its own alpha, > 0.05/20): a chance flip.
    The strong flip is REFUTED with p_against = 2 * 5e-6 = 1e-5 (two comparisons): it survives.
    """
    base = [claim(f"c{i:02d}", budget="standard") for i in range(20)]
    current = list(base)
    if weak:
        current = replaced(current, "c03", verdict="REFUTED", p=0.96, effect=-0.02)
    if strong:
        current = replaced(current, "c07", verdict="REFUTED", p=1 - 5e-6, effect=-0.05, comparisons=2)
    return doc(base, "standard", "cuda:0"), doc(current, "standard", "cuda:0")


def test_holm_weak_flip_among_many_is_a_warning(tmp_path, capsys):
    assert gate(tmp_path, *holm_family(weak=True, strong=False)) == 0
    out = capsys.readouterr().out
    assert "warning    C03" in out and "p_against=0.04, Holm does not reject" in out
    assert "random, Holm at alpha 0.05" in out
    assert gate(tmp_path, *holm_family(weak=True, strong=False), "--strict") == 1


def test_holm_strong_flip_fails(tmp_path, capsys):
    assert gate(tmp_path, *holm_family(weak=True, strong=True)) == 1
    out = capsys.readouterr().out
    assert "regressed  C07" in out and "Holm rejects" in out
    assert "warning    C03" in out
    result = compare(*map(parsed, holm_family(weak=False, strong=True)))
    assert [r.id for r in result.failures] == ["C07"]
    assert result.failures[0].p_against == pytest.approx(1e-5, rel=1e-6)


def test_holm_alone_a_weak_flip_fails_and_deterministic_flips_always_fail():
    base, current = holm_family(weak=True, strong=False)
    alone = [c for c in current["claims"] if c["id"] == "C03"]
    assert compare(parsed({**base, "claims": [c for c in base["claims"] if c["id"] == "C03"]}),
                   parsed({**current, "claims": alone})).exit_code == 1  # a family of one: 0.04 < 0.05
    smoke = [{**c, "budget": "smoke"} for c in current["claims"]]
    assert compare(parsed(doc([{**c, "budget": "smoke"} for c in base["claims"]])),
                   parsed(doc(smoke))).exit_code == 1


def result_of(verdict: str, p: float | None, comparisons: int = 1) -> ClaimResult:
    return ClaimResult(id="X", nodeid="x", verdict=verdict, p=p, comparisons=comparisons)


@pytest.mark.parametrize("expect,shift", [(Superior(), 0.2), (Superior(min_effect=0.5), 0.2),
                                          (NonInferior(margin=0.1), -0.3), (Equivalent(margin=0.3), 0.05),
                                          (Equivalent(margin=0.3), 0.25), (Equivalent(margin=0.3), -0.6)])
def test_p_against_is_the_opposite_tests_p_value(expect, shift):
    d = np.random.default_rng(0).normal(shift, 0.5, size=16)
    v = expect.judge(d)
    opposite = {"superior": "not_superior", "noninferior": "inferior"}
    first = next(iter(v.pvalues))
    if first == "tost":
        p_opp = min(v.pvalues["above_margin"], v.pvalues["below_margin"])
    else:
        p_opp = v.pvalues[opposite[first]]
    assert p_against(result_of(v.outcome.value, v.pvalue)) == pytest.approx(p_opp, abs=1e-9)


def test_p_against_for_trends_and_exact_checks():
    m = np.random.default_rng(1).normal(0, 1, size=(12, 3)) - np.arange(3) * 0.3
    v = Increasing().judge(m)
    assert p_against(result_of(v.outcome.value, v.pvalue)) == pytest.approx(v.pvalues["opposite"])
    assert p_against(result_of("REFUTED", None)) == 0.0
    assert p_against(result_of("SUPPORTED", None)) == 1.0
    assert p_against(result_of("REFUTED", 0.9, comparisons=20)) == 1.0


def test_update_writes_the_baseline(tmp_path, capsys):
    current = write(tmp_path / "claims.json", doc(BASE))
    target = tmp_path / "baseline" / "smoke.json"
    assert main(["gate", "--baseline", str(target), "--current", str(current), "--update"]) == 0
    assert json.loads(target.read_text()) == json.loads(current.read_text())
    out = capsys.readouterr().out
    assert f"wrote baseline {target}: 3 claims (1 INCONCLUSIVE, 2 SUPPORTED)" in out
    assert main(["gate", "--baseline", str(target), "--current", str(current)]) == 0


def test_update_refuses_bad_current_and_a_wrong_budget_name(tmp_path, capsys):
    target = tmp_path / "baseline" / "smoke.json"
    assert main(["gate", "--baseline", str(target), "--current", str(tmp_path / "nope.json"), "--update"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["gate", "--baseline", str(target), "--current", str(bad), "--update"]) == 2
    assert not target.exists()
    standard = write(tmp_path / "claims.json", doc(BASE, "standard"))
    assert main(["gate", "--baseline", str(target), "--current", str(standard), "--update"]) == 2
    assert "refusing to write a standard run" in capsys.readouterr().err
    assert not target.exists()


def test_cli_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["gate", "--tolerance", "-1"]) == 2
    assert "--tolerance must be" in capsys.readouterr().err


def test_real_claims_json_against_itself(capsys):
    real = REPO / "reports" / "claims.json"
    if not real.is_file():
        pytest.skip("no reports/claims.json: run `pytest claims` first")
    assert main(["gate", "--baseline", str(real), "--current", str(real)]) == 0
    assert "gate PASS" in capsys.readouterr().out


def test_timing_claims_warn_instead_of_regressing(tmp_path, capsys):
    """Wall-clock verdicts vary with the machine and its load: reported, never a deterministic drift."""
    base = [*BASE, claim("t", timing=True, effect=0.02)]
    current = replaced(replaced(base, "t", verdict="REFUTED", effect=0.3), "a", effect=0.002)
    assert gate(tmp_path, doc(base), doc(current)) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "::test_t" in line)
    assert row.split()[:4] == ["warning", "T", "SUPPORTED", "REFUTED"] and "timing claim" in row
    assert gate(tmp_path, doc(base), doc(current), "--strict") == 1
    drift_only = replaced(base, "t", effect=0.9)
    assert gate(tmp_path, doc(base), doc(drift_only)) == 0


def test_a_file_without_schema_version_reads_as_version_1(capsys, tmp_path):
    """claims.json files written before schema versions (the committed baselines until 2026-12) read as
    version 1 and still gate."""
    raw = json.loads((REPO / "reports" / "baseline" / "smoke.json").read_text())
    raw["meta"].pop("schema_version", None)
    baseline = tmp_path / "smoke.json"
    baseline.write_text(json.dumps(raw))
    assert results.read(baseline).fact("budget") == "smoke"
    assert main(["gate", "--baseline", str(baseline), "--current", str(baseline)]) == 0
    assert "gate PASS" in capsys.readouterr().out


def test_written_files_state_their_schema_version_and_read_back_equal(tmp_path):
    path = write(tmp_path / "claims.json", doc([*BASE, claim("s", verdict="SKIPPED", reason="needs CUDA")]))
    raw = json.loads(path.read_text())
    assert raw["meta"]["schema_version"] == SCHEMA_VERSION
    again = results.read(path)
    results.write(tmp_path / "again.json", again.claims, again.meta)
    assert json.loads((tmp_path / "again.json").read_text()) == raw


def test_unknown_fields_survive_a_round_trip(tmp_path):
    path = write(tmp_path / "claims.json", doc([claim("a", flavour="vanilla")]))
    assert results.read(path).claims[0].extra == {"flavour": "vanilla"}
    assert json.loads(path.read_text())["claims"][0]["flavour"] == "vanilla"


def test_merge_replaces_claims_of_the_same_nodeid(tmp_path):
    path = write(tmp_path / "claims.json", doc(BASE))
    fresh = parsed(doc([claim("a", verdict="REFUTED", p=0.99), claim("z")])).claims
    merged = {c.nodeid: c.verdict for c in results.merged(path, fresh, "smoke")}
    assert merged == {"claims/test_x.py::test_a": "REFUTED", "claims/test_x.py::test_b": "SUPPORTED",
                      "claims/test_x.py::test_c": "INCONCLUSIVE", "claims/test_x.py::test_z": "SUPPORTED"}
    with pytest.raises(ClaimsFileError, match=r"holds a 'smoke' run and this is a 'full' run"):
        results.merged(path, fresh, "full")
    assert results.merged(tmp_path / "none.json", fresh, "smoke") == fresh


def test_help_lists_both_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "gate" in out and "report" in out
    assert main(["report", "--help"]) == 0
    assert "--results" in capsys.readouterr().out
