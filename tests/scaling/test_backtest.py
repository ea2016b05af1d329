"""nnip.scaling.backtest: fit the smaller runs, predict the held-out largest."""

from nnip.scaling import backtest, fit_power_law, fit_sum_power_law
from tests.scaling._data import power_law_runs, sum_law_runs


def test_backtest_noiseless_and_broken():
    fn = lambda d: fit_sum_power_law(d.params, d.atoms_seen, d.val_loss)  # noqa: E731
    good = backtest(fn, sum_law_runs(noise=0.0), by="N")
    assert good.are < 1e-4 and good.n_test == 10 and good.n_train == 110
    bad = backtest(fn, sum_law_runs(noise=0.0, break_largest=0.3), by="N")
    assert bad.are > 0.2
    fit = fn(sum_law_runs(noise=0.0)).with_backtest(good)
    assert fit.backtest is good
    df = power_law_runs(noise=0.0)  # a compute frontier, held out by C
    bt = backtest(lambda d: fit_power_law(d["x"], d["y"]), df, by="x", holdout=0.2, y="y")
    assert bt.are < 1e-8 and bt.n_test > 0
