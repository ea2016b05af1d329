"""The training data pipeline (used by the trainer and :mod:`nnip.train.evaluate`): load + split + normalise, the seeded stream of batches, and the DataLoader.

Data order: the single-epoch **stream** visits the training subset in the split's seeded order (``data.split_seed``)
— the subset D_r is a prefix of that order (:func:`nnip.data.splits.fraction_indices`), so after r·D_max structures a
streaming run has seen exactly D_r and L(D_r) is read off one run (§4.2). In the **epochs** regime epoch ``e``
visits the subset in the permutation ``rng(SeedSequence([train.seed, e]))``. Batches are consecutive chunks of
``batch_size`` (the last one may be smaller). A run's
position is ``(epoch, batch_in_epoch)``; resuming rebuilds the permutation and starts at that batch. Under DDP each
rank collates a contiguous shard of every *global* batch, so the global batch equals the single-process batch.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nnip.data import collate, read
from nnip.data.labels import labels_of
from nnip.data.readers import require_labels
from nnip.data.references import Normalizer, fit_references
from nnip.data.registry import cache_dir, ensure_dataset
from nnip.data.splits import fraction_indices, group_ids, split

__all__ = ["LoadedData", "load_data", "epoch_batches", "steps_per_epoch", "make_loader", "val_batches", "total_steps",
           "shard_bounds", "derive_seed"]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (``SeedSequence``), for per-step generators."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class _Subset(Sequence):
    def __init__(self, data, indices):
        self.data, self.indices = data, np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        return self.data[int(self.indices[k])]


@dataclass
class LoadedData:
    train: Sequence  # the training subset D_r (atoms), in split order
    val: Sequence  # validation structures
    normalizer: Normalizer
    n_train_max: int  # D_max in structures (the full training split)
    info: dict  # dataset id / hash / sizes for config.json
    mean_atoms: float  # mean atoms per training structure (first ≤ 1000)
    has_stress: bool


def _read_dataset(spec):
    if spec.source is not None:
        ds = read(spec.source, limit=spec.limit)
        ident = str(spec.source)
    else:
        kw = {"n": spec.n} if spec.n is not None else ({"size": spec.size} if spec.size is not None else {})
        path = ensure_dataset(spec.name, seed=spec.seed, progress=False, **kw)
        ds = read(path, limit=spec.limit)
        ident = f"{spec.name}:{path.name}"
    return ds, ident


def _groups(ds, key: str, fingerprint: str) -> np.ndarray:
    """Group ids of every structure (:func:`nnip.data.splits.group_ids`), cached on disk by the dataset's content
    hash: reading ``info`` of 100,000 rows takes seconds, and every run of a study needs the same split."""
    path = cache_dir() / "groups" / f"{fingerprint}-{len(ds)}-{key}.npy"
    if path.exists():
        return np.load(path)
    groups = group_ids(ds, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, groups)
    os.replace(tmp, path)
    return groups


def load_data(spec, *, max_val: int | None = None, cache: bool | None = None, regime: str = "stream") -> LoadedData:
    """Read, split (seeded), select the fraction r and fit the normaliser on the training split."""
    ds, ident = _read_dataset(spec)
    fingerprint = ds.fingerprint()  # content hash: the run's dataset id and the group-id cache key (hashed once)
    require_labels(ds, ("energy", "forces"))  # a structure without them: DataError naming file and row, before step 1
    if spec.val_source is not None:
        val_ds = require_labels(read(spec.val_source), ("energy", "forces"))
        train_idx = np.random.default_rng(spec.split_seed).permutation(len(ds))
        val = list(val_ds)
        val_info = {"val_source": str(spec.val_source), "val_id": val_ds.fingerprint()}
    else:
        key = spec.group_key
        groups = _groups(ds, key, fingerprint) if key is not None else None
        train_idx, val_idx = split(len(ds), val_fraction=spec.val_fraction, n_val=spec.n_val, seed=spec.split_seed,
                                   groups=groups)
        val = _Subset(ds, val_idx)
        val_info = {} if key is None else {"group_by": key, "n_groups": int(groups.max()) + 1}
    if max_val is not None:
        val = [val[k] for k in range(min(max_val, len(val)))]
    else:
        val = [val[k] for k in range(len(val))]
    n_ref = len(train_idx) if spec.reference_structures is None else min(spec.reference_structures, len(train_idx))
    normalizer = fit_references(_Subset(ds, train_idx[:n_ref]))
    sub = fraction_indices(train_idx, spec.fraction)
    train = _Subset(ds, sub)
    if cache is None:
        cache = regime == "epochs" and len(train) <= 200_000
    if cache:
        train = [train[k] for k in range(len(train))]
    head = [train[k] for k in range(min(1000, len(train)))]
    mean_atoms = float(np.mean([len(a) for a in head]))
    has_stress = "stress" in labels_of(head[0]) and all("stress" in labels_of(a) for a in val[:1])
    info = {
        "id": ident,
        "hash": fingerprint,
        "n_structures": len(ds),
        "n_train_max": int(len(train_idx)),
        "n_train": int(len(sub)),
        "n_val": len(val),
        "n_reference": int(n_ref),
        "has_stress": bool(has_stress),
        **val_info,
    }
    return LoadedData(train, val, normalizer, int(len(train_idx)), info, mean_atoms, has_stress)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, *, min_size: int = 1,
                  shuffle: bool = True) -> list[list[int]]:
    """The batches (lists of indices into the training subset) of ``epoch``; a trailing batch smaller than
    ``min_size`` (the DDP world size) is dropped. ``shuffle=False`` keeps the subset's order (the stream)."""
    if shuffle:
        order = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)])).permutation(n)
    else:
        order = np.arange(n)
    out = [order[k : k + batch_size].tolist() for k in range(0, n, batch_size)]
    if out and len(out[-1]) < min_size:
        out.pop()
    return out


