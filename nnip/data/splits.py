"""Deterministic train/validation splits and nested data fractions (§3.1, §4.2).

``split`` permutes indices with a seeded generator and holds out a validation set; ``fraction_indices`` returns the
first ``r·D_max`` training indices *in that seeded order*, so a smaller fraction is always a prefix of a larger one
(D_r = r·D_max, r ∈ {0.1, …, 1.0}) and one streaming run can be read off at every r.

**Grouped splits.** Structures that share a group (the conformers of one molecule: ``mol_index`` in ``xtb-mols``;
for user files whatever ``atoms.info`` key the user names) are held out together: ``split(..., groups=g)`` draws
whole groups in a seeded order until at least ``n_val`` structures are held out, so no group has members on both
sides and the validation loss measures generalisation to unseen molecules, not to unseen conformers of seen ones.
The training indices are then a seeded permutation of the remaining structures (conformers of one molecule are
not streamed back to back).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["split", "fraction_indices", "group_ids"]


def split(n: int, *, val_fraction: float | None = None, n_val: int | None = None, seed: int = 0, groups=None):
    """Indices ``(train, val)`` of a dataset of ``n`` structures, a deterministic function of ``seed``.

    Exactly one of ``val_fraction`` (0 < f < 1) and ``n_val`` (0 < n_val < n) must be given. With ``groups``
    (length ``n``, any hashable labels) whole groups are held out, in a seeded group order, until the validation
    set holds at least ``n_val`` structures (it may hold up to one group more); ``groups=None`` is the plain
    per-structure split.
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
    if groups is None:
        order = np.random.default_rng(seed).permutation(n)
        return order[n_val:].copy(), np.sort(order[:n_val])
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"split: groups has {len(groups)} entries for n={n} structures")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if len(counts) < 2:
        raise ValueError("split: need at least 2 groups to hold out whole groups, got 1")
    rng = np.random.default_rng([seed, 0x67727570])
    group_order = rng.permutation(len(counts))
    k = int(np.searchsorted(np.cumsum(counts[group_order]), n_val)) + 1  # fewest groups with >= n_val members
    if k >= len(counts):
        raise ValueError(f"split: holding out {n_val} structures would take every group; lower n_val/val_fraction")
    is_val = np.isin(inverse, group_order[:k])
    val = np.flatnonzero(is_val)
    train = np.flatnonzero(~is_val)
    return train[rng.permutation(len(train))], val


def fraction_indices(train: np.ndarray, r: float) -> np.ndarray:
    """The first ``ceil(r·len(train))`` indices of ``train`` (nested: fraction r ⊂ fraction r' for r < r')."""
    if not 0.0 < r <= 1.0:
        raise ValueError(f"fraction_indices: r must be in (0, 1], got {r}")
    return np.asarray(train)[: max(1, math.ceil(r * len(train) - 1e-9))]


def group_ids(dataset, key: str) -> np.ndarray:
    """``atoms.info[key]`` of every structure of ``dataset`` as an integer array of group ids (0, 1, …).

    Raises ``KeyError`` naming the first structure without the key.
    """
    labels = []
    for i in range(len(dataset)):
        info = dataset[i].info
        if key not in info:
            raise KeyError(f"structure {i} has no info[{key!r}] to group the split by")
        labels.append(info[key])
    _, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)
