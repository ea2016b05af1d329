"""The analysis of §4 on one study's evaluations: the book's pages (through :mod:`nnip.paper.fits`, which adds the
preset's settings) and ``nnip fit`` (:mod:`nnip.fit`, on a user's own run store) both run exactly these functions.

- :func:`prepare_evaluations` — the evaluations that enter the fits (after some training, finite loss; each run's
  first steps dropped and an optional EMA, :func:`~nnip.scaling.prepare_curves`) with the compute columns
  ``C_pflops`` (measured), ``C3kND_pflops`` (eq. 3 with κ̂ fitted on these runs) and ``H_hours`` (wall clock).
- :func:`frontier_report` — the loss–cost Pareto frontier and eq. (4) with L∞ = 0 (§4.1), bootstrap over runs, the
  frontier backtest (fit below the top ``holdout`` of the log-range, predict the rest).
- :func:`kappa_report` — κ of eq. (3), ``C = 3κND`` through the origin (Fig. 2); backtest on the largest model.
- :func:`sum_power_law_report` — eq. (5) (+ eq. 6–7 with κ), backtest on the held-out largest model.

Each returns a :class:`~nnip.scaling.Report`; what the fits reject is a note ``"{too_few} (reason)"``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnip.scaling.allocation import PFLOP, KappaFit, compute_optimal, fit_kappa
from nnip.scaling.backtest import backtest
from nnip.scaling.frontier import frontier_xy, pareto_frontier, prepare_curves
from nnip.scaling.laws import PowerLaw, SumPowerLaw, fit_power_law, fit_sum_power_law
from nnip.scaling.report import Report, report

__all__ = ["X_FLOPS", "X_MODEL", "X_HOURS", "wall_column", "prepare_evaluations", "power_law_on", "frontier_report",
           "kappa_report", "sum_power_law_report"]

#: the compute columns of :func:`prepare_evaluations`: measured C, modelled 3κ̂ND (both in PFLOPs), wall clock H
X_FLOPS, X_MODEL, X_HOURS = "C_pflops", "C3kND_pflops", "H_hours"


def wall_column(curves: pd.DataFrame) -> str:
    """The wall clock H is measured by: ``wall_s_train`` — training steps only (no set-up, no validation, no
    checkpoints, no FLOP counting), what §4.1's time frontier is about; ``wall_s`` only for stores written before
    the trainer recorded it."""
    return "wall_s_train" if "wall_s_train" in curves.columns else "wall_s"


def _kappa_hat(df: pd.DataFrame) -> float:
    """κ̂ of eq. (3) on every evaluation of ``df`` (NaN when it cannot be fitted: the C3kND column is then NaN)."""
    try:
        return fit_kappa(df["flops"].astype(float), df["params"].astype(float), df["atoms_seen"].astype(float)).kappa
    except ValueError:
        return math.nan


def prepare_evaluations(curves: pd.DataFrame, *, drop_first: float, ema: float | None = None,
                        wall_factor: float = 1.0) -> pd.DataFrame:
    """The evaluations of ``curves`` (``RunStore.curves`` rows) that enter the fits.

    Keeps rows after some training (``atoms_seen``, ``flops``, ``params``, wall clock > 0) with a finite
    ``val_loss``; drops each run's first ``drop_first`` of steps and applies ``ema`` (§3.2, footnote 5:
    :func:`~nnip.scaling.prepare_curves`); adds ``C_pflops`` (measured training FLOPs / 10¹⁵), ``C3kND_pflops``
    (eq. 3, 3κ̂·N·D / 10¹⁵, κ̂ fitted on these rows) and ``H_hours`` (:func:`wall_column` / 3600 × ``wall_factor``,
    footnote 8; NaN without a wall clock).
    """
    wall = wall_column(curves)
    wall = wall if wall in curves.columns else None  # synthetic curves without a wall clock: no H column
    vals = curves[["atoms_seen", "flops", "val_loss", "params"] + ([wall] if wall else [])].apply(pd.to_numeric,
                                                                                               errors="coerce")
    keep = (vals["atoms_seen"] > 0) & (vals["flops"] > 0) & (vals["params"] > 0)
    if wall:
        keep &= vals[wall] > 0
    df = curves[keep & np.isfinite(vals["val_loss"])].copy()
    if df.empty:
        return df.assign(**{X_FLOPS: [], X_MODEL: [], X_HOURS: []})
    kappa = _kappa_hat(df)
    df = prepare_curves(df, "atoms_seen", "val_loss", drop_first, ema, "run_id")
    df[X_FLOPS] = df["flops"].astype(float) / PFLOP
    df[X_MODEL] = 3.0 * kappa * df["params"].astype(float) * df["atoms_seen"].astype(float) / PFLOP
    df[X_HOURS] = (df[wall].astype(float) / 3600.0 * wall_factor) if wall else math.nan
    return df


def power_law_on(df: pd.DataFrame, x: str, y: str = "val_loss", l_inf: float | None = 0.0) -> PowerLaw:
    """Eq. (4) ``y = L∞ + F x^{-γ}`` on the columns ``x``, ``y`` of ``df`` (L∞ = 0 unless given; None: fitted)."""
    return fit_power_law(df[x], df[y], l_inf=l_inf)


def _frontier_fit(df: pd.DataFrame, x: str) -> PowerLaw:
    """Eq. (4) with L∞ = 0 on the Pareto frontier of ``df`` (already prepared: no drop/EMA here); the frontier by
    :func:`~nnip.scaling.frontier.frontier_xy`, the values and order of :func:`pareto_frontier`'s."""
    fx, fy = frontier_xy(np.asarray(df[x], dtype=float), np.asarray(df["val_loss"], dtype=float))
    return fit_power_law(fx, fy)


