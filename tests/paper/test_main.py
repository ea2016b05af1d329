"""nnip.paper.main (Fig. 1–6, Tables 1 and 7) on synthetic learning curves: recovery, tables, degenerate studies."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnip import scaling  # noqa: E402
from nnip.paper import ARCH_LABELS, fits, main  # noqa: E402

ARCHS = ("mpnn", "egnn", "gemnet_oc", "esen")
#: per architecture: (A, B, alpha, beta, kappa); exponents grow with symmetry as in Table 7
TRUE = {
    "mpnn": (3.0, 12.0, 0.25, 0.30, 2.0),
    "egnn": (4.0, 20.0, 0.35, 0.38, 20.0),
    "gemnet_oc": (8.0, 40.0, 0.45, 0.48, 30.0),
    "esen": (20.0, 90.0, 0.60, 0.62, 70.0),
}


def synthetic_curves(archs=ARCHS, n_runs=5, pts=12, noise=0.003, seed=0, extra=None):
    """One streaming run per model size N; evaluations at log-spaced D (steps 1..pts), eq. (5) with L∞ = 0 and
    log-normal noise, C = 3κND, wall-clock proportional to C."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch in archs:
        A, B, alpha, beta, kappa = TRUE[arch]
        for i, N in enumerate(np.geomspace(1e4, 1e6, n_runs)):
            for j, D in enumerate(np.geomspace(1e5, 1e8, pts)):
                L = A * N**-alpha + B * D**-beta
                flops = 3 * kappa * N * D
                rows.append({"run_id": f"{arch}-{i}", "arch": arch, "params": N, "step": j + 1, "atoms_seen": D,
                             "flops": flops, "wall_s": 1.0 + flops / 1e12, "wall_s_train": 0.5 + flops / 1e12,
                             "status": "done",
                             "val_loss": L * math.exp(noise * rng.standard_normal()), **(extra or {})})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def small_bootstrap(set_analysis):
    """Keep the unit tests fast: a handful of resamples is enough to exercise the interval code."""
    set_analysis("tiny", n_boot=8)


@pytest.fixture(scope="module")
def curves():
    return synthetic_curves()


# --- studies -----------------------------------------------------------------------------------------------

def test_main_spec_selects_archs_without_changing_run_ids():
    from nnip.sweep import expand

    everything = {c.run_id() for c in expand(main.main_spec("all"), "tiny")}
    esen = {c.run_id() for c in expand(main.main_spec("esen"), "tiny")}
    assert esen and esen < everything
    assert {c.model.name for c in expand(main.main_spec("mpnn,esen"), "tiny")} == {"mpnn", "esen"}
    with pytest.raises(ValueError, match="arch"):
        main.main_spec("transformer")


def test_lmax_study_shares_the_presets_own_degree_with_main():
    """Fig. 4's ℓ_max = 2 runs at tiny (whose eSEN has l_max = 2) are the main study's eSEN runs: cache hits."""
    from nnip.sweep import expand

    lmax = expand(main.LMAX, "tiny")
    assert sorted({c.model.hparams["l_max"] for c in lmax}) == [2, 3, 4]
    shared = {c.run_id() for c in lmax} & {c.run_id() for c in expand(main.main_spec("esen"), "tiny")}
    assert len(shared) == len(expand(main.main_spec("esen"), "tiny"))


def test_settings_known_presets_only():
    assert fits.settings("cpu").n_boot == fits.settings("paper").n_boot == 1000  # App. E
    with pytest.raises(ValueError, match="preset"):
        fits.settings("huge")


# --- preparation and fits ----------------------------------------------------------------------------------

