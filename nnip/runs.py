"""``RunStore``: a directory of self-describing training runs, safe for concurrent writers.

Layout (one directory per run, named by the run id — a short hash of the resolved config, see
:meth:`nnip.train.TrainConfig.run_id`)::

    <root>/runs/<run_id>/config.json    resolved config, code version, dataset id + hash, normaliser,
                                         package versions, device            (written once per start)
                         curve.csv      one row per evaluation, append-only (truncated to the last
                                         checkpoint's row count on resume)
                         summary.json   status running|done|failed, reason, N, FLOPs, hours, losses, tags
                         checkpoint.pt  model/optimiser/RNG/data position (git-ignored; weights_only=True)
                         .lock          fcntl lock held by the process training the run (removed when
                                         it is released, also after Ctrl-C)

Every JSON/checkpoint write goes to a temporary file in the same directory and is moved into place with
``os.replace`` (atomic on POSIX), so a reader never sees half a file and a ``kill -9`` never leaves one. Curve rows
are appended with one ``write`` each; a reader drops a trailing partial line. Only the lock holder writes a run,
so two processes sharing a store never interleave writes to the same run.

A store that cannot be written (read-only or full file system, permissions) raises one
:class:`~nnip.errors.StoreError` naming the file, and is left as it was: a failed JSON/checkpoint write removes its
temporary file, a failed curve append is cut back to the last complete row, and a run directory created for a run
that then wrote nothing is removed again.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from nnip._flock import exclusive_lock
from nnip._nested import flatten
from nnip.errors import StoreError

__all__ = ["RunStore", "RunLocked", "StoreError", "CURVE_COLUMNS", "FINAL_STATUSES", "RUN_LOG", "is_final"]

#: environment variable: a file to which :func:`nnip.paper._common.run_study` appends ``study<TAB>run id`` for every
#: run a page reads (``python -m nnip.book`` sets it, then checks that the pages read exactly the catalog's runs)
RUN_LOG = "NNIP_RUN_LOG"

#: columns every curve.csv starts with (models predicting stress add ``val_stress_mae``; TTA adds ``*_tta``)
CURVE_COLUMNS = (
    "step", "epoch", "atoms_seen", "structures_seen", "flops", "wall_s", "wall_s_train", "train_loss", "val_loss",
    "val_energy_mae", "val_force_l2", "val_energy_loss", "val_force_loss", "lr",
)


#: statuses of a finished run (a cache hit); a run that failed by diverging is final too (see :func:`is_final`)
FINAL_STATUSES = ("done",)


def is_final(summary: dict | None) -> bool:
    """Whether a run with this ``summary.json`` is finished: ``done``, or ``failed`` because it diverged (re-running
    it would diverge again); any other failure is retried (it resumes from its checkpoint)."""
    if not summary:
        return False
    if summary.get("status") in FINAL_STATUSES:
        return True
    return summary.get("status") == "failed" and str(summary.get("reason", "")).startswith("diverged")


class RunLocked(RuntimeError):
    """Another process holds the run's lock."""


def _store_error(path: Path, err: OSError) -> StoreError:
    why = err.strerror or str(err)
    hint = {"ENOSPC": "free some space", "EDQUOT": "free some space", "EROFS": "use a writable --store",
            "EACCES": "check the permissions or use another --store"}.get(_errno_name(err), "")
    return StoreError(f"cannot write the run store at {path}: {why}" + (f" ({hint})" if hint else ""))


def _errno_name(err: OSError) -> str:
    return errno.errorcode.get(err.errno or 0, "")


