"""GemNet-OC: Table 6 counts, symmetries (float64), triplet/quadruplet indices vs brute force, scale factors."""

from __future__ import annotations

import itertools

import ase.build
import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms

from nnip.data import collate
from nnip.models import build_model, count_parameters, ladder, published_params
from nnip.models import _gemnet_blocks as blocks
from nnip.models._gemnet_blocks import Graph, ScaleFactor, quadruplets, select_edges, symmetrize, triplets
from nnip.models.gemnet_oc import GemNetOC, fit_scale_factors

OPTIONS = {
    "triplets": {},
    "quad": {"quad_interaction": True, "cutoff_qint": 4.0, "max_neighbors_qint": 6},
    "all": {
        "quad_interaction": True, "atom_edge_interaction": True, "edge_atom_interaction": True,
        "atom_interaction": True, "cutoff_aeaint": 4.0, "cutoff_aint": 6.0, "max_neighbors_aint": 40,
    },
}  # fmt: skip


def _model(dtype=torch.float64, seed=0, **kw) -> GemNetOC:
    torch.manual_seed(seed)
    return build_model("gemnet_oc", **{**GemNetOC.TEST_HPARAMS, **kw}).to(dtype)


@pytest.fixture(scope="module")
def ethanol(ethanol_xyz) -> list[Atoms]:
    return ase.io.read(ethanol_xyz, ":8")


@pytest.fixture(scope="module")
def copper() -> list[Atoms]:
    out = []
    for seed in range(2):
        cu = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
        cu.rattle(0.08, seed=seed)
        out.append(cu)
    return out


def _batch(atoms, model, dtype=torch.float64):
    return collate(atoms, cutoff=model.cutoff, max_neighbors=model.max_neighbors, dtype=dtype)


def _rotation(seed=0) -> torch.Tensor:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return torch.as_tensor(q)


# --- parameter counts (Table 6) -------------------------------------------------------------------------------
def test_ladder_counts_exact(monkeypatch):
    assert count_parameters(build_model("gemnet_oc", hidden_dim=32)) == 312_992
    monkeypatch.setattr(blocks, "he_orthogonal_", lambda weight, fan_in: weight)  # shapes only, skip the QR init
    for h, n in zip(ladder("gemnet_oc"), published_params("gemnet_oc")):
        w = h["hidden_dim"]
        assert h["num_layers"] == 4
        assert n == 194 * w**2 + 885 * w + 86_016
        assert count_parameters(build_model("gemnet_oc", **h)) == n, w
    assert [h["hidden_dim"] for h in ladder("gemnet_oc")][2] == GemNetOC().base_width == 64


def test_interaction_options_add_parameters():
    """Table 6 is reproduced only with every optional interaction off; the quadruplet block adds exactly its size."""
    w, R, S, B = 32, 128, 7, 4
    base = count_parameters(build_model("gemnet_oc", hidden_dim=w))
    quad = count_parameters(build_model("gemnet_oc", hidden_dim=w, quad_interaction=True))
    shared = R * 16 + R * S * 16 + R * S * S * 32  # rbf, cbf and sbf projections
    per_block = w * w + 16 * w + 16 * 32 + 32 * 32 * 32 + w * 32 + 2 * 32 * w
    assert quad - base == shared + B * per_block
    for opt in ("atom_edge_interaction", "edge_atom_interaction", "atom_interaction"):
        assert count_parameters(build_model("gemnet_oc", hidden_dim=w, **{opt: True})) > base, opt
    assert count_parameters(build_model("gemnet_oc", hidden_dim=w, stress=True)) == base + w


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
@pytest.mark.parametrize("option", list(OPTIONS))
def test_symmetries(system, option, request):
    atoms = request.getfixturevalue(system)[:3]
    model = _model(stress=True, **OPTIONS[option])
    b = _batch(atoms, model)
    out = model(b)
    assert torch.isfinite(out["forces"]).all() and out["forces"].abs().max() > 0
    tol = dict(atol=1e-9, rtol=1e-7)

    R = _rotation(1)
    rot = model(b.rotate(R))
    torch.testing.assert_close(rot["energy"], out["energy"], **tol)
    torch.testing.assert_close(rot["forces"], out["forces"] @ R.T, **tol)
    torch.testing.assert_close(rot["stress"], R @ out["stress"] @ R.T, **tol)

    tr = model(b.translate(torch.tensor([3.1, -7.2, 0.4], dtype=torch.float64)))
    for k in out:
        torch.testing.assert_close(tr[k], out[k], **tol)

    pb, perm = _permuted(b)
    pm = model(pb)
    torch.testing.assert_close(pm["energy"], out["energy"], **tol)
    torch.testing.assert_close(pm["forces"], out["forces"][perm], **tol)
    torch.testing.assert_close(pm["stress"], out["stress"], **tol)


