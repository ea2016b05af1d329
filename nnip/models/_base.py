"""The contract properties every model reads from its frozen config (see :mod:`nnip.models`)."""

from __future__ import annotations

from torch import nn


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
