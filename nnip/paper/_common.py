"""Shared plumbing of the paper modules: locating the run store, running a study, paper-vs-ours tables."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import pandas as pd

__all__ = ["ARCH_LABELS", "PAPER_ARCHS", "comparison_table", "concat_studies", "left_out_of", "notes_left_out",
           "project_root", "run_study", "select_archs", "store_path"]

#: display names (Table 2 of Ngo & Ravanbakhsh: symmetry class in parentheses)
ARCH_LABELS = {
    "mpnn": "MPNN (unconstrained)",
    "egnn": "MC-EGNN (ℓ=1)",
    "gemnet_oc": "GemNet-OC (invariant, ℓ=0)",
    "esen": "eSEN (ℓ≥2)",
    "equiformer_v2": "EquiformerV2 (ℓ≥2)",
    "transformer": "Transformer (unconstrained)",
}
#: the four architectures of the main study, in the paper's order (Fig. 1, 5; Tables 1, 7)
PAPER_ARCHS = ("mpnn", "egnn", "gemnet_oc", "esen")


def project_root() -> Path:
    """The repository root: ``NNIP_ROOT`` if set, else the nearest parent of the working directory holding
    ``_config.yml`` and ``nnip/``, else the parent of the installed package (an editable install)."""
    if os.environ.get("NNIP_ROOT"):
        return Path(os.environ["NNIP_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "_config.yml").exists() and (d / "nnip").is_dir():
            return d
    return Path(__file__).resolve().parents[2]


def store_path(store: str | os.PathLike, preset: str) -> Path:
    """``store="results"`` (the notebooks' default) → ``<root>/results/<preset>``; an absolute path is used as is,
    another relative path is taken from the project root."""
    p = Path(store)
    if not p.is_absolute():
        p = project_root() / p
    return p / preset if p.name == "results" else p


def select_archs(arch: str | list | tuple, available=PAPER_ARCHS) -> list[str]:
    """``"all"`` → ``available``; ``"esen"`` or ``"mpnn,esen"`` or a list → those, checked against ``available``."""
    if isinstance(arch, str):
        names = list(available) if arch == "all" else [a.strip() for a in arch.split(",") if a.strip()]
    else:
        names = list(arch)
    unknown = [a for a in names if a not in available]
    if unknown or not names:
        raise ValueError(f"arch={arch!r}: choose 'all' or among {list(available)}")
    return names


def run_study(spec: dict, preset: str, store, train_missing: bool = True, *, workers: int = 1) -> pd.DataFrame:
    """Run (or read) every run of ``spec`` at ``preset`` scale; return their curves (``RunStore.curves`` rows).

    Runs already finished in the store are cache hits. With ``train_missing=False`` a missing run is an error that
    names how many are missing and where. Runs left out — failed (e.g. diverged, even at step 1), or without a single
    evaluation — are named with their reason in a warning and in ``curves.attrs["left_out"]`` (run id → reason),
    which :func:`notes_left_out` turns into a note under the figure's table.
    """
    from nnip.runs import RunStore
    from nnip.sweep import expand, missing, run_sweep

    root = store_path(store, preset)
    todo = missing(spec, preset, root)
    if todo and not train_missing:
        raise RuntimeError(
            f"{len(todo)} run(s) of study {spec.get('name')!r} are missing from {root}; "
            "run the notebook with train_missing=True (or `nnip sweep`) to train them"
        )
    if todo:
        run_sweep(spec, preset, root, progress=True)
    ids = [cfg.run_id() for cfg in expand(spec, preset)]
    rs = RunStore(root)
    curves = rs.curves(ids)
    left_out = rs.left_out(ids)
    if left_out:
        warnings.warn(f"study {spec.get('name')!r}: left {len(left_out)} run(s) out of the curves and fits: "
                      + _listing(left_out), stacklevel=2)
        if len(curves):
            curves = curves[~curves["run_id"].isin(list(left_out))]
    if not len(curves):
        raise RuntimeError(f"study {spec.get('name')!r}: no finished runs in {root}"
                           + (f" (left out: {_listing(left_out)})" if left_out else ""))
    curves = curves.reset_index(drop=True)
    curves.attrs["left_out"] = dict(left_out)
    return curves


def _listing(left_out: dict) -> str:
    return "; ".join(f"{run_id}: {why}" for run_id, why in left_out.items())


def left_out_of(*objs) -> dict:
    """The runs left out (run id → reason) recorded by :func:`run_study` on any DataFrame among ``objs`` (tuples and
    lists are searched too)."""
    out: dict = {}
    for obj in objs:
        if isinstance(obj, pd.DataFrame):
            out.update(obj.attrs.get("left_out") or {})
        elif isinstance(obj, (tuple, list)):
            out.update(left_out_of(*obj))
    return out


def concat_studies(frames: list[pd.DataFrame], **kwargs) -> pd.DataFrame:
    """``pd.concat`` of study curves that keeps every frame's runs left out (``attrs["left_out"]``)."""
    out = pd.concat(frames, **kwargs)
    out.attrs["left_out"] = left_out_of(*frames)
    return out


def notes_left_out(fn):
    """Decorator of a figure function ``(curves, ...) -> (figure, table)``: the runs left out of its studies (see
    :func:`run_study`) become a last row of the table, "runs left out of the fits", naming each run and why."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        left_out = left_out_of(*args, *kwargs.values())
        if not left_out or not (isinstance(result, tuple) and len(result) == 2
                                and isinstance(result[1], pd.DataFrame)):
            return result
        fig, table = result
        row = {c: "" for c in table.columns}
        row.update({"quantity": "runs left out of the fits", "ours": str(len(left_out)), "note": _listing(left_out)})
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        table.attrs["left_out"] = dict(left_out)
        return fig, table

    return wrapper


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The "paper vs ours" table shown under every figure: one row per quantity.

    Each row: ``quantity``, ``paper`` (number or None), ``ours`` (number), optional ``ci`` ((lo, hi)), optional
    ``backtest_are`` (absolute relative error of predicting the held-out largest run), optional ``note``.
    """
    out = []
    for r in rows:
        ci = r.get("ci")
        out.append({
            "quantity": r["quantity"],
            "paper": "" if r.get("paper") is None else f"{r['paper']:.3g}",
            "ours": f"{r['ours']:.3g}" + (f" [{ci[0]:.3g}–{ci[1]:.3g}]" if ci is not None else ""),
            "backtest ARE": "" if r.get("backtest_are") is None else f"{100 * r['backtest_are']:.1f}%",
            "note": r.get("note", ""),
        })
    return pd.DataFrame(out)
