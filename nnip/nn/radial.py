"""Radial bases and cutoff envelopes: scalar functions of an interatomic distance ``r`` (Å).

Every basis maps distances ``(...,)`` to features ``(..., num_radial)``; every envelope maps ``(...,)`` to
``(...,)`` with ``u(0) = 1`` and ``u(r) = 0`` for ``r >= cutoff``. All are rotation/translation invariant (they
see only ``|r|``) and differentiable in ``r``; multiplying a basis by an envelope makes a model's energy go to
zero smoothly as a neighbour leaves the cutoff sphere, which is what ``assert_smooth_cutoff`` checks.

>>> rbf = GaussianBasis(num_radial=8, cutoff=6.0)
>>> rbf(torch.tensor([0.5, 5.9])).shape
torch.Size([2, 8])
>>> PolynomialEnvelope(cutoff=6.0, exponent=5)(torch.tensor([0.0, 6.0, 7.0]))
tensor([1., 0., 0.])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nnip.nn._reference import use_reference

__all__ = [
    "GaussianBasis",
    "BesselBasis",
    "PolynomialEnvelope",
    "CosineEnvelope",
    "polynomial_envelope",
    "cosine_envelope",
]


class GaussianBasis(nn.Module):
    r"""Gaussian smearing (SchNet): :math:`e_k(r) = \exp(-\gamma (r - \mu_k)^2)`, ``(...,) -> (..., num_radial)``.

    Centres ``μ_k`` are evenly spaced on ``[start, cutoff]`` and ``γ = coeff / Δμ²`` with ``Δμ`` their spacing
    (``coeff = 0.5`` reproduces ``schnetpack``/PyG ``GaussianSmearing``). Centres and width are buffers, not
    parameters (unless ``trainable=True``).

    Args:
        num_radial: number of Gaussians K.
        cutoff: last centre, Å.
        start: first centre, Å.
        coeff: width factor.
        trainable: learn centres and widths.
    """

    def __init__(
        self, num_radial: int = 50, cutoff: float = 6.0, start: float = 0.0, coeff: float = 0.5, trainable: bool = False
    ):
        super().__init__()
        if num_radial < 1:
            raise ValueError(f"num_radial must be >= 1, got {num_radial}")
        offset = torch.linspace(start, cutoff, num_radial, dtype=torch.get_default_dtype())
        spacing = (cutoff - start) / max(num_radial - 1, 1)
        gamma = torch.full((num_radial,), coeff / spacing**2, dtype=torch.get_default_dtype())
        if trainable:
            self.offset = nn.Parameter(offset)
            self.gamma = nn.Parameter(gamma)
        else:
            self.register_buffer("offset", offset)
            self.register_buffer("gamma", gamma)
        self.num_radial = num_radial
        self.cutoff = float(cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        d = r.unsqueeze(-1) - self.offset.to(r.dtype)  # (..., K)
        arg = -self.gamma.to(r.dtype) * d * d
        if use_reference(arg):
            return torch.exp(arg)
        # Far-tail values below ~3e-38 (float32; 6e-308 float64) are flushed to exactly 0 instead of computed as
        # subnormals: subnormal inputs make exp and every matmul that reads the basis (the first layer of each
        # radial MLP, forward and weight gradient) 10-40x slower on x86. The change is below round-off of every sum
        # they enter (each row has an O(1) entry at its nearest centre); FLOPs are counted on the plain line above.
        floor = math.log(torch.finfo(arg.dtype).tiny) + 1.0
        return torch.where(arg > floor, torch.exp(arg.clamp_min(floor)), 0.0)

    def extra_repr(self) -> str:
        return f"num_radial={self.num_radial}, cutoff={self.cutoff}"


class BesselBasis(nn.Module):
    r"""Spherical Bessel functions of order 0 (DimeNet):
    :math:`e_k(r) = \sqrt{2/c}\, \sin(k \pi r / c) / r`, ``(...,) -> (..., num_radial)``, ``k = 1..K``.

    The ``r -> 0`` limit ``k π / c · sqrt(2/c)`` is taken exactly (no NaN at zero distance). Frequencies are
    learnable by default, as in DimeNet/NequIP.

    Args:
        num_radial: number of basis functions K.
        cutoff: ``c`` in Å.
        trainable: learn the frequencies ``k π``.
    """

    def __init__(self, num_radial: int = 8, cutoff: float = 6.0, trainable: bool = True):
        super().__init__()
        if num_radial < 1:
            raise ValueError(f"num_radial must be >= 1, got {num_radial}")
        freq = math.pi * torch.arange(1, num_radial + 1, dtype=torch.get_default_dtype())
        if trainable:
            self.freq = nn.Parameter(freq)
        else:
            self.register_buffer("freq", freq)
        self.num_radial = num_radial
        self.cutoff = float(cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        c = self.cutoff
        x = r.unsqueeze(-1) / c  # (..., 1)
        freq = self.freq.to(r.dtype)
        small = x.abs() < 1e-9
        safe_x = torch.where(small, torch.ones_like(x), x)
        value = torch.sin(freq * safe_x) / safe_x  # sin(kπ r/c) / (r/c)
        value = torch.where(small, freq.expand_as(value), value)
        return math.sqrt(2.0 / c) * value / c

    def extra_repr(self) -> str:
        return f"num_radial={self.num_radial}, cutoff={self.cutoff}"


def polynomial_envelope(r: torch.Tensor, cutoff: float, exponent: int = 5) -> torch.Tensor:
    r"""The DimeNet polynomial envelope with ``p = exponent``, ``(...,) -> (...,)``:

    .. math:: u(d) = 1 - \frac{(p+1)(p+2)}{2} d^p + p(p+2) d^{p+1} - \frac{p(p+1)}{2} d^{p+2}, \quad d = r / c,

    and ``u = 0`` for ``d >= 1``. ``u``, ``u'`` and ``u''`` vanish at the cutoff (C² smooth).
    """
    p = exponent
    a = -(p + 1) * (p + 2) / 2.0
    b = p * (p + 2.0)
    c = -p * (p + 1) / 2.0
    d = r / cutoff
    dp = d.pow(p)
    u = 1.0 + a * dp + b * dp * d + c * dp * d * d
    return torch.where(d < 1.0, u, torch.zeros_like(u))


def cosine_envelope(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    r"""The Behler cosine cutoff :math:`u(r) = \tfrac12 (\cos(\pi r / c) + 1)` for ``r < c``, else 0; C¹ smooth."""
    u = 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0)
    return torch.where(r < cutoff, u, torch.zeros_like(u))


class PolynomialEnvelope(nn.Module):
    """Module form of :func:`polynomial_envelope`, ``(...,) -> (...,)``."""

    def __init__(self, cutoff: float = 6.0, exponent: int = 5):
        super().__init__()
        if exponent < 1:
            raise ValueError(f"exponent must be >= 1, got {exponent}")
        self.cutoff = float(cutoff)
        self.exponent = int(exponent)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return polynomial_envelope(r, self.cutoff, self.exponent)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, exponent={self.exponent}"


class CosineEnvelope(nn.Module):
    """Module form of :func:`cosine_envelope`, ``(...,) -> (...,)``."""

    def __init__(self, cutoff: float = 6.0):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return cosine_envelope(r, self.cutoff)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}"
