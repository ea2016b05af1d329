"""A plain multi-layer perceptron: ``Linear -> act -> ... -> Linear`` (no activation after the last layer)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """``MLP([d_in, h_1, ..., d_out])``: ``(..., d_in) -> (..., d_out)``.

    Args:
        dims: layer sizes, at least two.
        act: activation module class placed between linear layers.
        bias: biases on every linear layer.
        act_last: put an activation after the last layer too.
    """

    def __init__(
        self, dims: Sequence[int], act: type[nn.Module] = nn.SiLU, bias: bool = True, act_last: bool = False
    ):
        dims = list(dims)
        if len(dims) < 2:
            raise ValueError(f"MLP needs at least input and output sizes, got {dims}")
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b, bias=bias))
            if k < len(dims) - 2 or act_last:
                layers.append(act())
        super().__init__(*layers)
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 (Sequential's)
        return super().forward(x)
