"""The fits every paper section shares, on :mod:`nnip.scaling`: the runs' evaluations → :func:`prepare` →
a fit → :func:`nnip.scaling.report` (:class:`~nnip.scaling.Report`: estimate, 95% intervals, backtest, notes).

Every scale and analysis setting comes from the preset (:class:`nnip.presets.Analysis`: bootstrap size, the
fraction of each run's first steps left out, EMA, wall-clock factors, backtest hold-out). A fit that the runs
cannot support is a note "too few runs at this preset (reason)" (:data:`TOO_FEW`), never a crash and never a
made-up number.

- :func:`prepare` — the evaluations that enter the fits, with the compute columns ``C_pflops``, ``C3kND_pflops``,
  ``H_hours``.
- :func:`frontier_report` — the loss–cost Pareto frontier and eq. (4) with L∞ = 0 (§4.1), bootstrap over runs and
  the frontier backtest (fit below the top ``holdout`` of the log-range, predict the rest).
- :func:`sum_power_law_report` — eq. (5) (+ eq. 6–7 with κ), backtest on the held-out largest model.
- :func:`kappa_report` — κ of eq. (3).
- :func:`power_law_report` — a descriptive ``L = L∞ + F x^{-γ}`` on given points (one per run) with its backtest.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnip import scaling
from nnip.paper._common import TOO_FEW
from nnip.presets import Analysis
from nnip.presets import get as get_preset

__all__ = ["TOO_FEW", "truncate", "X_FLOPS", "X_MODEL", "X_HOURS", "LABELS", "settings", "wall_column", "prepare", "final",
           "in_flops", "report", "frontier_report", "curves_frontier", "sum_power_law_report", "kappa_report", "power_law_report"]

X_FLOPS, X_MODEL, X_HOURS = "C_pflops", "C3kND_pflops", "H_hours"


def truncate(curves: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Every run's evaluations up to ``fraction`` of its final ``atoms_seen``: the run on that fraction of the data.

    Exact for streaming runs: the stream of a fraction is a prefix of the full stream (§4.2) and schedule-free AdamW
    does not depend on the planned number of steps, so the shorter run's trajectory is the longer one's first part
    (tests/paper/test_run_ids.py checks it on committed runs)."""
    end = curves.groupby("run_id")["atoms_seen"].transform("max")
    return curves[curves["atoms_seen"] <= fraction * end + 1e-9].reset_index(drop=True)
LABELS = {
    X_FLOPS: "measured compute C [PFLOPs]",
    X_MODEL: "modelled compute 3κ̂ND [PFLOPs]",
    X_HOURS: "training wall-clock H [hours]",
    "val_loss": "validation loss (eq. 1, normalised)",
    "atoms_seen": "training atoms D",
    "params": "parameters N",
}


def settings(preset: str) -> Analysis:
    """The analysis settings of ``preset`` (:attr:`nnip.presets.Preset.analysis`)."""
    return get_preset(preset).analysis


def wall_column(curves: pd.DataFrame) -> str:
    """The wall clock H is measured by: ``wall_s_train`` — training steps only (no set-up, no validation, no
    checkpoints, no FLOP counting), what §4.1's time frontier is about; ``wall_s`` only for stores written before
    the trainer recorded it."""
    return "wall_s_train" if "wall_s_train" in curves.columns else "wall_s"


def _kappa_hat(df: pd.DataFrame) -> float:
    """κ̂ of eq. (3) on every evaluation of ``df`` (NaN when it cannot be fitted: the C3kND column is then NaN)."""
    try:
        return scaling.fit_kappa(df["flops"].astype(float), df["params"].astype(float),
                                 df["atoms_seen"].astype(float)).kappa
    except ValueError:
        return math.nan


