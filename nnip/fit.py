"""``nnip fit STORE --arch A``: the scaling laws of one architecture in your own run store, with 95% intervals.

The analysis of the paper's §4 on a user's sweep, by the very functions the book runs (:mod:`nnip.scaling.analysis`;
the book adds only its presets' settings, :mod:`nnip.paper.fits`), so a store fitted here and on a book page gives the
same numbers for the same settings:

``RunStore.curves()`` → :func:`~nnip.scaling.select_runs` (failed runs and runs without a usable evaluation are
left out, and named) → :func:`~nnip.scaling.prepare_evaluations` (each run's first ``drop_first`` of steps dropped,
§3.2; compute columns) → three :class:`~nnip.scaling.Report` s, each bootstrapped over whole runs (App. E) and
backtested:

- the Pareto frontier of loss against compute ``C`` (PFLOPs) or training wall clock ``H`` (hours) and its eq. (4)
  fit ``L = F x^{-γ}`` (§4.1); backtest: the frontier points in the top ``holdout`` of the log-range of ``x``;
- κ of eq. (3), ``C = 3κND`` through the origin over every evaluation with D > 0 (Fig. 2); backtest: κ of the
  smaller models predicts the largest
  model's FLOPs;
- the sum-power-law eq. (5) ``L = A N^{-α} + B D^{-β}`` (§4.2) and, with κ, the compute-optimal allocation of
  eq. (6)–(7) ``N* ∝ C^a``, ``D* ∝ C^b``, ``L = F_c C^{-γ_c}`` (C in PFLOPs, §4.3); backtest: the largest model.

:func:`fit_store` returns a :class:`StoreFit` (the reports and a tidy :attr:`StoreFit.table`); :func:`figure` draws
the frontier and the two panels of the sum-power-law; :func:`fit_cli` is the command line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.presets import Analysis
from nnip.runs import RunStore

__all__ = ["StoreFit", "fit_store", "figure", "fit_cli"]

#: ``--x`` → (the column added to the evaluations, its axis label)
X_AXES = {"flops": (scaling.X_FLOPS, "compute C [PFLOPs]"), "hours": (scaling.X_HOURS, "training wall clock H [hours]")}


@dataclass(frozen=True, eq=False)
class StoreFit:
    """What :func:`fit_store` found: three reports, the points they were fitted on, and one table of them all."""

    store: str
    arch: str
    x: str
    points: pd.DataFrame  # the evaluations fitted (prepared), with the x column
    frontier: pd.DataFrame  # the Pareto frontier of ``points`` in the x column
    frontier_report: scaling.Report
    kappa_report: scaling.Report
    sum_report: scaling.Report
    excluded: dict[str, str]  # run id → why it was left out

    @property
    def table(self) -> pd.DataFrame:
        """One row per quantity: ``law, quantity, estimate, lo, hi, backtest_are, note`` (NaN where not defined)."""
        sym = "C" if self.x == "flops" else "H"
        unit = "C in PFLOPs" if self.x == "flops" else "H in hours"
        rows = [("frontier eq. (4)", f"F_{sym.lower()} [{unit}]", self.frontier_report, "F"),
                ("frontier eq. (4)", f"gamma_{sym.lower()}", self.frontier_report, "gamma"),
                ("kappa eq. (3)", "kappa [FLOPs per parameter per atom]", self.kappa_report, "kappa"),
                *[("sum-power-law eq. (5)", q, self.sum_report, q) for q in ("A", "B", "alpha", "beta")],
                *[("compute-optimal eq. (6)-(7)", q, self.sum_report, key) for q, key in
                  (("a (N* ~ C^a)", "a"), ("b (D* ~ C^b)", "b"), ("G", "G"), ("F_c [C in PFLOPs]", "F_c"),
                   ("gamma_c", "gamma_c"))]]
        out = []
        for law, quantity, rep, key in rows:
            lo, hi = rep.ci(key) or (math.nan, math.nan)
            bt = rep.backtest.are if rep.backtest is not None and law != "compute-optimal eq. (6)-(7)" else math.nan
            out.append({"law": law, "quantity": quantity, "estimate": rep.value(key), "lo": lo, "hi": hi,
                        "backtest_are": bt, "note": rep.note})
        return pd.DataFrame(out)


def fit_store(store: str | Path, arch: str, *, x: str = "flops", n_boot: int = 1000, seed: int = 0,
              drop_first: float = Analysis.drop_first, holdout: float = Analysis.holdout, tag: str | None = None
              ) -> StoreFit:
    """Frontier, κ, sum-power-law and compute-optimal allocation of ``arch``'s runs in ``store`` (module docstring).

    Args:
        store: a run store directory (:class:`nnip.runs.RunStore`).
        arch: the model registry name of the runs to fit (``summary.json``'s ``arch``).
        x: the frontier's cost, ``"flops"`` (measured training FLOPs, in PFLOPs) or ``"hours"`` (training wall
            clock: ``wall_s_train`` when recorded, else ``wall_s``).
        n_boot, seed: bootstrap resamples of whole runs and their seed.
        drop_first: fraction of each run's steps dropped before fitting (§3.2: 1–10%).
        holdout: the frontier backtest holds out the top ``holdout`` of the log-range of ``x``.

    Raises ``ValueError`` naming the argument for a missing store, an unknown ``arch`` (listing those present), an
    ``x`` other than flops/hours, or a store without one usable evaluation of ``arch``; a fit that the data cannot
    support (too few runs, one model size, …) is not an error but a note in its report and an empty table row.
    """
    if x not in X_AXES:
        raise ValueError(f"x: must be one of {sorted(X_AXES)}, got {x!r}")
    if not Path(store).is_dir():
        raise ValueError(f"store: no run store at {store} (the directory does not exist)")
    rs = RunStore(store)
    summaries = rs.summaries()
    if summaries.empty:
        raise ValueError(f"store: {store} holds no runs (no runs/<id>/summary.json)")
    if tag is not None:  # one study of a store that holds several (e.g. the book's: --tag main)
        tags = summaries["tags"] if "tags" in summaries.columns else pd.Series("", index=summaries.index)
        keep = tags.fillna("").astype(str).map(lambda t: tag in (json.loads(t) if t.startswith("[") else t.split(",")))
        if not keep.any():
            raise ValueError(f"tag: no run of {store} is tagged {tag!r}")
        summaries = summaries[keep]
    with warnings.catch_warnings():  # the runs left out are returned, and printed by the command
        warnings.filterwarnings("ignore", message="fit: left")
        curves, excluded, _ = scaling.select_runs(rs.curves(), summaries, arch, what="fit")
    col, _ = X_AXES[x]
    # the book's pipeline (nnip.scaling.analysis): prepare → frontier (eq. 4), κ (eq. 3), sum-power-law (eq. 5-7)
    df = scaling.prepare_evaluations(curves, drop_first=drop_first)
    points = df[["run_id", "step", "params", "atoms_seen", "flops", "val_loss", col]].reset_index(drop=True)
    on_x = points[np.isfinite(points[col]) & (points[col] > 0)]
    common = {"n_boot": n_boot, "seed": seed, "excluded": excluded}
    front, frontier_rep = scaling.frontier_report(on_x, col, holdout=holdout, **common)
    kappa_rep = scaling.kappa_report(curves, **common)
    sum_rep = scaling.sum_power_law_report(points, kappa_rep.value("kappa"), **common)
    return StoreFit(store=str(store), arch=arch, x=x, points=points, frontier=front, frontier_report=frontier_rep,
                    kappa_report=kappa_rep, sum_report=sum_rep, excluded=dict(excluded))


def figure(result: StoreFit) -> Figure:
    """Three log–log panels: the frontier with its eq. (4) fit and 95% band; L against D per model size with the
    eq. (5) fit; L against N at each model's largest D."""
    col, xlabel = X_AXES[result.x]
    fig, axes = figures.panel_row(3)
    pts = result.points[np.isfinite(result.points[col]) & (result.points[col] > 0)]
    rep = result.frontier_report
    fit = rep.boot if rep.boot is not None else rep.estimate
    figures.plot_frontier(pts, fits=fit, x=col, ax=axes[0])
    axes[0].set_xlabel(xlabel)
    axes[0].set_title(f"{result.arch}: Pareto frontier (eq. 4)", fontsize="medium")
    sum_rep = result.sum_report
    note = None if sum_rep.ok else sum_rep.note
    figures.plot_sum_power_law_panels(sum_rep.estimate, result.points, axes[1], axes[2], note=note,
                                      title=f"{result.arch}: sum-power-law (eq. 5)")
    return fig


