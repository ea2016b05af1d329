"""train(): curves, summaries, cache hits, regimes, failures, AMP, stress, TTA, symmetry loss."""

import math

import numpy as np
import pytest

from nnip.runs import CURVE_COLUMNS, RunStore
from nnip.train import eval_schedule, train


def test_eval_schedule():
    assert eval_schedule(100, 5) == [1, 3, 10, 32, 100]
    assert eval_schedule(10, 0, every=4) == [4, 8, 10]
    assert eval_schedule(1, 20) == [1]


def test_stream_run_curve_summary_and_cache_hit(tmp_path, config_factory):
    cfg = config_factory()
    store = RunStore(tmp_path)
    rec = train(cfg, store)
    assert rec.status == "done" and not rec.cached and rec.reason == "end of stream"
    curve = rec.curve()
    assert list(curve.columns[: len(CURVE_COLUMNS)]) == list(CURVE_COLUMNS)
    n_train = 80 - 12
    steps = math.ceil(n_train / 4)
    assert curve["step"].tolist() == eval_schedule(steps, 6)
    assert curve["structures_seen"].iloc[-1] == n_train and curve["atoms_seen"].iloc[-1] == 9 * n_train
    assert curve["epoch"].iloc[-1] == pytest.approx(1.0)
    for col in ("atoms_seen", "flops", "wall_s", "wall_s_train"):
        assert (np.diff(curve[col]) > 0).all(), col
    assert (curve["wall_s_train"] <= curve["wall_s"]).all()
    assert curve[["val_loss", "val_energy_mae", "val_force_l2", "train_loss"]].notna().all().all()
    # the per-step FLOP model: ethanol batches are identical, so C is exactly linear in steps
    per_step = curve["flops"].iloc[0] / curve["step"].iloc[0]
    assert curve["flops"].iloc[-1] == pytest.approx(per_step * n_train / 4, rel=1e-9)
    s = rec.summary
    assert s["params"] > 0 and s["flops"] == curve["flops"].iloc[-1] and s["steps"] == steps
    assert s["best_val_loss"] == pytest.approx(curve["val_loss"].min())
    assert s["flops_fit_rel_err"] < 1e-6 and s["train_flops_per_param_atom"] > 0
    assert 0 <= s["data_wait_frac"] < 1 and s["hours"] >= s["hours_train"] > 0
    assert "cpu" in s["device"]
    c = store.read_config(rec.run_id)
    assert c["config"]["data"]["source"] == str(cfg.data.source)
    assert c["dataset"]["hash"] and c["dataset"]["n_train"] == n_train and c["dataset"]["n_val"] == 12
    assert set(c["packages"]) >= {"torch", "e3nn", "ase", "numpy", "nnip"} and c["code_version"]
    assert c["normalizer"]["std"] > 0
    again = train(cfg, store)
    assert again.cached and again.status == "done" and len(again.curve()) == len(curve)
    # tables
    curves = store.curves()
    assert set(curves["run_id"]) == {rec.run_id} and "data.fraction" in curves and curves["params"].iloc[0] == s["params"]
    assert store.summaries()["status"].tolist() == ["done"]


def test_data_fraction_and_epochs_with_early_stopping(tmp_path, config_factory):
    store = RunStore(tmp_path)
    half = train(config_factory(**{"data.fraction": 0.5, "train.regime": "epochs", "train.max_epochs": 3}), store)
    c = half.curve()
    assert half.summary["n_train"] == 34 and half.reason == "max_epochs"
    assert c["structures_seen"].iloc[-1] == 3 * 34
    assert {1.0, 2.0, 3.0} <= set(np.round(c["epoch"], 6))  # an evaluation at every epoch end
    # lr = 0: the validation loss never improves -> stops after `patience` epochs without improvement
    stuck = train(config_factory(**{"train.regime": "epochs", "train.max_epochs": 10, "train.patience": 2,
                                    "optim.lr": 0.0, "data.fraction": 0.3}), store)
    assert stuck.reason == "early stopping" and stuck.summary["stopped_early"]
    assert stuck.summary["epochs"] == pytest.approx(3.0)


