"""Stand-in models that fail on purpose, for the Slurm and data-parallel tests (``model.name =
"tests.runs.slurm_models:MemoryHog"``, ``"...:RankFault"``). Until they fail they are ``PairMLP`` exactly."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from tests.train.standin import PairMLP


class MemoryHog(PairMLP):
    """Allocates (and touches) ``hog_mb`` MiB at its first forward and keeps it: a job out of memory."""

    @dataclass(frozen=True)
    class Config(PairMLP.Config):
        hog_mb: int = 0

    def forward(self, batch):
        if self.config.hog_mb and not hasattr(self, "_hog"):
            self._hog = torch.ones(self.config.hog_mb << 20, dtype=torch.uint8)
        return super().forward(batch)


class RankFault(PairMLP):
    """On rank ``fault_rank`` of a data-parallel run, after ``fault_after`` forward passes: exits at once
    (``fault="die"``, like a killed process) or stops answering (``fault="hang"``, sleeps for an hour)."""

    @dataclass(frozen=True)
    class Config(PairMLP.Config):
        fault_rank: int = -1
        fault_after: int = 3
        fault: str = "die"

    def forward(self, batch):
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls > self.config.fault_after and int(os.environ.get("RANK", "0")) == self.config.fault_rank:
            if self.config.fault == "die":
                os._exit(3)
            time.sleep(3600)
        return super().forward(batch)


class SlowFirstAttempt(PairMLP):
    """Sleeps ``first_sleep_s`` in every forward pass after the first ``sleep_after`` of a Slurm job's first attempt
    (before any requeue), so that a test can preempt it, or let it reach its time limit, after its first checkpoint
    and before its end; at full speed in a requeued attempt and outside Slurm (the uninterrupted reference run).
    Sleeping does not change a number."""

    @dataclass(frozen=True)
    class Config(PairMLP.Config):
        first_sleep_s: float = 0.0
        sleep_after: int = 3  # step 1 (a FLOP-counting replay, the step) and its evaluation: the first checkpoint

    def forward(self, batch):
        self._calls = getattr(self, "_calls", 0) + 1
        if (self.config.first_sleep_s and self._calls > self.config.sleep_after and os.environ.get("SLURM_JOB_ID")
                and int(os.environ.get("SLURM_RESTART_COUNT") or 0) == 0):
            time.sleep(self.config.first_sleep_s)
        return super().forward(batch)
