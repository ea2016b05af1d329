r"""Training objectives: the task loss eq. (1) (+ stress), the symmetry loss eq. (2), and validation metrics.

Task loss, per structure :math:`X` with :math:`n` atoms, on *normalised* targets (:mod:`nnip.keys`):

.. math::
    \mathcal{L}(\phi_\theta, X) = \frac{\lambda_e}{n} |\hat e - e| + \frac{\lambda_f}{n} \sum_{i=1}^n \|\hat f_i - f_i\|_2
    \;[\; + \lambda_{iso} |\tfrac13 \mathrm{tr}(\hat s - s)| + \lambda_{aniso} \,\mathrm{mean}_{ab} |\mathrm{dev}(\hat s - s)_{ab}| \;]

averaged over the structures of a batch (eq. 1; ``λ_e = λ_f = 1``). The stress term is used when the model predicts
stress and the batch carries stress labels; ``dev(A) = A - tr(A)/3 · I``. The *materials* recipe of Trikha et al.
(fairchem's OMat24 recipe) weights the same terms 2.5·E + 20·F + 5·(iso + aniso) (:data:`nnip.train.config.RECIPES`);
note fairchem averages the force term over all atoms of a batch, we keep eq. (1)'s per-structure average.

Symmetry loss eq. (2) with ``M`` Haar rotations per structure, added with weight λ (§4.4: M = 5, λ = 1):

.. math::
    \mathcal{L}_{sym} = \frac1M \sum_{i=1}^M \mathcal{L}(\phi_\theta(\rho_{in}(g_i) x), \rho_{out}(g_i) y),
    \qquad \mathcal{L}_{total} = \mathcal{L} + \lambda \mathcal{L}_{sym}.

Its cost — ``M`` more forward/backward passes — is not assumed but measured by :mod:`nnip.train.flops`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nnip.data.batch import Batch
from nnip.nn.scatter import scatter_sum

__all__ = ["LossWeights", "task_loss", "symmetry_loss", "objective", "metric_sums", "METRIC_KEYS"]


@dataclass(frozen=True)
class LossWeights:
    """λ_e, λ_f and the two stress weights of eq. (1) + stress."""

    energy: float = 1.0
    forces: float = 1.0
    stress_iso: float = 1.0
    stress_aniso: float = 1.0

    @classmethod
    def from_spec(cls, spec) -> "LossWeights":
        """From a *resolved* :class:`nnip.train.config.LossSpec`."""
        return cls(spec.energy_weight, spec.force_weight, spec.stress_iso_weight, spec.stress_aniso_weight)


def _stress_terms(ds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Isotropic ``|tr(Δ)/3|`` and anisotropic ``mean |dev Δ|`` of stress errors ``(n_graphs, 3, 3)``."""
    tr = ds.diagonal(dim1=1, dim2=2).sum(-1) / 3.0  # (n_graphs,)
    eye = torch.eye(3, dtype=ds.dtype, device=ds.device)
    dev = ds - tr[:, None, None] * eye
    return tr.abs(), dev.abs().mean(dim=(1, 2))


