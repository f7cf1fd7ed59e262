"""Recipes and the rest ("Untitled"): architecture identities and tricks (RC-2, RC-9; RC-8 is in test_figures.py).

RC-2  a deep network without nonlinearities is one linear map; BatchNorm folds into its conv.
RC-9  a RepVGG block fuses into one conv (same outputs, faster); distillation beats hard labels.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.architecture import (
    DigitsNet,
    FusionSpeedup,
    Student,
    bn_fold_error,
    collapse_error,
    fusion_error,
)
from instincts import Equivalent, Exact, Reference, Superior, claim

SECTION = "Recipes and the rest"


# -- RC-2 --------------------------------------------------------------------------------------
RC2_Q = "Simplify the whole equation: is a deep linear network more than one matrix?"
RC2_ANCHORS = ["Saxe et al. 2014: deep linear networks compute a linear map (their learning dynamics differ)",
               "Ioffe & Szegedy 2015: inference-time BatchNorm is an affine map per channel"]


depths_and_widths = st.integers(2, 8).flatmap(lambda depth: st.lists(st.integers(1, 64), min_size=depth + 1,
                                                                     max_size=depth + 1).map(tuple))


@claim("RC-2", "A deep network without nonlinearities equals one linear map: the product of its weight "
       "matrices (and the propagated biases) gives its outputs", section=SECTION, question=RC2_Q,
       anchors=RC2_ANCHORS,
       method="Hypothesis draws the depth (2-8 Linear layers) and every width (1-64); per seed a random float64 "
              "net (torch's default init) and 32 random inputs. Error: max |net(x) - (x W^T + b)| with W = W_L ... "
              "W_1 and b propagated layer by layer. Exact within 1e-5 (float64 rounding is ~1e-15).")
@given(widths=depths_and_widths)
def test_deep_linear_net_is_one_matrix(experiment, widths):
    assert experiment.exact(lambda seed: collapse_error(seed, widths), expect=Exact(tol=1e-5),
                            config={"widths": list(widths)})


@claim("RC-2", "BatchNorm (eval mode) folds into the preceding conv exactly",
       section=SECTION, question=RC2_Q, anchors=RC2_ANCHORS,
       method="Hypothesis draws in/out channels (1-16) and the kernel (1, 3, 5); per seed a random float64 conv "
              "with bias and a BatchNorm2d with random running mean (N(0,1)), variance (U(0.1, 2.1)), weight and "
              "bias (N(0,1)), in eval mode. Error: max |bn(conv(x)) - folded(x)| on 4 random 12x12 inputs. "
              "Exact within 1e-5.")
@given(channels=st.tuples(st.integers(1, 16), st.integers(1, 16)), kernel=st.sampled_from([1, 3, 5]))
def test_batchnorm_folds_into_conv(experiment, channels, kernel):
    assert experiment.exact(lambda seed: bn_fold_error(seed, channels, kernel), expect=Exact(tol=1e-5),
                            config={"channels": list(channels), "kernel": kernel})


@claim("RC-2", "A trained deep linear net scores like logistic regression (within 2pp) and below a ReLU net of "
       "the same shape", section=SECTION, question=RC2_Q, anchors=RC2_ANCHORS,
       method="sklearn digits (fixed split, 1,437 train / 360 test). Hypothesis draws the depth (2, 3, 4 hidden "
              "layers) and width (32, 128). Three nets, the same recipe (Adam, lr 1e-3, batch 32, the budget's "
              "epochs), paired by seed (init seed, data order): the deep linear net, logistic regression "
              "(one Linear layer), and the same net with ReLUs. Deep linear vs logistic: Equivalent, margin 2pp "
              "(TOST); ReLU vs deep linear: Superior.",
       comparisons=2)
@given(depth=st.sampled_from([2, 3, 4]), width=st.sampled_from([32, 128]))
def test_deep_linear_net_scores_like_logistic_regression(experiment, depth, width):
    config = {"depth": depth, "width": width}
    deep = DigitsNet(depth, width, "linear")
    like = experiment.compare(deep, DigitsNet(0), metric="test_accuracy", expect=Equivalent(margin=0.02),
                              config=config, labels=("deep linear", "logistic regression"))
    below = experiment.compare(DigitsNet(depth, width, "relu"), deep, metric="test_accuracy", expect=Superior(),
                               config=config, labels=("ReLU net", "deep linear"))
    assert like and below


# -- RC-9 --------------------------------------------------------------------------------------
RC9_Q = "Trains well, infers fast: can a trained model be made cheaper without losing what it learned?"
RC9_ANCHORS = ["Ding et al. 2021 (RepVGG): 83% faster than ResNet-50 at higher accuracy",
               "Hinton et al. 2015: distillation on MNIST, 146 -> 74 test errors for the small net"]


@claim("RC-9", "A multi-branch RepVGG block fused into one 3x3 conv gives the same outputs",
       section=SECTION, question=RC9_Q, anchors=RC9_ANCHORS,
       method="Hypothesis draws the input channels (4, 8, 16) and the stride (1, 2). Per seed two blocks with seeded "
              "init and random BN statistics/affine (eval mode): C -> C (with the identity branch at stride 1) and "
              "C -> 2C (no identity branch); the branches are folded and summed into one 3x3 conv "
              "(models/repvgg.py). Error: the larger max |block(x) - fused(x)| of the two on 2 random 16x16 inputs, "
              "float32; exact within 1e-4.")
@given(channels=st.sampled_from([4, 8, 16]), stride=st.sampled_from([1, 2]))
def test_repvgg_fusion_is_exact(experiment, channels, stride):
    def both_blocks(seed: int) -> float:
        return max(fusion_error(seed, channels, out, stride) for out in (channels, 2 * channels))

    assert experiment.exact(both_blocks, expect=Exact(tol=1e-4), config={"channels": channels, "stride": stride})


@claim(id="RC-9", timing=True,
       statement="The fused block infers faster than the multi-branch block", section=SECTION, question=RC9_Q,
       anchors=RC9_ANCHORS,
       method="A RepVGG block with 32 -> 32 channels (identity branch included) on a batch of 8 x 32 x 32, CPU, "
              "eval mode, no grad. Per seed: a fresh block, both forms timed interleaved (instincts.timing: ABBA "
              "order, 3 warm-up calls each, 30 paired repetitions of one call). Metric: the mean log time ratio "
              "multi-branch / fused (exp of it is the speed-up), judged against 0 (no difference): Superior. "
              "Timings share the machine with other work; pairing by repetition cancels the load, not the "
              "absolute numbers.")
def test_fused_block_is_faster(experiment):
    assert experiment.compare(FusionSpeedup(), Reference(0.0, "log_speedup"), metric="log_speedup",
                              expect=Superior(), unit="", labels=("log(t_multi / t_fused)", "no difference"))


@claim("RC-9", "A distilled student beats the same student trained on hard labels", section=SECTION,
       question=RC9_Q, anchors=RC9_ANCHORS,
       method="sklearn digits. Student: 64 -> 32 -> 10 ReLU MLP; teacher: 64 -> 256 -> 10 ReLU MLP, trained per "
              "seed (init seed + 10,000) on hard labels. Both students: Adam, lr 1e-3, batch 32, the budget's "
              "epochs, same init and data order per seed. Distilled loss: 0.9 * T^2 * KL(teacher_T || "
              "student_T) + 0.1 * CE(labels), T = 4; the other student: CE on labels alone. Superior on test "
              "accuracy (fixtures/arms/architecture.py).")
def test_distilled_student_beats_hard_labels(experiment):
    assert experiment.compare(Student(teacher_hidden=256), Student(), metric="test_accuracy", expect=Superior(),
                              labels=("distilled (T=4)", "hard labels"))
