"""The pilot criteria (nnip.paper.pilot) on synthetic curves with known shape — no training."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnip.paper import pilot  # noqa: E402


@pytest.fixture(autouse=True)
def small_bootstrap(set_analysis):
    set_analysis("tiny", n_boot=40)


def curves(n_runs=7, pts=40, law="compute", noise=0.002, seed=0):
    """Streaming runs over 2 decades of N. ``law="compute"``: every run on one power law of C, L = 50 C^-0.2 (a
    straight frontier by construction); ``"sum"``: eq. (5) over a finite ladder, whose frontier bends where the
    largest model becomes parameter-limited."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch, (A, B, a, b, kappa) in {"mpnn": (3.0, 40.0, 0.3, 0.3, 5.0), "esen": (2.0, 30.0, 0.4, 0.35, 40.0)}.items():
        for i, N in enumerate(np.geomspace(5e3, 5e5, n_runs)):
            for j, D in enumerate(np.geomspace(1e3, 2e6, pts)):
                L = 50.0 * (3 * kappa * N * D) ** -0.2 if law == "compute" else A * N**-a + B * D**-b
                rows.append({"run_id": f"{arch}{i}", "arch": arch, "params": N, "step": j + 1, "atoms_seen": D,
                             "flops": 3 * kappa * N * D, "wall_s": 1.0 + j, "wall_s_train": 1.0 + j,
                             "val_loss": L * math.exp(noise * rng.standard_normal()), "status": "done"})
    return pd.DataFrame(rows)


def test_truncate_keeps_the_first_fraction_of_every_run():
    c = curves(n_runs=2, pts=10)
    short = pilot.truncate(c, 0.5)
    assert (short.groupby("run_id")["atoms_seen"].max() <= 1e6 + 1).all()
    assert short["run_id"].nunique() == 4


def test_power_law_curves_pass():
    _, _, table = pilot.criteria(curves(), "tiny")
    assert list(table["verdict"]) == ["pass", "pass"], table.to_string()
    assert (table["decades of C"] >= pilot.MIN_DECADES).all()


def test_a_bent_frontier_fails_straightness():
    _, _, table = pilot.criteria(curves(law="sum"), "tiny")
    assert table["verdict"].str.contains("straight").any(), table.to_string()


def test_one_run_fails_and_says_which_criteria():
    _, _, table = pilot.criteria(curves(n_runs=1, pts=6), "tiny")
    assert table["verdict"].str.startswith("FAIL").all()
    assert table["verdict"].str.contains("ci").all()  # one run: no interval over resampled runs


def test_figure_and_table():
    fig, table = pilot.fig_pilot(curves(), "tiny")
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel()
    assert table["note"].str.contains("pass").all()
