"""Property tests of :mod:`nnip.nn.so3` in float64: edge frames, Wigner-D, SO(2) maps, norms and activations."""

import math

import pytest
import torch
from e3nn import o3

from nnip.nn import so3

DT = torch.float64
L_MAX = 4


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _rand_rot(n=None):
    return o3.rand_matrix(n, dtype=DT) if n else o3.rand_matrix(dtype=DT)


def _edge_vectors(n=64):
    """Random directions plus the awkward ones: ±ŷ exactly, nearly ±ŷ, the equator, axes."""
    special = torch.tensor(
        [[0, 1, 0], [0, -1, 0], [1e-9, 1, 0], [0, -1, 1e-12], [1, 0, 0], [0, 0, -1], [1, 0, 1], [1, -1e-17, 0]],
        dtype=DT,
    )
    return torch.cat([torch.randn(n, 3, dtype=DT) * 2.5, special * 1.7])


def _apply(D, x):  # (K, K) or (n, K, K) acting on (n, K, C)
    return torch.einsum("...ij,njc->nic", D, x)


# --- layout ------------------------------------------------------------------------------------------------------
def test_layout_helpers():
    assert so3.num_coefficients(4) == 25
    order = so3.m_order(4, 2)
    assert len(order) == sum(so3.m_sizes(4, 2)) * 2 - 5 == 19
    deg, m = so3.degree_index(4)[order], so3.order_index(4)[order]
    assert deg[:5].tolist() == [0, 1, 2, 3, 4] and m[:5].abs().sum() == 0
    assert m[5:9].tolist() == [1] * 4 and m[9:13].tolist() == [-1] * 4 and (deg[5:9] == deg[9:13]).all()
    assert sorted(order.tolist()) == so3.m_truncation(4, 2).tolist()
    with pytest.raises(ValueError):
        so3.m_order(2, 3)


# --- edge frames ---------------------------------------------------------------------------------------------------
def test_edge_rotation_maps_edge_to_y():
    v = _edge_vectors()
    R = so3.edge_rotation(v)
    y = torch.einsum("nij,nj->ni", R, v / v.norm(dim=-1, keepdim=True))
    assert torch.allclose(y, torch.tensor([0.0, 1.0, 0.0], dtype=DT).expand_as(y), atol=1e-12)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=DT).expand_as(R), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(len(v), dtype=DT), atol=1e-12)
    assert torch.equal(so3.edge_rotation(v), R)  # deterministic gauge


def test_edge_rotation_gradients_finite():
    v = _edge_vectors().requires_grad_(True)
    so3.wigner_d_blocks(so3.edge_rotation(v), L_MAX).pow(2).mul(torch.randn(25, 25, dtype=DT)).sum().backward()
    assert torch.isfinite(v.grad).all()


# --- Wigner-D -----------------------------------------------------------------------------------------------------
def test_wigner_matches_e3nn_and_spherical_harmonics():
    R = _rand_rot(6)
    D = so3.wigner_d_blocks(R, L_MAX)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DT)  # e3nn's generators follow the default dtype
    try:
        ref = o3.Irreps.spherical_harmonics(L_MAX).D_from_matrix(R)
    finally:
        torch.set_default_dtype(previous)
    assert torch.allclose(D, ref, atol=1e-12)
    x = torch.randn(6, 3, dtype=DT)
    Y = lambda p: o3.spherical_harmonics(list(range(L_MAX + 1)), p, normalize=True)  # noqa: E731
    assert torch.allclose(Y(torch.einsum("nij,nj->ni", R, x)), torch.einsum("nij,nj->ni", D, Y(x)), atol=1e-12)


def test_wigner_homomorphism_and_orthogonality():
    R1, R2 = _rand_rot(5), _rand_rot(5)
    D = lambda R: so3.wigner_d_blocks(R, L_MAX)  # noqa: E731
    assert torch.allclose(D(R1 @ R2), D(R1) @ D(R2), atol=1e-12)
    assert torch.allclose(D(R1) @ D(R1).transpose(1, 2), torch.eye(25, dtype=DT).expand(5, 25, 25), atol=1e-12)
    assert torch.allclose(D(R1.transpose(1, 2)), D(R1).transpose(1, 2), atol=1e-12)


