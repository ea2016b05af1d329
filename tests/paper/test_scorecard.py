"""nnip.paper.scorecard: the verdict rules on synthetic estimates, and the page on a synthetic main study with every
other study missing from the store."""

import matplotlib

matplotlib.use("Agg")

import html  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnip.paper import (  # noqa: E402
    fits, group_averaging, main, materials, multi_epoch, symmetry, transformer, translation,
)
from nnip.paper import scorecard as sc  # noqa: E402
from nnip.paper.scorecard import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Estimate  # noqa: E402
from tests.paper.test_main import synthetic_curves  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "scorecard.py"


def E(value, lo, hi):
    return Estimate(value, lo, hi)


# --- ordering: x1 < x2 < ... ----------------------------------------------------------------------------------------
def test_ordering_reproduced_when_every_adjacent_pair_is_separated():
    verdict, why = sc.ordering_verdict(sc.chain([("a", E(1, .9, 1.1)), ("b", E(2, 1.8, 2.2)), ("c", E(3, 2.9, 3.1))]))
    assert verdict == REPRODUCED and why == "every pair: holds"


def test_ordering_not_reproduced_when_any_pair_is_reversed_even_if_others_are_missing():
    pairs = sc.chain([("a", E(1, .9, 1.1)), ("b", E(.5, .4, .6)), ("c", Estimate(note="2 run(s)"))])
    verdict, why = sc.ordering_verdict(pairs)
    assert verdict == NOT_REPRODUCED
    assert "a < b: contradicted" in why and "b < c: no interval (2 run(s))" in why


@pytest.mark.parametrize("b", [E(1.05, 1.0, 1.2), E(1.1, 1.1, 1.2)], ids=["overlap", "touching"])
def test_ordering_inconclusive_when_intervals_overlap(b):
    verdict, why = sc.ordering_verdict([("a", E(1, .9, 1.1), "b", b)])
    assert verdict == INCONCLUSIVE and why == "a < b: unresolved"


def test_ordering_inconclusive_when_an_interval_is_missing_and_says_why():
    verdict, why = sc.ordering_verdict([("a", E(1, .9, 1.1), "b", Estimate(5.0, note="3 run(s); an interval needs 5"))])
    assert verdict == INCONCLUSIVE and "3 run(s); an interval needs 5" in why
    assert sc.ordering_verdict([]) == (INCONCLUSIVE, "nothing to compare")


def test_threshold_claim_is_an_ordering_against_a_point():
    one = E(1.0, 1.0, 1.0)
    assert sc.ordering_verdict([("1", one, "r", E(1.3, 1.1, 1.5))])[0] == REPRODUCED
    assert sc.ordering_verdict([("1", one, "r", E(0.8, 0.7, 0.9))])[0] == NOT_REPRODUCED
    assert sc.ordering_verdict([("1", one, "r", E(1.1, 0.9, 1.3))])[0] == INCONCLUSIVE


# --- equivalence within a margin ------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, verdict", [
    (E(0.5, 0.45, 0.55), REPRODUCED),
    (E(0.5, 0.4, 0.6), REPRODUCED),  # the margin's edges are inside
    (E(0.7, 0.65, 0.75), NOT_REPRODUCED),
    (E(0.3, 0.2, 0.35), NOT_REPRODUCED),
    (E(0.58, 0.5, 0.66), INCONCLUSIVE),
    (E(0.5, 0.3, 0.7), INCONCLUSIVE),  # wider than the margin on both sides
    (Estimate(0.5, note="no fit"), INCONCLUSIVE),
], ids=["inside", "edges", "above", "below", "straddles", "covers", "missing"])
def test_equivalence_verdict(x, verdict):
    assert sc.equivalence_verdict(x, sc.A_MARGIN)[0] == verdict


def test_combine_over_architectures():
    r, n, i = (REPRODUCED, "r"), (NOT_REPRODUCED, "n"), (INCONCLUSIVE, "i")
    assert sc.combine({"a": r, "b": (REPRODUCED, "s")}) == (REPRODUCED, "a: r; b: s")
    assert sc.combine({"a": r, "b": n, "c": i})[0] == NOT_REPRODUCED
    assert sc.combine({"a": r, "b": i})[0] == INCONCLUSIVE
    assert sc.combine({"a": i, "b": i}) == (INCONCLUSIVE, "every architecture: i")
    assert sc.combine({})[0] == INCONCLUSIVE


