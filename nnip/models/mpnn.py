r"""The unconstrained message-passing network of Ngo & Ravanbakhsh 2025 (§2.1 item 1; App. C, eq. 8–9; Table 3;
App. J / Fig. 15), after Duval et al. 2023 (FAENet): geometry enters the messages raw, with no symmetry constraint.

One of ``num_layers`` layers, for the message ``u → v`` with ``r_uv = x_u - x_v`` (eq. 8–9):

.. math::

    m_{u\to v} = \mathrm{SiLU}\big(W_m [h_u \,\|\, h_v \,\|\, r_{uv} \,\|\, \lVert r_{uv}\rVert] + b_m\big)
                 \odot e_{uv}, \qquad
    h_v \leftarrow h_v + \frac{1}{|\mathcal N(v)|} \sum_{u \in \mathcal N(v)} m_{u \to v},

with ``φ_m: R^{2w+4} → R^w`` and a FAENet edge embedding shared by all layers,
``e_uv = SiLU([W_r r_uv ‖ W_d g(‖r_uv‖)])`` (``W_r: R³ → R^{⌊w/2⌋}``, ``W_d: R^{136} → R^{⌈w/2⌉}``, ``g`` a
Gaussian basis). ``h⁽⁰⁾ = Emb(z)``. Energy ``E = Σ_v MLP_E(h_v)`` (``w → w → 1``); direct forces
``F_v = MLP_F(h_v)`` (``w → w → 3``): nothing constrains them to rotate with the input, which is the point.
With ``stress=True``, ``σ = sym(mean_v W_σ h_v)`` from a per-atom Voigt-6 head.

Symmetry: permutation-equivariant (mean aggregation, shared weights) and translation-invariant (only ``r_uv``);
*not* rotation-equivariant. ``translation_invariant=False`` (App. J) also feeds absolute positions,
``h⁽⁰⁾ = Emb(z) + W_x x_v``, and then only permutation symmetry remains. The model is local (cutoff graph) but not
smooth at the cutoff: the mean over neighbours jumps when one enters.

**Parameter count (Table 3, exact).** The paper lists only eq. (9) and the counts; the counts follow
``N(w) = 12w² + 131w + 4⌊w/2⌋ + 137⌈w/2⌉ + 4`` for all 15 entries (the three above 2²⁴ as the float32 rounding
of that integer, i.e. the published numbers went through a float32), which this layout reproduces exactly:
``100 w`` element embedding (``num_elements = 100``), ``4⌊w/2⌋ + 137⌈w/2⌉`` the edge embedding with 136
Gaussians (the same 100 elements and 136 Gaussians reproduce Table 5 for eSEN), ``5 (2w² + 5w)`` the message
layers and ``2w² + 6w + 4`` the two heads. The odd-width entries (375, 441, …) pin the ⌊w/2⌋/⌈w/2⌉ split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nnip.models._base import GraphModel, check_config
from nnip.data.batch import Batch
from nnip.nn import MLP, GaussianBasis, scatter_mean, scatter_sum

__all__ = ["Config", "MPNN", "TABLE3", "table3_params"]

#: Table 3 (depth 5): width → published trainable-parameter count
TABLE3: dict[int, int] = {
    128: 222_404,
    256: 838_020,
    320: 1_293_284,
    375: 1_763_133,
    441: 2_422_704,
    517: 3_311_714,
    607: 4_543_769,
    712: 6_226_800,
    835: 8_535_023,
    1150: 16_101_729,
    1349: 22_109_506,
    1583: 30_389_712,
    1857: 41_755_644,
    2179: 57_415_632,
    2557: 78_974_296,
}
_W_BASE = 256  # the ≈1M-parameter entry of Table 3 (838 020), w_base of μP (§3.3)


def table3_params(w: int, num_layers: int = 5, num_radial: int = 136, num_elements: int = 100) -> int:
    """Closed-form parameter count of :class:`MPNN` (default config, ``translation_invariant=True``, no stress)."""
    h1, h2 = w // 2, w - w // 2
    edge = 4 * h1 + (num_radial + 1) * h2
    return num_elements * w + edge + num_layers * (2 * w * w + 5 * w) + (w * w + 2 * w + 1) + (w * w + 4 * w + 3)


@dataclass(frozen=True)
class Config:
    """MPNN hyper-parameters (defaults: Table 3's architecture at its ≈1M-parameter width).

    Attributes:
        hidden_dim: ``w``, the node width (the ladder's knob).
        num_layers: message-passing layers (depth 5 in Table 3).
        num_radial: Gaussians of the edge embedding's distance basis (136 reproduces Table 3).
        num_elements: element embedding rows (atomic numbers ``< num_elements``).
        cutoff: neighbour radius, Å (App. D: 6).
        max_neighbors: nearest neighbours kept per atom (App. D: 30).
        translation_invariant: ``False`` also feeds absolute positions (App. J / Fig. 15).
        stress: also predict the stress tensor.
    """

    hidden_dim: int = _W_BASE
    num_layers: int = 5
    num_radial: int = 136
    num_elements: int = 100
    cutoff: float = 6.0
    max_neighbors: int | None = 30
    translation_invariant: bool = True
    stress: bool = False

    def __post_init__(self):
        check_config(self)  # numbers by type, naming the key (nnip.models._base)
        for name in ("hidden_dim", "num_layers", "num_radial", "num_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_dim < 2:
            raise ValueError(f"hidden_dim must be >= 2 (the edge embedding splits it in two), got {self.hidden_dim}")


class _EdgeEmbedding(nn.Module):
    """FAENet's edge embedding ``e_uv = SiLU([W_r r_uv ‖ W_d g(‖r_uv‖)])``, ``(n_edges, 3) -> (n_edges, w)``."""

    def __init__(self, width: int, num_radial: int, cutoff: float):
        super().__init__()
        self.rbf = GaussianBasis(num_radial, cutoff, start=0.0, coeff=0.125)
        self.lin_vec = nn.Linear(3, width // 2)
        self.lin_rbf = nn.Linear(num_radial, width - width // 2)
        self.act = nn.SiLU()

    def forward(self, vec: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        return self.act(torch.cat([self.lin_vec(vec), self.lin_rbf(self.rbf(dist))], dim=-1))


class _MessageLayer(nn.Module):
    """eq. (8)–(9): ``h_v += mean_u SiLU(W_m [h_u ‖ h_v ‖ r_uv ‖ |r_uv|]) ⊙ e_uv``.

    ``W_m [h_u ‖ h_v ‖ g] = W_src h_u + W_dst h_v + W_geo g`` is evaluated with the node parts per *atom* and
    gathered, which is the same function (and the same ``Linear(2w+4, w)`` parameters) at ~1/degree of the cost.
    """

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.phi_m = nn.Linear(2 * width + 4, width)
        self.act = nn.SiLU()

    def forward(self, h, geom, e, src, dst):
        w, W = self.width, self.phi_m.weight  # W: (w, 2w + 4)
        from_src = F.linear(h, W[:, :w])  # (n_atoms, w)
        from_dst = F.linear(h, W[:, w : 2 * w], self.phi_m.bias)  # (n_atoms, w)
        pre = from_src.index_select(0, src) + from_dst.index_select(0, dst) + F.linear(geom, W[:, 2 * w :])  # (n_edges, w)
        m = self.act(pre) * e  # (n_edges, w)
        return h + scatter_mean(m, dst, h.shape[0]).to(h.dtype)


class MPNN(GraphModel):
    """Unconstrained MPNN with direct energy/force(/stress) heads; see the module docstring (eq. 8–9, Table 3)."""

    Config = Config
    WIDTH_FIELD = "hidden_dim"
    BASE_WIDTH = _W_BASE  # w_base: Table 3's ≈1M-parameter entry (838 020 parameters)
    symmetries = frozenset({"permutation", "translation"})
    local = True
    smooth_cutoff = False
    #: Table 3 (depth 5) with the published parameter counts
    LADDER: list[tuple[dict, int | None]] = [({"hidden_dim": w, "num_layers": 5}, n) for w, n in TABLE3.items()]
    TEST_HPARAMS: dict = {"hidden_dim": 16, "num_layers": 2, "num_radial": 8}

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = config if config is not None else Config()
        self.config = cfg
        w = cfg.hidden_dim
        if not cfg.translation_invariant:
            # an instance attribute shadows the class-level declaration: only permutation symmetry remains
            self.symmetries = frozenset({"permutation"})
        self.embedding = nn.Embedding(cfg.num_elements, w)
        self.pos_embedding = None if cfg.translation_invariant else nn.Linear(3, w)
        self.edge_embedding = _EdgeEmbedding(w, cfg.num_radial, cfg.cutoff)
        self.layers = nn.ModuleList(_MessageLayer(w) for _ in range(cfg.num_layers))
        self.energy_head = MLP([w, w, 1])
        self.force_head = MLP([w, w, 3])
        self.stress_head = nn.Linear(w, 6) if cfg.stress else None

    # --- forward ------------------------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        src, dst = batch.edge_index
        vec = batch.edge_vectors()  # (n_edges, 3) r_uv = x_u - x_v (+ lattice shift)
        dist = vec.norm(dim=-1)  # (n_edges,)
        h = self.embedding(batch.atomic_numbers)  # (n_atoms, w)
        if self.pos_embedding is not None:
            h = h + self.pos_embedding(batch.pos.to(h.dtype))  # absolute positions (App. J)
        geom = torch.cat([vec, dist[:, None]], dim=-1).to(h.dtype)  # (n_edges, 4)
        e = self.edge_embedding(vec.to(h.dtype), dist.to(h.dtype))  # (n_edges, w)
        for layer in self.layers:
            h = layer(h, geom, e, src, dst)
        n_graphs, dtype = batch.num_graphs, batch.pos.dtype  # outputs in the batch's dtype (also under autocast)
        energy = scatter_sum(self.energy_head(h).squeeze(-1).to(dtype), batch.batch, n_graphs)  # (n_graphs,)
        out = {"energy": energy, "forces": self.force_head(h).to(dtype)}  # forces (n_atoms, 3)
        if self.stress_head is not None:
            voigt = scatter_mean(self.stress_head(h).to(dtype), batch.batch, n_graphs)  # (n_graphs, 6)
            out["stress"] = _voigt_to_matrix(voigt)
        return out

    def extra_repr(self) -> str:
        c = self.config
        return f"hidden_dim={c.hidden_dim}, num_layers={c.num_layers}, translation_invariant={c.translation_invariant}"


def _voigt_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """``(..., 6)`` Voigt ``(xx, yy, zz, yz, xz, xy)`` → symmetric ``(..., 3, 3)``."""
    xx, yy, zz, yz, xz, xy = v.unbind(-1)
    rows = [torch.stack([xx, xy, xz], -1), torch.stack([xy, yy, yz], -1), torch.stack([xz, yz, zz], -1)]
    return torch.stack(rows, dim=-2)
