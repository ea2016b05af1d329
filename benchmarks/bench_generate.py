"""Throughput of the embedded dataset generators (``xtb-mols``, ``emt-alloys``) with 1 and 2 workers.

Prints, per dataset and worker count: structures/s over the whole call (incl. worker start-up), the steady rate
(from the first structure to the last, what a 100k-structure run sees), the start-up time, the marginal CPU
seconds per structure (CPU of an n-structure run minus a 1-structure run, all processes), the 2-worker/1-worker
ratios, and the time extrapolated to 100,000 ``xtb-mols`` structures. The machine load is printed too: on a
shared machine the wall-clock figures drop with it, the marginal CPU per structure much less.

    python benchmarks/bench_generate.py [--xtb 400] [--emt 1000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from nnip.data.registry import generate
from nnip.data.writers import write_aselmdb


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(name: str, n: int, workers: int, seed: int = 0) -> dict:
    """Generate ``n`` structures into a temporary ``.aselmdb``; wall/steady rates and CPU seconds per structure."""
    first: list[float] = []

    def stamped(structures):
        for k, atoms in enumerate(structures):
            if k == 0:
                first.append(time.perf_counter())
            yield atoms

    with tempfile.TemporaryDirectory() as tmp:
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        count = write_aselmdb(stamped(generate(name, n, seed=seed, workers=workers)), Path(tmp) / "x.aselmdb")
        t1, cpu1 = time.perf_counter(), _cpu_seconds()
    assert count == n
    steady = (n - 1) / (t1 - first[0]) if n > 1 and t1 > first[0] else float("nan")
    return {
        "name": name,
        "workers": workers,
        "n": n,
        "wall_s": t1 - t0,
        "rate": n / (t1 - t0),
        "steady_rate": steady,
        "cpu_s_per_structure": (cpu1 - cpu0) / n,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xtb", type=int, default=400, help="xtb-mols structures per measurement")
    parser.add_argument("--emt", type=int, default=1000, help="emt-alloys structures per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores: {cores}  load average before: {os.getloadavg()[0]:.2f} (above {cores}: the cores are shared)")
    rows = []
    for name, n in (("xtb-mols", args.xtb), ("emt-alloys", args.emt)):
        for w in args.workers:
            start = measure(name, 1, w, seed=args.seed)  # start-up: pool, imports, first task
            r = measure(name, n, w, seed=args.seed)
            r["startup_s"] = start["wall_s"]
            r["marginal_cpu_s"] = (r["cpu_s_per_structure"] * n - start["cpu_s_per_structure"]) / (n - 1)
            rows.append(r)
            print(
                f"{name:11s} workers={w}  n={n:5d}  wall {r['wall_s']:6.1f} s = {r['rate']:6.1f} structures/s"
                f"  (steady {r['steady_rate']:6.1f}/s; start-up {r['startup_s']:4.1f} s)"
                f"  marginal {1e3 * r['marginal_cpu_s']:5.1f} CPU-ms/structure",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for name in ("xtb-mols", "emt-alloys"):
        by_w = {r["workers"]: r for r in rows if r["name"] == name}
        if 1 in by_w and 2 in by_w:
            print(
                f"{name}: 2 workers / 1 worker: steady wall rate x{by_w[2]['steady_rate'] / by_w[1]['steady_rate']:.2f}"
                f", marginal CPU per structure x{by_w[2]['marginal_cpu_s'] / by_w[1]['marginal_cpu_s']:.2f}"
            )
    xtb = {r["workers"]: r for r in rows if r["name"] == "xtb-mols"}
    if xtb:
        w = max(xtb)
        r = xtb[w]
        used = min(w, cores)
        free = r["startup_s"] + 1e5 * r["marginal_cpu_s"] / used
        print(
            f"xtb-mols 100k extrapolated ({w} workers): {1e5 / r['steady_rate'] / 60:.1f} min at the measured steady "
            f"wall rate; {free / 60:.1f} min on {used} free cores (start-up + 1e5 x marginal CPU / {used})"
        )


if __name__ == "__main__":
    main()
