"""Numbers pinned before ``nnip/scaling.py`` became a package: a fixed synthetic study gives the same frontier,
power law, sum-power-law, κ, compute-optimal, bootstrap, backtest and plan numbers (``data/golden_numbers.json``,
floats as ``float.hex``).

They were recorded with the single-module code (commit 99c680a) and matched bit for bit after the split on the
machine that recorded them. Other CPUs run other BLAS kernels (numpy/scipy's OpenBLAS picks one per CPU model), so
the tolerance of each group is derived from the spread measured with ``make test-kernels`` (forced
``OPENBLAS_CORETYPE`` = Haswell / Zen / Sandybridge / Prescott / Nehalem / Core2, 2 OpenBLAS threads,
``ATEN_CPU_CAPABILITY=avx2``, numpy without AVX-512; 2026-12-07, Intel Xeon), see :data:`RTOL`:

- the **L-BFGS-B fits with a free L∞** (``sum_power_law_linf`` and the resampled fits of ``bootstrap``) converge to
  within the optimiser's own tolerance of a flat valley: measured spread **1.2e-5** relative (on a real AMD EPYC
  4.7e-7, the failure that opened issue 21). That is the size of a 1 % change of the Huber δ (1.4e-5), so these
  numbers are only determined to ~1e-5 by the algorithm itself; ``1e-4`` is 8x the spread, and a 10 % change of δ
  (4e-4) or another bootstrap seed still fails (``test_the_tolerances_catch_a_changed_fit``).
- **everything else** (closed forms, ``least_squares`` with 1e-12 tolerances, frontiers, κ, allocation, plan):
  measured spread **4.8e-10** (``plan_ci``; all others ≤ 1.4e-12); ``1e-8`` is 20x that.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnip import scaling

GOLDEN = Path(__file__).parent / "data" / "golden_numbers.json"


def dataset():
    rng = np.random.default_rng(2024)
    rows = []
    for i, N in enumerate(np.geomspace(2e4, 3e6, 7)):
        for step in range(0, 60, 3):
            D = (step + 1) * 3e4
            L = 4.0 * N ** -0.28 + 60.0 * D ** -0.33 + 0.002
            rows.append({"run_id": f"g{i}", "step": step, "params": N, "atoms_seen": D, "flops": 3 * 7.5 * N * D,
                         "wall_s": 1e-9 * N * D, "val_loss": L * np.exp(0.02 * rng.standard_normal())})
    return pd.DataFrame(rows)

def h(x):
    return float(x).hex()

def numbers():
    df = dataset()
    out = {}
    prep = scaling.prepare_curves(df, "atoms_seen", "val_loss", 0.05, 0.9, "run_id")
    out["prepare"] = [h(v) for v in prep["val_loss"]] + [len(prep)]
    front = scaling.pareto_frontier(df, "flops", "val_loss", drop_first=0.05)
    out["frontier_flops"] = [h(v) for v in front["flops"]]
    out["frontier_loss"] = [h(v) for v in front["val_loss"]]
    pl = scaling.fit_power_law(front["flops"] / scaling.PFLOP, front["val_loss"])
    out["power_law"] = {k: h(v) for k, v in pl.params().items()}
    pl2 = scaling.fit_power_law(front["flops"] / scaling.PFLOP, front["val_loss"], l_inf=None)
    out["power_law_linf"] = {k: h(v) for k, v in pl2.params().items()}
    d = df[df["step"] > 0]
    sp = scaling.fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], run_id=d["run_id"])
    out["sum_power_law"] = {k: h(v) for k, v in sp.params().items()} | {"loss": h(sp.loss)}
    sp2 = scaling.fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], l_inf=None)
    out["sum_power_law_linf"] = {k: h(v) for k, v in sp2.params().items()} | {"loss": h(sp2.loss)}
    kf = scaling.fit_kappa(d["flops"], d["params"], d["atoms_seen"])
    out["kappa"] = [h(kf.kappa), h(kf.r2)]
    co = scaling.compute_optimal(sp, kf.kappa, unit="pflops")
    out["compute_optimal"] = {k: h(v) for k, v in co.as_dict().items()}
    fn = lambda x: scaling.fit_sum_power_law(x["params"], x["atoms_seen"], x["val_loss"], run_id=x["run_id"])
    der = lambda f: scaling.compute_optimal(f, kf.kappa, unit="pflops").as_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = scaling.bootstrap(fn, d, n=25, seed=3, derived=der, progress=False)
    out["bootstrap"] = {k: [h(v) for v in boot.table.loc[k, ["estimate", "lo", "hi", "median", "std"]]]
                        for k in boot.table.index}
    out["bootstrap_n_failed"] = boot.n_failed
    fpl = lambda x: scaling.fit_power_law(scaling.pareto_frontier(x, "flops", "val_loss")["flops"] / 1e15,
                                          scaling.pareto_frontier(x, "flops", "val_loss")["val_loss"])
    bootf = scaling.bootstrap(fpl, d, n=25, seed=0, progress=False)
    out["bootstrap_frontier"] = {k: [h(v) for v in bootf.table.loc[k, ["estimate", "lo", "hi"]]]
                                 for k in bootf.table.index}
    bt = scaling.backtest(fn, d, by="N")
    out["backtest_N"] = [h(bt.are), bt.n_train, bt.n_test]
    btf = scaling.backtest(lambda x: scaling.fit_power_law(x["flops"], x["val_loss"]), front, by="C", holdout=0.25,
                           group=None)
    out["backtest_C"] = [h(btf.are), h(btf.threshold), btf.n_train, btf.n_test]
    summ = d.groupby("run_id", as_index=False)["params"].first().assign(arch="mpnn", status="done")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = scaling.plan_from_curves(df.assign(arch="mpnn"), summ, "mpnn", 50.0, n_boot=15, seed=1)
    out["plan"] = {k: h(p[k]) for k in ("kappa", "N_opt", "D_opt", "loss", "a", "b", "F_c", "gamma_c")}
    out["plan_ci"] = {k: [h(v) for v in p["ci"][k]] for k in p["ci"]}
    out["plan_counts"] = [p["n_runs"], p["n_points"], p["n_dropped"]]
    return out


def _flatten(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _flatten(v, (*path, i))
    else:
        yield path, obj


#: relative tolerance by the first key of a golden number (module docstring); any other group: :data:`RTOL_DEFAULT`
RTOL = {"sum_power_law_linf": 1e-4, "bootstrap": 1e-4}
RTOL_DEFAULT = 1e-8


def _close(got: str, want: str, key: tuple) -> bool:
    return float.fromhex(got) == pytest.approx(float.fromhex(want), rel=RTOL.get(key[0], RTOL_DEFAULT), abs=1e-300)


def test_numbers_unchanged_since_the_split():
    got, want = dict(_flatten(numbers())), dict(_flatten(json.loads(GOLDEN.read_text())))
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        if isinstance(w, str):
            assert _close(g, w, key), (key, float.fromhex(g), float.fromhex(w))
        else:
            assert g == w, key


def test_the_tolerances_catch_a_changed_fit():
    """A 10 % change of the Huber δ of the free-L∞ fit, and another bootstrap seed, fail the golden comparison."""
    want = dict(_flatten(json.loads(GOLDEN.read_text())))
    d = dataset().query("step > 0")
    sp = scaling.fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], l_inf=None, huber_delta=1.1e-3)
    assert not all(_close(h(v), want[("sum_power_law_linf", k)], ("sum_power_law_linf", k))
                   for k, v in sp.params().items())
    fn = lambda x: scaling.fit_sum_power_law(x["params"], x["atoms_seen"], x["val_loss"], run_id=x["run_id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = scaling.bootstrap(fn, d, n=25, seed=4, progress=False)
    cols = ["estimate", "lo", "hi", "median", "std"]
    assert not all(_close(h(boot.table.loc[k, c]), want[("bootstrap", k, i)], ("bootstrap",))
                   for k in boot.table.index for i, c in enumerate(cols))
