"""How a claim spends its alpha: the one place that says it.

A claim is a family of comparisons (one or more per hypothesis example) and its verdict is the
worst of them. The two verdicts need different error control:

- SUPPORTED ("every part holds") is an intersection-union test (Berger 1982): it is wrong only
  if some part that does not hold came out SUPPORTED, which has chance <= alpha for that part.
  So every comparison's supporting test runs at the claim's full alpha, with no split.
- REFUTED ("some part fails") is a union: any part may refute, so the parts' refuting tests
  share alpha. Comparison j gets ``alpha * w_j`` with sum(w_j) <= 1 however many comparisons
  come, so no run of the plugin, however hypothesis explores, refutes a true claim more often
  than alpha:
    planned  the first ``comparisons`` comparisons of each of the first ``examples`` examples
             (the budget's ``max_examples`` plus explicit ``@example`` decorators) share (1 - RESERVE);
    extra    every other comparison (more than planned in an example, an example beyond the plan:
             hypothesis shrinking or explaining a failure) takes RESERVE * 2^-(i+1), i = 0, 1, ...
             in the order they come.
  Judging the same data again is the same test: a comparison identical to an earlier one (same
  kind, metric, arms, config, seeds and first-look data, e.g. hypothesis replaying the failing
  example) reuses that comparison's alpha and spends nothing.

Cost. Shrinking or explaining a failure would train new configs at a tiny alpha, where they can
neither refute nor tell a refuting config from an inconclusive one (both fail ``assert verdict``
alike), so an example beyond the plan is rejected (``hypothesis.reject``) before anything trains:
hypothesis then reports the failing config that the planned draws found, and a replay of it
comes from the run cache. A claim costs what its budget plans, whatever hypothesis does.
``tests/engine/test_alpha_plugin.py`` checks the REFUTED rate and the cost by simulation through
the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instincts.errors import InvalidArgument

RESERVE = 0.1  # the share of alpha kept for comparisons beyond the plan


def check_plan(examples: int, comparisons: int) -> None:
    for name, value in (("examples", examples), ("comparisons", comparisons)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgument(f"{name}={value!r} is not allowed: give an integer >= 1 (comparisons: "
                                  "how many compare/trend/predicts calls one example makes)")


@dataclass(frozen=True)
class Share:
    """One comparison's share of the claim's alpha for its refuting test."""

    weight: float  # alpha_refute = weight * alpha
    slot: str  # "planned" or "extra"
    index: int  # the comparison's position in the ledger (replays reuse their first position)


@dataclass
class Ledger:
    """The alpha plan of one claim, and what its comparisons have spent so far."""

    examples: int = 1  # planned examples (hypothesis examples, explicit ones included)
    comparisons: int = 1  # planned comparisons per example
    _shares: dict[Any, Share] = field(default_factory=dict)
    _signatures: set[Any] = field(default_factory=set)
    _example: object = None  # the hypothesis build context of the current example
    _counted: bool = False  # the current example has made a new comparison (so it is counted)
    _examples_seen: int = 0  # examples that made at least one new comparison
    _in_example: int = 0  # new comparisons made in the current example
    _planned_given: int = 0
    _extras: int = 0

    def __post_init__(self) -> None:
        check_plan(self.examples, self.comparisons)

    @property
    def planned(self) -> int:
        return self.examples * self.comparisons

    @property
    def spent(self) -> float:
        """The sum of the weights handed out: the claim's REFUTED error is at most spent * alpha."""
        return sum(s.weight for s in self._shares.values())

    @property
    def examples_seen(self) -> int:
        return self._examples_seen

    def enter(self, example: object) -> None:
        """Note the example (a hypothesis build context; None outside hypothesis: one example) a
        comparison runs in. It counts once it makes a comparison not seen before."""
        if example is not self._example:
            self._example, self._counted, self._in_example = example, False, 0

    def may_train(self, signature: Any) -> bool:
        """Whether a comparison may run: when it repeats an earlier one, or its example is planned."""
        if signature in self._signatures:
            return True
        if not self._counted:
            if self._examples_seen >= self.examples:
                return False
            self._examples_seen += 1
            self._counted = True
        return True

    def share(self, signature: Any, identity: Any) -> Share:
        """The share for a comparison: its earlier share if identical to one seen, else the next one."""
        self._signatures.add(signature)
        if identity in self._shares:
            return self._shares[identity]
        in_plan = self._examples_seen <= self.examples and self._in_example < self.comparisons
        if in_plan and self._planned_given < self.planned:
            self._planned_given += 1
            share = Share((1.0 - RESERVE) / self.planned, "planned", len(self._shares))
        else:
            self._extras += 1
            share = Share(RESERVE * 2.0 ** -self._extras, "extra", len(self._shares))
        self._in_example += 1
        self._shares[identity] = share
        return share
