"""Scatter reductions over an index, device-agnostic (``index_add_``; no torch-scatter dependency).

``src`` is ``(n, ...)``, ``index`` is ``(n,)`` long with values in ``[0, dim_size)``; the result is
``(dim_size, ...)``. Rows of the output that receive nothing are zero. Permuting ``(src, index)`` together leaves
the result unchanged (up to floating-point summation order); gradients flow to ``src``.

>>> scatter_sum(torch.ones(4, 2), torch.tensor([0, 0, 2, 2]), dim_size=3)
tensor([[2., 2.],
        [0., 0.],
        [2., 2.]])
"""

from __future__ import annotations

import torch

__all__ = ["scatter_sum", "scatter_mean", "scatter_count"]


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """``out[k] = Σ_{i: index[i] = k} src[i]``, ``(n, ...) -> (dim_size, ...)``."""
    out = src.new_zeros((dim_size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_count(index: torch.Tensor, dim_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Number of entries per bucket, ``(n,) -> (dim_size,)`` in ``dtype``."""
    ones = torch.ones(index.shape[0], dtype=dtype, device=index.device)
    return torch.zeros(dim_size, dtype=dtype, device=index.device).index_add_(0, index, ones)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """``out[k] = mean_{i: index[i] = k} src[i]`` (zero for empty buckets), ``(n, ...) -> (dim_size, ...)``."""
    total = scatter_sum(src, index, dim_size)
    count = scatter_count(index, dim_size, dtype=src.dtype).clamp_min(1.0)
    return total / count.view((dim_size,) + (1,) * (src.dim() - 1))
