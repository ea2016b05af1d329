"""The analysis of the symmetrization study (nnip.paper.beyond_symmetry, below its pre-registration): the studies
trained end to end into a tiny store, the verdict table, every figure, the costs and the cached frame-gap summary;
and, on synthetic curves with known exponents, that each arm is fitted on its own runs and the verdicts follow."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnip.paper import beyond_symmetry as bs  # noqa: E402
from nnip.paper.scorecard import COLUMNS  # noqa: E402
from nnip.paper.verdicts import INCONCLUSIVE  # noqa: E402
from nnip.presets import get as get_preset  # noqa: E402
from nnip.runs import RunStore  # noqa: E402
from nnip.sweep import expand  # noqa: E402

VERDICTS = {bs.YES, bs.NO, INCONCLUSIVE}

#: one pytest-xdist worker for the module: its ``tiny`` store (every study of the chapter, ~18 s of training) is a
#: module fixture, which each worker the tests were spread over built again (``make test``: twice, 36 s)
pytestmark = pytest.mark.xdist_group("beyond-symmetry-tiny-store")


def assert_labelled(fig):
    assert isinstance(fig, Figure)
    drawn = [ax for ax in fig.axes if ax.get_visible() and (ax.lines or ax.collections or ax.patches)]
    assert drawn, "blank figure"
    for ax in drawn:
        assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


# --- the tiny store: every study of the chapter, trained once ---------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    store = tmp_path_factory.mktemp("beyond-store")
    curves = bs.study("tiny", store, train_missing=True)
    epochs = bs.multi_epoch_study("tiny", store, train_missing=True)
    pilot = bs.pilot_study("tiny", store, train_missing=True)
    zero = bs.zero_output_loss(curves, "tiny", store, train_missing=True)
    return store, curves, epochs, pilot, zero


def test_studies_hold_every_arm(tiny):
    _, curves, epochs, pilot, zero = tiny
    assert set(curves["arm"]) == set(bs.ARMS)
    assert (curves.groupby("arm")["run_id"].nunique() == 2).all()  # the tiny ladders have two rungs
    assert list(curves.groupby("run_id")["arm"].nunique().unique()) == [1]
    assert set(epochs["arm"]) == set(bs.EPOCH_ARMS)
    assert set(pilot["model.symmetrize"]) == set(bs.METHODS) and pilot["run_id"].nunique() == 9
    assert math.isfinite(zero) and zero > 0
    # the wrapped arms are the MPNN in the store: the arm, not the arch, tells them apart
    assert set(curves.loc[curves["arm"].str.startswith("MPNN"), "arch"]) == {"mpnn"}


def test_pilot_table_applies_the_rule(tiny):
    _, _, _, pilot, _ = tiny
    table = bs.pilot_table(pilot, "tiny")
    assert list(table["method"]) == [bs.LABELS[m] for m in bs.METHODS]
    columns = [f"final val loss, η = {lr:g}" for lr in bs.PILOT_LRS]
    assert table.columns[1:4].tolist() == columns
    for _, row in table.iterrows():
        finals = dict(zip(bs.PILOT_LRS, row[columns]))
        expected = bs.pilot_choice(finals, get_preset("tiny").archs["mpnn"].lr)
        assert float(row["rule's choice (pilot_choice)"]) == pytest.approx(expected)


def test_verdict_table_has_one_row_per_question(tiny):
    _, curves, epochs, _, zero = tiny
    table = bs.verdicts(curves, epochs, zero, "tiny")
    assert list(table.columns) == bs.VERDICT_COLUMNS
    assert list(table["question"]) == list(bs.QUESTIONS)
    assert list(table["claim"]) == list(bs.QUESTIONS.values())
    # two runs per arm at tiny: no interval anywhere, so every rule says inconclusive and why
    assert (table["verdict"] == INCONCLUSIVE).all()
    assert table["why"].str.contains("an interval needs 5").all()


def test_new_results_table(tiny, tmp_path):
    store, *_ = tiny
    table = bs.new_results_table("tiny", store, train_missing=False)
    assert list(table.columns) == [c for c in COLUMNS if c != "paper"]
    assert len(table) == len(bs.QUESTIONS) and set(table["verdict"]) <= VERDICTS
    empty = bs.new_results_table("tiny", tmp_path, train_missing=False)
    assert (empty["verdict"] == INCONCLUSIVE).all()
    assert empty["why"].str.startswith("study missing from the store: ").all()
    assert not empty["why"].str.contains(str(tmp_path), regex=False).any()


def test_every_figure_renders_with_labelled_axes(tiny):
    _, curves, epochs, _, zero = tiny
    fig, table = bs.frontier_figure(curves, "tiny")
    assert_labelled(fig)
    assert "PFLOPs" in fig.axes[0].get_xlabel() and "loss" in fig.axes[0].get_ylabel()
    assert list(table["arm"]) == list(bs.ARMS) and table["training health"].str.contains("runs spiked").all()
    fig, table = bs.paired_figure(curves, epochs, zero, "tiny")
    assert_labelled(fig)
    assert set(table["question"]) == {"Q4", "Q5"} and (table["ratio"] > 0).all()
    assert_labelled(bs.methods_figure())
    health = bs.health_table(curves)
    assert set(health["arm"]) == set(bs.ARMS) and len(health) == curves["run_id"].nunique()


def assert_missing_cache_is_an_error(store, name, read):
    """The cache ``name`` beside the first frame-averaging stream run exists; without it, ``read()`` (from the store,
    computing nothing) raises one error naming the file."""
    run_id = expand(bs.stream_spec("tiny", ["frame-averaging"])[0], "tiny")[0].run_id()
    path = RunStore(store).run_dir(run_id) / name
    assert path.exists()
    aside = path.with_suffix(".aside")
    shutil.move(path, aside)
    try:
        with pytest.raises(RuntimeError, match=name.replace(".", r"\.")):
            read()
    finally:
        shutil.move(aside, path)


def test_costs(tiny):
    store, curves, *_ = tiny
    table = bs.cost_table(curves, "tiny", store).set_index("arm")
    assert set(table.index) == set(bs._COST_BASE)
    assert table.loc["MPNN + frame averaging", "N"].startswith("1×")
    sym = float(table.loc["MPNN + symmetry loss", "training FLOPs per step"].split("×")[0])
    assert 5.5 < sym < 6.5  # M = 5 extra forward/backward passes, measured
    measured = bs.measured_cost_table("tiny", store, train_missing=True)
    pd.testing.assert_frame_equal(measured, bs.measured_cost("tiny"))  # the cache holds what a recount gives
    pd.testing.assert_frame_equal(bs.measured_cost_table("tiny", store, train_missing=False), measured)
    assert_missing_cache_is_an_error(store, bs.COST_FILE, lambda: bs.measured_cost_table("tiny", store, False))
    fa = measured[measured["arm"] == "MPNN + frame averaging"]
    assert (fa["evaluation × base"].between(3.9, 4.3)).all()  # four frames at evaluation
    assert (fa["training step × base"].between(1.0, 1.05)).all()  # one frame per training step
    assert fa["uncounted ops"].str.contains("_linalg_eigh").all()


def test_frame_gaps_are_cached_and_read_back_without_data(tiny):
    store, *_ = tiny
    summary = bs.frame_gaps_summary("tiny", store, train_missing=True)
    assert summary["structures"] == 64 and sum(summary["cases"]["float32"].values()) == 64
    assert sum(summary["counts"]["g1"]) + summary["below_first_edge"]["g1"] == 64
    assert bs.frame_gaps_summary("tiny", store, train_missing=False) == summary
    table = bs.frame_gaps_table(summary)
    assert list(table["case"]) == ["none", "prolate", "oblate", "spherical"]
    assert_labelled(bs.frame_gaps_figure(summary, "tiny"))
    assert_missing_cache_is_an_error(store, bs.GAPS_FILE, lambda: bs.frame_gaps_summary("tiny", store, False))


# --- synthetic curves: the arms are fitted apart and the rules applied --------------------------------------------
#: arm → (arch, options, α, β) of eq. (5) L = 20 N^-α + 150 D^-β
SYNTHETIC = {
    "MPNN": ("mpnn", {}, 0.25, 0.3),
    "MPNN + frame averaging": ("mpnn", {"model.symmetrize": "frame-averaging"}, 0.6, 0.65),
    "MPNN + PCA canonicalization": ("mpnn", {"model.symmetrize": "canonical-pca"}, 0.25, 0.3),
    "MPNN + learned canonicalization": ("mpnn", {"model.symmetrize": "canonical-learned"}, 0.1, 0.12),
    "MPNN + symmetry loss": ("mpnn", {"loss.symmetry_m": 5}, 0.25, 0.3),
    "MC-EGNN": ("egnn", {}, 0.5, 0.55),
    "eSEN": ("esen", {}, 0.7, 0.7),
    "transformer": ("transformer", {}, 0.05, 0.05),
    "transformer + frame averaging": ("transformer", {"model.symmetrize": "frame-averaging"}, 0.05, 0.05),
}


def synthetic(arms=SYNTHETIC, sizes=6, pts=12):
    rows = []
    for arm, (arch, options, alpha, beta) in arms.items():
        for i, N in enumerate(np.geomspace(1e3, 1e5, sizes)):
            for j, D in enumerate(np.geomspace(1e4, 1e7, pts)):
                rows.append({"run_id": f"{arm}-{i}", "arch": arch, "params": N, "step": j + 1, "atoms_seen": D,
                             "flops": 9.0 * N * D, "wall_s": 1.0 + 9.0 * N * D / 1e12,
                             "val_loss": 20 * N**-alpha + 150 * D**-beta, "model.hparams.hidden_dim": i, **options})
    return pd.DataFrame(rows)


def test_arms_are_fitted_on_their_own_runs_and_the_rules_follow():
    curves = synthetic()
    curves["arm"] = bs.arm_of(curves)
    made_as = curves.groupby("run_id")["arm"].first()
    assert all(arm == run_id.rsplit("-", 1)[0] for run_id, arm in made_as.items())  # each run's arm, from its options
    g = bs.gammas(curves, "tiny")
    assert g["MPNN + frame averaging"].value > 1.5 * g["MPNN"].value  # not a fit of the pooled MPNN runs
    epochs = synthetic({"MPNN + augmentation": ("mpnn", {"train.augment": True}, 0.3, 0.3),
                        "MPNN + frame averaging": ("mpnn", {"model.symmetrize": "frame-averaging"}, 0.3, 0.3)})
    epochs["val_loss"] *= np.where(epochs["model.symmetrize"].notna(), 0.8, 1.0)  # FA 20 % better at every size
    zero = float(curves.loc[curves["arm"] == "transformer + frame averaging", "val_loss"].min()) * 4.0
    table = bs.verdicts(curves, bs._with_arms(epochs), zero, "tiny").set_index("question")
    assert table.loc["Q1", "verdict"] == bs.YES  # γ_c(FA) well above γ_c(MPNN), tight intervals
    assert table.loc["Q2a", "verdict"] == INCONCLUSIVE  # the same exponents: overlapping intervals
    assert table.loc["Q2b", "verdict"] == bs.NO  # lower exponents
    assert table.loc["Q3", "verdict"] == bs.YES and "frame averaging" in table.loc["Q3", "why"]
    assert table.loc["Q4", "verdict"] == bs.YES and table.loc["Q4", "estimate (95% CI)"].startswith("0.8 ")
    assert table.loc["Q5", "verdict"] == bs.YES
    assert table.loc["Q5", "verdict"] == bs.learns(bs.estimates(curves, None, zero, "tiny")["Q5"])[0]
    assert bs.estimates(curves, None, None, "tiny")["Q4"].note == "no multi-epoch study"


def test_scaling_table_recovers_kappa_and_the_sum_power_law_of_each_arm(set_analysis):
    """κ̂ (eq. 3), α and β (eq. 5) and γ_c of eq. 7 per arm, fitted on the arm's own runs: the synthetic runs have
    C = 9ND (κ = 3) and L = 20 N^-α + 150 D^-β with each arm's own exponents; an arm in production gets no numbers."""
    set_analysis("tiny", n_boot=8)
    arms = {k: SYNTHETIC[k] for k in ("MPNN", "MPNN + frame averaging", "MPNN + PCA canonicalization")}
    curves = bs._with_arms(synthetic(arms))
    curves.attrs["in_production"] = {"MPNN + PCA canonicalization": (5, 6)}
    table = bs.scaling_table(curves, "tiny").set_index("arm")
    for arm in ("MPNN", "MPNN + frame averaging"):
        _, _, alpha, beta = arms[arm]
        value = {k: float(table.loc[arm, k].split()[0]) for k in table.columns if k.split()[0] in ("κ̂", "α", "β")}
        assert value["κ̂ (eq. 3)"] == pytest.approx(3.0, rel=1e-6)
        assert value["α (eq. 5)"] == pytest.approx(alpha, rel=0.02)
        assert value["β (eq. 5)"] == pytest.approx(beta, rel=0.02)
        eq7 = float(table.loc[arm, "γ_c = αβ/(α+β) (eq. 7)"].split()[0])
        assert eq7 == pytest.approx(alpha * beta / (alpha + beta), rel=0.03)
    assert table.loc["MPNN + PCA canonicalization", "κ̂ (eq. 3)"] == "in production: 5 of 6 runs"
    assert table.loc["MPNN + PCA canonicalization", "α (eq. 5)"] == ""


