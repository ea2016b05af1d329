"""The model contract, checked on EVERY registered model (its ``TEST_HPARAMS``) in float64 on real molecules and a
periodic cell, through :mod:`nnip.testing`: what a model declares in ``symmetries`` / ``local`` /
``smooth_cutoff`` must hold to round-off, and what it does not declare must measurably fail (the negatives)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nnip import testing as T
from nnip.data.batch import collate
from nnip.models import build_model

from .conftest import ALL_MODELS, model_or_skip, tiny_model

pytestmark = pytest.mark.parametrize("name", ALL_MODELS)

RTOL = 1e-9  # float64, symmetric by construction
NEGATIVE = 1e-3  # a symmetry a model does not declare must be broken by more than this (random init)


# --- declarations and outputs ---------------------------------------------------------------------------------
def test_declarations(name):
    cls = model_or_skip(name)
    assert isinstance(cls.symmetries, frozenset) and cls.symmetries <= {"rotation", "translation", "permutation"}
    assert "permutation" in cls.symmetries  # every model aggregates with symmetric functions
    assert isinstance(cls.local, bool) and isinstance(cls.smooth_cutoff, bool)
    assert isinstance(cls.TEST_HPARAMS, dict) and cls.LADDER, "a ladder and a tiny test config"
    model = tiny_model(name)
    assert dataclasses.is_dataclass(model.config) and model.config.__dataclass_params__.frozen
    assert model.cutoff > 0 and (model.max_neighbors is None or model.max_neighbors > 0)
    assert model.width > 0 and model.base_width > 0


def test_outputs(name, molecules):
    model = tiny_model(name, stress=True)
    batch = T.batch_for(model, molecules)
    out = model(batch)
    assert out["energy"].shape == (3,)
    assert out["forces"].shape == (batch.num_atoms, 3)
    assert out["stress"].shape == (3, 3, 3)
    torch.testing.assert_close(out["stress"], out["stress"].transpose(1, 2), rtol=0, atol=1e-12)
    for v in out.values():
        assert v.dtype == torch.float64 and torch.isfinite(v).all()
    assert "stress" not in tiny_model(name)(batch)


def test_float32(name, molecules, periodic_cell):
    model = tiny_model(name, dtype=torch.float32, stress=True)
    out = model(T.batch_for(model, [*molecules, periodic_cell]))
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values())


def test_bf16_autocast(name, molecules):
    """Trains under bf16 autocast (the trainer's AMP): finite outputs and gradients."""
    model = tiny_model(name, dtype=torch.float32)
    batch = T.batch_for(model, molecules)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert all(torch.isfinite(v).all() for v in out.values())
    (out["energy"].float().sum() + out["forces"].float().pow(2).sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_rejects_unknown_hparams(name):
    cls = model_or_skip(name)
    with pytest.raises(TypeError, match="not_a_hparam"):
        build_model(name, **cls.TEST_HPARAMS, not_a_hparam=1)


# --- symmetries ------------------------------------------------------------------------------------------------
def test_rotation(name, molecules, periodic_cell):
    """Declared: E(xRᵀ) = E(x), F → F Rᵀ, σ → R σ Rᵀ (molecules and a periodic cell). Not declared: broken."""
    model = tiny_model(name, stress=True)
    if "rotation" in model.symmetries:
        T.assert_equivariant(model, molecules, rtol=RTOL)
        T.assert_equivariant(model, [periodic_cell], rtol=RTOL)
    else:
        err = T.equivariance_error(model, T.batch_for(model, molecules), T.random_rotation(generator=_gen()))
        assert max(err["energy"], err["forces"]) > NEGATIVE, err


def test_translation(name, molecules, periodic_cell):
    model = tiny_model(name, stress=True)
    if "translation" in model.symmetries:
        T.assert_translation_invariant(model, molecules, rtol=RTOL)
        T.assert_translation_invariant(model, [periodic_cell], rtol=RTOL)
    else:
        T.assert_not_translation_invariant(model, molecules, min_error=NEGATIVE)


def test_permutation(name, molecules):
    model = tiny_model(name, stress=True)
    T.assert_permutation_equivariant(model, molecules, rtol=RTOL)


# --- batching --------------------------------------------------------------------------------------------------
def test_batch_equals_single(name, molecules, periodic_cell):
    model = tiny_model(name, stress=True)
    T.assert_batch_consistent(model, [*molecules, periodic_cell], rtol=RTOL)


def test_no_cross_talk(name, molecules):
    model = tiny_model(name)
    T.assert_no_cross_talk(model, molecules)


def test_graph_from_model(name, ethanol_frames):
    """The data pipeline builds the graph the model asks for (cutoff / max_neighbors)."""
    model = tiny_model(name)
    batch = T.batch_for(model, ethanol_frames[:1])
    ref = collate(ethanol_frames[:1], cutoff=model.cutoff, max_neighbors=model.max_neighbors)
    assert torch.equal(batch.edge_index, ref.edge_index)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
