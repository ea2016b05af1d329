"""The embedded dataset generators (xtb-mols, emt-alloys), the .aselmdb writer and the dataset registry."""

import logging
import os

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_stress
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect
from ase.units import Bohr, Hartree

from nnip.data import emt_alloys, registry, xtb_mols
from nnip.data.writers import write_aselmdb

XTB_ELEMENTS = {1, 6, 7, 8, 9, 16, 17}
EMT_ELEMENTS = {13, 28, 29, 46, 47, 78, 79}


def _rows(path):
    db = connect(path, type="aselmdb", readonly=True)
    try:
        return [db.get(i) for i in range(1, len(db) + 1)]
    finally:
        db.close()


def _same(row, atoms):
    """A stored row equals an in-memory generated structure (geometry, labels, data)."""
    assert np.array_equal(row.numbers, atoms.numbers)
    assert np.array_equal(row.positions, atoms.positions)
    assert row.energy == atoms.calc.results["energy"]
    assert np.array_equal(row.forces, atoms.calc.results["forces"])
    for key, value in atoms.info.items():
        assert row.data[key] == value, key


@pytest.fixture(scope="module")
def xtb_tiny(tmp_path_factory):
    n = registry.SIZES["xtb-mols"]["tiny"]
    path = tmp_path_factory.mktemp("xtb") / "tiny.aselmdb"
    return registry.write_dataset("xtb-mols", n, path, seed=0, workers=1, progress=False)


@pytest.fixture(scope="module")
def emt_tiny(tmp_path_factory):
    n = registry.SIZES["emt-alloys"]["tiny"]
    path = tmp_path_factory.mktemp("emt") / "tiny.aselmdb"
    return registry.write_dataset("emt-alloys", n, path, seed=0, workers=1, progress=False)


# --- xtb-mols ----------------------------------------------------------------------------------------------


def test_xtb_tiny_molecules_are_neutral_closed_shell_distinct_and_labelled(xtb_tiny):
    from rdkit import Chem

    rows = _rows(xtb_tiny)
    assert len(rows) == registry.SIZES["xtb-mols"]["tiny"]
    by_molecule = {}
    for row in rows:
        assert not row.pbc.any() and row.calculator == "unknown"
        assert row.data["charge"] == 0 and row.data["spin"] == 1
        assert set(row.numbers.tolist()) <= XTB_ELEMENTS
        assert 2 <= int((row.numbers > 1).sum()) <= 12
        assert int(row.numbers.sum()) % 2 == 0  # even electron count: closed shell at charge 0
        assert np.isfinite(row.energy) and row.forces.shape == (row.natoms, 3) and np.isfinite(row.forces).all()
        d = np.linalg.norm(row.positions[:, None] - row.positions[None], axis=-1) + np.eye(row.natoms) * 9
        assert d.min() >= xtb_mols.MIN_DISTANCE
        mol = Chem.AddHs(Chem.MolFromSmiles(row.data["smiles"]))
        assert sorted(a.GetAtomicNum() for a in mol.GetAtoms()) == sorted(row.numbers.tolist())
        assert all(a.GetFormalCharge() == 0 and a.GetNumRadicalElectrons() == 0 for a in mol.GetAtoms())
        assert row.key_value_pairs["smiles"] == row.data["smiles"]
        by_molecule.setdefault(row.data["mol_index"], set()).add(row.data["smiles"])
    smiles = [next(iter(s)) for s in by_molecule.values()]
    assert all(len(s) == 1 for s in by_molecule.values())
    assert len(set(smiles)) == len(smiles) >= len(rows) // xtb_mols.N_CONFORMERS  # distinct molecules
    mean_abs_force = np.mean([np.abs(r.forces).mean() for r in rows])
    assert mean_abs_force > 0.3  # eV/Å: perturbed, not relaxed


def test_xtb_deterministic_prefix_and_seed_dependent(xtb_tiny):
    rows = _rows(xtb_tiny)
    again = list(registry.generate("xtb-mols", 10, seed=0, workers=1))
    for row, atoms in zip(rows, again):  # same seed -> identical structures (the file is a prefix-stable stream)
        _same(row, atoms)
    other = list(registry.generate("xtb-mols", 10, seed=1, workers=1))
    assert [a.info["smiles"] for a in other] != [r.data["smiles"] for r in rows[:10]]
    assert not np.allclose([a.calc.results["energy"] for a in other], [r.energy for r in rows[:10]])


def test_xtb_identical_for_any_worker_count(xtb_tiny, tmp_path):
    path = registry.write_dataset("xtb-mols", 6, tmp_path / "w2.aselmdb", seed=0, workers=2, progress=False)
    for parallel, serial in zip(_rows(path), _rows(xtb_tiny)):
        assert np.array_equal(parallel.positions, serial.positions)
        assert parallel.energy == serial.energy and np.array_equal(parallel.forces, serial.forces)
        assert parallel.data == serial.data


