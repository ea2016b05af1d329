"""Roofline of a training step per model: achieved FLOP/s against ``min(peak, AI × bandwidth)``, with the step's
memory traffic and arithmetic intensity (AI) measured op by op, and the ops that dominate.

    python benchmarks/bench_roofline.py                                 # mpnn, egnn, equiformer_v2, largest cpu rung
    python benchmarks/bench_roofline.py --models mpnn --rung paper --top 12

Everything is measured in one process on 1 thread (``--threads``), so the ratios share the machine's state:

- **peak**: fp32 ``torch.mm`` of two 512×512 matrices, the fastest of 50 (``bench_train.py``'s MFU reference at a
  size short enough to run unpreempted on a shared machine);
- **bandwidth**: STREAM-like ``copy`` (2 × 4 B per element) and ``add`` (3 × 4 B) in torch, on arrays of
  ``--stream-mib`` MiB (far beyond every cache: DRAM) and of 2 MiB (larger than L2, resident in the last-level
  cache, like most of a small model's activations); the roofline uses the larger, cache-resident figure, so the
  bound is the *optimistic* one and an MFU below it is not explained by DRAM;
- **the step**: the trainer's objective (eq. 1), backward and schedule-free AdamW on batches of the preset's size
  (``xtb-mols`` molecules); step time = median over ``--steps`` untouched steps;
- **per op**: one more step under a ``TorchDispatchMode`` that times every aten op (forward and backward) and
  records its FLOPs (:mod:`nnip.train.flops`' rules: matmuls 2·m·n·k, 1 per pointwise output element, …) and its
  bytes: the sum of the sizes of the tensors it reads and writes (views are free; an expanded operand counts its
  stored elements; an in-place op reads and writes its output) — the traffic of an op that streams its operands
  once, with no reuse *across* ops (what a fused kernel would save). The models' fast paths run under it as in an
  eager step (``nnip.nn._reference`` normally switches to the plain reference code under a dispatch mode, for the
  FLOP counter; here it is told not to), so the ops are the step's own. ``op time`` is their sum; the rest of the
  step (``rest``) is Python, the dispatcher and autograd bookkeeping, and on a loaded machine preemption: the step
  time is the fastest of ``--steps`` steps, each op's time the fastest of ``--steps`` recorded steps (same op
  sequence), and the framework's own floor is estimated by the same step on a single molecule (the same op sequence
  on tiny tensors; the fastest of 30 short steps, which do run unpreempted): ``est. step`` = op time + that floor,
  ``est. MFU`` = counted FLOPs / est. step / peak — what an unloaded core would do.

Bounds reported: ``bound (aggregate)`` = min(peak, AI × BW) with the step's total FLOPs and bytes, and
``bound (per op)`` = FLOPs / Σ_op max(flops_op / peak, bytes_op / BW) (each op at its own roofline, no overlap
between ops: the stricter and more faithful bound). Both treat a small matrix product as able to run at the 512²
peak and every op's operands as cache-resident. The **measured bound** drops both assumptions, with figures measured
in the same process: each op of the step costs what the same aten call takes alone on fresh operands of its
recorded shapes and strides (the fastest of 10 replays: for a product the BLAS's own speed at that shape, for SiLU
its exponentials; warm), except the ops with integer operands (gathers and scatters: random indices would not be
theirs), which cost max(flops_op / peak, bytes_op / BW(bytes_op)), BW(n) being the copy bandwidth measured at the
smallest working set ≥ n on a curve from 64 KiB to 512 MiB (:func:`bandwidth_curve`). Views cost nothing. Its MFU
(counted FLOPs / bound) is the most this op sequence — these shapes, this arithmetic — can reach on this core
without fusing or batching ops; a target above it needs a different op sequence, not faster ops. MFU is achieved /
peak (``bench_train.py``'s definition: the counted FLOPs of the reference arithmetic per second of step); ``% of
bound`` is achieved / bound (per op).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import _hparams, _structures  # noqa: E402

#: ops that write their first argument without reading it
_WRITE_ONLY = {"copy_", "fill_", "zero_", "copy", "fill", "zero"}


def matmul_peak(n: int = 512, reps: int = 50) -> float:
    """fp32 FLOP/s of an n×n @ n×n ``torch.mm`` (2n³ FLOPs), the fastest of ``reps``. ``bench_train.matmul_peak``
    averages 10 products at n = 1024 (~30 ms each); on a loaded machine a process rarely keeps the core that long,
    so the fastest of many shorter products (~4 ms; within a few % of n = 1024 on an idle core) is the machine's."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def stream_bandwidth(mib: float, reps: int = 5) -> dict[str, float]:
    """Best-of-``reps`` bytes/s of ``b.copy_(a)`` (read a, write b) and ``torch.add(a, b, out=c)`` (read 2, write
    1) on float32 arrays of ``mib`` MiB each."""
    n = int(mib * 2**20 / 4)
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    best = {"copy": 0.0, "add": 0.0}
    for _ in range(reps):
        t = time.perf_counter()
        b.copy_(a)
        best["copy"] = max(best["copy"], 8 * n / (time.perf_counter() - t))
        t = time.perf_counter()
        torch.add(a, b, out=c)
        best["add"] = max(best["add"], 12 * n / (time.perf_counter() - t))
    return best


