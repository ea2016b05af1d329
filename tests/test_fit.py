"""``nnip fit STORE --arch A``: the analysis of a user's run store (nnip.fit), on a small synthetic store."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnip import cli, scaling  # noqa: E402
from nnip.fit import fit_cli, fit_store  # noqa: E402
from nnip.runs import RunStore  # noqa: E402
from tests.scaling._data import TRUE  # noqa: E402

COLUMNS = ["step", "atoms_seen", "flops", "wall_s", "wall_s_train", "val_loss"]
KAPPA = 4.0


def _store(root, n_runs=6, pts=12, noise=0.01, failed=True):
    """Runs of eq. (5) with TRUE's parameters (one N per run, D = 1e6 … 1e8), C = 3κND, plus a failed mpnn run and
    an egnn run."""
    store = RunStore(root)
    rng = np.random.default_rng(0)
    runs = [(f"m{i}", "mpnn", N) for i, N in enumerate(np.geomspace(1e5, 3e6, n_runs))] + [("e0", "egnn", 1e5)]
    for run_id, arch, N in runs:
        N = float(N)
        store.write_config(run_id, {"config": {"model": {"name": arch}}})
        store.write_summary(run_id, {"run_id": run_id, "status": "done", "arch": arch, "params": N,
                                     "tags": ["main"] if run_id != "m0" else ["tuning"]})
        store.start_curve(run_id, COLUMNS)
        for k, D in enumerate(np.geomspace(1e6, 1e8, pts)):
            L = (TRUE["A"] * N ** -TRUE["alpha"] + TRUE["B"] * D ** -TRUE["beta"]) * np.exp(noise * rng.standard_normal())
            wall = 1e-11 * N * D
            row = {"atoms_seen": D, "flops": 3 * KAPPA * N * D, "wall_s": wall, "wall_s_train": 0.9 * wall, "val_loss": L}
            store.append_curve(run_id, {"step": k + 1, **{c: float(v) for c, v in row.items()}}, COLUMNS)
    if failed:
        store.write_config("bad", {"config": {}})
        store.write_summary("bad", {"run_id": "bad", "status": "failed", "reason": "diverged at step 1",
                                    "arch": "mpnn", "params": 1e6})
    return store


def test_fit_store_recovers_the_laws_with_intervals(tmp_path):
    _store(tmp_path / "s")
    res = fit_store(tmp_path / "s", "mpnn", n_boot=40)
    assert res.excluded == {"bad": "failed: diverged at step 1"}
    assert res.points["run_id"].nunique() == 6
    assert res.kappa_report.value("kappa") == pytest.approx(KAPPA, rel=1e-10)
    sum_rep = res.sum_report
    assert sum_rep.ok and sum_rep.backtest is not None and sum_rep.backtest.are < 0.05
    for k in ("alpha", "beta"):
        lo, hi = sum_rep.ci(k)
        assert lo <= sum_rep.value(k) <= hi and sum_rep.value(k) == pytest.approx(TRUE[k], rel=0.2)
    co = scaling.compute_optimal(sum_rep.estimate, KAPPA, unit="pflops")
    assert sum_rep.value("gamma_c") == pytest.approx(co.gamma_c, rel=1e-12)
    table = res.table
    assert list(table.columns) == ["law", "quantity", "estimate", "lo", "hi", "backtest_are", "note"]
    assert {"gamma_c", "F_c [C in PFLOPs]", "alpha", "beta"} <= set(table["quantity"])
    assert table["law"].tolist().count("frontier eq. (4)") == 2  # F_c, gamma_c of Table 1's left column
    row = table.set_index(["law", "quantity"]).loc[("compute-optimal eq. (6)-(7)", "gamma_c")]
    assert row["lo"] <= row["estimate"] <= row["hi"]
    assert res.frontier_report.ok and res.frontier_report.value("gamma") > 0
    # the same numbers as the library's own pieces: prepare_curves → report (nothing re-implemented)
    hours = fit_store(tmp_path / "s", "mpnn", x="hours", n_boot=5)
    assert hours.table["quantity"].iloc[0] == "F_h [H in hours]"
    assert hours.points["H_hours"].max() == pytest.approx(0.9 * 1e-11 * 3e6 * 1e8 / 3600)


def test_fit_cli_prints_and_writes_table_and_png(tmp_path, capsys):
    _store(tmp_path / "s")
    out, png = tmp_path / "out" / "table.csv", tmp_path / "out" / "fig.png"
    assert cli.main(["fit", str(tmp_path / "s"), "--arch", "mpnn", "--n-boot", "20", "--out", str(out),
                     "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "gamma_c" in text and "95% CI" in text and "left out of the fit: run bad: failed" in text
    table = pd.read_csv(out)
    assert len(table) == 12 and np.isfinite(table["estimate"]).all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_too_few_runs_is_a_note_not_a_crash(tmp_path, capsys):
    _store(tmp_path / "s")
    assert fit_cli([str(tmp_path / "s"), "--arch", "egnn", "--n-boot", "5"]) == 0  # one run: one N
    text = capsys.readouterr().out
    assert "note (sum-power-law): too few runs (N: needs at least 2 distinct" in text


@pytest.mark.parametrize("args, match", [
    (["{root}/nope", "--arch", "mpnn"], "store: no run store at"),
    (["{root}/s", "--arch", "esen"], "arch: no runs of 'esen' in the store; archs present: ['egnn', 'mpnn']"),
    (["{root}/empty", "--arch", "mpnn"], "store: .* holds no runs"),
    (["{root}/s", "--arch", "mpnn", "--n-boot", "0"], "n_boot: must be >= 1"),
])
def test_fit_user_errors_are_one_line_exit_2(tmp_path, capsys, args, match):
    _store(tmp_path / "s", failed=False)
    (tmp_path / "empty").mkdir()
    assert cli.main(["fit", *[a.format(root=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nnip fit: error: ")
    assert pd.Series([err]).str.contains(match, regex=True).all() or match in err


def test_fit_tag_selects_one_study_of_a_shared_store(tmp_path):
    """``--tag main`` leaves out runs of other studies (here m0, tagged "tuning"); an unknown tag is a user error."""
    _store(tmp_path)
    everything = fit_store(tmp_path, "mpnn", n_boot=5)
    main_only = fit_store(tmp_path, "mpnn", n_boot=5, tag="main")
    assert main_only.points["run_id"].nunique() == everything.points["run_id"].nunique() - 1
    assert "m0" not in set(main_only.points["run_id"])
    with pytest.raises(ValueError, match="tag: no run of .* is tagged 'fig99'"):
        fit_store(tmp_path, "mpnn", n_boot=5, tag="fig99")


def test_fit_store_runs_the_books_fits(tmp_path):
    """``nnip fit`` and the book's pages run the same functions (nnip.scaling.analysis): with a preset's settings the
    numbers are the book's."""
    from nnip.paper import fits
    from nnip.presets import get

    _store(tmp_path / "s")
    a = get("tiny").analysis
    res = fit_store(tmp_path / "s", "mpnn", n_boot=a.n_boot, seed=a.seed, drop_first=a.drop_first, holdout=a.holdout)
    _, front = fits.frontier_report(res.points, scaling.X_FLOPS, "tiny")
    assert front.values == res.frontier_report.values and front.intervals == res.frontier_report.intervals
    assert front.backtest.are == res.frontier_report.backtest.are
    book = fits.sum_power_law_report(res.points, "tiny", kappa=res.kappa_report.value("kappa"))
    assert book.values == res.sum_report.values and book.intervals == res.sum_report.intervals
