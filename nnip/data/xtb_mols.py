"""``xtb-mols``: an OMol25-like set of neutral closed-shell organic molecules, made offline.

Pipeline (every step seeded, so the output depends only on ``seed`` — never on the number of workers):

1. **Graphs** (:func:`random_smiles`, :func:`tasks`): heavy-atom graphs of 2–12 atoms over C, N, O, F, S, Cl are
   assembled valence-correctly — an optional aromatic ring template (benzene, pyridine, pyrimidine, furan,
   pyrrole, thiophene), a random spanning tree (halogens only as leaves on carbon, no O–O), 0–2 ring closures
   (ring sizes 3–7, 5/6 favoured; no bridged or strained small-ring systems) and random bond-order
   increments — then sanitised by RDKit, hydrogens
   filled to the default valences (C 4, N 3, O 2, S 2, F/Cl 1), hence neutral and closed-shell. Canonical
   SMILES make the molecules distinct: a duplicate is drawn again.
2. **3D** (:func:`embed`): RDKit ETKDGv3 embedding (seeded) with explicit hydrogens, then an MMFF94 relaxation
   (UFF when MMFF lacks parameters). One embedding per molecule is shared by its conformers.
3. **Conformers** (:func:`build`): ``N_CONFORMERS`` thermal-like copies of the relaxed geometry, every
   Cartesian coordinate displaced by N(0, σ²) with σ ~ U(0.025, 0.07) Å per conformer (RMS displacement per
   atom 0.04–0.12 Å; mean |F_i| ≈ 1.4 eV/Å, about 1.6× the rMD17 ethanol set); a copy with any interatomic
   distance below 0.7 Å is drawn again.
4. **Random frame** (:func:`random_frame`): every conformer is rotated by its own Haar-random rotation and
   translated by t ~ N(0, (``TRANSLATION_SIGMA`` Å)²) per coordinate (|t| ≈ 6 Å typical), from a generator seeded
   by (seed, molecule, conformer draw). RDKit returns molecules centred and aligned with their principal axes; a
   model that is not built invariant (the unconstrained MPNN, the transformer) would otherwise see one canonical
   frame, and every rotation-based study (symmetry loss, augmentation, test-time averaging, translation, §5)
   would measure that artefact. The labels are computed in the final frame.
5. **Labels** (:func:`xtb_singlepoint`): GFN2-xTB (Bannwarth, Ehlert & Grimme 2019) via ``tblite``, charge 0,
   closed shell (``uhf=0``), electronic temperature 300 K (tblite's default): energy in eV, forces = −∇E in
   eV/Å. A structure on which tblite raises (e.g. SCF not converged) or returns a non-finite value is
   reported in :attr:`Built.failures` (logged by the driver) and replaced by another draw — never kept.

Each structure carries ``info = {"charge": 0, "spin": 1, "smiles", "mol_index", "conformer", "sigma"}``
(written to the row's ``data`` by :func:`nnip.data.writers.write_aselmdb`). The driver that runs
:func:`build` over :func:`tasks` in parallel and writes the file is :mod:`nnip.data.registry`.

Bump :data:`VERSION` whenever a change alters the generated structures or labels (cached files are keyed on it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import Bohr, Hartree

__all__ = [
    "VERSION",
    "ELEMENTS",
    "MoleculeTask",
    "Built",
    "LabelError",
    "random_smiles",
    "tasks",
    "embed",
    "xtb_singlepoint",
    "build",
    "random_frame",
]

#: Generator version, part of the cache file name.
VERSION = 2  # 2: every conformer in a random frame (Haar rotation + translation), labels computed there
#: Elements that may occur.
ELEMENTS = ("H", "C", "N", "O", "F", "S", "Cl")
MIN_HEAVY, MAX_HEAVY = 2, 12
#: Conformers per molecule (the last molecule of a file may contribute fewer).
N_CONFORMERS = 4
#: Range of the per-conformer Gaussian displacement σ, Å (per Cartesian coordinate).
SIGMA_RANGE = (0.025, 0.07)
#: Conformers with an interatomic distance below this (Å) are redrawn.
MIN_DISTANCE = 0.7
#: Draws allowed per molecule (conformers kept + rejected) before the molecule is given up.
MAX_DRAWS_PER_CONFORMER = 3
#: Standard deviation (Å) of each Cartesian component of the random translation of a conformer.
TRANSLATION_SIGMA = 4.0

# --- graph assembly -------------------------------------------------------------------------------------------

_HEAVY = ("C", "N", "O", "F", "S", "Cl")
_HEAVY_P = np.array([0.60, 0.14, 0.15, 0.035, 0.04, 0.035])
_VALENCE = {"C": 4, "N": 3, "O": 2, "S": 2, "F": 1, "Cl": 1}
_HALOGENS = ("F", "Cl")
# Kekulé ring templates: ring atoms in order, bond order between atom k and atom k+1 (cyclic).
_RINGS = (
    (("C",) * 6, (2, 1, 2, 1, 2, 1)),  # benzene
    (("N", "C", "C", "C", "C", "C"), (2, 1, 2, 1, 2, 1)),  # pyridine
    (("N", "C", "N", "C", "C", "C"), (2, 1, 2, 1, 2, 1)),  # pyrimidine
    (("O", "C", "C", "C", "C"), (1, 2, 1, 2, 1)),  # furan
    (("N", "C", "C", "C", "C"), (1, 2, 1, 2, 1)),  # pyrrole
    (("S", "C", "C", "C", "C"), (1, 2, 1, 2, 1)),  # thiophene
)
_P_RING_TEMPLATE = 0.35
_RING_SIZE_WEIGHT = {3: 0.1, 4: 0.05, 5: 0.4, 6: 0.4, 7: 0.05}
_MEAN_UNSATURATIONS = 0.8
_EMBED_MAX_ITERATIONS = 100


class _Graph:
    """A heavy-atom graph under construction: elements, ``{(i, j): bond order}`` with i < j, free valences."""

    def __init__(self) -> None:
        self.elements: list[str] = []
        self.bonds: dict[tuple[int, int], int] = {}
        self.free: list[int] = []

    def add_atom(self, element: str) -> int:
        self.elements.append(element)
        self.free.append(_VALENCE[element])
        return len(self.elements) - 1

    def add_bond(self, i: int, j: int, order: int = 1) -> None:
        key = (min(i, j), max(i, j))
        delta = order - self.bonds.get(key, 0)
        self.bonds[key] = order
        self.free[i] -= delta
        self.free[j] -= delta

    def distances(self) -> list[list[int]]:
        """Topological distances (n × n) by breadth-first search; unreachable = large."""
        n = len(self.elements)
        adj: list[list[int]] = [[] for _ in range(n)]
        for a, b in self.bonds:
            adj[a].append(b)
            adj[b].append(a)
        dist = []
        for s in range(n):
            d = [10**6] * n
            d[s] = 0
            frontier = [s]
            while frontier:
                nxt = []
                for u in frontier:
                    for v in adj[u]:
                        if d[v] > d[u] + 1:
                            d[v] = d[u] + 1
                            nxt.append(v)
                frontier = nxt
            dist.append(d)
        return dist


def _pick(rng: np.random.Generator, weights: list[float]) -> int:
    """Index drawn with probability proportional to ``weights`` (faster than ``rng.choice`` for short lists)."""
    r = rng.random() * sum(weights)
    acc = 0.0
    for k, w in enumerate(weights):
        acc += w
        if r < acc:
            return k
    return len(weights) - 1


def _random_graph(rng: np.random.Generator) -> _Graph | None:
    n_heavy = int(rng.integers(MIN_HEAVY, MAX_HEAVY + 1))
    g = _Graph()
    fits = [r for r in _RINGS if len(r[0]) <= n_heavy]
    template = None
    if fits and rng.random() < _P_RING_TEMPLATE:
        ring_elements, orders = fits[int(rng.integers(len(fits)))]
        m = len(ring_elements)
        for el in ring_elements:
            g.add_atom(el)
        for k in range(m):
            g.add_bond(k, (k + 1) % m, orders[k])
        template = set(g.bonds)
    new = [_HEAVY[_pick(rng, _HEAVY_P)] for _ in range(n_heavy - len(g.elements))]
    if "C" not in g.elements and "C" not in new:
        non_halogen = [k for k, el in enumerate(new) if el not in _HALOGENS]
        new[non_halogen[int(rng.integers(len(non_halogen)))] if non_halogen else 0] = "C"
    # non-halogens first (random order), halogens last: they are leaves on carbon
    heavy = [el for el in new if el not in _HALOGENS]
    heavy = [heavy[k] for k in rng.permutation(len(heavy))]
    if not g.elements:
        g.add_atom(heavy.pop(heavy.index("C")))
    for el in heavy + [el for el in new if el in _HALOGENS]:
        if el in _HALOGENS:
            cand = [i for i, e in enumerate(g.elements) if e == "C" and g.free[i] > 0]
            weights = [1.0] * len(cand)
        else:
            cand = [
                i
                for i, e in enumerate(g.elements)
                if e not in _HALOGENS and g.free[i] > 0 and not (el == "O" and e == "O")
            ]
            weights = [1.0 if g.elements[i] == "C" else 0.15 for i in cand]
        if not cand:
            return None
        g.add_bond(g.add_atom(el), cand[_pick(rng, weights)])
    # ring closures
    for _ in range(_pick(rng, [0.6, 0.3, 0.1])):
        dist = g.distances()
        open_atoms = [i for i, e in enumerate(g.elements) if e not in _HALOGENS and g.free[i] > 0]
        pairs, weights = [], []
        for a, i in enumerate(open_atoms):
            for j in open_atoms[a + 1 :]:
                ring = dist[i][j] + 1
                if ring in _RING_SIZE_WEIGHT and not (g.elements[i] == "O" and g.elements[j] == "O"):
                    pairs.append((i, j))
                    weights.append(_RING_SIZE_WEIGHT[ring])
        if not pairs:
            break
        g.add_bond(*pairs[_pick(rng, weights)])
    # unsaturation: raise bond orders (triple only between C/N); aromatic template bonds stay as they are
    for _ in range(int(rng.poisson(_MEAN_UNSATURATIONS))):
        cand = [
            (a, b)
            for (a, b), o in g.bonds.items()
            if g.free[a] > 0
            and g.free[b] > 0
            and (template is None or (a, b) not in template)
            and (o == 1 or (o == 2 and g.elements[a] in ("C", "N") and g.elements[b] in ("C", "N")))
        ]
        if not cand:
            break
        a, b = cand[int(rng.integers(len(cand)))]
        g.add_bond(a, b, g.bonds[(a, b)] + 1)
    return g


def _graph_to_smiles(g: _Graph) -> str | None:
    """Sanitise with RDKit (hydrogens implicit at default valence); canonical SMILES, or None if rejected."""
    from rdkit import Chem  # optional: rdkit (the data extra)

    order_type = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for el in g.elements:
        mol.AddAtom(Chem.Atom(el))
    for (a, b), o in g.bonds.items():
        mol.AddBond(a, b, order_type[o])
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 — RDKit raises several unrelated types for an invalid graph
        return None
    # strain rules: no triple bond in a ring, no allene in a ring, no double bond in a 3-ring, no atom shared
    # by a 3/4-ring and another ring (bicyclobutanes, fused cyclopropenes, ...)
    ring_info = mol.GetRingInfo()
    for bond in mol.GetBonds():
        if bond.IsInRing() and (
            bond.GetBondType() == Chem.BondType.TRIPLE
            or (bond.GetBondType() == Chem.BondType.DOUBLE and ring_info.MinBondRingSize(bond.GetIdx()) == 3)
        ):
            return None
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        if atom.IsInRing():
            n_double = sum(b.GetBondType() == Chem.BondType.DOUBLE for b in atom.GetBonds())
            if n_double >= 2 or (ring_info.NumAtomRings(i) > 1 and ring_info.MinAtomRingSize(i) <= 4):
                return None
        if atom.GetFormalCharge() != 0 or atom.GetNumRadicalElectrons() != 0:
            return None
    # no bridged ring systems (two rings sharing more than one bond's atoms): mostly unembeddable at this size
    rings = [set(r) for r in ring_info.AtomRings()]
    for a in range(len(rings)):
        for b in range(a + 1, len(rings)):
            shared = rings[a] & rings[b]
            if len(shared) > 2 or (len(shared) == 2 and mol.GetBondBetweenAtoms(*shared) is None):
                return None
    smiles = Chem.MolToSmiles(mol)
    check = Chem.MolFromSmiles(smiles)
    if check is None or not (MIN_HEAVY <= check.GetNumHeavyAtoms() <= MAX_HEAVY):
        return None
    return smiles


def random_smiles(rng: np.random.Generator) -> str | None:
    """One draw of a random neutral closed-shell molecule as canonical SMILES, or None if the draw is rejected."""
    g = _random_graph(rng)
    return None if g is None else _graph_to_smiles(g)


@dataclass(frozen=True)
class MoleculeTask:
    """One molecule to build: its index in the file's molecule order and its SMILES."""

    seed: int
    index: int
    smiles: str
    n_conformers: int = N_CONFORMERS


