"""Where a run's Allure results go: only claims reach the claims' folder (default
<rootdir>/reports/allure-results, the ``claims_alluredir`` ini option, ``--claims-alluredir``;
``--alluredir`` wins), a run without claims leaves it alone, and without allure-pytest claims still run.

Allure's listener is process-wide, so every session here runs in a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instincts.report import ALLURE_MISSING, NODEID_LABEL, claim_nodeid, publish_claims

pytest_plugins = ["pytester"]

MIXED = '''
import numpy as np
import pytest
from instincts import Equivalent, claim


def noise(seed):
    return float(np.random.default_rng(seed).normal())


@claim("U-1", "identical arms are equivalent", section="User", question="Are twins equal?")
def test_equivalent(experiment):
    assert experiment.compare(noise, lambda s: noise(s) + 0.01 * noise(s + 99), metric="value",
                              expect=Equivalent(margin=0.1))


@claim("U-2", "a claim that needs {a GPU}", section="User", question="Does it skip?")
def test_skipped(experiment):
    pytest.skip("needs CUDA")


def test_plain_unit_test():
    print("captured output becomes an attachment")
'''

PLAIN = "def test_plain():\n    print('captured')\n"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    tmp = pytester.path / "tmp"
    tmp.mkdir(exist_ok=True)
    pytester._monkeypatch.setenv("TMPDIR", str(tmp))  # the staging folder lands here, so its removal shows
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def _results(folder: Path) -> dict[str, dict]:
    """Allure results by title."""
    return {(doc := json.loads(p.read_text()))["name"]: doc for p in folder.glob("*-result.json")}


def _referenced(folder: Path) -> set[str]:
    def sources(node: dict) -> set[str]:
        found = {a["source"] for a in node.get("attachments", ())}
        return found.union(*(sources(s) for s in node.get("steps", ())))

    docs = [json.loads(p.read_text()) for p in folder.glob("*-result.json")]
    containers = [json.loads(p.read_text()) for p in folder.glob("*-container.json")]
    fixtures = [f for c in containers for f in c.get("befores", []) + c.get("afters", [])]
    return set().union(*(sources(d) for d in docs + fixtures))


def test_only_claims_reach_the_default_folder_under_xdist(pytester: pytest.Pytester):
    pytester.makepyfile(test_mixed=MIXED)
    result = _run(pytester, "-n", "2")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    folder = pytester.path / "reports" / "allure-results"
    result.stdout.fnmatch_lines([f"allure results: {folder}"])
    results = _results(folder)
    assert set(results) == {"identical arms are equivalent", "a claim that needs {a GPU}"}
    assert {r["status"] for r in results.values()} == {"passed", "skipped"}
    skipped = {(label["name"], label["value"]) for label in results["a claim that needs {a GPU}"]["labels"]}
    assert {("epic", "User"), ("feature", "Does it skip?"), ("story", "U-2"),
            (NODEID_LABEL, "test_mixed.py::test_skipped")} <= skipped
    names = [label["name"] for label in results["identical arms are equivalent"]["labels"]]
    assert names.count("epic") == names.count("story") == names.count(NODEID_LABEL) == 1
    attachments = {p.name for p in folder.glob("*-attachment*")}
    assert attachments and attachments == _referenced(folder)  # every claim attachment, no stray one
    for container in folder.glob("*-container.json"):
        uuids = {r["uuid"] for r in results.values()}
        assert set(json.loads(container.read_text())["children"]) <= uuids
    assert (folder / "environment.properties").is_file()
    assert not list((pytester.path / "tmp").glob("instincts-allure-*"))  # staging removed


def test_a_run_without_claims_leaves_the_claims_folder_alone(pytester: pytest.Pytester):
    folder = pytester.path / "reports" / "allure-results"
    folder.mkdir(parents=True)
    (folder / "old-result.json").write_text("{}")
    pytester.makepyfile(test_plain=PLAIN)
    assert _run(pytester).ret == pytest.ExitCode.OK
    assert [p.name for p in folder.iterdir()] == ["old-result.json"]


def test_ini_option_then_cli_flag_choose_the_folder_and_alluredir_wins(pytester: pytest.Pytester):
    pytester.makepyfile(test_mixed=MIXED)
    pytester.makeini("[pytest]\nclaims_alluredir = out/ini\n")
    assert _run(pytester, "-k", "equivalent or plain").ret == pytest.ExitCode.OK
    assert set(_results(pytester.path / "out" / "ini")) == {"identical arms are equivalent"}
    assert not (pytester.path / "reports" / "allure-results").exists()

    assert _run(pytester, "-k", "equivalent", "--claims-alluredir", "cli").ret == pytest.ExitCode.OK
    assert set(_results(pytester.path / "cli")) == {"identical arms are equivalent"}

    # --alluredir is allure-pytest's own option: every test goes there, the claims with their labels
    assert _run(pytester, "-k", "equivalent or plain", "--alluredir", "own").ret == pytest.ExitCode.OK
    own = _results(pytester.path / "own")
    assert set(own) == {"identical arms are equivalent", "test_plain_unit_test"}
    assert claim_nodeid(own["identical arms are equivalent"]) == "test_mixed.py::test_equivalent"
    assert claim_nodeid(own["test_plain_unit_test"]) is None

    result = _run(pytester, "-k", "equivalent", "--claims-alluredir", "none", "--claims-json", "c.json")
    assert result.ret == pytest.ExitCode.OK
    assert "allure results:" not in result.stdout.str()
    assert json.loads((pytester.path / "c.json").read_text())["claims"][0]["verdict"] == "SUPPORTED"


def test_without_allure_pytest_claims_run_and_a_note_says_so(pytester: pytest.Pytester):
    pytester.makepyfile(test_mixed=MIXED)
    result = _run(pytester, "-p", "no:allure_pytest", "--claims-json", "c.json")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines([f"note: {ALLURE_MISSING}"])
    assert not (pytester.path / "reports" / "allure-results").exists()
    verdicts = {c["id"]: c["verdict"] for c in json.loads((pytester.path / "c.json").read_text())["claims"]}
    assert verdicts == {"U-1": "SUPPORTED", "U-2": "SKIPPED"}


def _write(folder: Path, name: str, doc: dict) -> None:
    (folder / name).write_text(json.dumps(doc))


def test_publish_claims_moves_claims_with_their_attachments_and_drops_the_rest(tmp_path: Path):
    staging, final = tmp_path / "staging", tmp_path / "final"
    staging.mkdir()
    final.mkdir()
    (final / "old-result.json").write_text("{}")
    claim = {"uuid": "c1", "name": "claim", "labels": [{"name": NODEID_LABEL, "value": "t.py::c"}],
             "attachments": [{"source": "a1-attachment.png"}],
             "steps": [{"name": "s", "attachments": [{"source": "a2-attachment.txt"}]}]}
    plain = {"uuid": "p1", "name": "plain", "labels": [{"name": "suite", "value": "t"}],
             "attachments": [{"source": "a3-attachment.txt"}]}
    _write(staging, "c1-result.json", claim)
    _write(staging, "p1-result.json", plain)
    _write(staging, "k1-container.json", {"uuid": "k1", "children": ["c1", "p1"],
                                          "befores": [{"name": "fx", "attachments": [{"source": "a4-attachment"}]}]})
    _write(staging, "k2-container.json", {"uuid": "k2", "children": ["p1"]})
    for name in ("a1-attachment.png", "a2-attachment.txt", "a3-attachment.txt", "a4-attachment"):
        (staging / name).write_text(name)

    assert publish_claims(staging, final) == 1
    assert sorted(p.name for p in final.iterdir()) == ["a1-attachment.png", "a2-attachment.txt", "a4-attachment",
                                                       "c1-result.json", "k1-container.json"]
    assert json.loads((final / "k1-container.json").read_text())["children"] == ["c1"]

    # no claim among the results: the final folder keeps what it had
    assert publish_claims(staging, final) == 0
    assert (final / "c1-result.json").is_file()
