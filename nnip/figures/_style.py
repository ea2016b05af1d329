"""Axes and style shared by the figures: units of the curve columns, new Axes, log-tick formatting, size colours.

Public here: :data:`AXIS`, :func:`panel_row`, :func:`legend_below`, :func:`tidy_log_axes`,
:func:`tidy_narrow_log_axes`, :func:`size_colors` (re-exported by :mod:`nnip.figures`); :func:`axis_label`,
:func:`new_ax`, :func:`law_of`, :func:`log_log`, :func:`style_loss_axes` are for the figure modules of this package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps, ticker
from matplotlib.figure import Figure

from nnip import scaling

#: Curve column → (display scale, axis label). Values are multiplied by the scale before plotting.
AXIS: dict[str, tuple[float, str]] = {
    "flops": (1e-15, "compute C [PFLOPs]"),
    "wall_s": (1 / 3600, "wall-clock [GPU-h]"),
    "atoms_seen": (1.0, "training atoms D"),
    "params": (1.0, "parameters N"),
    "step": (1.0, "optimizer steps"),
    "val_loss": (1.0, "validation loss (eq. 1, normalised)"),
}


def axis_label(col: str) -> tuple[float, str]:
    """(display scale, axis label) of a curve column: :data:`AXIS`, else ``(1.0, col)``."""
    return AXIS.get(col, (1.0, col))


def new_ax(ax: Any, figsize: tuple[float, float] = (5.5, 4.0)) -> tuple[Figure, Any]:
    """``(figure, ax)`` of a given Axes, or of a new one-panel figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def law_of(fit: Any) -> Any:
    """The fitted law of a :class:`~nnip.scaling.Bootstrap` (its estimate), or ``fit`` itself."""
    return fit.estimate if isinstance(fit, scaling.Bootstrap) else fit


class _ShortLogFormatter(ticker.LogFormatter):
    """Minor-tick labels "2e-08", "2.6" at 2 and 5 × 10^k only; every minor tick below 0.3 decades, none above 1.5."""

    def set_locs(self, locs=None):
        super().set_locs(locs)
        vmin, vmax = self.axis.get_view_interval()
        numdec = abs(np.log10(vmax) - np.log10(vmin)) if vmin > 0 and vmax > 0 else 0.0
        self._sublabels = {1} if numdec > 1.5 else ({1, 2, 5} if numdec > 0.3 else None)


def panel_row(n: int, panel_width: float = 3.4, height: float = 3.4, max_cols: int = 2) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` (at least one) panels, at most ``max_cols`` side by side: ``(fig, axes)`` with ``axes`` a 1-d
    array of the ``n`` panels in reading order. More panels wrap into rows; a last row with fewer panels is centred
    (3 panels: two above, one below in the middle), so no empty Axes is left. ``max_cols=2`` keeps a figure of
    3.4-inch panels under the book page's width (:data:`~nnip.figures.display.PAGE_PX`)."""
    n = max(n, 1)
    cols = max(min(n, max_cols), 1)
    rows = -(-n // cols)
    fig = Figure(figsize=(panel_width * cols, height * rows), layout="constrained")
    grid = fig.add_gridspec(rows, 2 * cols)  # half-columns: a short last row is centred
    axes = []
    for i in range(n):
        r, c = divmod(i, cols)
        start = 2 * c + (cols - min(cols, n - r * cols))
        axes.append(fig.add_subplot(grid[r, start:start + 2]))
    return fig, np.array(axes, dtype=object)


def legend_below(fig: Any, axes: Any = None, ncols: int = 1, fontsize: str = "x-small") -> None:
    """One legend of the labelled artists of ``axes`` (default: every Axes of ``fig``) under them, outside the data,
    in place of the Axes' own legends: for panels too narrow for their legend at the book page's width.

    ``fig`` is a constrained-layout Figure or SubFigure (``loc="outside lower center"`` reserves the room below its
    Axes); a SubFigure per panel puts each panel's legend under that panel. Entries fill ``ncols`` columns top to
    bottom. Nothing is drawn if nothing is labelled."""
    handles, labels = [], []
    for ax in fig.axes if axes is None else axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=fontsize)


def tidy_log_axes(ax: Any) -> None:
    """Short, sparse minor-tick labels on the log axes of ``ax``: narrow log–log panels (a loss spanning 2.5–2.9,
    compute over one decade) otherwise get overlapping "2.6×10⁰" labels."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_formatter(_ShortLogFormatter(labelOnlyBase=False))


def tidy_narrow_log_axes(fig: Figure) -> Figure:
    """Readable ticks on log axes spanning less than 1.5 decades (tiny runs; narrow loss ranges): plain numbers at a
    precision set by the tick spacing (``ScalarFormatter``) instead of ``a×10^b`` on major and minor ticks, and minor
    ticks only at 2 and 5 so that they do not collide."""
    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                 (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            lo, hi = sorted(lim)
            if (scale != "log" or lo <= 0 or hi / lo >= 10**1.5
                    or isinstance(axis.get_major_locator(), ticker.FixedLocator)):
                continue
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


def log_log(ax: Any, xlabel: str, ylabel: str) -> None:
    """Log–log axes with these labels and :func:`tidy_log_axes` ticks."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    tidy_log_axes(ax)


def style_loss_axes(ax: Any, xlabel: str, legend_size: str = "x-small") -> None:
    """Log-log axes of a loss panel (Fig. 5, 7): labels with units, tidy ticks, a legend if anything is labelled."""
    log_log(ax, xlabel, "validation loss (eq. 1, normalised)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=legend_size)
