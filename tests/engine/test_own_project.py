"""The plugin in a project of its own, run in a subprocess with another interpreter if asked.

``INSTINCTS_USER_PYTHON`` names the python of a plugin user's environment (instincts installed from
a wheel, plus pytest-rerunfailures, flaky, pytest-randomly, pytest-timeout and pytest-cov for the
good-neighbour test); CI sets it to the example project's fresh venv. Without it the tests use this
interpreter and skip, saying why, what it lacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON = os.environ.get("INSTINCTS_USER_PYTHON") or sys.executable
NEIGHBOURS = {"pytest_rerunfailures": "pytest-rerunfailures", "flaky": "flaky", "pytest_randomly": "pytest-randomly",
              "pytest_timeout": "pytest-timeout", "pytest_cov": "pytest-cov"}

CLAIMS = '''
import numpy as np
from instincts import Superior, claim


def noise(seed):
    return float(np.random.default_rng(seed).normal())


def shifted(seed):
    return noise(seed) + 1.0 + 0.3 * float(np.random.default_rng(seed + 99).normal())


def worse(seed):
    return noise(seed) - 1.0 + 0.3 * float(np.random.default_rng(seed + 98).normal())


def other(seed):
    return float(np.random.default_rng(seed + 1000).normal())


@claim("N-1", "a shift is superior")
def test_supported(experiment):
    assert experiment.compare(shifted, noise, metric="value", expect=Superior())


@claim("N-2", "a worse arm is superior")
def test_refuted(experiment):
    assert experiment.compare(worse, noise, metric="value", expect=Superior())


@claim("N-3", "independent noise is superior")
def test_inconclusive(experiment):
    experiment.compare(other, noise, metric="value", expect=Superior())


def test_plain_flaky_test_may_rerun():
    import random

    assert random.random() < 2  # passes; only here so that the rerun plugins have a test that is not a claim
'''


def missing_modules(modules: list[str]) -> list[str]:
    code = ("import importlib.util, json\n"
            f"print(json.dumps([m for m in {modules!r} if importlib.util.find_spec(m) is None]))")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def run_pytest(project: Path, *args: str, out: str = "c.json") -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--claims-no-cache", "--claims-json", out, *args]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    doc = json.loads((project / out).read_text()) if (project / out).exists() else {"claims": []}
    return proc, doc


def verdicts(doc: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in doc["claims"]}


def test_rerun_and_random_order_plugins_change_no_verdict(tmp_path: Path):
    missing = missing_modules(list(NEIGHBOURS))
    if missing:
        pytest.skip(f"{PYTHON} lacks {', '.join(NEIGHBOURS[m] for m in missing)}: pip install them there, or set "
                    "INSTINCTS_USER_PYTHON to a python that has them")
    (tmp_path / "test_claims.py").write_text(CLAIMS)
    expected = {"N-1": "SUPPORTED", "N-2": "REFUTED", "N-3": "INCONCLUSIVE"}
    alone, doc = run_pytest(tmp_path, "-p", "no:randomly", "-p", "no:flaky", "-p", "no:rerunfailures")
    assert verdicts(doc) == expected, alone.stdout[-3000:]

    reruns, doc = run_pytest(tmp_path, "-p", "no:flaky", "--reruns", "2", "--timeout", "300", "--cov",
                             out="reruns.json")
    assert verdicts(doc) == expected, reruns.stdout[-3000:]
    assert len(doc["claims"]) == 3  # one record per claim
    assert " RERUN" not in reruns.stdout and "rerun" not in reruns.stdout.splitlines()[-1], reruns.stdout[-3000:]
    assert "claims ran once: rerunfailures do not rerun claims" in reruns.stdout
    assert "Using --randomly-seed=" in reruns.stdout

    forced, doc = run_pytest(tmp_path, "-p", "no:flaky", "--force-reruns", "3", out="forced.json")
    assert verdicts(doc) == expected and len(doc["claims"]) == 3, forced.stdout[-3000:]
    assert " RERUN" not in forced.stdout

    flaky, doc = run_pytest(tmp_path, "-p", "no:rerunfailures", "--force-flaky", "--max-runs", "3",
                            out="flaky.json")
    assert verdicts(doc) == expected and len(doc["claims"]) == 3, flaky.stdout[-3000:]
    assert "claims ran once: flaky do not rerun claims" in flaky.stdout
    assert "test_refuted failed (2 runs remaining" not in flaky.stdout

    for seed in ("1", "12345"):  # another order and another reseeding of random, numpy and torch
        shuffled, doc = run_pytest(tmp_path, "-p", "no:flaky", "-p", "no:rerunfailures", f"--randomly-seed={seed}",
                                   out=f"random{seed}.json")
        assert verdicts(doc) == expected, shuffled.stdout[-3000:]


# -- the report outside the checkout ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_allure_files_are_the_checkouts():
    """instincts/allure/ ships copies of the root allurerc.mjs, package.json and package-lock.json."""
    from instincts.htmlreport import PACKAGED, TOOLCHAIN_FILES

    for name in TOOLCHAIN_FILES:
        assert (PACKAGED / name).read_bytes() == (ROOT / name).read_bytes(), (
            f"instincts/allure/{name} differs from {name}: cp {name} instincts/allure/")


def _project_with_results(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "reports" / "allure-results").mkdir(parents=True)
    (project / "reports" / "allure-results" / "x-result.json").write_text("{}")
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


def test_without_npm_the_report_says_how_to_get_it_and_writes_nothing_in_the_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from instincts import cli, htmlreport

    project = _project_with_results(tmp_path)
    monkeypatch.chdir(project / "reports")  # a subfolder: the project is found from it
    monkeypatch.setenv("INSTINCTS_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(htmlreport.shutil, "which", lambda name: None)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    with pytest.raises(htmlreport.ReportError, match="npm is not on PATH: install Node.js with npm"):
        htmlreport.make_report(project / "reports" / "allure-results", project / "reports" / "allure-report")
    assert cli.main(["report"]) == 2
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    [folder] = (tmp_path / "cache").iterdir()
    assert folder.name.startswith("allure-3.") and "-node-22." in folder.name
    assert {p.name for p in folder.iterdir()} >= {"allurerc.mjs", "package.json", "package-lock.json"}


def test_the_project_root_is_the_checkout_or_pytests_root(tmp_path: Path):
    from instincts.htmlreport import checkout_root, find_repo_root, project_root

    assert checkout_root(ROOT / "tests" / "engine") == ROOT and project_root(ROOT / "tests") == ROOT
    assert find_repo_root(ROOT / "tests") == ROOT  # make report keeps the checkout's node_modules
    project = _project_with_results(tmp_path)
    assert checkout_root(project) is None
    assert project_root(project / "reports" / "allure-results") == project
    bare = tmp_path / "bare"
    bare.mkdir()
    assert project_root(bare) == bare


def test_a_project_outside_the_repo_gets_verdicts_and_its_report(tmp_path: Path):
    """As a user: one claim file, pytest, instincts report (npm once into the cache, then offline)."""
    import shutil

    if shutil.which("npm") is None and os.environ.get("INSTINCTS_REQUIRE_BROWSER") != "1":
        pytest.skip("npm is not on PATH (apt-get install -y npm): the first report installs Allure with it")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_claims.py").write_text(CLAIMS)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:randomly -p no:flaky -p no:rerunfailures\n")
    env = {**os.environ, "INSTINCTS_CACHE_HOME": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--alluredir", "reports/allure-results"],
                         cwd=project, capture_output=True, text=True, timeout=600, env=env)
    assert "claims (smoke budget, cpu)" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert verdicts(json.loads((project / "reports" / "claims.json").read_text())) == {
        "N-1": "SUPPORTED", "N-2": "REFUTED", "N-3": "INCONCLUSIVE"}
    report = subprocess.run([PYTHON, "-m", "instincts", "report"], cwd=project, capture_output=True, text=True,
                            timeout=900, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    index = Path(report.stdout.strip().splitlines()[-1])
    assert index == project / "reports" / "allure-report" / "index.html" and index.stat().st_size > 100_000
    assert sorted(p.name for p in project.iterdir()) == [".instincts-cache", "pytest.ini", "reports", "test_claims.py"]
    offline = subprocess.run([PYTHON, "-m", "instincts", "report"], cwd=project, capture_output=True, text=True,
                             timeout=600, env={**env, "PATH": str(Path(PYTHON).parent), "npm_config_offline": "true"})
    assert offline.returncode == 0 and "installing" not in offline.stderr, offline.stderr[-3000:]
