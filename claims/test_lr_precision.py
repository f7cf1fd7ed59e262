"""Recipes and the rest: learning rates (RC-3 LR range test) and loss scaling / mixed precision (RC-4).

Every tuned arm is tuned on a validation split carved out of the training set, with tuning seeds
(1000, 1001, ...) disjoint from the evaluation seeds (0, 1, ...); the test set only scores the picks.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fixtures.arms.lr_precision import LR_GRID, AutocastUnderflow, Precision, matched_pair
from fixtures.arms.optimizers import (
    DigitsRecipe,
    Grid,
    InitialLoss,
    MixedPrecision,
    RangeTest,
    log10_adam_deviation,
    scaled_run_deviation,
)
from fixtures.recipes import DIGITS, TUNING, attach_tuning, range_test, tune_on_validation, tuning_seeds
from instincts import (
    Decreasing,
    Equivalent,
    Exact,
    Increasing,
    NonInferior,
    Requires,
    Superior,
    claim,
    log_floats,
    log_integers,
    trained,
)

SECTION = "Recipes and the rest"


# -- RC-3 ------------------------------------------------------------------------------------------

RC3 = dict(section=SECTION, question="Learning rates from 1 to 1e-6: which one?",
           anchors=["Smith 2017 (cyclical LRs): the LR range test, loss vs exponentially rising lr",
                    "fastai lr_find: 100 iterations, pick about a tenth of the minimum-loss lr"])
EXTREMES = DIGITS + ("Adam at a fixed lr for the budget's epochs; arm B is each seed's untrained network's loss on "
                     "the fit split. A diverged loss (inf/nan) would be reported as 1000. ")


@claim("RC-3", "Too small a learning rate leaves the loss flat: after training at lr 1e-6 the training loss is "
       "within ±0.05 nats of its initial value", **RC3,
       method=EXTREMES + "TOST on train loss (last epoch's mean) minus initial loss, margin 0.05 nats (2% of ln 10).",
       prediction="Smith 2017's range test: the loss is flat below ~1e-5 (the 'flat' band); at 1e-6 for 12 epochs "
       "(~430 Adam steps of ~1e-6) it moves by far less than 0.05 nats.")
def test_tiny_lr_leaves_loss_flat(experiment):
    assert experiment.compare(DigitsRecipe(lr=1e-6), InitialLoss(), metric="train_loss", unit=" nats",
                              expect=Equivalent(margin=0.05), labels=("after training, lr 1e-6", "at init"))


@claim("RC-3", "Too large a learning rate diverges: after training at lr 1 the training loss is above its "
       "initial value", **RC3, method=EXTREMES + "One-sided paired t: train loss minus initial loss > 0.",
       prediction="Smith 2017: past the range test's minimum (~1e-2 for Adam here) the loss rises above its start; "
       "at lr 1 it ends above ln 10 = 2.30 nats.")
def test_huge_lr_diverges(experiment):
    assert experiment.compare(DigitsRecipe(lr=1.0), InitialLoss(), metric="train_loss", unit=" nats",
                              expect=Superior(), labels=("after training, lr 1", "at init"))


@claim("RC-3", "The lr read from an LR range test trains non-inferior (1pp) to the best lr of a grid chosen on "
       "validation", **RC3,
       method=DIGITS + TUNING + "Range test (fixed rule): Adam, lr rising exponentially from 1e-6 to 1 over 100 "
       "mini-batches of the fit split, losses averaged over the tuning seeds and smoothed (EMA 0.9, bias-"
       "corrected); pick = a tenth of the lr at the smoothed minimum. Bands: flat until the smoothed loss is 2% "
       "below its start; diverging from the first lr past the minimum where it is back above its start. Grid "
       "(smoke): Adam lr {1e-4 .. 1e-1} in half-decades (7 points); standard/full: {1e-6 .. 1e-1} (11 points). "
       "Check: both arms train (mean train accuracy >= 50%, chance 10%). Paired one-sided t against -1pp on test "
       "accuracy.", prediction="Smith 2017 / fastai: the range-test lr trains about as well as a tuned grid lr "
       "(within 1pp); the grid reaches ~97% test accuracy on digits.")
def test_range_test_lr_noninferior_to_grid(experiment):
    bands = range_test(experiment, RangeTest(), tuning_seeds(experiment))
    picked = float(f"{bands['pick']:.3g}")
    grid_lrs = LR_GRID[4:] if experiment.budget.name == "smoke" else LR_GRID
    best, table = tune_on_validation(experiment, Grid(tuple(DigitsRecipe(lr=lr) for lr in grid_lrs)),
                                     tuning_seeds(experiment))
    attach_tuning(experiment, "lr grid (validation)", table, ("lr",))
    verdict = experiment.compare(
        DigitsRecipe(lr=picked), best, metric="test_accuracy", expect=NonInferior(0.01),
        config={"range_test_lr": picked, "grid_lr": best.lr,
                **{k: v for k, v in bands.items() if k != "pick"}},
        labels=("range-test lr", "best grid lr"), requires=trained(0.5))
    assert verdict


HEURISTIC = DIGITS + ("Seed's heuristic, made falsifiable: grid Adam lr {1e-6 .. 1e-1} in half-decades (11 points). "
                      "Early gradient statistics: the global gradient-norm at each of the first k Adam steps (same "
                      "init and batches of 32 for every lr of a seed), on the tuning seeds 1000..; two adjacent lrs "
                      "match when the largest relative gap between their profiles, averaged over seeds, is <= x. "
                      "Hypothesis draws k in [5, 50] and x in [1%, 10%] (log-uniform); the test takes the largest "
                      "matched pair (lo, hi). " + TUNING)


def early_matched_pair(experiment, steps: int, tol: float) -> tuple[float, float]:
    """The largest adjacent lr pair of the grid whose early gradient-norm profiles match (tuning seeds)."""
    pair, table = matched_pair(LR_GRID, tuple(tuning_seeds(experiment)), steps, tol)
    experiment.attach(f"gradient-norm profile gaps (k={steps})", [{k: f"{v:.4g}" for k, v in row.items()}
                                                                  for row in table])
    assume(pair is not None)
    return pair


@claim("RC-3", "Learning rates whose early gradient statistics match are not better candidates: the largest lr "
       "whose first-k-step gradient-norm profile matches its lower neighbour's within x% tests more than 1pp "
       "below the grid's validation-tuned best lr", **RC3,
       method=HEURISTIC + "The grid is tuned as a whole (11 lrs, tuning seeds); arm A: the pick, arm B: the "
       "matched pair's larger lr, both on the evaluation seeds. Check: the pick trains (train accuracy >= 50%). "
       "Paired one-sided t: test accuracy A - B > 1pp.",
       prediction="The seed: equal gradients, so likely not the solution. Matching profiles mean the weights have "
       "not moved enough in k steps to change the gradient, i.e. Smith 2017's flat band (lr <~ 1e-4 for Adam "
       "here), where 12 epochs under-train; the best lr (~1e-3..1e-2) scores ~97%.")
@given(steps=log_integers(5, 50), tol=log_floats(0.01, 0.1))
def test_lrs_with_matching_early_gradients_are_worse(experiment, steps, tol):
    lo, hi = early_matched_pair(experiment, steps, tol)
    best, table = tune_on_validation(experiment, Grid(tuple(DigitsRecipe(lr=lr) for lr in LR_GRID)),
                                     tuning_seeds(experiment))
    attach_tuning(experiment, "lr grid (validation)", table, ("lr",))
    assert experiment.compare(best, DigitsRecipe(lr=hi), metric="test_accuracy", expect=Superior(min_effect=0.01),
                              config={"k": steps, "tol": tol, "matched_lo": lo, "matched_hi": hi, "best_lr": best.lr},
                              labels=("best grid lr", "matched lr"),
                              requires=trained(0.5, arms=("best grid lr",)))


@claim("RC-3", "Learning rates whose early gradient statistics match are interchangeable: the largest adjacent "
       "lr pair whose first-k-step gradient-norm profiles match within x% reaches validation accuracies within "
       "±1pp of each other", **RC3,
       method=HEURISTIC + "Arms: the pair's two lrs on the evaluation seeds, validation accuracy after the "
       "budget's epochs. Check: the larger lr trains above chance (train accuracy >= 20%, chance 10%): two "
       "untrained nets would be equivalent trivially. TOST, margin 1pp.",
       prediction="If early gradients decided the outcome, matched lrs would end equal (within 1pp). They match "
       "because neither has moved the weights yet; over ~430 steps a 3x larger lr moves them 3x further, so the "
       "accuracies should differ by far more than 1pp in the flat band (Smith 2017: the loss starts to fall there).")
@given(steps=log_integers(5, 50), tol=log_floats(0.01, 0.1))
def test_lrs_with_matching_early_gradients_end_equal(experiment, steps, tol):
    lo, hi = early_matched_pair(experiment, steps, tol)
    assert experiment.compare(DigitsRecipe(lr=hi), DigitsRecipe(lr=lo), metric="val_accuracy",
                              expect=Equivalent(margin=0.01), config={"k": steps, "tol": tol, "lo": lo, "hi": hi},
                              labels=("larger matched lr", "smaller matched lr"),
                              requires=trained(0.2, arms=("larger matched lr",)))


# -- RC-4 ------------------------------------------------------------------------------------------

RC4 = dict(section=SECTION, question="Scaling tiny numbers up: does loss scaling rescue fp16 gradients?",
           anchors=["Micikevicius et al. 2018 / NVIDIA SSD: 31% of activation gradients become zero in fp16 "
                    "unscaled; loss scale 8..32K recovers fp32 accuracy",
                    "torch.amp.GradScaler: dynamic loss scaling"])
SCALED_RUNS = ("MLP 64-64-10 in float64 on the digits fit split, 20 steps on batches of 32 (drawn from the seed); "
               "the unscaled run and the run on loss x S start from the same init. Error per seed: "
               "max |p_scaled - p| / max |p| over all parameters. ")


DEEP = ("MLP 64-[64]x4-10 (ReLU, four hidden layers) on the digits fit split, Adam lr 1e-3, batch 32, trained "
        "under CPU bf16 autocast (the trainer's Recipe(precision='bf16')) for 40 epochs (train loss near zero, as "
        "late in training). ")


@claim("RC-4", "Loss scaling cuts fp16 gradient underflow in a deep, well-trained net: the fraction of nonzero "
       "activation gradients that float16 autocast flushes to zero falls as the loss scale rises (1, 2^5, 2^10)",
       **RC4,
       method=DEEP + "Then one backward under torch.autocast('cpu', float16) (Linear in fp16, loss in fp32 from "
       "the fp16 logits, times S) on 256 fit images. Counted: activation-gradient entries (every layer's output) "
       "nonzero in a float32 backward from the same weights but zero under fp16 autocast. Check: at S=1 at least "
       "5% underflow (else there is nothing to rescue). Per-seed slope over the three scales, one-sided t; the "
       "first layer's share and overflow reported.",
       prediction="Micikevicius et al. 2018: 31% of SSD's activation gradients underflow unscaled and a scale of "
       "8..32K rescues them; here (probe, 2 seeds) ~42% at S=1, ~11% at 2^5, ~2% at 2^10.")
def test_loss_scaling_cuts_underflow(experiment):
    verdict = experiment.trend({f"S={s:g}": AutocastUnderflow(scale=s) for s in (1.0, 32.0, 1024.0)},
                               metric="zeroed_fraction", expect=Decreasing(), unit="",
                               requires=Requires("zeroed_fraction", at_least=0.05, arms=("S=1",),
                                                 why="no fp16 underflow to rescue"))
    assert verdict


@claim("RC-4", "Mixed precision on CPU: digits MLPs trained under bf16 autocast score non-inferior (1pp) to "
       "float32 on test accuracy", **RC4,
       method=DIGITS.replace("batch 32, epochs from the budget", "batch 32, Adam lr 1e-3, the budget's epochs")
       + "Arm A: Recipe(precision='bf16') (torch.autocast('cpu', bfloat16) for the forward passes; float32 master "
       "weights, no loss scaling: bf16 has float32's exponent range), arm B: float32; same seeds, no tuning (the "
       "same fixed recipe for both). Check: both train (train accuracy >= 50%). Paired one-sided t against -1pp.",
       prediction="Kalamkar et al. 2019 (bfloat16 for deep learning training): bf16 mixed precision matches "
       "float32 accuracy without loss scaling; digits MLP ~97% in both.")
def test_bf16_autocast_noninferior_on_cpu(experiment):
    assert experiment.compare(Precision("bf16"), Precision("fp32"), metric="test_accuracy",
                              expect=NonInferior(0.01), labels=("bf16 autocast", "float32"), requires=trained(0.5))


@claim("RC-4", "SGD on the loss x S with lr / S takes exactly the steps of SGD on the loss", **RC4, check=True,
       prediction="An identity (chain rule): deviation at float64 rounding, ~1e-15, far below 1e-9.",
       method=SCALED_RUNS + "SGD lr 0.1. Hypothesis draws S in [1.5, 1e4] (not only powers of two, where "
       "it is exact bit for bit). Tolerance 1e-9 relative: float64 rounding (1e-16 per operation) over 20 steps "
       "stays far below it, while a wrong scaling is off by order 1.")
@given(scale=st.floats(1.5, 1e4))
def test_sgd_scaled_loss_with_scaled_lr_is_unchanged(experiment, scale):
    assert experiment.exact(partial(scaled_run_deviation, scale=scale), expect=Exact(tol=1e-9),
                            config={"scale": scale})


@claim("RC-4", "Adam is invariant to the loss scale: Adam on the loss x S takes the steps of Adam on the loss "
       "(eps -> 0)", **RC4, check=True,
       prediction="An identity (S cancels in m / sqrt(v)): deviation at float64 rounding, ~1e-15.",
       method=SCALED_RUNS + "Adam lr 1e-3 with eps 1e-300 (effectively 0: Adam divides m by sqrt(v) + eps, and "
       "S cancels from m / sqrt(v)). Hypothesis draws S in [2^-8, 2^16]; tolerance 1e-9 relative (float64).")
@given(scale=st.floats(2.0 ** -8, 2.0 ** 16))
def test_adam_is_loss_scale_invariant(experiment, scale):
    assert experiment.exact(partial(scaled_run_deviation, scale=scale, optimizer="adam", eps=1e-300),
                            expect=Exact(tol=1e-9), config={"scale": scale})


@claim("RC-4", "Where eps breaks Adam's invariance: with the default eps 1e-8, the deviation from the unscaled run "
       "grows as the loss scale shrinks (2^8, 2^-8, 2^-16), as S * |g| nears eps", **RC4, check=True,
       prediction="By construction: eps / S grows 2^24-fold from S=2^8 to 2^-16, so the deviation rises with it.",
       method=SCALED_RUNS + "Adam lr 1e-3, eps 1e-8 in both runs; metric log10 of the relative deviation. "
       "Levels from S=2^8 down to 2^-16; per-seed slope over them, one-sided t.")
def test_adam_eps_breaks_invariance_at_small_scales(experiment):
    levels = {f"S=2^{k}": partial(log10_adam_deviation, scale=2.0 ** k) for k in (8, -8, -16)}
    assert experiment.trend(levels, metric="value", expect=Increasing(), unit=" (log10)")


@claim("RC-4", "On CUDA, mixed precision (torch.amp autocast fp16 + GradScaler) trains non-inferior (1pp) to "
       "float32", **RC4,
       prediction="Micikevicius et al. 2018: fp16 mixed precision with loss scaling matches fp32 accuracy.",
       method=DIGITS + "Adam lr 1e-3 on the fit split; arm A under torch.autocast('cuda', float16) with "
              "torch.amp.GradScaler, arm B in float32, same seeds. Paired one-sided t against -1pp.")
def test_amp_gradscaler_noninferior_on_cuda(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: torch.amp's GradScaler and fp16 autocast are the GPU mixed-precision path; "
                    "on CPU, bf16 autocast training and the fp16-autocast underflow count above stand in")
    assert experiment.compare(MixedPrecision("fp16"), MixedPrecision("fp32"), metric="test_accuracy",
                              expect=NonInferior(0.01), labels=("AMP fp16 + GradScaler", "float32"))
