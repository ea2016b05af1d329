"""nnip.data.read: real DFT files, files the tests write, and one clear error per kind of bad input."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
import ase.db
import ase.io

from nnip.data import DataError, labels_of, read


def _labelled(atoms, energy=-1.0, forces=None, stress=None):
    atoms = atoms.copy()
    f = np.zeros((len(atoms), 3)) if forces is None else forces
    kw = {"energy": energy, "forces": f}
    if stress is not None:
        kw["stress"] = stress
    atoms.calc = SinglePointCalculator(atoms, **kw)
    return atoms


def _emt_cells(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 2))
        a.numbers[rng.random(len(a)) < 0.3] = 79
        a.rattle(0.05, seed=k)
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        out.append(a)
    return out


def test_ethanol_extxyz_and_aselmdb_identical(ethanol_xyz, ethanol_lmdb):
    xyz = read(ethanol_xyz)
    lmdb = read(ethanol_lmdb)
    assert len(xyz) == 1000
    rows = [a for a in lmdb if a.info.get("source_file") == "train.xyz"]
    assert len(rows) == len(xyz)
    for a, b in zip(xyz, rows):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        la, lb = labels_of(a), labels_of(b)
        assert la["energy"] == lb["energy"]
        np.testing.assert_array_equal(la["forces"], lb["forces"])
    assert rows[0].info["charge"] == 0 and rows[0].info["spin"] == 1


def test_limit_glob_and_directory(ethanol_xyz, tmp_path):
    assert len(read(ethanol_xyz, limit=7)) == 7
    frames = ase.io.read(ethanol_xyz, ":6")
    ase.io.write(tmp_path / "a.extxyz", frames[:4])
    ase.io.write(tmp_path / "b.xyz", frames[4:])
    (tmp_path / "notes.txt").write_text("ignored")
    by_dir = read(tmp_path)
    by_glob = read(str(tmp_path / "*.*xyz"))
    assert len(by_dir) == len(by_glob) == 6
    np.testing.assert_allclose(by_dir[5].positions, frames[5].positions)


@pytest.mark.parametrize("suffix", [".extxyz", ".db", ".aselmdb"])
def test_periodic_round_trip_with_stress(tmp_path, suffix):
    cells = _emt_cells()
    path = tmp_path / f"cells{suffix}"
    if suffix == ".extxyz":
        ase.io.write(path, cells)
    else:
        with ase.db.connect(str(path), type=suffix[1:] if suffix == ".aselmdb" else "db") as db:
            for a in cells:
                db.write(a, data={"charge": 0, "spin": 1})
    back = read(path)
    assert len(back) == len(cells)
    for a, b in zip(cells, back):
        assert b.pbc.all()
        np.testing.assert_allclose(b.cell[:], a.cell[:])
        la, lb = labels_of(a), labels_of(b)
        assert lb["stress"].shape == (3, 3)
        np.testing.assert_allclose(lb["stress"], la["stress"], atol=1e-7)
        np.testing.assert_allclose(lb["forces"], la["forces"], atol=1e-7)


def _write(tmp_path, frames, name="bad.extxyz"):
    path = tmp_path / name
    ase.io.write(path, frames)
    return path


def test_bad_input_errors_name_file_and_row(tmp_path):
    good = _labelled(molecule("H2O"))
    cases = {}
    nan = good.copy()
    nan.positions[1, 0] = np.nan
    cases["NaN/inf in positions"] = _labelled(nan)
    cases["NaN/inf in energy"] = _labelled(molecule("H2O"), energy=np.inf)
    close = molecule("H2O")
    close.positions[2] = close.positions[0] + [0.05, 0, 0]
    cases["closer than 0.1"] = _labelled(close)
    unknown = molecule("H2O")
    unknown.numbers[0] = 0
    cases["unknown element"] = _labelled(unknown)
    nolabel = molecule("H2O")
    cases["missing energy"] = nolabel
    for k, (needle, bad) in enumerate(cases.items()):
        path = _write(tmp_path, [good, good, bad], f"bad{k}.extxyz")
        ds = read(path)
        assert len(ds) == 3
        ds[0]
        with pytest.raises(DataError) as err:
            ds.check()
        msg = str(err.value)
        assert str(path) in msg and "row 2" in msg and needle in msg, msg


def test_forces_of_wrong_shape(tmp_path):
    path = tmp_path / "wrong.db"
    a = molecule("CH4")
    with ase.db.connect(str(path)) as db:
        db.write(_labelled(a))
    # corrupt the stored forces to a (2, 3) array behind ASE's back
    with ase.db.connect(str(path)) as db:
        row = db.get(id=1)
    atoms = read(path)[0]
    atoms.calc.results["forces"] = np.zeros((2, 3))
    from nnip.data.readers import validate

    assert "forces have shape (2, 3), expected (5, 3)" in validate(atoms)
    assert row is not None


def test_empty_and_unreadable_files(tmp_path):
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        read(empty)
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("this is not\nan xyz file\n")
    with pytest.raises(DataError, match="unreadable"):
        read(garbage)
    with pytest.raises(DataError, match="does not exist"):
        read(tmp_path / "missing.aselmdb")
    with pytest.raises(DataError, match="unsupported file type"):
        (tmp_path / "x.csv").write_text("a,b\n")
        read(tmp_path / "x.csv")
    with pytest.raises(DataError, match="glob pattern matched no files"):
        read(str(tmp_path / "*.aselmdb"))


def test_skip_invalid_reports_counts(tmp_path):
    good = _labelled(molecule("H2O"))
    nan = _labelled(molecule("H2O"), energy=np.nan)
    path = _write(tmp_path, [good, nan, good, nan, good])
    with pytest.warns(UserWarning, match="skipped 2 invalid"):
        ds = read(path, skip_invalid=True)
    assert len(ds) == 3
    assert sum(ds.skipped.values()) == 2
    assert "NaN/inf in energy" in ds.skipped


def test_isolated_atom_is_valid(tmp_path):
    path = _write(tmp_path, [_labelled(Atoms("C", positions=[[0, 0, 0]]))], "iso.extxyz")
    assert len(read(path).check()) == 1


def test_fingerprint_is_stable_and_content_sensitive(ethanol_xyz, tmp_path):
    a = read(ethanol_xyz, limit=10).fingerprint()
    assert a == read(ethanol_xyz, limit=10).fingerprint()
    assert a != read(ethanol_xyz, limit=11).fingerprint()


_FORKED = {}


def _energy_in_child(i):
    ds = _FORKED["ds"]  # inherited through fork, not pickled
    ds.reopen()
    return labels_of(ds[i])["energy"]


def test_lmdb_dataset_survives_fork(ethanol_lmdb):
    import multiprocessing as mp

    ds = read(ethanol_lmdb, limit=4)
    parent = [labels_of(ds[i])["energy"] for i in range(4)]  # opens the environment in the parent first
    _FORKED["ds"] = ds
    with mp.get_context("fork").Pool(2) as pool:
        child = pool.map(_energy_in_child, range(4))
    assert child == parent


def test_same_lmdb_read_twice_in_one_process(ethanol_lmdb):
    first = read(ethanol_lmdb, limit=3)
    second = read(ethanol_lmdb, limit=5)  # lmdb forbids a second environment per file and process
    assert labels_of(first[2])["energy"] == labels_of(second[2])["energy"]
