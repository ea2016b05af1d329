"""Architecture-agnostic symmetry wrappers (:mod:`nnip.models.symmetrize`) on every registered model: exact
invariance/equivariance in float64 on real molecules and a periodic cell, the documented behaviour on degenerate
frames, gradients through the learned canonicalizer, parameter and FLOP accounting, the run config key and a tiny
training run end to end."""

from __future__ import annotations

import ase.build
import ase.io
import pytest
import torch
from ase import Atoms

from nnip import testing as T
from nnip.errors import ConfigError
from nnip.models import SYMMETRIZE_METHODS, build_model, build_model_from_spec, count_parameters
from nnip.models.symmetrize import (
    CanonicalLearned,
    FrameAveraging,
    canonical_pca_frames,
    frame_degeneracy,
    frame_gaps,
    principal_frames,
    safe_gram_schmidt,
    tolerance,
)
from nnip.train import TrainConfig, train
from nnip.train.checkpoint import load_run
from nnip.train.flops import count_flops
from nnip.train.loss import objective

from .conftest import ALL_MODELS, tiny_model

RTOL = 1e-9  # float64: exact by construction, up to round-off
INDEX_BOOKKEEPING = {"sort", "_unique2", "argsort", "unique_consecutive"}
EIGH = {"_linalg_eigh"}  # the 3x3 eigendecomposition: the one op the FLOP counter leaves out (module docstring)


def wrapped(name, method, dtype=torch.float64, seed=0, **overrides):
    return tiny_model(name, dtype=dtype, seed=seed, symmetrize=method, **overrides)


@pytest.fixture(scope="module")
def degenerate():
    """CH₄ (spherical), benzene (oblate), CO₂ (prolate, linear), a single atom (spherical), a dimer (prolate)."""
    return [ase.build.molecule("CH4"), ase.build.molecule("C6H6"), ase.build.molecule("CO2"),
            Atoms("N", positions=[[0.3, -0.2, 0.7]]), Atoms("CO", positions=[[0.0, 0.0, 0.0], [0.4, 0.5, 0.9]])]


# --- exact symmetry on every model -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", SYMMETRIZE_METHODS)
@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_becomes_invariant(name, method, molecules, periodic_cell):
    """Rotations (Haar, one per structure), translations and permutations, float64, eval mode (all four frames for
    frame averaging); plus batch consistency, no cross-talk and (for smooth bases) smoothness at the cutoff."""
    model = wrapped(name, method, stress=True)
    base = tiny_model(name, stress=True)
    assert model.symmetries == base.symmetries | {"rotation", "translation"} and model.local is False
    assert (model.cutoff, model.max_neighbors, model.width, model.base_width) == (
        base.cutoff, base.max_neighbors, base.width, base.base_width)
    assert model.config == base.config
    assert (frame_gaps([*molecules, periodic_cell]) > 1e-2).all()  # non-degenerate frames
    report = T.check_model(model, molecules, periodic=[periodic_cell], rtol=RTOL)
    assert {"rotation/molecules", "rotation/periodic", "translation/molecules", "permutation"} <= set(report)


def test_wrapping_keeps_the_base_model(molecules):
    """The base inside the wrapper is built exactly as without ``symmetrize`` (same seed, same weights); FA and PCA
    add no parameter, the learned canonicalizer adds its own (counted in N)."""
    for name in ALL_MODELS:
        base = tiny_model(name)
        for method in SYMMETRIZE_METHODS:
            model = wrapped(name, method)
            assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), model.base.state_dict().values()))
            extra = count_parameters(model.canonicalizer) if method == "canonical-learned" else 0
            assert count_parameters(model) == count_parameters(base) + extra
    learned = wrapped("mpnn", "canonical-learned")
    assert 0 < count_parameters(learned.canonicalizer) < 10_000
    assert learned.mup_vector_like == ("canonicalizer.",)  # fixed width: μP keeps its learning rate


def test_gemnet_scale_factors_are_fitted_in_frames(molecules):
    """The trainer fits GemNet-OC's scale factors through the wrapper, on the structures as the base model sees them;
    a base model without them has none through the wrapper either."""
    assert not hasattr(wrapped("mpnn", "frame-averaging"), "fit_scale_factors")
    model = wrapped("gemnet_oc", "frame-averaging").train()
    before = {k: v.clone() for k, v in model.base.state_dict().items()}
    with torch.no_grad():
        model.fit_scale_factors([T.batch_for(model, molecules)])
    assert any(not torch.equal(before[k], v) for k, v in model.base.state_dict().items())


