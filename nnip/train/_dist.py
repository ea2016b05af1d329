"""Process-group plumbing for data-parallel training: ``torchrun --nproc_per_node=N -m nnip.train CONFIG``, or
``srun --ntasks=N`` in a Slurm job (``nnip sweep --executor slurm --ntasks N``; the step's ``SLURM_*`` variables
give rank, world size and the master address, the port is derived from the job id).

The trainer does not wrap the model in ``DistributedDataParallel``: every rank computes the loss of its shard
divided by the *global* batch size and gradients are summed with one flat ``all_reduce`` — the exact gradient of the
global-batch mean, whatever the shard sizes. gloo on CPU, nccl on CUDA.

A rank that dies or hangs does not hang the others: gloo fails a collective at once when a peer's connection
closes, and every collective fails after ``$NNIP_DIST_TIMEOUT`` seconds (default 1800); rank 0 then records the run
as failed with the error as its reason. Under torchrun, which stops every process (SIGTERM) as soon as one fails,
the first SIGTERM becomes an exception too, so that rank 0 records the failure before it exits.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import sys
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "setup", "RankTerminated", "TIMEOUT_ENV", "slurm_environment"]

#: environment variable: seconds a collective waits for the other ranks before it fails (default 1800 s: long
#: enough for a rank that generates a dataset while the others wait, short enough that a dead rank fails the run)
TIMEOUT_ENV = "NNIP_DIST_TIMEOUT"


class RankTerminated(RuntimeError):
    """This process was told to stop (SIGTERM from torchrun, because another process of the run failed)."""


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def all_gather_rows(self, row: torch.Tensor) -> torch.Tensor:
        """``(world, *row.shape)``: every rank's ``row``."""
        if not self.enabled:
            return row[None]
        out = torch.zeros((self.world, *row.shape), dtype=row.dtype, device=row.device)
        out[self.rank] = row
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast_params(self, module: torch.nn.Module) -> None:
        if self.enabled:
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def all_reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        if not self.enabled:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def _first_host(nodelist: str) -> str:
    """The first host of a Slurm node list: ``"gpu[03-05,7],cpu1"`` → ``"gpu03"``."""
    m = re.match(r"([^,\[]+)(?:\[([^\],-]+))?", nodelist.strip())
    return (m.group(1) + (m.group(2) or "")) if m else "127.0.0.1"


def slurm_environment(env=None) -> dict[str, str]:
    """torchrun's variables (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) for a task of
    an ``srun`` step with more than one task; ``{}`` elsewhere, or when ``WORLD_SIZE`` is set already (torchrun).
    ``MASTER_ADDR`` / ``MASTER_PORT`` already in the environment are kept; the default port is 29500 + job id mod
    10000 (distinct for the jobs that share a node)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env or "SLURM_PROCID" not in env:
        return {}
    world = int(env.get("SLURM_STEP_NUM_TASKS") or 1)  # set by srun for its step (the batch script has none)
    if world <= 1:
        return {}
    job = int(env.get("SLURM_JOB_ID") or 0)
    return {"WORLD_SIZE": str(world), "RANK": env["SLURM_PROCID"], "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
            "MASTER_ADDR": env.get("MASTER_ADDR") or _first_host(env.get("SLURM_STEP_NODELIST")
                                                                 or env.get("SLURM_JOB_NODELIST") or "127.0.0.1"),
            "MASTER_PORT": env.get("MASTER_PORT") or str(29500 + job % 10000)}


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "1800")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"${TIMEOUT_ENV}={raw!r}: expected seconds") from None
    return datetime.timedelta(seconds=seconds)


def _raise_on_sigterm() -> None:
    """Under torchrun: the first SIGTERM raises :class:`RankTerminated` in the training loop (so that the trainer
    records the failure), unless an exception is already being handled (the failure is being recorded)."""
    if (not os.environ.get("TORCHELASTIC_RUN_ID") or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process
        if sys.exc_info()[0] is None:
            raise RankTerminated("stopped by SIGTERM: torchrun stops every process of the run when one fails")

    signal.signal(signal.SIGTERM, handler)


def setup(device_spec: str) -> DistContext:
    """Join (or start, from torchrun's or an ``srun`` step's environment) the process group; single process if
    ``WORLD_SIZE`` ≤ 1. Collectives time out after ``$NNIP_DIST_TIMEOUT`` seconds."""
    if not (dist.is_available() and dist.is_initialized()):
        os.environ.update(slurm_environment())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    elif world > 1:
        rank = int(os.environ.get("RANK", "0"))
        backend = "nccl" if resolve_device(device_spec).type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=_timeout())
        _raise_on_sigterm()
    else:
        rank = 0
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_spec, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return DistContext(rank=rank, world=world, device=device)
