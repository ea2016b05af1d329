"""What a run writes and returns, built from the trainer's state: ``config.json`` (:func:`config_record`),
``summary.json`` (:func:`summary`), the columns and rows of ``curve.csv`` (:func:`curve_columns`,
:func:`curve_row`) and :class:`RunRecord`.

``run`` below is the trainer's state of one run (``nnip.train.trainer``): these functions only read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nnip.runs import CURVE_COLUMNS, RunStore
from nnip.train import pipeline
from nnip.train._provenance import code_version, device_name, now, package_versions
from nnip.train.config import TrainConfig
from nnip.train.optim import current_lr

__all__ = ["RunRecord", "read_record", "curve_columns", "config_record", "summary", "curve_row"]


@dataclass
class RunRecord:
    """What :func:`~nnip.train.train` returns: the run's id, directory, status and summary; ``cached`` for a cache
    hit."""

    run_id: str
    run_dir: Path
    status: str
    summary: dict
    cached: bool = False
    store: RunStore | None = field(default=None, repr=False)

    @property
    def reason(self) -> str | None:
        return self.summary.get("reason")

    def curve(self) -> pd.DataFrame:
        return self.store.read_curve(self.run_id)


def read_record(store: RunStore, run_id: str, cached: bool) -> RunRecord:
    """The :class:`RunRecord` of a run from its stored summary."""
    s = store.read_summary(run_id) or {}
    return RunRecord(run_id, store.run_dir(run_id), s.get("status", "unknown"), s, cached, store)


def curve_columns(cfg: TrainConfig, has_stress: bool) -> list[str]:
    """Columns of ``curve.csv``: :data:`~nnip.runs.CURVE_COLUMNS`, then stress, symmetry-loss and TTA columns."""
    columns = list(CURVE_COLUMNS)
    if has_stress:
        columns.append("val_stress_mae")
    if cfg.loss.symmetry_m > 0:
        columns.append("train_sym_loss")
    if cfg.eval.tta_m > 0:
        columns += ["val_loss_tta", "val_energy_mae_tta", "val_force_l2_tta"]
        if has_stress:
            columns.append("val_stress_mae_tta")
    return columns


def config_record(run: Any) -> dict:
    """``config.json``: the configuration, data, normaliser, model, packages and device of a run."""
    return {
        "run_id": run.run_id,
        "config": run.cfg.to_dict(),
        "trainer_version": run.cfg.hashed_dict()["trainer_version"],
        "code_version": code_version(),
        "dataset": run.data.info,
        "normalizer": run.normalizer.to_dict(),
        "model": {"name": run.cfg.model.name, "params": run.n_params, "cutoff": run.cutoff,
                  "max_neighbors": run.max_neighbors, "width": getattr(run.model, "width", None),
                  "base_width": getattr(run.model, "base_width", None)},
        "packages": package_versions(),
        "device": device_name(run.device),
        "world_size": run.ctx.world,
        "total_steps_planned": run.total_steps,
        "eval_steps_planned": sorted(run.eval_steps),
        "created": now(),
    }


def summary(run: Any, status: str, reason: str | None = None) -> dict:
    """``summary.json``: status, counters, last metrics and the FLOP fit of a run."""
    c = run.c
    m = run.last_metrics
    d = max(c["atoms_seen"], 1)
    out = {
        "run_id": run.run_id,
        "status": status,
        "reason": reason,
        "arch": run.cfg.model.name,
        "params": run.n_params,
        "tags": list(run.cfg.tags),
        "steps": c["step"],
        "epochs": c["structures_seen"] / max(run.n_train, 1),
        "atoms_seen": c["atoms_seen"],
        "structures_seen": c["structures_seen"],
        "flops": c["flops"],
        "hours": c["wall_s"] / 3600.0,
        "hours_train": c["wall_s_train"] / 3600.0,
        "final_val_loss": m.get("val_loss"),
        "best_val_loss": c["best_val"] if math.isfinite(c["best_val"]) else None,
        "best_step": c["best_step"],
        "final_val_energy_mae": m.get("val_energy_mae"),
        "final_val_force_l2": m.get("val_force_l2"),
        "final_val_stress_mae": m.get("val_stress_mae"),
        "final_val_loss_tta": m.get("val_loss_tta"),
        "stopped_early": c["stopped_early"],
        "train_flops_per_param_atom": c["flops"] / (run.n_params * d) if c["atoms_seen"] else None,
        "flops_model": run.flop_model.coefficients if run.flop_model.points else None,
        "flops_measured_steps": len(run.flop_model.points) // max(run.ctx.world, 1),
        "flops_fit_rel_err": run.flop_model.max_rel_error() if run.flop_model.points else None,
        "flops_uncounted_ops": run.uncounted,
        "flops_count_hours": c["flops_count_s"] / 3600.0,
        "data_wait_frac": c["data_wait_s"] / c["wall_s_train"] if c["wall_s_train"] > 0 else None,
        "n_train": run.n_train,
        "n_train_max": run.data.n_train_max,
        "n_val": len(run.data.val),
        "total_steps_planned": run.total_steps,
        "device": device_name(run.device),
        "world_size": run.ctx.world,
        "resumes": c["resumes"],
        "updated": now(),
    }
    return out


def curve_row(run: Any, metrics: dict) -> dict:
    """One row of ``curve.csv``: the counters, the mean training loss since the last evaluation, lr, ``metrics``."""
    c = run.c
    n = max(c["loss_n"], 1)
    spe = max(pipeline.steps_per_epoch(run.n_train, run.cfg.train.batch_size, run.ctx.world), 1)
    row = {
        "step": c["step"],
        "epoch": c["epoch"] + c["batch_in_epoch"] / spe,
        "atoms_seen": c["atoms_seen"],
        "structures_seen": c["structures_seen"],
        "flops": c["flops"],
        "wall_s": c["wall_s"],
        "wall_s_train": c["wall_s_train"],
        "train_loss": c["task_sum"] / n if c["loss_n"] else math.nan,
        "lr": current_lr(run.optimizer),
        **metrics,
    }
    if run.cfg.loss.symmetry_m > 0:
        row["train_sym_loss"] = c["sym_sum"] / n if c["loss_n"] else math.nan
    return row
