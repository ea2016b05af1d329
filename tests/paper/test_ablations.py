"""Fig. 7–12 (symmetry, multi_epoch, hyperparameters, vector_channels, diverse) on synthetic learning curves with known exponents — no training."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnip.paper import ARCH_LABELS, diverse, fits, hyperparameters, ladders, multi_epoch, symmetry, vector_channels  # noqa: E402,E501
from nnip.paper._common import comparison_table, row  # noqa: E402
from nnip.presets import get as get_preset  # noqa: E402
from nnip.scaling import PFLOP  # noqa: E402
from nnip.sweep import expand  # noqa: E402

ALPHA, BETA = 0.30, 0.35


def runs(sizes=(1e3, 3e3, 1e4, 3e4), n_evals=12, arch="mpnn", flops_factor=1.0, kappa=3.0, A_=20.0, B_=150.0,
         alpha=ALPHA, beta=BETA, floor_after=None, prefix="r", **options):
    """One run per model size N: evaluations at log-spaced D, ``L = A N^-α + B D^-β`` (eq. 5) exactly; C = 3κND×f.
    ``floor_after``: from that epoch on the loss stops improving (overfitting on repeated data)."""
    rows = []
    for i, N in enumerate(sizes):
        D = np.geomspace(1e4, 1e7, n_evals)
        L = A_ * N ** -alpha + B_ * D ** -beta
        epoch = np.linspace(0.5, 20.0, n_evals)
        if floor_after is not None:
            k = np.searchsorted(epoch, floor_after)
            L[k:] = L[k - 1] * (1.0 + 0.02 * (epoch[k:] - epoch[k - 1]))
        for j in range(n_evals):
            rows.append({"run_id": f"{prefix}{i}", "arch": arch, "params": N, "step": j + 1, "epoch": epoch[j],
                         "atoms_seen": D[j], "flops": 3 * kappa * N * D[j] * flops_factor, "val_loss": L[j],
                         "status": "done", **options})
    return pd.DataFrame(rows)


def table_row(table, text):
    hits = table[table["quantity"].str.contains(text, regex=False)]
    assert len(hits) == 1, (text, table["quantity"].tolist())
    return hits.iloc[0]


def ours(table, text):
    return float(table_row(table, text)["ours"].split(" ")[0])


def assert_figure(fig):
    assert isinstance(fig, Figure)
    drawn = [ax for ax in fig.axes if ax.get_visible() and (ax.lines or ax.images or ax.collections)]
    assert drawn, "blank figure"
    for ax in drawn:
        if ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel()


# --- specs -----------------------------------------------------------------------------------------------------
def test_symmetry_spec_shares_the_main_study_runs():
    cfgs = expand(symmetry.symmetry_spec("tiny", m=5), "tiny")
    assert sorted({c.loss.symmetry_m for c in cfgs}) == [0, 5]
    assert all(c.loss.symmetry_weight == 1.0 and c.model.name == "mpnn" for c in cfgs)
    main = {c.run_id() for c in expand({"name": "main", "dataset": "molecules", "archs": ["mpnn"]}, "tiny")}
    no_loss = {c.run_id() for c in cfgs if c.loss.symmetry_m == 0}
    assert no_loss == main  # the M = 0 runs are cache hits of the main study
    with pytest.raises(ValueError, match="at least one rotation"):
        symmetry.symmetry_spec("tiny", m=0)


def test_multi_epoch_specs():
    cfgs = expand(multi_epoch.multi_epoch_spec("tiny"), "tiny")
    assert {c.train.regime for c in cfgs} == {"epochs"}
    assert {c.data.fraction for c in cfgs} == {0.25}
    assert {c.train.augment for c in cfgs} == {False, True}
    assert {c.train.max_epochs for c in cfgs} == {get_preset("tiny").ablations.epochs}
    # 0.25 of the tiny training split keeps at least 8 structures
    assert min(c.data.fraction * (c.data.limit - c.data.n_val) for c in cfgs) >= 8
    paper = expand(multi_epoch.multi_epoch_spec("paper"), "paper")
    assert {c.data.fraction for c in paper} == {0.01} and {c.train.max_epochs for c in paper} == {100}
    assert {c.eval.every for c in paper} == {1000}
    fig9_mpnn = {c.run_id() for c in expand(multi_epoch.multi_epoch_spec("tiny", "mpnn", (True,)), "tiny")}
    assert fig9_mpnn <= {c.run_id() for c in cfgs}  # Fig. 9 reuses Fig. 8's augmented runs


def test_solve_width_holds_n():
    ref = ladders.reference_hparams("cpu", "mpnn")
    target = ladders.n_params("mpnn", tuple(sorted(ref.items())))
    for depth in (1, 3, 6):
        w, n = ladders.solve_width("mpnn", {**ref, "num_layers": depth}, target)
        assert abs(n / target - 1) < 0.05
        # a neighbouring width is no closer
        for other in (w - 1, w + 1):
            n_other = ladders.n_params("mpnn", tuple(sorted({**ref, "num_layers": depth, "hidden_dim": other}.items())))
            assert abs(n - target) <= abs(n_other - target)
    assert ladders.solve_width("mpnn", ref, 10) == (2, ladders.n_params("mpnn", tuple(sorted({**ref, "hidden_dim": 2}.items()))))


def test_hyper_parameter_specs():
    lb = expand(hyperparameters.lr_batch_spec("tiny"), "tiny")
    dw = expand(hyperparameters.depth_width_spec("tiny"), "tiny")
    s = get_preset("tiny").ablations
    assert len(lb) == 3 * len(s.lrs) * len(s.batch_sizes)
    assert {(c.optim.lr, c.train.batch_size) for c in lb} == {(lr, b) for lr in s.lrs for b in s.batch_sizes}
    assert {c.data.fraction for c in lb + dw} == {s.hp_fraction}
    # the reference depth of the depth sweep is one cell of the lr × batch grid (one run, not two)
    assert len({c.run_id() for c in lb} & {c.run_id() for c in dw}) == 3
    for arch in hyperparameters.HP_ARCHS:
        pts = hyperparameters.depth_width_points("cpu", arch)
        ns = [ladders.n_params(arch, tuple(sorted(p.items()))) for p in pts]
        assert len({p["num_layers"] for p in pts}) >= 4
        assert max(ns) / min(ns) < 1.6


def test_vector_channels_and_diverse_specs(monkeypatch):
    vc = expand(vector_channels.vector_channels_spec("tiny"), "tiny")
    assert sorted(c.model.hparams["vector_channels"] for c in vc) == list(get_preset("tiny").ablations.vector_channels)
    assert len({c.model.hparams["hidden_dim"] for c in vc}) == 1
    dv = expand(diverse.diverse_spec("tiny"), "tiny")
    assert {c.data.name for c in dv} == {"xtb-mols"} and {c.data.seed for c in dv} == {1}
    assert {c.model.name for c in dv} == {"mpnn", "esen"}
    monkeypatch.delenv(diverse.DIVERSE_ENV, raising=False)
    with pytest.raises(RuntimeError, match=diverse.DIVERSE_ENV):
        diverse.diverse_spec("paper")
    monkeypatch.setenv(diverse.DIVERSE_ENV, "/data/omol25/4M")
    paper = expand(diverse.diverse_spec("paper"), "paper")
    assert {c.data.source for c in paper} == {"/data/omol25/4M"} and {c.data.n_val for c in paper} == {79_000}


# --- analysis helpers ------------------------------------------------------------------------------------------
def test_curves_frontier_recovers_gamma_and_backtests():
    C = np.geomspace(1e9, 1e15, 40)
    curves = pd.DataFrame({"run_id": "r0", "step": np.arange(1, 41), "atoms_seen": C, "flops": C, "params": 1000,
                           "val_loss": 0.9 * (C / PFLOP) ** -0.14})
    front, rep = fits.curves_frontier(curves, "tiny", n_boot=0, drop_first=0.0)
    assert rep.value("gamma") == pytest.approx(0.14, rel=1e-6) and rep.value("F") == pytest.approx(0.9, rel=1e-6)
    assert rep.backtest.are < 1e-6
    raw = fits.in_flops(rep.estimate)
    assert raw.predict(np.array([1e13]))[0] == pytest.approx(rep.estimate.predict(np.array([1e-2]))[0])
    _, tiny = fits.curves_frontier(curves.iloc[:1], "tiny", n_boot=0, drop_first=0.0)  # one point: no fit, no crash
    assert not tiny.ok and fits.TOO_FEW in tiny.note


def test_frontier_shift_is_the_vertical_log_distance():
    a = runs()
    b = a.assign(val_loss=a["val_loss"] * 10 ** 0.1)
    fa, fb = (fits.curves_frontier(x, "tiny", n_boot=0, drop_first=0.0)[0] for x in (a, b))
    assert symmetry.frontier_shift(fa, fb) == pytest.approx(0.1, abs=1e-9)
    with pytest.raises(ValueError, match="no compute range"):
        symmetry.frontier_shift(fa, fb.assign(flops=fb["flops"] * 1e6))


def test_table_accepts_words_and_missing_values():
    t = comparison_table([row("x", "larger", 0.5), row("y", 0.3, None, note=fits.TOO_FEW), row("z", None, 2.0,
                                                                                             ci=(1.0, 3.0))])
    assert list(t["paper"]) == ["larger", "0.3", ""]
    assert list(t["ours"]) == ["0.5", "–", "2 [1–3]"]


# --- figures ---------------------------------------------------------------------------------------------------
def symmetry_curves(**kw):
    # the symmetry loss: β up, α down, (M+1) = 6× the FLOPs per step
    return pd.concat([runs(prefix="a", **{"loss.symmetry_m": 0}, **kw),
                      runs(prefix="b", flops_factor=6.0, alpha=0.25, beta=0.40, **{"loss.symmetry_m": 5}, **kw)],
                     ignore_index=True)


def test_fig7_recovers_exponents_and_compute_factor():
    fig, table = symmetry.fig7(symmetry_curves(), preset="tiny")
    assert_figure(fig)
    assert ours(table, "β, no symmetry loss") == pytest.approx(BETA, abs=0.02)
    assert ours(table, "β, symmetry loss") == pytest.approx(0.40, abs=0.02)
    assert ours(table, "α, no symmetry loss") == pytest.approx(ALPHA, abs=0.02)
    assert ours(table, "α, symmetry loss") == pytest.approx(0.25, abs=0.02)
    assert ours(table, "compute factor") == pytest.approx(6.0)
    assert table_row(table, "compute factor")["paper"] == "6"
    assert table_row(table, "β, no symmetry loss")["backtest ARE"].endswith("%")
    assert ours(table, "frontier shift") > 0  # 6× the compute for a similar loss: the frontier moves right
    g = ours(table, "γ_c (frontier, eq. 4), no symmetry loss")
    assert ours(table, "Δ predicted") == pytest.approx(g * math.log10(6), rel=0.02)


def test_fig7_with_too_few_runs_says_so():
    curves = symmetry_curves(sizes=(1e3,))  # one model size per condition: no α, β
    fig, table = symmetry.fig7(curves, preset="tiny")
    assert_figure(fig)
    row = table_row(table, "β, no symmetry loss")
    assert row["ours"] == "–" and fits.TOO_FEW in row["note"]
    assert ours(table, "compute factor") == pytest.approx(6.0)


def test_fig8_finds_the_break_without_augmentation():
    curves = pd.concat([runs(prefix="a", floor_after=6.0, **{"train.augment": False}),
                        runs(prefix="b", **{"train.augment": True})], ignore_index=True)
    curves["train.max_epochs"], curves["data.fraction"] = 20, 0.01
    fig, table = multi_epoch.fig8(curves, preset="tiny", holdout=0.5)
    assert_figure(fig)
    no_aug, aug = ours(table, "extrapolation error, no augmentation"), ours(table, "extrapolation error, augmentation")
    assert aug < 0.02 < 0.1 < no_aug
    assert 4.0 < ours(table, "leaves ±5%, no augmentation") < 8.0  # around where the loss stops improving (6)
    assert table_row(table, "leaves ±5%, augmentation")["ours"] == "–"
    assert table_row(table, "γ_c (whole frontier), augmentation")["paper"] == "0.14"


def test_fig9_compares_augmentation_and_equivariance():
    curves = pd.concat([runs(prefix="m", **{"train.augment": True}),
                        runs(prefix="x", arch="mpnn", **{"train.augment": False}),  # Fig. 8's other runs: ignored
                        runs(prefix="e", arch="esen", alpha=0.8, beta=0.75, A_=5e3, B_=1e5,
                             **{"train.augment": False})],
                       ignore_index=True)
    fig, table = multi_epoch.fig9(curves, preset="tiny")
    assert_figure(fig)
    assert table_row(table, "γ_c, eSEN")["paper"] == "0.403"
    lo, hi = ours(table, "smallest common C"), ours(table, "largest common C")
    assert hi > lo  # the steeper eSEN law pulls ahead with compute


def test_fig10_picks_the_best_cells():
    rows = []
    for arch in hyperparameters.HP_ARCHS:
        for lr in (1e-4, 1e-3):
            for b in (8, 32):
                rows.append({"run_id": f"{arch}{lr}{b}", "arch": arch, "params": 1000, "step": 1, "optim.lr": lr,
                             "train.batch_size": b, "val_loss": 1.0 + (lr == 1e-4) + 0.5 * (b == 32),
                             "model.hparams.num_layers": 2, "model.hparams.hidden_dim": 16})
    lb = pd.DataFrame(rows)
    dw = pd.DataFrame([{"run_id": f"{a}{d}", "arch": a, "params": 1000, "step": 1, "val_loss": 1.0 / d,
                        "model.hparams.num_layers": d, "model.hparams.hidden_dim": 40 // d}
                       for a in hyperparameters.HP_ARCHS for d in (1, 2, 4)])
    fig, table = hyperparameters.fig10(lb, dw, preset="cpu")
    assert_figure(fig)
    for arch in hyperparameters.HP_ARCHS:
        label = ARCH_LABELS[arch]
        assert ours(table, f"{label}: best η") == 1.0
        assert ours(table, f"{label}: best batch") == 1.0
        assert ours(table, f"{label}: best depth") == 4.0


def test_fig11_loss_falls_with_vector_channels():
    curves = pd.concat([runs(sizes=(5e3,), prefix=f"E{e}", A_=20.0 * e ** -0.2,
                             **{"model.hparams.vector_channels": e, "model.hparams.hidden_dim": 32})
                        for e in (1, 2, 4, 8)], ignore_index=True)
    fig, table = vector_channels.fig11(curves, preset="cpu")
    assert_figure(fig)
    assert ours(table, "Spearman") == -1.0
    assert ours(table, "final loss change") < 0
    assert table_row(table, "γ_E")["backtest ARE"].endswith("%")


def test_fig12_exponent_gap():
    curves = pd.concat([runs(prefix="m"), runs(prefix="e", arch="esen", alpha=0.8, beta=0.75, A_=5e3, B_=1e5)],
                       ignore_index=True)
    fig, table = diverse.fig12(curves, preset="cpu")
    assert_figure(fig)
    gap = ours(table, "γ_c(eSEN) − γ_c(MPNN)")
    assert gap == pytest.approx(ours(table, "γ_c, eSEN") - ours(table, "γ_c, MPNN"), abs=2e-3)
    assert gap > 0
    assert "not printed" in table_row(table, "γ_c, eSEN")["note"]
