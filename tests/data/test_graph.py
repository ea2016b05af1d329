"""Neighbour lists and collate against ase.neighborlist, on molecules and periodic cells."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

from nnip.data import collate, read
from nnip.data.graph import neighbor_list


def _as_set(i, j, S):
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, S)}


def _compare_to_ase(atoms, cutoff):
    i, j, S = ase_neighbor_list("ijS", atoms, cutoff)
    edge, shift, dist = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    assert _as_set(edge[1], edge[0], shift) == _as_set(i, j, S)
    vec = atoms.positions[edge[0]] - atoms.positions[edge[1]] + shift @ atoms.cell[:]
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), dist, atol=1e-10)


def test_molecules_match_ase(ethanol_xyz):
    for atoms in read(ethanol_xyz, limit=5):
        atoms.pbc = False
        _compare_to_ase(atoms, 3.0)
        _compare_to_ase(atoms, 6.0)


@pytest.mark.parametrize("cutoff", [3.0, 6.0])
def test_periodic_cells_match_ase(cutoff):
    cell = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    cell.rattle(0.1, seed=1)
    _compare_to_ase(cell, cutoff)


def test_cell_smaller_than_cutoff_matches_ase():
    prim = bulk("Al", "fcc", a=4.05)  # 1 atom, nearest image 2.86 Å < cutoff
    _compare_to_ase(prim, 6.0)
    tri = bulk("Cu", "bcc", a=2.9)
    tri.set_cell(tri.cell[:] + np.array([[0, 0.3, 0], [0.2, 0, 0], [0, 0, 0]]), scale_atoms=True)
    _compare_to_ase(tri, 5.0)


def test_mixed_pbc_matches_ase():
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    slab.pbc = [True, True, False]
    slab.rattle(0.05, seed=2)
    _compare_to_ase(slab, 5.0)


def test_max_neighbors_keeps_the_nearest():
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    cell.rattle(0.05, seed=3)
    full_e, full_s, full_d = neighbor_list(cell.positions, cell.cell[:], cell.pbc, 6.0)
    cap_e, cap_s, cap_d = neighbor_list(cell.positions, cell.cell[:], cell.pbc, 6.0, max_neighbors=12)
    for i in range(len(cell)):
        kept = np.sort(cap_d[cap_e[1] == i])
        allds = np.sort(full_d[full_e[1] == i])
        assert len(kept) == 12
        np.testing.assert_allclose(kept, allds[:12])


def test_collate_edge_vectors_and_offsets(ethanol_xyz):
    frames = list(read(ethanol_xyz, limit=3))
    iso = Atoms("O", positions=[[0, 0, 0]])
    cell = bulk("Cu", "fcc", a=3.6)
    batch = collate(frames + [iso, cell], cutoff=5.0, max_neighbors=30, labels=False)
    assert batch.num_graphs == 5
    assert batch.natoms.tolist() == [9, 9, 9, 1, 1]
    j, i = batch.edge_index
    assert (batch.batch[j] == batch.batch[i]).all(), "edges never cross structures"
    assert not (i == 27).any(), "the isolated atom has no neighbours"
    d = batch.edge_vectors().norm(dim=1)
    assert (d <= 5.0 + 1e-6).all() and (d > 0).all()
    single = collate([cell], cutoff=5.0, max_neighbors=30, labels=False)
    torch.testing.assert_close(
        single.edge_vectors().norm(dim=1).sort().values, d[batch.batch[i] == 4].sort().values
    )


def test_collate_labels_and_rotation(ethanol_xyz):
    frames = list(read(ethanol_xyz, limit=2))
    batch = collate(frames, dtype=torch.float64)
    assert batch.energy.shape == (2,) and batch.forces.shape == (18, 3) and batch.stress is None
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    R = q * torch.sign(torch.linalg.det(q))
    rotated = batch.rotate(R)
    torch.testing.assert_close(rotated.edge_vectors(), batch.edge_vectors() @ R.T)
    torch.testing.assert_close(rotated.forces, batch.forces @ R.T)
