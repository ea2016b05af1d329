"""Training-step throughput and peak memory of every model in ``nnip.models.MODELS`` at two ladder sizes.

A step is forward + eq. (1) loss + backward + AdamW update on a batch of small organic molecules (the embedded
``xtb-mols`` tiny set, generated locally on first use; the ethanol/acetylacetone frames of ../shared/data when it
cannot be generated). Throughput counts atoms per second over the timed steps (after warm-up); peak memory is
``torch.cuda.max_memory_allocated`` above the pre-step level on CUDA, and on CPU the growth of the process's peak
resident set (``VmHWM``, reset per configuration through ``/proc/self/clear_refs``) — a coarse but honest
measure that includes the allocator's slack. Sizes: on CPU the model's ``TEST_HPARAMS`` and its smallest ladder
entry; on CUDA its two smallest ladder entries (override with ``--sizes``).

    python benchmarks/bench_models.py [--device cuda] [--models mpnn,egnn] [--steps 10] [--batch-size 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import torch

from nnip.data.batch import collate
from nnip.models import MODELS, build_model, count_parameters, model_class
from nnip.train.loss import task_loss

SHARED = Path(os.environ.get("NNIP_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


# --- data -------------------------------------------------------------------------------------------------------
def load_molecules(source: str) -> tuple[list, str]:
    """Labelled molecules and a description of where they came from."""
    if source in ("auto", "xtb-mols"):
        try:
            from nnip.data import read
            from nnip.data.registry import ensure_dataset

            path = ensure_dataset("xtb-mols", size="tiny", progress=False)
            return list(read(path)), f"xtb-mols tiny ({path.name})"
        except (ImportError, OSError, RuntimeError, ValueError) as err:  # tblite/rdkit missing, generation failed
            if source == "xtb-mols":
                raise
            print(f"# xtb-mols unavailable ({type(err).__name__}: {err}); using ethanol/acac frames", file=sys.stderr)
    import ase.io

    frames = ase.io.read(SHARED / "botnet-ethanol" / "train.xyz", ":32")
    frames += ase.io.read(SHARED / "botnet-acac" / "train_300K.xyz", ":32")
    return frames, "botnet ethanol + acac (32 + 32 frames)"


def make_batches(molecules, model, batch_size: int, device, n_batches: int = 4):
    """``n_batches`` fixed batches with labels normalised by one σ (force RMS), as in App. D."""
    batches = []
    for k in range(n_batches):
        chunk = [molecules[(k * batch_size + i) % len(molecules)] for i in range(batch_size)]
        b = collate(chunk, cutoff=model.cutoff, max_neighbors=model.max_neighbors)
        sigma = b.forces.pow(2).mean().sqrt()
        b = b.replace(energy=(b.energy - b.energy.mean()) / sigma, forces=b.forces / sigma)
        batches.append(b.to(device))
    return batches


# --- memory -----------------------------------------------------------------------------------------------------
def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory growth (MiB) of the block: CUDA allocator or the process's resident set on Linux."""

    def __init__(self, device: torch.device):
        self.device = device
        self.mib: float | None = None

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
            except OSError:
                pass
            self.start = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
        else:
            peak = _status_kb("VmHWM")
            self.mib = None if peak is None or self.start is None else (peak - self.start) / 1024
        return False


# --- one configuration ------------------------------------------------------------------------------------------
def bench(name: str, hparams: dict, molecules, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = build_model(name, **hparams).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = make_batches(molecules, model, args.batch_size, device)

    def step(b):
        loss = task_loss(model(b), b)[0].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with PeakMemory(device) as mem:
        for k in range(len(batches) + args.warmup):  # every batch shape once: oneDNN/cuBLAS plan per shape
            step(batches[k % len(batches)])
        sync()
        atoms, start = 0, time.perf_counter()
        for k in range(args.steps):
            b = batches[k % len(batches)]
            step(b)
            atoms += b.num_atoms
        sync()
        elapsed = time.perf_counter() - start
    return {
        "params": count_parameters(model),
        "atoms_per_batch": atoms / args.steps,
        "steps_per_s": args.steps / elapsed,
        "atoms_per_s": atoms / elapsed,
        "peak_mib": mem.mib,
    }


def sizes_for(name: str, device: torch.device, which: str | None) -> list[tuple[str, dict]]:
    cls = model_class(name)
    ladder = [h for h, _ in cls.LADDER]
    if which is None:
        which = "ladder0,ladder1" if device.type == "cuda" else "test,ladder0"
    out = []
    for key in which.split(","):
        if key == "test":
            out.append(("test", dict(cls.TEST_HPARAMS)))
        elif key.startswith("ladder"):
            out.append((key, dict(ladder[int(key[6:])])))
        else:
            raise ValueError(f"unknown size {key!r} (test, ladder0, ladder1, …)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    p.add_argument("--sizes", default=None, help="comma-separated: test, ladder0, ladder1, … (default by device)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2, help="extra warm-up steps after one pass over the batches")
    p.add_argument("--batch-size", type=int, default=16, help="molecules per batch")
    p.add_argument("--data", default="auto", choices=("auto", "xtb-mols", "ethanol"))
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: stable numbers on a shared box; 0 keeps torch's default)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    molecules, source = load_molecules(args.data)
    print(f"# device={device}  torch={torch.__version__}  threads={torch.get_num_threads()}  data={source}")
    print(f"# batch={args.batch_size} molecules, 4 batches; warm-up: each batch once + {args.warmup} steps; "
          f"{args.steps} timed steps (fwd + eq. 1 loss + bwd + AdamW)")
    header = (
        f"{'model':<14}{'size':<9}{'params':>11}{'atoms/batch':>13}{'steps/s':>10}{'atoms/s':>11}{'peak MiB':>10}  hparams"
    )
    print(header)
    print("-" * len(header))
    for name in args.models.split(","):
        try:
            configs = sizes_for(name, device, args.sizes)
        except NotImplementedError as err:
            print(f"{name:<14}skipped: {err}")
            continue
        for label, hparams in configs:
            try:
                r = bench(name, hparams, molecules, args, device)
            except torch.cuda.OutOfMemoryError:
                print(f"{name:<14}{label:<9}out of memory")
                continue
            mem = "n/a" if r["peak_mib"] is None else f"{max(r['peak_mib'], 0.0):.0f}"
            shown = str(hparams) if len(str(hparams)) <= 70 else str(hparams)[:67] + "..."
            print(
                f"{name:<14}{label:<9}{r['params']:>11,}{r['atoms_per_batch']:>13.0f}{r['steps_per_s']:>10.2f}"
                f"{r['atoms_per_s']:>11,.0f}{mem:>10}  {shown}"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
