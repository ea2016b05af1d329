"""Fixtures of the paper tests."""

import dataclasses

import pytest

from nnip import presets


@pytest.fixture
def set_analysis(monkeypatch):
    """``set_analysis(preset, n_boot=8)``: the preset's :class:`nnip.presets.Analysis` with some fields changed, for
    this test only (a handful of resamples is enough to exercise the interval code)."""

    def set_(name: str, **changes) -> None:
        p = presets.PRESETS[name]
        monkeypatch.setitem(presets.PRESETS, name, dataclasses.replace(p, analysis=dataclasses.replace(p.analysis,
                                                                                                        **changes)))

    return set_
