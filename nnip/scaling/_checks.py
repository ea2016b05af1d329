"""Input validation shared by the fits: every check raises one :class:`ValueError` naming the argument."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def vec(name: str, values: Any, *, positive: bool = True) -> np.ndarray:
    """1-D finite float64 array (strictly positive when ``positive``), else ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: not convertible to a float array ({err})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {arr.size} values are NaN/inf (first at index "
                         f"{int(np.flatnonzero(bad)[0])})")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name}: must be > 0 (fits are in log space); {int((arr <= 0).sum())} values <= 0, "
                         f"min {arr.min():.4g}")
    return arr


def same_length(**arrays: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{', '.join(lengths)}: lengths differ ({', '.join(f'{k}={n}' for k, n in lengths.items())})")
    return next(iter(lengths.values()))


def need_points(n: int, n_params: int, what: str) -> None:
    if n < n_params:
        raise ValueError(f"{what}: {n} points for {n_params} parameters; need at least {n_params}")


def need_distinct(name: str, arr: np.ndarray, k: int = 2) -> None:
    if np.unique(arr).size < k:
        raise ValueError(f"{name}: needs at least {k} distinct values to fit an exponent, got {np.unique(arr).size}")


def readonly(arr: Any) -> np.ndarray | None:
    if arr is None:
        return None
    out = np.array(arr, copy=True)
    out.flags.writeable = False
    return out


def need_columns(name: str, df: pd.DataFrame, cols: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; has {list(df.columns)}")


def fit_params(fit: Any) -> dict[str, float]:
    if hasattr(fit, "params") and callable(fit.params):
        return dict(fit.params())
    if isinstance(fit, Mapping):
        return dict(fit)
    if dataclasses.is_dataclass(fit):
        return {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)
                if isinstance(getattr(fit, f.name), (int, float)) and not isinstance(getattr(fit, f.name), bool)}
    raise ValueError(f"fit_fn: returned {type(fit).__name__}, which has no params() / is not a mapping")