def _format(result: StoreFit) -> str:
    t = result.table
    n_runs, n_points = result.points["run_id"].nunique(), len(result.points)
    lines = [f"nnip fit: {result.arch} in {result.store}  ({n_runs} runs, {n_points} evaluations; "
             f"95% CI over {result.sum_report.boot.n if result.sum_report.boot is not None else 0} run resamples)",
             f"{'law':<30}{'quantity':<38}{'estimate':>11}   {'95% CI':<24}{'backtest ARE':>12}"]

    def num(v: float) -> str:
        return f"{v:.4g}" if np.isfinite(v) else "-"

    for r in t.itertuples():
        band = f"[{num(r.lo)}, {num(r.hi)}]" if np.isfinite(r.lo) else "-"
        are = f"{100 * r.backtest_are:.1f}%" if np.isfinite(r.backtest_are) else "-"
        lines.append(f"{r.law:<30}{r.quantity:<38}{num(r.estimate):>11}   {band:<24}{are:>12}")
    notes = {}
    for name, rep in (("frontier", result.frontier_report), ("kappa", result.kappa_report),
                      ("sum-power-law", result.sum_report)):
        if rep.note:
            notes[name] = rep.note
    lines += [f"note ({name}): {note}" for name, note in notes.items()]
    lines += [f"left out of the fit: run {run_id}: {why}" for run_id, why in result.excluded.items()]
    return "\n".join(lines)