#: working-set sizes (MiB, bytes read + written by one copy) of the bandwidth curve (``bandwidth_curve``)
CURVE_MIB = (0.0625, 0.25, 1, 2, 4, 8, 16, 64, 512)


def bandwidth_curve(sizes_mib=CURVE_MIB, min_bytes: float = 256 * 2**20) -> list[tuple[int, float]]:
    """``[(working-set bytes, bytes/s)]``: the best ``b.copy_(a)`` over enough repetitions to stream
    ``min_bytes`` (at least 5), with ``a`` and ``b`` together of each size in ``sizes_mib`` — the speed of a
    streaming op whose operands fit (or do not fit) each level of the cache hierarchy, warm from the previous pass
    as an op's inputs are when the op before it wrote them. (Not :func:`stream_bandwidth`, which interleaves an add
    over a third array with the copies: its working set is 1.5× the copy's, which moves the cache boundaries.)"""
    out = []
    for mib in sizes_mib:
        n = max(1, int(mib * 2**20 / 8))
        a, b = torch.rand(n), torch.empty(n)
        b.copy_(a)
        best = 0.0
        for _ in range(max(5, int(min_bytes / (8 * n)))):
            t = time.perf_counter()
            b.copy_(a)
            best = max(best, 8 * n / (time.perf_counter() - t))
        out.append((8 * n, best))
    return out


def bandwidth_at(curve: list[tuple[int, float]], nbytes: int) -> float:
    """The measured bandwidth for an op touching ``nbytes``: the curve's figure at the smallest working set that
    holds it (the largest one beyond the curve). Optimistic for the op: its operands are counted as warm whenever
    they fit the cache level the curve measured them in."""
    for size, bw in curve:
        if nbytes <= size:
            return bw
    return curve[-1][1]


#: the matrix products (the ``products`` part of the measured bound)
_MATMULS = {"mm", "addmm", "bmm", "baddbmm"}


def _replayable(args, kwargs) -> bool:
    """Every tensor argument floating point (random values are valid operands: no indices, no masks)."""
    return all(t.is_floating_point() for t in _tensors((args, kwargs)))


def _spec(x):
    """An op argument with every tensor replaced by its (shape, strides, dtype): what ``_rebuild`` needs."""
    if isinstance(x, torch.Tensor):
        return ("T", tuple(x.shape), tuple(x.stride()), x.dtype)
    if isinstance(x, (list, tuple)):
        return type(x)(_spec(v) for v in x)
    return x


