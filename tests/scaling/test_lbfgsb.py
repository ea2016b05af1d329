"""nnip.scaling._lbfgsb: the eq. (5) fits' L-BFGS-B without scipy.optimize.minimize's wrappers gives the very same
result, bit for bit: the sum-power-law objective from every grid start of real fits (the committed cpu store's
curves) and of random synthetic laws, with and without a fitted E, and on a bounded quadratic that ends at bounds."""

import numpy as np
import pytest
from scipy import optimize

from nnip.scaling import _lbfgsb
from nnip.scaling import laws

pytestmark = pytest.mark.skipif(not _lbfgsb.available(), reason="the direct driver is for the pinned scipy only")

FIELDS = ("fun", "nit", "nfev", "status", "success", "message")


def _same(fun, x0, args, bounds, **options):
    ref = optimize.minimize(fun, x0, args=args, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    got = _lbfgsb.minimize(fun, x0, args=args, bounds=bounds, **options)
    assert np.array_equal(got.x, ref.x), (got.x, ref.x)
    assert np.array_equal(got.jac, ref.jac)
    for f in FIELDS:
        assert getattr(got, f) == getattr(ref, f), (f, getattr(got, f), getattr(ref, f))
    return got


def _sum_law_problems(N, D, L, fit_e, delta=1e-3):
    lN, lD, logL = np.log(N), np.log(D), np.log(L)
    u, v = lN - lN.mean(), lD - lD.mean()
    starts = laws._projected_starts(u, v, L, fit_e, 0.0)
    e_bounds = [(logL.min() - 6 * np.log(10), logL.min())] if fit_e else []
    bounds = [(None, None), (None, None), (0.0, 10.0), (0.0, 10.0)] + e_bounds
    return starts, (u, v, logL, delta, None), bounds


@pytest.mark.parametrize("fit_e", [False, True])
def test_random_sum_power_laws_every_start(fit_e):
    rng = np.random.default_rng(7)
    for _ in range(2):
        N = np.repeat(np.exp(rng.uniform(8, 14, 6)), 8)
        D = np.tile(np.exp(np.linspace(10, 16, 8)), 6) * rng.uniform(0.9, 1.1, 48)
        L = (rng.uniform(0.0, 0.2) + rng.uniform(5, 50) * N ** -rng.uniform(0.1, 0.6)
             + rng.uniform(5, 50) * D ** -rng.uniform(0.1, 0.6)) * np.exp(rng.normal(0, 0.02, 48))
        starts, args, bounds = _sum_law_problems(N, D, L, fit_e)
        for x0 in starts[::24]:
            _same(laws._sum_pl_objective, x0, args, bounds, maxiter=1000, ftol=1e-12, gtol=1e-8)


def test_the_committed_main_study_fits():
    """The MPNN's eq. (5) fit of the committed cpu store (the scorecard's), from its 6 best grid starts."""
    from nnip.paper.main import main_study

    curves = main_study("cpu", "results", False, archs="mpnn")
    c = curves[curves["step"] > 0]
    N, D, L = (c[k].to_numpy(float) for k in ("params", "atoms_seen", "val_loss"))
    starts, args, bounds = _sum_law_problems(N, D, L, False)
    scores = laws._huber(laws._lse_batch(starts, args[0], args[1], None) - args[2], 1e-3).sum(1)
    for x0 in starts[np.argsort(scores, kind="stable")[:6]]:
        _same(laws._sum_pl_objective, x0, args, bounds, maxiter=1000, ftol=1e-12, gtol=1e-8)


def test_bounds_iteration_and_evaluation_limits():
    """A quadratic whose optimum lies outside the box (ends on bounds of every kind), a start outside the box
    (clipped), and the maxiter stop: all as scipy."""

    def quad(x, c):
        return float(((x - c) ** 2).sum()), 2 * (x - c)

    c = np.array([3.0, -3.0, 0.5, 7.0])
    bounds = [(None, 1.0), (-1.0, None), (0.0, 1.0), (None, None)]
    _same(quad, np.array([5.0, -5.0, 2.0, 0.0]), (c,), bounds)
    _same(quad, np.zeros(4), (c,), None)
    stopped = _same(quad, np.array([0.1, 0.1, 0.1, 0.1]), (c * 100,), bounds, maxiter=1)
    assert not stopped.success
    with pytest.raises(ValueError, match="length of x0"):
        _lbfgsb.minimize(quad, np.zeros(3), (c,), bounds)