def test_prepare_drops_first_steps_untrained_rows_and_adds_units(curves):
    df = pd.concat([curves, curves.iloc[:1].assign(step=0, atoms_seen=0, flops=0.0)], ignore_index=True)
    pts = fits.prepare(df, "tiny", "mpnn")
    assert set(pts["arch"]) == {"mpnn"} and (pts["atoms_seen"] > 0).all()
    # drop_first = 5% of steps 1..12: step 1 (< 1 + 0.05·11) goes, step 2 stays
    assert pts.groupby("run_id")["step"].min().eq(2).all()
    assert np.allclose(pts["C_pflops"], pts["flops"] / 1e15)
    assert np.allclose(pts["H_hours"], pts["wall_s_train"] / 3600)  # training time only
    # the compute model of eq. (3): 3κ̂ND with κ̂ fitted on the same runs (exact here: C = 3κND by construction)
    assert np.allclose(pts["C3kND_pflops"], pts["C_pflops"], rtol=1e-9)


def test_prepare_wall_factor_and_ema(curves):
    """Footnote 8 (EGNN time ×2 at cpu scale) and footnote 5 (GemNet-OC EMA 0.9 at paper scale)."""
    egnn = fits.prepare(curves, "cpu", "egnn")
    assert np.allclose(egnn["H_hours"], egnn["wall_s_train"] / 3600 * 2.0)
    mpnn = fits.prepare(curves, "cpu", "mpnn")
    assert np.allclose(mpnn["H_hours"], mpnn["wall_s_train"] / 3600)
    older = fits.prepare(curves.drop(columns="wall_s_train"), "cpu", "mpnn")  # a store without the column
    assert np.allclose(older["H_hours"], older["wall_s"] / 3600)
    gem = fits.prepare(curves, "paper", "gemnet_oc")
    assert "val_loss_raw" in gem and not np.allclose(gem["val_loss"], gem["val_loss_raw"])


def test_sum_power_law_report_recovers_table7_style_parameters(curves):
    A, B, alpha, beta, _ = TRUE["esen"]
    rep = fits.sum_power_law_report(fits.prepare(curves, "tiny", "esen"), "tiny")
    assert rep.ok and rep.backtest is not None
    assert rep.value("alpha") == pytest.approx(alpha, abs=0.03)
    assert rep.value("beta") == pytest.approx(beta, abs=0.03)
    assert rep.value("log10_A") == pytest.approx(math.log10(A), abs=0.3)
    lo, hi = rep.ci("alpha")
    assert lo <= rep.value("alpha") <= hi
    assert rep.backtest.are < 0.02  # the held-out largest model is predicted within noise


def test_sum_power_law_report_with_kappa_gives_eq7(curves):
    _, _, alpha, beta, kappa = TRUE["egnn"]
    rep = fits.sum_power_law_report(fits.prepare(curves, "tiny", "egnn"), "tiny", kappa=kappa)
    co = scaling.compute_optimal(rep.estimate, kappa, unit="pflops")
    assert rep.value("gamma_c") == pytest.approx(co.gamma_c) and rep.value("F_c") == pytest.approx(co.F_c)
    assert rep.value("gamma_c") == pytest.approx(alpha * beta / (alpha + beta), abs=0.02)
    assert rep.value("a") + rep.value("b") == pytest.approx(1.0)
    assert rep.ci("gamma_c") is not None


def test_kappa_report_recovers_kappa_and_backtests_flops(curves):
    rep = fits.kappa_report(curves, "tiny", "gemnet_oc")
    assert rep.value("kappa") == pytest.approx(TRUE["gemnet_oc"][4], rel=1e-9)
    assert rep.value("r2") == pytest.approx(1.0)
    assert rep.backtest.are == pytest.approx(0.0, abs=1e-9)


def test_frontier_report_close_to_compute_optimal_exponent(curves):
    """On eq. (5) data the loss–compute frontier follows eq. (7), γ_c = αβ/(α+β): Table 1's two columns agree."""
    _, _, alpha, beta, _ = TRUE["mpnn"]
    pts = fits.prepare(synthetic_curves(archs=("mpnn",), n_runs=9, pts=20, noise=0.0), "tiny", "mpnn")
    front, rep = fits.frontier_report(pts, fits.X_FLOPS, "tiny")
    assert rep.ok and len(front) >= 5
    assert np.all(np.diff(front["val_loss"]) < 0) and np.all(np.diff(front[fits.X_FLOPS]) > 0)
    assert rep.value("gamma") == pytest.approx(alpha * beta / (alpha + beta), rel=0.15)
    assert rep.backtest is not None and rep.backtest.are < 0.05


