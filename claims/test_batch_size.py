"""Batch Size: must batch size be even? (BS-1)"""

from hypothesis import given
from hypothesis import strategies as st

from claims.configs import DigitsMLP
from instincts import Equivalent, claim

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
