"""Energy references (App. D) recover a known per-element law; normalisation round-trips; splits are nested."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from nnip.data import collate, read
from nnip.data.references import Normalizer, fit_references
from nnip.data.splits import fraction_indices, split

TRUE_REF = {1: -13.6, 6: -1029.0, 7: -1485.0, 8: -2041.0}


def _molecules(n=60, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        counts = {z: int(rng.integers(0 if z != 6 else 1, 6)) for z in TRUE_REF}
        numbers = [z for z, c in counts.items() for _ in range(c)]
        pos = rng.normal(size=(len(numbers), 3)) * 3
        e = sum(TRUE_REF[z] for z in numbers) + rng.normal() * noise
        a = Atoms(numbers=numbers, positions=pos)
        a.calc = SinglePointCalculator(a, energy=e, forces=rng.normal(size=(len(numbers), 3)))
        out.append(a)
    return out


def test_references_recover_known_law():
    norm = fit_references(_molecules())
    for z, ref in TRUE_REF.items():
        assert norm.references[z] == pytest.approx(ref, abs=0.05)
    assert abs(norm.mean) < 0.01  # residuals of the per-element fit are ~zero-mean
    assert 0.02 < norm.std < 0.1


def test_normalize_denormalize_round_trip(ethanol_xyz):
    frames = list(read(ethanol_xyz, limit=20))
    norm = fit_references(frames)
    batch = collate(frames[:5], dtype=torch.float64)
    target = norm.normalize(batch)
    assert target.energy.abs().max() < 10  # standardised
    back = norm.denormalize({"energy": target.energy, "forces": target.forces}, batch)
    torch.testing.assert_close(back["energy"], batch.energy)
    torch.testing.assert_close(back["forces"], batch.forces)
    again = Normalizer.from_dict(norm.to_dict())
    torch.testing.assert_close(again.normalize(batch).energy, target.energy)


def test_references_need_energies():
    a = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]])
    with pytest.raises(ValueError, match="structure 0 has no energy"):
        fit_references([a])
    with pytest.raises(ValueError, match="no structures"):
        fit_references([])


def test_split_is_deterministic_disjoint_and_complete():
    tr, va = split(100, val_fraction=0.1, seed=3)
    tr2, va2 = split(100, val_fraction=0.1, seed=3)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(va, va2)
    assert len(va) == 10 and set(tr).isdisjoint(va) and set(tr) | set(va) == set(range(100))
    assert not np.array_equal(split(100, val_fraction=0.1, seed=4)[1], va)
    with pytest.raises(ValueError, match="exactly one"):
        split(10)
    with pytest.raises(ValueError, match="n_val"):
        split(10, n_val=10)


def test_fractions_are_nested_prefixes():
    tr, _ = split(1000, n_val=100, seed=0)
    prev = None
    for r in np.linspace(0.1, 1.0, 10):
        idx = fraction_indices(tr, float(r))
        assert len(idx) == round(r * 900)
        if prev is not None:
            np.testing.assert_array_equal(idx[: len(prev)], prev)
        prev = idx
    with pytest.raises(ValueError, match="r must be"):
        fraction_indices(tr, 0.0)
