"""Fixtures of the trainer tests: small data files (written once per session) and a tiny config factory.

Models: the stand-in ``tests.train.standin:PairMLP`` (the real models are tested end to end in test_models_e2e.py
once they land). Subprocesses get the repository root on ``PYTHONPATH`` so they can import it too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nnip.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
STANDIN = "tests.train.standin:PairMLP"


@pytest.fixture(autouse=True)
def _threads_and_path(monkeypatch):
    torch.set_num_threads(1)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{path}" if path else str(ROOT))


@pytest.fixture(scope="session")
def ethanol_small(tmp_path_factory, ethanol_xyz) -> Path:
    """80 ethanol structures (real DFT labels) as extxyz."""
    import ase.io

    from nnip.data import read

    ds = read(ethanol_xyz, limit=80)
    frames = [ds[k] for k in range(80)]
    path = tmp_path_factory.mktemp("data") / "ethanol80.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="session")
def emt_small(tmp_path_factory) -> Path:
    """24 rattled, strained Cu/Au fcc cells with EMT energy, forces and stress, as extxyz."""
    import ase.io
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(0)
    frames = []
    for k in range(24):
        a = bulk("Cu", "fcc", a=3.6 + 0.05 * rng.standard_normal(), cubic=True)
        a.numbers[rng.random(len(a)) < 0.3] = 79
        a.rattle(0.05, seed=k)
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        frames.append(a)
    path = tmp_path_factory.mktemp("data") / "emt24.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


def make_config(source, **dotted) -> TrainConfig:
    """A tiny run on ``source``: stand-in model (hidden 8), 12 validation structures, batch 4, 6 log evaluations."""
    base = {
        "model.name": STANDIN,
        "model.hparams": {"hidden_dim": 8, "num_radial": 6},
        "data.source": str(source),
        "data.n_val": 12,
        "train.batch_size": 4,
        "eval.log_points": 6,
        "runtime.threads": 1,
        "runtime.flops_calibration_steps": 2,
        "runtime.flops_every": 5,
    }
    hp = dict(base.pop("model.hparams"))
    hp.update(dotted.pop("model.hparams", {}))
    d = {**base, **dotted}
    cfg = TrainConfig.from_dict(d)
    return cfg.replace(model=cfg.model.__class__(cfg.model.name, hp))


@pytest.fixture
def config_factory(ethanol_small):
    def factory(source=None, **dotted):
        return make_config(source or ethanol_small, **dotted)

    return factory
