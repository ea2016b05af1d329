"""Structures/s of read + collate (vesin neighbour lists) vs. the same collation with ase.neighborlist.

Both paths read the same rows and build the same edges (the test suite checks that); only the neighbour search
differs. Prints structures/s for each and the ratio, for xtb-mols (molecules, 6 Å / 30 neighbours) and
emt-alloys (periodic cells with stress).

    python benchmarks/bench_data.py [--n 2000] [--batch 32]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np
from ase.neighborlist import neighbor_list as ase_neighbor_list

import nnip.data.batch as batch_module
from nnip.data import collate, read
from nnip.data.graph import cap_neighbors
from nnip.data.registry import ensure_dataset


def _ase_graph(positions, cell, pbc, cutoff, max_neighbors=None):
    """The reference: ase.neighborlist on an Atoms object, then the same nearest-first cap."""
    from ase import Atoms

    atoms = Atoms(positions=positions, cell=cell, pbc=pbc)
    i, j, S, d = ase_neighbor_list("ijSd", atoms, cutoff)
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, d, i))
    i, j, S, d = i[order], j[order], S[order], d[order]
    if max_neighbors is not None:
        keep = cap_neighbors(i, max_neighbors)
        i, j, S, d = i[keep], j[keep], S[keep], d[keep]
    return np.stack([j, i]), S, d


def _rate(path, n, batch_size, cutoff, max_neighbors, graph_fn=None) -> float:
    ds = read(path, limit=n)
    t0 = time.perf_counter()
    ctx = mock.patch.object(batch_module, "neighbor_list", graph_fn) if graph_fn else mock.MagicMock()
    with ctx:
        for start in range(0, len(ds), batch_size):
            collate(ds[start : start + batch_size], cutoff=cutoff, max_neighbors=max_neighbors)
    return len(ds) / (time.perf_counter() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="structures per dataset")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    rows = []
    for name, cutoff, max_nb in (("xtb-mols", 6.0, 30), ("emt-alloys", 6.0, 30)):
        path = ensure_dataset(name, n=args.n, seed=0)
        ours = _rate(path, args.n, args.batch, cutoff, max_nb)
        ref = _rate(path, args.n, args.batch, cutoff, max_nb, graph_fn=_ase_graph)
        rows.append((name, ours, ref))
    print(f"{'dataset':<12} {'nnip (vesin) struct/s':>22} {'ase.neighborlist struct/s':>26} {'ratio':>7}")
    for name, ours, ref in rows:
        print(f"{name:<12} {ours:>22.0f} {ref:>26.0f} {ours / ref:>6.2f}x")


if __name__ == "__main__":
    main()
