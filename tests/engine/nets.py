"""Small networks the trainer's tests share."""

import torch
from torch import nn


class Conv(nn.Module):  # not a plain MLP: trains under vmap or the loop
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.head = nn.Linear(48, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x[:, None])).flatten(1))
