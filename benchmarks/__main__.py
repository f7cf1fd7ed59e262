"""``python -m benchmarks``: every performance table from one run, ratios side by side.

1. training    vectorised seeds (bmm, vmap, what ``auto`` picks) vs a loop at K = 4, 16, 32, MLP and CNN
2. sequential  seeds used by sequential looks vs a fixed n (``benchmarks.sequential``, if present)
3. suite       the smoke claim suite serially vs ``-n auto``, fresh caches, verdicts compared

``--quick`` takes about 1-2 minutes on a quiet 2-core machine (1 epoch, one thread, fewer simulations,
only claims/test_recipes.py for the suite); the default takes several minutes plus two runs of the
whole claim suite. The exit code is 1 when the suite's verdicts differ between the two runs.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
from collections.abc import Sequence

from benchmarks import suite, training

PARTS = ("training", "sequential", "suite")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 1-2 minute version of every part")
    p.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="run these parts (default: all)")
    training.add_arguments(p.add_argument_group("training (vectorised vs loop)"))
    seq = p.add_argument_group("sequential (seeds saved by sequential looks)")
    seq.add_argument("--sequential-args", default=None,
                     help="arguments for benchmarks.sequential.main, one string (default ''; --quick '--sims 2000')")
    suite.add_arguments(p.add_argument_group("suite (serial vs -n)"))
    return p


def run_sequential(args: argparse.Namespace, quick: bool) -> int:
    """Call ``benchmarks.sequential.main(argv)`` when the module exists; say so when it does not."""
    print("\n## sequential looks vs fixed n")
    try:
        module = importlib.import_module("benchmarks.sequential")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.sequential":
            raise
        print("benchmarks.sequential is missing: no sequential-looks table in this run")
        return 0
    argv = shlex.split(args.sequential_args if args.sequential_args is not None else "--sims 2000" if quick else "")
    try:
        return int(module.main(argv) or 0)
    except SystemExit as exc:  # its own argument parser rejected argv
        print(f"benchmarks.sequential.main({argv}) exited with {exc.code}")
        return int(exc.code) if isinstance(exc.code, int) else 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status = 0
    if "training" in args.only:
        status |= training.run(args, quick=args.quick)
    if "sequential" in args.only:
        status |= run_sequential(args, args.quick)
    if "suite" in args.only:
        status |= suite.run(args, quick=args.quick)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
