"""Input: negatives and grayscale as extra data (IN-5) and channels packed into rows (IN-6). Arms:
``fixtures.arms.negatives`` (digits) and ``fixtures.arms.packing`` (coloured scenes)."""

from __future__ import annotations

from functools import partial

from hypothesis import given

from fixtures.arms.negatives import CAP_FACTOR as NEG_CAP
from fixtures.arms.negatives import CHANCE, NegativeDigits, chance_accuracy, negatives_grid
from fixtures.arms.negatives import PATIENCE as NEG_PATIENCE
from fixtures.arms.packing import CAP_FACTOR, COLOURS, PATIENCE, SIDE, ColourScenes, chance, layout_grids
from fixtures.interleave import PACKED_TOL, packed_conv_error
from instincts import Equivalent, Exact, NonInferior, Requires, Superior, claim, log_integers, trained

SECTION = "Input"
CONVERGED = Requires("cap_hit", at_most=0.5, why="most seeds still improving at the epoch cap")

# -- IN-5: negatives and grayscale -------------------------------------------------------------
IN5_QUESTION = "Grayscale and invert the colours (W/B -> B/W): does that double the data?"
IN5_ANCHORS = ["Hosseini et al. 2017: CNNs trained on regular images are near chance on their negatives "
               "(MNIST, GTSRB, CIFAR-10); training on both closes the gap"]
IN5_METHOD = ("sklearn digits as 1 x 8 x 8 images in [0, 1] (fixed stratified split: 1,437 train, 360 test); the "
              "negative of an image is 1 - x. A fixed stratified fifth of the training digits (288) is every arm's "
              "normal validation set; each seed draws its N real digits and N more, stratified, from the other "
              "1,149 (N inside 2N). 'N real + N inverted': the N real digits, each drawn image inverted with "
              "probability 1/2 (the N + N inverted set, sampled). DigitCNN (conv3x3 16, max-pool, conv3x3 32, "
              f"linear), Adam lr 3e-3, batch 32, no tuning; to convergence: early stopping on validation accuracy, "
              f"patience {NEG_PATIENCE} epochs of 2N images and a cap of {NEG_CAP} x the budget's epochs of 2N "
              "images (48 on smoke), in steps, so every arm gets the same cap and patience in steps. Scored on the "
              "normal test set and on its negatives, paired by seed (same subsets, init and data order).")
CHECK_NOTE = (" This is a check, not evidence: it is true by construction (a net that never saw a negative, or one "
              "that did) and guards the apparatus (inversion, training, scoring).")
NEAR_CHANCE = 0.15  # "near chance": within 15pp of 10%, where the normal test sits near 95%
FIXED_N = 181  # the checks' N: the geometric middle of the evidence claim's range, so they reuse its training
DIGITS_TRAINED = trained(CHANCE + 0.4)


def n_real() -> object:
    """N real digits per seed, 64..512 (6..51 a class): small data, where doubling it should matter."""
    return log_integers(64, 512)


@claim("IN-5", "Inverted copies do not double the data: on the normal test, N real + N inverted digits score "
       "within ±2pp of N real alone, and below 2N real",
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS, comparisons=2,
       method=IN5_METHOD + " Hypothesis draws N. Normal-test accuracy: TOST with a ±2pp margin (N + N inverted vs "
       "N real) and a one-sided paired t test (2N real superior). Checks: every arm trains (train accuracy >= "
       "50%) and most seeds stop before the cap.",
       prediction="Hosseini et al. 2017 add negatives to fix the negative test, not to gain on regular images. If "
                  "inversion doubled the data, N + N inverted would match 2N real, a few pp above N real on digits "
                  "at N = 64..512; if a negative is another domain, it scores as N real (±2pp) and below 2N real")
@given(n=n_real())
def test_inverted_copies_do_not_double_the_data(experiment, n):
    arms = {name: NegativeDigits(name, n) for name in ("N real", "N real + N inverted", "2N real")}
    checks = (DIGITS_TRAINED, CONVERGED)
    no_gain = experiment.compare(arms["N real + N inverted"], arms["N real"], metric="normal_accuracy",
                                 expect=Equivalent(margin=0.02), config={"n": n},
                                 labels=("N real + N inverted", "N real"), requires=checks)
    below_real = experiment.compare(arms["2N real"], arms["N real + N inverted"], metric="normal_accuracy",
                                    expect=Superior(), config={"n": n}, labels=("2N real", "N real + N inverted"),
                                    requires=checks)
    assert no_gain and below_real


