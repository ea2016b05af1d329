"""Private blocks of :mod:`nnip.models.gemnet_oc` (Gasteiger et al. 2022; App. C.2, eq. 10 of Ngo & Ravanbakhsh 2025).

Layers (bias-free ``Dense`` with scaled SiLU, residual pairs, per-layer ``ScaleFactor``), bases (radial × envelope,
Legendre ``Y_l^0``), index construction for triplets/quadruplets (vectorised torch ops, no Python loops over
edges) and the interaction/output blocks. Shapes in comments; ``E`` edges, ``T`` triplets, ``Q`` quadruplets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from nnip.nn import BesselBasis, GaussianBasis, polynomial_envelope, scatter_sum

INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SILU_SCALE = 1.0 / 0.6  # keeps unit variance through SiLU for unit-variance Gaussian input


# ------------------------------------------------------------------------------------------------------------
# layers
# ------------------------------------------------------------------------------------------------------------
def he_orthogonal_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    """(Semi-)orthogonal init, each output row standardised to zero mean and variance ``1 / fan_in``.

    ``weight`` is ``(d_out, d_in)``; decorrelated rows with He variance keep activations at unit scale.
    """
    if weight.is_meta:  # shape-only construction (parameter counting)
        return weight
    with torch.no_grad():
        nn.init.orthogonal_(weight)
        if weight.shape[1] > 1:
            var, mean = torch.var_mean(weight, dim=1, keepdim=True)
            weight.sub_(mean).div_((var + 1e-6).sqrt())
        weight.mul_(fan_in**-0.5)
    return weight


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass, gradient multiplied by ``factor`` (for layers shared by several blocks)."""
    if factor == 1.0:
        return x
    return x * factor + (x * (1.0 - factor)).detach()


class Dense(nn.Linear):
    """Bias-free linear layer, optionally followed by SiLU/0.6; ``(..., d_in) -> (..., d_out)``.

    ``grad_scale`` divides the weight's gradient (GemNet-OC shares basis projections across blocks and scales
    their gradients by 1/num_blocks).
    """

    def __init__(self, d_in: int, d_out: int, act: bool = False, grad_scale: float = 1.0):
        super().__init__(d_in, d_out, bias=False)
        self.act = act
        self.grad_scale = grad_scale

    def reset_parameters(self) -> None:
        he_orthogonal_(self.weight, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, scale_grad(self.weight, self.grad_scale))
        return F.silu(y) * _SILU_SCALE if self.act else y


