"""L-BFGS-B for the eq. (5) fits without ``scipy.optimize.minimize``'s per-evaluation wrappers: the same iterates.

``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=...)`` drives scipy's compiled L-BFGS-B
routine (``scipy.optimize._lbfgsb.setulb``) from a Python loop and wraps the objective in a ``ScalarFunction``
(a copy of ``x``, ``np.array_equal`` against the last point, ``MemoizeJac``, ``atleast_nd``, ``astype``) at every
evaluation. For the sum-power-law fits of the book (1000 bootstrap resamples × 2 refinements per architecture, ~80
evaluations each, of a 4-parameter objective that itself costs ~10 µs) those wrappers took about two thirds of
the fitting time (``cProfile`` of the cpu book's pages: 2.3 M evaluations, 174 s in ``_minimize_lbfgsb`` of which
52 s in the objective and 11 s in ``setulb``).

:func:`minimize` is that loop of scipy 1.17.1 (``scipy/optimize/_lbfgsb_py.py``, ``_minimize_lbfgsb``) with the
objective called directly: the same routine, the same bounds encoding, the same ``f`` and ``g`` handed to it at the
same points, so the same iterates and the same result to the bit (``tests/scaling/test_lbfgsb.py`` compares ``x``,
``fun``, ``nit``, ``nfev`` and ``success`` with ``scipy.optimize.minimize`` on real and random fits). It relies on
the private ``setulb`` signature of that scipy release, so it is used only with the pinned version
(:data:`SCIPY_VERSION`); any other scipy goes through ``scipy.optimize.minimize`` (:func:`minimize` does that
itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy
from scipy import optimize

#: the scipy release whose L-BFGS-B driver loop :func:`minimize` reproduces (requirements.txt pins it)
SCIPY_VERSION = "1.17.1"


def available() -> bool:
    """Whether the direct driver is used (the installed scipy is :data:`SCIPY_VERSION`)."""
    return scipy.__version__ == SCIPY_VERSION


def minimize(fun_and_grad: Callable[..., tuple[float, np.ndarray]], x0: np.ndarray, args: tuple = (),
             bounds: Sequence[tuple[float | None, float | None]] | None = None, maxiter: int = 15000,
             ftol: float = 2.2204460492503131e-09, gtol: float = 1e-5, maxcor: int = 10, maxls: int = 20,
             maxfun: int = 15000) -> optimize.OptimizeResult:
    """``scipy.optimize.minimize(fun_and_grad, x0, args, jac=True, method="L-BFGS-B", bounds=bounds,
    options=dict(maxiter=..., ftol=..., gtol=..., maxcor=..., maxls=..., maxfun=...))``, with the same result
    (``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``status``, ``success``, ``message``; no ``hess_inv``)."""
    if not available():
        return optimize.minimize(fun_and_grad, x0, args=args, jac=True, method="L-BFGS-B", bounds=bounds,
                                 options={"maxiter": maxiter, "ftol": ftol, "gtol": gtol, "maxcor": maxcor,
                                          "maxls": maxls, "maxfun": maxfun})
    from scipy.optimize import _lbfgsb  # private: the compiled routine, signature of SCIPY_VERSION

    m, pgtol, factr = maxcor, gtol, ftol / np.finfo(float).eps
    x0 = np.asarray(x0).ravel()
    (n,) = x0.shape
    nbd = np.zeros(n, np.int32)
    low_bnd = np.zeros(n, np.float64)
    upper_bnd = np.zeros(n, np.float64)
    if bounds is not None:
        if len(bounds) != n:
            raise ValueError("length of x0 != length of bounds")
        lb = np.array([-np.inf if lo is None else lo for lo, _ in bounds], dtype=float)
        ub = np.array([np.inf if hi is None else hi for _, hi in bounds], dtype=float)
        if (lb > ub).any():
            raise ValueError("LBFGSB - one of the lower bounds is greater than an upper bound.")
        x0 = np.clip(x0, lb, ub)
        for i in range(n):  # scipy's encoding: 0 free, 1 lower only, 2 both, 3 upper only
            has_lo, has_hi = not np.isinf(lb[i]), not np.isinf(ub[i])
            if has_lo:
                low_bnd[i] = lb[i]
            if has_hi:
                upper_bnd[i] = ub[i]
            nbd[i] = {(False, False): 0, (True, False): 1, (True, True): 2, (False, True): 3}[has_lo, has_hi]
    if not maxls > 0:
        raise ValueError("maxls must be positive.")
    x = np.array(x0, dtype=np.float64)
    f = np.array(0.0, dtype=np.float64)
    g = np.zeros((n,), dtype=np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    # scipy's ScalarFunction evaluates x0 when it is built (nfev 1) and then serves the routine's first request,
    # at x0, from that memo; later requests are new points (the routine never asks twice for the same x)
    last_x, last = None, None
    nfev = 0
    n_iterations = 0
    while True:
        g = g.astype(np.float64)
        _lbfgsb.setulb(m, x, low_bnd, upper_bnd, nbd, f, g, factr, pgtol, wa, iwa, task, lsave, isave, dsave,
                       maxls, ln_task)
        if task[0] == 3:  # f and g at the current x
            if last_x is None or not np.array_equal(x, last_x):
                fx, gx = fun_and_grad(np.copy(x), *args)
                nfev += 1
                if not np.isscalar(fx):
                    fx = np.asarray(fx).item()
                last_x, last = np.array(x, dtype=np.float64), (fx, np.atleast_1d(gx).astype(np.float64))
            f, g = last
        elif task[0] == 1:  # a new iteration
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > maxfun:
                task[0], task[1] = 5, 502
        else:
            break
    if task[0] == 4:
        warnflag = 0
    elif nfev > maxfun or n_iterations >= maxiter:
        warnflag = 1
    else:
        warnflag = 2
    from scipy.optimize._lbfgsb_py import status_messages, task_messages  # private: scipy's own messages

    msg = status_messages[task[0]] + ": " + task_messages[task[1]]
    return optimize.OptimizeResult(fun=f, jac=g, nfev=nfev, njev=nfev, nit=n_iterations, status=warnflag,
                                   message=msg, x=x, success=(warnflag == 0))
