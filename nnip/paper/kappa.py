"""κ against width (Fig. 2's chapter): why our CPU-scale κ is larger than the paper's, measured.

κ of eq. (3) is forward FLOPs per parameter per atom. For a message-passing model a forward pass costs about
(parameters applied per atom) + (per-edge work × edges per atom). The per-atom part is ≈ 2 FLOPs per parameter (a
multiply and an add), like a transformer's κ ≈ 2; the per-edge work grows like the width w (edge features, radial
filters, gathers and scatters of w-channel messages) while N grows like w². So κ = 2 + O(edges per atom / w) falls
towards the dense-layer value as the width grows: at the paper's widths our MPNN has κ ≈ 2.1–2.4, like the paper's
2.33, while at CPU widths the edge term is not yet negligible. :func:`measure` counts forward FLOPs of freshly
initialised models (no training) on one batch of the preset's validation structures, for the preset's CPU ladder and
the paper's ladder (Tables 3–6, models up to :data:`MAX_PARAMS`), and :func:`fig_kappa_width` plots κ against width
with the κ measured along each main-study run (C / 3ND).

The table is part of the run store (``<store>/kappa_vs_width.csv``): the book reads it and never recomputes it
(:func:`load`, an error naming the file when it is missing); ``python -m nnip.paper.kappa --preset cpu`` writes it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.data import collate
from nnip.models import build_model, count_parameters, ladder
from nnip.paper._common import ARCH_LABELS, PAPER_ARCHS, comparison_table, preset_name, store_path
from nnip.paper.main import main_spec
from nnip.presets import Preset, resolve
from nnip.sweep import expand
from nnip.train.pipeline import load_data
from nnip.train.flops import kappa

__all__ = ["MAX_PARAMS", "FILE", "measure", "load", "kappa_table", "fig_kappa_width", "main"]

#: paper-ladder models larger than this are not built (memory and time; the tiny preset only proves the wiring)
MAX_PARAMS = {"tiny": 250_000, "cpu": 20_000_000, "paper": 20_000_000}
#: the table's file name inside a preset's run store
FILE = "kappa_vs_width.csv"
#: validation structures in the measuring batch
N_STRUCTURES = 64


def _batch_atoms(preset: str | Preset) -> list:
    """The first :data:`N_STRUCTURES` validation structures of the preset's molecular dataset (the trainer's split)."""
    cfg = expand(main_spec("mpnn"), preset)[0]
    return list(load_data(cfg.resolved().data, max_val=N_STRUCTURES).val)


def measure(preset: str | Preset) -> pd.DataFrame:
    """κ (forward FLOPs / atom / N) and edges per atom for every main architecture on its ``preset`` ladder and on
    the paper's ladder (N ≤ :data:`MAX_PARAMS` of the preset), on one batch of validation structures. Deterministic up to the
    FLOP counter; takes about a minute on one core."""
    preset = resolve(preset)
    atoms = _batch_atoms(preset)
    scale = preset.archs
    rows = []
    for arch in PAPER_ARCHS:
        entries = [("cpu", {**scale[arch].extra, **dict(w)}) for w in scale[arch].widths]
        entries += [("paper", h) for h in ladder(arch)]
        for ladder_name, h in entries:
            with torch.device("meta"):
                n = count_parameters(build_model(arch, **h))
            if n > MAX_PARAMS.get(preset_name(preset), MAX_PARAMS["cpu"]):
                continue
            torch.manual_seed(0)
            model = build_model(arch, **h)
            batch = collate(atoms, cutoff=model.cutoff, max_neighbors=model.max_neighbors)
            with torch.no_grad():
                k = kappa(model, [batch])
            rows.append({"arch": arch, "ladder": ladder_name, "width": int(model.width), "params": int(n),
                         "kappa": float(k), "edges_per_atom": batch.edge_index.shape[1] / batch.pos.shape[0]})
    return pd.DataFrame(rows)


def path(preset: str | Preset, store="results") -> Path:
    preset = resolve(preset)
    return store_path(store, preset) / FILE


def load(preset: str | Preset, store="results") -> pd.DataFrame:
    """The stored κ-vs-width table; ``FileNotFoundError`` naming the file and the command that writes it."""
    preset = resolve(preset)
    p = path(preset, store)
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: write it with "
                                f"`python -m nnip.paper.kappa --preset {preset_name(preset)}`")
    return pd.read_csv(p)


def kappa_table(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """The stored table (:func:`load`); when it is missing and ``train_missing``, :func:`measure` it and store it
    first (like a missing run), else the error of :func:`load`."""
    preset = resolve(preset)
    p = path(preset, store)
    if p.exists() or not train_missing:
        return load(preset, store)
    p.parent.mkdir(parents=True, exist_ok=True)
    table = measure(preset)
    tmp = p.with_suffix(".tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(p)
    return table


def _run_kappa(curves: pd.DataFrame) -> pd.DataFrame:
    """κ along each run, C / (3 N D) at its last evaluation, with the model's width."""
    last = curves.loc[curves.groupby("run_id")["step"].idxmax()]
    last = last[(last["atoms_seen"] > 0) & (last["flops"] > 0)]
    return last.assign(kappa=last["flops"] / (3.0 * last["params"] * last["atoms_seen"]))


