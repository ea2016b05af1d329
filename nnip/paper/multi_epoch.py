"""Fig. 8 and 9 (§4.5) of Ngo & Ravanbakhsh (2025): 1 % of the data for many epochs. Fig. 8: the MPNN with and
without random-rotation augmentation — where the loss–compute power law breaks. Fig. 9: the augmented MPNN vs eSEN in
that regime.

:func:`multi_epoch_study` / :func:`fig8`, :func:`augmented_vs_equivariant_study` / :func:`fig9`; each figure returns
``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper import fits
from nnip.paper._common import (
    ARCH_LABELS, TOO_FEW, comparison_table, concat_studies, notes_left_out, report_row, row, run_study, title,
)
from nnip.paper.ladders import ablations, ladder_entry
from nnip.paper.published import paper_frontier
from nnip.paper.symmetry import best_at
from nnip.presets import Preset, resolve

__all__ = ["multi_epoch_spec", "multi_epoch_study", "augmented_vs_equivariant_study", "fig8", "fig9"]

figures.enable_notebook_display()


def multi_epoch_spec(preset: str | Preset, arch: str = "mpnn", augment=(False, True), fraction: float | None = None,
                     epochs: int | None = None) -> dict:
    """``arch``'s ladder on a data fraction r (paper: 1 %) for many epochs (paper: 100), × ``train.augment``."""
    preset = resolve(preset)
    s = ablations(preset)
    base = {"train.max_epochs": int(epochs or s.epochs or preset.epochs)}
    if s.eval_every:
        base["eval.every"] = s.eval_every
    if s.epochs_log_points:
        base["eval.log_points"] = s.epochs_log_points
    return {"name": f"fig8-multi-epoch-{arch}", "dataset": "molecules", "regime": "epochs",
            "fractions": [float(fraction or s.epochs_fraction)], "models": [ladder_entry(preset, arch, s.ladder_cut)],
            "base": base, "grid": {"train.augment": [bool(a) for a in augment]}, "tags": ["fig8", "fig9"]}


def multi_epoch_study(preset: str | Preset, store="results", train_missing: bool = True, fraction: float | None = None,
                      epochs: int | None = None) -> pd.DataFrame:
    """Fig. 8: the MPNN without and with random-rotation augmentation in the multi-epoch regime."""
    preset = resolve(preset)
    return run_study(multi_epoch_spec(preset, "mpnn", (False, True), fraction, epochs), preset, store, train_missing)


def augmented_vs_equivariant_study(preset: str | Preset, store="results", train_missing: bool = True,
                                   fraction: float | None = None, epochs: int | None = None) -> pd.DataFrame:
    """Fig. 9: the augmented MPNN (the same runs as Fig. 8's) and eSEN (no augmentation) in the multi-epoch regime."""
    preset = resolve(preset)
    return concat_studies([
        run_study(multi_epoch_spec(preset, "mpnn", (True,), fraction, epochs), preset, store, train_missing),
        run_study(multi_epoch_spec(preset, "esen", (False,), fraction, epochs), preset, store, train_missing),
    ], ignore_index=True)


def _early(curves: pd.DataFrame, preset: str | Preset, holdout: float):
    """The frontier, its backtest from the first ``1 − holdout`` of its log-compute range (the early fit
    extrapolated over the rest) and that early fit: ``(front, threshold | None, early Report, backtest Report)``."""
    front, rep = fits.curves_frontier(curves, preset, n_boot=0, holdout=holdout)
    threshold = rep.backtest.threshold if rep.backtest is not None else None
    lower = front[front[fits.X_FLOPS] < threshold] if threshold is not None else front.iloc[:0]
    early = fits.power_law_report(lower, fits.X_FLOPS, preset, holdout=None)
    return front, threshold, early, rep


def _break_point(front: pd.DataFrame, threshold: float | None, law, tol: float) -> pd.Series | None:
    """The first frontier point past the early fit whose loss differs from the fit's extrapolation by more than tol."""
    if law is None or threshold is None:
        return None
    late = front[front[fits.X_FLOPS] >= threshold].sort_values(fits.X_FLOPS)
    dev = late["val_loss"].to_numpy() / law.predict(late[fits.X_FLOPS].to_numpy()) - 1.0
    off = np.flatnonzero(np.abs(dev) > tol)
    return None if not off.size else late.iloc[off[0]]


