"""Optimisers: μP parameter groups (η(w) = η*·w_base/w), cosine schedule, schedule-free eval weights."""


import pytest
import torch

from nnip.train.config import OptimSpec
from nnip.train.optim import build_optimizer, cosine_factor, current_lr, eval_state_dict, param_groups, set_mode
from tests.train.standin import PairMLP


def _model(width, **kw):
    torch.manual_seed(0)
    return PairMLP(PairMLP.Config(hidden_dim=width, base_hidden_dim=16, **kw))


def test_mup_param_groups():
    m = _model(64)
    groups = {g["name"]: g for g in param_groups(m, 1e-3, weight_decay=0.1, mup=True)}
    assert groups["vector"]["lr"] == 1e-3 and groups["vector"]["weight_decay"] == 0.0
    assert groups["matrix"]["lr"] == pytest.approx(1e-3 * 16 / 64) and groups["matrix"]["weight_decay"] == 0.1
    ids = lambda g: {id(p) for p in g["params"]}  # noqa: E731
    assert id(m.embed.weight) in ids(groups["vector"])  # embeddings are vector-like
    assert id(m.force_head.bias) in ids(groups["vector"])
    assert id(m.energy_mlp[0].weight) in ids(groups["matrix"])
    assert ids(groups["vector"]) | ids(groups["matrix"]) == {id(p) for p in m.parameters()}
    assert not ids(groups["vector"]) & ids(groups["matrix"])
    # without μP every group keeps η*; an explicit base width wins over the model's
    assert all(g["lr"] == 1e-3 for g in param_groups(m, 1e-3))
    assert param_groups(m, 1e-3, mup=True, base_width=32)[1]["lr"] == pytest.approx(5e-4)
    # the base-width model itself is unscaled
    assert all(g["lr"] == 1e-3 for g in param_groups(_model(16), 1e-3, mup=True))


def test_mup_vector_like_prefixes():
    m = _model(32)
    m.mup_vector_like = ("edge_mlp.0",)
    groups = {g["name"]: g for g in param_groups(m, 1.0, mup=True)}
    assert id(m.edge_mlp[0].weight) in {id(p) for p in groups["vector"]["params"]}


def test_cosine_schedule_with_warmup_and_floor():
    f = lambda k: cosine_factor(k, total_steps=110, warmup_steps=10, floor=0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)
    assert f(500) == pytest.approx(0.1)
    opt, sched = build_optimizer(_model(16), OptimSpec(name="adamw_cosine", lr=1.0, warmup_steps=10, min_lr_ratio=0.1),
                                 total_steps=110)
    lrs = []
    for _ in range(60):
        opt.step()
        sched.step()
        lrs.append(current_lr(opt))
    assert lrs[9] == pytest.approx(1.0) and lrs[59] == pytest.approx(f(60))


def test_schedule_free_eval_weights_without_touching_the_model():
    m = _model(16)
    opt, sched = build_optimizer(m, OptimSpec(lr=1e-2), total_steps=10)
    assert sched is None
    set_mode(m, opt, True)
    for _ in range(3):
        for p in m.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
    y = {k: v.clone() for k, v in m.state_dict().items()}
    x = eval_state_dict(m, opt)
    assert all(torch.equal(y[k], v) for k, v in m.state_dict().items())  # untouched
    set_mode(m, opt, False)
    assert not m.training
    for k, v in m.state_dict().items():
        assert torch.equal(x[k], v), k
    assert any(not torch.equal(x[k], y[k]) for k in x)
