"""The Slurm jobs of a sweep (:mod:`nnip.sweep`, ``--executor slurm``): submission as a submitit job array, the
record of each run's job in the store, the jobs' states, their results, and the one-line reason of a job that
ended without one.

- **Record.** Every submitted run gets ``<store>/runs/<id>/slurm.json`` (job id, submitit folder, tasks), so that a
  later ``nnip sweep`` or ``nnip runs status`` of the same spec finds the job, waits for it or reports it, and
  resubmits only what has no job in the queue.
- **States** come from ``squeue`` (live) and ``sacct`` (accounting: jobs that left the queue); a job in a final
  state without a result file ended without a result (cancelled, killed, out of memory, time limit without
  requeue, node failure). Waiting never depends on one answer only: a job that neither knows for a while, or a
  cluster that does not answer for ``LOST_AFTER_S``, ends the wait.
- **Reasons** are one line: what happened, the final state and the most telling ``slurmstepd``/``srun`` error
  line of the job's last attempt (``slurm job 4_0 ran out of memory (FAILED, no result): slurmstepd: error:
  StepId=5.0 exceeded memory limit (1173770240 > 1073741824), being killed``).
"""

from __future__ import annotations

import datetime
import os
import pickle
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from nnip.errors import UserError

__all__ = ["JOB_FILE", "ACTIVE", "JobRef", "SlurmUnavailable", "read_ref", "write_ref", "states", "result",
           "ended_reason", "one_line", "submit", "wait", "describe", "cluster_name"]

#: the file in a run's directory that names its Slurm job
JOB_FILE = "slurm.json"
#: states of a job that may still produce a result (submitit requeues preempted and timed-out jobs)
ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                    "RESIZING", "SUSPENDED", "PREEMPTED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"})
#: seconds after which a job that neither squeue nor sacct knows (and that left no result) counts as ended
VANISHED_AFTER_S = 60.0
#: seconds without any answer from the cluster after which waiting stops with :class:`SlurmUnavailable`
LOST_AFTER_S = 600.0


class SlurmUnavailable(UserError):
    """The Slurm cluster cannot be reached (no ``sbatch``, or its controller does not answer)."""


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace collapsed), at most ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def cluster_name() -> str:
    """``cluster NAME (controller HOST)`` from the Slurm configuration file, or ``the Slurm cluster``."""
    path = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    try:
        text = path.read_text()
    except OSError:
        return "the Slurm cluster"
    conf = dict(re.findall(r"(?im)^\s*(ClusterName|SlurmctldHost|ControlMachine)\s*=\s*(\S+)", text))
    conf = {k.lower(): v for k, v in conf.items()}
    name = conf.get("clustername", "?")
    host = (conf.get("slurmctldhost") or conf.get("controlmachine") or "?").split("(")[0]
    return f"Slurm cluster {name!r} (controller {host})"


# --- the record of a run's job ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRef:
    """A submitted job: its id (``123_4`` for an array element), submitit's folder (with ``%j``), its tasks."""

    job_id: str
    folder: str
    ntasks: int = 1

    def paths(self, task: int = 0):
        from submitit.core.utils import JobPaths  # optional: submitit (the sweep extra)

        return JobPaths(self.folder, job_id=self.job_id, task_id=task)


def read_ref(store, run_id: str) -> JobRef | None:
    d = store.read_json(run_id, JOB_FILE)
    if not d or "job_id" not in d:
        return None
    return JobRef(str(d["job_id"]), str(d["folder"]), int(d.get("ntasks", 1)))


def write_ref(store, run_id: str, ref: JobRef) -> None:
    store.write_json(run_id, JOB_FILE, {"job_id": ref.job_id, "folder": ref.folder, "ntasks": ref.ntasks,
                                        "submitted": datetime.datetime.now(datetime.timezone.utc)
                                        .isoformat(timespec="seconds")})


