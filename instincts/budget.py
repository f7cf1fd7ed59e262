"""Budget profiles: the one place that says how many seeds, configs, epochs and examples a run buys.

smoke    2 CPU cores, minutes for the catalogue, deterministic (CI gates on it)
standard one GPU, minutes, enough seeds for real power
full     paper-grade: more seeds, more configs, longer training

``looks``: smoke judges all its seeds at once (fixed n: CI gates on a committed baseline, and with
12 seeds an early stop would rarely save anything); standard and full add seeds in 3 and 4
group-sequential looks (``instincts.sequential``) and stop as soon as the verdict is conclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from instincts.errors import InvalidArgument


@dataclass(frozen=True)
class Budget:
    name: str
    seeds: int  # paired seeds per arm
    max_examples: int  # hypothesis-drawn configs per claim
    epochs: int  # training epochs for the built-in trainers
    data_scale: float  # multiplier on generated data sizes (1.0 = the claim's smoke size)
    derandomize: bool  # same configs every run (CI determinism) instead of fresh draws
    shrink: bool  # hypothesis's shrink and explain phases: they train nothing new (instincts.alpha)
    looks: int = 1  # seeds are added in this many equal looks, stopping at the first conclusive one

    def __post_init__(self) -> None:
        if not isinstance(self.looks, int) or isinstance(self.looks, bool) or self.looks < 1:
            raise InvalidArgument(f"looks={self.looks!r} is not allowed: looks must be an integer >= 1 "
                                  "(1 = a fixed number of seeds)")

    def scaled(self, n: int, minimum: int = 1) -> int:
        """A data size scaled by this budget."""
        return max(minimum, int(round(n * self.data_scale)))

    def with_(self, **changes: object) -> Budget:
        return replace(self, **changes)


BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", seeds=12, max_examples=2, epochs=12, data_scale=1.0,
                    derandomize=True, shrink=False),
    "standard": Budget("standard", seeds=24, max_examples=6, epochs=30, data_scale=4.0,
                       derandomize=False, shrink=True, looks=3),
    "full": Budget("full", seeds=64, max_examples=20, epochs=60, data_scale=16.0,
                   derandomize=False, shrink=True, looks=4),
}


def get_budget(name: str) -> Budget:
    try:
        return BUDGETS[name]
    except KeyError:
        allowed = ", ".join(BUDGETS)
        raise InvalidArgument(f"unknown budget {name!r}: choose one of {allowed}") from None


def default_budget_name(cuda_available: bool) -> str:
    return "standard" if cuda_available else "smoke"
