"""DigitsMLP, the batch-size and architecture claims' arm: its metrics, and its seeds as the claims need them."""

import pytest
import torch

from fixtures.arms.digits import DigitsMLP
from instincts import BUDGETS, InvalidArgument, RunContext

CONTEXT = RunContext(BUDGETS["smoke"], torch.device("cpu"))


def test_metrics_and_facts_per_seed():
    rows = DigitsMLP(batch_size=64, epochs=2).run([0, 1], CONTEXT)
    assert len(rows) == 2
    for row in rows:
        assert {"test_accuracy", "test_loss", "train_loss", "epochs_run", "train_accuracy", "cap_hit"} <= set(row)
        assert row["test_accuracy"] > 0.5 and row["epochs_run"] == 2 and row["cap_hit"] == 1.0
    assert rows[0] != rows[1]


def test_a_seed_trains_the_same_alone_or_in_a_batch():
    """The run cache stores results per seed, so a seed must not depend on its neighbours."""
    arm = DigitsMLP(batch_size=64, epochs=2)
    together = arm.run([0, 1, 2], CONTEXT)
    alone = arm.run([1], CONTEXT)
    assert abs(together[1]["test_loss"] - alone[0]["test_loss"]) < 1e-5


def test_recipe_takes_the_budget_epochs_unless_given():
    assert DigitsMLP().recipe(CONTEXT).epochs == BUDGETS["smoke"].epochs
    assert DigitsMLP(epochs=3, optimizer="sgd").recipe(CONTEXT).optimizer == "sgd"


def test_steps_warmup_and_momentum_reach_the_recipe():
    recipe = DigitsMLP(batch_size=16, lr=0.1, optimizer="sgd", momentum=0.9, steps=50, warmup=10).recipe(CONTEXT)
    assert (recipe.steps, recipe.epochs, recipe.warmup, recipe.momentum) == (50, None, 10, 0.9)


def test_patience_covers_at_least_patience_steps():
    """A large batch takes few steps per epoch: its patience in epochs grows to cover the steps."""
    assert DigitsMLP(batch_size=255, validation=0.2).steps_per_epoch() == 5  # 1,150 images
    assert DigitsMLP(batch_size=255, validation=0.2, patience=10, patience_steps=500).early_stopping().patience == 100
    assert DigitsMLP(batch_size=3, validation=0.2, patience=10, patience_steps=500).early_stopping().patience == 10
    assert DigitsMLP().early_stopping() is None


def test_early_stopping_and_gap_per_seed():
    rows = DigitsMLP(batch_size=128, lr=1e-2, epochs=30, validation=0.2, patience=2).run([0, 1], CONTEXT)
    for row in rows:
        assert row["epochs_run"] < 30 and row["cap_hit"] == 0.0 and "best_val_accuracy" in row
        assert row["generalization_gap"] == row["test_accuracy"] - row["train_accuracy"]


def test_bad_combinations_name_the_value():
    with pytest.raises(InvalidArgument, match="patience=5"):
        DigitsMLP(patience=5)
    with pytest.raises(InvalidArgument, match="epochs=3, steps=10"):
        DigitsMLP(epochs=3, steps=10)
