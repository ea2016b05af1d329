"""The model zoo: ``MODELS``, :func:`build_model` and :func:`ladder` (Tables 3–6 of Ngo & Ravanbakhsh 2025).

Every model is one file ``nnip/models/<name>.py`` holding a frozen ``Config`` dataclass (unknown keys are an
error) and an ``nn.Module`` built from it. The registry below maps the public name to ``"module:Class"`` and imports
lazily, so importing :mod:`nnip.models` is cheap and a model whose file is missing fails loudly when it is built.

Model contract (checked by ``tests/models`` through :mod:`nnip.testing`):

- ``Model(config)``; ``model.config`` is the frozen config; ``Model.Config`` is its dataclass.
- ``model(batch) -> {"energy": (n_graphs,), "forces": (n_atoms, 3)[, "stress": (n_graphs, 3, 3)]}`` in the
  normalised units of :mod:`nnip.keys`; forces are *direct* (a head, not -dE/dx).
- class attributes ``symmetries`` (a frozenset drawn from ``{"rotation", "translation", "permutation"}``: what the
  architecture guarantees by construction) and ``local`` (bool: output depends only on atoms within the cutoff
  graph); properties ``cutoff`` and ``max_neighbors`` (the graph the model expects) and ``width`` (the width
  that μP learning-rate transfer scales with) and ``base_width`` (the w_base of its ladder: the ≈1M-parameter
  entry, §3.3).
- class attributes ``LADDER: list[tuple[dict, int | None]]`` (hyper-parameters, published parameter count or
  ``None``), ``TEST_HPARAMS: dict`` (a tiny configuration for fast tests) and ``smooth_cutoff: bool``.
- works in float32 and float64 (``model.double()``), on CPU and CUDA, and under bf16 autocast; edge geometry is
  computed inside ``forward`` from ``batch.edge_vectors()`` so that gradients reach ``batch.pos``.

Any model can be made rotation- and translation-invariant by a wrapper, ``build_model(name, symmetrize=method)``
with ``method`` in :data:`SYMMETRIZE_METHODS` (frame averaging, PCA or learned canonicalization; see
:mod:`nnip.models.symmetrize`); the wrapper follows the same contract.
"""

from __future__ import annotations

import dataclasses
import importlib

import torch

from nnip.errors import ConfigError

__all__ = ["MODELS", "SYMMETRIZE_METHODS", "build_model", "build_model_from_spec", "ladder", "model_class",
           "count_parameters", "config_from_dict", "published_params"]

#: public name -> "module:Class"
MODELS: dict[str, str] = {
    "mpnn": "nnip.models.mpnn:MPNN",
    "egnn": "nnip.models.egnn:EGNN",
    "gemnet_oc": "nnip.models.gemnet_oc:GemNetOC",
    "esen": "nnip.models.esen:ESEN",
    "equiformer_v2": "nnip.models.equiformer_v2:EquiformerV2",
    "transformer": "nnip.models.transformer:Transformer",
}

#: the architecture-agnostic symmetrizations of :mod:`nnip.models.symmetrize` (``build_model(..., symmetrize=)``)
SYMMETRIZE_METHODS: tuple[str, ...] = ("frame-averaging", "canonical-pca", "canonical-learned")


def model_class(name: str) -> type[torch.nn.Module]:
    """The class registered under ``name``; a clear error for an unknown or not-yet-implemented model."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    module_name, cls_name = MODELS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise NotImplementedError(f"model {name!r} has not landed yet ({module_name} is missing)") from err
        raise
    return getattr(module, cls_name)


class UnknownHyperParameter(ConfigError, TypeError):
    """A hyper-parameter the model's ``Config`` does not have (a ``TypeError``, like an unexpected keyword)."""


def config_from_dict(cls, hparams: dict):
    """Build a frozen config dataclass from ``hparams``, rejecting unknown keys with a message naming them."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hparams) - names)
    if unknown:
        model = cls.__module__.rsplit(".", 1)[-1]
        raise UnknownHyperParameter(f"{model}: unknown hyper-parameter(s) {unknown}; valid: {sorted(names)}")
    return cls(**hparams)


def build_model(name: str, symmetrize: str | None = None, **hparams) -> torch.nn.Module:
    """``build_model("esen", sphere_channels=8)`` → an ``nn.Module``; unknown hyper-parameters raise ``TypeError``.

    ``symmetrize`` (one of :data:`SYMMETRIZE_METHODS`) wraps the model
    (:func:`nnip.models.symmetrize.symmetrize_model`); ``None`` returns the model itself, built exactly as without
    the argument.
    """
    cls = model_class(name)
    return _symmetrized(cls(config_from_dict(cls.Config, hparams)), symmetrize)


def build_model_from_spec(name: str, hparams: dict, symmetrize: str | None = None) -> torch.nn.Module:
    """A registered model (:func:`build_model`) or ``"package.module:Class"`` (a user model that follows the model
    contract: ``Class(Class.Config(**hparams))``), wrapped by ``symmetrize`` if given — what a run's ``model``
    section names (``name``, ``hparams``, ``symmetrize``)."""
    if ":" in name:
        module_name, cls_name = name.split(":", 1)
        cls = getattr(importlib.import_module(module_name), cls_name)
        return _symmetrized(cls(config_from_dict(cls.Config, dict(hparams))), symmetrize)
    return build_model(name, symmetrize=symmetrize, **dict(hparams))


def _symmetrized(model: torch.nn.Module, symmetrize: str | None) -> torch.nn.Module:
    if symmetrize is None:
        return model
    from nnip.models.symmetrize import symmetrize_model  # lazy: nnip.models stays cheap to import (EGNN layers)

    return symmetrize_model(model, symmetrize)


def ladder(name: str, **overrides) -> list[dict]:
    """The paper's scaling ladder of ``name`` as hyper-parameter dicts (Tables 3–6; Trikha et al. for the
    transformer and EquiformerV2), smallest first: ``[build_model(name, **h) for h in ladder(name)]``.

    The model class declares it as ``LADDER: list[tuple[dict, int | None]]`` — hyper-parameters and the
    published trainable-parameter count (``None`` where the paper gives none); see :func:`published_params`.
    """
    return [{**h, **overrides} for h, _ in model_class(name).LADDER]


def published_params(name: str) -> list[int | None]:
    """Published parameter counts aligned with :func:`ladder` (``None`` where the paper gives none)."""
    return [n for _, n in model_class(name).LADDER]


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters N (the N of eq. 3 and 5)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
