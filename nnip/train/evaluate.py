"""The one evaluation of a model on a run's validation split: what the trainer writes into ``curve.csv``, what
test-time group averaging reports (App. H, eq. 23) and the loss of the all-zero predictor (App. K).

Every evaluation sums :func:`nnip.train.loss.metric_sums` over the validation batches (:func:`accumulate`) and divides
once (:func:`metrics`): the task loss eq. (1) and its parts per structure (normalised units), the energy MAE per atom
(eV/atom), the force L2 error per atom (eV/Å) and the stress MAE per component (eV/Å³).

- :func:`accumulate` — sums of one or more predictors over the same batches, in one pass.
- :func:`metrics` — the curve's ``val_*`` columns from those sums.
- :func:`evaluate_run` — a trained run (its checkpoint's evaluation weights) on its own split, with or without
  test-time group averaging over M Haar rotations (Fig. 13: loss vs M at fixed N).
- :func:`zero_output_loss` — the run's validation loss of the model that outputs zeros in normalised units (no
  checkpoint needed): where a model that learns nothing sits (App. K; Trikha et al.'s transformer plateau).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

from nnip.data.batch import Batch
from nnip.data.references import Normalizer
from nnip.train import pipeline
from nnip.train.checkpoint import load_run
from nnip.train.config import TrainConfig
from nnip.train.loss import LossWeights, metric_sums
from nnip.train.tta import group_average

__all__ = ["Predictor", "accumulate", "metrics", "evaluate_run", "zero_output_loss"]

#: ``(batch index k, batch) -> outputs dict`` (energy, forces[, stress]) in normalised units
Predictor = Callable[[int, Batch], dict]


@torch.no_grad()
def accumulate(batches: Iterable[tuple[int, Batch]], predictors: Mapping[str, Predictor], weights: LossWeights,
               std: float, *, device: torch.device | str | None = None) -> dict[str, dict[str, float]]:
    """Per predictor, the sums of :func:`~nnip.train.loss.metric_sums` over ``batches`` (``(k, batch)`` pairs, as
    :func:`nnip.train.pipeline.val_batches` makes them), every predictor on the same batch before the next batch."""
    totals: dict[str, dict[str, float]] = {name: {} for name in predictors}
    for k, batch in batches:
        if device is not None:
            batch = batch.to(device)
        for name, predict in predictors.items():
            s = metric_sums(predict(k, batch), batch, weights, std)
            tot = totals[name]
            for key, v in s.items():
                tot[key] = tot.get(key, 0.0) + v
    return totals


def metrics(sums: Mapping[str, float], *, suffix: str = "", terms: bool = True, stress: bool = False) -> dict:
    """The ``val_*`` columns from :func:`accumulate`'s sums: ``val_loss``, ``val_energy_mae``, ``val_force_l2`` (+
    ``suffix``); with ``terms`` also the loss terms ``val_energy_loss``, ``val_force_loss``; with ``stress``
    ``val_stress_mae`` (NaN when no structure had a stress label)."""
    ng = max(sums.get("n_graphs", 0.0), 1.0)
    out = {"val_loss" + suffix: sums["loss"] / ng, "val_energy_mae" + suffix: sums["energy_abs_per_atom"] / ng,
           "val_force_l2" + suffix: sums["force_l2"] / max(sums.get("n_atoms", 0.0), 1.0)}
    if terms:
        out["val_energy_loss"] = sums["energy_loss"] / ng
        out["val_force_loss"] = sums["force_loss"] / ng
    if stress:
        out["val_stress_mae" + suffix] = sums["stress_abs"] / sums["n_stress"] if sums.get("n_stress") else math.nan
    return out


def _validation(cfg: TrainConfig, normalizer: Normalizer, *, cutoff: float, max_neighbors: int | None,
                max_structures: int | None = None, batch_size: int | None = None) -> list:
    """The run's validation batches (its own split, normalisation and graph settings)."""
    data = pipeline.load_data(cfg.data, max_val=max_structures if max_structures is not None else cfg.eval.max_structures)
    return pipeline.val_batches(data.val, batch_size or cfg.eval.batch_size or cfg.train.batch_size, cutoff=cutoff,
                             max_neighbors=max_neighbors, normalizer=normalizer)


def evaluate_run(run_dir, *, tta_m: int = 0, seed: int = 0, device: str = "cpu", max_structures: int | None = None,
                 batch_size: int | None = None) -> dict:
    """Validation metrics of a trained run (its checkpoint's evaluation weights) on its own validation split, with
    test-time group averaging over ``tta_m`` rotations (App. H, Fig. 13: loss vs M at fixed N).

    Returns ``{"val_loss", "val_energy_mae", "val_force_l2", "tta_m"[, "val_stress_mae"]}`` (units as in the curve).
    """
    model, normalizer, cfg_dict = load_run(run_dir, device=device)
    cfg = TrainConfig.from_dict(cfg_dict).resolved()
    batches = _validation(cfg, normalizer, cutoff=float(model.cutoff), max_neighbors=model.max_neighbors,
                          max_structures=max_structures, batch_size=batch_size or cfg.eval.batch_size)

    def predict(k: int, batch: Batch) -> dict:
        return group_average(model, batch, tta_m, generator=torch.Generator().manual_seed(seed * 1_000_003 + k))

    total = accumulate(batches, {"model": predict}, LossWeights.from_spec(cfg.loss), float(normalizer.std),
                       device=device)["model"]
    out = {**metrics(total, terms=False), "tta_m": tta_m}
    if total["n_stress"]:
        out["val_stress_mae"] = total["stress_abs"] / total["n_stress"]
    return out


def zero_output_loss(run_dir) -> dict:
    """Validation loss (the run's own split, weights and normalisation) of the trivial model that outputs zeros in
    normalised units: energy = per-element references + mean (App. D), forces = 0, stress = 0.

    This is where a model that "learns nothing" sits — Trikha et al.'s transformers plateau at their zero-force
    loss (≈ 40 on OMat24), and App. K's transformer curves "saturate rapidly". Needs no checkpoint, only
    ``config.json`` and the dataset. Returns ``{"val_loss", "val_energy_loss", "val_force_loss"[, "val_stress_loss"]}``.
    """
    rec = json.loads((Path(run_dir) / "config.json").read_text())
    cfg = TrainConfig.from_dict(rec["config"]).resolved()
    normalizer = Normalizer.from_dict(rec["normalizer"])
    batches = _validation(cfg, normalizer, cutoff=float(rec["model"]["cutoff"]),
                          max_neighbors=rec["model"]["max_neighbors"])

    def zeros(k: int, b: Batch) -> dict:
        pred = {"energy": torch.zeros(b.num_graphs, dtype=b.pos.dtype, device=b.pos.device),
                "forces": torch.zeros_like(b.pos)}
        if b.stress is not None:
            pred["stress"] = torch.zeros_like(b.stress)
        return pred

    tot = accumulate(batches, {"zeros": zeros}, LossWeights.from_spec(cfg.loss), float(normalizer.std))["zeros"]
    n = max(tot.get("n_graphs", 0.0), 1.0)
    out = {"val_loss": tot["loss"] / n, "val_energy_loss": tot["energy_loss"] / n, "val_force_loss": tot["force_loss"] / n}
    if "stress_loss" in tot:
        out["val_stress_loss"] = tot["stress_loss"] / n
    return out
