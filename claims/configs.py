"""Arms shared by claims: frozen dataclass configs for the built-in trainers."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.digits import digits_split
from instincts.experiment import RunContext
from instincts.train import Recipe, fit_classifiers
from models.mlp import MLP


@dataclass(frozen=True)
class DigitsMLP:
    """An MLP (64 -> hidden -> 10) on sklearn digits; epochs default to the budget's."""

    batch_size: int = 32
    lr: float = 1e-3
    hidden: int = 64
    optimizer: str = "adam"
    epochs: int | None = None

    def recipe(self, context: RunContext) -> Recipe:
        return Recipe(batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
                      epochs=self.epochs or context.budget.epochs)

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        x_tr, y_tr, x_te, y_te = digits_split()
        return fit_classifiers(lambda: MLP(64, self.hidden, 10), seeds, (x_tr, y_tr), (x_te, y_te),
                               self.recipe(context), context.device)
