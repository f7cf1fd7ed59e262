"""End to end: a tiny claims session -> `instincts report` (the pinned single-file Allure report) ->
headless Chromium.

The report must render from disk, offline: its first screen shows the catalogue entry and the claims'
counts by verdict (claims only, no engine test), the catalogue entry shows the forest plot, and a
claim's page shows its statement, verdict, formatted effect and CI and its plot; the verdict
categories of allurerc.mjs must show up. Screenshots of the overview and of the claim's page go to
reports/report-overview.png and reports/report-claim.png for humans.

Needs Chromium (Debian package ``chromium``) and the pinned toolchain (``npm ci``; made on demand
when npm is on PATH). Without them the tests skip, unless INSTINCTS_REQUIRE_BROWSER=1 (CI), where
they fail. Select or deselect them with ``-k report_browser``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from instincts import catalogue, cli, fmt
from instincts.htmlreport import make_report, toolchain_problem

ROOT = Path(__file__).resolve().parents[2]
OVERVIEW = ROOT / "reports" / "report-overview.png"
CLAIM_SHOT = ROOT / "reports" / "report-claim.png"
WINDOW = (1400, 1000)
CLAIM_WINDOW = (1400, 2400)  # tall enough for the description's plot
CLAIM_ID = "BS-1"  # run from claims/test_batch_size.py; its statement and question come from claims.json
# an engine test run beside the claim: it must stay out of the report
ENGINE_TEST = "tests/engine/test_fdr.py::test_q_values_are_benjamini_hochberg"
ALLURE_STATUS = {"SUPPORTED": "Passed", "REFUTED": "Failed", "INCONCLUSIVE": "Skipped"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--disable-quic", "--virtual-time-budget=10000"]


def _unavailable(reason: str) -> None:
    if os.environ.get("INSTINCTS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (INSTINCTS_REQUIRE_BROWSER=1 requires the browser test)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    _unavailable("chromium not found (Debian: apt-get install -y chromium)")


@pytest.fixture(scope="module")
def toolchain() -> None:
    problem = toolchain_problem(ROOT)
    if problem is not None and shutil.which("npm") is None:
        _unavailable(f"the pinned Allure toolchain is not installed ({problem}) and npm is not on PATH "
                     f"(apt-get install -y npm; npm ci)")


@pytest.fixture(scope="module")
def session(tmp_path_factory, chromium, toolchain) -> dict:
    """Run BS-1 at the smoke budget (and an engine test beside it) in a fresh pytest process, Allure
    results in the claims' folder; its results and claims.json."""
    out = tmp_path_factory.mktemp("claims-session")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST")) and k != "PYTEST_ADDOPTS"}
    cmd = [sys.executable, "-m", "pytest", "claims/test_batch_size.py", ENGINE_TEST, "-q", "-p", "no:cacheprovider",
           "-k", f"{CLAIM_ID} or {ENGINE_TEST.rsplit('::', 1)[1]}", "--budget", "smoke",
           "--claims-alluredir", str(out / "results"), "--claims-json", str(out / "claims.json")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), f"claims session broke (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    claims = json.loads((out / "claims.json").read_text())["claims"]
    (entry,) = [c for c in claims if c["id"] == CLAIM_ID]
    return {"results": out / "results", "verdict": entry["verdict"], "dir": out, "claim": entry,
            "claims_json": out / "claims.json", "claims": len(claims)}


