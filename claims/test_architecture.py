"""Recipes and the rest ("Untitled"): architecture identities and tricks (RC-2, RC-9; RC-8 is in test_figures.py).

RC-2  a deep network without nonlinearities is one linear map (checks); trained to convergence with its
      own tuned lr it scores like logistic regression, and a ReLU net beats it where no line separates.
RC-9  a RepVGG block fuses into one conv (a check) that infers faster, and its branches train better than a
      plain block; distillation from a converged teacher beats hard labels.

Tuned arms pick their hyperparameters on validation data with tuning seeds 1000.. (disjoint from the
evaluation seeds 0..), every arm of a comparison with the same number of grid points.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.architecture import (
    CAP,
    LRS,
    PATIENCE,
    FusionSpeedup,
    RepVGGDigits,
    RepVGGGrid,
    Student,
    StudentGrid,
    TaskNet,
    bn_fold_error,
    collapse_error,
    fusion_error,
    lr_grid,
)
from fixtures.recipes import attach_tuning, tune_on_validation, tuning_seeds
from instincts import Equivalent, Exact, Reference, Requires, Superior, claim, log_integers, trained

SECTION = "Recipes and the rest"
CONVERGED = Requires("cap_hit", at_most=0.0, why=f"hit the {CAP}-epoch cap: not converged")
TRAINING = (f"Adam, batch 32, trained to convergence: early stopping on the seed's own stratified 20% validation "
            f"split of the training set (patience {PATIENCE} epochs, best epoch restored, cap {CAP} epochs: "
            f"checked never hit). Equal tuning: every arm picks its lr from {{{', '.join(f'{lr:g}' for lr in LRS)}}} "
            "by mean best validation accuracy over tuning seeds 1000.. (a quarter of the budget's seeds, at least "
            "3; ties: the smaller lr); the picks are retrained with evaluation seeds 0.. (init, data order and "
            "split, paired across arms) and scored on the test set. ")


def tuned(experiment, net: TaskNet, name: str) -> TaskNet:
    """``net`` at the lr its grid picks on validation (tuning seeds), the tuning table attached."""
    pick, table = tune_on_validation(experiment, lr_grid(net), tuning_seeds(experiment))
    attach_tuning(experiment, f"{name}: lr tuning (validation)", table, ("lr",))
    return pick


# -- RC-2 --------------------------------------------------------------------------------------
RC2_Q = "Simplify the whole equation: is a deep linear network more than one matrix?"
RC2_ANCHORS = ["Saxe et al. 2014: deep linear networks compute a linear map (their learning dynamics differ)",
               "Ioffe & Szegedy 2015: inference-time BatchNorm is an affine map per channel"]


depths_and_widths = log_integers(2, 8).flatmap(lambda depth: st.lists(log_integers(1, 64), min_size=depth + 1,
                                                                      max_size=depth + 1).map(tuple))


@claim("RC-2", "A deep network without nonlinearities equals one linear map: the product of its weight "
       "matrices (and the propagated biases) gives its outputs", section=SECTION, question=RC2_Q,
       anchors=RC2_ANCHORS, check=True,
       prediction="error 0 up to float64 rounding (~1e-15): an identity of linear algebra (Saxe et al. 2014)",
       method="Hypothesis draws the depth (2-8 Linear layers, log) and every width (1-64, log); per seed a random "
              "float64 net (torch's default init, seeded) and 32 random inputs. Error: max |net(x) - (x W^T + b)| "
              "with W = W_L ... W_1 and b propagated layer by layer. Exact within 1e-5.")
@given(widths=depths_and_widths)
def test_deep_linear_net_is_one_matrix(experiment, widths):
    assert experiment.exact(lambda seed: collapse_error(seed, widths), expect=Exact(tol=1e-5),
                            config={"widths": list(widths)})


@claim("RC-2", "BatchNorm (eval mode) folds into the preceding conv exactly",
       section=SECTION, question=RC2_Q, anchors=RC2_ANCHORS, check=True,
       prediction="error 0 up to float64 rounding: eval-mode BN is an affine map per channel (Ioffe & Szegedy "
                  "2015)",
       method="Hypothesis draws in/out channels (1-16, log) and the kernel (3, 1 or 5); per seed a random float64 "
              "conv with bias and a BatchNorm2d with random running mean (N(0,1)), variance (U(0.1, 2.1)), weight "
              "and bias (N(0,1)), in eval mode. Error: max |bn(conv(x)) - folded(x)| on 4 random 12x12 inputs. "
              "Exact within 1e-5.")
@given(channels=st.tuples(log_integers(1, 16), log_integers(1, 16)), kernel=st.sampled_from([3, 1, 5]))
def test_batchnorm_folds_into_conv(experiment, channels, kernel):
    assert experiment.exact(lambda seed: bn_fold_error(seed, channels, kernel), expect=Exact(tol=1e-5),
                            config={"channels": list(channels), "kernel": kernel})


@claim("RC-2", "Trained to convergence with its own tuned lr, a deep linear net scores like logistic regression "
       "on digits (within 2pp)", section=SECTION, question=RC2_Q, anchors=RC2_ANCHORS,
       prediction="equivalent within ±2pp: with every width >= 10 both compute the same class of maps (all "
                  "affine maps 64 -> 10), so at convergence they reach the same accuracy (Saxe et al. 2014: only "
                  "the learning dynamics differ); logistic regression scores ~96% on sklearn digits",
       method="sklearn digits (fixed split, 1,437 train / 360 test). Hypothesis draws the depth (2-4 hidden "
              "layers, log) and width (16-128, log). Arm A: the deep linear net 64 -> [width] * depth -> 10 (no "
              "activation); arm B: logistic regression (one Linear layer). " + TRAINING +
              "TOST on paired test accuracy, margin 2pp; both arms must train (train accuracy >= 90%, chance 10%).")
@given(depth=log_integers(2, 4), width=log_integers(16, 128))
def test_deep_linear_net_scores_like_logistic_regression(experiment, depth, width):
    deep = tuned(experiment, TaskNet("digits", depth, width), "deep linear")
    logistic = tuned(experiment, TaskNet("digits", 0), "logistic regression")
    assert experiment.compare(deep, logistic, metric="test_accuracy", expect=Equivalent(margin=0.02),
                              config={"depth": depth, "width": width, "lr_deep": deep.lr, "lr_logistic": logistic.lr},
                              labels=("deep linear", "logistic regression"), requires=[trained(0.9), CONVERGED])


@claim("RC-2", "Where no line separates the classes (two moons), a ReLU net beats the deep linear net of the "
       "same shape, each trained to convergence with its own tuned lr", section=SECTION, question=RC2_Q,
       anchors=RC2_ANCHORS,
       prediction="ReLU superior by about 7pp: the deep linear net is one linear map, so it stays at the best "
                  "linear classifier's level (logistic regression 85.9% on this split), while a ReLU net can reach "
                  "a nonlinear classifier's (an RBF SVM: 93.1%)",
       method="sklearn make_moons, noise 0.25: 600 training points (seed 0), 1,000 test points (seed 1). "
              "Hypothesis draws the depth (2-4 hidden layers, log) and width (16-128, log). Arm A: 2 -> [width] * "
              "depth -> 2 with ReLUs; arm B: the same without activations. " + TRAINING +
              "Paired one-sided t on test accuracy; both arms must train (train accuracy >= 75%, chance 50%).")
@given(depth=log_integers(2, 4), width=log_integers(16, 128))
def test_relu_net_beats_deep_linear_where_no_line_separates(experiment, depth, width):
    relu = tuned(experiment, TaskNet("moons", depth, width, "relu"), "ReLU net")
    linear = tuned(experiment, TaskNet("moons", depth, width), "deep linear")
    assert experiment.compare(relu, linear, metric="test_accuracy", expect=Superior(),
                              config={"depth": depth, "width": width, "lr_relu": relu.lr, "lr_linear": linear.lr},
                              labels=("ReLU net", "deep linear"), requires=[trained(0.75), CONVERGED])


# -- RC-9 --------------------------------------------------------------------------------------
RC9_Q = "Trains well, infers fast: can a trained model be made cheaper without losing what it learned?"
RC9_ANCHORS = ["Ding et al. 2021 (RepVGG): 83% faster than ResNet-50 at higher accuracy; Table 6: RepVGG-B0 "
               "75.14% with identity and 1x1 branches vs 72.39% plain (ImageNet, 120 epochs)",
               "Hinton et al. 2015: distillation on MNIST, 146 -> 74 test errors for the small net"]


@claim("RC-9", "A multi-branch RepVGG block fused into one 3x3 conv gives the same outputs",
       section=SECTION, question=RC9_Q, anchors=RC9_ANCHORS, check=True,
       prediction="error 0 up to float32 rounding (~1e-6): each branch is linear in eval mode (Ding et al. 2021)",
       method="Hypothesis draws the input channels (4-16, log) and the stride (1, 2). Per seed two blocks with "
              "seeded init and random BN statistics/affine (eval mode): C -> C (with the identity branch at "
              "stride 1) and C -> 2C (no identity branch); the branches are folded and summed into one 3x3 conv "
              "(models/repvgg.py). Error: the larger max |block(x) - fused(x)| of the two on 2 random 16x16 "
              "inputs, float32; exact within 1e-4.")
@given(channels=log_integers(4, 16), stride=st.sampled_from([1, 2]))
def test_repvgg_fusion_is_exact(experiment, channels, stride):
    def both_blocks(seed: int) -> float:
        return max(fusion_error(seed, channels, out, stride) for out in (channels, 2 * channels))

    assert experiment.exact(both_blocks, expect=Exact(tol=1e-4), config={"channels": channels, "stride": stride})


@claim(id="RC-9", timing=True,
       statement="The fused block infers faster than the multi-branch block", section=SECTION, question=RC9_Q,
       anchors=RC9_ANCHORS,
       prediction="faster: one conv instead of two convs, three BNs and two additions; RepVGG reports 83% higher "
                  "throughput than ResNet-50 for whole nets (GPU), so a speed-up well above 1x per block",
       method="A RepVGG block with 32 -> 32 channels (identity branch included) on a batch of 8 x 32 x 32, eval "
              "mode, no grad. Per seed: a fresh block, both forms timed by torch.utils.benchmark "
              "(instincts.benchmark_interleaved: two passes in ABBA order, each the median of a "
              "blocked_autorange of 0.05 s; CPU time on a CPU, wall time on an accelerator). Metric: the mean "
              "over passes of log(t_multi / t_fused) (exp of it is the speed-up), judged against 0: Superior.")
def test_fused_block_is_faster(experiment):
    assert experiment.compare(FusionSpeedup(min_run_time=0.05), Reference(0.0, "log_speedup"),
                              metric="log_speedup", expect=Superior(), unit="",
                              labels=("log(t_multi / t_fused)", "no difference"))


REPVGG = dict(width=8, steps=150)


@claim("RC-9", "At equal optimizer steps, a net of multi-branch RepVGG blocks trains to higher test accuracy than "
       "the same net of plain conv-BN-ReLU blocks", section=SECTION, question=RC9_Q, anchors=RC9_ANCHORS,
       prediction="multi-branch superior: +2.75pp on ImageNet for the 28-layer RepVGG-B0 after 120 epochs "
                  "(Ding et al. 2021, Table 6: 75.14% vs 72.39%); the anchor gives no number for short training "
                  "or shallow nets",
       method="sklearn digits as 1x8x8 images (1,437 train less a per-seed 20% validation split / 360 test). "
              "Hypothesis draws the depth (2-8 blocks, log). Arm A: that many RepVGG blocks of 8 channels "
              "(3x3 + 1x1 + identity branches, each with BN; the first has "
              "no identity), global average pool, linear; arm B: the same with the 3x3 branch only. Both: Adam "
              "at the lr each picks from {1e-3, 3e-3, 1e-2} (equal tuning: final validation accuracy on the seed's "
              "split, mean over tuning seeds 1000..), batch 32, exactly 150 optimizer steps (equal steps), seeds "
              "paired (init, data order, split). Scored in eval mode on the test set. Paired one-sided t; both "
              "must train (train accuracy >= 50%, chance 10%).")
@given(depth=log_integers(2, 8))
def test_multi_branch_block_trains_better(experiment, depth):
    picks = {}
    for branches, name in ((True, "multi-branch"), (False, "plain")):
        grid = RepVGGGrid(tuple(RepVGGDigits(depth, branches, lr=lr, **REPVGG) for lr in LRS))
        picks[name], table = tune_on_validation(experiment, grid, tuning_seeds(experiment))
        attach_tuning(experiment, f"{name}: lr tuning (validation)", table, ("lr",))
    assert experiment.compare(picks["multi-branch"], picks["plain"], metric="test_accuracy", expect=Superior(),
                              labels=("multi-branch", "plain"), requires=trained(0.5),
                              config={"depth": depth, **{f"lr_{k}": v.lr for k, v in picks.items()}})


HARD_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
SOFT_GRID = ((2.0, 0.5), (2.0, 0.9), (5.0, 0.5), (5.0, 0.9))


@claim("RC-9", "A student distilled from a converged CNN teacher beats the same student trained on hard labels, "
       "each tuned on validation", section=SECTION, question=RC9_Q, anchors=RC9_ANCHORS,
       prediction="distilled superior: Hinton et al. 2015 halve the small net's MNIST test errors (146 -> 74, "
                  "+0.72pp); on digits the hard-label student errs ~4% (~14 of 360), so halving would be ~+2pp",
       method="sklearn digits (fixed split, 1,437 train / 360 test). Student: 64 -> 32 -> 10 ReLU MLP. Teacher, "
              "per seed: a CNN (models/cnn.py ShapesCNN, 16/32/32 channels with BN, on 1x8x8 images; Adam lr "
              "3e-3, batch 64, early stopping as the students), about 99% on the test set; it must reach >= 97% on "
              "its validation split (checked). Students: Adam, batch 32, trained to convergence (early stopping on "
              f"the seed's 20% validation split, also the teacher's; patience {PATIENCE}, cap {CAP}: checked). "
              "Distilled loss: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels). Equal tuning, "
              "4 grid points each by mean best validation accuracy over tuning seeds 1000..: the hard-label student's "
              "lr {1e-3, 3e-3, 1e-2, 3e-2}; the distilled student's (T, alpha) in {2, 5} x {0.5, 0.9} at lr 3e-3. "
              "Paired one-sided t on test accuracy; both students must train (train accuracy >= 90%).")
def test_distilled_student_beats_hard_labels(experiment):
    seeds = tuning_seeds(experiment)
    hard, hard_table = tune_on_validation(experiment, StudentGrid(tuple(Student(lr=lr) for lr in HARD_GRID)), seeds)
    soft, soft_table = tune_on_validation(
        experiment, StudentGrid(tuple(Student(temperature=t, alpha=a) for t, a in SOFT_GRID)), seeds)
    attach_tuning(experiment, "hard-label student: lr (validation)", hard_table, ("lr",))
    attach_tuning(experiment, "distilled student: T and alpha (validation)", soft_table, ("temperature", "alpha"))
    teacher = Requires("teacher_val_accuracy", at_least=0.97, arms=("distilled",),
                       why="the teacher is not converged near 99%")
    assert experiment.compare(soft, hard, metric="test_accuracy", expect=Superior(),
                              config={"hard_lr": hard.lr, "T": soft.temperature, "alpha": soft.alpha},
                              labels=("distilled", "hard labels"), requires=[trained(0.9), CONVERGED, teacher])
