"""Loss–cost frontiers and κ: :func:`plot_frontier` (Fig. 3), :func:`plot_frontiers` (Fig. 1, Fig. 4 left),
:func:`plot_frontier_by_size` (one panel of Fig. 3), :func:`plot_kappa` (Fig. 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from nnip import scaling
from nnip.figures._style import axis_label, law_of, log_log, new_ax


def _as_dict(obj: Any, default_label: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    return {default_label: obj}


def _band(boot: scaling.Bootstrap, xs: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of a power law's prediction over the bootstrap resamples."""
    l_inf, F, gamma = (boot.samples[k].to_numpy()[:, None] for k in ("l_inf", "F", "gamma"))
    pred = l_inf + F * xs[None, :] ** (-gamma)  # (n_resamples, n_x)
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(pred, [tail, 100 - tail], axis=0)
    return lo, hi


def plot_frontier(curves: pd.DataFrame, fits: Any = None, x: str = "flops", y: str = "val_loss",
                  group: str = "run_id", by: str | None = None, drop_first: float = 0.0,
                  ema: float | None = None, show_curves: bool = True, ax: Any = None) -> Figure:
    """Loss–cost Pareto frontier in log–log axes (Fig. 3; eq. 4 fit).

    Args:
        curves: learning curves (``run_id, step, flops, wall_s, val_loss, …``), optionally several architectures
            in a column ``by`` (one colour per value).
        fits: a :class:`~nnip.scaling.PowerLaw`, a :class:`~nnip.scaling.Bootstrap` of one (adds the CI band),
            or a dict ``{by-value: either}`` (a single fit is drawn for every group); fitted on the raw ``x``
            column (FLOPs, seconds), drawn in display units.
        x, y: cost and loss columns (``x`` is displayed in :data:`AXIS` units: PFLOPs, GPU-h).
        drop_first, ema: passed to :func:`~nnip.scaling.pareto_frontier`.
        show_curves: draw every run's curve faintly behind the frontier.
        ax: draw into this Axes instead of a new figure.
    """
    fig, ax = new_ax(ax)
    sx, xlabel = axis_label(x)
    groups = [(None, curves)] if by is None else list(curves.groupby(by, sort=True))
    colors = [f"C{i % 10}" for i in range(len(groups))]
    for (key, df), color in zip(groups, colors):
        label = "frontier" if key is None else str(key)
        if show_curves:
            for _, run in df.groupby(group, sort=False):
                run = run.sort_values(x)
                ax.plot(run[x] * sx, run[y], color=color, alpha=0.2, lw=0.8)
        front = scaling.pareto_frontier(df, x=x, y=y, drop_first=drop_first, ema=ema, group=group)
        front = front[front[x] > 0]
        ax.plot(front[x] * sx, front[y], "o", color=color, ms=3.5, label=label)
        fit = fits.get(key, fits.get(str(key))) if isinstance(fits, Mapping) else fits
        if fit is None:
            continue
        boot = fit if isinstance(fit, scaling.Bootstrap) else None
        law = boot.estimate if boot is not None else fit
        xs = np.geomspace(front[x].min(), front[x].max(), 100)
        ax.plot(xs * sx, law.predict(xs), "-", color=color,
                label=f"fit: γ = {law.gamma:.3f}" + ("" if key is None else f" ({key})"))
        if boot is not None:
            lo, hi = _band(boot, xs, boot.level)
            ax.fill_between(xs * sx, lo, hi, color=color, alpha=0.25, lw=0, label=f"{boot.level:.0%} CI")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(axis_label(y)[1])
    ax.legend(fontsize="small")
    return fig


