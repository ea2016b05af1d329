"""The eq. (5) sum power law and the compute-optimal allocation: :func:`plot_sum_power_law` and
:func:`plot_sum_power_law_panels` (Fig. 5), :func:`plot_exponent_shift` (Fig. 7), :func:`plot_compute_optimal` and
:func:`plot_compute_optimal_comparison` (Fig. 6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from nnip import scaling
from nnip.figures._style import law_of, legend_below, style_loss_axes, tidy_log_axes


def _n_limits(ax_n: Any, law: Any, n_grid: np.ndarray, d_max: float, alpha: str) -> None:
    """The L-vs-N panel's lines of an eq. (5) fit: ``L(N, D_max)`` (red) and ``A N^{-α}`` (dashed)."""
    ax_n.plot(n_grid, law.predict(n_grid, np.full_like(n_grid, d_max)), "-", color="C3", lw=1,
              label=f"L(N, D = {d_max:.3g})")
    ax_n.plot(n_grid, law.A * n_grid ** (-law.alpha), "k--", lw=1,
              label=rf"$A\,N^{{-\alpha}}$, {alpha} = {law.alpha:.3f}")


def plot_sum_power_law(fit: scaling.SumPowerLaw | scaling.Bootstrap, data: pd.DataFrame | None = None,
                       N: str = "params", D: str = "atoms_seen", L: str = "val_loss") -> Figure:
    """Fig. 5: the eq. (5) fit. Left: L vs D, one colour per model size N, fitted ``L(N_i, D)`` and the
    data-limited term ``B D^{-β}`` (N → ∞). Right: L vs N at each model's largest D, fitted ``L(N, D_max)`` and
    the parameter-limited term ``A N^{-α}`` (D → ∞). ``data`` defaults to the arrays stored on the fit."""
    law = law_of(fit)
    if data is None:
        data = pd.DataFrame({N: law.N, D: law.D, L: law.L})
    fig = Figure(figsize=(7.6, 3.8), layout="constrained")
    ax_d, ax_n = fig.subplots(1, 2)
    sizes = np.sort(data[N].unique())
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(sizes)))
    d_grid = np.geomspace(data[D].min(), data[D].max(), 100)
    final = data.loc[data.groupby(N)[D].idxmax()].sort_values(N)
    for n_i, color in zip(sizes, colors):
        pts = data[data[N] == n_i].sort_values(D)
        ax_d.plot(pts[D], pts[L], "o", ms=2.5, color=color, alpha=0.7)
        ax_d.plot(d_grid, law.predict(np.full_like(d_grid, n_i), d_grid), "-", color=color, lw=1,
                  label=f"N = {n_i:.3g}")
    ax_d.plot(d_grid, law.B * d_grid ** (-law.beta), "k--", lw=1, label=rf"$B\,D^{{-\beta}}$, $\beta$ = {law.beta:.3f}")
    n_grid = np.geomspace(sizes.min(), sizes.max(), 100)
    ax_n.scatter(final[N], final[L], c=colors[np.searchsorted(sizes, final[N])], s=18, zorder=3,
                 label="largest D of each N")
    _n_limits(ax_n, law, n_grid, float(data[D].max()), r"$\alpha$")
    for ax, xl in ((ax_d, "training atoms D"), (ax_n, "parameters N")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("validation loss (eq. 1, normalised)")
        ax.legend(fontsize="x-small")
    return fig


def plot_sum_power_law_panels(fit: Any, data: pd.DataFrame | None, ax_d: Any, ax_n: Any, N: str = "params",
                              D: str = "atoms_seen", L: str = "val_loss", title: str | None = None,
                              note: str | None = None) -> Figure:
    """One architecture's column of Fig. 5 in two given Axes (as :func:`plot_sum_power_law`): ``ax_d`` L vs D, one
    colour per model size, fitted ``L(N_i, D)`` and ``B D^{-β}``; ``ax_n`` L vs N at each model's largest D, fitted
    ``L(N, D_max)`` and ``A N^{-α}``. ``fit`` may be ``None`` (points only; ``note`` says why), log–log."""
    law = law_of(fit)
    if data is None and law is not None:
        data = pd.DataFrame({N: law.N, D: law.D, L: law.L})
    if data is not None and len(data):
        sizes = np.sort(data[N].unique())
        colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(sizes)))
        d_grid = np.geomspace(data[D].min(), data[D].max(), 100)
        for n_i, color in zip(sizes, colors):
            pts = data[data[N] == n_i].sort_values(D)
            ax_d.plot(pts[D], pts[L], "o", ms=2.5, color=color, alpha=0.7, label=f"N = {n_i:.3g}")
            if law is not None:
                ax_d.plot(d_grid, law.predict(np.full_like(d_grid, n_i), d_grid), "-", color=color, lw=1)
        final = data.loc[data.groupby(N)[D].idxmax()].sort_values(N)
        ax_n.scatter(final[N], final[L], c=colors[np.searchsorted(sizes, final[N])], s=18, zorder=3,
                     label="largest D of each N")
        if law is not None:
            ax_d.plot(d_grid, law.B * d_grid ** (-law.beta), "k--", lw=1,
                      label=rf"$B\,D^{{-\beta}}$, β = {law.beta:.3f}")
            n_grid = np.geomspace(sizes.min(), sizes.max(), 100) if sizes.size > 1 else sizes.astype(float)
            _n_limits(ax_n, law, n_grid, float(data[D].max()), "α")
    for ax, xl in ((ax_d, "training atoms D"), (ax_n, "parameters N")):
        style_loss_axes(ax, xl, legend_size="x-small")
        if note:
            ax.text(0.03, 0.03, note, transform=ax.transAxes, fontsize="x-small", color="C3")
    if title:
        ax_d.set_title(title, fontsize="medium")
    return ax_d.figure


