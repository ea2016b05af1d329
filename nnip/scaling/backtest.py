"""Held-out extrapolation: fit the smaller runs, predict the held-out largest, absolute relative error (ARE)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nnip.scaling._checks import need_columns, readonly, vec
from nnip.scaling.laws import PowerLaw, SumPowerLaw

__all__ = ["COLUMNS", "Backtest", "backtest"]


COLUMNS = {"N": "params", "D": "atoms_seen", "C": "flops", "H": "wall_s", "L": "val_loss"}


@dataclass(frozen=True, eq=False)
class Backtest:
    """Held-out extrapolation check: ``are`` = mean over held-out points of ``|pred − obs| / obs``."""

    are: float
    by: str
    holdout: str | float
    threshold: float
    n_train: int
    n_test: int
    obs: np.ndarray
    pred: np.ndarray


def backtest(fit_fn: Callable[[pd.DataFrame], Any], data: pd.DataFrame, by: str = "N",
             holdout: str | float = "largest", predict: Callable[[Any, pd.DataFrame], Any] | None = None,
             y: str = "val_loss", group: str | None = "run_id", columns: Mapping[str, str] | None = None) -> Backtest:
    """Fit on the smaller runs, predict the held-out largest, report the absolute relative error (ARE).

    Args:
        fit_fn: ``df -> fit`` (as for :func:`bootstrap`).
        data: the rows to fit (e.g. curves merged with summaries, or frontier points).
        by: ``"N"``, ``"C"``, ``"D"``, ``"H"`` (mapped through ``columns``, default :data:`COLUMNS`) or a column.
        holdout: ``"largest"`` — rows whose ``by`` equals its maximum, plus every other row of the runs
            (``group``) they belong to (the largest model, or the run reaching the largest compute); or a
            fraction ``q`` in (0, 1) — rows in the top ``q`` of the log-range of ``by``.
        predict: ``(fit, df) -> predictions``; default ``fit.predict(df[N], df[D])`` for a
            :class:`SumPowerLaw` and ``fit.predict(df[by])`` for a :class:`PowerLaw`.
    """
    cols = {**COLUMNS, **(columns or {})}
    col = cols.get(by, by)
    need_columns("data", data, [col, y] + ([group] if group is not None and group in data.columns else []))
    xb = vec(f"data[{col!r}]", data[col])
    if holdout == "largest":
        test = xb == xb.max()
        if group is not None and group in data.columns:
            test |= data[group].isin(data.loc[test, group].unique()).to_numpy()
        threshold = float(xb.max())
    elif isinstance(holdout, (int, float)) and 0 < holdout < 1:
        lo, hi = np.log(xb.min()), np.log(xb.max())
        threshold = float(np.exp(hi - holdout * (hi - lo)))
        test = xb >= threshold
    else:
        raise ValueError(f"holdout: must be 'largest' or a fraction in (0, 1), got {holdout!r}")
    if test.all():
        raise ValueError(f"data[{col!r}]: every row would be held out (a single value?); nothing to fit on")
    train_df, test_df = data[~test], data[test]
    fit = fit_fn(train_df)
    if predict is None:
        if isinstance(fit, SumPowerLaw):
            pred = fit.predict(test_df[cols["N"]].to_numpy(float), test_df[cols["D"]].to_numpy(float))
        elif isinstance(fit, PowerLaw):
            pred = fit.predict(test_df[col].to_numpy(float))
        else:
            raise ValueError(f"predict: needed for a fit of type {type(fit).__name__}")
    else:
        pred = predict(fit, test_df)
    pred = np.asarray(pred, dtype=float)
    obs = vec(f"data[{y!r}]", test_df[y])
    are = float(np.mean(np.abs(pred - obs) / obs))
    return Backtest(are=are, by=by, holdout=holdout, threshold=threshold, n_train=int((~test).sum()),
                    n_test=int(test.sum()), obs=readonly(obs), pred=readonly(pred))
