"""The two laws of the paper, fitted in log space.

- :func:`fit_power_law` — ``L = L∞ + F x^{-γ}`` (eq. 4; also App. H eq. 24 with a fixed offset ``L_D``).
- :func:`fit_sum_power_law` — ``L = E + A N^{-α} + B D^{-β}`` (eq. 5, §4.2; approach 3 of Hoffmann et al. 2022):
  Huber loss on log residuals, L-BFGS-B with analytic gradients from a grid of starts.

Both return a frozen result that keeps its data and residuals and has ``predict`` and ``params()``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import optimize

from nnip.scaling import _lbfgsb, _memo
from nnip.scaling._blas import single_threaded_blas
from nnip.scaling._checks import need_distinct, need_points, readonly, same_length, vec

if TYPE_CHECKING:
    from nnip.scaling.backtest import Backtest

__all__ = ["PowerLaw", "fit_power_law", "SumPowerLaw", "fit_sum_power_law"]


@dataclass(frozen=True, eq=False)
class PowerLaw:
    """``L(x) = L∞ + F x^{-γ}`` (eq. 4). ``residuals`` are ``log y − log L(x)``."""

    F: float
    gamma: float
    l_inf: float
    x: np.ndarray
    y: np.ndarray
    residuals: np.ndarray
    l_inf_fitted: bool = False
    backtest: Backtest | None = None

    def predict(self, x: Any) -> np.ndarray:
        return self.l_inf + self.F * np.asarray(x, dtype=float) ** (-self.gamma)

    def params(self) -> dict[str, float]:
        return {"F": self.F, "gamma": self.gamma, "l_inf": self.l_inf}

    def with_backtest(self, bt: Backtest) -> PowerLaw:
        return dataclasses.replace(self, backtest=bt)


def fit_power_law(x: Any, y: Any, l_inf: float | None = 0.0) -> PowerLaw:
    """Fit ``y = L∞ + F x^{-γ}`` (eq. 4, §4.1) in log space.

    ``l_inf`` a number (default 0, "we set L∞ ≈ 0"; or App. H eq. (24)'s fixed ``L_D``): ordinary least squares
    of ``log(y − L∞)`` on ``log x``. ``l_inf=None``: L∞ is fitted too, with ``0 ≤ L∞ < min(y)``, by least
    squares on ``log y − log(L∞ + F x^{-γ})`` (scipy ``least_squares``, analytic Jacobian, a few starts).
    ``F`` is in the units of ``x``: pass ``flops / 1e15`` for Table 1's F_c (C in PFLOPs), ``wall_s / 3600`` for
    F_h (GPU-hours).
    """
    xv, yv = vec("x", x), vec("y", y)
    n = same_length(x=xv, y=yv)
    fitted = l_inf is None
    need_points(n, 3 if fitted else 2, "x, y")
    need_distinct("x", xv)
    lx = np.log(xv)
    c = lx.mean()  # centre log x for conditioning; F = F' e^{γ c}
    u = lx - c

    def linear(offset: float) -> tuple[float, float]:
        slope, icpt = np.polyfit(u, np.log(yv - offset), 1)
        return icpt, -slope  # (log F', γ)

    if l_inf is not None:
        l_inf = float(l_inf)
        if not math.isfinite(l_inf) or l_inf < 0:
            raise ValueError(f"l_inf: must be a finite number >= 0 or None, got {l_inf}")
        if l_inf >= yv.min():
            raise ValueError(f"l_inf: fixed L∞={l_inf:.4g} must be below min(y)={yv.min():.4g}")
        log_f, gamma = linear(l_inf)
    else:
        hi = yv.min() * (1.0 - 1e-9)
        ly = np.log(yv)

        def resid(p: np.ndarray) -> np.ndarray:
            return ly - np.log(p[0] + np.exp(p[1] - p[2] * u))

        def jac(p: np.ndarray) -> np.ndarray:
            t = np.exp(p[1] - p[2] * u)
            pred = p[0] + t
            return np.stack([-1.0 / pred, -t / pred, t * u / pred], axis=1)

        best = None
        with single_threaded_blas():
            for frac in (0.0, 0.5, 0.9):
                p0 = np.array([frac * hi, *linear(frac * hi)])
                p0[2] = max(p0[2], 1e-6)
                res = optimize.least_squares(resid, p0, jac=jac, bounds=([0.0, -np.inf, 0.0], [hi, np.inf, np.inf]),
                                             x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12)
                if best is None or res.cost < best.cost:
                    best = res
        l_inf, log_f, gamma = (float(v) for v in best.x)
    F = float(np.exp(log_f + gamma * c))
    fit = PowerLaw(F=F, gamma=float(gamma), l_inf=float(l_inf), x=readonly(xv), y=readonly(yv),
                   residuals=readonly(np.zeros(n)), l_inf_fitted=fitted)
    return dataclasses.replace(fit, residuals=readonly(np.log(yv) - np.log(fit.predict(xv))))


# ----------------------------------------------------------------------------------------------------------
# Sum-power-law (eq. 5, approach 3 of Hoffmann et al. 2022)
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SumPowerLaw:
    """``L(N, D) = E + A N^{-α} + B D^{-β}`` (eq. 5). ``residuals`` = ``log L̂ − log L``; ``loss`` = Huber sum."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    N: np.ndarray
    D: np.ndarray
    L: np.ndarray
    residuals: np.ndarray
    loss: float
    huber_delta: float
    l_inf_fitted: bool = False
    run_id: np.ndarray | None = None
    converged: bool = True
    backtest: Backtest | None = None

    def predict(self, N: Any, D: Any) -> np.ndarray:
        lN, lD = np.log(np.asarray(N, dtype=float)), np.log(np.asarray(D, dtype=float))
        return self.E + np.exp(np.log(self.A) - self.alpha * lN) + np.exp(np.log(self.B) - self.beta * lD)

    def params(self) -> dict[str, float]:
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta,
                "log10_A": math.log10(self.A), "log10_B": math.log10(self.B)}

    def with_backtest(self, bt: Backtest) -> SumPowerLaw:
        return dataclasses.replace(self, backtest=bt)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    """``r²/2`` for ``|r| ≤ δ``, ``δ(|r| − δ/2)`` beyond; equal to ``c (r − c/2)`` with ``c = clip(r, −δ, δ)``."""
    c = np.clip(r, -delta, delta)
    return c * (r - 0.5 * c)


