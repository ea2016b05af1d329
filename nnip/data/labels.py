"""The labels of one structure (energy eV, forces eV/Å, stress 3×3 eV/Å³) wherever a reader put them: the attached
calculator's ``results``, or ``atoms.info`` / ``atoms.arrays``. Atoms-level (numpy and ASE only, no torch): readers
validate with it, :func:`nnip.data.collate` batches with it."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

__all__ = ["LABEL_FIELDS", "labels_of"]

#: the labels a structure may carry, in this order
LABEL_FIELDS = ("energy", "forces", "stress")


def labels_of(atoms: Atoms) -> dict:
    """The labels of one structure: ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (3×3 eV/Å³) when present.

    Looks on the attached calculator's ``results`` first, then in ``atoms.info`` / ``atoms.arrays`` (extxyz
    files written without a calculator). Never triggers a calculation.
    """
    results = dict(getattr(atoms.calc, "results", {}) or {}) if atoms.calc is not None else {}
    out = {}
    for key in LABEL_FIELDS:
        value = results.get(key)
        if value is None:
            value = atoms.arrays.get(key) if key == "forces" else atoms.info.get(key)
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        if key == "stress" and value.shape == (6,):
            value = voigt_6_to_full_3x3_stress(value)
        if key == "energy":
            value = float(value)
        out[key] = value
    return out
