"""Per-element linear energy references and normalisation σ (App. D; Wood et al. 2025, fairchem's scheme).

Energies are first referenced with a per-element linear model fitted by least squares on the *training* split,
``e_ref = e - Σ_i ref[Z_i]``, then standardised, ``e' = (e_ref - μ) / σ``; forces are divided by the same σ,
``f' = f / σ`` (they are invariant to the energy shift), and so is stress. μ and σ are the sample mean and standard
deviation of the referenced training energies. The statistics are computed once per dataset split and stored with
the run (:meth:`Normalizer.to_dict`), so a trained model's outputs map back to eV with :meth:`Normalizer.denormalize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from ase import Atoms

from nnip.data.batch import Batch, labels_of

__all__ = ["Normalizer", "fit_references"]

N_ELEMENTS = 119


@dataclass(frozen=True)
class Normalizer:
    """Energy references (eV per atom of element Z) and standardisation (μ, σ in eV)."""

    references: tuple[float, ...]  # length 119, index = Z
    mean: float
    std: float
    n_structures: int = 0
    elements: tuple[int, ...] = field(default=())

    # --- numpy / ASE side ---------------------------------------------------------------------------------
    def reference_energy(self, numbers: np.ndarray) -> float:
        return float(np.asarray(self.references)[np.asarray(numbers)].sum())

    # --- torch side ---------------------------------------------------------------------------------------
    def _ref_per_graph(self, batch: Batch) -> torch.Tensor:
        ref = torch.as_tensor(self.references, dtype=batch.pos.dtype, device=batch.pos.device)
        out = torch.zeros(batch.num_graphs, dtype=batch.pos.dtype, device=batch.pos.device)
        return out.index_add_(0, batch.batch, ref[batch.atomic_numbers])

    def normalize(self, batch: Batch) -> Batch:
        """Labels in eV → normalised targets: e' = (e − Σref − μ)/σ, f' = f/σ, s' = s/σ."""
        changes = {}
        if batch.energy is not None:
            changes["energy"] = (batch.energy - self._ref_per_graph(batch) - self.mean) / self.std
        if batch.forces is not None:
            changes["forces"] = batch.forces / self.std
        if batch.stress is not None:
            changes["stress"] = batch.stress / self.std
        return batch.replace(**changes)

    def denormalize(self, outputs: dict, batch: Batch) -> dict:
        """Model outputs in normalised units → eV, eV/Å, eV/Å³."""
        out = dict(outputs)
        if "energy" in out:
            out["energy"] = out["energy"] * self.std + self.mean + self._ref_per_graph(batch).to(out["energy"])
        for key in ("forces", "stress"):
            if key in out:
                out[key] = out[key] * self.std
        return out

    # --- persistence --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "references": {int(z): float(self.references[z]) for z in self.elements},
            "mean": self.mean,
            "std": self.std,
            "n_structures": self.n_structures,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        refs = np.zeros(N_ELEMENTS)
        for z, v in d["references"].items():
            refs[int(z)] = v
        elements = tuple(sorted(int(z) for z in d["references"]))
        return cls(tuple(refs.tolist()), float(d["mean"]), float(d["std"]), int(d.get("n_structures", 0)), elements)

    @classmethod
    def identity(cls) -> "Normalizer":
        return cls(tuple([0.0] * N_ELEMENTS), 0.0, 1.0)


def fit_references(structures: Sequence[Atoms] | Iterable[Atoms], *, rcond: float | None = None) -> Normalizer:
    """Fit per-element references by least squares on ``structures`` (the training split) and μ, σ.

    Solves ``min_ref Σ_s (e_s − Σ_Z c_sZ ref_Z)²`` with ``c_sZ`` the count of element Z in structure s
    (``numpy.linalg.lstsq``, minimum-norm solution when the composition matrix is rank deficient — e.g. a
    single-molecule dataset such as ethanol, where only the total reference is determined).

    Raises:
        ValueError: no structures, or a structure without an energy label.
    """
    counts, energies = [], []
    for k, atoms in enumerate(structures):
        e = labels_of(atoms).get("energy")
        if e is None:
            raise ValueError(f"fit_references: structure {k} has no energy label")
        counts.append(np.bincount(atoms.numbers, minlength=N_ELEMENTS))
        energies.append(e)
    if not energies:
        raise ValueError("fit_references: no structures given")
    X = np.asarray(counts, dtype=np.float64)
    y = np.asarray(energies, dtype=np.float64)
    present = np.flatnonzero(X.sum(0) > 0)
    coef, *_ = np.linalg.lstsq(X[:, present], y, rcond=rcond)
    refs = np.zeros(N_ELEMENTS)
    refs[present] = coef
    residual = y - X @ refs
    mean = float(residual.mean())
    std = float(residual.std())
    if not np.isfinite(std) or std < 1e-8:
        std = 1.0  # a single structure or perfectly linear energies: keep the scale of eV
    return Normalizer(tuple(refs.tolist()), mean, std, len(y), tuple(int(z) for z in present))