def _rebuild(spec):
    """Fresh random tensors with the recorded shapes and strides (same transposition and leading dimensions, so
    the BLAS takes the same path), on a buffer of their own."""
    if isinstance(spec, tuple) and len(spec) == 4 and spec and spec[0] == "T":
        _, shape, stride, dtype = spec
        numel = 1 + sum((n - 1) * st for n, st in zip(shape, stride) if n > 0)
        return torch.rand(max(numel, 1), dtype=dtype).add_(0.5).as_strided(shape, stride)  # in [0.5, 1.5)
    if isinstance(spec, (list, tuple)):
        return type(spec)(_rebuild(v) for v in spec)
    return spec


def replay_ops(signatures: dict, reps: int = 10) -> dict:
    """Per recorded op signature, the fastest of ``reps`` calls of the same aten op on fresh operands of the same
    shapes and strides: the op's own speed at that shape (for a product, the BLAS's), alone on a warm core. A
    signature whose replay raises is left out (its calls are then bounded by bandwidth)."""
    best = {}
    for key, (func, args, kwargs) in signatures.items():
        a, kw = _rebuild(args), {k: _rebuild(v) for k, v in kwargs.items()}
        try:
            func(*a, **kw)
        except Exception:  # e.g. an op that needs particular values
            continue
        t_best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            func(*a, **kw)
            t_best = min(t_best, time.perf_counter() - t)
        best[key] = t_best
    return best


def _stored_bytes(t: torch.Tensor) -> int:
    """Bytes an op touches in ``t``: its elements, counting an expanded (stride-0) dimension once."""
    n = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            n *= size
    return n * t.element_size()


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)


class OpRecorder(TorchDispatchMode):
    """Times every aten op and records its FLOPs and bytes read + written: ``calls``, a list of
    ``(name, seconds, flops, bytes)`` in call order."""

    def __init__(self):
        super().__init__()
        from nnip.train.flops import FlopCount, _ExtraFlopMode

        self.calls: list[tuple[str, float, int, int]] = []
        #: per call index, the key of its signature (non-view ops with floating-point operands only), and one
        #: (func, args, kwargs) spec per key
        self.keys: dict[int, tuple] = {}
        self.signatures: dict[tuple, tuple] = {}
        self._count = FlopCount()
        self._extra = _ExtraFlopMode(self._count)  # its __torch_dispatch__ runs the op and counts non-matmul FLOPs

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils.flop_counter import flop_registry

        kwargs = kwargs or {}
        packet = func.overloadpacket
        before = self._count.total
        t = time.perf_counter()
        out = self._extra.__torch_dispatch__(func, types, args, kwargs)
        dt = time.perf_counter() - t
        flops = self._count.total - before
        if packet in flop_registry:
            flops += int(flop_registry[packet](*args, **kwargs, out_val=out))
        name = packet.__name__
        nbytes = 0
        if not func.is_view:
            inputs = {(x.data_ptr(), tuple(x.shape), tuple(x.stride())): x for x in _tensors((args, kwargs))}
            outputs = {(x.data_ptr(), tuple(x.shape), tuple(x.stride())): x for x in _tensors(out)}
            write_only = name in _WRITE_ONLY
            for key, x in inputs.items():
                if not (write_only and key in outputs):
                    nbytes += _stored_bytes(x)
            nbytes += sum(_stored_bytes(x) for x in outputs.values())
        if not func.is_view and _replayable(args, kwargs):
            spec = (_spec(list(args)), {k: _spec(v) for k, v in kwargs.items()})
            key = (str(func), repr(spec))
            self.signatures.setdefault(key, (func, *spec))
            self.keys[len(self.calls)] = key
        self.calls.append((name, dt, flops, nbytes))
        return out


