"""nnip.scaling.frontier: prepare_curves and the Pareto frontier (§3.2, §4.1)."""

import numpy as np
import pandas as pd
import pytest

from nnip.scaling import fit_power_law, pareto_frontier, prepare_curves
from tests.scaling._data import learning_curves


def test_pareto_frontier_is_monotone_lower_envelope():
    curves = learning_curves()
    front = pareto_frontier(curves)
    x, y = front["flops"].to_numpy(), front["val_loss"].to_numpy()
    assert (np.diff(x) >= 0).all() and (np.diff(y) < 0).all()
    assert set(front.columns) >= set(curves.columns)
    assert front.merge(curves, how="inner").shape[0] == len(front)  # real evaluations, all columns kept
    for xi, yi in zip(curves["flops"], curves["val_loss"]):  # every evaluation is dominated by the frontier
        assert (y[x <= xi] <= yi).any()
    assert front["run_id"].nunique() > 1


def test_pareto_frontier_drop_first_and_ema():
    curves = learning_curves()
    front = pareto_frontier(curves, drop_first=0.1)
    first = curves.groupby("run_id")["step"].max() * 0.1
    assert (front["step"].to_numpy() >= first.loc[front["run_id"]].to_numpy()).all()
    smooth = pareto_frontier(curves, ema=0.9)
    prep = prepare_curves(curves, "flops", "val_loss", 0.0, 0.9, "run_id")
    run = prep[prep.run_id == "r0"]
    raw, s = run["val_loss_raw"].to_numpy(), [run["val_loss_raw"].iloc[0]]
    for yt in raw[1:]:
        s.append(0.9 * s[-1] + 0.1 * yt)  # footnote 5
    assert np.allclose(run["val_loss"], s)
    assert "val_loss_raw" in smooth.columns and (np.diff(smooth["val_loss"]) < 0).all()
    flat = pd.DataFrame({"run_id": "a", "step": range(5), "flops": np.arange(1.0, 6.0), "val_loss": 0.5})
    assert np.allclose(prepare_curves(flat, "flops", "val_loss", 0, 0.9, "run_id")["val_loss"], 0.5)


def test_prepare_curves_is_public_with_the_frontier_defaults():
    curves = learning_curves().sample(frac=1.0, random_state=1)  # shuffled: sorted back per run by step
    prep = prepare_curves(curves, drop_first=0.1)
    assert list(prep.columns) == list(curves.columns) and prep.index.equals(pd.RangeIndex(len(prep)))
    assert (prep.groupby("run_id")["step"].diff().dropna() > 0).all() and prep["step"].min() >= 0.1 * 195
    pd.testing.assert_frame_equal(prepare_curves(curves), prepare_curves(curves, "flops", "val_loss", 0.0, None,
                                                                         "run_id"))
    doc = pd.DataFrame({"run_id": "a", "step": [0, 1, 2, 3], "flops": [1.0, 2, 3, 4], "val_loss": [4.0, 3, 2, 1]})
    assert prepare_curves(doc, drop_first=0.5)["step"].tolist() == [2, 3]  # the docstring's example


def test_frontier_xy_equals_pareto_frontier_with_ties_and_repeated_runs():
    """The bootstrap's array path gives exactly (bit for bit) the x, y of :func:`pareto_frontier`, on resamples that
    repeat runs and on points that tie in x, in y or in both; and the frontier fit is unchanged."""
    from nnip.scaling.analysis import _frontier_fit
    from nnip.scaling.frontier import frontier_xy

    rng = np.random.default_rng(3)
    runs = []
    for k in range(6):
        steps = np.arange(1, 41)
        x = np.round(steps * (k + 1) * 1e-3, 3)  # rounded: ties in x across runs
        y = np.round(2.0 * x ** -0.3 * (1 + 0.05 * rng.standard_normal(40)), 2)  # rounded: ties in y
        runs.append(pd.DataFrame({"run_id": f"r{k}", "step": steps, "C_pflops": x, "val_loss": y}))
    data = pd.concat(runs, ignore_index=True)
    blocks = list(data.groupby("run_id").indices.values())
    for _ in range(50):
        sample = data.iloc[np.concatenate([blocks[i] for i in rng.integers(0, 6, 6)])]
        ref = pareto_frontier(sample, x="C_pflops", y="val_loss")
        fx, fy = frontier_xy(sample["C_pflops"], sample["val_loss"])
        np.testing.assert_array_equal(fx, ref["C_pflops"].to_numpy())
        np.testing.assert_array_equal(fy, ref["val_loss"].to_numpy())
        old = fit_power_law(ref["C_pflops"], ref["val_loss"])
        assert _frontier_fit(sample, "C_pflops").params() == old.params()
    with pytest.raises(ValueError, match="NaN/inf"):
        frontier_xy([1.0, 2.0], [1.0, np.nan])
