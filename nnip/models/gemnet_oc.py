r"""GemNet-OC (Gasteiger et al. 2022), the invariant-scalar, directional message-passing model of Ngo & Ravanbakhsh
2025 (§2.1; App. C.2, eq. 10; Table 2; Table 6; footnote 4; App. D).

Embeddings live on atoms ``h_a ∈ R^w`` and on directed edges ``m_ca ∈ R^w`` (``w = hidden_dim``). Every geometric
input is E(3)-invariant: distances through a radial basis ``e_RBF(d)`` times a polynomial envelope (p = 5), bond
angles through ``Y_l^0(cos ∠cab)`` (``l < num_spherical``) and, with the quadruplet option, dihedral angles. One
interaction block updates the edges with triplet messages (eq. 10 with the sum over ``k`` only),

.. math::

    m_{ca} \leftarrow \mathrm{Res}\Big(\tfrac{1}{\sqrt 2}\Big[m_{ca} + \mathrm{Res}\big(\tfrac{1}{\sqrt 2}
    \big[W m_{ca} + \textstyle\sum_{b \in \mathcal N(a) \setminus \{c\}} \phi(m_{ba}, d_{ba}, d_{ca},
    \angle cab)\big]\big)\Big]\Big),

then the atoms from their incoming edges (``h_a ← (h_a + Res(Σ_c m_ca ⊙ W e_RBF(d_ca)))/√2``) and the edges again
from their two atoms (``m_ca ← (m_ca + Res(W[h_c, h_a, m_ca]))/√2``). The four-body term of eq. (10) —
``Σ_{d} φ(m_db, d_ba, ∠abd, d_ca, ∠cab, ω_cabd)`` over quadruplets ``d → b → a ← c`` — is
``quad_interaction=True``; atom→edge, edge→atom and atom→atom interactions are further options, each on its own
cutoff/neighbour-capped sub-graph. After the embedding and after every block an output block maps
``(h, m)`` to atom features (energy) and edge features (forces); their concatenation over blocks passes two
residual layers, then ``E = Σ_a W x_a`` and direct forces ``F_a = Σ_c f_ca r̂_ca`` with a scalar ``f_ca`` per edge
(``r̂_ca`` the unit vector from ``a`` towards ``c``), so energy is invariant and forces equivariant by construction.
``stress=True`` adds ``σ = (1/V) Σ_ca s_ca r̂_ca ⊗ r̂_ca`` per graph (symmetric; ``V = 1`` without periodicity).

**Parameter count and the four-body question.** Table 2 calls GemNet-OC four-body, but Table 6's counts follow
exactly ``N(w) = 194 w² + 885 w + 86 016`` (312 992 … 8 340 060), which this implementation reproduces with
num_spherical 7, num_radial 128, emb_size_trip_in/out 32, emb_size_rbf/cbf 16, 2+2 residual layers around the
skip, 1 concat layer, 3 atom-update layers, 3 output layers after the atom skip, 2 global output layers,
83 elements, direct forces and **quadruplet, atom→edge, edge→atom and atom→atom interactions all off** (each of
them adds parameters). So the paper's runs used triplets only; the quadruplet block is available as an option.

**Scale factors** (footnote 4): GemNet-OC has no LayerNorm; a :class:`ScaleFactor` after every scaled sum is fitted
on a few batches by :func:`fit_scale_factors` (unit output variance, one factor at a time in forward order). They
are buffers (in ``state_dict``, not in N).

**Graph** (App. D): the batch is collated with ``model.cutoff`` / ``model.max_neighbors`` (10 Å / 50 by default;
the maximum over the enabled sub-graphs). Inside ``forward`` the main graph is re-selected (``cutoff``,
``max_neighbors``) and symmetrised by adding missing reverse edges (a neighbour cap can break symmetry; the union
keeps permutation equivariance), so an atom may have more than ``max_neighbors`` edges. The quadruplet
(``cutoff_qint``, ``max_neighbors_qint``), atom–edge (``*_aeaint``) and atom–atom (``*_aint``) sub-graphs are
filtered from the batch's edges by distance and capped, so **the batch graph must be built with a cutoff and a
neighbour cap at least as large as every enabled one** (``model.cutoff``, ``model.max_neighbors`` are exactly that).

Differences from fairchem's implementation (not its code, which is not used): reverse-edge union instead of
half-edge selection; scale factors target unit variance rather than the variance of a reference tensor; the
quadruplet basis is always the Legendre outer product ``Y_l^0(cos ∠cab) Y_l'^0(cos ω)`` (fairchem's OC20 choice);
no charge/spin embedding; spherical-Bessel frequencies are fixed; the dihedral is unsigned. Neighbour caps applied
inside the model break exact distance ties by edge order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from nnip.data.batch import Batch
from nnip.models._base import check_config
from nnip.models._gemnet_blocks import (
    BasisEmbedding,
    Context,
    Dense,
    EdgeEmbedding,
    Graph,
    InteractionBlock,
    OutputBlock,
    RadialBasis,
    Residual,
    ScaleFactor,
    cos_angle,
    cos_dihedral,
    legendre_basis,
    make_pairs,
    mixed_triplets,
    quadruplets,
    select_edges,
    symmetrize,
    triplets,
)
from nnip.nn import scatter_sum

__all__ = ["Config", "GemNetOC", "ScaleFactor", "fit_scale_factors", "triplets", "quadruplets"]

#: Table 6: width w (= emb_size_atom = emb_size_edge) and published parameter count, depth 4.
_TABLE6 = [
    (32, 312_992), (48, 575_472), (64, 937_280), (80, 1_398_416), (96, 1_958_880), (112, 2_618_672),
    (128, 3_377_792), (144, 4_236_240), (160, 5_194_016), (176, 6_251_120), (192, 7_407_552), (204, 8_340_060),
]  # fmt: skip


@dataclass(frozen=True)
class Config:
    """Hyper-parameters of :class:`GemNetOC`; defaults are the Table 6 configuration at w = 64 (≈1M)."""

    num_layers: int = 4  # interaction blocks (num_blocks)
    hidden_dim: int = 64  # w = emb_size_atom = emb_size_edge
    num_radial: int = 128
    num_spherical: int = 7
    emb_size_trip_in: int = 32
    emb_size_trip_out: int = 32
    emb_size_quad_in: int = 32
    emb_size_quad_out: int = 32
    emb_size_aint_in: int = 64
    emb_size_aint_out: int = 64
    emb_size_rbf: int = 16
    emb_size_cbf: int = 16
    emb_size_sbf: int = 32
    num_before_skip: int = 2
    num_after_skip: int = 2
    num_concat: int = 1
    num_atom: int = 3  # residual layers of the atom update (and of the output blocks before the atom skip)
    num_output_afteratom: int = 3
    num_atom_emb_layers: int = 0
    num_global_out_layers: int = 2
    cutoff: float = 10.0  # Å, main graph (App. D)
    max_neighbors: int | None = 50
    rbf: str = "gaussian"  # or "spherical_bessel"
    envelope_exponent: int = 5
    quad_interaction: bool = False
    cutoff_qint: float | None = None  # None: same as cutoff
    max_neighbors_qint: int | None = None  # None: same as max_neighbors
    atom_edge_interaction: bool = False
    edge_atom_interaction: bool = False
    atom_interaction: bool = False
    cutoff_aeaint: float | None = None
    max_neighbors_aeaint: int | None = None
    cutoff_aint: float | None = None
    max_neighbors_aint: int | None = None
    num_elements: int = 83  # atomic numbers 1..num_elements
    stress: bool = False

    def __post_init__(self):
        check_config(self, zero_ok=(  # numbers by type, naming the key (nnip.models._base); these may be 0
            "num_atom_emb_layers", "num_before_skip", "num_after_skip", "num_global_out_layers",
            "num_output_afteratom", "num_atom",
        ))
        for name in ("num_layers", "hidden_dim", "num_radial", "num_spherical", "emb_size_rbf", "emb_size_cbf"):
            if getattr(self, name) < 1:
                raise ValueError(f"GemNetOC: {name} must be >= 1, got {getattr(self, name)}")
        if self.rbf not in ("gaussian", "spherical_bessel"):
            raise ValueError(f"GemNetOC: rbf must be 'gaussian' or 'spherical_bessel', got {self.rbf!r}")

    def graph(self, which: str) -> tuple[float, int | None]:
        """``(cutoff, max_neighbors)`` of sub-graph ``which`` in {"main", "qint", "aeaint", "aint"}."""
        if which == "main":
            return self.cutoff, self.max_neighbors
        c, k = getattr(self, f"cutoff_{which}"), getattr(self, f"max_neighbors_{which}")
        return (self.cutoff if c is None else c), (self.max_neighbors if k is None else k)

    def enabled_graphs(self) -> list[str]:
        out = ["main"]
        out += ["qint"] * self.quad_interaction
        out += ["aeaint"] * (self.atom_edge_interaction or self.edge_atom_interaction)
        out += ["aint"] * self.atom_interaction
        return out


class GemNetOC(nn.Module):
    """GemNet-OC with direct forces; ``model(batch) -> {"energy": (G,), "forces": (N, 3)[, "stress": (G, 3, 3)]}``."""

    Config = Config
    symmetries = frozenset({"rotation", "translation", "permutation"})
    local = True
    smooth_cutoff = True
    LADDER: list[tuple[dict, int | None]] = [({"num_layers": 4, "hidden_dim": w}, n) for w, n in _TABLE6]
    TEST_HPARAMS: dict = dict(
        num_layers=2, hidden_dim=16, num_radial=8, num_spherical=3, emb_size_trip_in=8, emb_size_trip_out=8,
        emb_size_quad_in=4, emb_size_quad_out=4, emb_size_aint_in=4, emb_size_aint_out=4, emb_size_rbf=4,
        emb_size_cbf=4, emb_size_sbf=4, num_before_skip=1, num_after_skip=1, num_atom=1, num_output_afteratom=1,
        num_global_out_layers=1, cutoff=5.0, max_neighbors=20,
    )  # fmt: skip

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = self.config = config if config is not None else Config()
        w, R, S, B = cfg.hidden_dim, cfg.num_radial, cfg.num_spherical, cfg.num_layers
        rbf = lambda c: RadialBasis(R, c, cfg.rbf, cfg.envelope_exponent)  # noqa: E731 (no parameters)
        self.radial_basis = rbf(cfg.cutoff)
        # shared basis projections (gradients scaled by 1/number of users, as in GemNet-OC)
        self.mlp_rbf_tint = Dense(R, cfg.emb_size_rbf, grad_scale=1 / B)
        self.mlp_cbf_tint = BasisEmbedding(R, cfg.emb_size_cbf, S, grad_scale=1 / B)
        self.mlp_rbf_h = Dense(R, cfg.emb_size_rbf, grad_scale=1 / B)
        self.mlp_rbf_out = Dense(R, cfg.emb_size_rbf, grad_scale=1 / (B + 1))
        if cfg.quad_interaction:
            self.radial_qint = rbf(cfg.graph("qint")[0])
            self.mlp_rbf_qint = Dense(R, cfg.emb_size_rbf, grad_scale=1 / B)
            self.mlp_cbf_qint = BasisEmbedding(R, cfg.emb_size_cbf, S, grad_scale=1 / B)
            self.mlp_sbf_qint = BasisEmbedding(R, cfg.emb_size_sbf, S * S, grad_scale=1 / B)
        if cfg.atom_edge_interaction or cfg.edge_atom_interaction:
            self.radial_aeaint = rbf(cfg.graph("aeaint")[0])
        if cfg.atom_edge_interaction:
            self.mlp_rbf_aeint = Dense(R, cfg.emb_size_rbf, grad_scale=1 / B)
            self.mlp_cbf_aeint = BasisEmbedding(R, cfg.emb_size_cbf, S, grad_scale=1 / B)
        if cfg.edge_atom_interaction:
            self.mlp_rbf_eaint = Dense(R, cfg.emb_size_rbf, grad_scale=1 / B)
            self.mlp_cbf_eaint = BasisEmbedding(R, cfg.emb_size_cbf, S, grad_scale=1 / B)
        if cfg.atom_interaction:
            self.radial_aint = rbf(cfg.graph("aint")[0])
            self.mlp_rbf_aint = BasisEmbedding(R, cfg.emb_size_rbf, grad_scale=1 / B)

        self.atom_emb = nn.Embedding(cfg.num_elements, w)
        nn.init.uniform_(self.atom_emb.weight, -math.sqrt(3), math.sqrt(3))
        self.edge_emb = EdgeEmbedding(w, R, w)
        self.int_blocks = nn.ModuleList(
            InteractionBlock(
                w, cfg.emb_size_trip_in, cfg.emb_size_trip_out, cfg.emb_size_quad_in, cfg.emb_size_quad_out,
                cfg.emb_size_aint_in, cfg.emb_size_aint_out, cfg.emb_size_rbf, cfg.emb_size_cbf, cfg.emb_size_sbf,
                cfg.num_before_skip, cfg.num_after_skip, cfg.num_concat, cfg.num_atom, cfg.num_atom_emb_layers,
                cfg.quad_interaction, cfg.atom_edge_interaction, cfg.edge_atom_interaction, cfg.atom_interaction,
            )  # fmt: skip
            for _ in range(B)
        )
        self.out_blocks = nn.ModuleList(
            OutputBlock(w, w, cfg.emb_size_rbf, cfg.num_atom, cfg.num_output_afteratom) for _ in range(B + 1)
        )
        head = lambda: nn.Sequential(  # noqa: E731
            Dense(w * (B + 1), w, act=True), *[Residual(w) for _ in range(cfg.num_global_out_layers)]
        )
        self.out_mlp_E, self.out_mlp_F = head(), head()
        self.out_energy, self.out_forces = Dense(w, 1), Dense(w, 1)
        self.out_stress = Dense(w, 1) if cfg.stress else None

    # --- contract properties --------------------------------------------------------------------------------
    @property
    def cutoff(self) -> float:
        """Radius the batch graph must be built with: the largest enabled sub-graph cutoff (Å)."""
        return max(self.config.graph(g)[0] for g in self.config.enabled_graphs())

    @property
    def max_neighbors(self) -> int | None:
        caps = [self.config.graph(g)[1] for g in self.config.enabled_graphs()]
        return None if any(k is None for k in caps) else max(caps)

    @property
    def width(self) -> int:
        return self.config.hidden_dim

    @property
    def base_width(self) -> int:
        return 64  # Table 6: w = 64 has 937,280 parameters, the ≈1M entry (§3.3)

    # --- scale factors (footnote 4) ---------------------------------------------------------------------------
    def scale_factors(self) -> dict[str, float]:
        """``{module name: factor}`` of every :class:`ScaleFactor`, in module order."""
        return {n: float(m.scale_factor) for n, m in self.named_modules() if isinstance(m, ScaleFactor)}

    def fit_scale_factors(self, batches: Iterable[Batch]) -> dict[str, float]:
        """See :func:`fit_scale_factors`."""
        return fit_scale_factors(self, batches)

    # --- graphs, indices and bases ----------------------------------------------------------------------------
    def _context(self, raw: Graph, n: int) -> tuple[Context, torch.Tensor]:
        cfg, S = self.config, self.config.num_spherical
        g = symmetrize(select_edges(raw, *cfg.graph("main"), n), n)
        rbf_raw = self.radial_basis(g.dist)  # (E, R)
        sph_pad = lambda sph, p: p.pad(sph).transpose(1, 2)  # noqa: E731  (T, S) -> (n_out, S, K)
        trip = triplets(g, n)
        cos_cab = cos_angle(g.unit[trip.out], g.unit[trip.inp])
        c = Context(
            main=g, num_atoms=n, trip=trip, rbf_tint=self.mlp_rbf_tint(rbf_raw),
            cbf_tint=(self.mlp_cbf_tint(rbf_raw), sph_pad(legendre_basis(cos_cab, S), trip)),
            rbf_h=self.mlp_rbf_h(rbf_raw),
        )  # fmt: skip
        if cfg.quad_interaction:
            qg = select_edges(raw, *cfg.graph("qint"), n)
            q = c.quad = quadruplets(g, qg, n)
            c.rbf_qint = self.mlp_rbf_qint(rbf_raw)
            cos_abd = cos_angle(-qg.unit[q.trip_in.out], g.unit[q.trip_in.inp])  # angle at b between a and d
            rad = self.mlp_cbf_qint(self.radial_qint(qg.dist)).index_select(0, q.trip_in.out)  # (T_in, C, S)
            c.cir_qint = (rad @ legendre_basis(cos_abd, S).unsqueeze(-1).to(rad.dtype)).squeeze(-1)  # (T_in, C)
            e_ca, e_db = q.quad.out, q.trip_in.inp[q.quad.inp]
            u_ba = qg.unit[q.trip_in.out[q.quad.inp]]
            cab = legendre_basis(cos_angle(g.unit[e_ca], u_ba), S)  # (Q, S)
            dih = legendre_basis(cos_dihedral(g.unit[e_ca], u_ba, g.unit[e_db]), S)  # (Q, S)
            sph = (cab.unsqueeze(-1) * dih.unsqueeze(-2)).flatten(1)  # (Q, S²)
            c.sbf_qint = (self.mlp_sbf_qint(rbf_raw), sph_pad(sph, q.quad))
        if cfg.atom_edge_interaction or cfg.edge_atom_interaction:
            ag = c.aeaint = select_edges(raw, *cfg.graph("aeaint"), n)
            rbf_ae = self.radial_aeaint(ag.dist)
        if cfg.atom_edge_interaction:  # b -> a (aeaint, from atom b) into c -> a (main)
            t = c.trip_a2e = mixed_triplets(ag, g, n)
            c.rbf_a2e = self.mlp_rbf_aeint(rbf_ae)
            sph = legendre_basis(cos_angle(g.unit[t.out], ag.unit[t.inp]), S)
            c.cbf_a2e = (self.mlp_cbf_aeint(rbf_raw), sph_pad(sph, t))
        if cfg.edge_atom_interaction:  # b -> a (main) into c -> a (aeaint), then summed onto atom a
            t = c.trip_e2a = mixed_triplets(g, ag, n)
            c.rbf_e2a = self.mlp_rbf_eaint(rbf_raw)
            sph = legendre_basis(cos_angle(ag.unit[t.out], g.unit[t.inp]), S)
            c.cbf_e2a = (self.mlp_cbf_eaint(rbf_ae), sph_pad(sph, t))
        if cfg.atom_interaction:
            aa = c.aint = select_edges(raw, *cfg.graph("aint"), n)
            p = c.pairs_aint = make_pairs(torch.arange(len(aa), device=aa.dst.device), aa.dst, aa.dst >= 0, n)
            c.rad_aint = sph_pad(self.mlp_rbf_aint(self.radial_aint(aa.dist)), p)  # (N, d_rbf, K)
        return c, rbf_raw

    # --- forward ----------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        n, G = batch.num_atoms, batch.num_graphs
        j, i = batch.edge_index
        raw = Graph(j, i, batch.cell_shift.round().long(), batch.edge_vectors())
        c, rbf_raw = self._context(raw, n)
        g = c.main

        h = self.atom_emb(batch.atomic_numbers - 1)  # (N, w)
        m = self.edge_emb(h, rbf_raw, g)  # (E, w)
        rbf_out = self.mlp_rbf_out(rbf_raw)
        x_e, x_f = self.out_blocks[0](h, m, rbf_out, g.dst, n)
        xs_e, xs_f = [x_e], [x_f]
        for block, out in zip(self.int_blocks, self.out_blocks[1:]):
            h, m = block(h, m, c)
            x_e, x_f = out(h, m, rbf_out, g.dst, n)
            xs_e.append(x_e)
            xs_f.append(x_f)
        x_e = self.out_mlp_E(torch.cat(xs_e, dim=-1))  # (N, w)
        x_f = self.out_mlp_F(torch.cat(xs_f, dim=-1))  # (E, w)

        dtype = batch.pos.dtype
        with torch.autocast(device_type=batch.pos.device.type, enabled=False):
            x_f = x_f.to(dtype)
            energy = scatter_sum(self.out_energy(x_e.to(dtype)).squeeze(-1), batch.batch, G)  # (G,)
            forces = scatter_sum(self.out_forces(x_f) * g.unit, g.dst, n)  # (N, 3)
            out = {"energy": energy, "forces": forces}
            if self.out_stress is not None:
                s = self.out_stress(x_f).unsqueeze(-1) * g.unit.unsqueeze(-1) * g.unit.unsqueeze(-2)  # (E, 3, 3)
                volume = torch.linalg.det(batch.cell.to(dtype)).abs()
                periodic = batch.pbc.any(-1) & (volume > 1e-9)
                volume = torch.where(periodic, volume, torch.ones_like(volume))
                out["stress"] = scatter_sum(s, batch.batch[g.dst], G) / volume[:, None, None]
        return out


class _Observed(Exception):
    """Raised by a scale-factor observer to stop a forward pass once its activation has been seen."""


@torch.no_grad()
def fit_scale_factors(model: nn.Module, batches: Iterable[Batch]) -> dict[str, float]:
    """Fit every :class:`ScaleFactor` of ``model`` so that its output has unit variance on ``batches`` (footnote 4).

    Factors are fitted one at a time in forward order: reset to 1, run the batches (each forward stops right after
    the factor's output), set ``s = 1 / sqrt(Var)`` with ``Var`` the per-feature variance over rows, averaged over
    features and pooled over batches (weighted by rows), then move on — so each factor sees the already-normalised
    activations of the earlier ones. Factors that see no rows (e.g. no quadruplets in the data) stay at 1.
    Returns :meth:`GemNetOC.scale_factors`; the factors live in ``state_dict()``.
    """
    batches = list(batches)
    modules = {n: m for n, m in model.named_modules() if isinstance(m, ScaleFactor)}
    order: list[str] = []
    for name, mod in modules.items():
        mod.observer = lambda y, name=name: order.append(name) if name not in order else None
    try:
        for b in batches:
            model(b)
    finally:
        for mod in modules.values():
            mod.observer = None
    for name in order:
        mod, stats = modules[name], [0.0, 0]
        mod.scale_factor.fill_(1.0)

        def observe(y: torch.Tensor, stats=stats):
            y = y.detach().double().reshape(y.shape[0], -1)
            if y.shape[0] > 0:
                stats[0] += float(y.var(dim=0, correction=0).mean()) * y.shape[0]
                stats[1] += y.shape[0]
            raise _Observed

        mod.observer = observe
        try:
            for b in batches:
                try:
                    model(b)
                except _Observed:
                    pass
        finally:
            mod.observer = None
        if stats[1] > 0 and stats[0] > 0:
            mod.scale_factor.fill_(1.0 / math.sqrt(stats[0] / stats[1]))
    return {n: float(m.scale_factor) for n, m in modules.items()}
