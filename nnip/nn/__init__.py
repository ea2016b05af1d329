"""Shared building blocks: radial bases, cutoff envelopes, scatter reductions, MLPs.

Each concept lives in a private-ish module and is re-exported here; other modules (e.g. ``so3.py``) are
imported directly by their users.
"""

from nnip.nn.mlp import MLP
from nnip.nn.radial import (
    BesselBasis,
    CosineEnvelope,
    GaussianBasis,
    PolynomialEnvelope,
    cosine_envelope,
    polynomial_envelope,
)
from nnip.nn.scatter import scatter_count, scatter_mean, scatter_sum

__all__ = [
    "MLP",
    "BesselBasis",
    "CosineEnvelope",
    "GaussianBasis",
    "PolynomialEnvelope",
    "cosine_envelope",
    "polynomial_envelope",
    "scatter_count",
    "scatter_mean",
    "scatter_sum",
]
