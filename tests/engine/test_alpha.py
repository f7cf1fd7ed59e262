"""The alpha ledger (instincts.alpha): shares sum to at most 1 however many comparisons come."""

import pytest

from instincts.alpha import RESERVE, Ledger
from instincts.errors import InvalidArgument


def spend(ledger: Ledger, examples: int, per_example: int) -> list[str]:
    slots = []
    for e in range(examples):
        ledger.enter(object())
        for j in range(per_example):
            sig = (e, j)
            if not ledger.may_train(sig):
                slots.append("rejected")
                break
            slots.append(ledger.share(sig, sig).slot)
    return slots


def test_planned_comparisons_share_all_but_the_reserve():
    ledger = Ledger(examples=6, comparisons=2)
    assert spend(ledger, 6, 2) == ["planned"] * 12
    assert ledger.spent == pytest.approx(1 - RESERVE)


def test_undeclared_comparisons_come_from_the_reserve():
    ledger = Ledger(examples=3, comparisons=1)
    assert spend(ledger, 3, 3) == ["planned", "extra", "extra"] * 3
    assert ledger.spent < 1.0


def test_examples_beyond_the_plan_are_rejected_before_training():
    ledger = Ledger(examples=2)
    assert spend(ledger, 5, 1) == ["planned", "planned", "rejected", "rejected", "rejected"]


def test_a_replay_reuses_its_share_and_may_always_run():
    ledger = Ledger(examples=1)
    ledger.enter(object())
    first = ledger.share("sig", "id")
    ledger.enter(object())  # hypothesis's final replay: a new example with the same comparison
    assert ledger.may_train("sig")
    assert ledger.share("sig", "id") == first
    assert ledger.spent == pytest.approx(1 - RESERVE)


def test_new_data_under_an_old_signature_is_a_new_comparison():
    """Callables describe by name only: a loop without config= gives the same signature with other
    data, and each must spend its own alpha."""
    ledger = Ledger(examples=1, comparisons=2)
    ledger.enter(None)
    a, b = ledger.share("sig", ("sig", 1)), ledger.share("sig", ("sig", 2))
    assert a.index != b.index and a.slot == b.slot == "planned"


def test_shares_never_exceed_one():
    ledger = Ledger(examples=3, comparisons=2)
    ledger.enter(None)
    for i in range(500):  # outside hypothesis: one example, as many comparisons as a loop makes
        assert ledger.may_train(i)
        ledger.share(i, i)
    assert ledger.spent <= 1.0


@pytest.mark.parametrize("examples, comparisons", [(0, 1), (1, 0), (1.5, 1), (True, 1)])
def test_bad_plans_are_refused(examples, comparisons):
    with pytest.raises(InvalidArgument, match="is not allowed"):
        Ledger(examples=examples, comparisons=comparisons)
