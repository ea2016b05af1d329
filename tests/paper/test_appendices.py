"""Fig. 13–16 (group_averaging, energy_force, translation, transformer) and the materials chapter (nnip.paper.materials) on small synthetic curves: the
fits recover the exponents they were built with, the tables carry the paper's numbers, too few runs give a note
instead of an exception, and nothing trains."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nnip.paper import energy_force, fits, group_averaging, materials, transformer, translation
from nnip.paper._common import cached_json
from nnip.train.evaluate import zero_output_loss


# --- synthetic curves ------------------------------------------------------------------------------------------------
def _run(run_id, arch, params, losses, *, atoms=None, flops=None, **extra):
    k = len(losses)
    atoms = np.arange(1, k + 1) * 100.0 if atoms is None else np.asarray(atoms, float)
    flops = 6.0 * params * atoms if flops is None else np.asarray(flops, float)
    return pd.DataFrame({"run_id": run_id, "arch": arch, "params": params, "step": np.arange(1, k + 1),
                         "atoms_seen": atoms, "flops": flops, "val_loss": np.asarray(losses, float),
                         "train_loss": np.asarray(losses, float) * 1.1, "status": "done", **extra})


def _row(table: pd.DataFrame, startswith: str) -> pd.Series:
    hits = table[table["quantity"].str.startswith(startswith)]
    assert len(hits) == 1, (startswith, list(table["quantity"]))
    return hits.iloc[0]


# --- helpers ---------------------------------------------------------------------------------------------------------
def test_a_fit_the_points_cannot_support_is_a_note():
    def fit(x, y):
        return fits.power_law_report(pd.DataFrame({"x": x, "val_loss": y}), "x", holdout=None)

    rep = fit([10.0], [1.0])
    assert not rep.ok and rep.note.startswith("too few runs at this preset (")
    rep = fit([10.0, 10.0], [1.0, 2.0])
    assert not rep.ok and rep.note.startswith("too few runs at this preset (")  # one distinct x
    rep = fit([1.0, 2.0], [1.0, -1.0])
    assert not rep.ok and "y: must be > 0" in rep.note  # the library's reason is kept
    rep = fit([1.0, 10.0], [2.0, 1.0])
    assert rep.note == "" and rep.value("gamma") == pytest.approx(np.log10(2.0))


def test_upward_fraction():
    assert energy_force.upward_fraction([4, 3, 2, 1]) == 0.0
    assert energy_force.upward_fraction([1, 2, 1, 2]) == pytest.approx(2 / 3)
    assert energy_force.upward_fraction([1, 2]) == 1.0
    assert np.isnan(energy_force.upward_fraction([1.0]))
    assert np.isnan(energy_force.upward_fraction([2.0, 2.0, 2.0]))


def test_m_values():
    assert group_averaging.parse_m_values("auto", "tiny") == (1, 2, 4)
    assert group_averaging.parse_m_values("auto", "cpu") == (1, 2, 4, 8, 16, 32)
    assert group_averaging.parse_m_values("4, 1", "cpu") == (1, 4)
    with pytest.raises(ValueError, match="m_values"):
        group_averaging.parse_m_values("0,2", "cpu")


def test_cached_evaluation_is_computed_once(tmp_path):
    from nnip.runs import RunStore

    rs = RunStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"val_loss": 1.5}

    for _ in range(2):
        assert cached_json(rs, "abc", "tta.json", "M=4,seed=0", compute) == {"val_loss": 1.5}
    assert len(calls) == 1
    assert json.loads((tmp_path / "runs" / "abc" / "tta.json").read_text()) == {"M=4,seed=0": {"val_loss": 1.5}}


def test_a_book_from_the_committed_store_never_computes_a_missing_cache(tmp_path):
    """``compute_missing=False`` (``train_missing=False``: the book from the committed store) reads the cache and
    names the run, the file and the key when it is missing, without calling the evaluation (which needs the
    checkpoint and would generate the dataset)."""
    from nnip.runs import RunStore

    rs = RunStore(tmp_path)

    def compute():
        raise AssertionError("must not compute")

    with pytest.raises(RuntimeError, match=r"run abc: tta\.json has no cached result 'M=4,seed=0'"):
        cached_json(rs, "abc", "tta.json", "M=4,seed=0", compute, compute_missing=False)
    assert not (tmp_path / "runs" / "abc" / "tta.json").exists()
    rs.write_json("abc", "tta.json", {"M=4,seed=0": {"val_loss": 1.5}})
    assert cached_json(rs, "abc", "tta.json", "M=4,seed=0", compute, compute_missing=False) == {"val_loss": 1.5}


# --- Fig. 13 ---------------------------------------------------------------------------------------------------------
def _tta(params, L_D, A, alpha, ga_factor=0.9, ms=(1, 2, 4, 8)):
    rows = []
    for i, n in enumerate(params):
        base = L_D + A * n ** (-alpha)
        rows.append({"run_id": f"r{i}", "params": n, "M": 0, "val_loss": base})
        for m in ms:  # GA: A shrinks towards ga_factor·A as M grows (saturating)
            rows.append({"run_id": f"r{i}", "params": n, "M": m,
                         "val_loss": L_D + A * (ga_factor + (1 - ga_factor) / m) * n ** (-alpha)})
    return pd.DataFrame(rows)


def test_fig13_recovers_alpha_with_and_without_ga():
    params = [1e3, 1e4, 1e5, 1e6]
    tta = _tta(params, L_D=0.2, A=30.0, alpha=0.3)
    fig, table = group_averaging.fig13(pd.DataFrame(), tta, l_d=0.2)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[1].get_xscale() == fig.axes[1].get_yscale() == "log"
    assert _row(table, "L_D")["paper"] == "0.223" and _row(table, "L_D")["ours"] == "0.2"
    for label in ("α without GA", "α with GA, M = 8"):
        row = _row(table, label)
        assert row["paper"] == "0.276" and row["ours"] == "0.3"
        assert row["backtest ARE"] == "0.0%"
    assert float(_row(table, "A with GA / A without GA")["ours"]) == pytest.approx(0.9 + 0.1 / 8, rel=1e-3)
    assert float(_row(table, "L(M = 8) / L(no GA)")["ours"]) < 1


def test_fig13_l_d_from_an_eq5_fit():
    A, alpha, B, beta = 30.0, 0.3, 200.0, 0.4
    runs = []
    for i, n in enumerate([1e3, 1e4, 1e5]):
        d = np.geomspace(1e4, 1e6, 12)
        runs.append(_run(f"r{i}", "mpnn", n, A * n ** -alpha + B * d ** -beta, atoms=d))
    curves = pd.concat(runs, ignore_index=True)
    L_D = B * 1e6 ** -beta
    fig, table = group_averaging.fig13(curves, _tta([1e3, 1e4, 1e5], L_D, A, alpha), l_d="fit", drop_first=0.0)
    assert float(_row(table, "L_D")["ours"]) == pytest.approx(L_D, rel=1e-2)
    assert float(_row(table, "α without GA")["ours"]) == pytest.approx(alpha, abs=0.01)


def test_fig13_two_sizes_note_instead_of_backtest():
    fig, table = group_averaging.fig13(pd.DataFrame(), _tta([1e3, 1e4], 0.2, 30.0, 0.3, ms=(1, 2)), l_d=0.2)
    row = _row(table, "α without GA")
    assert row["backtest ARE"] == "" and "too few runs at this preset" in row["note"]
    # L_D above the losses: no fit, a note, no exception
    fig, table = group_averaging.fig13(pd.DataFrame(), _tta([1e3, 1e4], 0.2, 30.0, 0.3, ms=(1, 2)), l_d=5.0)
    assert _row(table, "α without GA")["ours"] == "–"
    assert "must be below" in _row(table, "α without GA")["note"]


# --- Fig. 14 ---------------------------------------------------------------------------------------------------------
def test_fig14_energy_noisier_than_forces():
    runs = []
    for arch in ("mpnn", "esen"):
        for i, n in enumerate((100, 1000)):
            k = np.arange(8)
            energy = 0.1 * (1 + 0.3 * (k % 2)) / (1 + k)  # zig-zag
            force = 2.0 / (1 + 0.1 * k)  # smooth
            runs.append(_run(f"{arch}{i}", arch, n, energy + force, val_energy_loss=energy, val_force_loss=force))
    fig, table = energy_force.fig14(pd.concat(runs, ignore_index=True))
    assert len(fig.axes) == 4
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in fig.axes)
    assert fig.axes[0].get_ylabel().startswith("energy loss")
    assert list(table["paper"]) == ["yes", "yes"] and list(table["ours"]) == ["yes", "yes"]


# --- Fig. 15 ---------------------------------------------------------------------------------------------------------
def test_fig15_frontier_exponents():
    C = np.geomspace(1e12, 1e16, 12)  # FLOPs
    ti = _run("a", "mpnn", 1000, 0.9 * (C / 1e15) ** -0.14, flops=C, translation_invariant=True)
    no = _run("b", "mpnn", 1100, 1.2 * (C / 1e15) ** -0.10, flops=C, translation_invariant=False)
    fig, table = translation.fig15(pd.concat([ti, no], ignore_index=True), drop_first=0.0)
    assert len(fig.axes) == 2
    row = _row(table, "γ_c, MPNN with ")
    assert row["paper"] == "0.142" and row["ours"] == "0.14" and row["backtest ARE"] == "0.0%"
    assert _row(table, "F_c [C in PFLOPs], with ")["ours"] == "0.9"
    assert _row(table, "γ_c, MPNN without")["ours"] == "0.1"
    assert float(_row(table, "best final loss without / with")["ours"]) > 1


# --- Fig. 16 ---------------------------------------------------------------------------------------------------------
def test_fig16_flat_transformer_vs_learning_mpnn():
    k = np.arange(10)
    tr = _run("t", "transformer", 5000, 2.6 + 0.5 * np.exp(-3 * k))  # saturates at once
    mp = _run("m", "mpnn", 3000, 2.6 / (1 + 0.3 * k))
    fig, table = transformer.fig16(pd.concat([tr, mp], ignore_index=True), zero_loss=2.6)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    t_gain = float(_row(table, "Transformer (largest N): improvement")["ours"])
    m_gain = float(_row(table, "MPNN (largest N): improvement")["ours"])
    assert abs(t_gain) < 0.01 < m_gain
    assert float(_row(table, "Transformer (largest N): best val loss / all-zero")["ours"]) == pytest.approx(1.0, abs=1e-3)


# --- zero-output loss --------------------------------------------------------------------------------------------------
def test_zero_output_loss_is_the_mean_label_size(tmp_path):
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from nnip.data.references import Normalizer
    from nnip.train.config import TrainConfig

    frames = []
    for seed in range(6):
        a = molecule("CH3CH2OH")
        a.rattle(0.05, seed=0)  # identical structures: any validation split gives the same answer
        a.calc = EMT()
        e, f = a.get_potential_energy(), a.get_forces()
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
        frames.append(a)
    write(tmp_path / "data.xyz", frames)
    cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"source": str(tmp_path / "data.xyz"), "n_val": 2}})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": cfg.resolved().to_dict(),
                                                 "normalizer": Normalizer.identity().to_dict(),
                                                 "model": {"cutoff": 6.0, "max_neighbors": 30}}))
    out = zero_output_loss(run)
    n = len(frames[0])
    energy, force = abs(e) / n, np.linalg.norm(f, axis=1).sum() / n
    assert out["val_energy_loss"] == pytest.approx(energy, rel=1e-5)
    assert out["val_force_loss"] == pytest.approx(force, rel=1e-5)
    assert out["val_loss"] == pytest.approx(energy + force, rel=1e-5)  # eq. (1), λ_e = λ_f = 1


# --- materials ---------------------------------------------------------------------------------------------------------
def _materials_curves():
    """EquiformerV2 runs lying exactly on Trikha et al.'s D, P and C laws; transformer runs on its D law."""
    runs = []
    for arch, (aD, bD), bP, bC in (("equiformer_v2", (64.7, 0.242), 0.383, 0.339), ("transformer", (77.1, 0.052), 0.12, 0.05)):
        p_max, d_max = 1e6, 1000.0
        L_shared = aD * d_max ** -bD
        aP = L_shared * p_max ** bP  # the P law through the shared (largest model, full data) run
        aC = 4.99e5 if arch == "equiformer_v2" else 100.0
        points = [(p_max, r, aD * (r * d_max) ** -bD) for r in (0.25, 0.5, 1.0)]
        points += [(p, 1.0, aP * p ** -bP) for p in (1e4, 1e5)]
        for i, (p, r, L) in enumerate(points):
            C = (L / aC) ** (-1 / bC)
            runs.append(pd.DataFrame({"run_id": f"{arch}{i}", "arch": arch, "params": int(p), "step": [1, 2],
                                      "flops": [C / 2, C], "val_loss": [aC * (C / 2) ** -bC, L], "data.fraction": r,
                                      "n_train": r * d_max}))
    return pd.concat(runs, ignore_index=True)


