"""nnip.keys is the one declaration of every batch and output tensor: a collated batch of real structures and a
model's output dict have exactly the keys, shapes and dtypes it declares (so the documentation cannot drift)."""

from pathlib import Path

import ase.io
import numpy as np
import torch

from nnip import keys
from nnip.data.batch import collate
from nnip.models import build_model, model_class

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "botnet-ethanol" / "train.xyz"


def _dims(batch) -> dict:
    return {"n_atoms": int(batch.pos.shape[0]), "n_graphs": int(batch.natoms.shape[0]),
            "n_edges": int(batch.edge_index.shape[1])}


def _expect(shape, dims):
    return tuple(dims[d] if isinstance(d, str) else d for d in shape)


def test_batch_fields_match_the_declared_shapes():
    atoms = ase.io.read(DATA, index=":3")
    batch = collate(atoms, cutoff=5.0, max_neighbors=None)
    dims = _dims(batch)
    for key, shape in keys.SHAPES.items():
        value = batch.edge_vectors() if key == keys.EDGE_VECTORS else getattr(batch, key)
        if value is None:  # a label the data does not have (molecules: no stress)
            assert key == keys.STRESS
            continue
        assert tuple(value.shape) == _expect(shape, dims), key
    for key in (keys.ATOMIC_NUMBERS, keys.BATCH, keys.NATOMS, keys.EDGE_INDEX, keys.CHARGE, keys.SPIN):
        assert getattr(batch, key).dtype == torch.long, key
    assert batch.pbc.dtype == torch.bool
    assert batch.edge_vectors().shape[0] == batch.edge_index.shape[1]
    assert set(keys.UNITS) <= set(keys.SHAPES)


def test_model_outputs_are_the_declared_keys():
    atoms = ase.io.read(DATA, index=":2")
    batch = collate(atoms, cutoff=5.0, max_neighbors=None)
    model = build_model("egnn", **{**model_class("egnn").TEST_HPARAMS, "stress": True})
    out = model(batch)
    assert set(out) <= set(keys.OUTPUT_KEYS) and {keys.ENERGY, keys.FORCES} <= set(out)
    dims = _dims(batch)
    for key, value in out.items():
        assert tuple(value.shape) == _expect(keys.SHAPES[key], dims), key
        assert np.isfinite(value.detach().numpy()).all(), key
