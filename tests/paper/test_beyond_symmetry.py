"""The pre-registered rules of the symmetrization study (nnip.paper.beyond_symmetry): pure functions of estimates."""

import math

import pytest

from nnip.paper import beyond_symmetry as B
from nnip.paper.verdicts import Estimate


def E(v, lo, hi):
    return Estimate(v, lo, hi)


def test_greater_needs_disjoint_intervals_in_the_claimed_direction():
    assert B.greater(E(0.10, 0.08, 0.12), E(0.20, 0.15, 0.25))[0] == B.YES
    assert B.greater(E(0.20, 0.15, 0.25), E(0.10, 0.08, 0.12))[0] == B.NO
    assert B.greater(E(0.10, 0.08, 0.16), E(0.15, 0.12, 0.20))[0] == B.INCONCLUSIVE
    assert B.greater(E(0.10, 0.08, 0.12), Estimate(0.2, note="3 run(s)"))[0] == B.INCONCLUSIVE


def test_reaches_against_the_agreement_factor():
    assert B.reaches(E(0.9, 0.8, 1.1))[0] == B.YES
    assert B.reaches(E(0.5, 0.4, 0.79))[0] == B.NO
    assert B.reaches(E(0.8, 0.6, 1.0))[0] == B.INCONCLUSIVE
    assert B.reaches(Estimate(note="no fit"))[0] == B.INCONCLUSIVE
    yes, no, unk = (B.YES, ""), (B.NO, ""), (B.INCONCLUSIVE, "")
    assert B.reaches_any({"a": no, "b": yes})[0] == B.YES
    assert B.reaches_any({"a": no, "b": no})[0] == B.NO
    assert B.reaches_any({"a": no, "b": unk})[0] == B.INCONCLUSIVE


def test_better_and_learns_against_their_thresholds():
    assert B.better(E(0.8, 0.7, 0.95))[0] == B.YES
    assert B.better(E(1.2, 1.05, 1.3))[0] == B.NO
    assert B.better(E(1.0, 0.9, 1.1))[0] == B.INCONCLUSIVE
    assert B.learns(E(0.5, 0.4, 0.6))[0] == B.YES
    assert B.learns(E(0.99, 0.97, 1.0))[0] == B.NO
    assert B.learns(E(0.9, 0.85, 0.95))[0] == B.INCONCLUSIVE


def test_pilot_choice_keeps_the_mpnn_lr_unless_the_optimum_moved():
    assert B.pilot_choice({1e-2: 0.9, 3e-2: 0.8, 1e-1: 0.85}, 3e-2) == 3e-2
    assert B.pilot_choice({1e-2: 0.7, 3e-2: 0.8, 1e-1: math.nan}, 3e-2) == 1e-2
    with pytest.raises(ValueError, match="no finished run"):
        B.pilot_choice({1e-2: math.nan}, 3e-2)


def test_every_question_has_a_rule_and_every_method_a_pilot_entry():
    assert list(B.QUESTIONS) == ["Q1", "Q2a", "Q2b", "Q3", "Q4", "Q5"]
    assert set(B.PILOT_LR) == set(B.METHODS)


def test_the_runs_learning_rates_are_the_pilots_choices():
    """PILOT_LR was filled in from the committed cpu pilot by the pre-registered rule, and still agrees with it."""
    table = B.pilot_table(B.pilot_study("cpu", "results", train_missing=False), "cpu")
    assert list(table["agree"]) == ["yes"] * len(B.METHODS), table.to_string()
    from nnip.sweep import expand

    lrs = {s["name"]: {c.optim.lr for c in expand(s, "cpu")} for s in B.stream_spec("cpu")}
    assert lrs == {"beyond-symmetry-mpnn-frame-averaging": {3e-2}, "beyond-symmetry-mpnn-canonical-pca": {3e-2},
                   "beyond-symmetry-mpnn-canonical-learned": {1e-2}}