def test_materials_fits_recover_trikha_laws():
    curves = _materials_curves()
    pts = materials.scaling_points(curves)
    assert pts.groupby("arch")["data"].sum().tolist() == [3, 3] and pts["params_role"].sum() == 6
    laws = materials.fit_laws(curves)
    for (arch, axis), paper in materials.PAPER_LAWS.items():
        fit = laws[(arch, axis)]["fit"]
        assert fit.gamma == pytest.approx(paper["beta"], rel=1e-6), (arch, axis)
        if axis != "P":
            assert fit.F == pytest.approx(paper["alpha"], rel=1e-6), (arch, axis)
    fig, table = materials.figure(curves, zero_loss=60.0)
    assert len(fig.axes) == 3 and all(ax.get_xscale() == "log" for ax in fig.axes)
    row = _row(table, "EquiformerV2 (ℓ≥2), data: L = α·D^−β: β")
    assert row["paper"] == row["ours"] == "0.242" and row["backtest ARE"] == "0.0%"
    row = _row(table, "EquiformerV2 (ℓ≥2), compute: L = α·C^−β: α")
    assert row["paper"] == row["ours"] == "4.99e+05"
    assert _row(table, "Transformer (unconstrained), compute: L = α·C^−β: β")["paper"] == ""
    assert _row(table, "Transformer: best loss below 1e+15 FLOPs")["paper"] == "40"


