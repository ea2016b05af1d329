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

__all__ = ["AXIS", "plot_frontier", "plot_sum_power_law", "plot_compute_optimal", "plot_kappa", "table_frame",
           "enable_notebook_display", "panel_row", "tidy_log_axes", "tidy_narrow_log_axes", "size_colors",
           "plot_frontiers", "plot_frontier_by_size", "plot_exponent_trend", "plot_sum_power_law_panels",
           "plot_compute_optimal_comparison", "plot_estimates"]

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


# ----------------------------------------------------------------------------------------------------------
# Composable panels (Fig. 1, 3–6 and the Table 1/7 comparison plots of nnip.paper.main)
# ----------------------------------------------------------------------------------------------------------

from matplotlib import ticker  # noqa: E402  (this block was appended to the module)


def _new_ax(ax: Any, figsize: tuple[float, float] = (5.5, 4.0)) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _law(fit: Any) -> Any:
    return fit.estimate if isinstance(fit, scaling.Bootstrap) else fit


class _ShortLogFormatter(ticker.LogFormatter):
    """Minor-tick labels "2e-08", "2.6" at 2 and 5 × 10^k only; every minor tick below 0.3 decades, none above 1.5."""

    def set_locs(self, locs=None):
        super().set_locs(locs)
        vmin, vmax = self.axis.get_view_interval()
        numdec = abs(np.log10(vmax) - np.log10(vmin)) if vmin > 0 and vmax > 0 else 0.0
        self._sublabels = {1} if numdec > 1.5 else ({1, 2, 5} if numdec > 0.3 else None)


