"""``nnip plan``: the compute-optimal N*, D* and loss at a FLOP budget (eq. 6–7), from a run store or the paper.

- :func:`select_runs` — the evaluations of one architecture's runs that a fit can use, and the runs left out (why).
- :func:`plan_from_curves` — eq. (5) on those evaluations, κ of eq. (3), eq. (6)–(7) at the budget, 95% intervals.
- :func:`plan` / :func:`plan_cli` — ``nnip plan --arch A --budget-pflops X [--store PATH | --paper]``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nnip.presets import Analysis
from nnip.runs import RunStore
from nnip.scaling._checks import need_columns
from nnip.scaling.allocation import compute_optimal, fit_kappa
from nnip.scaling.bootstrap import bootstrap
from nnip.scaling.frontier import prepare_curves
from nnip.scaling.laws import SumPowerLaw, fit_sum_power_law

__all__ = ["select_runs", "plan_from_curves", "plan", "plan_cli"]


def select_runs(curves: pd.DataFrame, summaries: pd.DataFrame, arch: str, *, what: str = "plan"
                ) -> tuple[pd.DataFrame, dict[str, str], int]:
    """The evaluations of ``arch``'s runs that a fit can use: ``(evaluations, left_out, n_dropped)``.

    ``summaries`` (``run_id, arch, params[, status, reason]``, as :meth:`nnip.runs.RunStore.summaries`) decides which
    runs count: every run of ``arch`` whose status is not ``failed``; their ``params`` replace any in ``curves``.
    Evaluations before any training (``atoms_seen`` or ``flops`` 0) and with a non-finite ``val_loss`` are dropped
    (``n_dropped`` of them). The runs of ``arch`` left out entirely (failed, e.g. diverged at step 1, or without a
    usable evaluation) are named with the reason in ``left_out`` (run id → reason) and in a warning
    (``f"{what}: left …"``). ``ValueError`` when ``arch`` has no runs or no usable evaluation.
    """
    need_columns("summaries", summaries, ["run_id", "arch", "params"])
    need_columns("curves", curves, ["run_id", "atoms_seen", "flops", "val_loss"])
    runs = summaries[summaries["arch"] == arch]
    left_out: dict[str, str] = {}
    if "status" in runs.columns:
        failed = runs["status"].astype(str).str.lower() == "failed"
        reasons = runs["reason"] if "reason" in runs.columns else pd.Series("", index=runs.index)
        left_out.update({str(r): f"failed: {why}" for r, why in zip(runs.loc[failed, "run_id"], reasons[failed])})
        runs = runs[~failed]
    if runs.empty:
        raise ValueError(f"arch: no runs of {arch!r} in the store; archs present: {sorted(summaries['arch'].unique())}")
    cols = [c for c in curves.columns if c not in ("params", "arch", "status")]  # summaries are the truth
    df = curves[cols].merge(runs[["run_id", "params"]], on="run_id", how="inner")
    n_all = len(df)
    vals = df[["atoms_seen", "flops", "val_loss"]].apply(pd.to_numeric, errors="coerce")
    df = df[(vals["atoms_seen"] > 0) & (vals["flops"] > 0) & np.isfinite(vals["val_loss"])]
    for r in sorted(set(runs["run_id"]) - set(df["run_id"])):
        left_out[str(r)] = "no evaluation after training with a finite val_loss"
    if left_out:
        warnings.warn(f"{what}: left {len(left_out)} run(s) of {arch!r} out of the fit: "
                      + "; ".join(f"{r}: {why}" for r, why in left_out.items()), stacklevel=3)
    if df.empty:
        raise ValueError(f"curves: no evaluations with atoms_seen > 0 and a finite val_loss for the runs of {arch!r}")
    return df, left_out, n_all - len(df)


def plan_from_curves(curves: pd.DataFrame, summaries: pd.DataFrame, arch: str, budget_pflops: float,
                     n_boot: int = 200, seed: int = 0, drop_first: float = Analysis.drop_first,
                     kappa: float | None = None) -> dict[str, Any]:
    """Compute-optimal plan from learning curves: fit eq. (5) on the runs of ``arch`` (first ``drop_first`` of
    each run's steps dropped, §3.2), κ from the same curves (eq. 3) unless given, then eq. (6)–(7) at the
    budget, with a run-level bootstrap 95% interval (``n_boot`` resamples, κ held fixed).

    The runs and evaluations that count are those of :func:`select_runs`; ``n_dropped`` counts the evaluations it
    drops plus the first steps dropped; the runs it leaves out are named (with the reason) in a warning and in
    ``left_out``.
    """
    need_columns("summaries", summaries, ["run_id", "arch", "params"])
    need_columns("curves", curves, ["run_id", "atoms_seen", "flops", "val_loss"])
    if not budget_pflops > 0:
        raise ValueError(f"budget_pflops: must be > 0, got {budget_pflops}")
    df, left_out, n_dropped = select_runs(curves, summaries, arch)
    n_selected = len(df)
    df = prepare_curves(df, "atoms_seen", "val_loss", drop_first, None, "run_id")
    n_dropped += n_selected - len(df)  # and the first steps
    if kappa is None:
        kappa = fit_kappa(df["flops"], df["params"], df["atoms_seen"]).kappa

    def fit_fn(d: pd.DataFrame) -> SumPowerLaw:
        return fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], run_id=d["run_id"])

    def at_budget(fit: Any) -> dict[str, float]:
        co = compute_optimal(fit, kappa, unit="pflops")
        return {"N_opt": float(co.N_opt(budget_pflops)), "D_opt": float(co.D_opt(budget_pflops)),
                "loss": float(co.loss(budget_pflops)), **co.as_dict()}

    boot = bootstrap(fit_fn, df, n=n_boot, seed=seed, derived=at_budget)
    out = {"arch": arch, "budget_pflops": float(budget_pflops), "kappa": float(kappa),
           "n_runs": int(df["run_id"].nunique()), "n_points": len(df), "n_dropped": n_dropped,
           "left_out": left_out,
           **at_budget(boot.estimate)}
    out["ci"] = {k: boot.ci(k) for k in ("N_opt", "D_opt", "loss", "a", "b", "F_c", "gamma_c")}
    out["fit"] = boot.estimate.params()
    return out


def plan(arch: str, budget_pflops: float, store: str | None = None, paper: bool = False, n_boot: int = 200,
         seed: int = 0) -> dict[str, Any]:
    """Compute-optimal N*, D* and predicted loss (eq. 6–7) at ``budget_pflops``.

    ``paper=True`` uses Table 7's point estimates and Fig. 2's κ (no interval); ``store`` reads
    ``nnip.runs.RunStore(store).curves()/.summaries()`` and calls :func:`plan_from_curves`.
    """
    if paper == (store is not None):
        raise ValueError("store, paper: give exactly one of store=PATH or paper=True")
    if not budget_pflops > 0:
        raise ValueError(f"budget_pflops: must be > 0, got {budget_pflops}")
    if paper:
        from nnip.paper.published import PAPER, paper_key, paper_params  # lazy: nnip.paper imports nnip.scaling

        key = paper_key(arch)
        co = compute_optimal(paper_params(key), PAPER[key]["kappa"], unit="pflops")
        return {"arch": key, "budget_pflops": float(budget_pflops), "kappa": PAPER[key]["kappa"],
                "source": "paper (Table 7, Fig. 2 κ)", "N_opt": float(co.N_opt(budget_pflops)),
                "D_opt": float(co.D_opt(budget_pflops)), "loss": float(co.loss(budget_pflops)), **co.as_dict(),
                "ci": None, "fit": paper_params(key)}
    if not Path(store).is_dir():
        raise ValueError(f"store: no run store at {store} (the directory does not exist)")
    rs = RunStore(store)
    out = plan_from_curves(rs.curves(), rs.summaries(), arch, budget_pflops, n_boot=n_boot, seed=seed)
    out["source"] = f"store {store}"
    return out


def _format_plan(p: Mapping[str, Any]) -> str:
    rows = [("N* [parameters]", "N_opt"), ("D* [training atoms]", "D_opt"), ("loss L(C) (eq. 7)", "loss"),
            ("a (N* ∝ C^a)", "a"), ("b (D* ∝ C^b)", "b"), ("F_c [C in PFLOPs]", "F_c"), ("gamma_c", "gamma_c")]
    ci = p.get("ci") or {}
    lines = [f"nnip plan: {p['arch']} at {p['budget_pflops']:.4g} PFLOPs  (source: {p['source']}; "
             f"kappa = {p['kappa']:.4g})", f"{'quantity':<22}{'estimate':>12}   95% CI"]
    for label, key in rows:
        lo_hi = ci.get(key)
        band = f"[{lo_hi[0]:.4g}, {lo_hi[1]:.4g}]" if lo_hi else "-"
        lines.append(f"{label:<22}{p[key]:>12.4g}   {band}")
    for run_id, why in (p.get("left_out") or {}).items():
        lines.append(f"left out of the fit: run {run_id}: {why}")
    return "\n".join(lines)


def plan_cli(argv: list[str] | None = None) -> int:
    """``nnip plan --arch A --budget-pflops X [--store PATH | --paper]``: print the compute-optimal plan."""
    ap = argparse.ArgumentParser(prog="nnip plan", description="Compute-optimal N*, D* and loss (eq. 6-7).")
    ap.add_argument("--arch", required=True, help="model registry name (mpnn, egnn, gemnet_oc, esen, ...)")
    ap.add_argument("--budget-pflops", type=float, required=True, help="training compute budget C [PFLOPs]")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", help="run store to fit (nnip.runs.RunStore)")
    src.add_argument("--paper", action="store_true", help="use the paper's Table 7 fit and Fig. 2 kappa")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples for the 95%% interval")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        result = plan(args.arch, args.budget_pflops, store=args.store, paper=args.paper, n_boot=args.n_boot,
                      seed=args.seed)
    except ValueError as err:  # bad arch, missing or empty store, degenerate data: one line, not a traceback
        print(f"nnip plan: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(_format_plan(result))
    return 0