@claim("IN-5", "A CNN trained on normal digits is near chance on their negatives: its accuracy on inverted "
       "test images is within ±15pp of chance (10%)",
       check=True,
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS,
       method=IN5_METHOD + f" Here: the '2N real' arm (N = {FIXED_N}) on the inverted test set against a constant "
       "10%; TOST with a ±15pp margin." + CHECK_NOTE,
       prediction="Hosseini et al. 2017: CNNs trained on regular images score near chance on negative images")
def test_normal_trained_net_is_near_chance_on_negatives(experiment):
    experiment.attach("test digits and their negatives", negatives_grid(), "png")
    verdict = experiment.compare(NegativeDigits("2N real", FIXED_N), chance_accuracy, metric="inverted_accuracy",
                                 expect=Equivalent(margin=NEAR_CHANCE), labels=("2N real, inverted test", "chance"),
                                 requires=Requires("train_accuracy", at_least=CHANCE + 0.4, arms=("2N real, inverted "
                                                   "test",), why="did not train"))
    assert verdict


@claim("IN-5", "Training on negatives buys robustness to negatives: N real + N inverted digits score higher "
       "on the inverted test set than 2N real digits",
       check=True,
       section=SECTION, question=IN5_QUESTION, anchors=IN5_ANCHORS,
       method=IN5_METHOD + f" Here (N = {FIXED_N}): inverted-test accuracy, one-sided paired t test, N real + N "
       "inverted superior." + CHECK_NOTE,
       prediction="Hosseini et al. 2017: training on regular and negative images closes the gap on negatives")
def test_inverted_copies_beat_real_data_on_inverted_test(experiment):
    verdict = experiment.compare(NegativeDigits("N real + N inverted", FIXED_N), NegativeDigits("2N real", FIXED_N),
                                 metric="inverted_accuracy", expect=Superior(),
                                 labels=("N real + N inverted", "2N real"), requires=(DIGITS_TRAINED, CONVERGED))
    assert verdict


SCENES_METHOD = (f"Rendered shapes (fixtures.shapes), {SIDE} x {SIDE} px, in one of {len(COLOURS)} palette colours "
                 f"({', '.join(COLOURS)}) on a random background kept away from the shape's colour; shape class, "
                 "size, position and rotation vary. Fixed data: 900 training scenes x the budget's data scale, 600 "
                 "test scenes; each seed holds out its own stratified validation fifth. ShapesCNN (3x3 convs, width "
                 "8, batch norm, global average pool), Adam lr 3e-3, batch 32, no tuning; to convergence: early "
                 f"stopping on validation accuracy (patience {PATIENCE}, best epoch restored), cap {CAP_FACTOR} x "
                 "the budget's epochs (48 on smoke); paired by seed (same split, init and data order).")
GRAY_METHOD = (" 'gray' feeds BT.601 luma repeated over the 3 channels (the same network and init as colour). Luma "
               "of the palette: red 0.34, green 0.52, blue 0.33, yellow 0.82, magenta 0.48, cyan 0.63.")


@claim("IN-5", "Grayscale conversion costs accuracy only where labels depend on colour: colour input beats gray when "
       "labels are colours, and gray is no more than 2pp below colour when labels are shapes",
       section=SECTION, question=IN5_QUESTION, anchors=["ITU-R BT.601 luma: gray keeps brightness, drops hue"],
       comparisons=2,
       method=SCENES_METHOD + GRAY_METHOD + " Labels by colour: one-sided paired t (colour superior). Labels by "
       "shape (5 classes), on a black background so that figure and ground differ in brightness for every colour: "
       "one-sided paired t against -2pp (gray non-inferior). Checks: every arm trains (train accuracy >= chance + "
       "20pp) and most seeds stop before the cap.",
       prediction="Colour labels: gray keeps what luma separates; red/blue (0.34 vs 0.33) and green/magenta (0.52 "
                  "vs 0.48) nearly coincide, so gray should fall toward 4/6 = 67% where colour is near 100%. Shape "
                  "labels: colour carries no label information, so gray loses nothing (>= -2pp)")
