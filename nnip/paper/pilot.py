"""The pilot that had to pass before the ``cpu`` preset's budget was spent (issue 10 §2).

Question: can the preset show power laws at all? Criteria, fixed before any run: for the MPNN and eSEN, on the
first ``fraction`` of every main-study run (a streaming run truncated at D = r·D_max *is* the run on r of the data —
the stream is a prefix, §4.2 — so the pilot costs nothing beyond the main study's first halves), the loss–compute
frontier (eq. 4, L∞ = 0, the main study's preparation: first 5 % of steps dropped) must

1. span at least :data:`MIN_DECADES` decades of measured C,
2. have a 95% bootstrap interval on γ_c (whole runs resampled) narrower than ±:data:`MAX_CI` of γ_c, and
3. be straight: fitted on the lower 75 % of its log-C range, it predicts the upper 25 % within :data:`MAX_ARE`
   (mean absolute relative error of the loss; the frontier backtest of Table 1).

Had it failed, the preset (data, ladders, learning rates) would have changed — never the analysis. The page
``pilot`` reports each criterion computed from the store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper import fits
from nnip.paper._common import ARCH_LABELS, comparison_table, preset_name
from nnip.presets import Preset, resolve

__all__ = ["ARCHS", "FRACTION", "MIN_DECADES", "MAX_CI", "MAX_ARE", "truncate", "criteria", "fig_pilot"]

ARCHS = ("mpnn", "esen")
FRACTION = 0.5
MIN_DECADES = 1.5
MAX_CI = 0.30
MAX_ARE = 0.05


def truncate(curves: pd.DataFrame, fraction: float = FRACTION) -> pd.DataFrame:
    """:func:`nnip.paper.fits.truncate` at the pilot's fraction."""
    return fits.truncate(curves, fraction)


def criteria(curves: pd.DataFrame, preset: str | Preset, archs=ARCHS, fraction: float = FRACTION
             ) -> tuple[dict[str, pd.DataFrame], dict[str, scaling.Report], pd.DataFrame]:
    """``(frontiers, reports, table)``: per arch the frontier and eq. (4) fit on the truncated runs, and one row per
    arch with the decades of C spanned, γ_c [95% CI], the interval's relative half-width, the backtest ARE and the
    verdict (pass only if all three criteria hold)."""
    preset = resolve(preset)
    short = truncate(curves, fraction)
    fronts, reps, rows = {}, {}, []
    for arch in archs:
        front, rep = fits.frontier_report(fits.prepare(short, preset, arch), fits.X_FLOPS, preset)
        fronts[arch], reps[arch] = front, rep
        x = front[fits.X_FLOPS].to_numpy(float) if len(front) else np.array([])
        decades = float(np.log10(x.max() / x.min())) if len(x) > 1 else 0.0
        gamma, ci = rep.value("gamma"), rep.ci("gamma")
        half = (ci[1] - ci[0]) / 2 / abs(gamma) if ci is not None and gamma else np.nan
        are = rep.backtest.are if rep.backtest is not None else np.nan
        checks = {"decades": decades >= MIN_DECADES, "ci": bool(half <= MAX_CI), "straight": bool(are <= MAX_ARE)}
        failed = [k for k, ok in checks.items() if not ok]
        rows.append({
            "architecture": ARCH_LABELS[arch], "runs": int(short.loc[short["arch"] == arch, "run_id"].nunique()),
            "decades of C": round(decades, 2), "γ_c": gamma, "γ_c 95% CI": ci,
            "CI half-width / γ_c": half, "backtest ARE": are,
            "verdict": "pass" if not failed else "FAIL (" + ", ".join(failed) + ")",
        })
    table = pd.DataFrame(rows)
    return fronts, reps, table


def fig_pilot(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Figure, pd.DataFrame]:
    """The pilot frontiers (log–log, eq. 4 fits) and the criteria table."""
    preset = resolve(preset)
    fronts, reps, table = criteria(curves, preset)
    fig, axes = figures.panel_row(1, panel_width=6.0, height=4.0)
    figures.plot_frontiers(fronts, {a: r.estimate for a, r in reps.items()}, x=fits.X_FLOPS,
                           xlabel=fits.LABELS[fits.X_FLOPS], ylabel=fits.LABELS["val_loss"],
                           labels={a: ARCH_LABELS[a] for a in fronts}, ax=axes[0])
    axes[0].set_title(f"pilot: first {FRACTION:.0%} of the main-study runs ({preset_name(preset)})")
    rows = []
    for _, r in table.iterrows():
        ci = r["γ_c 95% CI"]
        rows.append({"quantity": f"{r['architecture']}: γ_c on {FRACTION:.0%} of the data", "ours": r["γ_c"],
                     "ci": ci if isinstance(ci, tuple) else None,
                     "backtest_are": None if not np.isfinite(r["backtest ARE"]) else r["backtest ARE"],
                     "note": f"{r['decades of C']} decades of C (need ≥ {MIN_DECADES}); CI half-width "
                             f"{r['CI half-width / γ_c']:.0%} of γ_c (need ≤ {MAX_CI:.0%}); backtest ARE need ≤ "
                             f"{MAX_ARE:.0%}; {r['verdict']}"})
    return fig, comparison_table(rows)
