"""Shared plumbing of the paper modules: locating the run store, running a study, paper-vs-ours tables."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nnip._flock import exclusive_lock
from nnip.presets import Preset, resolve
from nnip.runs import RUN_LOG, RunStore, is_final

__all__ = ["ARCH_LABELS", "PAPER_ARCHS", "TOO_FEW", "arch_row", "archs_present", "cached_json", "comparison_table",
           "concat_studies", "estimates_long", "left_out_of", "notes_left_out", "preset_name", "project_root",
           "report_row", "row", "run_study", "select_archs", "store_path", "title", "warn_relative"]

#: the words of a note whose fit the preset's runs cannot support (:mod:`nnip.paper.fits`)
TOO_FEW = "too few runs at this preset"

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


def store_path(store: str | os.PathLike, preset: str | Preset) -> Path:
    """``store="results"`` (the notebooks' default) → ``<root>/results/<preset name>``; an absolute path is used as
    is, another relative path is taken from the project root."""
    p = Path(store)
    if not p.is_absolute():
        p = project_root() / p
    return p / preset_name(preset) if p.name == "results" else p


def preset_name(preset: str | Preset) -> str:
    """The name of ``preset`` (a name or a :class:`nnip.presets.Preset`), without resolving it."""
    return preset if isinstance(preset, str) else preset.name


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


#: how many missing runs :func:`run_study` names in its error (all are counted)
MISSING_NAMED = 8


def run_study(spec: dict, preset: str | Preset, store, train_missing: bool = True, *, workers: int = 1,
              finished_only: bool = False) -> pd.DataFrame:
    """Run (or read) every run of ``spec`` at ``preset`` scale; return their curves (``RunStore.curves`` rows).

    The spec is expanded once (:func:`nnip.sweep.expand`); runs already finished in the store are cache hits. With
    ``train_missing=False`` a missing run is an error that names the missing runs (id, model, hyper-parameters;
    the first :data:`MISSING_NAMED`), how many there are and where. Runs left out —
    failed (e.g. diverged, even at step 1), or without a single evaluation — are named with their reason in a warning
    and in ``curves.attrs["left_out"]`` (run id → reason), which :func:`notes_left_out` turns into a note under the
    figure's table.

    ``finished_only=True`` (a study still being trained, :data:`nnip.paper.catalog.IN_PRODUCTION`) with
    ``train_missing=False``: a missing run is not an error; the curves of the finished runs are returned (an empty
    frame when none is) and the missing run ids are in ``curves.attrs["missing"]`` (a list, in the spec's order). The
    run log (``NNIP_RUN_LOG``) lists only the runs read. ``attrs["missing"]`` is ``[]`` whenever nothing is missing.
    """
    from nnip.sweep import expand, run_configs  # torch-free analysis: nnip.sweep imports torch

    preset = resolve(preset)
    root = store_path(store, preset)
    configs = expand(spec, preset)
    rs = RunStore(root)
    todo = [c for c in configs if not is_final(rs.read_summary(c.run_id()))]
    missing = list(dict.fromkeys(c.run_id() for c in todo)) if todo and not train_missing and finished_only else []
    if todo and not train_missing and not finished_only:
        raise RuntimeError(
            f"{len(todo)} run(s) of study {spec.get('name')!r} are missing from {root}: "
            + "; ".join(f"{c.run_id()} ({c.model.name} {dict(c.model.hparams)}, fraction {c.data.fraction:g})"
                        for c in todo[:MISSING_NAMED])
            + (f"; and {len(todo) - MISSING_NAMED} more" if len(todo) > MISSING_NAMED else "")
            + ". Run the notebook with train_missing=True (or `nnip sweep`, or `python -m nnip.book --train`) "
            "to train them"
        )
    if todo and train_missing:
        run_configs(configs, rs, name=spec.get("name", "sweep"), grid_keys=list(spec.get("grid") or {}),
                    workers=workers, progress=True)
    ids = [i for i in (cfg.run_id() for cfg in configs) if i not in missing]
    if os.environ.get(RUN_LOG):  # one write per study: lines of concurrent kernels do not interleave
        with open(os.environ[RUN_LOG], "a") as log:
            log.write("".join(f"{spec.get('name', 'sweep')}\t{i}\n" for i in ids))
    curves = rs.curves(ids)
    left_out = rs.left_out(ids)
    if left_out:
        warn_relative(f"study {spec.get('name')!r}: left {len(left_out)} run(s) out of the curves and fits: "
                      + _listing(left_out), stacklevel=2)
        if len(curves):
            curves = curves[~curves["run_id"].isin(list(left_out))]
    if not len(curves) and not missing:
        raise RuntimeError(f"study {spec.get('name')!r}: no finished runs in {root}"
                           + (f" (left out: {_listing(left_out)})" if left_out else ""))
    curves = curves.reset_index(drop=True)
    curves.attrs["left_out"] = dict(left_out)
    curves.attrs["missing"] = missing
    return curves


def warn_relative(message: str, category=UserWarning, stacklevel: int = 1) -> None:
    """``warnings.warn`` from the caller ``stacklevel`` frames up, its file shown relative to the project root: the
    book's pages print warnings, and a page must not show the machine it was built on
    (``nnip/paper/tuning.py:54: UserWarning: …``, not ``/home/…/nnip/paper/tuning.py:54``). Filters by module
    still apply (the caller's ``__name__``)."""
    frame = sys._getframe(stacklevel)
    path = Path(frame.f_code.co_filename)
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(project_root())
    warnings.warn_explicit(message, category, str(path), frame.f_lineno, module=frame.f_globals.get("__name__"),
                           registry=frame.f_globals.setdefault("__warningregistry__", {}))


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
    """``pd.concat`` of study curves that keeps every frame's runs left out (``attrs["left_out"]``) and missing
    (``attrs["missing"]``: :func:`run_study` with ``finished_only``); an empty frame (a study with no finished run
    yet) adds no rows and is dropped before concatenating."""
    kept = [f for f in frames if len(f)] or frames[:1]  # an empty frame (a study not trained yet) adds no rows
    out = pd.concat(kept, **kwargs)
    out.attrs["left_out"] = left_out_of(*frames)
    out.attrs["missing"] = list(dict.fromkeys(r for f in frames for r in f.attrs.get("missing") or []))
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


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def row(quantity: str, paper=None, ours=None, ci=None, bt=None, note: str = "") -> dict:
    """One row of :func:`comparison_table`; ``bt`` a :class:`nnip.scaling.Backtest` (its ARE is shown) or None."""
    return {"quantity": quantity, "paper": paper, "ours": ours, "ci": ci,
            "backtest_are": None if bt is None else bt.are, "note": note}


def report_row(quantity: str, rep, key: str, paper=None, note: str = "", *, arch: str | None = None,
               backtest: bool = True) -> dict:
    """A row from a :class:`nnip.scaling.Report`: its value and 95% interval of ``key``, its backtest and notes
    (``rep=None``: no runs). ``paper`` a number, words, or an ``(estimate, lo, hi)`` triple; with ``arch`` the
    table gets an architecture column and a "paper 95% CI" column."""
    paper_ci = None
    if isinstance(paper, tuple):
        paper, paper_ci = paper[0], (paper[1], paper[2])
    notes = [n for n in (note, rep.note if rep is not None else TOO_FEW) if n]
    bt = rep.backtest if (rep is not None and backtest) else None
    out = row(quantity, paper, rep.value(key) if rep is not None else math.nan, rep.ci(key) if rep is not None else None,
              bt, "; ".join(notes))
    if arch is not None:
        out.update(arch=arch, paper_ci=paper_ci)
    return out


def arch_row(arch: str, quantity: str, rep, key: str, paper=None, note: str = "", backtest: bool = True) -> dict:
    """:func:`report_row` of one architecture (the tables of Fig. 1–6 and Tables 1, 7 have an architecture column)."""
    return report_row(quantity, rep, key, paper, note, arch=arch, backtest=backtest)


def archs_present(curves: pd.DataFrame, arch: str | list = "all") -> list[str]:
    """The architectures of ``arch`` (:func:`select_archs`) that have runs in ``curves``, in the paper's order."""
    wanted = select_archs(arch)
    return [a for a in wanted if (curves["arch"] == a).any()]


def estimates_long(rows: list[dict]) -> pd.DataFrame:
    """:func:`arch_row` rows in the long format of :func:`nnip.figures.plot_estimates` (one line per source)."""
    recs = []
    for r in rows:
        group = ARCH_LABELS.get(r["arch"], str(r["arch"])).split(" (")[0]
        if r["paper"] is not None:
            lo, hi = r["paper_ci"] if r["paper_ci"] is not None else (math.nan, math.nan)
            recs.append({"quantity": r["quantity"], "group": group, "source": "paper", "estimate": r["paper"],
                         "lo": lo, "hi": hi})
        lo, hi = r["ci"] if r["ci"] is not None else (math.nan, math.nan)
        recs.append({"quantity": r["quantity"], "group": group, "source": "ours", "estimate": r["ours"],
                     "lo": lo, "hi": hi})
    return pd.DataFrame(recs, columns=["quantity", "group", "source", "estimate", "lo", "hi"])


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The "paper vs ours" table shown under every figure: one row per quantity.

    Each row (:func:`row`, :func:`report_row` or a dict): ``quantity``, ``paper`` (a number, words — the paper states
    a direction, not a number — or None), ``ours`` (a number; words; None or NaN when the runs cannot support it,
    shown "–"), optional ``ci`` ((lo, hi)), optional ``backtest_are`` (absolute relative error of predicting the
    held-out largest run), optional ``note``; optional ``arch`` and ``paper_ci`` add an "architecture" column first
    and the paper's interval beside its value.
    """
    out = []
    for r in rows:
        paper, ours, ci = r.get("paper"), r.get("ours"), r.get("ci")
        if _is_num(ours):
            shown = f"{ours:.3g}"
            if ci is not None and all(_is_num(c) for c in ci):
                shown += f" [{ci[0]:.3g}–{ci[1]:.3g}]"
        else:
            shown = ours if isinstance(ours, str) else "–"
        out.append({
            "quantity": r["quantity"],
            "paper": paper if isinstance(paper, str) else (f"{paper:.3g}" if _is_num(paper) else ""),
            "ours": shown,
            "backtest ARE": "" if r.get("backtest_are") is None else f"{100 * r['backtest_are']:.1f}%",
            "note": r.get("note", ""),
        })
    table = pd.DataFrame(out, columns=["quantity", "paper", "ours", "backtest ARE", "note"])
    if any("paper_ci" in r for r in rows):
        table.insert(2, "paper 95% CI", ["" if r.get("paper_ci") is None else
                                         f"[{r['paper_ci'][0]:.3g}–{r['paper_ci'][1]:.3g}]" for r in rows])
    if any("arch" in r for r in rows):
        table.insert(0, "architecture", [ARCH_LABELS.get(r.get("arch"), str(r.get("arch", ""))) for r in rows])
    return table


def cached_json(store, run_id: str, name: str, key: str, compute, *, compute_missing: bool = True) -> dict:
    """``<run>/<name>`` JSON of a :class:`nnip.runs.RunStore`: ``{key: result}``; computes and writes a missing key
    (evaluations that need a checkpoint or the dataset, kept beside the run's curve so that a book rebuilt from a
    committed store needs neither). Safe for concurrent processes (a lock file per cache file while computing). With ``compute_missing=False`` (a book built from the committed store, which
    trains nothing and generates no data) a missing key is an error naming the file and the key."""
    doc = store.read_json(run_id, name) or {}
    if key in doc:
        return doc[key]
    if not compute_missing:
        raise RuntimeError(
            f"run {run_id}: {name} has no cached result {key!r}; computing it "
            "needs the run's checkpoint and the dataset: run the notebook with train_missing=True where they are")
    # kernels of one book build run concurrently: the lock makes read-compute-write one step per file, so a key
    # another kernel is computing is waited for and read, and two keys written at once are both kept
    with exclusive_lock(store.run_dir(run_id) / f".{name}.lock"):
        doc = store.read_json(run_id, name) or {}
        if key not in doc:
            doc[key] = compute()
            store.write_json(run_id, name, doc)
    return doc[key]


def title(fig, text: str, preset: str | Preset) -> None:
    """The figure's title, wrapped at the figure's width; at ``tiny`` marked as a wiring check (on its own line)."""
    if preset_name(preset) == "tiny":
        text += "\n[preset tiny: wiring check, not science]"
    fig.suptitle(text, fontsize="medium", wrap=True)
