r"""A vanilla GPT-style encoder over atoms as tokens (Ngo & Ravanbakhsh 2025, App. K / Fig. 16; Trikha et al. 2025).

The structure is a set of tokens, one per atom: ``t_v = W_in [Emb(z_v) ‖ x_v] + b`` (raw Cartesian coordinates
concatenated to the element embedding and projected to ``d_model``), followed by ``num_layers`` pre-LN blocks

.. math::

    t \leftarrow t + \mathrm{MHA}(\mathrm{LN}(t)), \qquad
    t \leftarrow t + W_2\,\mathrm{GELU}(W_1 \mathrm{LN}(t)), \quad W_1: d \to 4d,

with global multi-head self-attention over *all* atoms of the same structure (structures are padded to the
largest one in the batch and padding is masked out of the keys), a final LayerNorm and per-atom linear heads:
energy ``E = Σ_v w_Eᵀ t_v + b`` (summed), direct forces ``F_v = W_F t_v``, and with ``stress=True`` a per-atom Voigt
6-vector averaged over the structure's atoms (stress is intensive) and made a symmetric 3×3.

No locality and no geometric symmetry: the model ignores the neighbour graph (``local = False``; ``cutoff`` and
``max_neighbors`` only tell the data pipeline what batch to build) and sees absolute coordinates, so it is neither
translation- nor rotation-invariant; only permutation equivariance (no positional encoding) holds.

Ladder (Trikha et al. 2025 give sizes only as "up to 1.2M"): ``d_model`` 8 → 176, depth 1 → 3, 1–2 heads, ff ×4,
from ≈1.8k to ≈1.17M parameters, ``N = L(12d² + 13d) + d² + (num_elements + 10) d + 4``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nnip.models._base import GraphModel, check_config
from nnip.data.batch import Batch
from nnip.nn import scatter_mean

__all__ = ["Config", "Transformer", "transformer_params"]

#: (d_model, num_layers, num_heads), smallest first
_LADDER = [
    (8, 1, 1), (16, 1, 1), (32, 1, 2), (64, 2, 2), (96, 2, 2), (128, 2, 2), (128, 3, 2), (160, 3, 2), (176, 3, 2)
]
_D_BASE = 160  # w_base: the ≈1M-parameter entry of the ladder (160 × 3 layers, 971 044 parameters)


def transformer_params(d_model: int, num_layers: int, ff_mult: int = 4, num_elements: int = 100) -> int:
    """Closed-form parameter count (no stress head)."""
    d, f = d_model, ff_mult * d_model
    block = 4 * d + (4 * d * d + 4 * d) + (2 * d * f + f + d)  # 2 LayerNorms, attention (qkv + out), feed-forward
    return num_layers * block + num_elements * d + ((d + 3) * d + d) + 2 * d + (d + 1) + (3 * d + 3)


@dataclass(frozen=True)
class Config:
    """Transformer hyper-parameters (defaults: the ladder's ≈1M-parameter entry).

    Attributes:
        d_model: token width (the ladder's width knob).
        num_layers: encoder blocks.
        num_heads: attention heads (``d_model`` must be divisible by it).
        ff_mult: feed-forward expansion (4, GPT).
        num_elements: element embedding rows (atomic numbers ``< num_elements``).
        dropout: dropout on attention weights and residual branches (0 in the ladders).
        cutoff, max_neighbors: the graph the data pipeline builds; the model ignores edges.
        stress: also predict the stress tensor.
    """

    d_model: int = _D_BASE
    num_layers: int = 3
    num_heads: int = 2
    ff_mult: int = 4
    num_elements: int = 100
    dropout: float = 0.0
    cutoff: float = 6.0
    max_neighbors: int | None = 30
    stress: bool = False

    def __post_init__(self):
        check_config(self, zero_ok=('dropout',))  # numbers by type, naming the key (nnip.models._base)
        for name in ("d_model", "num_layers", "num_heads", "ff_mult", "num_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class _Block(nn.Module):
    """Pre-LN encoder block: ``t += MHA(LN(t))``, ``t += FF(LN(t))`` on ``(n_graphs, max_n, d)`` with a key mask."""

    def __init__(self, cfg: Config):
        super().__init__()
        d = cfg.d_model
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, t: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        G, n, d = t.shape
        q, k, v = self.qkv(self.ln1(t)).view(G, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )  # (G, heads, n, d_head)
        t = t + self.drop(self.proj(a.transpose(1, 2).reshape(G, n, d)))
        return t + self.drop(self.ff(self.ln2(t)))


class Transformer(GraphModel):
    """GPT-style encoder over atoms with direct energy/force(/stress) heads; see the module docstring (App. K)."""

    Config = Config
    WIDTH_FIELD = "d_model"
    BASE_WIDTH = _D_BASE  # w_base: the ladder's ≈1M-parameter entry (971 044 parameters)
    symmetries = frozenset({"permutation"})
    local = False
    smooth_cutoff = False
    #: d_model 8…176, depth 1–3, heads 1–2 (≈1.8k → 1.17M parameters); Trikha et al. publish no exact counts
    LADDER: list[tuple[dict, int | None]] = [
        ({"d_model": d, "num_layers": L, "num_heads": H}, None) for d, L, H in _LADDER
    ]
    TEST_HPARAMS: dict = {"d_model": 16, "num_layers": 2, "num_heads": 2}

    def __init__(self, config: Config | None = None):
        super().__init__()
        cfg = config if config is not None else Config()
        self.config = cfg
        d = cfg.d_model
        self.embedding = nn.Embedding(cfg.num_elements, d)
        self.input_proj = nn.Linear(d + 3, d)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.num_layers))
        self.ln_f = nn.LayerNorm(d)
        self.energy_head = nn.Linear(d, 1)
        self.force_head = nn.Linear(d, 3)
        self.stress_head = nn.Linear(d, 6) if cfg.stress else None

    # --- forward ------------------------------------------------------------------------------------------------
    @staticmethod
    def dense_layout(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(graph, slot, max_n)``: atom ``a`` sits at ``[graph[a], slot[a]]`` of a ``(n_graphs, max_n)`` padded
        layout (atoms of a structure are contiguous, as :func:`~nnip.data.collate` builds them)."""
        natoms = batch.natoms.to(batch.batch.device)
        ptr = torch.cumsum(natoms, 0) - natoms  # (n_graphs,) first atom of each structure
        slot = torch.arange(batch.num_atoms, device=natoms.device) - ptr[batch.batch]
        max_n = int(natoms.max()) if natoms.numel() else 0
        return batch.batch, slot, max_n

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        graph, slot, max_n = self.dense_layout(batch)
        G = batch.num_graphs
        emb = self.embedding(batch.atomic_numbers)  # (n_atoms, d)
        tok = self.input_proj(torch.cat([emb, batch.pos.to(emb.dtype)], dim=-1))  # (n_atoms, d)
        t = tok.new_zeros(G, max_n, tok.shape[-1])
        t = t.index_put((graph, slot), tok)  # (G, max_n, d) padded
        valid = torch.zeros(G, max_n, dtype=torch.bool, device=tok.device)
        valid[graph, slot] = True
        attn_mask = valid[:, None, None, :]  # (G, 1, 1, max_n): attend to real atoms only
        for block in self.blocks:
            t = block(t, attn_mask)
        h = self.ln_f(t)[graph, slot]  # (n_atoms, d)
        dtype = batch.pos.dtype  # outputs in the batch's dtype (also under autocast)
        energy = torch.zeros(G, dtype=dtype, device=h.device).index_add_(
            0, graph, self.energy_head(h).squeeze(-1).to(dtype)
        )
        out = {"energy": energy, "forces": self.force_head(h).to(dtype)}
        if self.stress_head is not None:
            voigt = scatter_mean(self.stress_head(h).to(dtype), graph, G)  # (G, 6)
            xx, yy, zz, yz, xz, xy = voigt.unbind(-1)
            out["stress"] = torch.stack(
                [torch.stack([xx, xy, xz], -1), torch.stack([xy, yy, yz], -1), torch.stack([xz, yz, zz], -1)], -2
            )
        return out

    def extra_repr(self) -> str:
        c = self.config
        return f"d_model={c.d_model}, num_layers={c.num_layers}, num_heads={c.num_heads}, ff_mult={c.ff_mult}"
