"""Fig. 5, 6 and Tables 1, 7 of Ngo & Ravanbakhsh (2025): the sum-power-law eq. (5) and compute-optimal scaling
eq. (6)–(7).

Each item takes the curves of :func:`nnip.paper.main.main_study` and returns ``(figure, table)`` like
:mod:`nnip.paper.frontiers`: eq. (5) by :func:`nnip.paper.fits.sum_power_law_report` (bootstrap over runs, backtest
on the held-out largest model), κ of eq. (3) by :func:`nnip.paper.fits.kappa_report`, ours against the paper's
Tables 1 and 7 (:mod:`nnip.paper.published`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper._common import (
    ARCH_LABELS, TOO_FEW, arch_row, archs_present, comparison_table, estimates_long, notes_left_out,
)
from nnip.paper.fits import X_FLOPS, X_MODEL, frontier_report, kappa_report, prepare, sum_power_law_report
from nnip.paper.published import PAPER, paper_value
from nnip.presets import Preset
from nnip.presets import resolve

__all__ = ["fig5", "fig6", "table1", "table7"]


def _sum_reports(curves: pd.DataFrame, archs: list[str], preset: str | Preset, with_kappa: bool = False
                 ) -> tuple[dict[str, scaling.Report], dict[str, scaling.Report]]:
    kap = {a: kappa_report(curves, preset, a) for a in archs} if with_kappa else {}
    sums = {a: sum_power_law_report(prepare(curves, preset, a), preset,
                                    kappa=kap[a].value("kappa") if with_kappa else None) for a in archs}
    return sums, kap


@notes_left_out
def fig5(curves: pd.DataFrame, arch: str = "all", preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 5: the sum-power-law eq. (5), one row per architecture — left: L vs D (one colour per N, fitted
    ``L(N_i, D)`` and the data-limited term ``B D^{-β}``), right: L vs N at each model's largest D (fitted
    ``L(N, D_max)`` and the parameter-limited term ``A N^{-α}``); each row's legend under it. Table: α, β ours
    [95% CI] vs the paper's Table 7 (the Fig. 5 text rounds them: β .31/.39/.50/.75, α .28/.39/.52/.82), and the
    backtest on the held-out largest model."""
    preset = resolve(preset)
    archs = archs_present(curves, arch)
    sums, _ = _sum_reports(curves, archs, preset)
    fig = Figure(figsize=(7.6, 3.9 * max(len(archs), 1)), layout="constrained")
    panels = np.atleast_1d(fig.subfigures(max(len(archs), 1), 1))  # one per row: its legend goes under it
    rows = []
    for j, a in enumerate(archs):
        rep = sums[a]
        ax_d, ax_n = panels[j].subplots(1, 2)
        figures.plot_sum_power_law_panels(rep.estimate, rep.data, ax_d, ax_n, title=ARCH_LABELS[a],
                                          note=None if rep.ok else TOO_FEW)
        figures.legend_below(panels[j], ncols=4)
        rows.append(arch_row(a, "β (data exponent)", rep, "beta", paper_value(a, "table7", "beta")))
        rows.append(arch_row(a, "α (parameter exponent)", rep, "alpha", paper_value(a, "table7", "alpha")))
    return fig, comparison_table(rows)


@notes_left_out
def fig6(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Fig. 6: compute-optimal model size N*(C) (left) and training atoms D*(C) (right), eq. (6), from our eq. (5)
    fits and measured κ (solid) and from the paper's Table 7 with its Fig. 2 κ (dashed). Table: the exponents
    ``a = β/(α+β)``, ``b = α/(α+β)`` and κ, ours vs paper."""
    preset = resolve(preset)
    archs = archs_present(curves)
    sums, kap = _sum_reports(curves, archs, preset, with_kappa=True)
    ours, ref, rows = {}, {}, []
    for a in archs:
        label = ARCH_LABELS[a].split(" (")[0]
        paper_co = scaling.compute_optimal(scaling.paper_params(a), PAPER[a]["kappa"], unit="pflops")
        ref[label] = paper_co
        rep = sums[a]
        if rep.ok and np.isfinite(rep.value("a")):
            ours[label] = scaling.compute_optimal(rep.estimate, kap[a].value("kappa"), unit="pflops")
        rows.append(arch_row(a, "a (N* ∝ C^a)", rep, "a", paper_co.a, "paper: from Table 7"))
        rows.append(arch_row(a, "b (D* ∝ C^b)", rep, "b", paper_co.b, "paper: from Table 7"))
        rows.append(arch_row(a, "κ (eq. 3)", kap[a], "kappa", PAPER[a]["kappa"]))
    c_ours = pd.to_numeric(curves["flops"], errors="coerce") / scaling.PFLOP
    c_ours = c_ours[c_ours > 0]
    measured = (float(c_ours.min()), float(c_ours.max())) if len(c_ours) else None
    lo = min(1e-2, measured[0]) if measured else 1e-2
    fig = figures.plot_compute_optimal_comparison(ours, ref, C_pflops=(lo, 1e4), measured=measured)
    return fig, comparison_table(rows)


@notes_left_out
def table1(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Table 1: compute-optimal F_c and γ_c (C in PFLOPs) by the frontier fit eq. (4) and from the sum-power-law
    eq. (7) with our measured κ, each with 95% bootstrap intervals, ours vs paper. The eq. (7) rows' backtest is that
    of the underlying eq. (5) fit (held-out largest model). The figure shows the same numbers with intervals."""
    preset = resolve(preset)
    archs = archs_present(curves)
    sums, kap = _sum_reports(curves, archs, preset, with_kappa=True)
    rows = []
    for a in archs:
        pts = prepare(curves, preset, a)
        _, front = frontier_report(pts, X_FLOPS, preset)
        _, front_model = frontier_report(pts, X_MODEL, preset)
        knote = f"κ = {kap[a].value('kappa'):.3g} (ours, eq. 3)"
        for q, fk in (("F_c", "F"), ("gamma_c", "gamma")):
            sym = "F_c" if q == "F_c" else "γ_c"
            rows.append(arch_row(a, f"{sym}, frontier eq. (4) on measured C", front, fk,
                             paper_value(a, "table1", "frontier", q)))
            rows.append(arch_row(a, f"{sym}, frontier eq. (4) on 3κ̂ND", front_model, fk,
                             paper_value(a, "table1", "frontier", q), knote))
            rows.append(arch_row(a, f"{sym}, sum-power-law eq. (7)", sums[a], q, paper_value(a, "table1", "sum_power_law", q),
                             knote))
    fig = figures.plot_estimates(estimates_long(rows), title="Table 1: compute-optimal scaling (C in PFLOPs)")
    return fig, comparison_table(rows)


@notes_left_out
def table7(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Any, pd.DataFrame]:
    """Table 7: the eq. (5) parameters log10 A, log10 B, α, β with 95% bootstrap intervals, ours vs paper, with the
    backtest on the held-out largest model. The figure shows the same numbers with intervals."""
    preset = resolve(preset)
    archs = archs_present(curves)
    sums, _ = _sum_reports(curves, archs, preset)
    rows = []
    for a in archs:
        for key, sym in (("log10_A", "log10 A"), ("log10_B", "log10 B"), ("alpha", "α"), ("beta", "β")):
            rows.append(arch_row(a, sym, sums[a], key, paper_value(a, "table7", key)))
    fig = figures.plot_estimates(estimates_long(rows), title="Table 7: sum-power-law eq. (5)")
    return fig, comparison_table(rows)