def prepare(curves: pd.DataFrame, preset: str, arch: str | None = None, *, drop_first: float | None = None
            ) -> pd.DataFrame:
    """The evaluations that enter the fits, for one architecture (``None``: all of ``curves``, no EMA).

    Keeps rows after some training (``atoms_seen``, ``flops``, wall clock > 0) with a finite ``val_loss``; drops
    each run's first ``drop_first`` of steps (default: the preset's, §3.2) and applies the architecture's EMA
    (footnote 5) — :func:`nnip.scaling.prepare_curves`; adds ``C_pflops`` (measured training FLOPs / 10¹⁵),
    ``C3kND_pflops`` (the paper's compute model eq. 3, 3κ̂·N·D / 10¹⁵, κ̂ fitted on these runs) and ``H_hours``
    (:func:`wall_column` / 3600 × the footnote-8 factor).
    """
    cfg = settings(preset)
    df = curves if arch is None else curves[curves["arch"] == arch]
    wall = wall_column(df)
    wall = wall if wall in df.columns else None  # synthetic curves without a wall clock: no H column
    vals = df[["atoms_seen", "flops", "val_loss", "params"] + ([wall] if wall else [])].apply(pd.to_numeric,
                                                                                           errors="coerce")
    keep = (vals["atoms_seen"] > 0) & (vals["flops"] > 0) & (vals["params"] > 0)
    if wall:
        keep &= vals[wall] > 0
    df = df[keep & np.isfinite(vals["val_loss"])].copy()
    if df.empty:
        return df.assign(**{X_FLOPS: [], X_MODEL: [], X_HOURS: []})
    kappa = _kappa_hat(df)
    df = scaling.prepare_curves(df, "atoms_seen", "val_loss", cfg.drop_first if drop_first is None else drop_first,
                                cfg.ema.get(arch), "run_id")
    df[X_FLOPS] = df["flops"].astype(float) / scaling.PFLOP
    df[X_MODEL] = 3.0 * kappa * df["params"].astype(float) * df["atoms_seen"].astype(float) / scaling.PFLOP
    df[X_HOURS] = (df[wall].astype(float) / 3600.0 * cfg.wall_factor.get(arch, 1.0)) if wall else math.nan
    return df


