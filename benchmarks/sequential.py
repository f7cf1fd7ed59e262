"""Seeds saved by sequential looks against a fixed n, on clear, null and borderline effects.

Why: group-sequential looks (``instincts.sequential``) promise to stop early on clear effects
while keeping the error rates of the fixed-n test. This measures both sides of that bargain from
one run of simulated per-seed differences (normal, sd 1): the expected number of seeds used, the
rate of each verdict, and the ratio of seeds used to the fixed design's n, for

* clear     true effect 1 sd (a fixed n of 24 supports it ~100% of the time)
* border    true effect 0.35 sd (a fixed n of 24 supports it about half the time)
* null      true effect 0 (the boundary null of Superior: SUPPORTED must stay at alpha)
* opposite  true effect -1 sd (clearly REFUTED)
* equiv     true effect 0, Equivalent within ±1 sd (TOST, clearly SUPPORTED)

Every design is judged at the same one-sided alpha, so the null row shows equal type I error; the
power column shows what the looks cost at the last look (O'Brien-Fleming keeps that small).

``run_paths`` is the engine's decision rule, vectorised over simulated experiments (numpy instead
of one ``judge`` per look), with the design's corrected levels for each side.

    python -m benchmarks sequential [--sims 20000] [--seeds 24] [--alpha 0.05]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from instincts.expect import Equivalent, Expectation, NonInferior, Superior
from instincts.sequential import Design

SUPPORTED, REFUTED, INCONCLUSIVE = 1, -1, 0


def pvalues(expect: Expectation, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values (claim, opposite) of the paired t tests ``expect.judge`` runs, per row of d."""
    n = d.shape[1]
    mean = d.mean(axis=1)
    se = d.std(axis=1, ddof=1) / np.sqrt(n)

    def above(threshold: float) -> np.ndarray:  # H1: mean > threshold
        return sps.t.sf((mean - threshold) / se, n - 1)

    def below(threshold: float) -> np.ndarray:  # H1: mean < threshold
        return sps.t.cdf((mean - threshold) / se, n - 1)

    if isinstance(expect, Superior):
        return above(expect.min_effect), below(expect.min_effect)
    if isinstance(expect, NonInferior):
        return above(-expect.margin), below(-expect.margin)
    if isinstance(expect, Equivalent):
        m = expect.margin
        return np.maximum(above(-m), below(m)), np.minimum(1.0, 2.0 * np.minimum(above(m), below(-m)))  # Bonferroni
    raise TypeError(f"expect={expect!r} is not simulated here: use Superior, NonInferior or Equivalent")


def run_paths(looks: Sequence[int], levels: Sequence[float], diffs: np.ndarray,
              expect: Expectation, refute_levels: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outcome (+1 SUPPORTED, -1 REFUTED, 0 INCONCLUSIVE) and seeds used, per simulated experiment.

    ``diffs`` is experiments x max seeds; look k judges the first looks[k] seeds at one-sided
    level levels[k] for SUPPORTED (first) and refute_levels[k] (default: the same) for REFUTED, as
    ``run_looks`` does with ``expect.judge``.
    """
    refute_levels = levels if refute_levels is None else refute_levels
    if len(looks) != len(levels) or len(looks) != len(refute_levels) or diffs.shape[1] < looks[-1]:
        raise ValueError(f"looks={tuple(looks)} and levels={tuple(levels)} do not fit {diffs.shape[1]} seeds")
    outcome = np.zeros(diffs.shape[0], dtype=int)
    used = np.full(diffs.shape[0], looks[-1])
    running = np.ones(diffs.shape[0], dtype=bool)
    for n, level, level_refute in zip(looks, levels, refute_levels):
        p_claim, p_opposite = pvalues(expect, diffs[running, :n])
        idx = np.flatnonzero(running)
        supported, refuted = p_claim < level, (p_claim >= level) & (p_opposite < level_refute)
        outcome[idx[supported]], outcome[idx[refuted]] = SUPPORTED, REFUTED
        used[idx[supported | refuted]] = n
        running[idx[supported | refuted]] = False
    return outcome, used


@dataclass(frozen=True)
class Scenario:
    name: str
    effect: float  # true mean of the per-seed differences, in sd
    expect: Expectation


def scenarios(alpha: float) -> list[Scenario]:
    return [Scenario("clear", 1.0, Superior(alpha=alpha)), Scenario("border", 0.35, Superior(alpha=alpha)),
            Scenario("null", 0.0, Superior(alpha=alpha)), Scenario("opposite", -1.0, Superior(alpha=alpha)),
            Scenario("equiv", 0.0, Equivalent(margin=1.0, alpha=alpha))]


def table(sims: int, seeds: int, alpha: float, rng_seed: int = 2026) -> list[dict[str, object]]:
    """One row per scenario and design: verdict rates, mean seeds and the ratio to the fixed n."""
    designs = [("fixed", Design((seeds,), alpha))] + [
        (f"{k} looks", Design.equally_spaced(seeds, k, alpha)) for k in (2, 3, 4) if seeds >= 2 * k]
    rows = []
    for i, sc in enumerate(scenarios(alpha)):
        diffs = np.random.default_rng([rng_seed, i]).normal(sc.effect, 1.0, (sims, seeds))  # shared by designs
        for name, design in designs:
            outcome, used = run_paths(design.looks, design.nominal_levels, diffs, sc.expect, design.refute_levels)
            rows.append({"scenario": sc.name, "effect_sd": sc.effect, "design": name, "looks": design.looks,
                         "supported": float(np.mean(outcome == SUPPORTED)),
                         "refuted": float(np.mean(outcome == REFUTED)),
                         "mean_seeds": float(used.mean()), "ratio": float(used.mean()) / seeds})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; exit 0 (a measurement, not a test: targets are printed beside the numbers)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks sequential", description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=20000, help="simulated experiments per scenario")
    parser.add_argument("--seeds", type=int, default=24, help="fixed n = the sequential designs' maximum")
    parser.add_argument("--alpha", type=float, default=0.05, help="one-sided alpha of every design")
    args = parser.parse_args(argv)
    if args.sims < 100:
        parser.error(f"--sims {args.sims} is too few: use >= 100")
    if args.seeds < 4:
        parser.error(f"--seeds {args.seeds} is too few: use >= 4 (two looks of 2 seeds)")
    start = time.perf_counter()
    rows = table(args.sims, args.seeds, args.alpha)
    print(f"sequential looks vs fixed n={args.seeds}: {args.sims} simulated experiments per scenario, "
          f"normal per-seed differences (sd 1), one-sided alpha {args.alpha:g}, Lan-DeMets O'Brien-Fleming")
    print(f"{'scenario':<9} {'effect':>6}  {'design':<8} {'looks':<16} {'SUPPORTED':>9} {'REFUTED':>8} "
          f"{'E[seeds]':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['scenario']:<9} {r['effect_sd']:>+6.2f}  {r['design']:<8} {str(r['looks']):<16} "
              f"{r['supported']:>9.2%} {r['refuted']:>8.2%} {r['mean_seeds']:>8.2f} {r['ratio']:>6.2f}")
    clear = {r["design"]: r["ratio"] for r in rows if r["scenario"] == "clear"}
    best = min((v, k) for k, v in clear.items() if k != "fixed")
    print(f"clear effect: {best[1]} use {best[0]:.0%} of the fixed n's seeds "
          f"({1 - best[0]:.0%} fewer; target >= 30% fewer) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
