"""Fig. 12 (App. G) of Ngo & Ravanbakhsh (2025): MPNN vs eSEN on another data split.

:func:`diverse_study` / :func:`fig12` → ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures
from nnip.paper import fits
from nnip.paper._common import (
    ARCH_LABELS, TOO_FEW, comparison_table, notes_left_out, preset_name, report_row, row, run_study, title,
)
from nnip.paper.ladders import ablations, ladder_entry
from nnip.paper.published import paper_frontier
from nnip.presets import Preset, resolve

__all__ = ["DIVERSE_ENV", "diverse_spec", "diverse_study", "fig12"]

#: environment variable naming the OMol25 4M split (a directory/glob of .aselmdb files) for Fig. 12 at preset=paper
DIVERSE_ENV = "NNIP_OMOL25_4M"

figures.enable_notebook_display()


def diverse_spec(preset: str | Preset, archs=("mpnn", "esen")) -> dict:
    """MPNN and eSEN ladders on the "diverse" split: at preset ``paper`` OMol25's 4M split from ``$NNIP_OMOL25_4M``
    (79K held out, App. G); at tiny/cpu an independent draw of the embedded xtb-mols generator (another seed, its own
    molecules) — a replicate, *not* a more diverse chemistry (the generator makes neutral organics only)."""
    preset = resolve(preset)
    s, p = ablations(preset), preset
    if preset_name(preset) == "paper":
        path = os.environ.get(DIVERSE_ENV)
        if not path:
            raise RuntimeError(f"Fig. 12 at preset='paper' trains on OMol25's 4M split: set {DIVERSE_ENV} to its "
                               ".aselmdb directory or glob (nnip never downloads it)")
        dataset, base = path, {"data.n_val": 79_000}
    else:
        n = s.diverse_n or p.datasets["xtb-mols"]["n"]
        dataset, base = "xtb-mols", {"data.seed": s.diverse_seed, "data.n": int(n)}
    return {"name": "fig12-diverse-split", "dataset": dataset, "base": base,
            "models": [ladder_entry(preset, a, s.ladder_cut) for a in archs], "tags": ["fig12"]}


def diverse_study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    preset = resolve(preset)
    return run_study(diverse_spec(preset), preset, store, train_missing)


@notes_left_out
def fig12(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Figure, pd.DataFrame]:
    """Fig. 12: MPNN (top left) and eSEN (top right) frontiers with eq. (4) fits, and both fits on one axis
    (bottom).
    Table: γ_c, F_c and the exponent gap γ_c(eSEN) − γ_c(MPNN), against the paper's neutral-split values (Table 1)
    — Fig. 12's own numbers are not printed in the paper."""
    preset = resolve(preset)
    n_boot = ablations(preset).n_boot
    archs = [a for a in ("mpnn", "esen") if (curves["arch"] == a).any()]
    fronts = {a: fits.curves_frontier(curves[curves["arch"] == a], preset, n_boot=n_boot) for a in archs}
    fig, axes = figures.panel_row(3, panel_width=3.9, height=3.6)
    for ax, a in zip(axes[:2], ("mpnn", "esen")):
        if a not in fronts:
            ax.set_visible(False)
            continue
        figures.plot_frontier(curves[curves["arch"] == a], fits=fits.in_flops(fronts[a][1].estimate),
                              drop_first=fits.settings(preset).drop_first, ax=ax)
        figures.tidy_log_axes(ax)
        ax.set_title(ARCH_LABELS[a], fontsize="medium")
    ax = axes[2]
    for i, a in enumerate(archs):
        front, rep = fronts[a]
        ax.plot(front[fits.X_FLOPS], front["val_loss"], "o", ms=3, color=f"C{i}", alpha=0.6)
        if rep.ok:
            xs = np.geomspace(front[fits.X_FLOPS].min(), front[fits.X_FLOPS].max(), 100)
            ax.plot(xs, rep.estimate.predict(xs), "-", color=f"C{i}",
                    label=f"{ARCH_LABELS[a]}: F_c = {rep.value('F'):.3g}, γ_c = {rep.value('gamma'):.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C [PFLOPs]")
    ax.set_ylabel("validation loss (eq. 1, normalised)")
    figures.tidy_log_axes(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    ax.set_title("compute-optimal power laws", fontsize="medium")
    split = "OMol25 4M split" if preset_name(preset) == "paper" else "independent xtb-mols draw (not OMol25 4M)"
    title(fig, f"Fig. 12 — MPNN vs eSEN on another split: {split}", preset)

    rows = []
    ref_note = "paper: neutral split (Table 1); Fig. 12's values are not printed"
    for a in archs:
        for q, key, pk in (("γ_c", "gamma", "gamma_c"), ("F_c", "F", "F_c")):
            rows.append(report_row(f"{q}, {ARCH_LABELS[a]}", fronts[a][1], key, paper_frontier(a, pk), ref_note))
    gap = None
    if all(a in fronts and fronts[a][1].ok for a in ("mpnn", "esen")):
        gap = fronts["esen"][1].value("gamma") - fronts["mpnn"][1].value("gamma")
    paper_gap = paper_frontier("esen", "gamma_c") - paper_frontier("mpnn", "gamma_c")
    note = "paper: neutral split; on 4M it 'remains significant'" if gap is not None else TOO_FEW
    rows.append(row("γ_c(eSEN) − γ_c(MPNN)", paper_gap, gap, note=note))
    return fig, comparison_table(rows)
