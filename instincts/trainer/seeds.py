"""The seed contract, in one place: what a seed fixes and from which random stream.

A seed ``s`` fixes
- the init: the model is built right after ``torch.manual_seed(s)`` (so arms whose models have the
  same shapes start from the same weights);
- the data order: one permutation per epoch from ``torch.Generator().manual_seed(s)``, the same
  whatever the batch size;
- the augmentation stream: ``torch.Generator().manual_seed(AUGMENT + s)``, handed to the transform;
- the dropout masks: stream ``DROPOUT + s`` (or ``DROPOUT + dropout_seed``);
- the label noise: ``noisy_labels`` draws from ``LABEL_NOISE + s``;
- the split: ``split_indices`` draws from ``SPLIT + s`` (or from a pinned split seed).
Every stream belongs to its seed alone, so a seed's result never depends on which other seeds
train beside it in one batch (the run cache stores results per seed), and two arms with one seed
are paired in everything they share.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

AUGMENT = 7919
DROPOUT = 31_337
LABEL_NOISE = 10_000
SPLIT = 104_729

seed_streams = {"init": 0, "order": 0, "augment": AUGMENT, "dropout": DROPOUT, "label_noise": LABEL_NOISE,
                "split": SPLIT}


def order_generators(seeds: list[int]) -> list[torch.Generator]:
    """One data-order generator per seed: ``epoch_order`` draws each epoch's permutation from them."""
    return [torch.Generator().manual_seed(s) for s in seeds]


def epoch_order(gens: list[torch.Generator], n: int) -> torch.Tensor:
    """seeds x n: the next epoch's permutation of each seed."""
    return torch.stack([torch.randperm(n, generator=g) for g in gens])


def permutations(n: int, seeds: list[int], epochs: int) -> torch.Tensor:
    """epochs x seeds x n: each seed's data order for ``epochs`` epochs (what ``train`` draws, epoch by epoch)."""
    gens = order_generators(seeds)
    return torch.stack([epoch_order(gens, n) for _ in range(epochs)])


def init_models(make_model: Callable[[], nn.Module], seeds: list[int], device: torch.device | str) -> list[nn.Module]:
    """One model per seed, built after ``torch.manual_seed(seed)``: arms with the same seed share init."""
    models = []
    for s in seeds:
        torch.manual_seed(s)
        models.append(make_model().to(device))
    return models


def batches(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of an epoch's permutation (the last one may be short)."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def noisy_labels(y: torch.Tensor, fraction: float, seed: int, classes: int | None = None) -> torch.Tensor:
    """A copy of ``y`` with ``fraction`` of the labels moved to a different class (uniformly), fixed by seed."""
    if fraction == 0:
        return y
    classes = int(y.max()) + 1 if classes is None else classes
    g = torch.Generator().manual_seed(LABEL_NOISE + seed)
    flip = torch.rand(len(y), generator=g) < fraction
    shift = torch.randint(1, classes, (len(y),), generator=g)
    return torch.where(flip, (y + shift) % classes, y)


def split_indices(y: torch.Tensor, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """Stratified split of ``range(len(y))`` into len(fractions) + 1 parts (the rest comes last).

    Per class, the part sizes are the same for every seed (rounded class counts), so the splits of
    different seeds have equal sizes and train side by side in one batch.
    """
    g = torch.Generator().manual_seed(SPLIT + seed)
    y = y.cpu()
    parts: list[list[torch.Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        start = 0
        for i, f in enumerate(fractions):
            k = int(round(f * len(idx)))
            parts[i].append(idx[start:start + k])
            start += k
        parts[-1].append(idx[start:])
    return [torch.sort(torch.cat(p)).values for p in parts]
