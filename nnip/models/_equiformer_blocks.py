r"""Private blocks of :mod:`nnip.models.equiformer_v2` (Liao et al. 2024; Trikha et al. 2025).

Node features are irreps ``(n, (l_max+1)**2, C)`` in the e3nn layout of :mod:`nnip.nn.so3`; edge-frame features are
``(n_edges, K_m, C)`` in its m-major, ``|m| ≤ m_max`` layout (:func:`nnip.nn.so3.m_order`). Every block here is
built from :mod:`nnip.nn.so3`; what it lacks lives here: the envelope-weighted segment softmax, the smooth leaky
ReLU of the attention logits, the edge-degree embedding, the attention and feed-forward blocks, and the rank-2
(stress) head.
"""

from __future__ import annotations

import torch
from torch import nn

from nnip.nn import scatter_sum
from nnip.nn.so3 import (
    EquivariantLayerNorm,
    EquivariantRMSNorm,
    GridMLP,
    RadialMLP,
    SeparableS2Activation,
    SO2Convolution,
    SO2Linear,
    SO3Linear,
    m_order,
    rotate_from_edge,
    rotate_to_edge,
)

__all__ = [
    "segment_softmax",
    "SmoothLeakyReLU",
    "EdgeGeometry",
    "EdgeDegreeEmbedding",
    "GraphAttention",
    "FeedForward",
    "TransformerBlock",
    "Rank2Head",
    "make_norm",
]


