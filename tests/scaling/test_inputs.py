"""Every fit of nnip.scaling rejects bad input with one ValueError naming the argument."""

import numpy as np
import pandas as pd
import pytest

from nnip.scaling import (
    bootstrap, compute_optimal, fit_kappa, fit_power_law, fit_sum_power_law, paper_params, pareto_frontier, plan,
)
from tests.scaling._data import learning_curves


@pytest.mark.parametrize("call, match", [
    (lambda: fit_power_law([1, 2, np.nan], [1, 2, 3]), "^x: .*NaN"),
    (lambda: fit_power_law([1, 2, 3], [1, -2, 3]), "^y: must be > 0"),
    (lambda: fit_power_law([1, 2, 3], [1, 2]), "lengths differ"),
    (lambda: fit_power_law([1.0], [1.0]), "1 points for 2 parameters"),
    (lambda: fit_power_law([2, 2, 2], [1, 2, 3]), "^x: needs at least 2 distinct"),
    (lambda: fit_power_law([1, 2, 3], [1, 2, 3], l_inf=5.0), "^l_inf"),
    (lambda: fit_sum_power_law([1e5, 1e6, 1e7], [1e6] * 3, [1, 2, 3]), "4 parameters"),
    (lambda: fit_sum_power_law([1e5] * 5, np.geomspace(1e6, 1e8, 5), np.ones(5)), "^N: needs at least 2 distinct"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 5), [1, 1, np.inf, 1, 1]),
     "^L: .*NaN/inf"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 5), np.ones(5),
                               huber_delta=0), "^huber_delta"),
    (lambda: fit_sum_power_law(np.geomspace(1e5, 1e7, 5), np.geomspace(1e6, 1e8, 4), np.ones(5)), "lengths differ"),
    (lambda: compute_optimal(paper_params("mpnn"), kappa=0), "^kappa"),
    (lambda: compute_optimal(paper_params("mpnn"), kappa=2.0, unit="gflops"), "^unit"),
    (lambda: compute_optimal({"A": 1.0, "B": 1.0, "alpha": 0.0, "beta": 0.3}, 2.0), "^fit"),
    (lambda: fit_kappa([1, 2], [1, 2], [1, 2], passes=0), "^passes"),
    (lambda: pareto_frontier(pd.DataFrame({"run_id": ["a"], "flops": [1.0]})), "^curves: missing"),
    (lambda: pareto_frontier(learning_curves(), drop_first=1.5), "^drop_first"),
    (lambda: pareto_frontier(learning_curves(), ema=1.0), "^ema"),
    (lambda: pareto_frontier(learning_curves().assign(val_loss=np.nan)), r"^curves\['val_loss'\]"),
    (lambda: bootstrap(lambda d: {}, learning_curves(), n=0), "^n:"),
    (lambda: plan("mpnn", 10.0), "^store, paper"),
    (lambda: plan("transformer", 10.0, paper=True), "^arch"),
])
def test_degenerate_inputs_raise_named_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
