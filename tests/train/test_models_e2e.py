"""End to end with the real models: MPNN trains (molecules; materials with stress), and every registered model's
training step is fully counted by the FLOP counter (nothing but integer index bookkeeping left uncounted)."""

import pytest
import torch

from nnip.data import collate, read
from nnip.models import MODELS, build_model, model_class
from nnip.train import train
from nnip.train.flops import count_flops, kappa
from nnip.train.loss import objective
from tests.train.conftest import make_config

INDEX_BOOKKEEPING = {"sort", "_unique2", "argsort", "unique_consecutive"}


def _landed(name):
    try:
        model_class(name)
        return True
    except NotImplementedError:
        return False


def test_mpnn_end_to_end(tmp_path, ethanol_small, emt_small):
    if not _landed("mpnn"):
        pytest.skip("mpnn has not landed")
    hp = dict(model_class("mpnn").TEST_HPARAMS)
    cfg = make_config(ethanol_small, **{"model.name": "mpnn", "model.hparams": hp, "train.batch_size": 8,
                                        "optim.mup": True, "eval.log_points": 3, "train.augment": True})
    cfg = cfg.replace(model=cfg.model.__class__("mpnn", hp))
    rec = train(cfg, tmp_path)
    assert rec.status == "done" and rec.summary["flops"] > 0 and not rec.summary["flops_uncounted_ops"]
    c = rec.curve()
    assert c["val_loss"].iloc[-1] < c["val_loss"].iloc[0]
    if "stress" in {f.name for f in __import__("dataclasses").fields(model_class("mpnn").Config)}:
        mat = make_config(emt_small, **{"data.n_val": 6, "loss.recipe": "materials", "train.max_steps": 3})
        mat = mat.replace(model=mat.model.__class__("mpnn", {**hp, "stress": True}))
        r = train(mat, tmp_path)
        assert r.status == "done" and r.curve()["val_stress_mae"].notna().all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_flops_are_counted(name, ethanol_small):
    if not _landed(name):
        pytest.skip(f"{name} has not landed")
    torch.manual_seed(0)
    model = build_model(name, **model_class(name).TEST_HPARAMS)
    batch = collate(list(read(ethanol_small, limit=2)), cutoff=model.cutoff, max_neighbors=model.max_neighbors)
    with count_flops() as fc:
        objective(model, batch)[0].sum().backward()
    assert fc.total > 0 and fc.count.matmul > 0
    assert set(fc.count.uncounted) <= INDEX_BOOKKEEPING, dict(fc.count.uncounted)
    assert kappa(model, [batch]) > 0