def tasks(seed: int, n_conformers: int = N_CONFORMERS) -> Iterator[MoleculeTask]:
    """Endless stream of distinct molecules, deterministic in ``seed`` (serial: it is cheap, ~0.3 ms each)."""
    rng = np.random.default_rng([seed, 0x6D6F6C])
    seen: set[str] = set()
    index = 0
    while True:
        smiles = random_smiles(rng)
        if smiles is None or smiles in seen:
            continue
        seen.add(smiles)
        yield MoleculeTask(seed, index, smiles, n_conformers)
        index += 1


# --- 3D and labels --------------------------------------------------------------------------------------------


class LabelError(RuntimeError):
    """The quantum-chemistry code failed on a structure (exception, SCF not converged, non-finite output)."""


class EmbeddingError(RuntimeError):
    """RDKit could not embed a molecule in 3D."""


def embed(smiles: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ETKDGv3 embedding + MMFF94 (or UFF) relaxation → ``numbers`` (n,), ``positions`` (n, 3) Å, H explicit."""
    from rdkit import Chem  # optional: rdkit (the data extra)
    from rdkit.Chem import AllChem  # optional: rdkit (the data extra)

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.maxIterations = _EMBED_MAX_ITERATIONS  # bounds the (deterministic) cost of a failing embedding
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise EmbeddingError(f"ETKDG failed for {smiles}")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=500)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    positions = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    if not np.isfinite(positions).all() or _min_distance(positions) < MIN_DISTANCE:
        raise EmbeddingError(f"degenerate embedding for {smiles}")
    return numbers, positions


@contextlib.contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """Run tblite on one OpenMP thread (restoring the previous setting afterwards).

    For molecules this small, tblite's OpenMP parallelism is a large net loss (measured ~20× slower on 2
    threads than on 1); parallelism comes from worker processes instead. Uses ``omp_set_num_threads`` of the
    ``libgomp.so.1`` already loaded by tblite (shared with torch's, if torch is loaded), never the
    environment, so the caller's threads are unaffected after the call.
    """
    try:
        gomp = ctypes.CDLL("libgomp.so.1")
        previous = int(gomp.omp_get_max_threads())
    except (OSError, AttributeError):  # no GNU OpenMP runtime: nothing to pin
        yield
        return
    gomp.omp_set_num_threads(1)
    try:
        yield
    finally:
        gomp.omp_set_num_threads(previous)


def xtb_singlepoint(numbers: np.ndarray, positions: np.ndarray) -> tuple[float, np.ndarray]:
    """GFN2-xTB energy (eV) and forces (n, 3) eV/Å of a neutral closed-shell molecule, via tblite.

    tblite works in atomic units: positions are passed in Bohr, the energy comes back in Hartree and the
    gradient in Hartree/Bohr; forces = −gradient. Raises :class:`LabelError` on any tblite failure.
    """
    from tblite.interface import Calculator  # optional: tblite (the data extra)

    try:
        calc = Calculator("GFN2-xTB", np.asarray(numbers), np.asarray(positions) / Bohr, charge=0.0, uhf=0)
        calc.set("verbosity", 0)
        with _one_openmp_thread():
            res = calc.singlepoint()
        energy = float(res.get("energy")) * Hartree
        forces = -np.asarray(res.get("gradient"), dtype=np.float64) * (Hartree / Bohr)
    except (RuntimeError, ValueError, TypeError) as err:  # tblite's errors derive from these
        raise LabelError(f"tblite: {err}") from err
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        raise LabelError("tblite returned a non-finite energy or force")
    return energy, forces


def _min_distance(positions: np.ndarray) -> float:
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    d[np.diag_indices_from(d)] = np.inf
    return float(d.min())


@dataclass
class Built:
    """What one task produced: labelled structures (in order) and messages about failed/replaced ones."""

    structures: list[Atoms] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def random_frame(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``positions`` (n, 3) rotated by a Haar-random rotation about their centroid, then moved to a random place.

    The rotation is uniform on SO(3) (a uniformly random unit quaternion: four normal draws, normalised); the
    centroid lands at t ~ N(0, TRANSLATION_SIGMA² I). Positions in Å.
    """
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    centroid = positions.mean(axis=0)
    t = rng.normal(0.0, TRANSLATION_SIGMA, size=3)
    return (positions - centroid) @ rot.T + t


def build(task: MoleculeTask) -> Built:
    """Embed one molecule and label ``task.n_conformers`` perturbed conformers with GFN2-xTB.

    A conformer on which the labeller fails is recorded in ``failures`` and replaced by a fresh draw; after
    ``MAX_DRAWS_PER_CONFORMER * n_conformers`` draws the molecule contributes what it has (the driver then
    moves on to further molecules, so the file still reaches its size).
    """
    out = Built()
    rng = np.random.default_rng([task.seed, task.index, 0x636F6E66])
    frames = np.random.default_rng([task.seed, task.index, 0x66726D])  # own stream: conformer draws unchanged
    try:
        numbers, positions = embed(task.smiles, int(rng.integers(2**31 - 1)))
    except EmbeddingError as err:
        out.failures.append(f"molecule {task.index} {task.smiles}: {err}; skipped")
        return out
    for _ in range(MAX_DRAWS_PER_CONFORMER * task.n_conformers):
        if len(out.structures) == task.n_conformers:
            break
        sigma = float(rng.uniform(*SIGMA_RANGE))
        x = positions + rng.normal(0.0, sigma, size=positions.shape)
        x = random_frame(x, frames)  # drawn for every draw, kept or not: the frame of draw k is fixed by k
        if _min_distance(x) < MIN_DISTANCE:
            continue
        try:
            energy, forces = xtb_singlepoint(numbers, x)
        except LabelError as err:
            out.failures.append(
                f"molecule {task.index} {task.smiles} conformer draw (sigma={sigma:.3f}): {err}; replaced"
            )
            continue
        atoms = Atoms(numbers=numbers, positions=x, pbc=False)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        atoms.info.update(
            charge=0,
            spin=1,
            smiles=task.smiles,
            mol_index=task.index,
            conformer=len(out.structures),
            sigma=round(sigma, 6),
        )
        out.structures.append(atoms)
    return out


def worker_init() -> None:
    """Process initialiser: pin tblite's OpenMP to one thread (must run before ``tblite`` is first imported)."""
    os.environ["OMP_NUM_THREADS"] = "1"