def test_xtb_forces_are_minus_energy_gradient(xtb_tiny):
    """Central finite difference of the tblite energy along a random direction equals −F·dx."""
    from tblite.interface import Calculator

    row = _rows(xtb_tiny)[5]
    rng = np.random.default_rng(0)
    direction = rng.normal(size=row.positions.shape)
    direction /= np.linalg.norm(direction)
    h = 1e-3  # Å

    def energy(x):
        calc = Calculator("GFN2-xTB", row.numbers, x / Bohr, charge=0.0, uhf=0)
        calc.set("verbosity", 0)
        return calc.singlepoint().get("energy") * Hartree

    assert energy(row.positions) == pytest.approx(row.energy, abs=1e-8)
    fd = (energy(row.positions + h * direction) - energy(row.positions - h * direction)) / (2 * h)
    assert fd == pytest.approx(-(row.forces * direction).sum(), rel=1e-4, abs=1e-4)


def test_xtb_failure_is_logged_and_replaced(monkeypatch, caplog):
    """A tblite exception and a NaN result are both dropped, logged and replaced by fresh draws."""
    from tblite.interface import Calculator

    reference = list(registry.generate("xtb-mols", 4, seed=3, workers=1))
    original = Calculator.singlepoint
    calls = {"n": 0}

    class NaNResult:
        def get(self, key):
            return np.nan if key == "energy" else np.full((1, 3), np.nan)

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            from tblite.exceptions import TBLiteRuntimeError

            raise TBLiteRuntimeError("SCF not converged in 250 cycles")
        if calls["n"] == 2:
            return NaNResult()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Calculator, "singlepoint", flaky)
    with caplog.at_level(logging.WARNING, logger="nnip.data.registry"):
        got = list(registry.generate("xtb-mols", 4, seed=3, workers=1))
    messages = [r.getMessage() for r in caplog.records]
    assert any("SCF not converged" in m and "replaced" in m for m in messages)
    assert any("non-finite" in m and "replaced" in m for m in messages)
    assert len(got) == 4
    for atoms in got:
        assert np.isfinite(atoms.calc.results["energy"]) and np.isfinite(atoms.calc.results["forces"]).all()
    # the two failed draws were skipped: the first structures now come from later draws
    assert not np.array_equal(got[0].positions, reference[0].positions)
    assert got[0].info["smiles"] == reference[0].info["smiles"] and got[0].info["conformer"] == 0


# --- emt-alloys ------------------------------------------------------------------------------------------


def test_emt_tiny_periodic_with_stress(emt_tiny):
    rows = _rows(emt_tiny)
    assert len(rows) == registry.SIZES["emt-alloys"]["tiny"]
    for row in rows:
        assert row.pbc.all() and abs(np.linalg.det(row.cell)) > 1.0
        assert 2 <= row.natoms <= 32 and set(row.numbers.tolist()) <= EMT_ELEMENTS
        assert np.isfinite(row.energy) and np.isfinite(row.forces).all()
        assert row.stress.shape == (6,) and np.isfinite(row.stress).all()
        assert row.data["charge"] == 0 and row.data["spin"] == 1
    assert {r.data["lattice"] for r in rows} == {"fcc", "bcc"}
    assert any(r.data["vacancies"] > 0 for r in rows)


def test_emt_labels_match_ase_emt_and_numerical_stress(emt_tiny):
    row = next(r for r in _rows(emt_tiny) if r.natoms >= 8)
    atoms = row.toatoms()
    atoms.calc = EMT()  # ASE's stock EMT
    assert atoms.get_potential_energy() == pytest.approx(row.energy, abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), row.forces, atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), row.stress, atol=1e-12)
    numerical = calculate_numerical_stress(atoms, eps=1e-5)
    np.testing.assert_allclose(numerical, row.stress, atol=1e-6)


def test_emt_deterministic_and_chunk_independent(emt_tiny):
    rows = _rows(emt_tiny)
    again = list(registry.generate("emt-alloys", 40, seed=0, workers=1))  # crosses a task boundary (CHUNK=32)
    for row, atoms in zip(rows, again):
        _same(row, atoms)
        assert np.array_equal(row.cell, atoms.cell.array)
        assert np.array_equal(row.stress, atoms.calc.results["stress"])
    assert emt_alloys._structure(0, 33).positions.tolist() == again[33].positions.tolist()
    other = list(registry.generate("emt-alloys", 8, seed=1, workers=1))
    assert [len(a) for a in other] != [r.natoms for r in rows[:8]] or not np.allclose(
        [a.calc.results["energy"] for a in other], [r.energy for r in rows[:8]]
    )


# --- writer, registry, cache, CLI ----------------------------------------------------------------------


