"""``emt-alloys``: an OMat24-like set of periodic metal-alloy supercells labelled with ASE's EMT potential.

Each structure (index ``i``, drawn from ``numpy.random.default_rng([seed, i, ...])``, so the file depends only on
the seed):

1. **Lattice**: fcc (70 %) or bcc, primitive or conventional cubic cell, repeated ``(n1, n2, n3)`` so that it has
   2–32 sites. Lattice constant by Vegard's law from the elements' fcc constants (``ase.data.reference_states``;
   bcc at the same volume per atom, ``a_bcc = a_fcc / 2^(1/3)``).
2. **Composition**: 1–4 elements of Cu, Ag, Au, Ni, Pd, Pt, Al with Dirichlet(1) fractions, species drawn per site.
3. **Defects and distortion**: with probability 0.25 one vacancy (two in cells of ≥ 16 sites, half the time);
   strain ``cell ← cell (I + ε)`` with ``ε`` symmetric, diagonal ~ U(−3 %, 3 %), off-diagonal ~ U(−1 %, 1 %);
   rattle every position by N(0, σ²), σ ~ U(0.05, 0.10) Å. A draw with two atoms closer than 1.6 Å
   (minimum image) is redrawn.
4. **Labels**: :class:`ase.calculators.emt.EMT` (Jacobsen, Stoltze & Nørskov 1996): energy eV, forces eV/Å,
   stress eV/Å³ (6 Voigt components, ASE sign convention), stored on a ``SinglePointCalculator``.

``info = {"charge": 0, "spin": 1, "lattice", "cell_type", "supercell", "vacancies", "rattle", "index"}``.
EMT is a toy effective-medium potential: the set exercises periodic boundaries and the stress label, it is not
a materials-accuracy reference. Bump :data:`VERSION` whenever a change alters the generated structures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, reference_states

__all__ = ["VERSION", "ELEMENTS", "AlloyTask", "Built", "random_alloy", "label_emt", "tasks", "build"]

#: Generator version, part of the cache file name.
VERSION = 1
#: Elements that may occur (all have EMT parameters).
ELEMENTS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al")
MIN_ATOMS, MAX_ATOMS = 2, 32
STRAIN_DIAGONAL = 0.03
STRAIN_SHEAR = 0.01
RATTLE_RANGE = (0.05, 0.10)  # Å
MIN_DISTANCE = 1.6  # Å
#: Structures per task (work item) handed to a worker process.
CHUNK = 32

_A_FCC = {el: reference_states[atomic_numbers[el]]["a"] for el in ELEMENTS}


def _supercell(rng: np.random.Generator, basis: int) -> tuple[int, int, int]:
    while True:
        reps = tuple(int(r) for r in rng.integers(1, 5, size=3))
        if MIN_ATOMS <= basis * reps[0] * reps[1] * reps[2] <= MAX_ATOMS:
            return reps


def random_alloy(rng: np.random.Generator) -> Atoms:
    """One random strained, rattled alloy supercell (unlabelled), 2–32 atoms, periodic in 3D."""
    lattice = "fcc" if rng.random() < 0.7 else "bcc"
    cubic = bool(rng.random() < 0.5)
    basis = (4 if lattice == "fcc" else 2) if cubic else 1
    reps = _supercell(rng, basis)
    n_el = int(rng.choice(4, p=[0.25, 0.35, 0.25, 0.15])) + 1
    elements = [ELEMENTS[k] for k in sorted(rng.choice(len(ELEMENTS), size=n_el, replace=False))]
    fractions = rng.dirichlet(np.ones(n_el))
    n_sites = basis * reps[0] * reps[1] * reps[2]
    species = [elements[k] for k in rng.choice(n_el, size=n_sites, p=fractions)]
    a_fcc = float(np.mean([_A_FCC[el] for el in species]))
    a = a_fcc if lattice == "fcc" else a_fcc / 2 ** (1 / 3)
    atoms = bulk("Cu", lattice, a=a, cubic=cubic).repeat(reps)
    atoms.set_chemical_symbols(species)
    n_vac = 0
    if n_sites >= 4 and rng.random() < 0.25:
        n_vac = 2 if (n_sites >= 16 and rng.random() < 0.5) else 1
        for k in sorted(rng.choice(n_sites, size=n_vac, replace=False), reverse=True):
            del atoms[int(k)]
    eps = np.diag(rng.uniform(-STRAIN_DIAGONAL, STRAIN_DIAGONAL, size=3))
    off = rng.uniform(-STRAIN_SHEAR, STRAIN_SHEAR, size=3)
    eps[0, 1] = eps[1, 0] = off[0]
    eps[0, 2] = eps[2, 0] = off[1]
    eps[1, 2] = eps[2, 1] = off[2]
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    atoms.info.update(
        lattice=lattice,
        cell_type="cubic" if cubic else "primitive",
        supercell=list(reps),
        vacancies=n_vac,
    )
    return atoms


def _min_distance(atoms: Atoms) -> float:
    if len(atoms) < 2:
        return float("inf")
    d = atoms.get_all_distances(mic=True)
    d[np.diag_indices_from(d)] = np.inf
    # the minimum image misses an atom's own periodic images: the shortest lattice vector bounds those
    return float(min(d.min(), np.linalg.norm(atoms.cell.array, axis=1).min()))


class _VesinNeighborList:
    """Drop-in for the ``ase.neighborlist.NeighborList`` used inside ``EMT`` (``update``, ``get_neighbors``),
    computed by vesin (C++) instead of ASE's Python loop over periodic images: ~2.5× faster labels, same
    neighbours (EMT itself filters them at its cutoff), results equal to stock EMT to ~1e-13.
    """

    def __init__(self, cutoff: float) -> None:
        import vesin  # optional heavy: vesin imports torch

        self._nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)

    def update(self, atoms: Atoms) -> bool:
        i, j, shifts = self._nl.compute(atoms.positions, atoms.cell.array, atoms.pbc, quantities="ijS")
        order = np.lexsort((j, i))
        self._j = np.asarray(j[order], dtype=np.int64)
        self._shifts = np.asarray(shifts[order], dtype=np.int64)
        self._ptr = np.searchsorted(i[order], np.arange(len(atoms) + 1))
        return True

    def get_neighbors(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._ptr[a], self._ptr[a + 1]
        return self._j[lo:hi], self._shifts[lo:hi]


class _EMT(EMT):
    """ASE's :class:`~ase.calculators.emt.EMT`, unchanged except for the neighbour-list implementation."""

    def initialize(self, atoms: Atoms) -> None:
        super().initialize(atoms)
        self.nl = _VesinNeighborList(self.rc_list)


