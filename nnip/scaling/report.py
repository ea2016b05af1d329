"""One fit with its 95% interval, backtest and notes: what every figure and table of the book shows.

:func:`report` fits the data, bootstraps the fit over whole runs (App. E) and backtests it; whatever the fits
reject with ``ValueError`` (too few points or runs, α = 0 for eq. 7, …) becomes a note instead of a number, so a
small study never crashes a page and no number is made up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nnip.scaling.backtest import Backtest, backtest as _backtest
from nnip.scaling._checks import fit_params
from nnip.scaling.bootstrap import Bootstrap, bootstrap

__all__ = ["Report", "report"]


@dataclass(frozen=True, eq=False)
class Report:
    """A fit, its interval, its backtest, or the reason why not.

    Attributes:
        estimate: the fit on all of ``data`` (``None`` when the fit rejected the data: see ``notes``).
        values: the estimate's parameters (``params()``) plus the ``derived`` quantities.
        intervals: name → (lo, hi), the percentile interval over the bootstrap resamples (finite ones only).
        backtest: the held-out extrapolation check, or ``None``.
        notes: what could not be done and why, in order.
        excluded: run id → reason, the runs left out before fitting (as given to :func:`report`).
        data: the rows fitted (index reset).
        boot: the :class:`~nnip.scaling.Bootstrap` itself (samples, table), or ``None``.
    """

    estimate: Any = None
    values: Mapping[str, float] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    backtest: Backtest | None = None
    notes: tuple[str, ...] = ()
    excluded: Mapping[str, str] = field(default_factory=dict)
    data: pd.DataFrame | None = None
    boot: Bootstrap | None = None

    @property
    def ok(self) -> bool:
        """Whether there is an estimate."""
        return self.estimate is not None

    def value(self, name: str) -> float:
        """``values[name]``, NaN when absent."""
        return float(self.values.get(name, math.nan))

    def ci(self, name: str) -> tuple[float, float] | None:
        """``intervals[name]``, ``None`` when absent."""
        return self.intervals.get(name)

    @property
    def cis(self) -> Mapping[str, tuple[float, float]]:
        """``intervals`` (an alias kept for callers that read ``cis``)."""
        return self.intervals

    @property
    def note(self) -> str:
        """The notes on one line, ``"; "``-separated."""
        return "; ".join(self.notes)


def report(fit_fn: Callable[[pd.DataFrame], Any], data: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
           backtest: Mapping[str, Any] | Callable[[pd.DataFrame], Backtest] | None = None,
           derived: Callable[[Any], Mapping[str, float]] | None = None, group: str | None = "run_id",
           level: float = 0.95, excluded: Mapping[str, str] | None = None, too_few: str = "too few runs",
           derived_name: str = "eq. (6)–(7)", columns: Sequence[str] | None = None) -> Report:
    """Fit ``data`` with ``fit_fn``, bootstrap the fit over runs and backtest it.

    Args:
        fit_fn: ``df -> fit``: a fit with ``params()`` (:class:`~nnip.scaling.PowerLaw`,
            :class:`~nnip.scaling.SumPowerLaw`, :class:`~nnip.scaling.KappaFit`) or a mapping.
        data: the rows to fit, one per evaluation, with the ``group`` column (a run id).
        n_boot, seed, group, level: :func:`~nnip.scaling.bootstrap`'s ``n``, ``seed``, ``group`` and ``level``
            (``n_boot=0``: no bootstrap, no intervals, no note).
        backtest: ``None``; keyword arguments of :func:`~nnip.scaling.backtest` (``{"by": "N", "holdout":
            "largest"}``), called with ``fit_fn`` and ``data``; or a callable ``data -> Backtest`` (e.g. a backtest
            on the frontier rather than on every evaluation). Tried only when the estimate exists.
        derived: ``fit -> {name: value}``, extra quantities (e.g. ``compute_optimal(fit, κ).as_dict()``) added to
            ``values`` and bootstrapped with the parameters; dropped (with a note) if the estimate rejects it.
        excluded: the runs left out before fitting (run id → reason), kept on the report.
        too_few, derived_name: the words of the notes.
        columns: the only columns ``fit_fn`` reads (as arrays): the bootstrap's resamples are then numpy columns
            (:func:`~nnip.scaling.bootstrap`'s ``columns``; the same fits, faster).

    Notes, in this order, each with the library's reason in parentheses: ``"{too_few} (…)"`` (no estimate; nothing
    else is tried), ``"{derived_name} undefined (…)"``, ``"k of n bootstrap resamples degenerate (skipped)"``,
    ``"no 95% CI, {too_few} (…)"``, ``"no backtest, {too_few} (…)"``.
    """
    data = data.reset_index(drop=True)
    excluded = dict(excluded or {})
    try:
        estimate = fit_fn(data)
    except ValueError as err:
        return Report(notes=(f"{too_few} ({err})",), excluded=excluded, data=data)
    notes: list[str] = []
    values = fit_params(estimate)
    if derived is not None:
        try:
            values.update(derived(estimate))
        except ValueError as err:
            notes.append(f"{derived_name} undefined ({err})")
            derived = None
    intervals: dict[str, tuple[float, float]] = {}
    boot = None
    if n_boot:  # n_boot = 0: no intervals asked for, and no note
        try:
            with warnings.catch_warnings():  # degenerate resamples are counted in the note, not warned about
                warnings.filterwarnings("ignore", message="bootstrap:")
                boot = bootstrap(fit_fn, data, n=n_boot, seed=seed, group=group, derived=derived, level=level,
                                 progress=False, columns=columns)
            intervals = {k: boot.ci(k) for k in boot.table.index
                         if np.isfinite(boot.table.loc[k, ["lo", "hi"]]).all()}
            if boot.n_failed:
                notes.append(f"{boot.n_failed} of {boot.n} bootstrap resamples degenerate (skipped)")
        except ValueError as err:
            notes.append(f"no 95% CI, {too_few} ({err})")
    bt = None
    if backtest is not None:
        try:
            bt = backtest(data) if callable(backtest) else _backtest(fit_fn, data, **backtest)
        except ValueError as err:
            notes.append(f"no backtest, {too_few} ({err})")
    return Report(estimate=estimate, values=values, intervals=intervals, backtest=bt, notes=tuple(notes),
                  excluded=excluded, data=data, boot=boot)
