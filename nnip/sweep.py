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

Executors: ``local`` (in this process, or a spawn pool of ``workers`` processes) and ``slurm`` (submitit job
array via ``executor.map_array``; ``slurm_array_parallelism`` caps concurrent jobs; on preemption/timeout submitit
calls ``checkpoint()`` and requeues the job, which resumes the run from its last checkpoint in the store).
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
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from tqdm.std import tqdm  # plain text bars: no ipywidgets needed in notebooks

from nnip import presets
from nnip.data.registry import DATASETS
from nnip.models import model_class
from nnip.presets import ArchScale, Preset, resolve
from nnip.runs import RunStore, is_final
from nnip.train.config import ConfigError, TrainConfig, read_config_file, undot
from nnip.train.trainer import train

__all__ = ["SweepSpec", "expand", "run_sweep", "run_configs", "missing", "sweep_cli", "load_preset"]

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
        return {"run_id": cfg.run_id(), "status": "failed", "reason": f"{type(err).__name__}: {err}", "cached": False}


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
        return _run_one(cfg_dict, self.store_path)


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
        slurm: submitit parameters: ``partition``, ``gpus`` (per node), ``cpus``, ``time`` (minutes), ``mem_gb``,
            ``array_parallelism``, ``folder`` (logs; default ``<store>/submitit``), ``cluster`` (``"slurm"``;
            ``"local"`` runs the same path on this machine, for tests), ``additional`` (dict of extra sbatch keys).
        progress: tqdm bar over runs.
        wait: slurm: wait for the jobs and collect results (``False``: return after submission, status
            ``"submitted"``).
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
            results.update(_run_submitit(todo, store, dict(slurm or {}), bar, wait))
        else:
            raise ValueError(f"unknown executor {executor!r}; use 'local' or 'slurm'")
    finally:
        bar.close()
    return pd.DataFrame([_row(c, results.get(c.run_id(), {}), grid_keys) for c in configs])


def _run_submitit(todo: list[TrainConfig], store: RunStore, opts: dict, bar, wait: bool) -> dict:
    import submitit  # optional: submitit (the sweep extra)

    if not todo:
        return {}
    folder = opts.pop("folder", None) or (store.root / "submitit" / "%j")
    cluster = opts.pop("cluster", "slurm")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {
        "timeout_min": int(opts.pop("time", 60 * 24)),
        "gpus_per_node": opts.pop("gpus", None),
        "cpus_per_task": opts.pop("cpus", None),
        "mem_gb": opts.pop("mem_gb", None),
        "slurm_partition": opts.pop("partition", None),
        "slurm_array_parallelism": opts.pop("array_parallelism", None),
        "slurm_additional_parameters": opts.pop("additional", None),
        "name": opts.pop("name", "nnip"),
    }
    if opts:
        raise ValueError(f"unknown slurm options {sorted(opts)}")
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    jobs = ex.map_array(SweepJob(str(store.root)), [c.to_dict() for c in todo])
    out = {}
    if not wait:
        for cfg, job in zip(todo, jobs):
            out[cfg.run_id()] = {"status": "submitted", "reason": f"job {job.job_id}", "cached": False}
        return out
    for cfg, job in zip(todo, jobs):
        try:
            out[cfg.run_id()] = job.result()
        except Exception as err:  # noqa: BLE001 — a crashed job is one failed run
            out[cfg.run_id()] = {"status": "failed", "reason": f"job {job.job_id}: {type(err).__name__}: {err}",
                                 "cached": False}
        bar.update(1)
    return out


# --- CLI -----------------------------------------------------------------------------------------------------------
def sweep_cli(argv=None) -> int:
    """``nnip sweep SPEC --preset P --executor local|slurm [...]``; exit code 1 if any run failed."""
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
    p.add_argument("--cpus", type=int, default=None, help="CPUs per job")
    p.add_argument("--time", type=int, default=None, help="time limit per job, minutes")
    p.add_argument("--mem-gb", type=int, default=None)
    p.add_argument("--array-parallelism", type=int, default=None, help="max concurrent array jobs")
    p.add_argument("--cluster", default="slurm", help="submitit cluster (slurm; 'local' to test the path)")
    p.add_argument("--no-wait", action="store_true", help="slurm: return after submitting")
    p.add_argument("--dry-run", action="store_true", help="list the runs (id, finished?) and exit")
    args = p.parse_args(argv)
    try:
        presets.get(args.preset)
    except ValueError as err:
        raise ConfigError(f"--preset {args.preset!r}: {err}") from None
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
    slurm = {"partition": args.partition, "gpus": args.gpus, "cpus": args.cpus, "time": args.time,
             "mem_gb": args.mem_gb, "array_parallelism": args.array_parallelism, "cluster": args.cluster}
    slurm = {k: v for k, v in slurm.items() if v is not None}
    df = run_sweep(spec, args.preset, store, executor=args.executor, workers=args.workers,
                   overrides=args.overrides or None, slurm=slurm, wait=not args.no_wait)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df[["run_id", "arch", "fraction", "status", "params", "best_val_loss", "reason"]].to_string(index=False))
    return 1 if (df["status"] == "failed").any() else 0
