"""Fig. 1–4 of Ngo & Ravanbakhsh (2025): the loss–compute and loss–time frontiers (eq. 4) and κ (eq. 3).

Each item takes the curves of a study of :mod:`nnip.paper.main` (:func:`~nnip.paper.main.main_study`, Fig. 4:
:func:`~nnip.paper.main.lmax_study`) and returns ``(figure, table)``: a :class:`matplotlib.figure.Figure` and the
"paper vs ours" DataFrame (:func:`nnip.paper.comparison_table` plus an ``architecture`` column and the paper's 95%
interval), from :mod:`nnip.paper.fits` on :mod:`nnip.scaling`, drawn with :mod:`nnip.figures`. A fit that the runs
cannot support leaves its row empty ("–") with the note "too few runs at this preset" and the library's reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper._common import ARCH_LABELS, arch_row, archs_present, comparison_table, notes_left_out
from nnip.paper.fits import LABELS, X_FLOPS, X_HOURS, X_MODEL, frontier_report, kappa_report, prepare, settings, wall_column
from nnip.paper.published import paper_value
from nnip.presets import Preset
from nnip.presets import resolve

__all__ = ["LMAX_KEY", "fig1", "fig2", "fig3", "fig4"]

#: the column of Fig. 4's curves that holds eSEN's ``l_max`` (a grid key of :data:`nnip.paper.main.LMAX`)
LMAX_KEY = "model.hparams.l_max"


def _frontiers(curves: pd.DataFrame, archs: list[str], preset: str | Preset, x: str
               ) -> tuple[dict[str, pd.DataFrame], dict[str, scaling.Report]]:
    fronts, reps = {}, {}
    for a in archs:
        fronts[a], reps[a] = frontier_report(prepare(curves, preset, a), x, preset)
    return fronts, reps


def _time_note(arch: str, preset: str | Preset) -> str:
    f = settings(preset).wall_factor.get(arch)
    return f"wall-clock ×{f:g} (footnote 8)" if f else ""


@notes_left_out
def fig1(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 1: loss along the FLOPs-optimal (left) and wall-clock-optimal (right) frontiers of all architectures,
    log–log, with eq. (4) fits (L∞ = 0); each panel's legend under it. Table: γ_c and γ_h, ours vs the paper's
    Table 1 (frontier column)."""
    preset = resolve(preset)
    archs = archs_present(curves)
    fig = Figure(figsize=(7.8, 5.0), layout="constrained")
    panels = fig.subfigures(1, 2)  # one per panel: its legend goes under it
    rows = []
    for panel, x in zip(panels, (X_FLOPS, X_HOURS)):
        ax = panel.add_subplot()
        fronts, reps = _frontiers(curves, archs, preset, x)
        labels = {a: ARCH_LABELS[a] for a in archs}
        figures.plot_frontiers(fronts, {a: r.estimate for a, r in reps.items()}, x=x, xlabel=LABELS[x],
                               ylabel=LABELS["val_loss"], labels=labels, ax=ax)
        ax.set_title("FLOPs-optimal frontier" if x == X_FLOPS else "train-time-optimal frontier")
        figures.legend_below(panel)
        for a in archs:
            if x == X_FLOPS:
                rows.append(arch_row(a, "γ_c (frontier on measured C, eq. 4)", reps[a], "gamma",
                                 paper_value(a, "table1", "frontier", "gamma_c")))
            else:
                rows.append(arch_row(a, "γ_h (time frontier, eq. 4)", reps[a], "gamma", None,
                                 "; ".join(n for n in ("paper: Fig. 1 right, value not printed",
                                                        _time_note(a, preset)) if n)))
    _, model_reps = _frontiers(curves, archs, preset, X_MODEL)
    for a in archs:
        rows.append(arch_row(a, "γ_c (frontier on modelled C = 3κ̂ND, eq. 3–4)", model_reps[a], "gamma",
                         paper_value(a, "table1", "frontier", "gamma_c"), "κ̂ fitted on these runs (Fig. 2)"))
    rows.sort(key=lambda r: archs.index(r["arch"]))
    return fig, comparison_table(rows)