def test_y_rotation_only_mixes_plus_minus_m():
    """In e3nn's basis a rotation about ŷ mixes (l, m) with (l, -m) only: what makes eq. (22) work."""
    D = so3.wigner_d_blocks(o3.matrix_y(torch.tensor(0.7, dtype=DT)), L_MAX)
    m = so3.order_index(L_MAX)
    mask = (m[:, None].abs() != m[None, :].abs()) | (so3.degree_index(L_MAX)[:, None] != so3.degree_index(L_MAX))
    assert D[mask].abs().max() < 1e-13


# --- SO(2) convolution ----------------------------------------------------------------------------------------------
def _edge_conv(layer, x, vec, extra=None):
    """Rotate into the edge frame, SO(2) layer, rotate back: the sparse SO(3) convolution of eq. (15)–(22)."""
    order = so3.m_order(L_MAX, 2)
    D = so3.wigner_d_blocks(so3.edge_rotation(vec), L_MAX)
    y = layer(so3.rotate_to_edge(x, D, order), extra) if extra is not None else layer(so3.rotate_to_edge(x, D, order))
    y = y[0] if isinstance(y, tuple) else y
    return so3.rotate_from_edge(y, D, order)


@pytest.mark.parametrize("radial", [False, True])
def test_so2_convolution_equivariant(radial):
    n, C = 40, 3
    if radial:
        layer = so3.SO2Convolution(C, 4, L_MAX, 2, edge_dims=[5, 6], extra_m0_channels=2).double()
        extra = torch.randn(n, 5, dtype=DT)
    else:
        layer, extra = so3.SO2Linear(C, 4, L_MAX, 2).double(), None
    x, vec, R = torch.randn(n, 25, C, dtype=DT), _edge_vectors(n - 8), _rand_rot()
    DR = so3.wigner_d_blocks(R, L_MAX)
    out = _edge_conv(layer, x, vec, extra)
    out_rot = _edge_conv(layer, _apply(DR, x), vec @ R.T, extra)
    assert torch.allclose(out_rot, _apply(DR, out), atol=1e-11)


def test_so2_linear_commutes_with_y_rotations():
    layer = so3.SO2Linear(2, 3, L_MAX, 2).double()
    order = so3.m_order(L_MAX, 2)
    Dy = so3.wigner_d_blocks(o3.matrix_y(torch.tensor(1.1, dtype=DT)), L_MAX)[order][:, order]
    x = torch.randn(7, len(order), 2, dtype=DT)
    assert torch.allclose(layer(_apply(Dy, x)), _apply(Dy, layer(x)), atol=1e-12)


def test_so2_parameter_layout():
    """eSCN/eSEN layout: m = 0 with bias, every m > 0 a bias-free (W_r, W_i) pair, radial MLP on all inputs."""
    C, H, L, M = 6, 5, 4, 2
    layer = so3.SO2Convolution(C, H, L, M, edge_dims=[7, 8, 8], extra_m0_channels=3)
    n_m0 = (L + 1) * C * ((L + 1) * H + 3) + (L + 1) * H + 3
    n_m = sum((L - m + 1) * C * 2 * (L - m + 1) * H for m in range(1, M + 1))
    rad_out = C * sum(so3.m_sizes(L, M))
    n_rad = 7 * 8 + 8 + 2 * 8 + 8 * 8 + 8 + 2 * 8 + 8 * rad_out + rad_out
    assert sum(p.numel() for p in layer.parameters()) == n_m0 + n_m + n_rad


# --- pointwise blocks -----------------------------------------------------------------------------------------------
def _equivariance_error(f, C=4, n=6, l_max=L_MAX):
    R = _rand_rot()
    D = so3.wigner_d_blocks(R, l_max)
    x = torch.randn(n, so3.num_coefficients(l_max), C, dtype=DT)
    a, b = f(_apply(D, x)), _apply(D, f(x))
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("per_degree", [False, True])
def test_rms_norm_equivariant_and_normalising(per_degree):
    norm = so3.EquivariantRMSNorm(L_MAX, 4, per_degree=per_degree).double()
    assert _equivariance_error(norm) < 1e-13
    x = torch.randn(3, 25, 4, dtype=DT) * 7.0
    y = norm(x)
    ms = (y.pow(2).mean(-1) / (2 * so3.degree_index(L_MAX) + 1)).new_zeros(3, L_MAX + 1)
    ms = ms.index_add(1, so3.degree_index(L_MAX), y.pow(2).mean(-1) / (2 * so3.degree_index(L_MAX) + 1))
    target = torch.ones_like(ms) if per_degree else torch.ones(3, dtype=DT)
    assert torch.allclose(ms if per_degree else ms.mean(1), target, atol=1e-4)
    assert sum(p.numel() for p in norm.parameters()) == 5 * 4 + 4