def label_emt(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """EMT energy (eV), forces (n, 3) eV/Å and stress (6,) eV/Å³ (Voigt, ASE sign convention)."""
    atoms = atoms.copy()
    atoms.calc = _EMT()
    return (
        float(atoms.get_potential_energy()),
        np.asarray(atoms.get_forces(), dtype=np.float64),
        np.asarray(atoms.get_stress(voigt=True), dtype=np.float64),
    )


@dataclass(frozen=True)
class AlloyTask:
    """Structures ``start .. start + count - 1`` of the file drawn from ``seed``."""

    seed: int
    start: int
    count: int = CHUNK


@dataclass
class Built:
    """What one task produced: labelled structures (in order) and messages about failed/replaced ones."""

    structures: list[Atoms] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def tasks(seed: int) -> Iterator[AlloyTask]:
    """Endless stream of chunks of structure indices; the structures themselves depend only on (seed, index)."""
    start = 0
    while True:
        yield AlloyTask(seed, start, CHUNK)
        start += CHUNK


def _structure(seed: int, index: int) -> Atoms:
    rng = np.random.default_rng([seed, index, 0x656D74])
    for _ in range(100):
        atoms = random_alloy(rng)
        sigma = float(rng.uniform(*RATTLE_RANGE))
        atoms.positions += rng.normal(0.0, sigma, size=atoms.positions.shape)
        if _min_distance(atoms) >= MIN_DISTANCE:
            break
    else:  # pragma: no cover - the rattle is far too small for this to happen
        raise RuntimeError(f"emt-alloys: no acceptable draw for structure {index}")
    atoms.wrap()
    energy, forces, stress = label_emt(atoms)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
    info = dict(atoms.info)
    atoms.info.clear()
    atoms.info.update(charge=0, spin=1, **info, rattle=round(sigma, 6), index=index)
    return atoms


def build(task: AlloyTask) -> Built:
    """Generate and label structures ``task.start .. task.start + task.count - 1``."""
    return Built(structures=[_structure(task.seed, i) for i in range(task.start, task.start + task.count)])
