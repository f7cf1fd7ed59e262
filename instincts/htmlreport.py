"""The HTML report: Allure 3 (pinned in package.json / package-lock.json) turns reports/allure-results
into one self-contained ``index.html`` that opens from disk, offline.

Usage (the command line is ``instincts.cli``)::

    instincts report [--results reports/allure-results] [--out reports/allure-report]
                     [--history reports/history.jsonl] [--repo-root .]

The Allure command line is an npm package. ``npm ci`` installs the exact versions of the lock file
into ``node_modules/``, including a Node 22 binary (npm package ``node``): Allure 3.15-3.18 needs
``Iterator.prototype.toArray``, which Node 20 lacks. ``make_report`` runs ``npm ci`` itself when the
toolchain is missing or stale, then ``allure generate`` with ``node_modules/.bin`` first on PATH so
Allure's ``#!/usr/bin/env node`` finds the pinned Node. The configuration is ``allurerc.mjs``
(awesome plugin, single file, the verdict categories, history in ``reports/history.jsonl``).

Exit status of the command: 0 with the report's path on stdout; 2 for unusable input (no results,
no npm, no package.json, an output folder that is not safe to clean) with one message on stderr;
1 when npm or Allure fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from instincts.errors import ReportError

CONFIG = "allurerc.mjs"
DEFAULT_RESULTS = Path("reports") / "allure-results"
DEFAULT_OUT = Path("reports") / "allure-report"
DEFAULT_HISTORY = Path("reports") / "history.jsonl"
HISTORY_ENV = "INSTINCTS_ALLURE_HISTORY"  # read by allurerc.mjs
NPM_CI_TIMEOUT_S = 900
GENERATE_TIMEOUT_S = 600

# The awesome plugin always embeds Google Analytics (allure 3.18: analyticsEnable is hard-coded);
# an offline report should not call home, so the two script tags are removed after generation.
_ANALYTICS = re.compile(
    r"<script async src=\"https://www\.googletagmanager\.com/gtag/js[^\"]*\"></script>\s*"
    r"<script>\s*window\.dataLayer = window\.dataLayer \|\| \[\];.*?</script>\s*",
    re.S,
)


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding allurerc.mjs and package.json: cwd or a parent, else this checkout."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG).is_file() and (folder / "package.json").is_file():
            return folder
    return Path(__file__).resolve().parents[1]


def _pinned(repo_root: Path) -> dict[str, str]:
    try:
        package = json.loads((repo_root / "package.json").read_text())
    except FileNotFoundError:
        raise ReportError(f"no package.json in {repo_root}: run from the instincts checkout "
                          f"or pass --repo-root") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{repo_root / 'package.json'} is not valid JSON: {exc}") from None
    return {**package.get("dependencies", {}), **package.get("devDependencies", {})}


def toolchain_problem(repo_root: Path) -> str | None:
    """Why node_modules does not hold the pinned toolchain, or None when it does."""
    bin_dir = repo_root / "node_modules" / ".bin"
    for tool in ("allure", "node"):
        if not (bin_dir / tool).exists():
            return f"{bin_dir / tool} is missing"
    for name, version in _pinned(repo_root).items():
        manifest = repo_root / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text()).get("version")
        except (OSError, json.JSONDecodeError):
            return f"{manifest} is missing or unreadable"
        if installed != version:
            return f"node_modules has {name} {installed}, package.json pins {version}"
    return None


def ensure_toolchain(repo_root: Path) -> None:
    """Run ``npm ci`` (exact versions from package-lock.json) when node_modules is missing or stale."""
    problem = toolchain_problem(repo_root)
    if problem is None:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ReportError(f"the pinned Allure toolchain is not installed ({problem}) and npm is not on PATH: "
                          f"install Node.js with npm (Debian: apt-get install -y npm), then run "
                          f"`npm ci` in {repo_root}")
    if not (repo_root / "package-lock.json").is_file():
        raise ReportError(f"no package-lock.json in {repo_root}: `npm ci` needs the committed lock file")
    print(f"instincts report: installing the pinned Allure toolchain ({problem}): npm ci in {repo_root}",
          file=sys.stderr)
    try:
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=repo_root, capture_output=True,
                              text=True, timeout=NPM_CI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ReportError(f"npm ci in {repo_root} took over {NPM_CI_TIMEOUT_S}s", exit_code=1) from None
    if proc.returncode != 0:
        raise ReportError(f"npm ci in {repo_root} failed (exit {proc.returncode}):\n{_tail(proc)}", exit_code=1)
    problem = toolchain_problem(repo_root)
    if problem is not None:
        raise ReportError(f"npm ci in {repo_root} succeeded but the toolchain is still incomplete: {problem}",
                          exit_code=1)


def _tail(proc: subprocess.CompletedProcess, lines: int = 30) -> str:
    text = ((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()
    return "\n".join(text[-lines:])


def _check_results(results_dir: Path) -> None:
    if not results_dir.is_dir():
        raise ReportError(f"no Allure results folder {results_dir}: run the claims first "
                          f"(python -m pytest claims writes reports/allure-results)")
    if not any(results_dir.glob("*-result.json")):
        raise ReportError(f"{results_dir} holds no *-result.json files: run the claims first "
                          f"(python -m pytest claims writes reports/allure-results)")


def _clean_output(out_dir: Path, protected: list[Path]) -> None:
    """Empty the output folder (``allure generate`` does not), refusing anything that is not a report."""
    for keep in protected:
        if out_dir == keep or out_dir in keep.parents:
            raise ReportError(f"refusing to clean --out {out_dir}: it is or contains {keep}")
    if out_dir == Path(out_dir.anchor) or out_dir == Path.home().resolve():
        raise ReportError(f"refusing to clean --out {out_dir}")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ReportError(f"--out {out_dir} exists and is not a folder")
        entries = list(out_dir.iterdir())
        if entries and not (out_dir / "index.html").exists() and not (out_dir / "summary.json").exists():
            raise ReportError(f"refusing to clean --out {out_dir}: it is not empty and holds no Allure report "
                              f"(no index.html); remove it yourself or choose another folder")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)


def strip_analytics(index: Path) -> bool:
    """Remove the awesome plugin's Google Analytics tags from the report; True if there were any."""
    text = index.read_text(encoding="utf-8")
    stripped, count = _ANALYTICS.subn("", text)
    if count:
        index.write_text(stripped, encoding="utf-8")
    return bool(count)


