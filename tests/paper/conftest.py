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


@pytest.fixture
def symmetrization_in_production(monkeypatch):
    """The catalog as it was while the symmetrization study was trained: the study in ``IN_PRODUCTION``, not in
    ``STUDIES`` (the machinery for a study in production is kept for the next one). Returns its name."""
    from nnip.paper import beyond_symmetry, catalog

    name = beyond_symmetry.STUDY_NAME
    monkeypatch.setattr(catalog, "IN_PRODUCTION", {name: catalog.STUDIES[name]})
    monkeypatch.setattr(catalog, "STUDIES", {k: v for k, v in catalog.STUDIES.items() if k != name})
    return name
