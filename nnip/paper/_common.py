"""Shared plumbing of the paper modules: locating the run store, running a study, paper-vs-ours tables."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

__all__ = ["ARCH_LABELS", "PAPER_ARCHS", "comparison_table", "project_root", "run_study", "select_archs", "store_path"]

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
    names how many are missing and where. Failed runs (e.g. diverged) are excluded with a warning naming them.
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
    failed = sorted(set(curves.loc[curves["status"] == "failed", "run_id"])) if len(curves) else []
    if failed:
        warnings.warn(f"study {spec.get('name')!r}: excluding {len(failed)} failed run(s): {failed}", stacklevel=2)
        curves = curves[curves["status"] != "failed"]
    if not len(curves):
        raise RuntimeError(f"study {spec.get('name')!r}: no finished runs in {root}")
    return curves.reset_index(drop=True)


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
