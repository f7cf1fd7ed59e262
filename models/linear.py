"""Linear algebra behind RC-2: a deep linear network collapses to one matrix, BatchNorm folds into a conv.

Both are identities that hold for any weights, so the claims check them on random networks (not trained
ones) in float64, where a tolerance of 1e-5 separates rounding from a broken formula by many orders of
magnitude. ``eps`` in :func:`fold_batchnorm` may be overridden only so that a test can break the fold on
purpose and see the check fail.
"""

from __future__ import annotations

import torch
from torch import nn


def deep_linear(widths: list[int], dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A stack of Linear layers with no nonlinearity: widths[0] -> widths[1] -> ... -> widths[-1]."""
    if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths={widths!r} is not allowed: give at least 2 integer widths >= 1")
    return nn.Sequential(*(nn.Linear(a, b, dtype=dtype) for a, b in zip(widths, widths[1:])))


def collapse(net: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """The one linear map (W, b) that a stack of Linear layers computes: x -> x @ W.T + b.

    Layer by layer: W <- W_l @ W, b <- W_l @ b + b_l.
    """
    layers = list(net)
    bad = [type(m).__name__ for m in layers if not isinstance(m, nn.Linear)]
    if not layers or bad:
        raise ValueError(f"collapse needs a non-empty stack of nn.Linear layers only; found {bad or 'nothing'}")
    first = layers[0]
    w = torch.eye(first.in_features, dtype=first.weight.dtype)
    b = torch.zeros(first.in_features, dtype=first.weight.dtype)
    with torch.no_grad():
        for layer in layers:
            w = layer.weight @ w
            b = layer.weight @ b + (layer.bias if layer.bias is not None else 0)
    return w, b


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d, eps: float | None = None) -> nn.Conv2d:
    """One conv equal to ``bn(conv(x))`` with the BN in eval mode (its running statistics).

    y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta: scale each output channel's kernel by
    s = gamma / sqrt(var + eps) and set the bias to beta + s * (conv_bias - mean).
    """
    if conv.out_channels != bn.num_features:
        raise ValueError(f"conv has {conv.out_channels} output channels but the BatchNorm has "
                         f"{bn.num_features} features: they must match to fold")
    eps = bn.eps if eps is None else eps
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, dtype=conv.weight.dtype)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + eps)
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_(bn.bias + scale * (bias - bn.running_mean))
    return fused


def randomize_batchnorm(bn: nn.BatchNorm2d | nn.BatchNorm1d, generator: torch.Generator) -> None:
    """Give a BatchNorm non-trivial running statistics and affine parameters (as after training), eval mode."""
    n, dtype = bn.num_features, bn.running_mean.dtype
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=generator, dtype=dtype))
        bn.running_var.copy_(torch.rand(n, generator=generator, dtype=dtype) * 2 + 0.1)
        bn.weight.copy_(torch.randn(n, generator=generator, dtype=dtype))
        bn.bias.copy_(torch.randn(n, generator=generator, dtype=dtype))
    bn.eval()
