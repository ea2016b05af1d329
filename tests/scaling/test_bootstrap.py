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