def _mkdir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except StoreError:
        raise
    except OSError as err:
        raise _store_error(d, err) from err


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _mkdir(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, StoreError):
            raise _store_error(path, err) from err
        raise


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, (set, tuple)):
        return list(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _clean(x):
    """NaN/inf → None so that the JSON is standard."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


class RunStore:
    """A run store rooted at ``path`` (created on first write).

    >>> store = RunStore("results/cpu")            # doctest: +SKIP
    >>> store.summaries()                           # one row per run  # doctest: +SKIP
    >>> store.curves()                              # one row per evaluation, with run options  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike):
        self.root = Path(path)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # --- paths ------------------------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))

    def __contains__(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "summary.json").exists()

    # --- locking ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, run_id: str, *, blocking: bool = True) -> Iterator[None]:
        """Exclusive ``fcntl.flock`` on ``<run>/.lock`` for the duration of the block (released when the process
        dies, even by ``kill -9``). ``blocking=False`` raises :class:`RunLocked` if another process holds it."""
        d = self.run_dir(run_id)
        created = not d.exists()
        try:
            with contextlib.ExitStack() as stack:
                try:
                    stack.enter_context(exclusive_lock(d / ".lock", blocking=blocking))
                except BlockingIOError as err:
                    raise RunLocked(f"run {run_id} is being trained by another process") from err
                except OSError as err:  # read-only store, permissions
                    raise _store_error(d, err) from err
                yield
        finally:
            if created:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if empty: a run that wrote nothing leaves the store as it was

    # --- JSON -------------------------------------------------------------------------------------------------
    def write_json(self, run_id: str, name: str, obj: dict) -> None:
        data = json.dumps(_clean(obj), indent=1, sort_keys=False, default=_json_default, allow_nan=False)
        _atomic_write_bytes(self.run_dir(run_id) / name, (data + "\n").encode())

    def read_json(self, run_id: str, name: str) -> dict | None:
        path = self.run_dir(run_id) / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def read_summary(self, run_id: str) -> dict | None:
        return self.read_json(run_id, "summary.json")

    def read_config(self, run_id: str) -> dict | None:
        return self.read_json(run_id, "config.json")

    def write_summary(self, run_id: str, summary: dict) -> None:
        self.write_json(run_id, "summary.json", summary)

    def write_config(self, run_id: str, config: dict) -> None:
        self.write_json(run_id, "config.json", config)

    # --- curves -----------------------------------------------------------------------------------------------
    def curve_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "curve.csv"

    def start_curve(self, run_id: str, columns: list[str]) -> None:
        """(Re)create an empty curve with a header (atomic)."""
        _atomic_write_bytes(self.curve_path(run_id), (",".join(columns) + "\n").encode())

    def append_curve(self, run_id: str, row: dict, columns: list[str]) -> None:
        """Append one row (one ``write`` of one complete line, flushed and fsynced)."""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(c)) for c in columns])
        path = self.curve_path(run_id)
        data = buf.getvalue().encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as err:
            raise _store_error(path, err) from err
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device (short write)")
            os.fsync(fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no partial row left behind
            raise _store_error(path, err) from err
        finally:
            os.close(fd)

    def _curve_lines(self, run_id: str) -> list[str]:
        try:
            text = self.curve_path(run_id).read_text()
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        return lines[:-1]  # the part after the last "\n" is empty or a partial line: dropped

    def curve_rows(self, run_id: str) -> int:
        """Number of complete data rows."""
        return max(0, len(self._curve_lines(run_id)) - 1)

    def truncate_curve(self, run_id: str, n_rows: int) -> None:
        """Keep the header and the first ``n_rows`` complete rows (atomic rewrite)."""
        lines = self._curve_lines(run_id)
        if not lines:
            raise FileNotFoundError(f"run {run_id} has no curve to truncate")
        keep = lines[: 1 + n_rows]
        _atomic_write_bytes(self.curve_path(run_id), ("\n".join(keep) + "\n").encode())

    def read_curve(self, run_id: str) -> pd.DataFrame:
        lines = self._curve_lines(run_id)
        if not lines:
            return pd.DataFrame(columns=list(CURVE_COLUMNS))
        return pd.read_csv(io.StringIO("\n".join(lines) + "\n"))

    # --- checkpoints ------------------------------------------------------------------------------------------
    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def save_checkpoint(self, run_id: str, state: dict) -> None:
        import torch  # optional heavy: torch (checkpoints only)

        buf = io.BytesIO()
        torch.save(state, buf)
        _atomic_write_bytes(self.checkpoint_path(run_id), buf.getvalue())

    def load_checkpoint(self, run_id: str, map_location="cpu") -> dict | None:
        import torch  # optional heavy: torch (checkpoints only)

        path = self.checkpoint_path(run_id)
        if not path.exists():
            return None
        return torch.load(path, map_location=map_location, weights_only=True)

    def delete_checkpoint(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.checkpoint_path(run_id).unlink()

    def mark_failed(self, run_id: str, reason: str, **fields) -> bool:
        """Record that the process training ``run_id`` died without saying so (a cancelled or killed job, out of
        memory): ``status = failed`` with ``reason`` (and ``fields`` where the summary has none), unless the run is
        finished or failed already or a live process holds its lock. Returns whether it wrote. Its checkpoint is
        kept: training it again resumes it."""
        import datetime  # noqa: PLC0415 — only here

        try:
            with self.lock(run_id, blocking=False):
                s = self.read_summary(run_id)
                if s is not None and (is_final(s) or s.get("status") == "failed"):
                    return False
                when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
                self.write_summary(run_id, {"run_id": run_id, **fields, **(s or {}), "status": "failed",
                                            "reason": reason, "updated": when})
                return True
        except RunLocked:
            return False

    # --- tables -----------------------------------------------------------------------------------------------
    def summaries(self) -> pd.DataFrame:
        """One row per run: the summary fields plus the run's flattened resolved config (``optim.lr``, …)."""
        rows = []
        for run_id in self.run_ids():
            s = self.read_summary(run_id)
            if s is None:
                continue
            cfg = self.read_config(run_id) or {}
            rows.append({**_options(cfg), **_flat_summary(s), "run_id": run_id})
        df = pd.DataFrame(rows)
        if len(df):
            first = [c for c in ("run_id", "arch", "status", "params", "flops", "hours", "best_val_loss") if c in df]
            df = df[first + [c for c in df.columns if c not in first]]
        return df

    def left_out(self, run_ids: list[str] | None = None) -> dict[str, str]:
        """The runs (of ``run_ids``, default all) that a fit over this store must leave out, with the reason:
        failed (diverged, even at step 1, or crashed), not in the store, or without a single evaluation row."""
        out = {}
        for run_id in run_ids if run_ids is not None else self.run_ids():
            s = self.read_summary(run_id)
            if s is None:
                out[run_id] = "not in the store (no summary.json)"
            elif s.get("status") == "failed":
                out[run_id] = f"failed: {s.get('reason') or 'no reason recorded'}"
            elif self.curve_rows(run_id) == 0:
                out[run_id] = f"no evaluations in curve.csv (status {s.get('status')})"
        return out

    def curves(self, run_ids: list[str] | None = None, *, status: str | None = None) -> pd.DataFrame:
        """All curves stacked, each row joined with ``run_id``, ``arch``, ``params`` (N), ``status``, ``tags`` and the
        run's options (flattened resolved config: ``data.fraction``, ``loss.symmetry_m``, ``train.augment``, …)."""
        frames = []
        for run_id in run_ids if run_ids is not None else self.run_ids():
            s = self.read_summary(run_id)
            if s is None or (status is not None and s.get("status") != status):
                continue
            df = self.read_curve(run_id)
            if not len(df):
                continue
            cfg = self.read_config(run_id) or {}
            extra = {"run_id": run_id, "arch": s.get("arch"), "params": s.get("params"), "status": s.get("status"),
                     "tags": ",".join(s.get("tags") or []), **_options(cfg)}
            for k, v in extra.items():
                if k not in df.columns:
                    df[k] = v
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["run_id", "arch", "params", *CURVE_COLUMNS])
        out = pd.concat(frames, ignore_index=True)
        first = ["run_id", "arch", "params", *[c for c in CURVE_COLUMNS if c in out]]
        return out[first + [c for c in out.columns if c not in first]]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else repr(v))
    return str(v)


def _options(cfg: dict) -> dict:
    c = cfg.get("config") or {}
    c = {k: v for k, v in c.items() if k not in ("runtime", "tags")}
    return flatten(c)


def _flat_summary(s: dict) -> dict:
    out = {}
    for k, v in s.items():
        if isinstance(v, (dict, list)):
            out[k] = json.dumps(v)
        else:
            out[k] = v
    return out
