"""nnip's eSEN against fairchem-core's ``eSCNMDBackbone``: training throughput and peak memory, same architecture.

Table-5 eSEN (l_max 4, m_max 2, 12 layers, hidden 32, edge channels = sphere channels C, 136 Gaussians, 100
elements, grid feed-forward) with each activation of ``--act`` (``gate``: eSEN's and the cpu book's default, Table
5's counts; ``s2``: issue 11's), each C of ``--channels`` and each torch thread count of ``--threads``. One step =
forward with direct forces (linear energy head, fairchem's ``SO3_Linear(C, 1, lmax=1)`` force head in both) +
energy and force MSE + backward + AdamW, on one batch of ``--molecules`` organic molecules (the embedded
``xtb-mols`` tiny set; ethanol/acac frames if it cannot be had) with nnip's neighbour list (cutoff 6 Å, 30
neighbours) given to both models (fairchem with ``otf_graph=False``).

Every (implementation, activation, threads, C) runs in its own process (``--repeats`` times, the implementations
alternating, so that a busy machine loads both alike); a process reports atoms/s of its fastest of ``--steps`` timed
steps after ``--warmup`` steps (the least disturbed by other work on a shared machine; the mean is printed per
process too) and its peak resident set (``ru_maxrss``: imports, model, data, optimiser and the step). The table
prints nnip/fairchem ratios of the medians over processes, measured in the same run, and the header names the CPU.

``--interleave`` runs both implementations in one process per configuration instead, their steps alternating, and
reports the median speed ratio of adjacent step pairs (no memory figures); with ``--unfused`` nnip's steps without
its fused edge message (``so3.FUSED_EDGE_MESSAGE = False``: the composition of separate fast paths it replaced,
the same numbers bit for bit) alternate with them too, so the fused node's gain is measured in the same process.

Runs only where ``fairchem`` imports (a scratch venv outside the project: see benchmarks/README.md); fairchem is
never an nnip requirement and none of its code is used by nnip.

    /work/scratch/fairchem-venv/bin/python benchmarks/bench_vs_fairchem.py [--act gate,s2] [--channels 4,8,16]
        [--threads 1,2] [--repeats 1] [--interleave [--unfused]]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

TABLE5 = dict(num_layers=12, l_max=4, m_max=2, hidden_channels=32, num_radial=136, num_elements=100)


def _fairchem_available() -> bool:
    try:
        import fairchem.core.models.uma.escn_md  # noqa: F401
    except ImportError:
        return False
    return True


# --- one process: one implementation at one C ------------------------------------------------------------------
def _batch(n_molecules: int):
    from bench_models import load_molecules

    from nnip.data.batch import collate

    molecules, source = load_molecules("auto")
    chunk = [molecules[i % len(molecules)] for i in range(n_molecules)]
    b = collate(chunk, cutoff=6.0, max_neighbors=30)
    sigma = b.forces.pow(2).mean().sqrt()
    return b.replace(energy=(b.energy - b.energy.mean()) / sigma, forces=b.forces / sigma), source


class _FairchemData(dict):
    """The ``AtomicData`` keys ``eSCNMDBackbone.forward`` reads (``get`` with a ``default`` keyword)."""

    def get(self, key, default=None):
        return super().get(key, default)


def _fairchem_model(C: int, act: str):
    from fairchem.core.models.uma.escn_md import eSCNMDBackbone, Linear_Energy_Head, Linear_Force_Head

    backbone = eSCNMDBackbone(
        max_num_elements=TABLE5["num_elements"], sphere_channels=C, lmax=TABLE5["l_max"], mmax=TABLE5["m_max"],
        grid_resolution=None, otf_graph=False, max_neighbors=30, cutoff=6.0, edge_channels=C,
        num_distance_basis=TABLE5["num_radial"], direct_forces=True, regress_forces=True,
        num_layers=TABLE5["num_layers"], hidden_channels=TABLE5["hidden_channels"], norm_type="rms_norm_sh",
        act_type=act, ff_type="grid", use_dataset_embedding=False,
    )  # fmt: skip
    heads = torch.nn.ModuleList([Linear_Energy_Head(backbone), Linear_Force_Head(backbone)])
    model = torch.nn.ModuleList([backbone, heads])

    def forward(b):
        data = _FairchemData(
            pos=b.pos, atomic_numbers=b.atomic_numbers, batch=b.batch, natoms=b.natoms, cell=b.cell, pbc=b.pbc,
            edge_index=b.edge_index, cell_offsets=b.cell_shift, nedges=torch.bincount(b.batch[b.edge_index[1]],
            minlength=b.num_graphs), charge=b.charge, spin=b.spin,
        )  # fmt: skip
        emb = backbone(data)
        return {"energy": heads[0](data, emb)["energy"], "forces": heads[1](data, emb)["forces"]}

    return model, forward


def _nnip_model(C: int, act: str):
    from nnip.models import build_model

    model = build_model("esen", sphere_channels=C, act_type=act, **TABLE5)
    return model, model


def _training_step(impl: str, C: int, act: str, batch):
    """A seeded model of ``impl`` and one training step on ``batch`` (forward, energy + force MSE, backward,
    AdamW); returns ``(step, model)``. ``nnip-unfused``: nnip with ``so3.FUSED_EDGE_MESSAGE = False`` (the
    composition of separate fast paths the fused edge message replaced; same numbers bit for bit)."""
    from nnip.nn import so3

    torch.manual_seed(0)
    model, forward = (_fairchem_model if impl == "fairchem" else _nnip_model)(C, act)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    fused = impl != "nnip-unfused"

    def step():
        previous, so3.FUSED_EDGE_MESSAGE = so3.FUSED_EDGE_MESSAGE, fused
        try:
            out = forward(batch)
            loss = (out["energy"] - batch.energy).pow(2).mean() + (out["forces"] - batch.forces).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            so3.FUSED_EDGE_MESSAGE = previous
        opt.step()
        return loss.item()

    return step, model


def worker(impl: str, C: int, args) -> dict:
    torch.set_num_threads(args.threads)
    batch, source = _batch(args.molecules)
    step, model = _training_step(impl, C, args.act, batch)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        "impl": impl, "C": C, "atoms_per_s": batch.num_atoms / min(times),
        "atoms_per_s_mean": batch.num_atoms * len(times) / sum(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": sum(p.numel() for p in model.parameters()), "atoms": batch.num_atoms,
        "edges": batch.num_edges, "data": source,
    }  # fmt: skip


def interleaved_worker(C: int, args) -> dict:
    """Both implementations in one process on the same batch, their steps alternating (nnip, fairchem, fairchem,
    nnip, …): a busy machine's load drifts over minutes, which separate processes see unequally; here the speed
    ratio is the median over pairs of adjacent steps. No memory figures (one process holds both)."""
    torch.set_num_threads(args.threads)
    batch, source = _batch(args.molecules)
    impls = ("nnip", "fairchem", "nnip-unfused") if args.unfused else ("nnip", "fairchem")
    steps = {impl: _training_step(impl, C, args.act, batch)[0] for impl in impls}
    for _ in range(args.warmup):
        for impl in steps:
            steps[impl]()
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for k in range(args.steps):
        for impl in impls if k % 2 == 0 else impls[::-1]:
            start = time.perf_counter()
            steps[impl]()
            times[impl].append(time.perf_counter() - start)
    ratios = [f / n for n, f in zip(times["nnip"], times["fairchem"])]
    out = {
        "impl": "interleaved", "C": C, "atoms": batch.num_atoms, "edges": batch.num_edges, "data": source,
        "atoms_per_s": {i: batch.num_atoms / statistics.median(t) for i, t in times.items()},
        "speed_ratio": statistics.median(ratios), "ratios": ratios,
    }  # fmt: skip
    if args.unfused:
        unfused = [f / n for n, f in zip(times["nnip-unfused"], times["fairchem"])]
        out["speed_ratio_unfused"] = statistics.median(unfused)
    return out


# --- driver ----------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name", read from /proc/cpuinfo; the platform's answer elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run_worker(impl: str, C: int, act: str, threads: int, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--channels", str(C), "--threads", str(threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--molecules", str(args.molecules),
           "--act", act, *(["--unfused"] if getattr(args, "unfused", False) else [])]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", default="4,8,16", help="comma-separated sphere (= edge) channels C")
    p.add_argument("--act", default="gate,s2", help="comma-separated activations (gate, s2)")
    p.add_argument("--threads", default="1,2", help="comma-separated torch threads per process")
    p.add_argument("--steps", type=int, default=3, help="timed steps per process; atoms/s of its fastest step")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="processes per (implementation, C), alternating")
    p.add_argument("--molecules", type=int, default=64)
    p.add_argument("--interleave", action="store_true",
                   help="speed only: both implementations in one process per configuration, steps alternating")
    p.add_argument("--unfused", action="store_true",
                   help="with --interleave: also time nnip without its fused edge message (so3.FUSED_EDGE_MESSAGE "
                        "= False, the previous composition, same numbers), steps alternating with the others")
    p.add_argument("--worker", choices=("nnip", "nnip-unfused", "fairchem", "interleaved"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        run = interleaved_worker if args.worker == "interleaved" else functools.partial(worker, args.worker)
        print(json.dumps(run(int(args.channels), args)))
        return 0
    acts = args.act.split(",")
    if not set(acts) <= {"gate", "s2"}:
        p.error(f"--act: gate and/or s2, got {args.act!r}")
    if not _fairchem_available():
        print("skipped: fairchem-core is not importable here (see benchmarks/README.md for its scratch venv)")
        return 0
    import fairchem.core

    print(f"# torch {torch.__version__}, fairchem-core {getattr(fairchem.core, '__version__', '?')}, CPU {cpu_model()} "
          f"({os.cpu_count()} logical), {args.steps} timed + {args.warmup} warm-up steps per process, {args.repeats} "
          f"process(es) per implementation and configuration, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    if args.interleave:
        return _interleaved_table(acts, args)
    rows = []
    for act in acts:
        for threads in (int(t) for t in args.threads.split(",")):
            for C in (int(c) for c in args.channels.split(",")):
                runs: dict[str, list[dict]] = {"nnip": [], "fairchem": []}
                for k in range(args.repeats):
                    for impl in (("nnip", "fairchem") if k % 2 == 0 else ("fairchem", "nnip")):
                        r = _run_worker(impl, C, act, threads, args)
                        runs[impl].append(r)
                        print(f"#   {act} {threads}t C={C} {impl:<8} {r['atoms_per_s']:8.1f} atoms/s (best step; mean "
                              f"{r['atoms_per_s_mean']:.1f})  peak RSS {r['peak_rss_mib']:.0f} MiB  "
                              f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
                med = {i: {key: statistics.median(r[key] for r in rs) for key in ("atoms_per_s", "peak_rss_mib")}
                       for i, rs in runs.items()}  # fmt: skip
                rows.append((act, threads, C, runs["nnip"][0], runs["fairchem"][0]["params"], med))
    print(f"# batch: {rows[0][3]['atoms']} atoms, {rows[0][3]['edges']} edges ({rows[0][3]['data']})")
    header = (f"{'act':<5}{'thr':>4}{'C':>4}{'params nnip':>13}{'fairchem':>10}{'nnip atoms/s':>14}{'fairchem':>10}"
              f"{'speed ratio':>13}{'peak RSS nnip':>15}{'fairchem':>10}{'RSS ratio':>11}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for act, threads, C, first, fc_params, med in rows:
        n, f = med["nnip"], med["fairchem"]
        print(f"{act:<5}{threads:>4}{C:>4}{first['params']:>13,}{fc_params:>10,}{n['atoms_per_s']:>14.1f}"
              f"{f['atoms_per_s']:>10.1f}{n['atoms_per_s'] / f['atoms_per_s']:>13.2f}{n['peak_rss_mib']:>11.0f} MiB"
              f"{f['peak_rss_mib']:>6.0f} MiB{n['peak_rss_mib'] / f['peak_rss_mib']:>11.2f}")  # fmt: skip
    return 0


def _interleaved_table(acts: list[str], args) -> int:
    extra = f"{'unfused':>9}{'ratio':>7}" if args.unfused else ""
    header = (f"{'act':<5}{'thr':>4}{'C':>4}{'nnip atoms/s':>14}{'fairchem':>10}{'speed ratio':>13}{extra}"
              f"  ratios of step pairs")  # fmt: skip
    print(header)
    print("-" * len(header))
    for act in acts:
        for threads in (int(t) for t in args.threads.split(",")):
            for C in (int(c) for c in args.channels.split(",")):
                r = _run_worker("interleaved", C, act, threads, args)
                a = r["atoms_per_s"]
                u = f"{a['nnip-unfused']:>9.1f}{r['speed_ratio_unfused']:>7.2f}" if args.unfused else ""
                print(f"{act:<5}{threads:>4}{C:>4}{a['nnip']:>14.1f}{a['fairchem']:>10.1f}{r['speed_ratio']:>13.2f}"
                      f"{u}  {' '.join(f'{x:.2f}' for x in r['ratios'])}  (load {os.getloadavg()[0]:.1f})",
                      flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
