r"""The GPU path, exercised without a GPU (2 of 2): mixed precision and the ``paper`` preset's configs.
``test_device_paths.py`` checks device placement; its docstring says what the pair proves and does not.

- **bf16 autocast** (the ``paper`` preset's ``train.amp``), with the *CPU's* autocast (``torch.autocast("cpu",
  dtype=torch.bfloat16)``): for every registered model, forward and backward are finite, the outputs are float32
  (the contract: the batch's dtype, also under autocast) and close to the float32 result within the measured
  tolerance :data:`BF16_RTOL`. CUDA's autocast casts a different op list and its bf16 kernels accumulate
  differently: this pins the dtype flow of the code (the float32 islands of the models, the float32 loss), not the
  numbers of a GPU run.
- **fp16 + GradScaler**: the trainer refuses ``train.amp = "fp16"`` off CUDA (``tests/train/test_trainer.py``);
  its scaler branch of :meth:`_Run.train_step` (scale, backward, unscale, clip, step, update) runs here under CPU
  fp16 autocast with a CPU ``GradScaler`` in place of the CUDA one.
- **the ``paper`` preset**: every training config of every study of the catalog resolves (round trip, run id,
  ``cuda`` + bf16), and every model of every config and of every ladder builds on the ``meta`` device (no memory),
  with the parameter counts of a real build (compared on the smallest rung of each architecture) and the published
  counts where a ladder declares them.
"""

from __future__ import annotations

import math

import ase.build
import ase.io
import pytest
import torch

from nnip import testing as T
from nnip.models import MODELS, build_model, build_model_from_spec, count_parameters, ladder, model_class
from nnip.models import published_params
from nnip.runs import RunStore
from nnip.train import TrainConfig, _dist, pipeline
from nnip.train.optim import set_mode
from nnip.train.trainer import _Run

#: bf16 autocast vs float32, relative Frobenius error ``‖out_bf16 − out_f32‖ / ‖out_f32‖`` of (energy, forces,
#: stress) and of all parameter gradients together; TEST_HPARAMS with ``stress=True``, two ethanol frames and a
#: periodic Cu cell. Measured (2026-12-07) over init seeds 0–19: worst output / gradient error per model
#: mpnn 7.4e-3 / 3.1e-3, transformer 1.7e-2 / 7.3e-3, egnn 4.7e-2 / 4.7e-2, esen 2.2e-2 / 3.5e-2,
#: gemnet_oc 4.2e-2 / 3.3e-2, equiformer_v2 3.0e-2 / 5.9e-2 (bf16 keeps 8 significant bits, 3.9e-3 per rounding,
#: and the errors of a few layers add up). The test runs seed 0 (all errors ≤ 1.2e-2 but equiformer_v2's gradient,
#: 5.9e-2); its values did not change with ATEN_CPU_CAPABILITY=default/avx2/avx512. Tolerances: about twice the
#: worst seed, so a cast that silently drops a float32 island (errors of order 1) fails and bf16 round-off does not.
BF16_RTOL: dict[str, tuple[float, float]] = {
    "mpnn": (2e-2, 1e-2),
    "transformer": (4e-2, 2e-2),
    "egnn": (1e-1, 1e-1),
    "esen": (5e-2, 7e-2),
    "gemnet_oc": (1e-1, 7e-2),
    "equiformer_v2": (7e-2, 1.5e-1),
}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


@pytest.fixture(scope="module")
def structures(ethanol_xyz):
    cu = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    cu.rattle(0.05, seed=1)
    return [*ase.io.read(ethanol_xyz, ":2"), cu]


def _loss(out: dict) -> torch.Tensor:
    return out["energy"].sum() + out["forces"].pow(2).sum() + out["stress"].pow(2).sum()