def test_runs_left_out_are_named_under_the_tables():
    curves = bs._with_arms(synthetic({k: SYNTHETIC[k] for k in ("MPNN", "MPNN + frame averaging", "transformer")}))
    curves.attrs["left_out"] = {"abc123": "failed: diverged at step 7"}
    fig, table = bs.frontier_figure(curves, "tiny")
    assert_labelled(fig)
    assert table["arm"].iloc[-1] == "runs left out of the fits: 1"
    assert table["training health"].iloc[-1] == "abc123: failed: diverged at step 7"
    assert list(table["arm"].iloc[:-1]) == ["MPNN", "MPNN + frame averaging", "transformer"]


# --- in production: an arm whose runs are not all finished gets no estimate and its questions no verdict ----------
def test_a_partial_arm_gets_no_estimate_and_its_questions_no_verdict():
    curves = bs._with_arms(synthetic())
    curves = curves[~curves["run_id"].isin(["MPNN + frame averaging-4", "MPNN + frame averaging-5"])]
    curves = curves[curves["arm"] != "transformer + frame averaging"]  # not one run finished yet
    curves.attrs["in_production"] = {"MPNN + frame averaging": (4, 6), "MPNN + PCA canonicalization": (6, 6),
                                     "MPNN + learned canonicalization": (6, 6), "transformer + frame averaging": (0, 6)}
    assert bs.still_training(curves) == {"MPNN + frame averaging": (4, 6), "transformer + frame averaging": (0, 6)}
    g = bs.gammas(curves, "tiny")
    assert g["MPNN + frame averaging"].note == "in production: 4 of 6 runs" and not g["MPNN + frame averaging"].ok
    assert g["transformer + frame averaging"].note == "in production: 0 of 6 runs"
    assert g["MPNN + PCA canonicalization"].ok  # a complete arm is fitted as before
    epochs = bs._with_arms(synthetic({"MPNN + augmentation": ("mpnn", {"train.augment": True}, 0.3, 0.3),
                                      "MPNN + frame averaging": ("mpnn", {"model.symmetrize": "frame-averaging"}, 0.3,
                                                                 0.3)}))
    epochs["val_loss"] *= np.where(epochs["model.symmetrize"].notna(), 0.8, 1.0)  # FA 20 % better at every size
    epochs.attrs["in_production"] = {"MPNN + frame averaging": (5, 5)}
    zero = 10.0
    table = bs.verdicts(curves, epochs, zero, "tiny").set_index("question")
    for q in ("Q1", "Q3"):  # Q3 needs all three wrapped ladders
        assert table.loc[q, "verdict"] == INCONCLUSIVE
        assert table.loc[q, "why"] == "runs still training: MPNN + frame averaging 4 of 6"
    assert "in production: 4 of 6 runs" in table.loc["Q1", "estimate (95% CI)"]
    assert table.loc["Q5", "why"] == "runs still training: transformer + frame averaging 0 of 6"
    assert table.loc["Q2a", "verdict"] == INCONCLUSIVE and "still training" not in table.loc["Q2a", "why"]
    assert table.loc["Q2b", "verdict"] == bs.NO  # complete arms: the rules as before
    assert table.loc["Q4", "verdict"] == bs.YES
    epochs.attrs["in_production"] = {"MPNN + frame averaging": (2, 5)}  # a partial multi-epoch ladder
    q4 = bs.verdicts(curves, epochs, zero, "tiny").set_index("question").loc["Q4"]
    assert q4["verdict"] == INCONCLUSIVE
    assert q4["why"] == "runs still training: MPNN + frame averaging (multi-epoch) 2 of 5"
    prog = bs.progress(curves, epochs).set_index(["setting", "arm"])
    assert prog.loc[("streaming", "MPNN + frame averaging"), ["finished", "needed"]].tolist() == [4, 6]
    assert prog.loc[("multi-epoch (Q4)", "MPNN + frame averaging"), "status"].startswith("in production: 2 of 5")
    assert prog.loc[("streaming", "MPNN + PCA canonicalization"), "status"] == "complete"

    fig, table = bs.frontier_figure(curves, "tiny")
    assert_labelled(fig)
    legend = [t.get_text() for leg in fig.legends + [leg for sub in fig.subfigs for leg in sub.legends]
              for t in leg.get_texts()]
    assert legend.count("MPNN + frame averaging (4/6 runs, no fit yet)") == 2  # both panels: C and 3κ̂ND
    assert not any(t.startswith("MPNN + frame averaging:") for t in legend)  # no fitted law from a partial ladder
    row = table.set_index("arm").loc["MPNN + frame averaging"]
    assert "in production: 4 of 6 runs" in row["γ_c (95% CI)"] and row["in the figure"].startswith("points only")
    assert table.set_index("arm").loc["transformer + frame averaging", "training health"] == "no runs"
    fig, table = bs.paired_figure(curves, epochs, zero, "tiny")
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "MPNN + frame averaging (2/5 runs)" in labels and "transformer + frame averaging (0/6 runs)" in labels
    assert table.loc[table["question"] == "Q4", "as"].str.contains("not used, no verdict yet").all()
    (q5,) = table.loc[table["question"] == "Q5", "as"]  # no run yet: one row that says so
    assert q5 == "L(transformer + FA) / L(all-zero) (in production: 0 of 6 runs: no ratio yet)"


