"""Read labelled structures: ``.aselmdb`` (OMol25 / OMat24), ASE ``.db`` (sqlite), ``.extxyz`` / ``.xyz``.

``read(source)`` accepts a file, a directory (every supported file inside, sorted by name) or a glob pattern, and
returns an :class:`AtomsDataset`: a ``Sequence[ase.Atoms]`` whose items carry their labels on a
``SinglePointCalculator`` (energy eV, forces eV/Å, stress eV/Å³) and ``charge``/``spin`` in ``atoms.info``.
Database rows are read lazily (OMol25 has tens of millions), extxyz files eagerly.

Every structure is validated when it is read. Bad input raises one :class:`DataError` naming the file and the row
and what was wrong (unknown element, NaN/inf in positions or labels, forces of the wrong shape, missing energy
— or another label the caller requires, see :func:`require_labels` — empty file, two atoms closer than 0.1 Å,
unreadable file; for extxyz the frame's line too). An ``.aselmdb`` file is checked against what its LMDB header
promises *before* it is memory-mapped, so a truncated or partly copied file is a :class:`DataError`, not a SIGBUS.
Nothing is dropped silently: ``skip_invalid=True`` skips unreadable files and scans the rows once, skipping the bad
ones, and reports how many and why (``dataset.skipped_files``, ``dataset.skipped``, and a warning).
"""

from __future__ import annotations

import contextlib
import glob as _glob
import hashlib
import os
import struct
import warnings
import weakref
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import ase.db
import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, chemical_symbols
from ase_db_backends.aselmdb import LMDBDatabase
from scipy.spatial.distance import pdist

from nnip.data.labels import labels_of
from nnip.errors import UserError

__all__ = ["AtomsDataset", "DataError", "read", "require_labels", "validate", "SUFFIXES", "MIN_DISTANCE"]

#: file suffixes read by :func:`read`
SUFFIXES = (".aselmdb", ".db", ".extxyz", ".xyz")
#: two atoms closer than this (Å) are an error (a corrupt or unit-confused structure)
MIN_DISTANCE = 0.1
MAX_Z = 118


class DataError(UserError, ValueError):
    """Bad input data; the message names the file, the row (0-based) and what was wrong."""

    def __init__(self, path, row, problem):
        self.path, self.row, self.problem = str(path), row, problem
        where = f"{self.path}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {problem}")


def validate(atoms: Atoms, *, require_energy: bool = True, require: tuple[str, ...] = (),
             min_distance: float = MIN_DISTANCE) -> str | None:
    """The problem with one structure as a sentence, or ``None`` if it is valid input for training.

    ``require`` names labels (``"forces"``, ``"stress"``) that must be present besides the energy."""
    n = len(atoms)
    if n == 0:
        return "structure has no atoms"
    z = atoms.numbers
    bad_z = z[(z < 1) | (z > MAX_Z)]
    if len(bad_z):
        return f"unknown element with atomic number {int(bad_z[0])}"
    pos = atoms.positions
    if not np.isfinite(pos).all():
        return "NaN/inf in positions"
    if not np.isfinite(np.asarray(atoms.cell[:])).all():
        return "NaN/inf in cell"
    if atoms.pbc.any() and abs(atoms.cell.volume) < 1e-8:
        return "periodic structure with a zero-volume cell"
    labels = labels_of(atoms)
    if require_energy and "energy" not in labels:
        return "missing energy label"
    for key in require:
        if key not in labels:
            return f"missing {key} label"
    for key, value in labels.items():
        if not np.isfinite(value).all():
            return f"NaN/inf in {key}"
    if "forces" in labels and labels["forces"].shape != (n, 3):
        return f"forces have shape {labels['forces'].shape}, expected ({n}, 3)"
    if n > 1:
        d = _min_distance(atoms)
        if d < min_distance:
            return f"two atoms are {d:.3g} Å apart (closer than {min_distance} Å)"
    return None


def _min_distance(atoms: Atoms) -> float:
    from nnip.data.graph import neighbor_list  # lazy: graph loads vesin, which imports torch

    if not atoms.pbc.any() and len(atoms) <= 256:
        # molecules: all pairs in numpy is ~20x faster than building a neighbour list
        return float(pdist(atoms.positions).min())
    # a 1 Å search radius: vesin's cell list with a 0.1 Å cutoff would allocate (extent / 0.1 Å)^3 cells
    _, _, dist = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, 1.0)
    return float(dist.min()) if len(dist) else np.inf


def _with_labels(atoms: Atoms, labels: dict, info: dict) -> Atoms:
    """Attach labels on a SinglePointCalculator (stress kept as 3×3) and copy charge/spin into ``atoms.info``."""
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, **labels) if labels else None
    atoms.info.update(info)
    atoms.info.setdefault("charge", 0)
    atoms.info.setdefault("spin", 1)
    return atoms


