"""nnip.train.record: the columns of curve.csv and the RunRecord of a stored run."""

from nnip.runs import CURVE_COLUMNS, RunStore
from nnip.train.record import RunRecord, curve_columns, read_record
from tests.train.conftest import make_config


def test_curve_columns_add_stress_symmetry_and_tta_in_order():
    assert curve_columns(make_config("x.xyz"), has_stress=False) == list(CURVE_COLUMNS)
    cfg = make_config("x.xyz", **{"loss.symmetry_m": 2, "eval.tta_m": 2})
    assert curve_columns(cfg, has_stress=True)[len(CURVE_COLUMNS):] == [
        "val_stress_mae", "train_sym_loss", "val_loss_tta", "val_energy_mae_tta", "val_force_l2_tta",
        "val_stress_mae_tta"]


def test_read_record_of_a_stored_summary(tmp_path):
    store = RunStore(tmp_path)
    assert read_record(store, "abc", False).status == "unknown"
    store.write_summary("abc", {"status": "failed", "reason": "diverged: x"})
    rec = read_record(store, "abc", True)
    assert isinstance(rec, RunRecord) and rec.cached and rec.reason == "diverged: x"
    assert rec.run_dir == store.run_dir("abc")
