"""Every model trains a few hundred steps on the embedded xtb-mols set (GFN2-xTB labels) and its loss goes down.

Issue "model zoo" done-criterion: a real dataset, the real trainer (eq. 1 loss, schedule-free AdamW), the tiny
hyper-parameters of each model. Also EquiformerV2 and the MPNN on emt-alloys with stress.
"""

import pytest

from nnip.models import MODELS, model_class
from nnip.train import TrainConfig, train

STEPS = 300
#: fewer steps where the loss falls fast (measured, train loss mean of the first vs last five evaluations: 100 steps
#: equiformer_v2 3.06 -> 1.63, gemnet_oc 3.41 -> 1.35; 150 steps esen 3.23 -> 2.85 (0.885); against the test's 0.97
#: ratio); EquiformerV2's 300 steps were the longest model test of ``make test`` (83-95 s on the loaded 2-core machine)
MODEL_STEPS = {"equiformer_v2": 100, "gemnet_oc": 100, "esen": 150}


def _config(name, dataset, stress=False, steps=STEPS):
    hp = dict(model_class(name).TEST_HPARAMS)
    if name == "equiformer_v2":
        hp["grid_resolution"] = 18  # the default grid: the test config's finer grid (exact equivariance) is 4x slower
    if stress:
        hp["stress"] = True
    return TrainConfig.from_dict({
        "model": {"name": name, "hparams": hp},
        "data": {"name": dataset, "n": 64, "seed": 0, "n_val": 8, "val_fraction": None},
        "optim": {"lr": 5e-3},
        "loss": {"recipe": "materials" if stress else "eq1"},
        "train": {"regime": "epochs", "max_epochs": 1000, "max_steps": steps, "batch_size": 8, "seed": 0},
        "eval": {"log_points": 4},
        "runtime": {"threads": 1, "checkpoint_minutes": None},
    })


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trains_on_xtb_mols(name, tmp_path):
    steps = MODEL_STEPS.get(name, STEPS)
    rec = train(_config(name, "xtb-mols", steps=steps), tmp_path)
    curve = rec.curve()
    assert rec.status == "done" and int(curve["step"].iloc[-1]) == steps
    # tiny models on 56 diverse molecules: the force-dominated loss falls slowly for some (measured over 300 steps:
    # mpnn 2.48 -> 2.37, egnn 2.49 -> 2.37, transformer 2.65 -> 2.32, esen 2.59 -> 2.22, gemnet_oc 2.59 -> 0.78,
    # equiformer_v2 2.46 -> 0.63); compare the first and last five evaluations' training loss
    head, tail = curve["train_loss"].head(5).mean(), curve["train_loss"].tail(5).mean()
    assert tail < 0.97 * head, f"{name}: train loss {head:.3f} -> {tail:.3f}"
    assert curve["val_loss"].min() < curve["val_loss"].iloc[0]


@pytest.mark.parametrize("name", ["equiformer_v2", "mpnn"])
def test_trains_on_emt_alloys_with_stress(name, tmp_path):
    rec = train(_config(name, "emt-alloys", stress=True, steps=60), tmp_path)
    curve = rec.curve()
    assert curve["val_stress_mae"].notna().all()
    assert curve["val_loss"].min() < curve["val_loss"].iloc[0]


def test_trainer_fits_gemnet_scale_factors(tmp_path):
    """Footnote 4: the trainer estimates GemNet-OC's scale factors before step 1 and stores them in the checkpoint."""
    import torch

    cfg = _config("gemnet_oc", "xtb-mols", steps=2)
    rec = train(cfg, tmp_path)
    state = torch.load(rec.run_dir / "checkpoint.pt", weights_only=True)
    model_state = next(v for k, v in state.items() if isinstance(v, dict) and any("scale" in n for n in v))
    factors = {k: float(v) for k, v in model_state.items() if k.endswith("scale_factor") or ".scale" in k}
    assert factors and any(abs(v - 1.0) > 1e-3 for v in factors.values()), factors