def fig_kappa_width(table: pd.DataFrame, curves: pd.DataFrame | None = None, preset: str | Preset = "cpu"
                    ) -> tuple[Figure, pd.DataFrame]:
    """κ against width per architecture (log–log): counted forward FLOPs on the CPU ladder (solid) and the paper's
    ladder (dashed), κ along each main-study run (C / 3ND, crosses) and the paper's Fig. 2 value (dotted). Table:
    κ at the smallest and largest width of each ladder beside the paper's κ."""
    runs = _run_kappa(curves) if curves is not None and len(curves) else None
    archs = [a for a in PAPER_ARCHS if (table["arch"] == a).any()]
    fig, axes = figures.panel_row(len(archs), panel_width=3.3)
    rows = []
    for ax, arch in zip(axes, archs):
        d = table[table["arch"] == arch]
        for name, style in (("cpu", "o-"), ("paper", "s--")):
            g = d[d["ladder"] == name].sort_values("width")
            if len(g):
                ax.plot(g["width"], g["kappa"], style, ms=4, label=f"{name} ladder (counted)")
                rows.append({"quantity": f"{ARCH_LABELS[arch]}: κ on the {name} ladder, width "
                                         f"{int(g['width'].iloc[0])} → {int(g['width'].iloc[-1])}",
                             "paper": scaling.PAPER[arch]["kappa"],
                             "ours": float(g["kappa"].iloc[-1]),
                             "note": f"κ = {g['kappa'].iloc[0]:.3g} at the smallest width; "
                                     f"{g['edges_per_atom'].iloc[0]:.1f} edges per atom"})
        if runs is not None and (runs["arch"] == arch).any():
            r = runs[runs["arch"] == arch]
            ax.plot([_width(arch, row) for _, row in r.iterrows()], r["kappa"], "x", color="k",
                    label="main-study runs (C / 3ND)")
        ax.axhline(scaling.PAPER[arch]["kappa"], ls=":", color="grey", label="paper (Fig. 2)")
        ax.set(xscale="log", yscale="log", xlabel="model width w", title=ARCH_LABELS[arch])
        figures.tidy_log_axes(ax)
        ax.legend(fontsize="x-small")
    for ax in axes[::2]:  # the left-hand panel of each row (two per row)
        ax.set_ylabel("κ [forward FLOPs / parameter / atom]")
    fig.suptitle(f"κ against width: the per-edge term fades as N ∝ w² outgrows it ({preset_name(preset)} preset)",
                 fontsize="medium", wrap=True)
    return fig, comparison_table(rows)


def _width(arch: str, row: pd.Series) -> float:
    """The model width of a run from its flattened hyper-parameter columns (``model.hparams.*``)."""
    prefix = "model.hparams."
    h = {k[len(prefix):]: (int(v) if isinstance(v, float) and v.is_integer() else v)
         for k, v in row.items() if k.startswith(prefix) and not _missing(v)}
    with torch.device("meta"):
        return float(build_model(arch, **h).width)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nnip.paper.kappa", description="write <store>/" + FILE)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--store", default="results")
    args = p.parse_args(argv)
    out = path(args.preset, args.store)
    out.unlink(missing_ok=True)
    table = kappa_table(args.preset, args.store, train_missing=True)
    print(f"wrote {out} ({len(table)} rows)")
    return 0 if math.isfinite(table["kappa"].sum()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
