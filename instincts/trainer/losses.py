"""Loss hooks: per-seed losses of a batch, for every strategy alike.

A loss hook takes ``logits`` (seeds x batch x classes, float32), the batch's labels (seeds x batch)
and its ``BatchInfo``, and returns one mean loss per seed; the trainer sums them, so each seed's
gradient is its own. Label noise is not a loss: it is the member's ``label_noise`` (its labels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from instincts.errors import InvalidArgument


@dataclass
class BatchInfo:
    """Where a batch comes from: ``idx`` (seeds x batch indices into the training data), ``members``
    (the rows of the run's members in this stack), the optimiser ``step`` and the ``epoch``."""

    idx: torch.Tensor
    members: torch.Tensor
    step: int
    epoch: int


@dataclass
class TransformInfo:
    """What a per-batch transform of one seed may use: the batch's ``idx`` (indices into the training
    data), the seed's own augmentation ``generator``, the ``seed``, the optimiser ``step`` and ``epoch``."""

    idx: torch.Tensor
    generator: torch.Generator
    seed: int
    step: int
    epoch: int


Loss = Callable[[torch.Tensor, torch.Tensor, BatchInfo], torch.Tensor]
Transform = Callable[[torch.Tensor, TransformInfo], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, info: BatchInfo | None = None) -> torch.Tensor:
    """Hard labels: each seed's mean cross-entropy over its batch."""
    per_example = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    return per_example.view(len(logits), -1).mean(1)


class SoftTargets:
    """Distillation (Hinton et al. 2015): alpha * T^2 * KL(teacher || student at T) + (1 - alpha) * CE.

    ``probs``: members x n_train x classes, each member's teacher probabilities at temperature T for
    every training example (row i of ``probs`` belongs to member i of the run). T^2 keeps the soft
    term's gradients on the scale of the hard one's.
    """

    def __init__(self, probs: torch.Tensor, temperature: float = 4.0, alpha: float = 0.9):
        if probs.dim() != 3:
            raise InvalidArgument(f"probs of shape {tuple(probs.shape)} are not allowed: give members x n x classes")
        if not temperature > 0 or not 0 <= alpha <= 1:
            raise InvalidArgument(f"temperature={temperature!r} must be > 0 and alpha={alpha!r} in [0, 1]")
        self.probs, self.temperature, self.alpha = probs, float(temperature), float(alpha)

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, info: BatchInfo) -> torch.Tensor:
        hard = cross_entropy(logits, y, info)
        log_p = nn.functional.log_softmax(logits / self.temperature, -1)
        soft = self.probs.to(logits.device)[info.members[:, None], info.idx]
        kl = nn.functional.kl_div(log_p, soft, reduction="none").sum(-1).mean(1)
        return self.alpha * self.temperature ** 2 * kl + (1 - self.alpha) * hard
