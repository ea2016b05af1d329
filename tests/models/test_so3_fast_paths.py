"""The fast SO(3) paths of :mod:`nnip.nn.so3` (split-based :class:`~nnip.nn.so3.SO2Linear`, chunked S² activation
with recomputation) leave eSEN and EquiformerV2 unchanged: outputs and every gradient equal the plain reference
implementation to float64 round-off, and a step's counted FLOPs are identical (counting runs the reference)."""

from __future__ import annotations

import pytest
import torch

from nnip import testing as T
from nnip.nn import so3
from nnip.train.flops import count_flops

from .conftest import tiny_model

VARIANTS = [
    ("esen", {}),  # gate activation, grid feed-forward (the paper's eSEN)
    ("esen", {"act_type": "s2"}),
    ("esen", {"act_type": "s2", "ff_type": "spectral", "l_max": 3, "m_max": 2, "grid_resolution": None}),
    ("equiformer_v2", {}),  # grid-MLP FFN
    ("equiformer_v2", {"use_grid_mlp": False, "grid_resolution": None}),
]


def _step(model, batch):
    """Energy and forces (direct heads: neither model has an autograd-force path) and the gradients of a
    force-and-energy loss with respect to the parameters and the positions."""
    pos = batch.pos.detach().requires_grad_(True)
    out = model(batch.replace(pos=pos))
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [pos, *params], allow_unused=True)
    return [out["energy"], out["forces"], *(g for g in grads if g is not None)]


@pytest.mark.parametrize("name,overrides", VARIANTS)
def test_fast_paths_equal_reference(name, overrides, molecules):
    model = tiny_model(name, **overrides)
    batch = T.batch_for(model, molecules)
    fast = _step(model, batch)
    with so3.reference_implementation():
        ref = _step(model, batch)
    assert len(fast) == len(ref) > 2
    for a, b in zip(fast, ref):
        scale = b.abs().max().clamp_min(1e-300)
        assert ((a - b).abs().max() / scale).item() < 1e-12


@pytest.mark.parametrize("name,overrides", [VARIANTS[1], VARIANTS[3]])
def test_counted_flops_do_not_depend_on_fast_paths(name, overrides, molecules):
    model = tiny_model(name, **overrides)
    batch = T.batch_for(model, molecules)
    _step(model, batch)  # builds the per-process caches (grids, coefficients) once, outside the counted steps
    totals = []
    for ctx in (count_flops, lambda: _Both(so3.reference_implementation(), count_flops())):
        with ctx() as fc:
            _step(model, batch)
        totals.append(fc.count.as_dict())
    assert totals[0] == totals[1]


class _Both:
    """``with a, b:`` returning ``b`` (the counter)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __enter__(self):
        self.a.__enter__()
        return self.b.__enter__()

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        return self.a.__exit__(*exc)
