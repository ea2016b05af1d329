r"""SO(3) machinery for frame-aligned equivariant networks (eSCN / eSEN / EquiformerV2): App. C.4, eq. (13)–(22)
of Ngo & Ravanbakhsh 2025; Passaro & Zitnick 2023; Fu et al. 2025.

**Layout.** Node features are irreps stored as ``(n, (l_max+1)**2, C)`` in e3nn's real spherical-harmonic order:
degree ``l`` occupies rows ``l**2 … l**2 + 2l``, row ``l**2 + l + m`` holds order ``m`` (``-l ≤ m ≤ l``). In e3nn
0.6 the polar axis is **y** and the ``l = 1`` block is the Cartesian vector ``(x, y, z)``, so ``D^1(R) = R``.

**Edge frames** (eq. 15). :func:`edge_rotation` returns ``R_uv`` with ``R_uv r̂_uv = ŷ``;
:func:`wigner_d_blocks` gives the block-diagonal Wigner matrix ``D(R)`` with ``Y(R x) = D(R) Y(x)``, so
``x̃ = D(R_uv) x`` expresses a feature in the edge-aligned frame. In that frame a rotation about the edge only mixes
``(l, +m)`` with ``(l, -m)``: the SO(3) convolution of eq. (14) becomes the SO(2) linear map of eq. (21)–(22)
(:class:`SO2Linear`, :class:`SO2Convolution`), applied to orders ``|m| ≤ m_max`` only. Coefficients are then kept
in *m-major* order (:func:`m_order`): all ``m = 0`` rows (``l = 0 … l_max``), then for each ``m = 1 … m_max`` the
``+m`` rows followed by the ``-m`` rows (``l = m … l_max``). ``D[:, m_order(l_max, m_max)]`` rotates into the frame
*and* truncates and reorders in one product (:func:`rotate_to_edge`, :func:`rotate_from_edge`).

The roll of the frame about the edge (the gauge) is fixed deterministically; every operation applied in the edge
frame commutes with rotations about ``ŷ``, so outputs do not depend on it.

**Pointwise blocks.** :class:`SO3Linear` (one weight per degree), :class:`GateActivation` (SiLU on ``l = 0``,
sigmoid gates on ``l > 0``), :class:`S2Grid` / :class:`S2Activation` / :class:`GridMLP` (to a spherical grid,
pointwise function, back — equivariant up to the grid's aliasing error, which shrinks fast with ``resolution``),
:class:`EquivariantRMSNorm` and :class:`EquivariantLayerNorm`, :class:`RadialMLP`.

>>> R = edge_rotation(torch.tensor([[1.0, 2.0, 2.0]]))
>>> torch.allclose(R[0] @ torch.tensor([1.0, 2.0, 2.0]) / 3, torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
True
>>> wigner_d_blocks(R, 2).shape
torch.Size([1, 9, 9])
>>> m_order(2, 1).tolist()  # (0,0) (1,0) (2,0) | (1,+1) (2,+1) | (1,-1) (2,-1)
[0, 2, 6, 3, 7, 1, 5]
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Sequence

import torch
from e3nn import o3
from torch import nn

from nnip.nn._reference import reference_implementation, use_reference
from nnip.nn.scatter import scatter_sum

__all__ = [
    # layout
    "num_coefficients",
    "degree_index",
    "order_index",
    "m_order",
    "m_sizes",
    "m_truncation",
    # frames and Wigner matrices
    "edge_rotation",
    "wigner_d_blocks",
    "rotate_to_edge",
    "rotate_from_edge",
    # layers
    "RadialMLP",
    "SO2Linear",
    "SO2Convolution",
    "SO3Linear",
    "GateActivation",
    "gated_so2_linear",
    "edge_message",
    "S2Grid",
    "S2Activation",
    "SeparableS2Activation",
    "GridMLP",
    "EquivariantRMSNorm",
    "EquivariantLayerNorm",
    "fused_radial_inputs",
    # message passing over edges
    "gather_edge_pairs",
    "scatter_rows",
    # the plain code the fast paths are tested against
    "reference_implementation",
    "use_reference",
]


# ---------------------------------------------------------------------------------------------------------------
# coefficient bookkeeping
# ---------------------------------------------------------------------------------------------------------------
def num_coefficients(l_max: int) -> int:
    """``(l_max + 1)**2``: rows of an irreps feature with every degree ``0 … l_max``."""
    return (l_max + 1) ** 2


def degree_index(l_max: int) -> torch.Tensor:
    """Degree ``l`` of each of the ``(l_max+1)**2`` rows (l-major e3nn order), ``(K,)`` long."""
    return torch.repeat_interleave(torch.arange(l_max + 1, device="cpu"), 2 * torch.arange(l_max + 1, device="cpu") + 1)


def order_index(l_max: int) -> torch.Tensor:
    """Order ``m`` of each of the ``(l_max+1)**2`` rows (l-major e3nn order), ``(K,)`` long."""
    return torch.cat([torch.arange(-l, l + 1, dtype=torch.long, device="cpu") for l in range(l_max + 1)])


def m_order(l_max: int, m_max: int) -> torch.Tensor:
    """Rows (indices into the l-major layout) with ``|m| ≤ m_max`` in m-major order, ``(K_m,)`` long.

    Order: ``(l, 0)`` for ``l = 0 … l_max``; then for ``m = 1 … m_max``: ``(l, +m)`` for ``l = m … l_max`` followed by
    ``(l, -m)`` for ``l = m … l_max``. ``K_m = (l_max+1) + Σ_m 2 (l_max - m + 1)``.
    """
    _check_lm(l_max, m_max)
    idx = [l * l + l for l in range(l_max + 1)]
    for m in range(1, m_max + 1):
        idx += [l * l + l + m for l in range(m, l_max + 1)]
        idx += [l * l + l - m for l in range(m, l_max + 1)]
    return torch.tensor(idx, dtype=torch.long, device="cpu")


def m_sizes(l_max: int, m_max: int) -> list[int]:
    """Degrees carrying order ``m`` for ``m = 0 … m_max``: ``[l_max + 1, l_max, …, l_max - m_max + 1]``."""
    _check_lm(l_max, m_max)
    return [l_max - m + 1 for m in range(m_max + 1)]


def m_truncation(l_max: int, m_max: int) -> torch.Tensor:
    """Rows with ``|m| ≤ m_max`` in the original l-major order (eq. 22's truncation without reordering), long."""
    _check_lm(l_max, m_max)
    return torch.nonzero(order_index(l_max).abs() <= m_max).flatten()


def _check_lm(l_max: int, m_max: int) -> None:
    if l_max < 0 or not 0 <= m_max <= l_max:
        raise ValueError(f"need 0 <= m_max <= l_max, got l_max={l_max}, m_max={m_max}")


# ---------------------------------------------------------------------------------------------------------------
# edge frames and Wigner-D
# ---------------------------------------------------------------------------------------------------------------
def edge_rotation(edge_vec: torch.Tensor) -> torch.Tensor:
    r"""Rotations ``R`` with ``R r̂ = ŷ`` (eq. 15), ``(n, 3) -> (n, 3, 3)``, ``det R = 1``.

    Closed form (Rodrigues, the minimal rotation taking ``a`` to ``ŷ``):
    ``R = c I + [v]_× + v v^T / (1 + c)`` with ``v = a × ŷ``, ``c = a_y``. It is rational in ``a`` with denominator
    ``≥ 1`` on the hemisphere ``a_y ≥ 0``; on the other hemisphere ``a`` is first turned by π about ``z``
    (``(x, y, z) -> (-x, -y, z)``), so no edge direction is singular, ``ŷ`` itself maps to ``R = I``, and the
    result is smooth (differentiable) except for the deterministic gauge switch at ``a_y = 0`` — harmless because
    every edge-frame operation commutes with rotations about ``ŷ``. No random roll.
    """
    a = edge_vec / edge_vec.norm(dim=-1, keepdim=True)
    sign = torch.where(a[..., 1] < 0, -1.0, 1.0).to(a.dtype)
    ax, ay, az = a[..., 0] * sign, a[..., 1] * sign, a[..., 2]  # F a with F = diag(sign, sign, 1)
    k = 1.0 / (1.0 + ay)  # ay >= 0
    R0 = torch.stack(
        [
            torch.stack([ay + k * az * az, -ax, -k * ax * az], -1),
            torch.stack([ax, ay, az], -1),
            torch.stack([-k * ax * az, -az, ay + k * ax * ax], -1),
        ],
        -2,
    )  # R0 (F a) = ŷ
    col = torch.stack([sign, sign, torch.ones_like(sign)], -1)
    return R0 * col.unsqueeze(-2)  # R = R0 F


@functools.lru_cache(maxsize=None)
def _cg_recursion(l: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(2l+1) C`` with ``C = wigner_3j(l-1, 1, l)`` reshaped to ``(3(2l-1), 2l+1)``, cached per dtype/device."""
    C = o3.wigner_3j(l - 1, 1, l, dtype=torch.float64, device="cpu")
    return (math.sqrt(2 * l + 1) * C.reshape(3 * (2 * l - 1), 2 * l + 1)).to(dtype=dtype, device=device)


def wigner_d_blocks(R: torch.Tensor, l_max: int) -> torch.Tensor:
    r"""Block-diagonal real Wigner-D matrices, ``(n, 3, 3) -> (n, (l_max+1)**2, (l_max+1)**2)``.

    Satisfies ``Y(R x) = D(R) Y(x)`` for e3nn's spherical harmonics, ``D(R_1 R_2) = D(R_1) D(R_2)`` and
    ``D(R^T) = D(R)^T``. Built without Euler angles (no gimbal singularities, smooth in ``R``) by the recursion
    ``D^0 = 1``, ``D^1 = R``, ``D^l = (2l+1)\, C^T (D^{l-1} ⊗ D^1) C`` with ``C`` the e3nn Wigner-3j symbol
    ``(l-1) ⊗ 1 → l``. Matches ``e3nn.o3.wigner_D`` to machine precision and is several times faster. Computed in at
    least float32, also under autocast.
    """
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"R must be (..., 3, 3), got {tuple(R.shape)}")
    with torch.autocast(device_type=R.device.type, enabled=False):
        dtype = torch.promote_types(R.dtype, torch.float32)
        R = R.to(dtype)
        batch = R.shape[:-2]
        R2 = R.reshape(-1, 3, 3)
        n = R2.shape[0]
        K = num_coefficients(l_max)
        out = R2.new_zeros(n, K, K)
        out[:, 0, 0] = 1.0
        prev = R2
        if l_max >= 1:
            out[:, 1:4, 1:4] = R2
        for l in range(2, l_max + 1):
            C = _cg_recursion(l, dtype, R2.device)  # (3(2l-1), 2l+1)
            kron = (prev.unsqueeze(2).unsqueeze(-1) * R2.unsqueeze(1).unsqueeze(3)).reshape(n, 6 * l - 3, 6 * l - 3)
            prev = C.T @ kron @ C  # (n, 2l+1, 2l+1)
            out[:, l * l : (l + 1) ** 2, l * l : (l + 1) ** 2] = prev
        return out.reshape(*batch, K, K)


def rotate_to_edge(x: torch.Tensor, wigner: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
    """``x̃ = D x`` restricted to ``order``'s rows: ``(n, K, C), (n, K, K) -> (n, len(order), C)``.

    ``order`` is e.g. :func:`m_order` (rotate, truncate to ``|m| ≤ m_max``, m-major) or ``None`` (all rows).
    """
    D = wigner if order is None else wigner.index_select(1, order.to(wigner.device))
    return torch.bmm(D, x)


def rotate_from_edge(x: torch.Tensor, wigner: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`rotate_to_edge`: ``D^T x̃`` (dropped rows count as 0), ``(n, len(order), C) -> (n, K, C)``."""
    D = wigner if order is None else wigner.index_select(1, order.to(wigner.device))
    return torch.bmm(D.transpose(1, 2), x)


# ---------------------------------------------------------------------------------------------------------------
# gathering node features onto edges and summing messages back (eq. 14's sum over neighbours)
# ---------------------------------------------------------------------------------------------------------------
class _GatherEdgePairs(torch.autograd.Function):
    r"""``[x_src ‖ x_dst]``: ``(n, K, C) -> (E, K, 2C)``, with a backward that sums on contiguous 2-D rows.

    The plain ``cat([x.index_select(0, src), x.index_select(0, dst)], dim=2)`` hands each ``index_select``'s
    backward a channel slice of the ``(E, K, 2C)`` gradient; ``index_add_`` of a non-contiguous ``(E, K, C)`` source
    falls back to an element-wise ``scatter_add_`` over an expanded index, ~100× slower on CPU than ``index_add_`` of
    contiguous ``(E, K·C)`` rows. Here both halves are made contiguous by one copy and summed as rows. Each output
    row is accumulated in edge order as in the plain code and the two halves are added as autograd adds them, so
    value and gradient are bit-identical to it.
    """

    @staticmethod
    def forward(ctx, x, src, dst):
        n, K, C = x.shape
        ctx.save_for_backward(src, dst)
        ctx.n = n
        return torch.cat([x.index_select(0, src), x.index_select(0, dst)], dim=2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        src, dst = ctx.saved_tensors
        E, K, C2 = grad.shape
        C = C2 // 2
        halves = grad.reshape(E, K, 2, C).permute(2, 0, 1, 3).contiguous().view(2, E, K * C)
        to_src = grad.new_zeros(ctx.n, K * C).index_add_(0, src, halves[0])
        to_dst = grad.new_zeros(ctx.n, K * C).index_add_(0, dst, halves[1])
        return (to_src + to_dst).view(ctx.n, K, C), None, None


def gather_edge_pairs(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Source and target features of every edge side by side, ``(n, K, C) -> (E, K, 2C)`` (the input of eSEN's
    message, eq. 20). The fast path (:class:`_GatherEdgePairs`) is the plain ``cat`` of two ``index_select`` calls
    with a faster backward."""
    if use_reference(x) or not x.requires_grad:
        return torch.cat([x.index_select(0, src), x.index_select(0, dst)], dim=2)
    return _GatherEdgePairs.apply(x, src, dst)


def scatter_rows(msg: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """``out[k] = Σ_{e: index[e] = k} msg[e]`` (:func:`nnip.nn.scatter_sum`, eq. 14's sum over neighbours) for
    ``(E, …)`` messages, summed as contiguous 2-D rows: ``index_add_`` of a 3-D source runs an element-wise
    ``scatter_add_`` over an expanded index, several times slower on CPU. Same summation order, bit-identical."""
    if use_reference(msg):
        return scatter_sum(msg, index, dim_size)
    rows = msg.contiguous().view(msg.shape[0], math.prod(msg.shape[1:]))
    out = rows.new_zeros(dim_size, rows.shape[1]).index_add_(0, index, rows)
    return out.view(dim_size, *msg.shape[1:])


# ---------------------------------------------------------------------------------------------------------------
# radial MLP and SO(2) linear maps
# ---------------------------------------------------------------------------------------------------------------
class RadialMLP(nn.Sequential):
    """``Linear -> LayerNorm -> SiLU -> … -> Linear`` over invariant edge features, ``(n, dims[0]) -> (n, dims[-1])``.

    The eSCN/eSEN radial function: its output scales the inputs of an :class:`SO2Convolution` per edge.
    """

    def __init__(self, dims: Sequence[int]):
        dims = [int(d) for d in dims]
        if len(dims) < 2:
            raise ValueError(f"RadialMLP needs at least two sizes, got {dims}")
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if k < len(dims) - 2:
                layers += [nn.LayerNorm(b), nn.SiLU()]
        super().__init__(*layers)
        self.dims = tuple(dims)

    def forward_from_first(self, hidden: torch.Tensor) -> torch.Tensor:
        """The MLP after its first ``Linear``: ``mlp(x) == mlp.forward_from_first(mlp[0](x))``."""
        for layer in list(self)[1:]:
            hidden = layer(hidden)
        return hidden


def fused_radial_inputs(mlps: Sequence[RadialMLP], x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(mlp[0](x) for mlp in mlps)`` as one product: the first layers of several radial MLPs that read the same
    edge features (one per layer of a network), for :meth:`RadialMLP.forward_from_first` and the ``radial_hidden``
    argument of :class:`SO2Convolution`. One ``(E, Σ out)`` product instead of one skinny product per MLP, forward
    and backward (their weight gradients are ``(out, E) @ (E, in)`` with ``out`` a few channels)."""
    weight = torch.cat([m[0].weight for m in mlps])
    bias = torch.cat([m[0].bias for m in mlps])
    return nn.functional.linear(x, weight, bias).split([m[0].out_features for m in mlps], dim=1)


class _ScaledLinear(torch.autograd.Function):
    r"""``y = (x ⊙ s)_{flat} W^T (+ b)``: the radial-conditioned input scaling of eSCN/eSEN's SO(2) convolution
    (eq. 21–22 with the per-edge invariant ``s``) and its linear map, saving ``x`` and ``s`` only.

    ``x (n, …)``, ``s`` broadcastable to ``x``, flattened per row before the product. The plain composition keeps
    ``x`` and ``s`` (for the product's gradients) *and* ``x ⊙ s`` (for ``W``'s) — an ``(E, K_m·C_in)`` tensor per
    layer on the edges; here ``x ⊙ s`` is recomputed in backward (one elementwise product). Every gradient uses
    autograd's own formulas for ``mul`` and ``addmm``/``mm``, in the same order: bit-identical to the plain code.
    """

    @staticmethod
    def forward(ctx, x, s, weight, bias):
        xs = (x * s).reshape(x.shape[0], weight.shape[1])
        y = torch.addmm(bias, xs, weight.t()) if bias is not None else xs.mm(weight.t())
        ctx.save_for_backward(x, s, weight)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, s, weight = ctx.saved_tensors
        grad_x = grad_s = grad_w = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_xs = grad.mm(weight).view(x.shape)
            if ctx.needs_input_grad[0]:
                grad_x = grad_xs * s
            if ctx.needs_input_grad[1]:
                grad_s = (grad_xs * x).sum_to_size(s.shape)
        if ctx.needs_input_grad[2]:
            grad_w = grad.t().mm((x * s).reshape(x.shape[0], weight.shape[1]))  # autograd's mm_mat2_backward
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_b = grad.sum(0)
        return grad_x, grad_s, grad_w, grad_b


class SO2Linear(nn.Module):
    r"""The SO(2) linear map of eq. (21)–(22) on m-major, ``|m| ≤ m_max`` features (see :func:`m_order`).

    ``(n, K_m, in_channels) -> (n, K_m, out_channels)``. For ``m = 0`` one linear map with bias over all
    ``(l, channel)`` pairs (``(l_max+1)·C_in -> (l_max+1)·C_out [+ extra_m0_channels]``); for each ``0 < m ≤ m_max``
    a bias-free pair of weights ``W_r, W_i`` acting on ``(x_{+m}, x_{-m})`` as

    .. math:: y_{+m} = W_r x_{+m} - W_i x_{-m}, \qquad y_{-m} = W_i x_{+m} + W_r x_{-m},

    which commutes with rotations about the edge (``ŷ``). ``forward(x, scale)`` optionally multiplies the inputs
    by a per-edge invariant ``scale`` of width :attr:`radial_dim` (the radial-conditioned weights of eSCN/eSEN:
    ``(x ⊙ s) W`` for ``m = 0`` and the same ``s`` for ``±m``). With ``extra_m0_channels > 0`` the call returns
    ``(y, extra)`` where ``extra`` is ``(n, extra_m0_channels)`` of additional invariant outputs (gates).
    """

    def __init__(self, in_channels: int, out_channels: int, l_max: int, m_max: int, extra_m0_channels: int = 0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.l_max, self.m_max = l_max, m_max
        self.sizes = m_sizes(l_max, m_max)
        self.extra_m0_channels = int(extra_m0_channels)
        self.fc_m0 = nn.Linear(self.sizes[0] * in_channels, self.sizes[0] * out_channels + self.extra_m0_channels)
        self.fc_m = nn.ModuleList()
        for n_m in self.sizes[1:]:
            fc = nn.Linear(n_m * in_channels, 2 * n_m * out_channels, bias=False)
            with torch.no_grad():
                fc.weight.mul_(1.0 / math.sqrt(2.0))
            self.fc_m.append(fc)
        #: width of the per-edge input scaling accepted by ``forward``
        self.radial_dim = sum(self.sizes) * in_channels

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None):
        if use_reference(x):
            return self._forward_reference(x, scale)
        out, extra = self.forward_parts(self.split_parts(x), scale)
        y = torch.cat(out, dim=1)
        return (y, extra) if self.extra_m0_channels else y

    def split_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The m-blocks of an m-major feature (views): ``(n, l_max+1, C)`` for ``m = 0``, ``(n, 2 n_m, C)`` after."""
        return x.split([self.sizes[0], *(2 * n_m for n_m in self.sizes[1:])], dim=1)

    def forward_parts(self, rows, scale: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """:meth:`forward` on m-blocks (:meth:`split_parts`), returning the output's m-blocks and the extra ``m = 0``
        outputs (``None`` without them): lets consecutive edge-frame layers skip the cat/split between them."""
        n = rows[0].shape[0]
        c_in, c_out, sizes = self.in_channels, self.out_channels, self.sizes
        # one split each (views; a single cat in backward) instead of a slice per order: the backward of every
        # slice zero-fills and accumulates a gradient of the whole input
        scales = scale.split([n_m * c_in for n_m in sizes], dim=1) if scale is not None else (None,) * len(sizes)
        x0 = rows[0].reshape(n, sizes[0] * c_in)
        if scales[0] is not None:  # (x0 ⊙ s) W + b without keeping x0 ⊙ s for backward
            y0 = _ScaledLinear.apply(x0, scales[0], self.fc_m0.weight, self.fc_m0.bias)
        else:
            y0 = self.fc_m0(x0)
        extra = None
        if self.extra_m0_channels:
            extra, y0 = y0.split([self.extra_m0_channels, sizes[0] * c_out], dim=1)
        out = [y0.reshape(n, sizes[0], c_out)]
        for xm, s_m, n_m, w in zip(rows[1:], scales[1:], sizes[1:], self.block_weights()):
            if s_m is not None:  # the same ±m scaling, x ⊙ s not kept for backward
                ym = _ScaledLinear.apply(xm.reshape(n, 2, n_m * c_in), s_m.unsqueeze(1), w, None)
            else:
                ym = xm.reshape(n, 2 * n_m * c_in) @ w.T  # [x_{+m} | x_{-m}]
            out.append(ym.reshape(n, 2 * n_m, c_out))
        return out, extra

    def block_weights(self) -> list[torch.Tensor]:
        r"""Per ``0 < m ≤ m_max`` the block weight ``[[W_r, -W_i], [W_i, W_r]]`` with
        ``[y_{+m} | y_{-m}] = [x_{+m} | x_{-m}] w^T`` (eq. 21–22 as one product: no sub/add/cat)."""
        ws = []
        for n_m, fc in zip(self.sizes[1:], self.fc_m):
            w_r, w_i = fc.weight.split(n_m * self.out_channels, dim=0)
            ws.append(torch.cat([torch.cat([w_r, -w_i], dim=1), torch.cat([w_i, w_r], dim=1)], dim=0))
        return ws

    def _forward_reference(self, x: torch.Tensor, scale: torch.Tensor | None = None):
        """The plain implementation (slices, one product per ``±m`` pair): the function :meth:`forward` computes."""
        n = x.shape[0]
        c_in, c_out = self.in_channels, self.out_channels
        n0 = self.sizes[0]
        x0 = x[:, :n0].reshape(n, n0 * c_in)
        if scale is not None:
            x0 = x0 * scale[:, : n0 * c_in]
        y0 = self.fc_m0(x0)
        extra = y0[:, : self.extra_m0_channels]
        out = [y0[:, self.extra_m0_channels :].reshape(n, n0, c_out)]
        row, col = n0, n0 * c_in
        for n_m, fc in zip(self.sizes[1:], self.fc_m):
            xm = x[:, row : row + 2 * n_m].reshape(n, 2, n_m * c_in)  # [+m; -m]
            if scale is not None:
                xm = xm * scale[:, None, col : col + n_m * c_in]
            ym = fc(xm)  # (n, 2, 2 n_m c_out): [W_r x, W_i x]
            yr, yi = ym[..., : n_m * c_out], ym[..., n_m * c_out :]
            y_pos = yr[:, 0] - yi[:, 1]
            y_neg = yr[:, 1] + yi[:, 0]
            out.append(torch.cat([y_pos, y_neg], dim=1).reshape(n, 2 * n_m, c_out))
            row, col = row + 2 * n_m, col + n_m * c_in
        y = torch.cat(out, dim=1)
        return (y, extra) if self.extra_m0_channels else y

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}, out={self.out_channels}, l_max={self.l_max}, m_max={self.m_max}, "
            f"extra_m0={self.extra_m0_channels}"
        )


class SO2Convolution(SO2Linear):
    """:class:`SO2Linear` whose per-edge input scaling comes from a :class:`RadialMLP` of invariant edge features.

    ``edge_dims = [d_edge, hidden, …]``; the MLP appends the output width :attr:`radial_dim`.
    ``forward(x, x_edge)``: ``(n, K_m, C_in), (n, d_edge) -> (n, K_m, C_out)`` (``, extra`` as in :class:`SO2Linear`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        l_max: int,
        m_max: int,
        edge_dims: Sequence[int],
        extra_m0_channels: int = 0,
    ):
        super().__init__(in_channels, out_channels, l_max, m_max, extra_m0_channels)
        self.rad_func = RadialMLP([*edge_dims, self.radial_dim])

    def forward(self, x: torch.Tensor, x_edge: torch.Tensor, radial_hidden: torch.Tensor | None = None):  # type: ignore[override]
        """``radial_hidden``: ``rad_func[0](x_edge)`` if already computed (:func:`fused_radial_inputs`)."""
        return super().forward(x, self.radial_scale(x_edge, radial_hidden))

    def radial_scale(self, x_edge: torch.Tensor, radial_hidden: torch.Tensor | None = None) -> torch.Tensor:
        """The per-edge input scaling ``(n, radial_dim)`` (for :meth:`forward_parts`)."""
        if radial_hidden is not None:
            return self.rad_func.forward_from_first(radial_hidden)
        return self.rad_func(x_edge)


class SO3Linear(nn.Module):
    """Degree-wise linear map ``y_l = W_l x_l`` (shared over ``m``) plus a bias on ``l = 0``.

    ``(n, (l_max+1)**2, in) -> (n, (l_max+1)**2, out)``; parameters ``(l_max+1)·out·in + out``.
    """

    def __init__(self, in_channels: int, out_channels: int, l_max: int):
        super().__init__()
        self.in_channels, self.out_channels, self.l_max = in_channels, out_channels, l_max
        bound = 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(l_max + 1, out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("expand_index", degree_index(l_max), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.index_select(0, self.expand_index)  # (K, out, in)
        y = torch.einsum("nki,koi->nko", x, w)
        return torch.cat([y[:, :1] + self.bias.to(y.dtype), y[:, 1:]], dim=1)

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, l_max={self.l_max}"


# ---------------------------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------------------------
class GateActivation(nn.Module):
    """Gated nonlinearity: ``SiLU`` on the ``l = 0`` row, ``x_l ⊙ sigmoid(g_l)`` on ``l > 0`` rows.

    ``forward(gates, x)``: ``gates (n, l_max·C)`` invariant, ``x (n, K, C)`` with row degrees ``degrees`` (default
    the full l-major layout; pass ``degree_index(l_max)[m_order(l_max, m_max)]`` for edge-frame features). Row 0
    must be ``l = 0``.
    """

    def __init__(self, l_max: int, channels: int, degrees: torch.Tensor | None = None):
        super().__init__()
        degrees = degree_index(l_max) if degrees is None else torch.as_tensor(degrees, dtype=torch.long, device="cpu")
        if degrees[0] != 0 or (degrees[1:] == 0).any():
            raise ValueError("GateActivation expects exactly one l = 0 row, first")
        self.l_max, self.channels = l_max, channels
        self.register_buffer("gate_index", degrees[1:] - 1, persistent=False)

    def forward(self, gates: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(gates).reshape(gates.shape[0], self.l_max, self.channels)
        g = g.index_select(1, self.gate_index)  # (n, K-1, C)
        if use_reference(x):
            return torch.cat([nn.functional.silu(x[:, :1]), x[:, 1:] * g], dim=1)
        x0, rest = x.split([1, x.shape[1] - 1], dim=1)  # one cat in backward instead of two zero-filled slices
        return torch.cat([nn.functional.silu(x0), rest * g], dim=1)

    def forward_parts(self, gates: torch.Tensor, parts) -> list[torch.Tensor]:
        """The gate on the m-blocks of an m-major edge feature (:meth:`SO2Linear.forward_parts`: degrees ``0 … l_max``
        for ``m = 0``, then ``m … l_max`` twice for each ``m > 0``): each block multiplies a slice of the gates by
        broadcasting, with no gather of the gates to every row and no cat. Same values as :meth:`forward`."""
        return _gate_blocks(gates, parts, self.l_max, self.channels)[0]


def _gate_blocks(gates: torch.Tensor, parts, L: int, C: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """:meth:`GateActivation.forward_parts` for degree ``L`` and ``C`` channels: the gated m-blocks and
    ``sigmoid(gates)`` as ``(n, L, C)``."""
    n = gates.shape[0]
    g = torch.sigmoid(gates).reshape(n, L, C)
    x0, rest = parts[0].split([1, L], dim=1)
    out = [torch.cat([nn.functional.silu(x0), rest * g], dim=1)]
    for m, part in enumerate(parts[1:], start=1):
        out.append((part.reshape(n, 2, L - m + 1, C) * g[:, None, m - 1 :]).reshape(n, 2 * (L - m + 1), C))
    return out, g


class _GatedSO2Linear(torch.autograd.Function):
    r"""``SO2Linear(gate(gates, parts))`` on m-blocks, saving the gate's inputs only (see :func:`gated_so2_linear`).

    Inputs (flat, for autograd): ``gates (n, L·H)``, the ``m = 0`` weight and bias, one block weight
    ``[[W_r, -W_i], [W_i, W_r]]`` per ``m > 0`` (as :meth:`SO2Linear.forward_parts` builds it), then the m-blocks.
    Backward recomputes ``sigmoid(gates)`` and the gated blocks (elementwise) instead of keeping them.
    """

    @staticmethod
    def forward(ctx, gates, w0, b0, L, H, n_m_blocks, *tensors):
        ws, parts = tensors[:n_m_blocks], tensors[n_m_blocks:]
        ctx.L, ctx.H, ctx.n_m_blocks = L, H, n_m_blocks
        ctx.save_for_backward(gates, w0, *ws, *parts)
        return _GatedSO2Linear.compute(gates, w0, b0, ws, parts, L, H)

    @staticmethod
    def compute(gates, w0, b0, ws, parts, L, H, into_rows: bool = False):
        """The forward product: ``(n, K_m, C_out)``; with ``into_rows`` each block's product is written into its
        rows of one output (``mm(..., out=)`` on a row slice: the same products, no ``cat``)."""
        n = gates.shape[0]
        acts, sig = _GatedSO2Linear._gated(gates, parts, L, H)
        c_out = w0.shape[0] // (L + 1)
        if into_rows:
            y = gates.new_empty(n, sum(a.shape[1] // H for a in acts) * c_out)
            col = w0.shape[0]
            torch.addmm(b0, acts[0], w0.t(), out=y[:, :col])
            for a, w in zip(acts[1:], ws):
                torch.mm(a, w.t(), out=y[:, col : col + w.shape[0]])
                col += w.shape[0]
            return y.view(n, y.shape[1] // c_out, c_out)
        out = [torch.addmm(b0, acts[0], w0.t())]
        out += [a.mm(w.t()) for a, w in zip(acts[1:], ws)]
        return torch.cat([y.view(n, y.shape[1] // c_out, c_out) for y in out], dim=1)

    @staticmethod
    def _gated(gates, parts, L, H):
        """The gate of :meth:`GateActivation.forward_parts`, each block flattened per row; and ``sigmoid(gates)``."""
        out, sig = _gate_blocks(gates, parts, L, H)
        return [a.reshape(a.shape[0], a.shape[1] * H) for a in out], sig

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        L, H, k = ctx.L, ctx.H, ctx.n_m_blocks
        gates, w0, *rest_saved = ctx.saved_tensors
        ws, parts = rest_saved[:k], rest_saved[k:]
        grad_gates, grad_w, grad_b0, grad_parts = _GatedSO2Linear.gradients(grad, gates, w0, ws, parts, L, H)
        return (grad_gates, grad_w[0], grad_b0, None, None, None, *grad_w[1:], *grad_parts)

    @staticmethod
    def gradients(grad, gates, w0, ws, parts, L, H):
        """Backward of :meth:`compute`: gradients of the gates, the weights (``m = 0`` first), the bias and the
        m-blocks."""
        n = gates.shape[0]
        c_out = w0.shape[0] // (L + 1)
        acts, sig = _GatedSO2Linear._gated(gates, parts, L, H)
        grads_out = grad.split([L + 1, *(w.shape[0] // c_out for w in ws)], dim=1)
        grads_out = [g.reshape(n, g.shape[1] * g.shape[2]) for g in grads_out]
        grad_w = [g.t().mm(a) for a, g in zip(acts, grads_out)]  # autograd's mm_mat2_backward for a weight's .t()
        grad_b0 = grads_out[0].sum(0)
        # the gate's backward: d/d(x0) silu, d/d(rest, part) = ḡ ⊙ σ, d/dσ accumulated over the blocks using it
        grad_a0 = grads_out[0].mm(w0).view(n, L + 1, H)
        x0, rest = parts[0].split([1, L], dim=1)
        grad_parts = [torch.cat([torch.ops.aten.silu_backward(grad_a0[:, :1], x0), grad_a0[:, 1:] * sig], dim=1)]
        grad_sig = torch.zeros_like(sig)
        for m in range(len(ws), 0, -1):  # highest m first, then m = 0: the order autograd sums the plain code's
            g, w, part = grads_out[m], ws[m - 1], parts[m]
            grad_a = g.mm(w).view(n, 2, L - m + 1, H)
            grad_parts.insert(1, (grad_a * sig[:, None, m - 1 :]).reshape(n, 2 * (L - m + 1), H))
            grad_sig[:, m - 1 :] += (grad_a * part.reshape(n, 2, L - m + 1, H)).sum(1)
        grad_sig += grad_a0[:, 1:] * rest
        grad_gates = torch.ops.aten.sigmoid_backward(grad_sig, sig).reshape(n, L * H)
        return grad_gates, grad_w, grad_b0, grad_parts


def gated_so2_linear(act: GateActivation, linear: "SO2Linear", gates: torch.Tensor, parts) -> torch.Tensor:
    r"""``cat(linear.forward_parts(act.forward_parts(gates, parts))[0], dim=1)``: eSEN's message after its first
    SO(2) convolution — the gate (SiLU on ``l = 0``, ``x_l ⊙ sigmoid(g_l)`` on ``l > 0``) then the SO(2) linear map
    of eq. (21)–(22) — as one autograd node that keeps only its inputs for backward.

    The plain composition keeps the gated m-blocks (``(E, K_m·H)``, the second map's input, for its weight
    gradient) besides the gate's own inputs; here they are recomputed from ``parts`` and ``gates`` in backward
    (elementwise), so the edges hold one ``(E, K_m·H)`` tensor less per layer. ``parts``: the m-blocks of
    :meth:`SO2Linear.forward_parts` (``(E, l_max+1, H)`` then ``(E, 2 n_m, H)``); ``linear`` without extra ``m = 0``
    outputs. Same function and bit-identical gradients: backward uses autograd's formulas and sums the gate
    gradient's contributions in the order autograd sums the plain code's. Plain code on the reference path.
    """
    if use_reference(gates) or linear.extra_m0_channels:
        return torch.cat(linear.forward_parts(act.forward_parts(gates, parts))[0], dim=1)
    ws = linear.block_weights()
    assert linear.in_channels == act.channels
    return _GatedSO2Linear.apply(
        gates, linear.fc_m0.weight, linear.fc_m0.bias, act.l_max, act.channels, len(ws), *ws, *parts
    )


# ---------------------------------------------------------------------------------------------------------------
# eSEN's whole edge message in the edge frame, as one autograd node
# ---------------------------------------------------------------------------------------------------------------
_BMM_COLUMNS = 16  # bmm of (E, a, b) @ (E, b, N): N > 16 columns run ~3× slower per column on CPU (MKL) than N ≤ 16
_BMM_LOOP_BELOW = 400  # ATen's CPU bmm: a plain loop when contraction × rows × columns < 400, a BLAS batch above


def _bmm_kernel_is_blas(a: torch.Tensor, columns: int) -> bool:
    """Whether ATen's CPU ``bmm(a, b)`` with ``columns`` columns in ``b`` takes its BLAS path (not its small loop)."""
    return a.shape[1] * a.shape[2] * columns >= _BMM_LOOP_BELOW


def _same_bmm_kernel(a: torch.Tensor, columns: int, reference_columns: int) -> bool:
    """Whether ``bmm(a, ·)`` with ``columns`` columns runs the kernel it runs with ``reference_columns``: then each
    output element is the same dot product summed in the same order (bit-identical, tested), otherwise not."""
    return _bmm_kernel_is_blas(a, columns) == _bmm_kernel_is_blas(a, reference_columns)


@functools.lru_cache(maxsize=None)
def _column_split_is_exact(dtype: torch.dtype, rows: int, K: int, C: int) -> bool:
    """Whether this machine's ``bmm`` gives the bits of the whole ``(·, rows, K) @ (·, K, 2C)`` product (and of its
    transposed product, as backward runs it) on each half of the ``2C`` columns and on the 16-column chunks of
    :func:`_bmm_columns`. Checked once per shape on seeded random data: ATen picks its loop or BLAS by size
    (:func:`_same_bmm_kernel`), and within BLAS the code path decides — MKL's AVX-512 path sums every output
    element in the same order whatever the column count, its AVX2 path (``MKL_CBWR=AVX2``, CPUs without AVX-512)
    does not. Where it does not hold, :func:`edge_message` steps aside and the composition runs."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(64, rows, K, generator=g, dtype=dtype)
    pair = torch.randn(64, K, 2 * C, generator=g, dtype=dtype)
    grad = torch.randn(64, rows, 2 * C, generator=g, dtype=dtype)
    whole, whole_t = torch.bmm(a, pair), torch.bmm(a.transpose(1, 2), grad)
    if not torch.equal(_bmm_columns(a, pair), whole):
        return False
    for h in range(2):
        cols = slice(h * C, (h + 1) * C)
        if not torch.equal(_bmm_columns(a, pair[:, :, cols].contiguous()), whole[:, :, cols]):
            return False
        if not torch.equal(_bmm_columns(a.transpose(1, 2), grad[:, :, cols]), whole_t[:, :, cols]):
            return False
    return True


def _bmm_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm(a, b)``, for more than 16 columns computed on column chunks of 16 (each chunk in the same BLAS
    kernel, contiguous outputs, joined): every output element is the same dot product summed in the same order
    where :func:`_column_split_is_exact` says so (the caller checks); the per-edge rotations with 32 or more
    columns run 2–3× faster."""
    N = b.shape[2]
    widths = [min(_BMM_COLUMNS, N - c) for c in range(0, N, _BMM_COLUMNS)]
    if N <= _BMM_COLUMNS or not all(_same_bmm_kernel(a, w, N) for w in widths):
        return torch.bmm(a, b)
    return torch.cat([torch.bmm(a, b[:, :, c : c + _BMM_COLUMNS]) for c in range(0, N, _BMM_COLUMNS)], dim=2)


class _EdgeMessage(torch.autograd.Function):
    r"""eSEN's message in the edge frame (eq. 20–22) from the node features: ``[h_u ‖ h_v]`` gathered and rotated,
    the radial-scaled SO(2) convolution, the gate or separable S² activation, the second SO(2) map; ``(n, K, C) ->
    (E, K_m, C)`` (see :func:`edge_message`).

    What it saves against the composition of the separate fast paths (:func:`gather_edge_pairs`, ``bmm``,
    :class:`_ScaledLinear` per m-block, :class:`_GatedSO2Linear` or :class:`_ChunkedS2SiLU` and
    :class:`SO2Linear`): backward rotates each half of the pair's gradient with ``C`` columns straight into the
    rows summed onto the nodes (no ``(E, K, 2C)`` gradient and no copy of its halves apart; bmm with more than 16
    columns is ~3× slower per column on CPU), for ``2C > 16`` forward rotates the halves too; the input gradients
    of the m-blocks are written into the rows of one ``(E, K_m, 2C)`` gradient and the second map's products
    into the rows of its output (no cat of blocks); no autograd bookkeeping between the layers. Every product,
    elementwise operation and reduction is the composition's, on the same values in the same order (autograd's
    own formulas, as those nodes use them; the rotations on fewer columns only where ATen's bmm takes the same
    kernel, :func:`_same_bmm_kernel`, and this machine's BLAS sums them alike, :func:`_column_split_is_exact` —
    MKL's AVX-512 path does, its AVX2 path not for every shape): values and gradients are bit-identical
    (tests in tests/nn/test_so3.py and tests/models/test_esen_fast.py). Saves the rotated pair, the scaling, the
    first map's outputs (and, for ``s2``, the activation's output, as the composition does); recomputes
    ``x ⊙ s`` and the gate in backward. The rotations must not need gradients (direct forces).
    """

    @staticmethod
    def forward(ctx, spec, x, rot_in, src, dst, scale, *params):
        k = len(spec["sizes"]) - 1
        w1, b1, blk1 = params[0], params[1], params[2 : 2 + k]
        w2, b2, blk2 = params[2 + k], params[3 + k], params[4 + k :]
        # [D h_u ‖ D h_v], (E, K_m, 2C): the gathered pair rotated at once where its 2C columns are few (as the
        # plain code does), else each half rotated with C columns (faster: see _bmm_columns) and put side by side
        if 2 * x.shape[2] <= _BMM_COLUMNS:
            pair = torch.bmm(rot_in, torch.cat([x.index_select(0, src), x.index_select(0, dst)], dim=2))
        else:
            pair = torch.cat([_bmm_columns(rot_in, x.index_select(0, idx)) for idx in (src, dst)], dim=2)
        xs = _EdgeMessage._scaled_inputs(spec, pair, scale)
        y0 = torch.addmm(b1, xs[0], w1.t())  # (E, extra + (L+1) H)
        ys = [a.mm(w.t()) for a, w in zip(xs[1:], blk1)]
        del xs
        out, saved = _EdgeMessage._second(spec, y0, ys, w2, b2, blk2)
        ctx.spec = spec
        ctx.save_for_backward(rot_in, src, dst, scale, w1, *blk1, w2, *blk2, pair, *saved)
        return out

    @staticmethod
    def _rows(spec):
        """Row ranges of the m-blocks in the m-major edge layout."""
        rows, r = [], 0
        for b, n_m in enumerate(spec["sizes"]):
            width = n_m if b == 0 else 2 * n_m
            rows.append((r, r + width))
            r += width
        return rows

    @staticmethod
    def _blocks(spec, pair, scale):
        """Per m-block the input ``x`` and scaling ``s`` as :meth:`SO2Linear.forward_parts` hands them to
        :class:`_ScaledLinear` (views of ``pair`` and ``scale``)."""
        E, C2 = pair.shape[0], pair.shape[2]
        sizes = spec["sizes"]
        scales = scale.split([n_m * C2 for n_m in sizes], dim=1)
        out = []
        for b, ((r0, r1), n_m, s) in enumerate(zip(_EdgeMessage._rows(spec), sizes, scales)):
            if b == 0:
                out.append((pair[:, r0:r1].reshape(E, n_m * C2), s))
            else:
                out.append((pair[:, r0:r1].reshape(E, 2, n_m * C2), s.unsqueeze(1)))
        return out

    @staticmethod
    def _scaled_inputs(spec, pair, scale):
        """``x ⊙ s`` per m-block, flattened per edge (as :class:`_ScaledLinear` computes it)."""
        return [(x * s).reshape(x.shape[0], x[0].numel()) for x, s in _EdgeMessage._blocks(spec, pair, scale)]

    @staticmethod
    def _second(spec, y0, ys, w2, b2, blk2):
        """Activation and the second SO(2) map; returns the message and the tensors backward needs."""
        E, X, H, L = y0.shape[0], spec["extra"], spec["hidden"], spec["l_max"]
        gates = y0[:, :X]
        parts = [y0[:, X:].view(E, L + 1, H), *(y.view(E, y.shape[1] // H, H) for y in ys)]
        if spec["act"] == "gate":
            return _GatedSO2Linear.compute(gates, w2, b2, blk2, parts, L, H, into_rows=True), (y0, *ys)
        y = torch.cat(parts, dim=1)  # (E, K_m, H), as SO2Linear.forward returns it
        a = _ChunkedS2SiLU.compute(y, spec["to_mat"], spec["from_mat"], gates)
        C2 = w2.shape[0] // (L + 1)
        out = a.new_empty(E, a.shape[1] * C2)
        rows = [(r0 * H, r1 * H) for r0, r1 in _EdgeMessage._rows(spec)]
        af = a.view(E, a.shape[1] * H)
        col = w2.shape[0]
        torch.addmm(b2, af[:, rows[0][0] : rows[0][1]], w2.t(), out=out[:, :col])
        for (c0, c1), w in zip(rows[1:], blk2):
            torch.mm(af[:, c0:c1], w.t(), out=out[:, col : col + w.shape[0]])
            col += w.shape[0]
        return out.view(E, a.shape[1], C2), (y0, y, a)  # a kept, as the composition's second map keeps it

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        spec = ctx.spec
        k = len(spec["sizes"]) - 1
        saved = ctx.saved_tensors
        rot_in, src, dst, scale, w1 = saved[:5]
        blk1, w2, blk2 = saved[5 : 5 + k], saved[5 + k], saved[6 + k : 6 + 2 * k]
        pair, rest = saved[6 + 2 * k], saved[7 + 2 * k :]
        E, X, H, L = grad.shape[0], spec["extra"], spec["hidden"], spec["l_max"]
        rows = _EdgeMessage._rows(spec)
        # activation and second map: the grad of the first map's outputs, as autograd hands it to each block
        if spec["act"] == "gate":
            y0, ys = rest[0], rest[1:]
            gates = y0[:, :X]
            parts = [y0[:, X:].view(E, L + 1, H), *(y.view(E, y.shape[1] // H, H) for y in ys)]
            grad_gates, grad_w2, grad_b2, grad_parts = _GatedSO2Linear.gradients(grad, gates, w2, blk2, parts, L, H)
            grad_y = [g.reshape(E, g.shape[1] * H) for g in grad_parts]
        else:
            y0, y, a = rest
            C2 = w2.shape[0] // (L + 1)
            af = a.view(E, a.shape[1] * H)
            gf = grad.view(E, grad.shape[1] * C2)
            grad_a = torch.empty_like(a)
            gaf = grad_a.view(E, a.shape[1] * H)
            grad_w2, grad_b2 = [], None
            for b, ((r0, r1), w) in enumerate(zip(rows, (w2, *blk2))):
                g = gf[:, r0 * C2 : r1 * C2]
                torch.mm(g, w, out=gaf[:, r0 * H : r1 * H])  # autograd's mm_mat1_backward
                grad_w2.append(g.t().mm(af[:, r0 * H : r1 * H]))  # mm_mat2_backward through the weight's .t()
                if b == 0:
                    grad_b2 = g.sum(0)
            del a, af
            grad_y_full, grad_gates = _ChunkedS2SiLU.gradients(grad_a, y, spec["to_mat"], spec["from_mat"], y0[:, :X])
            gyf = grad_y_full.view(E, grad_y_full.shape[1] * H)
            grad_y = [gyf[:, r0 * H : r1 * H] for r0, r1 in rows]
        grad_y[0] = torch.cat([grad_gates, grad_y[0]], dim=1)  # the split of the first map's m = 0 output
        # first map (radial-scaled), as _ScaledLinear's backward, its input gradient written into the pair's rows
        blocks = _EdgeMessage._blocks(spec, pair, scale)
        grad_pair = torch.empty_like(pair)
        grad_w1, grad_b1, grad_s = [], None, []
        for b, ((r0, r1), (x, s), g, w) in enumerate(zip(rows, blocks, grad_y, (w1, *blk1))):
            grad_xs = g.mm(w).view(x.shape)
            torch.mul(grad_xs, s, out=grad_pair[:, r0:r1].view(x.shape))
            gs = (grad_xs * x).sum_to_size(s.shape)
            grad_s.append(gs if b == 0 else gs.squeeze(1))
            grad_w1.append(g.t().mm((x * s).reshape(E, w.shape[1])))  # x ⊙ s recomputed
            if b == 0:
                grad_b1 = g.sum(0)
        grad_scale = torch.cat(grad_s, dim=1)
        # rotations back (each half with C columns) and row sums onto the nodes, as _GatherEdgePairs' backward
        n, K, C = spec["num_nodes"], rot_in.shape[2], pair.shape[2] // 2
        to_nodes = []
        for h, idx in enumerate((src, dst)):
            rows_h = _bmm_columns(rot_in.transpose(1, 2), grad_pair[:, :, h * C : (h + 1) * C]).view(E, K * C)
            to_nodes.append(grad_pair.new_zeros(n, K * C).index_add_(0, idx, rows_h))
        grad_x = (to_nodes[0] + to_nodes[1]).view(n, K, C)
        return (None, grad_x, None, None, None, grad_scale, grad_w1[0], grad_b1, *grad_w1[1:],
                grad_w2[0], grad_b2, *grad_w2[1:])  # fmt: skip


#: the fused edge message of :func:`edge_message` (eSEN); ``False`` runs the composition of the separate fast
#: paths instead (tests compare the two bit for bit)
FUSED_EDGE_MESSAGE = True


def edge_message(
    x: torch.Tensor,
    rot_in: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    scale: torch.Tensor,
    conv1: "SO2Linear",
    act: nn.Module,
    conv2: "SO2Linear",
) -> torch.Tensor | None:
    r"""eSEN's message in the edge frame, ``conv2(act(conv1(D [h_u ‖ h_v], s)))``, ``(n, K, C) -> (E, K_m, C)``,
    as one autograd node (:class:`_EdgeMessage`), bit-identical to the composition of
    :func:`gather_edge_pairs`, the rotation, :meth:`SO2Linear.forward_parts` with ``scale`` and
    :func:`gated_so2_linear` (gate) or :class:`SeparableS2Activation` and :class:`SO2Linear` (``s2``).
    ``None`` where it does not apply (reference path, rotations needing gradients, other activations): the caller
    runs the composition."""
    if (
        not FUSED_EDGE_MESSAGE
        or use_reference(x)
        or rot_in.requires_grad
        or conv2.extra_m0_channels
        or not conv1.extra_m0_channels
        or conv1.in_channels != 2 * x.shape[2]
        or scale.dtype != x.dtype
        or rot_in.dtype != x.dtype
        or not _same_bmm_kernel(rot_in, x.shape[2], 2 * x.shape[2])  # each half rotated as the pair would be
        or not _column_split_is_exact(x.dtype, rot_in.shape[1], rot_in.shape[2], x.shape[2])
    ):
        return None
    spec = {
        "sizes": tuple(conv1.sizes), "extra": conv1.extra_m0_channels, "hidden": conv1.out_channels,
        "l_max": conv1.l_max, "num_nodes": x.shape[0],
    }  # fmt: skip
    if isinstance(act, GateActivation):
        if act.channels != conv1.out_channels or conv1.extra_m0_channels != act.l_max * act.channels:
            return None
        spec["act"] = "gate"
    elif isinstance(act, SeparableS2Activation):
        grid = act.s2.grid
        if conv1.extra_m0_channels != conv1.out_channels:
            return None
        spec.update(act="s2", to_mat=grid.to_mat.to(x.dtype), from_mat=grid.from_mat[1:].to(x.dtype).contiguous())
    else:
        return None
    w1 = [conv1.fc_m0.weight, conv1.fc_m0.bias, *conv1.block_weights()]
    w2 = [conv2.fc_m0.weight, conv2.fc_m0.bias, *conv2.block_weights()]
    return _EdgeMessage.apply(spec, x, rot_in, src, dst, scale, *w1, *w2)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@functools.lru_cache(maxsize=None)
def _grid_matrices(l_max: int, m_max: int, res: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 ``(P, K)`` to-grid and ``(K, P)`` from-grid matrices (cached: e3nn builds its tables with sympy)."""
    K = num_coefficients(l_max)
    # CPU and float64 whatever the ambient defaults (e3nn builds some grid tables in the default dtype)
    with torch.device("cpu"), _default_dtype(torch.float64):
        to = o3.ToS2Grid(l_max, res, normalization="integral")
        fr = o3.FromS2Grid(res, l_max, normalization="integral")
        to_mat = to(torch.eye(K)).reshape(K, -1).T  # (P, K): Y_k(s_p)
        # FromS2Grid is a quadrature Σ_p w_β(p) Y_k(s_p) f(s_p) with weights depending on the latitude only;
        # read w_β off its l = 0 output for one point per latitude (cheap even for fine grids)
        probe = torch.zeros(res[0], *res)
        probe[torch.arange(res[0]), torch.arange(res[0]), 0] = 1.0
        w = fr(probe)[:, 0] / to_mat[0, 0]  # (res_beta,)
    from_mat = (to_mat * w.repeat_interleave(res[1])[:, None]).T  # (K, P)
    if m_max < l_max:
        deg = degree_index(l_max)
        scale = torch.where(deg > m_max, torch.sqrt((2 * deg + 1) / (2 * m_max + 1.0)), 1.0).double()
        to_mat, from_mat = to_mat * scale, from_mat / scale[:, None]
    return to_mat, from_mat


class S2Grid(nn.Module):
    r"""Projection between irreps and values on an e3nn ``(res_beta, res_alpha)`` sphere grid.

    ``to_grid``: ``(n, K, C) -> (n, P, C)`` with ``f(s_p) = Σ_i x_i Y_i(s_p)``; ``from_grid``: ``(n, P, C) ->
    (n, K, C)`` by quadrature (``from_grid(to_grid(x)) = x`` for the kept rows). Both use e3nn's ``ToS2Grid`` /
    ``FromS2Grid`` ("integral" normalisation) as matrices, restricted to rows ``|m| ≤ m_max`` in ``order``
    (default: l-major :func:`m_truncation`). With ``m_max < l_max`` degrees ``l > m_max`` are amplified by
    ``sqrt((2l+1)/(2 m_max+1))`` on the way to the grid (eSCN: they lost ``2(l - m_max)`` of their components) and
    attenuated by the same factor on the way back, so the round trip stays the identity (fairchem multiplies both
    ways: an activation on the grid then differs by ``(2l+1)/(2 m_max+1)`` on those rows, which the SO(2) linear
    map after it absorbs — the same function class, see the eSEN card in book/models.md). ``resolution``: ``None`` (``2(l_max+1)`` latitudes, ``2(m_max+1)+1``
    longitudes if ``m_max = l_max`` else ``2 m_max+1``), an int for both, or ``(res_beta, res_alpha)``.

    A pointwise nonlinearity on the grid is rotation-equivariant only up to aliasing; the error falls
    exponentially with the resolution (SiLU of unit-variance random ``l_max = 4`` features: relative error ~1e-1 at
    the default 10×11, ~1e-4 at 30×30, ~1e-7 at 60×60; far smaller inside a normalised network).
    """

    def __init__(
        self,
        l_max: int,
        m_max: int | None = None,
        resolution: int | tuple[int, int] | None = None,
        order: torch.Tensor | None = None,
    ):
        super().__init__()
        m_max = l_max if m_max is None else m_max
        _check_lm(l_max, m_max)
        if resolution is None:
            res = (2 * (l_max + 1), 2 * (m_max + 1) + 1 if m_max == l_max else 2 * m_max + 1)
        elif isinstance(resolution, int):
            res = (resolution, resolution)
        else:
            res = tuple(int(r) for r in resolution)
        to_mat, from_mat = _grid_matrices(l_max, m_max, res)
        order = m_truncation(l_max, m_max) if order is None else torch.as_tensor(order, dtype=torch.long, device="cpu")
        self.l_max, self.m_max, self.resolution = l_max, m_max, res
        # float64 masters (cast per call), so that a float64 model sees float64-accurate projections
        self.register_buffer("to_mat", to_mat[:, order].contiguous(), persistent=False)
        self.register_buffer("from_mat", from_mat[order].contiguous(), persistent=False)

    @property
    def num_points(self) -> int:
        return self.to_mat.shape[0]

    def to_grid(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("pk,nkc->npc", self.to_mat.to(x.dtype), x)

    def from_grid(self, g: torch.Tensor) -> torch.Tensor:
        return torch.einsum("kp,npc->nkc", self.from_mat.to(g.dtype), g)

    def extra_repr(self) -> str:
        return f"l_max={self.l_max}, m_max={self.m_max}, resolution={self.resolution}"


_CHUNK_GRID_VALUES = 1 << 19  # grid values (rows × points × channels) per chunk: 2 MiB in float32, cache-sized


class _ChunkedS2SiLU(torch.autograd.Function):
    r"""``y = F silu(T x)`` per row ``x (K, C)`` of ``(n, K, C)``, in chunks of rows, with the grid recomputed in
    backward; optionally row 0 of the output is ``silu(scalars)`` and ``F`` gives rows ``1 …`` only.

    The plain composition materialises the ``(n, P, C)`` grid twice (SiLU input and output, both saved for
    backward): memory-bound and, on the edges, most of a step's peak memory. Here each chunk's grid lives in cache
    and only ``x`` is saved; backward is ``T^T (silu'(T x) ⊙ F^T ȳ)``. Same function and gradient as
    ``to_grid → silu → from_grid`` (tests compare them in float64); once differentiable.
    """

    @staticmethod
    def forward(ctx, x, to_mat, from_mat, scalars):
        ctx.save_for_backward(x, to_mat, from_mat, scalars)
        return _ChunkedS2SiLU.compute(x, to_mat, from_mat, scalars)

    @staticmethod
    def compute(x, to_mat, from_mat, scalars):
        """The forward (no autograd bookkeeping)."""
        n, K, C = x.shape
        K_out = from_mat.shape[0]
        first = 0 if scalars is None else 1
        out = x.new_empty(n, first + K_out, C)
        if scalars is not None:
            out[:, 0] = nn.functional.silu(scalars)
        step = _ChunkedS2SiLU._step(to_mat, C)
        for a in range(0, n, step):
            xc = x[a : a + step]
            b = xc.shape[0]
            grid = torch.mm(to_mat, xc.transpose(0, 1).reshape(K, b * C))  # (P, b C)
            nn.functional.silu(grid, inplace=True)
            out[a : a + b, first:] = torch.mm(from_mat, grid).view(K_out, b, C).transpose(0, 1)
        return out

    @staticmethod
    def _step(to_mat, C):
        return max(1, _CHUNK_GRID_VALUES // (to_mat.shape[0] * C))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, to_mat, from_mat, scalars = ctx.saved_tensors
        need_s = scalars is not None and ctx.needs_input_grad[3]
        need_x = ctx.needs_input_grad[0]
        grad_x, grad_s = _ChunkedS2SiLU.gradients(grad_out, x, to_mat, from_mat, scalars, need_x, need_s)
        return grad_x, None, None, grad_s

    @staticmethod
    def gradients(grad_out, x, to_mat, from_mat, scalars, need_x=True, need_s=True):
        """Backward of :meth:`compute`: ``(grad_x, grad_scalars)`` (``None`` where not needed)."""
        step, first = _ChunkedS2SiLU._step(to_mat, x.shape[2]), 0 if scalars is None else 1
        n, K, C = x.shape
        K_out = from_mat.shape[0]
        grad_x = torch.empty_like(x) if need_x else None
        grad_s = None
        if scalars is not None and need_s:
            grad_s = torch.ops.aten.silu_backward(grad_out[:, 0], scalars)
        if grad_x is not None:
            from_t, to_t = from_mat.t(), to_mat.t()
            for a in range(0, n, step):
                xc = x[a : a + step]
                b = xc.shape[0]
                grid = torch.mm(to_mat, xc.transpose(0, 1).reshape(K, b * C))  # recomputed (P, b C)
                gc = grad_out[a : a + b, first:].transpose(0, 1).reshape(K_out, b * C)
                grad_grid = torch.ops.aten.silu_backward(torch.mm(from_t, gc), grid)
                grad_x[a : a + b] = torch.mm(to_t, grad_grid).view(K, b, C).transpose(0, 1)
        return grad_x, grad_s


def _s2_silu(grid: S2Grid, x: torch.Tensor, scalars: torch.Tensor | None = None) -> torch.Tensor:
    """``from_grid(silu(to_grid(x)))`` (with ``scalars``: row 0 replaced by ``silu(scalars)``), ``(n, K, C)``.

    Under ``torch.compile`` (``runtime.compile``) the chunked kernel runs eagerly, as one graph break
    (:func:`_chunked_s2_silu`): traced, its Python loop over chunks of rows makes Dynamo specialise on the row count
    and recompile for every new edge count (up to its recompile limit). Eager runs are unchanged."""
    if use_reference(x):
        y = grid.from_grid(nn.functional.silu(grid.to_grid(x)))
        return y if scalars is None else torch.cat([nn.functional.silu(scalars).unsqueeze(1), y[:, 1:]], dim=1)
    from_mat = grid.from_mat if scalars is None else grid.from_mat[1:]
    x = x.contiguous()
    scalars = None if scalars is None else scalars.to(x.dtype)
    return _chunked_s2_silu(x, grid.to_mat.to(x.dtype), from_mat.to(x.dtype).contiguous(), scalars)


@torch.compiler.disable
def _chunked_s2_silu(x, to_mat, from_mat, scalars):
    """:class:`_ChunkedS2SiLU`, never traced by Dynamo (a graph break under ``torch.compile``; a plain call
    otherwise): its loop bound depends on the row count, and tracing it would recompile for every new one."""
    return _ChunkedS2SiLU.apply(x, to_mat, from_mat, scalars)


class S2Activation(nn.Module):
    """SiLU pointwise on an :class:`S2Grid`: ``x -> from_grid(silu(to_grid(x)))``, ``(n, K, C) -> (n, K, C)``.

    Evaluated in cache-sized chunks of rows with the grid recomputed in backward (:class:`_ChunkedS2SiLU`): same
    function and gradient, no ``(n, P, C)`` grid in memory.
    """

    def __init__(self, l_max: int, m_max: int | None = None, resolution=None, order: torch.Tensor | None = None):
        super().__init__()
        self.grid = S2Grid(l_max, m_max, resolution, order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _s2_silu(self.grid, x)


class SeparableS2Activation(nn.Module):
    """eSCN's separable S² activation: ``l = 0`` row ``= SiLU(scalars)``; ``l > 0`` rows from :class:`S2Activation`.

    ``forward(scalars (n, C), x (n, K, C))``; row 0 of ``order`` must be ``l = 0``.
    """

    def __init__(self, l_max: int, m_max: int | None = None, resolution=None, order: torch.Tensor | None = None):
        super().__init__()
        self.s2 = S2Activation(l_max, m_max, resolution, order)

    def forward(self, scalars: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _s2_silu(self.s2.grid, x, scalars)


class GridMLP(nn.Module):
    """eSEN's grid feed-forward: to the :class:`S2Grid`, a bias-free ``C -> H -> H -> C`` SiLU MLP at every grid
    point, back. ``(n, (l_max+1)**2, C) -> same``; parameters ``2 C H + H²``. Equivariant up to grid aliasing.
    """

    def __init__(self, channels: int, hidden_channels: int, l_max: int, resolution=None):
        super().__init__()
        self.grid = S2Grid(l_max, l_max, resolution)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden_channels, bias=False),
            nn.SiLU(),
            nn.Linear(hidden_channels, hidden_channels, bias=False),
            nn.SiLU(),
            nn.Linear(hidden_channels, channels, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid.from_grid(self.mlp(self.grid.to_grid(x)))


# ---------------------------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------------------------
def _norm_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


class EquivariantRMSNorm(nn.Module):
    r"""RMS normalisation of irreps ``(n, (l_max+1)**2, C)`` (eSEN's ``rms_norm_sh``).

    With ``centering`` the ``l = 0`` row is first mean-centred over channels. Then the mean square is taken per
    degree (over ``m`` and channels) and either averaged over degrees (``per_degree=False``: one RMS per node, every
    degree weighted equally — eSEN's default) or used per degree (``per_degree=True``). Output
    ``x_l / sqrt(ms + eps) · γ_{l,c}`` (+ ``β_c`` on ``l = 0`` when centring). Parameters ``(l_max+1)·C [+ C]``.
    Computed in at least float32 (also under autocast).
    """

    def __init__(
        self, l_max: int, channels: int, eps: float = 1e-5, centering: bool = True, per_degree: bool = False
    ):
        super().__init__()
        self.l_max, self.channels, self.eps = l_max, channels, eps
        self.centering, self.per_degree = centering, per_degree
        self.weight = nn.Parameter(torch.ones(l_max + 1, channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if centering else None
        deg = degree_index(l_max)
        self.register_buffer("expand_index", deg, persistent=False)
        self.register_buffer("inv_mult", 1.0 / (2 * deg.to(torch.get_default_dtype()) + 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(_norm_dtype(x))
            if self.centering:
                x = torch.cat([x[:, :1] - x[:, :1].mean(dim=2, keepdim=True), x[:, 1:]], dim=1)
            sq = x.pow(2).mean(dim=2) * self.inv_mult.to(x.dtype)  # (n, K): per-row share of its degree's mean
            per_l = torch.zeros(x.shape[0], self.l_max + 1, dtype=x.dtype, device=x.device)
            per_l = per_l.index_add(1, self.expand_index, sq)  # (n, L+1) mean square per degree
            if not self.per_degree:
                per_l = per_l.mean(dim=1, keepdim=True).expand(-1, self.l_max + 1)
            inv = (per_l + self.eps).rsqrt().index_select(1, self.expand_index)  # (n, K)
            w = self.weight.to(x.dtype).index_select(0, self.expand_index)  # (K, C)
            y = x * inv.unsqueeze(-1) * w
            if self.bias is not None:
                y = torch.cat([y[:, :1] + self.bias.to(x.dtype), y[:, 1:]], dim=1)
            return y

    def extra_repr(self) -> str:
        return f"l_max={self.l_max}, channels={self.channels}, centering={self.centering}, per_degree={self.per_degree}"


class EquivariantLayerNorm(nn.Module):
    r"""EquiformerV2's ``layer_norm_sh``: ``LayerNorm`` over channels of the ``l = 0`` row; the ``l > 0`` rows share
    one RMS per node (mean square per degree, averaged over degrees ``1 … l_max``), scaled by ``γ_{l,c}``.
    ``(n, (l_max+1)**2, C) -> same``; parameters ``2C + l_max·C``. Computed in at least float32.
    """

    def __init__(self, l_max: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.l_max, self.channels, self.eps = l_max, channels, eps
        self.norm_l0 = nn.LayerNorm(channels, eps=eps)
        self.weight = nn.Parameter(torch.ones(max(l_max, 1), channels)) if l_max > 0 else None
        deg = degree_index(l_max)[1:]
        self.register_buffer("expand_index", (deg - 1).clamp_min(0), persistent=False)
        self.register_buffer("inv_mult", 1.0 / (2 * deg.to(torch.get_default_dtype()) + 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(_norm_dtype(x))
            l0 = nn.functional.layer_norm(
                x[:, :1], (self.channels,), self.norm_l0.weight.to(x.dtype), self.norm_l0.bias.to(x.dtype), self.eps
            )
            if self.l_max == 0:
                return l0
            rest = x[:, 1:]
            ms = (rest.pow(2).mean(dim=2) * self.inv_mult.to(x.dtype)).sum(dim=1, keepdim=True) / self.l_max
            w = self.weight.to(x.dtype).index_select(0, self.expand_index)  # (K-1, C)
            return torch.cat([l0, rest * (ms + self.eps).rsqrt().unsqueeze(-1) * w], dim=1)

    def extra_repr(self) -> str:
        return f"l_max={self.l_max}, channels={self.channels}"
