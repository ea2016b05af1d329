"""``python -m nnip.train CONFIG.yaml [--set key=value ...] [--store DIR]`` — also the ``nnip train`` command and
the ``torchrun --nproc_per_node=N -m nnip.train CONFIG`` entry point (DDP: gloo on CPU, nccl on CUDA; only rank 0
writes the store).

Examples::

    nnip train run.yaml --set optim.lr=5e-4 --set model.hparams.hidden_dim=64 --store results/local
    torchrun --nproc_per_node=4 -m nnip.train run.yaml --set runtime.device=cuda
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from nnip.train.config import TrainConfig
from nnip.train.trainer import train

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnip train", description="Train one run (a TrainConfig YAML/JSON file).")
    p.add_argument("config", help="TrainConfig file (.yaml/.yml/.json)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. optim.lr=5e-4 (repeatable)")
    p.add_argument("--store", default="results/local", help="run store directory (default: results/local)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and run id, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 done or cache hit, 1 failed)."""
    args = build_parser().parse_args(argv)
    cfg = TrainConfig.from_file(args.config)
    if args.overrides:
        cfg = cfg.override(args.overrides)
    if not args.quiet:
        cfg = cfg.override({"runtime.progress": True})
    if args.print_config:
        print(f"# run id {cfg.run_id()}")
        print(cfg.resolved().to_yaml(), end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    record = train(cfg, args.store)
    if int(os.environ.get("RANK", "0")) == 0:
        keys = ("run_id", "status", "reason", "params", "steps", "atoms_seen", "flops", "hours", "best_val_loss")
        print(json.dumps({k: record.summary.get(k) for k in keys} | {"cached": record.cached, "dir": str(record.run_dir)}))
    return 0 if record.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
