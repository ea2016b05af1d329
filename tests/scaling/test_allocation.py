"""nnip.scaling.allocation: compute-optimal allocation (eq. 6–7, Table 1) and κ (eq. 3)."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from nnip.scaling import PAPER, compute_optimal, fit_kappa, paper_params


@pytest.mark.parametrize("arch", list(PAPER))
def test_compute_optimal_matches_numerical_minimisation(arch):
    p, kappa = paper_params(arch), PAPER[arch]["kappa"]
    co = compute_optimal(p, kappa)
    for C in (1e15, 1e18, 1e21):
        def loss(logN):
            N = np.exp(logN)
            return p["A"] * N ** -p["alpha"] + p["B"] * (C / (3 * kappa * N)) ** -p["beta"]
        res = minimize_scalar(loss, bounds=(0, 60), method="bounded", options={"xatol": 1e-10})
        assert co.N_opt(C) == pytest.approx(np.exp(res.x), rel=1e-5)
        assert co.D_opt(C) == pytest.approx(C / (3 * kappa * np.exp(res.x)), rel=1e-5)
        assert co.loss(C) == pytest.approx(res.fun, rel=1e-9)
        assert 3 * kappa * co.N_opt(C) * co.D_opt(C) == pytest.approx(C, rel=1e-12)
    pf = compute_optimal(p, kappa, unit="pflops")
    assert pf.loss(1e3) == pytest.approx(co.loss(1e18), rel=1e-12)
    assert pf.N_opt(1e3) == pytest.approx(co.N_opt(1e18), rel=1e-12)
    assert co.a + co.b == pytest.approx(1.0) and co.gamma_c == pytest.approx(p["alpha"] * co.a)


def test_table1_sum_power_law_column_from_table7():
    """Table 1 right column (eq. 7, C in PFLOPs) from Table 7 + Fig. 2 κ; see compute_optimal's docstring."""
    ours = {k: compute_optimal(paper_params(k), PAPER[k]["kappa"], unit="pflops") for k in PAPER}
    for k, co in ours.items():
        paper = PAPER[k]["table1"]["sum_power_law"]
        assert co.gamma_c == pytest.approx(paper["gamma_c"][0], abs=6e-4), k  # all four γ_c, to rounding
    # F_c: MC-EGNN and GemNet-OC reproduce to Table 7's rounding
    assert ours["egnn"].F_c == pytest.approx(0.811, abs=6e-4)
    assert ours["gemnet_oc"].F_c == pytest.approx(0.479, abs=4e-3)
    # MPNN and eSEN do not (documented discrepancy, ±2.3%); pin what the formula gives
    assert ours["mpnn"].F_c == pytest.approx(0.9557, abs=1e-4)  # paper 0.934
    assert ours["esen"].F_c == pytest.approx(0.6540, abs=1e-4)  # paper 0.669
    # MPNN matches with the "κ ≈ 2" of §4.1 instead of 2.33
    assert compute_optimal(paper_params("mpnn"), 2.0, unit="pflops").F_c == pytest.approx(0.934, abs=2e-3)


def test_fit_kappa_recovers_kappa():
    rng = np.random.default_rng(0)
    N, D = rng.uniform(1e5, 1e7, 30), rng.uniform(1e6, 1e9, 30)
    C = 3 * 28.09 * N * D * np.exp(0.01 * rng.standard_normal(30))
    kf = fit_kappa(C, N, D)
    assert kf.kappa == pytest.approx(28.09, rel=0.01) and kf.r2 > 0.99
    assert fit_kappa(C / 3, N, D, passes=1).kappa == pytest.approx(kf.kappa, rel=1e-12)
