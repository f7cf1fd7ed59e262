"""The batch-size accuracy claims' apparatus: the Midpoint arm and the arms BS-1 and BS-3 build."""

import math

import pytest
import torch

from fixtures.arms.batch_accuracy import STEPS, Midpoint, converged, equal_epochs, equal_steps
from fixtures.arms.digits import DigitsMLP
from fixtures.digits import digits_split, train_size
from instincts import BUDGETS, InvalidArgument, RunContext
from instincts.arms import identity
from instincts.trainer import split_indices

CONTEXT = RunContext(BUDGETS["smoke"], torch.device("cpu"))


def test_midpoint_is_the_per_seed_mean_of_its_arms():
    low, high = DigitsMLP(batch_size=63, epochs=1), DigitsMLP(batch_size=65, epochs=1)
    mid = Midpoint(low, high).run([0, 1], CONTEXT)
    a, b = low.run([0, 1], CONTEXT), high.run([0, 1], CONTEXT)
    for k in range(2):
        assert list(mid[k]) == list(a[k])
        for name in a[k]:
            assert mid[k][name] == pytest.approx((a[k][name] + b[k][name]) / 2)


def test_midpoint_has_a_cache_identity_naming_both_arms():
    one, other = (Midpoint(DigitsMLP(batch_size=b - 1), DigitsMLP(batch_size=b + 1)) for b in (23, 25))
    assert identity(one) is not None and identity(one) != identity(other)
    assert identity(one) == identity(Midpoint(DigitsMLP(batch_size=22), DigitsMLP(batch_size=24)))


def test_midpoint_needs_config_arms():
    with pytest.raises(InvalidArgument, match="low=3"):
        Midpoint(3, DigitsMLP())


def test_bs3_arms_scale_the_lr_linearly_and_share_steps():
    small, large = equal_steps(16, 0.01), equal_steps(256, 0.01)
    assert large.lr == pytest.approx(16 * small.lr) and small.steps == large.steps == STEPS
    assert small.warmup == large.warmup > 0
    for b in (16, 1024):  # Goyal: 5 epochs of warm-up at every batch, equal epochs
        arm = equal_epochs(b, 0.01)
        assert arm.warmup == 5 * math.ceil(1150 / b) and arm.epochs == equal_epochs(16, 0.01).epochs


def test_bs1_arms_early_stop_on_a_validation_split():
    arm = converged(3, 1e-3)
    assert arm.validation == 0.2 and arm.early_stopping().patience == 10
    assert converged(255, 1e-3).early_stopping().patience == 100  # 500 steps at 5 steps per epoch


def test_train_size_is_the_trainers_split():
    y = digits_split()[1]
    for seed in (0, 7):
        assert train_size(0.2) == len(split_indices(y, (0.0, 0.2), seed)[-1]) == 1150
    assert train_size() == len(y)
