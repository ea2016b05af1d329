"""Training: ``TrainConfig`` → ``train(cfg, store)`` → a run in a :class:`nnip.runs.RunStore`.

>>> from nnip.train import TrainConfig, train                       # doctest: +SKIP
>>> cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"name": "xtb-mols", "size": "tiny"}})
>>> record = train(cfg, "results/local")                          # doctest: +SKIP
>>> record.curve()[["atoms_seen", "flops", "val_loss"]]            # doctest: +SKIP

See ``book/training.md`` for the loop, FLOP counting (what is and is not counted), the run store and resume.
"""

from nnip.train.config import (
    RECIPES,
    ConfigError,
    DataSpec,
    EvalSpec,
    LossSpec,
    ModelSpec,
    OptimSpec,
    RuntimeSpec,
    ScheduleSpec,
    TrainConfig,
)
from nnip.train.record import RunRecord
from nnip.train.trainer import TrainingDiverged, eval_schedule, train

__all__ = [
    "TrainConfig",
    "ModelSpec",
    "DataSpec",
    "OptimSpec",
    "LossSpec",
    "ScheduleSpec",
    "EvalSpec",
    "RuntimeSpec",
    "ConfigError",
    "RECIPES",
    "train",
    "RunRecord",
    "TrainingDiverged",
    "eval_schedule",
    "train_cli",
]


def train_cli(argv=None) -> int:
    """``nnip train CONFIG.yaml [--set key=value ...] [--store DIR]`` (see :mod:`nnip.train.__main__`)."""
    from nnip.train.__main__ import main  # lazy: importing __main__ with the package makes python -m warn

    return main(argv)