# --- items -------------------------------------------------------------------------------------------------

ITEMS = ["fig1", "fig2", "fig3", "fig5", "fig6", "table1", "table7"]


@pytest.mark.parametrize("item", ITEMS)
def test_item_returns_labelled_figure_and_comparison_table(item, curves):
    fig, table = getattr(main, item)(curves, preset="tiny")
    assert isinstance(fig, Figure) and fig.axes
    for ax in fig.axes:
        if ax.get_visible() and ax.has_data() and ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel(), f"{item}: unlabelled axes"
    assert {"architecture", "quantity", "paper", "paper 95% CI", "ours", "backtest ARE", "note"} <= set(table.columns)
    assert set(table["architecture"]) == {ARCH_LABELS[a] for a in ARCHS}
    assert not table["ours"].eq("–").any(), f"{item}: a fit failed on well-posed data"


def test_log_log_axes_with_units(curves):
    fig, _ = main.fig1(curves, preset="tiny")
    (left, right) = fig.axes[:2]
    assert left.get_xscale() == left.get_yscale() == "log" == right.get_xscale()
    assert "[PFLOPs]" in left.get_xlabel() and "[hours]" in right.get_xlabel()
    fig5, _ = main.fig5(curves, preset="tiny")
    assert {ax.get_xlabel() for ax in fig5.axes} == {"training atoms D", "parameters N"}


def test_fig5_table_compares_with_table7(curves):
    _, table = main.fig5(curves, arch="esen", preset="tiny")
    assert list(table["quantity"]) == ["β (data exponent)", "α (parameter exponent)"]
    assert list(table["paper"]) == [f"{scaling.PAPER['esen']['table7']['beta'][0]:.3g}",
                                    f"{scaling.PAPER['esen']['table7']['alpha'][0]:.3g}"]
    assert table["backtest ARE"].str.endswith("%").all()


def test_fig2_paper_kappas_and_counting_note(curves):
    _, table = main.fig2(curves, preset="tiny")
    kap = table[table["quantity"].str.startswith("κ")]
    assert list(kap["paper"]) == ["2.33", "28.1", "35.2", "74.4"]
    assert kap["note"].str.contains("κ falls with width").all()


def test_fig3_single_arch(curves):
    fig, table = main.fig3(curves, arch="egnn", preset="tiny")
    assert set(table["architecture"]) == {ARCH_LABELS["egnn"]}
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 2


def test_fig4_lmax():
    parts = [synthetic_curves(archs=("esen",), seed=lm, extra={"model.hparams.l_max": lm}) for lm in (2, 3, 4)]
    for lm, part in zip((2, 3, 4), parts):
        part["run_id"] = part["run_id"] + f"-l{lm}"
    fig, table = main.fig4(pd.concat(parts, ignore_index=True), preset="tiny")
    assert isinstance(fig, Figure)
    assert [q for q in table["quantity"] if q.startswith("γ_c")] == [f"γ_c, ℓ_max = {lm}" for lm in (2, 3, 4)]
    assert table.loc[table["quantity"] == "γ_c, ℓ_max = 4", "paper"].item() == "0.403"
    with pytest.raises(ValueError, match="lmax_study"):
        main.fig4(parts[0].drop(columns=["model.hparams.l_max"]), preset="tiny")


def test_table1_both_methods_and_paper_intervals(curves):
    _, table = main.table1(curves, preset="tiny")
    mpnn = table[table["architecture"] == ARCH_LABELS["mpnn"]]
    assert list(mpnn["quantity"]) == [
        "F_c, frontier eq. (4) on measured C", "F_c, frontier eq. (4) on 3κ̂ND", "F_c, sum-power-law eq. (7)",
        "γ_c, frontier eq. (4) on measured C", "γ_c, frontier eq. (4) on 3κ̂ND", "γ_c, sum-power-law eq. (7)"]
    assert list(mpnn["paper"]) == ["0.928", "0.928", "0.934", "0.142", "0.142", "0.146"]
    assert mpnn["paper 95% CI"].iloc[0] == "[0.925–0.93]"
    # synthetic C = 3κND exactly: both frontiers give the same exponent
    gam = mpnn.loc[mpnn["quantity"].str.startswith("γ_c, frontier"), "ours"].str.split(" ").str[0].astype(float)
    assert gam.iloc[0] == pytest.approx(gam.iloc[1], rel=1e-6)