def panel_row(n: int, panel_width: float = 3.4, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` (at least one) side-by-side panels: ``(fig, axes)`` with ``axes`` a 1-d array."""
    fig = Figure(figsize=(panel_width * max(n, 1), height), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(1, max(n, 1), squeeze=False)[0])


def tidy_log_axes(ax: Any) -> None:
    """Short, sparse minor-tick labels on the log axes of ``ax``: narrow log–log panels (a loss spanning 2.5–2.9,
    compute over one decade) otherwise get overlapping "2.6×10⁰" labels."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_formatter(_ShortLogFormatter(labelOnlyBase=False))


def plot_frontiers(frontiers: Mapping[Any, pd.DataFrame], fits: Mapping[Any, Any] | None = None, x: str = "flops",
                   y: str = "val_loss", xlabel: str | None = None, ylabel: str | None = None,
                   labels: Mapping[Any, str] | None = None, ax: Any = None) -> Figure:
    """Several precomputed Pareto frontiers on one log–log Axes (Fig. 1, Fig. 4 left), one colour per key.

    ``frontiers[k]`` holds frontier rows (:func:`~nnip.scaling.pareto_frontier`) with columns ``x`` and ``y``, drawn
    as points in the units of the column (no rescaling); ``fits[k]`` an eq. (4) :class:`~nnip.scaling.PowerLaw`
    (or a Bootstrap of one, or ``None``) fitted on the same column, drawn over the frontier's range.
    """
    fig, ax = _new_ax(ax)
    fits = fits or {}
    labels = labels or {}
    for i, (key, front) in enumerate(frontiers.items()):
        color = f"C{i % 10}"
        name = labels.get(key, str(key))
        front = front[(front[x] > 0) & (front[y] > 0)] if len(front) else front
        if not len(front):
            continue
        law = _law(fits.get(key))
        ax.plot(front[x], front[y], "o", ms=3.5, color=color, alpha=0.8,
                label=name if law is None else None)
        if law is not None:
            xs = np.geomspace(front[x].min(), front[x].max(), 100)
            ax.plot(xs, law.predict(xs), "-", color=color, lw=1.5,
                    label=f"{name}: F = {law.F:.3g}, γ = {law.gamma:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel or _axis(x)[1])
    ax.set_ylabel(ylabel or _axis(y)[1])
    tidy_log_axes(ax)
    ax.legend(fontsize="x-small")
    return fig


def plot_frontier_by_size(curves: pd.DataFrame, frontier: pd.DataFrame, fit: Any = None, x: str = "flops",
                          y: str = "val_loss", size: str = "params", group: str = "run_id", xlabel: str | None = None,
                          ylabel: str | None = None, title: str | None = None, ax: Any = None) -> Figure:
    """One panel of Fig. 3: every run's learning curve coloured by its model size (viridis, log scale; colour bar
    "parameters N"), the Pareto frontier (black points) and its eq. (4) fit (red), log–log. Columns are drawn as
    given (convert units before calling)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm

    fig, ax = _new_ax(ax)
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
        law = _law(fit)
        if law is not None:
            xs = np.geomspace(frontier[x].min(), frontier[x].max(), 100)
            ax.plot(xs, law.predict(xs), "-", color="C3", lw=1.5, zorder=4,
                    label=f"F = {law.F:.3g}, γ = {law.gamma:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel or _axis(x)[1])
    ax.set_ylabel(ylabel or _axis(y)[1])
    tidy_log_axes(ax)
    if title:
        ax.set_title(title, fontsize="medium")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="parameters N", pad=0.01)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return fig


def plot_exponent_trend(xs: Any, estimates: Any, cis: Any = None, reference: Mapping[Any, float] | None = None,
                        xlabel: str = "", ylabel: str = "exponent", ax: Any = None) -> Figure:
    """An exponent against a discrete setting (Fig. 4 right: γ_c vs ℓ_max): our estimates with 95% error bars
    (``cis``: ``(lo, hi)`` per x, NaN for none) and the paper's values where published (``reference``: x → value
    or ``(estimate, lo, hi)``)."""
    fig, ax = _new_ax(ax)
    xs = np.asarray(list(xs), dtype=float)
    est = np.asarray(list(estimates), dtype=float)
    if cis is not None:
        ci = np.asarray(list(cis), dtype=float).reshape(-1, 2)
        err = np.stack([est - ci[:, 0], ci[:, 1] - est])
        err = np.where(np.isfinite(err), np.abs(err), 0.0)
    else:
        err = None
    ok = np.isfinite(est)
    ax.errorbar(xs[ok], est[ok], yerr=None if err is None else err[:, ok], fmt="o-", color="C0", capsize=3,
                label="ours (95% CI)")
    ref = {k: (v if isinstance(v, tuple) else (v, np.nan, np.nan)) for k, v in (reference or {}).items()
           if v is not None}
    if ref:
        rx = np.array(list(ref), dtype=float)
        rv = np.array(list(ref.values()), dtype=float).reshape(-1, 3)
        rerr = np.where(np.isfinite(rv[:, 1:]), np.abs(rv[:, 1:] - rv[:, :1]), 0.0).T
        ax.errorbar(rx, rv[:, 0], yerr=rerr, fmt="s", color="C3", ms=7, mfc="none", capsize=3, label="paper")
    ax.set_xticks(xs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return fig


def plot_sum_power_law_panels(fit: Any, data: pd.DataFrame | None, ax_d: Any, ax_n: Any, N: str = "params",
                              D: str = "atoms_seen", L: str = "val_loss", title: str | None = None,
                              note: str | None = None) -> Figure:
    """One architecture's column of Fig. 5 in two given Axes (as :func:`plot_sum_power_law`): ``ax_d`` L vs D, one
    colour per model size, fitted ``L(N_i, D)`` and ``B D^{-β}``; ``ax_n`` L vs N at each model's largest D, fitted
    ``L(N, D_max)`` and ``A N^{-α}``. ``fit`` may be ``None`` (points only; ``note`` says why), log–log."""
    law = _law(fit)
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
            d_max = float(data[D].max())
            ax_n.plot(n_grid, law.predict(n_grid, np.full_like(n_grid, d_max)), "-", color="C3", lw=1,
                      label=f"L(N, D = {d_max:.3g})")
            ax_n.plot(n_grid, law.A * n_grid ** (-law.alpha), "k--", lw=1,
                      label=rf"$A\,N^{{-\alpha}}$, α = {law.alpha:.3f}")
    for ax, xl in ((ax_d, "training atoms D"), (ax_n, "parameters N")):
        _style_loss_axes(ax, xl, legend_size="xx-small")
        if note:
            ax.text(0.03, 0.03, note, transform=ax.transAxes, fontsize="x-small", color="C3")
    if title:
        ax_d.set_title(title, fontsize="medium")
    return ax_d.figure


def plot_compute_optimal_comparison(ours: Mapping[str, scaling.ComputeOptimal],
                                    reference: Mapping[str, scaling.ComputeOptimal] | None = None,
                                    C_pflops: tuple[float, float] = (1e-2, 1e4),
                                    measured: tuple[float, float] | None = None,
                                    names: tuple[str, str] = ("ours", "paper")) -> Figure:
    """Fig. 6 with a reference: N*(C) (left) and D*(C) (right), eq. (6), log–log; ``ours`` solid, ``reference``
    dashed in the same colour per key; ``measured`` shades the compute range our runs cover [PFLOPs]."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_n, ax_d = fig.subplots(1, 2)
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
        ax.legend(fontsize="x-small")
    return fig


def plot_estimates(frame: pd.DataFrame, title: str | None = None, xlabel: str = "architecture") -> Figure:
    """Estimates with 95% intervals side by side, one panel per ``quantity`` (Table 1, Table 7 at a glance).

    ``frame``: long format with columns ``quantity``, ``group`` (x categories, e.g. architectures), ``source``
    (e.g. "paper", "ours"; one marker and colour each), ``estimate``, ``lo``, ``hi`` (NaN: no interval; a NaN
    estimate is not drawn).
    """
    quantities = list(dict.fromkeys(frame["quantity"]))
    k = max(len(quantities), 1)
    cols = min(k, 4)
    rows = int(np.ceil(k / cols))
    fig = Figure(figsize=(3.2 * cols + 0.4, 3.0 * rows + 0.3), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel()
    groups = list(dict.fromkeys(frame["group"]))
    sources = list(dict.fromkeys(frame["source"]))
    width = 0.6 / max(len(sources), 1)
    for ax, q in zip(axes, quantities):
        sub = frame[frame["quantity"] == q]
        for s_i, src in enumerate(sources):
            pts = sub[(sub["source"] == src) & np.isfinite(sub["estimate"].astype(float))]
            if not len(pts):
                continue
            xpos = np.array([groups.index(g) for g in pts["group"]]) + (s_i - (len(sources) - 1) / 2) * width
            est = pts["estimate"].to_numpy(float)
            lo, hi = pts["lo"].to_numpy(float), pts["hi"].to_numpy(float)
            err = np.stack([np.where(np.isfinite(lo), est - lo, 0.0), np.where(np.isfinite(hi), hi - est, 0.0)])
            ax.errorbar(xpos, est, yerr=np.abs(err), fmt="os"[s_i % 2], color=f"C{s_i % 10}", capsize=3, label=src)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=30, fontsize="small")
        ax.set_title(q, fontsize="small")
        ax.set_ylabel("value (95% CI)")
        ax.set_xlabel(xlabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    for ax in axes[len(quantities):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def tidy_narrow_log_axes(fig: Figure) -> Figure:
    """Readable ticks on log axes spanning less than 1.5 decades (tiny runs; narrow loss ranges): plain numbers at a
    precision set by the tick spacing (``ScalarFormatter``) instead of ``a×10^b`` on major and minor ticks, and minor
    x ticks only at 2 and 5 so that they do not collide."""
    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            lo, hi = sorted(lim)
            if scale != "log" or lo <= 0 or hi / lo >= 10**1.5 or isinstance(axis.get_major_locator(), ticker.FixedLocator):
                continue
            if axis is ax.xaxis:
                axis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
            for set_formatter in (axis.set_major_formatter, axis.set_minor_formatter):
                f = ticker.ScalarFormatter(useOffset=False)
                f.set_powerlimits((-3, 4))
                set_formatter(f)
    return fig


def size_colors(params, cmap: str = "viridis", lo: float = 0.0, hi: float = 0.9) -> dict:
    """Model size N → colour (small: dark, large: bright), the paper's "line colour encodes model size"."""
    sizes = sorted(set(int(p) for p in params))
    cols = colormaps[cmap](np.linspace(lo, hi, max(len(sizes), 1)))
    return {n: cols[i] for i, n in enumerate(sizes)}


def enable_notebook_display() -> bool:
    """Let IPython/Jupyter render a :class:`~matplotlib.figure.Figure` that is a cell's value, as PNG, and a
    :class:`pandas.DataFrame` as an HTML table without its index column.

    The figures here are built without pyplot, so the inline backend — which registers this formatter only when
    pyplot is imported — never sees them, and a notebook cell ``fig`` shows ``<Figure size …>`` text instead of the
    image. Registering the formatter for the ``Figure`` type fixes that without pyplot (so still no double display).
    Idempotent; returns False (and does nothing) outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "display_formatter"):
        return False
    import functools

    from IPython.core.pylabtools import print_figure

    ip.display_formatter.formatters["image/png"].for_type(Figure, functools.partial(print_figure, fmt="png",
                                                                                    base64=True))
    # tables are read as tables: no DataFrame index column (a reader would take 0, 1, 2 … for data)
    ip.display_formatter.formatters["text/html"].for_type(pd.DataFrame, _table_html)
    return True


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="", border=0, classes="dataframe nnip-table")


# ----------------------------------------------------------------------------------------------------------
# Ablation panels (Fig. 7–12: nnip.paper.symmetry, multi_epoch, hyperparameters, vector_channels, diverse)
# ----------------------------------------------------------------------------------------------------------

def _ablation_ax(ax: Any, figsize: tuple[float, float] = (5.5, 4.0)) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_exponent_shift(fits: Mapping[str, Any], ax_d: Any = None, ax_n: Any = None) -> Figure:
    """Several eq. (5) fits compared, one colour per key (Fig. 7 middle and right).

    ``ax_d``: L vs D of each fit's largest model (points), its fitted ``L(N_max, D)`` (solid) and the data-limited
    term ``B D^{-β}`` (dashed; legend β). ``ax_n``: L vs N at each model's largest D (points) and the
    parameter-limited term ``A N^{-α}`` (dashed; legend α). ``fits[k]``: a :class:`~nnip.scaling.SumPowerLaw`
    (or a Bootstrap of one), or a DataFrame with ``params, atoms_seen, val_loss`` when no fit exists (points only).
    Both panels log–log.
    """
    if ax_d is None or ax_n is None:
        fig = Figure(figsize=(10, 4.0), layout="constrained")
        ax_d, ax_n = fig.subplots(1, 2)
    for i, (key, fit) in enumerate(fits.items()):
        color = f"C{i % 10}"
        law = fit.estimate if isinstance(fit, scaling.Bootstrap) else fit
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
        _style_loss_axes(ax, xl, legend_size="x-small")
    return ax_d.figure


def plot_heatmap(values: pd.DataFrame, xlabel: str, ylabel: str,
                 cbar_label: str = "validation loss (eq. 1, normalised)", title: str | None = None,
                 ax: Any = None) -> Figure:
    """A grid of losses (Fig. 10 top row): ``values`` indexed by the y setting (rows) with the x settings as columns;
    each cell annotated, NaN cells (missing runs) left blank, the lowest cell outlined in red."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    fig, ax = _ablation_ax(ax, (4.2, 3.4))
    arr = values.to_numpy(dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
        im = ax.imshow(np.ma.masked_invalid(arr), cmap="viridis_r", norm=norm, origin="lower", aspect="auto")
        cbar = fig.colorbar(im, ax=ax, label=cbar_label, pad=0.01)
        cbar.ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.4g"))
        best = np.unravel_index(np.nanargmin(np.where(np.isfinite(arr), arr, np.inf)), arr.shape)
        ax.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, ec="C3", lw=2))
        for (r, c), v in np.ndenumerate(arr):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize="x-small",
                        color="k" if norm(v) < 0.5 else "w")
    ax.set_xticks(range(values.shape[1]), [f"{v:g}" for v in values.columns])
    ax.set_yticks(range(values.shape[0]), [f"{v:g}" for v in values.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def plot_loss_vs(data: pd.DataFrame, x: str, xlabel: str, y: str = "val_loss", by: str | None = None,
                 annotate: str | None = None, logx: bool = True, logy: bool = True, title: str | None = None,
                 ax: Any = None) -> Figure:
    """Final loss against one setting (Fig. 10 bottom row: depth; Fig. 11: vector channels E), one line per value of
    ``by``; ``annotate`` names a column written next to each point (e.g. the width chosen to keep N fixed)."""
    fig, ax = _ablation_ax(ax)
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    for i, (key, df) in enumerate(groups):
        df = df.sort_values(x)
        ax.plot(df[x], df[y], "o-", color=f"C{i % 10}", ms=4, label=None if key is None else str(key))
        if annotate is not None:
            for xv, yv, a in zip(df[x], df[y], df[annotate]):
                ax.annotate(str(a), (xv, yv), textcoords="offset points", xytext=(3, 4), fontsize="xx-small")
            ax.margins(x=0.15, y=0.1)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_axis(y)[1])
    tidy_log_axes(ax)
    if title:
        ax.set_title(title, fontsize="medium")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return fig


def _style_loss_axes(ax: Any, xlabel: str, legend_size: str = "x-small") -> None:
    """Log-log axes of a loss panel (Fig. 5, 7): labels with units, tidy ticks, a legend if anything is labelled."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation loss (eq. 1, normalised)")
    tidy_log_axes(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=legend_size)
