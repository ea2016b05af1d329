"""EquiformerV2: ladder, symmetries (float64), locality, smooth cutoff, attention softmax, dtypes, EMT training."""

from __future__ import annotations

import ase.build
import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from nnip.data import collate
from nnip.models import build_model, count_parameters, ladder, published_params
from nnip.models.equiformer_v2 import Config, EquiformerV2, segment_softmax
from nnip.testing import check_model

REL = 1e-10  # float64 relative tolerance of the symmetry checks (the TEST grid is fine enough for round-off)


def _model(dtype=torch.float64, seed=0, **kw) -> EquiformerV2:
    torch.manual_seed(seed)
    return build_model("equiformer_v2", **{**EquiformerV2.TEST_HPARAMS, **kw}).to(dtype)


def _batch(atoms, model, dtype=torch.float64):
    return collate(atoms, cutoff=model.cutoff, max_neighbors=model.max_neighbors, dtype=dtype)


def _rotation(seed=0) -> torch.Tensor:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return torch.as_tensor(q)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.fixture(scope="module")
def ethanol(ethanol_xyz) -> list[Atoms]:
    return ase.io.read(ethanol_xyz, ":4")


@pytest.fixture(scope="module")
def copper() -> list[Atoms]:
    out = []
    for seed in range(2):
        cu = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
        cu.rattle(0.08, seed=seed)
        out.append(cu)
    return out


# --- config and ladder -----------------------------------------------------------------------------------------
def test_config_rejects_unknown_and_invalid():
    with pytest.raises(TypeError, match="sphere_chanels"):
        build_model("equiformer_v2", sphere_chanels=8)
    with pytest.raises(ValueError):
        Config(l_max=2, m_max=3)
    with pytest.raises(ValueError):
        Config(norm_type="batch_norm")


def test_ladder_counts():
    counts = []
    for h in ladder("equiformer_v2"):
        with torch.device("meta"):
            counts.append(count_parameters(build_model("equiformer_v2", **h)))
    assert all(n is None for n in published_params("equiformer_v2"))
    assert counts == sorted(counts) and 2_000 < counts[0] < 5_000 and 4e6 < counts[-1] < 7e6, counts
    base = [h["sphere_channels"] for h in ladder("equiformer_v2")].index(EquiformerV2().base_width)
    assert 0.8e6 < counts[base] < 1.2e6
    with torch.device("meta"):  # the OMat24 eqV2-S configuration has ≈31M parameters
        assert 30e6 < count_parameters(build_model("equiformer_v2")) < 32e6
    m = _model()
    assert (m.cutoff, m.max_neighbors, m.width) == (5.0, 16, 4)
    assert (Config().cutoff, Config().max_neighbors, Config().l_max, Config().m_max) == (12.0, 20, 4, 2)


# --- symmetries (float64) -------------------------------------------------------------------------------------
def _permuted(batch, seed=0):
    """Permute atoms within each graph and shuffle the edge order; returns the new batch and the atom map."""
    g = torch.Generator().manual_seed(seed)
    ptr = np.r_[0, np.cumsum(batch.natoms.numpy())]
    perm = torch.cat([a + torch.randperm(b - a, generator=g) for a, b in zip(ptr[:-1], ptr[1:])])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    eperm = torch.randperm(batch.num_edges, generator=g)
    new = batch.replace(
        pos=batch.pos[perm], atomic_numbers=batch.atomic_numbers[perm], batch=batch.batch[perm],
        edge_index=inv[batch.edge_index][:, eperm], cell_shift=batch.cell_shift[eperm],
    )  # fmt: skip
    return new, perm


@pytest.mark.parametrize("system", ["ethanol", "copper"])
def test_symmetries(system, request):
    atoms = request.getfixturevalue(system)[:2]
    model = _model(stress=True)
    b = _batch(atoms, model)
    with torch.no_grad():
        out = model(b)
        assert out["forces"].abs().max() > 0 and out["stress"].abs().max() > 0
        for seed in (1, 2):
            R = _rotation(seed)
            rot = model(b.rotate(R))
            assert _rel(rot["energy"], out["energy"]) < REL
            assert _rel(rot["forces"], out["forces"] @ R.T) < REL
            assert _rel(rot["stress"], R @ out["stress"] @ R.T) < REL
        torch.testing.assert_close(out["stress"], out["stress"].transpose(1, 2), rtol=0, atol=1e-14)

        tr = model(b.translate(torch.tensor([3.1, -7.2, 0.4], dtype=torch.float64)))
        for k in out:
            assert _rel(tr[k], out[k]) < REL, k

        pb, perm = _permuted(b)
        pm = model(pb)
        assert _rel(pm["energy"], out["energy"]) < REL
        assert _rel(pm["forces"], out["forces"][perm]) < REL
        assert _rel(pm["stress"], out["stress"]) < REL


