"""DDP: 2 CPU processes (gloo) with the same global batch reproduce the single-process curve."""

import multiprocessing as mp
import os
import socket

import numpy as np
import torch

from nnip.train import TrainConfig, train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank, world, port, cfg_dict, root, out):
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    try:
        rec = train(TrainConfig.from_dict(cfg_dict), root)
        out.put((rank, rec.status))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_process_gloo_matches_single_process(tmp_path, config_factory):
    cfg = config_factory(**{"train.batch_size": 6, "train.augment": True, "loss.symmetry_m": 1, "eval.tta_m": 1})
    single = train(cfg, tmp_path / "single").curve()
    ctx = mp.get_context("fork")
    out, port = ctx.Queue(), _free_port()
    procs = [ctx.Process(target=_rank, args=(r, 2, port, cfg.to_dict(), str(tmp_path / "ddp"), out)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    assert sorted(out.get(timeout=5) for _ in procs) == [(0, "done"), (1, "done")]
    from nnip.runs import RunStore

    store = RunStore(tmp_path / "ddp")
    ddp = store.read_curve(cfg.run_id())
    assert store.read_summary(cfg.run_id())["world_size"] == 2
    assert ddp["step"].tolist() == single["step"].tolist()
    assert ddp["atoms_seen"].tolist() == single["atoms_seen"].tolist()
    for col in ("val_loss", "val_force_l2", "train_loss", "val_loss_tta", "train_sym_loss"):
        np.testing.assert_allclose(ddp[col], single[col], rtol=1e-4, err_msg=col)
    # per-process constant costs (a few ops per step) are counted once per rank
    np.testing.assert_allclose(ddp["flops"], single["flops"], rtol=1e-2)