def make_report(results_dir: Path | str, out_dir: Path | str, repo_root: Path | str | None = None,
                history: Path | str | None = None) -> Path:
    """Generate the single-file Allure report of ``results_dir`` into ``out_dir``; return its index.html.

    ``history`` is the JSON-lines file that carries trends across runs (default
    ``<repo_root>/reports/history.jsonl``); each call appends one entry.
    """
    repo_root = Path(repo_root).resolve() if repo_root is not None else find_repo_root()
    results_dir = Path(results_dir).resolve()
    out_dir = Path(out_dir).resolve()
    history = Path(history).resolve() if history is not None else repo_root / DEFAULT_HISTORY
    if not (repo_root / CONFIG).is_file():
        raise ReportError(f"no {CONFIG} in {repo_root}: pass --repo-root (the instincts checkout)")
    _check_results(results_dir)
    ensure_toolchain(repo_root)
    _clean_output(out_dir, [repo_root, results_dir, history])
    history.parent.mkdir(parents=True, exist_ok=True)

    bin_dir = repo_root / "node_modules" / ".bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           HISTORY_ENV: str(history), "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1", "FORCE_COLOR": "0"}
    cmd = [str(bin_dir / "allure"), "generate", str(results_dir), "--config", str(repo_root / CONFIG),
           "--output", str(out_dir)]
    try:
        proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                              timeout=GENERATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ReportError(f"allure generate took over {GENERATE_TIMEOUT_S}s", exit_code=1) from None
    index = out_dir / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise ReportError(f"allure generate failed (exit {proc.returncode}; command: {' '.join(cmd)}):\n"
                          f"{_tail(proc)}", exit_code=1)
    strip_analytics(index)
    return index
