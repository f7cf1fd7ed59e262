"""A multilayer perceptron: the smallest model worth arguing about."""

from __future__ import annotations

from torch import nn


class MLP(nn.Sequential):
    """in -> [hidden -> ReLU] * depth -> out. ``act=None`` makes it a deep *linear* network."""

    def __init__(self, n_in: int, hidden: int, n_out: int, depth: int = 1, act: type[nn.Module] | None = nn.ReLU):
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(depth):
            layers.append(nn.Linear(width, hidden))
            if act is not None:
                layers.append(act())
            width = hidden
        layers.append(nn.Linear(width, n_out))
        super().__init__(*layers)
