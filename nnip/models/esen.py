r"""eSEN, the equivariant Smooth Energy Network (Fu et al. 2025), as used by Ngo & Ravanbakhsh 2025 (§2.1 item 4;
App. C.4, eq. 13–22; Table 2; Table 5; Fig. 4).

Atom ``u`` carries irreps ``h_u = ⊕_{l ≤ l_max} h_{u,l}``, ``h_{u,l} ∈ R^{C} ⊗ V^{(l)}`` (eq. 13), stored as
``(n_atoms, (l_max+1)², C)`` (:mod:`nnip.nn.so3` layout, width ``w = (l_max+1)² C``). For every edge ``u → v`` a
rotation ``R_uv`` with ``R_uv r̂_uv = ŷ`` aligns the edge with the polar axis, so the SO(3) convolution of eq. (14)
reduces to an SO(2) linear map on orders ``|m| ≤ m_max`` (eq. 15–22). One of ``num_layers`` blocks is

.. math::

    \tilde h &= \mathrm{RMSNorm}(h), \qquad
    m_{u\to v} = u(\lVert r_{uv}\rVert)\, D(R_{uv})^{\top}\,
        \mathrm{SO2}_2\Big(\sigma_{\mathrm{gate}}\big(\mathrm{SO2}_1\big(D(R_{uv})[\tilde h_u \,\|\, \tilde h_v];\;
        \phi(e_{\mathrm{RBF}}(\lVert r_{uv}\rVert), z_u, z_v)\big)\big)\Big),\\
    h_v &\leftarrow h_v + \textstyle\sum_{u \in \mathcal N(v)} m_{u \to v}, \qquad
    h \leftarrow h + \mathrm{GridMLP}(\mathrm{RMSNorm}(h)),

where ``D(R)`` is the block Wigner-D matrix truncated to ``|m| ≤ m_max`` (eq. 22), ``SO2_1`` (``2C → H``) has its
inputs scaled per edge by a radial MLP ``φ`` of a Gaussian distance basis and source/target element embeddings
(eSCN's radial-conditioned weights) and emits ``l_max·H`` extra invariant gates, ``σ_gate`` is SiLU on ``l = 0``
and ``x_l ⊙ sigmoid(g_l)`` on ``l > 0``, ``SO2_2`` maps ``H → C``, ``u`` is the polynomial envelope (p = 5) that
makes messages vanish smoothly at the cutoff, and GridMLP evaluates a bias-free ``C → H → H → C`` SiLU MLP on an
S² grid. Initial features: ``h_{u,0} = E(z_u)`` plus an edge-degree embedding (a radial MLP's output placed on the
``m = 0`` rows in every edge frame, rotated back, enveloped and summed, / 5). After a final RMSNorm:
energy ``E = Σ_u w^T h_{u,0} + b`` (sum over atoms); **direct** forces ``F_u = W_1 h_{u,1}`` (a degree-wise
linear map to one channel; e3nn's ``l = 1`` block *is* ``(x, y, z)`` so ``D^1(R) = R``); with ``stress=True``
``σ = mean_u (s_u I + T(W_2 h_{u,2}))`` with ``T`` the ``l = 2 →`` symmetric-traceless 3×3 change of basis.

**Parameter count (Table 5, exact).** The published counts follow ``N(C) = 332 C² + 105 180 C + 15 746`` exactly,
which this layout reproduces to the parameter with: edge channels = ``C`` (the only way to get the C² term:
``12·(3 + 24) + 3 + 5 = 332`` from the radial MLPs), ``num_radial = 136`` Gaussians, ``num_elements = 100``
(the counts only fix ``13·num_radial + 3·num_elements = 2068``; fairchem's 100 elements gives 136),
gate activation (``l_max·H`` extra gate outputs), grid feed-forward, a linear energy head and fairchem's linear
force head ``SO3_Linear(C, 1, l_max=1)`` — whose ``l = 0`` row and bias (``C + 1`` parameters) feed nothing but
are part of the published N. ``N`` is the same for every ``grid_resolution``.

**Equivariance.** Energy is invariant and forces/stress equivariant by construction *except* for the S² grid of
GridMLP, whose pointwise SiLU aliases: at fairchem's grid (``2(l_max+1) × 2(l_max+1)+1``, the default here, as in
the paper) the relative rotation error of a randomly initialised model is ~1e-3 (C = 8, l_max = 4, ethanol, float64:
8e-4 on energies, 2e-3 on forces). It falls exponentially with ``grid_resolution`` (2e-10 at 40, 1e-15 at 60 for
l_max = 4; ``TEST_HPARAMS`` use 24 at l_max = 2: 1e-15), at a FLOP cost growing with the grid's size, and is zero
for ``ff_type="spectral"`` (SO(3)-linear + gate; different N). The edge frames' roll about the edge is a fixed gauge;
every edge-frame operation commutes with it, so outputs do not depend on it. Differences from fairchem (whose
code is not used): frames/Wigner-D by a closed form + Clebsch-Gordan recursion (no random roll, no Euler angles),
m-major index bookkeeping, the stress head (linear, ``2C+1`` parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from nnip.models._base import GraphModel, check_config
from nnip.data.batch import Batch
from nnip.nn import GaussianBasis, PolynomialEnvelope, scatter_sum
from nnip.nn import so3

__all__ = ["Config", "ESEN"]

_C_LADDER = (4, 8, 10, 12, 16, 20, 32)
_TABLE5 = (441_778, 878_434, 1_100_746, 1_325_714, 1_783_618, 2_252_146, 3_721_474)
_C_BASE = 10  # the ≈1M-parameter entry of Table 5 (1 100 746), w_base = (l_max+1)² · 10 (§3.3)


@dataclass(frozen=True)
class Config:
    """eSEN hyper-parameters (defaults: Table 5's architecture at its ≈1M-parameter width).

    Attributes:
        num_layers: eSEN blocks (depth 12 in Table 5).
        sphere_channels: ``C``, channels per irrep degree (the ladder's width knob).
        hidden_channels: ``H``, channels inside the SO(2) convolutions and the grid MLP (32).
        l_max: maximum degree (4 in Table 5; 2 and 3 in Fig. 4).
        m_max: maximum order kept in the edge frames (2, eq. 22).
        num_radial: Gaussians of the distance basis (136 reproduces Table 5).
        edge_channels: width of the radial MLPs and of the source/target element embeddings; ``None`` = ``C``.
        cutoff: neighbour radius and envelope cutoff, Å (App. D: 6).
        max_neighbors: nearest neighbours kept per atom (App. D: 30).
        num_elements: size of the element embeddings (atomic numbers ``< num_elements``).
        act_type: ``"gate"`` (eSEN default, exact) or ``"s2"`` (separable S² activation on the edge grid).
        ff_type: ``"grid"`` (eSEN default) or ``"spectral"`` (SO(3)-linear + gate, exactly equivariant).
        grid_resolution: S² grid for ``grid``/``s2`` (``None``: fairchem's ``2(l_max+1)`` latitudes; an even int).
        stress: also predict the stress tensor.
    """

    num_layers: int = 12
    sphere_channels: int = _C_BASE
    hidden_channels: int = 32
    l_max: int = 4
    m_max: int = 2
    num_radial: int = 136
    edge_channels: int | None = None
    cutoff: float = 6.0
    max_neighbors: int | None = 30
    num_elements: int = 100
    act_type: str = "gate"
    ff_type: str = "grid"
    grid_resolution: int | None = None
    stress: bool = False

    def __post_init__(self):
        check_config(self, zero_ok=('m_max',))  # numbers by type, naming the key (nnip.models._base)
        if not 0 <= self.m_max <= self.l_max or self.l_max < 1:
            raise ValueError(f"need 1 <= l_max and 0 <= m_max <= l_max, got {self.l_max}, {self.m_max}")
        if self.act_type not in ("gate", "s2"):
            raise ValueError(f"act_type must be 'gate' or 's2', got {self.act_type!r}")
        if self.ff_type not in ("grid", "spectral"):
            raise ValueError(f"ff_type must be 'grid' or 'spectral', got {self.ff_type!r}")
        if self.stress and self.l_max < 2:
            raise ValueError("stress=True needs l_max >= 2 (the traceless part lives in l = 2)")
        if self.grid_resolution is not None and self.grid_resolution % 2:
            raise ValueError(f"grid_resolution must be even (e3nn's latitude grid), got {self.grid_resolution}")
        for name in ("num_layers", "sphere_channels", "hidden_channels", "num_radial", "num_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def _ladder(l_max: int, counts=None) -> list[tuple[dict, int | None]]:
    counts = counts or (None,) * len(_C_LADDER)
    return [
        ({"num_layers": 12, "l_max": l_max, "m_max": 2, "sphere_channels": c, "hidden_channels": 32}, n)
        for c, n in zip(_C_LADDER, counts)
    ]


# ---------------------------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------------------------
class _EdgeDegreeEmbedding(nn.Module):
    """Radial MLP of the edge features → the ``m = 0`` rows of every degree in the edge frame, rotated back,
    enveloped (already folded into ``rot_out``) and summed over incoming edges, divided by ``rescale``."""

    def __init__(self, cfg: Config, edge_dims: list[int], rescale: float = 5.0):
        super().__init__()
        self.l_max, self.channels, self.rescale = cfg.l_max, cfg.sphere_channels, rescale
        self.rad_func = so3.RadialMLP([*edge_dims, (cfg.l_max + 1) * cfg.sphere_channels])

    def forward(self, x_edge, rot_out, dst, num_atoms, radial_hidden=None):
        radial = self.rad_func(x_edge) if radial_hidden is None else self.rad_func.forward_from_first(radial_hidden)
        m0 = radial.reshape(-1, self.l_max + 1, self.channels)  # (E, L+1, C)
        msg = torch.bmm(rot_out[:, :, : self.l_max + 1], m0)  # m = 0 rows come first in m-major order
        return so3.scatter_rows(msg, dst, num_atoms) / self.rescale


class _Edgewise(nn.Module):
    """Message of eq. (20)–(22): rotate ``[h_u ‖ h_v]`` into the edge frame, SO(2) conv (radial-conditioned) →
    gate / S² activation → SO(2) linear, rotate back with the envelope, sum over incoming edges. In training (no
    gradients through the edge frames) everything up to the second SO(2) map runs as one autograd node,
    :func:`so3.edge_message`, bit-identical to the composition below it."""

    def __init__(self, cfg: Config, edge_dims: list[int]):
        super().__init__()
        C, H, L, M = cfg.sphere_channels, cfg.hidden_channels, cfg.l_max, cfg.m_max
        order = so3.m_order(L, M)
        if cfg.act_type == "gate":
            self.act = so3.GateActivation(L, H, degrees=so3.degree_index(L)[order])
            extra = L * H
        else:
            self.act = so3.SeparableS2Activation(L, M, cfg.grid_resolution, order=order)
            extra = H
        self.conv1 = so3.SO2Convolution(2 * C, H, L, M, edge_dims=edge_dims, extra_m0_channels=extra)
        self.conv2 = so3.SO2Linear(H, C, L, M)

    def forward(self, x, x_edge, rot_in, rot_out, src, dst, radial_hidden=None):
        if not so3.use_reference(x) and so3.FUSED_EDGE_MESSAGE and not rot_in.requires_grad:
            # gather, rotate, conv1 -> activation -> conv2 as one node (so3.edge_message): the same function and
            # gradients bit for bit, without the (E, K, 2C) gathered tensor and the copies between the layers
            scale = self.conv1.radial_scale(x_edge, radial_hidden)
            msg = so3.edge_message(x, rot_in, src, dst, scale, self.conv1, self.act, self.conv2)
            if msg is not None:
                return so3.scatter_rows(torch.bmm(rot_out, msg), dst, x.shape[0])
        msg = so3.gather_edge_pairs(x, src, dst)  # (E, K, 2C)
        msg = torch.bmm(rot_in, msg)  # (E, K_m, 2C) edge frame, |m| <= m_max, m-major
        if isinstance(self.act, so3.GateActivation) and not so3.use_reference(msg):
            # conv1 -> gate -> conv2 on m-blocks: no cat/split (and no gathered gates) between them; same function
            parts, gates = self.conv1.forward_parts(
                self.conv1.split_parts(msg), self.conv1.radial_scale(x_edge, radial_hidden)
            )
            msg = so3.gated_so2_linear(self.act, self.conv2, gates, parts)  # keeps no gated blocks for backward
        else:
            msg, gates = self.conv1(msg, x_edge, radial_hidden)  # (E, K_m, H), (E, extra)
            msg = self.conv2(self.act(gates, msg))  # (E, K_m, C)
        msg = torch.bmm(rot_out, msg)  # (E, K, C) back to the global frame, times the envelope
        return so3.scatter_rows(msg, dst, x.shape[0])


class _SpectralAtomwise(nn.Module):
    """Exactly equivariant feed-forward: ``SO3Linear(C→H)`` → gate (gates: MLP of ``h_0``) → ``SO3Linear(H→C)``."""

    def __init__(self, cfg: Config):
        super().__init__()
        C, H, L = cfg.sphere_channels, cfg.hidden_channels, cfg.l_max
        self.scalar_mlp = nn.Sequential(nn.Linear(C, L * H), nn.SiLU())
        self.lin1, self.lin2 = so3.SO3Linear(C, H, L), so3.SO3Linear(H, C, L)
        self.act = so3.GateActivation(L, H)

    def forward(self, x):
        return self.lin2(self.act(self.scalar_mlp(x[:, 0]), self.lin1(x)))


class _Block(nn.Module):
    """Pre-norm residual block: ``h += Edgewise(RMSNorm(h))``; ``h += FeedForward(RMSNorm(h))``."""

    def __init__(self, cfg: Config, edge_dims: list[int]):
        super().__init__()
        C, L = cfg.sphere_channels, cfg.l_max
        self.norm1, self.norm2 = so3.EquivariantRMSNorm(L, C), so3.EquivariantRMSNorm(L, C)
        self.edgewise = _Edgewise(cfg, edge_dims)
        if cfg.ff_type == "grid":
            self.atomwise = so3.GridMLP(C, cfg.hidden_channels, L, cfg.grid_resolution)
        else:
            self.atomwise = _SpectralAtomwise(cfg)

    def forward(self, x, x_edge, rot_in, rot_out, src, dst, radial_hidden=None):
        x = x + self.edgewise(self.norm1(x), x_edge, rot_in, rot_out, src, dst, radial_hidden)
        return x + self.atomwise(self.norm2(x))


class _StressHead(nn.Module):
    """``σ_g = mean_{u ∈ g} (s_u I + T(W_2 h_{u,2}))``, ``s_u = w_0^T h_{u,0} + b``; ``T`` = ``√5 · wigner_3j(1,1,2)``
    maps the 5 ``l = 2`` components to a symmetric traceless 3×3 matrix with ``T(D² x) = R T(x) R^T``."""

    def __init__(self, channels: int):
        super().__init__()
        self.iso = nn.Linear(channels, 1)
        self.aniso = nn.Linear(channels, 1, bias=False)
        T = math.sqrt(5.0) * o3.wigner_3j(1, 1, 2, dtype=torch.float64, device="cpu")
        self.register_buffer("T", T, persistent=False)

    def forward(self, x, batch, num_graphs):
        iso = self.iso(x[:, 0]).squeeze(-1).to(x.dtype)  # (n,)
        aniso = self.aniso(x[:, 4:9]).squeeze(-1).to(x.dtype)  # (n, 5)
        count = torch.bincount(batch, minlength=num_graphs).clamp_min(1).to(iso.dtype)
        iso = scatter_sum(iso, batch, num_graphs) / count
        aniso = scatter_sum(aniso, batch, num_graphs) / count[:, None]
        eye = torch.eye(3, dtype=iso.dtype, device=iso.device)
        return iso[:, None, None] * eye + torch.einsum("ijk,gk->gij", self.T.to(aniso.dtype), aniso)


# ---------------------------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------------------------
class ESEN(GraphModel):
    """eSEN with direct energy/force(/stress) heads; see the module docstring for the update rule (eq. 13–22)."""

    Config = Config
    symmetries = frozenset({"rotation", "translation", "permutation"})
    local = True
    smooth_cutoff = True
    #: Table 5 (depth 12, l_max 4, m_max 2, hidden 32) with the published parameter counts
    LADDER: list[tuple[dict, int | None]] = _ladder(4, _TABLE5)
    #: Fig. 4's l_max = 2, 3 ladders (same C; the paper gives no counts) and Table 5
    LADDERS: dict[int, list[tuple[dict, int | None]]] = {2: _ladder(2), 3: _ladder(3), 4: _ladder(4, _TABLE5)}
    #: a tiny configuration for fast tests. The fine grid makes GridMLP's aliasing negligible so that float64
    #: symmetry checks see the exact operator; the default (paper) grid is covered in tests/models/test_esen.py
    TEST_HPARAMS: dict = {
        "num_layers": 2,
        "sphere_channels": 4,
        "hidden_channels": 8,
        "l_max": 2,
        "m_max": 1,
        "num_radial": 8,
        "grid_resolution": 24,
    }

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = config if config is not None else Config()
        self.config = cfg
        C, L, M = cfg.sphere_channels, cfg.l_max, cfg.m_max
        E = cfg.edge_channels if cfg.edge_channels is not None else C
        self.register_buffer("order", so3.m_order(L, M), persistent=False)

        self.sphere_embedding = nn.Embedding(cfg.num_elements, C)
        self.source_embedding = nn.Embedding(cfg.num_elements, E)
        self.target_embedding = nn.Embedding(cfg.num_elements, E)
        nn.init.uniform_(self.source_embedding.weight, -0.001, 0.001)
        nn.init.uniform_(self.target_embedding.weight, -0.001, 0.001)
        self.distance_expansion = GaussianBasis(cfg.num_radial, cfg.cutoff, start=0.0, coeff=0.125)
        self.envelope = PolynomialEnvelope(cfg.cutoff, exponent=5)
        edge_dims = [cfg.num_radial + 2 * E, E, E]

        self.edge_degree_embedding = _EdgeDegreeEmbedding(cfg, edge_dims)
        self.blocks = nn.ModuleList(_Block(cfg, edge_dims) for _ in range(cfg.num_layers))
        self.norm = so3.EquivariantRMSNorm(L, C)
        self.energy_head = nn.Linear(C, 1)
        self.force_head = so3.SO3Linear(C, 1, l_max=1)  # fairchem's layout: only its l = 1 output is used
        self.stress_head = _StressHead(C) if cfg.stress else None

    # --- contract properties (cutoff, max_neighbors from GraphModel) ---------------------------------------------
    @property
    def width(self) -> int:
        """Embedding width ``w = (l_max+1)² C`` (Table 5 caption), the width μP transfers the lr with."""
        return (self.config.l_max + 1) ** 2 * self.config.sphere_channels

    @property
    def base_width(self) -> int:
        """``w_base = (l_max+1)² · 10``: Table 5's ≈1M-parameter entry (C = 10, 1 100 746 parameters)."""
        return (self.config.l_max + 1) ** 2 * _C_BASE

    # --- forward ------------------------------------------------------------------------------------------------
    def _edge_geometry(self, batch: Batch):
        """Edge frames (float32 or better, outside autocast): rotate-in ``(E, K_m, K)``, rotate-out × envelope
        ``(E, K, K_m)`` and the radial basis ``(E, num_radial)``."""
        vec = batch.edge_vectors()
        with torch.autocast(device_type=vec.device.type, enabled=False):
            vec = vec.to(torch.promote_types(vec.dtype, torch.float32))
            dist = vec.norm(dim=-1)
            wigner = so3.wigner_d_blocks(so3.edge_rotation(vec), self.config.l_max)
            rot_in = wigner.index_select(1, self.order)  # (E, K_m, K)
            rot_out = rot_in.transpose(1, 2) * self.envelope(dist)[:, None, None]  # (E, K, K_m)
            rbf = self.distance_expansion(dist)  # (E, num_radial)
        return rot_in, rot_out, rbf

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        z, src, dst = batch.atomic_numbers, batch.edge_index[0], batch.edge_index[1]
        n, L = batch.num_atoms, self.config.l_max
        rot_in, rot_out, rbf = self._edge_geometry(batch)
        rbf = rbf.to(self.source_embedding.weight.dtype)
        x_edge = torch.cat([rbf, self.source_embedding(z[src]), self.target_embedding(z[dst])], dim=1)  # (E, K+2E)

        h0 = self.sphere_embedding(z)  # (n, C)
        x = torch.cat([h0.unsqueeze(1), h0.new_zeros(n, (L + 1) ** 2 - 1, h0.shape[-1])], dim=1)
        # the first layers of all radial MLPs (they read the same x_edge) as one product; per layer on the reference
        # path (autocast, FLOP counting: the counted FLOPs stay those of the per-layer code)
        radial = [self.edge_degree_embedding.rad_func, *(b.edgewise.conv1.rad_func for b in self.blocks)]
        hidden = (None,) * len(radial) if so3.use_reference(x_edge) else so3.fused_radial_inputs(radial, x_edge)
        x = x + self.edge_degree_embedding(x_edge, rot_out, dst, n, hidden[0])
        for block, h in zip(self.blocks, hidden[1:]):
            x = block(x, x_edge, rot_in, rot_out, src, dst, h)
        x = self.norm(x)

        dtype = batch.pos.dtype  # heads may run in bf16 under autocast; reduce and return in the input dtype
        atom_energy = self.energy_head(x[:, 0]).squeeze(-1).to(dtype)
        energy = scatter_sum(atom_energy, batch.batch, batch.num_graphs)
        forces = self.force_head(x[:, :4])[:, 1:4, 0].to(dtype)  # e3nn's l = 1 rows are (x, y, z)
        out = {"energy": energy, "forces": forces}
        if self.stress_head is not None:
            out["stress"] = self.stress_head(x, batch.batch, batch.num_graphs).to(dtype)
        return out

    def extra_repr(self) -> str:
        c = self.config
        return f"C={c.sphere_channels}, H={c.hidden_channels}, l_max={c.l_max}, m_max={c.m_max}, layers={c.num_layers}"
