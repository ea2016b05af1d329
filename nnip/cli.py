"""``nnip`` command line: ``nnip data|train|sweep|fit|plan ...``.

Each subcommand forwards its arguments to the module that owns it, so every command is also a function:

- ``nnip data make xtb-mols --n N --seed S``, ``nnip data stats PATH`` → :func:`nnip.data.registry.make_cli`
- ``nnip train CONFIG.yaml --set key=value`` → :func:`nnip.train.train_cli`
- ``nnip sweep SPEC --preset P --executor local|slurm`` → :func:`nnip.sweep.sweep_cli`
- ``nnip fit STORE --arch A [--x flops|hours] [--out table.csv] [--png fig.png]`` → :func:`nnip.fit.fit_cli`
- ``nnip plan --arch A --budget-pflops X [--store PATH | --paper]`` → :func:`nnip.scaling.plan_cli`
- ``nnip runs verify STORE [RUN_ID ...] [--cheapest K]`` → :func:`nnip.verify.runs_cli`
- ``nnip runs status SPEC --preset P [--store DIR]`` → :func:`nnip.sweep.status_cli` (a sweep's runs and their
  Slurm jobs: done, failed and why, running, queued, missing)

Bad input (:class:`nnip.errors.UserError`: a missing or malformed file, an unknown key, a bad value, a store that
cannot be written) prints one line on stderr naming the file / row / key / value and exits with code 2; any other
exception is a bug and shows its traceback. ``--debug`` (anywhere on the line) shows the traceback for user
errors too. Ctrl-C exits with code 130.
"""

from __future__ import annotations

import importlib
import sys

from nnip.errors import UserError

COMMANDS = {
    "data": ("nnip.data.registry", "make_cli", "generate or inspect the embedded datasets"),
    "train": ("nnip.train", "train_cli", "train one run from a YAML/JSON config"),
    "sweep": ("nnip.sweep", "sweep_cli", "run a sweep (ladder x data fractions x options) locally or on SLURM"),
    "fit": ("nnip.fit", "fit_cli", "fit frontier, sum-power-law and compute-optimal allocation to a run store"),
    "plan": ("nnip.scaling", "plan_cli", "compute-optimal N*, D* and predicted loss for a FLOP budget"),
    "runs": ("nnip.cli", "runs_cli", "a sweep's runs and Slurm jobs (status); re-train committed runs and compare "
                                      "(verify)"),
}


def runs_cli(argv: list[str]) -> int:
    """``nnip runs status ...`` → :func:`nnip.sweep.status_cli`; ``nnip runs verify ...`` →
    :func:`nnip.verify.runs_cli`."""
    if argv and argv[0] == "status":
        from nnip.sweep import status_cli  # lazy like every command: nnip.sweep imports torch

        return status_cli(argv[1:])
    from nnip.verify import runs_cli as verify_cli  # lazy like every command: re-training imports torch

    return verify_cli(argv)


def _usage() -> str:
    lines = ["usage: nnip [--debug] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<7} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "--debug: show the Python traceback of an input error (bad file, key or value) too"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--debug":  # ``nnip --debug COMMAND ...``
        argv = [*argv[1:], "--debug"]
    if not argv or argv[0] in ("-h", "--help", "--debug"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"nnip: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    debug = "--debug" in rest
    rest = [a for a in rest if a != "--debug"]
    module, func, _ = COMMANDS[name]
    try:
        result = getattr(importlib.import_module(module), func)(rest)
    except UserError as err:
        if debug:
            raise
        print(f"nnip {name}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"nnip {name}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