def segment_softmax(
    logits: torch.Tensor, index: torch.Tensor, num_segments: int, weight: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Softmax of ``logits`` over the edges of each segment (target atom), ``(E, H) -> (E, H)``:

    .. math:: \alpha_e = \frac{w_e \exp(a_e - a^{\max}_{i})}{\sum_{e' \to i} w_{e'} \exp(a_{e'} - a^{\max}_{i})},

    with ``w_e ≥ 0`` an optional per-edge weight (the cutoff envelope, so that an edge entering or leaving the
    cutoff sphere changes the weights smoothly; ``w = 1`` is the plain softmax). The per-segment maximum
    ``a^max`` (detached; it cancels) keeps ``exp`` from overflowing. Segments whose weights are all zero get
    ``α = 0``. Computed in at least float32 (also under autocast); returns that dtype.
    """
    with torch.autocast(device_type=logits.device.type, enabled=False):
        a = logits.to(torch.promote_types(logits.dtype, torch.float32))
        idx = index.unsqueeze(-1).expand_as(a)
        amax = a.new_full((num_segments, a.shape[1]), float("-inf"))
        amax = amax.scatter_reduce(0, idx, a.detach(), reduce="amax", include_self=True)
        w = torch.exp(a - amax[index])
        if weight is not None:
            w = w * weight.to(a.dtype).unsqueeze(-1)
        den = scatter_sum(w, index, num_segments)
        den = torch.where(den > 0, den, torch.ones_like(den))
        return w / den[index]


class SmoothLeakyReLU(nn.Module):
    r"""``f(x) = (1+α)/2 · x + (1-α)/2 · x (2σ(x) - 1)``: a smooth leaky ReLU (slopes α at -∞, 1 at +∞)."""

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.alpha = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1 + self.alpha) * x + 0.5 * (1 - self.alpha) * x * (2 * torch.sigmoid(x) - 1)


def make_norm(norm_type: str, l_max: int, channels: int) -> nn.Module:
    """``"layer_norm_sh"`` (EquiformerV2 / Trikha et al.) or ``"rms_norm_sh"`` (fairchem's default)."""
    if norm_type == "layer_norm_sh":
        return EquivariantLayerNorm(l_max, channels)
    if norm_type == "rms_norm_sh":
        return EquivariantRMSNorm(l_max, channels)
    raise ValueError(f"norm_type must be 'layer_norm_sh' or 'rms_norm_sh', got {norm_type!r}")


class EdgeGeometry:
    """Per-forward edge quantities shared by every block (no parameters).

    ``src, dst`` (E,) (``j → i``); ``rbf`` (E, num_radial) invariant; ``env`` (E,) cutoff envelope;
    ``wigner_m`` (E, K_m, K) rotates l-major node features into the m-major, m-truncated edge frame;
    ``wigner_0`` (E, l_max+1, K) its ``m = 0`` rows; ``atomic_index`` (N,) embedding rows; ``num_atoms``.
    """

    def __init__(self, src, dst, rbf, env, wigner_m, wigner_0, atomic_index, num_atoms):
        self.src, self.dst, self.rbf, self.env = src, dst, rbf, env
        self.wigner_m, self.wigner_0 = wigner_m, wigner_0
        self.atomic_index, self.num_atoms = atomic_index, num_atoms


class _EdgeFeatures(nn.Module):
    """Invariant edge features ``[rbf(d), emb_src(Z_j), emb_tgt(Z_i)]``, ``-> (E, num_radial + 2 edge_channels)``."""

    def __init__(self, num_radial: int, edge_channels: int, num_elements: int):
        super().__init__()
        self.source_embedding = nn.Embedding(num_elements, edge_channels)
        self.target_embedding = nn.Embedding(num_elements, edge_channels)
        for emb in (self.source_embedding, self.target_embedding):
            nn.init.uniform_(emb.weight, -1e-3, 1e-3)
        self.dim = num_radial + 2 * edge_channels

    def forward(self, g: EdgeGeometry) -> torch.Tensor:
        z = g.atomic_index
        src = self.source_embedding(z[g.src]).to(g.rbf.dtype)
        dst = self.target_embedding(z[g.dst]).to(g.rbf.dtype)
        return torch.cat([g.rbf, src, dst], dim=-1)


class EdgeDegreeEmbedding(nn.Module):
    r"""Initial ``l > 0`` features from the neighbourhood: a radial MLP gives ``m = 0`` coefficients per degree in
    the edge frame, rotated back and summed over incoming edges,
    ``x_i += (1/\bar d) Σ_{j} u(r_ji) D(R_ji)^T [ψ_l(r_ji, Z_j, Z_i)]_{m=0}``. ``-> (N, K, C)``.
    """

    def __init__(self, channels, l_max, num_radial, edge_channels, num_elements, avg_degree):
        super().__init__()
        self.channels, self.l_max, self.avg_degree = channels, l_max, float(avg_degree)
        self.edge_features = _EdgeFeatures(num_radial, edge_channels, num_elements)
        self.rad_func = RadialMLP([self.edge_features.dim, edge_channels, edge_channels, (l_max + 1) * channels])

    def forward(self, g: EdgeGeometry) -> torch.Tensor:
        m0 = self.rad_func(self.edge_features(g)).reshape(-1, self.l_max + 1, self.channels)  # (E, L+1, C)
        m0 = m0 * g.env.to(m0.dtype)[:, None, None]
        msg = rotate_from_edge(m0, g.wigner_0.to(m0.dtype))  # (E, K, C)
        return scatter_sum(msg, g.dst, g.num_atoms) / self.avg_degree


class GraphAttention(nn.Module):
    r"""EquiformerV2's equivariant graph attention (``SO2EquivariantGraphAttention``), for every edge ``j → i``:

    1. ``x̃ = D(R_ji) [x_j ‖ x_i]`` truncated to ``|m| ≤ m_max`` (edge frame);
    2. SO(2) convolution with radial weights ``ψ(r_ji, Z_j, Z_i)`` → hidden features, plus invariant ``m = 0``
       extras: ``H·d_α`` attention features and ``C_h`` gates;
    3. logits ``a_ji^h = ⟨ α_h, LeakyReLU_s(LN(f^h_ji)) ⟩``; ``α = softmax_j`` over the target's incoming edges
       (weighted by the cutoff envelope, :func:`segment_softmax`);
    4. values ``v = SO2Linear(SepS2Act(gates, hidden))`` (``H·d_v`` channels);
    5. ``y_i = W Σ_j D(R_ji)^T (u(r_ji) α_ji ⊙ v_ji)`` (heads concatenated, :class:`SO3Linear` projection); the
       envelope ``u`` also multiplies the messages so that they vanish when a target's last neighbour leaves
       (where the normalised ``α`` would stay 1).

    ``(N, K, C) -> (N, K, out_channels)``.
    """

    def __init__(
        self, channels, hidden_channels, num_heads, alpha_channels, value_channels, out_channels, l_max, m_max,
        num_radial, edge_channels, num_elements, grid_resolution,
    ):  # fmt: skip
        super().__init__()
        self.num_heads, self.alpha_channels, self.value_channels = num_heads, alpha_channels, value_channels
        self.edge_features = _EdgeFeatures(num_radial, edge_channels, num_elements)
        n_alpha = num_heads * alpha_channels
        self.so2_conv_1 = SO2Convolution(
            2 * channels, hidden_channels, l_max, m_max, [self.edge_features.dim, edge_channels, edge_channels],
            extra_m0_channels=n_alpha + hidden_channels,
        )  # fmt: skip
        self.alpha_norm = nn.LayerNorm(alpha_channels)
        self.alpha_act = SmoothLeakyReLU(0.2)
        bound = alpha_channels**-0.5
        self.alpha_dot = nn.Parameter(torch.empty(num_heads, alpha_channels).uniform_(-bound, bound))
        self.s2_act = SeparableS2Activation(l_max, m_max, grid_resolution, order=m_order(l_max, m_max))
        self.so2_conv_2 = SO2Linear(hidden_channels, num_heads * value_channels, l_max, m_max)
        self.proj = SO3Linear(num_heads * value_channels, out_channels, l_max)

    def logits(self, extra: torch.Tensor) -> torch.Tensor:
        """Attention logits from the invariant ``m = 0`` extras, ``(E, H·d_α) -> (E, H)``."""
        f = extra.reshape(-1, self.num_heads, self.alpha_channels)
        f = self.alpha_act(self.alpha_norm(f))
        return torch.einsum("ehk,hk->eh", f, self.alpha_dot.to(f.dtype))

    def forward(self, x: torch.Tensor, g: EdgeGeometry, return_alpha: bool = False):
        D = g.wigner_m.to(x.dtype)
        msg = rotate_to_edge(torch.cat([x[g.src], x[g.dst]], dim=-1), D)  # (E, K_m, 2C)
        hidden, extra = self.so2_conv_1(msg, self.edge_features(g))
        n_alpha = self.num_heads * self.alpha_channels
        alpha = segment_softmax(self.logits(extra[:, :n_alpha]), g.dst, g.num_atoms, g.env)  # (E, H)
        hidden = self.s2_act(extra[:, n_alpha:], hidden)
        value = self.so2_conv_2(hidden)  # (E, K_m, H·d_v)
        E, K_m = value.shape[:2]
        # u·α: α alone stays normalised when a target's *last* neighbour leaves the cutoff; u sends it to zero
        weight = (alpha * g.env.to(alpha.dtype).unsqueeze(-1)).to(value.dtype)  # (E, H)
        value = value.reshape(E, K_m, self.num_heads, self.value_channels) * weight[:, None, :, None]
        value = rotate_from_edge(value.reshape(E, K_m, self.num_heads * self.value_channels), D.to(value.dtype))
        out = self.proj(scatter_sum(value, g.dst, g.num_atoms))
        return (out, alpha) if return_alpha else out


class FeedForward(nn.Module):
    r"""EquiformerV2's feed-forward network on irreps, ``(N, K, C) -> (N, K, out_channels)``:
    ``W_2 · act(W_1 x)`` with :class:`SO3Linear` maps and, as ``act``, either the grid MLP (``use_grid_mlp``: to the
    S² grid, bias-free SiLU MLP at every point, back; the ``l = 0`` row replaced by ``SiLU(W_s x_0)``) or the
    separable S² activation (SiLU on the grid for ``l > 0``, ``SiLU(W_s x_0)`` for ``l = 0``).
    """

    def __init__(self, channels, hidden_channels, out_channels, l_max, grid_resolution, use_grid_mlp=True):
        super().__init__()
        self.scalar_linear = nn.Linear(channels, hidden_channels)
        self.so3_linear_1 = SO3Linear(channels, hidden_channels, l_max)
        if use_grid_mlp:
            self.act = GridMLP(hidden_channels, hidden_channels, l_max, grid_resolution)
        else:
            self.act = SeparableS2Activation(l_max, l_max, grid_resolution)
        self.use_grid_mlp = use_grid_mlp
        self.so3_linear_2 = SO3Linear(hidden_channels, out_channels, l_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalars = self.scalar_linear(x[:, 0])  # (N, H)
        h = self.so3_linear_1(x)
        if self.use_grid_mlp:
            h = torch.cat([nn.functional.silu(scalars).unsqueeze(1).to(h.dtype), self.act(h)[:, 1:]], dim=1)
        else:
            h = self.act(scalars, h)
        return self.so3_linear_2(h)


class TransformerBlock(nn.Module):
    """``x ← x + Attn(Norm(x)); x ← x + FFN(Norm(x))`` (pre-norm, EquiformerV2's ``TransBlockV2``)."""

    def __init__(self, cfg):
        super().__init__()
        C, L = cfg.sphere_channels, cfg.l_max
        self.norm_1 = make_norm(cfg.norm_type, L, C)
        self.attention = GraphAttention(
            C, cfg.attn_hidden_channels, cfg.num_heads, cfg.attn_alpha_channels, cfg.attn_value_channels, C, L,
            cfg.m_max, cfg.num_radial, cfg.edge_channels, cfg.num_elements, cfg.grid_resolution,
        )  # fmt: skip
        self.norm_2 = make_norm(cfg.norm_type, L, C)
        self.ffn = FeedForward(C, cfg.ffn_hidden_channels, C, L, cfg.grid_resolution, cfg.use_grid_mlp)

    def forward(self, x: torch.Tensor, g: EdgeGeometry) -> torch.Tensor:
        x = x + self.attention(self.norm_1(x), g)
        return x + self.ffn(self.norm_2(x))


class Rank2Head(nn.Module):
    r"""Symmetric rank-2 output (stress) as isotropic (``l = 0``) plus anisotropic (``l = 2``) parts, per graph:

    .. math:: \sigma = \frac{1}{V} \sum_{j \to i} u(r_{ji}) \Big[ s_{ji} I + a_{ji} \big(\hat r_{ji} \hat r_{ji}^T
              - \tfrac13 I\big) \Big],

    ``s, a`` invariant edge scalars from MLPs of ``LN(Σ_k [x_j ‖ x_i]_k Y_k(r̂_ji) / √K)`` (the node irreps of
    both ends contracted with the edge's spherical harmonics, as in fairchem's ``rank2_symmetric_head`` with
    ``use_source_target_embedding`` and ``decompose``); ``r̂ r̂^T - I/3`` is the traceless symmetric (``l = 2``)
    tensor of the edge. ``V`` is the cell volume (1 without periodicity). Equivariant: ``σ(R·) = R σ R^T``.
    """

    def __init__(self, channels: int, l_max: int):
        super().__init__()
        self.l_max = l_max
        d = 2 * channels
        self.norm = nn.LayerNorm(d)
        self.scalar_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))
        self.irrep2_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))

    def forward(self, x, g: EdgeGeometry, sh, unit, graph_of_edge, volume, num_graphs) -> torch.Tensor:
        K = (self.l_max + 1) ** 2
        xe = torch.cat([x[g.src], x[g.dst]], dim=-1)  # (E, K, 2C)
        inv = torch.einsum("ekc,ek->ec", xe, sh.to(xe.dtype)) * K**-0.5
        inv = self.norm(inv)
        dtype = unit.dtype
        with torch.autocast(device_type=unit.device.type, enabled=False):
            s = self.scalar_mlp(inv.to(dtype)).squeeze(-1) * g.env
            a = self.irrep2_mlp(inv.to(dtype)).squeeze(-1) * g.env
            eye = torch.eye(3, dtype=dtype, device=unit.device)
            outer = unit.unsqueeze(-1) * unit.unsqueeze(-2) - eye / 3.0  # (E, 3, 3), traceless symmetric
            per_edge = s[:, None, None] * eye + a[:, None, None] * outer
            return scatter_sum(per_edge, graph_of_edge, num_graphs) / volume[:, None, None]
