r"""Haar-random rotations and test-time group averaging (App. H, eq. 23).

An unconstrained model :math:`\phi_\theta` is made (approximately) rotation equivariant at test time by averaging
over :math:`M` Haar-random rotations :math:`g_i \sim \mu_{SO(3)}`:

.. math::
    f_\theta(x) = \frac{1}{M} \sum_{i=1}^M \rho_{\text{out}}(g_i^{-1})\, \phi_\theta(\rho_{\text{in}}(g_i) x).

Here :math:`\rho_{\text{in}}(g)` rotates positions and cells (:meth:`nnip.data.Batch.rotate`); on the outputs the
energy is invariant (plain average), forces are rotated back (``f R`` for a batch rotated by ``x -> x R^T``) and
stress conjugated back (``R^T s R``). Each structure of a batch gets its own rotations.

>>> R = random_rotations(4, generator=torch.Generator().manual_seed(0))
>>> torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-6), bool((torch.det(R) > 0).all())
(True, True)
"""

from __future__ import annotations

import torch

from nnip.data.batch import Batch

__all__ = ["random_rotations", "group_average", "rotate_outputs_back", "evaluate_run"]


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


def evaluate_run(run_dir, *, tta_m: int = 0, seed: int = 0, device: str = "cpu", max_structures: int | None = None,
                 batch_size: int | None = None) -> dict:
    """Validation metrics of a trained run (its checkpoint's evaluation weights) on its own validation split, with
    test-time group averaging over ``tta_m`` rotations (App. H, Fig. 13: loss vs M at fixed N).

    Returns ``{"val_loss", "val_energy_mae", "val_force_l2", ["val_stress_mae"], "tta_m"}`` (units as in the curve).
    """
    from nnip.calculator import load_run
    from nnip.train import _data
    from nnip.train.config import TrainConfig
    from nnip.train.loss import LossWeights, metric_sums

    model, normalizer, cfg_dict = load_run(run_dir, device=device)
    cfg = TrainConfig.from_dict(cfg_dict).resolved()
    data = _data.load_data(cfg.data, max_val=max_structures if max_structures is not None else cfg.eval.max_structures)
    batches = _data.val_batches(data.val, batch_size or cfg.eval.batch_size, cutoff=float(model.cutoff),
                                max_neighbors=model.max_neighbors, normalizer=normalizer)
    weights = LossWeights.from_spec(cfg.loss)
    total: dict = {}
    with torch.no_grad():
        for k, batch in batches:
            batch = batch.to(device)
            g = torch.Generator().manual_seed(seed * 1_000_003 + k)
            s = metric_sums(group_average(model, batch, tta_m, generator=g), batch, weights, float(normalizer.std))
            for key, v in s.items():
                total[key] = total.get(key, 0.0) + v
    ng = max(total["n_graphs"], 1.0)
    out = {"val_loss": total["loss"] / ng, "val_energy_mae": total["energy_abs_per_atom"] / ng,
           "val_force_l2": total["force_l2"] / max(total["n_atoms"], 1.0), "tta_m": tta_m}
    if total["n_stress"]:
        out["val_stress_mae"] = total["stress_abs"] / total["n_stress"]
    return out
