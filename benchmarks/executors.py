"""One claim's scaling over Dask workers: the curve a cluster user extrapolates from.

One claim (``-k BS-1`` by default) on ``dask-local`` with 1, 2, ... workers: arm-seeds trained per
second (a seed of one arm of one comparison). The whole smoke catalogue in-process ``-n 2`` against
``dask-local`` with 2 workers (beside the serial run) is ``python -m benchmarks.suite --dask --workers 2``.

Run it on a quiet machine (nothing else training): ``python -m benchmarks.executors [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.suite import pytest_command, run_once


def trials(claims_json: Path) -> int:
    """Arm-seeds a run judged: seeds used x columns (arms or levels), summed over every part."""
    if not claims_json.is_file():
        return 0
    doc = json.loads(claims_json.read_text())
    return sum(len(p["seeds"]) * len(p["labels"]) for c in doc["claims"] for p in c.get("parts") or [])


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
    p.add_argument("--quick", action="store_true", help="-k RC-7 (a short claim) instead of BS-1")
    p.add_argument("--workers", type=int, default=2, help="the most workers (default 2: 1 and 2)")
    p.add_argument("--claim", default=None, help="-k expression of the claim (default BS-1)")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers {args.workers} is not allowed: give 1 or more")
    claim = args.claim or ("RC-7" if args.quick else "BS-1")
    with tempfile.TemporaryDirectory(prefix="instincts-executors-") as tmp:
        return run_scaling(claim, range(1, args.workers + 1), Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
