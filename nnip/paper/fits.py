"""The fits every paper section shares, on :mod:`nnip.scaling`: the runs' evaluations → :func:`prepare` →
a fit → :func:`nnip.scaling.report` (:class:`~nnip.scaling.Report`: estimate, 95% intervals, backtest, notes).

The fits themselves are :mod:`nnip.scaling.analysis` (the same functions ``nnip fit`` runs on a user's store); this
module is the glue that reads their settings from the preset (``preset``: a name or a :class:`nnip.presets.Preset`).

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

import functools
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from nnip import scaling
from nnip.paper._common import TOO_FEW
from nnip.presets import Analysis, Preset, resolve
from nnip.scaling import X_FLOPS, X_HOURS, X_MODEL, power_law_on, wall_column

__all__ = ["TOO_FEW", "truncate", "X_FLOPS", "X_MODEL", "X_HOURS", "LABELS", "settings", "wall_column", "prepare", "final",
           "in_flops", "report", "frontier_report", "curves_frontier", "sum_power_law_report", "kappa_report", "power_law_report"]


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


def settings(preset: str | Preset) -> Analysis:
    """The analysis settings of ``preset`` (:attr:`nnip.presets.Preset.analysis`)."""
    return resolve(preset).analysis


def prepare(curves: pd.DataFrame, preset: str | Preset, arch: str | None = None, *,
            drop_first: float | None = None) -> pd.DataFrame:
    """The evaluations that enter the fits, for one architecture (``None``: all of ``curves``, no EMA):
    :func:`nnip.scaling.prepare_evaluations` with the preset's ``drop_first`` (unless given, §3.2), the
    architecture's EMA (footnote 5) and wall-clock factor (footnote 8). Adds ``C_pflops``, ``C3kND_pflops`` (κ̂
    fitted on these runs) and ``H_hours``."""
    preset = resolve(preset)
    cfg = settings(preset)
    df = curves if arch is None else curves[curves["arch"] == arch]
    return scaling.prepare_evaluations(df, drop_first=cfg.drop_first if drop_first is None else drop_first,
                                       ema=cfg.ema.get(arch), wall_factor=cfg.wall_factor.get(arch, 1.0))


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


def report(fit_fn: Callable[[pd.DataFrame], Any], data: pd.DataFrame, preset: str | Preset | None, *,
           n_boot: int | None = None, derived: Callable[[Any], Mapping[str, float]] | None = None, backtest=None,
           group: str | None = "run_id") -> scaling.Report:
    """:func:`nnip.scaling.report` with the preset's bootstrap size (or ``n_boot``) and seed; what the fits reject
    becomes a note "too few runs at this preset (reason)". ``preset=None``: the default settings."""
    cfg = settings(preset) if preset is not None else Analysis()
    return scaling.report(fit_fn, data, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed,
                          backtest=backtest, derived=derived, group=group, too_few=TOO_FEW)


def frontier_report(points: pd.DataFrame, x: str, preset: str | Preset, *, n_boot: int | None = None,
                    holdout: float | None = None) -> tuple[pd.DataFrame, scaling.Report]:
    """:func:`nnip.scaling.frontier_report` — the Pareto frontier of prepared ``points`` in ``x`` (``C_pflops`` or
    ``H_hours``) and its eq. (4) fit (§4.1), bootstrap over runs, frontier backtest — with the preset's ``n_boot``,
    seed and ``holdout`` unless given."""
    preset = resolve(preset)
    cfg = settings(preset)
    return scaling.frontier_report(points, x, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed,
                                   holdout=cfg.holdout if holdout is None else holdout, too_few=TOO_FEW)


def sum_power_law_report(points: pd.DataFrame, preset: str | Preset, kappa: float | None = None, *,
                         n_boot: int | None = None) -> scaling.Report:
    """:func:`nnip.scaling.sum_power_law_report` — eq. (5) on prepared ``points``, bootstrap over runs (App. E),
    backtest on the held-out largest model; with ``kappa`` also eq. (6)–(7) — with the preset's ``n_boot`` (unless
    given) and seed."""
    preset = resolve(preset)
    cfg = settings(preset)
    return scaling.sum_power_law_report(points, kappa, n_boot=cfg.n_boot if n_boot is None else n_boot,
                                        seed=cfg.seed, too_few=TOO_FEW)


def kappa_report(curves: pd.DataFrame, preset: str | Preset, arch: str | None = None) -> scaling.Report:
    """:func:`nnip.scaling.kappa_report` — κ of eq. (3) (Fig. 2) on every evaluation with D > 0 of ``arch``'s runs,
    backtest on the largest model — with the preset's ``n_boot`` and seed."""
    preset = resolve(preset)
    cfg = settings(preset)
    df = curves if arch is None else curves[curves["arch"] == arch]
    return scaling.kappa_report(df, n_boot=cfg.n_boot, seed=cfg.seed, too_few=TOO_FEW)


def power_law_report(data: pd.DataFrame, x: str, preset: str | Preset | None = None, *, y: str = "val_loss",
                     l_inf: float | None = 0.0, n_boot: int = 0, holdout: str | float | None = "largest",
                     group: str | None = None) -> scaling.Report:
    """``y = L∞ + F x^{-γ}`` (eq. 4 form; App. H eq. 24 with a fixed L∞ = L_D) on ``data`` (one row per run or
    point), no interval unless ``n_boot``, and the backtest holding out the largest ``x`` (or the top ``holdout`` of
    its log-range; None: no backtest)."""
    fit_fn = functools.partial(power_law_on, x=x, y=y, l_inf=l_inf)
    bt = None if holdout is None else {"by": x, "y": y, "holdout": holdout, "group": group}
    return report(fit_fn, data, preset, n_boot=n_boot, group=group, backtest=bt)


def curves_frontier(curves: pd.DataFrame, preset: str | Preset, *, n_boot: int | None = None,
                    holdout: float | None = None, drop_first: float | None = None
                    ) -> tuple[pd.DataFrame, scaling.Report]:
    """:func:`frontier_report` in measured compute (``C_pflops``) of :func:`prepare` d ``curves`` (all their runs,
    no EMA): the loss–compute frontier of one condition of an ablation."""
    preset = resolve(preset)
    return frontier_report(prepare(curves, preset, drop_first=drop_first), X_FLOPS, preset, n_boot=n_boot,
                           holdout=holdout)