def test_grayscale_costs_only_colour_labels(experiment):
    for name, png in layout_grids("shape", ("stacked", "gray")).items():
        experiment.attach(name + " (shape labels)", png, "png")
    by_colour = experiment.compare(ColourScenes("stacked", "colour"), ColourScenes("gray", "colour"),
                                   metric="test_accuracy", expect=Superior(), config={"labels": "colour"},
                                   labels=("colour, colour labels", "gray, colour labels"),
                                   requires=(trained(chance("colour") + 0.2), CONVERGED))
    by_shape = experiment.compare(ColourScenes("gray", "shape"), ColourScenes("stacked", "shape"),
                                  metric="test_accuracy", expect=NonInferior(margin=0.02), config={"labels": "shape"},
                                  labels=("gray, shape labels", "colour, shape labels"),
                                  requires=(trained(chance("shape") + 0.2), CONVERGED))
    assert by_colour and by_shape


# -- IN-6: channels packed into rows -----------------------------------------------------------
IN6_QUESTION = "In a CNN, what if the channels are packed into one 2D image (rows R1 G1 B1 R2 G2 B2 ...)?"
IN6_ANCHORS = ["The seed's own sketch of the packed layout"]


@claim("IN-6", "When labels depend on colour, a CNN with 3x3 convs does better on stacked channels than on the "
       "row-interleaved image (R1 G1 B1 R2 G2 B2 ...)",
       section=SECTION, question=IN6_QUESTION, anchors=IN6_ANCHORS,
       method=SCENES_METHOD + " Labels: the colour. 'stacked' feeds the 3 x H x W image, 'interleaved' the 1 x 3H "
       "x W image with rows R1 G1 B1 R2 G2 B2 ... One-sided paired t test on test accuracy, stacked superior. "
       "Checks: both arms train (train accuracy >= chance + 20pp) and most seeds stop before the cap.",
       prediction="No published anchor; from the layout: a 3x3 kernel on the packed image sees rows of alternating "
                  "channels whose phase the pooling loses, so colour must be decoded from phase-mixed features: "
                  "the interleaved net should stay well below the stacked one, which reads colour per pixel")
def test_stacked_channels_beat_interleaved_rows(experiment):
    for name, png in layout_grids("colour").items():
        experiment.attach(name, png, "png")
    verdict = experiment.compare(ColourScenes("stacked"), ColourScenes("interleaved"), metric="test_accuracy",
                                 expect=Superior(), labels=("stacked 3 x H x W", "interleaved 1 x 3H x W"),
                                 requires=(trained(chance("colour") + 0.2), CONVERGED))
    assert verdict


@claim("IN-6", "A first conv layer with a (3k, k) kernel and vertical stride 3 on the row-interleaved image "
       "computes exactly what a k x k conv computes on the stacked channels",
       check=True,
       section=SECTION, question=IN6_QUESTION, anchors=IN6_ANCHORS,
       method="Random images (2 x 3 x H x W, uniform) and random k x k conv weights and biases per seed; the "
              "packed weight puts stacked weight w[o, c, i, j] at row 3i + c of a (3k, k) kernel, stride (3, 1), "
              "padding (3p, p). Error per seed: the largest absolute difference between the two outputs; "
              f"exact within {PACKED_TOL:g} (float32 summation order). Hypothesis draws k, H, W, p and the "
              "output channels. A check, not evidence: an identity that fails only on a bug in the layout or the "
              "weight mapping.",
       prediction="An identity: the two outputs agree to float32 rounding (about 1e-6)")
@given(kernel=log_integers(1, 5), height=log_integers(5, 16), width=log_integers(5, 16),
       padding=log_integers(1, 3).map(lambda p: p - 1), out_channels=log_integers(1, 8))
def test_strided_packed_conv_equals_stacked_conv(experiment, kernel, height, width, padding, out_channels):
    config = {"kernel": kernel, "height": height, "width": width, "padding": padding, "out_channels": out_channels}
    verdict = experiment.exact(partial(packed_conv_error, **config), expect=Exact(tol=PACKED_TOL), config=config)
    assert verdict
