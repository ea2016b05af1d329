"""MPNN, EGNN and Transformer beyond the shared contract: the App. J translation-variant MPNN, EGNN's μP scaling
and float64-exact equivariance, the transformer's padded layout, the negatives of the shipped checks, and a short
AdamW fit on real ethanol frames that must reduce the loss."""

from __future__ import annotations

import math
import time

import pytest
import torch

from nnip import testing as T
from nnip.data.batch import collate
from nnip.models import build_model, count_parameters
from nnip.models.egnn import default_vector_channels
from nnip.models.mpnn import table3_params
from nnip.train.loss import task_loss

from .conftest import tiny_model


# --- MPNN -----------------------------------------------------------------------------------------------------
def test_mpnn_translation_variant_app_j(molecules):
    """``translation_invariant=False`` feeds absolute positions: declares only permutation and measurably breaks
    translation invariance (the default model is invariant to round-off)."""
    variant = tiny_model("mpnn", translation_invariant=False)
    assert variant.symmetries == frozenset({"permutation"})
    assert tiny_model("mpnn").symmetries == frozenset({"permutation", "translation"})
    errors = T.assert_not_translation_invariant(variant, molecules, min_error=1e-3)
    assert errors["energy"] > 1e-3
    T.assert_permutation_equivariant(variant, molecules)
    T.assert_translation_invariant(tiny_model("mpnn"), molecules, rtol=1e-12)


def test_mpnn_not_rotation_equivariant(molecules):
    model = tiny_model("mpnn", stress=True)
    err = T.equivariance_error(model, T.batch_for(model, molecules), T.random_rotation())
    assert err["energy"] > 1e-3 and err["forces"] > 1e-2 and err["stress"] > 1e-2
    with pytest.raises(AssertionError, match="rotation"):
        T.assert_equivariant(model, molecules)


def test_mpnn_closed_form_odd_and_even_widths():
    for w in (2, 3, 16, 17, 101):
        n = count_parameters(build_model("mpnn", hidden_dim=w))
        assert n == table3_params(w)


def test_split_message_linear_equals_the_concatenation(molecules):
    """Both models evaluate ``W [h_u ‖ h_v ‖ g]`` as per-atom parts gathered to edges: same function as eq. (9)/(11)."""
    torch.manual_seed(0)
    h = torch.randn(5, 16, dtype=torch.float64)
    src, dst = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 0, 3, 2, 0, 4])
    geom = torch.randn(6, 4, dtype=torch.float64)
    layer = tiny_model("mpnn").layers[0]
    e = torch.rand(6, 16, dtype=torch.float64)
    naive = layer.act(layer.phi_m(torch.cat([h[src], h[dst], geom], -1))) * e
    degree = torch.bincount(dst, minlength=5).clamp_min(1)[:, None]
    expected = h + torch.zeros_like(h).index_add_(0, dst, naive) / degree
    torch.testing.assert_close(layer(h, geom, e, src, dst), expected, rtol=1e-12, atol=1e-12)

    egnn_layer = tiny_model("egnn").layers[1]
    sq, edge = torch.rand(6, egnn_layer.e_in, dtype=torch.float64), torch.rand(6, 9, dtype=torch.float64)
    naive = egnn_layer.phi_m[0](torch.cat([h[src], h[dst], sq, edge], -1))
    torch.testing.assert_close(egnn_layer._first_linear(h, sq, edge, src, dst), naive, rtol=1e-12, atol=1e-12)


def test_mpnn_is_not_smooth_at_the_cutoff():
    """The negative of ``assert_smooth_cutoff``: mean aggregation jumps when a neighbour enters."""
    with pytest.raises(AssertionError, match="jumps at the cutoff"):
        T.assert_smooth_cutoff(tiny_model("mpnn"))


# --- EGNN -----------------------------------------------------------------------------------------------------
def test_egnn_rotation_to_1e_10(molecules, periodic_cell):
    model = tiny_model("egnn", stress=True)
    for structures in (molecules, [periodic_cell]):
        worst = T.assert_equivariant(model, structures, rtol=1e-10, n_rotations=5)
        assert max(worst.values()) < 1e-12
    # a reflection is in O(3) too: EGNN is E(3)-equivariant, so energy is reflection-invariant
    batch = T.batch_for(model, molecules)
    P = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert T.equivariance_error(model, batch, P)["energy"] < 1e-12