def frontier_report(points: pd.DataFrame, x: str, *, n_boot: int, seed: int = 0, holdout: float = 0.25,
                    too_few: str = "too few runs", excluded: Mapping[str, str] | None = None
                    ) -> tuple[pd.DataFrame, Report]:
    """Pareto frontier of prepared ``points`` in ``x`` (``C_pflops`` or ``H_hours``) and its eq. (4) fit (§4.1).

    Interval: bootstrap over runs, the frontier rebuilt on each resample. Backtest: fit the frontier points below
    the top ``holdout`` of the log-range of ``x``, predict the points above (the frontier at low compute does not
    depend on the runs' later evaluations, so the held-out points are exactly those the smaller budgets never saw).
    The frontier keeps every column of ``points``."""
    if points.empty:
        return points, Report(notes=(f"{too_few} (no evaluations)",), excluded=dict(excluded or {}))
    front = pareto_frontier(points, x=x, y="val_loss")
    cols = [c for c in ("run_id", "step", "params", x, "val_loss") if c in points.columns]
    narrow = points[cols]  # narrow frames: the bootstrap copies them n_boot times

    def frontier_backtest(_: pd.DataFrame):
        return backtest(functools.partial(power_law_on, x=x), front, by=x, holdout=holdout, group=None)

    rep = report(functools.partial(_frontier_fit, x=x), narrow, n_boot=n_boot, seed=seed, backtest=frontier_backtest,
                 too_few=too_few, excluded=excluded, columns=[x, "val_loss"])
    return front, rep


def _kappa_fit(df: pd.DataFrame) -> KappaFit:
    return fit_kappa(df["flops"], df["params"], df["atoms_seen"], passes=3)


def _kappa_predict(fit: KappaFit, df: pd.DataFrame) -> np.ndarray:
    return fit.slope * df["params"].to_numpy(float) * df["atoms_seen"].to_numpy(float)


def kappa_report(curves: pd.DataFrame, *, n_boot: int, seed: int = 0, too_few: str = "too few runs",
                 excluded: Mapping[str, str] | None = None) -> Report:
    """κ of eq. (3) (Fig. 2): measured cumulative training FLOPs C vs N·D over every evaluation of ``curves`` with
    D > 0 (no steps dropped), ``C = 3κND`` through the origin; backtest: κ of the smaller models predicts the
    largest model's C."""
    vals = curves[["atoms_seen", "flops", "params"]].apply(pd.to_numeric, errors="coerce")
    df = curves.loc[(vals["atoms_seen"] > 0) & (vals["flops"] > 0) & (vals["params"] > 0),
                    ["run_id", "step", "params", "atoms_seen", "flops"]]
    if df.empty:
        return Report(notes=(f"{too_few} (no evaluations)",), excluded=dict(excluded or {}))
    return report(_kappa_fit, df, n_boot=n_boot, seed=seed, too_few=too_few, excluded=excluded,
                  backtest={"by": "N", "holdout": "largest", "y": "flops", "predict": _kappa_predict},
                  columns=["flops", "params", "atoms_seen"])


def _sum_fit(df: pd.DataFrame) -> SumPowerLaw:
    return fit_sum_power_law(df["params"], df["atoms_seen"], df["val_loss"], run_id=df["run_id"])


def _compute_optimal_values(fit: Any, kappa: float) -> dict[str, float]:
    return compute_optimal(fit, kappa, unit="pflops").as_dict()


def sum_power_law_report(points: pd.DataFrame, kappa: float | None = None, *, n_boot: int, seed: int = 0,
                         too_few: str = "too few runs", excluded: Mapping[str, str] | None = None) -> Report:
    """Eq. (5) on prepared ``points`` (N = params, D = atoms_seen, L = val_loss), bootstrap over runs (App. E),
    backtest on the held-out largest model; with ``kappa`` also eq. (6)–(7) (``a, b, G, F_c, gamma_c``, C in
    PFLOPs) for the estimate and every resample."""
    if points.empty:
        return Report(notes=(f"{too_few} (no evaluations)",), excluded=dict(excluded or {}))
    derived = None
    if kappa is not None and np.isfinite(kappa) and kappa > 0:
        derived = functools.partial(_compute_optimal_values, kappa=float(kappa))
    points = points[["run_id", "step", "params", "atoms_seen", "val_loss"]]
    return report(_sum_fit, points, n_boot=n_boot, seed=seed, derived=derived, too_few=too_few, excluded=excluded,
                  backtest={"by": "N", "holdout": "largest"}, columns=["params", "atoms_seen", "val_loss", "run_id"])