@notes_left_out
def fig8(curves: pd.DataFrame, preset: str | Preset = "cpu", holdout: float = 0.5,
         tol: float = 0.05) -> tuple[Figure, pd.DataFrame]:
    """Fig. 8: frontiers without (top left) and with (top right) augmentation, each with an eq. (4) fit on the first
    ``1 − holdout`` of its log-compute range extrapolated over the rest; bottom: frontier / extrapolation — where it
    leaves the ±``tol`` band the power law breaks (marked ×). Table: the early-fit backtest ARE (large = broken),
    the break epoch and, for the augmented runs, γ_c and F_c of the whole frontier vs §4.5's 0.14 and 0.96."""
    preset = resolve(preset)
    n_boot = ablations(preset).n_boot
    labels = {False: "no augmentation", True: "augmentation"}
    curves = curves.assign(condition=curves["train.augment"].astype(bool).map(labels))
    conds = [a for a in (False, True) if (curves["train.augment"].astype(bool) == a).any()]
    early = {a: _early(curves[curves["condition"] == labels[a]], preset, holdout) for a in conds}
    full = {a: fits.curves_frontier(curves[curves["condition"] == labels[a]], preset, n_boot=n_boot)[1] for a in conds}

    fig, axes = figures.panel_row(3, panel_width=3.9, height=3.6)
    for ax, a in zip(axes[:2], (False, True)):
        sub = curves[curves["condition"] == labels[a]]
        if not len(sub):
            ax.set_visible(False)
            continue
        _, threshold, law, _ = early[a]
        figures.plot_frontier(sub, fits=fits.in_flops(law.estimate), drop_first=fits.settings(preset).drop_first,
                              ax=ax)
        figures.tidy_log_axes(ax)
        if threshold is not None:
            ax.axvline(threshold, color="0.5", ls=":", lw=1, label="end of fit range")
            ax.legend(fontsize="x-small")
        ax.set_title(f"{ARCH_LABELS['mpnn']}, {labels[a]}", fontsize="medium")
    ax = axes[2]
    for i, a in enumerate(conds):
        front, threshold, law, _ = early[a]
        if not law.ok:
            continue
        fr = front.sort_values(fits.X_FLOPS)
        ratio = fr["val_loss"] / law.estimate.predict(fr[fits.X_FLOPS].to_numpy())
        ax.plot(fr[fits.X_FLOPS], ratio, "o-", ms=3, color=f"C{i}", label=labels[a])
        if threshold is not None:
            ax.axvline(threshold, color=f"C{i}", ls=":", lw=1)
        bp = _break_point(front, threshold, law.estimate, tol)
        if bp is not None:
            ax.plot(bp[fits.X_FLOPS], bp["val_loss"] / law.estimate.predict(bp[fits.X_FLOPS]), "x", ms=10, mew=2,
                    color=f"C{i}", label=f"break: epoch {bp['epoch']:.3g}")
    if not any(early[a][2].ok for a in conds):
        ax.text(0.5, 0.6, f"no early fit: {TOO_FEW}", transform=ax.transAxes, ha="center", color="C3")
    ax.axhspan(1 - tol, 1 + tol, color="0.9", zorder=0, label=f"±{tol:.0%} of the power law")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("compute C [PFLOPs]")
    ax.set_ylabel("frontier loss / early power-law fit")
    figures.tidy_log_axes(ax)
    ax.set_title("where the power law breaks", fontsize="medium")
    ax.legend(fontsize="x-small")
    ep = int(curves["train.max_epochs"].max()) if "train.max_epochs" in curves else None
    r = float(curves["data.fraction"].iloc[0]) if "data.fraction" in curves else float("nan")
    title(fig, f"Fig. 8 — MPNN on {r:.3g} of the data for {ep} epochs, without and with augmentation", preset)

    rows = []
    for a in conds:
        front, threshold, law, bt = early[a]
        g = full[a]
        note = "; ".join(n for n in (bt.note, law.note) if n)
        rows.append(row(f"early-fit extrapolation error, {labels[a]}", "breaks" if not a else "holds",
                        None if bt.backtest is None else bt.backtest.are,
                        note=(note or f"fit on the first {1 - holdout:.0%} of the log-compute range")
                        + "; ours = ARE of the extrapolated points"))
        bp = _break_point(front, threshold, law.estimate, tol)
        rows.append(row(f"epoch where the frontier leaves ±{tol:.0%}, {labels[a]}", "late epochs" if not a else "none",
                        None if bp is None else float(bp["epoch"]),
                        note=TOO_FEW if not law.ok else ("" if bp is not None else "stays within the band")))
        for q, key, paper in (("γ_c", "gamma", 0.14), ("F_c", "F", 0.96)):
            rows.append(report_row(f"{q} (whole frontier), {labels[a]}", g, key, paper if a else "no single power law"))
    return fig, comparison_table(rows)


