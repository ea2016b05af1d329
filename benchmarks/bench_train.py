"""Training throughput per model: steps/s, atoms/s, FLOP/s achieved vs a measured fp32 matmul peak (MFU), and the
fraction of step time spent waiting for data (target < 10 %).

    python benchmarks/bench_train.py                        # every model in MODELS that builds, CPU, 1 thread
    python benchmarks/bench_train.py --models mpnn,esen --steps 20 --num-workers 1 --threads 2
    python benchmarks/bench_train.py --device cuda --batch-size 64 --hparams preset:paper

The loop is the trainer's own data path (seeded batches, collation + normalisation in DataLoader workers) and
objective (eq. 1) with schedule-free AdamW; FLOPs per step are counted once with :mod:`nnip.train.flops` (forward +
backward) and multiplied by the measured steps/s. The peak is ``torch.mm`` of two n×n fp32 matrices on the same
device and thread count, so MFU = achieved / peak is a ratio measured in one run.

Sizes (``--rung``): the preset's ``first`` or ``last`` (largest) rung, or ``paper``: the model's published-ladder
entry nearest 1M parameters (the paper's base width), at the preset's batch size unless ``--batch-size`` is given.
Peak memory is the growth of the process's peak resident set over the model's run (``bench_models.PeakMemory``).
``--amp both`` runs every model in fp32 and under bf16 autocast (the trainer's ``train.amp = "bf16"``) and prints
the bf16/fp32 throughput ratio; FLOPs are counted once, in fp32.

    python benchmarks/bench_train.py --rung last --amp both       # every model at its largest cpu rung
    python benchmarks/bench_train.py --rung paper --models esen,mpnn
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import PeakMemory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "botnet-ethanol" / "train.xyz"


def matmul_peak(device: torch.device, n: int = 1024, reps: int = 10) -> float:
    """Measured fp32 FLOP/s of an n×n @ n×n matmul (2n³ FLOPs)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _hparams(name: str, how: str, rung: str = "first") -> tuple[dict, int | None]:
    """Hyper-parameters and the preset's batch size (None where the preset has none)."""
    from nnip.models import build_model, count_parameters, model_class

    if rung == "paper":  # the published ladder's entry nearest 1M parameters (the paper's base width)
        with torch.device("meta"):
            sizes = [(abs(count_parameters(build_model(name, **h)) - 1e6), i) for i, (h, _) in
                     enumerate(model_class(name).LADDER)]  # fmt: skip
        hp = dict(model_class(name).LADDER[min(sizes)[1]][0])
        how = how if how.startswith("preset:") else "preset:cpu"
        try:
            from nnip.presets import get

            return hp, get(how.split(":", 1)[1]).archs[name].batch_size
        except (KeyError, ImportError):
            return hp, None
    if how.startswith("preset:"):
        try:
            from nnip.presets import get

            scale = get(how.split(":", 1)[1]).archs[name]
            width = scale.widths[0] if rung == "first" else scale.widths[-1]
            return {**dict(scale.extra), **dict(width)}, scale.batch_size
        except (KeyError, IndexError, ImportError):
            pass
    return dict(model_class(name).TEST_HPARAMS), None


def bench_model(name, hparams, structures, *, batch_size, steps, warmup, num_workers, device, amp=None):
    from nnip.data.references import fit_references
    from nnip.models import build_model, count_parameters
    from nnip.train.pipeline import epoch_batches, make_loader
    from nnip.train.config import OptimSpec
    from nnip.train.flops import count_flops
    from nnip.train.loss import objective
    from nnip.train.optim import build_optimizer, set_mode

    torch.manual_seed(0)
    model = build_model(name, **hparams).to(device)
    opt, _ = build_optimizer(model, OptimSpec(lr=1e-4), total_steps=steps)
    set_mode(model, opt, True)
    normalizer = fit_references(structures)
    need = warmup + steps
    batches = []
    epoch = 0
    while len(batches) < need:
        batches += epoch_batches(len(structures), batch_size, 0, epoch)
        epoch += 1
    loader = make_loader(structures, batches[:need], cutoff=model.cutoff, max_neighbors=model.max_neighbors,
                         normalizer=normalizer, num_workers=num_workers)

    def step(batch, dtype):
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
            loss = objective(model, batch)[0].sum() / batch.num_graphs
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    flops_per_atom, wait, busy, atoms, n = 0.0, 0.0, 0.0, 0, 0
    it = iter(loader)
    memory = PeakMemory(device).__enter__()
    for k in range(need):
        t0 = time.perf_counter()
        batch, _, _ = next(it)
        batch = batch.to(device)
        t1 = time.perf_counter()
        if k == 0:
            with count_flops() as fc:
                step(batch, None)  # FLOPs are counted in fp32 (the reference arithmetic)
            flops_per_atom = fc.total / batch.num_atoms
            continue
        step(batch, amp)
        _sync(device)
        t2 = time.perf_counter()
        if k >= warmup:
            wait += t1 - t0
            busy += t2 - t0
            atoms += batch.num_atoms
            n += 1
    memory.__exit__(None, None, None)
    return {
        "model": name,
        "peak MiB": memory.mib if memory.mib is not None else float("nan"),
        "params": count_parameters(model),
        "atoms/step": atoms / n,
        "steps/s": n / busy,
        "atoms/s": atoms / busy,
        "GFLOP/step": flops_per_atom * atoms / n / 1e9,
        "GFLOP/s": flops_per_atom * atoms / busy / 1e9,
        "data %": 100 * wait / busy,
    }


