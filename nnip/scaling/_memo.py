"""An optional cross-process memo of optimiser results, so that notebooks of one book build share their fits.

Five pages of the book (Fig. 5, Fig. 6, Tables 1 and 7, the scorecard) bootstrap the same eq. (5) fit over the
same resamples (same data, ``n_boot`` and seed): 1000 L-BFGS-B fits per architecture, recomputed in every
notebook's kernel. With ``NNIP_FIT_CACHE=<file>`` set, :func:`nnip.scaling.fit_sum_power_law` stores each
optimum under a hash of its exact inputs in that SQLite file and reads it back instead of minimising again; the
stored numbers are the optimiser's float64 results, so a hit returns a fit bit-identical to a fresh one
(``tests/scaling/test_memo.py``). The key also hashes the source of :mod:`nnip.scaling.laws` and the numpy and
scipy versions, so an edited fit never reads an old optimum. The same memo holds the parameter counts of the
ablation ladders' models (:func:`nnip.paper.ladders.n_params`, keyed also by the models' source).

Unset (the default) or ``off``, nothing is cached. ``python -m nnip.book`` sets it to a file of its own that lives for one
build (so the cache is never older than the build that reads it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import scipy

__all__ = ["ENV", "key", "get", "put"]

#: environment variable naming the SQLite file of the memo (unset: no memo)
ENV = "NNIP_FIT_CACHE"
#: its value that turns the memo off (also for a book build, which otherwise makes one)
OFF = "off"


@functools.lru_cache(maxsize=1)
def _code_version() -> bytes:
    from nnip.scaling import laws  # here, not at the top: laws imports this module (a cycle)

    h = hashlib.sha256(Path(laws.__file__).read_bytes())
    h.update(f"numpy {np.__version__} scipy {scipy.__version__}".encode())
    return h.digest()


def key(kind: str, *parts) -> str:
    """A hex digest of ``kind``, the code version and ``parts`` (numpy arrays by dtype, shape and bytes; anything
    else by ``repr``)."""
    h = hashlib.sha256(_code_version())
    h.update(kind.encode())
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"|{a.dtype.str}{a.shape}|".encode())
            h.update(a.tobytes())
        else:
            h.update(f"|{p!r}|".encode())
    return h.hexdigest()


_connections: dict[str, sqlite3.Connection] = {}


def _db() -> sqlite3.Connection | None:
    path = os.environ.get(ENV)
    if not path or path == OFF:
        return None
    con = _connections.get(path)
    if con is None:
        con = sqlite3.connect(path, timeout=60.0, isolation_level=None)  # autocommit
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")  # a cache: losing it on a crash costs time, not correctness
        con.execute("CREATE TABLE IF NOT EXISTS fits (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        _connections[path] = con
    return con


def get(k: str) -> np.ndarray | None:
    """The float64 array stored under ``k``, or ``None`` (also when no memo is configured)."""
    con = _db()
    if con is None:
        return None
    row = con.execute("SELECT value FROM fits WHERE key = ?", (k,)).fetchone()
    return None if row is None else np.frombuffer(row[0], dtype=np.float64).copy()


def put(k: str, value: np.ndarray) -> None:
    """Store ``value`` (as float64) under ``k``; a no-op when no memo is configured."""
    con = _db()
    if con is None:
        return
    con.execute("INSERT OR IGNORE INTO fits VALUES (?, ?)", (k, np.asarray(value, dtype=np.float64).tobytes()))


def close() -> None:
    """Close this process's connections (e.g. before the memo file is removed)."""
    for con in _connections.values():
        with contextlib.suppress(sqlite3.Error):
            con.close()
    _connections.clear()
