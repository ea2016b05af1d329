"""The main scaling study of Ngo & Ravanbakhsh (2025) — Fig. 1–6 and Tables 1, 7 — and its Fig. 4 variant.

Two studies (sweep specs, :mod:`nnip.sweep`), run at a preset's scale by :func:`nnip.paper.run_study`:

- :data:`MAIN` — the four paper architectures (MPNN, MC-EGNN, GemNet-OC, eSEN) over the preset's ladder entries,
  single-epoch streaming on the molecular dataset (§3). One run per model size N; ``L(D)`` for ``D < D_max`` is read
  off the run's intermediate evaluations (``atoms_seen``), as the paper does with a schedule-free optimiser (§3.2).
- :func:`lmax_spec` — eSEN at ``l_max ∈ {2, 3, 4}`` over the preset's first ``lmax_rungs`` eSEN widths on
  ``lmax_fraction`` of the stream (Fig. 4; the whole ladder and stream unless the preset says otherwise).

The items live by the paper's sections and are re-exported here (``main.fig1`` … ``main.table7``):
:mod:`nnip.paper.frontiers` — Fig. 1–4 (the frontiers, eq. 4, and κ, eq. 3); :mod:`nnip.paper.compute_optimal` —
Fig. 5, 6 and Tables 1, 7 (the sum-power-law eq. 5 and the compute-optimal allocation, eq. 6–7). The analysis
choices per preset (bootstrap size, dropped first steps, EMA smoothing, backtest hold-out) live in the preset
(:class:`nnip.presets.Analysis`), read through :mod:`nnip.paper.fits`, not in notebooks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from nnip import figures
from nnip.paper._common import PAPER_ARCHS, run_study, select_archs
from nnip.paper.compute_optimal import fig5, fig6, table1, table7
from nnip.paper.fits import truncate
from nnip.paper.frontiers import LMAX_KEY, fig1, fig2, fig3, fig4
from nnip.presets import Preset, resolve

__all__ = ["MAIN", "LMAX", "main_spec", "main_study", "lmax_spec", "lmax_study", "training_health", "SPIKE", "fig1",
           "fig2", "fig3", "fig4", "fig5", "fig6", "table1", "table7"]

#: The main study (§3, §4): the four architectures of Fig. 1 and Tables 1, 7, one streaming epoch.
MAIN: dict[str, Any] = {"name": "main", "dataset": "molecules", "archs": list(PAPER_ARCHS), "tags": ["main"]}
#: Fig. 4: eSEN with higher-order features, over the preset's eSEN widths.
LMAX: dict[str, Any] = {"name": "fig4-esen-lmax", "dataset": "molecules", "archs": ["esen"],
                        "grid": {LMAX_KEY: [2, 3, 4]}, "tags": ["fig4"]}

figures.enable_notebook_display()  # a notebook cell ``fig`` shows the image (figures are built without pyplot)


# ----------------------------------------------------------------------------------------------------------
# Studies
# ----------------------------------------------------------------------------------------------------------

def main_spec(archs: str | list = "all") -> dict[str, Any]:
    """:data:`MAIN` restricted to ``archs`` ("all", "esen", "mpnn,esen" or a list); run ids do not depend on it."""
    return {**MAIN, "archs": select_archs(archs)}


def main_study(preset: str | Preset, store: str = "results", train_missing: bool = True, archs: str | list = "all"
               ) -> pd.DataFrame:
    """Curves of the main study's finished runs (:func:`nnip.paper.run_study` of :func:`main_spec`)."""
    preset = resolve(preset)
    return run_study(main_spec(archs), preset, store, train_missing)


def lmax_spec(preset: str | Preset) -> dict[str, Any]:
    """:data:`LMAX` at ``preset``: the eSEN rungs and stream fraction of ``Preset.lmax_rungs``/``lmax_fraction``
    (all rungs and the whole stream: the runs at the preset's own ``l_max`` are the main study's, cache hits).

    With a stream fraction below 1 the grid leaves out the preset's own ``l_max``: those curves are the main study's
    runs truncated at that fraction (:func:`lmax_study`), which is exactly the shorter run (:func:`fits.truncate`)."""
    p = resolve(preset)
    if p.lmax_rungs is None and p.lmax_fraction == 1.0:
        return LMAX
    entry = p.archs["esen"]
    widths = [{**entry.extra, **dict(w)} for w in entry.widths[: p.lmax_rungs]]
    grid = dict(LMAX["grid"])
    if p.lmax_fraction < 1.0 and "l_max" in entry.extra:
        grid[LMAX_KEY] = [lm for lm in grid[LMAX_KEY] if lm != entry.extra["l_max"]]
    return {**{k: v for k, v in LMAX.items() if k not in ("archs", "grid")}, "grid": grid,
            "models": [{"name": "esen", "hparams": widths}], "fractions": [float(p.lmax_fraction)]}


def lmax_study(preset: str | Preset, store: str = "results", train_missing: bool = True) -> pd.DataFrame:
    """Curves of :func:`lmax_spec` (Fig. 4), with the preset's own ``l_max`` read off the main study's runs of the
    same rungs, truncated at ``Preset.lmax_fraction`` when the spec leaves it out."""
    preset = resolve(preset)
    spec = lmax_spec(preset)
    curves = run_study(spec, preset, store, train_missing)
    own = preset.archs["esen"].extra.get("l_max")
    if own is None or own in spec["grid"][LMAX_KEY]:
        return curves
    channels = [h["sphere_channels"] for h in spec["models"][0]["hparams"]]
    main = run_study(main_spec("esen"), preset, store, train_missing)
    main = main[main["model.hparams.sphere_channels"].isin(channels)]
    main = truncate(main, preset.lmax_fraction).assign(**{LMAX_KEY: own})
    return pd.concat([main, curves], ignore_index=True)


#: a run "spiked" when its validation loss rose above this multiple of its own best-so-far
SPIKE = 2.0


def training_health(curves: pd.DataFrame, skip: float = 0.05) -> pd.DataFrame:
    """One row per run: its final and best validation loss and its largest rise above its own best-so-far
    (``val_loss / running minimum`` over the evaluations after the first ``skip`` of its steps) with the step where
    it happened; ``spiked`` when that rise exceeds :data:`SPIKE`. A diagnostic shown next to the fits, never used to
    drop or change a point: a spike is a training failure the reader should see, not something the analysis hides."""
    rows = []
    for run_id, c in curves.sort_values("step").groupby("run_id", sort=False):
        late = c[c["step"] >= skip * c["step"].max()]
        rise = late["val_loss"] / c["val_loss"].cummin().loc[late.index]
        worst = rise.idxmax() if len(rise) else None
        rows.append({"arch": c["arch"].iloc[0], "run_id": run_id, "params": int(c["params"].iloc[0]),
                     "final val loss": float(c["val_loss"].iloc[-1]), "best val loss": float(c["val_loss"].min()),
                     "largest rise": float(rise.max()) if worst is not None else float("nan"),
                     "at step": int(c.loc[worst, "step"]) if worst is not None else -1,
                     "spiked": bool(worst is not None and rise.max() > SPIKE)})
    return pd.DataFrame(rows).sort_values(["arch", "params"], ignore_index=True)