def task_loss(pred: dict, batch: Batch, weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict]:
    """Eq. (1) per structure: ``(loss (n_graphs,), {"energy": (n_graphs,), "forces": ..., ["stress": ...]})``.

    The parts are unweighted (``|ê−e|/n``, ``Σ‖Δf‖/n``, iso + aniso stress) so that App. I's decomposition can be
    read off; ``loss`` is their weighted sum. Computed in float32 (or the inputs' dtype if wider) even under AMP.
    """
    n = batch.natoms.to(torch.float32)
    e_hat = pred["energy"].float() if pred["energy"].dtype in (torch.float16, torch.bfloat16) else pred["energy"]
    f_hat = pred["forces"].float() if pred["forces"].dtype in (torch.float16, torch.bfloat16) else pred["forces"]
    e_err = (e_hat - batch.energy.to(e_hat)).abs() / n.to(e_hat)
    f_norm = torch.linalg.vector_norm(f_hat - batch.forces.to(f_hat), dim=-1)  # (n_atoms,)
    f_err = scatter_sum(f_norm, batch.batch, batch.num_graphs) / n.to(f_hat)
    parts = {"energy": e_err, "forces": f_err}
    loss = weights.energy * e_err + weights.forces * f_err
    s_hat = pred.get("stress")
    if s_hat is not None and batch.stress is not None:
        s_hat = s_hat.float() if s_hat.dtype in (torch.float16, torch.bfloat16) else s_hat
        iso, aniso = _stress_terms(s_hat - batch.stress.to(s_hat))
        parts["stress"] = iso + aniso
        loss = loss + weights.stress_iso * iso + weights.stress_aniso * aniso
    return loss, parts


def symmetry_loss(model, batch: Batch, rotations: torch.Tensor, weights: LossWeights = LossWeights()) -> torch.Tensor:
    """Eq. (2) per structure: mean over ``rotations`` ``(M, n_graphs, 3, 3)`` of the task loss on the rotated
    structure against the rotated targets, ``(n_graphs,)``. ``M`` extra forward passes."""
    total = None
    for R in rotations:
        rotated = batch.rotate(R)
        loss, _ = task_loss(model(rotated), rotated, weights)
        total = loss if total is None else total + loss
    return total / rotations.shape[0]


def objective(
    model,
    batch: Batch,
    weights: LossWeights = LossWeights(),
    *,
    sym_rotations: torch.Tensor | None = None,
    sym_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The training objective per structure ``L + λ L_sym`` (eq. 1 + eq. 2), the task loss alone, and its parts."""
    task, parts = task_loss(model(batch), batch, weights)
    total = task
    if sym_rotations is not None and sym_rotations.shape[0] > 0:
        sym = symmetry_loss(model, batch, sym_rotations, weights)
        parts = {**parts, "symmetry": sym}
        total = task + sym_weight * sym
    return total, task, parts


#: keys of :func:`metric_sums`
METRIC_KEYS = (
    "n_graphs", "loss", "energy_loss", "force_loss", "energy_abs_per_atom", "n_atoms", "force_l2", "stress_abs",
    "n_stress",
)


@torch.no_grad()
def metric_sums(pred: dict, batch: Batch, weights: LossWeights, std: float) -> dict[str, float]:
    """Sums over a batch for validation: task loss and its parts (normalised units), and errors in eV units:
    ``energy_abs_per_atom`` (Σ_graphs |Δe|/n, eV/atom), ``force_l2`` (Σ_atoms ‖Δf‖, eV/Å), ``stress_abs``
    (Σ over graphs and 9 components of |Δs|, eV/Å³); ``stress_loss`` (the stress term of the loss) only when stress
    is predicted and labelled. Denormalising an error only needs σ (references cancel)."""
    loss, parts = task_loss(pred, batch, weights)
    f_norm = torch.linalg.vector_norm(pred["forces"].float() - batch.forces.float(), dim=-1)
    out = {
        "n_graphs": float(batch.num_graphs),
        "loss": float(loss.double().sum()),
        "energy_loss": float(parts["energy"].double().sum()),
        "force_loss": float(parts["forces"].double().sum()),
        "energy_abs_per_atom": float(parts["energy"].double().sum()) * std,
        "n_atoms": float(batch.num_atoms),
        "force_l2": float(f_norm.double().sum()) * std,
        "stress_abs": 0.0,
        "n_stress": 0.0,
    }
    if "stress" in parts:
        out["stress_loss"] = float(parts["stress"].double().sum())
    if pred.get("stress") is not None and batch.stress is not None:
        out["stress_abs"] = float((pred["stress"].float() - batch.stress.float()).abs().double().sum()) * std
        out["n_stress"] = float(batch.num_graphs * 9)
    return out
