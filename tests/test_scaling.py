"""Property tests of nnip.scaling (eq. 3–7, Tables 1 and 7, App. E) and nnip.figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

from nnip import figures, scaling  # noqa: E402
from nnip.scaling import (  # noqa: E402
    PAPER, backtest, bootstrap, compute_optimal, fit_kappa, fit_power_law, fit_sum_power_law, paper_params,
    pareto_frontier, plan, plan_cli, plan_from_curves,
)

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


# --- power law (eq. 4) -------------------------------------------------------------------------------------

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


def test_power_law_params_inside_bootstrap_ci():
    df = power_law_runs()
    boot = bootstrap(lambda d: fit_power_law(d["x"], d["y"]), df, n=100, seed=1)
    for name, true in (("F", 3.0), ("gamma", 0.2)):
        lo, hi = boot.ci(name)
        assert lo <= true <= hi, (name, lo, hi)
    assert boot.n_failed == 0 and len(boot.samples) == 100


# --- sum-power-law (eq. 5) ---------------------------------------------------------------------------------

@pytest.mark.parametrize("E", [0.0, 0.05])
def test_sum_power_law_noiseless_exact(E):
    df = sum_law_runs(noise=0.0, E=E)
    fit = fit_sum_power_law(df.params, df.atoms_seen, df.val_loss, l_inf=None if E else 0.0)
    assert fit.alpha == pytest.approx(TRUE["alpha"], rel=1e-3) and fit.beta == pytest.approx(TRUE["beta"], rel=1e-3)
    assert fit.A == pytest.approx(TRUE["A"], rel=1e-2) and fit.B == pytest.approx(TRUE["B"], rel=1e-2)
    assert fit.E == pytest.approx(E, abs=1e-3)
    assert np.abs(fit.residuals).max() < 1e-4
    assert np.allclose(fit.predict(df.params, df.atoms_seen), df.val_loss, rtol=1e-4)


def test_sum_power_law_params_inside_bootstrap_ci():
    df = sum_law_runs(noise=0.02, seed=3)
    boot = bootstrap(lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss), df, n=100, seed=0)
    truth = {"alpha": TRUE["alpha"], "beta": TRUE["beta"], "log10_A": np.log10(TRUE["A"]),
             "log10_B": np.log10(TRUE["B"])}
    for name, true in truth.items():
        lo, hi = boot.ci(name)
        assert lo <= true <= hi, (name, lo, hi)
        assert lo <= boot[name] <= hi


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
    f, g = scaling._sum_pl_objective(theta, u, v, logL, delta, e_const)
    h, num = 1e-6, np.zeros_like(theta)
    for k in range(theta.size):
        step = np.zeros_like(theta)
        step[k] = h
        num[k] = (scaling._sum_pl_objective(theta + step, u, v, logL, delta, e_const)[0]
                  - scaling._sum_pl_objective(theta - step, u, v, logL, delta, e_const)[0]) / (2 * h)
    assert np.allclose(g, num, rtol=1e-5, atol=1e-8)
    batch = scaling._huber(scaling._lse_batch(theta[None], u, v, e_const) - logL, delta).sum()
    assert f == pytest.approx(batch, rel=1e-12)


def test_fits_reproducible():
    df = sum_law_runs(noise=0.02)
    fn = lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss)  # noqa: E731
    a, b = bootstrap(fn, df, n=8, seed=7), bootstrap(fn, df, n=8, seed=7)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = bootstrap(fn, df, n=8, seed=8)
    assert not np.allclose(a.samples["alpha"], c.samples["alpha"])


def test_bootstrap_skips_and_counts_degenerate_resamples():
    df = sum_law_runs(n_runs=2, pts=6, noise=0.01)  # a resample drawing one run twice has a single N
    with pytest.warns(UserWarning, match="degenerate"):
        boot = bootstrap(lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss), df, n=12, seed=0)
    assert 0 < boot.n_failed < 12 and len(boot.samples) == 12 - boot.n_failed


# --- compute-optimal (eq. 6–7) -----------------------------------------------------------------------------

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


def test_fig5_exponents_consistent_with_table7():
    for k, v in PAPER.items():
        assert v["table7"]["alpha"][0] == pytest.approx(v["fig5"]["alpha"], abs=6e-3)
        assert v["table7"]["beta"][0] == pytest.approx(v["fig5"]["beta"], abs=6e-3)


# --- frontier ----------------------------------------------------------------------------------------------

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


def test_pareto_frontier_is_monotone_lower_envelope():
    curves = learning_curves()
    front = pareto_frontier(curves)
    x, y = front["flops"].to_numpy(), front["val_loss"].to_numpy()
    assert (np.diff(x) >= 0).all() and (np.diff(y) < 0).all()
    assert set(front.columns) >= set(curves.columns)
    assert front.merge(curves, how="inner").shape[0] == len(front)  # real evaluations, all columns kept
    for xi, yi in zip(curves["flops"], curves["val_loss"]):  # every evaluation is dominated by the frontier
        assert (y[x <= xi] <= yi).any()
    assert front["run_id"].nunique() > 1


def test_pareto_frontier_drop_first_and_ema():
    curves = learning_curves()
    front = pareto_frontier(curves, drop_first=0.1)
    first = curves.groupby("run_id")["step"].max() * 0.1
    assert (front["step"].to_numpy() >= first.loc[front["run_id"]].to_numpy()).all()
    smooth = pareto_frontier(curves, ema=0.9)
    prep = scaling._prepare_curves(curves, "flops", "val_loss", 0.0, 0.9, "run_id")
    run = prep[prep.run_id == "r0"]
    raw, s = run["val_loss_raw"].to_numpy(), [run["val_loss_raw"].iloc[0]]
    for yt in raw[1:]:
        s.append(0.9 * s[-1] + 0.1 * yt)  # footnote 5
    assert np.allclose(run["val_loss"], s)
    assert "val_loss_raw" in smooth.columns and (np.diff(smooth["val_loss"]) < 0).all()
    flat = pd.DataFrame({"run_id": "a", "step": range(5), "flops": np.arange(1.0, 6.0), "val_loss": 0.5})
    assert np.allclose(scaling._prepare_curves(flat, "flops", "val_loss", 0, 0.9, "run_id")["val_loss"], 0.5)


# --- κ and backtest ----------------------------------------------------------------------------------------

def test_fit_kappa_recovers_kappa():
    rng = np.random.default_rng(0)
    N, D = rng.uniform(1e5, 1e7, 30), rng.uniform(1e6, 1e9, 30)
    C = 3 * 28.09 * N * D * np.exp(0.01 * rng.standard_normal(30))
    kf = fit_kappa(C, N, D)
    assert kf.kappa == pytest.approx(28.09, rel=0.01) and kf.r2 > 0.99
    assert fit_kappa(C / 3, N, D, passes=1).kappa == pytest.approx(kf.kappa, rel=1e-12)


def test_backtest_noiseless_and_broken():
    fn = lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss)  # noqa: E731
    good = backtest(fn, sum_law_runs(noise=0.0), by="N")
    assert good.are < 1e-4 and good.n_test == 10 and good.n_train == 110
    bad = backtest(fn, sum_law_runs(noise=0.0, break_largest=0.3), by="N")
    assert bad.are > 0.2
    fit = fn(sum_law_runs(noise=0.0)).with_backtest(good)
    assert fit.backtest is good
    df = power_law_runs(noise=0.0)  # a compute frontier, held out by C
    bt = backtest(lambda d: fit_power_law(d["x"], d["y"]), df, by="x", holdout=0.2, y="y")
    assert bt.are < 1e-8 and bt.n_test > 0


# --- degenerate inputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: fit_power_law([1, 2, np.nan], [1, 2, 3]), "^x: .*NaN"),
    (lambda: fit_power_law([1, 2, 3], [1, -2, 3]), "^y: must be > 0"),
    (lambda: fit_power_law([1, 2, 3], [1, 2]), "lengths differ"),
    (lambda: fit_power_law([1.0], [1.0]), "1 points for 2 parameters"),
    (lambda: fit_power_law([2, 2, 2], [1, 2, 3]), "^x: needs at least 2 distinct"),
    (lambda: fit_power_law([1, 2, 3], [1, 2, 3], l_inf=5.0), "^l_inf"),
    (lambda: fit_sum_power_law([1e5, 1e6, 1e7], [1e6] * 3, [1, 2, 3]), "4 parameters"),
    (lambda: fit_sum_power_law([1e5] * 5, np.geomspace(1e6, 1e8, 5), np.ones(5)), "^N: needs at least 2 distinct"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 5), [1, 1, np.inf, 1, 1]),
     "^L: .*NaN/inf"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 5), np.ones(5),
                               huber_delta=0), "^huber_delta"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 4), np.ones(5)), "lengths differ"),
    (lambda: compute_optimal(paper_params("mpnn"), kappa=0), "^kappa"),
    (lambda: compute_optimal(paper_params("mpnn"), kappa=2.0, unit="gflops"), "^unit"),
    (lambda: compute_optimal({"A": 1.0, "B": 1.0, "alpha": 0.0, "beta": 0.3}, 2.0), "^fit"),
    (lambda: fit_kappa([1, 2], [1, 2], [1, 2], passes=0), "^passes"),
    (lambda: pareto_frontier(pd.DataFrame({"run_id": ["a"], "flops": [1.0]})), "^curves: missing"),
    (lambda: pareto_frontier(learning_curves(), drop_first=1.5), "^drop_first"),
    (lambda: pareto_frontier(learning_curves(), ema=1.0), "^ema"),
    (lambda: pareto_frontier(learning_curves().assign(val_loss=np.nan)), r"^curves\['val_loss'\]"),
    (lambda: bootstrap(lambda d: {}, learning_curves(), n=0), "^n:"),
    (lambda: plan("mpnn", 10.0), "^store, paper"),
    (lambda: plan("transformer", 10.0, paper=True), "^arch"),
])
def test_degenerate_inputs_raise_named_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- plan --------------------------------------------------------------------------------------------------

def test_plan_paper_and_cli(capsys):
    p = plan("eSEN", 1e3, paper=True)
    assert p["arch"] == "esen" and p["ci"] is None
    assert 3 * PAPER["esen"]["kappa"] * p["N_opt"] * p["D_opt"] == pytest.approx(1e18, rel=1e-10)
    assert p["loss"] == pytest.approx(p["F_c"] * 1e3 ** -p["gamma_c"])
    assert plan_cli(["--arch", "gemnet_oc", "--budget-pflops", "100", "--paper"]) == 0
    out = capsys.readouterr().out
    assert "N* [parameters]" in out and "gemnet_oc" in out
    # a bad arch is an input error: one line on stderr and exit code 2, not a traceback
    assert plan_cli(["--arch", "nope", "--budget-pflops", "1", "--paper"]) == 2
    err = capsys.readouterr().err
    assert "arch: 'nope'" in err and len(err.strip().splitlines()) == 1


def test_single_threaded_blas_restores_thread_counts():
    before = [get() for get, _ in scaling._openblas_thread_controls()]
    with scaling._single_threaded_blas():
        assert all(get() == 1 for get, _ in scaling._openblas_thread_controls())
    assert [get() for get, _ in scaling._openblas_thread_controls()] == before


def test_plan_from_curves():
    df = sum_law_runs(noise=0.01, kappa=5.0)
    summaries = df.groupby("run_id", as_index=False)["params"].first().assign(arch="mpnn", status="done")
    failed = pd.DataFrame({"run_id": ["bad"], "arch": ["mpnn"], "params": [1e6], "status": ["failed"]})
    summaries = pd.concat([summaries, failed], ignore_index=True)
    nan_row = df.iloc[[0]].assign(run_id="bad", val_loss=np.nan)
    curves = pd.concat([df, nan_row, df.iloc[[0]].assign(step=0, atoms_seen=0.0, flops=0.0)], ignore_index=True)
    curves["arch"] = "mpnn"  # as RunStore.curves() joins them
    p = plan_from_curves(curves, summaries, "mpnn", 1e3, n_boot=20, drop_first=0.0)
    assert p["kappa"] == pytest.approx(5.0, rel=1e-10) and p["n_runs"] == 12 and p["n_dropped"] == 1
    truth = compute_optimal(TRUE, 5.0, unit="pflops")
    assert p["N_opt"] == pytest.approx(float(truth.N_opt(1e3)), rel=0.3)
    for k in ("N_opt", "D_opt", "loss"):
        lo, hi = p["ci"][k]
        assert lo <= p[k] <= hi
    with pytest.raises(ValueError, match="^arch"):
        plan_from_curves(curves, summaries, "esen", 1e3)


# --- figures -----------------------------------------------------------------------------------------------

def _log_axes(fig):
    return [ax for ax in fig.axes if ax.get_xscale() == "log" and ax.get_yscale() == "log"]


def test_figures_return_log_log_figures_with_units():
    curves = learning_curves()
    front = pareto_frontier(curves)
    law = bootstrap(lambda d: fit_power_law(d["flops"], d["val_loss"]), front, n=20, group=None)
    fig = figures.plot_frontier(curves, fits=law)
    assert isinstance(fig, Figure) and len(_log_axes(fig)) == 1
    assert fig.axes[0].get_xlabel() == "compute C [PFLOPs]" and "normalised" in fig.axes[0].get_ylabel()
    fig = figures.plot_frontier(curves.assign(arch="mpnn"), x="wall_s", by="arch")
    assert fig.axes[0].get_xlabel() == "wall-clock [GPU-h]"

    df = sum_law_runs(n_runs=5, pts=5, noise=0.01)
    fig = figures.plot_sum_power_law(fit_sum_power_law(df.params, df.atoms_seen, df.val_loss))
    assert len(_log_axes(fig)) == 2
    assert [ax.get_xlabel() for ax in fig.axes] == ["training atoms D", "parameters N"]

    cos = {k: compute_optimal(paper_params(k), PAPER[k]["kappa"], unit="pflops") for k in PAPER}
    fig = figures.plot_compute_optimal(cos)
    assert len(_log_axes(fig)) == 2 and fig.axes[0].get_xlabel() == "compute C [PFLOPs]"
    assert fig.axes[1].get_ylabel() == "optimal training atoms D*"

    fig = figures.plot_kappa({"mpnn": fit_kappa(df.flops, df.params, df.atoms_seen)})
    assert len(_log_axes(fig)) == 1 and "FLOPs" in fig.axes[0].get_ylabel()


def test_table_frame_formats_intervals():
    boot_table = pd.DataFrame({"estimate": [0.1234, 2.0], "lo": [0.1, 1.5], "hi": [0.15, 2.5], "std": [0.01, 0.2]},
                              index=["gamma_c", "F_c"])
    out = figures.table_frame(boot_table)
    assert out.loc["gamma_c", "estimate [95% CI]"] == "0.123 [0.100–0.150]"
    assert out.loc["F_c", "std"] == "0.200"
