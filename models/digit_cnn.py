"""A small CNN for 8x8 single-channel images (sklearn digits): two 3x3 convs, one pooling, a linear head.

Small enough to train a dozen seeds at once on a CPU in seconds, and convolutional, which is what
the negative-image and augmentation anchors (Hosseini et al. 2017, AugMix) measured.
"""

from __future__ import annotations

from torch import nn


class DigitCNN(nn.Sequential):
    """1 x 8 x 8 -> conv3x3(width) ReLU -> maxpool 2 -> conv3x3(2 width) ReLU -> flatten -> linear(classes)."""

    def __init__(self, width: int = 16, classes: int = 10, side: int = 8):
        for name, value in (("width", width), ("classes", classes), ("side", side)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed: give an integer >= 1")
        if side % 2:
            raise ValueError(f"side={side!r} is not allowed: give an even image side (one 2x2 pooling)")
        super().__init__(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(2 * width * (side // 2) ** 2, classes))
