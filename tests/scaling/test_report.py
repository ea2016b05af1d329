"""nnip.scaling.report: one fit, its bootstrap interval, backtest and notes (what every figure and table shows)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from nnip import scaling
from nnip.scaling import Report, bootstrap, compute_optimal, fit_kappa, fit_sum_power_law, report
from tests.scaling._data import sum_law_runs


def _sum(d: pd.DataFrame) -> scaling.SumPowerLaw:
    return fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], run_id=d["run_id"])


def _alloc(fit) -> dict:
    return compute_optimal(fit, 5.0, unit="pflops").as_dict()


def test_report_is_the_fit_its_bootstrap_and_its_backtest():
    df = sum_law_runs(noise=0.02, seed=3).sample(frac=1.0, random_state=0)  # index is reset, order kept
    rep = report(_sum, df, n_boot=30, seed=4, backtest={"by": "N", "holdout": "largest"}, derived=_alloc,
                 excluded={"r99": "failed: diverged"})
    assert rep.ok and rep.notes == () and rep.note == "" and rep.excluded == {"r99": "failed: diverged"}
    boot = bootstrap(_sum, df.reset_index(drop=True), n=30, seed=4, derived=_alloc)
    pd.testing.assert_frame_equal(rep.boot.table, boot.table)  # exactly scaling.bootstrap, nothing re-done
    assert rep.values == {**boot.estimate.params(), **_alloc(boot.estimate)}
    assert set(rep.intervals) == set(boot.table.index)  # every bootstrapped quantity has a finite interval here
    for k in ("alpha", "beta", "a", "gamma_c"):
        assert rep.ci(k) == boot.ci(k) and rep.ci(k)[0] <= rep.value(k) <= rep.ci(k)[1]
    assert rep.cis is rep.intervals
    bt = scaling.backtest(_sum, df.reset_index(drop=True), by="N")
    assert rep.backtest.are == bt.are and rep.backtest.n_test == 10
    assert rep.value("nope") != rep.value("nope") and rep.ci("nope") is None  # NaN, None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.values = {}


def test_report_turns_what_the_fits_reject_into_notes():
    one_run = sum_law_runs(n_runs=1, pts=6)
    rep = report(_sum, one_run, n_boot=5, too_few="too few runs at this preset")
    assert not rep.ok and rep.values == {} and rep.backtest is None and len(rep.data) == 6
    assert rep.note.startswith("too few runs at this preset (N: needs at least 2 distinct values")

    def bad_derived(fit):
        raise ValueError("fit: alpha must be > 0")

    df = sum_law_runs(n_runs=2, pts=6, noise=0.01)  # resamples drawing one run twice are degenerate
    rep = report(_sum, df, n_boot=12, seed=0, derived=bad_derived, backtest={"by": "N"})
    assert rep.ok and "a" not in rep.values
    assert rep.notes[0] == "eq. (6)–(7) undefined (fit: alpha must be > 0)"
    assert rep.notes[1].endswith("of 12 bootstrap resamples degenerate (skipped)")
    assert rep.notes[2].startswith("no backtest, too few runs (N: needs at least 2 distinct")
    rep = report(_sum, df.assign(run_id="one"), n_boot=5)  # a single run cannot be resampled
    assert rep.ok and rep.intervals == {} and rep.notes[0].startswith("no 95% CI, too few runs (data: needs at least 2")


def test_report_takes_a_backtest_function_and_any_fit_with_params():
    df = sum_law_runs(noise=0.0)
    kap = report(lambda d: fit_kappa(d["flops"], d["params"], d["atoms_seen"]), df, n_boot=5,
                 backtest=lambda d: scaling.backtest(lambda t: fit_kappa(t["flops"], t["params"], t["atoms_seen"]), d,
                                                     by="N", y="flops", predict=lambda f, t: f.slope * t["params"]
                                                     * t["atoms_seen"]))
    assert kap.values == {"kappa": pytest.approx(5.0, rel=1e-12), "r2": pytest.approx(1.0)}
    assert kap.backtest.are < 1e-12 and set(kap.intervals) == {"kappa", "r2"}
    assert Report().ok is False and Report().note == ""


def test_paper_reports_are_scaling_reports_with_the_presets_settings():
    from nnip.paper import fits

    df = sum_law_runs(noise=0.02)
    rep = fits.report(_sum, df, "tiny", backtest={"by": "N", "holdout": "largest"})
    cfg = fits.settings("tiny")
    ref = report(_sum, df, n_boot=cfg.n_boot, seed=cfg.seed, backtest={"by": "N", "holdout": "largest"})
    assert rep.values == ref.values and rep.intervals == ref.intervals and rep.backtest.are == ref.backtest.are
    assert np.isfinite(rep.value("alpha"))
