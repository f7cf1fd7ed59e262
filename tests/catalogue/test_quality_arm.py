"""IN-3's arm: a random share of each batch degraded, deterministic per seed; stratified splits (fast)."""

import pytest
import torch

from fixtures.arms.quality import KINDS, SEVERITY, MixedQuality, degrade_share, degraded_variants, stratified_split
from fixtures.degrade import degrade
from instincts import InvalidArgument


def batch(n: int = 64) -> torch.Tensor:
    return torch.rand(n, 3, 24, 24, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_share_zero_keeps_and_share_one_degrades_every_image(share):
    x = batch()
    out = degrade_share(x, torch.arange(len(x)), share, degraded_variants(x), torch.Generator().manual_seed(0))
    changed = (out != x).flatten(1).any(1)
    assert bool(changed.all()) == (share == 1.0) and bool(changed.any()) == (share == 1.0)


def test_degraded_images_are_one_of_the_kinds_and_draws_repeat_per_seed():
    x = batch()
    variants = degraded_variants(x)
    first = degrade_share(x, torch.arange(len(x)), 0.5, variants, torch.Generator().manual_seed(3))
    again = degrade_share(x, torch.arange(len(x)), 0.5, variants, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    kinds = set()
    for i in range(len(x)):
        for k, v in variants.items():
            if torch.equal(first[i], v[i]):
                kinds.add(k)
        if torch.equal(first[i], x[i]):
            kinds.add("clean")
        elif not any(torch.equal(first[i], v[i]) for v in variants.values()):  # noise: small, zero-mean change
            assert (first[i] - x[i]).abs().max() < 0.6
            kinds.add("noise")
    assert kinds == {"clean", *KINDS}


def test_variants_use_the_stated_severities():
    x = batch(4)
    assert torch.equal(degraded_variants(x)["blur"], degrade(x, "blur", sigma=SEVERITY["blur"]["sigma"]))
    assert set(degraded_variants(x)) == set(KINDS) - {"noise"}


def test_stratified_split_is_disjoint_stratified_and_per_seed():
    y = torch.arange(100) % 5
    first, rest = stratified_split(y, 0.2, seed=0)
    assert len(first) == 20 and len(rest) == 80 and not set(first.tolist()) & set(rest.tolist())
    assert torch.bincount(y[first]).tolist() == [4] * 5
    assert not torch.equal(first, stratified_split(y, 0.2, seed=1)[0])
    assert torch.equal(first, stratified_split(y, 0.2, seed=0)[0])


@pytest.mark.parametrize("share", [-0.1, 1.5, True])
def test_mixed_quality_rejects_a_share_outside_0_1(share):
    with pytest.raises(InvalidArgument, match="share="):
        MixedQuality(share=share)
