"""In-process ``-n 2`` against a Dask LocalCluster of 2 workers, and one claim's scaling over workers.

1. suite    the smoke catalogue (``-m "not timing"``) with ``pytest -n 2`` (in-process trials) and with
            ``pytest --claims-executor dask-local --dask-workers 2`` (one pytest process; a claim's arms
            train side by side on the cluster); fresh caches; wall time, ratio, verdicts compared.
2. scaling  one claim (``-k BS-1`` by default) on ``dask-local`` with 1 and 2 workers: arm-seeds
            trained per second (a seed of one arm of one comparison), the curve a cluster user
            extrapolates from.

Run it on a quiet machine (nothing else training): ``python -m benchmarks.executors [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.suite import compare, pytest_command, run_once, verdicts


def trials(claims_json: Path) -> int:
    """Arm-seeds a run judged: seeds used x columns (arms or levels), summed over every part."""
    if not claims_json.is_file():
        return 0
    doc = json.loads(claims_json.read_text())
    return sum(len(p["seeds"]) * len(p["labels"]) for c in doc["claims"] for p in c.get("parts") or [])


def run_suite(paths: list[str], keyword: str | None, workers: int, tmp: Path) -> int:
    print(f"\n## smoke catalogue ({' '.join(paths)}): in-process -n {workers} vs dask-local {workers} workers")
    marker = ["-m", "not timing"]
    runs = {f"in-process -n {workers}": (str(workers), marker),
            f"dask-local {workers} workers": (None, [*marker, "--claims-executor", "dask-local",
                                                     "--dask-workers", str(workers)])}
    results = {}
    for label, (n, extra) in runs.items():
        out = tmp / f"{label.replace(' ', '_')}.json"
        cmd = pytest_command(paths, n, tmp / f"cache-{label.replace(' ', '_')}", out, "smoke", keyword, extra)
        seconds, rc, tail = run_once(cmd, label)
        results[label] = (seconds, rc, tail, verdicts(out))
    print(f"{'run':<24} {'wall s':>8} {'exit':>5} {'claims':>7}")
    for label, (sec, rc, _, v) in results.items():
        print(f"{label:<24} {sec:8.1f} {rc:>5} {len(v):>7}")
    (a_sec, _, _, a_v), (b_sec, _, _, b_v) = results.values()
    print(f"ratio in-process / dask-local wall time: {a_sec / b_sec:.2f}x (> 1: dask-local is faster)")
    verdict_diffs, line_diffs = compare(a_v, b_v)
    print(f"verdicts DIFFER in {len(verdict_diffs)} claims:\n" + "\n".join(verdict_diffs) if verdict_diffs
          else f"verdicts identical: {len(a_v)} of {len(a_v)} claims")
    if line_diffs:
        print(f"same verdict, different numbers in {len(line_diffs)} claims:\n" + "\n".join(line_diffs))
    broken = [label for label, (_, rc, _, _) in results.items() if rc not in (0, 1)]
    for label in broken:
        print(f"{label} exited {results[label][1]}:\n{results[label][2]}")
    return 1 if verdict_diffs or broken or not a_v else 0


def run_scaling(keyword: str, workers: Sequence[int], tmp: Path) -> int:
    print(f"\n## one claim (-k {keyword}) on dask-local: arm-seeds per second as workers grow")
    rows = []
    for n in workers:
        out = tmp / f"scale-{n}.json"
        cmd = pytest_command(["claims"], None, tmp / f"scale-cache-{n}", out, "smoke", keyword,
                             ["--claims-executor", "dask-local", "--dask-workers", str(n)])
        seconds, rc, tail = run_once(cmd, f"{n} workers")
        if rc not in (0, 1):
            print(f"{n} workers exited {rc}:\n{tail}")
            return 1
        rows.append((n, seconds, trials(out)))
    print(f"{'workers':>7} {'wall s':>8} {'arm-seeds':>9} {'per s':>7} {'speed-up':>8}")
    for n, sec, count in rows:
        print(f"{n:>7} {sec:8.1f} {count:>9} {count / sec:7.2f} {rows[0][1] / sec:7.2f}x")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.executors", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="claims/test_recipes.py for the suite, and -k RC-7 to scale")
    p.add_argument("--workers", type=int, default=2, help="workers of both suite runs (default 2)")
    p.add_argument("--claim", default=None, help="-k expression of the scaling claim (default BS-1)")
    p.add_argument("--only", nargs="+", choices=("suite", "scaling"), default=["suite", "scaling"])
    args = p.parse_args(argv)
    paths = ["claims/test_recipes.py"] if args.quick else ["claims"]
    claim = args.claim or ("RC-7" if args.quick else "BS-1")
    status = 0
    with tempfile.TemporaryDirectory(prefix="instincts-executors-") as tmp:
        if "suite" in args.only:
            status |= run_suite(paths, None, args.workers, Path(tmp))
        if "scaling" in args.only:
            status |= run_scaling(claim, range(1, args.workers + 1), Path(tmp))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
