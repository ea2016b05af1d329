"""Fig. 16 (App. K) of Ngo & Ravanbakhsh (2025): a vanilla transformer's learning curves next to the MPNN's, and the
loss of the all-zero predictor (where a model that learns nothing sits; also the materials chapter's baseline).

:func:`transformer_study` / :func:`fig16` → ``(Figure, "paper vs ours" table)``; :func:`cached_zero_output_loss`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures
from nnip.figures import AXIS
from nnip.paper._common import cached_json, comparison_table, concat_studies, notes_left_out, run_study, store_path
from nnip.paper.energy_force import upward_fraction
from nnip.paper.main import main_spec
from nnip.presets import Preset, resolve
from nnip.runs import RunStore

__all__ = ["TRANSFORMER_SPEC", "cached_zero_output_loss", "transformer_study", "fig16"]

#: App. K: the vanilla transformer on the molecules, same stream and schedule as the main study
TRANSFORMER_SPEC = {"name": "fig16-transformer", "dataset": "molecules", "archs": ["transformer"]}

figures.enable_notebook_display()


def cached_zero_output_loss(curves: pd.DataFrame, preset: str | Preset, store="results",
                            train_missing: bool = True) -> float:
    """:func:`nnip.train.evaluate.zero_output_loss` of the first run in ``curves`` (runs of one study share dataset,
    split and loss weights), cached in that run's ``zero_output.json``; computing it needs the dataset, so with
    ``train_missing=False`` a missing cache is an error."""
    from nnip.train.evaluate import zero_output_loss  # torch-free analysis: nnip.train imports torch

    preset = resolve(preset)

    rs = RunStore(store_path(store, preset))
    run_id = str(curves["run_id"].iloc[0])
    return float(cached_json(rs, run_id, "zero_output.json", "zeros",
                             lambda: zero_output_loss(rs.run_dir(run_id)),
                             compute_missing=train_missing)["val_loss"])


def transformer_study(preset: str | Preset, store="results", train_missing: bool = True) -> tuple[pd.DataFrame, float]:
    """App. K: the transformer ladder of the preset on the molecules (same stream, optimiser and μP transfer as the
    main study) and the main study's MPNNs for comparison; plus the loss of the all-zero predictor on the same split
    (:func:`cached_zero_output_loss`). Returns ``(curves, zero_output_loss)``."""
    preset = resolve(preset)
    tr = run_study(TRANSFORMER_SPEC, preset, store, train_missing)
    mp = run_study(main_spec("mpnn"), preset, store, train_missing)
    curves = concat_studies([tr, mp], ignore_index=True)
    return curves, cached_zero_output_loss(tr, preset, store, train_missing)


def _late_gain(run: pd.DataFrame, x: str = "atoms_seen") -> float:
    """Relative improvement of the val loss over the second half of the run: ``1 − L(end) / L(half-way)``."""
    run = run.sort_values(x)
    if len(run) < 2:
        return float("nan")
    half = run.iloc[(run[x] - run[x].iloc[-1] / 2).abs().argsort().iloc[0]]
    return float(1.0 - run["val_loss"].iloc[-1] / half["val_loss"])


@notes_left_out
def fig16(curves: pd.DataFrame, zero_loss: float | None = None, *, x: str = "atoms_seen"
          ) -> tuple[Figure, pd.DataFrame]:
    """Fig. 16: validation (left) and training (right) loss vs training atoms of the vanilla transformer (reds, one
    line per size) and the MPNN (blues); dashed: the all-zero predictor. Log–log."""
    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_v, ax_t = fig.subplots(1, 2)
    sx, xlabel = AXIS.get(x, (1.0, x))
    for arch, cmap in (("transformer", "Reds"), ("mpnn", "Blues")):
        df = curves[curves["arch"] == arch]
        colors = figures.size_colors(df["params"], cmap, 0.45, 0.95)
        for (_, n), run in df.sort_values("step").groupby(["run_id", "params"], sort=False):
            run = run[run[x] > 0]
            lab = f"{'Transformer' if arch == 'transformer' else 'MPNN'}, N = {int(n):,}"
            ax_v.plot(run[x] * sx, run["val_loss"], "-", color=colors[int(n)], lw=1.3, label=lab)
            tl = run[run["train_loss"] > 0]
            ax_t.plot(tl[x] * sx, tl["train_loss"], "-", color=colors[int(n)], lw=1.3, label=lab)
    for ax, ylabel in ((ax_v, AXIS["val_loss"][1]), (ax_t, "training loss (eq. 1, normalised, mean since last eval)")):
        if zero_loss is not None and np.isfinite(zero_loss):
            ax.axhline(zero_loss, color="k", ls="--", lw=1, label="all-zero predictor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    ax_v.legend(fontsize="x-small")

    rows = []
    for arch, label in (("transformer", "Transformer"), ("mpnn", "MPNN")):
        df = curves[curves["arch"] == arch]
        if not len(df):
            continue
        big = df[df["params"] == df["params"].max()].sort_values("step")
        note_t = "paper: learning curves saturate rapidly and stay flat" if arch == "transformer" else "reference"
        if zero_loss is not None:
            rows.append({"quantity": f"{label} (largest N): best val loss / all-zero predictor's",
                         "paper": None, "ours": float(big["val_loss"].min() / zero_loss),
                         "note": "paper: no meaningful learning (≈ 1)" if arch == "transformer" else "reference"})
        rows.append({"quantity": f"{label} (largest N): improvement over the second half, 1 − L(D)/L(D/2)",
                     "paper": None, "ours": _late_gain(big, x), "note": note_t})
        rows.append({"quantity": f"{label} (largest N): upward share of val-loss variation", "paper": None,
                     "ours": upward_fraction(big["val_loss"]), "note": "0 = monotone; ≈ 0.5 = noise"})
    return figures.tidy_narrow_log_axes(fig), comparison_table(rows)
