"""nnip.scaling.bootstrap: percentile intervals over resampled runs (App. E)."""

import numpy as np
import pandas as pd
import pytest

from nnip.scaling import bootstrap, fit_power_law, fit_sum_power_law
from tests.scaling._data import TRUE, power_law_runs, sum_law_runs


def test_power_law_params_inside_bootstrap_ci():
    df = power_law_runs()
    boot = bootstrap(lambda d: fit_power_law(d["x"], d["y"]), df, n=100, seed=1)
    for name, true in (("F", 3.0), ("gamma", 0.2)):
        lo, hi = boot.ci(name)
        assert lo <= true <= hi, (name, lo, hi)
    assert boot.n_failed == 0 and len(boot.samples) == 100


def test_sum_power_law_params_inside_bootstrap_ci():
    df = sum_law_runs(noise=0.02, seed=3)
    boot = bootstrap(lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss), df, n=100, seed=0)
    truth = {"alpha": TRUE["alpha"], "beta": TRUE["beta"], "log10_A": np.log10(TRUE["A"]),
             "log10_B": np.log10(TRUE["B"])}
    for name, true in truth.items():
        lo, hi = boot.ci(name)
        assert lo <= true <= hi, (name, lo, hi)
        assert lo <= boot[name] <= hi


def test_fits_reproducible():
    df = sum_law_runs(noise=0.02)
    fn = lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss)  # noqa: E731
    a, b = bootstrap(fn, df, n=8, seed=7), bootstrap(fn, df, n=8, seed=7)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = bootstrap(fn, df, n=8, seed=8)
    assert not np.allclose(a.samples["alpha"], c.samples["alpha"])


def test_bootstrap_skips_and_counts_degenerate_resamples():
    df = sum_law_runs(n_runs=2, pts=6, noise=0.01)  # a resample drawing one run twice has a single N
    with pytest.warns(UserWarning, match="degenerate"):
        boot = bootstrap(lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss), df, n=12, seed=0)
    assert 0 < boot.n_failed < 12 and len(boot.samples) == 12 - boot.n_failed


@pytest.mark.parametrize("kind", ["power_law", "sum_law", "frontier", "kappa"])
def test_column_resamples_give_the_dataframe_resamples_to_the_bit(kind):
    """``columns=``: resamples as numpy columns instead of DataFrames (the book's frontier, κ and eq. (5) bootstraps)
    — the same rows in the same order, so every resample's fit is identical to the last bit."""
    from nnip.scaling import analysis

    if kind == "power_law":
        df, cols = power_law_runs(), ["x", "y"]
        fn = lambda d: fit_power_law(d["x"], d["y"])  # noqa: E731
    elif kind == "sum_law":
        df, cols = sum_law_runs(noise=0.02, seed=3), ["params", "atoms_seen", "val_loss", "run_id"]
        fn = analysis._sum_fit
    elif kind == "frontier":
        df = sum_law_runs(noise=0.05, seed=1).assign(C=lambda d: d["flops"] / 1e15)
        cols, fn = ["C", "val_loss"], lambda d: analysis._frontier_fit(d, "C")
    else:
        df, cols, fn = sum_law_runs(noise=0.02, seed=2), ["flops", "params", "atoms_seen"], analysis._kappa_fit
    n = 5 if kind == "sum_law" else 40
    slow, fast = bootstrap(fn, df, n=n, seed=4), bootstrap(fn, df, n=n, seed=4, columns=cols)
    pd.testing.assert_frame_equal(slow.samples, fast.samples, check_exact=True)
    pd.testing.assert_frame_equal(slow.table, fast.table, check_exact=True)


def test_column_resamples_name_a_missing_column():
    with pytest.raises(ValueError, match="nope"):
        bootstrap(lambda d: fit_power_law(d["x"], d["y"]), power_law_runs(), n=3, columns=["x", "nope"])
