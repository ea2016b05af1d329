"""Fig. 15 (App. J) of Ngo & Ravanbakhsh (2025): the MPNN with and without translation invariance.

:func:`translation_study` / :func:`fig15` → ``(Figure, "paper vs ours" table)``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from nnip import figures
from nnip.figures import AXIS
from nnip.paper import fits
from nnip.paper._common import comparison_table, concat_studies, notes_left_out, preset_name, report_row, run_study
from nnip.paper.main import main_spec
from nnip.paper.published import paper_frontier
from nnip.presets import Preset, resolve

__all__ = ["TRANSLATION_SPEC", "translation_study", "fig15"]

#: App. J: the MPNN fed absolute positions as well (the translation-invariant runs are the main study's MPNNs)
TRANSLATION_SPEC = {"name": "fig15-translation", "dataset": "molecules", "archs": ["mpnn"],
                    "grid": {"model.hparams.translation_invariant": [False]}}

_LABELS = {True: "translation-invariant (r_uv only)", False: "+ absolute positions (no T(3) invariance)"}

figures.enable_notebook_display()


def translation_study(preset: str | Preset, store="results", train_missing: bool = True) -> pd.DataFrame:
    """App. J: the main study's MPNNs (translation-invariant) and the same ladder fed absolute positions too
    (``model.hparams.translation_invariant = False``). Adds a bool column ``translation_invariant``."""
    preset = resolve(preset)
    ti = run_study(main_spec("mpnn"), preset, store, train_missing).assign(translation_invariant=True)
    no = run_study(TRANSLATION_SPEC, preset, store, train_missing).assign(translation_invariant=False)
    return concat_studies([ti, no], ignore_index=True)


@notes_left_out
def fig15(curves: pd.DataFrame, *, preset: str | Preset = "cpu", drop_first: float | None = None
          ) -> tuple[Figure, pd.DataFrame]:
    """Fig. 15: loss–compute frontiers of the MPNN with and without translation invariance (left, eq. 4 fits with
    L∞ = 0; its legend under the figure) and the final loss per model size (right); table: γ_c, F_c (C in PFLOPs) of
    both, with backtests."""
    preset = resolve(preset)
    curves = curves.assign(variant=curves["translation_invariant"].map(_LABELS))
    drop = fits.settings(preset).drop_first if drop_first is None else drop_first
    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_c, ax_n = fig.subplots(1, 2)
    reps = {ti: fits.curves_frontier(curves[curves["translation_invariant"] == ti], preset, n_boot=0,
                                     drop_first=drop)[1] for ti in (True, False)}
    draw = {_LABELS[ti]: fits.in_flops(rep.estimate) for ti, rep in reps.items() if rep.ok}
    figures.plot_frontier(curves, fits=draw, x="flops", by="variant", drop_first=drop, ax=ax_c)
    colors = {label: f"C{i}" for i, label in enumerate(sorted(curves["variant"].unique()))}  # as plot_frontier's
    for ti in (True, False):
        fin = fits.final(curves[curves["translation_invariant"] == ti]).sort_values("params")
        ax_n.plot(fin["params"], fin["val_loss"], "o-", color=colors.get(_LABELS[ti]), label=_LABELS[ti])
    ax_n.set_xscale("log")
    ax_n.set_yscale("log")
    ax_n.set_xlabel(AXIS["params"][1])
    ax_n.set_ylabel(f"final {AXIS['val_loss'][1]}")
    ax_n.legend(fontsize="x-small")
    figures.legend_below(fig, [ax_c], ncols=2)  # the frontier's long labels would hide its points

    rows = []
    for ti in (True, False):
        rep, tag = reps[ti], "with" if ti else "without"
        rows.append(report_row(f"γ_c, MPNN {tag} translation invariance", rep, "gamma",
                               paper_frontier("mpnn", "gamma_c") if ti else None,
                               "Table 1 (frontier)" if ti else "paper: no number; a performance drop"))
        rows.append(report_row(f"F_c [C in PFLOPs], {tag} translation invariance", rep, "F",
                               paper_frontier("mpnn", "F_c") if ti else None, backtest=False))
    fin = fits.final(curves)
    common = sorted(set(fin.loc[fin["translation_invariant"], "params"])
                    & set(fin.loc[~fin["translation_invariant"], "params"]))
    if common:
        n = common[-1]
        a = fin[(fin["params"] == n) & fin["translation_invariant"]]["val_loss"].iloc[0]
        b = fin[(fin["params"] == n) & ~fin["translation_invariant"]]["val_loss"].iloc[0]
        rows.append({"quantity": "final loss without / with translation invariance (largest N)", "paper": None,
                     "ours": float(b / a), "note": "paper: > 1 (a performance drop, Fig. 15)"})
    else:  # the two ladders differ in N when absolute positions add parameters: compare the largest of each
        a = fin[fin["translation_invariant"]]["val_loss"].min()
        b = fin[~fin["translation_invariant"]]["val_loss"].min()
        rows.append({"quantity": "best final loss without / with translation invariance", "paper": None,
                     "ours": float(b / a), "note": "paper: > 1 (a performance drop, Fig. 15)"})
    if preset_name(preset) == "tiny":
        rows[-1]["note"] += "; tiny preset: wiring only"
    return figures.tidy_narrow_log_axes(fig), comparison_table(rows)
