"""RunStore: atomic files, partial curve lines, locks, and two processes writing one store."""

import multiprocessing as mp

import pytest
import torch

from nnip.runs import RunLocked, RunStore
from nnip.train import TrainConfig, train


def test_json_curve_and_checkpoint_files(tmp_path):
    store = RunStore(tmp_path)
    store.write_summary("abc", {"status": "running", "x": float("nan")})
    assert store.read_summary("abc") == {"status": "running", "x": None}
    assert not list((tmp_path / "runs" / "abc").glob("*.tmp"))
    cols = ["step", "val_loss"]
    store.start_curve("abc", cols)
    for k in range(3):
        store.append_curve("abc", {"step": k, "val_loss": 1.0 / (k + 1)}, cols)
    with open(store.curve_path("abc"), "a") as fh:  # a write cut by kill -9
        fh.write("3,0.2")
    assert store.curve_rows("abc") == 3 and store.read_curve("abc")["step"].tolist() == [0, 1, 2]
    store.truncate_curve("abc", 2)
    assert store.read_curve("abc")["step"].tolist() == [0, 1]
    store.save_checkpoint("abc", {"a": torch.arange(3), "s": "json", "n": 1.5})
    assert torch.equal(store.load_checkpoint("abc")["a"], torch.arange(3))
    assert store.run_ids() == ["abc"] and "abc" in store


def _hold_lock(root, ready, release):
    with RunStore(root).lock("r1"):
        ready.set()
        release.wait(30)


def test_lock_excludes_other_processes(tmp_path):
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    p.start()
    assert ready.wait(30)
    with pytest.raises(RunLocked):
        with RunStore(tmp_path).lock("r1", blocking=False):
            pass
    release.set()
    p.join()
    with RunStore(tmp_path).lock("r1", blocking=False):
        pass


def _train_child(cfg_dict, root, out):
    torch.set_num_threads(1)
    rec = train(TrainConfig.from_dict(cfg_dict), root)
    out.put((rec.run_id, rec.status, rec.cached))


def test_two_processes_one_store(tmp_path, config_factory):
    """Same run twice at once: one trains, the other waits for the lock and gets the cache hit; plus a different run
    concurrently. Nothing is duplicated or corrupted."""
    same = config_factory(**{"model.hparams": {"sleep_s": 0.005}})
    other = config_factory(**{"data.fraction": 0.5})
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_train_child, args=(c.to_dict(), str(tmp_path), out)) for c in (same, same, other)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = sorted(out.get(timeout=5) for _ in procs)
    same_results = [r for r in results if r[0] == same.run_id()]
    assert sorted(r[2] for r in same_results) == [False, True] and all(r[1] == "done" for r in results)
    store = RunStore(tmp_path)
    s = store.summaries()
    assert len(s) == 2 and (s["status"] == "done").all()
    curve = store.read_curve(same.run_id())
    assert curve["step"].is_unique and curve["step"].is_monotonic_increasing
    assert store.read_summary(same.run_id())["resumes"] == 0
    reference = train(same, tmp_path / "alone")
    assert curve["val_loss"].tolist() == reference.curve()["val_loss"].tolist()
