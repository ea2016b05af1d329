r"""Beyond the paper: symmetrizing an unconstrained model — how frame averaging and canonicalization scale.

Ngo & Ravanbakhsh (2025) leave out the architecture-agnostic ways to get rotational symmetry and name their scaling
as future work (§5, item 3): **frame averaging** (Puny et al., ICLR 2022) and **canonicalization** (Kaba et al.,
ICML 2023; the probabilistic symmetrization of Kim et al., NeurIPS 2023). This module is the study that asks it at
CPU scale, with everything the main study has: the unconstrained MPNN and transformer, the same data stream, split,
ladders, evaluations, μP transfer and fits (:mod:`nnip.paper.verdicts`). The wrappers themselves are
:mod:`nnip.models.symmetrize` (``model.symmetrize`` of a run).

## Pre-registration

The questions, the estimates that answer them and the rules that turn estimates into verdicts were committed
**before any run of this study was trained** (git history: this file's first commit precedes every commit of its
runs in ``results/cpu``). They are never tuned to the results. Verdicts are "yes", "no" or "inconclusive".

- **Q1** — does frame averaging raise the MPNN's compute exponent? γ_c(MPNN + FA) > γ_c(MPNN).
- **Q2** — the same for each canonicalization: γ_c(MPNN + PCA canonicalization) > γ_c(MPNN) (Q2a) and
  γ_c(MPNN + learned canonicalization) > γ_c(MPNN) (Q2b).
- **Q3** — does any of the three reach MC-EGNN's exponent? γ_c(MPNN + method) / γ_c(MC-EGNN) ≥ :data:`REACH`.
- **Q4** — is frame averaging better than data augmentation at equal data and epochs (the multi-epoch setting of
  Fig. 8–9, whose augmented MPNN runs are in the store)? The best validation loss of MPNN + FA over that of the
  augmented MPNN, per model size.
- **Q5** — does frame averaging rescue the vanilla transformer (Fig. 16: it learns nothing, 0.997× the all-zero
  predictor's loss)? The best validation loss of transformer + FA over the all-zero predictor's, per model size.

Estimates (all from the store, by the code of the main study):

- γ_c: the eq. (4) frontier fit on measured training FLOPs C with its bootstrap 95% interval,
  :func:`nnip.paper.verdicts.frontier_gamma` — exactly Fig. 1 / Table 1's. κ̂ (for the 3κ̂ND axis) is measured for
  the wrapped models as for any model (:mod:`nnip.paper.kappa`). C counts the FLOPs the *training steps* execute,
  as for every model: stochastic frame averaging trains on one frame per structure per step (≈ 1× the base model),
  and the learned canonicalizer's network is in C; the four-frame evaluation is, like every model's evaluation,
  not part of C — its cost is reported separately. (Corrected before any run: the first version of this
  paragraph said the evaluation frames were in C; they never were, by :mod:`nnip.train.flops`' definition of C.)
- Q3: the ratio of two separately estimated exponents with the interval-arithmetic interval
  (:func:`nnip.paper.verdicts.ratio`).
- Q4, Q5: :func:`nnip.paper.verdicts.paired_ratio` — the geometric mean over model sizes of the per-size loss ratio
  with a bootstrap over sizes (``n_boot`` and seed of the preset's analysis).

Verdict rules (the scorecard's: :mod:`nnip.paper.verdicts`; intervals are 95%):

- Q1, Q2a, Q2b (:func:`greater`): **yes** when the intervals do not overlap in the claimed direction
  (hi(MPNN) < lo(MPNN + method)), **no** when they do not overlap in the opposite direction, **inconclusive**
  when they overlap or an interval is missing (fewer than :data:`~nnip.paper.verdicts.MIN_RUNS` runs, no fit).
- Q3 (:func:`reaches`), per method: **yes** when the ratio's interval lies at or above :data:`REACH` = 0.8 (the
  scorecard's "in agreement" factor 1.25), **no** when it lies below, **inconclusive** when it straddles 0.8.
  Over the three methods: **yes** when any is yes, **no** when all are no, **inconclusive** otherwise.
- Q4 (:func:`better`): **yes** (FA better) when the paired ratio's interval lies below 1, **no** (augmentation
  better) when it lies above 1, **inconclusive** when it contains 1.
- Q5 (:func:`learns`): **yes** when the interval of the ratio to the all-zero predictor lies below
  :data:`LEARNS` = 0.9 (10% below a model that learns nothing; the plain transformer sits at 0.997), **no** when it
  lies above 0.9, **inconclusive** when it straddles 0.9.

## Design (chosen before the runs; the pilot decides only what its rule says)

- **Stream study** (Q1–Q3): the cpu main study's MPNN ladder — all eight rungs, the same stream, grouped split,
  evaluations and μP base width — × the three wrappers (:func:`stream_spec`). The unwrapped MPNN and MC-EGNN are the
  main study's runs.
- **Transformer** (Q5): the Fig. 16 ladder (five rungs, same stream) × frame averaging (:func:`transformer_spec`), at
  the transformer's preset learning rate (no pilot: the plain transformer's loss is flat in η at this scale, and the
  budget goes to the MPNN questions).
- **Multi-epoch** (Q4): the Fig. 8–9 MPNN ladder (1% of the data, 20 epochs, evaluated every epoch) × frame
  averaging without augmentation (:func:`multi_epoch_spec`), against the same ladder's augmented runs.
- **Learning rate** (:func:`lr_pilot_spec`, rule :func:`pilot_choice`): each wrapper at the MPNN's μP base rung
  streams 20% of the data (the tuning study's fraction) at η ∈ {1e-2, 3e-2, 1e-1} with the MPNN's 200 warmup steps.
  If a wrapper's lowest final validation loss is at the MPNN's η* (3e-2) — the optimum did not move — its runs use
  the MPNN's η*; otherwise they use the pilot's optimum. The pilot's verdict per wrapper is :data:`PILOT_LR`, filled in
  from the pilot runs (and checked against them by a test) before any stream run is trained.
- **Training**: stochastic frame averaging — one uniformly random frame of the four per structure per step — and
  all four frames at evaluation (Puny et al.'s unbiased estimator in training; the exact average when measured).
- **Budget**: ≤ 5 CPU-hours measured, committed in ``results/cpu`` and counted on the cost page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nnip.paper.multi_epoch import multi_epoch_spec as _fig8_spec
from nnip.paper.tuning import base_hparams
from nnip.paper.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Estimate, ordering_verdict
from nnip.presets import Preset, resolve

__all__ = ["METHODS", "LABELS", "YES", "NO", "INCONCLUSIVE", "REACH", "LEARNS", "PILOT_LRS", "PILOT_LR", "QUESTIONS",
           "lr_pilot_spec", "stream_spec", "transformer_spec", "multi_epoch_spec", "specs", "pilot_choice",
           "greater", "reaches", "reaches_any", "better", "learns"]

#: the wrappers of :mod:`nnip.models.symmetrize` (``model.symmetrize``), in the order the study trains them
METHODS: tuple[str, ...] = ("frame-averaging", "canonical-pca", "canonical-learned")
LABELS = {"frame-averaging": "frame averaging", "canonical-pca": "PCA canonicalization",
          "canonical-learned": "learned canonicalization"}
YES, NO = "yes", "no"

#: Q3: "reaches MC-EGNN" — γ_c(method) / γ_c(MC-EGNN) at least this (the scorecard's agreement factor 1.25)
REACH = 0.8
#: Q5: "learns" — best validation loss at most this fraction of the all-zero predictor's
LEARNS = 0.9

#: the pilot's learning rates (the MPNN's η* = 3e-2 and its neighbours on the tuning grid)
PILOT_LRS: tuple[float, ...] = (1e-2, 3e-2, 1e-1)
#: wrapper → learning rate of its runs, by :func:`pilot_choice` on the pilot's runs (None: the pilot has not run).
#: Filled in from the cpu pilot (results/cpu, tag beyond-lr-pilot; final validation loss at η = 1e-2 / 3e-2 / 1e-1):
#: frame averaging 0.725 / 0.660 / 0.921 and PCA canonicalization 0.802 / 0.724 / 0.987 — the MPNN's η* = 3e-2 stays;
#: learned canonicalization 0.787 / 0.802 / 1.780 — the optimum moved to 1e-2. Checked against the store by
#: tests/paper/test_beyond_symmetry.py (:func:`pilot_table`'s "agree" column).
PILOT_LR: dict[str, float | None] = {"frame-averaging": 3e-2, "canonical-pca": 3e-2, "canonical-learned": 1e-2}

QUESTIONS: dict[str, str] = {
    "Q1": "frame averaging raises the MPNN's compute exponent: γ_c(MPNN + FA) > γ_c(MPNN)",
    "Q2a": "PCA canonicalization raises it: γ_c(MPNN + PCA canon.) > γ_c(MPNN)",
    "Q2b": "learned canonicalization raises it: γ_c(MPNN + learned canon.) > γ_c(MPNN)",
    "Q3": f"one of the three reaches MC-EGNN's exponent: γ_c(MPNN + method) / γ_c(MC-EGNN) ≥ {REACH}",
    "Q4": "frame averaging trains a better MPNN than augmentation (multi-epoch, Fig. 8–9 setting): L(FA) / L(aug) < 1",
    "Q5": f"frame averaging rescues the vanilla transformer: L(transformer + FA) / L(all-zero) < {LEARNS}",
}

_TAGS = ["beyond", "beyond-symmetry"]


# --- the study -----------------------------------------------------------------------------------------------------
def lr_pilot_spec(preset: str | Preset) -> dict[str, Any]:
    """Each wrapper at the MPNN's μP base rung × :data:`PILOT_LRS`, streaming the tuning study's fraction, with the
    MPNN's warmup."""
    p = resolve(preset)
    entry, frac = p.archs["mpnn"], (p.tuning.fraction if p.tuning is not None else 1.0)
    base = {"eval.log_points": p.tuning.log_points} if p.tuning is not None else {}
    lrs = list(PILOT_LRS) if p.tuning is not None else [entry.lr]
    return {"name": "beyond-symmetry-lr-pilot", "dataset": "molecules", "fractions": [frac], "base": base,
            "models": [{"name": "mpnn", "hparams": [base_hparams(p, "mpnn")]}],
            "grid": {"model.symmetrize": list(METHODS), "optim.lr": lrs,
                     "optim.warmup_steps": [entry.warmup_steps]}, "tags": _TAGS + ["beyond-lr-pilot"]}


