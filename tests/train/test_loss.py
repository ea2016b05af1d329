"""Eq. (1) per structure, stress terms, eq. (2) and test-time group averaging eq. (23)."""


import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from nnip.data import collate
from nnip.train.loss import LossWeights, objective, symmetry_loss, task_loss
from nnip.train.tta import group_average, random_rotations
from tests.train.standin import PairMLP


def _mol(n, e, seed):
    rng = np.random.default_rng(seed)
    a = Atoms("C" * n, positions=rng.uniform(0, 2.5, (n, 3)) + np.arange(n)[:, None] * 0.8)
    a.calc = SinglePointCalculator(a, energy=e, forces=rng.normal(size=(n, 3)))
    return a


def _batch():
    return collate([_mol(2, 1.0, 0), _mol(3, -2.0, 1)], cutoff=4.0)


def test_eq1_by_hand():
    b = _batch()
    pred = {"energy": b.energy + torch.tensor([0.4, -0.6]), "forces": b.forces.clone()}
    pred["forces"][0] += torch.tensor([3.0, 4.0, 0.0])  # |Δf| = 5 on atom 0 (structure 0)
    loss, parts = task_loss(pred, b, LossWeights(energy=2.0, forces=3.0))
    assert torch.allclose(parts["energy"], torch.tensor([0.4 / 2, 0.6 / 3]))
    assert torch.allclose(parts["forces"], torch.tensor([5.0 / 2, 0.0]))
    assert torch.allclose(loss, torch.tensor([2 * 0.2 + 3 * 2.5, 2 * 0.2]))


def test_stress_terms_and_zero_error_gradient_is_finite():
    b = _batch()
    b = b.replace(stress=torch.zeros(2, 3, 3))
    ds = torch.diag(torch.tensor([1.0, 2.0, 3.0]))
    pred = {"energy": b.energy.clone().requires_grad_(), "forces": b.forces.clone().requires_grad_(),
            "stress": torch.stack([ds, torch.zeros(3, 3)])}
    loss, parts = task_loss(pred, b, LossWeights(stress_iso=5.0, stress_aniso=7.0))
    iso, aniso = 2.0, (1 + 0 + 1) / 9  # tr/3 = 2; dev = diag(-1, 0, 1)
    assert parts["stress"][0].item() == pytest.approx(iso + aniso)
    assert loss[0].item() == pytest.approx(5 * iso + 7 * aniso)
    loss.sum().backward()  # zero force error: the L2 norm's gradient must not be NaN
    assert torch.isfinite(pred["forces"].grad).all() and torch.isfinite(pred["energy"].grad).all()


def test_haar_rotations():
    R = random_rotations(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-12)
    assert torch.allclose(torch.det(R), torch.ones(4000, dtype=torch.float64))
    assert R.mean(0).abs().max() < 0.05  # Haar: E[R] = 0
    again = random_rotations(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(R, again)


def _model(equivariant):
    torch.manual_seed(0)
    return PairMLP(PairMLP.Config(hidden_dim=8, cutoff=4.0, equivariant=equivariant)).double()


def test_symmetry_loss_of_an_equivariant_model_equals_the_task_loss():
    b = _batch().to(dtype=torch.float64)
    rots = random_rotations(3 * b.num_graphs, generator=torch.Generator().manual_seed(1), dtype=torch.float64).view(3, -1, 3, 3)
    eq = _model(True)
    task, _ = task_loss(eq(b), b)
    assert torch.allclose(symmetry_loss(eq, b, rots), task, atol=1e-10)
    neq = _model(False)
    task, _ = task_loss(neq(b), b)
    assert not torch.allclose(symmetry_loss(neq, b, rots), task, atol=1e-6)
    total, task2, parts = objective(neq, b, sym_rotations=rots, sym_weight=0.5)
    assert torch.allclose(total, task2 + 0.5 * parts["symmetry"])


def test_group_average_is_identity_for_equivariant_and_equivariant_for_unconstrained():
    b = _batch().to(dtype=torch.float64)
    eq = _model(True)
    with torch.no_grad():
        ga = group_average(eq, b, 4, generator=torch.Generator().manual_seed(0))
        plain = eq(b)
    assert torch.allclose(ga["energy"], plain["energy"], atol=1e-10)
    assert torch.allclose(ga["forces"], plain["forces"], atol=1e-10)
    # an unconstrained model averaged over many rotations becomes nearly equivariant
    neq = _model(False)
    R = random_rotations(1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)[0]
    with torch.no_grad():
        f = group_average(neq, b, 400, generator=torch.Generator().manual_seed(0))["forces"]
        f_rot = group_average(neq, b.rotate(R), 400, generator=torch.Generator().manual_seed(1))["forces"]
        err_ga = (f_rot - f @ R.T).norm() / f.norm()
        err_plain = (neq(b.rotate(R))["forces"] - neq(b)["forces"] @ R.T).norm() / neq(b)["forces"].norm()
    assert err_ga < 0.3 * err_plain
