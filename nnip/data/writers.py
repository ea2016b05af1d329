"""Write structures in the LMDB-backed ASE database format that OMol25 and OMat24 ship in (``.aselmdb``).

The format is the one of ``ase_db_backends.aselmdb.LMDBDatabase`` (``ase.db.connect(path, type="aselmdb")``):
one LMDB file (``subdir=False``), one zlib-compressed ASE-JSON dict per row under the key ``"<id>"`` (ids 1..n),
plus the reserved keys ``"nextid"``, ``"deleted_ids"`` and ``"metadata"``. Each row holds, as the OMol25 files
and ``shared/data/botnet-ethanol/ethanol.aselmdb`` do:

- ``numbers`` (n_atoms,), ``positions`` (n_atoms, 3) Å, ``cell`` (3, 3) Å (zeros for molecules), ``pbc`` (3,);
- the labels of a :class:`~ase.calculators.singlepoint.SinglePointCalculator` (``calculator == "unknown"``):
  ``energy`` eV, ``forces`` (n_atoms, 3) eV/Å and, for periodic structures, ``stress`` (6,) eV/Å³ in Voigt
  order, ASE sign convention;
- ``data``: a dict with at least ``charge`` (int, e) and ``spin`` (int, multiplicity 2S+1), followed by every
  other entry of ``atoms.info`` (provenance such as ``smiles`` or ``conformer``);
- ``key_value_pairs``: the entries of ``atoms.info`` named by ``key_value_keys`` (searchable with ``db.select``).

``unique_id`` is a hash of the row's index and content and ``ctime`` is fixed, so two generations with the same
seed differ only in ``mtime`` (which the backend always stamps).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["write_aselmdb", "temp_path_for", "remove_lmdb"]

#: Rows per LMDB write transaction (bounded memory for large files).
_CHUNK = 2000


def temp_path_for(path: str | os.PathLike) -> Path:
    """A unique sibling of ``path`` to write into before an atomic rename (same directory, same file system)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def remove_lmdb(path: str | os.PathLike) -> None:
    """Delete an LMDB file and its ``-lock`` companion, if present."""
    _unlink(Path(path))
    _unlink(Path(f"{path}-lock"))


def _row_data(atoms: Atoms) -> dict:
    info = dict(atoms.info)
    data = {"charge": int(info.pop("charge", 0)), "spin": int(info.pop("spin", 1))}
    for key, value in info.items():
        data[key] = value.item() if isinstance(value, np.generic) else value
    return data


def _problem(atoms: Atoms) -> str | None:
    """Why ``atoms`` must not be written (no labels, NaN/inf in positions, cell or a label), or ``None``."""
    if atoms.calc is None:
        return "structure has no calculator with labels"
    if not np.isfinite(atoms.positions).all():
        return "NaN/inf in positions"
    if not np.isfinite(np.asarray(atoms.cell[:])).all():
        return "NaN/inf in cell"
    for key, value in (atoms.calc.results or {}).items():
        try:
            finite = np.isfinite(np.asarray(value, dtype=np.float64)).all()
        except (TypeError, ValueError):
            continue  # a non-numeric result is not a label
        if not finite:
            return f"NaN/inf in {key}"
    return None


def _unique_id(index: int, atoms: Atoms) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(index).encode())
    h.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
    return h.hexdigest()


def write_aselmdb(
    atoms_iterable: Iterable[Atoms],
    path: str | os.PathLike,
    *,
    key_value_keys: Iterable[str] = (),
    metadata: Mapping | None = None,
) -> int:
    """Write ``atoms_iterable`` to a new ``.aselmdb`` file at ``path`` atomically; return the number of rows.

    The rows are streamed (the iterable may be a generator) into a temporary sibling file which is renamed onto
    ``path`` only once every row is committed, so an interrupted write never leaves a file at ``path``; an
    existing file at ``path`` is replaced. Each ``Atoms`` must carry its labels on a calculator
    (``SinglePointCalculator``: energy, forces[, stress]); ``atoms.info`` goes to the row's ``data`` (with
    ``charge`` default 0 and ``spin`` default 1) and the keys in ``key_value_keys`` also to its
    ``key_value_pairs``. ``metadata`` is stored as the database metadata (``db.metadata``).

    A structure without labels or with NaN/inf in its positions, cell or labels raises
    :class:`~nnip.data.DataError` naming ``path`` and the structure's index, and nothing is written.

    >>> from ase.build import molecule
    >>> from ase.calculators.singlepoint import SinglePointCalculator
    >>> a = molecule("H2O"); a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((3, 3)))
    >>> write_aselmdb([a], "/tmp/_doctest.aselmdb")
    1
    """
    from ase.db import connect  # optional heavy: ase.db
    from ase.db.row import AtomsRow  # optional heavy: ase.db

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key_value_keys = tuple(key_value_keys)
    tmp = temp_path_for(path)
    n = 0
    try:
        iterator = iter(atoms_iterable)
        done = False
        while not done:
            # one transaction per chunk: the backend commits on leaving the ``with`` block
            with connect(tmp, type="aselmdb", use_lock_file=False) as db:
                if n == 0 and metadata is not None:
                    db.metadata = dict(metadata)
                for _ in range(_CHUNK):
                    try:
                        atoms = next(iterator)
                    except StopIteration:
                        done = True
                        break
                    problem = _problem(atoms)
                    if problem is not None:
                        from nnip.data.readers import DataError  # lazy: readers load ase.db

                        raise DataError(path, n, f"{problem}; refusing to write it")
                    row = AtomsRow(atoms)
                    row.unique_id = _unique_id(n, atoms)
                    row.ctime = 0.0
                    row.user = None
                    data = _row_data(atoms)
                    kvp = {k: data[k] for k in key_value_keys if k in data}
                    db.write(row, key_value_pairs=kvp, data=data)
                    n += 1
        os.replace(tmp, path)
    except BaseException:
        remove_lmdb(tmp)
        raise
    finally:
        _unlink(Path(f"{tmp}-lock"))  # the lock companion of the temporary name, never needed by readers
    return n
