"""DigitsMLP, the batch-size and architecture claims' arm: its metrics, and its seeds as the claims need them."""

import torch

from fixtures.arms.digits import DigitsMLP
from instincts import BUDGETS, RunContext

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
