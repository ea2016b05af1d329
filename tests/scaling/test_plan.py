"""nnip.scaling.plan: ``nnip plan`` from the paper's numbers or from learning curves."""

import numpy as np
import pandas as pd
import pytest

from nnip.scaling import PAPER, compute_optimal, plan, plan_cli, plan_from_curves
from tests.scaling._data import TRUE, sum_law_runs


def test_plan_paper_and_cli(capsys):
    p = plan("eSEN", 1e3, paper=True)
    assert p["arch"] == "esen" and p["ci"] is None
    assert 3 * PAPER["esen"]["kappa"] * p["N_opt"] * p["D_opt"] == pytest.approx(1e18, rel=1e-10)
    assert p["loss"] == pytest.approx(p["F_c"] * 1e3 ** -p["gamma_c"])
    assert plan_cli(["--arch", "gemnet_oc", "--budget-pflops", "100", "--paper"]) == 0
    out = capsys.readouterr().out
    assert "N* [parameters]" in out and "gemnet_oc" in out
    # a bad arch is an input error: one line on stderr and exit code 2, not a traceback
    assert plan_cli(["--arch", "nope", "--budget-pflops", "1", "--paper"]) == 2
    err = capsys.readouterr().err
    assert "arch: 'nope'" in err and len(err.strip().splitlines()) == 1


def test_plan_from_curves():
    df = sum_law_runs(noise=0.01, kappa=5.0)
    summaries = df.groupby("run_id", as_index=False)["params"].first().assign(arch="mpnn", status="done")
    failed = pd.DataFrame({"run_id": ["bad"], "arch": ["mpnn"], "params": [1e6], "status": ["failed"]})
    summaries = pd.concat([summaries, failed], ignore_index=True)
    nan_row = df.iloc[[0]].assign(run_id="bad", val_loss=np.nan)
    curves = pd.concat([df, nan_row, df.iloc[[0]].assign(step=0, atoms_seen=0.0, flops=0.0)], ignore_index=True)
    curves["arch"] = "mpnn"  # as RunStore.curves() joins them
    p = plan_from_curves(curves, summaries, "mpnn", 1e3, n_boot=20, drop_first=0.0)
    assert p["kappa"] == pytest.approx(5.0, rel=1e-10) and p["n_runs"] == 12 and p["n_dropped"] == 1
    truth = compute_optimal(TRUE, 5.0, unit="pflops")
    assert p["N_opt"] == pytest.approx(float(truth.N_opt(1e3)), rel=0.3)
    for k in ("N_opt", "D_opt", "loss"):
        lo, hi = p["ci"][k]
        assert lo <= p[k] <= hi
    with pytest.raises(ValueError, match="^arch"):
        plan_from_curves(curves, summaries, "esen", 1e3)