class Residual(nn.Module):
    """``x -> (x + Dense_act(Dense_act(x))) / sqrt(2)``, ``(..., d) -> (..., d)``."""

    def __init__(self, units: int, num_layers: int = 2):
        super().__init__()
        self.mlp = nn.Sequential(*[Dense(units, units, act=True) for _ in range(num_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.mlp(x)) * INV_SQRT2


def residual_stack(units: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[Residual(units) for _ in range(n)])


class ScaleFactor(nn.Module):
    """Multiply by a fitted constant (footnote 4: GemNet-OC's replacement for LayerNorm), ``x -> s · x``.

    ``s`` is a persistent *buffer* (default 1.0): it travels in ``state_dict`` but is not a trainable parameter,
    so it does not change N. :func:`nnip.models.gemnet_oc.fit_scale_factors` sets it so that the output has unit
    variance on a few batches; during fitting ``observer`` receives every output.
    """

    scale_factor: torch.Tensor

    def __init__(self):
        super().__init__()
        self.register_buffer("scale_factor", torch.tensor(1.0))
        self.observer = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.scale_factor.to(x.dtype)
        if self.observer is not None:
            self.observer(y)
        return y


class BasisEmbedding(nn.Module):
    """Shared down-projection of a raw radial basis, optionally paired with an angular basis of size ``S``.

    ``(E, R) -> (E, C)`` without an angular basis, else ``(E, R) -> (E, C, S)`` (the radial weights that
    :class:`Bilinear` contracts with the angular basis ``(T, S)`` of each triplet/quadruplet). Weight ``(C·S, R)``.
    """

    def __init__(self, num_radial: int, emb_size: int, num_spherical: int | None = None, grad_scale: float = 1.0):
        super().__init__()
        self.emb_size, self.num_spherical = emb_size, num_spherical
        self.weight = nn.Parameter(torch.empty(emb_size * (num_spherical or 1), num_radial))
        he_orthogonal_(self.weight, num_radial)
        self.grad_scale = grad_scale

    def forward(self, rbf: torch.Tensor) -> torch.Tensor:
        out = F.linear(rbf, scale_grad(self.weight, self.grad_scale))
        if self.num_spherical is None:
            return out  # (E, C)
        return out.view(-1, self.emb_size, self.num_spherical)  # (E, C, S)


# ------------------------------------------------------------------------------------------------------------
# bases
# ------------------------------------------------------------------------------------------------------------
class RadialBasis(nn.Module):
    """Radial basis times the polynomial envelope (p = ``exponent``), ``(E,) -> (E, num_radial)``; no parameters.

    ``rbf="gaussian"`` (GemNet-OC's default; Gaussians on ``[0, cutoff]``) or ``"spherical_bessel"`` (frequencies
    fixed at ``kπ`` so the parameter count does not depend on the choice).
    """

    def __init__(self, num_radial: int, cutoff: float, rbf: str = "gaussian", exponent: int = 5):
        super().__init__()
        if rbf == "gaussian":
            self.basis = GaussianBasis(num_radial=num_radial, cutoff=cutoff)
        elif rbf == "spherical_bessel":
            self.basis = BesselBasis(num_radial=num_radial, cutoff=cutoff, trainable=False)
        else:
            raise ValueError(f"unknown radial basis {rbf!r}; use 'gaussian' or 'spherical_bessel'")
        self.cutoff, self.exponent = float(cutoff), int(exponent)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return polynomial_envelope(d, self.cutoff, self.exponent).unsqueeze(-1) * self.basis(d)


def legendre_basis(cos: torch.Tensor, num_spherical: int) -> torch.Tensor:
    """Real spherical harmonics with m = 0, ``Y_l^0 = sqrt((2l+1)/4π) P_l(cos)``, ``(T,) -> (T, num_spherical)``."""
    p = [torch.ones_like(cos), cos]
    for l in range(2, num_spherical):
        p.append(((2 * l - 1) * cos * p[l - 1] - (l - 1) * p[l - 2]) / l)
    norm = torch.tensor([math.sqrt((2 * l + 1) / (4 * math.pi)) for l in range(num_spherical)], dtype=cos.dtype,
                        device=cos.device)
    return torch.stack(p[:num_spherical], dim=-1) * norm


def cos_angle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Cosine between unit vectors, clamped to [-1, 1], ``(T, 3), (T, 3) -> (T,)``."""
    return (u * v).sum(-1).clamp(-1.0, 1.0)


def cos_dihedral(u_ca: torch.Tensor, u_ba: torch.Tensor, u_db: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Cosine of the dihedral angle between planes (c, a, b) and (a, b, d) about the axis a–b, ``(Q,)``.

    Unsigned (reflection-invariant, like GemNet-OC's half angle); smooth ``eps`` regularises collinear cases.
    """
    n1 = torch.linalg.cross(u_ca, u_ba, dim=-1)
    n2 = torch.linalg.cross(u_db, u_ba, dim=-1)
    num = (n1 * n2).sum(-1)
    return (num / ((n1 * n1).sum(-1) * (n2 * n2).sum(-1) + eps).sqrt()).clamp(-1.0, 1.0)


# ------------------------------------------------------------------------------------------------------------
# graphs and index sets
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Graph:
    """Directed edges ``src -> dst`` with integer cell shifts and vectors ``r = pos[src] - pos[dst] + shift@cell``."""

    src: torch.Tensor  # (E,) long
    dst: torch.Tensor  # (E,) long
    shift: torch.Tensor  # (E, 3) long
    vec: torch.Tensor  # (E, 3) Å
    id_swap: torch.Tensor | None = None  # (E,) index of the reverse edge (symmetrised graphs only)

    def __post_init__(self):
        self.dist = self.vec.norm(dim=-1)  # (E,)
        self.unit = self.vec / self.dist.clamp_min(1e-12).unsqueeze(-1)  # (E, 3)

    def __len__(self) -> int:
        return int(self.src.shape[0])


def inner_index(keys: torch.Tensor, num_keys: int) -> torch.Tensor:
    """Rank of each entry within its group, for ``keys`` sorted (grouped); ``(n,) -> (n,)``."""
    counts = torch.bincount(keys, minlength=num_keys)
    start = torch.cumsum(counts, 0) - counts
    return torch.arange(keys.shape[0], device=keys.device) - start[keys]


def select_edges(graph: Graph, cutoff: float, max_neighbors: int | None, num_atoms: int) -> Graph:
    """Edges with ``|r| <= cutoff``, at most ``max_neighbors`` nearest per target; sorted by (target, distance)."""
    dist = graph.dist.detach()
    keep = torch.nonzero(dist <= cutoff).squeeze(1)
    keep = keep[torch.argsort(dist[keep], stable=True)]
    keep = keep[torch.argsort(graph.dst[keep], stable=True)]
    if max_neighbors is not None:
        keep = keep[inner_index(graph.dst[keep], num_atoms) < max_neighbors]
    return Graph(graph.src[keep], graph.dst[keep], graph.shift[keep], graph.vec[keep])


def symmetrize(graph: Graph, num_atoms: int) -> Graph:
    """Union of the edges and their reverses ``(j, i, S) -> (i, j, -S)``, sorted by (target, source, shift), with
    ``id_swap`` (the index of each edge's reverse).

    A neighbour cap can keep ``j -> i`` but not ``i -> j``; the union restores every reverse edge (instead of
    fairchem's index-ordered half selection) so the graph stays permutation-equivariant.
    """
    n = len(graph)
    src = torch.cat([graph.src, graph.dst])
    dst = torch.cat([graph.dst, graph.src])
    shift = torch.cat([graph.shift, -graph.shift])  # (2n, 3)
    smax = int(shift.abs().max()) if n else 0
    base = 2 * smax + 1
    if num_atoms**2 * base**3 >= 2**62:
        raise ValueError("symmetrize: graph too large to encode edges as int64 keys")
    key = dst * num_atoms + src
    for k in range(3):
        key = key * base + (shift[:, k] + smax)
    uniq, inv = torch.unique(key, sorted=True, return_inverse=True)  # (U,), (2n,)
    pos = torch.arange(2 * n, device=key.device)
    first = torch.full((uniq.shape[0],), 2 * n, dtype=torch.long, device=key.device)
    first = first.scatter_reduce(0, inv, pos, "amin")  # a representative row of every unique edge
    id_swap = torch.empty_like(first)
    id_swap[inv] = inv[(pos + n) % (2 * n)] if n else inv
    vec = torch.cat([graph.vec, -graph.vec])[first]
    return Graph(src[first], dst[first], shift[first], vec, id_swap)


@dataclass
class Pairs:
    """Pairs ``(in, out)`` of items sharing a key, grouped by ``out``; ``inner`` ranks them within each group."""

    inp: torch.Tensor  # (T,) index of the input item
    out: torch.Tensor  # (T,) index of the output item (sorted)
    inner: torch.Tensor  # (T,) rank within the output group
    kmax: int
    n_out: int

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, ...) -> (n_out, kmax, ...)``, zero-padded dense layout of each output's inputs."""
        rest = tuple(x.shape[1:])
        flat = x.new_zeros((self.n_out * self.kmax,) + rest).index_copy(0, self.out * self.kmax + self.inner, x)
        return flat.view((self.n_out, self.kmax) + rest)  # index_copy: its backward is one index_select


def pairs_by_key(key_out: torch.Tensor, key_in: torch.Tensor, num_keys: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(i, o)`` with ``key_in[i] == key_out[o]``, sorted by ``o``; vectorised (no loop over items)."""
    order = torch.argsort(key_in, stable=True)
    counts = torch.bincount(key_in, minlength=num_keys)
    start = torch.cumsum(counts, 0) - counts
    n = counts[key_out]
    out = torch.repeat_interleave(torch.arange(key_out.shape[0], device=key_out.device), n)
    offs = torch.arange(out.shape[0], device=out.device) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
    return order[start[key_out[out]] + offs], out


def make_pairs(inp: torch.Tensor, out: torch.Tensor, mask: torch.Tensor, n_out: int) -> Pairs:
    inp, out = inp[mask], out[mask]
    inner = inner_index(out, n_out)
    kmax = int(inner.max()) + 1 if inner.numel() else 0
    return Pairs(inp, out, inner, kmax, n_out)


def triplets(graph: Graph, num_atoms: int) -> Pairs:
    """Edge pairs ``(b -> a, c -> a)`` with a shared target and distinct edge ids (b = c allowed across images)."""
    inp, out = pairs_by_key(graph.dst, graph.dst, num_atoms)
    return make_pairs(inp, out, inp != out, len(graph))


def mixed_triplets(g_in: Graph, g_out: Graph, num_atoms: int) -> Pairs:
    """``(b -> a in g_in, c -> a in g_out)`` with a shared target, excluding b = c in the same image."""
    inp, out = pairs_by_key(g_out.dst, g_in.dst, num_atoms)
    same = (g_in.src[inp] == g_out.src[out]) & (g_in.shift[inp] == g_out.shift[out]).all(-1)
    return make_pairs(inp, out, ~same, len(g_out))


@dataclass
class Quadruplets:
    """Indices of quadruplets ``d -> b -> a <- c`` (``d->b``, ``c->a`` main edges; ``b->a`` a qint edge)."""

    trip_in: Pairs  # (d->b main, b->a qint): inp = main edge d->b, out = qint edge b->a
    trip_out: Pairs  # (b->a qint, c->a main): inp = qint edge, out = main edge
    quad: Pairs  # inp = index into trip_in, out = main edge c->a (sorted)
    trip_out_of_quad: torch.Tensor  # (Q,) index into trip_out


def quadruplets(main: Graph, qint: Graph, num_atoms: int) -> Quadruplets:
    """Vectorised quadruplet enumeration; excludes d = a and b = c and c = d (same atom *and* image)."""
    # d -> b -> a: main edges into b, for each qint edge leaving b
    inp, out = pairs_by_key(qint.src, main.dst, num_atoms)
    back = (main.src[inp] == qint.dst[out]) & ((main.shift[inp] + qint.shift[out]) == 0).all(-1)
    trip_in = make_pairs(inp, out, ~back, len(qint))
    trip_out = mixed_triplets(qint, main, num_atoms)
    # join triplets that share the intermediate edge b -> a
    t_in, t_out = pairs_by_key(trip_out.inp, trip_in.out, len(qint))
    e_db, e_ba, e_ca = trip_in.inp[t_in], trip_in.out[t_in], trip_out.out[t_out]
    same = (main.src[e_db] == main.src[e_ca]) & (
        (main.shift[e_db] + qint.shift[e_ba] - main.shift[e_ca]) == 0
    ).all(-1)
    keep = ~same
    quad = make_pairs(t_in, e_ca, keep, len(main))
    return Quadruplets(trip_in, trip_out, quad, t_out[keep])


# ------------------------------------------------------------------------------------------------------------
# interactions
# ------------------------------------------------------------------------------------------------------------
class Bilinear(nn.Module):
    """Efficient bilinear layer: ``y_e = W · vec(Σ_{t→e} rad_e (C×S) · sph_t (S) ⊗ x_t (d_in))``.

    ``rad (n_out, C, S)``, ``sph_pad (n_out, S, K)``, ``x (T, d_in)`` -> ``(n_out | agg_size, d_out)``; with
    ``agg`` the per-output results are summed once more (edges -> atoms) before the weight ``(d_out, C·d_in)``.
    """

    def __init__(self, d_in: int, d_basis: int, d_out: int):
        super().__init__()
        self.dense = Dense(d_in * d_basis, d_out)

    def forward(self, rad, sph_pad, x, pairs: Pairs, agg: tuple[torch.Tensor, int] | None = None):
        y = rad @ (sph_pad @ pairs.pad(x))  # (n_out, C, d_in)
        if agg is not None:
            y = scatter_sum(y, agg[0], agg[1])
        return self.dense(y.flatten(1))


class TripletInteraction(nn.Module):
    """Triplet message passing (edge -> edge, atom -> edge, edge -> atom), eq. (10) restricted to three bodies.

    ``x_ba = Dense(m_ba) ⊙ rbf_ba`` → down-projection → bilinear with the circular basis ``(d_ca, ∠cab)`` summed
    over ``b`` → up-projection; ``symmetric`` also writes the result to the reverse edge ``a -> c``.
    """

    def __init__(self, d_in, d_out, d_trip_in, d_trip_out, d_rbf, d_cbf, symmetric=True, swap_output=True):
        super().__init__()
        self.symmetric, self.swap_output = symmetric, swap_output
        self.dense_ba = Dense(d_in, d_in, act=True)
        self.mlp_rbf = Dense(d_rbf, d_in)
        self.scale_rbf = ScaleFactor()
        self.bilinear = Bilinear(d_trip_in, d_cbf, d_trip_out)
        self.scale_cbf_sum = ScaleFactor()
        self.down_projection = Dense(d_in, d_trip_in, act=True)
        self.up_projection_ca = Dense(d_trip_out, d_out, act=True)
        self.up_projection_ac = Dense(d_trip_out, d_out, act=True) if symmetric else None

    def forward(self, x, rbf, cbf, pairs: Pairs, id_swap, expand_idx=None, agg=None):
        x = self.dense_ba(x)  # (E_in | N, d_in)
        if expand_idx is not None:
            x = x.index_select(0, expand_idx)  # atoms -> edges
        x = self.scale_rbf(x * self.mlp_rbf(rbf))
        x = self.down_projection(x).index_select(0, pairs.inp)  # (T, d_trip_in)
        x = self.scale_cbf_sum(self.bilinear(cbf[0], cbf[1], x, pairs, agg))  # (E_out | N, d_trip_out)
        if self.symmetric:
            return (self.up_projection_ca(x) + self.up_projection_ac(x).index_select(0, id_swap)) * INV_SQRT2
        if self.swap_output:
            x = x.index_select(0, id_swap)
        return self.up_projection_ca(x)


class QuadrupletInteraction(nn.Module):
    """Quadruplet (dihedral) message passing ``d -> b -> a <- c`` — the four-body term of eq. (10)."""

    def __init__(self, d_edge, d_quad_in, d_quad_out, d_rbf, d_cbf, d_sbf):
        super().__init__()
        self.dense_db = Dense(d_edge, d_edge, act=True)
        self.mlp_rbf = Dense(d_rbf, d_edge)
        self.scale_rbf = ScaleFactor()
        self.mlp_cbf = Dense(d_cbf, d_quad_in)
        self.scale_cbf = ScaleFactor()
        self.bilinear = Bilinear(d_quad_in, d_sbf, d_quad_out)
        self.scale_sbf_sum = ScaleFactor()
        self.down_projection = Dense(d_edge, d_quad_in, act=True)
        self.up_projection_ca = Dense(d_quad_out, d_edge, act=True)
        self.up_projection_ac = Dense(d_quad_out, d_edge, act=True)

    def forward(self, m, rbf, cir, sbf, q: Quadruplets, id_swap):
        x = self.dense_db(m)  # (E, d_edge)
        x = self.scale_rbf(x * self.mlp_rbf(rbf))
        x = self.down_projection(x).index_select(0, q.trip_in.inp)  # (T_in, d_quad_in), edge d->b
        x = self.scale_cbf(x * self.mlp_cbf(cir))  # basis (d_ba, ∠abd)
        x = x.index_select(0, q.quad.inp)  # (Q, d_quad_in)
        x = self.scale_sbf_sum(self.bilinear(sbf[0], sbf[1], x, q.quad))  # basis (d_ca, ∠cab, dihedral)
        return (self.up_projection_ca(x) + self.up_projection_ac(x).index_select(0, id_swap)) * INV_SQRT2


class PairInteraction(nn.Module):
    """Atom-to-atom message passing over the long-range ``aint`` graph: ``h_a <- Σ_b W (rbf_ba ⊗ h_b)``."""

    def __init__(self, d_atom, d_in, d_out, d_rbf):
        super().__init__()
        self.bilinear = Dense(d_rbf * d_in, d_out)
        self.scale_rbf_sum = ScaleFactor()
        self.down_projection = Dense(d_atom, d_in, act=True)
        self.up_projection = Dense(d_out, d_atom, act=True)

    def forward(self, h, rad_pad, graph: Graph, pairs: Pairs):
        x = self.down_projection(h).index_select(0, graph.src)  # (E_a, d_in)
        y = rad_pad @ pairs.pad(x)  # (N, d_rbf, d_in)
        return self.up_projection(self.scale_rbf_sum(self.bilinear(y.flatten(1))))


class AtomUpdate(nn.Module):
    """``h_a <- Residual^n( s · Σ_c m_ca ⊙ W rbf_ca )``, ``(E, d) -> (N, d)``."""

    def __init__(self, d_atom, d_edge, d_rbf, num_residual):
        super().__init__()
        if d_atom != d_edge:
            raise ValueError("GemNetOC uses emb_size_atom == emb_size_edge == hidden_dim")
        self.dense_rbf = Dense(d_rbf, d_edge)
        self.scale_sum = ScaleFactor()
        self.layers = residual_stack(d_atom, num_residual)

    def aggregate(self, m, rbf, dst, num_atoms):
        return self.scale_sum(scatter_sum(m * self.dense_rbf(rbf), dst, num_atoms))

    def forward(self, m, rbf, dst, num_atoms):
        return self.layers(self.aggregate(m, rbf, dst, num_atoms))


class OutputBlock(AtomUpdate):
    """Per-block output: atom features for the energy and edge features for the direct forces."""

    def __init__(self, d_atom, d_edge, d_rbf, num_residual, num_after_atom):
        super().__init__(d_atom, d_edge, d_rbf, num_residual)
        self.seq_energy2 = residual_stack(d_atom, num_after_atom)
        self.seq_forces = residual_stack(d_edge, num_residual)
        self.dense_rbf_F = Dense(d_rbf, d_edge)
        self.scale_rbf_F = ScaleFactor()

    def forward(self, h, m, rbf, dst, num_atoms):
        x_e = self.layers(self.aggregate(m, rbf, dst, num_atoms))
        if len(self.seq_energy2):
            x_e = self.seq_energy2((x_e + h) * INV_SQRT2)  # (N, d_atom)
        x_f = self.seq_forces(m)
        x_f = self.scale_rbf_F(x_f * self.dense_rbf_F(rbf))  # (E, d_edge)
        return x_e, x_f


class EdgeEmbedding(nn.Module):
    """``m_ca = Dense_act([h_c, h_a, x_ca])``, ``(N, d_atom), (E, d_x) -> (E, d_out)``."""

    def __init__(self, d_atom: int, d_x: int, d_out: int):
        super().__init__()
        self.dense = Dense(2 * d_atom + d_x, d_out, act=True)

    def forward(self, h, x, graph: Graph):
        return self.dense(torch.cat([h.index_select(0, graph.src), h.index_select(0, graph.dst), x], dim=-1))


@dataclass
class Context:
    """Everything an interaction block reads besides ``(h, m)``: graphs, index sets and projected bases."""

    main: Graph
    num_atoms: int
    trip: Pairs
    rbf_tint: torch.Tensor  # (E, d_rbf)
    cbf_tint: tuple  # (E, d_cbf, S), (E, S, K)
    rbf_h: torch.Tensor  # (E, d_rbf)
    quad: Quadruplets | None = None
    rbf_qint: torch.Tensor | None = None  # (E, d_rbf)
    cir_qint: torch.Tensor | None = None  # (T_in, d_cbf)
    sbf_qint: tuple | None = None  # (E, d_sbf, S²), (E, S², K)
    aeaint: Graph | None = None
    trip_a2e: Pairs | None = None
    rbf_a2e: torch.Tensor | None = None  # (E_ae, d_rbf)
    cbf_a2e: tuple | None = None
    trip_e2a: Pairs | None = None
    rbf_e2a: torch.Tensor | None = None  # (E, d_rbf)
    cbf_e2a: tuple | None = None
    aint: Graph | None = None
    pairs_aint: Pairs | None = None
    rad_aint: torch.Tensor | None = None  # (N, d_rbf, K)


class InteractionBlock(nn.Module):
    """One GemNet-OC block: edge interactions (triplet [+ quadruplet, atom->edge]) and atom interactions
    ([edge->atom, atom->atom]) merged with 1/sqrt(count), residual edge update, atom update from edges, and the
    edge update from the new atom embeddings (concat layer)."""

    def __init__(self, d, d_trip_in, d_trip_out, d_quad_in, d_quad_out, d_aint_in, d_aint_out, d_rbf, d_cbf, d_sbf,
                 num_before_skip, num_after_skip, num_concat, num_atom, num_atom_emb_layers,
                 quad_interaction, atom_edge_interaction, edge_atom_interaction, atom_interaction):  # fmt: skip
        super().__init__()
        trip = (d_trip_in, d_trip_out, d_rbf, d_cbf)
        self.dense_ca = Dense(d, d, act=True)
        self.trip_interaction = TripletInteraction(d, d, *trip)
        self.quad_interaction = (
            QuadrupletInteraction(d, d_quad_in, d_quad_out, d_rbf, d_cbf, d_sbf) if quad_interaction else None
        )
        self.atom_edge_interaction = TripletInteraction(d, d, *trip) if atom_edge_interaction else None
        self.edge_atom_interaction = (
            TripletInteraction(d, d, *trip, symmetric=False, swap_output=False) if edge_atom_interaction else None
        )
        self.atom_interaction = PairInteraction(d, d_aint_in, d_aint_out, d_rbf) if atom_interaction else None
        self.layers_before_skip = residual_stack(d, num_before_skip)
        self.layers_after_skip = residual_stack(d, num_after_skip)
        self.atom_emb_layers = residual_stack(d, num_atom_emb_layers)
        self.atom_update = AtomUpdate(d, d, d_rbf, num_atom)
        self.concat_layer = EdgeEmbedding(d, d, d)
        self.residual_m = residual_stack(d, num_concat)
        self.inv_sqrt_eint = 1.0 / math.sqrt(2 + quad_interaction + atom_edge_interaction)
        self.inv_sqrt_aint = 1.0 / math.sqrt(1 + edge_atom_interaction + atom_interaction)

    def forward(self, h: torch.Tensor, m: torch.Tensor, c: Context) -> tuple[torch.Tensor, torch.Tensor]:
        g = c.main
        x = self.dense_ca(m) + self.trip_interaction(m, c.rbf_tint, c.cbf_tint, c.trip, g.id_swap)
        if self.quad_interaction is not None:
            x = x + self.quad_interaction(m, c.rbf_qint, c.cir_qint, c.sbf_qint, c.quad, g.id_swap)
        if self.atom_edge_interaction is not None:
            x = x + self.atom_edge_interaction(
                h, c.rbf_a2e, c.cbf_a2e, c.trip_a2e, g.id_swap, expand_idx=c.aeaint.src
            )
        x = x * self.inv_sqrt_eint  # (E, d)
        h_new = h
        if self.edge_atom_interaction is not None:
            agg = (c.aeaint.dst, c.num_atoms)
            h_new = h_new + self.edge_atom_interaction(m, c.rbf_e2a, c.cbf_e2a, c.trip_e2a, None, agg=agg)
        if self.atom_interaction is not None:
            h_new = h_new + self.atom_interaction(h, c.rad_aint, c.aint, c.pairs_aint)
        h = h_new * self.inv_sqrt_aint  # (N, d)

        m = (m + self.layers_before_skip(x)) * INV_SQRT2
        m = self.layers_after_skip(m)
        h = self.atom_emb_layers(h)
        h = (h + self.atom_update(m, c.rbf_h, g.dst, c.num_atoms)) * INV_SQRT2
        m = (m + self.residual_m(self.concat_layer(h, m, g))) * INV_SQRT2
        return h, m