def _lse_batch(theta: np.ndarray, u: np.ndarray, v: np.ndarray, e_const: float | None) -> np.ndarray:
    """log L̂ for many parameter rows at once: theta (k, 4|5) = (a', b', α, β[, e]) → (k, n)."""
    t1 = theta[:, 0:1] - theta[:, 2:3] * u
    t2 = theta[:, 1:2] - theta[:, 3:4] * v
    terms = [t1, t2]
    if theta.shape[1] == 5:
        terms.append(np.broadcast_to(theta[:, 4:5], t1.shape))
    elif e_const is not None:
        terms.append(np.full_like(t1, e_const))
    m = np.maximum.reduce(terms)
    return m + np.log(sum(np.exp(t - m) for t in terms))


def _sum_pl_objective(theta: np.ndarray, u: np.ndarray, v: np.ndarray, logL: np.ndarray, delta: float,
                      e_const: float | None = None) -> tuple[float, np.ndarray]:
    """Huber loss of log residuals and its analytic gradient w.r.t. theta = (a', b', α, β[, e]).

    With ``t1 = a' − α u``, ``t2 = b' − β v``, ``t3 = e`` and softmax weights ``w_k = e^{t_k}/Σ e^{t_j}``:
    ``∂LSE/∂a' = w1, ∂/∂α = −w1 u, ∂/∂b' = w2, ∂/∂β = −w2 v, ∂/∂e = w3``; ``huber'(r) = clip(r, −δ, δ)``.
    """
    t1 = theta[0] - theta[2] * u
    t2 = theta[1] - theta[3] * v
    fit_e = theta.size == 5
    if fit_e or e_const is not None:
        t3 = theta[4] if fit_e else e_const
        m = np.maximum(np.maximum(t1, t2), t3)
        w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(t3 - m)
        s = w1 + w2 + w3
    else:
        m = np.maximum(t1, t2)
        w1, w2 = np.exp(t1 - m), np.exp(t2 - m)
        s = w1 + w2
    r = m + np.log(s) - logL
    c = np.clip(r, -delta, delta)  # huber'(r)
    f = float(c @ (r - 0.5 * c))
    g = c / s
    g1, g2 = g * w1, g * w2
    grad = [g1.sum(), g2.sum(), -(g1 @ u), -(g2 @ v)]
    if fit_e:
        grad.append(g @ w3)
    return f, np.array(grad)


#: Default exponent grid for α and β (each pair gets its best linear coefficients, see ``_projected_starts``).
_EXPONENT_GRID = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0])