def test_max_steps_and_max_atoms(tmp_path, config_factory):
    store = RunStore(tmp_path)
    r = train(config_factory(**{"train.max_steps": 5}), store)
    assert r.reason == "max_steps" and r.curve()["step"].iloc[-1] == 5
    r = train(config_factory(**{"train.max_atoms": 100}), store)
    assert r.reason == "max_atoms" and r.summary["atoms_seen"] == 108  # 3 batches of 4 ethanols


def test_divergence_is_recorded_and_final(tmp_path, config_factory):
    store = RunStore(tmp_path)
    cfg = config_factory(**{"model.hparams": {"nan_output": True}})
    rec = train(cfg, store)
    assert rec.status == "failed" and rec.reason.startswith("diverged") and "step 1" in rec.reason
    assert store.read_summary(rec.run_id)["status"] == "failed"
    assert train(cfg, store).cached  # a diverged run is deterministic: not retried


def test_exceptions_mark_the_run_failed_and_propagate(tmp_path, config_factory):
    store = RunStore(tmp_path)
    cfg = config_factory(**{"model.hparams": {"no_such_hparam": 1}})
    with pytest.raises(TypeError, match="no_such_hparam"):
        train(cfg, store)
    s = store.read_summary(cfg.run_id())
    assert s["status"] == "failed" and "no_such_hparam" in s["reason"]


def test_bf16_cosine_mup(tmp_path, config_factory):
    cfg = config_factory(**{"train.amp": "bf16", "optim.name": "adamw_cosine", "optim.warmup_steps": 3,
                            "optim.mup": True, "optim.min_lr_ratio": 0.1, "optim.grad_clip": 1.0,
                            "model.hparams": {"hidden_dim": 32}, "eval.every": 3, "eval.log_points": 0})
    rec = train(cfg, tmp_path)
    c = rec.curve()
    assert rec.status == "done" and np.isfinite(c["val_loss"]).all()
    assert c["lr"].iloc[0] == pytest.approx(1e-3) and c["lr"].iloc[-1] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="fp16"):
        train(cfg.override({"train.amp": "fp16"}), tmp_path)


def test_stress_materials_recipe_symmetry_augmentation_tta(tmp_path, emt_small):
    from tests.train.conftest import make_config

    cfg = make_config(emt_small, **{"model.hparams": {"stress": True, "equivariant": False}, "data.n_val": 6,
                                    "loss.recipe": "materials", "loss.symmetry_m": 2, "train.augment": True,
                                    "eval.tta_m": 3, "eval.log_points": 3})
    rec = train(cfg, tmp_path)
    c = rec.curve()
    for col in ("val_stress_mae", "train_sym_loss", "val_loss_tta", "val_energy_mae_tta", "val_force_l2_tta",
                "val_stress_mae_tta"):
        assert col in c and c[col].notna().all(), col
    assert (c["val_stress_mae"] > 0).all()
    # the symmetry loss's extra passes are in the measured FLOPs: ≈ (M + 1)x the plain run's
    plain = train(cfg.override({"loss.symmetry_m": 0, "eval.tta_m": 0}), tmp_path)
    ratio = c["flops"].iloc[-1] / plain.curve()["flops"].iloc[-1]
    assert ratio == pytest.approx(3.0, rel=0.1)


def test_stream_reads_off_data_fractions_and_aselmdb_with_a_worker(tmp_path, config_factory, ethanol_lmdb):
    """The stream visits the split's order: a run on D_r equals the full stream's prefix (schedule-free: no
    schedule to differ); LMDB sources work in DataLoader worker processes."""
    store = RunStore(tmp_path)
    common = {"data.source": str(ethanol_lmdb), "data.limit": 60, "eval.every": 3, "eval.log_points": 0}
    full = train(config_factory(**common, **{"runtime.num_workers": 1}), store).curve()
    half = train(config_factory(**common, **{"data.fraction": 0.5}), store).curve()
    assert half["step"].tolist() == [3, 6]  # 24 of 48 training structures, batch 4
    both = half.merge(full, on="step", suffixes=("", "_full"))
    assert len(both) == 2
    for col in ("atoms_seen", "val_loss", "train_loss"):
        assert both[col].tolist() == both[col + "_full"].tolist(), col
