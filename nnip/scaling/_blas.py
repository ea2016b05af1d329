"""Single-threaded OpenBLAS around the fits (ctypes; found as threadpoolctl does, without depending on it)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def openblas_thread_controls() -> tuple[tuple[Any, Any], ...]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process (numpy's and scipy's).

    Found like threadpoolctl does (``/proc/self/maps``); empty where that file does not exist (non-Linux).
    """
    try:
        with open("/proc/self/maps") as fh:
            paths = {ln.split()[-1] for ln in fh if "openblas" in ln.rsplit("/", 1)[-1].lower()}
    except OSError:
        return ()
    controls = []
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for base in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get, set_ = f"{base}_get_num_threads{suffix}", f"{base}_set_num_threads{suffix}"
                if hasattr(lib, get) and hasattr(lib, set_):
                    controls.append((getattr(lib, get), getattr(lib, set_)))
                    break
            else:
                continue
            break
    return tuple(controls)


@contextlib.contextmanager
def single_threaded_blas():
    """Run BLAS single-threaded: the fits make thousands of tiny BLAS calls (inside scipy's L-BFGS-B) for which
    OpenBLAS's thread hand-off costs more than the work — up to ~70x slower on a busy 2-core machine."""
    controls = openblas_thread_controls()
    old = [get() for get, _ in controls]
    for _, set_ in controls:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(controls, old):
            set_(n)

