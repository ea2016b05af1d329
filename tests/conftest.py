"""Shared fixtures. Real DFT data lives beside the project in ../shared/data (CI has it there)."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NNIP_SHARED_DATA", ROOT.parent / "shared" / "data"))
ETHANOL_DIR = SHARED_DATA / "botnet-ethanol"


@pytest.fixture(scope="session")
def ethanol_xyz() -> Path:
    path = ETHANOL_DIR / "train.xyz"
    if not path.exists():
        raise FileNotFoundError(f"real test data missing: {path} (../shared/data must sit beside the repo)")
    return path


@pytest.fixture(scope="session")
def ethanol_lmdb() -> Path:
    return ETHANOL_DIR / "ethanol.aselmdb"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache/nnip from tests unless a test sets NNIP_CACHE itself."""
    if "NNIP_CACHE" not in os.environ:
        monkeypatch.setenv("NNIP_CACHE", str(tmp_path_factory.getbasetemp() / "nnip-cache"))