def test_egnn_vector_channels_and_mup_init():
    assert [default_vector_channels(w) for w in (32, 64, 102, 800)] == [5, 8, 10, 28]
    model = build_model("egnn", hidden_dim=64, num_layers=3)
    assert model.vector_channels == 8
    first, later = model.layers[0].w_x, model.layers[1].w_x
    assert first.weight.shape == (1 * 8, 64) and later.weight.shape == (8 * 8, 64)
    assert first.bias is None and later.bias is None  # a bias would break nothing, but it is not in Table 4
    torch.manual_seed(0)
    big = build_model("egnn", hidden_dim=400, num_layers=2).layers[1].w_x.weight
    sigma = math.sqrt(min(400, 20 * 20)) / 400  # App. C.3: sqrt(min(w, EE') / w²) = 1/√w here
    assert abs(big.std().item() / sigma - 1) < 0.02
    assert build_model("egnn", hidden_dim=64, vector_channels=3, num_layers=2).vector_channels == 3


def test_egnn_vector_update_is_theta_one():
    """The 1/E scaling keeps the channel mix Θ(1) as E grows: the mean |ΔX| at init does not grow like E."""
    torch.manual_seed(0)
    sizes = {}
    for w in (16, 64, 256):
        layer = build_model("egnn", hidden_dim=w, num_layers=2).layers[1]
        E = layer.e_in
        m = torch.randn(2000, w)
        X = torch.randn(2000, 3, E)
        W = layer.w_x(m).view(-1, E, E)
        sizes[w] = (torch.einsum("eac,ecd->ead", X, W) / E).pow(2).mean().sqrt().item()
    assert max(sizes.values()) / min(sizes.values()) < 3.0, sizes


def test_egnn_forces_are_translation_invariant_displacements(molecules):
    model = tiny_model("egnn")
    batch = T.batch_for(model, molecules)
    far = batch.translate(torch.tensor([1e3, -2e3, 5e2]))
    torch.testing.assert_close(model(far)["forces"], model(batch)["forces"], rtol=1e-9, atol=1e-12)


# --- Transformer ------------------------------------------------------------------------------------------------
def test_transformer_padded_layout(molecules):
    model = tiny_model("transformer")
    batch = T.batch_for(model, molecules)
    graph, slot, max_n = model.dense_layout(batch)
    assert max_n == 15 and torch.equal(graph, batch.batch)
    assert slot.tolist() == list(range(9)) + list(range(9)) + list(range(15))


def test_transformer_ignores_the_graph_and_is_global(molecules):
    model = tiny_model("transformer")
    batch = T.batch_for(model, molecules)
    no_edges = batch.replace(edge_index=batch.edge_index[:, :0], cell_shift=batch.cell_shift[:0])
    torch.testing.assert_close(model(no_edges)["energy"], model(batch)["energy"], rtol=0, atol=0)
    assert not model.local and model.symmetries == frozenset({"permutation"})
    with pytest.raises(AssertionError, match="locality"):  # the negative of assert_local
        T.assert_local(model, molecules[0], molecules[2])


def test_transformer_heads_divisibility():
    with pytest.raises(ValueError, match="divisible"):
        build_model("transformer", d_model=10, num_heads=3)


# --- shared blocks these models are built from (nnip.nn) ----------------------------------------------------------
def test_envelopes_vanish_smoothly_at_the_cutoff():
    from nnip.nn import cosine_envelope, polynomial_envelope

    r = torch.tensor([0.0, 5.999999, 6.0, 7.0], dtype=torch.float64, requires_grad=True)
    for env in (lambda x: polynomial_envelope(x, 6.0, 5), lambda x: cosine_envelope(x, 6.0)):
        u = env(r)
        (du,) = torch.autograd.grad(u.sum(), r)
        assert u[0].item() == 1.0 and u[2:].abs().max().item() == 0.0
        assert abs(u[1].item()) < 1e-10 and du[1:].abs().max().item() < 1e-5


