"""The embedded default datasets: where they are cached, how they are generated, and ``nnip data``.

Both datasets are *generated locally* (nothing is ever downloaded) by a generator module that exposes
``VERSION``, ``tasks(seed) -> Iterator[task]`` (an endless, deterministic stream of work items) and
``build(task) -> Built(structures, failures)``. :func:`generate` runs ``build`` over ``tasks`` on ``workers``
processes and yields the structures **in task order**, so a file depends only on ``(name, n, seed, VERSION)``,
never on the worker count. Files are written by :func:`nnip.data.writers.write_aselmdb` (temporary file + rename).

>>> path = ensure_dataset("emt-alloys", size="tiny", progress=False)   # doctest: +SKIP
>>> dataset_stats(path)["n_structures"]                                  # doctest: +SKIP
64

Command line (wired as ``nnip data``)::

    nnip data make xtb-mols --n 2000 --seed 0 [--out PATH] [--workers W]
    nnip data make emt-alloys --size small
    nnip data stats PATH
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import json
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType

import numpy as np
from ase.data import chemical_symbols
from tqdm import tqdm

from nnip.data.writers import write_aselmdb

__all__ = [
    "DatasetSpec",
    "DATASETS",
    "SIZES",
    "cache_dir",
    "dataset_path",
    "generate",
    "write_dataset",
    "ensure_dataset",
    "dataset_stats",
    "format_stats",
    "make_cli",
]

log = logging.getLogger(__name__)

#: Below this many structures, ``workers=None`` generates in-process (a spawn pool takes ~5 s to start).
_POOL_MIN_STRUCTURES = 500


@dataclass(frozen=True)
class DatasetSpec:
    """An embedded dataset: its generator module (imported lazily), sizes and provenance."""

    name: str
    module: str  # generator module: VERSION, tasks(seed), build(task), worker_init()
    sizes: Mapping[str, int]
    periodic: bool
    labels: tuple[str, ...]
    description: str
    key_value_keys: tuple[str, ...] = ()
    #: ``atoms.info`` key whose structures must stay on one side of a split (``None``: split per structure)
    group_key: str | None = None

    def generator(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def version(self) -> int:
        return int(self.generator().VERSION)


DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(
    {
        "xtb-mols": DatasetSpec(
            name="xtb-mols",
            module="nnip.data.xtb_mols",
            sizes=MappingProxyType({"tiny": 64, "small": 2_000, "default": 100_000}),
            periodic=False,
            labels=("energy", "forces"),
            description="OMol25-like neutral closed-shell organic molecules (H C N O F S Cl, 2-12 heavy atoms), "
            "RDKit ETKDG + MMFF conformers perturbed thermally, GFN2-xTB labels via tblite",
            key_value_keys=("smiles", "conformer"),
            group_key="mol_index",  # 4 conformers per molecule: a molecule is held out whole
        ),
        "emt-alloys": DatasetSpec(
            name="emt-alloys",
            module="nnip.data.emt_alloys",
            sizes=MappingProxyType({"tiny": 64, "small": 2_000, "default": 100_000}),
            periodic=True,
            labels=("energy", "forces", "stress"),
            description="OMat24-like periodic fcc/bcc alloy supercells of Cu Ag Au Ni Pd Pt Al (2-32 atoms), "
            "strained, rattled, with vacancies; ASE EMT labels",
            key_value_keys=("lattice",),
        ),
    }
)

#: Standard sizes (number of structures) per dataset: ``SIZES[name][size]``.
SIZES: Mapping[str, Mapping[str, int]] = MappingProxyType({k: v.sizes for k, v in DATASETS.items()})


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}") from None


def cache_dir() -> Path:
    """Directory of generated datasets: ``$NNIP_CACHE`` if set, else ``~/.cache/nnip``."""
    env = os.environ.get("NNIP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nnip"


def _resolve_n(name: str, n: int | None, size: str | None) -> int:
    spec = _spec(name)
    if n is not None and size is not None:
        raise ValueError("give n or size, not both")
    if n is None:
        size = size or "default"
        if size not in spec.sizes:
            raise KeyError(f"unknown size {size!r} for {name}; known: {sorted(spec.sizes)}")
        n = spec.sizes[size]
    if int(n) < 1:
        raise ValueError(f"n must be positive, got {n}")
    return int(n)


def dataset_path(name: str, n: int, seed: int = 0) -> Path:
    """Cache file of ``name`` with ``n`` structures from ``seed``: ``<cache>/<name>-v<VERSION>-n<n>-seed<seed>.aselmdb``.

    The generator version is part of the name, so a changed generator never reuses a stale file.
    """
    spec = _spec(name)
    return cache_dir() / f"{name}-v{spec.version}-n{int(n)}-seed{int(seed)}.aselmdb"


# --- generation driver ---------------------------------------------------------------------------------------


def _n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_init(module: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the pool
    init = getattr(importlib.import_module(module), "worker_init", None)
    if init is not None:
        init()


def _ordered_map(fn: Callable, tasks: Iterator, workers: int, module: str) -> Iterator:
    """``map(fn, tasks)`` over ``workers`` processes, results in task order, at most ``4 * workers`` in flight.

    ``workers == 1`` runs in this process (no pool). The pool uses the ``spawn`` start method so each worker
    starts clean and its initialiser can pin OpenMP threads before ``tblite`` loads.
    """
    if workers <= 1:
        yield from map(fn, tasks)
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_worker_init, initargs=(module,))
    try:
        window: collections.deque = collections.deque()
        for task in tasks:
            window.append(pool.apply_async(fn, (task,)))
            if len(window) >= 4 * workers:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def generate(
    name: str, n: int, seed: int = 0, workers: int | None = None, progress: bool = False
) -> Iterator:
    """Yield the first ``n`` structures (``ase.Atoms`` with labels on a ``SinglePointCalculator``) of ``name``.

    Deterministic in ``(name, n, seed)`` for any ``workers`` (default: the cores available to this process, or 1
    when ``n < 500``, where starting a pool costs more than it saves; 1 = in this process, no pool).
    Failures reported by the generator (e.g. an SCF that did not converge) are logged as warnings; the failed
    structure has already been replaced by the generator.
    """
    spec = _spec(name)
    gen = spec.generator()
    if workers is None:  # a pool costs seconds to start (spawn + imports): small sets run in this process
        workers = _n_cores() if n >= _POOL_MIN_STRUCTURES else 1
    workers = int(workers)
    produced = 0
    n_failures = 0
    with tqdm(total=n, desc=f"{name} (seed {seed})", unit="struct", disable=not progress) as bar:
        results = _ordered_map(gen.build, gen.tasks(seed), workers, spec.module)
        with contextlib.closing(results):
            for built in results:
                for message in built.failures:
                    n_failures += 1
                    log.warning("%s: %s", name, message)
                for atoms in built.structures:
                    yield atoms
                    produced += 1
                    bar.update(1)
                    if produced == n:
                        break
                if produced == n:
                    break
    if n_failures:
        log.info("%s: %d failed structures were replaced", name, n_failures)


def write_dataset(
    name: str,
    n: int,
    path: str | os.PathLike,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate ``n`` structures of ``name`` into ``path`` (``.aselmdb``), atomically; return ``path``."""
    spec = _spec(name)
    path = Path(path)
    metadata = {
        "dataset": name,
        "generator": spec.module,
        "version": spec.version,
        "n": int(n),
        "seed": int(seed),
        "periodic": spec.periodic,
        "labels": list(spec.labels),
        "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å³", "positions": "Å"},
        "description": spec.description,
    }
    t0 = time.perf_counter()
    structures = generate(name, n, seed=seed, workers=workers, progress=progress)
    with contextlib.closing(structures):
        count = write_aselmdb(structures, path, key_value_keys=spec.key_value_keys, metadata=metadata)
    if count != n:  # cannot happen with endless task streams; guards against a broken generator
        path.unlink()
        raise RuntimeError(f"{name}: generated {count} structures, expected {n}")
    log.info("%s: wrote %d structures to %s in %.1f s", name, n, path, time.perf_counter() - t0)
    return path


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (POSIX ``flock``) so concurrent callers generate a file once; no-op elsewhere.
    The lock file is removed on release (Ctrl-C included): no ``.genlock`` is left in the cache."""
    try:
        from nnip._flock import exclusive_lock  # optional: fcntl (POSIX only)
    except ImportError:  # pragma: no cover - non-POSIX (no fcntl): rely on the atomic rename alone
        yield
        return
    with exclusive_lock(path):
        yield


#: environment variable: "1" makes :func:`ensure_dataset` an error instead of generating a missing dataset
#: (``python -m nnip.book`` sets it for its notebooks when it trains nothing: the book from the committed store)
NO_GENERATION = "NNIP_NO_DATA_GENERATION"


def ensure_dataset(
    name: str,
    n: int | None = None,
    size: str | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Path of the cached dataset ``name`` (``n`` structures, or a standard ``size``), generating it if missing.

    Generation is local and offline; with the environment variable :data:`NO_GENERATION` set to ``"1"`` a missing
    dataset is an error instead. Concurrent callers are safe: the file is written to a temporary sibling
    and renamed into place, and a lock file makes a second caller wait for the first instead of repeating it.
    """
    n = _resolve_n(name, n, size)
    path = dataset_path(name, n, seed)
    if path.exists():
        return path
    if os.environ.get(NO_GENERATION) == "1":
        raise RuntimeError(
            f"dataset {name!r} ({n} structures, seed {seed}) is not in the cache ({path}) and {NO_GENERATION}=1 forbids "
            "generating it: a book rendered from the committed run store must need no data (this is a bug in the "
            "page that asked for it); `python -m nnip.book --train` or `--only-data` generates datasets")
    with _file_lock(path.with_name(path.name + ".genlock")):
        if not path.exists():
            write_dataset(name, n, path, seed=seed, workers=workers, progress=progress)
    return path


