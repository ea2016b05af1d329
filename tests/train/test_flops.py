"""FLOP counting: exact on known ops, scatter/pointwise formulas, uncounted ops listed, per-step model, κ."""

import pytest
import torch

from nnip.data import collate, read
from nnip.models import count_parameters
from nnip.train.flops import StepFlopModel, count_flops, forward_flops_per_atom, kappa
from nnip.train.loss import objective
from nnip.train.tta import random_rotations
from tests.train.standin import PairMLP


def test_linear_forward_backward_exact():
    lin = torch.nn.Linear(16, 32)
    x = torch.randn(10, 16, requires_grad=True)
    with count_flops() as fc:
        torch.nn.functional.silu(lin(x)).sum().backward()
    c = fc.count
    assert c.matmul == 3 * 2 * 10 * 16 * 32  # forward + grad input + grad weight
    assert c.pointwise == 2 * 10 * 32  # silu + silu_backward
    assert c.reduction == 2 * 10 * 32  # sum + bias gradient
    assert fc.total == c.matmul + c.pointwise + c.reduction and not c.uncounted


def test_scatter_gather_and_uncounted():
    src = torch.randn(50, 8)
    idx = torch.randint(0, 5, (50,))
    with count_flops() as fc:
        torch.zeros(5, 8).index_add_(0, idx, src)
        src[idx[:7]]
        torch.sort(src, dim=0)
    assert fc.count.scatter == 50 * 8 + 7 * 8
    assert fc.count.uncounted == {"sort": 1}


def test_step_flop_model_is_exact_for_linear_costs():
    m = StepFlopModel()
    for a, e, g in [(30, 300, 4), (27, 250, 4), (40, 420, 5)]:
        m.add([a, e, g], 7 * a + 3 * e + 11 * g)
    assert m.predict([12, 100, 2]) == pytest.approx(7 * 12 + 3 * 100 + 11 * 2, rel=1e-6)
    assert m.max_rel_error() < 1e-9
    assert StepFlopModel.from_state(m.state()).predict([1, 1, 1]) == pytest.approx(m.predict([1, 1, 1]))


def test_kappa_and_symmetry_step_cost(ethanol_small):
    torch.manual_seed(0)
    model = PairMLP(PairMLP.Config(hidden_dim=16))
    atoms = read(ethanol_small, limit=8)
    batch = collate(list(atoms), cutoff=model.cutoff)
    per_atom = forward_flops_per_atom(model, [batch])
    k = kappa(model, [batch])
    assert k == pytest.approx(per_atom / count_parameters(model))
    assert 1.0 < k < 100.0
    # a step's cost is linear in the batch: two copies of a batch cost twice one
    with count_flops() as one:
        objective(model, batch)[0].sum().backward()
    double = collate(list(atoms) * 2, cutoff=model.cutoff)
    with count_flops() as two:
        objective(model, double)[0].sum().backward()
    assert two.total == pytest.approx(2 * one.total, rel=0.02)
    # symmetry loss with M rotations costs about (M + 1)x a plain step (measured, not assumed)
    M = 3
    rots = random_rotations(M * batch.num_graphs, generator=torch.Generator().manual_seed(0)).view(M, -1, 3, 3)
    with count_flops() as sym:
        objective(model, batch, sym_rotations=rots)[0].sum().backward()
    assert sym.total / one.total == pytest.approx(M + 1, rel=0.1)
    # the training step is ≈ 3x the forward (eq. 3: C ≈ 3κND), counted per atom
    ratio = one.total / (per_atom * batch.num_atoms)
    assert 2.0 < ratio < 4.0