def test_radial_bases_shapes_and_zero_distance():
    from nnip.nn import BesselBasis, GaussianBasis

    r = torch.tensor([0.0, 1.0, 5.9], dtype=torch.float64)
    assert GaussianBasis(136, 6.0)(r).shape == (3, 136)
    b = BesselBasis(8, 6.0)(r)
    assert b.shape == (3, 8) and torch.isfinite(b).all()  # the r -> 0 limit is taken exactly


def test_scatter_mean_and_sum():
    from nnip.nn import scatter_mean, scatter_sum

    src = torch.arange(12.0).view(6, 2)
    index = torch.tensor([2, 0, 2, 2, 0, 3])
    assert torch.equal(scatter_sum(src, index, 5)[[1, 4]], torch.zeros(2, 2))
    torch.testing.assert_close(scatter_mean(src, index, 5)[2], src[[0, 2, 3]].mean(0))
    torch.testing.assert_close(scatter_sum(src, index, 5).sum(0), src.sum(0))


# --- the shipped checks catch what they should --------------------------------------------------------------------
def test_random_rotation_is_haar_so3():
    R = T.random_rotation(2000, generator=torch.Generator().manual_seed(0))
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(R @ R.transpose(1, 2), eye.expand(2000, 3, 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.det(R), torch.ones(2000, dtype=torch.float64), rtol=0, atol=1e-12)
    assert R.mean(0).abs().max() < 0.05  # Haar: E[R] = 0
    assert abs((R.diagonal(dim1=1, dim2=2).sum(-1)).mean().item()) < 0.1  # E[tr R] = 0 for Haar SO(3)


def test_cross_talk_detected(molecules):
    class Leaky(torch.nn.Module):
        """Energy of each structure plus the mean position of the whole batch: cross-talk by construction."""

        def __init__(self):
            super().__init__()
            self.inner = tiny_model("egnn")
            self.cutoff, self.max_neighbors = 6.0, 30

        def forward(self, batch):
            out = self.inner(batch)
            return {**out, "energy": out["energy"] + batch.pos.sum() * 1e-3}

    with pytest.raises(AssertionError, match="other structures"):
        T.assert_no_cross_talk(Leaky().double(), molecules)


def test_check_model_report(molecules, periodic_cell):
    report = T.check_model(tiny_model("egnn"), molecules, periodic=[periodic_cell])
    assert {"rotation/molecules", "rotation/periodic", "permutation", "local"} <= set(report)
    assert "rotation/molecules" not in T.check_model(tiny_model("mpnn"), molecules)


# --- learning ---------------------------------------------------------------------------------------------------
FIT = {
    "mpnn": ({"hidden_dim": 32, "num_layers": 3, "num_radial": 16}, 2e-3),
    "egnn": ({"hidden_dim": 32, "num_layers": 3, "num_radial": 16}, 2e-3),
    "transformer": ({"d_model": 32, "num_layers": 2, "num_heads": 2}, 1e-3),
}


@pytest.mark.parametrize("name", sorted(FIT))
def test_short_fit_reduces_loss(name, ethanol_frames, ethanol_xyz):
    """200 plain AdamW steps on 8 fixed ethanol frames with normalised targets (eq. 1) lower the loss a lot.

    One σ for energies and forces as in App. D, but the force RMS rather than the energy spread: the 8 frames
    differ by only ~0.2 eV, and ``f / 0.2`` would make the test about how fast a head can grow its scale."""
    import ase.io

    frames = ase.io.read(ethanol_xyz, ":8")
    hparams, lr = FIT[name]
    torch.manual_seed(0)
    model = build_model(name, **hparams)
    batch = collate(frames, cutoff=model.cutoff, max_neighbors=model.max_neighbors)
    mu, sigma = batch.energy.mean(), batch.forces.pow(2).mean().sqrt()
    batch = batch.replace(energy=(batch.energy - mu) / sigma, forces=batch.forces / sigma)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    start, losses = time.perf_counter(), []
    for _ in range(200):
        loss = task_loss(model(batch), batch)[0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    elapsed = time.perf_counter() - start
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert math.isfinite(last) and last < 0.6 * first, (name, first, last)
    # ~2-6 s on an idle 2-core CPU; the bound only catches pathological slowness on a loaded CI box
    assert elapsed < 60.0, f"{name}: 200 steps took {elapsed:.1f} s"