def test_materials_too_few_runs_give_notes():
    curves = _materials_curves()
    keep = curves["run_id"].isin(["equiformer_v2" + s for s in "023"] + ["transformer" + s for s in "023"])
    fig, table = materials.figure(curves[keep], zero_loss=None)
    row = _row(table, "EquiformerV2 (ℓ≥2), data: L = α·D^−β: β")
    assert row["ours"] == "0.242" and "too few runs at this preset" in row["note"]


def test_materials_specs_share_the_largest_full_data_run():
    from nnip.sweep import expand

    specs = materials.materials_specs("tiny")
    assert [s["name"] for s in specs] == ["materials-params-transformer", "materials-data-transformer",
                                          "materials-params-equiformer_v2", "materials-data-equiformer_v2"]
    params, data = expand(specs[2], "tiny"), expand(specs[3], "tiny")
    assert len(params) == 2 and [c.data.fraction for c in data] == [0.5, 1.0]
    assert params[-1].run_id() == data[-1].run_id()  # 3 runs per architecture, not 4
    cfg = data[0]
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.mup, cfg.optim.min_lr_ratio) == ("adamw_cosine", 6e-4, False, 0.01)
    assert (cfg.train.regime, cfg.train.patience, cfg.train.max_epochs) == ("epochs", 3, 2)
    assert cfg.loss.recipe == "materials" and cfg.model.hparams["stress"] is True
    assert cfg.optim.warmup_steps == 1  # 5% of 2 epochs × 6 steps
    assert materials.materials_specs("cpu", amp="bf16", warmup=100)[0]["base"]["train.amp"] == "bf16"
    with pytest.raises(ValueError, match="fractions"):
        materials.materials_specs("tiny", fractions="0,1")