def test_ratio_interval_arithmetic():
    q = sc.ratio(E(2, 1, 4), E(1, 0.5, 2))
    assert (q.value, q.lo, q.hi) == (2, 0.5, 8)
    assert not sc.ratio(E(2, 1, 4), E(1, 0.0, 2)).ok  # a denominator interval reaching 0 gives no interval
    assert not sc.ratio(E(2, 1, 4), Estimate(1.0)).ok


def test_paired_ratio_bootstraps_pairs_and_needs_enough_of_them():
    rng = np.random.default_rng(1)
    den = np.geomspace(0.1, 0.01, 8)
    num = den * 1.2 * np.exp(0.01 * rng.standard_normal(8))
    q = sc.paired_ratio(num, den, n_boot=200)
    assert q.ok and 1.0 < q.lo < 1.2 < q.hi < 1.25
    assert sc.paired_ratio(num, den, n_boot=200) == q  # seeded
    few = sc.paired_ratio(num[:3], den[:3], n_boot=200)
    assert few.value == pytest.approx(1.2, rel=0.05) and not few.ok and "3 run(s)" in few.note


# --- estimates: the same resamples as the item pages ------------------------------------------------------------------
@pytest.fixture(autouse=True)
def small_bootstrap(set_analysis):
    set_analysis("tiny", n_boot=8)


@pytest.fixture(scope="module")
def curves():
    return synthetic_curves(n_runs=8, pts=12, noise=0.002)


def test_sum_law_intervals_are_table7s(curves):
    pts = fits.prepare(curves, "tiny", "egnn")
    ours, rep = sc.sum_law_estimates(pts, "tiny"), fits.sum_power_law_report(pts, "tiny")
    for k in ("alpha", "beta"):
        assert ours[k].value == pytest.approx(rep.value(k))
        assert (ours[k].lo, ours[k].hi) == pytest.approx(rep.ci(k))
    alpha, beta = rep.value("alpha"), rep.value("beta")
    assert ours["a"].value == pytest.approx(beta / (alpha + beta))
    assert ours["alpha_minus_beta"].value == pytest.approx(alpha - beta)


def test_too_few_runs_give_a_point_but_no_interval(curves):
    few = curves[curves["run_id"].str.endswith(("-0", "-1", "-2"))]
    g = sc.frontier_gamma(few, "tiny", "mpnn")
    assert np.isfinite(g.value) and not g.ok and "3 run(s)" in g.note
    s = sc.sum_law_estimates(fits.prepare(few, "tiny", "mpnn"), "tiny")
    assert np.isfinite(s["beta"].value) and not s["beta"].ok


# --- the page -------------------------------------------------------------------------------------------------------
MISSING_STUDIES = [(main, "lmax_study"), (symmetry, "symmetry_study"), (multi_epoch, "multi_epoch_study"),
                   (multi_epoch, "augmented_vs_equivariant_study"), (group_averaging, "tta_study"),
                   (translation, "translation_study"), (transformer, "transformer_study"), (materials, "materials_study")]


def _page(monkeypatch, curves):
    def missing(preset, store, train_missing):
        raise RuntimeError(f"3 run(s) of study 'x' are missing from {sc.store_path(store, preset)}; run it")

    monkeypatch.setattr(main, "main_study", lambda preset, store, train_missing: curves)
    for module, name in MISSING_STUDIES:
        monkeypatch.setattr(module, name, missing)
    return sc.scorecard("tiny")


def test_page_verdicts_from_a_study_that_follows_the_paper(monkeypatch, curves):
    card = _page(monkeypatch, curves)
    assert list(card.columns) == sc.COLUMNS and len(card) == 17
    assert set(card["verdict"]) <= {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE}
    by_claim = dict(zip(card["claim"], card["verdict"]))
    for start in ("γ_c grows", "the data exponent β", "the parameter exponent α", "α ≈ β", "compute-optimal a"):
        (claim,) = [c for c in by_claim if c.startswith(start)]
        assert by_claim[claim] == REPRODUCED, claim
    assert card["source"].str.contains(r"Fig\.|Table|App\.|eq\.|Trikha").all()  # every row names its source
    other = card.iloc[6:]
    assert (other["verdict"] == INCONCLUSIVE).all()
    assert other["why"].str.startswith("study missing from the store: 3 run(s) of study 'x'").all()
    assert not card.apply(lambda col: col.str.contains(str(sc.store_path("results", "tiny")), regex=False)).any().any()