# --- states -------------------------------------------------------------------------------------------------------
def _expand(job_id: str) -> list[str]:
    """``123_[0-2,5%2]`` → ``123_0 123_1 123_2 123_5``; other ids unchanged."""
    m = re.fullmatch(r"(\d+)_\[([\d,\-]+)(?:%\d+)?\]", job_id)
    if not m:
        return [job_id]
    out = []
    for part in m.group(2).split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group(1)}_{k}" for k in range(int(lo), int(hi or lo) + 1)]
    return out


def _run(cmd: list[str], timeout: float = 60) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """``{job id: STATE}`` for the jobs that ``squeue`` (live, preferred) or ``sacct`` (finished jobs) knows; a job
    neither knows is absent. ``None`` if neither command answered (cluster unreachable)."""
    job_ids = sorted(set(job_ids))
    if not job_ids:
        return {}
    base = ",".join(sorted({j.split("_")[0] for j in job_ids}))
    out: dict[str, str] = {}
    acct = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", base])
    queue = _run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", base])
    if acct is None and queue is None:
        return None
    for text in (acct or "", queue or ""):  # squeue second: the live state wins
        for line in text.splitlines():
            jid, _, state = line.strip().partition("|")
            for j in _expand(jid):
                if state:
                    out[j] = state.split()[0].upper()  # "CANCELLED by 0" -> CANCELLED
    return {j: s for j, s in out.items() if j in job_ids}


# --- results ------------------------------------------------------------------------------------------------------
def result(ref: JobRef) -> dict | None:
    """The result of task 0 (rank 0: the row :func:`nnip.sweep._run_one` returned), or ``None`` if the job has not
    written one (yet). A job whose function raised (submitit giving up after too many timeouts) gives a failed row."""
    path = ref.paths(0).result_pickle
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            outcome, value = pickle.load(fh)
    except (EOFError, pickle.UnpicklingError, OSError):
        return None  # being written: read it at the next poll
    if outcome == "success" and isinstance(value, dict):
        return value
    lines = [ln for ln in str(value).splitlines() if ln.strip()]
    return {"status": "failed", "cached": False,
            "reason": one_line(f"slurm job {ref.job_id}: {lines[-1] if lines else outcome}")}


def _error_lines(ref: JobRef) -> list[str]:
    """The ``slurmstepd``/``srun`` error lines of the job's last attempt (its stderr is appended to on every
    requeue; an attempt starts where submitit logs its start)."""
    try:
        text = ref.paths(0).stderr.read_text(errors="replace")[-200_000:]
    except OSError:
        return []
    start = text.rfind("Starting with JobEnvironment")
    lines = text[text.rfind("\n", 0, start) + 1:].splitlines() if start >= 0 else text.splitlines()
    return [ln.strip() for ln in lines if re.match(r"\s*(slurmstepd|srun)(-\S+)?: error:", ln)]


#: what a job that ended without a result went through, by its error lines (first match wins) or its state
_CAUSES = (
    ("ran out of memory", r"memory limit|oom[-_ ]kill|out of memory", ("OUT_OF_MEMORY",)),
    ("was cancelled", r"CANCELLED AT", ("CANCELLED",)),
    ("hit its time limit", r"DUE TO TIME LIMIT", ("TIMEOUT", "DEADLINE")),
    ("lost its node", r"NODE FAIL", ("NODE_FAIL", "BOOT_FAIL")),
    ("was killed", r"task \d+: (Killed|Terminated|Segmentation|Aborted)", ()),
)


def ended_reason(ref: JobRef, state: str) -> str:
    """One line: ``slurm job ID <what happened> (STATE, no result): <its most telling error line>``, e.g.
    ``slurm job 4_0 ran out of memory (FAILED, no result): slurmstepd: error: ... exceeded memory limit ...``."""
    errors = _error_lines(ref)
    for what, pattern, states in _CAUSES:
        hit = next((ln for ln in errors if re.search(pattern, ln, re.I)), None)
        if hit is not None or state in states:
            break
    else:
        what, hit = "ended", None
    line = hit or (errors[0] if errors else "")
    return one_line(f"slurm job {ref.job_id} {what} ({state}, no result)" + (f": {line}" if line else ""))


