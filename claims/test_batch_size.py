"""Batch Size: must batch size be even (BS-1)? Are powers of two faster (BS-2)? What does batch size
trade (BS-3)?"""


from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.digits import DigitsMLP
from instincts import Equivalent, Superior, claim

SECTION = "Batch Size"


def odd_batch_sizes() -> st.SearchStrategy[int]:
    """Odd batch sizes from 3 to 127: the range where small-batch results are reported."""
    return st.integers(1, 63).map(lambda k: 2 * k + 1)


@claim("BS-1", "Odd batch sizes generalize as well as even ones: test accuracy at b (odd) is within ±1pp of b+1",
       section=SECTION, question="Must batch size be an even number?",
       anchors=["Masters & Luschi 2018: best results at batch sizes 2..32, no parity effect",
                "Raschka 2022: powers of two bring no measurable benefit"],
       method="MLP 64-64-10 on sklearn digits (1,437 train / 360 test), Adam, epochs from the budget; "
              "arm A batch b (odd), arm B batch b+1, same seeds (same init and data order); "
              "TOST on paired test-accuracy differences, margin 1pp")
@given(batch=odd_batch_sizes(), lr=st.sampled_from([1e-3, 3e-3]))
def test_odd_batch_sizes_generalize_as_well_as_even(experiment, batch, lr):
    verdict = experiment.compare(
        DigitsMLP(batch_size=batch, lr=lr),
        DigitsMLP(batch_size=batch + 1, lr=lr),
        metric="test_accuracy",
        expect=Equivalent(margin=0.01),
        config={"batch": batch, "lr": lr},
        labels=(f"b={batch}", f"b={batch + 1}"),
    )
    assert verdict


# -- BS-3: generalization vs throughput ---------------------------------------------------------

BS3 = dict(section=SECTION, question="Must batch size be an even number? (choose it by GPU memory and compute)",
           anchors=["Keskar et al. 2017: large-batch training converges to sharp minima, generalizes worse",
                    "Hoffer et al. 2017: the gap comes from fewer updates, not the batch size itself",
                    "Goyal et al. 2017: linear learning-rate scaling holds batch 8192 on ImageNet"])


@claim("BS-3", "At fixed epochs and learning rate a very large batch generalizes worse than a small one: test "
       "accuracy at batch 16 is superior to batch 512 or full batch (1,437)",
       method="MLP 64-64-10 on sklearn digits (1,437 train / 360 test), Adam, the budget's epochs, same lr for "
              "both arms (no linear scaling), same seeds; one-sided paired t on test-accuracy differences; "
              "hypothesis draws the lr and the large batch", **BS3)
@given(lr=st.sampled_from([1e-3, 3e-3]), large=st.sampled_from([512, 1437]))
def test_bs3_small_batch_generalizes_better_at_fixed_epochs(experiment, lr, large):
    verdict = experiment.compare(
        DigitsMLP(batch_size=16, lr=lr), DigitsMLP(batch_size=large, lr=lr),
        metric="test_accuracy", expect=Superior(), config={"lr": lr, "large": large},
        labels=("b=16", f"b={large}"))
    assert verdict
