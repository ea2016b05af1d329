r"""The materials chapter: Trikha et al. (2025), "Scaling Laws for Neural Material Models" (arXiv:2509.21811).

Trikha et al. train an encoder-only transformer and EquiformerV2 on OMat24 (energy, forces, stress) with AdamW, a
cosine schedule (peak lr 6·10⁻⁴), batch 32, up to 50 epochs with early stopping and mixed precision, and fit
:math:`L = \alpha X^{-\beta}` along three axes: training data D (structures), parameters P and compute C (FLOPs).

Here the same protocol runs on the preset's materials dataset (``emt-alloys``: periodic alloy cells with EMT energy,
forces and stress) with the materials loss recipe (2.5·E + 20·F + 5·(isotropic + anisotropic stress), σ-normalised):

- **parameter scaling** — every ladder entry of the preset at the full training set (fraction 1);
- **data scaling** — the largest ladder entry at every data fraction of the preset (each a separate multi-epoch run;
  its fraction-1 run is shared with the parameter scaling);
- **compute scaling** — the loss–FLOPs Pareto frontier over all of an architecture's runs and evaluations.

Each run's loss is its best validation loss (early stopping keeps the best model). :func:`figure` fits the three laws
per architecture (eq. 4 form with L∞ = 0, :func:`nnip.scaling.fit_power_law`) and puts them beside the published ones
(:data:`PAPER_LAWS`), with the backtest error of each fit. Loss scales differ: Trikha et al.'s loss is unnormalised
on OMat24 (eV units, their weights), ours is σ-normalised on emt-alloys, so only exponents β compare across papers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.paper import fits
from nnip.paper._common import (
    ARCH_LABELS, comparison_table, concat_studies, notes_left_out, preset_name, run_study, store_path,
)
from nnip.paper.transformer import cached_zero_output_loss
from nnip.paper.published import TRIKHA_LAWS, TRIKHA_LR, TRIKHA_TRANSFORMER_PLATEAU
from nnip.presets import Preset, resolve
from nnip.runs import RunStore

__all__ = ["PAPER_LAWS", "TRANSFORMER_PLATEAU", "ARCHS", "materials_specs", "materials_study", "scaling_points",
           "zero_output_loss", "fit_laws", "figure"]

#: the architectures compared by Trikha et al.
ARCHS = ("transformer", "equiformer_v2")
#: Trikha et al.'s published laws, transformer plateau and learning rate (:mod:`nnip.paper.published`)
PAPER_LAWS, TRANSFORMER_PLATEAU, PAPER_LR = TRIKHA_LAWS, TRIKHA_TRANSFORMER_PLATEAU, TRIKHA_LR

_AXES = {"D": ("n_train", "training structures D"), "P": ("params", "parameters P"), "C": ("flops", "compute C [FLOPs]")}
_COLORS = {"equiformer_v2": "C0", "transformer": "C3"}


def _fractions(fractions, preset) -> tuple[float, ...]:
    if fractions in (None, "preset"):
        return tuple(resolve(preset).fractions)
    if isinstance(fractions, str):
        fractions = [float(r) for r in fractions.split(",") if r.strip()]
    out = tuple(sorted({float(r) for r in fractions}))
    if not out or out[0] <= 0 or out[-1] > 1:
        raise ValueError(f"fractions: data fractions in (0, 1], got {fractions!r}")
    return out


def _warmup_steps(warmup, preset, arch: str) -> int:
    """``warmup`` as an int (steps) or a float in [0, 1) (that share of the full-data run's planned steps: the
    trainer's own :func:`nnip.train.pipeline.total_steps` for the preset's training split, batch size and epochs)."""
    if isinstance(warmup, int) and not isinstance(warmup, bool):
        return warmup
    from nnip.train.config import ScheduleSpec  # torch-free analysis: nnip.train imports torch
    from nnip.train.pipeline import total_steps  # torch-free analysis: lazy

    p = resolve(preset)
    spec = p.datasets.get(p.materials)
    if spec is not None:
        n = spec["n"]
    else:  # a path (the paper preset's $NNIP_OMAT24): count its structures
        from nnip.data import read  # lazy: readers load ase.db (only for a path)

        try:
            n = len(read(p.materials))
        except (OSError, ValueError) as err:
            raise ValueError(f"warmup={warmup!r}: cannot size the {p.name!r} preset's materials set {p.materials!r} "
                             f"({err}); give warmup as a number of steps") from err
    n_train = n - p.n_val if p.max_train is None else min(p.max_train, n - p.n_val)
    schedule = ScheduleSpec(regime="epochs", max_epochs=p.epochs, batch_size=p.archs[arch].batch_size)
    steps = total_steps(n_train, schedule, mean_atoms=None)  # mean_atoms: only for max_atoms, None here
    return max(1, round(float(warmup) * steps))


def materials_specs(preset: str | Preset, *, archs=ARCHS, fractions="preset", lr: float = PAPER_LR, warmup=0.05,
                    min_lr_ratio: float = 0.01, patience: int | None = 3, amp: str = "preset",
                    threads: int | None = 1) -> list[dict]:
    """The sweep specs of the chapter: per architecture, the ladder at fraction 1 (parameter scaling) and the largest
    entry at every fraction (data scaling); multi-epoch (``preset.epochs``) with early stopping after ``patience``
    epoch-end evaluations without improvement, AdamW + linear warmup + cosine decay to ``min_lr_ratio·lr``, the same
    ``lr`` at every size (μP off, as Trikha et al.). ``amp``: ``"preset"`` (the preset's: bf16 at ``paper`` on
    GPUs, none on CPU, where bf16 autocast is several times slower) or ``"none"``/``"bf16"``. ``threads``: torch
    intra-op threads while training (``runtime.threads``, not part of the run id; ``None``/0: torch's default) — on a
    shared 2-core machine two threads make these small models up to 10× slower than one (oversubscription)."""
    p = preset = resolve(preset)
    fr = _fractions(fractions, preset)
    specs = []
    for arch in archs:
        if arch not in p.archs:
            raise ValueError(f"arch {arch!r} is not in the {preset_name(preset)!r} preset (has {sorted(p.archs)})")
        base = {"optim.name": "adamw_cosine", "optim.mup": False, "optim.warmup_steps": _warmup_steps(warmup, preset, arch),
                "optim.min_lr_ratio": min_lr_ratio, "train.patience": patience}
        if amp != "preset":
            base["train.amp"] = amp
        if threads:
            base["runtime.threads"] = int(threads)
        common = {"dataset": "materials", "regime": "epochs", "base": base, "grid": {"optim.lr": [lr]},
                  "tags": ["materials"]}
        largest = dict(p.archs[arch].widths[-1])
        specs.append({"name": f"materials-params-{arch}", "archs": [arch], "fractions": [1.0], **common})
        specs.append({"name": f"materials-data-{arch}", "models": [{"name": arch, "hparams": [largest]}],
                      "fractions": list(fr), **common})
    return specs


def materials_study(preset: str | Preset, store="results", train_missing: bool = True, **options) -> pd.DataFrame:
    """Run (or read) every run of :func:`materials_specs` (``options`` are its keywords); return their curves, one
    row per evaluation, with ``n_train`` (training structures of the run, D) added from the run summaries."""
    preset = resolve(preset)

    frames = [run_study(spec, preset, store, train_missing) for spec in materials_specs(preset, **options)]
    curves = concat_studies(frames, ignore_index=True).drop_duplicates(["run_id", "step"]).reset_index(drop=True)
    rs = RunStore(store_path(store, preset))
    n_train = {r: (rs.read_summary(r) or {}).get("n_train") for r in curves["run_id"].unique()}
    return curves.assign(n_train=curves["run_id"].map(n_train))


def zero_output_loss(curves: pd.DataFrame, preset: str | Preset, store="results", train_missing: bool = True
                     ) -> float:
    """The loss of the all-zero predictor (mean energy, zero forces and stress) on the materials validation split
    (:func:`nnip.train.evaluate.zero_output_loss`): where Trikha et al.'s transformers plateau. Cached in the store;
    with ``train_missing=False`` a missing cache is an error (it would need the dataset)."""
    preset = resolve(preset)
    return cached_zero_output_loss(curves, preset, store, train_missing)


def scaling_points(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: ``run_id, arch, params, n_train, fraction, loss`` (best validation loss), ``flops`` (total)
    and the roles ``data`` (largest model of its architecture) and ``params`` (full training set)."""
    g = curves.sort_values("step").groupby("run_id", sort=False)
    pts = pd.DataFrame({
        "arch": g["arch"].first(), "params": g["params"].first().astype(int), "n_train": g["n_train"].first(),
        "fraction": g["data.fraction"].first().astype(float), "loss": g["val_loss"].min(), "flops": g["flops"].max(),
    }).reset_index()
    pts["data"] = pts["params"] == pts.groupby("arch")["params"].transform("max")
    pts["params_role"] = np.isclose(pts["fraction"], 1.0)
    return pts


def fit_laws(curves: pd.DataFrame, *, drop_first: float = 0.0, holdout_c: float = 0.25) -> dict:
    """``{(arch, axis): {"fit": PowerLaw | None, "are": float | None, "note": str, "x": …, "y": …}}`` for the axes
    D (best loss vs training structures of the largest model), P (best loss vs parameters at full data) and C (the
    loss–FLOPs frontier); L = α·X^{−β} (``fit.F`` = α, ``fit.gamma`` = β). Backtests hold out the largest D or P
    run, and the top ``holdout_c`` of the frontier's log-compute range."""
    pts = scaling_points(curves)
    out = {}
    for arch in sorted(set(pts["arch"])):
        p = pts[pts["arch"] == arch]
        for axis, sel in (("D", p[p["data"]]), ("P", p[p["params_role"]])):
            col = _AXES[axis][0]
            sel = sel.sort_values(col)
            data = pd.DataFrame({col: sel[col].astype(float), "val_loss": sel["loss"], "run_id": sel["run_id"]})
            out[(arch, axis)] = _fit(data, col, holdout="largest", group="run_id")
        front = scaling.pareto_frontier(curves[curves["arch"] == arch], x="flops", y="val_loss", drop_first=drop_first)
        front = front[front["flops"] > 0]
        out[(arch, "C")] = _fit(front[["flops", "val_loss"]].astype(float), "flops", holdout=holdout_c, group=None)
    return out


def _fit(data: pd.DataFrame, col: str, *, holdout, group) -> dict:
    rep = fits.power_law_report(data, col, holdout=holdout, group=group)
    return {"fit": rep.estimate, "are": rep.backtest.are if rep.backtest is not None else None, "note": rep.note,
            "x": data[col].to_numpy(float), "y": data["val_loss"].to_numpy(float)}


@notes_left_out
def figure(curves: pd.DataFrame, zero_loss: float | None = None, *, drop_first: float = 0.0) -> tuple[Figure, pd.DataFrame]:
    """Three log–log panels, EquiformerV2 (blue) and the transformer (red): best validation loss vs training structures
    D (largest model; top left), vs parameters P (full data; top right), and the loss–FLOPs frontier over all runs
    (bottom) (faint: every run's
    curve); lines: L = α·X^{−β} fits; dashed: the all-zero predictor. The table: Trikha et al.'s α, β beside ours."""
    laws = fit_laws(curves, drop_first=drop_first)
    fig, panels = figures.panel_row(3, panel_width=3.9, height=3.9)  # room for the long loss label
    axes = dict(zip("DPC", panels))
    for arch in sorted(set(curves["arch"])):
        color, label = _COLORS.get(arch, "C2"), ARCH_LABELS.get(arch, arch)
        for run_id, run in curves[curves["arch"] == arch].sort_values("step").groupby("run_id", sort=False):
            axes["C"].plot(run["flops"], run["val_loss"], "-", color=color, alpha=0.2, lw=0.8)
        for axis, ax in axes.items():
            law = laws.get((arch, axis))
            if law is None or not len(law["x"]):
                continue
            fit = law["fit"]
            ax.plot(law["x"], law["y"], "o", color=color, ms=4,
                    label=label + (f": L = {fit.F:.3g}·{axis}^{-fit.gamma:+.3f}" if fit is not None else ""))
            if fit is not None:
                xs = np.geomspace(law["x"].min(), law["x"].max(), 60)
                ax.plot(xs, fit.predict(xs), "-", color=color, lw=1.2)
    for axis, ax in axes.items():
        if zero_loss is not None and np.isfinite(zero_loss):
            ax.axhline(zero_loss, color="k", ls="--", lw=1, label="all-zero predictor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(_AXES[axis][1])
        ax.set_ylabel("best validation loss (2.5E + 20F + 5S, normalised)" if axis != "C"
                      else "validation loss (2.5E + 20F + 5S, normalised)")
        ax.legend(fontsize="x-small")
    axes["D"].set_title("data scaling (largest model)", fontsize="medium")
    axes["P"].set_title("parameter scaling (full data)", fontsize="medium")
    axes["C"].set_title("compute scaling (Pareto frontier)", fontsize="medium")
    return figures.tidy_narrow_log_axes(fig), _table(laws, curves, zero_loss)


def _table(laws: dict, curves: pd.DataFrame, zero_loss: float | None) -> pd.DataFrame:
    names = {"D": "data", "P": "parameters", "C": "compute"}
    rows = []
    for (arch, axis) in sorted(laws, key=lambda k: ("DPC".index(k[1]), k[0])):
        law, paper = laws[(arch, axis)], PAPER_LAWS.get((arch, axis))
        fit, label = law["fit"], f"{ARCH_LABELS.get(arch, arch)}, {names[axis]}: L = α·{axis}^−β"
        note_p = "" if paper is not None else (
            f"paper: no fit; plateau at ≈ {TRANSFORMER_PLATEAU['loss']:g} below {TRANSFORMER_PLATEAU['below_flops']:.0e} FLOPs"
            if arch == "transformer" and axis == "C" else "paper: no fit")
        rows.append({"quantity": f"{label}: β", "paper": None if paper is None else paper["beta"],
                     "ours": fit.gamma if fit is not None else float("nan"), "backtest_are": law["are"],
                     "note": "; ".join(s for s in (law["note"], note_p) if s)})
        rows.append({"quantity": f"{label}: α", "paper": None if paper is None else paper["alpha"],
                     "ours": fit.F if fit is not None else float("nan"),
                     "note": "loss units differ (OMat24 unnormalised vs emt-alloys σ-normalised)"
                             + ("; D in structures" if axis == "D" else "")})
    tr = curves[curves["arch"] == "transformer"]
    if len(tr):
        below = tr[tr["flops"] < TRANSFORMER_PLATEAU["below_flops"]]
        best = float(below["val_loss"].min()) if len(below) else float("nan")
        rows.append({"quantity": f"Transformer: best loss below {TRANSFORMER_PLATEAU['below_flops']:.0e} FLOPs",
                     "paper": TRANSFORMER_PLATEAU["loss"], "ours": best,
                     "note": "paper: the loss of predicting zero forces; units differ"})
        if zero_loss is not None and math.isfinite(zero_loss) and zero_loss > 0:
            rows.append({"quantity": "Transformer: that loss / the all-zero predictor's", "paper": None,
                         "ours": best / zero_loss, "note": f"≈ 1 means the plateau (ours: zero-output loss {zero_loss:.3g})"})
    return comparison_table(rows)
