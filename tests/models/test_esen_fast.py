"""eSEN's fused edge message (:func:`nnip.nn.so3.edge_message`: gather, rotation, radial-scaled SO(2) convolution,
gate or S² activation and second SO(2) map as one autograd node) is bit-identical to the composition of the
separate fast paths it replaced (``so3.FUSED_EDGE_MESSAGE = False``): energy, forces and every parameter gradient
equal under ``torch.equal``, float32 and float64, for the gate and ``s2`` activations, channel counts on both sides
of the 16-column bmm chunking, and the committed cpu configurations."""

from __future__ import annotations

import pytest
import torch

from nnip import testing as T
from nnip.models import build_model
from nnip.nn import so3

CONFIGS = [
    # (act_type, C, l_max, m_max, hidden): TEST_HPARAMS-like, Table 5's layout, C > 16 (chunked rotations),
    # m_max = l_max
    ("gate", 4, 2, 1, 8),
    ("s2", 4, 2, 1, 8),
    ("gate", 8, 4, 2, 32),
    ("s2", 8, 4, 2, 32),
    ("gate", 16, 4, 2, 32),
    ("s2", 16, 4, 2, 16),
    ("gate", 32, 4, 2, 32),
    ("s2", 20, 3, 3, 16),
    # the committed cpu runs' configurations (gate, m_max 2, hidden 16, 3 layers in the runs; 2 here)
    *(("gate", C, 2, 2, 16) for C in (1, 2, 3, 4, 6, 8, 16, 32, 64)),
    *(("gate", C, L, 2, 16) for L in (3, 4) for C in (3, 4, 6, 8, 16)),
]


def _step(model, batch):
    out = model(batch)
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [out["energy"], out["forces"], *(g for g in grads if g is not None)]


def _model(act, C, L, M, H, dtype):
    torch.manual_seed(0)
    model = build_model(
        "esen", sphere_channels=C, act_type=act, l_max=L, m_max=M, hidden_channels=H, num_layers=2, num_radial=8
    )
    # the default initialisation leaves the element embeddings near zero; spread the weights so that every path
    # carries values of its own (a bit-identity test on near-zero messages would prove little)
    return T.lattice_weights_(model.to(dtype), seed=1).train()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("act,C,L,M,H", CONFIGS)
def test_fused_edge_message_bit_identical(act, C, L, M, H, dtype, molecules, monkeypatch):
    model = _model(act, C, L, M, H, dtype)
    batch = T.batch_for(model, molecules)
    calls = []
    original = so3._EdgeMessage.apply
    monkeypatch.setattr(so3._EdgeMessage, "apply", lambda *a: calls.append(1) or original(*a))
    fused = _step(model, batch)
    # the fused node runs in every layer, except where a half's rotation would take another bmm kernel than the
    # pair's (tiny products: ATen's small-product loop on one side of 400 multiply-adds, BLAS on the other)
    rows, K = (L + 1) + sum(2 * (L - m + 1) for m in range(1, M + 1)), (L + 1) ** 2
    # and where this machine's BLAS sums a half's columns as the pair's (MKL's AVX-512 path; not its AVX2 path)
    same_kernel = (rows * K * C >= 400) == (rows * K * 2 * C >= 400)
    expected = model.config.num_layers if same_kernel and so3._column_split_is_exact(dtype, rows, K, C) else 0
    assert len(calls) == expected
    monkeypatch.setattr(so3, "FUSED_EDGE_MESSAGE", False)
    plain = _step(model, batch)
    assert len(calls) == expected
    assert len(fused) == len(plain) > 2
    for a, b in zip(fused, plain):
        assert a.dtype == dtype
        assert torch.equal(a, b), (a - b).abs().max()


def test_fused_edge_message_falls_back_where_it_does_not_apply(molecules, monkeypatch):
    """Positions that need gradients (rotations with gradients), the reference path: the composition runs."""
    model = _model("gate", 4, 2, 1, 8, torch.float64)
    batch = T.batch_for(model, molecules)
    calls = []
    original = so3._EdgeMessage.apply
    monkeypatch.setattr(so3._EdgeMessage, "apply", lambda *a: calls.append(1) or original(*a))
    model(batch.replace(pos=batch.pos.detach().requires_grad_(True)))
    with so3.reference_implementation():
        model(batch)
    assert not calls