def _projected_starts(u: np.ndarray, v: np.ndarray, Lv: np.ndarray, fit_e: bool, l_inf: float) -> np.ndarray:
    """Default starts: for every (α, β) on :data:`_EXPONENT_GRID` (14 × 14), the coefficients (A', B'[, E]) of
    ``L ≈ A' e^{-αu} + B' e^{-βv} [+ E]`` minimising ``Σ ((L̂ − L)/L)²`` (≈ squared log residuals, and linear
    in the coefficients: variable projection). The normal equations of all pairs come from products of the
    per-α and per-β basis vectors, so the whole grid costs a few small matrix products.
    Returns (k, 4|5) rows (a', b', α, β[, e])."""
    g = _EXPONENT_GRID
    k = g.size
    w = 1.0 / Lv  # rows weighted by 1/L: (L̂ − L)/L
    X = np.exp(-g[:, None] * u) * w  # (k, n), per α
    Y = np.exp(-g[:, None] * v) * w  # (k, n), per β
    t = (Lv - l_inf) * w
    p = 3 if fit_e else 2
    M = np.empty((k, k, p, p))
    rhs = np.empty((k, k, p))
    M[..., 0, 0] = (X * X).sum(1)[:, None]
    M[..., 1, 1] = (Y * Y).sum(1)[None, :]
    M[..., 0, 1] = M[..., 1, 0] = X @ Y.T
    rhs[..., 0] = (X @ t)[:, None]
    rhs[..., 1] = (Y @ t)[None, :]
    if fit_e:
        M[..., 0, 2] = M[..., 2, 0] = (X @ w)[:, None]
        M[..., 1, 2] = M[..., 2, 1] = (Y @ w)[None, :]
        M[..., 2, 2] = w @ w
        rhs[..., 2] = t @ w
    M += 1e-12 * np.eye(p)
    coef = np.linalg.solve(M, rhs[..., None])[..., 0].reshape(k * k, p)
    floor = 1e-6 * Lv.min()  # a negative coefficient: clamp, the start then just scores badly
    alpha, beta = np.repeat(g, k), np.tile(g, k)
    starts = [np.log(np.maximum(coef[:, 0], floor)), np.log(np.maximum(coef[:, 1], floor)), alpha, beta]
    if fit_e:
        starts.append(np.log(np.clip(coef[:, 2], floor, Lv.min())))
    return np.stack(starts, 1)


