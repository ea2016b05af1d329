"""Checkpoints of a run: the format, saving, restoring, and :func:`load_run` (a trained model from its directory).

A checkpoint (``<run>/checkpoint.pt``, written through :meth:`nnip.runs.RunStore.save_checkpoint`) carries its own
config and normaliser (as JSON strings), the training weights and the *evaluation* weights (schedule-free ``x``,
the model the curve's validation losses were measured with), the optimiser, scheduler and GradScaler states, every
RNG state, the trainer's counters and its FLOP-model points, so that a killed run resumes exactly and a finished run
can be evaluated (:mod:`nnip.train.evaluate`) or used as an ASE calculator (:mod:`nnip.calculator`) with nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nnip.data.references import Normalizer
from nnip.models import build_model_from_spec
from nnip.train._provenance import rng_state, set_rng_state

__all__ = ["FORMAT", "FILE", "make_state", "restore", "load_run"]

#: version of the checkpoint layout; a checkpoint of another version is refused (re-train, do not guess)
FORMAT = 1
#: the checkpoint's file name inside a run directory
FILE = "checkpoint.pt"


def make_state(*, run_id: str, config: dict, normalizer: Normalizer, model: torch.nn.Module, model_eval: dict,
               optimizer, scheduler, scaler, counters: dict, flop_points, uncounted: dict,
               last_metrics: dict) -> dict:
    """The checkpoint of a run at this step (tensors on the CPU; configs and small dicts as JSON strings so that
    ``torch.load(weights_only=True)`` reads it)."""
    return {
        "format": FORMAT,
        "run_id": run_id,
        "config": json.dumps(config),
        "normalizer": json.dumps(normalizer.to_dict()),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_eval": {k: v.cpu() for k, v in model_eval.items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(),
        "counters": dict(counters),
        "flop_points": flop_points,
        "uncounted": json.dumps(uncounted),
        "last_metrics": json.dumps(last_metrics),
    }


def restore(state: dict, *, model: torch.nn.Module, optimizer, scheduler=None, scaler=None) -> dict:
    """Load ``state`` (:func:`make_state`) into the model, optimiser, scheduler and scaler and restore the RNG
    states; returns the rest: ``{"counters", "flop_points", "uncounted", "last_metrics"}``."""
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {state.get('format')} != {FORMAT}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return {"counters": state["counters"], "flop_points": state["flop_points"],
            "uncounted": json.loads(state["uncounted"]), "last_metrics": json.loads(state["last_metrics"])}


def load_run(run_dir: str | Path, *, device: str | torch.device = "cpu", weights: str = "eval"):
    """``(model, normalizer, config_dict)`` of a trained run; ``weights="eval"`` (schedule-free average, default)
    or ``"train"`` (the iterate the optimiser was at). The model is in eval mode on ``device``."""
    path = Path(run_dir) / FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (the run never reached one, or it was deleted)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = json.loads(state["config"])
    model = build_model_from_spec(cfg["model"]["name"], cfg["model"]["hparams"], cfg["model"].get("symmetrize"))
    model.load_state_dict(state["model_eval" if weights == "eval" else "model"])
    model.to(device).eval()
    return model, Normalizer.from_dict(json.loads(state["normalizer"])), cfg