def test_write_aselmdb_row_layout(tmp_path):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.3, 1.3, 0]], cell=np.eye(3) * 3.6, pbc=True)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-1.5, forces=np.arange(6.0).reshape(2, 3), stress=np.arange(6.0) * 1e-3
    )
    atoms.info["tag"] = "x1"
    path = tmp_path / "out.aselmdb"
    assert write_aselmdb([atoms], path, key_value_keys=("tag",), metadata={"dataset": "test"}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.aselmdb"]  # no temporary or lock files left
    db = connect(path, type="aselmdb", readonly=True)
    assert db.metadata == {"dataset": "test"}
    row = db.get(1)
    assert row.calculator == "unknown" and row.energy == -1.5
    np.testing.assert_array_equal(row.forces, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(row.stress, np.arange(6.0) * 1e-3)
    assert row.data == {"charge": 0, "spin": 1, "tag": "x1"}
    assert row.key_value_pairs == {"tag": "x1"}
    assert row.toatoms().calc.results["energy"] == -1.5
    db.close()


def test_cache_path_honours_nnip_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNIP_CACHE", str(tmp_path / "cache"))
    assert registry.cache_dir() == tmp_path / "cache"
    path = registry.dataset_path("xtb-mols", 64, seed=3)
    assert path.parent == tmp_path / "cache"
    assert path.name == f"xtb-mols-v{xtb_mols.VERSION}-n64-seed3.aselmdb"
    made = registry.ensure_dataset("emt-alloys", size="tiny", seed=0, workers=1, progress=False)
    assert made == registry.dataset_path("emt-alloys", 64, 0) and made.exists()
    # a second call reuses the file and never regenerates
    monkeypatch.setattr(registry, "write_dataset", lambda *a, **k: pytest.fail("regenerated a cached file"))
    assert registry.ensure_dataset("emt-alloys", n=64, progress=False) == made
    monkeypatch.delenv("NNIP_CACHE")
    assert registry.cache_dir() == registry.Path.home() / ".cache" / "nnip"


def test_no_generation_makes_a_missing_dataset_an_error(tmp_path, monkeypatch):
    """``NNIP_NO_DATA_GENERATION=1`` (the book from the committed store): a cached dataset is still returned, a missing
    one is an error naming it, and nothing is generated."""
    monkeypatch.setenv("NNIP_CACHE", str(tmp_path / "cache"))
    made = registry.ensure_dataset("emt-alloys", n=16, workers=1, progress=False)
    monkeypatch.setenv(registry.NO_GENERATION, "1")
    monkeypatch.setattr(registry, "write_dataset", lambda *a, **k: pytest.fail("generated a dataset"))
    assert registry.ensure_dataset("emt-alloys", n=16, progress=False) == made
    with pytest.raises(RuntimeError, match=r"dataset 'xtb-mols' \(64 structures, seed 0\) is not in the cache"):
        registry.ensure_dataset("xtb-mols", n=64, progress=False)
    assert not registry.dataset_path("xtb-mols", 64, 0).exists()


def test_concurrent_callers_generate_once(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("NNIP_CACHE", str(tmp_path))
    calls = []
    original = registry.write_dataset

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(registry, "write_dataset", counted)
    paths = []
    threads = [
        threading.Thread(target=lambda: paths.append(registry.ensure_dataset("emt-alloys", n=24, progress=False)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and paths[0] == paths[1] and len(_rows(paths[0])) == 24


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NNIP_CACHE", str(tmp_path))
    original = emt_alloys.label_emt
    calls = {"n": 0}

    def dies_midway(atoms):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return original(atoms)

    monkeypatch.setattr(emt_alloys, "label_emt", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        registry.ensure_dataset("emt-alloys", n=50, workers=1, progress=False)
    assert not registry.dataset_path("emt-alloys", 50, 0).exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".genlock")] == []


def test_stats_and_cli(emt_tiny, xtb_tiny, tmp_path, capsys):
    stats = registry.dataset_stats(emt_tiny)
    assert stats["n_structures"] == 64 and stats["periodic"] == 64 and "stress" in stats
    assert set(stats["elements"]) <= {"Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al"}
    assert 2 <= stats["atoms_per_structure"]["min"] <= stats["atoms_per_structure"]["max"] <= 32
    xs = registry.dataset_stats(xtb_tiny)
    assert xs["periodic"] == 0 and "stress" not in xs and xs["charge"] == {0: 64} and xs["distinct_smiles"] >= 16
    assert registry.dataset_stats(r.toatoms() for r in _rows(xtb_tiny))["n_atoms"] == xs["n_atoms"]

    assert registry.make_cli(["stats", str(emt_tiny)]) == 0
    out = capsys.readouterr().out
    assert "structures: 64" in out and "stress" in out
    out_path = tmp_path / "cli.aselmdb"
    argv = ["make", "emt-alloys", "--n", "5", "--seed", "2", "--out", str(out_path), "--workers", "1"]
    assert registry.make_cli(argv + ["--no-progress"]) == 0
    assert len(_rows(out_path)) == 5 and str(out_path) in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["cli.aselmdb"]
