"""Sweeps on a real Slurm cluster: the one-node cluster that ``.ci/slurm-up`` starts on localhost (CI runs it; see
the README's "Run on a Slurm cluster"). Skipped where ``sinfo`` does not answer, unless ``NNIP_REQUIRE_SLURM=1``
(``.ci/run`` sets it), where they fail instead.

What is checked, each against an uninterrupted local run of the same configs: a sweep as a job array fills the store
with the same runs and bit-identical curves; a job preempted (submitit's USR2 checkpoint), requeued from outside
(``scontrol requeue``) or reaching its time limit resumes from the run's checkpoint to the same curve; a job that
dies (out of memory, a killed process, ``scancel``) is recorded as failed with a one-line reason and the sweep
names it; ``--no-wait`` then ``nnip runs status`` and a second ``nnip sweep`` resubmit only what is missing;
data-parallel runs over ``srun --ntasks 2`` give the 1-process curve, and a rank that dies fails its run.
Models: the trainer tests' stand-in and its failing variants (:mod:`tests.runs.slurm_models`) on the tiny preset.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnip import _slurm
from nnip.runs import RunStore
from nnip.sweep import expand, run_sweep
from tests.train.test_ddp import DDP_RTOL

EXACT = ["step", "epoch", "atoms_seen", "structures_seen", "flops", "train_loss", "val_loss", "val_energy_mae",
         "val_force_l2", "val_energy_loss", "val_force_loss", "lr"]
MODELS = "tests.runs.slurm_models"

#: under pytest-xdist (``make test``) these tests run one after the other on one worker: they share the one cluster
#: (its queue, its 8 declared CPUs, the time limits they test)
pytestmark = pytest.mark.xdist_group("slurm")


def _why_no_cluster() -> str | None:
    """None if ``sinfo`` answers with a node up, else why not."""
    if shutil.which("sinfo") is None:
        return "no sinfo on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    if out.returncode != 0:
        return f"sinfo: {' '.join(out.stderr.split())}"
    if not re.search(r"idle|mixed|allocated|completing", out.stdout):
        return f"no node up (sinfo: {' '.join(out.stdout.split())})"
    return None


WHY_NOT = _why_no_cluster()


@pytest.fixture
def cluster():
    """The cluster tests: skipped where no cluster answers, failed instead under ``NNIP_REQUIRE_SLURM=1`` (CI)."""
    if WHY_NOT and os.environ.get("NNIP_REQUIRE_SLURM") == "1":
        pytest.fail(f"NNIP_REQUIRE_SLURM=1 but no Slurm cluster answers: {WHY_NOT}")
    if WHY_NOT:
        pytest.skip(f"no Slurm cluster ({WHY_NOT}); `sudo .ci/slurm-up` starts a local one")
    from nnip.data.registry import ensure_dataset

    ensure_dataset("xtb-mols", n=64, seed=0, progress=False)  # the tiny preset's data, before jobs need it


# --- helpers ------------------------------------------------------------------------------------------------------
def _spec(tmp_path: Path, name: str, models: list[dict] | None = None, **extra) -> Path:
    d = {"name": name, **({"models": models} if models else {}), **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _nnip(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnip.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nnip.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"nnip sweep still waiting after {timeout} s:\n{err[-3000:]}")
    return proc.returncode, out, err


def _until(pred, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(poll)
    pytest.fail(f"waited {timeout} s for {what}")


def _job(store: RunStore, run_id: str) -> str:
    return _until(lambda: (r := _slurm.read_ref(store, run_id)) and r.job_id, 60, f"the job of {run_id}")


def _same_curve(a, b) -> None:
    assert len(a) == len(b) and a["step"].is_unique
    for col in EXACT:
        assert a[col].tolist() == b[col].tolist(), col  # bit-identical


def _ids(spec: Path) -> list[str]:
    return [c.run_id() for c in expand(spec, "tiny")]


# --- without a cluster: job states and reasons -------------------------------------------------------------------
def test_job_ids_and_one_line_reasons(tmp_path):
    assert _slurm._expand("12_[0-2,5%2]") == ["12_0", "12_1", "12_2", "12_5"] and _slurm._expand("7_3") == ["7_3"]
    folder = tmp_path / "%j"
    logs = {  # the stderr of a job's last attempt (after submitit's start line), as Slurm 22.05 writes it
        "1_0": ["slurmstepd-vm: error: *** STEP 5.0 ON vm CANCELLED AT 2026-12-07T02:32:56 ***",
                "slurmstepd-vm: error: StepId=5.0 exceeded memory limit (1173770240 > 1073741824), being killed",
                "srun: error: vm: task 0: Killed"],
        "1_1": ["srun: error: vm: task 0: Killed"],
        "1_2": ["slurmstepd-vm: error: *** JOB 4 ON vm CANCELLED AT 2026-12-07T02:33:04 ***"],
        "1_3": [],
    }
    for job, lines in logs.items():
        ref = _slurm.JobRef(job, str(folder))
        ref.paths(0).stderr.parent.mkdir(parents=True, exist_ok=True)
        old = "slurmstepd-vm: error: *** JOB 4 ON vm CANCELLED AT 2026-12-07T01:00:00 DUE TO JOB REQUEUE ***\n"
        ref.paths(0).stderr.write_text(old + "submitit INFO (2026-12-07) - Starting with JobEnvironment(...)\n"
                                       + "".join(ln + "\n" for ln in lines))
    why = {job: _slurm.ended_reason(_slurm.JobRef(job, str(folder)), state)
           for job, state in (("1_0", "FAILED"), ("1_1", "FAILED"), ("1_2", "CANCELLED"), ("1_3", "NODE_FAIL"))}
    assert why["1_0"].startswith("slurm job 1_0 ran out of memory (FAILED, no result): ") and "exceeded" in why["1_0"]
    assert why["1_1"] == "slurm job 1_1 was killed (FAILED, no result): srun: error: vm: task 0: Killed"
    assert why["1_2"].startswith("slurm job 1_2 was cancelled (CANCELLED, no result): ") and "REQUEUE" not in why["1_2"]
    assert why["1_3"] == "slurm job 1_3 lost its node (NODE_FAIL, no result)"
    assert _slurm.one_line("a\n  b\tc", 4) == "a b…" and _slurm.result(_slurm.JobRef("1_0", str(folder))) is None


# --- on the cluster ------------------------------------------------------------------------------------------------
def test_sweep_as_a_job_array_fills_the_store_like_local(cluster, tmp_path):
    spec = _spec(tmp_path, "slurm-tiny", archs=["mpnn"])
    local = run_sweep(spec, "tiny", tmp_path / "local", progress=False)
    r = _nnip("sweep", spec, "--preset", "tiny", "--executor", "slurm", "--partition", "debug",
              "--store", tmp_path / "slurm")
    assert r.returncode == 0, r.stderr[-3000:]
    ids = _ids(spec)
    loc, sl = RunStore(tmp_path / "local"), RunStore(tmp_path / "slurm")
    assert sl.run_ids() == loc.run_ids() == sorted(ids) and local["status"].tolist() == ["done"] * len(ids)
    jobs = set()
    for run_id in ids:
        a, b = loc.read_summary(run_id), sl.read_summary(run_id)
        assert b["status"] == "done" and b["resumes"] == 0
        assert {k: b[k] for k in ("params", "steps", "atoms_seen", "flops", "best_val_loss")} == \
               {k: a[k] for k in ("params", "steps", "atoms_seen", "flops", "best_val_loss")}
        _same_curve(sl.read_curve(run_id), loc.read_curve(run_id))
        jobs.add(_slurm.read_ref(sl, run_id).job_id)
    assert len({j.split("_")[0] for j in jobs}) == 1 and len(jobs) == len(ids)  # one array, one element per run
    # a second sweep of the same spec: every run is a cache hit, nothing is submitted
    again = _nnip("sweep", spec, "--preset", "tiny", "--executor", "slurm", "--store", tmp_path / "slurm")
    assert again.returncode == 0 and {_slurm.read_ref(sl, i).job_id for i in ids} == jobs


def test_preempted_requeued_and_timed_out_jobs_resume_to_the_uninterrupted_curve(cluster, tmp_path):
    """Three jobs whose first attempt turns slow after step 1 (3-5 s per forward pass; a requeued attempt runs at full
    speed): one gets submitit's preemption signal (USR2: checkpoint, requeue), one is requeued from outside
    (``scontrol requeue``: SIGTERM, SIGKILL), one has a 1-minute time limit with ``--signal-delay 10``. Slurm checks
    limits every 30 s and signals when the time left is under delay + 30 s, so USR2 comes 20-50 s into the attempt:
    after its first checkpoint, before its end (~60 s). Each resumes from its last checkpoint to the same curve."""
    base = {"runtime.checkpoint_every": 1}
    slow = [{"hidden_dim": 8, "first_sleep_s": 3.0}, {"hidden_dim": 9, "first_sleep_s": 3.0}]
    spec = _spec(tmp_path, "preempt", [{"name": f"{MODELS}:SlowFirstAttempt", "batch_size": 8, "hparams": slow}],
                 base=base)
    spec_t = _spec(tmp_path, "timelimit", [{"name": f"{MODELS}:SlowFirstAttempt", "batch_size": 8,
                                             "hparams": [{"hidden_dim": 10, "first_sleep_s": 5.0}]}], base=base)
    store = RunStore(tmp_path / "slurm")
    common = ("--preset", "tiny", "--executor", "slurm", "--store", store.root)
    p = _start("sweep", spec, *common)
    t = _start("sweep", spec_t, *common, "--time", 1, "--signal-delay", 10)
    (usr2, requeue), (limited,) = _ids(spec), _ids(spec_t)
    _until(lambda: all(store.checkpoint_path(i).exists() for i in (usr2, requeue)), 90, "the first checkpoints")
    subprocess.run(["scancel", "--signal=USR2", _job(store, usr2)], check=True)
    subprocess.run(["scontrol", "requeue", _job(store, requeue)], check=True, capture_output=True)
    ref = RunStore(tmp_path / "ref")  # the uninterrupted runs (full speed outside Slurm), while the jobs wait
    run_sweep(spec, "tiny", ref.root, progress=False)
    run_sweep(spec_t, "tiny", ref.root, progress=False)
    for proc in (p, t):
        rc, out, err = _finish(proc)
        assert rc == 0, err[-3000:]
    for run_id in (usr2, requeue, limited):
        s = store.read_summary(run_id)
        assert s["status"] == "done" and s["resumes"] >= 1, (run_id, s)
        _same_curve(store.read_curve(run_id), ref.read_curve(run_id))

    def log(run_id):
        ref_ = _slurm.read_ref(store, run_id)
        return ref_.paths(0).stdout.read_text() + ref_.paths(0).stderr.read_text()

    assert "this job is preempted" in log(usr2)  # submitit's checkpoint-and-requeue path, not a timeout
    assert "CANCELLED" in log(requeue) and "DUE TO JOB REQUEUE" in log(requeue)
    assert "this job is timed-out" in log(limited)


def test_jobs_that_die_are_recorded_as_failed_with_one_line_reasons(cluster, tmp_path):
    """Out of memory (a 3 GB allocation under --mem-gb 1), a killed process (kill -9 of the training process) and
    ``scancel`` mid-run: each run is failed in the store with a one-line reason, the sweep exits 1 naming them."""
    models = [{"name": f"{MODELS}:MemoryHog", "batch_size": 8,
               "hparams": [{"hidden_dim": 8, "hog_mb": 3000}, {"hidden_dim": 9, "sleep_s": 1.0},
                           {"hidden_dim": 10, "sleep_s": 1.0}]}]
    spec = _spec(tmp_path, "faults", models)
    store = RunStore(tmp_path / "slurm")
    proc = _start("sweep", spec, "--preset", "tiny", "--executor", "slurm", "--store", store.root, "--mem-gb", 1)
    oom, killed, cancelled = _ids(spec)
    _until(lambda: store.curve_rows(killed) >= 1 and store.curve_rows(cancelled) >= 1, 90, "both runs to be mid-run")
    raw = subprocess.run(["squeue", "-h", "-j", _job(store, killed), "-o", "%A"], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    pids = subprocess.run(["scontrol", "listpids", raw], capture_output=True, text=True, check=True).stdout
    step_pids = [int(ln.split()[0]) for ln in pids.splitlines()[1:] if ln.split()[2] == "0"]  # step 0: python
    assert step_pids, pids
    for pid in step_pids:
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["scancel", _job(store, cancelled)], check=True)
    rc, out, err = _finish(proc, timeout=120)
    assert rc == 1
    why = {}
    for run_id in (oom, killed, cancelled):
        s = store.read_summary(run_id)
        assert s["status"] == "failed" and "\n" not in s["reason"], (run_id, s)
        why[run_id] = s["reason"]
    assert "ran out of memory" in why[oom] and "memory limit" in why[oom]
    assert "was killed" in why[killed] and "was cancelled" in why[cancelled]
    table = [ln for ln in out.splitlines() if ln.strip()]
    assert len(table) == 4 and all(i in out for i in why)  # header + one line per run
    last = err.strip().splitlines()[-1]
    assert last.startswith("nnip sweep: 3 of 3 runs failed:") and all(i in last for i in why)
    # the runs are not final: a sweep would retry them (the cancelled one resumes from its checkpoint)
    assert store.checkpoint_path(cancelled).exists()


def test_no_wait_then_status_then_resubmit_only_what_is_missing(cluster, tmp_path):
    """``--no-wait`` submits and returns; while the jobs wait (one array element at a time), a second ``--no-wait``
    sweep submits nothing and ``nnip runs status`` reports them; the queued job is cancelled; once the other run is
    done, ``nnip runs status`` reports one done, one failed (cancelled), and ``nnip sweep`` resubmits only that one."""
    go = tmp_path / "go"  # run a holds its array slot (so b stays queued) until the status check is done
    runs = [{"hidden_dim": 8, "wait_for": str(go)}, {"hidden_dim": 9, "sleep_s": 0.2}]
    spec = _spec(tmp_path, "nowait", [{"name": "tests.train.standin:PairMLP", "batch_size": 8, "hparams": runs}])
    store = RunStore(tmp_path / "slurm")
    common = ("--preset", "tiny", "--store", store.root)
    a, b = _ids(spec)
    r = _nnip("sweep", spec, *common, "--executor", "slurm", "--array-parallelism", 1, "--no-wait", timeout=60)
    assert r.returncode == 0 and r.stdout.count("submitted") == 2, r.stderr[-2000:]
    job_a, job_b = _job(store, a), _job(store, b)
    again = _nnip("sweep", spec, *common, "--executor", "slurm", "--no-wait", timeout=60)  # b waits for a's slot
    assert again.returncode == 0 and "submitted" not in again.stdout, again.stdout
    assert (_slurm.read_ref(store, a).job_id, _slurm.read_ref(store, b).job_id) == (job_a, job_b)
    st = _nnip("runs", "status", spec, *common, timeout=60)
    assert st.returncode == 0 and re.search(rf"{b} .* queued +{job_b} +PENDING", st.stdout), st.stdout
    subprocess.run(["scancel", job_b], check=True)
    go.touch()
    _until(lambda: (store.read_summary(a) or {}).get("status") == "done", 90, f"run {a} to finish")
    _until(lambda: not subprocess.run(["squeue", "-h", "-j", job_b], capture_output=True, text=True).stdout.strip(),
           60, f"job {job_b} to leave the queue")
    st = _nnip("runs", "status", spec, *common, timeout=60)
    assert st.returncode == 1, st.stdout
    assert re.search(rf"{a} .* done", st.stdout) and re.search(rf"{b} .* failed .*was cancelled", st.stdout)
    assert store.read_summary(b)["status"] == "failed" and "was cancelled" in store.read_summary(b)["reason"]
    done = _nnip("sweep", spec, *common, "--executor", "slurm", timeout=120)  # resubmits b only
    assert done.returncode == 0, done.stderr[-3000:]
    assert _slurm.read_ref(store, a).job_id == job_a and _slurm.read_ref(store, b).job_id != job_b
    assert store.read_summary(a)["status"] == "done" and store.read_summary(b)["status"] == "done"


def test_data_parallel_runs_over_srun(cluster, tmp_path, monkeypatch):
    """``--ntasks 2``: each run is ``srun --ntasks=2`` (gloo on CPU) with the global batch of the 1-process run and
    its curve to float round-off; a run whose rank 1 dies fails with a reason, nothing hangs. A plain
    ``srun --ntasks=2 nnip train`` (no submitit) gives the same curve."""
    monkeypatch.setenv("NNIP_DIST_TIMEOUT", "60")
    models = [{"name": f"{MODELS}:RankFault", "batch_size": 8,
               "hparams": [{"hidden_dim": 8}, {"hidden_dim": 8, "fault_rank": 1, "fault_after": 4}]}]
    spec = _spec(tmp_path, "ddp", models)
    ok, dies = _ids(spec)
    ref = RunStore(tmp_path / "ref")
    run_sweep(spec, "tiny", ref.root, progress=False)
    store = RunStore(tmp_path / "slurm")
    proc = _start("sweep", spec, "--preset", "tiny", "--executor", "slurm", "--ntasks", 2, "--store", store.root)
    cfg = expand(spec, "tiny")[0]
    cfg.to_yaml(tmp_path / "run.yaml")
    plain = subprocess.run(["srun", "--ntasks=2", sys.executable, "-m", "nnip.train", tmp_path / "run.yaml", "--store",
                            tmp_path / "srun", "-q"], capture_output=True, text=True, timeout=180)
    assert plain.returncode == 0, plain.stderr[-3000:]
    rc, out, err = _finish(proc, timeout=180)
    assert rc == 1 and dies in err.strip().splitlines()[-1]
    single = ref.read_curve(ok)
    for root in (store.root, tmp_path / "srun"):
        s = RunStore(root)
        assert s.read_summary(ok)["status"] == "done" and s.read_summary(ok)["world_size"] == 2
        ddp = s.read_curve(ok)
        for col in ("step", "structures_seen", "atoms_seen"):
            assert ddp[col].tolist() == single[col].tolist(), col
        for col in ("train_loss", "val_loss", "val_energy_mae", "val_force_l2"):
            np.testing.assert_allclose(ddp[col], single[col], rtol=DDP_RTOL, atol=0, err_msg=col)
    failed = store.read_summary(dies)
    assert failed["status"] == "failed" and "\n" not in failed["reason"]
    assert re.search(r"Connection (closed|reset) by peer|Timed out|RankTerminated", failed["reason"])


def test_a_cluster_that_does_not_answer_is_one_line_and_exit_2(cluster, tmp_path, monkeypatch):
    """The controller is down (here: the cluster's configuration with its controller on a port nothing listens on):
    one line naming the cluster, exit code 2, no traceback."""
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    conf = re.sub(r"(?m)^(SlurmctldPort|MessageTimeout)=.*\n", "", conf)
    (tmp_path / "slurm.conf").write_text(conf + "SlurmctldPort=6999\nMessageTimeout=1\n")
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    spec = _spec(tmp_path, "down", archs=["mpnn"])
    r = _nnip("sweep", spec, "--preset", "tiny", "--executor", "slurm", "--store", tmp_path / "s", timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert re.match(r"nnip sweep: error: cannot submit to Slurm cluster '\w+' \(controller \S+\): .*controller", last)
    assert not RunStore(tmp_path / "s").run_ids()  # nothing recorded as submitted
