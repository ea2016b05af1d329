"""Bad input never kills, hides or confuses (issue 12): every case below gives one error naming the file / row / key.

Each test asserts *what the message names*, not just that something raised. Real DFT data from ../shared/data.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from nnip.cli import main as nnip
from nnip.data import DataError, read
from nnip.data.writers import write_aselmdb
from nnip.errors import ConfigError, StoreError
from nnip.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]


def _molecule(energy=-10.0, forces=True, positions=None) -> Atoms:
    a = Atoms("OH2", positions=positions if positions is not None else [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    labels = {"energy": energy}
    if forces is True:
        labels["forces"] = np.zeros((3, 3))
    elif forces is not None:
        labels["forces"] = forces
    a.calc = SinglePointCalculator(a, **labels)
    return a


def _lines(path: Path, n_frames: int, source: Path) -> list[str]:
    lines = source.read_text().splitlines()
    per = int(lines[0]) + 2
    return lines[: n_frames * per]


def _cli(capsys, *argv) -> tuple[int, str]:
    rc = nnip(list(argv))
    err = capsys.readouterr().err
    return rc, err


def _one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


# --- .aselmdb: truncated, partly copied, garbage ------------------------------------------------------------
@pytest.fixture(scope="module")
def lmdb_bytes(ethanol_lmdb) -> bytes:
    return ethanol_lmdb.read_bytes()


@pytest.mark.parametrize("cut", ["half", "one_byte_short", "first_page", "two_pages", "last_8k", "garbage", "tiny"])
def test_truncated_or_garbage_aselmdb_is_a_data_error_naming_the_file(tmp_path, lmdb_bytes, cut):
    data = {
        "half": lmdb_bytes[: len(lmdb_bytes) // 2],
        "one_byte_short": lmdb_bytes[:-1],
        "first_page": lmdb_bytes[:4096],
        "two_pages": lmdb_bytes[:8192],
        "last_8k": lmdb_bytes[-8192:],
        "garbage": np.random.default_rng(0).bytes(5000),
        "tiny": lmdb_bytes[:100],
    }[cut]
    path = tmp_path / f"{cut}.aselmdb"
    path.write_bytes(data)
    with pytest.raises(DataError, match="LMDB file") as err:
        read(path)  # before the fix: SIGBUS (truncated) or DataError + an ignored __del__ traceback (garbage)
    assert err.value.path == str(path) and path.name in str(err.value)
    if cut in ("half", "one_byte_short", "two_pages"):
        assert f"{len(data)} bytes" in str(err.value) and f"{len(lmdb_bytes)} bytes" in str(err.value)


def test_garbage_aselmdb_leaves_no_ignored_del_traceback(tmp_path, monkeypatch):
    from nnip.data.readers import _ReadOnlyLMDB

    path = tmp_path / "garbage.aselmdb"
    path.write_bytes(b"\0" * 10000)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(DataError):
        read(path)
    with pytest.raises(Exception, match="garbage.aselmdb"):  # the backend itself, header check bypassed
        _ReadOnlyLMDB(path, readonly=True, use_lock_file=False)
    gc.collect()
    assert unraisable == []


def test_skip_invalid_skips_a_truncated_file_with_its_reason(tmp_path, ethanol_lmdb, lmdb_bytes):
    good = tmp_path / "a.aselmdb"
    shutil.copy(ethanol_lmdb, good)
    bad = tmp_path / "b.aselmdb"
    bad.write_bytes(lmdb_bytes[: len(lmdb_bytes) // 3])
    with pytest.warns(UserWarning, match="b.aselmdb: truncated"):
        ds = read(tmp_path, skip_invalid=True, limit=5)
    assert len(ds) == 5 and ds.files == [good]
    assert list(ds.skipped_files) == [str(bad)] and "truncated" in ds.skipped_files[str(bad)]
    with pytest.raises(DataError, match="b.aselmdb"):
        read(tmp_path)


def test_data_stats_on_a_truncated_file_exits_2_in_a_real_process(tmp_path, lmdb_bytes):
    path = tmp_path / "cut.aselmdb"
    path.write_bytes(lmdb_bytes[:900_000])
    proc = subprocess.run([sys.executable, "-m", "nnip", "data", "stats", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr  # before: -7 (SIGBUS), no message
    assert "cut.aselmdb" in proc.stderr and "truncated" in proc.stderr and "Traceback" not in proc.stderr


# --- extxyz: the row and the line ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["truncated", "unknown_element"])
def test_extxyz_errors_name_the_frame_and_line(tmp_path, ethanol_xyz, case):
    lines = _lines(tmp_path, 5, ethanol_xyz)  # 5 frames of 9 atoms: 11 lines each
    if case == "truncated":
        lines = lines[: 4 * 11 + 6]  # frame 4 (0-based) starts at line 45 and stops after 4 of its 9 atoms
        expect = ["row 4", "line 45", "truncated", "line 50"]
    else:
        k = 2 * 11 + 2 + 3  # frame 2 (lines 23-33), its 4th atom: line 28
        lines[k] = "Xx" + lines[k][1:]
        expect = ["row 2", "'Xx'", "line 28", "line 23"]
    path = tmp_path / "bad.xyz"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read(path)
    assert "bad.xyz" in str(err.value) and all(e in str(err.value) for e in expect), str(err.value)


# --- nnip data stats uses the reader ------------------------------------------------------------------------
def test_data_stats_refuses_nan_positions_naming_the_row(tmp_path, capsys):
    import ase.io

    frames = [_molecule(), _molecule(positions=[[0, 0, 0], [np.nan, 0, 0], [0, 1, 0]]), _molecule()]
    path = tmp_path / "nan.xyz"
    ase.io.write(path, frames, format="extxyz")
    err = _one_line_error(*_cli(capsys, "data", "stats", str(path)))  # before: statistics and exit 0
    assert "nan.xyz, row 1" in err and "NaN/inf in positions" in err


# --- write_aselmdb refuses non-finite labels ----------------------------------------------------------------
@pytest.mark.parametrize("bad", ["energy", "forces", "positions", "no_labels"])
def test_write_aselmdb_refuses_non_finite_values_naming_the_structure(tmp_path, bad):
    nan_forces = np.zeros((3, 3))
    nan_forces[1, 2] = np.inf
    broken = {
        "energy": _molecule(energy=np.nan),
        "forces": _molecule(forces=nan_forces),
        "positions": _molecule(positions=[[0, 0, 0], [np.nan, 0, 0], [0, 1, 0]]),
        "no_labels": Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]]),
    }[bad]
    path = tmp_path / "out.aselmdb"
    with pytest.raises(DataError) as err:
        write_aselmdb([_molecule(), _molecule(), broken], path)
    msg = str(err.value)
    assert "out.aselmdb, row 2" in msg and ("no calculator" in msg if bad == "no_labels" else f"NaN/inf in {bad}" in msg)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


# --- a structure without forces: file and row, before training ----------------------------------------------
def test_missing_forces_names_file_row_and_label_before_training(tmp_path):
    from nnip.train import TrainConfig
    from nnip.train.pipeline import load_data

    path = tmp_path / "noforces.aselmdb"
    write_aselmdb([_molecule(energy=-10.0 - k, forces=None if k == 7 else True) for k in range(12)], path)
    cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"source": str(path), "n_val": 2}})
    with pytest.raises(DataError) as err:
        load_data(cfg.resolved().data)  # before: AttributeError 'NoneType' object has no attribute 'to', inside the loop
    assert str(err.value) == f"{path}, row 7: missing forces label"


def test_missing_forces_in_a_separate_validation_file(tmp_path):
    from nnip.train import TrainConfig
    from nnip.train.pipeline import load_data

    train, val = tmp_path / "train.aselmdb", tmp_path / "val.aselmdb"
    write_aselmdb([_molecule(energy=-10.0 - k) for k in range(8)], train)
    write_aselmdb([_molecule(energy=-5.0 - k, forces=None if k == 1 else True) for k in range(3)], val)
    cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"source": str(train), "val_source": str(val)}})
    with pytest.raises(DataError) as err:
        load_data(cfg.resolved().data)
    assert str(err.value) == f"{val}, row 1: missing forces label"


# --- model configs ------------------------------------------------------------------------------------------
_WIDTH = {"mpnn": "hidden_dim", "egnn": "hidden_dim", "gemnet_oc": "hidden_dim", "esen": "sphere_channels",
          "equiformer_v2": "sphere_channels", "transformer": "d_model"}


@pytest.mark.parametrize("arch", sorted(_WIDTH))
@pytest.mark.parametrize("key,value", [("cutoff", -1.0), ("cutoff", 0.0), ("cutoff", float("nan")),
                                       ("max_neighbors", 0), ("num_layers", 0), ("width", 0), ("width", "64")])
def test_model_config_validates_numbers_naming_the_key(arch, key, value):
    from nnip.models import model_class

    key = _WIDTH[arch] if key == "width" else key
    with pytest.raises(ConfigError) as err:  # before: cutoff=-1 accepted by five models, 0 a ZeroDivisionError
        model_class(arch).Config(**{key: value})
    assert str(err.value).startswith(f"{arch}: {key} must be"), str(err.value)


# --- the command line: one line, exit 2, traceback only with --debug ----------------------------------------
def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CLI_CASES = {
    "train: missing config file": (lambda t: ["train", str(t / "nope.yaml")], ["nope.yaml", "no such config file"]),
    "train: malformed YAML": (lambda t: ["train", _write(t, "bad.yaml", "model:\n  name: mpnn\ndata:\n  source: x\n"
                                                                        "   bad: [\n")],
                              ["bad.yaml, line 5", "malformed YAML"]),
    "train: unknown key": (lambda t: ["train", _write(t, "unk.yaml", "model:\n  name: mpnn\n  nope: 1\n")],
                           ["unk.yaml", "'model.nope'"]),
    "train: missing data file": (lambda t: ["train", _write(t, "run.yaml", f"model:\n  name: mpnn\ndata:\n  source: "
                                                                           f"{t}/missing.xyz\n  n_val: 2\n"),
                                            "--store", str(t / "store"), "-q"],
                                 ["missing.xyz", "file does not exist"]),
    "train: bad model hyper-parameter": (lambda t: ["train", _write(t, "hp.yaml", "model:\n  name: mpnn\n  hparams:\n"
                                                                                  "    cutoff: -1\ndata:\n  source: "
                                                                                  f"{ROOT.parent}/shared/data/"
                                                                                  "botnet-ethanol/train.xyz\n"
                                                                                  "  n_val: 2\n  limit: 8\n"),
                                                    "--store", str(t / "store"), "-q"],
                                         ["mpnn: cutoff must be > 0, got -1"]),
    "sweep: missing spec": (lambda t: ["sweep", str(t / "nope.yaml"), "--preset", "tiny"], ["nope.yaml"]),
    "sweep: malformed spec": (lambda t: ["sweep", _write(t, "s.yaml", "archs: [mpnn\n"), "--preset", "tiny"],
                              ["s.yaml, line 2", "malformed YAML"]),
    "sweep: unknown spec key": (lambda t: ["sweep", _write(t, "k.yaml", "archz: [mpnn]\n"), "--preset", "tiny"],
                                ["k.yaml", "'archz'"]),
    "sweep: unknown preset": (lambda t: ["sweep", _write(t, "ok.yaml", "archs: [mpnn]\n"), "--preset", "huge"],
                              ["--preset 'huge'", "tiny"]),
    "plan: nonexistent store": (lambda t: ["plan", "--arch", "mpnn", "--budget-pflops", "1", "--store",
                                           str(t / "nostore")], ["nostore", "does not exist"]),
    "data stats: missing file": (lambda t: ["data", "stats", str(t / "nope.aselmdb")], ["nope.aselmdb", "not exist"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_user_errors_are_one_line_naming_file_key_value(tmp_path, capsys, case):
    argv, expect = CLI_CASES[case]
    err = _one_line_error(*_cli(capsys, *argv(tmp_path)))
    assert err.startswith(f"nnip {argv(tmp_path)[0]}: error: ")
    assert all(e in err for e in expect), err


def test_cli_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        nnip(["--debug", "train", str(tmp_path / "nope.yaml")])
    with pytest.raises(ConfigError, match="nope.yaml"):
        nnip(["train", str(tmp_path / "nope.yaml"), "--debug"])


# --- runs left out of fits are named ------------------------------------------------------------------------
def _fake_run(store: RunStore, run_id: str, status: str, rows: int, reason: str | None = None, params=1000):
    store.write_config(run_id, {"config": {"model": {"name": "mpnn"}}})
    store.write_summary(run_id, {"run_id": run_id, "status": status, "reason": reason, "arch": "mpnn",
                                 "params": params})
    cols = ["step", "atoms_seen", "flops", "val_loss"]
    store.start_curve(run_id, cols)
    for k in range(rows):
        store.append_curve(run_id, {"step": k + 1, "atoms_seen": 100 * (k + 1), "flops": 1e9 * (k + 1),
                                    "val_loss": 1.0 / (k + 1)}, cols)


def test_run_study_and_figure_tables_name_the_runs_left_out(tmp_path, monkeypatch):
    import nnip.sweep
    from nnip.paper._common import notes_left_out, run_study

    store = RunStore(tmp_path / "results" / "tiny")
    _fake_run(store, "ok", "done", 3)
    _fake_run(store, "div1", "failed", 0, reason="diverged at step 1: non-finite loss")
    _fake_run(store, "empty", "done", 0)

    class Cfg:
        def __init__(self, run_id):
            self.id = run_id

        def run_id(self):
            return self.id

    monkeypatch.setattr(nnip.sweep, "missing", lambda spec, preset, root: [])
    monkeypatch.setattr(nnip.sweep, "expand", lambda spec, preset: [Cfg(r) for r in ("ok", "div1", "empty")])
    with pytest.warns(UserWarning) as rec:
        curves = run_study({"name": "demo"}, "tiny", tmp_path / "results")
    msg = " ".join(str(w.message) for w in rec)
    assert "div1: failed: diverged at step 1" in msg and "empty: no evaluations" in msg
    assert set(curves["run_id"]) == {"ok"} and set(curves.attrs["left_out"]) == {"div1", "empty"}

    @notes_left_out
    def figure(curves):
        return None, pd.DataFrame([{"quantity": "α", "paper": "0.1", "ours": "0.2", "note": ""}])

    _, table = figure(curves)
    note = table.iloc[-1]
    assert note["quantity"] == "runs left out of the fits" and note["ours"] == "2"
    assert "div1: failed: diverged at step 1" in note["note"] and "empty: no evaluations" in note["note"]


def test_plan_names_the_runs_it_leaves_out():
    from nnip.scaling import plan_from_curves
    from tests.scaling._data import sum_law_runs

    df = sum_law_runs(noise=0.01, kappa=5.0)
    summaries = df.groupby("run_id", as_index=False)["params"].first().assign(arch="mpnn", status="done")
    extra = pd.DataFrame({"run_id": ["div1", "empty"], "arch": "mpnn", "params": [1e6, 2e6],
                          "status": ["failed", "done"], "reason": ["diverged at step 1", None]})
    summaries = pd.concat([summaries.assign(reason=None), extra], ignore_index=True)
    with pytest.warns(UserWarning, match="left 2 run") as rec:
        p = plan_from_curves(df.assign(arch="mpnn"), summaries, "mpnn", 1e3, n_boot=5, drop_first=0.0)
    assert "div1: failed: diverged at step 1" in str(rec[0].message) and "empty: no evaluation" in str(rec[0].message)
    assert set(p["left_out"]) == {"div1", "empty"}


# --- a run store that cannot be written ---------------------------------------------------------------------
def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("op", ["write_summary", "start_curve", "append_curve", "append_short", "lock_new_run"])
def test_unwritable_store_gives_one_error_and_stays_as_it_was(tmp_path, monkeypatch, code, op):
    import nnip._flock
    import nnip.runs

    store = RunStore(tmp_path / "store")
    _fake_run(store, "r1", "running", 2)
    before = _snapshot(store.root)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if op == "lock_new_run":
        monkeypatch.setattr(nnip._flock.os, "open", fail)
    elif op == "append_short":
        real_write = os.write
        monkeypatch.setattr(nnip.runs.os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    else:
        monkeypatch.setattr(nnip.runs.os, "fsync", fail)
    cols = ["step", "atoms_seen", "flops", "val_loss"]
    with pytest.raises(StoreError) as err:
        if op == "write_summary":
            store.write_summary("r1", {"status": "done"})
        elif op == "start_curve":
            store.start_curve("r1", cols)
        elif op in ("append_curve", "append_short"):
            store.append_curve("r1", {"step": 3, "atoms_seen": 300, "flops": 3e9, "val_loss": 0.3}, cols)
        else:
            with store.lock("r2"):
                pass
    monkeypatch.undo()
    msg = str(err.value)
    assert msg.startswith("cannot write the run store at ") and str(store.root) in msg
    if op != "append_short":
        assert os.strerror(code) in msg
    assert _snapshot(store.root) == before


# --- Ctrl-C leaves no lock behind ---------------------------------------------------------------------------
def test_ctrl_c_leaves_no_lock_behind(tmp_path, monkeypatch, ethanol_xyz):
    from nnip.train import TrainConfig, train
    from nnip.train.trainer import _Run

    store = RunStore(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        with store.lock("r1"):
            raise KeyboardInterrupt
    assert not (store.run_dir("r1") / ".lock").exists()

    def interrupted(self, t_start):
        raise KeyboardInterrupt

    monkeypatch.setattr(_Run, "run", interrupted)
    cfg = TrainConfig.from_dict({"model.name": "tests.train.standin:PairMLP", "model.hparams": {"hidden_dim": 8},
                                 "data.source": str(ethanol_xyz), "data.limit": 16, "data.n_val": 4,
                                 "train.batch_size": 4, "runtime.threads": 1})
    with pytest.raises(KeyboardInterrupt):
        train(cfg, store)
    run_dir = store.run_dir(cfg.run_id())
    assert not (run_dir / ".lock").exists()
    assert store.read_summary(cfg.run_id())["status"] == "running"  # resumable: the next call continues it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with store.lock(cfg.run_id(), blocking=False):  # nobody holds it
            pass