def test_equivariance_error_shrinks_with_grid(copper):
    """The only approximation: pointwise activations on a finite S² grid (aliasing)."""
    errors = []
    for res in (8, 16, 40):
        model = _model(grid_resolution=res)
        b = _batch(copper[:1], model)
        R = _rotation(3)
        with torch.no_grad():
            errors.append(_rel(model(b.rotate(R))["forces"], model(b)["forces"] @ R.T))
    assert errors[0] > errors[1] > errors[2] and errors[2] < REL, errors


def test_batch_equals_single_frames(ethanol, copper):
    model = _model(stress=True)
    frames = [ethanol[0], copper[0], ethanol[1]]
    with torch.no_grad():
        out = model(_batch(frames, model))
        start = 0
        for k, at in enumerate(frames):
            single = model(_batch([at], model))
            torch.testing.assert_close(out["energy"][k], single["energy"][0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(out["forces"][start : start + len(at)], single["forces"], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(out["stress"][k], single["stress"][0], rtol=1e-12, atol=1e-12)
            start += len(at)


def test_locality_two_molecules_far_apart(ethanol):
    model = _model()
    a, b = ethanol[0].copy(), ethanol[1].copy()
    a.pbc = b.pbc = False
    b.positions += np.array([40.0, 0.0, 0.0])
    both = a + b
    with torch.no_grad():
        pair = model(_batch([both], model))
        sa, sb = model(_batch([a], model)), model(_batch([b], model))
    torch.testing.assert_close(pair["energy"][0], sa["energy"][0] + sb["energy"][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pair["forces"], torch.cat([sa["forces"], sb["forces"]]), rtol=1e-12, atol=1e-12)


def test_smooth_at_cutoff():
    """A neighbour crossing the cutoff changes nothing abruptly (envelope in softmax, edge-degree and stress)."""
    model = _model(stress=True)
    c = model.cutoff

    def run(d):
        at = Atoms("CuAuCu", positions=[[0, 0, 0], [1.5, 1.5, 0.0], [0.0, d, 0.0]], cell=[30, 30, 30], pbc=False)
        with torch.no_grad():
            b = _batch([at], model)
            return b.num_edges, model(b)

    h = 1e-5
    (n_in, f0), (n_out, f1), (_, f2) = run(c - h), run(c + h), run(c + 3 * h)  # the 0–2 pair leaves the sphere
    assert n_in == n_out + 2
    for k in f0:  # a jump J would leave |f0 - 2 f1 + f2| ≈ J; smooth outputs leave O(h²)
        assert (f0[k] - 2 * f1[k] + f2[k]).abs().max() < 1e-8, k
        assert (f0[k] - f1[k]).abs().max() > 0, k


def test_check_model_suite(ethanol, copper):
    """The shipped checks (nnip.testing): symmetries, batching, no cross-talk, locality, dimer smoothness."""
    report = check_model(_model(stress=True), ethanol[:3], periodic=copper)
    assert report["local"] and report["smooth_cutoff"]["energy_jump"] < 1e-12


# --- attention softmax ----------------------------------------------------------------------------------------
def test_segment_softmax_normalised_and_stable():
    g = torch.Generator().manual_seed(0)
    index = torch.tensor([0, 0, 0, 2, 2, 3])  # segment 1 is empty
    logits = torch.randn(6, 2, generator=g, dtype=torch.float64)
    alpha = segment_softmax(logits, index, 4)
    sums = torch.zeros(4, 2, dtype=torch.float64).index_add_(0, index, alpha)
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(sums, expected)
    torch.testing.assert_close(alpha[:3], torch.softmax(logits[:3], dim=0))
    # shift-invariant per segment and stable for huge logits
    big = segment_softmax(logits + 1e4 * torch.tensor([1.0, 1, 1, -3, -3, 5])[:, None].double(), index, 4)
    torch.testing.assert_close(big, alpha)
    # envelope weights: zero weight drops the edge, the rest renormalise
    w = torch.tensor([1.0, 0.0, 1.0, 0.5, 0.5, 0.0], dtype=torch.float64)
    aw = segment_softmax(logits, index, 4, w)
    assert (aw[[1, 5]] == 0).all()
    torch.testing.assert_close(aw[[0, 2]], torch.softmax(logits[[0, 2]], dim=0))
    torch.testing.assert_close(aw[3:5], torch.softmax(logits[3:5], dim=0))


def test_attention_weights_sum_to_one_per_target(copper, ethanol):
    model = _model()
    b = _batch([copper[0], ethanol[0]], model)
    g, _, _ = model.geometry(b)
    x = torch.randn(b.num_atoms, (model.config.l_max + 1) ** 2, model.width, dtype=torch.float64)
    with torch.no_grad():
        _, alpha = model.blocks[0].attention(x, g, return_alpha=True)
    assert alpha.shape == (b.num_edges, model.config.num_heads) and (alpha >= 0).all()
    sums = torch.zeros(b.num_atoms, alpha.shape[1], dtype=torch.float64).index_add_(0, g.dst, alpha)
    has_edges = torch.bincount(g.dst, minlength=b.num_atoms) > 0
    torch.testing.assert_close(sums[has_edges], torch.ones_like(sums[has_edges]))


# --- dtypes and devices ---------------------------------------------------------------------------------------
def test_isolated_atom_float32_and_bf16(ethanol):
    model = _model(torch.float32, stress=True)
    out = model(_batch([Atoms("H", positions=[[0, 0, 0]])], model, torch.float32))
    assert out["forces"].abs().max() == 0 and torch.isfinite(out["energy"]).all()
    b = _batch(ethanol[:2], model, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf = model(b)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in bf.values())
    b.pos.requires_grad_(True)  # gradients reach positions through edge_vectors()
    model(b)["energy"].sum().backward()
    assert b.pos.grad is not None and torch.isfinite(b.pos.grad).all()


# --- training with stress -------------------------------------------------------------------------------------
def _emt_cells(n=8, seed=0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    cells = []
    for k in range(n):
        at = ase.build.bulk("Cu" if k % 2 == 0 else "Au", "fcc", a=3.6 if k % 2 == 0 else 4.08, cubic=True)
        if k % 4 == 3:  # a CuAu mix
            at.numbers[[0, 2]] = 29
            at.set_cell(at.cell * 3.85 / 4.08, scale_atoms=True)
        eps = np.diag(rng.uniform(-0.03, 0.03, 3)) + 0.01 * rng.uniform(-1, 1, (3, 3))
        at.set_cell(at.cell[:] @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        at.rattle(0.08, seed=int(rng.integers(1 << 30)))
        at.calc = EMT()
        e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress()
        at.calc = SinglePointCalculator(at, energy=e, forces=f, stress=s)
        cells.append(at)
    return cells


def test_training_with_stress_decreases_loss():
    torch.manual_seed(0)
    model = _model(torch.float32, stress=True, num_layers=1, grid_resolution=None, max_neighbors=12)
    b = _batch(_emt_cells(), model, torch.float32)
    e_pa = b.energy / b.natoms
    sigma = float(b.forces.std())
    e_t = (b.energy - e_pa.mean() * b.natoms) / sigma
    f_t, s_t = b.forces / sigma, b.stress / float(b.stress.std())
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)

    def loss_fn():
        out = model(b)
        e_loss = ((out["energy"] - e_t) / b.natoms).abs().mean()
        f_loss = (out["forces"] - f_t).norm(dim=-1).mean()
        s_loss = (out["stress"] - s_t).abs().mean()
        return e_loss + f_loss + s_loss, s_loss

    with torch.no_grad():
        first, first_s = (float(v) for v in loss_fn())
    for _ in range(150):
        opt.zero_grad()
        loss, _ = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last, last_s = (float(v) for v in loss_fn())
    assert last < 0.5 * first and last_s < 0.5 * first_s, (first, last, first_s, last_s)
