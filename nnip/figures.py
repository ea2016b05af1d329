"""Figures and tables of the paper, one function per figure, each returning a :class:`matplotlib.figure.Figure`
(or a DataFrame for tables). Figures are built without pyplot (``Figure()``), so they are backend-agnostic
(``Agg``-safe), never shown, and not double-displayed in notebooks; the fits come from :mod:`nnip.scaling`.

- :func:`plot_frontier` — loss vs compute (or wall-clock) Pareto frontier with power-law fit and CI band (Fig. 3).
- :func:`plot_sum_power_law` — L vs D and L vs N with the eq. (5) fit (Fig. 5).
- :func:`plot_compute_optimal` — N*(C) and D*(C) per architecture (Fig. 6).
- :func:`plot_kappa` — C vs N·D and the fitted κ (Fig. 2).
- :func:`table_frame` — a results table with formatted numbers and "est [lo–hi]" intervals (Tables 1, 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from nnip import scaling

__all__ = ["AXIS", "plot_frontier", "plot_sum_power_law", "plot_compute_optimal", "plot_kappa", "table_frame"]

#: Curve column → (display scale, axis label). Values are multiplied by the scale before plotting.
AXIS: dict[str, tuple[float, str]] = {
    "flops": (1e-15, "compute C [PFLOPs]"),
    "wall_s": (1 / 3600, "wall-clock [GPU-h]"),
    "atoms_seen": (1.0, "training atoms D"),
    "params": (1.0, "parameters N"),
    "step": (1.0, "optimizer steps"),
    "val_loss": (1.0, "validation loss (eq. 1, normalised)"),
}


def _axis(col: str) -> tuple[float, str]:
    return AXIS.get(col, (1.0, col))


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
    if ax is None:
        fig = Figure(figsize=(5.5, 4.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    sx, xlabel = _axis(x)
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
    ax.set_ylabel(_axis(y)[1])
    ax.legend(fontsize="small")
    return fig


def plot_sum_power_law(fit: scaling.SumPowerLaw | scaling.Bootstrap, data: pd.DataFrame | None = None,
                       N: str = "params", D: str = "atoms_seen", L: str = "val_loss") -> Figure:
    """Fig. 5: the eq. (5) fit. Left: L vs D, one colour per model size N, fitted ``L(N_i, D)`` and the
    data-limited term ``B D^{-β}`` (N → ∞). Right: L vs N at each model's largest D, fitted ``L(N, D_max)`` and
    the parameter-limited term ``A N^{-α}`` (D → ∞). ``data`` defaults to the arrays stored on the fit."""
    law = fit.estimate if isinstance(fit, scaling.Bootstrap) else fit
    if data is None:
        data = pd.DataFrame({N: law.N, D: law.D, L: law.L})
    fig = Figure(figsize=(10, 4.0), layout="constrained")
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
    d_max = float(data[D].max())
    ax_n.plot(n_grid, law.predict(n_grid, np.full_like(n_grid, d_max)), "-", color="C3", lw=1,
              label=f"L(N, D = {d_max:.3g})")
    ax_n.plot(n_grid, law.A * n_grid ** (-law.alpha), "k--", lw=1, label=rf"$A\,N^{{-\alpha}}$, $\alpha$ = {law.alpha:.3f}")
    for ax, xl in ((ax_d, "training atoms D"), (ax_n, "parameters N")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("validation loss (eq. 1, normalised)")
        ax.legend(fontsize="x-small")
    return fig


def plot_compute_optimal(co_by_arch: Mapping[str, scaling.ComputeOptimal],
                         C_pflops: tuple[float, float] = (1e-2, 1e4)) -> Figure:
    """Fig. 6: compute-optimal model size N*(C) (left) and training atoms D*(C) (right), eq. (6)–(7), log–log."""
    fig = Figure(figsize=(10, 4.0), layout="constrained")
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


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}g}" if (abs(v) >= 10 ** (digits + 1) or 0 < abs(v) < 1e-3) else f"{v:.{digits}f}"
    return str(v)


def table_frame(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A display copy of a results table: numbers formatted to ``digits`` decimals (scientific when very large or
    small), and ``estimate``/``lo``/``hi`` columns (as in :class:`~nnip.scaling.Bootstrap` ``.table``) merged
    into one "estimate [lo–hi]" column, the paper's Table 1/7 style. Returns strings; the input is not changed."""
    out = df.copy()
    if {"estimate", "lo", "hi"} <= set(out.columns):
        merged = [f"{_fmt(e, digits)} [{_fmt(lo, digits)}–{_fmt(hi, digits)}]"
                  for e, lo, hi in zip(out["estimate"], out["lo"], out["hi"])]
        out = out.drop(columns=["estimate", "lo", "hi"])
        out.insert(0, "estimate [95% CI]", merged)
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]):
            out[col] = [_fmt(float(v), digits) for v in out[col]]
    return out
