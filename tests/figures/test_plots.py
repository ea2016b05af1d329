"""nnip.figures: log–log figures with units, tables with intervals."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnip import figures  # noqa: E402
from nnip.scaling import (  # noqa: E402
    PAPER, bootstrap, compute_optimal, fit_kappa, fit_power_law, fit_sum_power_law, paper_params, pareto_frontier,
)
from tests.scaling._data import learning_curves, sum_law_runs  # noqa: E402


def _log_axes(fig):
    return [ax for ax in fig.axes if ax.get_xscale() == "log" and ax.get_yscale() == "log"]


def test_figures_return_log_log_figures_with_units():
    curves = learning_curves()
    front = pareto_frontier(curves)
    law = bootstrap(lambda d: fit_power_law(d["flops"], d["val_loss"]), front, n=20, group=None)
    fig = figures.plot_frontier(curves, fits=law)
    assert isinstance(fig, Figure) and len(_log_axes(fig)) == 1
    assert fig.axes[0].get_xlabel() == "compute C [PFLOPs]" and "normalised" in fig.axes[0].get_ylabel()
    fig = figures.plot_frontier(curves.assign(arch="mpnn"), x="wall_s", by="arch")
    assert fig.axes[0].get_xlabel() == "wall-clock [GPU-h]"

    df = sum_law_runs(n_runs=5, pts=5, noise=0.01)
    fig = figures.plot_sum_power_law(fit_sum_power_law(df.params, df.atoms_seen, df.val_loss))
    assert len(_log_axes(fig)) == 2
    assert [ax.get_xlabel() for ax in fig.axes] == ["training atoms D", "parameters N"]

    cos = {k: compute_optimal(paper_params(k), PAPER[k]["kappa"], unit="pflops") for k in PAPER}
    fig = figures.plot_compute_optimal(cos)
    assert len(_log_axes(fig)) == 2 and fig.axes[0].get_xlabel() == "compute C [PFLOPs]"
    assert fig.axes[1].get_ylabel() == "optimal training atoms D*"

    fig = figures.plot_kappa({"mpnn": fit_kappa(df.flops, df.params, df.atoms_seen)})
    assert len(_log_axes(fig)) == 1 and "FLOPs" in fig.axes[0].get_ylabel()


def test_table_frame_formats_intervals():
    boot_table = pd.DataFrame({"estimate": [0.1234, 2.0], "lo": [0.1, 1.5], "hi": [0.15, 2.5], "std": [0.01, 0.2]},
                              index=["gamma_c", "F_c"])
    out = figures.table_frame(boot_table)
    assert out.loc["gamma_c", "estimate [95% CI]"] == "0.123 [0.100–0.150]"
    assert out.loc["F_c", "std"] == "0.200"
