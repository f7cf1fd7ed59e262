"""IN-5 and IN-6 arms: channels packed into rows, negatives, grayscale (fast: no full trainings)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fixtures.arms.negatives import MAX_N, NegativeDigits, invert_half, pool_and_validation
from fixtures.arms.packing import ColourScenes
from fixtures.degrade import grayscale
from fixtures.interleave import PACKED_TOL, deinterleave, interleave, packed_conv, packed_conv_error, packed_weight
from instincts import BUDGETS, Exact, InvalidArgument, RunContext
from instincts.trainer import TransformInfo, split_indices


def test_interleave_puts_channel_rows_in_turn():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    packed = interleave(x)
    assert packed.shape == (2, 1, 12, 5)
    for row in range(4):
        for c in range(3):  # R1 G1 B1 R2 G2 B2 ...
            assert torch.equal(packed[:, 0, 3 * row + c], x[:, c, row])
    assert torch.equal(deinterleave(packed, 3), x)


@pytest.mark.parametrize("kernel,padding", [(1, 0), (3, 1), (5, 2), (2, 0)])
def test_strided_packed_conv_equals_stacked_conv(kernel, padding):
    g = torch.Generator().manual_seed(kernel)
    x, w = torch.rand(3, 3, 9, 7, generator=g), torch.randn(4, 3, kernel, kernel, generator=g)
    out = packed_conv(interleave(x), packed_weight(w), None, 3, padding)
    torch.testing.assert_close(out, F.conv2d(x, w, padding=padding), rtol=0, atol=1e-5)


def test_packed_conv_error_is_float_rounding_only():
    errors = [packed_conv_error(s, kernel=3, height=8, width=6, padding=1) for s in range(5)]
    assert max(errors) < PACKED_TOL
    assert Exact(tol=PACKED_TOL).judge(np.array(errors)).outcome.value == "SUPPORTED"


def test_shuffled_rows_break_the_identity_and_the_exact_claim_says_so():
    """The same weights on rows in another order: the arm reports an O(1) error and Exact refutes it."""
    errors = np.array([packed_conv_error(s, kernel=3, height=8, width=6, padding=1, row_order="shuffled")
                       for s in range(5)])
    assert errors.min() > 0.1
    assert errors.min() > 1000 * PACKED_TOL
    assert Exact(tol=PACKED_TOL).judge(errors).outcome.value == "REFUTED"


def test_stride_one_adds_rows_that_mix_neighbouring_pixels():
    """With vertical stride 1 the packed kernel also lands between pixel rows: those outputs are another map."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(2, 3, 8, 8, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    stride_one = F.conv2d(interleave(x), packed_weight(w), padding=(3, 1))
    stacked = F.conv2d(x, w, padding=1)
    torch.testing.assert_close(stride_one[:, :, ::3], stacked, rtol=0, atol=1e-5)  # stride 3 keeps these rows
    between = stride_one[:, :, 1::3]  # the extra rows start at a G row
    assert (between - stacked[:, :, :between.shape[2]]).abs().max() > 0.1


@pytest.mark.parametrize("kwargs,match", [({"row_order": "diagonal"}, "row_order='diagonal'"),
                                          ({"kernel": 9}, "kernel=9")])
def test_packed_conv_error_rejects_bad_input(kwargs, match):
    args = {"kernel": 3, "height": 6, "width": 6, **kwargs}
    with pytest.raises(ValueError, match=match):
        packed_conv_error(0, **args)


def test_layout_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="n x C x H x W"):
        interleave(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="channels=3"):
        deinterleave(torch.zeros(1, 1, 7, 5), 3)
    with pytest.raises(ValueError, match="O x C x kh x kw"):
        packed_weight(torch.zeros(3, 3))


@pytest.mark.parametrize("make,match", [(lambda: ColourScenes("planar"), "layout='planar'"),
                                        (lambda: ColourScenes(labels="texture"), "labels='texture'"),
                                        (lambda: NegativeDigits("fake"), "train_set='fake'"),
                                        (lambda: NegativeDigits(n=MAX_N + 1), f"n={MAX_N + 1}"),
                                        (lambda: NegativeDigits(n=True), "n=True")])
def test_claim_arms_reject_unknown_settings(make, match):
    with pytest.raises(InvalidArgument, match=match):
        make()


def test_colour_scenes_layouts_show_the_same_scenes():
    x_stacked, y_stacked = ColourScenes("stacked").data(6, seed=1)
    x_packed, y_packed = ColourScenes("interleaved").data(6, seed=1)
    x_gray, _ = ColourScenes("gray").data(6, seed=1)
    assert x_stacked.shape[1:] == (3, 12, 12) and x_packed.shape[1:] == (1, 36, 12)
    assert torch.equal(deinterleave(x_packed, 3), x_stacked)
    assert torch.equal(y_stacked, y_packed)
    assert torch.equal(x_gray, grayscale(x_stacked)) and torch.equal(x_gray[:, 0], x_gray[:, 2])
    _, y_shape = ColourScenes("stacked", "shape").data(6, seed=1)
    assert not torch.equal(y_shape, y_stacked) and int(y_shape.max()) < 5


def test_n_real_is_inside_2n_real_for_every_seed():
    """The trainer's Split(test=...) keeps the tail of each class's permutation: N's digits are inside 2N's."""
    (_, y), (_, y_val) = pool_and_validation()
    assert len(y) == 1149 and len(y_val) == 288
    for seed in range(3):
        parts = {}
        for arm in (NegativeDigits("N real", 100), NegativeDigits("2N real", 100)):
            parts[arm.train_set] = set(split_indices(y, (1 - arm.images / len(y), 0.0), seed)[-1].tolist())
        assert abs(len(parts["N real"]) - 100) <= 5 and abs(len(parts["2N real"]) - 200) <= 5
        assert parts["N real"] < parts["2N real"]


def test_arms_get_the_same_step_cap_and_patience():
    n_arm, mixed, real = (NegativeDigits(s, 100) for s in ("N real", "N real + N inverted", "2N real"))
    assert n_arm.epochs(5) == mixed.epochs(5) == 10 and real.epochs(5) == 5


def test_invert_half_inverts_about_half_and_nothing_else():
    x = torch.rand(400, 1, 8, 8)
    out = invert_half(x, TransformInfo(torch.arange(400), torch.Generator().manual_seed(0), 0, 0, 0))
    inverted = torch.isclose(out, 1 - x).flatten(1).all(1)
    assert (inverted | torch.isclose(out, x).flatten(1).all(1)).all()
    assert 150 < int(inverted.sum()) < 250


def test_negative_digits_trains_and_reports_facts():
    context = RunContext(BUDGETS["smoke"].with_(epochs=1), torch.device("cpu"))
    runs = NegativeDigits("N real + N inverted", 64).run([0, 1], context)
    assert len(runs) == 2 and {"normal_accuracy", "inverted_accuracy", "epochs_run", "cap_hit"} <= set(runs[0])
    assert all(r["epochs_run"] <= 8 for r in runs)  # the cap: 4 epochs of 2N images = 8 epochs of N