def _structures(data: str, n: int):
    from nnip.data import read

    if data == "xtb-mols":
        from nnip.data.registry import ensure_dataset

        data = str(ensure_dataset("xtb-mols", size="tiny", progress=False))
    return list(read(data, limit=n)), Path(data).name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=None, help="comma-separated (default: every model in MODELS that builds)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="structures to train on: a path or 'xtb-mols' (tiny set)")
    p.add_argument("--n", type=int, default=256, help="structures read")
    p.add_argument("--batch-size", type=int, default=None, help="structures per batch (default: the preset's, or 16)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps (the first is FLOP-counted)")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--hparams", default="preset:cpu", help="'test' (TEST_HPARAMS) or 'preset:NAME'")
    p.add_argument("--rung", default="first", choices=("first", "last", "paper"),
                   help="the preset's first or last (largest) rung, or the published ladder's entry nearest 1M")
    p.add_argument("--amp", default="none", choices=("none", "bf16", "both"), help="autocast dtype of the steps")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from nnip.models import MODELS
    from nnip.train.trainer import device_name

    device = torch.device(args.device)
    structures, data_name = _structures(args.data, args.n)
    peak = matmul_peak(device)
    amps = {"none": [None], "bf16": [torch.bfloat16], "both": [None, torch.bfloat16]}[args.amp]
    print(f"device: {device_name(device)}; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s; {args.num_workers} loader "
          f"worker(s), {args.threads} thread(s), {args.steps} timed steps, data {data_name}, rung {args.rung}, "
          f"load average {os.getloadavg()[0]:.1f}")
    names = args.models.split(",") if args.models else list(MODELS)
    rows = []
    for name in names:
        hp, preset_batch = _hparams(name, args.hparams, args.rung)
        batch_size = args.batch_size or preset_batch or 16
        results = []
        for amp in amps:
            try:
                r = bench_model(name, hp, structures, batch_size=batch_size, steps=args.steps, warmup=args.warmup,
                                num_workers=args.num_workers, device=device, amp=amp)
            except NotImplementedError as err:
                print(f"{name}: skipped ({err})")
                break
            r["MFU %"] = 100 * r["GFLOP/s"] * 1e9 / peak
            r["amp"] = "bf16" if amp is not None else "fp32"
            r["batch"] = batch_size
            r["hparams"] = hp
            results.append(r)
        if len(results) == 2:
            results[1]["bf16/fp32"] = results[1]["atoms/s"] / results[0]["atoms/s"]
        rows += results
        print(f"  {name}: done", file=sys.stderr, flush=True)
    cols = ["model", "amp", "params", "batch", "atoms/step", "steps/s", "atoms/s", "GFLOP/step", "GFLOP/s", "MFU %",
            "peak MiB", "data %"] + (["bf16/fp32"] if args.amp == "both" else [])  # fmt: skip
    fmt = {"params": "{:d}", "atoms/step": "{:.0f}", "steps/s": "{:.2f}", "atoms/s": "{:.0f}", "GFLOP/step": "{:.3f}",
           "GFLOP/s": "{:.2f}", "MFU %": "{:.1f}", "data %": "{:.1f}", "peak MiB": "{:.0f}", "bf16/fp32": "{:.2f}"}
    cell = lambda r, c: fmt.get(c, "{}").format(r[c]) if c in r else ""  # noqa: E731
    widths = {c: max(len(c), *(len(cell(r, c)) for r in rows)) for c in cols} if rows else {}
    print("  ".join(c.rjust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(cell(r, c).rjust(widths[c]) for c in cols))
    for r in rows[:: len(amps)]:
        print(f"  {r['model']}: {r['hparams']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