def test_layer_norm_equivariant():
    norm = so3.EquivariantLayerNorm(L_MAX, 4).double()
    with torch.no_grad():
        norm.weight.normal_()
    assert _equivariance_error(norm) < 1e-13
    assert sum(p.numel() for p in norm.parameters()) == 2 * 4 + 4 * 4


def test_so3_linear_and_gate_equivariant():
    lin = so3.SO3Linear(4, 3, L_MAX).double()
    assert _equivariance_error(lin) < 1e-13
    gate = so3.GateActivation(L_MAX, 4)
    g = torch.randn(6, L_MAX * 4, dtype=DT)
    assert _equivariance_error(lambda x: gate(g, x)) < 1e-13


def test_s2_grid_roundtrip_and_activation():
    grid = so3.S2Grid(L_MAX)
    x = torch.randn(3, 25, 2, dtype=DT)
    assert torch.allclose(grid.from_grid(grid.to_grid(x)), x, atol=1e-12)
    # truncated edge grid keeps |m| <= m_max rows (rescaled degrees cancel in the round trip)
    order = so3.m_order(L_MAX, 2)
    edge_grid = so3.S2Grid(L_MAX, 2, order=order)
    xe = torch.randn(3, len(order), 2, dtype=DT)
    assert torch.allclose(edge_grid.from_grid(edge_grid.to_grid(xe)), xe, atol=1e-12)
    # pointwise SiLU on the grid: equivariant up to aliasing, which vanishes as the grid is refined
    coarse = _equivariance_error(so3.S2Activation(L_MAX))
    fine = _equivariance_error(so3.S2Activation(L_MAX, resolution=(80, 81)))
    assert fine < 1e-9 < coarse < 0.5


def test_grid_mlp_converges_to_equivariance():
    torch.manual_seed(1)
    mlp = so3.GridMLP(4, 8, 2, resolution=(40, 41)).double()
    assert _equivariance_error(mlp, l_max=2) < 1e-9
    assert sum(p.numel() for p in mlp.parameters()) == 2 * 4 * 8 + 8 * 8


def test_wigner_under_autocast_is_float32():
    R = _rand_rot(3).float()
    with torch.autocast("cpu", torch.bfloat16):
        D = so3.wigner_d_blocks(R, 3)
    assert D.dtype == torch.float32
    assert torch.allclose(D @ D.transpose(1, 2), torch.eye(16).expand(3, 16, 16), atol=1e-5)


def test_m_order_doc_example():
    assert so3.m_order(2, 1).tolist() == [0, 2, 6, 3, 7, 1, 5]
    assert math.isclose(float(so3.wigner_d_blocks(torch.eye(3, dtype=DT), 2).trace()), 9.0)


