"""Fit-speed benchmark: a 1000-resample bootstrap of the sum-power-law (eq. 5, App. E) on 250 points.

Target: <= 30 s on 2 CPU cores. The fit is single-threaded, so its CPU time is its wall time on an idle
machine; both are printed, with the load average (a shared machine inflates the wall time).

Baseline: the plain approach — Hoffmann et al.'s grid of starts in the (a, b, α, β) parameterisation, each start
optimised separately by ``scipy.optimize.minimize`` (L-BFGS-B with finite-difference gradients), the best kept.
It is timed on the full data (and ``--baseline-n − 1`` resamples) and extrapolated to ``--n`` resamples.

    python benchmarks/bench_fit.py [--n 1000] [--baseline-n 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import pandas as pd
from scipy import optimize

from nnip import scaling
from nnip.scaling import _blas, laws  # the Huber loss and the BLAS setting of the fits, for a like-for-like baseline

TRUTH = scaling.paper_params("mpnn")  # Table 7, MPNN


def synthetic_runs(n_runs: int = 25, pts: int = 10, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """25 model sizes × 10 data fractions r = 0.1 … 1.0 of D_max = 9.2e8 atoms (§3.1, §4.2), 1% log-normal noise."""
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(3e5, 8e6, n_runs), pts)
    D = np.tile(np.linspace(0.1, 1.0, pts) * 9.2e8, n_runs)
    L = TRUTH["A"] * N ** -TRUTH["alpha"] + TRUTH["B"] * D ** -TRUTH["beta"]
    return pd.DataFrame({"run_id": np.repeat(np.arange(n_runs), pts), "params": N, "atoms_seen": D,
                         "val_loss": L * np.exp(noise * rng.standard_normal(L.size))})


def ours(df: pd.DataFrame) -> scaling.SumPowerLaw:
    return scaling.fit_sum_power_law(df["params"], df["atoms_seen"], df["val_loss"])


def baseline(df: pd.DataFrame, delta: float = 1e-3) -> tuple[float, np.ndarray]:
    """Plain per-start loop: Hoffmann et al.'s grid (a, b ∈ {0, 5, …, 25}, α, β ∈ {0, 0.5, …, 2}; 900 starts)."""
    lN, lD, lL = (np.log(df[c].to_numpy(float)) for c in ("params", "atoms_seen", "val_loss"))

    def objective(t: np.ndarray) -> float:
        r = np.logaddexp(t[0] - t[2] * lN, t[1] - t[3] * lD) - lL
        return float(laws._huber(r, delta).sum())

    best = (np.inf, None)
    for a, b, al, be in itertools.product(range(0, 30, 5), range(0, 30, 5), np.arange(0, 2.5, 0.5),
                                          np.arange(0, 2.5, 0.5)):
        res = optimize.minimize(objective, np.array([a, b, al, be], float), method="L-BFGS-B")
        if res.fun < best[0]:
            best = (res.fun, res.x)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="bootstrap resamples (ours)")
    ap.add_argument("--baseline-n", type=int, default=1,
                    help="fits timed for the baseline: the full data, then resamples (extrapolated to --n)")
    args = ap.parse_args()
    df = synthetic_runs()
    ours(df)  # warm-up (imports, caches)

    load0 = os.getloadavg()[0]
    t0, p0 = time.perf_counter(), time.process_time()
    boot = scaling.bootstrap(ours, df, n=args.n, seed=0, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - p0
    load = max(load0, os.getloadavg()[0])
    print(f"data: {df['run_id'].nunique()} runs x {len(df) // df['run_id'].nunique()} points = {len(df)} points; "
          f"{os.cpu_count()} cores, load average {load:.1f} (other processes compete for the cores when > 1)")
    print(f"ours:     {args.n} resamples in {wall:.2f} s wall, {cpu:.2f} s CPU ({1e3 * cpu / args.n:.1f} ms CPU/fit); "
          f"target 30 s: wall {'PASS' if wall <= 30 else 'FAIL'}, CPU {'PASS' if cpu <= 30 else 'FAIL'} "
          f"(single-threaded, so CPU time = wall time on an idle machine)")
    table = boot.table[["estimate", "lo", "hi"]].loc[["log10_A", "log10_B", "alpha", "beta"]]
    table["truth"] = [np.log10(TRUTH["A"]), np.log10(TRUTH["B"]), TRUTH["alpha"], TRUTH["beta"]]
    print(table.round(4).to_string())

    rng = np.random.default_rng(1)
    groups = list(df.groupby("run_id").indices.values())
    samples = [df] + [df.iloc[np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])]
                      for _ in range(args.baseline_n - 1)]
    with _blas._single_threaded_blas():  # same BLAS setting as ours, so the comparison is about the algorithm
        t0, p0 = time.perf_counter(), time.process_time()
        base = [baseline(d) for d in samples]
        per_fit, per_fit_cpu = (time.perf_counter() - t0) / len(samples), (time.process_time() - p0) / len(samples)
    base_full = base[0]
    est, est_cpu = per_fit * args.n, per_fit_cpu * args.n
    print(f"baseline: {per_fit:.2f} s/fit wall ({per_fit_cpu:.2f} s CPU), timed on {len(samples)} fit(s) of 250 "
          f"points (900 starts each, finite-difference gradients); extrapolated to {args.n} resamples: "
          f"{est:.0f} s wall ({est_cpu:.0f} s CPU)")
    print(f"speed-up: {est / wall:.0f}x wall, {est_cpu / cpu:.0f}x CPU  (baseline extrapolated / ours measured)")
    fit = boot.estimate
    print(f"same optimum on the full data: ours Huber loss {fit.loss:.6g} (alpha={fit.alpha:.4f}, "
          f"beta={fit.beta:.4f}); baseline {base_full[0]:.6g} (alpha={base_full[1][2]:.4f}, "
          f"beta={base_full[1][3]:.4f})")


if __name__ == "__main__":
    main()