def plot_exponent_shift(fits: Mapping[str, Any], ax_d: Any = None, ax_n: Any = None) -> Figure:
    """Several eq. (5) fits compared, one colour per key (Fig. 7 middle and right).

    ``ax_d``: L vs D of each fit's largest model (points), its fitted ``L(N_max, D)`` (solid) and the data-limited
    term ``B D^{-β}`` (dashed; legend β). ``ax_n``: L vs N at each model's largest D (points) and the
    parameter-limited term ``A N^{-α}`` (dashed; legend α). ``fits[k]``: a :class:`~nnip.scaling.SumPowerLaw`
    (or a Bootstrap of one), or a DataFrame with ``params, atoms_seen, val_loss`` when no fit exists (points only).
    Both panels log–log.
    """
    if ax_d is None or ax_n is None:
        fig = Figure(figsize=(7.6, 3.8), layout="constrained")
        ax_d, ax_n = fig.subplots(1, 2)
    for i, (key, fit) in enumerate(fits.items()):
        color = f"C{i % 10}"
        law = law_of(fit)
        if isinstance(law, pd.DataFrame):
            data, law = law, None
        else:
            data = pd.DataFrame({"params": law.N, "atoms_seen": law.D, "val_loss": law.L})
        if not len(data):
            continue
        n_max = data["params"].max()
        big = data[data["params"] == n_max].sort_values("atoms_seen")
        ax_d.plot(big["atoms_seen"], big["val_loss"], "o", ms=3, color=color, alpha=0.7,
                  label=f"{key}: N = {n_max:.3g}")
        final = data.loc[data.groupby("params")["atoms_seen"].idxmax()].sort_values("params")
        ax_n.plot(final["params"], final["val_loss"], "o", ms=4, color=color, label=f"{key}: largest D")
        if law is None:
            continue
        d = np.geomspace(data["atoms_seen"].min(), data["atoms_seen"].max(), 100)
        ax_d.plot(d, law.predict(np.full_like(d, n_max), d), "-", color=color, lw=1)
        ax_d.plot(d, law.B * d ** (-law.beta), "--", color=color, lw=1, label=rf"$B D^{{-\beta}}$: β = {law.beta:.3f}")
        n = np.geomspace(data["params"].min(), data["params"].max(), 100)
        ax_n.plot(n, law.A * n ** (-law.alpha), "--", color=color, lw=1,
                  label=rf"$A N^{{-\alpha}}$: α = {law.alpha:.3f}")
    for ax, xl in ((ax_d, "training atoms D"), (ax_n, "parameters N")):
        style_loss_axes(ax, xl, legend_size="x-small")
    return ax_d.figure


