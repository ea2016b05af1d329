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
#: wrapper → learning rate of its runs, by :func:`pilot_choice` on the pilot's runs (None: the pilot has not run)
PILOT_LR: dict[str, float | None] = {m: None for m in METHODS}

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
        base = {} if lr is None or lr == p.archs["mpnn"].lr else {"optim.lr": lr}
        out.append({"name": f"beyond-symmetry-mpnn-{m}", "dataset": "molecules", "archs": ["mpnn"], "base": base,
                    "grid": {"model.symmetrize": [m]}, "tags": _TAGS + ["beyond-stream"]})
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