def test_stochastic_frame_averaging_in_training(molecules):
    """Train mode: one of the four frames per structure, drawn from torch's seeded RNG (reproducible)."""
    model = wrapped("mpnn", "frame-averaging")
    batch = T.batch_for(model, molecules)
    with torch.no_grad():
        big, _ = model._framed(batch, model.frames(batch, every=True))
        per_frame = model.base(big)["energy"].view(4, batch.num_graphs)  # (frame, structure)
        full = model(batch)["energy"]
        torch.testing.assert_close(full, per_frame.mean(0))
        model.train()
        assert model.n_frames == 1 and model.frames(batch).shape == (3, 1, 3, 3)
        draws = []
        for seed in (0, 0, 1, 2, 3):
            torch.manual_seed(seed)
            draws.append(model(batch)["energy"])
    for e in draws:  # every structure's energy is one of its four frames' energies
        assert ((e[None, :] - per_frame).abs().min(0).values < 1e-12).all()
    assert torch.equal(draws[0], draws[1])
    assert any(not torch.equal(draws[0], d) for d in draws[2:])


# --- degenerate frames ---------------------------------------------------------------------------------------------
def test_frame_gaps_and_cases(degenerate, molecules):
    gaps = frame_gaps(degenerate)
    assert gaps.shape == (5, 2) and gaps.dtype == torch.float64
    for dtype in (torch.float64, torch.float32):
        assert frame_degeneracy(gaps, dtype).tolist() == [3, 2, 1, 3, 1]  # spherical, oblate, prolate, …
    assert frame_degeneracy(frame_gaps(molecules)).tolist() == [0, 0, 0]
    torch.testing.assert_close(frame_gaps(degenerate[2]), gaps[2:3])  # one Atoms, a list, or a Batch
    torch.testing.assert_close(frame_gaps(T.batch_for(tiny_model("mpnn"), degenerate)), gaps)
    assert tolerance(torch.float64) == 1e-6 and tolerance(torch.float32) == 1e-3


