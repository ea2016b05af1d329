"""``NNIPCalculator(run_dir)``: an ASE calculator for a trained run (energy eV, forces eV/Å, stress eV/Å³).

The run directory's ``checkpoint.pt`` carries its own config and normaliser, so nothing else is needed. The weights
used are the *evaluation* weights (schedule-free ``x``, the model the curve's validation losses were measured
with). Forces are the model's direct forces (not −dE/dx; App. D), so energy and forces are not exactly
consistent — fine for evaluation, not for energy-conserving MD.

>>> from nnip.calculator import NNIPCalculator                         # doctest: +SKIP
>>> atoms.calc = NNIPCalculator("results/cpu/runs/1a2b3c4d5e6f")        # doctest: +SKIP
>>> atoms.get_potential_energy(), atoms.get_forces()                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnip.data import collate
from nnip.train.checkpoint import load_run  # re-exported: nnip.calculator.load_run
from nnip.train.tta import group_average

__all__ = ["NNIPCalculator", "load_run"]


class NNIPCalculator(Calculator):
    """ASE calculator for the run in ``run_dir``.

    Args:
        run_dir: ``<store>/runs/<run_id>``.
        device: torch device.
        tta_m: evaluate with test-time group averaging over this many Haar rotations (eq. 23; 0 = off).
        seed: seed of the TTA rotations.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, run_dir: str | Path, *, device: str = "cpu", tta_m: int = 0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.model, self.normalizer, self.config = load_run(run_dir, device=device)
        self.device = torch.device(device)
        self.tta_m = tta_m
        self.seed = seed

    @torch.no_grad()
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        batch = collate([self.atoms], cutoff=float(self.model.cutoff), max_neighbors=self.model.max_neighbors,
                        labels=False).to(self.device)
        if self.tta_m > 0:
            out = group_average(self.model, batch, self.tta_m, generator=torch.Generator().manual_seed(self.seed))
        else:
            out = self.model(batch)
        out = self.normalizer.denormalize({k: v.double() for k, v in out.items()}, batch.to(dtype=torch.float64))
        e = float(out["energy"][0])
        self.results = {"energy": e, "free_energy": e, "forces": out["forces"].cpu().numpy().astype(np.float64)}
        if "stress" in out:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].cpu().numpy().astype(np.float64))
        elif "stress" in properties:
            raise PropertyNotImplementedError("this model predicts no stress (train it with stress=True)")
