"""RC-3 / RC-4 helpers (fixtures.arms.lr_precision, fixtures.loss_scaling.autocast_underflow): each reports
what it says, and can report the opposite, so a claim's verdict rests on a working instrument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fixtures.arms.lr_precision import LR_GRID, gradient_profiles, matched_pair, profile_gap
from fixtures.loss_scaling import autocast_underflow
from instincts import InvalidArgument


def tiny_gradient_net(shrink: float) -> nn.Sequential:
    """An MLP whose output layer is shrunk by ``shrink``: its activation gradients are that much smaller."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():
        net[2].weight.mul_(shrink)
    return net


def test_grid_is_half_decades_from_1e_6_to_1e_1():
    assert LR_GRID[0] == 1e-6 and LR_GRID[-1] == 0.1 and len(LR_GRID) == 11
    assert np.allclose(np.diff(np.log10(LR_GRID)), 0.5, atol=0.03)


def test_profile_gap_is_zero_for_equal_profiles_and_relative_otherwise():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert profile_gap(a, a) == 0.0
    assert profile_gap(1.1 * a, a) == pytest.approx(0.1)


def test_gradient_profiles_match_for_tiny_lrs_and_differ_for_large_ones():
    tiny = [gradient_profiles(lr, (0,), 8) for lr in (1e-6, 3e-6)]
    large = [gradient_profiles(lr, (0,), 8) for lr in (3e-2, 1e-1)]
    assert profile_gap(tiny[1], tiny[0]) < 0.01 < profile_gap(large[1], large[0])
    with pytest.raises(InvalidArgument, match="lr="):
        gradient_profiles(0.0, (0,), 8)


def test_matched_pair_is_the_largest_within_tolerance():
    lrs = (1e-6, 3e-6, 1e-1)
    pair, table = matched_pair(lrs, (0,), 4, tol=0.01)
    assert pair == (1e-6, 3e-6) and len(table) == 2
    assert matched_pair(lrs, (0,), 4, tol=1e9)[0] == (3e-6, 1e-1)
    assert matched_pair((3e-2, 1e-1), (0,), 4, tol=0.0)[0] is None


def test_autocast_underflow_counts_flushed_gradients_and_scaling_rescues_them():
    x, y = torch.randn(64, 8, generator=torch.Generator().manual_seed(1)), torch.arange(64) % 4
    net = tiny_gradient_net(1e-6)
    unscaled, scaled = (autocast_underflow(net, x, y, s) for s in (1.0, 2.0 ** 20))
    assert unscaled["zeroed_fraction"] > 0.5 > scaled["zeroed_fraction"]
    assert autocast_underflow(tiny_gradient_net(1.0), x, y, 1.0)["zeroed_fraction"] < 0.01
    assert all(p.grad is None for p in net.parameters())


def test_autocast_underflow_rejects_a_nonpositive_scale():
    with pytest.raises(InvalidArgument, match="scale=0"):
        autocast_underflow(tiny_gradient_net(1.0), torch.zeros(2, 8), torch.zeros(2, dtype=torch.long), 0.0)
