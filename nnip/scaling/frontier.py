"""Loss–cost Pareto frontiers (§3.2, §4.1) and the curve preparation every fit starts from.

- :func:`prepare_curves` — sort each run by step, drop its first steps, EMA-smooth the loss (§3.2, footnote 5).
- :func:`pareto_frontier` — the lower envelope of loss against cost over all runs and all their evaluations.
- :func:`frontier_xy` — the same envelope on prepared arrays (the bootstrap's fast path, identical values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nnip.scaling._checks import need_columns

__all__ = ["prepare_curves", "pareto_frontier", "frontier_xy"]


def prepare_curves(curves: pd.DataFrame, x: str = "flops", y: str = "val_loss", drop_first: float = 0.0,
                   ema: float | None = None, group: str = "run_id") -> pd.DataFrame:
    """The evaluations a fit sees: each run sorted by ``step``, its first ``drop_first`` of steps dropped, ``y``
    EMA-smoothed — the first step of :func:`pareto_frontier`, :func:`~nnip.scaling.plan_from_curves` and the paper's
    fits (§3.2: "excluding the first 1%–10%"; footnote 5: EMA 0.9).

    Args:
        curves: one row per evaluation (``run_id, step, atoms_seen, flops, wall_s, val_loss, …``); without a
            ``step`` column, ``x`` orders each run.
        x, y: the cost and loss columns; both must be finite numbers on every row (``ValueError`` naming the runs).
        drop_first: fraction in [0, 1): rows with ``step < step_min + drop_first·(step_max − step_min)`` go.
        ema: ``None`` or a factor in [0, 1): ``s_t = ema·s_{t−1} + (1 − ema)·y_t``, ``s_0 = y_0``, per run, after
            ``drop_first``; the raw values are kept in ``f"{y}_raw"``.
        group: the run column.

    Returns:
        A new DataFrame (index reset) sorted by ``(group, step)``, every column kept.

    >>> df = pd.DataFrame({"run_id": "a", "step": [0, 1, 2, 3], "flops": [1.0, 2, 3, 4], "val_loss": [4.0, 3, 2, 1]})
    >>> prepare_curves(df, drop_first=0.5)["step"].tolist()
    [2, 3]
    """
    order = "step" if "step" in curves.columns else x
    need_columns("curves", curves, [x, y, group, order])
    if not 0.0 <= drop_first < 1.0:
        raise ValueError(f"drop_first: must be a fraction in [0, 1), got {drop_first}")
    if ema is not None and not 0.0 <= ema < 1.0:
        raise ValueError(f"ema: smoothing factor must be in [0, 1) (paper: 0.9, footnote 5), got {ema}")
    for col in (x, y):
        vals = pd.to_numeric(curves[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals)
        if bad.any():
            runs = sorted(map(str, curves.loc[bad, group].unique()))[:5]
            raise ValueError(f"curves[{col!r}]: {int(bad.sum())} NaN/inf/non-numeric values (runs {runs}); "
                             f"filter diverged evaluations out first")
    df = curves.sort_values([group, order], kind="stable").reset_index(drop=True)
    if drop_first > 0:
        steps = df[order].astype(float)
        first, last = df.groupby(group)[order].transform("min"), df.groupby(group)[order].transform("max")
        df = df[steps >= first + drop_first * (last - first)].reset_index(drop=True)
    if ema is not None:
        df[f"{y}_raw"] = df[y]
        df[y] = df.groupby(group)[y].transform(lambda s: s.ewm(alpha=1.0 - ema, adjust=False).mean())
    return df


def pareto_frontier(curves: pd.DataFrame, x: str = "flops", y: str = "val_loss", drop_first: float = 0.0,
                    ema: float | None = None, group: str = "run_id") -> pd.DataFrame:
    """Lower envelope of ``y`` vs ``x`` over all runs and all their intermediate evaluations (§4.1, Fig. 3).

    "For each compute budget, we select the minimum validation loss achieved across runs" — approach 1 of
    Hoffmann et al. (2022), fitted on intermediate checkpoints (Choshen et al. 2025, §3.2).

    Args:
        curves: one row per evaluation of a run (``run_id, step, atoms_seen, flops, wall_s, val_loss, …``).
        x, y: the cost and loss columns.
        drop_first: drop each run's first fraction of steps (paper: 0.01–0.10, §3.2): rows with
            ``step < step_min + drop_first·(step_max − step_min)``.
        ema: smoothing factor of an exponential moving average of each run's ``y`` (footnote 5: 0.9, i.e.
            ``s_t = 0.9 s_{t-1} + 0.1 y_t``, ``s_0 = y_0``), applied after ``drop_first``; the unsmoothed values
            are kept in ``f"{y}_raw"``.
        group: the run column.

    Returns:
        The frontier rows sorted by ``x`` (all columns kept); each row's ``y`` is strictly below every ``y`` at
        a smaller or equal ``x`` earlier in the sort.
    """
    df = prepare_curves(curves, x, y, drop_first, ema, group)
    df = df.sort_values([x, y], kind="stable").reset_index(drop=True)
    return df[_strictly_below_running_min(df[y].to_numpy(dtype=float))].reset_index(drop=True)


def _strictly_below_running_min(ys: np.ndarray) -> np.ndarray:
    """Mask of the points (sorted by cost) whose loss is strictly below every loss before them: the envelope."""
    prev_min = np.concatenate([[np.inf], np.minimum.accumulate(ys)[:-1]])
    return ys < prev_min


def frontier_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the Pareto frontier of points that are already prepared (:func:`prepare_curves`, finite): the
    same values in the same order as ``pareto_frontier(df, x, y)[[x, y]]`` on a prepared ``df`` with no further
    dropping or smoothing (rows that tie in both x and y are interchangeable), computed on arrays — what the
    bootstrap of a frontier fit runs on each of its ~1000 resamples, where the DataFrame sorts of
    :func:`pareto_frontier` took most of the time."""
    xv, yv = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    bad = ~(np.isfinite(xv) & np.isfinite(yv))
    if bad.any():
        raise ValueError(f"frontier_xy: {int(bad.sum())} NaN/inf values; filter diverged evaluations out first")
    order = np.lexsort((yv, xv))
    xs, ys = xv[order], yv[order]
    keep = _strictly_below_running_min(ys)
    return xs[keep], ys[keep]


# ----------------------------------------------------------------------------------------------------------
# Power law (eq. 4; App. H eq. 24)
# ----------------------------------------------------------------------------------------------------------