# --- degenerate (tiny-scale) studies -----------------------------------------------------------------------

def test_too_few_runs_reported_not_faked():
    """Two runs with two evaluations each: eq. (5) has 4 parameters but cannot be backtested or fitted once the
    first steps are dropped — the rows say so instead of showing a number, and nothing raises."""
    few = synthetic_curves(n_runs=2, pts=2)
    for item in ("fig5", "table7", "table1", "fig6"):
        fig, table = getattr(main, item)(few, preset="tiny")
        assert isinstance(fig, Figure)
        sum_rows = table[table["quantity"].str.contains("α|β|log10|eq. \\(7\\)|a \\(|b \\(")]
        assert len(sum_rows) and sum_rows["ours"].eq("–").all(), item
        assert sum_rows["note"].str.contains(fits.TOO_FEW).all(), item


def test_one_run_per_arch_frontier_without_backtest():
    one = synthetic_curves(n_runs=1, pts=3)
    fig, table = main.fig1(one, preset="tiny")
    assert isinstance(fig, Figure)
    assert table["note"].str.contains(fits.TOO_FEW).all()  # no CI (one run to resample) and/or no backtest


def test_empty_architecture_is_skipped(curves):
    fig, table = main.table7(curves[curves["arch"] != "gemnet_oc"], preset="tiny")
    assert ARCH_LABELS["gemnet_oc"] not in set(table["architecture"])


def test_cpu_lmax_study_is_the_first_five_esen_rungs_on_half_the_stream():
    from nnip.presets import get
    from nnip.sweep import expand

    cfgs = expand(main.lmax_spec("cpu"), "cpu")
    # l_max = 2 (the preset's own) is read off the main runs truncated at half the stream, not retrained
    assert sorted({c.model.hparams["l_max"] for c in cfgs}) == [3, 4]
    widths = [dict(w)["sphere_channels"] for w in get("cpu").archs["esen"].widths[:5]]
    assert sorted({c.model.hparams["sphere_channels"] for c in cfgs}) == sorted(widths)
    assert {c.data.fraction for c in cfgs} == {0.5} and len(cfgs) == 10


def test_items_split_by_section_stay_importable_from_main():
    from nnip.paper import compute_optimal, frontiers
    from nnip.presets import get as get_preset

    assert (main.fig1, main.fig4, main.fig5, main.table7) == (frontiers.fig1, frontiers.fig4, compute_optimal.fig5,
                                                                compute_optimal.table7)
    assert main.lmax_spec(get_preset("cpu")) == main.lmax_spec("cpu")


def test_training_health_flags_a_spike_and_leaves_smooth_runs_alone():
    curves = synthetic_curves(archs=("mpnn",), n_runs=2, noise=0.0)
    spiky = curves["run_id"] == "mpnn-1"
    curves.loc[spiky & (curves["step"] == 9), "val_loss"] *= 5.0  # one evaluation five times its best-so-far
    h = main.training_health(curves).set_index("run_id")
    assert not h.loc["mpnn-0", "spiked"] and h.loc["mpnn-0", "largest rise"] == pytest.approx(1.0)
    assert h.loc["mpnn-1", "spiked"] and h.loc["mpnn-1", "at step"] == 9
    run = curves[spiky].set_index("step")["val_loss"]
    assert h.loc["mpnn-1", "largest rise"] == pytest.approx(run[9] / run[8])  # the spiked point over the best before it
    assert h.loc["mpnn-1", "best val loss"] <= h.loc["mpnn-1", "final val loss"]
