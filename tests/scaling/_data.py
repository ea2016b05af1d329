"""Synthetic learning curves shared by the tests of nnip.scaling (and tests/test_errors.py, tests/figures/test_plots.py)."""

import numpy as np
import pandas as pd

TRUE = {"A": 20.0, "B": 150.0, "alpha": 0.30, "beta": 0.35}


def sum_law_runs(n_runs=12, pts=10, noise=0.01, E=0.0, seed=0, kappa=5.0, break_largest=0.0):
    """Fake runs: one model size N per run, evaluated at D = r·D_max (§4.2), log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate(np.geomspace(3e5, 1e7, n_runs)):
        for j, D in enumerate(np.geomspace(1e7, 1e9, pts)):
            L = E + TRUE["A"] * N ** -TRUE["alpha"] + TRUE["B"] * D ** -TRUE["beta"]
            if i == n_runs - 1:
                L *= 1.0 + break_largest
            rows.append({"run_id": f"r{i:02d}", "step": j + 1, "params": N, "atoms_seen": D,
                         "flops": 3 * kappa * N * D, "val_loss": L * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def power_law_runs(F=3.0, gamma=0.2, n_runs=10, pts=8, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e12, 1e18, n_runs * pts)
    y = F * (x / 1e15) ** -gamma * np.exp(noise * rng.standard_normal(x.size))
    return pd.DataFrame({"run_id": np.repeat([f"r{i}" for i in range(n_runs)], pts), "x": x / 1e15, "y": y})


def learning_curves(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate([1e5, 3e5, 1e6, 3e6]):
        for step in range(0, 200, 5):
            D = (step + 1) * 1e5
            L = 5 * N**-0.3 + 80 * D**-0.35 + 0.01 * rng.random()
            rows.append({"run_id": f"r{i}", "step": step, "atoms_seen": D, "flops": 6 * N * D,
                         "wall_s": 1e-3 * N * D / 1e8, "val_loss": L, "params": N})
    return pd.DataFrame(rows)