# --- submission and waiting ----------------------------------------------------------------------------------------
def submit(fn, args: list, folder: str, params: dict) -> list[JobRef]:
    """Submit ``fn(a) for a in args`` as one submitit job array; :class:`SlurmUnavailable` (one line naming the
    cluster) if sbatch is missing or fails."""
    import submitit  # optional: submitit (the sweep extra)

    if shutil.which("sbatch") is None:
        raise SlurmUnavailable("--executor slurm: no sbatch on PATH (is this a Slurm login node?)")
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
    ex.update_parameters(**params)
    try:
        jobs = ex.map_array(fn, args)
    except Exception as err:  # noqa: BLE001 — submitit wraps sbatch's error in FailedJobError
        msg = [ln for ln in str(err).splitlines() if "error" in ln.lower()] or [str(err)]
        raise SlurmUnavailable(f"cannot submit to {cluster_name()}: {one_line(msg[-1], 200)} "
                               "(is it up? `sinfo` should answer)") from None
    ntasks = int(params.get("tasks_per_node") or 1)
    return [JobRef(str(j.job_id), folder, ntasks) for j in jobs]


def wait(refs: dict[str, JobRef], on_result: Callable[[str, dict, str | None], None], *, poll_s: float = 2.0) -> None:
    """Wait until every job in ``refs`` (key → job) has a result or has ended without one; calls
    ``on_result(key, result_or_None, reason_if_none)`` once per key as it happens. Result files are checked every
    ``poll_s``; the cluster is asked every ``poll_s`` at first, less often (up to every 60 s) as the wait goes on."""
    pending = dict(refs)
    start = last_answer = time.monotonic()
    next_query = 0.0
    last_states: dict[str, str] = {}
    final_since: dict[str, float] = {}
    unknown_since: dict[str, float] = {}
    answered = False
    while pending:
        now = time.monotonic()
        if now >= next_query:
            got = states(r.job_id for r in pending.values())
            next_query = now + min(60.0, max(poll_s, (now - start) / 10))
            answered = got is not None
            if got is None:
                if now - last_answer > LOST_AFTER_S:
                    raise SlurmUnavailable(f"{cluster_name()} has not answered squeue or sacct for "
                                           f"{LOST_AFTER_S / 60:.0f} min; its jobs may still run "
                                           "(see `nnip runs status`)")
            else:
                last_answer, last_states = now, got
        for key, ref in list(pending.items()):
            res = result(ref)
            if res is not None:
                del pending[key]
                on_result(key, res, None)
                continue
            state = last_states.get(ref.job_id)
            if state is None:  # not (yet, or any more) known to squeue or sacct
                if not answered:
                    continue
                unknown_since.setdefault(key, now)
                if now - unknown_since[key] > VANISHED_AFTER_S:
                    del pending[key]
                    on_result(key, None, f"slurm job {ref.job_id} left the queue without a result, and sacct "
                                         "has no record of it")
                continue
            unknown_since.pop(key, None)
            final = state not in ACTIVE
            if not final:
                final_since.pop(key, None)
                continue
            # a final state: give a slow shared file system a moment to show the result file
            final_since.setdefault(key, now)
            if now - final_since[key] >= (15.0 if state == "COMPLETED" else 3.0):
                del pending[key]
                on_result(key, None, ended_reason(ref, state))
        if pending:
            time.sleep(poll_s)


def describe(refs: dict[str, JobRef]) -> dict[str, tuple[str, dict | None, str | None]]:
    """``{key: (STATE, result or None, reason or None)}`` now, without waiting: a job that ended without a result
    has a reason; an active one neither."""
    got = states(r.job_id for r in refs.values()) or {}
    out = {}
    for key, ref in refs.items():
        res = result(ref)
        state = got.get(ref.job_id, "UNKNOWN")
        reason = None
        if res is None and state not in ACTIVE and state != "UNKNOWN":
            reason = ended_reason(ref, state)
        out[key] = (state, res, reason)
    return out
