"""A tiny stand-in model following the nnip model contract (used by the trainer tests as
``model.name = "tests.train.standin:PairMLP"``).

Pair messages on Gaussian distance features, energy = Σ atoms MLP(h), direct forces Σ_j w_ij r̂_ij (equivariant), and
optionally a non-equivariant term ``A·r_ij`` (``equivariant=False``: an "unconstrained" model for the symmetry-loss
and TTA tests) and a virial-like stress head Σ_edges w_ij r_ij ⊗ r_ij / V.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from nnip.nn import MLP, GaussianBasis, PolynomialEnvelope, scatter_sum


class PairMLP(nn.Module):
    @dataclass(frozen=True)
    class Config:
        hidden_dim: int = 16
        num_radial: int = 8
        cutoff: float = 5.0
        max_neighbors: int | None = 30
        stress: bool = False
        equivariant: bool = True
        base_hidden_dim: int = 16
        dropout: float = 0.0
        nan_output: bool = False  # NaN energies: a "diverging" model for the failure tests
        sleep_s: float = 0.0  # sleep in every forward: slows a run down without changing its numbers
        #: every forward waits (up to 120 s) until this file exists: a run that stays running until a test lets it go
        wait_for: str | None = None

    symmetries = frozenset({"rotation", "translation", "permutation"})
    local = True
    smooth_cutoff = True
    LADDER = [({"hidden_dim": 8}, None), ({"hidden_dim": 16}, None), ({"hidden_dim": 32}, None)]
    TEST_HPARAMS = {"hidden_dim": 8}

    def __init__(self, config: "PairMLP.Config"):
        super().__init__()
        self.config = c = config
        H, K = c.hidden_dim, c.num_radial
        self.embed = nn.Embedding(100, H)
        self.rbf = GaussianBasis(K, c.cutoff)
        self.env = PolynomialEnvelope(c.cutoff)
        self.edge_mlp = MLP([K + H, H, H])
        self.energy_mlp = MLP([H, H, 1])
        self.force_head = nn.Linear(H, 1)
        self.stress_head = nn.Linear(H, 1) if c.stress else None
        self.skew = None if c.equivariant else nn.Linear(3, 3, bias=False)
        self.drop = nn.Dropout(c.dropout)

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    @property
    def max_neighbors(self):
        return self.config.max_neighbors

    @property
    def width(self) -> int:
        return self.config.hidden_dim

    @property
    def base_width(self) -> int:
        return self.config.base_hidden_dim

    def forward(self, batch):
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        if self.config.wait_for:
            deadline = time.monotonic() + 120.0
            while not os.path.exists(self.config.wait_for) and time.monotonic() < deadline:
                time.sleep(0.05)
        vec = batch.edge_vectors()  # (n_edges, 3)
        r = vec.norm(dim=-1).clamp_min(1e-6)  # (n_edges,)
        j, i = batch.edge_index
        z = self.embed(batch.atomic_numbers)  # (n_atoms, H)
        feat = self.rbf(r) * self.env(r)[:, None]  # (n_edges, K)
        m = self.drop(self.edge_mlp(torch.cat([feat, z[j]], dim=-1))) * self.env(r)[:, None]  # (n_edges, H)
        h = scatter_sum(m, i, batch.num_atoms) + z  # (n_atoms, H)
        energy = scatter_sum(self.energy_mlp(h).squeeze(-1), batch.batch, batch.num_graphs)
        w = self.force_head(m)  # (n_edges, 1)
        f_edge = w * vec / r[:, None]
        if self.skew is not None:
            f_edge = f_edge + self.skew(vec) * self.env(r)[:, None]
        forces = scatter_sum(f_edge, i, batch.num_atoms)
        if self.config.nan_output:
            energy = energy * float("nan")
        out = {"energy": energy, "forces": forces}
        if self.stress_head is not None:
            ws = self.stress_head(m)[:, :, None] * (vec[:, :, None] * vec[:, None, :])  # (n_edges, 3, 3)
            vol = torch.linalg.det(batch.cell).abs().clamp_min(1e-6)  # (n_graphs,)
            g = batch.batch[i]
            out["stress"] = scatter_sum(ws, g, batch.num_graphs) / vol[:, None, None]
        return out