# --- statistics ----------------------------------------------------------------------------------------------


def _iter_labelled(source: str | os.PathLike | Iterable) -> Iterator[tuple[np.ndarray, bool, dict, dict]]:
    """(numbers, periodic, results, data) per structure of a data file or an iterable of Atoms.

    A file is read with :func:`nnip.data.read` (every structure validated; labels optional), so a bad file is the
    same :class:`~nnip.data.DataError` naming the file and row as in training, never a statistic of bad data."""
    if isinstance(source, (str, os.PathLike)):
        from nnip.data.readers import read  # lazy: readers load ase.db

        source = read(source, require_energy=False)
    for atoms in source:
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        for key in ("energy", "forces", "stress"):
            if key not in results and key in atoms.info:
                results[key] = atoms.info[key]
        yield np.asarray(atoms.numbers), bool(np.any(atoms.pbc)), results, dict(atoms.info)


def _summary(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def dataset_stats(path_or_atoms: str | os.PathLike | Iterable) -> dict:
    """Statistics of a dataset file (``.aselmdb``, ASE ``.db``, any ``ase.io`` format) or an iterable of Atoms.

    Returns a dict with ``n_structures``, ``n_atoms`` (total), ``elements`` (symbol → atom count),
    ``structures_with_element``, ``atoms_per_structure`` / ``heavy_atoms_per_structure``
    ({min, mean, max}), ``periodic`` (count), and for each label present: ``energy`` and ``energy_per_atom``
    (eV; mean/std/min/max), ``forces`` (eV/Å: ``mean_abs`` component, ``rms``, ``max_abs``, ``mean_norm``),
    ``stress`` (eV/Å³ over the 6 Voigt components: mean/std/min/max, ``max_abs``), plus ``distinct_smiles``
    and ``charge``/``spin`` value counts when the rows carry them. A file is read and validated by
    :func:`nnip.data.read` (bad input raises its ``DataError`` naming the file and row).
    """
    n_struct = 0
    counts = np.zeros(119, dtype=np.int64)  # atoms per atomic number
    struct_counts = np.zeros(119, dtype=np.int64)  # structures containing each atomic number
    natoms, nheavy, energies, e_per_atom = [], [], [], []
    f_abs_sum = f_sq_sum = f_norm_sum = 0.0
    f_max = 0.0
    n_force_atoms = 0
    stresses = []
    n_periodic = 0
    smiles = set()
    charges = collections.Counter()
    spins = collections.Counter()
    for numbers, periodic, results, data in _iter_labelled(path_or_atoms):
        n_struct += 1
        per_z = np.bincount(numbers, minlength=len(counts))
        counts[: len(per_z)] += per_z
        struct_counts[: len(per_z)] += per_z > 0
        natoms.append(len(numbers))
        nheavy.append(int((numbers > 1).sum()))
        n_periodic += periodic
        if "energy" in results:
            energies.append(float(results["energy"]))
            e_per_atom.append(float(results["energy"]) / max(len(numbers), 1))
        if "forces" in results:
            f = np.asarray(results["forces"], dtype=np.float64).reshape(-1, 3)
            f_abs_sum += float(np.abs(f).sum())
            f_sq_sum += float((f**2).sum())
            f_norm_sum += float(np.linalg.norm(f, axis=1).sum())
            f_max = max(f_max, float(np.abs(f).max()) if f.size else 0.0)
            n_force_atoms += len(f)
        if "stress" in results and results["stress"] is not None:
            s = np.asarray(results["stress"], dtype=np.float64)
            if s.shape == (3, 3):
                s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            stresses.append(s.reshape(6))
        if "smiles" in data:
            smiles.add(data["smiles"])
        if "charge" in data:
            charges[int(data["charge"])] += 1
        if "spin" in data:
            spins[int(data["spin"])] += 1
    if n_struct == 0:
        return {"n_structures": 0}
    natoms_a = np.asarray(natoms)
    nheavy_a = np.asarray(nheavy)
    stats: dict = {
        "n_structures": n_struct,
        "n_atoms": int(natoms_a.sum()),
        "elements": {chemical_symbols[z]: int(counts[z]) for z in np.flatnonzero(counts)},
        "structures_with_element": {chemical_symbols[z]: int(struct_counts[z]) for z in np.flatnonzero(counts)},
        "atoms_per_structure": {
            "min": int(natoms_a.min()),
            "mean": float(natoms_a.mean()),
            "max": int(natoms_a.max()),
        },
        "heavy_atoms_per_structure": {
            "min": int(nheavy_a.min()),
            "mean": float(nheavy_a.mean()),
            "max": int(nheavy_a.max()),
        },
        "periodic": int(n_periodic),
    }
    if energies:
        stats["energy"] = _summary(np.asarray(energies))
        stats["energy_per_atom"] = _summary(np.asarray(e_per_atom))
    if n_force_atoms:
        stats["forces"] = {
            "mean_abs": f_abs_sum / (3 * n_force_atoms),
            "rms": float(np.sqrt(f_sq_sum / (3 * n_force_atoms))),
            "mean_norm": f_norm_sum / n_force_atoms,
            "max_abs": f_max,
        }
    if stresses:
        s = np.stack(stresses)
        stats["stress"] = {**_summary(s), "max_abs": float(np.abs(s).max()), "n": len(stresses)}
    if smiles:
        stats["distinct_smiles"] = len(smiles)
    if charges:
        stats["charge"] = dict(sorted(charges.items()))
    if spins:
        stats["spin"] = dict(sorted(spins.items()))
    return stats


def format_stats(stats: dict) -> str:
    """Human-readable rendering of :func:`dataset_stats` (what ``nnip data stats`` prints)."""
    lines = [f"structures: {stats['n_structures']}"]
    if stats["n_structures"] == 0:
        return lines[0]
    lines.append(f"atoms: {stats['n_atoms']}  (periodic structures: {stats['periodic']})")
    total = stats["n_atoms"]
    lines.append(
        "elements (atoms, % of atoms, structures containing): "
        + ", ".join(
            f"{el} {c} ({100 * c / total:.1f}%, {stats['structures_with_element'][el]})"
            for el, c in stats["elements"].items()
        )
    )
    a, h = stats["atoms_per_structure"], stats["heavy_atoms_per_structure"]
    lines.append(f"atoms per structure: min {a['min']}  mean {a['mean']:.2f}  max {a['max']}")
    lines.append(f"heavy atoms per structure: min {h['min']}  mean {h['mean']:.2f}  max {h['max']}")
    for key, unit in (("energy", "eV"), ("energy_per_atom", "eV/atom")):
        if key in stats:
            e = stats[key]
            lines.append(
                f"{key} [{unit}]: mean {e['mean']:.4g}  std {e['std']:.4g}  min {e['min']:.4g}  max {e['max']:.4g}"
            )
    if "forces" in stats:
        f = stats["forces"]
        lines.append(
            f"forces [eV/Å]: mean|F_i| {f['mean_abs']:.4g}  rms {f['rms']:.4g}  "
            f"mean‖F‖ {f['mean_norm']:.4g}  max|F_i| {f['max_abs']:.4g}"
        )
    if "stress" in stats:
        s = stats["stress"]
        lines.append(
            f"stress [eV/Å³] (Voigt, {s['n']} structures): mean {s['mean']:.4g}  std {s['std']:.4g}  "
            f"min {s['min']:.4g}  max {s['max']:.4g}"
        )
    if "distinct_smiles" in stats:
        lines.append(f"distinct molecules (SMILES): {stats['distinct_smiles']}")
    for key in ("charge", "spin"):
        if key in stats:
            lines.append(f"{key}: " + ", ".join(f"{k}: {v}" for k, v in stats[key].items()))
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------------------


def make_cli(argv: list[str] | None = None) -> int:
    """``nnip data make NAME [--n N | --size S] [--seed S] [--out PATH] [--workers W]`` and ``nnip data stats PATH``.

    ``make`` writes to ``--out`` if given, else to the cache (:func:`ensure_dataset`), and prints the path.
    Returns the process exit code.
    """
    parser = argparse.ArgumentParser(prog="nnip data", description="Generate or inspect datasets (offline).")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="generate an embedded dataset")
    make.add_argument("name", choices=sorted(DATASETS))
    group = make.add_mutually_exclusive_group()
    group.add_argument("--n", type=int, help="number of structures")
    group.add_argument("--size", choices=("tiny", "small", "default"), help="standard size (default: default)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--out", type=Path, help="output .aselmdb (default: the cache, see NNIP_CACHE)")
    make.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    make.add_argument("--no-progress", action="store_true")
    stats = sub.add_parser("stats", help="print statistics of a dataset file")
    stats.add_argument("path", type=Path)
    stats.add_argument("--json", action="store_true", help="print the statistics dict as JSON")
    args = parser.parse_args(argv)

    if args.command == "make":
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        progress = not args.no_progress
        if args.out is not None:
            n = _resolve_n(args.name, args.n, args.size)
            t0 = time.perf_counter()
            path = write_dataset(args.name, n, args.out, seed=args.seed, workers=args.workers, progress=progress)
            rate = n / (time.perf_counter() - t0)
            print(f"{path}  ({n} structures, {rate:.1f} structures/s)", file=sys.stderr)
        else:
            path = ensure_dataset(
                args.name, n=args.n, size=args.size, seed=args.seed, workers=args.workers, progress=progress
            )
        print(path)
        return 0
    if args.command == "stats":
        st = dataset_stats(args.path)  # a missing or bad file: DataError naming it (``nnip`` prints one line)
        if args.json:
            print(json.dumps(st, indent=2))
        else:
            print(format_stats(st))
        return 0
    return 2  # pragma: no cover - argparse enforces the sub-commands