def test_page_says_not_reproduced_when_the_order_is_reversed(monkeypatch, curves):
    swapped = curves.assign(arch=curves["arch"].replace({"mpnn": "esen", "esen": "mpnn"}))
    card = _page(monkeypatch, swapped)
    assert card.loc[0, "verdict"] == NOT_REPRODUCED
    assert "contradicted" in card.loc[0, "why"]


def test_page_table_has_no_index_column(monkeypatch, curves):
    page = sc.styled(_page(monkeypatch, curves)).to_html()
    assert "row_heading" not in page and page.count("<th ") == len(sc.COLUMNS)
    assert "MPNN &lt; MC-EGNN" in page  # cell text is escaped, not read as markup
    card = _page(monkeypatch, curves)
    cells = [sc._lines(v) for v in card.to_numpy().ravel()]
    # one item (architecture, pair) per line, and the lines read back to exactly the cell's text
    assert any("<br>" in c for c in cells)
    assert [html.unescape(c.replace("<br>", "; ")) for c in cells] == [str(v) for v in card.to_numpy().ravel()]
    assert "styled(" in NOTEBOOK.read_text()


def test_figure_shows_one_verdict_per_claim(monkeypatch, curves):
    card = _page(monkeypatch, curves)
    texts = [t.get_text() for t in sc.figure(card).axes[0].texts]
    assert sum(t in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE) for t in texts) == len(card)


def test_rules_state_the_margins_the_code_uses():
    text = sc.rules()
    assert f"|α − β| ≤ {sc.ALPHA_BETA_MARGIN[1]:g}" in text
    assert f"[{sc.A_MARGIN[0]:g}, {sc.A_MARGIN[1]:g}]" in text
    assert f"[{sc.SAME_EXPONENT[0]:g}, {sc.SAME_EXPONENT[1]:g}]" in text
    assert f"at least {sc.MIN_RUNS} independent runs" in text
    assert sc.ALPHA_BETA_MARGIN == (-0.1, 0.1)


def _tta(shift: float, alpha_ga: float, l_d: float = 0.2, sizes: int = 6):
    """Final losses L = L_D + A N^−α of an MPNN ladder without GA (M = 0) and with GA (M = 4, A scaled by shift)."""
    rows = []
    for i, N in enumerate(np.geomspace(1e4, 1e6, sizes)):
        wiggle = 1 + 0.01 * np.sin(3 * i)
        rows += [{"run_id": f"r{i}", "params": N, "M": 0, "val_loss": l_d + 5 * N**-0.3 * wiggle},
                 {"run_id": f"r{i}", "params": N, "M": 4, "val_loss": l_d + shift * 5 * N**-alpha_ga * wiggle}]
    return pd.DataFrame(rows)


def test_group_averaging_exponent_ratio():
    same = sc.ga_alpha_ratio(_tta(0.95, 0.3), 0.2, "tiny")
    assert same.value == pytest.approx(1.0, abs=1e-6)
    assert sc.equivalence_verdict(same, sc.SAME_EXPONENT)[0] == REPRODUCED
    steeper = sc.ga_alpha_ratio(_tta(0.95, 0.45), 0.2, "tiny")
    assert steeper.value == pytest.approx(1.5, rel=0.01)
    assert sc.equivalence_verdict(steeper, sc.SAME_EXPONENT)[0] == NOT_REPRODUCED
    assert not sc.ga_alpha_ratio(_tta(0.95, 0.3, sizes=3), 0.2, "tiny").ok  # 3 model sizes: no interval


def test_bent_frontiers_are_named_but_do_not_change_the_verdict():
    """A frontier whose backtest error exceeds the pilot's limit is named in the reason; the verdict stays the rule's."""
    g = {"MPNN": Estimate(0.2, 0.18, 0.22, backtest=0.04), "eSEN": Estimate(0.4, 0.33, 0.47, backtest=0.47)}
    verdict = sc.ordering_verdict(sc.chain(list(g.items())))
    bent = sc._bent(verdict, g)
    assert bent[0] == verdict[0] == REPRODUCED
    assert bent[1].startswith(verdict[1]) and "not straight" in bent[1] and "eSEN 47%" in bent[1]
    assert "MPNN" not in bent[1][len(verdict[1]):]
    assert sc._bent(verdict, {"MPNN": g["MPNN"]}) == verdict  # straight frontiers: reason unchanged


def test_frontier_gamma_carries_the_backtest_error(curves):
    est = sc.frontier_gamma(curves, "tiny", "mpnn")
    assert np.isfinite(est.backtest) and est.backtest >= 0
