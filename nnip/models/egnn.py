r"""Multi-channel EGNN (MC-EGNN, Levy et al. 2023) with the μP-informed scaling of Ngo & Ravanbakhsh 2025
(§2.1 item 3; App. C.3, eq. 11–12; Table 4; App. F / Fig. 11).

Atom ``v`` carries invariant features ``h_v ∈ R^w`` and ``E`` vector channels ``X_v ∈ R^{3×E}``, stored as
``X_v = x_v 1ᵀ + D_v`` with ``D_v`` an equivariant, translation-invariant displacement (so periodic images work:
``X_uv = r_uv 1ᵀ + D_u - D_v`` with the lattice-shifted ``r_uv``). ``X⁽⁰⁾ = x`` (one channel, ``D⁽⁰⁾ = 0``), so
the first layer maps 1 → E channels and the others E → E. One of ``num_layers`` layers (pre-LayerNorm on ``h``):

.. math::

    m_{u\to v} &= \phi_m\big(\tilde h_u, \tilde h_v, \lVert X_{uv}\rVert_e^2, \lVert r_{uv}\rVert,
                 g(\lVert r_{uv}\rVert)\big), \qquad \tilde h = \mathrm{LN}(h), \\
    h_v &\leftarrow h_v + \phi_h\Big(\tilde h_v, \tfrac{1}{|\mathcal N(v)|}\textstyle\sum_u m_{u\to v}\Big), \\
    X_v &\leftarrow X_v + \frac{1}{|\mathcal N(v)|} \sum_{u} \frac{1}{E_{\rm in}}\, X_{uv}\, \Phi_x(m_{u\to v}),

(eq. 11, 8, 12) with ``φ_m: R^{2w + E_in + 1 + 136} → R^w → R^w`` and ``φ_h: R^{2w} → R^w → R^w`` SiLU MLPs,
``g`` 136 Gaussians, and ``Φ_x = W_x ∘ SiLU ∘ Linear(w, w)`` whose last map ``W_x: R^w → R^{E_in × E}`` (no bias,
reshaped) is initialised ``N(0, σ²)``, ``σ = sqrt(min(w, E_in E) / w²)`` — the Θ(1) (μP) initialisation of App. C.3
— and whose output is scaled by ``1/E_in`` (not ``1/sqrt(E_in)``). Outputs: energy ``Σ_v MLP(h_v)``
(``w → w → 1``); **direct, equivariant** forces ``F_v = Σ_c a_c (X_{v,c} - x_v) = D_v a`` (``a ∈ R^E``, no bias);
with ``stress=True`` ``σ_g = (1/n_g) Σ_{edges} s(m_uv) r_uv r_uvᵀ`` (symmetric, ``R σ Rᵀ`` under rotation).

Everything is E(3)-equivariant by construction (channel mixing acts on the channel index only), hence
``symmetries = {"rotation", "translation", "permutation"}`` to float64 round-off. Local, but not smooth at the
cutoff (mean aggregation, as eq. 8 and 12 prescribe).

**Parameter count (Table 4).** With ``E = ⌊√w⌋`` the 14 published counts follow
``N = 85w² + 11wE² + 12wE + 1831w + E + 1`` — 13 of them exactly (those above 2²⁴ as their float32 rounding, as
in Table 3); the ``w = 800`` entry is 2 399 (0.004%) above it and matches no integer ``E``, a likely typo. This
layout reproduces the formula: per layer ``7w²`` (``φ_m`` 3, ``φ_h`` 3, ``Φ_x`` hidden 1), ``W_x`` (``wE`` in the
first layer, ``wE²`` in the other 11), the ``E_in`` message inputs (``w`` then ``11 wE``), and ``144w`` of
LayerNorm (2), biases (5) and the 137 distance features; plus a 100-row element embedding, the energy MLP
(``w² + 2w + 1``) and the force combination (``E``). The 100 elements and 136 Gaussians are the ones that also
reproduce Tables 3 and 5 (MPNN, eSEN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nnip.models._base import GraphModel, check_config
from nnip.data.batch import Batch
from nnip.nn import MLP, GaussianBasis, scatter_mean, scatter_sum

__all__ = ["Config", "EGNN", "EGNNLayer", "TABLE4", "table4_params", "default_vector_channels"]

#: Table 4 (depth 12): width → published trainable-parameter count
TABLE4: dict[int, int] = {
    32: 156_358,
    48: 306_199,
    56: 403_992,
    64: 516_553,
    81: 786_925,
    102: 1_195_553,
    120: 1_590_131,
    160: 2_745_453,
    200: 4_231_015,
    300: 9_214_218,
    500: 24_959_524,
    600: 35_673_024,
    721: 51_092_972,
    800: 63_035_228,
}
_W_BASE = 102  # the ≈1M-parameter entry of Table 4 (1 195 553), w_base of μP (§3.3)


def default_vector_channels(width: int) -> int:
    """``E = ⌊√w⌋`` (Table 4 caption: E scales as √w; the floor is what reproduces the published counts)."""
    return math.isqrt(width)


def table4_params(
    w: int, E: int | None = None, num_layers: int = 12, num_radial: int = 136, num_elements: int = 100
) -> int:
    """Closed-form parameter count of :class:`EGNN` (no stress head); Table 4 when ``num_layers = 12``."""
    E = default_vector_channels(w) if E is None else E
    per_layer = 7 * w * w + (2 + 5 + num_radial + 1) * w  # 7 w² + LayerNorm + 5 biases + distance features
    n = num_layers * per_layer + num_elements * w + (w * w + 2 * w + 1) + E
    n += w * (1 + 1 * E)  # first layer: E_in = 1 message input, W_x: w → 1·E
    n += (num_layers - 1) * w * (E + E * E)  # other layers: E_in = E message inputs, W_x: w → E·E
    return n


@dataclass(frozen=True)
class Config:
    """EGNN hyper-parameters (defaults: Table 4's architecture at its ≈1M-parameter width).

    Attributes:
        hidden_dim: ``w``, the invariant width (the ladder's knob).
        vector_channels: ``E = E'``, vector channels; ``None`` = ``⌊√w⌋`` (Table 4). Fig. 11 scans it.
        num_layers: layers (depth 12 in Table 4).
        num_radial: Gaussians of the distance features (136 reproduces Table 4).
        num_elements: element embedding rows (atomic numbers ``< num_elements``).
        cutoff: neighbour radius, Å (App. D: 6).
        max_neighbors: nearest neighbours kept per atom (App. D: 30).
        stress: also predict the stress tensor.
    """

    hidden_dim: int = _W_BASE
    vector_channels: int | None = None
    num_layers: int = 12
    num_radial: int = 136
    num_elements: int = 100
    cutoff: float = 6.0
    max_neighbors: int | None = 30
    stress: bool = False

    def __post_init__(self):
        check_config(self)  # numbers by type, naming the key (nnip.models._base)
        for name in ("hidden_dim", "num_layers", "num_radial", "num_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.vector_channels is not None and self.vector_channels < 1:
            raise ValueError(f"vector_channels must be >= 1, got {self.vector_channels}")


class _Layer(nn.Module):
    """One MC-EGNN layer (eq. 11, 8, 12) mapping ``E_in`` vector channels to ``E_out``."""

    def __init__(self, width: int, e_in: int, e_out: int, num_edge_features: int):
        super().__init__()
        self.e_in, self.e_out = e_in, e_out
        self.width = width
        self.norm = nn.LayerNorm(width)
        self.phi_m = MLP([2 * width + e_in + num_edge_features, width, width], act_last=True)
        self.phi_h = MLP([2 * width, width, width])
        self.phi_x_hidden = nn.Sequential(nn.Linear(width, width), nn.SiLU())
        self.w_x = nn.Linear(width, e_in * e_out, bias=False)
        # Θ(1) initialisation of W_x (App. C.3): σ = sqrt(min(w, E_in E_out) / w²)
        nn.init.normal_(self.w_x.weight, std=math.sqrt(min(width, e_in * e_out)) / width)

    def forward(self, h, D, vec, edge_feat, src, dst):
        n = h.shape[0]
        X_uv = vec.unsqueeze(-1) + D.index_select(0, src) - D.index_select(0, dst)  # (n_edges, 3, E_in)
        sq = X_uv.pow(2).sum(dim=1)  # (n_edges, E_in)  ‖X_uv‖²_e, channel-wise
        hn = self.norm(h)
        m = self._first_linear(hn, sq, edge_feat, src, dst)  # (n_edges, w), = phi_m[0] on the concatenation
        for module in list(self.phi_m)[1:]:  # SiLU, Linear(w, w), SiLU
            m = module(m)
        agg = scatter_mean(m, dst, n)  # (n_atoms, w)
        h = h + self.phi_h(torch.cat([hn, agg.to(hn.dtype)], dim=-1)).to(h.dtype)
        W = self.w_x(self.phi_x_hidden(m)).view(-1, self.e_in, self.e_out)  # (n_edges, E_in, E_out)
        upd = torch.einsum("eac,ecd->ead", X_uv.to(W.dtype), W) / self.e_in  # (n_edges, 3, E_out)
        D = D + scatter_mean(upd, dst, n).to(D.dtype)  # D (n_atoms, 3, E_in) broadcasts when E_in = 1
        return h, D, m

    def _first_linear(self, hn, sq, edge_feat, src, dst):
        """``W [h̃_u ‖ h̃_v ‖ sq ‖ edge] + b`` with the node parts evaluated per atom, then gathered (same function
        and parameters as ``phi_m[0]`` on the concatenation, at a fraction of the per-edge cost)."""
        w, lin = self.width, self.phi_m[0]
        W = lin.weight  # (w, 2w + E_in + n_edge)
        from_src = F.linear(hn, W[:, :w])  # (n_atoms, w)
        from_dst = F.linear(hn, W[:, w : 2 * w], lin.bias)  # (n_atoms, w)
        edge = torch.cat([sq, edge_feat], dim=-1).to(hn.dtype)  # (n_edges, E_in + n_edge)
        return from_src.index_select(0, src) + from_dst.index_select(0, dst) + F.linear(edge, W[:, 2 * w :])


#: one MC-EGNN layer, public for reuse (the learned canonicalizer of :mod:`nnip.models.symmetrize`)
EGNNLayer = _Layer


class EGNN(GraphModel):
    """MC-EGNN with direct, equivariant energy/force(/stress) heads; see the module docstring (eq. 11–12, Table 4)."""

    Config = Config
    WIDTH_FIELD = "hidden_dim"
    BASE_WIDTH = _W_BASE  # w_base: Table 4's ≈1M-parameter entry (1 195 553 parameters)
    symmetries = frozenset({"rotation", "translation", "permutation"})
    local = True
    smooth_cutoff = False
    #: Table 4 (depth 12, E = ⌊√w⌋) with the published parameter counts
    LADDER: list[tuple[dict, int | None]] = [({"hidden_dim": w, "num_layers": 12}, n) for w, n in TABLE4.items()]
    TEST_HPARAMS: dict = {"hidden_dim": 16, "num_layers": 3, "num_radial": 8}

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = config if config is not None else Config()
        self.config = cfg
        w = cfg.hidden_dim
        E = self.vector_channels
        self.embedding = nn.Embedding(cfg.num_elements, w)
        self.rbf = GaussianBasis(cfg.num_radial, cfg.cutoff, start=0.0, coeff=0.125)
        n_edge = cfg.num_radial + 1
        self.layers = nn.ModuleList(_Layer(w, 1 if t == 0 else E, E, n_edge) for t in range(cfg.num_layers))
        self.energy_head = MLP([w, w, 1])
        self.force_head = nn.Linear(E, 1, bias=False)  # F_v = D_v a: a learned combination of the channels
        self.stress_head = nn.Linear(w, 1) if cfg.stress else None

    @property
    def vector_channels(self) -> int:
        c = self.config
        return c.vector_channels if c.vector_channels is not None else default_vector_channels(c.hidden_dim)

    # --- forward ------------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        src, dst = batch.edge_index
        vec = batch.edge_vectors()  # (n_edges, 3) r_uv = x_u - x_v (+ lattice shift)
        dist = vec.norm(dim=-1)  # (n_edges,)
        edge_feat = torch.cat([dist[:, None], self.rbf(dist)], dim=-1)  # (n_edges, 1 + num_radial)
        h = self.embedding(batch.atomic_numbers)  # (n_atoms, w)
        D = vec.new_zeros(batch.num_atoms, 3, 1)  # X⁽⁰⁾ = x: one channel, zero displacement
        m = None
        for layer in self.layers:
            h, D, m = layer(h, D, vec, edge_feat, src, dst)
        n_graphs, dtype = batch.num_graphs, batch.pos.dtype  # outputs in the batch's dtype (also under autocast)
        energy = scatter_sum(self.energy_head(h).squeeze(-1).to(dtype), batch.batch, n_graphs)  # (n_graphs,)
        forces = self.force_head(D.to(self.force_head.weight.dtype)).squeeze(-1).to(dtype)  # (n_atoms, 3)
        out = {"energy": energy, "forces": forces}
        if self.stress_head is not None:
            s = self.stress_head(m).squeeze(-1).to(dtype)  # (n_edges,) invariant
            outer = vec.unsqueeze(-1) * vec.unsqueeze(-2)  # (n_edges, 3, 3) r r^T
            per_atom = scatter_sum(s[:, None, None] * outer, dst, batch.num_atoms)
            out["stress"] = scatter_mean(per_atom, batch.batch, n_graphs)  # (n_graphs, 3, 3)
        return out

    def extra_repr(self) -> str:
        c = self.config
        return f"hidden_dim={c.hidden_dim}, vector_channels={self.vector_channels}, num_layers={c.num_layers}"