# --- sources ------------------------------------------------------------------------------------------------
class _Source:
    """One file, addressed by row number."""

    def __init__(self, path: Path):
        self.path = path

    def __len__(self) -> int:
        raise NotImplementedError

    def raw(self, row: int) -> Atoms:
        raise NotImplementedError


class _XYZSource(_Source):
    def __init__(self, path: Path):
        super().__init__(path)
        self.frames = []
        try:
            for atoms in ase.io.iread(path, index=":", format="extxyz"):
                self.frames.append(atoms)
        except Exception as err:  # noqa: BLE001 — any parser failure is an unreadable frame; re-raised with its place
            k = len(self.frames)
            raise DataError(path, k, _xyz_problem(path, k, err)) from err

    def __len__(self):
        return len(self.frames)

    def raw(self, row):
        atoms = self.frames[row]
        labels = labels_of(atoms)
        info = {k: v for k, v in atoms.info.items() if k not in ("energy", "stress")}
        plain = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        return _with_labels(plain, labels, info)


def _xyz_frame_start(path: Path, k: int) -> int | None:
    """1-based line number of frame ``k``'s atom-count line (walking the frame headers), or ``None``."""
    line = 1
    with open(path, errors="replace") as fh:
        for _ in range(k):
            head = fh.readline()
            try:
                n = int(head.split()[0])
            except (ValueError, IndexError):
                return None
            for _ in range(n + 1):
                fh.readline()
            line += n + 2
    return line


def _xyz_problem(path: Path, k: int, err: Exception) -> str:
    """What is wrong with extxyz frame ``k`` (0-based), with the line numbers a user needs to find it."""
    start = _xyz_frame_start(path, k)
    where = f"frame starting at line {start}" if start is not None else f"frame {k}"
    with open(path, errors="replace") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if isinstance(err, KeyError) and start is not None:
        symbol = str(err.args[0]) if err.args else "?"
        for i in range(start + 1, len(lines)):  # atom lines follow the count and comment lines
            tokens = lines[i].split()
            if tokens and tokens[0] == symbol:
                return f"unknown element symbol {symbol!r} on line {i + 1} ({where})"
        return f"unknown element symbol {symbol!r} ({where})"
    text = " ".join(str(err).split())
    if start is not None and start > len(lines) - 2 or "expected" in text:
        return f"truncated: {where}, the file ends at line {len(lines)} ({type(err).__name__}: {text})"
    return f"unreadable extxyz {where} ({type(err).__name__}: {text})"


# --- LMDB ---------------------------------------------------------------------------------------------------
_LMDB_MAGIC = 0xBEEFC0DE
_LMDB_PAGE_HEADER = 16  # bytes before the MDB_meta struct in a meta page (64-bit build)


