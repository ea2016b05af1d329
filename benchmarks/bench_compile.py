"""Eager vs ``torch.compile`` training steps per model (``runtime.compile``): steady-state speed-up, compile time,
break-even step count, recompilations over varying batches and the largest output difference.

    python benchmarks/bench_compile.py                                  # every model, largest cpu rung, 1 thread
    python benchmarks/bench_compile.py --models mpnn,egnn --rung last,paper --steps 8
    python benchmarks/bench_compile.py --warm-cache                     # reuse inductor's on-disk cache

Each (model, rung) runs in its own subprocess (a fresh Dynamo state, a wall-clock limit, a crash or a compile error
reported as a result) with, unless ``--warm-cache``, an empty inductor cache directory: the compile time is the cold
one a fresh run pays. In it, two copies of the model with the same initial parameters train with schedule-free AdamW
(the trainer's optimiser) on ``--steps`` batches of varying atom and edge counts (shuffled ``xtb-mols`` molecules,
the preset's batch size): one eager, one through ``torch.compile(model)`` (automatic dynamic shapes, every batch's
atom and edge counts marked dynamic: :func:`nnip.train.trainer.compile_forward` and
:func:`nnip.train.trainer.dynamic_sizes`, the trainer's own calls). Two passes over the same batches, eager and
compiled steps alternating (a neighbour's load hits both alike): pass 1 compiles (the first batch graphs with
symbolic sizes; a batch of new sizes can still cost one more compilation when it leaves a size range a graph was
compiled for, e.g. ``4097 <= n_edges``), pass 2 is timed. Reported:

- ``compile s``: the first compiled forward (it compiles the forward graphs) plus compiled pass 1 minus compiled
  pass 2 (Dynamo tracing, AOT autograd, inductor code generation and the C++ compiler, forward and backward, every
  graph and size range met; over-estimated by one steady forward);
- ``speed-up``: eager / compiled step time in pass 2 (steady state);
- ``break-even``: steps after which the compiled run has caught up, ``compile s / (eager − compiled step time)``;
- ``graphs`` / ``breaks`` / ``recompiles``: Dynamo's ``unique_graphs`` after pass 1, its graph breaks, and the
  graphs added during pass 2 (0: no recompilation once every size range was met);
- ``max |Δ|``: the largest difference of energy and forces (normalised units) between the eager and the compiled
  forward with the *same* parameters, before training, and ``max |Δloss|/loss`` over both passes (the two
  copies then drift apart by float32 reordering, compounded by the optimiser).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import _hparams, _structures  # noqa: E402

MODELS = ("mpnn", "egnn", "gemnet_oc", "esen", "equiformer_v2", "transformer")


def run_one(name: str, rung: str, *, data: str, n: int, steps: int, mode: str, seed: int = 0) -> dict:
    """Benchmark one model at one rung in this process (see the module docstring); returns a result row."""
    from torch._dynamo.utils import counters

    from nnip.data.references import fit_references
    from nnip.models import build_model, count_parameters
    from nnip.train.config import OptimSpec
    from nnip.train.loss import objective
    from nnip.train.optim import build_optimizer, set_mode
    from nnip.train.pipeline import epoch_batches, make_loader
    from nnip.train.trainer import compile_forward, dynamic_sizes

    hp, preset_batch = _hparams(name, "preset:cpu", rung)
    batch_size = preset_batch or 16
    structures, _ = _structures(data, n)
    torch.manual_seed(seed)
    eager = build_model(name, **hp)
    normalizer = fit_references(structures)
    batches = []
    epoch = 0
    while len(batches) < steps:
        batches += epoch_batches(len(structures), batch_size, seed, epoch)
        epoch += 1
    loader = make_loader(structures, batches[:steps], cutoff=eager.cutoff, max_neighbors=eager.max_neighbors,
                         normalizer=normalizer)
    data_batches = [b for b, _, _ in loader]
    if hasattr(eager, "fit_scale_factors"):  # GemNet-OC: as the trainer does before step 1
        with torch.no_grad():
            eager.fit_scale_factors(data_batches[:2])
    for b in data_batches:
        dynamic_sizes(b)  # as the trainer does before each compiled step
    twin = copy.deepcopy(eager)
    compiled = compile_forward(twin, mode)
    models = {"eager": (eager, eager), "compiled": (twin, compiled)}
    opts = {}
    for key, (module, _) in models.items():
        opts[key], _ = build_optimizer(module, OptimSpec(lr=1e-4), total_steps=2 * steps)
        set_mode(module, opts[key], True)

    def step(key, batch) -> tuple[float, float]:
        module, fwd = models[key]
        t = time.perf_counter()
        loss = objective(fwd, batch)[0].sum() / batch.num_graphs
        loss.backward()
        opts[key].step()
        opts[key].zero_grad(set_to_none=True)
        return time.perf_counter() - t, float(loss.detach())

    # the same parameters, one forward each: the compiled graphs' own difference (train mode, grad enabled, as in
    # a step; this call compiles the forward graphs)
    b0 = data_batches[0]
    t = time.perf_counter()
    out_c = compiled(b0)
    first_forward = time.perf_counter() - t  # compiles the forward graphs (their backward: at the first step)
    out_e = eager(b0)
    max_diff = max(float((out_e[k].detach() - out_c[k].detach()).abs().max()) for k in ("energy", "forces"))
    scale = max(float(out_e[k].detach().abs().max()) for k in ("energy", "forces"))
    del out_c, out_e

    # pass 1 (warm-up) over every batch, then pass 2 (timed) over the same batches: a batch of new sizes can still
    # cost a compilation (a cached graph's size-range guard, e.g. "4097 <= n_edges"), so compile time is what pass 1
    # costs beyond pass 2; steps alternate eager / compiled so a neighbour's load hits both
    times = {(p, key): [] for p in (1, 2) for key in ("eager", "compiled")}
    losses = {"eager": [], "compiled": []}
    graphs = []
    for p in (1, 2):
        for k, batch in enumerate(data_batches):
            for key in ("eager", "compiled") if k % 2 == 0 else ("compiled", "eager"):
                dt, loss = step(key, batch)
                times[p, key].append(dt)
                losses[key].append(loss)
        graphs.append(int(counters["stats"].get("unique_graphs", 0)))
    te = sum(times[2, "eager"]) / len(data_batches)
    tc = sum(times[2, "compiled"]) / len(data_batches)
    compile_s = first_forward + sum(times[1, "compiled"]) - sum(times[2, "compiled"])
    rel = max(abs(a - b) / abs(a) for a, b in zip(losses["eager"], losses["compiled"]))
    return {
        "model": name, "rung": rung, "params": count_parameters(eager), "batch": batch_size,
        "atoms/step": sum(b.num_atoms for b in data_batches) / len(data_batches),
        "atoms range": f"{min(b.num_atoms for b in data_batches)}-{max(b.num_atoms for b in data_batches)}",
        "eager s/step": te, "compiled s/step": tc, "speed-up": te / tc, "compile s": compile_s,
        "break-even": compile_s / (te - tc) if te > tc else float("inf"),
        "graphs": graphs[0], "breaks": int(sum(counters["graph_break"].values())),
        "recompiles": graphs[1] - graphs[0],  # new graphs in the timed pass: 0 = no recompilation at steady state
        "max |Δ|": max_diff, "max |Δ| rel": max_diff / scale if scale else float("nan"), "max |Δloss|/loss": rel,
        "hparams": hp,
    }


def _child(args) -> int:
    torch.set_num_threads(args.threads)
    name, rung = args.one.split(":")
    try:
        row = run_one(name, rung, data=args.data, n=args.n, steps=args.steps, mode=args.mode)
    except Exception as err:  # a model that does not compile is a result: report the error precisely
        msg = str(err).strip().splitlines()
        row = {"model": name, "rung": rung, "error": f"{type(err).__name__}: {msg[0] if msg else ''}"[:400]}
    print("RESULT " + json.dumps(row), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    p.add_argument("--rung", default="last", help="comma-separated of first, last, paper (see bench_train.py)")
    p.add_argument("--data", default="xtb-mols", help="structures: a path or 'xtb-mols' (tiny set, varying sizes)")
    p.add_argument("--n", type=int, default=64, help="structures read")
    p.add_argument("--steps", type=int, default=6, help="distinct batches: warm-up pass + timed pass per variant")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mode", default="default", help="torch.compile mode (runtime.compile)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per (model, rung) subprocess")
    p.add_argument("--warm-cache", action="store_true", help="keep inductor's on-disk cache (compile time: warm)")
    p.add_argument("--json", default=None, help="append the result rows to this JSON-lines file")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # model:rung, in the child process
    args = p.parse_args(argv)
    if args.one:
        return _child(args)
    print(f"{args.threads} thread(s), {args.steps} timed steps per variant, mode {args.mode}, data {args.data}, "
          f"{'warm' if args.warm_cache else 'cold'} inductor cache, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    rows = []
    for rung in args.rung.split(","):
        for name in args.models.split(","):
            cmd = [sys.executable, __file__, "--one", f"{name}:{rung}", "--data", args.data, "--n", str(args.n),
                   "--steps", str(args.steps), "--threads", str(args.threads), "--mode", args.mode]
            env = dict(os.environ)
            with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
                if not args.warm_cache:
                    env["TORCHINDUCTOR_CACHE_DIR"] = cache
                t = time.monotonic()
                try:
                    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    if lines:
                        row = json.loads(lines[-1][len("RESULT "):])
                    else:
                        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                        row = {"model": name, "rung": rung, "error": f"exit {proc.returncode}: {tail}"[:400]}
                except subprocess.TimeoutExpired:
                    row = {"model": name, "rung": rung, "error": f"timed out after {args.timeout:.0f} s"}
            row["wall s"] = time.monotonic() - t
            row["load"] = os.getloadavg()[0]
            rows.append(row)
            _print_row(row)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print()
    _table(rows)
    return 0


def _print_row(r: dict) -> None:
    if "error" in r:
        print(f"{r['model']} ({r['rung']}): FAILED {r['error']}", flush=True)
    else:
        print(f"{r['model']} ({r['rung']}): speed-up {r['speed-up']:.2f}, compile {r['compile s']:.0f} s, "
              f"break-even {r['break-even']:.0f} steps, max |Δ| {r['max |Δ|']:.1e}, graphs {r['graphs']}, "
              f"recompiles {r['recompiles']} ({r['wall s']:.0f} s, load {r['load']:.1f})", flush=True)


def _table(rows: list[dict]) -> None:
    """A markdown table of the rows (errors in their own column)."""
    print("| model | rung | params | batch | atoms/step | eager s/step | compiled s/step | speed-up | compile s | "
          "break-even steps | graphs / breaks / recompiles | max abs Δ (rel) | max Δloss/loss |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['rung']} | | | | | | | | | | | {r['error']} |")
            continue
        print(f"| {r['model']} | {r['rung']} | {r['params']:,} | {r['batch']} | {r['atoms/step']:.0f} "
              f"({r['atoms range']}) | {r['eager s/step']:.3f} | {r['compiled s/step']:.3f} | {r['speed-up']:.2f} | "
              f"{r['compile s']:.0f} | {r['break-even']:.0f} | {r['graphs']} / {r['breaks']} / {r['recompiles']} | "
              f"{r['max |Δ|']:.1e} ({r['max |Δ| rel']:.0e}) | {r['max |Δloss|/loss']:.0e} |")


if __name__ == "__main__":
    sys.exit(main())
