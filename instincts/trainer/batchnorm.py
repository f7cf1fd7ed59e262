"""Batch-norm recalibration: running statistics recomputed on data rendered at the evaluation setting.

A network trained at one resolution (or style) and tested at another sees activations whose mean
and variance differ from its running statistics; FixRes (Touvron et al. 2019) recomputes the
statistics on training images at the test setting before testing. ``recalibrate_batchnorm`` does
that for a module; ``recalibrated`` does it for one evaluation and then puts the trained ones back.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

BATCH_NORM = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Reset every batch-norm layer's running statistics and recompute them as the plain average over
    ``inputs`` (in batches of ``batch_size``, training-mode forward passes, no parameter changes)."""
    layers = [m for m in model.modules() if isinstance(m, BATCH_NORM)]
    if not layers:
        return model
    momenta = [m.momentum for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    device = next(model.parameters()).device
    for i in range(0, len(inputs), batch_size):
        model(inputs[i:i + batch_size].to(device))
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    model.train(was_training)
    return model


@contextlib.contextmanager
def recalibrated(stack, inputs: torch.Tensor | None) -> Iterator[None]:
    """Within the block, a loop stack's module has batch-norm statistics from ``inputs``; after it, its own."""
    model = getattr(stack, "model", None)
    if inputs is None or model is None or not any(isinstance(m, BATCH_NORM) for m in model.modules()):
        yield
        return
    saved = copy.deepcopy({k: v for k, v in model.state_dict().items() if k in dict(model.named_buffers())})
    recalibrate_batchnorm(model, inputs)
    try:
        yield
    finally:
        model.load_state_dict(saved, strict=False)