def stream_spec(preset: str | Preset, methods: Sequence[str] = METHODS) -> list[dict[str, Any]]:
    """Q1–Q3: the main study's MPNN ladder × each wrapper, one spec per wrapper (each at its :data:`PILOT_LR`, the
    MPNN's η* where the pilot has not run)."""
    p = resolve(preset)
    out = []
    for m in methods:
        lr = PILOT_LR.get(m)
        # in the grid: an arch's preset η* is a per-model field, which overrides ``base`` (nnip.sweep's precedence)
        grid = {"model.symmetrize": [m]} | ({} if lr is None or lr == p.archs["mpnn"].lr else {"optim.lr": [lr]})
        out.append({"name": f"beyond-symmetry-mpnn-{m}", "dataset": "molecules", "archs": ["mpnn"],
                    "grid": grid, "tags": _TAGS + ["beyond-stream"]})
    return out


def transformer_spec(preset: str | Preset) -> dict[str, Any]:
    """Q5: Fig. 16's transformer ladder (same stream) × frame averaging."""
    return {"name": "beyond-symmetry-transformer", "dataset": "molecules", "archs": ["transformer"],
            "grid": {"model.symmetrize": ["frame-averaging"]}, "tags": _TAGS + ["beyond-transformer"]}


def multi_epoch_spec(preset: str | Preset) -> dict[str, Any]:
    """Q4: Fig. 8–9's multi-epoch MPNN ladder, without augmentation, × frame averaging."""
    s = _fig8_spec(preset, "mpnn", (False,))
    return {**s, "name": "beyond-symmetry-multi-epoch", "grid": {**s["grid"], "model.symmetrize": ["frame-averaging"]},
            "tags": _TAGS + ["beyond-multi-epoch"]}


def specs(preset: str | Preset) -> list[dict[str, Any]]:
    """Every spec of the study, in the order it is trained (cheap and decisive first)."""
    p = resolve(preset)
    st = stream_spec(p)
    return [lr_pilot_spec(p), st[0], st[1], transformer_spec(p), multi_epoch_spec(p), st[2]]


# --- the rules (pure) ----------------------------------------------------------------------------------------------
def _yes_no(verdict: tuple[str, str]) -> tuple[str, str]:
    v, why = verdict
    return {REPRODUCED: YES, NOT_REPRODUCED: NO}.get(v, INCONCLUSIVE), why


def pilot_choice(finals: Mapping[float, float], mpnn_lr: float) -> float:
    """The learning rate a wrapper's runs use: ``finals`` maps each pilot η to its final validation loss. The MPNN's
    η* when it is the pilot's optimum (the optimum did not move), else the pilot's optimum. NaN losses (diverged)
    never win."""
    ok = {float(lr): float(v) for lr, v in finals.items() if math.isfinite(float(v))}
    if not ok:
        raise ValueError("pilot: no finished run with a finite final loss")
    best = min(ok, key=ok.get)
    return float(mpnn_lr) if math.isclose(best, mpnn_lr) else best


def greater(base: Estimate, wrapped: Estimate, names: tuple[str, str] = ("MPNN", "MPNN + method")) -> tuple[str, str]:
    """Q1, Q2: the claim γ_c(base) < γ_c(wrapped) by the ordering rule (disjoint 95% intervals)."""
    return _yes_no(ordering_verdict([(names[0], base, names[1], wrapped)]))


def reaches(ratio: Estimate) -> tuple[str, str]:
    """Q3 for one method: ``ratio`` = γ_c(method) / γ_c(MC-EGNN) with its interval, against :data:`REACH`."""
    if not ratio.ok:
        return INCONCLUSIVE, "no interval" + (f" ({ratio.note})" if ratio.note else "")
    if ratio.lo >= REACH:
        return YES, f"ratio {ratio} at or above {REACH:g}"
    if ratio.hi < REACH:
        return NO, f"ratio {ratio} below {REACH:g}"
    return INCONCLUSIVE, f"ratio {ratio} straddles {REACH:g}"


