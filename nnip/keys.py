"""Every tensor key of a :class:`nnip.data.Batch` and of a model's output dict, with shape and unit.

Units are ASE's: energies in eV, lengths in Å, forces in eV/Å, stress in eV/Å³ (ASE sign convention:
``stress = (1/V) dE/dε``, positive under tension). Targets handed to models during training are *normalised*
(App. D): ``e' = (e - Σ_i ref[Z_i] - μ) / σ`` and ``f' = f / σ`` (and ``s' = s / σ``); model outputs are in those
normalised units and :class:`nnip.data.references.Normalizer` maps them back.

Edge convention: ``edge_index[0]`` is the *source* atom ``j`` (the neighbour that sends the message) and
``edge_index[1]`` the *target* atom ``i`` (the centre that aggregates it). The edge vector is
``r_ji = pos[j] - pos[i] + cell_shift @ cell`` (App. C: ``r_uv = x_u - x_v`` for a message ``u -> v``).
"""

# --- inputs -----------------------------------------------------------------------------------------------
POSITIONS = "pos"  # (n_atoms, 3) float, Å
ATOMIC_NUMBERS = "atomic_numbers"  # (n_atoms,) long
BATCH = "batch"  # (n_atoms,) long, index of the structure each atom belongs to
NATOMS = "natoms"  # (n_graphs,) long, atoms per structure
CELL = "cell"  # (n_graphs, 3, 3) float, Å, rows are lattice vectors (zeros for molecules)
PBC = "pbc"  # (n_graphs, 3) bool
CHARGE = "charge"  # (n_graphs,) long, total charge in e (0 if absent)
SPIN = "spin"  # (n_graphs,) long, spin multiplicity 2S+1 (1 if absent)

# --- graph ------------------------------------------------------------------------------------------------
EDGE_INDEX = "edge_index"  # (2, n_edges) long, [source j, target i]
CELL_SHIFT = "cell_shift"  # (n_edges, 3) float, integer lattice translations applied to pos[j]
EDGE_VECTORS = "edge_vec"  # (n_edges, 3) float, Å, pos[j] - pos[i] + cell_shift @ cell (computed, differentiable)

# --- labels / outputs -------------------------------------------------------------------------------------
ENERGY = "energy"  # (n_graphs,) float, eV (raw) or normalised units (model output / training target)
FORCES = "forces"  # (n_atoms, 3) float, eV/Å (raw) or normalised units
STRESS = "stress"  # (n_graphs, 3, 3) float, eV/Å³ (raw) or normalised units

#: Keys of a model's output dict.
OUTPUT_KEYS = (ENERGY, FORCES, STRESS)

#: Shapes of every key, as documentation and for validation; ``None`` marks a variable dimension.
SHAPES = {
    POSITIONS: ("n_atoms", 3),
    ATOMIC_NUMBERS: ("n_atoms",),
    BATCH: ("n_atoms",),
    NATOMS: ("n_graphs",),
    CELL: ("n_graphs", 3, 3),
    PBC: ("n_graphs", 3),
    CHARGE: ("n_graphs",),
    SPIN: ("n_graphs",),
    EDGE_INDEX: (2, "n_edges"),
    CELL_SHIFT: ("n_edges", 3),
    EDGE_VECTORS: ("n_edges", 3),
    ENERGY: ("n_graphs",),
    FORCES: ("n_atoms", 3),
    STRESS: ("n_graphs", 3, 3),
}

UNITS = {
    POSITIONS: "Å",
    CELL: "Å",
    EDGE_VECTORS: "Å",
    ENERGY: "eV",
    FORCES: "eV/Å",
    STRESS: "eV/Å³",
    CHARGE: "e",
}