def test_batch_equals_single_frames(ethanol, copper):
    model = _model(quad_interaction=True)
    frames = [ethanol[0], copper[0], ethanol[1]]
    out = model(_batch(frames, model))
    for k, at in enumerate(frames):
        single = model(_batch([at], model))
        torch.testing.assert_close(out["energy"][k], single["energy"][0])


def test_isolated_atom_and_dtypes(ethanol):
    model = _model(torch.float32)
    out = model(_batch([Atoms("H", positions=[[0, 0, 0]])], model, torch.float32))
    assert out["forces"].abs().max() == 0 and torch.isfinite(out["energy"]).all()
    b = _batch(ethanol[:2], model, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf = model(b)
    assert bf["energy"].dtype == torch.float32 and torch.isfinite(bf["forces"]).all()


@pytest.mark.parametrize("option", ["triplets", "all"])
def test_smooth_at_cutoff(ethanol, option):
    """An H atom crossing the (largest) cutoff sphere of the outermost atom changes the energy continuously."""
    model = _model(**OPTIONS[option])
    mol = ethanol[0]
    k = mol.positions[:, 0].argmax()
    energies = []
    for dx in (-1e-6, 1e-6):
        extra = Atoms("H", positions=[mol.positions[k] + [model.cutoff + dx, 0, 0]])
        energies.append(model(_batch([mol + extra], model))["energy"].item())
    assert abs(energies[1] - energies[0]) < 1e-9


# --- index construction vs brute force -------------------------------------------------------------------------
def _graph(atoms, cutoff, max_neighbors=None):
    b = collate([atoms], cutoff=cutoff, max_neighbors=max_neighbors, dtype=torch.float64)
    j, i = b.edge_index
    return Graph(j, i, b.cell_shift.round().long(), b.edge_vectors()), b.num_atoms


@pytest.mark.parametrize("system", ["ethanol", "copper"])
def test_triplets_match_brute_force(system, request):
    atoms = request.getfixturevalue(system)[0]
    raw, n = _graph(atoms, 2.0 if system == "ethanol" else 2.8, max_neighbors=10)
    g = symmetrize(select_edges(raw, 10.0, None, n), n)
    src, dst, sh = g.src.tolist(), g.dst.tolist(), g.shift.tolist()
    # symmetrised: every raw edge present, id_swap is the reverse edge
    edges = {(s, d, tuple(x)) for s, d, x in zip(src, dst, sh)}
    assert {(s, d, tuple(x)) for s, d, x in zip(raw.src.tolist(), raw.dst.tolist(), raw.shift.tolist())} <= edges
    for e, r in enumerate(g.id_swap.tolist()):
        assert (src[r], dst[r], tuple(sh[r])) == (dst[e], src[e], tuple(-v for v in sh[e]))
    torch.testing.assert_close(g.vec[g.id_swap], -g.vec)

    t = triplets(g, n)
    brute = {(b_, c_) for b_, c_ in itertools.product(range(len(g)), repeat=2) if b_ != c_ and dst[b_] == dst[c_]}
    got = set(zip(t.inp.tolist(), t.out.tolist()))
    assert got == brute and len(t.inp) == len(brute) > 0
    assert t.kmax == max(t.inner.tolist()) + 1


@pytest.mark.parametrize("system", ["ethanol", "copper"])
def test_quadruplets_match_brute_force(system, request):
    atoms = request.getfixturevalue(system)[0]
    cut, qcut = (1.8, 1.6) if system == "ethanol" else (2.8, 2.7)
    raw, n = _graph(atoms, cut)
    g = symmetrize(select_edges(raw, 10.0, None, n), n)
    qg = select_edges(raw, qcut, 3, n)
    q = quadruplets(g, qg, n)
    s, d, sh = g.src.tolist(), g.dst.tolist(), [tuple(x) for x in g.shift.tolist()]
    qs, qd, qsh = qg.src.tolist(), qg.dst.tolist(), [tuple(x) for x in qg.shift.tolist()]
    add = lambda *v: tuple(int(sum(x)) for x in zip(*v))  # noqa: E731
    brute = set()
    for e_db, e_ba, e_ca in itertools.product(range(len(g)), range(len(qg)), range(len(g))):
        if d[e_db] != qs[e_ba] or qd[e_ba] != d[e_ca]:
            continue
        if s[e_db] == qd[e_ba] and add(sh[e_db], qsh[e_ba]) == (0, 0, 0):  # d = a
            continue
        if qs[e_ba] == s[e_ca] and qsh[e_ba] == sh[e_ca]:  # b = c
            continue
        if s[e_db] == s[e_ca] and add(sh[e_db], qsh[e_ba]) == sh[e_ca]:  # c = d
            continue
        brute.add((e_db, e_ba, e_ca))
    tin = q.trip_in
    t_in, t_out = tin.inp.tolist(), tin.out.tolist()
    got = {(t_in[k], t_out[k], e) for k, e in zip(q.quad.inp.tolist(), q.quad.out.tolist())}
    assert got == brute and len(q.quad.inp) == len(brute) > 0
    # the output triplet of every quadruplet shares its intermediate edge
    assert torch.equal(q.trip_out.inp[q.trip_out_of_quad], tin.out[q.quad.inp])


# --- scale factors (footnote 4) --------------------------------------------------------------------------------
def test_scale_factors_fit_and_travel(ethanol, copper):
    model = _model(quad_interaction=True)
    n_params = count_parameters(model)
    batches = [_batch(ethanol[:4], model), _batch(copper, model)]
    factors = fit_scale_factors(model, batches)
    assert count_parameters(model) == n_params
    assert len(factors) == sum(isinstance(m, ScaleFactor) for m in model.modules()) > 10
    assert all(np.isfinite(v) and v > 0 for v in factors.values()) and any(abs(v - 1) > 0.05 for v in factors.values())

    stats = {}
    for name, mod in model.named_modules():
        if isinstance(mod, ScaleFactor):
            stats[name] = [0.0, 0]

            def obs(y, s=stats[name]):
                s[0] += float(y.reshape(len(y), -1).var(0, correction=0).mean()) * len(y)
                s[1] += len(y)

            mod.observer = obs
    with torch.no_grad():
        for b in batches:
            model(b)
    for mod in model.modules():
        if isinstance(mod, ScaleFactor):
            mod.observer = None
    for name, (v, n) in stats.items():
        assert n > 0 and v / n == pytest.approx(1.0, rel=1e-6), name

    fresh = _model(seed=1, quad_interaction=True)
    assert all(v == 1.0 for v in fresh.scale_factors().values())
    fresh.load_state_dict(model.state_dict())
    assert fresh.scale_factors() == factors == model.scale_factors()
    torch.testing.assert_close(fresh(batches[0])["forces"], model(batches[0])["forces"])


# --- training ---------------------------------------------------------------------------------------------------
def test_training_decreases_loss(ethanol):
    torch.manual_seed(0)
    model = _model(torch.float32)
    b = _batch(ethanol[:8], model, torch.float32)
    mu, sigma = b.energy.mean(), b.energy.std()
    e_t, f_t = (b.energy - mu) / sigma, b.forces / sigma
    fit_scale_factors(model, [b])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)

    def loss_fn():
        out = model(b)
        e_loss = ((out["energy"] - e_t) / b.natoms).abs().mean()
        return e_loss + (out["forces"] - f_t).norm(dim=-1).mean()

    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(loss_fn())
    assert last < 0.5 * first, (first, last)
