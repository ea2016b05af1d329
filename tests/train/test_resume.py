"""Resume: a run killed at any point (kill -9) continues from its last checkpoint and reproduces the
uninterrupted curve exactly (CPU, fixed seed): same rows, no duplicates, no gaps."""

import multiprocessing as mp
import os
import signal
import time

import pytest
import torch

from nnip.runs import RunStore
from nnip.train import TrainConfig, train
from tests.train.interrupt import interrupt_and_resume

EXACT = ["step", "epoch", "atoms_seen", "structures_seen", "flops", "train_loss", "val_loss", "val_energy_mae",
         "val_force_l2", "val_energy_loss", "val_force_loss", "lr"]


def _child(cfg_dict, store_path):
    torch.set_num_threads(1)
    train(TrainConfig.from_dict(cfg_dict), store_path)


def _assert_same_curve(a, b, extra=()):
    cols = [c for c in EXACT + list(extra) if c in a]
    assert len(a) == len(b) and a["step"].is_unique and b["step"].is_unique
    for col in cols:
        assert a[col].tolist() == b[col].tolist(), col  # bit-identical


def test_kill9_mid_run_then_resume_is_bit_identical(tmp_path, config_factory):
    cfg = config_factory(**{
        "model.hparams": {"sleep_s": 0.01, "dropout": 0.1},  # dropout: the global torch RNG must be restored
        "train.batch_size": 2, "train.augment": True, "eval.every": 3, "eval.log_points": 4,
        "runtime.checkpoint_at_eval": False, "runtime.checkpoint_every": 7, "runtime.checkpoint_minutes": None,
    })
    ref = train(cfg, tmp_path / "ref")
    store = RunStore(tmp_path / "killed")
    proc = mp.get_context("fork").Process(target=_child, args=(cfg.to_dict(), str(store.root)))
    proc.start()
    run_id, killed_at = cfg.run_id(), None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.is_alive():
        if store.checkpoint_path(run_id).exists():
            ck_rows = store.load_checkpoint(run_id)["counters"]["curve_rows"]
            if store.curve_rows(run_id) > ck_rows:  # rows written after the checkpoint: must be truncated
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = store.curve_rows(run_id)
                break
        time.sleep(0.005)
    proc.join()
    assert killed_at is not None and proc.exitcode == -signal.SIGKILL, "the child finished before it was killed"
    assert store.read_summary(run_id)["status"] == "running"
    rec = train(cfg, store)
    assert rec.status == "done" and not rec.cached and rec.summary["resumes"] == 1
    _assert_same_curve(rec.curve(), ref.curve())


@pytest.mark.parametrize("variant", [
    {"optim.name": "adamw_cosine", "optim.warmup_steps": 2, "train.regime": "epochs", "train.max_epochs": 2,
     "loss.symmetry_m": 1, "data.fraction": 0.5, "runtime.num_workers": 1},
    {"eval.tta_m": 2, "runtime.checkpoint_at_eval": False, "runtime.checkpoint_every": 4},
])
def test_interrupt_and_resume_variants(tmp_path, config_factory, monkeypatch, variant):
    """Interrupted in-process (KeyboardInterrupt at step 9): epochs regime + cosine + symmetry loss + a worker
    process; and checkpoints off the evaluation steps with TTA."""
    cfg = config_factory(**variant)
    ref, rec = interrupt_and_resume(cfg, tmp_path, monkeypatch, at_step=8)
    assert rec.summary["resumes"] == 1
    _assert_same_curve(rec.curve(), ref.curve(), extra=["train_sym_loss", "val_loss_tta"])