def plot_compute_optimal(co_by_arch: Mapping[str, scaling.ComputeOptimal],
                         C_pflops: tuple[float, float] = (1e-2, 1e4)) -> Figure:
    """Fig. 6: compute-optimal model size N*(C) (left) and training atoms D*(C) (right), eq. (6)–(7), log–log."""
    fig = Figure(figsize=(7.6, 3.8), layout="constrained")
    ax_n, ax_d = fig.subplots(1, 2)
    c = np.geomspace(C_pflops[0], C_pflops[1], 100)
    for i, (name, co) in enumerate(co_by_arch.items()):
        cu = c if co.unit == "pflops" else c * scaling.PFLOP
        ax_n.plot(c, co.N_opt(cu), color=f"C{i % 10}", label=f"{name}: a = {co.a:.2f}")
        ax_d.plot(c, co.D_opt(cu), color=f"C{i % 10}", label=f"{name}: b = {co.b:.2f}")
    for ax, yl in ((ax_n, "optimal parameters N*"), (ax_d, "optimal training atoms D*")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C [PFLOPs]")
        ax.set_ylabel(yl)
        ax.legend(fontsize="small")
    return fig


def plot_compute_optimal_comparison(ours: Mapping[str, scaling.ComputeOptimal],
                                    reference: Mapping[str, scaling.ComputeOptimal] | None = None,
                                    C_pflops: tuple[float, float] = (1e-2, 1e4),
                                    measured: tuple[float, float] | None = None,
                                    names: tuple[str, str] = ("ours", "paper")) -> Figure:
    """Fig. 6 with a reference: N*(C) (left) and D*(C) (right), eq. (6), log–log; ``ours`` solid, ``reference``
    dashed in the same colour per key; ``measured`` shades the compute range our runs cover [PFLOPs]. Each panel's
    legend is under it."""
    fig = Figure(figsize=(7.6, 6.0), layout="constrained")
    panels = fig.subfigures(1, 2)  # one per panel: its legend goes under it
    ax_n, ax_d = (panel.add_subplot() for panel in panels)
    c = np.geomspace(C_pflops[0], C_pflops[1], 200)
    reference = reference or {}
    keys = list(dict.fromkeys([*ours, *reference]))
    for i, key in enumerate(keys):
        color = f"C{i % 10}"
        for src, style, name in ((ours, "-", names[0]), (reference, "--", names[1])):
            co = src.get(key)
            if co is None:
                continue
            cu = c if co.unit == "pflops" else c * scaling.PFLOP
            ax_n.plot(c, co.N_opt(cu), style, color=color, label=f"{key} {name}: a = {co.a:.2f}")
            ax_d.plot(c, co.D_opt(cu), style, color=color, label=f"{key} {name}: b = {co.b:.2f}")
    for ax, yl in ((ax_n, "optimal parameters N*"), (ax_d, "optimal training atoms D*")):
        if measured is not None:
            ax.axvspan(measured[0], measured[1], color="0.85", zorder=0, label="our runs' compute")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C [PFLOPs]")
        ax.set_ylabel(yl)
        tidy_log_axes(ax)
        legend_below(ax.figure)
    return fig
