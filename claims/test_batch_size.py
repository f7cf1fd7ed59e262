"""Batch Size: must batch size be even (BS-1)? What does batch size trade (BS-3)? Timing and memory
(BS-2, BS-3) are in ``test_batch_timing.py``."""

from hypothesis import given

from fixtures.arms.batch_accuracy import (
    CAP,
    EPOCHS,
    SMALL,
    STEPS,
    TRAIN,
    Midpoint,
    converged,
    equal_epochs,
    equal_steps,
)
from instincts import Equivalent, Requires, claim, log_floats, log_integers, trained

SECTION = "Batch Size"
DATA = ("MLP 64-64-10 on sklearn digits (fixed 1,437 train / 360 test split; per seed 20% of the train part held "
        f"out for validation, {TRAIN:,} images left to train on)")


# -- BS-1: parity, apart from the batch-size trend --------------------------------------------

CONVERGED = Requires("cap_hit", at_most=0.0, why=f"hit the {CAP:,}-epoch cap: not converged")


@claim("BS-1", "Odd batch sizes generalize as well as even ones: test accuracy at b (odd) is within ±1pp of the "
       "mean of b-1 and b+1 (the second difference removes the batch-size trend)",
       section=SECTION, question="Must batch size be an even number?",
       anchors=["Masters & Luschi 2018: test accuracy varies smoothly with batch size, best at 2..32",
                "Raschka 2022: powers of two bring no measurable benefit"],
       prediction="second difference 0 within ±1pp: no parity effect, only a smooth trend over batch size "
                  "(Masters & Luschi 2018; Raschka 2022)",
       method=f"{DATA}, Adam; every arm trained to convergence: early stopping on the seed's validation accuracy "
              f"(patience max(10 epochs, 500 steps), best epoch restored, cap {CAP:,} epochs, never reached: "
              "checked). Arm A batch b (odd); arm B the per-seed mean of batches b-1 and b+1, same seeds "
              "(init, data order, validation split). TOST on the paired second differences "
              "f(b) - (f(b-1) + f(b+1))/2 of test accuracy, margin 1pp; hypothesis draws b (3..255, log) and "
              "the lr (3e-4..1e-2, log); both arms must train (train accuracy >= 90%, chance 10%).")
@given(batch=log_integers(1, 127).map(lambda k: 2 * k + 1), lr=log_floats(3e-4, 1e-2))
def test_odd_batch_sizes_generalize_as_well_as_even(experiment, batch, lr):
    verdict = experiment.compare(
        converged(batch, lr), Midpoint(converged(batch - 1, lr), converged(batch + 1, lr)),
        metric="test_accuracy", expect=Equivalent(margin=0.01), config={"batch": batch, "lr": lr},
        labels=(f"b={batch}", f"mean of b={batch - 1},{batch + 1}"), requires=[trained(0.9), CONVERGED])
    assert verdict


# -- BS-3: the generalization gap, and linear lr scaling ----------------------------------------

BS3 = dict(section=SECTION, question="Must batch size be an even number? (choose it by GPU memory and compute)",
           anchors=["Keskar et al. 2017: large-batch training converges to sharp minima, generalizes worse",
                    "Hoffer et al. 2017: the gap comes from fewer updates, not the batch size itself",
                    "Goyal et al. 2017: linear learning-rate scaling with warm-up holds batch 8192 on ImageNet"])


@claim("BS-3", "Given equal optimizer steps, linear lr scaling and warm-up, a large batch's generalization gap "
       "(test minus train accuracy) is within ±1pp of batch 16's",
       prediction="Hoffer 2017: equal updates close the gap, 0 within ±1pp. Keskar 2017 predicts a wider gap for "
                  "the large batch: 2.11pp vs 1.63pp (+0.5pp) for a fully connected net on MNIST, +2.5pp for a "
                  "shallow conv net on CIFAR-10",
       method=f"{DATA}, momentum SGD (0.9), no early stopping: both arms take exactly {STEPS:,} steps (40 epochs "
              "at b=16, b/16 times as many epochs at batch b), lr eta at b=16 and eta*b/16 at b (linear scaling), "
              f"linear warm-up over the first {STEPS // 8} steps for both. Metric: generalization gap = test "
              "accuracy - train accuracy of the final model; TOST on paired differences, margin 1pp; hypothesis "
              "draws b (64..512, log) and eta (0.003..0.03, log; Goyal's 0.1*16/256 = 0.00625 inside); both arms "
              "must fit the training images (train accuracy >= 97%): the gap of a net that did not fit is no "
              "generalization gap. At equal steps b=16 is the less fitted arm (it sees 16/b as many epochs).",
       **BS3)
