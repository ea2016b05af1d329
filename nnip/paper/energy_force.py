"""Fig. 14 (App. I) of Ngo & Ravanbakhsh (2025): the eq. (1) loss split into its energy and force terms.

:func:`energy_force_study` / :func:`fig14` → ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures
from nnip.figures import AXIS
from nnip.paper._common import ARCH_LABELS, PAPER_ARCHS, notes_left_out, run_study
from nnip.paper.main import main_spec
from nnip.presets import Preset, resolve

__all__ = ["upward_fraction", "energy_force_study", "fig14"]

figures.enable_notebook_display()


def upward_fraction(values) -> float:
    r"""Noise of a learning curve: the share of its total log-variation that goes *up*,
    :math:`\sum_t \max(\Delta_t, 0) / \sum_t |\Delta_t|` with :math:`\Delta_t = \log L_{t+1} - \log L_t`.

    0 for a monotonically decreasing curve, about 0.5 for one dominated by noise; NaN with fewer than two points or
    a constant curve. Scale-free, so energy and force curves (different magnitudes) compare directly.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 2:
        return float("nan")
    d = np.diff(np.log(v))
    total = np.abs(d).sum()
    return float(np.clip(d, 0, None).sum() / total) if total > 0 else float("nan")


def energy_force_study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """App. I reads the main study's runs (Fig. 1–6): their curves carry ``val_energy_loss`` and ``val_force_loss``."""
    preset = resolve(preset)
    return run_study(main_spec("all"), preset, store, train_missing)


@notes_left_out
def fig14(curves: pd.DataFrame, *, x: str = "atoms_seen") -> tuple[Figure, pd.DataFrame]:
    """Fig. 14: learning curves of every model, energy term of eq. (1) (left) and force term (right), one row per
    architecture, colour by model size; log–log. The table compares how noisy the two are (:func:`upward_fraction`):
    the paper finds energy curves noisy and force curves smooth."""
    archs = [a for a in (*PAPER_ARCHS, *sorted(set(curves["arch"]) - set(PAPER_ARCHS))) if a in set(curves["arch"])]
    fig = Figure(figsize=(7.6, 3.0 * len(archs) + 0.2), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(archs), 2, squeeze=False))
    sx, xlabel = AXIS.get(x, (1.0, x))
    rows = []
    for j, arch in enumerate(archs):
        df = curves[curves["arch"] == arch]
        colors = figures.size_colors(df["params"])
        for (run_id, n), run in df.sort_values("step").groupby(["run_id", "params"], sort=False):
            run = run[run[x] > 0]
            for i, col in enumerate(("val_energy_loss", "val_force_loss")):
                axes[j, i].plot(run[x] * sx, run[col], "-", color=colors[int(n)], lw=1.2, label=f"N = {int(n):,}")
            rows.append({"arch": arch, "params": int(n), "energy": upward_fraction(run["val_energy_loss"]),
                         "force": upward_fraction(run["val_force_loss"]),
                         "final_energy": float(run["val_energy_loss"].iloc[-1]),
                         "final_force": float(run["val_force_loss"].iloc[-1])})
        axes[j, 0].set_title(ARCH_LABELS.get(arch, arch), fontsize="medium")
        for i, ylabel in enumerate(("energy loss |ê − e|/n (normalised)", "force loss Σ‖f̂ − f‖/n (normalised)")):
            ax = axes[j, i]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        axes[j, 0].legend(fontsize="x-small")
    per_run = pd.DataFrame(rows)
    table = []
    for arch in archs:
        r = per_run[per_run["arch"] == arch]
        e, f = r["energy"].mean(), r["force"].mean()
        noisier = "–" if not (np.isfinite(e) and np.isfinite(f)) else ("yes" if e > f else "no")
        big = r.loc[r["params"].idxmax()]
        table.append({"quantity": f"{ARCH_LABELS.get(arch, arch)}: energy curve noisier than force curve",
                      "paper": "yes", "ours": noisier,
                      "note": f"upward share of log-variation: energy {e:.2f}, force {f:.2f} (mean over {len(r)} runs); "
                              f"final energy/force loss of the largest: "
                              f"{big['final_energy']:.3g} / {big['final_force']:.3g}"})
    return figures.tidy_narrow_log_axes(fig), pd.DataFrame(table, columns=["quantity", "paper", "ours", "note"])