def test_the_chapter_reads_a_store_in_production(tiny, tmp_path, monkeypatch):
    """Read from the store (train_missing=False) while runs are still training: the reference arms are strict, the
    study's own arms give their finished runs, and the page's tables say which questions wait for which runs. Once
    the study is complete (in ``catalog.STUDIES``, as now) a missing run of its own arms is an error too."""
    store, *_ = tiny
    partial = tmp_path / "store"
    shutil.copytree(store, partial)
    rs = RunStore(partial)
    learned = [c.run_id() for c in expand(bs.stream_spec("tiny", ["canonical-learned"])[0], "tiny")]
    multi = [c.run_id() for c in expand(bs.multi_epoch_spec("tiny"), "tiny")]
    for run_id in learned[1:] + multi:
        shutil.rmtree(rs.run_dir(run_id))
    with pytest.raises(RuntimeError, match=r"run\(s\) of study .* are missing"):
        bs.study("tiny", partial, train_missing=False)  # the study is complete: strict, like every other
    from nnip.paper import catalog

    monkeypatch.setattr(catalog, "IN_PRODUCTION", {bs.STUDY_NAME: catalog.STUDIES[bs.STUDY_NAME]})
    curves = bs.study("tiny", partial, train_missing=False)
    epochs = bs.multi_epoch_study("tiny", partial, train_missing=False)
    assert curves.attrs["in_production"]["MPNN + learned canonicalization"] == (1, len(learned))
    assert bs.still_training(curves) == {"MPNN + learned canonicalization": (1, len(learned))}
    assert bs.still_training(epochs) == {"MPNN + frame averaging": (0, len(set(multi)))}
    assert "MPNN + frame averaging" not in set(epochs["arm"])
    table = bs.new_results_table("tiny", partial, train_missing=False).set_index("claim")
    why = dict(zip(bs.QUESTIONS, table["why"]))
    assert why["Q2b"] == f"runs still training: MPNN + learned canonicalization 1 of {len(learned)}"
    assert why["Q4"] == f"runs still training: MPNN + frame averaging (multi-epoch) 0 of {len(set(multi))}"
    assert (table["verdict"] == INCONCLUSIVE).all()
    fig, _ = bs.paired_figure(curves, epochs, bs.zero_output_loss(curves, "tiny", partial, False), "tiny")
    assert_labelled(fig)
    assert not rs.read_summary(learned[1])  # nothing was trained
