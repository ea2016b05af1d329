"""The contract properties every model reads from its frozen config (see :mod:`nnip.models`)."""

from __future__ import annotations

import dataclasses
import math
import re

from torch import nn

from nnip.errors import ConfigError


def check_config(config, *, zero_ok: tuple[str, ...] = ()) -> None:
    """Check the numbers of a model's frozen config by their declared types, naming the key on failure.

    Integers must be integers ``>= 1`` (``>= 0`` for the fields in ``zero_ok``; ``max_neighbors*`` may be ``None``
    = no cap), floats finite numbers ``> 0`` (``>= 0`` in ``zero_ok``), so ``cutoff``, widths, depths and neighbour
    counts are all covered; booleans and strings must have their type. Called first in every ``Config.__post_init__``;
    raises :class:`~nnip.errors.ConfigError` (a ``ValueError``) ``"<model>: <key> must be ..., got <value>"``.
    """
    model = type(config).__module__.rsplit(".", 1)[-1]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        hint = f.type.__name__ if isinstance(f.type, type) else str(f.type)
        optional = "None" in hint or "Optional" in hint
        match = re.search(r"\b(bool|int|float|str)\b", hint)
        base = match.group(1) if match else None
        if value is None:
            if not optional:
                raise ConfigError(f"{model}: {f.name} must not be None")
            continue
        zero = f.name in zero_ok
        if base == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{model}: {f.name} must be true or false, got {value!r}")
        elif base == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{model}: {f.name} must be a string, got {value!r}")
        elif base == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{model}: {f.name} must be an integer, got {value!r}")
            if value < (0 if zero else 1):
                raise ConfigError(f"{model}: {f.name} must be >= {0 if zero else 1}, got {value}")
        elif base == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{model}: {f.name} must be a finite number, got {value!r}")
            if value < 0 or (value == 0 and not zero):
                raise ConfigError(f"{model}: {f.name} must be {'>= 0' if zero else '> 0'}, got {value}")


class GraphModel(nn.Module):
    """Base class of the zoo's models: ``cutoff``, ``max_neighbors``, ``width`` and ``base_width`` from the config.

    Subclasses set ``WIDTH_FIELD`` (the config field that μP learning-rate transfer scales with) and ``BASE_WIDTH``
    (its value at the ladder's ≈1M-parameter entry, §3.3), or override the properties.
    """

    WIDTH_FIELD: str = "hidden_dim"
    BASE_WIDTH: int

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    @property
    def max_neighbors(self) -> int | None:
        return self.config.max_neighbors

    @property
    def width(self) -> int:
        return getattr(self.config, self.WIDTH_FIELD)

    @property
    def base_width(self) -> int:
        return self.BASE_WIDTH
