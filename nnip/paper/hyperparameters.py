"""Fig. 10 (§3.3) of Ngo & Ravanbakhsh (2025): learning rate × batch size and depth × width at ≈ fixed N.

:func:`lr_batch_study`, :func:`depth_width_study` / :func:`fig10` → ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nnip import figures
from nnip.paper import fits
from nnip.paper._common import (
    ARCH_LABELS, TOO_FEW, comparison_table, notes_left_out, row, run_study, select_archs, title,
)
from nnip.paper.ladders import ablations, n_params, reference_hparams, solve_width
from nnip.presets import Preset, resolve

__all__ = ["HP_ARCHS", "PAPER_DEPTH", "short_base", "depth_width_points", "lr_batch_spec", "depth_width_spec",
           "lr_batch_study", "depth_width_study", "fig10"]

#: archs of the hyper-parameter sweeps of §3.3 (eSEN's came from the literature)
HP_ARCHS = ("mpnn", "egnn", "gemnet_oc")
#: the depth each architecture was scaled at afterwards (Tables 3, 4, 6)
PAPER_DEPTH = {"mpnn": 5, "egnn": 12, "gemnet_oc": 4}

figures.enable_notebook_display()


def short_base(preset: str | Preset) -> dict:
    """``base`` of the short runs of Fig. 10/11: the preset's log-spaced evaluations for them (only their ends
    matter), if it sets any."""
    preset = resolve(preset)
    s = ablations(preset)
    return {"eval.log_points": s.short_log_points} if s.short_log_points else {}


def lr_batch_spec(preset: str | Preset, archs=HP_ARCHS) -> dict:
    """Each arch at ≈ fixed N (:func:`nnip.paper.ladders.reference_hparams`) × the learning-rate × batch-size grid,
    streaming ``hp_fraction`` of the data. The lr is μP's η* at the base width (§3.3)."""
    preset = resolve(preset)
    s = ablations(preset)
    return {"name": "fig10-lr-batch", "dataset": "molecules", "fractions": [s.hp_fraction],
            "base": short_base(preset), "models": [{"name": a, "hparams": [reference_hparams(preset, a)]} for a in archs],
            "grid": {"optim.lr": list(s.lrs), "train.batch_size": list(s.batch_sizes)}, "tags": ["fig10"]}


def depth_width_points(preset: str | Preset, arch: str, tol: float = 0.25) -> list[dict]:
    """Hyper-parameters at each depth of the preset's grid (and the reference depth), the width solved so that
    N ≈ N(reference); depths where no width comes within ``tol`` of it are left out."""
    preset = resolve(preset)
    ref = reference_hparams(preset, arch)
    n_target = n_params(arch, tuple(sorted(ref.items())))
    depths = sorted(set(ablations(preset).depths) | {int(ref["num_layers"])})
    out = []
    for d in depths:
        h = {**ref, "num_layers": d}
        w, n = (ref["hidden_dim"], n_target) if d == ref["num_layers"] else solve_width(arch, h, n_target)
        if abs(n / n_target - 1) <= tol:
            out.append({**h, "hidden_dim": int(w)})
    return out


def depth_width_spec(preset: str | Preset, archs=HP_ARCHS) -> dict:
    """Depth × width at ≈ fixed N per arch (preset lr and batch size; the reference depth coincides with a point of
    :func:`lr_batch_spec`)."""
    preset = resolve(preset)
    s = ablations(preset)
    return {"name": "fig10-depth-width", "dataset": "molecules", "fractions": [s.hp_fraction],
            "base": short_base(preset), "models": [{"name": a, "hparams": depth_width_points(preset, a)} for a in archs],
            "tags": ["fig10"]}


def lr_batch_study(preset: str | Preset, store="results", train_missing: bool = True,
                   archs="mpnn,egnn,gemnet_oc") -> pd.DataFrame:
    preset = resolve(preset)
    return run_study(lr_batch_spec(preset, select_archs(archs, HP_ARCHS)), preset, store, train_missing)


