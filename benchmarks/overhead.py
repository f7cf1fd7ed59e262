"""What the plugin costs a pytest run that has no claims: an empty project with one trivial test, run
with the plugin and with ``-p no:instincts``, interleaved, the median of each and their difference.

The plugin must import nothing heavy at load (torch, numpy, scipy come with the first claim; see
tests/engine/test_lazy_imports.py); this prints what that buys, in the environment of ``--python``
(default: this interpreter; e.g. the example project's venv that ``make example`` builds).
Run it on a quiet machine: ``python -m benchmarks.overhead [--python PATH] [--runs 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TARGET_S = 0.3  # issue 18: an empty run may cost at most this much more with the plugin


def one_run(python: str, folder: Path, extra: Sequence[str]) -> float:
    """Wall seconds of one ``python -m pytest -q`` in ``folder``; raises when pytest fails."""
    start = time.perf_counter()
    proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=folder,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(extra)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr}")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n")[0])
    p.add_argument("--python", default=sys.executable, help="the interpreter whose environment has the plugin")
    p.add_argument("--runs", type=int, default=15, help="runs of each kind, interleaved (default 15)")
    args = p.parse_args(argv)
    if args.runs < 3:
        p.error(f"--runs {args.runs} is not allowed: give 3 or more (the median needs a few runs)")
    kinds = {"with the plugin": [], "-p no:instincts": ["-p", "no:instincts"]}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="instincts-overhead-") as tmp:
        folder = Path(tmp)
        (folder / "test_trivial.py").write_text("def test_trivial():\n    assert 1 + 1 == 2\n")
        for extra in kinds.values():  # one warm-up each: the file cache, .pyc files
            one_run(args.python, folder, extra)
        for _ in range(args.runs):
            for kind, extra in kinds.items():
                times[kind].append(one_run(args.python, folder, extra))
    print(f"\n## an empty pytest run ({args.runs} runs each, interleaved; {args.python})")
    print(f"{'run':<18} {'median s':>9} {'min s':>7} {'max s':>7}")
    for kind, values in times.items():
        print(f"{kind:<18} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")
    with_plugin, without = (statistics.median(v) for v in times.values())
    paired = statistics.median(a - b for a, b in zip(*times.values()))
    print(f"plugin overhead: {with_plugin - without:+.3f} s (medians), {paired:+.3f} s (median of paired "
          f"differences); target < {TARGET_S} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
