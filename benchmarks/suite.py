"""The claim suite serially against ``pytest -n`` (and, with ``--dask``, a Dask LocalCluster): wall
time, and verdicts that must be identical.

Legs, as ``make claims`` runs the catalogue: the non-timing claims (``-m "not timing"``) serially,
with ``-n W`` (the committed baseline's durations order them, ``--claims-baseline``: longest first,
one at a time) and, with ``--dask``, in one pytest process on ``dask-local`` with W workers (a claim's
arms train side by side on the cluster); then the timing claims alone (``-m timing``), once: they
must not share the cores, so every way of running the catalogue runs them the same way, and the
whole-catalogue ratio adds their time to both sides. Each leg is a fresh ``python -m pytest``
subprocess with its own empty run cache (``--claims-cache-dir``) and claims.json, so no leg reuses
another's trainings. Verdicts and one-line summaries (effect, CI) are compared per node id: every
leg trains with one torch thread per trial (``--claims-threads``), so they should be identical.
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
    p.add_argument("--dask", action="store_true", help="also run the non-timing claims on dask-local with as many "
                   "workers as --workers (needs instincts[dask]; --workers must then be a number)")
    p.add_argument("--keep", type=Path, default=None, help="keep each leg's run cache and claims.json in this folder")
    p.add_argument("--baseline", type=Path, default=ROOT / "reports" / "baseline" / "smoke.json",
                   help="baseline whose durations order the parallel run (default reports/baseline/smoke.json)")


def run(args: argparse.Namespace, quick: bool = False) -> int:
    """The legs, the timing table and the verdict checks; 1 when verdicts differ or a leg broke."""
    paths = args.paths or (["claims/test_recipes.py"] if quick else ["claims"])
    w = args.workers
    if args.dask and not str(w).isdigit():
        raise SystemExit(f"--workers {w!r} is not allowed with --dask: give the number of workers, e.g. 2")
    print(f"\n## claim suite ({args.budget} budget, {' '.join(paths)}"
          f"{' -k ' + repr(args.keyword) if args.keyword else ''}): serial vs -n {w}"
          f"{f' vs dask-local {w} workers' if args.dask else ''}")
    baseline = ["--claims-baseline", str(args.baseline)]
    legs = {"serial": (None, ["-m", "not timing", *baseline]), f"-n {w}": (w, ["-m", "not timing", *baseline])}
    if args.dask:
        legs[f"dask-local {w} workers"] = (None, ["-m", "not timing", *baseline, "--claims-executor", "dask-local",
                                                  "--dask-workers", w])
    legs["timing claims alone"] = (None, ["-m", "timing", *baseline])
    results = {}
    with tempfile.TemporaryDirectory(prefix="instincts-suite-") as tmp:
        folder = Path(args.keep or tmp)
        for label, (workers, extra) in legs.items():
            name = label.replace(" ", "_")
            cache, out = folder / f"cache-{name}", folder / f"claims-{name}.json"
            seconds, rc, tail = run_once(pytest_command(paths, workers, cache, out, args.budget, args.keyword, extra),
                                         label)
            results[label] = (seconds, 0 if rc == 5 else rc, tail, verdicts(out))  # 5: no claim selected
    print(f"{'leg':<24} {'wall s':>8} {'exit':>5} {'claims':>7}")
    for label, (sec, rc, _, v) in results.items():
        print(f"{label:<24} {sec:8.1f} {rc:>5} {len(v):>7}")
    broken = [(label, rc, tail) for label, (_, rc, tail, _) in results.items() if rc not in (0, 1)]
    timing = results.pop("timing claims alone")
    (s_sec, _, _, s_v), p_sec = results["serial"], results[f"-n {w}"][0]
    print(f"speed-up serial / -n {w}, non-timing claims: {s_sec / p_sec:.2f}x (target: >= 1.8x on 2 cores)")
    print(f"whole catalogue, timing claims alone after each ({timing[0]:.0f} s): "
          f"{(s_sec + timing[0]) / (p_sec + timing[0]):.2f}x")
    if args.dask:
        d_sec = results[f"dask-local {w} workers"][0]
        print(f"in-process -n {w} / dask-local {w} workers, non-timing claims: {p_sec / d_sec:.2f}x "
              "(> 1: dask-local is faster)")
    counts: dict[str, int] = {}
    for verdict, _ in [*s_v.values(), *timing[3].values()]:
        counts[verdict] = counts.get(verdict, 0) + 1
    shown = ", ".join(f"{k.lower()} {n}" for k, n in sorted(counts.items()))
    print(f"serial verdicts (timing claims included): {shown}")
    status = 0 if s_v and not broken else 1
    for label, (_, _, _, v) in results.items():
        if label == "serial":
            continue
        verdict_diffs, line_diffs = compare(s_v, v)
        if verdict_diffs:
            status = 1
            print(f"serial vs {label}: verdicts DIFFER in {len(verdict_diffs)} of {len(s_v)} claims:\n"
                  + "\n".join(verdict_diffs))
        else:
            print(f"serial vs {label}: verdicts identical in {len(s_v)} of {len(s_v)} claims")
        if line_diffs:
            print(f"same verdict, different numbers in {len(line_diffs)} claims:\n" + "\n".join(line_diffs))
    for label, rc, tail in broken:
        print(f"{label} exited {rc} (pytest: 0 all passed, 1 some failed; more is an error):\n{tail}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__.split("\n")[0])
    add_arguments(p)
    p.add_argument("--quick", action="store_true", help="only claims/test_recipes.py (several short claims)")
    args = p.parse_args(argv)
    return run(args, quick=args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
