"""NNIPCalculator: a trained run as an ASE calculator (energies in eV, forces eV/Å, stress eV/Å³)."""

import numpy as np
import pytest
import torch

from nnip.calculator import NNIPCalculator, load_run
from nnip.data import collate, read
from nnip.train import train
from tests.train.conftest import make_config


def test_calculator_matches_the_model_and_denormalises(tmp_path, emt_small):
    cfg = make_config(emt_small, **{"model.hparams": {"stress": True}, "data.n_val": 6, "train.max_steps": 3})
    rec = train(cfg, tmp_path)
    model, norm, c = load_run(rec.run_dir)
    assert c["model"]["name"] == cfg.model.name and not model.training
    atoms = read(emt_small)[0]
    calc = NNIPCalculator(rec.run_dir)
    atoms.calc = calc
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    assert f.shape == (len(atoms), 3) and s.shape == (6,)
    batch = collate([atoms], cutoff=model.cutoff, max_neighbors=model.max_neighbors, labels=False)
    with torch.no_grad():
        out = model(batch)
    assert e == pytest.approx(float(out["energy"][0]) * norm.std + norm.mean + norm.reference_energy(atoms.numbers),
                              rel=1e-5)
    np.testing.assert_allclose(f, out["forces"].numpy() * norm.std, rtol=1e-4, atol=1e-6)
    # an equivariant model: group averaging changes nothing
    atoms.calc = NNIPCalculator(rec.run_dir, tta_m=3)
    np.testing.assert_allclose(atoms.get_forces(), f, rtol=1e-3, atol=1e-5)


def test_evaluate_run_reproduces_the_final_validation_loss(tmp_path, config_factory):
    from nnip.train.evaluate import evaluate_run

    rec = train(config_factory(**{"model.hparams": {"equivariant": False}, "train.max_steps": 4}), tmp_path)
    plain = evaluate_run(rec.run_dir)
    assert plain["val_loss"] == pytest.approx(rec.summary["final_val_loss"], rel=1e-6)
    ga = evaluate_run(rec.run_dir, tta_m=4)
    assert ga["tta_m"] == 4 and ga["val_loss"] != plain["val_loss"] and ga["val_loss"] > 0