def reaches_any(per_method: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    """Q3 over the methods: yes when any method reaches, no when none can, inconclusive otherwise."""
    verdicts = [v for v, _ in per_method.values()]
    why = "; ".join(f"{m}: {w}" for m, (_, w) in per_method.items()) or "no method"
    if YES in verdicts:
        return YES, why
    return (NO if verdicts and set(verdicts) == {NO} else INCONCLUSIVE), why


def better(paired: Estimate) -> tuple[str, str]:
    """Q4: ``paired`` = geometric-mean ratio L(FA) / L(augmented) over model sizes, with its interval, against 1."""
    return _yes_no(ordering_verdict([("L(FA)/L(aug)", paired, "1", Estimate(1.0, 1.0, 1.0))]))


def learns(paired: Estimate) -> tuple[str, str]:
    """Q5: ``paired`` = geometric-mean ratio L(transformer + FA) / L(all-zero) over sizes, against :data:`LEARNS`."""
    t = Estimate(LEARNS, LEARNS, LEARNS)
    return _yes_no(ordering_verdict([("L(FA)/L(zero)", paired, f"{LEARNS:g}", t)]))


# --- estimates, figures and tables (written after the pre-registration) ---
# Everything below reads the study's runs and applies the rules above; nothing here may change a question, a rule, a
# threshold or a spec. Arms are told apart by the runs' options (``model.symmetrize``, ``loss.symmetry_m``,
# ``train.augment``): a wrapped MPNN is ``arch == "mpnn"`` in the store, so every fit selects an arm's runs first and
# then reads the preset's per-architecture settings (EMA, wall-clock factor) of its base architecture.

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnip import figures  # noqa: E402
from nnip.paper import fits  # noqa: E402
from nnip.paper._common import cached_json, concat_studies, left_out_of, run_study, store_path, title  # noqa: E402
from nnip.paper.main import main_spec, training_health  # noqa: E402
from nnip.paper.multi_epoch import multi_epoch_study as _fig8_study  # noqa: E402
from nnip.paper.symmetry import symmetry_study  # noqa: E402
from nnip.paper.transformer import TRANSFORMER_SPEC, cached_zero_output_loss  # noqa: E402
from nnip.paper.verdicts import frontier_gamma, paired_ratio, ratio, report_estimate  # noqa: E402
from nnip.runs import RunStore  # noqa: E402

__all__ += ["ARMS", "ARM_ARCH", "FRONTIER_ARMS", "EPOCH_ARMS", "VERDICT_COLUMNS", "GAPS_FILE", "STUDY_NAME", "arm_of", "pilot_study",
            "pilot_table", "study", "multi_epoch_study", "progress", "still_training", "zero_output_loss",
            "runs_table", "gammas", "estimates", "verdicts", "new_results_table", "health_table", "frontier_figure",
            "scaling_table",
            "paired_figure", "methods_figure", "cost_table", "measured_cost", "measured_cost_table", "COST_FILE", "frame_gaps_summary", "frame_gaps_table",
            "frame_gaps_figure"]

#: this study's name in :mod:`nnip.paper.catalog` (``STUDIES``; ``IN_PRODUCTION`` while its runs were trained)
STUDY_NAME = "beyond-symmetrization"

figures.enable_notebook_display()  # a notebook cell ``fig`` renders our pyplot-free Figures as PNG

_BASE = {"mpnn": "MPNN", "egnn": "MC-EGNN", "esen": "eSEN", "gemnet_oc": "GemNet-OC", "transformer": "transformer",
         "equiformer_v2": "EquiformerV2"}
#: the arms of :func:`study` (label → the base architecture whose preset settings its fits read)
ARM_ARCH: dict[str, str] = {
    "MPNN": "mpnn",
    **{f"MPNN + {LABELS[m]}": "mpnn" for m in METHODS},
    "MPNN + symmetry loss": "mpnn",
    "MC-EGNN": "egnn",
    "eSEN": "esen",
    "transformer": "transformer",
    "transformer + frame averaging": "transformer",
}
ARMS: tuple[str, ...] = tuple(ARM_ARCH)
#: the arms of the loss–compute figure (the transformers are on their own page, Fig. 16, and in :func:`paired_figure`)
FRONTIER_ARMS: tuple[str, ...] = ("MPNN", "MPNN + symmetry loss", *(f"MPNN + {LABELS[m]}" for m in METHODS), "MC-EGNN",
                                  "eSEN")
#: the arms of :func:`multi_epoch_study` (Q4)
EPOCH_ARMS: tuple[str, ...] = ("MPNN", "MPNN + augmentation", "MPNN + frame averaging")
VERDICT_COLUMNS = ["question", "claim", "estimate (95% CI)", "verdict", "why"]
_FA, _AUG, _TFA = "MPNN + frame averaging", "MPNN + augmentation", "transformer + frame averaging"


def _arm(arch, symmetrize, symmetry_m, augment) -> str:
    parts = [_BASE.get(arch, str(arch))]
    if isinstance(symmetrize, str) and symmetrize:
        parts.append(LABELS.get(symmetrize, symmetrize))
    if pd.notna(symmetry_m) and float(symmetry_m) > 0:
        parts.append("symmetry loss")
    if pd.notna(augment) and bool(augment):
        parts.append("augmentation")
    return " + ".join(parts)


def arm_of(curves: pd.DataFrame) -> pd.Series:
    """The arm of every row of ``curves`` (``RunStore.curves`` rows): the base architecture's name, then
    " + <method>" for a wrapper (``model.symmetrize``), " + symmetry loss" (``loss.symmetry_m`` > 0) and
    " + augmentation" (``train.augment``) — e.g. "MPNN + frame averaging"; a column a study lacks counts as unset."""
    def col(name, default):
        return curves[name] if name in curves.columns else pd.Series(default, index=curves.index, dtype=object)

    return pd.Series([_arm(*v) for v in zip(curves["arch"], col("model.symmetrize", None), col("loss.symmetry_m", 0),
                                            col("train.augment", False))], index=curves.index, dtype=object)


def _with_arms(curves: pd.DataFrame) -> pd.DataFrame:
    out = curves.assign(arm=arm_of(curves))
    out.attrs = dict(curves.attrs)
    return out


# --- the studies ---------------------------------------------------------------------------------------------------
def pilot_study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """Curves of the learning-rate pilot (:func:`lr_pilot_spec`), with an ``arm`` column."""
    p = resolve(preset)
    return _with_arms(run_study(lr_pilot_spec(p), p, store, train_missing))


def pilot_table(curves: pd.DataFrame, preset: str | Preset) -> pd.DataFrame:
    """One row per wrapper: the final validation loss of each pilot η, the η that :func:`pilot_choice` picks from
    them, and :data:`PILOT_LR` (what the study's runs use; unset: the MPNN's η*) — whether the two agree."""
    p = resolve(preset)
    mpnn_lr = p.archs["mpnn"].lr
    final = fits.final(curves)
    lrs = sorted({float(v) for v in final["optim.lr"]})
    rows = []
    for m in METHODS:
        sub = final[final["model.symmetrize"] == m]
        best = sub.groupby(sub["optim.lr"].astype(float))["val_loss"].min()
        finals = {lr: float(best.get(lr, math.nan)) for lr in lrs}  # a diverged run is left out: NaN
        try:
            choice = pilot_choice(finals, mpnn_lr)
        except ValueError as err:
            choice = None
            why = str(err)
        else:
            why = "the MPNN's η* is the pilot's optimum" if math.isclose(choice, mpnn_lr) else "the optimum moved"
        used = PILOT_LR.get(m)
        row = {"method": LABELS[m], **{f"final val loss, η = {lr:g}": finals[lr] for lr in lrs},
               "rule's choice (pilot_choice)": "–" if choice is None else f"{choice:g}", "why": why,
               "PILOT_LR (the runs' η)": (f"{used:g}" if used is not None
                                          else f"not filled in (the MPNN's η* = {mpnn_lr:g})"),
               "agree": "–" if used is None or choice is None else ("yes" if math.isclose(used, choice) else "NO")}
        rows.append(row)
    return pd.DataFrame(rows)


def _own_arm(spec: dict, p: Preset, store, train_missing: bool, arm: str, record: dict) -> pd.DataFrame:
    """The curves of one of this study's own arms (``spec``); ``record[arm] = (finished, needed)`` runs. While the
    study is in production (:data:`nnip.paper.catalog.IN_PRODUCTION` names :data:`STUDY_NAME`) and
    read from the store (``train_missing=False``), an arm still being trained gives its finished runs only
    (:func:`~nnip.paper._common.run_study` with ``finished_only``); once the study is in
    :data:`~nnip.paper.catalog.STUDIES` a missing run is an error, as for every complete study."""
    from nnip.sweep import expand  # torch-free analysis: nnip.sweep imports torch

    from nnip.paper.catalog import IN_PRODUCTION  # lazy: the catalog imports this module

    curves = run_study(spec, p, store, train_missing, finished_only=STUDY_NAME in IN_PRODUCTION and not train_missing)
    needed = len({c.run_id() for c in expand(spec, p)})
    record[arm] = (needed - len(curves.attrs.get("missing") or []), needed)
    return curves


def _in_production(curves: pd.DataFrame, record: dict) -> pd.DataFrame:
    out = _with_arms(curves)
    out.attrs["in_production"] = dict(record)
    return out


def study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """The curves of every streaming arm (:data:`ARMS`) with an ``arm`` column: the main study's MPNN, MC-EGNN and
    eSEN runs, the three wrapped MPNN ladders (:func:`stream_spec`), Fig. 7's symmetry-loss runs (its M = 0 arm is
    the main study's MPNN), Fig. 16's transformer and the transformer with frame averaging
    (:func:`transformer_spec`).

    The reference arms (main study, Fig. 7, Fig. 16) are complete studies of the book: read from the store, a missing
    run is an error. This study's own arms may still be training: read from the store (``train_missing=False``),
    each gives its finished runs, and ``attrs["in_production"]`` records ``{arm: (finished, needed)}`` for each of
    them (:func:`progress`, :func:`still_training`); no estimate or verdict is made from an arm that is not complete."""
    p = resolve(preset)
    record: dict[str, tuple[int, int]] = {}
    parts = [run_study(main_spec(["mpnn", "egnn", "esen"]), p, store, train_missing)]
    parts += [_own_arm(s, p, store, train_missing, f"MPNN + {LABELS[m]}", record)
              for m, s in zip(METHODS, stream_spec(p))]
    sym = symmetry_study(p, store, train_missing)
    parts.append(sym[sym["loss.symmetry_m"].astype(float) > 0])
    parts += [run_study(TRANSFORMER_SPEC, p, store, train_missing),
              _own_arm(transformer_spec(p), p, store, train_missing, _TFA, record)]
    return _in_production(concat_studies(parts, ignore_index=True), record)


def multi_epoch_study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """Q4's curves with an ``arm`` column (:data:`EPOCH_ARMS`): Fig. 8's MPNN without and with augmentation and the
    same ladder with frame averaging (:func:`multi_epoch_spec`), 1 % of the data for many epochs. The frame-averaging
    arm is this study's own: as in :func:`study`, read from the store it gives its finished runs and
    ``attrs["in_production"]`` records ``{"MPNN + frame averaging": (finished, needed)}``."""
    p = resolve(preset)
    record: dict[str, tuple[int, int]] = {}
    parts = [_fig8_study(p, store, train_missing), _own_arm(multi_epoch_spec(p), p, store, train_missing, _FA, record)]
    return _in_production(concat_studies(parts, ignore_index=True), record)


def still_training(curves: pd.DataFrame | None) -> dict[str, tuple[int, int]]:
    """The arms of ``curves`` (:func:`study` or :func:`multi_epoch_study`) whose runs are not all finished:
    arm → (finished, needed). Empty when every arm is complete (or ``curves`` is None or has no record)."""
    record = {} if curves is None else (curves.attrs.get("in_production") or {})
    return {a: (int(k), int(n)) for a, (k, n) in record.items() if k < n}


def _training_note(k: int, n: int) -> str:
    return f"in production: {k} of {n} runs"


def progress(curves: pd.DataFrame, epochs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per arm this study trains (the reference arms are other chapters' complete studies): the setting
    (streaming or multi-epoch), the runs finished in the store and needed, and whether the arm is complete — an arm
    still being trained gets no estimate and its questions no verdict (the pre-registered rules apply to complete
    ladders only)."""
    rows = []
    for setting, frame in (("streaming", curves), ("multi-epoch (Q4)", epochs)):
        for arm, (k, n) in ((frame.attrs.get("in_production") or {}) if frame is not None else {}).items():
            rows.append({"arm": arm, "setting": setting, "finished": int(k), "needed": int(n),
                         "status": "complete" if k >= n else f"{_training_note(k, n)}: no estimate, no verdict yet"})
    return pd.DataFrame(rows, columns=["arm", "setting", "finished", "needed", "status"])


def zero_output_loss(curves: pd.DataFrame, preset: str | Preset, store="results", train_missing: bool = True) -> float:
    """The all-zero predictor's validation loss on the streaming split (Q5's reference): Fig. 16's cached value
    (:func:`nnip.paper.transformer.cached_zero_output_loss` of the plain transformer's runs)."""
    tr = curves[curves["arm"] == "transformer"]
    if not len(tr):
        raise ValueError("curves: no plain transformer runs (the all-zero loss is cached beside them)")
    return cached_zero_output_loss(tr, preset, store, train_missing)


# --- estimates and verdicts ----------------------------------------------------------------------------------------
def _size_key(row: pd.Series) -> str:
    return ", ".join(f"{k.removeprefix('model.hparams.')}={v:g}" if isinstance(v, float) else
                     f"{k.removeprefix('model.hparams.')}={v}" for k, v in row.items() if pd.notna(v))


def runs_table(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: ``run_id``, ``arm``, ``arch``, ``params``, ``size`` (its hyper-parameters: the same for a
    base model and its wrapped copy, so arms pair by it), best and final validation loss."""
    if "arm" not in curves.columns:
        curves = _with_arms(curves)
    last = fits.final(curves)
    hp = sorted(c for c in last.columns if c.startswith("model.hparams."))
    best = curves.groupby("run_id")["val_loss"].min()
    return pd.DataFrame({"run_id": last["run_id"], "arm": last["arm"], "arch": last["arch"],
                         "params": last["params"].astype(int), "size": last[hp].apply(_size_key, axis=1),
                         "best_val_loss": last["run_id"].map(best).astype(float),
                         "final_val_loss": last["val_loss"].astype(float)})


def gammas(curves: pd.DataFrame, preset: str | Preset, arms=None) -> dict[str, Estimate]:
    """γ_c of every arm (default: those present, in :data:`ARMS` order): the eq. (4) frontier fit on measured C with
    its 95% interval, :func:`nnip.paper.verdicts.frontier_gamma` of the arm's runs (its base architecture's
    settings). An arm without runs: an estimate with the note "no runs". An arm still being trained
    (:func:`still_training`; default arms: those with runs and those recorded as in production) is not fitted: an
    estimate with the note "in production: k of n runs" — no γ_c from a partial ladder."""
    p = resolve(preset)
    training = still_training(curves)
    recorded = curves.attrs.get("in_production") or {}
    arms = [a for a in ARMS if (curves["arm"] == a).any() or a in recorded] if arms is None else list(arms)
    out = {}
    for a in arms:
        sub = curves[curves["arm"] == a]
        if a in training:
            out[a] = Estimate(note=_training_note(*training[a]))
        else:
            out[a] = frontier_gamma(sub, p, ARM_ARCH.get(a, str(sub["arch"].iloc[0]))) if len(sub) else \
                Estimate(note="no runs")
    return out


def _best_by_size(runs: pd.DataFrame, arm: str) -> pd.Series:
    return runs[runs["arm"] == arm].groupby("size")["best_val_loss"].min()


def estimates(curves: pd.DataFrame, epochs: pd.DataFrame | None, zero_loss: float | None, preset: str | Preset
              ) -> dict[str, Estimate]:
    """Every estimate the questions need (the docstring's pre-registered estimates): ``"γ_c(<arm>)"`` of every arm,
    ``"<method> / MC-EGNN"`` (Q3, :func:`nnip.paper.verdicts.ratio`), ``"Q4"`` = L(FA) / L(augmented) and
    ``"Q5"`` = L(transformer + FA) / L(all-zero) (best validation loss per model size, geometric mean with a
    bootstrap over sizes, :func:`nnip.paper.verdicts.paired_ratio`; ``n_boot`` and seed of the preset's analysis).
    ``epochs`` (:func:`multi_epoch_study`) or ``zero_loss`` None: that estimate is missing. An estimate that needs an
    arm still being trained (:func:`still_training`) is not made: its note says "in production: k of n runs"."""
    p = resolve(preset)
    cfg = fits.settings(p)
    g = gammas(curves, p, ARMS)
    training, training_e = still_training(curves), still_training(epochs)
    out = {f"γ_c({a})": e for a, e in g.items()}
    for m in METHODS:
        arm = f"MPNN + {LABELS[m]}"
        out[f"{LABELS[m]} / MC-EGNN"] = (Estimate(note=_training_note(*training[arm])) if arm in training
                                         else ratio(g[arm], g["MC-EGNN"]))
    if epochs is None:
        out["Q4"] = Estimate(note="no multi-epoch study")
    elif _FA in training_e:
        out["Q4"] = Estimate(note=_training_note(*training_e[_FA]))
    else:
        runs = runs_table(epochs)
        fa, aug = _best_by_size(runs, _FA), _best_by_size(runs, _AUG)
        both = fa.index.intersection(aug.index)
        out["Q4"] = paired_ratio(fa[both].to_numpy(), aug[both].to_numpy(), cfg.n_boot, cfg.seed)
    if _TFA in training:
        out["Q5"] = Estimate(note=_training_note(*training[_TFA]))
    elif zero_loss is None or not math.isfinite(zero_loss):
        out["Q5"] = Estimate(note="no all-zero loss")
    else:
        best = _best_by_size(runs_table(curves), _TFA)
        out["Q5"] = paired_ratio(best.to_numpy(), np.full(len(best), float(zero_loss)), cfg.n_boot, cfg.seed)
    return out


def _shown(e: Estimate) -> str:
    return str(e) + (f" ({e.note})" if e.note and not e.ok else "")


def _named(named: Mapping[str, Estimate]) -> str:
    return "; ".join(f"{k} {_shown(v)}" for k, v in named.items())


def _arms_of(q: str) -> list[tuple[str, str]]:
    """The arms of this study that question ``q`` needs: ``(arm, frame)`` with frame "curves" (:func:`study`) or
    "epochs" (:func:`multi_epoch_study`)."""
    methods = {"Q1": ["frame-averaging"], "Q2a": ["canonical-pca"], "Q2b": ["canonical-learned"], "Q3": METHODS}
    if q in methods:
        return [(f"MPNN + {LABELS[m]}", "curves") for m in methods[q]]
    return [(_FA, "epochs")] if q == "Q4" else [(_TFA, "curves")] if q == "Q5" else []


def _waiting(q: str, training: Mapping, training_e: Mapping) -> str:
    """"runs still training: <arm> k of n; …" for the arms ``q`` needs that are not complete, else ""."""
    parts = []
    for arm, frame in _arms_of(q):
        k_n = (training_e if frame == "epochs" else training).get(arm)
        if k_n is not None:
            parts.append(f"{arm}{' (multi-epoch)' if frame == 'epochs' else ''} {k_n[0]} of {k_n[1]}")
    return ("runs still training: " + "; ".join(parts)) if parts else ""


def verdicts(curves: pd.DataFrame, epochs: pd.DataFrame | None, zero_loss: float | None, preset: str | Preset
             ) -> pd.DataFrame:
    """One row per pre-registered question (:data:`QUESTIONS`; :data:`VERDICT_COLUMNS`): the claim, the estimate
    with its 95% interval, the verdict ("yes", "no", "inconclusive") by the question's rule (:func:`greater`,
    :func:`reaches` / :func:`reaches_any`, :func:`better`, :func:`learns`) and why.

    The rules are applied to complete arms only: a question that needs an arm of this study still being trained
    (:func:`still_training`; Q3 needs all three wrapped MPNN ladders) is "inconclusive" with the reason "runs still
    training: <arm> k of n" — never a verdict from a partial ladder."""
    e = estimates(curves, epochs, zero_loss, preset)
    g0 = e["γ_c(MPNN)"]
    rows = []
    for q, m in (("Q1", "frame-averaging"), ("Q2a", "canonical-pca"), ("Q2b", "canonical-learned")):
        arm = f"MPNN + {LABELS[m]}"
        rows.append((q, _named({"MPNN": g0, arm: e[f"γ_c({arm})"]}), *greater(g0, e[f"γ_c({arm})"], ("MPNN", arm))))
    per = {LABELS[m]: e[f"{LABELS[m]} / MC-EGNN"] for m in METHODS}
    rows.append(("Q3", _named(per), *reaches_any({k: reaches(v) for k, v in per.items()})))
    rows.append(("Q4", _shown(e["Q4"]), *better(e["Q4"])))
    rows.append(("Q5", _shown(e["Q5"]), *learns(e["Q5"])))
    training, training_e = still_training(curves), still_training(epochs)
    for i, (q, est, _, _) in enumerate(rows):
        wait = _waiting(q, training, training_e)
        if wait:  # the rule is not applied to a partial ladder (its estimate is not even made)
            rows[i] = (q, est, INCONCLUSIVE, wait)
    return pd.DataFrame([{"question": q, "claim": QUESTIONS[q], "estimate (95% CI)": est, "verdict": v, "why": why}
                         for q, est, v, why in rows], columns=VERDICT_COLUMNS)


def _load(fn, *args):
    try:
        return fn(*args), ""
    except (RuntimeError, FileNotFoundError) as err:  # nothing else: a bug must not read as "missing"
        return None, f"study missing from the store: {str(err).split(';')[0]}"


def new_results_table(preset: str | Preset, store="results", train_missing: bool = False) -> pd.DataFrame:
    """The scorecard's "New results (no paper value)" table: one row per question, the scorecard's columns without
    "paper" (``claim, source, ours (95% CI), verdict, why``). A study missing from the store (``train_missing=False``)
    makes the questions that need it inconclusive, naming what is missing (as the scorecard does); so does an arm of
    this study still being trained ("runs still training: <arm> k of n", :func:`verdicts`)."""
    from nnip.paper.scorecard import COLUMNS  # local: the scorecard page imports this module (a cycle)

    p = resolve(preset)
    columns = [c for c in COLUMNS if c != "paper"]
    curves, miss = _load(study, p, store, train_missing)
    epochs, miss_e = _load(multi_epoch_study, p, store, train_missing)
    zero, miss_z = (None, "") if curves is None else _load(zero_output_loss, curves, p, store, train_missing)
    rows = []
    if curves is not None:
        table = verdicts(curves, epochs, zero, p)
    for i, q in enumerate(QUESTIONS):
        missing = miss or (miss_e if q == "Q4" else miss_z if q == "Q5" else "")
        source = f"beyond the paper, {q} (pre-registered: nnip.paper.beyond_symmetry)"
        if missing:
            rows.append(dict(zip(columns, (QUESTIONS[q], source, "–", INCONCLUSIVE, missing.replace(
                str(store_path(store, p)), "the store")))))
        else:
            r = table.iloc[i]
            rows.append(dict(zip(columns, (QUESTIONS[q], source, r["estimate (95% CI)"], r["verdict"], r["why"]))))
    return pd.DataFrame(rows, columns=columns)


# --- figures and tables --------------------------------------------------------------------------------------------
def health_table(curves: pd.DataFrame) -> pd.DataFrame:
    """:func:`nnip.paper.main.training_health` of every run, with its arm in place of the architecture."""
    arm = curves.groupby("run_id")["arm"].first()
    h = training_health(curves).drop(columns=["arch"])
    h.insert(0, "arm", h["run_id"].map(arm))
    h["order"] = h["arm"].map({a: i for i, a in enumerate(ARMS)}).fillna(len(ARMS))
    return h.sort_values(["order", "params"], ignore_index=True).drop(columns=["order"])


def _with_left_out(table: pd.DataFrame, first: str, last: str, *frames) -> pd.DataFrame:
    """``table`` with a last row naming the runs :func:`~nnip.paper._common.run_study` left out of ``frames``
    (failed or without evaluations) and why, in the columns ``first`` (what) and ``last`` (the list)."""
    left = left_out_of(*frames)
    if not left:
        return table
    row = {c: "" for c in table.columns} | {first: f"runs left out of the fits: {len(left)}",
                                            last: "; ".join(f"{r}: {why}" for r, why in left.items())}
    return pd.concat([table, pd.DataFrame([row])], ignore_index=True)


def frontier_figure(curves: pd.DataFrame, preset: str | Preset) -> tuple[Figure, pd.DataFrame]:
    """Loss against compute (log–log) of :data:`FRONTIER_ARMS`, all arms on one axis per panel: top, measured
    training compute C; bottom, the modelled compute 3κ̂ND of eq. (3) with κ̂ fitted on each arm's own runs (so a
    wrapper's extra work per parameter is in its κ̂). Each arm's Pareto frontier (first steps dropped, §3.2) and its
    eq. (4) fit. Table (measured C, the verdicts' numbers; the 3κ̂ND exponents are in :func:`scaling_table`): one row per arm of
    ``curves`` (the transformers too) — runs, γ_c with its 95% interval (:func:`gammas`, the verdicts' numbers), the
    frontier backtest error, and training health (:func:`nnip.paper.main.training_health`: runs whose validation loss
    rose above twice its best-so-far, and the largest such rise) — shown, never used to drop a run.

    An arm still being trained (:func:`still_training`) is drawn as its frontier points only, labelled
    "(k/n runs, no fit yet)": no eq. (4) fit and no γ_c from a partial ladder."""
    from nnip.scaling import pareto_frontier  # the frontier of fits.frontier_report, without its fit

    p = resolve(preset)
    training = still_training(curves)
    arms = [a for a in FRONTIER_ARMS if (curves["arm"] == a).any()]
    fig = Figure(figsize=(7.6, 11.0), layout="constrained")
    panels = fig.subfigures(2, 1)  # one legend under each panel: the fitted laws differ between the two
    for panel, x, what in ((panels[0], fits.X_FLOPS, "measured training compute C"),
                           (panels[1], fits.X_MODEL, "modelled compute 3κ̂ND (κ̂ of each arm's runs)")):
        ax = panel.add_subplot()
        fronts, laws, labels = {}, {}, {}
        for a in arms:
            pts = fits.prepare(curves[curves["arm"] == a], p, ARM_ARCH[a])
            if a in training:
                fronts[a] = pareto_frontier(pts, x=x, y="val_loss") if len(pts) else pts
                labels[a] = f"{a} ({training[a][0]}/{training[a][1]} runs, no fit yet)"
            else:
                fronts[a], rep = fits.frontier_report(pts, x, p)
                laws[a] = rep.estimate
        figures.plot_frontiers(fronts, laws, x=x, xlabel=fits.LABELS[x], ylabel=fits.LABELS["val_loss"],
                               labels=labels, ax=ax)
        for a in (a for a in FRONTIER_ARMS if a in training and a not in arms):  # not one finished run yet
            ax.plot([], [], " ", label=f"{a} ({training[a][0]}/{training[a][1]} runs)")
        ax.set_title(f"frontiers on {what}\n(eq. 4 fits, L∞ = 0)", fontsize="medium")
        figures.legend_below(panel, [ax], ncols=2)
    title(fig, "Beyond the paper — symmetrizing the unconstrained MPNN: loss–compute frontiers", p)

    health = health_table(curves)
    g = gammas(curves, p)
    rows = []
    for a, est in g.items():
        h = health[health["arm"] == a]
        rows.append({"arm": a, "runs": int(h["run_id"].nunique()), "γ_c (95% CI)": _shown(est),
                     "backtest ARE": "" if not math.isfinite(est.backtest) else f"{100 * est.backtest:.1f}%",
                     "training health": (f"{int(h['spiked'].sum())} of {len(h)} runs spiked; largest rise "
                                         f"×{h['largest rise'].max():.3g}" if len(h) else "no runs"),
                     "in the figure": ("no (Fig. 16's axis)" if a not in FRONTIER_ARMS else "no (no runs yet)"
                                       if a not in arms else "points only (runs still training)" if a in training
                                       else "yes")})
    return fig, _with_left_out(pd.DataFrame(rows), "arm", "training health", curves)


def scaling_table(curves: pd.DataFrame, preset: str | Preset) -> pd.DataFrame:
    """The main study's other scaling estimates for every complete arm of :data:`FRONTIER_ARMS` — not used by any
    verdict (the questions were fixed on γ_c of measured C), shown as the main study shows them (Fig. 2, Fig. 5,
    Table 1, Table 7): κ̂ of eq. (3) (C ≈ 3κ̂ND, fitted on the arm's runs; backtest on the largest model), γ_c of the
    eq. (4) frontier on 3κ̂ND, α and β of eq. (5) (bootstrap over runs, backtest on the held-out largest model) and
    γ_c = αβ/(α+β) of eq. (7). An arm still being trained gets a row saying so and no numbers."""
    p = resolve(preset)
    training = still_training(curves)
    rows = []
    for a in (a for a in FRONTIER_ARMS if (curves["arm"] == a).any() or a in training):
        if a in training:
            rows.append({"arm": a, "runs": training[a][0], "κ̂ (eq. 3)": _training_note(*training[a])})
            continue
        sub = curves[curves["arm"] == a]
        pts = fits.prepare(sub, p, ARM_ARCH[a])
        kap = fits.kappa_report(sub, p, ARM_ARCH[a])
        _, front = fits.frontier_report(pts, fits.X_MODEL, p)
        law = fits.sum_power_law_report(pts, p, kappa=kap.value("kappa") if kap.ok else None)
        k = int(sub["run_id"].nunique())
        shown = {"κ̂ (eq. 3)": report_estimate(kap, "kappa", k),
                 "γ_c on 3κ̂ND (eq. 4)": report_estimate(front, "gamma", k),
                 "α (eq. 5)": report_estimate(law, "alpha", k), "β (eq. 5)": report_estimate(law, "beta", k),
                 "γ_c = αβ/(α+β) (eq. 7)": report_estimate(law, "gamma_c", k)}
        row = {"arm": a, "runs": k}
        row.update({k: _shown(e) for k, e in shown.items()})
        row.update({f"backtest ARE, {k}": "" if not math.isfinite(e.backtest) else f"{100 * e.backtest:.1f}%"
                    for k, e in shown.items() if k in ("κ̂ (eq. 3)", "γ_c on 3κ̂ND (eq. 4)", "α (eq. 5)")})
        rows.append(row)
    table = pd.DataFrame(rows).fillna("")
    return table.rename(columns={"backtest ARE, α (eq. 5)": "backtest ARE, eq. 5"})


def paired_figure(curves: pd.DataFrame, epochs: pd.DataFrame | None, zero_loss: float | None,
                  preset: str | Preset) -> tuple[Figure, pd.DataFrame]:
    """Q4 and Q5 by model size: left, the best validation loss of the multi-epoch MPNN without augmentation, with
    augmentation and with frame averaging against N; right, the transformer and the transformer with frame averaging
    against N, with the all-zero predictor's loss and the :data:`LEARNS` threshold. Table: the per-size ratios that
    enter Q4 and Q5. An arm still being trained (:func:`still_training`) is labelled "(k/n runs)", and its ratios are
    marked as not used (no verdict from a partial ladder)."""
    p = resolve(preset)
    training, training_e = still_training(curves), still_training(epochs)
    fig, (ax_e, ax_t) = figures.panel_row(2, panel_width=3.8, height=3.8)
    rows = []
    for ax, runs, arms, partial in ((ax_e, None if epochs is None else runs_table(epochs), EPOCH_ARMS, training_e),
                                    (ax_t, runs_table(curves), ("transformer", _TFA), training)):
        if runs is None:
            ax.text(0.5, 0.5, "no multi-epoch study", transform=ax.transAxes, ha="center", color="C3")
        else:
            for i, a in enumerate(arms):
                r = runs[runs["arm"] == a].sort_values("params")
                label = a + (f" ({partial[a][0]}/{partial[a][1]} runs)" if a in partial else "")
                if len(r) or a in partial:  # an arm with no finished run yet: a legend entry "(0/n runs)"
                    ax.plot(r["params"], r["best_val_loss"], "o-", ms=4, color=f"C{i}", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(figures.AXIS["params"][1])
        ax.set_ylabel("best validation loss (eq. 1, normalised)")
        figures.tidy_log_axes(ax)
    if zero_loss is not None and math.isfinite(zero_loss):
        ax_t.axhline(zero_loss, color="k", ls="--", lw=1, label="all-zero predictor")
        ax_t.axhline(LEARNS * zero_loss, color="0.5", ls=":", lw=1, label=f"{LEARNS:g} × all-zero (Q5 threshold)")
    ax_e.set_title("Q4: multi-epoch MPNN (Fig. 8–9 setting)", fontsize="medium")
    ax_t.set_title("Q5: transformer (Fig. 16 setting)", fontsize="medium")
    for ax in (ax_e, ax_t):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    title(fig, "Beyond the paper — frame averaging against augmentation (Q4) and on the transformer (Q5)", p)
    figures.tidy_narrow_log_axes(fig)
    if epochs is not None:
        runs = runs_table(epochs)
        fa, aug = _best_by_size(runs, _FA), _best_by_size(runs, _AUG)
        partial = (f" ({_training_note(*training_e[_FA])}: not used, no verdict yet)" if _FA in training_e else "")
        for size in fa.index.intersection(aug.index):
            rows.append({"question": "Q4", "model size": size, "numerator": fa[size], "denominator": aug[size],
                         "ratio": fa[size] / aug[size], "as": "L(MPNN + FA) / L(MPNN + augmentation)" + partial})
    if zero_loss is not None and math.isfinite(zero_loss):
        best = _best_by_size(runs_table(curves), _TFA)
        partial = f" ({_training_note(*training[_TFA])}: not used, no verdict yet)" if _TFA in training else ""
        for size, v in best.items():
            rows.append({"question": "Q5", "model size": size, "numerator": v, "denominator": zero_loss,
                         "ratio": v / zero_loss, "as": "L(transformer + FA) / L(all-zero)" + partial})
    for q, arm, waiting, what in (("Q4", _FA, training_e, "L(MPNN + FA) / L(MPNN + augmentation)"),
                                  ("Q5", _TFA, training, "L(transformer + FA) / L(all-zero)")):
        if arm in waiting and not any(r["question"] == q for r in rows):  # say why the question has no row yet
            rows.append({"question": q, "model size": "–", "numerator": math.nan, "denominator": math.nan,
                         "ratio": math.nan, "as": f"{what} ({_training_note(*waiting[arm])}: no ratio yet)"})
    table = pd.DataFrame(rows, columns=["question", "model size", "numerator", "denominator", "ratio", "as"])
    return fig, _with_left_out(table, "question", "as", curves, epochs)


# --- what each method does ----------------------------------------------------------------------------------------
#: element → (colour, marker size) of :func:`methods_figure`
_ATOM_STYLE = {1: ("white", 28), 6: ("0.3", 60), 7: ("C0", 60), 8: ("C3", 60), 9: ("C2", 55), 16: ("gold", 75),
               17: ("C2", 75)}


def _draw_molecule(ax, xy: np.ndarray, numbers: np.ndarray, bonds, hollow: bool = False) -> None:
    """Atoms of ``xy`` (n, 2) by element (filled, or rings when ``hollow``) and their bonds (index pairs)."""
    for i, j in bonds:
        ax.plot(xy[[i, j], 0], xy[[i, j], 1], "-", color="0.55" if not hollow else "0.75", lw=1.0, zorder=1)
    for z in np.unique(numbers):
        color, size = _ATOM_STYLE.get(int(z), ("C4", 60))
        k = numbers == z
        if hollow:
            ax.scatter(xy[k, 0], xy[k, 1], s=size * 2.2, facecolors="none", edgecolors="C1", lw=1.0, zorder=3)
        else:
            ax.scatter(xy[k, 0], xy[k, 1], s=size, c=[color], edgecolors="k", lw=0.5, zorder=2)


def _frame_panel(ax, label: str, xlabel: str, ylabel: str, half: float) -> None:
    ax.set_title(label, fontsize="small")
    ax.set_xlabel(xlabel, fontsize="x-small")
    ax.set_ylabel(ylabel, fontsize="x-small")
    ax.tick_params(labelsize="x-small")
    ax.set(xlim=(-half, half), ylim=(-half, half))
    ax.set_aspect("equal", adjustable="box")


def methods_figure(molecule: str = "CH3CH2OH", seed: int = 0) -> Figure:
    """What each method feeds the base model, on one molecule of ASE's g2 set (``ase.build.molecule``; no dataset):
    the molecule in two random orientations A and B (top left, lab x–y plane) with its PCA axes v₁, v₂, v₃ (arrows of
    length 2√λ); PCA canonicalization and learned canonicalization (an untrained canonicalizer, seeded) map A
    (filled) and B (orange rings) onto the same view; frame averaging's four frames of A (bottom; the same four
    views for every orientation, in some order). Frame coordinates ``(x − c) F``, projected on frame axes 1–2."""
    import torch  # torch-free analysis: the models live in torch
    from ase.build import molecule as g2_molecule  # torch-free analysis: ase is part of the training stack
    from ase.data import covalent_radii  # (as above)
    from scipy.spatial.transform import Rotation  # kept off the module's import path (only this figure needs it)

    from nnip.data import collate  # torch-free analysis: nnip.data.batch imports torch
    from nnip.models import build_model  # torch-free analysis: nnip.models imports torch
    from nnip.models.symmetrize import DEGENERACY, frame_degeneracy, frame_gaps  # (as above)

    atoms = g2_molecule(molecule)
    numbers = atoms.numbers
    x0 = atoms.get_positions()
    inputs = [atoms.__class__(numbers=numbers, positions=x0 @ r.T)  # inputs A and B
              for r in Rotation.random(2, random_state=seed).as_matrix()]
    d = np.linalg.norm(x0[:, None] - x0[None], axis=-1)
    reach = 1.2 * (covalent_radii[numbers][:, None] + covalent_radii[numbers][None])
    bonds = [(i, j) for i in range(len(x0)) for j in range(i + 1, len(x0)) if d[i, j] < reach[i, j]]
    y = np.stack([a.get_positions() - a.get_positions().mean(0) for a in inputs])  # (2, n, 3) centred
    evals = np.clip(np.linalg.eigvalsh(np.cov(y[0].T, bias=True))[::-1], 0.0, None)  # λ₁ ≥ λ₂ ≥ λ₃

    torch.manual_seed(seed)  # the learned canonicalizer's (untrained) weights
    models = {m: build_model("mpnn", symmetrize=m, hidden_dim=8, num_layers=1, num_radial=4).eval() for m in METHODS}
    batch = collate(inputs, cutoff=models[METHODS[0]].cutoff, max_neighbors=models[METHODS[0]].max_neighbors,
                    labels=False)
    with torch.no_grad():  # (2, K, 3, 3) frames of each method, columns = axes; frame averaging: all four
        frames = {m: model.frames(batch, every=True).to(torch.float64).numpy() for m, model in models.items()}
    fa = frames["frame-averaging"]
    gaps = frame_gaps(inputs)
    case = DEGENERACY[int(frame_degeneracy(gaps, torch.float32)[0])]
    arrows = [fa[k, 0] * 2.0 * np.sqrt(evals) for k in (0, 1)]  # principal axes (columns) of length 2√λ
    half = 1.15 * max(np.abs(y).max(), max(np.abs(a).max() for a in arrows)) + 0.3  # one scale for every panel

    fig = Figure(figsize=(7.6, 5.0), layout="constrained")
    axes = fig.subplots(2, 4)
    for k, ax in enumerate(axes[0, :2]):
        _draw_molecule(ax, y[k][:, :2], numbers, bonds)
        for j in range(3):
            v = arrows[k][:, j]
            ax.annotate("", xy=(v[0], v[1]), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": f"C{j + 2}",
                                                                        "lw": 1.3}, zorder=4)
            ax.text(v[0] * 1.12, v[1] * 1.12, f"v{'₁₂₃'[j]}", color=f"C{j + 2}", fontsize="x-small", ha="center",
                    va="center")
        _frame_panel(ax, f"input {'AB'[k]}: lab frame,\nPCA axes v (2√λ)", "lab x [Å]", "lab y [Å]", half)
    for ax, m, name in ((axes[0, 2], "canonical-pca", "PCA canon.: A (filled),\nB (rings)"),
                        (axes[0, 3], "canonical-learned", "learned canon.\n(untrained): A, B")):
        for k in (0, 1):
            _draw_molecule(ax, (y[k] @ frames[m][k, 0])[:, :2], numbers, bonds, hollow=k == 1)
        _frame_panel(ax, name, "frame axis 1 [Å]", "frame axis 2 [Å]", half)
    for f, ax in enumerate(axes[1]):
        _draw_molecule(ax, (y[0] @ fa[0, f])[:, :2], numbers, bonds)
        signs = "".join("+" if v > 0 else "−" for v in np.diag(fa[0, 0].T @ fa[0, f]))  # axis signs vs frame 1
        _frame_panel(ax, f"frame averaging, A:\nframe {f + 1} of 4 ({signs})", "frame axis 1 [Å]",
                     "frame axis 2 [Å]", half)
    g1, g2 = gaps[0].tolist()
    fig.suptitle(f"What the base model sees: {molecule} ({atoms.get_chemical_formula()}), gaps g₁ = {g1:.2f}, "
                 f"g₂ = {g2:.2f} (frame case: {case})", fontsize="medium")
    return fig


# --- cost ----------------------------------------------------------------------------------------------------------
#: the arms whose cost is compared with their base model's (arm → base arm), :func:`cost_table`
_COST_BASE = {**{f"MPNN + {LABELS[m]}": "MPNN" for m in METHODS}, "MPNN + symmetry loss": "MPNN",
              _TFA: "transformer"}


def _ratio_cell(r: np.ndarray) -> str:
    r = r[np.isfinite(r) & (r > 0)]
    if not r.size:
        return "–"
    gm = float(np.exp(np.log(r).mean()))
    return f"{gm:.3g}×" + (f" ({r.min():.3g}–{r.max():.3g})" if r.size > 1 else "")


def cost_table(curves: pd.DataFrame, preset: str | Preset, store="results") -> pd.DataFrame:
    """What each method cost its runs, relative to the base model of the same size (from the runs'
    ``summary.json``; geometric mean over the sizes both have, range in parentheses): N, training FLOPs per step (C
    counts training steps only), training wall-clock per step, and the rest of each run's wall-clock — evaluations
    (frame averaging evaluates four frames) and set-up. Wall-clock is measured on a shared machine: noisy."""
    p = resolve(preset)
    rs = RunStore(store_path(store, p))
    runs = runs_table(curves)
    s = pd.DataFrame([rs.read_summary(r) or {} for r in runs["run_id"]], index=runs.index)
    for c in ("flops", "steps", "hours", "hours_train"):
        runs[c] = pd.to_numeric(s[c], errors="coerce") if c in s else math.nan
    runs["flops_step"] = runs["flops"] / runs["steps"]
    runs["train_s_step"] = runs["hours_train"] * 3600.0 / runs["steps"]
    runs["other_h"] = runs["hours"] - runs["hours_train"]
    cols = {"params": "N", "flops_step": "training FLOPs per step", "train_s_step": "training time per step",
            "other_h": "evaluation and set-up time"}
    rows = []
    for arm, base in _COST_BASE.items():
        a = runs[runs["arm"] == arm].groupby("size")[list(cols)].first()
        b = runs[runs["arm"] == base].groupby("size")[list(cols)].first()
        both = a.index.intersection(b.index)
        if not len(both):
            continue
        rows.append({"arm": arm, "relative to": base, "sizes": len(both),
                     **{label: _ratio_cell((a.loc[both, c] / b.loc[both, c]).to_numpy(float))
                        for c, label in cols.items()}})
    return pd.DataFrame(rows, columns=["arm", "relative to", "sizes", *cols.values()])


#: the molecules of :func:`measured_cost` (ASE's g2 set: no dataset needed)
COST_MOLECULES = ("CH3CH2OH", "C6H6", "CH3COOH", "CH4", "H2O", "CH3CONH2")
#: the symmetry loss's rotations per structure (Fig. 7: M = 5)
_SYM_M = 5


def measured_cost(preset: str | Preset, molecules: Sequence[str] = COST_MOLECULES) -> pd.DataFrame:
    """FLOPs counted by :func:`nnip.train.flops.count_flops` (the counter behind every run's C) on one batch of
    ``molecules`` (ASE's g2 set, zero labels: no dataset): a training step (forward + backward of the objective, in
    train mode: one frame for frame averaging, M = 5 extra passes for the symmetry loss) and an evaluation forward
    (eval mode: four frames for frame averaging), for the MPNN, each wrapper and the symmetry loss, and the
    transformer with and without frame averaging, at the preset's first, μP-base and last rungs; × base: over the
    unwrapped model of the same size. Uncounted ops (the eigendecomposition, ``_linalg_eigh``) are listed."""
    import torch  # torch-free analysis: counting FLOPs runs the models
    from ase.build import molecule as g2_molecule  # torch-free analysis: ase is part of the training stack

    from nnip.data import collate  # torch-free analysis: nnip.data.batch imports torch
    from nnip.models import build_model  # torch-free analysis: nnip.models imports torch
    from nnip.train.flops import count_flops  # torch-free analysis: nnip.train imports torch
    from nnip.train.loss import objective  # (as above)
    from nnip.train.tta import random_rotations  # (as above)

    p = resolve(preset)
    atoms = [g2_molecule(m) for m in molecules]
    rows = []
    for arch, variants in (("mpnn", (None, *METHODS, "symmetry loss")), ("transformer", (None, "frame-averaging"))):
        if arch not in p.archs:
            continue
        entry = p.archs[arch]
        for rung in sorted({0, entry.base_rung or 0, len(entry.widths) - 1}):
            hp = {**entry.extra, **dict(entry.widths[rung])}
            base = None
            for v in variants:
                torch.manual_seed(0)
                model = build_model(arch, symmetrize=v if v in METHODS else None, **hp)
                batch = collate(atoms, cutoff=model.cutoff, max_neighbors=model.max_neighbors, labels=False)
                batch = batch.replace(energy=torch.zeros(batch.num_graphs), forces=torch.zeros_like(batch.pos))
                rot = None
                if v == "symmetry loss":
                    rot = random_rotations(_SYM_M * batch.num_graphs, generator=torch.Generator().manual_seed(0))
                    rot = rot.view(_SYM_M, batch.num_graphs, 3, 3)
                model.train()
                with count_flops() as step:
                    total, _, _ = objective(model, batch, sym_rotations=rot)
                    total.mean().backward()
                model.eval()
                with torch.no_grad(), count_flops() as ev:
                    model(batch)
                arm = _BASE[arch] + ("" if v is None else f" + {LABELS.get(v, v)}")
                n = sum(t.numel() for t in model.parameters() if t.requires_grad)
                row = {"arm": arm, "size": _size_key(pd.Series(dict(sorted(entry.widths[rung].items())))), "N": n,
                       "training step FLOPs": step.total, "evaluation FLOPs": ev.total,
                       "uncounted ops": ", ".join(sorted(set(step.count.uncounted) | set(ev.count.uncounted)))}
                base = base or row
                row["training step × base"] = row["training step FLOPs"] / base["training step FLOPs"]
                row["evaluation × base"] = row["evaluation FLOPs"] / base["evaluation FLOPs"]
                rows.append(row)
    return pd.DataFrame(rows, columns=_COST_COLUMNS)


_COST_COLUMNS = ["arm", "size", "N", "training step FLOPs", "training step × base", "evaluation FLOPs",
                 "evaluation × base", "uncounted ops"]


#: the cache of :func:`measured_cost_table`, beside the first frame-averaging stream run
COST_FILE = "measured_cost.json"


def _cache_run(p: Preset) -> str:
    """The run beside which the study's caches live (:data:`COST_FILE`, :data:`GAPS_FILE`): the first rung of the
    frame-averaging stream ladder."""
    from nnip.sweep import expand  # torch-free analysis: nnip.sweep imports torch

    return expand(stream_spec(p, ["frame-averaging"])[0], p)[0].run_id()


def measured_cost_table(preset: str | Preset, store="results", train_missing: bool = True,
                        molecules: Sequence[str] = COST_MOLECULES) -> pd.DataFrame:
    """:func:`measured_cost`, cached in the store (``measured_cost.json``, :data:`COST_FILE`, beside the first run of
    the frame-averaging stream ladder, keyed by the molecules and :data:`nnip.train.config.TRAINER_VERSION`): the
    counts take a minute of the book's build at the cpu rungs, and they are a property of the code, like
    ``kappa_vs_width.csv``. With ``train_missing=False`` a missing cache is an error naming the file; a test
    recounts the tiny preset's and compares."""
    from nnip.train.config import TRAINER_VERSION  # torch-free analysis: nnip.train imports torch

    p = resolve(preset)
    key = f"{','.join(molecules)}:trainer={TRAINER_VERSION}"
    rows = cached_json(RunStore(store_path(store, p)), _cache_run(p), COST_FILE, key,
                       lambda: measured_cost(p, molecules).to_dict(orient="records"), compute_missing=train_missing)
    return pd.DataFrame(rows, columns=_COST_COLUMNS)


# --- degenerate frames ---------------------------------------------------------------------------------------------
#: the cache of :func:`frame_gaps_summary`, beside the first frame-averaging stream run
GAPS_FILE = "frame_gaps.json"
#: log10 bin edges of the gap histograms (gaps below the first edge, 0 included, are counted apart)
_GAP_EDGES = np.round(np.arange(-12.0, 0.001, 0.25), 2)
_QUANTILES = (0.0001, 0.001, 0.01, 0.05, 0.5)
_MEANING = {"none": "three distinct axes: the frame is determined", "prolate": "g₂ < tol: one long axis (rod)",
            "oblate": "g₁ < tol: a disc", "spherical": "both gaps < tol: no preferred axis"}


def _molecules(p: Preset):
    """The preset's molecular dataset (all its structures) and a name for it."""
    from nnip.data import read  # torch-free analysis: reading needs ase and the data stack, not the book
    from nnip.data.registry import DATASETS, ensure_dataset  # (as above)

    src = p.molecules
    if src in DATASETS:
        spec = (p.datasets or {}).get(src, {})
        path = ensure_dataset(src, n=spec.get("n"), seed=spec.get("seed", 0), progress=False)
        return read(path), f"{src} (n = {spec.get('n', 'default')}, seed {spec.get('seed', 0)})"
    return read(src), str(src)


def _gaps_document(p: Preset, chunk: int = 4096) -> dict:
    import torch  # torch-free analysis: the gaps are computed by the wrappers' own (torch) code

    from nnip.models.symmetrize import DEGENERACY, frame_degeneracy, frame_gaps, tolerance  # (as above)

    ds, name = _molecules(p)
    gaps = torch.cat([frame_gaps(ds[i:i + chunk]) for i in range(0, len(ds), chunk)]) if len(ds) else \
        torch.zeros(0, 2, dtype=torch.float64)
    g = {"g1": gaps[:, 0].numpy(), "g2": gaps[:, 1].numpy()}
    g["min"] = np.minimum(g["g1"], g["g2"])
    edges = 10.0 ** _GAP_EDGES
    doc = {"dataset": name, "structures": int(len(ds)), "log10_edges": _GAP_EDGES.tolist(),
           "counts": {k: np.histogram(v[v >= edges[0]], edges)[0].tolist() for k, v in g.items()},
           "below_first_edge": {k: int((v < edges[0]).sum()) for k, v in g.items()},
           "quantiles": {k: {f"{q:g}": float(np.quantile(v, q)) if v.size else None for q in _QUANTILES}
                         for k, v in g.items()},
           "tolerance": {}, "cases": {}, "examples": {}}
    for dtype, label in ((torch.float32, "float32"), (torch.float64, "float64")):
        cases = frame_degeneracy(gaps, dtype).numpy()
        doc["tolerance"][label] = tolerance(dtype)
        doc["cases"][label] = {c: int((cases == i).sum()) for i, c in enumerate(DEGENERACY)}
        doc["examples"][label] = {}
        for i, c in enumerate(DEGENERACY[1:], start=1):
            idx = np.flatnonzero(cases == i)[:5]
            doc["examples"][label][c] = [f"{ds[int(j)].get_chemical_formula()} (g₁ {g['g1'][j]:.2g}, g₂ "
                                         f"{g['g2'][j]:.2g})" for j in idx]
    return doc


def frame_gaps_summary(preset: str | Preset, store="results", train_missing: bool = True) -> dict:
    """The relative eigenvalue gaps ``g₁, g₂`` (:func:`nnip.models.symmetrize.frame_gaps`) of every structure of the
    preset's molecular dataset: histograms on a log axis, quantiles, and the number of structures in each
    :data:`~nnip.models.symmetrize.DEGENERACY` case at the float32 (training) and float64 tolerances, with examples.

    Cached in the store (``frame_gaps.json``, :data:`GAPS_FILE`, beside the first run of the frame-averaging stream
    ladder, which this trains if missing and ``train_missing``), so a book built from the committed store needs no
    dataset; with ``train_missing=False`` a missing cache is an error naming the file."""
    p = resolve(preset)
    run_study(stream_spec(p, ["frame-averaging"])[0], p, store, train_missing, finished_only=not train_missing)
    ds = (p.datasets or {}).get(p.molecules, {})
    key = f"{p.molecules}:n={ds.get('n')}:seed={ds.get('seed', 0)}"
    return cached_json(RunStore(store_path(store, p)), _cache_run(p), GAPS_FILE, key, lambda: _gaps_document(p),
                       compute_missing=train_missing)


def frame_gaps_table(summary: Mapping) -> pd.DataFrame:
    """One row per frame case (:data:`~nnip.models.symmetrize.DEGENERACY`): what it means, structures and share at
    the float32 and float64 tolerances, and up to five float32 examples."""
    n = max(int(summary["structures"]), 1)
    rows = []
    for case in summary["cases"]["float32"]:
        row = {"case": case, "meaning": _MEANING.get(case, "")}
        for label in ("float32", "float64"):
            k = int(summary["cases"][label][case])
            row[f"{label} (tol {summary['tolerance'][label]:g})"] = f"{k:,} ({100 * k / n:.3g}%)"
        row["examples (float32)"] = "; ".join(summary["examples"]["float32"].get(case, []))
        rows.append(row)
    return pd.DataFrame(rows)


def frame_gaps_figure(summary: Mapping, preset: str | Preset) -> Figure:
    """Histograms of the relative gaps g₁ = (λ₁ − λ₂)/λ₁ and g₂ = (λ₂ − λ₃)/λ₁ over the dataset's structures (log gap
    axis, log counts) with the float32 and float64 tolerances below which a frame axis is not determined."""
    edges = 10.0 ** np.asarray(summary["log10_edges"], float)
    fig = Figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for i, (key, name) in enumerate((("g1", "g₁ = (λ₁ − λ₂)/λ₁"), ("g2", "g₂ = (λ₂ − λ₃)/λ₁"))):
        c = np.asarray(summary["counts"][key], float)
        below = int(summary["below_first_edge"][key])
        ax.stairs(c, edges, color=f"C{i}", lw=1.5, baseline=None,
                  label=f"{name}" + (f" ({below:,} below {edges[0]:.0e})" if below else ""))
    for label, ls in (("float32", "--"), ("float64", ":")):
        tol = summary["tolerance"][label]
        ax.axvline(tol, color="k", ls=ls, lw=1, label=f"{label} tolerance {tol:g}")
    ax.set_xscale("log")
    ax.set_yscale("log", nonpositive="clip")
    ax.set_xlim(edges[0], 1.0)
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel("relative eigenvalue gap of the position covariance (dimensionless)")
    ax.set_ylabel("structures per bin (¼ decade)")
    ax.legend(fontsize="x-small")
    title(fig, f"Degenerate frames: covariance eigenvalue gaps of {summary['dataset']}, "
               f"{int(summary['structures']):,} structures", preset)
    return fig
