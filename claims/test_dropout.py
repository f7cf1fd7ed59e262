"""Recipes and the rest: dropout masks, unit ablation and unit importance (RC-5)."""

from __future__ import annotations

from fixtures.arms.dropout import MEMORISE, PAIR_EPOCHS, RANDOM_DRAWS, WIDE, Ablation, DropoutPairs
from instincts import Requires, Superior, claim, trained

SECTION = "Recipes and the rest"
RC5 = dict(section=SECTION, question="Dropout: how much do masks matter, and which units does a network need?",
           anchors=["Summers & Dinneen 2021: each single source of nondeterminism (init, data order, augmentation, "
                    "a one-bit change of init) gives about as much run-to-run variability as all of them together",
                    "Morcos et al. 2018: networks that memorise (noisy labels) depend more on single directions",
                    "Frankle et al. 2020: small nets (LeNet/MNIST) are stable to SGD noise from initialization"])
DIGITS = ("MLP 64-64-10 (ReLU) on sklearn digits, trained on 1,149 fit images (Adam lr 1e-3, batch 32, the budget's "
          "epochs, no tuning: one fixed recipe for every arm); 288 validation images rank units, the 360 test "
          "images score them. ")
PAIRS = (DIGITS.replace("the budget's epochs", f"{PAIR_EPOCHS} epochs (to ~99% train accuracy)")
         + "Dropout 0.2 after the hidden ReLU. Per seed s three nets: A = seed 2s; B = A's init and data order "
         "with dropout seed 2s+1 (only the masks differ); C = seed 2s+1 (init, order and masks differ). ")
EIGHTH = 8  # of the 64 hidden units
TRAINS = trained(0.9)  # chance is 0.1: the nets must have learnt the task
CONVERGED = Requires("train_accuracy", at_least=0.98, why="not trained to convergence")


@claim("RC-5", "Dropout masks alone make most of the run-to-run variance: two runs that differ only in their masks "
       "disagree on at least half as many test images, and differ in test loss by at least half as much, as two "
       "runs that differ in every seed", **RC5, comparisons=2,
       method=PAIRS + "Metrics per seed: disagreement (share of test images the pair classifies differently) and "
       "|test loss gap| of pair (A, B) against half of pair (A, C)'s. One-sided paired t, twice.",
       prediction="Summers & Dinneen 2021 (ResNet-14, CIFAR-10): any one source alone gives ~the full variability "
                  "(ratio ~1), so the mask-only pair should reach well over half the full-seed disagreement. Nets "
                  "stopped early stay nearer their shared init: at 12 epochs (95% train accuracy) the ratio was 0.31, "
                  "so the pairs train 40 epochs.")
def test_dropout_masks_make_most_of_the_variance(experiment):
    masks, half_seeds = DropoutPairs("masks"), DropoutPairs("seeds", scale=0.5)
    labels = ("masks differ", "half of: every seed differs")
    disagree = experiment.compare(masks, half_seeds, metric="disagreement", expect=Superior(), labels=labels,
                                  requires=CONVERGED)
    loss = experiment.compare(masks, half_seeds, metric="loss_gap", expect=Superior(), unit="", labels=labels,
                              requires=CONVERGED)
    assert disagree and loss


@claim("RC-5", "Some units are better, and it is the unit, not the masks: a unit's importance is stable across "
       "dropout masks, its rank correlating more with the same unit's under other masks than with an unrelated "
       "unit's (unit j of a net from another seed)", **RC5,
       method=PAIRS + "Importance: rise of validation cross-entropy when the unit alone is zeroed. Metric: Spearman "
       "correlation over the 64 units between A and B (same init), against A and C, where unit j has no "
       "counterpart (a permutation baseline, ~0). One-sided paired t.",
       prediction="Frankle et al. 2020: LeNet on MNIST is stable to SGD noise from init, so the same init should "
                  "give similar units: a clearly positive correlation (> 0.5) under masks, ~0 across seeds.")
def test_unit_importance_is_stable_across_masks(experiment):
    assert experiment.compare(DropoutPairs("masks"), DropoutPairs("seeds"), metric="importance_rho", unit="",
                              expect=Superior(), labels=("same unit, other masks", "unit j of another seed"),
                              requires=CONVERGED)


@claim("RC-5", "Ablating the 8 hidden units ranked most important on validation hurts test accuracy more than "
       "ablating 8 random units", **RC5,
       method=DIGITS + f"No dropout. Importance of a unit: validation accuracy lost when it alone is zeroed; the top "
       f"8 of 64 are zeroed together. Random: 8 units drawn at random, mean over {RANDOM_DRAWS} draws per network. "
       "Metric: test accuracy lost; one-sided paired t.",
       prediction="Morcos et al. 2018: importance (not selectivity) predicts the damage, so ranked ablation should "
                  "cost several pp more than random (random 8 of 64 costs ~1pp).")
def test_importance_ranked_ablation_hurts_more(experiment):
    assert experiment.compare(Ablation(EIGHTH, "importance"), Ablation(EIGHTH, "random"), metric="drop", unit="pp",
                              expect=Superior(), config={"k": EIGHTH}, labels=("top-8 by importance", "random 8"),
                              requires=TRAINS)


@claim("RC-5", "Networks that memorise noisy labels are more fragile: zeroing half the hidden units at random costs "
       "them a larger share of their test accuracy than it costs networks trained on clean labels", **RC5,
       method=f"MLP 64-{WIDE}-10 (ReLU) on sklearn digits' 1,149 fit images, trained to memorise: Adam lr "
       f"{MEMORISE.lr:g}, batch {MEMORISE.batch_size}, {MEMORISE.epochs} epochs, no early stopping (the same fixed "
       f"recipe for both arms, no tuning). Noisy: 30% of the fit labels moved to another class at random (fixed by "
       f"seed); clean: the same seeds on true labels. Check: both fit their training labels (mean train accuracy "
       f">= 98%). {WIDE // 2} of {WIDE} units zeroed at random, mean over {RANDOM_DRAWS} draws, on the 360 test "
       "images. Metric: relative drop (accuracy lost / unablated test accuracy), since noisy nets start lower; "
       "one-sided paired t.",
       prediction="Morcos et al. 2018 (MNIST MLP, CIFAR-10): nets memorising random labels lose far more under "
                  "ablation (their curves fall to chance by half the units ablated; clean ones lose little).")
def test_noisy_label_nets_are_more_fragile(experiment):
    half = WIDE // 2
    memorised = Requires("train_accuracy", at_least=0.98, why="did not memorise its training labels")
    assert experiment.compare(Ablation(half, label_noise=0.3, memorise=True), Ablation(half, memorise=True),
                              metric="relative_drop", expect=Superior(), config={"k": half, "label_noise": 0.3},
                              labels=("30% noisy labels", "clean labels"), requires=memorised)
