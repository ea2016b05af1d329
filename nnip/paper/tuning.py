"""η* at a CPU base width: the measured learning-rate × warmup sweep behind the ``cpu`` preset (§3.3, Fig. 10).

The paper tunes η* on ≈1M-parameter models and transfers it to other widths by μP, η(w) = η*·w_base/w (§3.3;
η* = 1e-3 at batch 64, Fig. 10). At CPU scale the ladders end well below 1M parameters, so transferring the paper's
η* down from its base width would multiply the matrix learning rates by up to 16× with no evidence that this is
stable. The ``cpu`` preset instead puts w_base at a rung of its own ladder (``ArchScale.base_rung``, the geometric
middle of the ladder in N) and takes η* and the warmup from this sweep: every main architecture at its base rung
streams ``Tuning.fraction`` of the training data once for each (η, warmup) of the grid (:class:`nnip.presets.Tuning`).

:func:`fig_tuning` shows the final validation loss over η per warmup and compares the sweep's optimum with the
preset's choice, computed from the store (:func:`optimum`), so a preset that disagrees with its own sweep shows up
in the book as "no".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures
from nnip.paper import fits
from nnip.paper._common import ARCH_LABELS, PAPER_ARCHS, comparison_table, preset_name, run_study, select_archs
from nnip.presets import Preset, resolve

__all__ = ["tuning_spec", "tuning_study", "optimum", "fig_tuning"]

_LR, _WARMUP, _CLIP = "optim.lr", "optim.warmup_steps", "optim.grad_clip"


def base_hparams(preset: str | Preset, arch: str) -> dict:
    """Full hyper-parameters of ``arch`` at its base rung (the first rung when the preset names none)."""
    entry = resolve(preset).archs[arch]
    rung = entry.base_rung if entry.base_rung is not None else 0
    return {**entry.extra, **dict(entry.widths[rung])}


def tuning_spec(preset: str | Preset, archs="all") -> dict:
    """The sweep: each arch at its base rung × ``Tuning.lrs`` × ``Tuning.warmups``, streaming ``Tuning.fraction``."""
    preset = resolve(preset)
    t = preset.tuning
    if t is None:
        raise ValueError(f"preset {preset_name(preset)!r} has no η* sweep (it takes η* from the paper)")
    return {"name": "tuning-lr-warmup", "dataset": "molecules", "fractions": [t.fraction],
            "base": {"eval.log_points": t.log_points},
            "models": [{"name": a, "hparams": [base_hparams(preset, a)]} for a in select_archs(archs)],
            # measured without gradient clipping, also for an arch whose other studies clip (ArchScale.grad_clip)
            "grid": {_LR: list(t.lrs), _WARMUP: list(t.warmups), _CLIP: [None]}, "tags": ["tuning"]}


def tuning_study(preset: str | Preset, store="results", train_missing: bool = True, archs="all") -> pd.DataFrame:
    """Curves of :func:`tuning_spec`'s runs (trained if missing and ``train_missing``)."""
    preset = resolve(preset)
    return run_study(tuning_spec(preset, archs), preset, store, train_missing)


def _finals(curves: pd.DataFrame) -> pd.DataFrame:
    last = fits.final(curves)
    return last.assign(**{_LR: last[_LR].astype(float), _WARMUP: last[_WARMUP].astype(int)})


def optimum(curves: pd.DataFrame, arch: str) -> tuple[float, int, float]:
    """``(η, warmup, final validation loss)`` of the sweep's best run for ``arch`` (lowest final loss)."""
    fin = _finals(curves)
    fin = fin[(fin["arch"] == arch) & np.isfinite(fin["val_loss"].astype(float))]
    if fin.empty:
        raise ValueError(f"no finished tuning run of {arch!r}")
    best = fin.loc[fin["val_loss"].astype(float).idxmin()]
    return float(best[_LR]), int(best[_WARMUP]), float(best["val_loss"])


def fig_tuning(curves: pd.DataFrame, preset: str | Preset = "cpu") -> tuple[Figure, pd.DataFrame]:
    """Final validation loss over η (log-log), one line per warmup, per architecture; the preset's (η*, warmup)
    ringed. Table: the sweep's optimum against the paper's η* and against the preset's choice."""
    p = resolve(preset)
    fin = _finals(curves)
    archs = [a for a in PAPER_ARCHS if (fin["arch"] == a).any()]
    fig, axes = figures.panel_row(len(archs), panel_width=3.6)
    rows = []
    for ax, arch in zip(axes, archs):
        d = fin[fin["arch"] == arch]
        for warmup, g in d.groupby(_WARMUP):
            g = g.sort_values(_LR)
            ax.plot(g[_LR], g["val_loss"].astype(float), "o-", label=f"warmup {warmup} steps")
        chosen = d[(d[_LR] == p.archs[arch].lr) & (d[_WARMUP] == p.archs[arch].warmup_steps)]
        ax.plot(chosen[_LR], chosen["val_loss"].astype(float), "o", ms=13, mfc="none", mec="k", label="preset")
        n = int(d["params"].iloc[0])
        ax.set(xscale="log", yscale="log", xlabel="learning rate η* (base width)", title=f"{ARCH_LABELS[arch]}\nN = {n:,}")
        ax.legend(fontsize=7)
        lr, warmup, loss = optimum(curves, arch)
        agrees = lr == p.archs[arch].lr and warmup == p.archs[arch].warmup_steps
        rows.append({"quantity": f"{ARCH_LABELS[arch]}: η* at the base width", "paper": 1e-3, "ours": lr,
                     "note": f"best warmup {warmup} steps, final loss {loss:.4g}; preset uses η* = "
                             f"{p.archs[arch].lr:g}, warmup {p.archs[arch].warmup_steps} — "
                             + ("matches the sweep" if agrees else "DIFFERS from the sweep's optimum"
                                + (f": {p.archs[arch].lr_reason}" if p.archs[arch].lr_reason else ""))})
    for ax in axes[::2]:  # the left-hand panel of each row (two per row)
        ax.set_ylabel("final validation loss (eq. 1, normalised)")
    title = f"η* sweep at the μP base width ({preset_name(preset)} preset, {p.tuning.fraction:.0%} of the stream)"
    tiny = "\n[preset tiny: wiring check, not science]" if preset_name(preset) == "tiny" else ""
    fig.suptitle(title + tiny, fontsize="medium", wrap=True)
    return fig, comparison_table(rows)
