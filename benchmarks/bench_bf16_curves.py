"""bf16 autocast against fp32 on whole training runs: does the validation loss follow the same curve?

Issue 11 asks for the validation-loss curve of bf16 autocast training (``train.amp = "bf16"``) against fp32 on the
same run, for the MPNN and eSEN over a few thousand steps, judged against run-to-run noise. For each ``ARCH:WIDTH``
this trains, in a scratch store, the ``cpu`` main-study run of that rung twice more —

- the same configuration with ``train.amp = "bf16"`` (same seed, same stream), and
- the fp32 configuration with ``train.seed = 1`` (the run-to-run noise reference: other initialisation and order),

and reads the fp32 seed-0 run from the committed store (``results/cpu``; trained here if missing). It prints, over the
evaluations every run shares (after the first ``--skip`` fraction of the stream), the mean and largest relative
difference of the validation loss bf16 vs fp32 and seed 1 vs seed 0, and their ratio, and saves a log-log plot.
bf16 "agrees within run-to-run noise" when its mean relative difference is at most the seed-to-seed one.

    python benchmarks/bench_bf16_curves.py mpnn:64 esen:8 --store /tmp/nnip-bf16

Each run is a whole cpu main-study run (3,094 steps of 32 or 6,188 of 16 molecules): minutes to tens of minutes on
one core. Training time (s) of each run is printed too; the step-time ratio is ``bench_train.py --amp both``'s job.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _main_config(arch: str, width: int):
    """The cpu main-study config of ``arch`` at the rung whose width knob equals ``width``."""
    from nnip.paper import main
    from nnip.sweep import expand

    cfgs = [c for c in expand(main.main_spec(arch), "cpu") if width in c.model.hparams.values()]
    if len(cfgs) != 1:
        raise SystemExit(f"{arch}:{width}: not one cpu main-study rung with that width ({len(cfgs)} found)")
    return cfgs[0]


def _variant(cfg, **dotted):
    from nnip.train.config import TrainConfig

    d = cfg.to_dict()
    for key, value in dotted.items():
        section, name = key.split(".")
        d[section][name] = value
    return TrainConfig.from_dict(d)


def _curve(cfg, store):
    from nnip.train import train

    rec = train(cfg, store)
    if rec.status != "done":
        raise SystemExit(f"run {rec.run_id} ended {rec.status}: {rec.reason}")
    return rec.run_id, rec.curve(), rec.summary.get("hours_train", float("nan")) * 3600


def _rel(a, b, skip: float):
    """Mean and max |a/b − 1| of the val loss over the steps both curves have, after the first ``skip`` of them."""
    m = a[["step", "val_loss"]].merge(b[["step", "val_loss"]], on="step", suffixes=("_a", "_b"))
    m = m[m["step"] >= skip * m["step"].max()]
    r = np.abs(m["val_loss_a"] / m["val_loss_b"] - 1.0)
    return float(r.mean()), float(r.max()), len(m)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rungs", nargs="+", help="ARCH:WIDTH, e.g. mpnn:64 esen:8 (a cpu main-study rung)")
    ap.add_argument("--store", default="/tmp/nnip-bf16", help="scratch run store for the bf16 and seed-1 runs")
    ap.add_argument("--reference", default=str(ROOT / "results" / "cpu"), help="store holding the fp32 main runs")
    ap.add_argument("--skip", type=float, default=0.05, help="fraction of the stream left out (the fits' drop_first)")
    ap.add_argument("--plot", default="bf16_curves.png")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.rungs), figsize=(4.2 * len(args.rungs), 3.4), squeeze=False)
    for ax, rung in zip(axes[0], args.rungs):
        arch, width = rung.split(":")
        cfg = _main_config(arch, int(width))
        rid0, c32, t32 = _curve(cfg, args.reference)
        ridb, cbf, tbf = _curve(_variant(cfg, **{"train.amp": "bf16"}), args.store)
        rid1, c1, t1 = _curve(_variant(cfg, **{"train.seed": 1}), args.store)
        mb, xb, n = _rel(cbf, c32, args.skip)
        ms, xs, _ = _rel(c1, c32, args.skip)
        print(f"{rung}: fp32 {rid0} ({t32:.0f} s), bf16 {ridb} ({tbf:.0f} s), fp32 seed 1 {rid1} ({t1:.0f} s); "
              f"{n} shared evaluations after {args.skip:.0%} of the stream")
        print(f"  |bf16/fp32 - 1|: mean {mb:.2%}, max {xb:.2%}; |seed1/seed0 - 1|: mean {ms:.2%}, max {xs:.2%}; "
              f"bf16 / noise (mean): {mb / ms:.2f} -> {'within' if mb <= ms else 'OUTSIDE'} run-to-run noise")
        print(f"  final val loss: fp32 {c32['val_loss'].iloc[-1]:.4f}, bf16 {cbf['val_loss'].iloc[-1]:.4f}, "
              f"fp32 seed 1 {c1['val_loss'].iloc[-1]:.4f}", flush=True)
        for c, label in ((c32, "fp32 (seed 0)"), (cbf, "bf16 autocast (seed 0)"), (c1, "fp32 (seed 1)")):
            ax.plot(c["atoms_seen"], c["val_loss"], label=label)
        ax.set(xscale="log", yscale="log", xlabel="atoms seen D", title=rung,
               ylabel="validation loss (eq. 1, normalised)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
