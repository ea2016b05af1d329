"""nnip.scaling.laws: the power law of eq. (4) and the sum-power-law of eq. (5)."""

import numpy as np
import pytest

from nnip.scaling import fit_power_law, fit_sum_power_law, laws
from tests.scaling._data import TRUE, sum_law_runs


def test_power_law_noiseless_exact():
    x = np.geomspace(1e-2, 1e3, 20)
    fit = fit_power_law(x, 0.9 * x**-0.15)
    assert fit.F == pytest.approx(0.9, rel=1e-10) and fit.gamma == pytest.approx(0.15, rel=1e-10)
    assert np.allclose(fit.residuals, 0, atol=1e-12) and fit.l_inf == 0.0
    assert np.allclose(fit.predict(x), 0.9 * x**-0.15)


def test_power_law_l_inf_fitted_and_fixed():
    x = np.geomspace(1e10, 1e16, 30)
    y = 0.1 + 2e3 * x**-0.3
    fit = fit_power_law(x, y, l_inf=None)
    assert fit.l_inf_fitted
    assert fit.l_inf == pytest.approx(0.1, rel=1e-4) and fit.gamma == pytest.approx(0.3, rel=1e-4)
    fixed = fit_power_law(x, y, l_inf=0.1)  # App. H eq. (24): L − L_D = A N^−α
    assert fixed.F == pytest.approx(2e3, rel=1e-8) and not fixed.l_inf_fitted


@pytest.mark.parametrize("E", [0.0, 0.05])
def test_sum_power_law_noiseless_exact(E):
    df = sum_law_runs(noise=0.0, E=E)
    fit = fit_sum_power_law(df.params, df.atoms_seen, df.val_loss, l_inf=None if E else 0.0)
    assert fit.alpha == pytest.approx(TRUE["alpha"], rel=1e-3) and fit.beta == pytest.approx(TRUE["beta"], rel=1e-3)
    assert fit.A == pytest.approx(TRUE["A"], rel=1e-2) and fit.B == pytest.approx(TRUE["B"], rel=1e-2)
    assert fit.E == pytest.approx(E, abs=1e-3)
    assert np.abs(fit.residuals).max() < 1e-4
    assert np.allclose(fit.predict(df.params, df.atoms_seen), df.val_loss, rtol=1e-4)


def test_sum_power_law_explicit_grid_matches_default():
    df = sum_law_runs(noise=0.01)
    grid = {"a": [0, 5, 10], "b": [0, 5, 10], "alpha": [0.1, 0.5, 1.0], "beta": [0.1, 0.5, 1.0]}  # Hoffmann-style
    f1 = fit_sum_power_law(df.params, df.atoms_seen, df.val_loss)
    f2 = fit_sum_power_law(df.params, df.atoms_seen, df.val_loss, grid=grid)
    assert f2.loss == pytest.approx(f1.loss, rel=1e-6) and f2.alpha == pytest.approx(f1.alpha, rel=1e-4)


@pytest.mark.parametrize("delta", [1e-3, 10.0])
@pytest.mark.parametrize("mode", ["no_e", "fit_e", "fixed_e"])
def test_analytic_gradient_matches_finite_differences(delta, mode):
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 1.5, 40), rng.normal(0, 2.0, 40)
    logL = np.log(rng.uniform(0.1, 1.0, 40))
    theta = np.array([-1.0, -1.3, 0.4, 0.3] + ([-3.0] if mode == "fit_e" else []))
    e_const = np.log(0.02) if mode == "fixed_e" else None
    f, g = laws._sum_pl_objective(theta, u, v, logL, delta, e_const)
    h, num = 1e-6, np.zeros_like(theta)
    for k in range(theta.size):
        step = np.zeros_like(theta)
        step[k] = h
        num[k] = (laws._sum_pl_objective(theta + step, u, v, logL, delta, e_const)[0]
                  - laws._sum_pl_objective(theta - step, u, v, logL, delta, e_const)[0]) / (2 * h)
    assert np.allclose(g, num, rtol=1e-5, atol=1e-8)
    batch = laws._huber(laws._lse_batch(theta[None], u, v, e_const) - logL, delta).sum()
    assert f == pytest.approx(batch, rel=1e-12)
