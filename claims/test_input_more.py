"""Input: negatives as extra data (IN-5) and channels packed into rows (IN-6). Arms: ``fixtures.arms.input``."""

from __future__ import annotations

from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.input import IN6_COLOURS, IN6_SIDE, ColourShapes, NegativeDigits, chance_accuracy
from fixtures.interleave import PACKED_TOL, packed_conv_error
from fixtures.samples import attach_negatives, attach_packed_scenes
from instincts import Equivalent, Exact, Superior, claim

SECTION = "Input"

# -- IN-5: negatives ---------------------------------------------------------------------------
IN5_QUESTION = "Grayscale and invert the colours (W/B -> B/W): does that double the data?"
IN5_ANCHORS = ["Hosseini et al. 2017: CNNs trained on regular images score far lower on their negatives "
               "(MNIST, GTSRB, CIFAR-10); training on both closes much of the gap"]
IN5_METHOD = ("sklearn digits as 1 x 8 x 8 images in [0, 1] (fixed stratified split: 1,437 train, 360 test); the "
              "negative of an image is 1 - x. DigitCNN (conv3x3 16, max-pool, conv3x3 32, linear), Adam lr 1e-3, "
              "batch 32, epochs from the budget. N = 718 (half the training set): '2N real' trains on the first "
              "1,436 training images; 'N real + N inverted' on the first 718 and their negatives, so both arms "
              "take the same number of steps. Both arms are scored on the normal test set and on its negatives, "
              "paired by seed (same init and data order).")
NEAR_CHANCE = 0.15  # "near chance": within 15pp of 10%, where the normal test sits near 100%


@claim("IN-5", "A CNN trained on normal digits is near chance on their negatives: its accuracy on inverted test "
       "images is within ±15pp of chance (10%)",
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS,
       method=IN5_METHOD + " Here: the '2N real' arm's accuracy on the inverted test set against a constant 10%; "
       "TOST with a ±15pp margin.")
def test_normal_trained_net_is_near_chance_on_negatives(experiment):
    attach_negatives(experiment)
    verdict = experiment.compare(NegativeDigits("real"), chance_accuracy, metric="inverted_accuracy",
                                 expect=Equivalent(margin=NEAR_CHANCE),
                                 labels=("2N real, inverted test", "chance (10%)"))
    assert verdict


@claim("IN-5", "Negatives are not new data: N real + N inverted digits score lower on the normal test set than 2N "
       "real digits",
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS,
       method=IN5_METHOD + " Here: normal-test accuracy, one-sided paired t test, 2N real superior.")
def test_real_data_beats_inverted_copies_on_normal_test(experiment):
    verdict = experiment.compare(NegativeDigits("real"), NegativeDigits("mixed"), metric="normal_accuracy",
                                 expect=Superior(), labels=("2N real", "N real + N inverted"))
    assert verdict


@claim("IN-5", "Training on negatives buys robustness to negatives: N real + N inverted digits score higher on the "
       "inverted test set than 2N real digits",
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS,
       method=IN5_METHOD + " Here: inverted-test accuracy, one-sided paired t test, N real + N inverted superior.")
def test_inverted_copies_beat_real_data_on_inverted_test(experiment):
    verdict = experiment.compare(NegativeDigits("mixed"), NegativeDigits("real"), metric="inverted_accuracy",
                                 expect=Superior(), labels=("N real + N inverted", "2N real"))
    assert verdict


# -- IN-6: channels packed into rows -----------------------------------------------------------
IN6_QUESTION = "In a CNN, what if the channels are packed into one 2D image (rows R1 G1 B1 R2 G2 B2 ...)?"
IN6_METHOD = (f"Rendered shapes (fixtures.shapes), {IN6_SIDE} x {IN6_SIDE} px, labelled by the shape's colour "
              f"({', '.join(IN6_COLOURS)}); shape class, size, position, rotation and a random background (kept "
              "away from the shape's colour) are nuisances. Fixed data: 1,200 training scenes x the budget's data "
              "scale, 600 test scenes. 'stacked' feeds the 3 x H x W image, 'interleaved' the 1 x 3H x W image "
              "with rows R1 G1 B1 R2 G2 B2 ...; both into ShapesCNN (3x3 convs, width 8, global average pool, no "
              "batch norm: seeds train together under vmap), Adam lr 3e-3, batch 32, epochs from the budget, paired "
              "by seed.")


@claim("IN-6", "When labels depend on colour, a CNN with 3x3 convs does better on stacked channels than on the "
       "row-interleaved image (R1 G1 B1 R2 G2 B2 ...)",
       section=SECTION, question=IN6_QUESTION, anchors=["The seed's own sketch of the packed layout"],
       method=IN6_METHOD + " One-sided paired t test on test accuracy, stacked superior.")
def test_stacked_channels_beat_interleaved_rows(experiment):
    attach_packed_scenes(experiment)
    verdict = experiment.compare(ColourShapes("stacked"), ColourShapes("interleaved"), metric="test_accuracy",
                                 expect=Superior(), labels=("stacked 3 x H x W", "interleaved 1 x 3H x W"))
    assert verdict


@claim("IN-6", "A first conv layer with a (3k, k) kernel and vertical stride 3 on the row-interleaved image "
       "computes exactly what a k x k conv computes on the stacked channels",
       section=SECTION, question=IN6_QUESTION, anchors=["The seed's own sketch of the packed layout"],
       method="Random images (2 x 3 x H x W, uniform) and random k x k conv weights and biases per seed; the "
              "packed weight puts stacked weight w[o, c, i, j] at row 3i + c of a (3k, k) kernel, stride (3, 1), "
              "padding (3p, p). Error per seed: the largest absolute difference between the two outputs; "
              f"exact within {PACKED_TOL:g} (float32 summation order). Hypothesis draws k, H, W, p and the "
              "output channels.")
@given(kernel=st.integers(1, 5), height=st.integers(5, 16), width=st.integers(5, 16), padding=st.integers(0, 2),
       out_channels=st.integers(1, 8))
def test_strided_packed_conv_equals_stacked_conv(experiment, kernel, height, width, padding, out_channels):
    config = {"kernel": kernel, "height": height, "width": width, "padding": padding, "out_channels": out_channels}
    verdict = experiment.exact(partial(packed_conv_error, **config), expect=Exact(tol=PACKED_TOL), config=config)
    assert verdict