def check_lmdb_file(path: str | os.PathLike) -> None:
    """Raise :class:`DataError` unless ``path`` is an LMDB file as long as its header promises.

    LMDB memory-maps the file and trusts its meta pages: reading a page past the end of a truncated or partly
    copied file kills the process with SIGBUS. The two meta pages (pages 0 and 1) hold the page size and the last
    page in use (``mm_last_pg``, of the newer of the two transactions), so the file must hold
    ``(mm_last_pg + 1) × page size`` bytes.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_LMDB_PAGE_HEADER + 152)
        if len(head) < _LMDB_PAGE_HEADER + 152:
            raise DataError(path, None, f"not an LMDB file (only {size} bytes; truncated or not an .aselmdb file)")
        magic, _version = struct.unpack_from("<II", head, _LMDB_PAGE_HEADER)
        if magic != _LMDB_MAGIC:
            raise DataError(path, None, "not an LMDB file (bad magic number in its header: a garbage, partly copied "
                                        "or truncated-at-the-start file)")
        psize = struct.unpack_from("<I", head, _LMDB_PAGE_HEADER + 24)[0]
        if psize < 512 or psize & (psize - 1):
            raise DataError(path, None, f"not a valid LMDB file (page size {psize} in its header)")
        metas = [struct.unpack_from("<QQ", head, _LMDB_PAGE_HEADER + 120)]  # (last page, transaction id)
        fh.seek(psize)
        second = fh.read(_LMDB_PAGE_HEADER + 152)
    if len(second) < _LMDB_PAGE_HEADER + 152:
        raise DataError(path, None, f"truncated or partly copied LMDB file: {size} bytes, shorter than its two "
                                    f"header pages ({2 * psize} bytes); copy the file again")
    if struct.unpack_from("<I", second, _LMDB_PAGE_HEADER)[0] == _LMDB_MAGIC:
        metas.append(struct.unpack_from("<QQ", second, _LMDB_PAGE_HEADER + 120))
    last_page = max(metas, key=lambda m: m[1])[0]
    need = (last_page + 1) * psize
    if size < need:
        raise DataError(path, None, f"truncated or partly copied LMDB file: {size} bytes, but its header promises "
                                    f"{need} bytes ({last_page + 1} pages of {psize}); copy the file again")


class _ReadOnlyLMDB(LMDBDatabase):
    """The ``aselmdb`` backend with a ``close`` that is safe on a half-constructed object (the backend's
    ``__del__`` would reopen a file that failed to open and print an ignored-exception traceback)."""

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()
            self._env = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


#: open read-only LMDB databases by (real path, pid); entries vanish when no dataset uses them any more
_LMDB_CONNECTIONS: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


class _DBSource(_Source):
    def __init__(self, path: Path, db_type: str):
        super().__init__(path)
        self.db_type = db_type
        try:
            self.db = self._connect()
            if db_type == "aselmdb":
                self.ids = list(self.db.ids)
            else:
                self.ids = [row.id for row in self.db.select(include_data=False)]
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 — re-raised with the path
            raise DataError(path, None, f"unreadable {db_type} database ({type(err).__name__}: {err})") from err

    def __len__(self):
        return len(self.ids)

    def reopen(self):
        """Make this process use its own database handle (an LMDB environment must not cross a fork, e.g. into a
        DataLoader worker). In the process that opened the file this is a no-op."""
        db = self.db
        env = getattr(db, "_env", None)
        if env is not None and getattr(db, "_env_pid", os.getpid()) != os.getpid():
            # lmdb refuses to open a path that this (forked) process already "has open": close the inherited
            # handle first; the backend then opens a fresh environment lazily (it checks the pid)
            env.close()
            db._env = None

    def _connect(self):
        if self.db_type == "aselmdb":
            # lmdb allows one environment per file and process: share one read-only connection between datasets
            key = (os.path.realpath(self.path), os.getpid())
            db = _LMDB_CONNECTIONS.get(key)
            if db is None:
                check_lmdb_file(self.path)  # before mapping it: a truncated file would be a SIGBUS
                db = _ReadOnlyLMDB(self.path, readonly=True, use_lock_file=False)
                _LMDB_CONNECTIONS[key] = db
            return db
        return ase.db.connect(str(self.path), type="db", use_lock_file=False)

    def raw(self, row):
        r = self.db.get(id=self.ids[row])
        atoms = r.toatoms()
        labels = labels_of(atoms)
        data = dict(r.data) if r.get("data") is not None else {}
        info = {**r.key_value_pairs, **data}
        info["source_row_id"] = r.id
        return _with_labels(atoms, labels, info)


def _open(path: Path) -> _Source:
    if not path.exists():
        raise DataError(path, None, "file does not exist")
    if path.stat().st_size == 0:
        raise DataError(path, None, "empty file")
    suffix = path.suffix.lower()
    if suffix == ".aselmdb":
        source = _DBSource(path, "aselmdb")
    elif suffix == ".db":
        source = _DBSource(path, "db")
    elif suffix in (".xyz", ".extxyz"):
        source = _XYZSource(path)
    else:
        raise DataError(path, None, f"unsupported file type {suffix!r}; supported: {', '.join(SUFFIXES)}")
    if len(source) == 0:
        raise DataError(path, None, "empty file (no structures)")
    return source


def _expand(source) -> list[Path]:
    if isinstance(source, (list, tuple)):
        return [p for s in source for p in _expand(s)]
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(path, None, f"directory holds no {'/'.join(SUFFIXES)} files")
        return files
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in _glob.glob(os.path.expanduser(text)))
        if not files:
            raise DataError(text, None, "glob pattern matched no files")
        return files
    return [path]


# --- dataset ------------------------------------------------------------------------------------------------
class AtomsDataset(Sequence):
    """A read-only ``Sequence[ase.Atoms]`` over one or more files; items are validated on access.

    Attributes:
        files: the files, in order.
        skipped: ``Counter`` of skip reasons when built with ``skip_invalid=True`` (empty otherwise).
    """

    def __init__(self, sources: list[_Source], *, limit=None, skip_invalid=False, require_energy=True,
                 require: tuple[str, ...] = ()):
        self._sources = sources
        self.require_energy = require_energy
        self.require = tuple(require)
        self.files = [s.path for s in sources]
        index = [(k, r) for k, s in enumerate(sources) for r in range(len(s))]
        self.skipped: Counter = Counter()
        self.skipped_files: dict[str, str] = {}
        if skip_invalid:
            kept = []
            for k, r in index:
                if limit is not None and len(kept) >= limit:
                    break
                try:
                    atoms = sources[k].raw(r)
                except Exception as err:  # noqa: BLE001 — an unreadable row is skipped with its reason
                    problem = f"unreadable row ({type(err).__name__})"
                else:
                    problem = validate(atoms, require_energy=require_energy, require=self.require)
                if problem is None:
                    kept.append((k, r))
                else:
                    self.skipped[problem.split(" (")[0]] += 1
            index = kept
            if self.skipped:
                n = sum(self.skipped.values())
                warnings.warn(f"read: skipped {n} invalid structure(s): {dict(self.skipped)}", stacklevel=3)
        self._index = index if limit is None else index[:limit]
        self._validate = not skip_invalid  # rows kept by the scan are valid already

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for dataset of {len(self)} structures")
        k, row = self._index[i]
        source = self._sources[k]
        try:
            atoms = source.raw(row)
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 — re-raised with file and row
            raise DataError(source.path, row, f"unreadable row ({type(err).__name__}: {err})") from err
        if self._validate:
            problem = validate(atoms, require_energy=self.require_energy, require=self.require)
            if problem is not None:
                raise DataError(source.path, row, problem)
        return atoms

    def reopen(self) -> None:
        """Reconnect database files in this process (call in a DataLoader worker after the fork)."""
        for source in self._sources:
            if hasattr(source, "reopen"):
                source.reopen()

    def check(self) -> "AtomsDataset":
        """Read and validate every structure now (raises the first :class:`DataError`); returns ``self``."""
        for i in range(len(self)):
            self[i]
        return self

    def fingerprint(self) -> str:
        """A short content hash of the files and the selected rows: the dataset id stored with every run.

        Files up to 256 MiB are hashed whole; larger ones by name, size and their first and last MiB.
        """
        h = hashlib.sha256()
        for path in self.files:
            size = path.stat().st_size
            h.update(f"{path.name}:{size}".encode())
            with open(path, "rb") as fh:
                if size <= 256 * 2**20:
                    h.update(fh.read())
                else:
                    h.update(fh.read(2**20))
                    fh.seek(-(2**20), os.SEEK_END)
                    h.update(fh.read())
        h.update(repr(self._index[:1] + self._index[-1:] + [len(self._index)]).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.files[:3]) + (", …" if len(self.files) > 3 else "")
        return f"AtomsDataset({len(self)} structures from {names})"


def read(source, *, limit: int | None = None, skip_invalid: bool = False, require_energy: bool = True,
         require: tuple[str, ...] = ()) -> AtomsDataset:
    """Read labelled structures from a file, a directory, a glob pattern or a list of those.

    Args:
        source: ``.aselmdb`` / ``.db`` / ``.extxyz`` / ``.xyz`` path, directory, glob, or list.
        limit: keep only the first ``limit`` structures (in file order).
        skip_invalid: skip unreadable files and invalid rows instead of raising; which and why is in
            ``dataset.skipped_files`` (path → reason) and ``dataset.skipped`` (reason → count).
        require_energy: a structure without an energy label is invalid (training needs it).
        require: further labels a structure must carry (``("forces",)``, ``("forces", "stress")``).

    Raises:
        DataError: naming the file and row, for unreadable, empty or invalid input.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"read: limit must be >= 0, got {limit}")
    sources, skipped_files = [], {}
    for path in _expand(source):
        try:
            sources.append(_open(path))
        except DataError as err:
            if not skip_invalid:
                raise
            skipped_files[err.path] = err.problem
    if skipped_files:
        listing = "; ".join(f"{p}: {why}" for p, why in skipped_files.items())
        warnings.warn(f"read: skipped {len(skipped_files)} unreadable file(s): {listing}", stacklevel=2)
    if not sources:
        raise DataError(source if isinstance(source, (str, os.PathLike)) else ", ".join(map(str, source)), None,
                        f"no readable files ({len(skipped_files)} skipped)")
    ds = AtomsDataset(sources, limit=limit, skip_invalid=skip_invalid, require_energy=require_energy,
                      require=require)
    ds.skipped_files = skipped_files
    return ds


def require_labels(dataset: AtomsDataset, labels=("energy", "forces")) -> AtomsDataset:
    """Make ``labels`` required in ``dataset`` (in place; returned): from now on reading a structure that lacks one
    raises :class:`DataError` naming the file, the row and the label, instead of failing later inside a batch.

    The trainer calls this right after reading its data; its reference fit and validation set then read every
    structure of the split before step 1, so a missing label stops the run before training starts.
    """
    labels = tuple(labels)
    if "energy" in labels:
        dataset.require_energy = True
    dataset.require = tuple(dict.fromkeys([*dataset.require, *(k for k in labels if k != "energy")]))
    dataset._validate = True
    return dataset


def element_symbol(z: int) -> str:
    return chemical_symbols[z]
