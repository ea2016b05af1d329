"""Deterministic train/validation splits and nested data fractions (§3.1, §4.2).

``split`` permutes indices with a seeded generator and holds out a validation set; ``fraction_indices`` returns the
first ``r·D_max`` training indices *in that seeded order*, so a smaller fraction is always a prefix of a larger one
(D_r = r·D_max, r ∈ {0.1, …, 1.0}) and one streaming run can be read off at every r.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["split", "fraction_indices"]


def split(n: int, *, val_fraction: float | None = None, n_val: int | None = None, seed: int = 0):
    """Indices ``(train, val)`` of a dataset of ``n`` structures, a deterministic function of ``seed``.

    Exactly one of ``val_fraction`` (0 < f < 1) and ``n_val`` (0 < n_val < n) must be given.
    """
    if (val_fraction is None) == (n_val is None):
        raise ValueError("split: give exactly one of val_fraction and n_val")
    if n < 2:
        raise ValueError(f"split: need at least 2 structures, got n={n}")
    if val_fraction is not None:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"split: val_fraction must be in (0, 1), got {val_fraction}")
        n_val = max(1, int(round(val_fraction * n)))
    if not 0 < n_val < n:
        raise ValueError(f"split: n_val must be in [1, {n - 1}], got {n_val}")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:].copy(), np.sort(order[:n_val])


def fraction_indices(train: np.ndarray, r: float) -> np.ndarray:
    """The first ``ceil(r·len(train))`` indices of ``train`` (nested: fraction r ⊂ fraction r' for r < r')."""
    if not 0.0 < r <= 1.0:
        raise ValueError(f"fraction_indices: r must be in (0, 1], got {r}")
    return np.asarray(train)[: max(1, math.ceil(r * len(train) - 1e-9))]
