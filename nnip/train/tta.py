r"""Haar-random rotations and test-time group averaging (App. H, eq. 23).

An unconstrained model :math:`\phi_\theta` is made (approximately) rotation equivariant at test time by averaging
over :math:`M` Haar-random rotations :math:`g_i \sim \mu_{SO(3)}`:

.. math::
    f_\theta(x) = \frac{1}{M} \sum_{i=1}^M \rho_{\text{out}}(g_i^{-1})\, \phi_\theta(\rho_{\text{in}}(g_i) x).

Here :math:`\rho_{\text{in}}(g)` rotates positions and cells (:meth:`nnip.data.Batch.rotate`); on the outputs the
energy is invariant (plain average), forces are rotated back (``f R`` for a batch rotated by ``x -> x R^T``) and
stress conjugated back (``R^T s R``). Each structure of a batch gets its own rotations. The evaluation of a trained
run with group averaging is :func:`nnip.train.evaluate.evaluate_run`.

>>> R = random_rotations(4, generator=torch.Generator().manual_seed(0))
>>> torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-6), bool((torch.det(R) > 0).all())
(True, True)
"""

from __future__ import annotations

import torch

from nnip.data.batch import Batch

__all__ = ["random_rotations", "group_average", "rotate_outputs_back"]


def random_rotations(
    n: int, *, generator: torch.Generator | None = None, dtype=torch.float32, device=None
) -> torch.Tensor:
    """``n`` Haar-distributed rotation matrices ``(n, 3, 3)`` (unit quaternions from a normalised 4-d Gaussian).

    Sampled in float64 on the CPU from ``generator`` (so the result does not depend on device or dtype), then cast.
    """
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).view(n, 3, 3)
    return R.to(dtype=dtype, device=device)


def rotate_outputs_back(outputs: dict, R: torch.Tensor, batch: Batch) -> dict:
    """Apply ρ_out(g⁻¹) to the outputs of a model run on ``batch.rotate(R)`` (R: (n_graphs, 3, 3))."""
    R = R.to(outputs["forces"])
    out = {"energy": outputs["energy"]}
    Ra = R[batch.batch]  # (n_atoms, 3, 3)
    out["forces"] = torch.einsum("na,nab->nb", outputs["forces"], Ra)  # R^T f  (row-vector f R)
    if outputs.get("stress") is not None:
        out["stress"] = R.transpose(1, 2) @ outputs["stress"] @ R
    return out


def group_average(model, batch: Batch, m: int, *, generator: torch.Generator | None = None) -> dict:
    """Eq. (23): average of ``model`` over ``m`` Haar rotations per structure; ``m = 0`` is the plain model.

    Returns the output dict (energy ``(n_graphs,)``, forces ``(n_atoms, 3)``, stress if predicted) in the frame of
    ``batch``. Costs ``m`` forward passes.
    """
    if m <= 0:
        return model(batch)
    total: dict = {}
    for _ in range(m):
        R = random_rotations(batch.num_graphs, generator=generator, dtype=batch.pos.dtype, device=batch.pos.device)
        out = rotate_outputs_back(model(batch.rotate(R)), R, batch)
        for k, v in out.items():
            total[k] = v if k not in total else total[k] + v
    return {k: v / m for k, v in total.items()}
