"""Scaling-law analysis: Pareto frontiers, power laws, sum-power-laws, bootstrap, compute-optimal allocation.

Pure functions on numpy arrays / pandas DataFrames (no plotting; see :mod:`nnip.figures`). Notation follows
Ngo & Ravanbakhsh (2025): ``N`` trainable parameters, ``D`` training atoms seen (tokens), ``C`` training FLOPs,
``H`` wall-clock hours, ``L`` validation loss (eq. 1, normalised units).

Data flow: ``RunStore.curves()`` → :func:`prepare_curves` → a fit → :func:`report` → :mod:`nnip.figures`.

- :mod:`~nnip.scaling.frontier` — :func:`prepare_curves` (sort, drop each run's first steps, EMA; §3.2, footnote 5)
  and :func:`pareto_frontier`, the loss–compute frontier over all runs and their evaluations (§4.1; approach 1 of
  Hoffmann et al. 2022).
- :mod:`~nnip.scaling.laws` — :func:`fit_power_law`, ``L = L∞ + F x^{-γ}`` (eq. 4; App. H eq. 24), and
  :func:`fit_sum_power_law`, ``L = E + A N^{-α} + B D^{-β}`` (eq. 5, §4.2; approach 3 of Hoffmann et al.).
- :mod:`~nnip.scaling.bootstrap` — :func:`bootstrap`, 95% percentile intervals by resampling whole runs (App. E).
- :mod:`~nnip.scaling.allocation` — :func:`compute_optimal`, ``N*(C), D*(C), L(C) = F_c C^{-γ_c}`` (eq. 6–7, §4.3),
  and :func:`fit_kappa`, ``C ≈ 3 κ N D`` (eq. 3, Fig. 2).
- :mod:`~nnip.scaling.backtest` — :func:`backtest`: fit the smaller runs, predict the held-out largest (ARE).
- :mod:`~nnip.scaling.report` — :func:`report` → :class:`Report`: estimate, 95% intervals, backtest, notes, runs
  left out.
- :mod:`~nnip.scaling.analysis` — the §4 analysis of one study's evaluations that the book and ``nnip fit`` share:
  :func:`prepare_evaluations` (compute columns C, 3κ̂ND, H), :func:`frontier_report` (eq. 4), :func:`kappa_report`
  (eq. 3), :func:`sum_power_law_report` (eq. 5–7).
- :mod:`~nnip.scaling.plan` — :func:`plan` / :func:`plan_cli`:
  ``nnip plan --arch A --budget-pflops X [--store PATH | --paper]``.

Every fit validates its input and raises one :class:`ValueError` naming the offending argument. The papers' own
numbers (:data:`PAPER`, :func:`paper_params`) live in :mod:`nnip.paper.published` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from nnip.scaling.allocation import PFLOP, ComputeOptimal, KappaFit, compute_optimal, fit_kappa
from nnip.scaling.analysis import (
    X_FLOPS, X_HOURS, X_MODEL, frontier_report, kappa_report, power_law_on, prepare_evaluations, sum_power_law_report,
    wall_column,
)
from nnip.scaling.backtest import COLUMNS, Backtest, backtest
from nnip.scaling.bootstrap import Bootstrap, bootstrap
from nnip.scaling.frontier import pareto_frontier, prepare_curves
from nnip.scaling.laws import PowerLaw, SumPowerLaw, fit_power_law, fit_sum_power_law
from nnip.scaling.plan import plan, plan_cli, plan_from_curves, select_runs
from nnip.scaling.report import Report, report

__all__ = [
    "PAPER", "PFLOP", "COLUMNS", "paper_params", "prepare_curves", "pareto_frontier", "PowerLaw", "fit_power_law",
    "SumPowerLaw", "fit_sum_power_law", "Bootstrap", "bootstrap", "ComputeOptimal", "compute_optimal", "KappaFit",
    "fit_kappa", "Backtest", "backtest", "Report", "report", "X_FLOPS", "X_MODEL", "X_HOURS", "wall_column",
    "prepare_evaluations", "power_law_on", "frontier_report", "kappa_report", "sum_power_law_report", "select_runs",
    "plan", "plan_from_curves", "plan_cli",
]

_PUBLISHED = ("PAPER", "paper_params")


def __getattr__(name: str) -> Any:
    """``PAPER`` and ``paper_params`` from :mod:`nnip.paper.published`, imported on first use (``nnip.paper``
    draws figures; importing it here would make ``nnip.scaling`` import matplotlib and import itself)."""
    if name in _PUBLISHED:
        from nnip.paper import published  # lazy: nnip.paper imports nnip.scaling (cycle)

        return getattr(published, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
