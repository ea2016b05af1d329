r"""EquiformerV2 (Liao, Wood, Das & Smidt 2024, "EquiformerV2: Improved Equivariant Transformer for Scaling to
Higher-Degree Representations"), as trained on OMat24 for energy, forces and stress by Trikha et al. 2025
("Scaling Laws for Neural Material Models"); App. C.4, eq. (13)–(22) of Ngo & Ravanbakhsh 2025 for the SO(3)/SO(2)
machinery, which is shared with eSEN in :mod:`nnip.nn.so3`.

Atoms carry irreps ``x_i ∈ ⊕_{l ≤ l_max} R^C ⊗ V^{(l)}`` stored as ``(N, (l_max+1)^2, C)`` (eq. 13). They start
from an element embedding on ``l = 0`` plus an edge-degree embedding, then pass ``num_layers`` pre-norm
transformer blocks

.. math::

    x_i \leftarrow x_i + W \sum_{j \in \mathcal N(i)} D_{ji}^{T} \big(u(r_{ji})\, \alpha_{ji} \odot
        \mathrm{SO2}_2(\mathrm{SepS2}(\mathrm{SO2}_1(D_{ji} [\bar x_j \| \bar x_i]; \psi(r_{ji}, Z_j, Z_i))))\big),
    \qquad \bar x = \mathrm{LN}(x),

    \alpha_{ji}^h = \frac{u(r_{ji}) \exp a_{ji}^h}{\sum_{k} u(r_{ki}) \exp a_{ki}^h}, \quad
    a_{ji}^h = \langle \alpha_h, \mathrm{LeakyReLU_s}(\mathrm{LN}(f_{ji}^h)) \rangle,

    x_i \leftarrow x_i + \mathrm{FFN}(\mathrm{LN}(x_i)),

where ``D_ji = D(R_ji)`` rotates into the frame with the edge along ``ŷ`` and keeps orders ``|m| ≤ m_max``
(eq. 15), ``SO2_1`` is the radially weighted SO(2) convolution of eq. (21)–(22) whose invariant ``m = 0`` outputs
also give the attention features ``f^h`` (one logit per head; softmax over each target's incoming edges) and the
gates of the separable S² activation, ``SO2_2`` an SO(2) linear map to ``H·d_v`` value channels, ``u`` the
polynomial cutoff envelope and the FFN an S²-grid MLP between two degree-wise linear maps. Heads after a final
norm (all direct, no autograd):

- energy ``E = Σ_i FFN(x_i)_{l=0}`` (per-atom scalars summed per structure);
- forces ``F_i = `` the ``l = 1`` output of one more attention block with one output channel (in e3nn 0.6's
  layout the ``l = 1`` rows are ``(x, y, z)``, :mod:`nnip.nn.so3`);
- stress (``stress=True``) ``σ = (1/V) Σ_ji u(r_ji) [s_ji I + a_ji (r̂ r̂^T - I/3)]``: an isotropic (``l = 0``)
  plus a traceless symmetric (``l = 2``) part from invariant edge scalars (:class:`Rank2Head`; Trikha et al.'s
  decomposed rank-2 head).

**Defaults** follow the OMat24 EquiformerV2 configuration used by Trikha et al. (eqV2-S: 8 blocks, ``l_max = 4``,
``m_max = 2``, 128 sphere channels, 8 heads with α/value channels 64/16, attention and FFN hidden 64/128, edge
channels 128, 600 Gaussians, S² grid 18×18, ``layer_norm_sh``, grid-MLP FFN, cutoff 12 Å, 20 neighbours).

**Symmetry.** Energy is invariant and forces/stress equivariant by construction up to the aliasing of the S² grid
(pointwise nonlinearities on a finite grid): ~1e-6 relative at the default 18×18, falling exponentially with
``grid_resolution`` (TEST_HPARAMS use a fine grid and reach float64 round-off). Translation and permutation
symmetry are exact. The edge frame's roll about the edge is fixed deterministically by :func:`edge_rotation`;
every edge-frame operation commutes with it.

**Smoothness.** The envelope enters the softmax weights (a neighbour at the cutoff has weight 0 and drops out of
the normalisation continuously) and multiplies the attention messages (so the last neighbour of an atom fades out
too, where the normalised weight would stay 1), the edge-degree embedding and the stress head: outputs are C² in
the positions as neighbours cross the cutoff (the ``max_neighbors`` cap is the graph's business).

Differences from fairchem's implementation (whose code is not used): the envelope (fairchem has none); no dropout
or drop-path; the energy sum is not divided by an average atom count; the stress head is edge-level and exactly
equivariant (fairchem applies a SiLU MLP to the ``l = 2`` components) and scales with ``1/V`` as a virial.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nnip.models._base import GraphModel, check_config
from nnip.data.batch import Batch
from nnip.models._equiformer_blocks import (
    EdgeDegreeEmbedding,
    EdgeGeometry,
    FeedForward,
    GraphAttention,
    Rank2Head,
    TransformerBlock,
    make_norm,
    segment_softmax,
)
from nnip.nn import GaussianBasis, polynomial_envelope, scatter_sum
from nnip.nn.so3 import edge_rotation, m_order, wigner_d_blocks

__all__ = ["Config", "EquiformerV2", "segment_softmax"]


@dataclass(frozen=True)
class Config:
    """Hyper-parameters of :class:`EquiformerV2`; defaults are the OMat24 eqV2-S configuration (Trikha et al.)."""

    num_layers: int = 8  # transformer blocks
    sphere_channels: int = 128  # C, channels per degree (the width)
    attn_hidden_channels: int = 64  # hidden channels of the SO(2) convolutions in attention
    num_heads: int = 8
    attn_alpha_channels: int = 64  # per-head features of the attention logits
    attn_value_channels: int = 16  # per-head value channels
    ffn_hidden_channels: int = 128
    edge_channels: int = 128  # hidden width of the radial MLPs and of the per-edge element embeddings
    l_max: int = 4
    m_max: int = 2
    grid_resolution: int | None = 18  # S² grid (res × res); None: so3.S2Grid's minimal default
    num_radial: int = 600  # Gaussians on [0, cutoff]
    cutoff: float = 12.0  # Å
    max_neighbors: int | None = 20
    envelope_exponent: int = 5  # polynomial cutoff envelope
    avg_degree: float = 20.0  # divides the edge-degree embedding sum
    norm_type: str = "layer_norm_sh"  # or "rms_norm_sh"
    use_grid_mlp: bool = True  # FFN: grid MLP (True) or separable S² activation (False)
    num_elements: int = 96  # atomic numbers 1..num_elements
    stress: bool = False

    def __post_init__(self):
        check_config(self)  # numbers by type, naming the key (nnip.models._base)
        for name in (
            "num_layers", "sphere_channels", "attn_hidden_channels", "num_heads", "attn_alpha_channels",
            "attn_value_channels", "ffn_hidden_channels", "edge_channels", "num_radial", "num_elements",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"EquiformerV2: {name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.m_max <= self.l_max:
            raise ValueError(f"EquiformerV2: need 1 <= m_max <= l_max, got l_max={self.l_max}, m_max={self.m_max}")
        if self.norm_type not in ("layer_norm_sh", "rms_norm_sh"):
            raise ValueError(f"EquiformerV2: unknown norm_type {self.norm_type!r} (layer_norm_sh | rms_norm_sh)")
        if self.cutoff <= 0 or self.avg_degree <= 0:
            raise ValueError("EquiformerV2: cutoff and avg_degree must be positive")


def _rung(C: int, L: int, heads: int, alpha: int, value: int) -> dict:
    return dict(
        num_layers=L, sphere_channels=C, attn_hidden_channels=C, num_heads=heads, attn_alpha_channels=alpha,
        attn_value_channels=value, ffn_hidden_channels=C, edge_channels=C,
    )  # fmt: skip


class EquiformerV2(GraphModel):
    """EquiformerV2, direct forces: ``model(batch) -> {"energy": (G,), "forces": (N, 3)[, "stress": (G, 3, 3)]}``."""

    Config = Config
    WIDTH_FIELD = "sphere_channels"
    BASE_WIDTH = 20  # w_base: the ≈1M-parameter entry of LADDER (935,022 parameters; §3.3)
    symmetries = frozenset({"rotation", "translation", "permutation"})
    local = True
    smooth_cutoff = True
    #: Trikha et al.'s ladder shape (all hidden widths tied to C, depth growing with C), cut to ≈3k … 5M
    #: parameters; no counts are published for it (hence None). C = 20 (935k) is the ≈1M entry (base_width).
    LADDER: list[tuple[dict, int | None]] = [
        (_rung(1, 1, 1, 1, 1), None),  # 3,189
        (_rung(2, 2, 1, 1, 1), None),  # 9,844
        (_rung(4, 3, 1, 2, 2), None),  # 32,924
        (_rung(8, 4, 2, 4, 2), None),  # 121,522
        (_rung(12, 5, 2, 6, 4), None),  # 300,354
        (_rung(20, 6, 4, 10, 4), None),  # 935,022
        (_rung(32, 6, 4, 16, 8), None),  # 2,375,650
        (_rung(48, 6, 6, 24, 8), None),  # 5,342,066
    ]
    TEST_HPARAMS: dict = dict(
        num_layers=2, sphere_channels=4, attn_hidden_channels=4, num_heads=2, attn_alpha_channels=3,
        attn_value_channels=2, ffn_hidden_channels=6, edge_channels=4, l_max=2, m_max=1, grid_resolution=40,
        num_radial=16, cutoff=5.0, max_neighbors=16, avg_degree=12.0,
    )  # fmt: skip

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = self.config = config if config is not None else Config()
        C, L = cfg.sphere_channels, cfg.l_max
        self.radial_basis = GaussianBasis(cfg.num_radial, cfg.cutoff, coeff=0.125)  # fairchem: width 2 × spacing
        self.sphere_embedding = nn.Embedding(cfg.num_elements, C)
        self.edge_degree = EdgeDegreeEmbedding(
            C, L, cfg.num_radial, cfg.edge_channels, cfg.num_elements, cfg.avg_degree
        )
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.num_layers))
        self.norm = make_norm(cfg.norm_type, L, C)
        self.energy_head = FeedForward(C, cfg.ffn_hidden_channels, 1, L, cfg.grid_resolution, cfg.use_grid_mlp)
        self.force_head = GraphAttention(
            C, cfg.attn_hidden_channels, cfg.num_heads, cfg.attn_alpha_channels, cfg.attn_value_channels, 1, L,
            cfg.m_max, cfg.num_radial, cfg.edge_channels, cfg.num_elements, cfg.grid_resolution,
        )  # fmt: skip
        self.stress_head = Rank2Head(C, L) if cfg.stress else None
        self.register_buffer("order_m", m_order(L, cfg.m_max), persistent=False)
        self.register_buffer("order_0", m_order(L, 0), persistent=False)

    # --- forward ----------------------------------------------------------------------------------------------
    def geometry(self, batch: Batch) -> tuple[EdgeGeometry, torch.Tensor, torch.Tensor]:
        """Edge quantities shared by all blocks; also returns the edge vectors and unit vectors (E, 3)."""
        cfg = self.config
        src, dst = batch.edge_index
        vec = batch.edge_vectors()  # (E, 3) Å, differentiable in pos
        dist = vec.norm(dim=-1)
        unit = vec / dist.unsqueeze(-1)
        D = wigner_d_blocks(edge_rotation(vec), cfg.l_max)  # (E, K, K), Y(R x) = D Y(x)
        env = polynomial_envelope(dist, cfg.cutoff, cfg.envelope_exponent)  # (E,)
        g = EdgeGeometry(
            src=src, dst=dst, rbf=self.radial_basis(dist), env=env,
            wigner_m=D.index_select(1, self.order_m), wigner_0=D.index_select(1, self.order_0),
            atomic_index=batch.atomic_numbers - 1, num_atoms=batch.num_atoms,
        )  # fmt: skip
        return g, vec, unit

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg = self.config
        n, G, dtype = batch.num_atoms, batch.num_graphs, batch.pos.dtype
        g, vec, unit = self.geometry(batch)

        x = batch.pos.new_zeros(n, (cfg.l_max + 1) ** 2, cfg.sphere_channels)  # (N, K, C)
        x = torch.cat([self.sphere_embedding(g.atomic_index).to(dtype).unsqueeze(1), x[:, 1:]], dim=1)
        x = x + self.edge_degree(g)
        for block in self.blocks:
            x = block(x, g)
        x = self.norm(x)

        node_energy = self.energy_head(x)[:, 0, 0]  # (N,)
        forces = self.force_head(x, g)[:, 1:4, 0]  # (N, 3): l = 1 rows are (x, y, z)
        with torch.autocast(device_type=batch.pos.device.type, enabled=False):
            out = {"energy": scatter_sum(node_energy.to(dtype), batch.batch, G), "forces": forces.to(dtype)}
            if self.stress_head is not None:
                volume = torch.linalg.det(batch.cell.to(dtype)).abs()
                periodic = batch.pbc.any(-1) & (volume > 1e-9)
                volume = torch.where(periodic, volume, torch.ones_like(volume))
                sh = _spherical_harmonics(cfg.l_max, unit)
                out["stress"] = self.stress_head(x, g, sh, unit, batch.batch[g.dst], volume, G)
        return out


def _spherical_harmonics(l_max: int, unit: torch.Tensor) -> torch.Tensor:
    """e3nn real spherical harmonics ``Y_k(r̂)`` for ``l ≤ l_max`` ("component": ``|Y_l|² = 2l+1``), ``(E, K)``."""
    from e3nn import o3  # optional heavy: e3nn

    return o3.spherical_harmonics(list(range(l_max + 1)), unit, normalize=False, normalization="component")
