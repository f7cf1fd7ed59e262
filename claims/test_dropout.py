"""Recipes and the rest: dropout masks and unit ablation (RC-5)."""

from __future__ import annotations

from fixtures.arms.dropout import RANDOM_DRAWS, Ablation, MaskSpread, no_spread
from instincts import Superior, claim

SECTION = "Recipes and the rest"
RC5 = dict(section=SECTION, question="Dropout: how much do masks matter, and which units does a network need?",
           anchors=["Morcos et al. 2018: networks that memorise (noisy labels) depend more on single directions; "
                    "class selectivity is a poor predictor of a unit's importance",
                    "Frankle & Carbin 2019: a few units/weights carry the trained function (lottery tickets)"])
DIGITS = ("MLP 64-64-10 (ReLU) on sklearn digits, trained on 1,149 fit images (Adam lr 1e-3, batch 32, budget "
          "epochs); 288 validation images rank units, the 360 test images score them. ")
ONE_IMAGE = 1 / 360
HALF, EIGHTH = 32, 8  # of the 64 hidden units


@claim("RC-5", "Runs that differ only in their dropout masks differ in test accuracy: the mean gap between two "
       "such runs exceeds one test image (1/360)", **RC5,
       method=DIGITS + "Dropout 0.2 after the hidden ReLU. Every run shares one init and data order (seed 7919); "
       "pair i uses dropout seeds 2i and 2i+1 (each run's own mask stream, fresh masks every batch as nn.Dropout "
       "draws them). Metric: |test accuracy gap| of the pair. "
       "One-sided t of the mean gap against one test image: if masks made no measurable difference (gaps of "
       "0 or 1 image), the claim is refuted.")
def test_dropout_masks_alone_spread_accuracy(experiment):
    assert experiment.compare(MaskSpread(dropout=0.2), no_spread, metric="abs_diff",
                              expect=Superior(min_effect=ONE_IMAGE), labels=("mask-only |gap|", "no spread"))


@claim("RC-5", "Ablating the 8 hidden units ranked most important on validation hurts test accuracy more than "
       "ablating 8 random units", **RC5,
       method=DIGITS + f"Importance of a unit: validation accuracy lost when it alone is zeroed; the top 8 of 64 "
       f"are zeroed together. Random: 8 units drawn at random, mean over {RANDOM_DRAWS} draws per network. "
       "Metric: test accuracy lost; one-sided paired t.")
def test_importance_ranked_ablation_hurts_more(experiment):
    assert experiment.compare(Ablation(EIGHTH, "importance"), Ablation(EIGHTH, "random"), metric="drop", unit="pp",
                              expect=Superior(), config={"k": EIGHTH}, labels=("top-8 by importance", "random 8"))


@claim("RC-5", "Networks trained on noisy labels are more fragile: zeroing half the hidden units at random costs "
       "them a larger share of their test accuracy than it costs networks trained on clean labels", **RC5,
       method=DIGITS + f"Noisy: 30% of the fit labels moved to another class at random (fixed by seed); clean: "
       f"the same seeds on true labels. {HALF} of 64 units zeroed at random, mean over {RANDOM_DRAWS} draws. "
       "Metric: relative drop (accuracy lost / unablated test accuracy), since noisy nets start lower; "
       "one-sided paired t.")
def test_noisy_label_nets_are_more_fragile(experiment):
    assert experiment.compare(Ablation(HALF, label_noise=0.3), Ablation(HALF), metric="relative_drop",
                              expect=Superior(), config={"k": HALF, "label_noise": 0.3},
                              labels=("30% noisy labels", "clean labels"))