def _browse(chromium: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _dom_text(chromium: str, url: str, profile: Path) -> str:
    """The rendered page's visible text (scripts and styles dropped, entities decoded, spaces collapsed)."""
    proc = _browse(chromium, url, profile, "--dump-dom")
    assert proc.returncode == 0, f"chromium --dump-dom failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", proc.stdout, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


def _test_result_id(report: Path, name: str) -> str:
    by_id = json.loads((report.parent / "test-results.json").read_text())["byId"]
    ids = [tid for tid, tr in by_id.items() if tr["name"] == name]
    assert ids, f"no test result titled {name!r} in {report.parent / 'test-results.json'}"
    return ids[0]


def _assert_offline(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    remote = re.findall(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//[^"' >]+""", text)
    assert not remote, f"the single-file report loads remote resources: {remote[:3]}"
    assert "googletagmanager" not in text


def _screenshot(chromium: str, url: str, profile: Path, path: Path, window: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    proc = _browse(chromium, url, profile, f"--screenshot={path}", f"--window-size={window[0]},{window[1]}")
    assert proc.returncode == 0 and path.is_file(), f"no screenshot {path}:\n{proc.stderr[-3000:]}"
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == window


def _raw_dom(chromium: str, url: str, profile: Path) -> str:
    """The rendered DOM as markup, attributes (an iframe's srcdoc: the description) entities decoded."""
    proc = _browse(chromium, url, profile, "--dump-dom")
    assert proc.returncode == 0, f"chromium --dump-dom failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return html.unescape(proc.stdout)


def test_report_renders_catalogue_and_claim_in_browser(session, chromium, tmp_path):
    out = tmp_path / "allure-report"
    assert cli.main(["report", "--results", str(session["results"]), "--out", str(out), "--claims",
                     str(session["claims_json"]), "--history", str(tmp_path / "history.jsonl"),
                     "--repo-root", str(ROOT)]) == 0
    report = out / "index.html"
    assert sorted(p.name for p in report.parent.iterdir() if p.suffix in (".html", ".js", ".css")) == ["index.html"]
    _assert_offline(report)
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1
    assert (session["claims_json"].parent / "catalogue.png").is_file()  # written beside claims.json

    # the first screen: the catalogue entry, the claims by verdict, claims only
    claim, verdict = session["claim"], session["verdict"]
    text = _dom_text(chromium, report.as_uri(), tmp_path / "profile-overview")
    assert "Catalogue" in text, f"no catalogue entry on the first screen: {text[:1500]}"
    assert "claims_evidence" in text and f"1 {verdict}" in text, f"no verdict counts: {text[:1500]}"
    total = session["claims"] + 1  # the claims and the catalogue entry; no engine test
    assert f"Total {total}" in text, f"the totals are not the claims' ({total}): {text[:1500]}"
    assert ENGINE_TEST.rsplit("::", 1)[1] not in json.dumps(json.loads((out / "test-results.json").read_text()))
    _screenshot(chromium, report.as_uri(), tmp_path / "profile-shot1", OVERVIEW, WINDOW)

    # one click: the catalogue entry shows the forest plot
    summary_url = f"{report.as_uri()}#/{_test_result_id(report, catalogue.SUMMARY_NAME)}"
    dom = _raw_dom(chromium, summary_url, tmp_path / "profile-summary")
    assert 'alt="catalogue at a glance"' in dom and "data:image/png;base64," in dom, "no catalogue picture"

    # one click: the claim, its verdict, formatted numbers and plot
    url = f"{report.as_uri()}#/{_test_result_id(report, claim['statement'])}"
    text = _dom_text(chromium, url, tmp_path / "profile-dom")
    assert claim["statement"] in text, f"claim title not rendered; page text starts: {text[:1500]}"
    assert ALLURE_STATUS[verdict] in text, f"status {ALLURE_STATUS[verdict]!r} not rendered: {text[:1500]}"
    assert verdict in text, f"verdict {verdict} not rendered: {text[:1500]}"
    assert claim["question"] in text and CLAIM_ID in text  # feature and story labels
    effect = fmt.number(claim["effect"], claim.get("unit", ""))
    ci = fmt.labelled_interval(*claim["ci"], claim["confidence"], claim.get("unit", ""))
    assert effect in text and ci in text, f"formatted effect {effect} / {ci} not rendered: {text[:2500]}"
    dom = _raw_dom(chromium, url, tmp_path / "profile-claim")
    assert "the claim's plot" in dom and "data:image/png;base64," in dom, "the claim's plot is not in its page"
    _screenshot(chromium, url, tmp_path / "profile-shot2", CLAIM_SHOT, CLAIM_WINDOW)


def _result(name: str, status: str, message: str | None, tag: str | None) -> dict:
    """A minimal allure-pytest result file shaped like a claim's (labels, verdict tag, message)."""
    labels = [{"name": "epic", "value": "Synthetic"}, {"name": "feature", "value": "Do categories work?"},
              {"name": "story", "value": name}, {"name": "framework", "value": "pytest"}]
    result = {"uuid": str(uuid.uuid4()), "historyId": uuid.uuid4().hex, "testCaseId": uuid.uuid4().hex,
              "name": name, "fullName": f"synthetic#{name}", "status": status, "stage": "finished",
              "start": 1_700_000_000_000, "stop": 1_700_000_001_000,
              "labels": labels + ([{"name": "tag", "value": tag}] if tag else [])}
    if message is not None:
        result["statusDetails"] = {"message": message, "trace": message}
    return result


def test_report_shows_verdict_categories_in_browser(chromium, toolchain, tmp_path):
    """allurerc.mjs's categories, as the verdict plugin's outcomes reach Allure (message or tag label)."""
    results = tmp_path / "results"
    results.mkdir()
    cases = [
        ("Claim refuted", "refuted claim with message", "failed",
         "AssertionError: assert <Verdict REFUTED — equivalent within ±1.0pp: diff +3.0pp>", "refuted"),
        ("Claim refuted", "refuted claim by tag only", "failed", None, "refuted"),
        ("Claim inconclusive", "inconclusive claim", "skipped", "INCONCLUSIVE — equivalent within ±1.0pp: ...",
         "inconclusive"),
        ("Claim inconclusive", "strict inconclusive claim", "failed",
         "claim X-1 INCONCLUSIVE (--strict-claims) — ...", "inconclusive"),
        ("Infrastructure error", "broken claim", "broken", "RuntimeError: CUDA error: out of memory", None),
        ("Infrastructure error", "failure outside the verdict", "failed", "KeyError: 'test_accuracy'", None),
        (None, "supported claim", "passed", None, "supported"),
    ]
    for _, name, status, message, tag in cases:
        r = _result(name, status, message, tag)
        (results / f"{r['uuid']}-result.json").write_text(json.dumps(r))
    report = make_report(results, tmp_path / "allure-report", ROOT, history=tmp_path / "history.jsonl")

    text = _dom_text(chromium, f"{report.as_uri()}#/categories", tmp_path / "profile")
    categories = ["Claim refuted", "Claim inconclusive", "Infrastructure error"]
    for category in categories:
        assert category in text, f"category {category!r} not rendered: {text[:2000]}"
    bounds = [text.index(c) for c in categories] + [len(text)]
    for category, name, *_ in cases:
        if category is None:
            assert name not in text, f"{name!r} must not be in any category"
            continue
        i = categories.index(category)
        assert name in text[bounds[i]:bounds[i + 1]], f"{name!r} not listed under {category!r}: {text[:2000]}"