def test_degenerate_frames_are_completed_as_documented(degenerate):
    batch = T.batch_for(tiny_model("mpnn"), degenerate)
    frames, _, cases, _ = principal_frames(batch.pos, batch.batch, batch.num_graphs)
    assert cases.tolist() == [3, 2, 1, 3, 1]
    assert torch.allclose(frames.transpose(1, 2) @ frames, torch.eye(3, dtype=torch.float64).expand(5, 3, 3))
    assert torch.allclose(torch.linalg.det(frames), torch.ones(5, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.equal(frames[0], eye) and torch.equal(frames[3], eye)  # spherical: the identity
    assert abs(frames[1][2, 2].abs().item() - 1) < 1e-12  # benzene (in the xy plane): the normal is kept as e₃
    co2 = torch.as_tensor(degenerate[2].positions[2] - degenerate[2].positions[1])
    assert abs(abs(frames[2][:, 0] @ co2 / co2.norm()) - 1) < 1e-12  # CO₂: its axis is kept as e₁


@pytest.mark.parametrize("method", SYMMETRIZE_METHODS)
@pytest.mark.parametrize("name", ALL_MODELS)
def test_degenerate_inputs_stay_finite(name, method, degenerate):
    """Outputs, position gradients and parameter gradients are finite on every degenerate case; translation
    invariance (centring) holds whatever the frame; linear structures keep an exactly invariant energy."""
    model = wrapped(name, method, stress=True)
    batch = T.batch_for(model, degenerate)
    pos = batch.pos.detach().clone().requires_grad_(True)
    out = model(batch.replace(pos=pos))
    assert all(torch.isfinite(v).all() for v in out.values())
    (out["energy"].sum() + out["forces"].pow(2).sum() + out["stress"].pow(2).sum()).backward()
    assert torch.isfinite(pos.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    T.assert_translation_invariant(model, batch, rtol=RTOL)
    linear = [degenerate[2], degenerate[4]]
    rot = T.random_rotation(2, generator=torch.Generator().manual_seed(3))
    assert T.equivariance_error(model, linear, rot)["energy"] < RTOL


def test_frame_averaging_is_exact_on_linear_structures_canonicalization_is_not(degenerate):
    """Documented: FA's sign average cancels the force components orthogonal to a linear structure's axis that the
    frame completion fixes; a single canonical frame keeps them (unconstrained MPNN as the base)."""
    linear = [degenerate[2], degenerate[4]]
    rot = T.random_rotation(2, generator=torch.Generator().manual_seed(3))
    assert T.equivariance_error(wrapped("mpnn", "frame-averaging"), linear, rot)["forces"] < RTOL
    assert T.equivariance_error(wrapped("mpnn", "canonical-pca"), linear, rot)["forces"] > 1e-3


def test_safe_gram_schmidt_on_degenerate_vectors():
    """Zero, tiny and parallel vectors fall back (finite values and gradients); proper orthonormal frames always."""
    fallback = T.random_rotation(4, generator=torch.Generator().manual_seed(0))
    v1 = torch.tensor([[0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [1.0, 2.0, 0.5], [0.3, -1.0, 2.0]], dtype=torch.float64)
    v2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 4.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    v1.requires_grad_(True)
    v2.requires_grad_(True)
    frames = safe_gram_schmidt(v1, v2, fallback, torch.full((4,), 1e-6, dtype=torch.float64))
    torch.testing.assert_close(frames.transpose(1, 2) @ frames, torch.eye(3, dtype=torch.float64).expand(4, 3, 3))
    torch.testing.assert_close(torch.linalg.det(frames), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(frames[0], fallback[0])  # v₁ = 0: the fallback frame
    torch.testing.assert_close(frames[1], fallback[1])  # v₁ below the threshold
    torch.testing.assert_close(frames[2][:, 0], v1[2].detach() / v1[2].detach().norm())  # v₂ ∥ v₁: e₂ falls back
    torch.testing.assert_close(frames[3][:, 0], v1[3].detach() / v1[3].detach().norm())
    frames.pow(2).mul(torch.arange(36.0, dtype=torch.float64).view(4, 3, 3)).sum().backward()
    assert torch.isfinite(v1.grad).all() and torch.isfinite(v2.grad).all()
    assert v1.grad[0].abs().max() == 0 and v1.grad[3].abs().max() > 0


# --- the learned canonicalizer -----------------------------------------------------------------------------------
def test_gradients_reach_the_learned_canonicalizer(molecules):
    model = wrapped("mpnn", "canonical-learned").train()
    assert isinstance(model, CanonicalLearned)
    batch = T.batch_for(model, molecules)
    out = model(batch)
    (out["energy"].pow(2).sum() + out["forces"].pow(2).sum()).backward()
    grads = {n: p.grad for n, p in model.canonicalizer.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().max() > 0 for n, g in grads.items()), [n for n, g in grads.items() if g.abs().max() == 0]
    # the frame itself is a differentiable function of the canonicalizer's parameters
    frame = model.frames(batch)
    (g,) = torch.autograd.grad(frame.sum(), model.canonicalizer.scalars.weight)
    assert g.abs().max() > 0


def test_canonical_pca_frame_is_equivariant(molecules):
    batch = T.batch_for(tiny_model("mpnn"), molecules)
    frames, radius = canonical_pca_frames(batch.pos, batch.batch, batch.num_graphs)
    R = T.random_rotation(3, generator=torch.Generator().manual_seed(5))
    rotated = batch.rotate(R)
    frames_r, radius_r = canonical_pca_frames(rotated.pos, rotated.batch, rotated.num_graphs)
    torch.testing.assert_close(frames_r, R @ frames, rtol=0, atol=1e-12)
    torch.testing.assert_close(radius_r, radius)


# --- precision, devices ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", SYMMETRIZE_METHODS)
def test_float32_and_bf16_autocast(method, molecules, periodic_cell):
    model = wrapped("egnn", method, dtype=torch.float32, stress=True).train()
    batch = T.batch_for(model, [*molecules, periodic_cell])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values())
    (out["energy"].sum() + out["forces"].pow(2).sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    T.assert_equivariant(model.eval(), [*molecules, periodic_cell])  # float32 tolerance


def test_frames_follow_the_input_device(molecules):
    """No tensor of the frame computation is created on the CPU by default (checked on the meta device)."""
    for method, k in (("frame-averaging", 4), ("canonical-pca", 1)):
        model = wrapped("mpnn", method, dtype=torch.float32)
        batch = T.batch_for(model, molecules).to("meta")
        model = model.to("meta")
        frames = model.frames(batch)
        big, per_copy = model._framed(batch, frames)
        assert frames.device.type == "meta" and frames.shape == (3, k, 3, 3)
        assert big.pos.device.type == "meta" and big.pos.shape == (k * batch.num_atoms, 3)
        model.train()
        assert model.frames(batch).shape == (3, 1, 3, 3)


# --- FLOPs -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_MODELS)
def test_flops_four_frames_in_eval_one_in_training(name, molecules):
    """What :mod:`nnip.train.flops` counts: an eval-mode FA forward ≈ 4× the base model's, a training step (forward
    + backward) with stochastic FA or a canonical frame ≈ 1×; only the eigendecomposition is left uncounted."""
    base = tiny_model(name)
    batch = T.batch_for(base, molecules)

    def forward_flops(model):
        with torch.no_grad(), count_flops() as fc:
            model(batch)
        return fc

    def step_flops(model):
        with count_flops() as fc:
            objective(model, batch)[0].sum().backward()
        return fc

    fa = wrapped(name, "frame-averaging")
    f0, f4 = forward_flops(base), forward_flops(fa)
    assert 3.9 < f4.total / f0.total < 4.3, f4.total / f0.total
    assert set(f4.count.uncounted) <= INDEX_BOOKKEEPING | EIGH, dict(f4.count.uncounted)
    s0 = step_flops(base.train())
    for method in ("frame-averaging", "canonical-pca"):
        s1 = step_flops(wrapped(name, method).train())
        assert 0.97 < s1.total / s0.total < 1.15, (method, s1.total / s0.total)
        assert set(s1.count.uncounted) <= INDEX_BOOKKEEPING | EIGH, dict(s1.count.uncounted)


# --- configs, runs -----------------------------------------------------------------------------------------------
def test_model_symmetrize_in_run_configs(tmp_path):
    d = {"model": {"name": "mpnn", "hparams": {"hidden_dim": 8}}, "data": {"source": "x.xyz"}}
    plain = TrainConfig.from_dict(d)
    assert "symmetrize" not in plain.to_dict()["model"]  # absent: config.json and run id exactly as before
    assert TrainConfig.from_dict({**d, "model": {**d["model"], "symmetrize": None}}).run_id() == plain.run_id()
    ids = {plain.run_id()}
    for method in SYMMETRIZE_METHODS:
        cfg = TrainConfig.from_dict({**d, "model.symmetrize": method})
        assert cfg.model.symmetrize == method and cfg.flat()["model.symmetrize"] == method
        path = tmp_path / f"{method}.yaml"
        cfg.to_yaml(path)
        again = TrainConfig.from_file(path)
        assert again == cfg and again.run_id() == cfg.run_id()
        assert plain.override([f"model.symmetrize={method}"]).run_id() == cfg.run_id()
        ids.add(cfg.run_id())
    assert len(ids) == 1 + len(SYMMETRIZE_METHODS)
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({**d, "model.symmetrize": "frame-averging"})
    assert "model.symmetrize" in str(err.value) and all(m in str(err.value) for m in SYMMETRIZE_METHODS)
    with pytest.raises(ConfigError, match="model.symmetrize must be a string"):
        TrainConfig.from_dict({**d, "model.symmetrize": 3})
    with pytest.raises(ConfigError, match="frame-averaging"):
        build_model("mpnn", symmetrize="pca", hidden_dim=8)
    assert isinstance(build_model_from_spec("mpnn", {"hidden_dim": 8}, "frame-averaging"), FrameAveraging)


@pytest.fixture(scope="module")
def ethanol40(tmp_path_factory, ethanol_xyz):
    frames = ase.io.read(ethanol_xyz, ":40")
    path = tmp_path_factory.mktemp("data") / "ethanol40.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize("method", ["frame-averaging", "canonical-learned"])
def test_tiny_training_run_end_to_end(tmp_path, ethanol40, method):
    """A wrapped model trains (μP groups, FLOP counting, evaluation in eval mode, checkpoint) and reloads."""
    hp = {"hidden_dim": 16, "num_layers": 2, "num_radial": 8}
    cfg = TrainConfig.from_dict({
        "model": {"name": "mpnn", "hparams": hp, "symmetrize": method}, "data": {"source": str(ethanol40), "n_val": 8},
        "train": {"batch_size": 4, "max_steps": 4}, "optim": {"mup": True}, "eval": {"log_points": 2},
        "runtime": {"threads": 1, "flops_calibration_steps": 2, "flops_every": 2},
    })
    torch.manual_seed(0)
    rec = train(cfg, tmp_path)
    assert rec.status == "done" and rec.summary["flops"] > 0
    assert set(rec.summary["flops_uncounted_ops"]) <= EIGH
    assert rec.summary["params"] == count_parameters(build_model("mpnn", symmetrize=method, **hp))
    assert rec.curve()["val_loss"].notna().all()
    model, _, config = load_run(tmp_path / "runs" / rec.run_id)
    assert config["model"]["symmetrize"] == method and model.method == method and not model.training
