"""Nested dicts ↔ dotted keys: shared by the run config (:mod:`nnip.train.config`, whose flattened form enters the
run id) and the run store (:mod:`nnip.runs`, whose ``summaries()`` columns are the flattened config)."""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["flatten"]


def flatten(d: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": 1}, "c": [1, 2]}`` → ``{"a.b": 1, "c": "[1, 2]"}``: nested mappings become dotted keys, lists
    JSON strings, empty mappings stay as values.

    >>> flatten({"optim": {"lr": 0.001}, "tags": ["main"], "model": {"hparams": {}}})
    {'optim.lr': 0.001, 'tags': '["main"]', 'model.hparams': {}}
    """
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out