def plot_frontiers(frontiers: Mapping[Any, pd.DataFrame], fits: Mapping[Any, Any] | None = None, x: str = "flops",
                   y: str = "val_loss", xlabel: str | None = None, ylabel: str | None = None,
                   labels: Mapping[Any, str] | None = None, ax: Any = None) -> Figure:
    """Several precomputed Pareto frontiers on one log–log Axes (Fig. 1, Fig. 4 left), one colour per key.

    ``frontiers[k]`` holds frontier rows (:func:`~nnip.scaling.pareto_frontier`) with columns ``x`` and ``y``, drawn
    as points in the units of the column (no rescaling); ``fits[k]`` an eq. (4) :class:`~nnip.scaling.PowerLaw`
    (or a Bootstrap of one, or ``None``) fitted on the same column, drawn over the frontier's range.
    """
    fig, ax = new_ax(ax)
    fits = fits or {}
    labels = labels or {}
    for i, (key, front) in enumerate(frontiers.items()):
        color = f"C{i % 10}"
        name = labels.get(key, str(key))
        front = front[(front[x] > 0) & (front[y] > 0)] if len(front) else front
        if not len(front):
            continue
        law = law_of(fits.get(key))
        ax.plot(front[x], front[y], "o", ms=3.5, color=color, alpha=0.8,
                label=name if law is None else None)
        if law is not None:
            xs = np.geomspace(front[x].min(), front[x].max(), 100)
            ax.plot(xs, law.predict(xs), "-", color=color, lw=1.5,
                    label=f"{name}: F = {law.F:.3g}, γ = {law.gamma:.3f}")
    log_log(ax, xlabel or axis_label(x)[1], ylabel or axis_label(y)[1])
    ax.legend(fontsize="x-small")
    return fig


def plot_frontier_by_size(curves: pd.DataFrame, frontier: pd.DataFrame, fit: Any = None, x: str = "flops",
                          y: str = "val_loss", size: str = "params", group: str = "run_id", xlabel: str | None = None,
                          ylabel: str | None = None, title: str | None = None, ax: Any = None) -> Figure:
    """One panel of Fig. 3: every run's learning curve coloured by its model size (viridis, log scale; colour bar
    "parameters N"), the Pareto frontier (black points) and its eq. (4) fit (red), log–log. Columns are drawn as
    given (convert units before calling)."""
    fig, ax = new_ax(ax)
    cmap = colormaps["viridis"]
    sizes = pd.to_numeric(curves[size], errors="coerce") if len(curves) else pd.Series(dtype=float)
    lo, hi = (float(sizes.min()), float(sizes.max())) if len(sizes) else (1.0, 10.0)
    if not hi > lo:
        lo, hi = lo / 1.5, hi * 1.5
    norm = LogNorm(vmin=lo, vmax=hi)
    for _, run in curves.groupby(group, sort=False):
        run = run.sort_values(x)
        ax.plot(run[x], run[y], "-", lw=1.0, alpha=0.8, color=cmap(0.9 * norm(float(run[size].iloc[0]))))
    if len(frontier):
        ax.plot(frontier[x], frontier[y], "o", ms=3.0, color="k", label="frontier", zorder=3)
        law = law_of(fit)
        if law is not None:
            xs = np.geomspace(frontier[x].min(), frontier[x].max(), 100)
            ax.plot(xs, law.predict(xs), "-", color="C3", lw=1.5, zorder=4,
                    label=f"F = {law.F:.3g}, γ = {law.gamma:.3f}")
    log_log(ax, xlabel or axis_label(x)[1], ylabel or axis_label(y)[1])
    if title:
        ax.set_title(title, fontsize="medium")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="parameters N", pad=0.01)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return fig


def plot_kappa(fits: scaling.KappaFit | Mapping[str, scaling.KappaFit]) -> Figure:
    """Fig. 2: measured training FLOPs C vs N·D with the line ``C = passes·κ·N·D`` (eq. 3), log–log."""
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, kf) in enumerate(_as_dict(fits, "measured").items()):
        color = f"C{i % 10}"
        ax.plot(kf.ND, kf.C, "o", ms=3.5, color=color)
        nd = np.geomspace(kf.ND.min(), kf.ND.max(), 50)
        ax.plot(nd, kf.slope * nd, "-", color=color, label=f"{name}: κ = {kf.kappa:.3g} (R² = {kf.r2:.3f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N·D [parameters × training atoms]")
    ax.set_ylabel("training compute C [FLOPs]")
    ax.legend(fontsize="small")
    return fig
