"""The fit memo (``NNIP_FIT_CACHE``): a hit is bit-identical to a fresh fit, shared across processes, keyed on every
input, and nothing is cached when it is unset."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from nnip import scaling
from nnip.scaling import _memo


def _law_points(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A known eq. (5) law (α 0.3, β 0.5) on 6 model sizes × 12 data sizes, 2 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(1e4, 1e6, 6), 12)
    D = np.tile(np.geomspace(1e5, 1e7, 12), 6)
    L = (40 * N**-0.3 + 300 * D**-0.5) * np.exp(rng.normal(0, 0.02, N.size))
    run = np.repeat(np.arange(6), 12)
    return N, D, L, run


def _same(a: scaling.SumPowerLaw, b: scaling.SumPowerLaw) -> None:
    for k in ("E", "A", "B", "alpha", "beta", "loss", "converged"):
        assert getattr(a, k) == getattr(b, k), k  # exact: a hit returns the stored float64 optimum
    np.testing.assert_array_equal(a.residuals, b.residuals)


@pytest.fixture
def memo(tmp_path, monkeypatch):
    path = tmp_path / "fits.sqlite"
    monkeypatch.setenv(_memo.ENV, str(path))
    yield path
    _memo.close()


def _rows(path) -> int:
    import sqlite3

    with sqlite3.connect(path) as con:
        return con.execute("SELECT COUNT(*) FROM fits").fetchone()[0]


def _count_optimiser_calls(monkeypatch) -> list:
    calls = []
    real = scaling.laws._minimise_sum_power_law

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scaling.laws, "_minimise_sum_power_law", counted)
    return calls


@pytest.mark.parametrize("value", [None, _memo.OFF])
def test_unset_or_off_caches_nothing(tmp_path, monkeypatch, value):
    """Unset or ``off``: the same fit twice runs the optimiser twice, and no file appears (none called "off")."""
    if value is None:
        monkeypatch.delenv(_memo.ENV, raising=False)
    else:
        monkeypatch.setenv(_memo.ENV, value)
    monkeypatch.chdir(tmp_path)
    calls = _count_optimiser_calls(monkeypatch)
    N, D, L, run = _law_points()
    scaling.fit_sum_power_law(N, D, L, run_id=run)
    scaling.fit_sum_power_law(N, D, L, run_id=run)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_hit_is_bit_identical_and_skips_the_optimiser(memo, monkeypatch):
    N, D, L, run = _law_points()
    fresh = scaling.fit_sum_power_law(N, D, L, run_id=run)
    assert _rows(memo) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the optimiser ran although the fit was memoised")

    monkeypatch.setattr(scaling.laws, "_minimise_sum_power_law", fail)
    hit = scaling.fit_sum_power_law(N, D, L, run_id=run)
    _same(fresh, hit)
    assert abs(hit.alpha - 0.3) < 0.05 and abs(hit.beta - 0.5) < 0.05  # and it is the right law


def test_every_input_is_in_the_key(memo):
    N, D, L, run = _law_points()
    scaling.fit_sum_power_law(N, D, L)
    L2 = L.copy()
    L2[7] = np.nextafter(L2[7], np.inf)  # one ulp
    scaling.fit_sum_power_law(N, D, L2)
    scaling.fit_sum_power_law(N, D, L, huber_delta=2e-3)
    scaling.fit_sum_power_law(N, D, L, l_inf=None)
    scaling.fit_sum_power_law(N, D, L, n_refine=3)
    assert _rows(memo) == 5
    # a user grid is never memoised
    grid = {"a": [0.0, 5.0], "b": [0.0, 5.0], "alpha": [0.3], "beta": [0.5]}
    scaling.fit_sum_power_law(N, D, L, grid=grid)
    assert _rows(memo) == 5


def test_bootstrap_report_is_identical_with_the_memo(memo, monkeypatch):
    """The whole eq. (5) report (estimate, intervals, samples) is the same computed fresh, memoised, and read back."""
    N, D, L, run = _law_points(1)
    pts = pd.DataFrame({"run_id": run, "step": np.tile(np.arange(12), 6), "params": N, "atoms_seen": D,
                        "val_loss": L})
    monkeypatch.delenv(_memo.ENV)
    plain = scaling.sum_power_law_report(pts, n_boot=40, seed=3)
    monkeypatch.setenv(_memo.ENV, str(memo))
    first = scaling.sum_power_law_report(pts, n_boot=40, seed=3)
    again = scaling.sum_power_law_report(pts, n_boot=40, seed=3)
    for rep in (first, again):
        pd.testing.assert_frame_equal(plain.boot.samples, rep.boot.samples, check_exact=True)
        assert plain.values == rep.values and plain.intervals == rep.intervals
    assert _rows(memo) > 1


def test_shared_between_processes(memo):
    """A second process (as another notebook's kernel) reads the first one's optima: the memo is the file."""
    N, D, L, run = _law_points(2)
    np.savez(memo.with_name("pts.npz"), N=N, D=D, L=L)
    script = textwrap.dedent(f"""
        import numpy as np
        from nnip import scaling
        from nnip.scaling import laws
        p = np.load({str(memo.with_name("pts.npz"))!r})
        fit = scaling.fit_sum_power_law(p["N"], p["D"], p["L"])
        print(repr((fit.alpha, fit.beta, fit.A, fit.B)))
    """)
    out1 = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert _rows(memo) == 1
    # the second process cannot optimise at all, so its answer must come from the first one's row
    blocked = script.replace("p = np.load", "laws._minimise_sum_power_law = None\np = np.load")
    out2 = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, check=True).stdout
    assert out1 == out2



def test_parameter_counts_are_shared_and_keyed_by_the_model_code(memo, monkeypatch):
    """``nnip.paper.ladders.n_params`` stores each count in the memo (a book build's cost page, Fig. 10 and its final
    catalog check count the same ~150 models): a hit needs no model build, and edited model code misses."""
    import nnip.models
    from nnip.paper import ladders

    items = (("hidden_dim", 8), ("num_layers", 2))
    ladders.n_params.cache_clear()
    n = ladders.n_params("mpnn", items)
    assert n == nnip.models.count_parameters(nnip.models.build_model("mpnn", hidden_dim=8, num_layers=2))

    def no_build(*a, **k):
        raise AssertionError("a memo hit builds no model")

    ladders.n_params.cache_clear()
    monkeypatch.setattr(nnip.models, "build_model", no_build)
    assert ladders.n_params("mpnn", items) == n
    monkeypatch.setattr(ladders, "_model_code", lambda: "edited")
    ladders.n_params.cache_clear()
    with pytest.raises(AssertionError, match="builds no model"):
        ladders.n_params("mpnn", items)
    ladders.n_params.cache_clear()
