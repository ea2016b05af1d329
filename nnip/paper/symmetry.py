"""Fig. 7 (§4.4) of Ngo & Ravanbakhsh (2025): the unconstrained MPNN with and without the symmetry loss eq. (2)
(M = 5 Haar rotations, λ = 1) — frontier shift, β and α.

:func:`symmetry_study` runs (or reads) the runs, :func:`fig7` returns ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper import fits
from nnip.paper._common import TOO_FEW, comparison_table, notes_left_out, report_row, row, run_study, title
from nnip.paper.ladders import ablations, ladder_entry
from nnip.paper.published import PAPER, paper_frontier
from nnip.presets import Preset, resolve

__all__ = ["symmetry_spec", "symmetry_study", "frontier_shift", "best_at", "fig7"]

figures.enable_notebook_display()  # a notebook cell ``fig`` renders our pyplot-free Figures as PNG


def symmetry_spec(preset: str | Preset, m: int = 5, weight: float = 1.0) -> dict:
    """Unconstrained MPNN ladder × ``loss.symmetry_m ∈ {0, m}`` (eq. 2; λ = ``weight``), single epoch."""
    preset = resolve(preset)
    if int(m) < 1:
        raise ValueError(f"m: the symmetry loss needs at least one rotation, got {m}")
    return {"name": "fig7-symmetry-loss", "dataset": "molecules",
            "models": [ladder_entry(preset, "mpnn", ablations(preset).ladder_cut)],
            "base": {"loss.symmetry_weight": float(weight)}, "grid": {"loss.symmetry_m": [0, int(m)]},
            "tags": ["fig7"]}


def symmetry_study(preset: str | Preset, store="results", train_missing: bool = True, m: int = 5,
                   weight: float = 1.0) -> pd.DataFrame:
    """Curves of :func:`symmetry_spec` (the M = 0 runs are the main study's MPNN runs when weight = 1)."""
    preset = resolve(preset)
    return run_study(symmetry_spec(preset, m, weight), preset, store, train_missing)


def best_at(front: pd.DataFrame, C: np.ndarray) -> np.ndarray:
    """Lowest frontier loss reached with at most C FLOPs (NaN below the frontier's first point)."""
    f = front.sort_values("flops")
    idx = np.searchsorted(f["flops"].to_numpy(), C, side="right") - 1
    vals = f["val_loss"].to_numpy()
    return np.where(idx >= 0, vals[np.clip(idx, 0, None)], np.nan)


def frontier_shift(front_a: pd.DataFrame, front_b: pd.DataFrame, n: int = 25) -> float:
    """Median over their common compute range of ``log10 L_b(C) − log10 L_a(C)``, L(C) the frontier's best loss at
    compute C (Fig. 7 left: the vertical distance of two frontiers in log–log axes)."""
    if not (len(front_a) and len(front_b)):
        raise ValueError("front_a, front_b: an empty frontier")
    lo = max(front_a["flops"].min(), front_b["flops"].min())
    hi = min(front_a["flops"].max(), front_b["flops"].max())
    if not hi > lo:
        raise ValueError("front_a, front_b: the frontiers share no compute range")
    C = np.geomspace(lo, hi, n)
    return float(np.median(np.log10(best_at(front_b, C)) - np.log10(best_at(front_a, C))))


def _flop_ratio(curves: pd.DataFrame, col: str, a, b) -> float:
    """Median over matching (params, step) evaluations of C(col = b) / C(col = a): the measured compute factor."""
    key = ["params", "step"]
    A = curves[curves[col] == a].groupby(key)["flops"].first()
    B = curves[curves[col] == b].groupby(key)["flops"].first()
    both = A.index.intersection(B.index)
    if not len(both):
        raise ValueError("no matching evaluations")
    return float(np.median(B[both].to_numpy() / A[both].to_numpy()))


@notes_left_out
def fig7(curves: pd.DataFrame, preset: str | Preset = "cpu", m: int | None = None) -> tuple[Figure, pd.DataFrame]:
    """Fig. 7: top left the loss–compute frontiers with and without the symmetry loss (measured FLOPs, so the
    (M+1)× forward/backward work is included) and the no-loss fit moved right by (M+1) (dashed: what the extra
    compute alone would cost); top right L vs D with ``B D^{-β}``; bottom L vs N with ``A N^{-α}``. Validation loss
    is eq. (1) only. Table: β, α, γ_c, F_c without/with, the measured compute factor and the frontier shift Δ."""
    preset = resolve(preset)
    n_boot = ablations(preset).n_boot
    col = "loss.symmetry_m"
    ms = sorted(int(v) for v in curves[col].unique())
    m = max(ms) if m is None else int(m)
    labels = {0: "no symmetry loss", m: f"symmetry loss (M = {m}, λ = 1)"}
    curves = curves[curves[col].isin([0, m])].assign(condition=lambda d: d[col].map(labels))
    fronts = {k: fits.curves_frontier(curves[curves[col] == k], preset, n_boot=n_boot) for k in (0, m) if k in ms}
    sums = {k: fits.sum_power_law_report(fits.prepare(curves[curves[col] == k], preset), preset, n_boot=n_boot)
            for k in (0, m) if k in ms}

    fig, (ax_c, ax_d, ax_n) = figures.panel_row(3, panel_width=3.9, height=3.6)
    laws = {labels[k]: fits.in_flops(rep.estimate) for k, (_, rep) in fronts.items() if rep.ok}
    figures.plot_frontier(curves, fits=laws, by="condition", drop_first=fits.settings(preset).drop_first, ax=ax_c)
    figures.tidy_log_axes(ax_c)
    if 0 in fronts and fronts[0][1].ok:
        f0, raw = fronts[0][0], fits.in_flops(fronts[0][1].estimate)
        xs = np.geomspace(f0["flops"].min(), f0["flops"].max(), 50)
        ax_c.plot(xs * (m + 1) / scaling.PFLOP, raw.predict(xs), ":", color="0.4",
                  label=f"no-loss fit at (M+1) = {m + 1}× compute")
        ax_c.legend(fontsize="x-small")
    ax_c.set_title("loss–compute frontier", fontsize="medium")
    figures.plot_exponent_shift({labels[k]: (r.estimate if r.ok else r.data) for k, r in sums.items()}, ax_d, ax_n)
    ax_d.set_title("data scaling (β)", fontsize="medium")
    ax_n.set_title("parameter scaling (α)", fontsize="medium")
    title(fig, f"Fig. 7 — symmetry loss eq. (2) on the unconstrained MPNN (M = {m}, λ = 1)", preset)

    paper_t7 = PAPER["mpnn"]["table7"]
    rows = []
    for q, key, words in (("β", "beta", "larger than without"), ("α", "alpha", "smaller than without")):
        for k in (0, m):
            paper = paper_t7[key][0] if k == 0 else words
            rows.append(report_row(f"{q}, {labels[k]}", sums[k], key, paper) if k in sums
                        else row(f"{q}, {labels[k]}", paper, note="no runs"))
    for q, key in (("γ_c (frontier, eq. 4)", "gamma"), ("F_c (frontier, C in PFLOPs)", "F")):
        for k in (0, m):
            paper = paper_frontier("mpnn", "gamma_c" if key == "gamma" else "F_c") if k == 0 else (
                "unchanged" if key == "gamma" else None)
            rows.append(report_row(f"{q}, {labels[k]}", fronts[k][1], key, paper) if k in fronts
                        else row(f"{q}, {labels[k]}", paper, note="no runs"))
    try:
        ratio, note = _flop_ratio(curves, col, 0, m), "measured at equal (N, step)"
    except ValueError:
        ratio, note = None, TOO_FEW
    rows.append(row("compute factor C_sym / C_no-loss", m + 1, ratio, note=note + "; paper: C_sym = (M+1) C"))
    gamma_paper = paper_frontier("mpnn", "gamma_c")
    try:
        shift, note = frontier_shift(fronts[0][0], fronts[m][0]), "median over the common compute range"
    except (KeyError, ValueError):
        shift, note = None, TOO_FEW
    rows.append(row("frontier shift Δ = log10 L_sym(C) − log10 L(C)", gamma_paper * math.log10(m + 1), shift,
                    note=note + f"; paper: Δ ≈ γ log10(M+1) = {gamma_paper:.3g}·log10({m + 1})"))
    g0 = fronts[0][1] if 0 in fronts else None
    rows.append(row("Δ predicted from our γ_c: γ_c log10(M+1)", gamma_paper * math.log10(m + 1),
                    None if g0 is None or not g0.ok else g0.value("gamma") * math.log10(m + 1),
                    note="" if g0 is not None and g0.ok else TOO_FEW))
    return fig, comparison_table(rows)