def final(curves: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of every run (runs in order of first appearance)."""
    return curves.sort_values(["run_id", "step"]).groupby("run_id", sort=False).tail(1).reset_index(drop=True)


def in_flops(law: scaling.PowerLaw | None, unit: float = scaling.PFLOP) -> scaling.PowerLaw | None:
    """A power law fitted on C in ``unit`` FLOPs as the same law on C in FLOPs (what
    :func:`nnip.figures.plot_frontier` draws)."""
    if law is None:
        return None
    return scaling.PowerLaw(F=law.F * unit ** law.gamma, gamma=law.gamma, l_inf=law.l_inf, x=law.x * unit, y=law.y,
                            residuals=law.residuals)


def report(fit_fn: Callable[[pd.DataFrame], Any], data: pd.DataFrame, preset: str | None, *, n_boot: int | None = None,
           derived: Callable[[Any], Mapping[str, float]] | None = None, backtest=None,
           group: str | None = "run_id") -> scaling.Report:
    """:func:`nnip.scaling.report` with the preset's bootstrap size (or ``n_boot``) and seed; what the fits reject
    becomes a note "too few runs at this preset (reason)". ``preset=None``: the default settings."""
    cfg = settings(preset) if preset is not None else Analysis()
    return scaling.report(fit_fn, data, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed,
                          backtest=backtest, derived=derived, group=group, too_few=TOO_FEW)


def _power_law_on(df: pd.DataFrame, x: str, y: str = "val_loss", l_inf: float | None = 0.0) -> scaling.PowerLaw:
    return scaling.fit_power_law(df[x], df[y], l_inf=l_inf)


def _frontier_fit(df: pd.DataFrame, x: str) -> scaling.PowerLaw:
    """Eq. (4) with L∞ = 0 on the Pareto frontier of ``df`` (already prepared: no drop/EMA here)."""
    return _power_law_on(scaling.pareto_frontier(df, x=x, y="val_loss"), x)


def frontier_report(points: pd.DataFrame, x: str, preset: str, *, n_boot: int | None = None,
                    holdout: float | None = None) -> tuple[pd.DataFrame, scaling.Report]:
    """Pareto frontier of prepared ``points`` in ``x`` (``C_pflops`` or ``H_hours``) and its eq. (4) fit (§4.1).

    Interval: bootstrap over runs, the frontier rebuilt on each resample (``n_boot``: the preset's by default).
    Backtest: fit the frontier points below the top ``holdout`` (the preset's by default) of the log-range of ``x``,
    predict the points above (the frontier at low compute does not depend on the runs' later evaluations, so the
    held-out points are exactly those the smaller budgets never saw). The frontier keeps every column of
    ``points``."""
    if points.empty:
        return points, scaling.Report(notes=(f"{TOO_FEW} (no evaluations)",))
    front = scaling.pareto_frontier(points, x=x, y="val_loss")
    narrow = points[["run_id", "step", "params", x, "val_loss"]]  # narrow frames: bootstrap copies them n times
    rep = report(functools.partial(_frontier_fit, x=x), narrow, preset, n_boot=n_boot)
    if rep.ok:
        hold = settings(preset).holdout if holdout is None else holdout
        try:
            bt = scaling.backtest(functools.partial(_power_law_on, x=x), front, by=x, holdout=hold, group=None)
            rep = _replace(rep, backtest=bt)
        except ValueError as err:
            rep = _replace(rep, notes=(*rep.notes, f"no backtest, {TOO_FEW} ({err})"))
    return front, rep


def _replace(rep: scaling.Report, **changes) -> scaling.Report:
    return dataclasses.replace(rep, **changes)


def _sum_fit(df: pd.DataFrame) -> scaling.SumPowerLaw:
    return scaling.fit_sum_power_law(df["params"], df["atoms_seen"], df["val_loss"], run_id=df["run_id"])


def _compute_optimal_values(fit: Any, kappa: float) -> dict[str, float]:
    return scaling.compute_optimal(fit, kappa, unit="pflops").as_dict()


def sum_power_law_report(points: pd.DataFrame, preset: str, kappa: float | None = None, *,
                         n_boot: int | None = None) -> scaling.Report:
    """Eq. (5) on prepared ``points`` (N = params, D = atoms_seen, L = val_loss), bootstrap over runs (App. E),
    backtest on the held-out largest model; with ``kappa`` also eq. (6)–(7) (``a, b, G, F_c, gamma_c``, C in
    PFLOPs) for the estimate and every resample."""
    if points.empty:
        return scaling.Report(notes=(f"{TOO_FEW} (no evaluations)",))
    derived = None
    if kappa is not None and np.isfinite(kappa) and kappa > 0:
        derived = functools.partial(_compute_optimal_values, kappa=float(kappa))
    points = points[["run_id", "step", "params", "atoms_seen", "val_loss"]]
    return report(_sum_fit, points, preset, n_boot=n_boot, derived=derived,
                  backtest={"by": "N", "holdout": "largest"})


def _kappa_fit(df: pd.DataFrame) -> scaling.KappaFit:
    return scaling.fit_kappa(df["flops"], df["params"], df["atoms_seen"], passes=3)


def _kappa_predict(fit: scaling.KappaFit, df: pd.DataFrame) -> np.ndarray:
    return fit.slope * df["params"].to_numpy(float) * df["atoms_seen"].to_numpy(float)


def kappa_report(curves: pd.DataFrame, preset: str, arch: str | None = None) -> scaling.Report:
    """κ of eq. (3) (Fig. 2): measured cumulative training FLOPs C vs N·D over every evaluation with D > 0,
    ``C = 3κND`` through the origin; backtest: κ of the smaller models predicts the largest model's C."""
    df = curves if arch is None else curves[curves["arch"] == arch]
    vals = df[["atoms_seen", "flops", "params"]].apply(pd.to_numeric, errors="coerce")
    df = df.loc[(vals["atoms_seen"] > 0) & (vals["flops"] > 0) & (vals["params"] > 0),
                ["run_id", "step", "params", "atoms_seen", "flops"]]
    if df.empty:
        return scaling.Report(notes=(f"{TOO_FEW} (no evaluations)",))
    return report(_kappa_fit, df, preset,
                  backtest={"by": "N", "holdout": "largest", "y": "flops", "predict": _kappa_predict})


def power_law_report(data: pd.DataFrame, x: str, preset: str | None = None, *, y: str = "val_loss", l_inf: float | None = 0.0,
                     n_boot: int = 0, holdout: str | float | None = "largest", group: str | None = None
                     ) -> scaling.Report:
    """``y = L∞ + F x^{-γ}`` (eq. 4 form; App. H eq. 24 with a fixed L∞ = L_D) on ``data`` (one row per run or
    point), no interval unless ``n_boot``, and the backtest holding out the largest ``x`` (or the top ``holdout`` of
    its log-range; None: no backtest)."""
    fit_fn = functools.partial(_power_law_on, x=x, y=y, l_inf=l_inf)
    bt = None if holdout is None else {"by": x, "y": y, "holdout": holdout, "group": group}
    return report(fit_fn, data, preset, n_boot=n_boot, group=group, backtest=bt)


def curves_frontier(curves: pd.DataFrame, preset: str, *, n_boot: int | None = None, holdout: float | None = None,
                    drop_first: float | None = None) -> tuple[pd.DataFrame, scaling.Report]:
    """:func:`frontier_report` in measured compute (``C_pflops``) of :func:`prepare` d ``curves`` (all their runs,
    no EMA): the loss–compute frontier of one condition of an ablation."""
    return frontier_report(prepare(curves, preset, drop_first=drop_first), X_FLOPS, preset, n_boot=n_boot,
                           holdout=holdout)