# ---------------------------------------------------------------------------------------------------------------
# bf16 autocast
# ---------------------------------------------------------------------------------------------------------------
def test_every_model_has_a_bf16_tolerance():
    assert set(BF16_RTOL) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bf16_autocast_close_to_float32(name, structures):
    torch.manual_seed(0)
    model = build_model(name, **{**model_class(name).TEST_HPARAMS, "stress": True}).float()
    batch = T.batch_for(model, structures)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = model(batch)
    ref_grads = torch.autograd.grad(_loss(ref), params, allow_unused=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    grads = torch.autograd.grad(_loss(out), params, allow_unused=True)  # backward outside the region, as trainers do
    rtol_out, rtol_grad = BF16_RTOL[name]
    for key in ("energy", "forces", "stress"):
        assert out[key].dtype == torch.float32, key
        assert torch.isfinite(out[key]).all(), key
        assert _rel(out[key], ref[key]) < rtol_out, (key, _rel(out[key], ref[key]))
    assert [g is None for g in grads] == [g is None for g in ref_grads]
    flat = torch.cat([g.reshape(-1) for g in grads if g is not None])
    ref_flat = torch.cat([g.reshape(-1) for g in ref_grads if g is not None])
    assert flat.dtype == torch.float32 and torch.isfinite(flat).all()
    assert _rel(flat, ref_flat) < rtol_grad, _rel(flat, ref_flat)


# ---------------------------------------------------------------------------------------------------------------
# fp16 + GradScaler (the trainer's CUDA-only branch, with a CPU scaler)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ethanol_40(tmp_path_factory, ethanol_xyz):
    from nnip.data import read

    ds = read(ethanol_xyz, limit=40)
    path = tmp_path_factory.mktemp("data") / "ethanol40.xyz"
    ase.io.write(path, [ds[k] for k in range(40)], format="extxyz")
    return path


def _fp16_steps(cfg: TrainConfig, tmp_path, scaler: torch.amp.GradScaler | None):
    run = _Run(cfg, RunStore(tmp_path / f"store-{id(scaler)}"), cfg.run_id(), _dist.DistContext())
    run.amp_dtype = torch.float16  # what train.amp = "fp16" sets, which the trainer accepts on CUDA only
    run.scaler = scaler
    set_mode(run.model, run.optimizer, True)
    batches = pipeline.epoch_batches(run.n_train, cfg.train.batch_size, cfg.train.seed, 0, min_size=1, shuffle=False)
    loader = pipeline.make_loader(run.data.train, batches, cutoff=run.cutoff, max_neighbors=run.max_neighbors,
                                  normalizer=run.normalizer, num_workers=0, rank=0, world=1)
    losses = [run.train_step(b, n, lo)[:2] for _, (b, n, lo) in zip(range(3), loader)]
    steps = {int(s["step"]) for s in run.optimizer.state.values()}  # AdamW's count of the steps it took
    return losses, {n: p.detach().clone() for n, p in run.model.named_parameters()}, steps


@pytest.fixture(scope="module")
def fp16_config(ethanol_40):
    return TrainConfig.from_dict({
        "model.name": "mpnn", "model.hparams": dict(model_class("mpnn").TEST_HPARAMS), "data.source": str(ethanol_40),
        "data.n_val": 8, "train.batch_size": 4, "train.max_steps": 3, "optim.name": "adamw_cosine",
        "optim.warmup_steps": 1, "optim.grad_clip": 1.0, "runtime.threads": 1, "runtime.flops_calibration_steps": 1,
        "runtime.flops_every": 0,
    }).resolved()


def test_fp16_gradscaler_branch_matches_unscaled_fp16_steps(fp16_config, tmp_path):
    """Three steps through the scaler branch (clipping after unscaling, AdamW + cosine) at a scale that does not
    overflow: no step skipped, and the same losses and updates as the same fp16 steps without a scaler (the scale
    is a power of two, so unscaling is exact; only gradients that underflow fp16 without it may differ)."""
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    losses, params, steps = _fp16_steps(fp16_config, tmp_path, scaler)
    ref_losses, ref_params, ref_steps = _fp16_steps(fp16_config, tmp_path, None)
    assert scaler.get_scale() == 2.0**8 and steps == ref_steps == {3}
    assert all(torch.isfinite(torch.tensor(step)).all() for step in losses)
    torch.testing.assert_close(losses, ref_losses, rtol=1e-3, atol=0)
    for key, p in params.items():
        assert _rel(p, ref_params[key]) < 1e-3, key


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
def test_fp16_gradscaler_skips_overflowing_steps(fp16_config, tmp_path):
    """With the trainer's default scale (2¹⁶) the first fp16 backward overflows: the scaler skips that optimiser
    step and halves the scale, and training goes on finite (the standard AMP recipe; the cosine schedule still
    advances on a skipped step, hence torch's warning)."""
    scaler = torch.amp.GradScaler("cpu")
    losses, params, steps = _fp16_steps(fp16_config, tmp_path, scaler)
    skipped = round(math.log2(2.0**16 / scaler.get_scale()))
    assert 1 <= skipped < 3 and steps == {3 - skipped}
    assert all(torch.isfinite(p).all() for p in params.values())
    assert all(torch.isfinite(torch.tensor(step)).all() for step in losses)


# ---------------------------------------------------------------------------------------------------------------
# the paper preset: configs and models on the meta device
# ---------------------------------------------------------------------------------------------------------------
#: studies of the catalog that have no configs at ``paper``, and why
NOT_AT_PAPER = {"tuning": "η* comes from the paper (no η* sweep)"}


@pytest.fixture(scope="module")
def paper_configs():
    """``(study, TrainConfig)`` of every study of the catalog at ``paper``. Two need a stand-in: Fig. 12's OMol25
    4M path (an environment variable, only read when a run trains) and the materials warmup (a fraction of the
    OMat24 run's steps needs the dataset's size: given in steps here)."""
    from nnip.paper import catalog, diverse, materials
    from nnip.presets import resolve
    from nnip.sweep import expand

    preset = resolve("paper")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(diverse.DIVERSE_ENV, "/placeholder/omol25-4M")
        specs = []
        for study in catalog.STUDIES:
            if study in NOT_AT_PAPER:
                with pytest.raises(ValueError, match="paper"):
                    catalog.specs(preset, [study])
            elif study == "materials":
                specs += [(study, s) for s in materials.materials_specs(preset, warmup=1000)]
            else:
                specs += catalog.specs(preset, [study])
        return [(study, cfg) for study, spec in specs for cfg in expand(spec, preset)]


def test_paper_configs_resolve(paper_configs):
    from nnip.paper import catalog

    assert {study for study, _ in paper_configs} == set(catalog.STUDIES) - set(NOT_AT_PAPER)
    for study, cfg in paper_configs:
        resolved = cfg.resolved()  # what train() runs
        assert resolved.resolved() == resolved and resolved.run_id() == cfg.run_id(), study
        again = TrainConfig.from_dict(resolved.to_dict())
        assert again == resolved and again.run_id() == cfg.run_id(), study
        assert resolved.runtime.device == "cuda" and resolved.train.amp == "bf16", study
        assert _dist.resolve_device(resolved.runtime.device) == torch.device("cuda", 0)


def _meta_count(name: str, hparams: dict, symmetrize=None) -> int:
    with torch.device("meta"):
        model = build_model_from_spec(name, hparams, symmetrize)
    assert all(p.is_meta for p in model.parameters()), name  # nothing was computed (or allocated) on the CPU
    return count_parameters(model)


def test_every_paper_model_builds_on_meta_with_published_counts(paper_configs):
    """Every model the ``paper`` preset trains, and every ladder entry, builds on the meta device; the ladder entries
    with a published count match it within 1 % (the float32 rounding of counts above 2²⁴, EGNN's w = 800 typo: see
    ``tests/models/test_ladders.py``)."""
    published = {(name, tuple(sorted(h.items()))): n for name in MODELS
                 for h, n in zip(ladder(name), published_params(name)) if n is not None}
    models = {(cfg.model.name, tuple(sorted(cfg.model.hparams.items())), getattr(cfg.model, "symmetrize", None))
              for _, cfg in paper_configs}
    models |= {(name, tuple(sorted(h.items())), None) for name in MODELS for h in ladder(name)}
    assert {name for name, _, _ in models} == set(MODELS)
    for name, items, symmetrize in sorted(models, key=str):
        n = _meta_count(name, dict(items), symmetrize)
        target = published.get((name, items)) if symmetrize is None else None
        if target is not None:
            assert abs(n - target) <= 0.01 * target, (name, dict(items), n, target)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_meta_count_is_the_real_count(name):
    """The smallest rung of every ladder, built for real on the CPU and on the meta device: the same N."""
    hparams = ladder(name)[0]
    torch.manual_seed(0)
    assert _meta_count(name, hparams) == count_parameters(build_model(name, **hparams))
