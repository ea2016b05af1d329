"""Fig. 11 (App. F) of Ngo & Ravanbakhsh (2025): EGNN's loss vs its number of vector channels E.

:func:`vector_channels_study` / :func:`fig11` → ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.stats import spearmanr

from nnip import figures
from nnip.paper import fits
from nnip.paper._common import ARCH_LABELS, TOO_FEW, comparison_table, notes_left_out, report_row, row, run_study, title
from nnip.paper.hyperparameters import short_base
from nnip.paper.ladders import ablations, reference_hparams
from nnip.presets import Preset, resolve

__all__ = ["vector_channels_spec", "vector_channels_study", "fig11"]

figures.enable_notebook_display()


def vector_channels_spec(preset: str | Preset, channels=None) -> dict:
    """EGNN at the reference width × ``model.hparams.vector_channels`` E (App. C.3, F)."""
    preset = resolve(preset)
    s = ablations(preset)
    return {"name": "fig11-vector-channels", "dataset": "molecules", "fractions": [s.vc_fraction],
            "base": short_base(preset), "models": [{"name": "egnn", "hparams": [reference_hparams(preset, "egnn")]}],
            "grid": {"model.hparams.vector_channels": [int(e) for e in (channels or s.vector_channels)]},
            "tags": ["fig11"]}


def vector_channels_study(preset: str | Preset, store="results", train_missing: bool = True, channels=None
                          ) -> pd.DataFrame:
    preset = resolve(preset)
    return run_study(vector_channels_spec(preset, channels), preset, store, train_missing)


@notes_left_out
def fig11(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Figure, pd.DataFrame]:
    """Fig. 11: EGNN learning curves L vs D per number of vector channels E (left) and the final loss vs E (right,
    log–log). Table: the direction (the paper: loss decreases as E grows), Spearman's ρ(E, L) and a descriptive
    power law L ∝ E^{-γ_E} with its held-out-largest-E backtest."""
    preset = resolve(preset)

    col = "model.hparams.vector_channels"
    curves = curves.assign(E=curves[col].astype(int))
    fin = fits.final(curves).sort_values("E")
    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_c, ax_e = fig.subplots(1, 2)
    cmap = colormaps["viridis"]
    es = sorted(fin["E"].unique())
    for i, e in enumerate(es):
        run = fits.prepare(curves[curves["E"] == e], preset, drop_first=0.0).sort_values("atoms_seen")
        ax_c.plot(run["atoms_seen"], run["val_loss"], "-", color=cmap(0.9 * i / max(len(es) - 1, 1)), label=f"E = {e}")
    ax_c.set_xscale("log")
    ax_c.set_yscale("log")
    ax_c.set_xlabel("training atoms D")
    ax_c.set_ylabel("validation loss (eq. 1, normalised)")
    figures.tidy_log_axes(ax_c)
    ax_c.legend(fontsize="x-small")
    w = int(fin["model.hparams.hidden_dim"].iloc[0]) if len(fin) else 0
    ax_c.set_title(f"{ARCH_LABELS['egnn']}, width w = {w}", fontsize="medium")
    figures.plot_loss_vs(fin, "E", "vector channels E", ax=ax_e, title="final loss vs E")
    ax_e.set_xscale("log", base=2)
    title(fig, "Fig. 11 — effect of the number of vector channels E in EGNN", preset)

    rows = []
    if len(fin) >= 2:
        lo, hi = fin.iloc[0], fin.iloc[-1]
        rows.append(row(f"final loss change E = {int(lo['E'])} → {int(hi['E'])}", "decreases",
                        float(hi["val_loss"] / lo["val_loss"] - 1), note="relative change"))
        rho = (spearmanr(fin["E"], fin["val_loss"]).statistic if len(fin) > 2
               else np.sign(hi["val_loss"] - lo["val_loss"]))
        rows.append(row("Spearman ρ(E, final loss)", "< 0 (consistently decreases)", float(rho)))
    else:
        rows.append(row("final loss vs E", "decreases", None, note=TOO_FEW))
    rep = fits.power_law_report(fin.assign(Ef=fin["E"].astype(float)), "Ef", preset)
    rows.append(report_row("γ_E of L ∝ E^(−γ_E)", rep, "gamma", None, "descriptive; the paper fits none"))
    return fig, comparison_table(rows)
