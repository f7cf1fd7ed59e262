"""Recipes and the rest: learning rates (RC-3 LR range test) and loss scaling / mixed precision (RC-4).

Every tuned arm is tuned on a validation split carved out of the training set, with tuning seeds
(1000, 1001, ...) disjoint from the evaluation seeds (0, 1, ...); the test set only scores the picks.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.optimizers import (
    DigitsRecipe,
    Grid,
    InitialLoss,
    MixedPrecision,
    RangeTest,
    Underflow,
    log10_adam_deviation,
    scaled_run_deviation,
)
from fixtures.recipes import attach_tuning, range_test, tune_on_validation, tuning_seeds
from instincts import Decreasing, Equivalent, Exact, Increasing, NonInferior, Superior, claim

SECTION = "Recipes and the rest"
DIGITS = ("MLP 64-64-10 (ReLU) on sklearn digits: 1,149 fit / 288 validation (stratified, out of the 1,437 "
          "training images) / 360 test; batch 32, epochs from the budget; seeds set init and data order, "
          "paired across arms. ")
TUNING = ("Tuning: each grid point trains on the fit split with tuning seeds 1000.. (a quarter of the budget's "
          "seeds, at least 3), the best mean validation accuracy wins (ties: the first listed); the pick is then "
          "trained with the evaluation seeds and scored on the test set. ")


# -- RC-3 ------------------------------------------------------------------------------------------

RC3 = dict(section=SECTION, question="Learning rates from 1 to 1e-6: which one?",
           anchors=["Smith 2017 (cyclical LRs): the LR range test, loss vs exponentially rising lr",
                    "fastai lr_find: 100 iterations, pick about a tenth of the minimum-loss lr"])
EXTREMES = DIGITS + ("Adam at a fixed lr for the budget's epochs; arm B is each seed's untrained network's loss on "
                     "the fit split. A diverged loss (inf/nan) would be reported as 1000. ")


@claim("RC-3", "Too small a learning rate leaves the loss flat: after training at lr 1e-6 the training loss is "
       "within ±0.05 nats of its initial value", **RC3,
       method=EXTREMES + "TOST on train loss (last epoch's mean) minus initial loss, margin 0.05 nats (2% of ln 10).")
def test_tiny_lr_leaves_loss_flat(experiment):
    assert experiment.compare(DigitsRecipe(lr=1e-6), InitialLoss(), metric="train_loss", unit=" nats",
                              expect=Equivalent(margin=0.05), labels=("after training, lr 1e-6", "at init"))


@claim("RC-3", "Too large a learning rate diverges: after training at lr 1 the training loss is above its "
       "initial value", **RC3, method=EXTREMES + "One-sided paired t: train loss minus initial loss > 0.")
def test_huge_lr_diverges(experiment):
    assert experiment.compare(DigitsRecipe(lr=1.0), InitialLoss(), metric="train_loss", unit=" nats",
                              expect=Superior(), labels=("after training, lr 1", "at init"))


@claim("RC-3", "The lr read from an LR range test trains non-inferior (1pp) to the best lr of a grid chosen on "
       "validation", **RC3,
       method=DIGITS + TUNING + "Range test (fixed rule): Adam, lr rising exponentially from 1e-6 to 1 over 100 "
       "mini-batches of the fit split, losses averaged over the tuning seeds and smoothed (EMA 0.9, bias-"
       "corrected); pick = a tenth of the lr at the smoothed minimum. Bands: flat until the smoothed loss is 2% "
       "below its start; diverging from the first lr past the minimum where it is back above its start. Grid "
       "(smoke): Adam lr {3e-4, 1e-3, 3e-3}; standard/full: {1e-4 .. 3e-2} in half-decades. Paired one-sided "
       "t against -1pp on test accuracy.")
def test_range_test_lr_noninferior_to_grid(experiment):
    bands = range_test(experiment, RangeTest(), tuning_seeds(experiment))
    picked = float(f"{bands['pick']:.3g}")
    grid_lrs = [3e-4, 1e-3, 3e-3] if experiment.budget.name == "smoke" else [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    best, table = tune_on_validation(experiment, Grid(tuple(DigitsRecipe(lr=lr) for lr in grid_lrs)),
                                     tuning_seeds(experiment))
    attach_tuning(experiment, "lr grid (validation)", table, ("lr",))
    verdict = experiment.compare(
        DigitsRecipe(lr=picked), best, metric="test_accuracy", expect=NonInferior(0.01),
        config={"range_test_lr": picked, "grid_lr": best.lr,
                **{k: v for k, v in bands.items() if k != "pick"}},
        labels=("range-test lr", "best grid lr"))
    assert verdict


# -- RC-4 ------------------------------------------------------------------------------------------

RC4 = dict(section=SECTION, question="Scaling tiny numbers up: does loss scaling rescue fp16 gradients?",
           anchors=["Micikevicius et al. 2018 / NVIDIA SSD: 31% of activation gradients become zero in fp16 "
                    "unscaled; loss scale 8..32K recovers fp32 accuracy",
                    "torch.amp.GradScaler: dynamic loss scaling"])
SCALED_RUNS = ("MLP 64-64-10 in float64 on the digits fit split, 20 steps on batches of 32 (drawn from the seed); "
               "the unscaled run and the run on loss x S start from the same init. Error per seed: "
               "max |p_scaled - p| / max |p| over all parameters. ")


@claim("RC-4", "Loss scaling cuts fp16 gradient underflow: the fraction of nonzero activation gradients that "
       "float16 flushes to zero falls as the loss scale rises (1, 2^5, 2^10)", **RC4,
       method="Digits MLPs trained in float32 (Adam, lr 1e-3, budget epochs), then one backward in real "
              "float16 on CPU (weights and inputs rounded to fp16; loss in fp32 from fp16 logits, times S, as "
              "autocast does) on 256 fit images. Counted: activation-gradient entries (d loss / d logits and "
              "d loss / d hidden) nonzero in a float32 backward from the same weights but zero in float16. "
              "Per-seed slope over the three scales, one-sided t; weight-gradient zeros and overflow reported.")
def test_loss_scaling_cuts_underflow(experiment):
    verdict = experiment.trend({f"S={s}": Underflow(scale=s) for s in (1.0, 32.0, 1024.0)},
                               metric="zeroed_fraction", expect=Decreasing(), unit="")
    assert verdict


@claim("RC-4", "SGD on the loss x S with lr / S takes exactly the steps of SGD on the loss", **RC4,
       method=SCALED_RUNS + "SGD lr 0.1. Hypothesis draws S in [1.5, 1e4] (not only powers of two, where "
       "it is exact bit for bit). Tolerance 1e-9 relative: float64 rounding (1e-16 per operation) over 20 steps "
       "stays far below it, while a wrong scaling is off by order 1.")
@given(scale=st.floats(1.5, 1e4))
def test_sgd_scaled_loss_with_scaled_lr_is_unchanged(experiment, scale):
    assert experiment.exact(partial(scaled_run_deviation, scale=scale), expect=Exact(tol=1e-9),
                            config={"scale": scale})


@claim("RC-4", "Adam is invariant to the loss scale: Adam on the loss x S takes the steps of Adam on the loss "
       "(eps -> 0)", **RC4,
       method=SCALED_RUNS + "Adam lr 1e-3 with eps 1e-300 (effectively 0: Adam divides m by sqrt(v) + eps, and "
       "S cancels from m / sqrt(v)). Hypothesis draws S in [2^-8, 2^16]; tolerance 1e-9 relative (float64).")
@given(scale=st.floats(2.0 ** -8, 2.0 ** 16))
def test_adam_is_loss_scale_invariant(experiment, scale):
    assert experiment.exact(partial(scaled_run_deviation, scale=scale, optimizer="adam", eps=1e-300),
                            expect=Exact(tol=1e-9), config={"scale": scale})


@claim("RC-4", "Where eps breaks Adam's invariance: with the default eps 1e-8, the deviation from the unscaled run "
       "grows as the loss scale shrinks (2^8, 2^-8, 2^-16), as S * |g| nears eps", **RC4,
       method=SCALED_RUNS + "Adam lr 1e-3, eps 1e-8 in both runs; metric log10 of the relative deviation. "
       "Levels from S=2^8 down to 2^-16; per-seed slope over them, one-sided t.")
def test_adam_eps_breaks_invariance_at_small_scales(experiment):
    levels = {f"S=2^{k}": partial(log10_adam_deviation, scale=2.0 ** k) for k in (8, -8, -16)}
    assert experiment.trend(levels, metric="value", expect=Increasing(), unit=" (log10)")


@claim("RC-4", "On CUDA, mixed precision (torch.amp autocast fp16 + GradScaler) trains non-inferior (1pp) to "
       "float32", **RC4,
       method=DIGITS + "Adam lr 1e-3 on the fit split; arm A under torch.autocast('cuda', float16) with "
              "torch.amp.GradScaler, arm B in float32, same seeds. Paired one-sided t against -1pp.")
def test_amp_gradscaler_noninferior_on_cuda(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: torch.amp's GradScaler and fp16 autocast are the GPU mixed-precision path; "
                    "on CPU the fp16 underflow parts above use real float16 without autocast")
    assert experiment.compare(MixedPrecision("fp16"), MixedPrecision("fp32"), metric="test_accuracy",
                              expect=NonInferior(0.01), labels=("AMP fp16 + GradScaler", "float32"))