@notes_left_out
def fig9(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Figure, pd.DataFrame]:
    """Fig. 9: the augmented MPNN and eSEN frontiers on one axis with eq. (4) fits (left; legend under the figure)
    and the ratio of their frontier losses vs compute (right; the paper: the gap grows with compute). Table: γ_c, F_c
    vs §4.5 (augmented MPNN ≈ 0.14, 0.96) and Table 1 (eSEN, as in one-pass training), and the gap at the ends of the
    common range."""
    preset = resolve(preset)
    n_boot = ablations(preset).n_boot
    curves = curves[(curves["arch"] == "esen") | curves["train.augment"].astype(bool)]
    labels = {"mpnn": "MPNN + augmentation", "esen": ARCH_LABELS["esen"]}
    curves = curves.assign(model=curves["arch"].map(labels))
    archs = [a for a in ("mpnn", "esen") if (curves["arch"] == a).any()]
    fronts = {a: fits.curves_frontier(curves[curves["arch"] == a], preset, n_boot=n_boot) for a in archs}

    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_f, ax_r = fig.subplots(1, 2)
    figures.plot_frontier(curves, fits={labels[a]: fits.in_flops(r.estimate) for a, (_, r) in fronts.items() if r.ok},
                          by="model", drop_first=fits.settings(preset).drop_first, ax=ax_f)
    figures.tidy_log_axes(ax_f)
    ax_f.set_title("loss–compute frontiers, multi-epoch", fontsize="medium")
    figures.legend_below(fig, [ax_f], ncols=2)  # the frontiers' long labels would hide their points
    gap_lo = gap_hi = None
    if len(archs) == 2:
        fm, fe = fronts["mpnn"][0], fronts["esen"][0]
        lo, hi = max(fm["flops"].min(), fe["flops"].min()), min(fm["flops"].max(), fe["flops"].max())
        if hi > lo:
            C = np.geomspace(lo, hi, 40)
            ratio = best_at(fm, C) / best_at(fe, C)
            ax_r.plot(C / scaling.PFLOP, ratio, "-", color="C3")
            gap_lo, gap_hi = float(ratio[0]), float(ratio[-1])
    if gap_lo is None:
        ax_r.text(0.5, 0.5, "the frontiers share no compute range", transform=ax_r.transAxes, ha="center",
                  color="C3")
    ax_r.axhline(1.0, color="k", lw=0.8)
    ax_r.set_xscale("log")
    ax_r.set_xlabel("compute C [PFLOPs]")
    ax_r.set_ylabel("L(MPNN + aug.) / L(eSEN) at equal C")
    ax_r.set_title("gap between augmentation and equivariance", fontsize="medium")
    title(fig, "Fig. 9 — augmented unconstrained MPNN vs eSEN, multi-epoch regime", preset)

    rows = []
    for a in archs:
        rep = fronts[a][1]
        ref = {"gamma": 0.14, "F": 0.96} if a == "mpnn" else {"gamma": paper_frontier("esen", "gamma_c"),
                                                              "F": paper_frontier("esen", "F_c")}
        for q, key in (("γ_c", "gamma"), ("F_c", "F")):
            rows.append(report_row(f"{q}, {labels[a]}", rep, key, ref[key],
                                   "" if a == "mpnn" else "paper: as one-pass (Table 1)"))
    for name, v in (("loss ratio MPNN+aug / eSEN, smallest common C", gap_lo),
                    ("loss ratio MPNN+aug / eSEN, largest common C", gap_hi)):
        rows.append(row(name, "grows with C", v, note="" if v is not None else TOO_FEW))
    return fig, comparison_table(rows)
