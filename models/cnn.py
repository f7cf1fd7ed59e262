"""A small CNN with global average pooling: one set of weights for any input size or aspect ratio.

The input claims feed the same network 8x8, 32x16 and 23x23 images, so nothing in it may depend on
the image size: three 3x3 conv blocks (two 2x2 max-pools between them) and a global average pool
before the linear head. Width 16 trains a dozen seeds at once on a CPU in seconds at 32 px.
"""

from __future__ import annotations

from torch import nn


class ShapesCNN(nn.Sequential):
    """in_channels x H x W -> conv(w) ReLU pool -> conv(2w) ReLU pool -> conv(2w) ReLU -> global avg -> linear.

    Any H, W >= 4 works (the pools floor odd sizes); the receptive field of a final unit is 18 px.
    ``blocks`` > 3 adds (pool, conv(2w)) stages: 4 blocks see 38 px, 5 see 78 px, so an object of 20-40 px
    fits in one unit's view (an image side >= 2^(blocks-1) px keeps every pool's output non-empty).
    """

    def __init__(self, classes: int = 5, width: int = 16, in_channels: int = 3, batch_norm: bool = True,
                 blocks: int = 3):
        for name, value in (("classes", classes), ("width", width), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed: give an integer >= 1")

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), *norm, nn.ReLU()]

        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 3:
            raise ValueError(f"blocks={blocks!r} is not allowed: give an integer >= 3")
        extra = [layer for _ in range(blocks - 3) for layer in (nn.MaxPool2d(2), *block(2 * width, 2 * width))]
        super().__init__(
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 2 * width), *extra,
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))