def fit_sum_power_law(N: Any, D: Any, L: Any, huber_delta: float = 1e-3, l_inf: float | None = 0.0,
                      grid: Mapping[str, Any] | None = None, run_id: Any = None, n_refine: int = 2) -> SumPowerLaw:
    """Fit ``L(N, D) = E + A N^{-α} + B D^{-β}`` (eq. 5, §4.2) by approach 3 of Hoffmann et al. (2022).

    ``log L̂ = LSE(a − α log N, b − β log D, e)`` with ``A = e^a, B = e^b, E = e^e``; minimise
    ``Σ_i Huber_δ(log L̂_i − log L_i)`` (δ = 1e-3) with L-BFGS-B and analytic gradients. Internally
    ``log N`` and ``log D`` are centred (``a' = a − α·mean log N``), which leaves the objective unchanged and
    conditions it. All grid starts are scored at once (vectorised); the ``n_refine`` best are refined and the
    best refined optimum is kept. About 10 ms for 250 points (``benchmarks/bench_fit.py``).

    Args:
        N, D, L: parameters, training atoms seen and validation loss, one entry per evaluation (all > 0).
        huber_delta: δ of the Huber loss on log residuals.
        l_inf: ``0.0`` (default; "we found L∞ ≈ 0", drops the e term), a fixed ``E > 0``, or ``None`` to fit it
            (bounded to ``1e-6·min L ≤ E ≤ min L``; the lower bound reads as E ≈ 0).
        grid: starts as ``{"a": [...], "b": [...], "alpha": [...], "beta": [...][, "e": [...]]}`` in the
            paper's parameterisation (a = ln A, b = ln B, e = ln E; Hoffmann et al.'s is a, b ∈ {0, 5, …, 25},
            α, β ∈ {0, 0.5, …, 2}); default: 14 × 14 (α, β) pairs from 0.02 to 2, each with its best
            (A, B[, E]) from a weighted linear least-squares fit (variable projection, ``_projected_starts``).
        run_id: optional run labels, stored on the result (bootstrap resamples whole runs, App. E).
        n_refine: how many of the best grid starts to refine.
    """
    Nv, Dv, Lv = vec("N", N), vec("D", D), vec("L", L)
    n = same_length(N=Nv, D=Dv, L=Lv)
    fit_e = l_inf is None
    need_points(n, 5 if fit_e else 4, "N, D, L")
    need_distinct("N", Nv)
    need_distinct("D", Dv)
    if not (isinstance(huber_delta, (int, float)) and huber_delta > 0 and math.isfinite(huber_delta)):
        raise ValueError(f"huber_delta: must be a finite number > 0, got {huber_delta!r}")
    e_const = None
    if not fit_e:
        l_inf = float(l_inf)
        if not math.isfinite(l_inf) or l_inf < 0:
            raise ValueError(f"l_inf: must be a finite number >= 0 or None, got {l_inf}")
        if l_inf >= Lv.min():
            raise ValueError(f"l_inf: fixed E={l_inf:.4g} must be below min(L)={Lv.min():.4g}")
        e_const = math.log(l_inf) if l_inf > 0 else None
    if run_id is not None:
        run_id = np.asarray(run_id)
        same_length(N=Nv, run_id=run_id)
    lN, lD, logL = np.log(Nv), np.log(Dv), np.log(Lv)
    cN, cD = lN.mean(), lD.mean()
    u, v = lN - cN, lD - cD

    memo_key = None
    if grid is None:  # a book build shares these optima across notebooks (nnip.scaling._memo; off by default)
        memo_key = _memo.key("sum_power_law", Nv, Dv, Lv, float(huber_delta), l_inf, int(n_refine))
        hit = _memo.get(memo_key)
    if memo_key is not None and hit is not None:
        best = optimize.OptimizeResult(fun=hit[0], success=bool(hit[1]), x=hit[2:])
    else:
        with single_threaded_blas():
            best = _minimise_sum_power_law(u, v, Lv, logL, cN, cD, huber_delta, fit_e, e_const, l_inf, grid,
                                           n_refine)
        if memo_key is not None:
            _memo.put(memo_key, np.concatenate([[best.fun, float(best.success)], best.x]))
    th = best.x
    a, b = th[0] + th[2] * cN, th[1] + th[3] * cD
    E = math.exp(th[4]) if fit_e else float(l_inf)
    fit = SumPowerLaw(E=E, A=math.exp(a), B=math.exp(b), alpha=float(th[2]), beta=float(th[3]),
                      N=readonly(Nv), D=readonly(Dv), L=readonly(Lv), residuals=readonly(np.zeros(n)),
                      loss=float(best.fun), huber_delta=float(huber_delta), l_inf_fitted=fit_e,
                      run_id=readonly(run_id), converged=bool(best.success))
    return dataclasses.replace(fit, residuals=readonly(np.log(fit.predict(Nv, Dv)) - logL))


def _minimise_sum_power_law(u, v, Lv, logL, cN, cD, huber_delta, fit_e, e_const, l_inf, grid, n_refine):
    """Score every start at once, refine the ``n_refine`` best with L-BFGS-B; return the best scipy result."""
    if grid is None:
        starts = _projected_starts(u, v, Lv, fit_e, 0.0 if fit_e else float(l_inf))
    else:
        keys = ["a", "b", "alpha", "beta"] + (["e"] if fit_e else [])
        if not isinstance(grid, Mapping) or any(k not in grid for k in keys):
            raise ValueError(f"grid: expected a mapping with keys {keys}, got {grid!r}")
        axes = [np.atleast_1d(np.asarray(grid[k], dtype=float)) for k in keys]
        starts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(keys))
        starts[:, 0] -= starts[:, 2] * cN  # to centred coordinates
        starts[:, 1] -= starts[:, 3] * cD
    scores = _huber(_lse_batch(starts, u, v, e_const) - logL, huber_delta).sum(1)
    scores[~np.isfinite(scores)] = np.inf
    best_starts = starts[np.argsort(scores, kind="stable")[: max(1, n_refine)]]

    # E in [1e-6 min L, min L]: e would otherwise creep towards -inf when L∞ ≈ 0 (slow, and E ≈ 0 either way)
    e_bounds = [(logL.min() - 6 * math.log(10), logL.min())] if fit_e else []
    bounds = [(None, None), (None, None), (0.0, 10.0), (0.0, 10.0)] + e_bounds
    best = None
    for x0 in best_starts:
        # scipy.optimize.minimize(..., jac=True, method="L-BFGS-B", ...) to the bit, without its per-evaluation
        # wrappers (two thirds of the fitting time; nnip.scaling._lbfgsb)
        res = _lbfgsb.minimize(_sum_pl_objective, x0, args=(u, v, logL, huber_delta, e_const), bounds=bounds,
                               maxiter=1000, ftol=1e-12, gtol=1e-8)
        if best is None or res.fun < best.fun:
            best = res
    return best
