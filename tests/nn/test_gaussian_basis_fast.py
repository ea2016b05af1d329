"""GaussianBasis's fast path flushes far-tail subnormals to zero and is otherwise the plain ``exp`` exactly."""

import pytest
import torch

from nnip.nn import GaussianBasis
from nnip.nn._reference import reference_implementation


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_basis_fast_path_equals_reference_above_the_subnormal_range(dtype):
    basis = GaussianBasis(136, 6.0, coeff=0.125)
    r = torch.linspace(0.01, 7.0, 301, dtype=dtype).requires_grad_(True)
    w = torch.randn(301, 136, dtype=dtype)
    fast = basis(r)
    (g_fast,) = torch.autograd.grad((fast * w).sum(), r)
    with reference_implementation():
        ref = basis(r)
        (g_ref,) = torch.autograd.grad((ref * w).sum(), r)
    tiny = torch.finfo(dtype).tiny
    kept = fast != 0
    assert torch.equal(fast[kept], ref[kept])  # the plain exp wherever it is not flushed
    assert (ref[~kept] < 3 * tiny).all() and kept[ref > 3 * tiny].all()  # flushed: exactly the values below ~e·tiny
    assert ((ref != 0) & (ref < tiny)).any(), "the test should reach the subnormal range"
    assert not ((fast != 0) & (fast < tiny)).any()
    assert torch.allclose(g_fast, g_ref, rtol=1e-6 if dtype == torch.float32 else 1e-14, atol=0)