def aggregate(recordings: list[list[tuple[str, float, int, int]]]) -> dict[str, dict]:
    """Per op name: calls, seconds, FLOPs and bytes of one step, each call's time the *minimum* over the recorded
    steps (the same op sequence each time): an op that lost the core to a neighbour process does not count."""
    first = recordings[0]
    if any([c[0] for c in r] != [c[0] for c in first] for r in recordings[1:]):
        raise RuntimeError("the recorded steps ran different op sequences")
    ops = defaultdict(lambda: {"calls": 0, "s": 0.0, "flops": 0, "bytes": 0})
    for k, (name, _, flops, nbytes) in enumerate(first):
        o = ops[name]
        o["calls"] += 1
        o["s"] += min(r[k][1] for r in recordings)
        o["flops"] += flops
        o["bytes"] += nbytes
    return ops


class _fast_paths_under_dispatch_mode:
    """Let the models run their fast paths under :class:`OpRecorder` (see the module docstring)."""

    def __enter__(self):
        import nnip.nn._reference as ref

        self._ref, self._saved = ref, ref._get_current_dispatch_mode
        ref._get_current_dispatch_mode = lambda: None
        return self

    def __exit__(self, *exc):
        self._ref._get_current_dispatch_mode = self._saved
        return False


def profile_model(name: str, rung: str, structures, *, steps: int, peak: float, bw: float,
                  curve: list[tuple[int, float]]) -> dict:
    from nnip.data.references import fit_references
    from nnip.models import build_model, count_parameters
    from nnip.train.config import OptimSpec
    from nnip.train.flops import count_flops
    from nnip.train.loss import objective
    from nnip.train.optim import build_optimizer, set_mode
    from nnip.train.pipeline import epoch_batches, make_loader

    hp, preset_batch = _hparams(name, "preset:cpu", rung)
    batch_size = preset_batch or 16
    torch.manual_seed(0)
    model = build_model(name, **hp)
    opt, _ = build_optimizer(model, OptimSpec(lr=1e-4), total_steps=100)
    set_mode(model, opt, True)
    normalizer = fit_references(structures)
    # one batch, repeated: per-op figures and step times refer to the same atoms and edges
    idx = epoch_batches(len(structures), batch_size, 0, 0)[0]
    batch = next(iter(make_loader(structures, [idx], cutoff=model.cutoff, max_neighbors=model.max_neighbors,
                                  normalizer=normalizer)))[0]
    if hasattr(model, "fit_scale_factors"):
        with torch.no_grad():
            model.fit_scale_factors([batch])

    def step(b=batch):
        loss = objective(model, b)[0].sum() / b.num_graphs
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # the framework's floor: the same step on one molecule (the same ops on tiny tensors), fastest of 30 short steps
    tiny = next(iter(make_loader(structures, [idx[:1]], cutoff=model.cutoff, max_neighbors=model.max_neighbors,
                                 normalizer=normalizer)))[0]
    floor = []
    for _ in range(32):
        t = time.perf_counter()
        step(tiny)
        floor.append(time.perf_counter() - t)
    floor_s = min(floor[2:])
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    step_s = min(times)  # a shared machine: the least-disturbed step
    with count_flops() as fc:  # the reference arithmetic: bench_train.py's MFU numerator
        objective(model, batch)[0].sum().backward()
    opt.zero_grad(set_to_none=True)
    recordings = []
    for _ in range(steps):
        rec = OpRecorder()
        with _fast_paths_under_dispatch_mode(), rec:
            step()
        recordings.append(rec.calls)
    ops = aggregate(recordings)
    # the measured bound: every op at its own speed alone at its shapes (the fastest replay); an op that cannot be
    # replayed on random operands (indices) at the bandwidth measured for its working set, or at the peak if
    # compute-bound; views cost nothing; no overlap between ops
    replayed = replay_ops(rec.signatures)
    t_shape = {"matmul": 0.0, "other": 0.0}
    t_rec = {"matmul": 0.0, "other": 0.0}
    n_bw = 0
    for k, (op, _, f, nb) in enumerate(recordings[0]):
        kind = "matmul" if op in _MATMULS else "other"
        t_rec[kind] += min(r[k][1] for r in recordings)
        if rec.keys.get(k) in replayed:
            t_shape[kind] += replayed[rec.keys[k]]
        elif nb:
            t_shape[kind] += max(f / peak, nb / bandwidth_at(curve, nb))
            n_bw += 1
    t_measured = t_shape["matmul"] + t_shape["other"]
    flops = sum(o["flops"] for o in ops.values())
    nbytes = sum(o["bytes"] for o in ops.values())
    op_s = sum(o["s"] for o in ops.values())
    t_min = sum(max(o["flops"] / peak, o["bytes"] / bw) for o in ops.values())
    achieved = fc.total / step_s
    ai = flops / nbytes
    top = sorted(ops.items(), key=lambda kv: -kv[1]["s"])
    return {
        "model": name, "rung": rung, "params": count_parameters(model), "batch": batch_size,
        "atoms": batch.num_atoms, "edges": batch.num_edges, "step s": step_s, "counted GFLOP": fc.total / 1e9,
        "executed GFLOP": flops / 1e9, "GB": nbytes / 1e9, "AI": ai, "achieved GFLOP/s": achieved / 1e9,
        "MFU %": 100 * achieved / peak, "bound agg GFLOP/s": min(peak, ai * bw) / 1e9,
        "bound op GFLOP/s": flops / t_min / 1e9, "% of bound": 100 * achieved / (flops / t_min),
        "op s": op_s, "overhead %": 100 * max(0.0, 1 - op_s / step_s) if step_s else 0.0,
        "kernel GFLOP/s": flops / op_s / 1e9, "kernel % of bound": 100 * t_min / op_s,
        "floor s": floor_s, "est step s": op_s + floor_s, "est MFU %": 100 * fc.total / (op_s + floor_s) / peak,
        "bound op MFU %": 100 * fc.total / t_min / peak,
        "measured bound s": t_measured, "measured bound MFU %": 100 * fc.total / t_measured / peak,
        "matmul bound s": t_shape["matmul"], "other bound s": t_shape["other"],
        "matmul op s": t_rec["matmul"], "other op s": t_rec["other"], "signatures": len(replayed),
        "bandwidth-bound calls": n_bw, "calls": len(recordings[0]),
        "top": [(k, o["s"] / op_s, o["flops"], o["bytes"], o["calls"]) for k, o in top],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mpnn,egnn,equiformer_v2", help="comma-separated")
    p.add_argument("--rung", default="last", choices=("first", "last", "paper"))
    p.add_argument("--data", default="xtb-mols")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stream-mib", type=float, default=512, help="array size of the DRAM bandwidth test")
    p.add_argument("--top", type=int, default=8, help="ops listed per model")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    structures, data_name = _structures(args.data, args.n)
    peak = matmul_peak()
    dram = stream_bandwidth(args.stream_mib, reps=3)
    llc = stream_bandwidth(2, reps=50)
    bw = max(llc.values())
    curve = bandwidth_curve()
    print(f"{args.threads} thread(s), data {data_name}, rung {args.rung}, load average {os.getloadavg()[0]:.1f}")
    print(f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s; bandwidth copy/add: {dram['copy'] / 1e9:.1f}/"
          f"{dram['add'] / 1e9:.1f} GB/s at {args.stream_mib:.0f} MiB (DRAM), {llc['copy'] / 1e9:.1f}/"
          f"{llc['add'] / 1e9:.1f} GB/s at 2 MiB (cache); roofline bandwidth {bw / 1e9:.1f} GB/s, ridge point "
          f"{peak / bw:.1f} FLOP/B", flush=True)
    print("bandwidth by working set (copy, read + write): " + ", ".join(
        f"{size / 2**20:g} MiB {b / 1e9:.1f} GB/s" for size, b in curve), flush=True)
    rows = []
    for name in args.models.split(","):
        rows.append(profile_model(name, args.rung, structures, steps=args.steps, peak=peak, bw=bw, curve=curve))
        r = rows[-1]
        print(f"\n{name} ({r['params']:,} params, batch {r['batch']}: {r['atoms']} atoms, {r['edges']} edges): "
              f"step {r['step s'] * 1e3:.0f} ms, counted {r['counted GFLOP']:.2f} GFLOP (executed "
              f"{r['executed GFLOP']:.2f}), {r['GB']:.2f} GB, AI {r['AI']:.1f} FLOP/B; achieved "
              f"{r['achieved GFLOP/s']:.1f} GFLOP/s = {r['MFU %']:.1f} % MFU; bound {r['bound agg GFLOP/s']:.1f} "
              f"(aggregate) / {r['bound op GFLOP/s']:.1f} (per op) GFLOP/s -> {r['% of bound']:.0f} % of the "
              f"per-op bound; aten op time {r['op s'] * 1e3:.0f} ms ({r['kernel GFLOP/s']:.1f} GFLOP/s = "
              f"{r['kernel % of bound']:.0f} % of the per-op bound), rest of the step {r['overhead %']:.0f} %; "
              f"one-molecule step {r['floor s'] * 1e3:.0f} ms: uncontended step ≈ {r['est step s'] * 1e3:.0f} ms, "
              f"MFU ≈ {r['est MFU %']:.1f} %")
        print(f"  measured bound ({r['signatures']} op signatures replayed alone; {r['bandwidth-bound calls']} of "
              f"{r['calls']} calls, with index operands, at their working set's bandwidth): products "
              f"{r['matmul bound s'] * 1e3:.0f} ms ({r['matmul op s'] * 1e3:.0f} ms in the step), other ops "
              f"{r['other bound s'] * 1e3:.0f} ms ({r['other op s'] * 1e3:.0f} ms in the step): step >= "
              f"{r['measured bound s'] * 1e3:.0f} ms, MFU <= {r['measured bound MFU %']:.1f} % (per-op roofline at "
              f"the cache bandwidth: MFU <= {r['bound op MFU %']:.1f} %)")
        print(f"  {'op':34s} {'time %':>6s} {'calls':>6s} {'GFLOP':>7s} {'MB':>8s} {'AI':>6s} {'GFLOP/s':>8s} "
              f"{'GB/s':>6s}")
        for op, share, f, b, calls in r["top"][: args.top]:
            s = share * r["op s"]
            print(f"  {op:34s} {100 * share:6.1f} {calls:6d} {f / 1e9:7.3f} {b / 1e6:8.1f} "
                  f"{(f / b if b else float('nan')):6.2f} {f / s / 1e9:8.2f} {b / s / 1e9:6.1f}", flush=True)
    print("\n| model | params | batch (atoms / edges) | step ms | GFLOP counted (executed) | GB touched | AI FLOP/B "
          "| achieved GFLOP/s | MFU | bound: aggregate / per op GFLOP/s | % of per-op bound | ops alone: GFLOP/s, "
          "% of bound | rest of step | 1-molecule step ms | est. step ms, MFU | measured bound: products + other "
          "ms, MFU <= |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['batch']} ({r['atoms']} / {r['edges']}) | "
              f"{r['step s'] * 1e3:.0f} | {r['counted GFLOP']:.2f} ({r['executed GFLOP']:.2f}) | {r['GB']:.2f} | "
              f"{r['AI']:.1f} | {r['achieved GFLOP/s']:.1f} | {r['MFU %']:.1f} % | {r['bound agg GFLOP/s']:.0f} / "
              f"{r['bound op GFLOP/s']:.0f} | {r['% of bound']:.0f} % | {r['kernel GFLOP/s']:.1f}, "
              f"{r['kernel % of bound']:.0f} % | {r['overhead %']:.0f} % | {r['floor s'] * 1e3:.0f} | "
              f"{r['est step s'] * 1e3:.0f}, {r['est MFU %']:.1f} % | {r['matmul bound s'] * 1e3:.0f} + "
              f"{r['other bound s'] * 1e3:.0f}, {r['measured bound MFU %']:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
