"""Tables 1 and 7: :func:`table_frame` (formatted numbers, "est [lo–hi]" intervals) and :func:`plot_estimates`
(the same estimates as error bars, one panel per quantity)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


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


def plot_estimates(frame: pd.DataFrame, title: str | None = None, xlabel: str = "architecture") -> Figure:
    """Estimates with 95% intervals side by side, one panel per ``quantity`` (Table 1, Table 7 at a glance).

    ``frame``: long format with columns ``quantity``, ``group`` (x categories, e.g. architectures), ``source``
    (e.g. "paper", "ours"; one marker and colour each), ``estimate``, ``lo``, ``hi`` (NaN: no interval; a NaN
    estimate is not drawn).
    """
    quantities = list(dict.fromkeys(frame["quantity"]))
    k = max(len(quantities), 1)
    cols = min(k, 2)  # two panels side by side: the figure stays within the book page's width
    rows = int(np.ceil(k / cols))
    fig = Figure(figsize=(3.6 * cols + 0.4, 3.0 * rows + 0.4), layout="constrained")
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
