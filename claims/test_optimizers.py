"""Recipes and the rest: optimisers (RC-1 AdamW, RC-11 Adam -> SGD). Learning rates (RC-3) and loss scaling
(RC-4) are in ``test_lr_precision.py``.

Every tuned arm is tuned on a validation split carved out of the training set, with tuning seeds
(1000, 1001, ...) disjoint from the evaluation seeds (0, 1, ...); the test set only scores the picks.
"""

from __future__ import annotations

from fixtures.arms.optimizers import (
    DigitsRecipe,
    Grid,
)
from fixtures.recipes import attach_tuning, tune_on_validation, tuning_seeds
from instincts import NonInferior, claim

SECTION = "Recipes and the rest"
DIGITS = ("MLP 64-64-10 (ReLU) on sklearn digits: 1,149 fit / 288 validation (stratified, out of the 1,437 "
          "training images) / 360 test; batch 32, epochs from the budget; seeds set init and data order, "
          "paired across arms. ")
TUNING = ("Tuning: each grid point trains on the fit split with tuning seeds 1000.. (a quarter of the budget's "
          "seeds, at least 3), the best mean validation accuracy wins (ties: the first listed); the pick is then "
          "trained with the evaluation seeds and scored on the test set. ")


# -- RC-1 ------------------------------------------------------------------------------------------

@claim("RC-1", "With weight decay, ReLU + AdamW is non-inferior (1pp) to ReLU + Adam with L2, each with lr and "
       "decay tuned on validation",
       section=SECTION, question="Good recipes: does decoupled weight decay (AdamW) beat L2 in Adam?",
       anchors=["Loshchilov & Hutter 2019: AdamW ~15% relative test-error gain over Adam+L2 (CIFAR-10, ResNet)",
                "catalogue: expected INCONCLUSIVE at this scale"],
       method=DIGITS + TUNING + "Grids (smoke): lr {1e-3, 3e-3} x L2 {1e-4, 1e-3} for Adam, x decoupled decay "
       "{1e-2, 1e-1} for AdamW (torch.optim semantics: AdamW multiplies the weights by 1 - lr*wd); standard and "
       "full add lr 3e-4 and a decade of decay below. Paired one-sided t against -1pp on test accuracy.")
def test_adamw_noninferior_to_adam_l2(experiment):
    lrs, l2, decoupled = ([1e-3, 3e-3], [1e-4, 1e-3], [1e-2, 1e-1]) if experiment.budget.name == "smoke" else \
        ([3e-4, 1e-3, 3e-3], [1e-5, 1e-4, 1e-3], [1e-3, 1e-2, 1e-1])
    picks = {}
    for optimizer, decays in (("adamw", decoupled), ("adam", l2)):
        grid = Grid(tuple(DigitsRecipe(lr=lr, optimizer=optimizer, weight_decay=wd) for lr in lrs for wd in decays))
        picks[optimizer], table = tune_on_validation(experiment, grid, tuning_seeds(experiment))
        attach_tuning(experiment, f"{optimizer} tuning grid (validation)", table, ("lr", "weight_decay"))
    verdict = experiment.compare(
        picks["adamw"], picks["adam"], metric="test_accuracy", expect=NonInferior(margin=0.01),
        config={f"{o}_{f}": getattr(p, f) for o, p in picks.items() for f in ("lr", "weight_decay")},
        labels=("AdamW (tuned)", "Adam + L2 (tuned)"))
    assert verdict


# -- RC-11 -----------------------------------------------------------------------------------------

@claim("RC-11", "Switching Adam -> SGD halfway is non-inferior (1pp) to Adam alone",
       section=SECTION, question="Multiple optimizers: does handing Adam's run to SGD cost accuracy?",
       anchors=["Keskar & Socher 2017 (SWATS): switching closes the generalization gap on CIFAR",
                "Wilson et al. 2017: adaptive methods generalize worse than SGD"],
       method=DIGITS + TUNING + "Adam lr 1e-3 for the first half of the epochs, then SGD with momentum 0.9 "
       "(fresh momentum buffer); the SGD lr is the one tuning parameter, grid (smoke) {0.01, 0.03, 0.1}, "
       "standard/full {0.003 .. 0.3} in half-decades. Arm B: Adam lr 1e-3 throughout. Paired one-sided t "
       "against -1pp on test accuracy.")
def test_adam_then_sgd_noninferior_to_adam(experiment):
    sgd_lrs = [0.01, 0.03, 0.1] if experiment.budget.name == "smoke" else [0.003, 0.01, 0.03, 0.1, 0.3]
    pick, table = tune_on_validation(experiment, Grid(tuple(DigitsRecipe(switch_at=0.5, switch_lr=lr)
                                                            for lr in sgd_lrs)), tuning_seeds(experiment))
    attach_tuning(experiment, "SGD lr after the switch (validation)", table, ("switch_lr",))
    assert experiment.compare(pick, DigitsRecipe(), metric="test_accuracy", expect=NonInferior(0.01),
                              config={"switch_lr": pick.switch_lr}, labels=("Adam -> SGD", "Adam"))