def fit_cli(argv: list[str] | None = None) -> int:
    """``nnip fit STORE --arch A [--x flops|hours] [--n-boot 1000] [--out table.csv] [--png fig.png]``."""
    ap = argparse.ArgumentParser(prog="nnip fit", description="Frontier (eq. 4), sum-power-law (eq. 5) and "
                                 "compute-optimal allocation (eq. 6-7) of one architecture's runs, with 95% intervals.")
    ap.add_argument("store", help="run store directory (nnip.runs.RunStore)")
    ap.add_argument("--arch", required=True, help="model registry name of the runs to fit (mpnn, esen, ...)")
    ap.add_argument("--x", choices=sorted(X_AXES), default="flops", help="frontier cost: FLOPs or wall-clock hours")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of whole runs (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--drop-first", type=float, default=Analysis.drop_first,
                    help=f"fraction of each run's steps dropped ({Analysis.drop_first})")
    ap.add_argument("--out", help="write the table as CSV here")
    ap.add_argument("--png", help="write the figure as PNG here")
    ap.add_argument("--tag", help="only the runs carrying this tag (a study of a store that holds several: main)")
    args = ap.parse_args(argv)
    try:
        if args.n_boot < 1:
            raise ValueError(f"n_boot: must be >= 1, got {args.n_boot}")
        result = fit_store(args.store, args.arch, x=args.x, n_boot=args.n_boot, seed=args.seed,
                           drop_first=args.drop_first, tag=args.tag)
        print(_format(result))
        for path in (args.out, args.png):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        if args.out:
            result.table.to_csv(args.out, index=False)
        if args.png:
            figure(result).savefig(args.png, dpi=120)
    except (ValueError, OSError) as err:  # bad store, arch or option, an unwritable output: one line
        print(f"nnip fit: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0
