"""``nnip runs verify``: re-train committed runs into a scratch store and compare their curves (issue 21, part 2).

The last test is the proof on every machine that runs ``make test``: the two cheapest committed cpu runs of
different model families re-train from their ``config.json`` to their committed curves."""

import json
import shutil
from pathlib import Path

import pytest

from nnip import cli
from nnip.errors import UserError
from nnip.runs import RunStore
from nnip.train import train
from nnip.verify import RTOL, cheapest_runs, verify_runs

ROOT = Path(__file__).resolve().parents[2]
CPU_STORE = ROOT / "results" / "cpu"


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory, ethanol_xyz):
    """A store with one finished stand-in run (a few seconds of training)."""
    import ase.io

    from nnip.data import read
    from tests.train.conftest import make_config

    data = tmp_path_factory.mktemp("data") / "ethanol40.xyz"
    ase.io.write(data, list(read(ethanol_xyz, limit=40)), format="extxyz")
    root = tmp_path_factory.mktemp("store")
    rec = train(make_config(data), root)
    assert rec.status == "done"
    return root, rec.run_id


def _copy(store_and_id, tmp_path):
    root, rid = store_and_id
    dst = tmp_path / "store"
    shutil.copytree(root, dst)
    return dst, rid


def test_a_faithful_run_is_identical_on_the_machine_that_made_it(tiny_store, tmp_path):
    store, rid = _copy(tiny_store, tmp_path)
    table = verify_runs(store, [rid])
    assert list(table["verdict"]) == ["identical"] and table["max rel. diff"].iloc[0] == 0


def test_a_tampered_curve_differs_and_the_cli_exits_1(tiny_store, tmp_path, capsys):
    store, rid = _copy(tiny_store, tmp_path)
    path = RunStore(store).curve_path(rid)
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    k = head.index("val_loss")
    row = lines[-1].split(",")
    row[k] = repr(float(row[k]) * (1 + 10 * RTOL))  # the last evaluation: beyond the whole-curve tolerance
    path.write_text("\n".join([*lines[:-1], ",".join(row)]) + "\n")
    assert cli.main(["runs", "verify", str(store), rid]) == 1
    assert "DIFFERS" in capsys.readouterr().out


def test_a_small_change_early_in_the_curve_differs(tiny_store, tmp_path):
    """1e-4 at the first evaluation is far inside RTOL but 100x RTOL_EARLY: the early test is the sharp one."""
    store, rid = _copy(tiny_store, tmp_path)
    path = RunStore(store).curve_path(rid)
    lines = path.read_text().splitlines()
    k = lines[0].split(",").index("val_loss")
    row = lines[1].split(",")
    row[k] = repr(float(row[k]) * (1 + 1e-4))
    path.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    verdict = verify_runs(store, [rid])["verdict"].iloc[0]
    assert verdict.startswith("DIFFERS: first half"), verdict


def test_a_config_that_no_longer_hashes_to_its_id_differs(tiny_store, tmp_path):
    store, rid = _copy(tiny_store, tmp_path)
    rs = RunStore(store)
    rec = rs.read_config(rid)
    rec["config"]["optim"]["lr"] = rec["config"]["optim"]["lr"] * 2
    rs.write_config(rid, rec)
    verdict = verify_runs(store, [rid])["verdict"].iloc[0]
    assert verdict.startswith("DIFFERS") and "hashes to" in verdict


def test_bad_input_is_one_clear_error(tiny_store, tmp_path, capsys):
    store, _ = _copy(tiny_store, tmp_path)
    with pytest.raises(UserError, match="no run abc"):
        verify_runs(store, ["abc"])
    with pytest.raises(UserError, match="nothing to verify"):
        verify_runs(store, [])
    assert cli.main(["runs", "verify", str(tmp_path / "nowhere"), "abc"]) == 2
    assert "not a run store" in capsys.readouterr().err


def test_cheapest_runs_are_one_per_family(tmp_path):
    rs = RunStore(tmp_path)
    for rid, arch, hours in [("a1", "mpnn", 0.3), ("a2", "mpnn", 0.1), ("b1", "esen", 0.2), ("c1", "egnn", 0.05)]:
        rs.write_summary(rid, {"run_id": rid, "status": "done", "arch": arch, "hours": hours})
    rs.write_summary("d1", {"run_id": "d1", "status": "failed", "arch": "gemnet_oc", "hours": 0.01})
    assert cheapest_runs(tmp_path, 2) == ["c1", "a2"]
    assert cheapest_runs(tmp_path, 9) == ["c1", "a2", "b1"]


#: the two cheapest committed cpu runs, one per model family (read from the store when the tests are collected)
CHEAPEST = cheapest_runs(CPU_STORE, 2)


def test_the_two_cheapest_committed_cpu_runs_are_of_two_families():
    archs = {RunStore(CPU_STORE).read_summary(r)["arch"] for r in CHEAPEST}
    assert len(CHEAPEST) == 2 and len(archs) == 2, (CHEAPEST, archs)


@pytest.mark.parametrize("run_id", CHEAPEST)
def test_the_two_cheapest_committed_cpu_runs_retrain_to_their_curves(run_id):
    """Proof on this machine that ``results/cpu`` was produced by this code (about a minute per run; the data sets
    they need are generated on first use). One test per run, so that ``make test``'s workers re-train them at once.
    Verdicts: identical on the machine that made them, else within RTOL."""
    table = verify_runs(CPU_STORE, [run_id])
    print("\n" + table.to_string(index=False))
    assert all(v == "identical" or v.startswith("agrees") for v in table["verdict"]), table.to_string()
