"""Ablation panels: :func:`plot_exponent_trend` (Fig. 4 right), :func:`plot_heatmap` (Fig. 10 top),
:func:`plot_loss_vs` (Fig. 10 bottom, Fig. 11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from nnip.figures._style import axis_label, new_ax, tidy_log_axes


def plot_exponent_trend(xs: Any, estimates: Any, cis: Any = None, reference: Mapping[Any, float] | None = None,
                        xlabel: str = "", ylabel: str = "exponent", ax: Any = None) -> Figure:
    """An exponent against a discrete setting (Fig. 4 right: γ_c vs ℓ_max): our estimates with 95% error bars
    (``cis``: ``(lo, hi)`` per x, NaN for none) and the paper's values where published (``reference``: x → value
    or ``(estimate, lo, hi)``)."""
    fig, ax = new_ax(ax)
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


def plot_heatmap(values: pd.DataFrame, xlabel: str, ylabel: str,
                 cbar_label: str = "validation loss (eq. 1, normalised)", title: str | None = None,
                 ax: Any = None) -> Figure:
    """A grid of losses (Fig. 10 top row): ``values`` indexed by the y setting (rows) with the x settings as columns;
    each cell annotated, NaN cells (missing runs) left blank, the lowest cell outlined in red."""
    fig, ax = new_ax(ax, (4.2, 3.4))
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
    fig, ax = new_ax(ax)
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    for i, (key, df) in enumerate(groups):
        df = df.sort_values(x)
        ax.plot(df[x], df[y], "o-", color=f"C{i % 10}", ms=4, label=None if key is None else str(key))
        if annotate is not None:
            for xv, yv, a in zip(df[x], df[y], df[annotate]):
                ax.annotate(str(a), (xv, yv), textcoords="offset points", xytext=(3, 4), fontsize="x-small")
            ax.margins(x=0.15, y=0.1)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(axis_label(y)[1])
    tidy_log_axes(ax)
    if title:
        ax.set_title(title, fontsize="medium")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return fig
