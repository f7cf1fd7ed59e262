"""A RepVGG block (Ding et al. 2021): train with three branches, infer with one 3x3 conv.

Training form: ReLU(BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x)), the identity branch only when the shape
allows it (same channels, stride 1). Each branch is linear in x in eval mode, so the sum is one 3x3
conv: fold each BN into its conv, pad the 1x1 kernel to 3x3 (a centre tap), write the identity as a
3x3 kernel with a 1 at the centre of its own channel, and add kernels and biases. ``identity=False``
in :func:`fuse` leaves that branch out on purpose (a broken fusion the tests must catch).

``branches=False`` keeps the 3x3 branch alone: the plain conv-BN-ReLU block RepVGG's ablation trains
against (Ding et al. 2021, Table 6). :class:`RepVGGNet` stacks either kind on small images.
"""

from __future__ import annotations

import torch
from torch import nn

from models.linear import fold_batchnorm


class RepVGGBlock(nn.Module):
    """The multi-branch (training-time) block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, branches: bool = True):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed: give an integer >= 1")
        if stride not in (1, 2):
            raise ValueError(f"stride={stride!r} is not allowed: use 1 or 2")
        self.conv3 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False) if branches else None
        self.bn1 = nn.BatchNorm2d(out_channels) if branches else None
        identity = branches and in_channels == out_channels and stride == 1
        self.bn_id = nn.BatchNorm2d(in_channels) if identity else None
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv3(x))
        if self.conv1 is not None:
            out = out + self.bn1(self.conv1(x))
        if self.bn_id is not None:
            out = out + self.bn_id(x)
        return self.act(out)


def _identity_conv(channels: int, dtype: torch.dtype) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False, dtype=dtype)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0
    return conv


def fuse(block: RepVGGBlock, identity: bool = True) -> nn.Sequential:
    """The inference form: Sequential(one 3x3 conv with bias, ReLU), equal to ``block`` in eval mode."""
    c3 = fold_batchnorm(block.conv3, block.bn3)
    with torch.no_grad():
        weight, bias = c3.weight.clone(), c3.bias.clone()
        if block.conv1 is not None:
            c1 = fold_batchnorm(block.conv1, block.bn1)
            weight = weight + nn.functional.pad(c1.weight, [1, 1, 1, 1])
            bias = bias + c1.bias
        if identity and block.bn_id is not None:
            cid = fold_batchnorm(_identity_conv(block.bn_id.num_features, c3.weight.dtype), block.bn_id)
            weight = weight + cid.weight
            bias = bias + cid.bias
        c3.weight.copy_(weight)
        c3.bias.copy_(bias)
    return nn.Sequential(c3, nn.ReLU())


class RepVGGNet(nn.Sequential):
    """in_channels x H x W -> ``depth`` blocks of ``width`` channels (the first at stride 1 from the input,
    so no identity branch there) -> global average pool -> linear: multi-branch or plain (``branches``)."""

    def __init__(self, depth: int, width: int = 16, classes: int = 10, in_channels: int = 1, branches: bool = True):
        for name, value in (("depth", depth), ("width", width), ("classes", classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed: give an integer >= 1")
        blocks = [RepVGGBlock(in_channels if i == 0 else width, width, branches=branches) for i in range(depth)]
        super().__init__(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))
