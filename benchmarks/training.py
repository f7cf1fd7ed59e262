"""Vectorised seeds against a loop of per-seed models: the measurements behind ``choose_strategy``.

Each cell trains K seeds of one model on sklearn digits with the engine's trainer (``instincts.fit``)
and a forced strategy, side by side in one process, and reports loop time / strategy time (above 1:
faster than the loop); the time is the whole ``fit`` call, evaluation included, as a user pays it.
``auto`` is what the engine picks by itself, so its column shows that the rule never takes the
slower strategy. Timings are the best of ``--reps`` runs after a warm-up, so one-time costs
(allocator, first-call dispatch) are left out; on a busy machine the ratios still hold better than
the absolute times, because every strategy is slowed alike.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fixtures.digits import digits_split
from instincts import Recipe, choose_strategy, fit
from models.digit_cnn import DigitCNN
from models.mlp import MLP

TARGET = ("mlp", 16, 3.0)  # the target: vectorised MLP >= 3x the loop at K=16 on 2 CPU cores


def small_cnn() -> nn.Module:
    """DigitCNN at width 8 on flat digits: two 3x3 convolutions, pooling, a linear head."""
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), DigitCNN(width=8))


MODELS: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "mlp": ("MLP 64-128-10", lambda: MLP(64, 128, 10)),
    "cnn": ("CNN 8-16 conv", small_cnn),
}


@dataclass
class Row:
    """One model at one K: seconds per strategy, and the strategy ``auto`` picks."""

    model: str
    k: int
    seconds: dict[str, float]
    auto: str

    def speedup(self, strategy: str) -> float | None:
        s = self.seconds.get(strategy)
        return None if s is None else self.seconds["loop"] / s


def strategies_for(model: nn.Module) -> list[str]:
    """The forced strategies worth timing: bmm only exists for plain MLPs."""
    return ["loop", "vmap", "bmm"] if choose_strategy(model, 2) == "bmm" else ["loop", "vmap"]


def time_fit(make: Callable[[], nn.Module], k: int, strategy: str, recipe: Recipe, reps: int) -> float:
    """Best wall time of ``reps`` trainings of seeds 0..k-1."""
    x, y, xt, yt = digits_split()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fit(make, list(range(k)), (x, y), recipe, tests={"test": (xt, yt)}, strategy=strategy)
        best = min(best, time.perf_counter() - start)
    return best


def measure(models: Sequence[str], ks: Sequence[int], epochs: int, reps: int) -> list[Row]:
    recipe = Recipe(batch_size=32, lr=1e-3, epochs=epochs)
    warm = Recipe(batch_size=32, lr=1e-3, epochs=1)
    rows = []
    for name in models:
        label, make = MODELS[name]
        strategies = strategies_for(make())
        for strategy in strategies:  # warm-up: first calls pay one-time costs
            time_fit(make, 4, strategy, warm, 1)
        for k in ks:
            seconds = {s: time_fit(make, k, s, recipe, reps) for s in strategies}
            row = Row(label, k, seconds, choose_strategy(make(), k))
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


HEADER = (f"{'model':<15} {'K':>3}  {'loop s':>7} {'vmap s':>7} {'bmm s':>7}   {'vmap x':>6} {'bmm x':>6}   "
          f"{'auto':<5} {'auto x':>6}")


def format_row(row: Row) -> str:
    def sec(s: str) -> str:
        return f"{row.seconds[s]:7.2f}" if s in row.seconds else f"{'-':>7}"

    def ratio(s: str) -> str:
        r = row.speedup(s)
        return f"{r:5.2f}x" if r is not None else f"{'-':>6}"

    return (f"{row.model:<15} {row.k:>3}  {sec('loop')} {sec('vmap')} {sec('bmm')}   {ratio('vmap')} {ratio('bmm')}   "
            f"{row.auto:<5} {ratio(row.auto)}")


def target_line(rows: Sequence[Row]) -> str:
    name, k, want = TARGET
    label = MODELS[name][0]
    hits = [r for r in rows if r.model == label and r.k == k]
    if not hits:
        return f"target (vectorised {label} >= {want:.0f}x the loop at K={k}): not measured in this run"
    best = max(x for x in (hits[0].speedup("bmm"), hits[0].speedup("vmap")) if x is not None)
    verdict = "met" if best >= want else "NOT met"
    return f"target: vectorised {label} >= {want:.0f}x the loop at K={k}: {best:.2f}x ({verdict})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__.split("\n")[0])
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ks", type=int, nargs="+", default=None, help="seed counts K (default 4 16 32)")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=None, help="default: mlp cnn")
    p.add_argument("--epochs", type=int, default=None, help="epochs per training (default 3; --quick 1)")
    p.add_argument("--reps", type=int, default=None, help="timed repeats, best kept (default 2; --quick 1)")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch threads, one table each (default: 1 and the core count; --quick 1)")


def run(args: argparse.Namespace, quick: bool = False) -> int:
    """Print one table per thread count; returns 0 (a measurement: the target is printed, not asserted)."""
    ks = args.ks or [4, 16, 32]
    for name, value in (("--ks", min(ks)), ("--epochs", args.epochs or 1), ("--reps", args.reps or 1),
                        ("--threads", min(args.threads or [1]))):
        if value < 1:
            raise SystemExit(f"{name} {value} is not allowed: use integers >= 1")
    cores = torch.get_num_threads()
    threads = args.threads or ([1] if quick else sorted({1, cores}))
    epochs = args.epochs or (1 if quick else 3)
    reps = args.reps or (1 if quick else 2)
    before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            print(f"\n## vectorised seeds vs a loop: {n} torch thread(s), {epochs} epoch(s), best of {reps}, "
                  f"digits 1,437 train, batch 32, Adam; 'x' = loop time / strategy time")
            print(HEADER, flush=True)
            rows = measure(args.models or ["mlp", "cnn"], ks, epochs, reps)
            print(target_line(rows))
    finally:
        torch.set_num_threads(before)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat, 1 thread")
    args = p.parse_args(argv)
    return run(args, quick=args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
