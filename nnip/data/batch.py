"""A batch of structures as flat tensors, and :func:`collate` that builds it from ``ase.Atoms``.

Shapes and units of every field are declared once in :mod:`nnip.keys`. A :class:`Batch` is a plain dataclass of
tensors: models read its fields, pure functions (:meth:`Batch.edge_vectors`, :meth:`Batch.rotate`) derive the rest.
Edge vectors are *computed* from ``pos`` on demand so that gradients flow to positions and a rotated/translated
batch (used by the symmetry tests, augmentation and eq. (2)/(23)) needs no new neighbour list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from nnip.data.graph import neighbor_list
from nnip.data.labels import LABEL_FIELDS, labels_of

__all__ = ["Batch", "collate", "labels_of"]



@dataclass
class Batch:
    """A batch of ``n_graphs`` structures with ``n_atoms`` atoms and ``n_edges`` edges in total.

    Label fields (``energy``, ``forces``, ``stress``) are ``None`` when the structures carry no such label.
    """

    pos: torch.Tensor  # (n_atoms, 3) Å
    atomic_numbers: torch.Tensor  # (n_atoms,) long
    batch: torch.Tensor  # (n_atoms,) long
    natoms: torch.Tensor  # (n_graphs,) long
    cell: torch.Tensor  # (n_graphs, 3, 3) Å
    pbc: torch.Tensor  # (n_graphs, 3) bool
    edge_index: torch.Tensor  # (2, n_edges) long, [source j, target i]
    cell_shift: torch.Tensor  # (n_edges, 3) float, integer-valued
    charge: torch.Tensor  # (n_graphs,) long
    spin: torch.Tensor  # (n_graphs,) long
    energy: torch.Tensor | None = None  # (n_graphs,) eV
    forces: torch.Tensor | None = None  # (n_atoms, 3) eV/Å
    stress: torch.Tensor | None = None  # (n_graphs, 3, 3) eV/Å³
    cutoff: float = 6.0
    max_neighbors: int | None = 30

    # --- sizes -------------------------------------------------------------------------------------------
    @property
    def num_graphs(self) -> int:
        return int(self.natoms.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.pos.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    # --- derived geometry ----------------------------------------------------------------------------------
    def edge_vectors(self) -> torch.Tensor:
        """``r_ji = pos[j] - pos[i] + cell_shift @ cell[graph(i)]``, shape (n_edges, 3), Å; differentiable in pos."""
        j, i = self.edge_index
        shift = torch.einsum("ea,eab->eb", self.cell_shift.to(self.pos.dtype), self.cell[self.batch[i]])
        return self.pos[j] - self.pos[i] + shift

    # --- transformations -----------------------------------------------------------------------------------
    def replace(self, **changes) -> "Batch":
        return dataclasses.replace(self, **changes)

    def to(self, device=None, dtype: torch.dtype | None = None) -> "Batch":
        """Move tensors to ``device``; cast floating tensors to ``dtype`` (integer tensors keep theirs)."""
        changes = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                if dtype is not None and v.is_floating_point():
                    v = v.to(device=device, dtype=dtype)
                else:
                    v = v.to(device=device)
                changes[f.name] = v
        return dataclasses.replace(self, **changes)

    def rotate(self, rotation: torch.Tensor) -> "Batch":
        """Apply rotations ``R`` to positions, cells and labels: ``x -> x R^T``, ``f -> f R^T``, ``s -> R s R^T``.

        ``rotation`` is (3, 3) for all graphs or (n_graphs, 3, 3) for one per graph. Integer cell shifts are
        unchanged because lattice vectors rotate with the atoms, so the graph stays valid.
        """
        R = rotation.to(self.pos)
        if R.dim() == 2:
            R = R.expand(self.num_graphs, 3, 3)
        Ra = R[self.batch]  # (n_atoms, 3, 3)
        rot_vec = lambda v, Rv: torch.einsum("nab,nb->na", Rv, v)  # noqa: E731
        return self.replace(
            pos=rot_vec(self.pos, Ra),
            cell=torch.einsum("gab,gcb->gca", R, self.cell),
            forces=None if self.forces is None else rot_vec(self.forces, Ra),
            stress=None if self.stress is None else R @ self.stress @ R.transpose(1, 2),
        )

    def translate(self, shift: torch.Tensor) -> "Batch":
        """Translate every atom of every graph by ``shift`` (3,) or per graph (n_graphs, 3)."""
        t = shift.to(self.pos)
        if t.dim() == 1:
            t = t.expand(self.num_graphs, 3)
        return self.replace(pos=self.pos + t[self.batch])

    def to_atoms(self) -> list[Atoms]:
        """Back to ``ase.Atoms`` (positions, numbers, cell, pbc); labels are not attached."""
        out = []
        ptr = np.r_[0, np.cumsum(self.natoms.cpu().numpy())]
        for g in range(self.num_graphs):
            sl = slice(ptr[g], ptr[g + 1])
            out.append(
                Atoms(
                    numbers=self.atomic_numbers[sl].cpu().numpy(),
                    positions=self.pos[sl].detach().cpu().double().numpy(),
                    cell=self.cell[g].detach().cpu().double().numpy(),
                    pbc=self.pbc[g].cpu().numpy(),
                )
            )
        return out


def _meta(atoms: Atoms, key: str, default: int) -> int:
    for source in (atoms.info, atoms.info.get("data", {}) or {}):
        if key in source:
            return int(source[key])
    return default


def collate(
    atoms_list: Sequence[Atoms],
    *,
    cutoff: float = 6.0,
    max_neighbors: int | None = 30,
    dtype: torch.dtype = torch.float32,
    labels: bool = True,
) -> Batch:
    """Build a :class:`Batch` (graph + labels) from structures.

    Args:
        atoms_list: structures; labels read with :func:`labels_of`. Isolated atoms (no neighbours) are fine.
        cutoff: neighbour radius in Å (App. D: 6 Å; 10 Å for GemNet-OC).
        max_neighbors: nearest neighbours kept per atom (App. D: 30; 50 for GemNet-OC); ``None`` keeps all.
        dtype: floating dtype of positions, cells and labels.
        labels: attach labels. A label is attached only if *every* structure has it.
    """
    if len(atoms_list) == 0:
        raise ValueError("collate: atoms_list is empty")
    pos, numbers, cells, pbcs, edges, shifts, natoms, charge, spin = [], [], [], [], [], [], [], [], []
    per_label = {k: [] for k in LABEL_FIELDS}
    offset = 0
    for atoms in atoms_list:
        n = len(atoms)
        p = atoms.get_positions()
        c = np.asarray(atoms.cell[:], dtype=np.float64)
        pbc = np.asarray(atoms.pbc, dtype=bool)
        e, s, _ = neighbor_list(p, c, pbc, cutoff, max_neighbors)
        pos.append(p)
        numbers.append(atoms.numbers)
        cells.append(c)
        pbcs.append(pbc)
        edges.append(e + offset)
        shifts.append(s)
        natoms.append(n)
        charge.append(_meta(atoms, "charge", 0))
        spin.append(_meta(atoms, "spin", 1))
        if labels:
            lab = labels_of(atoms)
            for k in LABEL_FIELDS:
                per_label[k].append(lab.get(k))
        offset += n
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    out = {}
    for k, values in per_label.items():
        if values and all(v is not None for v in values):
            out[k] = t(np.concatenate(values) if k == "forces" else np.stack(values))
    natoms_t = torch.as_tensor(natoms, dtype=torch.long)
    return Batch(
        pos=t(np.concatenate(pos)),
        atomic_numbers=torch.as_tensor(np.concatenate(numbers), dtype=torch.long),
        batch=torch.repeat_interleave(torch.arange(len(natoms)), natoms_t),
        natoms=natoms_t,
        cell=t(np.stack(cells)),
        pbc=torch.as_tensor(np.stack(pbcs)),
        edge_index=torch.as_tensor(np.concatenate(edges, axis=1), dtype=torch.long),
        cell_shift=t(np.concatenate(shifts)),
        charge=torch.as_tensor(charge, dtype=torch.long),
        spin=torch.as_tensor(spin, dtype=torch.long),
        cutoff=float(cutoff),
        max_neighbors=max_neighbors,
        **out,
    )
