"""Every training study of the book, by name: what ``python -m nnip.book --train`` runs and what the committed
store must hold.

A study is a sweep spec (:mod:`nnip.sweep`); the figure functions of :mod:`nnip.paper` read the same specs, so a run
listed here is exactly a run some page reads (the main study's runs are shared by Fig. 1–6, 13–16 and the MPNN
arms of Fig. 7, 15 and 16: run ids do not depend on the study that asked for them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from nnip.paper import (
    beyond_symmetry, diverse, hyperparameters, main, materials, multi_epoch, symmetry, transformer, translation, tuning,
    vector_channels,
)
from nnip.paper._common import preset_name, store_path
from nnip.presets import Preset, resolve
from nnip.runs import RunStore

__all__ = ["STUDIES", "IN_PRODUCTION", "specs", "run_ids", "in_production_run_ids", "missing_runs", "check_reads",
           "train_all", "cpu_hours", "fig_cost"]

#: name → function(preset) → list of sweep specs, in the order ``train_all`` runs them (cheap, decisive first)
STUDIES: dict[str, Callable[[str], list[dict]]] = {
    "tuning": lambda p: [tuning.tuning_spec(p)],
    "main": lambda p: [main.main_spec("all")],
    "fig4-lmax": lambda p: [main.lmax_spec(p)],
    "fig7-symmetry-loss": lambda p: [symmetry.symmetry_spec(p)],
    "fig8-9-multi-epoch": lambda p: [multi_epoch.multi_epoch_spec(p, "mpnn", (False, True)),
                                     multi_epoch.multi_epoch_spec(p, "esen", (False,))],
    "fig10-hyper-parameters": lambda p: [hyperparameters.lr_batch_spec(p), hyperparameters.depth_width_spec(p)],
    "fig11-vector-channels": lambda p: [vector_channels.vector_channels_spec(p)],
    "fig12-diverse-split": lambda p: [diverse.diverse_spec(p)],
    "fig15-translation": lambda p: [translation.TRANSLATION_SPEC],
    "fig16-transformer": lambda p: [transformer.TRANSFORMER_SPEC],
    "materials": lambda p: materials.materials_specs(p),
    beyond_symmetry.STUDY_NAME: lambda p: beyond_symmetry.specs(p),
}

#: studies whose runs are still being trained (name → specs, as :data:`STUDIES`). Their chapter may already be in the
#: book, honestly partial: its page reads their runs with ``finished_only`` (:func:`nnip.paper._common.run_study`),
#: i.e. only the runs finished in the store, says how many of how many each arm has, and makes no estimate or verdict
#: from an arm that is not complete (:mod:`nnip.paper.beyond_symmetry`). So: :func:`cpu_hours` counts their runs under
#: their own row (finished / needed), so they are not mistaken for superseded runs; :func:`check_reads` accepts a
#: page's reads of their runs but does not require every one of them to be read (a run not finished yet is not);
#: :func:`missing_runs`, ``--missing`` and :func:`train_all` do not list them (they are trained by their own job, not
#: by ``--train``). A study moves to :data:`STUDIES` when all its runs are in the store.
#: (The symmetrization study, :mod:`nnip.paper.beyond_symmetry`, was here while its 43 runs were trained; it moved to
#: :data:`STUDIES` with its last run. None is in production now.)
IN_PRODUCTION: dict[str, Callable[[str], list[dict]]] = {}


def specs(preset: str | Preset, names=None) -> list[tuple[str, dict]]:
    """``(study name, sweep spec)`` of the named studies (all by default) at ``preset``."""
    preset = resolve(preset)
    names = list(STUDIES) if names is None else list(names)
    unknown = [n for n in names if n not in STUDIES]
    if unknown:
        raise ValueError(f"unknown studies {unknown}; known: {list(STUDIES)}")
    return [(n, s) for n in names for s in STUDIES[n](preset)]


def run_ids(preset: str | Preset, names=None) -> set[str]:
    """The run ids of the named studies (all by default) at ``preset``."""
    from nnip.sweep import expand  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    return {cfg.run_id() for _, spec in specs(preset, names) for cfg in expand(spec, preset)}


def in_production_run_ids(preset: str | Preset) -> set[str]:
    """The run ids of the :data:`IN_PRODUCTION` studies at ``preset`` (finished or not)."""
    from nnip.sweep import expand  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    return {cfg.run_id() for fn in IN_PRODUCTION.values() for spec in fn(preset) for cfg in expand(spec, preset)}


def check_reads(preset: str | Preset, log: str | Path) -> int:
    """Check that the pages of a whole book build read exactly the catalog's runs: ``log`` holds the
    ``study<TAB>run id`` lines that :func:`nnip.paper._common.run_study` appended (``NNIP_RUN_LOG``). A page that
    reads a run no study lists (it would be trained by the page, not by ``--train``, and missed by ``--missing``), or
    a run of :data:`STUDIES` no page reads (paid for, never shown), is an error naming the runs. A run of an
    :data:`IN_PRODUCTION` study may be read (its page reads it once it is finished) and need not be. Returns the
    number of runs read."""
    lines = [ln.split("\t") for ln in Path(log).read_text().splitlines() if ln.strip()] if Path(log).exists() else []
    read = {rid: study for study, rid in lines}
    listed = run_ids(preset)
    extra = sorted(set(read) - listed - in_production_run_ids(preset))
    unread = sorted(listed - set(read))
    problems = []
    if extra:
        problems.append(f"{len(extra)} run(s) read by a page but listed by no study of nnip.paper.catalog: "
                        + "; ".join(f"{r} (page study {read[r]!r})" for r in extra[:8]))
    if unread:
        problems.append(f"{len(unread)} run(s) of the catalog read by no page: " + "; ".join(unread[:8]))
    if problems:
        raise RuntimeError(f"preset {preset_name(preset)!r}: the pages and the catalog disagree — "
                           + " | ".join(problems) + f" (log: {log})")
    return len(read)


def missing_runs(preset: str | Preset, store="results", names=None) -> pd.DataFrame:
    """One row per run of the named studies that is not finished in the store: study, run id, arch, hparams."""
    from nnip.sweep import missing  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    root = store_path(store, preset)
    rows = []
    for name, spec in specs(preset, names):
        for cfg in missing(spec, preset, root):
            rows.append({"study": name, "run_id": cfg.run_id(), "arch": cfg.model.name,
                         "hparams": dict(cfg.model.hparams), "fraction": cfg.data.fraction})
    return pd.DataFrame(rows, columns=["study", "run_id", "arch", "hparams", "fraction"]).drop_duplicates("run_id")


def train_all(preset: str | Preset, store="results", names=None, workers: int = 2) -> pd.DataFrame:
    """Train every missing run of the named studies (``workers`` local processes); one summary row per study with
    its runs and the CPU-seconds its runs' training took (sum of the runs' ``wall_s``, set-up and evaluation
    included, as measured by the trainer)."""
    from nnip.sweep import run_sweep  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    root = store_path(store, preset)
    out = []
    for name, spec in specs(preset, names):
        t0 = time.monotonic()
        res = run_sweep(spec, preset, root, workers=workers, progress=True)
        out.append({"study": name, "spec": spec.get("name"), "runs": len(res),
                    "trained": int((~res["cached"].fillna(False).astype(bool)).sum()),
                    "failed": int((res["status"] == "failed").sum()), "wall_s": time.monotonic() - t0})
    return pd.DataFrame(out)


#: the :func:`cpu_hours` row of finished runs that no study reads
SUPERSEDED = "superseded (read by no study)"


def cpu_hours(preset: str | Preset, store="results", names=None) -> pd.DataFrame:
    """Measured cost of every study from the store: finished runs, and the hours their processes ran (``hours``:
    everything from start to end — data loading, set-up, training, evaluation, checkpoints — as recorded in each
    run's ``summary.json``; ``hours_train``: training steps only). Runs train on one torch thread each, so these are
    CPU-hours on a CPU preset. A run shared by several studies (the main study's) is counted in each; a run listed
    twice by one study, once. With every study (``names`` None), the finished runs in the store that no study reads —
    designs the pilots rejected, kept as evidence — get their own row, ``superseded (read by no study)``, because they
    were paid for too; the last row, ``all (distinct runs)``, counts every run once, those included."""
    from nnip.sweep import expand  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    rs = RunStore(store_path(store, preset))
    rows, seen = [], {}

    def record(name: str, run_id: str) -> dict:
        s = rs.read_summary(run_id) or {}
        rec = {"study": name, "run_id": run_id, "done": s.get("status") in ("done", "failed") and s.get("hours")
               is not None, "hours": s.get("hours") or 0.0, "hours_train": s.get("hours_train") or 0.0}
        rows.append(rec)
        return rec

    for name, spec in specs(preset, names):
        for cfg in expand(spec, preset):
            seen[cfg.run_id()] = record(name, cfg.run_id())
    if names is None:
        for name, fn in IN_PRODUCTION.items():
            for cfg in (c for spec in fn(preset) for c in expand(spec, preset)):
                rec = record(name, cfg.run_id())
                if rec["done"]:
                    seen.setdefault(cfg.run_id(), rec)
        for rid in rs.run_ids():
            s = rs.read_summary(rid) or {}
            if rid not in seen and s.get("status") in ("done", "failed") and s.get("hours") is not None:
                rec = {"study": SUPERSEDED, "run_id": rid, "done": True, "hours": s["hours"],
                       "hours_train": s.get("hours_train") or 0.0}
                rows.append(rec)
                seen[rid] = rec
    # a run listed twice by one study (materials: the largest model at fraction 1 is in both of its sweeps) counts once
    df = pd.DataFrame(rows + [{**r, "study": "all (distinct runs)"} for r in seen.values()])
    df = df.drop_duplicates(["study", "run_id"])
    out = df.groupby("study", sort=False).agg(runs=("run_id", "nunique"), finished=("done", "sum"),
                                              cpu_hours=("hours", "sum"), train_hours=("hours_train", "sum"))
    return out.reset_index()


def fig_cost(table: pd.DataFrame, budget: float | None = 12.0):
    """Horizontal bars of :func:`cpu_hours` per study (run hours, with the training-only share darker) and the
    budget line; ``budget`` None hides it."""
    rows = table.iloc[::-1]
    fig = Figure(figsize=(6.5, 0.32 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    y = range(len(rows))
    ax.barh(y, rows["cpu_hours"], color="C0", alpha=0.45, label="run (set-up, training, evaluation)")
    ax.barh(y, rows["train_hours"], color="C0", label="training steps only (H)")
    ax.set_yticks(list(y), [f"{s} ({f}/{n})" for s, f, n in zip(rows["study"], rows["finished"], rows["runs"])])
    if budget is not None:
        ax.axvline(budget, color="C3", ls="--", lw=1, label=f"budget ({budget:g} h)")
    ax.set_xlabel("CPU-hours [h] (one torch thread per run)")
    ax.set_title("measured cost per study (finished/needed runs)", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper right")  # the longest bar, "all", is the last
    return fig
