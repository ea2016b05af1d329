"""Process-group plumbing for data-parallel training (``torchrun --nproc_per_node=N -m nnip.train CONFIG``).

The trainer does not wrap the model in ``DistributedDataParallel``: every rank computes the loss of its shard
divided by the *global* batch size and gradients are summed with one flat ``all_reduce`` — the exact gradient of the
global-batch mean, whatever the shard sizes. gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "setup"]


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


def setup(device_spec: str) -> DistContext:
    """Join (or start, from torchrun's environment) the process group; single process if ``WORLD_SIZE`` ≤ 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    elif world > 1:
        rank = int(os.environ.get("RANK", "0"))
        backend = "nccl" if resolve_device(device_spec).type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    else:
        rank = 0
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_spec, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return DistContext(rank=rank, world=world, device=device)
