"""The HTML report: Allure 3 (pinned in package.json / package-lock.json) turns reports/allure-results
into one self-contained ``index.html`` that opens from disk, offline.

Usage (the command line is ``instincts.cli``)::

    instincts report [--results reports/allure-results] [--out reports/allure-report]
                     [--history reports/history.jsonl] [--repo-root FOLDER]

The Allure command line is an npm package. ``npm ci`` installs the exact versions of the lock file
into ``node_modules/``, including a Node 22 binary (npm package ``node``): Allure 3.15-3.18 needs
``Iterator.prototype.toArray``, which Node 20 lacks. ``make_report`` runs ``npm ci`` itself when the
toolchain is missing or stale, then ``allure generate`` with ``node_modules/.bin`` first on PATH so
Allure's ``#!/usr/bin/env node`` finds the pinned Node. The configuration is ``allurerc.mjs``
(awesome plugin, single file, the verdict categories, history in ``reports/history.jsonl``).

Where the toolchain lives:

* in the instincts checkout (a folder with allurerc.mjs and package.json, found from the current
  folder up): its own ``node_modules``, as ``make report`` installs it;
* anywhere else (a project that installed the plugin from a wheel): the copies of allurerc.mjs,
  package.json and package-lock.json that ship inside the package (``instincts/allure/``) are put in
  a per-user cache folder, ``~/.cache/instincts/allure-<allure>-node-<node>`` (``$XDG_CACHE_HOME``
  or ``$INSTINCTS_CACHE_HOME`` move it), and ``npm ci`` runs there once; later reports reuse it
  offline. Nothing is written into the project but the report, nor into site-packages.

The default results, report and history paths are under the project's ``reports/``: the checkout,
else the nearest folder from the current one up that holds pytest.ini, pyproject.toml, tox.ini or
setup.cfg (pytest's root), else the current folder.

Exit status of the command: 0 with the report's path on stdout; 2 for unusable input (no results,
no npm, no package.json, an output folder that is not safe to clean) with one message on stderr;
1 when npm or Allure fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from instincts.errors import ReportError

CONFIG = "allurerc.mjs"
PACKAGED = Path(__file__).resolve().parent / "allure"  # the config and the npm pins, shipped as package data
TOOLCHAIN_FILES = (CONFIG, "package.json", "package-lock.json")
PROJECT_MARKERS = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
CACHE_ENV = "INSTINCTS_CACHE_HOME"  # overrides the per-user cache folder (default ~/.cache/instincts)
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


def checkout_root(start: Path | None = None) -> Path | None:
    """The instincts checkout holding the current folder (allurerc.mjs and package.json), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG).is_file() and (folder / "package.json").is_file():
            return folder
    return None


def project_root(start: Path | None = None) -> Path:
    """Where reports/ goes by default: the checkout, else pytest's root (a folder with an ini or
    pyproject file, from the current folder up), else the current folder."""
    here = (start or Path.cwd()).resolve()
    checkout = checkout_root(here)
    if checkout is not None:
        return checkout
    for folder in (here, *here.parents):
        if any((folder / marker).is_file() for marker in PROJECT_MARKERS):
            return folder
    return here


def find_repo_root(start: Path | None = None) -> Path:
    """The folder with the Allure config and its node_modules: the checkout, else the per-user cache
    folder prepared from the packaged copies."""
    return checkout_root(start) or packaged_toolchain()


def cache_home() -> Path:
    """The per-user cache folder: $INSTINCTS_CACHE_HOME, else $XDG_CACHE_HOME/instincts, else ~/.cache/instincts."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache").resolve() / "instincts"


def packaged_toolchain(home: Path | None = None) -> Path:
    """The cache folder for the packaged pins, holding current copies of the config and the lock file
    (``npm ci`` fills its node_modules on first use)."""
    pins = _pinned(PACKAGED)
    folder = (home or cache_home()) / f"allure-{pins.get('allure', 'unknown')}-node-{pins.get('node', 'unknown')}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in TOOLCHAIN_FILES:
            data = (PACKAGED / name).read_bytes()
            target = folder / name
            if not target.is_file() or target.read_bytes() != data:
                from instincts.cache import write_atomic

                write_atomic(target, data, mode=0o644)
    except OSError as exc:
        raise ReportError(f"cannot prepare the Allure toolchain folder {folder}: {exc} (set {CACHE_ENV} to a "
                          "writable folder)") from None
    return folder


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One ``npm ci`` at a time in a toolchain folder (two reports made at once share the install)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    with open(folder / ".instincts-npm.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pinned(repo_root: Path) -> dict[str, str]:
    try:
        package = json.loads((repo_root / "package.json").read_text())
    except FileNotFoundError:
        raise ReportError(f"no package.json in {repo_root}: pass --repo-root a folder with allurerc.mjs, "
                          "package.json and package-lock.json, or leave it out to use the packaged ones") from None
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
    if toolchain_problem(repo_root) is None:
        return  # installed: no npm, no network
    with _locked(repo_root):
        _install(repo_root)


def _install(repo_root: Path) -> None:
    problem = toolchain_problem(repo_root)
    if problem is None:
        return  # another process installed it while this one waited
    npm = shutil.which("npm")
    if npm is None:
        raise ReportError(f"the pinned Allure toolchain is not installed ({problem}) and npm is not on PATH: "
                          f"install Node.js with npm (Debian: apt-get install -y npm; others: https://nodejs.org), "
                          f"then run instincts report again (it runs `npm ci` in {repo_root} once; later reports "
                          "work offline)")
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
                          "(python -m pytest --alluredir reports/allure-results)")
    if not any(results_dir.glob("*-result.json")):
        raise ReportError(f"{results_dir} holds no *-result.json files: run the claims first "
                          "(python -m pytest --alluredir reports/allure-results)")


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

    ``repo_root`` holds the Allure config and its node_modules (default: the checkout, else the packaged
    toolchain's cache folder). ``history`` is the JSON-lines file that carries trends across runs
    (default ``<project>/reports/history.jsonl``, see ``project_root``); each call appends one entry.
    """
    results_dir = Path(results_dir).resolve()
    _check_results(results_dir)  # before anything is installed
    repo_root = Path(repo_root).resolve() if repo_root is not None else find_repo_root()
    out_dir = Path(out_dir).resolve()
    history = Path(history).resolve() if history is not None else project_root() / DEFAULT_HISTORY
    if not (repo_root / CONFIG).is_file():
        raise ReportError(f"no {CONFIG} in {repo_root}: pass --repo-root a folder with allurerc.mjs, package.json "
                          "and package-lock.json, or leave it out to use the packaged ones")
    ensure_toolchain(repo_root)
    _clean_output(out_dir, [repo_root, results_dir, history, project_root()])
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
