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

import json
from pathlib import Path

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnip.data import collate
from nnip.data.references import Normalizer

__all__ = ["NNIPCalculator", "load_run"]


def load_run(run_dir: str | Path, *, device: str | torch.device = "cpu", weights: str = "eval"):
    """``(model, normalizer, config_dict)`` of a trained run; ``weights="eval"`` (schedule-free average, default)
    or ``"train"`` (the iterate the optimiser was at). The model is in eval mode on ``device``."""
    from nnip.train.trainer import build_model_from_spec

    path = Path(run_dir) / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (the run never reached one, or it was deleted)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = json.loads(state["config"])
    model = build_model_from_spec(cfg["model"]["name"], cfg["model"]["hparams"])
    model.load_state_dict(state["model_eval" if weights == "eval" else "model"])
    model.to(device).eval()
    return model, Normalizer.from_dict(json.loads(state["normalizer"])), cfg


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
        from nnip.train.tta import group_average

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
