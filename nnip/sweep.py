"""Sweeps: (architecture ladder entries) × (data fractions) × (options) → :class:`TrainConfig` s → an executor.

A **sweep spec** (YAML file or dict) names *what* to vary; the **preset** (:mod:`nnip.presets`) says at which
scale (ladder widths, batch size, lr, dataset and its size, validation size, evaluations, device, epochs)::

    name: fig7-symmetry-loss
    dataset: molecules          # molecules | materials (the preset's sources), an embedded name, or a path
    archs: [mpnn]               # preset.archs keys; each contributes its ladder entries (preset.archs[a].widths)
    regime: stream              # stream (default) | epochs (max_epochs = preset.epochs unless base says)
    fractions: null             # data fractions r; default: [1.0] for stream (L(D_r) is read off one run),
                                #   the preset's fractions for epochs
    base:                       # TrainConfig overrides for every run (dotted or nested keys)
      eval.tta_m: 0
    grid:                       # options: cartesian product over dotted TrainConfig keys
      loss.symmetry_m: [0, 5]
    models:                     # optional, instead of / besides archs: explicit hyper-parameters
      - name: mpnn
        hparams: [{hidden_dim: 32}, {hidden_dim: 64}]
        batch_size: 16          # optional: train.batch_size / optim.lr for this model
    tags: [fig7]

``dataset: materials`` also selects the materials loss recipe (2.5·E + 20·F + 5·stress) and builds models that have a
``stress`` hyper-parameter with ``stress=True`` (unless given).

Precedence (later wins): TrainConfig defaults < preset (dataset, n_val, batch size, lr, μP on with the preset's
base width, warmup, eval points,
device, AMP, seed) < ``base`` < per-model fields < ``grid``. Runs already finished in the store are skipped
(cache hits); a failing run is recorded (``status = failed`` with its reason) and the sweep goes on.

Executors: ``local`` (in this process, or a spawn pool of ``workers`` processes) and ``slurm`` (a submitit job
array via ``executor.map_array``, one element per run not finished; ``slurm_array_parallelism`` caps concurrent
jobs; ``ntasks`` > 1 trains each run data-parallel over ``srun --ntasks``). On preemption or before the time limit
(USR2) submitit calls ``checkpoint()`` and requeues the job; a job requeued from outside is killed and restarted;
either way the run resumes from its last checkpoint in the store and gives the uninterrupted curve. Each run's job
is recorded in ``runs/<id>/slurm.json``: a later sweep (or ``nnip runs status``, :func:`status`) of the same spec
waits for (reports) the jobs still queued or running and resubmits only what has none. A job that ends without a
result (cancelled, killed, out of memory) marks its run ``failed`` with a one-line reason (:mod:`nnip._slurm`); the
sweep goes on and ``nnip sweep`` exits 1 naming the failed runs; an unreachable cluster is one line, exit 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import importlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from tqdm.std import tqdm  # plain text bars: no ipywidgets needed in notebooks

from nnip import _slurm, presets
from nnip.data.registry import DATASETS
from nnip.models import model_class
from nnip.presets import ArchScale, Preset, resolve
from nnip.runs import RunLocked, RunStore, is_final
from nnip.train.config import ConfigError, TrainConfig, read_config_file, undot
from nnip.train.trainer import train

__all__ = ["SweepSpec", "expand", "run_sweep", "run_configs", "missing", "status", "sweep_cli", "status_cli",
           "load_preset"]

log = logging.getLogger("nnip.sweep")

_SPEC_KEYS = ("name", "dataset", "archs", "regime", "fractions", "base", "grid", "models", "tags")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep specification (see the module docstring for the format)."""

    name: str = "sweep"
    dataset: str = "molecules"
    archs: tuple[str, ...] = ()
    regime: str = "stream"
    fractions: tuple[float, ...] | None = None
    base: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, list] = field(default_factory=dict)
    models: tuple[Mapping[str, Any], ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SweepSpec":
        unknown = sorted(set(d) - set(_SPEC_KEYS))
        if unknown:
            raise ConfigError(f"unknown sweep spec key {unknown[0]!r}; valid keys: {list(_SPEC_KEYS)}")
        d = dict(d)
        for key in ("archs", "models", "tags"):
            if key in d and d[key] is not None:
                v = d[key]
                d[key] = tuple([v] if isinstance(v, (str, Mapping)) else v)
            elif key in d:
                d[key] = ()
        if d.get("fractions") is not None:
            d["fractions"] = tuple(float(r) for r in d["fractions"])
        for key in ("base", "grid"):
            d[key] = dict(d.get(key) or {})
        for k, v in d["grid"].items():
            if not isinstance(v, (list, tuple)):
                raise ConfigError(f"sweep grid value of {k!r} must be a list, got {v!r}")
        if d.get("regime", "stream") not in ("stream", "epochs"):
            raise ConfigError(f"sweep regime must be stream or epochs, got {d.get('regime')!r}")
        for m in d.get("models", ()):
            bad = sorted(set(m) - {"name", "hparams", "batch_size", "lr"})
            if bad or "name" not in m:
                raise ConfigError(f"sweep models entry {dict(m)} needs 'name' and may have hparams/batch_size/lr")
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SweepSpec":
        """Read a YAML spec; any :class:`ConfigError` names the file."""
        d = read_config_file(path, "sweep spec")
        try:
            return cls.from_dict(d)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None


def load_preset(preset) -> Preset | None:
    """The :class:`nnip.presets.Preset` of a name, a ``Preset`` or a mapping of its fields
    (:func:`nnip.presets.resolve`); ``None`` stays ``None`` (no preset: every setting from the spec)."""
    return None if preset is None else resolve(preset)


def _dataset_keys(dataset: str, preset: Preset) -> dict:
    """``data.*`` keys for the spec's dataset (a preset role, an embedded name, or a path)."""
    source = getattr(preset, dataset) if dataset in ("molecules", "materials") else dataset
    if source in DATASETS:
        spec = (preset.datasets or {}).get(source, {})
        keys = {"data.name": source, "data.seed": spec.get("seed", 0)}
        if "n" in spec:
            keys["data.n"] = spec["n"]
        return keys
    return {"data.source": str(source)}


def _preset_keys(preset: Preset | None, spec: SweepSpec) -> dict:
    keys: dict = {}
    if preset is None:
        return keys
    keys.update(_dataset_keys(spec.dataset, preset))
    if preset.n_val is not None:
        keys["data.n_val"] = preset.n_val
    if preset.max_train is not None:
        keys["data.limit"] = int(preset.max_train) + int(preset.n_val or 0)
    if preset.n_evals is not None:
        keys["eval.log_points"] = preset.n_evals
    for src, dst in (("device", "runtime.device"), ("amp", "train.amp"), ("seed", "train.seed"), ("threads", "runtime.threads")):
        if getattr(preset, src) is not None:
            keys[dst] = getattr(preset, src)
    keys["optim.mup"] = True  # §3.3: η* at the base width, transferred by μP
    return keys


def _overrides(batch_size, lr, scale: ArchScale | None) -> dict:
    """Per-model TrainConfig keys: batch size and lr (the entry's, else the preset's), μP base width, warmup and
    gradient clipping (``ArchScale.grad_clip``)."""
    over = {"train.batch_size": batch_size, "optim.lr": lr,
            "optim.base_width": scale.base_width if scale else None,
            "optim.warmup_steps": (scale.warmup_steps or None) if scale else None,
            "optim.grad_clip": scale.grad_clip if scale else None}
    return {k: v for k, v in over.items() if v is not None}


def _model_entries(spec: SweepSpec, preset: Preset | None) -> list[tuple[str, dict, dict]]:
    """``(arch, hparams, per-model overrides)`` for every ladder entry of the sweep."""
    out = []
    archs = preset.archs if preset is not None else {}
    for arch in spec.archs:
        if arch not in archs:
            raise ConfigError(f"sweep: arch {arch!r} is not in the preset (has {sorted(archs)}); "
                              "use a 'models' entry with explicit hparams")
        scale = archs[arch]
        over = _overrides(scale.batch_size, scale.lr, scale)
        for h in scale.widths or ():
            out.append((arch, {**scale.extra, **dict(h)}, over))
    for m in spec.models:
        scale = archs.get(m["name"])
        over = _overrides(m.get("batch_size", scale.batch_size if scale else None),
                          m.get("lr", scale.lr if scale else None), scale)
        hps = m.get("hparams")
        if hps is None:
            hps = list((scale.widths if scale else None) or [{}])
        elif isinstance(hps, Mapping):
            hps = [hps]
        extra = dict(scale.extra) if scale else {}
        for h in hps:
            out.append((m["name"], {**extra, **dict(h)}, over))
    if not out:
        raise ConfigError("sweep: no models (give 'archs' present in the preset or 'models')")
    return out


def expand(spec: SweepSpec | Mapping | str | os.PathLike, preset: str | Preset | Mapping | None = None
           ) -> list[TrainConfig]:
    """All :class:`TrainConfig` s of a sweep at ``preset`` (a name, a :class:`~nnip.presets.Preset` or a mapping of
    its fields; None: none), in a deterministic order (model entry, fraction, grid point)."""
    spec = _as_spec(spec)
    p = load_preset(preset)
    fractions = spec.fractions
    if fractions is None:
        fractions = tuple((p.fractions if p else None) or (1.0,)) if spec.regime == "epochs" else (1.0,)
    grid_keys = list(spec.grid)
    grid_points = list(itertools.product(*[spec.grid[k] for k in grid_keys])) if grid_keys else [()]
    regime = {"train.regime": spec.regime}
    if spec.regime == "epochs" and p is not None and p.epochs is not None:
        regime["train.max_epochs"] = p.epochs
    if spec.dataset == "materials":  # Trikha et al.: energy + forces + stress with the materials recipe
        regime["loss.recipe"] = "materials"
    configs, seen = [], set()
    for arch, hparams, over in _model_entries(spec, p):
        if spec.dataset == "materials" and "stress" not in hparams and _has_hparam(arch, "stress"):
            hparams = {**hparams, "stress": True}
        for r in fractions:
            for point in grid_points:
                d = {**_preset_keys(p, spec), **regime}
                d = _merge(d, spec.base)
                d.update(over)
                d["model.name"] = arch
                d["data.fraction"] = float(r)
                d = _merge(d, dict(zip(grid_keys, point)))
                nested = undot({k: v for k, v in d.items() if not k.startswith("model.hparams")})
                model_h = {**hparams, **{k.split(".", 2)[2]: v for k, v in d.items() if k.startswith("model.hparams.")}}
                nested.setdefault("model", {})["hparams"] = {**nested.get("model", {}).get("hparams", {}), **model_h}
                nested["tags"] = list(spec.tags) + [spec.name]
                cfg = TrainConfig.from_dict(nested)
                if cfg.run_id() not in seen:
                    seen.add(cfg.run_id())
                    configs.append(cfg)
    return configs


def _has_hparam(arch: str, name: str) -> bool:
    """Whether the model ``arch`` has a hyper-parameter ``name`` (False if the model has not landed)."""
    try:
        if ":" in arch:
            module, cls = arch.split(":", 1)
            model_cls = getattr(importlib.import_module(module), cls)
        else:
            model_cls = model_class(arch)
    except (NotImplementedError, ImportError, AttributeError, ValueError):
        return False
    return name in {f.name for f in dataclasses.fields(model_cls.Config)}


def _dotted(prefix: str, value) -> dict:
    """``{"a": {"b": 1}}`` under ``prefix`` → ``{"prefix.a.b": 1}`` (lists and scalars are leaves)."""
    if isinstance(value, Mapping) and value:
        out = {}
        for k, v in value.items():
            out.update(_dotted(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def _merge(d: dict, overrides: Mapping) -> dict:
    """Merge (possibly nested) ``overrides`` into a dotted-key dict."""
    out = dict(d)
    for k, v in overrides.items():
        out.update(_dotted(k, v))
    return out


def _as_spec(spec) -> SweepSpec:
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return SweepSpec.from_file(spec)
    return SweepSpec.from_dict(spec)


def missing(spec, preset, store) -> list[TrainConfig]:
    """The sweep's configs that are not finished in ``store`` (what a sweep would train)."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    return [c for c in expand(spec, preset) if not is_final(store.read_summary(c.run_id()))]


# --- execution ---------------------------------------------------------------------------------------------------
def _run_one(cfg_dict: dict, store_path: str) -> dict:
    """Train one config; never raises (a failure becomes a row with status failed)."""
    cfg = TrainConfig.from_dict(cfg_dict)
    try:
        rec = train(cfg, store_path)
        return {**rec.summary, "run_id": rec.run_id, "status": rec.status, "cached": rec.cached}
    except Exception as err:  # noqa: BLE001 — the sweep records the failure and goes on
        log.error("run %s failed: %s\n%s", cfg.run_id(), err, traceback.format_exc())
        reason = _slurm.one_line(f"{type(err).__name__}: {err}", 500)
        return {"run_id": cfg.run_id(), "status": "failed", "reason": reason, "cached": False}


try:  # submitit is an optional dependency (the ``sweep`` extra)
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover
    _Checkpointable = object


class SweepJob(_Checkpointable):
    """The callable submitted to SLURM: trains one config into the store. ``checkpoint()`` (inherited from
    ``submitit.helpers.Checkpointable``) requeues the same call on preemption/timeout; :func:`train` then resumes
    the run from its last checkpoint."""

    def __init__(self, store_path: str):
        self.store_path = str(store_path)

    def __call__(self, cfg_dict: dict) -> dict:
        _requeue_ignoring_sigterm()
        return _run_one(cfg_dict, self.store_path)


def _requeue_ignoring_sigterm() -> None:
    """In a Slurm job: submitit requeues the job (after ``checkpoint()``) with ``scontrol requeue`` run from inside
    it, and the requeue's SIGTERM to the job's processes can reach that scontrol before it exits (it does on the
    test cluster): the error then surfaces in the training loop and the run is recorded as failed while its job
    waits in the queue. scontrol runs with SIGTERM ignored instead (the requeue is the same)."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return
    from submitit.slurm import slurm as submitit_slurm  # optional: submitit (the sweep extra)

    def _requeue(env, countdown: int) -> None:
        subprocess.check_call(["/bin/sh", "-c", 'trap "" TERM; exec scontrol requeue "$0"', env.job_id], timeout=60)
        log.info("requeued job %s (%d timeouts left)", env.job_id, countdown)

    submitit_slurm.SlurmJobEnvironment._requeue = _requeue


def _row(cfg: TrainConfig, result: dict, grid_keys: list[str]) -> dict:
    flat = cfg.flat()
    row = {
        "run_id": cfg.run_id(),
        "arch": cfg.model.name,
        "hparams": json.dumps(dict(cfg.model.hparams), sort_keys=True),
        "fraction": cfg.data.fraction,
        **{k: flat.get(k) for k in grid_keys},
        "status": result.get("status"),
        "cached": result.get("cached"),
        "reason": result.get("reason"),
        "params": result.get("params"),
        "steps": result.get("steps"),
        "flops": result.get("flops"),
        "hours": result.get("hours"),
        "best_val_loss": result.get("best_val_loss"),
        "final_val_loss": result.get("final_val_loss"),
        "job": result.get("job"),
    }
    return row


def run_sweep(
    spec,
    preset=None,
    store: RunStore | str | os.PathLike | None = None,
    *,
    executor: str = "local",
    workers: int = 1,
    overrides: list[str] | Mapping | None = None,
    slurm: Mapping[str, Any] | None = None,
    progress: bool = True,
    wait: bool = True,
) -> pd.DataFrame:
    """Run every config of the sweep not yet finished in ``store``; returns one row per config.

    Args:
        spec: :class:`SweepSpec`, its dict, or a YAML path.
        preset: preset name, :class:`nnip.presets.Preset` or a mapping of its fields (:func:`nnip.presets.resolve`).
        store: run store (default ``results/<preset name>``).
        executor: ``"local"`` or ``"slurm"``.
        workers: local: processes (1 = in this process).
        overrides: ``--set`` style overrides applied to every config (e.g. ``runtime.device=cuda``).
        slurm: submitit parameters: ``partition``, ``gpus`` (per node), ``cpus`` (per task), ``time`` (minutes),
            ``mem_gb``, ``ntasks`` (processes per run: data-parallel training over ``srun --ntasks``),
            ``signal_delay_s`` (USR2 this long before the time limit: checkpoint and requeue; default 90),
            ``array_parallelism``, ``folder`` (logs; default ``<store>/submitit/%j``), ``cluster`` (``"slurm"``;
            ``"local"`` runs the same path on this machine, for tests), ``additional`` (dict of extra sbatch keys).
        progress: tqdm bar over runs.
        wait: slurm: wait for the jobs and collect results (``False``: return after submission, status
            ``"submitted"``; runs whose job is still queued or running keep their job and status).

    Slurm: each run not finished gets one element of a submitit job array, unless its job from an earlier sweep
    (``runs/<id>/slurm.json``) is still queued or running, in which case the sweep waits for that job instead. A job
    that ends without a result (cancelled, killed, out of memory) marks its run ``failed`` in the store with a
    one-line reason; a preempted or timed-out job is requeued by submitit and resumes from the run's checkpoint.
    A cluster that cannot be reached raises :class:`nnip._slurm.SlurmUnavailable` (a :class:`nnip.errors.UserError`).
    """
    spec = _as_spec(spec)
    p = load_preset(preset)
    configs = expand(spec, p)
    if overrides:
        configs = [c.override(overrides) for c in configs]
    if store is None:
        store = Path("results") / (p.name if p is not None else "local")
    return run_configs(configs, store, name=spec.name, grid_keys=list(spec.grid), executor=executor, workers=workers,
                       slurm=slurm, progress=progress, wait=wait)


def run_configs(configs: list[TrainConfig], store: RunStore | str | os.PathLike, *, name: str = "sweep",
                grid_keys: list[str] | tuple = (), executor: str = "local", workers: int = 1,
                slurm: Mapping[str, Any] | None = None, progress: bool = True, wait: bool = True) -> pd.DataFrame:
    """Train the ``configs`` (of an :func:`expand` ed sweep called ``name``) not yet finished in ``store``; one row
    per config (``grid_keys``: the sweep's grid columns). Executors and their options as :func:`run_sweep`."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    grid_keys = list(grid_keys)
    results: dict[str, dict] = {}
    todo = []
    for cfg in configs:
        s = store.read_summary(cfg.run_id())
        if is_final(s):
            results[cfg.run_id()] = {**s, "cached": True}
        else:
            todo.append(cfg)
    log.info("sweep %s: %d runs, %d finished, %d to train", name, len(configs), len(configs) - len(todo), len(todo))
    bar = tqdm(total=len(configs), initial=len(configs) - len(todo), desc=name, unit="run", disable=not progress)
    try:
        if executor == "local":
            if workers <= 1:
                for cfg in todo:
                    results[cfg.run_id()] = _run_one(cfg.to_dict(), str(store.root))
                    bar.update(1)
            else:
                with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                    futures = {pool.submit(_run_one, c.to_dict(), str(store.root)): c for c in todo}
                    for fut in cf.as_completed(futures):
                        results[futures[fut].run_id()] = fut.result()
                        bar.update(1)
        elif executor == "slurm":
            opts = dict(slurm or {})
            if opts.get("cluster", "slurm") == "slurm":
                results.update(_run_slurm(todo, store, opts, bar, wait))
            else:
                results.update(_run_submitit(todo, store, opts, bar, wait))
        else:
            raise ValueError(f"unknown executor {executor!r}; use 'local' or 'slurm'")
    finally:
        bar.close()
    return pd.DataFrame([_row(c, results.get(c.run_id(), {}), grid_keys) for c in configs])


def _submitit_params(opts: dict) -> dict:
    """submitit executor parameters from the ``slurm`` options of :func:`run_sweep` (consumes ``opts``)."""
    ntasks = opts.pop("ntasks", None)
    params = {
        "timeout_min": int(opts.pop("time", None) or 60 * 24),
        "gpus_per_node": opts.pop("gpus", None),
        "cpus_per_task": opts.pop("cpus", None),
        "mem_gb": opts.pop("mem_gb", None),
        "nodes": 1 if ntasks else None,
        "tasks_per_node": int(ntasks) if ntasks else None,
        "slurm_partition": opts.pop("partition", None),
        "slurm_array_parallelism": opts.pop("array_parallelism", None),
        "slurm_signal_delay_s": opts.pop("signal_delay_s", None),
        "slurm_additional_parameters": opts.pop("additional", None),
        "name": opts.pop("name", "nnip"),
    }
    if opts:
        raise ConfigError(f"unknown slurm options {sorted(opts)}")
    return {k: v for k, v in params.items() if v is not None}


def _run_submitit(todo: list[TrainConfig], store: RunStore, opts: dict, bar, wait: bool) -> dict:
    """submitit's other clusters (``local``, ``debug``: the same code path on this machine, for tests)."""
    import submitit  # optional: submitit (the sweep extra)

    if not todo:
        return {}
    folder = opts.pop("folder", None) or (store.root / "submitit" / "%j")
    cluster = opts.pop("cluster", "slurm")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    ex.update_parameters(**_submitit_params(opts))
    jobs = ex.map_array(SweepJob(str(store.root)), [c.to_dict() for c in todo])
    out = {}
    if not wait:
        for cfg, job in zip(todo, jobs):
            out[cfg.run_id()] = {"status": "submitted", "job": str(job.job_id), "cached": False}
        return out
    for cfg, job in zip(todo, jobs):
        try:
            out[cfg.run_id()] = job.result()
        except Exception as err:  # noqa: BLE001 — a crashed job is one failed run
            out[cfg.run_id()] = {"status": "failed", "reason": _slurm.one_line(f"job {job.job_id}: {err}"),
                                 "cached": False}
        bar.update(1)
    return out


def _mark_failed(store: RunStore, cfg: TrainConfig, reason: str) -> None:
    """Record a run whose job died without saying so as failed (config.json too if it never started)."""
    run_id = cfg.run_id()
    if store.mark_failed(run_id, reason, arch=cfg.model.name, tags=list(cfg.tags)):
        if store.read_config(run_id) is None:
            store.write_config(run_id, {"run_id": run_id, "config": cfg.to_dict()})
        log.warning("run %s failed: %s", run_id, reason)


def _previous_jobs(configs: list[TrainConfig], store: RunStore) -> dict[str, tuple[_slurm.JobRef, str, dict | None]]:
    """The runs' jobs from earlier sweeps: ``{run_id: (job, STATE, result or None)}``; a job that ended without a
    result has its run marked failed here."""
    refs = {c.run_id(): r for c in configs if (r := _slurm.read_ref(store, c.run_id())) is not None}
    if not refs:
        return {}
    by_id = {c.run_id(): c for c in configs}
    out = {}
    for run_id, (state, res, reason) in _slurm.describe(refs).items():
        if reason is not None:
            _mark_failed(store, by_id[run_id], reason)
        out[run_id] = (refs[run_id], state, res)
    return out


def _queued_or_running(state: str) -> str:
    return "queued" if state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED") else "running"


def _run_slurm(todo: list[TrainConfig], store: RunStore, opts: dict, bar, wait: bool) -> dict:
    """A real Slurm cluster: submit what has no live job, wait (or not), record jobs that died (module docstring)."""
    if not todo:
        return {}
    folder = str(opts.pop("folder", None) or (store.root.resolve() / "submitit" / "%j"))
    opts.pop("cluster", None)
    params = _submitit_params(opts)
    by_id = {c.run_id(): c for c in todo}
    waiting: dict[str, _slurm.JobRef] = {}
    out: dict[str, dict] = {}
    for run_id, (ref, state, res) in _previous_jobs(todo, store).items():
        if res is None and state in _slurm.ACTIVE:  # still queued or running: wait for it, do not submit it again
            waiting[run_id] = ref
            out[run_id] = {"status": _queued_or_running(state), "job": ref.job_id, "cached": False}
    submit = [c for c in todo if c.run_id() not in waiting]
    if submit:
        refs = _slurm.submit(SweepJob(str(store.root.resolve())), [c.to_dict() for c in submit], folder, params)
        for cfg, ref in zip(submit, refs):
            _slurm.write_ref(store, cfg.run_id(), ref)
            waiting[cfg.run_id()] = ref
            out[cfg.run_id()] = {"status": "submitted", "job": ref.job_id, "cached": False}
        log.info("submitted %d runs as slurm job array %s", len(refs), refs[0].job_id.split("_")[0])
    if not wait:
        return out

    def on_result(run_id: str, res: dict | None, reason: str | None) -> None:
        cfg = by_id[run_id]
        if res is None:
            res = {**(store.read_summary(run_id) or {}), "status": "failed", "reason": reason, "cached": False}
        if res.get("status") == "failed":
            res = {**res, "reason": _slurm.one_line(res.get("reason") or "no reason recorded")}
            _mark_failed(store, cfg, res["reason"])
        out[run_id] = {**res, "job": waiting[run_id].job_id}
        bar.update(1)

    _slurm.wait(waiting, on_result)
    return out


def status(spec, preset=None, store: RunStore | str | os.PathLike | None = None, *,
           overrides: list[str] | Mapping | None = None) -> pd.DataFrame:
    """One row per run of the sweep: ``status`` done | failed (``reason``) | running | queued | interrupted (started,
    no live process or job: a sweep resumes it) | missing (never started), with its Slurm ``job`` and ``slurm_state``
    if it has one. A job that ended without a result marks its run failed (as a waiting sweep would)."""
    spec = _as_spec(spec)
    p = load_preset(preset)
    configs = expand(spec, p)
    if overrides:
        configs = [c.override(overrides) for c in configs]
    if store is None:
        store = Path("results") / (p.name if p is not None else "local")
    store = store if isinstance(store, RunStore) else RunStore(store)
    jobs = _previous_jobs([c for c in configs if not is_final(store.read_summary(c.run_id()))], store)
    rows = []
    for cfg in configs:
        run_id = cfg.run_id()
        s = store.read_summary(run_id) or {}
        ref, state, _ = jobs.get(run_id) or (_slurm.read_ref(store, run_id), None, None)
        st, why = s.get("status"), s.get("reason")
        if is_final(s) or st == "failed":
            pass
        elif ref is not None and state in _slurm.ACTIVE:
            st = _queued_or_running(state)
        elif st == "running":
            try:
                with store.lock(run_id, blocking=False):
                    st = "interrupted"
            except RunLocked:
                pass
        else:
            st = "missing"
        rows.append({"run_id": run_id, "arch": cfg.model.name, "hparams": json.dumps(dict(cfg.model.hparams),
                                                                                       sort_keys=True),
                     "fraction": cfg.data.fraction, "status": st, "job": ref.job_id if ref else None,
                     "slurm_state": state, "reason": _slurm.one_line(why) if why else None,
                     "best_val_loss": s.get("best_val_loss")})
    return pd.DataFrame(rows)


# --- CLI -----------------------------------------------------------------------------------------------------------
def _print_table(df: pd.DataFrame, columns: list[str]) -> None:
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 160):
        print(df[[c for c in columns if c in df]].to_string(index=False))


def _failed_line(prog: str, df: pd.DataFrame) -> int:
    """Print one stderr line naming the failed runs; the exit code (1 if any failed)."""
    failed = df[df["status"] == "failed"]
    if not len(failed):
        return 0
    names = "; ".join(f"{r.run_id} ({r.reason})" for r in failed.itertuples())
    print(f"{prog}: {len(failed)} of {len(df)} runs failed: {names}", file=sys.stderr)
    return 1


def _check_preset(name: str) -> None:
    try:
        presets.get(name)
    except ValueError as err:
        raise ConfigError(f"--preset {name!r}: {err}") from None


def sweep_cli(argv=None) -> int:
    """``nnip sweep SPEC --preset P --executor local|slurm [...]``; exit code 1 if any run failed (one stderr line
    names them), 2 for bad input or a Slurm cluster that does not answer."""
    p = argparse.ArgumentParser(prog="nnip sweep", description="Run a sweep (ladder × data fractions × options).")
    p.add_argument("spec", help="sweep spec YAML")
    p.add_argument("--preset", default="cpu", help="tiny | cpu | paper (default: cpu)")
    p.add_argument("--executor", default="local", choices=["local", "slurm"])
    p.add_argument("--store", default=None, help="run store (default: results/<preset>)")
    p.add_argument("--workers", type=int, default=1, help="local executor: parallel processes")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every run, e.g. runtime.device=cuda (repeatable)")
    p.add_argument("--partition", default=None)
    p.add_argument("--gpus", type=int, default=None, help="GPUs per job")
    p.add_argument("--cpus", type=int, default=None, help="CPUs per task")
    p.add_argument("--ntasks", type=int, default=None,
                   help="slurm: processes per run (data-parallel training, srun --ntasks; one per GPU)")
    p.add_argument("--time", type=int, default=None, help="time limit per job, minutes (default 1440)")
    p.add_argument("--signal-delay", type=int, default=None, metavar="SECONDS",
                   help="slurm: checkpoint and requeue this long before the time limit (default 90)")
    p.add_argument("--mem-gb", type=int, default=None)
    p.add_argument("--array-parallelism", type=int, default=None, help="max concurrent array jobs")
    p.add_argument("--cluster", default="slurm", help="submitit cluster (slurm; 'local' to test the path)")
    p.add_argument("--no-wait", action="store_true",
                   help="slurm: return after submitting; `nnip runs status` or the same sweep again reports later")
    p.add_argument("--dry-run", action="store_true", help="list the runs (id, finished?) and exit")
    args = p.parse_args(argv)
    _check_preset(args.preset)
    spec = SweepSpec.from_file(args.spec)  # a missing or malformed spec fails here, before anything is written
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    store = args.store or str(Path("results") / args.preset)
    if args.dry_run:
        rs = RunStore(store)
        for cfg in expand(spec, args.preset):
            cfg = cfg.override(args.overrides) if args.overrides else cfg
            done = is_final(rs.read_summary(cfg.run_id()))
            print(f"{cfg.run_id()}  {'done   ' if done else 'pending'}  {cfg.model.name} "
                  f"{json.dumps(dict(cfg.model.hparams), sort_keys=True)} r={cfg.data.fraction}")
        return 0
    if args.executor == "local" and (args.ntasks or 1) > 1:
        raise ConfigError("--ntasks: local sweeps train with one process per run "
                          "(use torchrun --nproc-per-node N -m nnip.train CONFIG for one data-parallel run)")
    slurm = {"partition": args.partition, "gpus": args.gpus, "cpus": args.cpus, "time": args.time,
             "mem_gb": args.mem_gb, "array_parallelism": args.array_parallelism, "cluster": args.cluster,
             "ntasks": args.ntasks, "signal_delay_s": args.signal_delay}
    slurm = {k: v for k, v in slurm.items() if v is not None}
    df = run_sweep(spec, args.preset, store, executor=args.executor, workers=args.workers,
                   overrides=args.overrides or None, slurm=slurm, wait=not args.no_wait)
    _print_table(df, ["run_id", "arch", "fraction", "status", "job", "params", "best_val_loss", "reason"])
    return _failed_line("nnip sweep", df)


def status_cli(argv=None) -> int:
    """``nnip runs status SPEC --preset P [--store DIR]``: the sweep's runs (done, failed and why, running, queued,
    interrupted, missing) with their Slurm jobs; exit code 1 if any run failed."""
    p = argparse.ArgumentParser(prog="nnip runs status",
                                description="Where a sweep's runs stand: done, failed (why), running, queued, "
                                            "interrupted or missing, with their Slurm jobs.")
    p.add_argument("spec", help="sweep spec YAML")
    p.add_argument("--preset", default="cpu", help="tiny | cpu | paper (default: cpu)")
    p.add_argument("--store", default=None, help="run store (default: results/<preset>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="the sweep's --set overrides (they change run ids)")
    args = p.parse_args(argv)
    _check_preset(args.preset)
    spec = SweepSpec.from_file(args.spec)
    df = status(spec, args.preset, args.store or str(Path("results") / args.preset), overrides=args.overrides or None)
    _print_table(df, ["run_id", "arch", "fraction", "status", "job", "slurm_state", "best_val_loss", "reason"])
    counts = df["status"].value_counts()
    print(", ".join(f"{n} {k}" for k, n in counts.items()))
    return _failed_line("nnip runs status", df)
