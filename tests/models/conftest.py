"""Fixtures of the model tests: real molecules (ethanol, acetylacetone), a periodic cell, tiny float64 models."""

from __future__ import annotations

import os
from pathlib import Path

import ase.build
import ase.io
import pytest
import torch

from nnip.models import MODELS, build_model, model_class

SHARED_DATA = Path(os.environ.get("NNIP_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
ACAC_XYZ = SHARED_DATA / "botnet-acac" / "train_300K.xyz"


def model_or_skip(name: str):
    """The class registered under ``name`` (every registered model has landed: a missing one is a failure)."""
    return model_class(name)


def tiny_model(name: str, dtype: torch.dtype = torch.float64, seed: int = 0, **overrides) -> torch.nn.Module:
    """``build_model(name, **TEST_HPARAMS, **overrides)`` in ``dtype``, seeded, in eval mode."""
    cls = model_or_skip(name)
    torch.manual_seed(seed)
    return build_model(name, **{**cls.TEST_HPARAMS, **overrides}).to(dtype).eval()


@pytest.fixture(scope="session")
def ethanol_frames(ethanol_xyz):
    """Three ethanol frames (9 atoms each) with DFT labels."""
    return ase.io.read(ethanol_xyz, ":3")


@pytest.fixture(scope="session")
def molecules(ethanol_frames):
    """Two ethanol frames and one acetylacetone frame (15 atoms): a batch of unequal structures."""
    if not ACAC_XYZ.exists():
        raise FileNotFoundError(f"real test data missing: {ACAC_XYZ}")
    return [*ethanol_frames[:2], ase.io.read(ACAC_XYZ, index=0)]


@pytest.fixture(scope="session")
def periodic_cell():
    """A rattled 2×1×1 fcc Cu supercell (8 atoms, periodic in 3D)."""
    cu = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    cu.rattle(0.05, seed=1)
    return cu


ALL_MODELS = sorted(MODELS)
