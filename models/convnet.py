"""Two models of opposite shape for data-parallel scaling: compute-heavy and parameter-heavy.

Data parallelism all-reduces every gradient every step, so its cost grows with the parameter
count while the useful work grows with the FLOPs per sample. A small conv net has many FLOPs per
parameter (it should scale well); a wide dense net has few (its all-reduce dominates). Both read
the same 1 x 32 x 32 images, so they can be compared on one workload.
"""

from __future__ import annotations

from torch import nn

from models.mlp import MLP


class ConvNet(nn.Sequential):
    """[conv 3x3 -> ReLU -> maxpool 2] x 2 -> linear: about 25k parameters, about 2.7 MFLOPs per 32x32 image."""

    def __init__(self, in_channels: int = 1, width: int = 16, n_classes: int = 10, size: int = 32):
        if size % 4:
            raise ValueError(f"size={size!r} is not allowed: two 2x2 poolings need a multiple of 4")
        super().__init__(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, n_classes),
        )


class DenseNet(nn.Sequential):
    """Flatten -> MLP 1024 -> 1600 -> 1600 -> 10: about 4.2M parameters, as many multiply-adds per image."""

    def __init__(self, size: int = 32, hidden: int = 1600, n_classes: int = 10):
        super().__init__(nn.Flatten(), MLP(size * size, hidden, n_classes, depth=2))


MODELS = {"conv": ConvNet, "dense": DenseNet}


def make_model(name: str) -> nn.Module:
    """A model by name: 'conv' (compute-heavy) or 'dense' (parameter-heavy)."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"model={name!r} is not allowed: choose one of {', '.join(MODELS)}") from None
