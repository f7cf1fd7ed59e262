"""The claim suite serially against ``pytest -n``: wall time, and verdicts that must be identical.

Each run is a fresh ``python -m pytest`` subprocess with its own empty run cache
(``--claims-cache-dir``) and its own claims.json (``--claims-json``), so neither run reuses the
other's trainings and both are judged from scratch. Verdicts are compared per test node id;
the one-line summaries (effect, CI) are compared too and any difference is listed, since workers
run one torch thread each where the serial run uses all cores, and float sums may round apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_command(paths: Sequence[str], workers: str | None, cache_dir: Path, claims_json: Path,
                   budget: str, keyword: str | None, extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line for one run: serial (``-p no:xdist``) or ``-n workers``, then ``extra``."""
    cmd = [sys.executable, "-m", "pytest", *paths, "-q", "--budget", budget, "-p", "no:randomly",
           "--claims-cache-dir", str(cache_dir), "--claims-json", str(claims_json)]
    cmd += ["-p", "no:xdist"] if workers is None else ["-n", workers]
    return cmd + (["-k", keyword] if keyword else []) + list(extra)


def run_once(cmd: list[str], label: str) -> tuple[float, int, str]:
    """Wall seconds, exit code and the output's last lines of one pytest run."""
    print(f"running {label}: {' '.join(cmd[1:])}", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return seconds, proc.returncode, tail


def verdicts(claims_json: Path) -> dict[str, tuple[str, str]]:
    """node id -> (verdict, one-line summary) from a claims.json; empty when the run wrote none."""
    if not claims_json.is_file():
        return {}
    doc = json.loads(claims_json.read_text())
    return {c["nodeid"]: (c["verdict"], c.get("line") or c.get("reason") or "") for c in doc["claims"]}


def compare(serial: dict[str, tuple[str, str]], parallel: dict[str, tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(verdict differences, summary-line differences), one text line each."""
    verdict_diffs, line_diffs = [], []
    for node in sorted(set(serial) | set(parallel)):
        a, b = serial.get(node, ("missing", "")), parallel.get(node, ("missing", ""))
        if a[0] != b[0]:
            verdict_diffs.append(f"  {node}: serial {a[0]}, parallel {b[0]}")
        elif a[1] != b[1]:
            line_diffs.append(f"  {node}:\n    serial   {a[1]}\n    parallel {b[1]}")
    return verdict_diffs, line_diffs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--paths", nargs="+", default=None,
                   help="test paths for the suite (default: claims; --quick: claims/test_recipes.py)")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression to select claims")
    p.add_argument("--workers", default="auto", help="pytest -n value for the parallel run (default auto)")
    p.add_argument("--budget", default="smoke", help="claim budget for both runs (default smoke)")


def run(args: argparse.Namespace, quick: bool = False) -> int:
    """Both runs, the timing table and the verdict check; 1 when verdicts differ or a run broke."""
    paths = args.paths or (["claims/test_recipes.py"] if quick else ["claims"])
    print(f"\n## claim suite ({args.budget} budget, {' '.join(paths)}"
          f"{' -k ' + repr(args.keyword) if args.keyword else ''}): serial vs -n {args.workers}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="instincts-suite-") as tmp:
        for label, workers in (("serial", None), (f"-n {args.workers}", args.workers)):
            cache, out = Path(tmp, f"cache-{workers}"), Path(tmp, f"claims-{workers}.json")
            seconds, rc, tail = run_once(pytest_command(paths, workers, cache, out, args.budget, args.keyword), label)
            results[label] = (seconds, rc, tail, verdicts(out))
    (s_sec, s_rc, s_tail, s_v), (p_sec, p_rc, p_tail, p_v) = results.values()
    print(f"{'run':<12} {'wall s':>8} {'exit':>5} {'claims':>7}")
    for label, (sec, rc, _, v) in results.items():
        print(f"{label:<12} {sec:8.1f} {rc:>5} {len(v):>7}")
    print(f"speed-up serial / -n {args.workers}: {s_sec / p_sec:.2f}x (target: >= 1.8x on 2 cores)")
    broken = [f"{label} exited {rc} (pytest: 0 all passed, 1 some failed; more is an error):\n{tail}"
              for label, (sec, rc, tail, _) in results.items() if rc not in (0, 1)]
    verdict_diffs, line_diffs = compare(s_v, p_v)
    counts: dict[str, int] = {}
    for verdict, _ in s_v.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    print("serial verdicts: " + ", ".join(f"{k.lower()} {n}" for k, n in sorted(counts.items())))
    if verdict_diffs:
        print(f"verdicts DIFFER in {len(verdict_diffs)} of {len(s_v)} claims:\n" + "\n".join(verdict_diffs))
    elif s_v:
        print(f"verdicts identical: {len(s_v)} of {len(s_v)} claims")
    if line_diffs:
        print(f"same verdict, different numbers in {len(line_diffs)} claims:\n" + "\n".join(line_diffs))
    for text in broken:
        print(text)
    return 1 if verdict_diffs or broken or not s_v else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__.split("\n")[0])
    add_arguments(p)
    p.add_argument("--quick", action="store_true", help="only claims/test_recipes.py (several short claims)")
    args = p.parse_args(argv)
    return run(args, quick=args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