@notes_left_out
def fig2(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 2: measured training FLOPs C vs N·D per architecture and the fitted ``C = 3κND`` (eq. 3).

    FLOPs are counted op by op for whole training steps (:mod:`nnip.train.flops`). κ is not a constant of the
    architecture: the per-edge work grows like the width while N grows like its square, so κ falls with width
    towards the dense-layer value (≈ 2 for the MPNN) and rises with the edges per atom of the data — measured in
    :mod:`nnip.paper.kappa`. Along the paper's ladder our MPNN's κ falls from 4.2 to 2.3 (the paper: 2.33); along
    the CPU ladder it is 13.5 → 3.5.
    """
    preset = resolve(preset)
    archs = archs_present(curves)
    reps = {a: kappa_report(curves, preset, a) for a in archs}
    fits = {ARCH_LABELS[a]: r.estimate for a, r in reps.items() if r.ok}
    fig = figures.plot_kappa(fits)
    ax = fig.axes[0]
    ax.set_xlabel("N·D [parameters × training atoms]")
    ax.set_ylabel("training compute C [FLOPs]")
    ax.set_title("κ from C ≈ 3κND (eq. 3)")
    figures.tidy_log_axes(ax)
    note = "κ falls with width (per-edge work ∝ w, N ∝ w²) and grows with edges per atom: see κ against width"
    rows = [arch_row(a, "κ [FLOPs per parameter per atom]", reps[a], "kappa", paper_value(a, "kappa"), note) for a in archs]
    rows += [arch_row(a, "R² of C vs N·D", reps[a], "r2", None, backtest=False) for a in archs]
    rows.sort(key=lambda r: archs.index(r["arch"]))
    return fig, comparison_table(rows)


@notes_left_out
def fig3(curves: pd.DataFrame, arch: str = "all", preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 3: Pareto frontiers, one row per architecture — left: loss vs FLOPs, right: loss vs wall-clock — every
    run coloured by its size N, the frontier (first steps dropped, §3.2) and its eq. (4) fit. Table: F and γ of both
    frontiers, ours vs the paper's Table 1 (frontier column; the time fits are not printed in the paper)."""
    preset = resolve(preset)
    archs = archs_present(curves, arch)
    fig = Figure(figsize=(7.8, 3.1 * max(len(archs), 1) + 0.2), layout="constrained")
    axes = np.asarray(fig.subplots(max(len(archs), 1), 2, squeeze=False))
    rows = []
    for j, a in enumerate(archs):
        pts = prepare(curves, preset, a)
        raw = curves[curves["arch"] == a].copy()
        raw[X_FLOPS] = raw["flops"].astype(float) / scaling.PFLOP
        raw[X_HOURS] = raw[wall_column(raw)].astype(float) / 3600.0 * settings(preset).wall_factor.get(a, 1.0)
        raw = raw[(raw[X_FLOPS] > 0) & (raw[X_HOURS] > 0)]
        for i, (x, sym) in enumerate(((X_FLOPS, "c"), (X_HOURS, "h"))):
            front, rep = frontier_report(pts, x, preset)
            figures.plot_frontier_by_size(raw, front, rep.estimate, x=x, xlabel=LABELS[x], ylabel=LABELS["val_loss"],
                                          title=ARCH_LABELS[a] if i == 0 else None, ax=axes[j, i])
            paper = sym == "c"
            tnote = "" if paper else "paper: time fit not printed"
            tnote = "; ".join(n for n in (tnote, "" if paper else _time_note(a, preset)) if n)
            rows.append(arch_row(a, f"F_{sym} ({'C in PFLOPs' if paper else 'H in hours'})", rep, "F",
                             paper_value(a, "table1", "frontier", "F_c") if paper else None, tnote))
            rows.append(arch_row(a, f"γ_{sym}", rep, "gamma",
                             paper_value(a, "table1", "frontier", "gamma_c") if paper else None, tnote))
    return fig, comparison_table(rows)


@notes_left_out
def fig4(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 4: eSEN at ``l_max`` ∈ {2, 3, 4} — loss–FLOPs frontier per ``l_max`` with eq. (4) fits (left) and
    γ_c vs ``l_max`` with 95% intervals (right). The paper prints no values for ℓ_max = 2, 3; its ℓ_max = 4 ladder is the
    eSEN of Table 1 (γ_c = 0.403)."""
    preset = resolve(preset)
    df = curves[curves["arch"] == "esen"]
    if LMAX_KEY not in df.columns:
        raise ValueError(f"curves: no {LMAX_KEY!r} column; pass the curves of lmax_study()")
    lmaxes = sorted(int(v) for v in df[LMAX_KEY].dropna().unique())
    fronts, reps = {}, {}
    for lm in lmaxes:
        fronts[lm], reps[lm] = frontier_report(prepare(df[df[LMAX_KEY] == lm], preset, "esen"), X_FLOPS, preset)
    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_f, ax_g = fig.subplots(1, 2)
    figures.plot_frontiers(fronts, {lm: r.estimate for lm, r in reps.items()}, x=X_FLOPS, xlabel=LABELS[X_FLOPS],
                           ylabel=LABELS["val_loss"], labels={lm: f"ℓ_max = {lm}" for lm in lmaxes}, ax=ax_f)
    ax_f.set_title("eSEN: loss–FLOPs frontier per ℓ_max")
    est = [reps[lm].value("gamma") for lm in lmaxes]
    cis = [reps[lm].ci("gamma") or (math.nan, math.nan) for lm in lmaxes]
    figures.plot_exponent_trend(lmaxes, est, cis, reference={4: paper_value("esen", "table1", "frontier", "gamma_c")},
                                xlabel="maximum degree ℓ_max", ylabel="compute exponent γ_c (eq. 4)", ax=ax_g)
    rows = []
    for lm in lmaxes:
        paper = paper_value("esen", "table1", "frontier", "gamma_c") if lm == 4 else None
        pnote = "paper: Table 1 eSEN (ℓ_max = 4)" if lm == 4 else "paper: Fig. 4, value not printed"
        rows.append(arch_row("esen", f"γ_c, ℓ_max = {lm}", reps[lm], "gamma", paper, pnote))
        rows.append(arch_row("esen", f"F_c (C in PFLOPs), ℓ_max = {lm}", reps[lm], "F",
                         paper_value("esen", "table1", "frontier", "F_c") if lm == 4 else None, pnote))
    return fig, comparison_table(rows)