# --- fast paths == reference (same function, same gradient) ---------------------------------------------------------
@pytest.mark.parametrize("separable", [False, True])
def test_chunked_s2_activation_equals_reference(separable, monkeypatch):
    """The chunked S² SiLU (grid recomputed in backward) is the plain ``to_grid → silu → from_grid`` in value and
    gradient, float64; a small chunk size exercises several chunks and a ragged last one."""
    monkeypatch.setattr(so3, "_CHUNK_GRID_VALUES", 7 * 3 * 50)  # 7 rows per chunk at 3 channels, 50 points
    order = so3.m_order(L_MAX, 2)
    cls = so3.SeparableS2Activation if separable else so3.S2Activation
    act = cls(L_MAX, 2, order=order)
    x = torch.randn(23, len(order), 3, dtype=DT, requires_grad=True)
    s = torch.randn(23, 3, dtype=DT, requires_grad=True)
    inputs, f = ((s, x), act) if separable else ((x,), act)
    y = f(*inputs)
    w = torch.randn_like(y)
    grads = torch.autograd.grad((y * w).sum(), inputs)
    with so3.reference_implementation():
        y_ref = f(*inputs)
        grads_ref = torch.autograd.grad((y_ref * w).sum(), inputs)
    assert torch.allclose(y, y_ref, rtol=0, atol=1e-14)
    for g, g_ref in zip(grads, grads_ref):
        assert torch.allclose(g, g_ref, rtol=0, atol=1e-13)
    small = tuple(t[:9].detach().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(f, small)


@pytest.mark.parametrize("extra", [0, 3])
def test_so2_linear_fast_path_equals_reference(extra):
    """``split`` + one product per ``±m`` pair computes the sliced reference: values and every gradient, float64."""
    layer = so3.SO2Convolution(5, 4, L_MAX, 2, edge_dims=[6, 7], extra_m0_channels=extra).double()
    x = torch.randn(13, 19, 5, dtype=DT, requires_grad=True)
    e = torch.randn(13, 6, dtype=DT)
    params = [x, *layer.parameters()]

    def run():
        out = layer(x, e)
        out = out if extra else (out,)
        ws = [torch.randn_like(o, generator=torch.Generator().manual_seed(k)) for k, o in enumerate(out)]
        loss = sum((o * w).sum() for o, w in zip(out, ws))
        return out, torch.autograd.grad(loss, params)

    (out, grads), ref = run(), None
    with so3.reference_implementation():
        ref = run()
    for a, b in zip((*out, *grads), (*ref[0], *ref[1])):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_reference_runs_under_autocast_and_dispatch_modes():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Passthrough(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, 3)
    assert not so3.use_reference(x)
    with torch.autocast("cpu", torch.bfloat16):
        assert so3.use_reference(x)
    with Passthrough():
        assert so3.use_reference(x)
    with so3.reference_implementation():
        assert so3.use_reference(x)
    assert not so3.use_reference(x)


def test_edge_grid_rescaling_differs_from_fairchems_by_a_reparametrisation():
    """With m_max < l_max both codes amplify degrees l > m_max by sqrt((2l+1)/(2m_max+1)) on the way to the grid;
    fairchem amplifies again on the way back where nnip attenuates. The outputs differ by the fixed factor
    (2l+1)/(2m_max+1) on those rows, which the SO(2) linear map that always follows absorbs into its weights:
    the same function class (book/models.md, eSEN)."""
    L, M, C = L_MAX, 2, 3
    order = so3.m_order(L, M)
    factor = lambda l: torch.where(l > M, (2 * l + 1) / (2 * M + 1.0), 1.0).double()  # noqa: E731
    s2 = factor(so3.degree_index(L)[order])  # (K_m,): the square of the per-direction scale
    act = so3.SeparableS2Activation(L, M, order=order)
    x, s = torch.randn(7, len(order), C, dtype=DT), torch.randn(7, C, dtype=DT)
    y = act(s, x)
    grid = act.s2.grid
    y_fairchem = grid.from_mat.to(DT).mul(s2[:, None]) @ torch.nn.functional.silu(grid.to_grid(x))
    y_fairchem = torch.cat([torch.nn.functional.silu(s).unsqueeze(1), y_fairchem[:, 1:]], dim=1)
    assert torch.allclose(y_fairchem, y * s2[:, None], atol=1e-12)
    lin = so3.SO2Linear(C, 5, L, M).double()
    absorbed = so3.SO2Linear(C, 5, L, M).double()
    absorbed.load_state_dict(lin.state_dict())
    with torch.no_grad():
        absorbed.fc_m0.weight.mul_(factor(torch.arange(L + 1)).repeat_interleave(C))
        for m, fc in enumerate(absorbed.fc_m, start=1):
            fc.weight.mul_(factor(torch.arange(m, L + 1)).repeat_interleave(C))
    assert torch.allclose(lin(y_fairchem), absorbed(y), atol=1e-12)


def test_gate_fast_path_equals_reference():
    order = so3.m_order(L_MAX, 2)
    gate = so3.GateActivation(L_MAX, 3, degrees=so3.degree_index(L_MAX)[order])
    x = torch.randn(5, len(order), 3, dtype=DT, requires_grad=True)
    g = torch.randn(5, L_MAX * 3, dtype=DT, requires_grad=True)
    w = torch.randn(5, len(order), 3, dtype=DT)
    fast = [gate(g, x), *torch.autograd.grad((gate(g, x) * w).sum(), (g, x))]
    with so3.reference_implementation():
        ref = [gate(g, x), *torch.autograd.grad((gate(g, x) * w).sum(), (g, x))]
    for a, b in zip(fast, ref):
        assert torch.allclose(a, b, rtol=0, atol=1e-15)


@pytest.mark.parametrize("m_max", [0, 2, L_MAX])
def test_gate_and_so2_on_m_blocks_equal_the_whole_tensor_path(m_max):
    """SO2Linear.forward_parts -> GateActivation.forward_parts -> SO2Linear.forward_parts (no cat/split between
    them) computes SO2Linear -> GateActivation -> SO2Linear: values exactly, gradients to round-off."""
    order = so3.m_order(L_MAX, m_max)
    conv1 = so3.SO2Linear(3, 4, L_MAX, m_max, extra_m0_channels=L_MAX * 4).double()
    conv2 = so3.SO2Linear(4, 2, L_MAX, m_max).double()
    gate = so3.GateActivation(L_MAX, 4, degrees=so3.degree_index(L_MAX)[order])
    x = torch.randn(6, len(order), 3, dtype=DT, requires_grad=True)
    w = torch.randn(6, len(order), 2, dtype=DT)

    def whole():
        y, gates = conv1(x)
        return conv2(gate(gates, y))

    def blocks():
        parts, gates = conv1.forward_parts(conv1.split_parts(x))
        return torch.cat(conv2.forward_parts(gate.forward_parts(gates, parts))[0], dim=1)

    params = [x, *conv1.parameters(), *conv2.parameters()]
    a, b = whole(), blocks()
    assert torch.equal(a, b)
    for ga, gb in zip(torch.autograd.grad((a * w).sum(), params), torch.autograd.grad((b * w).sum(), params)):
        assert torch.allclose(ga, gb, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("n,E", [(7, 40), (300, 20000)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_edge_gather_and_scatter_fast_paths_equal_plain(dtype, n, E):
    """:func:`so3.gather_edge_pairs` (backward on contiguous rows) and :func:`so3.scatter_rows` are the plain
    ``cat`` of two ``index_select`` and :func:`nnip.nn.scatter_sum`: values and gradients bit-identical."""
    from nnip.nn import scatter_sum

    x = torch.randn(n, 9, 3, dtype=dtype, requires_grad=True)
    src, dst = torch.randint(0, n, (E,)), torch.sort(torch.randint(0, n, (E,))).values
    w = torch.randn(E, 9, 6, dtype=dtype)

    def run(gather, scatter):
        y = gather(x, src, dst)
        out = scatter(y * w, dst, n)
        return [y, out, *torch.autograd.grad((out * out).sum(), x)]

    fast = run(so3.gather_edge_pairs, so3.scatter_rows)
    plain = run(lambda x, s, d: torch.cat([x.index_select(0, s), x.index_select(0, d)], dim=2), scatter_sum)
    with so3.reference_implementation():
        ref = run(so3.gather_edge_pairs, so3.scatter_rows)
    for a, b, c in zip(fast, plain, ref):
        assert torch.equal(a, b) and torch.equal(b, c)


@pytest.mark.parametrize("n", [11, 3000])  # 3000 rows: BLAS blocks the weight gradient's reduction over edges
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_scaled_so2_products_bit_identical_to_plain(dtype, n):
    """The radial-scaled SO(2) products (``x ⊙ s`` recomputed in backward, eq. 21–22) give the plain composition's
    values and gradients bit for bit (m = 0 with bias, m > 0 block weights)."""
    layer = so3.SO2Linear(5, 4, L_MAX, 2).to(dtype)
    x = torch.randn(n, 19, 5, dtype=dtype, requires_grad=True)
    s = torch.randn(n, layer.radial_dim, dtype=dtype, requires_grad=True)
    params = [x, s, *layer.parameters()]

    def plain_parts(rows, scale):  # the composition before the fused product: scale, then the products
        n, c_in, c_out, sizes = x.shape[0], layer.in_channels, layer.out_channels, layer.sizes
        scales = scale.split([n_m * c_in for n_m in sizes], dim=1)
        out = [layer.fc_m0(rows[0].reshape(n, -1) * scales[0]).reshape(n, sizes[0], c_out)]
        for xm, s_m, n_m, fc in zip(rows[1:], scales[1:], sizes[1:], layer.fc_m):
            xm = (xm.reshape(n, 2, n_m * c_in) * s_m.unsqueeze(1)).reshape(n, -1)
            w_r, w_i = fc.weight.split(n_m * c_out, dim=0)
            w = torch.cat([torch.cat([w_r, -w_i], dim=1), torch.cat([w_i, w_r], dim=1)], dim=0)
            out.append((xm @ w.T).reshape(n, 2 * n_m, c_out))
        return out

    results = []
    for f in (lambda r, sc: layer.forward_parts(r, sc)[0], plain_parts):
        y = torch.cat(f(layer.split_parts(x), s), dim=1)
        results.append([y, *torch.autograd.grad((y * y).sum(), params)])
    for a, b in zip(*results):
        assert torch.equal(a, b)


@pytest.mark.parametrize("m_max,n", [(0, 6), (2, 6), (L_MAX, 6), (2, 3000)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gated_so2_linear_equals_plain_blocks(m_max, n, dtype):
    """:func:`so3.gated_so2_linear` (gate + SO(2) linear, gated blocks recomputed in backward) is the plain
    ``GateActivation.forward_parts → SO2Linear.forward_parts`` composition: values and gradients bit-identical."""
    order = so3.m_order(L_MAX, m_max)
    conv1 = so3.SO2Linear(3, 4, L_MAX, m_max, extra_m0_channels=L_MAX * 4).to(dtype)
    conv2 = so3.SO2Linear(4, 2, L_MAX, m_max).to(dtype)
    gate = so3.GateActivation(L_MAX, 4, degrees=so3.degree_index(L_MAX)[order])
    x = torch.randn(n, len(order), 3, dtype=dtype, requires_grad=True)
    w = torch.randn(n, len(order), 2, dtype=dtype)
    params = [x, *conv1.parameters(), *conv2.parameters()]

    def run(fast):
        parts, gates = conv1.forward_parts(conv1.split_parts(x))
        if fast:
            y = so3.gated_so2_linear(gate, conv2, gates, parts)
        else:
            y = torch.cat(conv2.forward_parts(gate.forward_parts(gates, parts))[0], dim=1)
        return [y, *torch.autograd.grad((y * w).sum(), params)]

    for a, b in zip(run(True), run(False)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("E", [5, 4000])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("l_max,m_max", [(4, 2), (2, 2), (2, 1), (3, 3)])
def test_rotations_on_column_chunks_bit_identical(l_max, m_max, dtype, E):
    """The edge-frame rotations of :func:`so3.edge_message` on fewer columns: each half ``D h_u``, ``D h_v`` of the
    pair (forward; backward on the strided halves of the pair's gradient) and :func:`so3._bmm_columns`' chunks of
    16 are the rotation of the whole ``(E, K, 2C)`` pair, bit for bit, wherever ``_same_bmm_kernel`` says the
    halves run ATen's kernel of the pair (BLAS above 400 multiply-adds per product, a plain loop below) and
    ``_column_split_is_exact`` (a probe on 64 random products per shape) finds this machine's BLAS summing them alike:
    the probe's answer holds for other edge counts."""
    D = so3.wigner_d_blocks(so3.edge_rotation(torch.randn(E, 3, dtype=dtype)), l_max)
    D = D.index_select(1, so3.m_order(l_max, m_max))  # (E, K_m, K)
    checked = 0
    for C in (1, 2, 3, 4, 6, 8, 12, 16, 20, 32, 40):
        if not so3._same_bmm_kernel(D, C, 2 * C) or not so3._column_split_is_exact(dtype, *D.shape[1:], C):
            continue
        checked += 1
        pair = torch.randn(E, D.shape[2], 2 * C, dtype=dtype)
        whole = torch.bmm(D, pair)
        for h in range(2):
            half = pair[:, :, h * C : (h + 1) * C].contiguous()
            assert torch.equal(so3._bmm_columns(D, half), whole[:, :, h * C : (h + 1) * C])
        grad = torch.randn(E, D.shape[1], 2 * C, dtype=dtype)
        whole_t = torch.bmm(D.transpose(1, 2), grad)
        for h in range(2):
            got = so3._bmm_columns(D.transpose(1, 2), grad[:, :, h * C : (h + 1) * C])
            assert torch.equal(got, whole_t[:, :, h * C : (h + 1) * C])
        assert torch.equal(so3._bmm_columns(D, pair), whole)
    if not checked:
        pytest.skip("this machine's BLAS sums column halves differently (e.g. MKL's AVX2 path): the fused path is off")