@given(large=log_integers(64, 512), eta=log_floats(0.003, 0.03))
def test_bs3_equal_steps_close_the_generalization_gap(experiment, large, eta):
    verdict = experiment.compare(
        equal_steps(SMALL, eta), equal_steps(large, eta), metric="generalization_gap",
        expect=Equivalent(margin=0.01), unit="pp", config={"large": large, "eta": eta, "steps": STEPS},
        labels=(f"b={SMALL}", f"b={large}"), requires=trained(0.97))
    assert verdict


LINEAR = ("momentum SGD (0.9), lr eta*b/16 (linear scaling), linear warm-up over each arm's first 5 epochs "
          f"(Goyal 2017), {EPOCHS} epochs for every arm (equal epochs, the rule's regime), no early stopping. "
          "Each batch against b=16 on the same seeds; TOST on paired test-accuracy differences, margin 1pp; "
          "hypothesis draws eta (0.003..0.03, log; Goyal's 0.1*16/256 = 0.00625 inside). The b=16 baseline must "
          "converge (train accuracy >= 97%) and the scaled arm must train (>= 50%, chance 10%): a scaled lr that "
          "diverges is reported as INCONCLUSIVE with its train accuracy, the rule failing by instability.")
BASELINE = trained(0.97, arms=(f"b={SMALL}",))


def linear_scaling(experiment, eta: float, batches: tuple[int, ...]) -> list:
    return [experiment.compare(equal_epochs(b, eta), equal_epochs(SMALL, eta), metric="test_accuracy",
                               expect=Equivalent(margin=0.01), config={"eta": eta, "batch": b, "epochs": EPOCHS},
                               labels=(f"b={b}", f"b={SMALL}"),
                               requires=[BASELINE, trained(0.5, arms=(f"b={b}",))])
            for b in batches]


@claim("BS-3", "Linear lr scaling with warm-up keeps test accuracy within ±1pp of batch 16 up to batch 256 "
       f"(22% of the {TRAIN:,} training images per step), at equal epochs",
       prediction="Goyal 2017: ResNet-50 on ImageNet, top-1 error 23.74% at batch 8k vs 23.60% at 256 (+0.14pp), "
                  "worse beyond 8k: within ±1pp up to a critical batch",
       method=f"{DATA}, batches 64 and 256; " + LINEAR, comparisons=2, **BS3)
@given(eta=log_floats(0.003, 0.03))
def test_bs3_linear_lr_scaling_holds_up_to_a_critical_batch(experiment, eta):
    verdicts = linear_scaling(experiment, eta, (64, 256))
    assert all(verdicts), verdicts


@claim("BS-3", "Linear lr scaling with warm-up keeps test accuracy within ±1pp of batch 16 even at batch 1,024 "
       f"(89% of the {TRAIN:,} training images per step, 2 steps per epoch), at equal epochs",
       prediction="beyond the critical batch the rule may fail (Goyal 2017: it breaks beyond 8k on ImageNet, "
                  "0.6% of the data per step); expected to fail where eta*b/16 exceeds momentum SGD's stable lr",
       method=f"{DATA}, batch 1,024; " + LINEAR, **BS3)
@given(eta=log_floats(0.003, 0.03))
def test_bs3_linear_lr_scaling_near_full_batch(experiment, eta):
    verdict, = linear_scaling(experiment, eta, (1024,))
    assert verdict