def depth_width_study(preset: str | Preset, store="results", train_missing: bool = True,
                      archs="mpnn,egnn,gemnet_oc") -> pd.DataFrame:
    preset = resolve(preset)
    return run_study(depth_width_spec(preset, select_archs(archs, HP_ARCHS)), preset, store, train_missing)


@notes_left_out
def fig10(lr_batch: pd.DataFrame, depth_width: pd.DataFrame, preset: str | Preset = "cpu"
          ) -> tuple[Figure, pd.DataFrame]:
    """Fig. 10, one row per arch: left, final validation loss over learning rate × batch size (best cell outlined);
    right, final validation loss vs depth at ≈ fixed N (each point labelled with its width and N). Table: the best cell
    and depth per arch vs the paper's (η = 1e-3 and the smallest batch, 64; depths of Tables 3, 4, 6)."""
    preset = resolve(preset)
    archs = [a for a in HP_ARCHS if (lr_batch["arch"] == a).any() or (depth_width["arch"] == a).any()]
    fig = Figure(figsize=(7.8, 3.5 * max(len(archs), 1) + 0.4), layout="constrained")
    fig.get_layout_engine().set(wspace=0.12)  # the colour bar's label apart from the depth panel's axis label
    axes = np.asarray(fig.subplots(max(len(archs), 1), 2, squeeze=False))
    fin_lb, fin_dw = fits.final(lr_batch), fits.final(depth_width)
    rows = []
    for j, a in enumerate(archs):
        grid = fin_lb[fin_lb["arch"] == a].pivot_table(index="optim.lr", columns="train.batch_size",
                                                       values="val_loss", aggfunc="min")
        n = fin_lb.loc[fin_lb["arch"] == a, "params"]
        name = f"{ARCH_LABELS[a]}" + (f",\nN = {int(n.iloc[0]):,}" if len(n) else "")  # two lines, as the depth panel's
        figures.plot_heatmap(grid, "batch size", "learning rate η", title=name, ax=axes[j, 0])
        dw = fin_dw[fin_dw["arch"] == a].assign(
            label=lambda d: [f"w={int(w)}, N={int(p):,}" for w, p in zip(d["model.hparams.hidden_dim"], d["params"])])
        figures.plot_loss_vs(dw, "model.hparams.num_layers", "depth", annotate="label", logx=False, logy=False,
                             ax=axes[j, 1], title=f"{ARCH_LABELS[a]}:\ndepth × width at ≈ fixed N")
        axes[j, 1].xaxis.set_major_locator(MaxNLocator(integer=True))
        if grid.size and np.isfinite(grid.to_numpy()).any():
            r, c = np.unravel_index(np.nanargmin(grid.to_numpy()), grid.shape)
            best_lr, best_b = float(grid.index[r]), float(grid.columns[c])
            lr_rel, b_rel = best_lr / max(grid.index), best_b / min(grid.columns)
        else:
            best_lr = best_b = lr_rel = b_rel = None
        rows.append(row(f"{ARCH_LABELS[a]}: best η / largest η of the grid", 1.0, lr_rel,
                        note=f"best η = {best_lr:g} of {sorted(grid.index.tolist())}; paper: 1e-3 of 1e-4–1e-3"
                        if best_lr is not None else TOO_FEW))
        rows.append(row(f"{ARCH_LABELS[a]}: best batch size / smallest of the grid", 1.0, b_rel,
                        note=f"best batch = {best_b:g} of {sorted(grid.columns.tolist())}; paper: 64 of 64–512"
                        if best_b is not None else TOO_FEW))
        best_d = None if not len(dw) else float(dw.loc[dw["val_loss"].idxmin(), "model.hparams.num_layers"])
        rows.append(row(f"{ARCH_LABELS[a]}: best depth at ≈ fixed N", PAPER_DEPTH[a], best_d,
                        note=("paper: the depth it scaled at; MPNN degrades with depth, equivariant models "
                              "saturate at 12–16")
                        + f"; ours: depths {sorted(dw['model.hparams.num_layers'].unique().tolist())}"))
    title(fig, "Fig. 10 — learning rate × batch size (left) and depth × width (right) at ≈ fixed N", preset)
    return fig, comparison_table(rows)
