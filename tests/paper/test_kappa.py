"""κ against width (nnip.paper.kappa): counted on real models, stored with the run store, plotted per arch."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnip.paper import kappa  # noqa: E402


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The tiny preset's table with the paper ladder cut at 0.5M parameters (the MPNN's w=128 and w=256 only)."""
    store = tmp_path_factory.mktemp("store")
    mp = pytest.MonkeyPatch()
    mp.setitem(kappa.MAX_PARAMS, "tiny", 900_000)
    try:
        table = kappa.kappa_table("tiny", store, train_missing=True)
    finally:
        mp.undo()
    return store, table


def test_mpnn_kappa_falls_with_width_towards_the_dense_value(measured):
    _, table = measured
    mpnn = table[table["arch"] == "mpnn"].sort_values("width")
    assert (np.diff(mpnn["kappa"].to_numpy()) < 0).all()  # per-edge work ∝ w, N ∝ w²
    paper = mpnn[mpnn["ladder"] == "paper"]
    assert set(paper["width"]) == {128, 256}
    assert 2.0 < paper["kappa"].iloc[-1] < 3.5  # approaching 2 FLOPs per parameter per atom
    assert (table["edges_per_atom"] > 1).all() and set(table["arch"]) == set(kappa.PAPER_ARCHS)


def test_table_is_stored_and_read_back_never_recomputed(measured):
    store, table = measured
    again = kappa.kappa_table("tiny", store, train_missing=False)
    pd.testing.assert_frame_equal(again, table, check_exact=False, rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="kappa_vs_width.csv is missing: write it with"):
        kappa.kappa_table("tiny", store / "elsewhere", train_missing=False)


def test_figure_has_run_markers_and_labelled_axes(measured):
    _, table = measured
    curves = pd.DataFrame([
        {"run_id": "a", "arch": "mpnn", "step": s, "params": 1368, "atoms_seen": 100.0 * s, "flops": 3 * 5.0 * 1368 * 100 * s,
         "model.hparams.hidden_dim": 8.0, "model.hparams.num_layers": 2.0, "model.hparams.num_radial": 8.0,
         "model.hparams.sphere_channels": np.nan}
        for s in (1, 2)])
    fig, t = kappa.fig_kappa_width(table, curves, preset="tiny")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "model width w" and "κ" in ax.get_ylabel()
    xs = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(xs) == 1 and xs[0].get_xdata()[0] == 8 and xs[0].get_ydata()[0] == pytest.approx(5.0)
    assert t["quantity"].str.contains("paper ladder").any() and (t["paper"] != "").all()