def steps_per_epoch(n: int, batch_size: int, min_size: int = 1) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= max(1, min_size) else 0)


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Contiguous shard ``[lo, hi)`` of ``n`` items for ``rank`` of ``world``."""
    return (n * rank) // world, (n * (rank + 1)) // world


class _BatchSource(Dataset):
    """Item ``k`` = (normalised Batch of this rank's shard of global batch ``k``, global size, shard start)."""

    def __init__(self, structures, batches, *, cutoff, max_neighbors, normalizer, rank=0, world=1):
        self.structures, self.batches = structures, batches
        self.cutoff, self.max_neighbors, self.normalizer = cutoff, max_neighbors, normalizer
        self.rank, self.world = rank, world

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, k):
        idx = self.batches[k]
        lo, hi = shard_bounds(len(idx), self.rank, self.world)
        atoms = [self.structures[i] for i in idx[lo:hi]]
        batch = collate(atoms, cutoff=self.cutoff, max_neighbors=self.max_neighbors)
        return self.normalizer.normalize(batch), len(idx), lo


def _identity(x):
    return x


def _worker_init(_worker_id: int) -> None:
    """Make a forked worker open its own database handles (LMDB environments must not cross a fork).

    Uses the dataset's ``reopen()`` if it has one; otherwise closes the inherited ``aselmdb`` environments so the
    backend reopens them lazily in this process (it checks the pid).
    """
    info = torch.utils.data.get_worker_info()
    structures = info.dataset.structures
    base = getattr(structures, "data", structures)
    reopen = getattr(base, "reopen", None)
    if callable(reopen):
        reopen()
        return
    for source in getattr(base, "_sources", ()):
        db = getattr(source, "db", None)
        env = getattr(db, "_env", None)
        if env is not None and getattr(db, "_env_pid", os.getpid()) != os.getpid():
            with contextlib.suppress(Exception):
                env.close()
            db._env = None


def make_loader(structures, batches, *, cutoff, max_neighbors, normalizer, num_workers=0, rank=0, world=1):
    """A DataLoader yielding ``(batch, n_global, shard_start)``; ``num_workers`` processes collate in parallel."""
    source = _BatchSource(structures, batches, cutoff=cutoff, max_neighbors=max_neighbors, normalizer=normalizer,
                          rank=rank, world=world)
    kw = {"prefetch_factor": 4, "persistent_workers": False} if num_workers > 0 else {}
    if num_workers > 0:
        kw["worker_init_fn"] = _worker_init
        kw["multiprocessing_context"] = "fork"
    return DataLoader(source, batch_size=None, shuffle=False, num_workers=num_workers, collate_fn=_identity,
                      generator=torch.Generator().manual_seed(0), **kw)


def val_batches(structures, batch_size, *, cutoff, max_neighbors, normalizer, rank=0, world=1) -> list:
    """Collated, normalised validation batches of this rank (batch ``k`` belongs to rank ``k % world``)."""
    out = []
    for k, start in enumerate(range(0, len(structures), batch_size)):
        if k % world != rank:
            continue
        atoms = structures[start : start + batch_size]
        out.append((k, normalizer.normalize(collate(atoms, cutoff=cutoff, max_neighbors=max_neighbors))))
    return out


def total_steps(n_train, spec_train, mean_atoms, world=1) -> int:
    """Planned number of optimiser steps (used for the eval schedule and the cosine schedule)."""
    spe = steps_per_epoch(n_train, spec_train.batch_size, world)
    t = spe * spec_train.max_epochs
    if spec_train.max_steps is not None:
        t = min(t, spec_train.max_steps)
    if spec_train.max_atoms is not None:
        t = min(t, max(1, math.ceil(spec_train.max_atoms / (mean_atoms * spec_train.batch_size))))
    return max(1, t)
