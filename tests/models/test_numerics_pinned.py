"""Speed work must not move a model's numbers: the committed run store (``results/cpu``) was produced with them.

For every model whose runs are committed or in production, a seeded tiny model on real molecules: energy, forces and
the gradient of a fixed loss, pinned in float64 (values recorded before the gather/padding rewrites of issue 11:
``index_select``/``index_copy`` instead of advanced indexing, identical to the last bit in float32 and float64).
A deliberate change of a model's function must update these values and say why in its commit."""

import pytest
import torch

from nnip import testing as T

from .conftest import tiny_model

#: name → (sum of energies, sum of |forces|, sum of |d loss / d params|), float64
PINNED = {
    "egnn": (-7.954894425711693, 9.123273344968062, 7778.119860904707),
    "mpnn": (-2.4739267247920598, 18.54990377892794, 1510.7733377912582),
    "esen": (15.128828008803913, 26.546684862094004, 89276.67766283832),
    "gemnet_oc": (-16.96140613984881, 13.3244293034742, 162188.88487644395),
}


def _numbers(name, molecules):
    model = tiny_model(name).train()
    batch = T.batch_for(model, molecules)
    out = model(batch)
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum()
    loss.backward()
    grad = sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None)
    return float(out["energy"].detach().sum()), float(out["forces"].detach().abs().sum()), float(grad)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_model_numbers_are_pinned(name, molecules):
    assert _numbers(name, molecules) == pytest.approx(PINNED[name], rel=1e-12, abs=0)
