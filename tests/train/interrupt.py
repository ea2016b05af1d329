"""Shared by the resume tests (test_resume.py, test_compile.py): train a config uninterrupted, then train it again
in another store, interrupted in-process (a KeyboardInterrupt in the step after ``at_step``), and resume it."""

from __future__ import annotations

import pytest

from nnip.runs import RunStore
from nnip.train import train
from nnip.train import trainer as trainer_mod


def interrupt_and_resume(cfg, tmp_path, monkeypatch, at_step: int):
    """``(reference, resumed)`` records: ``cfg`` trained in ``tmp_path / "ref"``, and in ``tmp_path / "cut"``
    interrupted when the step counter reads ``at_step`` (the run left ``running``), then resumed to the end."""
    ref = train(cfg, tmp_path / "ref")
    original = trainer_mod._Run.train_step

    def interrupted(self, *args):
        if self.c["step"] == at_step:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(trainer_mod._Run, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut")
    monkeypatch.setattr(trainer_mod._Run, "train_step", original)
    assert RunStore(tmp_path / "cut").read_summary(cfg.run_id())["status"] == "running"
    return ref, train(cfg, tmp_path / "cut")
