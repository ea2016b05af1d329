"""The fast SO(3) paths of :mod:`nnip.nn.so3` against their plain reference, in one process: eSEN and EquiformerV2.

For each configuration the same seeded model trains on the same batch (forward + eq. 1 loss + backward + AdamW)
alternately with the fast paths and inside :func:`nnip.nn.so3.reference_implementation` (the code before issue 11,
same function); prints the median step time of each and their ratio. Memory is not compared here: in one process
the second path reuses what the first one's allocator kept (peak RSS per path needs a process per path, as in
``bench_vs_fairchem.py``).

Configurations: Table-5 eSEN (C = 8, 12 layers, ``s2`` and ``gate`` activations), EquiformerV2 at its ≈1M-parameter
rung, and both models' largest ``cpu``-preset rung (read from :mod:`nnip.presets` at run time).

    python benchmarks/bench_so3_paths.py [--configs esen-t5-s2,eqv2-rung5] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import load_molecules, make_batches  # noqa: E402

from nnip.models import build_model, model_class  # noqa: E402
from nnip.nn import so3  # noqa: E402
from nnip.train.loss import task_loss  # noqa: E402

TABLE5 = dict(num_layers=12, l_max=4, m_max=2, hidden_channels=32, sphere_channels=8)


def _cpu_rung(arch: str) -> tuple[dict, int]:
    from nnip.presets import PRESETS

    scale = PRESETS["cpu"].archs[arch]
    return {**scale.extra, **scale.widths[-1]}, scale.batch_size


def configs() -> dict[str, tuple[str, dict, int]]:
    eqv2 = model_class("equiformer_v2").LADDER[5][0]
    out = {
        "esen-t5-s2": ("esen", {**TABLE5, "act_type": "s2"}, 64),
        "esen-t5-gate": ("esen", {**TABLE5, "act_type": "gate"}, 64),
        "eqv2-rung5": ("equiformer_v2", dict(eqv2), 32),
    }
    for arch, key in (("esen", "esen-cpu"), ("equiformer_v2", "eqv2-cpu")):
        try:
            hp, bs = _cpu_rung(arch)
            out[key] = (arch, hp, bs)
        except (AttributeError, KeyError, IndexError, TypeError) as err:  # the preset layout may change
            print(f"# {key}: cpu preset not readable ({type(err).__name__}: {err})", file=sys.stderr)
    return out


def run(arch: str, hparams: dict, batch_size: int, molecules, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, **hparams)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = make_batches(molecules, model, batch_size, torch.device("cpu"), n_batches=1)[0]

    def step():
        loss = task_loss(model(batch), batch)[0].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times: dict[str, list[float]] = {"fast": [], "reference": []}
    for k in range(repeats + 1):  # the first round warms up
        for path in ("fast", "reference") if k % 2 == 0 else ("reference", "fast"):
            ctx = so3.reference_implementation() if path == "reference" else contextlib.nullcontext()
            with ctx:
                start = time.perf_counter()
                step()
                if k > 0:
                    times[path].append(time.perf_counter() - start)
    return {"atoms": batch.num_atoms, "edges": batch.num_edges,
            "median": {p: statistics.median(t) for p, t in times.items()}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    all_configs = configs()
    p.add_argument("--configs", default=",".join(all_configs), help=f"comma-separated of {list(all_configs)}")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per path (alternating)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    molecules, source = load_molecules("auto")
    print(f"# torch {torch.__version__}, threads {args.threads}, data {source}, "
          f"load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    header = f"{'config':<14}{'atoms':>7}{'edges':>8}{'ref s/step':>12}{'fast s/step':>13}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name in args.configs.split(","):
        arch, hp, bs = all_configs[name]
        r = run(arch, hp, bs, molecules, args.repeats)
        ref, fast = r["median"]["reference"], r["median"]["fast"]
        print(f"{name:<14}{r['atoms']:>7}{r['edges']:>8}{ref:>12.3f}{fast:>13.3f}{ref / fast:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
