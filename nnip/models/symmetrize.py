r"""Architecture-agnostic symmetry: make any model of the zoo E(3)-invariant (energy) and -equivariant (forces,
stress) by evaluating it in a frame that rotates with the input — ``build_model(name, symmetrize=method)``.

A frame of a structure is a rotation :math:`F \in SO(3)` (its columns are three orthonormal axes in lab
coordinates) computed from the positions such that a rotated input ``x Rᵀ`` has frame ``R F``. The base model
``φ`` sees the centred structure in frame coordinates, ``(x - c) F``, whatever the orientation of the input, and its
outputs are rotated back to the lab (``c`` is the centroid, so translations are removed as well):

.. math::

    E(x) = \frac{1}{|\mathcal F|} \sum_{F \in \mathcal F(x)} E_\varphi\big((x - c)F\big), \qquad
    f(x) = \frac{1}{|\mathcal F|} \sum_{F} f_\varphi\big((x - c)F\big)\,F^\top, \qquad
    \sigma(x) = \frac{1}{|\mathcal F|} \sum_{F} F\,\sigma_\varphi\big((x - c)F\big)\,F^\top,

which is exactly invariant/equivariant for *any* ``φ`` (forces are direct heads in this project, see
:mod:`nnip.models`, so they are rotated back like any vector output). Periodic cells rotate with the atoms
(``cell F``, rows are lattice vectors as in :meth:`~nnip.data.Batch.rotate`; integer cell shifts and the neighbour
graph are unchanged). Permutation symmetry is the base model's (centroids and covariances are permutation-invariant).

Three ways to pick :math:`\mathcal F(x)` (``SYMMETRIZE_METHODS``):

- ``"frame-averaging"`` — Puny et al., *Frame Averaging for Invariant and Equivariant Network Design*, ICLR 2022
  (§3, the PCA frames of point clouds; Duval et al. 2023, FAENet, for the stochastic variant on molecules). The
  eigenvectors ``v₁, v₂, v₃`` of the covariance ``C = (1/n) Σ (x - c)ᵀ(x - c)`` (eigenvalues λ₁ ≥ λ₂ ≥ λ₃) are
  each defined up to a sign; the four sign choices with determinant +1 (proper rotations only: SE(3), not E(3),
  so a molecule and its mirror image stay distinguishable) form :math:`\mathcal F(x)`, a set that rotates with the
  input. **Eval mode averages all four frames** (exact invariance); **train mode draws one frame per structure
  per step** (``torch.randint`` on the input's device: torch's seeded RNG, so a run is reproducible and a resumed
  run continues the same stream) — stochastic FA, invariant *in distribution* only. This is the probabilistic
  symmetrization of Kim et al., *Learning Probabilistic Symmetrization for Architecture Agnostic Equivariance*,
  NeurIPS 2023, with a uniform distribution over the frame instead of a learned one.
- ``"canonical-pca"`` — one frame by a fixed, parameter-free rule (a canonicalization, Kaba et al. 2023 with a
  non-learned ``h``): the PCA axes, each sign chosen so that the third moment (skewness) of the projections
  ``Σ ((x - c)·v)³`` is positive; the axis whose skewness is the weakest takes the sign that makes ``det F = +1``
  (a proper rotation; this is the "third axis by cross product", applied to the least reliable axis).
- ``"canonical-learned"`` — Kaba et al., *Equivariance with Learned Canonicalization Functions*, ICML 2023: a small
  E(3)-equivariant network (:class:`Canonicalizer`: MC-EGNN layers, :class:`~nnip.models.egnn.EGNNLayer`)
  predicts two vectors per structure, Gram–Schmidt makes them ``e₁, e₂`` and ``e₃ = e₁ × e₂``. Trained end to end
  with the backbone (gradients reach the canonicalizer through the frame); its parameters count in N.

**Centre: the unweighted centroid.** The frame is geometry-only: centroid and covariance weight every atom
equally, so the frame does not depend on element labels (or isotopes) and two structures with the same geometry
share it. Mass weighting (the principal axes of inertia) would be equally valid; what matters is that the rule is
fixed and permutation-invariant.

**Cost and FLOP accounting.** The base model runs on a batch with one copy of every structure per frame:
4 copies for frame averaging in eval mode, 1 otherwise. :mod:`nnip.train.flops` counts executed aten ops, so it
sees exactly that: an eval-mode FA forward costs ≈ 4× the base model, a training step with stochastic FA (and the
canonicalizations) ≈ 1× plus the frame computation (O(n_atoms) scatters and 3×3 algebra; the learned canonicalizer
adds its own small network). The run's C (training compute) therefore does not grow with frame averaging; its
validation passes (4 frames) do, but evaluation is not part of C. Forward FLOPs, hence κ
(:func:`nnip.train.flops.kappa`), depend on the mode: ≈ the base model's in train mode, ≈ 4× in eval mode. One op
is not counted: the batched 3×3 eigendecomposition (``_linalg_eigh``, one call per forward, listed in the run's
uncounted ops as :mod:`nnip.train.flops` documents for ``linalg_*`` decompositions; ~10² FLOPs per structure). The
learned canonicalizer has a fixed size (:data:`CANONICALIZER_HPARAMS`, 6,166 parameters), so its share of N and C
shrinks along a ladder (a training step of the 5-layer MPNN costs 2.7× at width 16, 1.45× at 64, 1.15× at 192).

**Precision.** Centroid, covariance, eigendecomposition and frame rules run in float64 outside autocast and
without gradient, then the frame is cast to the positions' dtype; the rotations in and out run in the positions'
dtype outside autocast; only the base model runs under the caller's autocast. The learned canonicalizer also runs
outside autocast (in the model's dtype). Every tensor is created on the input's device.

**Gradients.** The PCA frames (frame averaging, canonical-pca and the learned canonicalizer's fallback) are
*detached*: ``torch.linalg.eigh``'s backward has ``1/(λᵢ - λⱼ)`` terms that are infinite at degenerate spectra,
and no gradient through the frame is needed — forces are direct heads, not ``-∂E/∂x``. So ``∂E/∂x`` of a wrapped
model treats the frame as a constant (it is not the derivative of the symmetrized energy, which nobody uses here).
The learned frame is differentiable (that is how the canonicalizer learns), with a safe Gram–Schmidt below.

**Degenerate frames** (Dym, Lawrence & Siegel, *Equivariant Frames and the Impossibility of Continuous
Canonicalization*, ICML 2024: no continuous frame exists everywhere). :func:`frame_gaps` gives the relative
eigenvalue gaps ``g₁ = (λ₁ - λ₂)/λ₁`` and ``g₂ = (λ₂ - λ₃)/λ₁`` of each structure (both 0 when λ₁ = 0: a single
atom). A gap below the tolerance of the positions' dtype (:func:`tolerance`: 1e-6 in float64, 1e-3 in float32 —
where round-off of the input, ~ε, would turn an eigenvector by ε/g, more than the dtype's symmetry tolerance in
:mod:`nnip.testing`) means that axis is not determined by the geometry, and every method completes the frame by
the same deterministic rule (:func:`principal_frames`; cases :data:`DEGENERACY`, counted by
:func:`frame_degeneracy`):

- ``"prolate"`` (``g₂ < tol``: one long axis — two atoms, linear molecules such as CO₂): ``v₁`` is kept; the
  second axis is the lab axis least aligned with ``v₁``, projected orthogonal to it; the third is their cross
  product. For a *linear* structure (all atoms on ``v₁``) the base model's input does not depend on that
  completion, so the energy is exactly invariant for every method; frame averaging's sign average also cancels
  the force components orthogonal to the axis that the completion would otherwise fix, so FA is exactly
  equivariant on linear structures, while the canonical methods are equivariant only along the axis.
- ``"oblate"`` (``g₁ < tol``: a disc — benzene): ``v₃`` (the normal) is kept; the first axis is the lab axis least
  aligned with it, projected into the plane; the second is ``v₃ × e₁``. The base model always sees the disc in
  its frame's (e₁, e₂) plane, but its rotation within the plane follows the lab.
- ``"spherical"`` (both gaps ``< tol``: CH₄, a single atom): the identity frame — the base model on the centred
  structure (frame averaging still averages the identity's four sign flips, the 180° turns about the lab axes),
  translation-invariant but only as rotation-invariant as the base model.

Outside the non-degenerate case the result is deterministic and finite but **not** rotation-invariant beyond what
is said above (exactly symmetric molecules, whose point group makes the ambiguous choices equivalent, can be an
exception). Eigenvectors are sign-normalised (largest component positive) before any rule, so the
completion does not depend on the eigen-solver's sign convention (CPU/CUDA). canonical-pca: a skewness below
``tol`` in magnitude (mirror planes make it vanish) does not decide a sign: the normalised eigenvector's is used.
canonical-learned: a predicted vector shorter than ``tol`` × the structure's RMS radius (a symmetric molecule
forces an equivariant network's outputs to vanish: no nonzero vector is invariant under CH₄'s point group), or a
second vector that is parallel to the first to that tolerance, is replaced by the canonical-pca frame's axes
(``e₁``), or by the canonical-pca axis least aligned with ``e₁`` projected orthogonal to it (``e₂``). Norms are
clamped away from 0 before dividing, so outputs and gradients stay finite; a structure on the fallback sends no
gradient to the canonicalizer.

**Periodic cells.** The frame is the PCA of the stored positions: exact for rotations and translations of the
whole cell, but wrapping atoms into the cell (or choosing another unit cell) changes it.

The wrapper follows the model contract (:mod:`nnip.models`): ``cutoff``, ``max_neighbors``, ``width``,
``base_width`` and ``config`` are the base model's (μP transfers with the base's width; the learned
canonicalizer's width is fixed, so its parameters are listed in ``mup_vector_like`` and keep η*), ``symmetries`` =
the base's ∪ {rotation, translation}, ``local = False`` (the frame depends on the whole structure).

>>> import torch
>>> from nnip.models import build_model
>>> model = build_model("mpnn", symmetrize="frame-averaging", hidden_dim=8, num_layers=1, num_radial=4)
>>> sorted(model.symmetries), model.local, model.eval().n_frames, model.train().n_frames
(['permutation', 'rotation', 'translation'], False, 4, 1)
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from torch import nn

from nnip.data.batch import Batch
from nnip.errors import ConfigError
from nnip.models import SYMMETRIZE_METHODS
from nnip.models.egnn import EGNNLayer
from nnip.nn import GaussianBasis, scatter_count, scatter_mean, scatter_sum

__all__ = [
    "SYMMETRIZE_METHODS",
    "DEGENERACY",
    "CANONICALIZER_HPARAMS",
    "symmetrize_model",
    "Symmetrized",
    "FrameAveraging",
    "CanonicalPCA",
    "CanonicalLearned",
    "Canonicalizer",
    "tolerance",
    "frame_gaps",
    "frame_degeneracy",
    "principal_frames",
    "canonical_pca_frames",
    "safe_gram_schmidt",
]

#: relative tolerance of the frame rules by the positions' dtype (gaps, skewness, learned-vector lengths)
_TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-3}
#: below this largest covariance eigenvalue (Å²) a structure has no extent: a single atom (gaps are 0)
_TINY_EXTENT = 1e-12
#: lengths are clamped to at least this before dividing (finite values and gradients)
_TINY_NORM = 1e-12
#: the frame cases, indexed by :func:`frame_degeneracy` (shape of the covariance ellipsoid)
DEGENERACY = ("none", "prolate", "oblate", "spherical")
#: the four proper sign choices of the three axes (det = +1): the frames of frame averaging
_FA_SIGNS = ((1.0, 1.0, 1.0), (1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0))
#: the learned canonicalizer's fixed size (it does not follow the backbone's ladder)
CANONICALIZER_HPARAMS = {"hidden_dim": 16, "num_layers": 2, "vector_channels": 2, "num_radial": 16}


def tolerance(dtype: torch.dtype) -> float:
    """The relative tolerance of the frame rules for positions of ``dtype``: 1e-6 (float64), 1e-3 (float32),
    1e-2 otherwise. Round-off ε of the input turns an eigenvector whose relative gap is g by ~ε/g, so a gap above the
    tolerance keeps that turn below the dtype's symmetry tolerance of :mod:`nnip.testing` (1e-9, 1e-4)."""
    return _TOLERANCE.get(dtype, 1e-2)


# --- small vector helpers (float64 or the positions' dtype; counted as pointwise ops) --------------------------
def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a × b`` over the last axis, ``(..., 3), (..., 3) -> (..., 3)``."""
    a1, a2, a3 = a.unbind(-1)
    b1, b2, b3 = b.unbind(-1)
    return torch.stack([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], dim=-1)


def _safe_norm(v: torch.Tensor) -> torch.Tensor:
    """``‖v‖`` over the last axis, at least ``_TINY_NORM`` (finite gradient at 0)."""
    return (v * v).sum(-1).clamp_min(_TINY_NORM**2).sqrt()


def _perpendicular(axis: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """The column of ``candidates`` (G, 3, 3; orthonormal columns) least aligned with the unit ``axis`` (G, 3),
    projected orthogonal to it and normalised: its squared length before normalising is ``>= 2/3``."""
    dots = torch.einsum("ga,gab->gb", axis, candidates)  # (G, 3)
    k = dots.abs().argmin(-1)  # (G,)
    col = candidates.gather(-1, k.view(-1, 1, 1).expand(-1, 3, 1)).squeeze(-1)  # (G, 3)
    u = col - (col * axis).sum(-1, keepdim=True) * axis
    return u / _safe_norm(u).unsqueeze(-1)


def _sign_normalised(v: torch.Tensor) -> torch.Tensor:
    """``±v`` (G, 3) with its largest-magnitude component positive (independent of the solver's sign choice)."""
    k = v.abs().argmax(-1, keepdim=True)
    s = torch.where(v.gather(-1, k) < 0, -1.0, 1.0).to(v.dtype)
    return v * s


def _full_precision(device: torch.device):
    """Autocast off on ``device`` (frames and rotations stay in float32/float64 under bf16 AMP)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


# --- PCA frames ------------------------------------------------------------------------------------------------
@torch.no_grad()
def _spectrum(pos: torch.Tensor, index: torch.Tensor, n_graphs: int):
    """Eigenvalues (G, 3) descending (clamped at 0), eigenvectors (G, 3, 3) as columns, and the centred positions
    (n_atoms, 3) of each structure's covariance ``(1/n) Σ (x - c)ᵀ (x - c)``; float64, no gradient."""
    x = pos.detach().to(torch.float64)
    count = scatter_count(index, n_graphs, dtype=torch.float64).clamp_min(1.0)  # (G,)
    center = scatter_sum(x, index, n_graphs) / count[:, None]  # (G, 3) unweighted centroid
    y = x - center[index]  # (n_atoms, 3)
    cov = scatter_sum(y[:, :, None] * y[:, None, :], index, n_graphs) / count[:, None, None]  # (G, 3, 3)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    return evals.flip(-1).clamp_min(0.0), evecs.flip(-1), y


def _gaps(evals: torch.Tensor) -> torch.Tensor:
    """``(λ₁ - λ₂, λ₂ - λ₃) / λ₁`` (G, 2) from descending eigenvalues; 0 where ``λ₁ <= _TINY_EXTENT``."""
    top = evals[:, :1]
    rel = (evals[:, :2] - evals[:, 1:]) / top.clamp_min(_TINY_EXTENT)
    return torch.where(top > _TINY_EXTENT, rel, torch.zeros_like(rel))


def frame_gaps(structures: Batch | Atoms | Sequence[Atoms]) -> torch.Tensor:
    """Relative eigenvalue gaps of each structure's position covariance, ``(n_structures, 2)`` float64:
    ``[(λ₁ - λ₂)/λ₁, (λ₂ - λ₃)/λ₁]`` with ``λ₁ ≥ λ₂ ≥ λ₃`` (both 0 for a single atom). A gap near 0 is a degenerate
    frame (see the module docstring); :func:`frame_degeneracy` turns gaps into cases.

    ``structures``: a :class:`~nnip.data.Batch` (gaps on its device), one ``ase.Atoms`` or any sequence of them
    (e.g. an :class:`~nnip.data.AtomsDataset`; no neighbour lists are built).

    >>> import ase.build
    >>> frame_gaps([ase.build.molecule("CH4"), ase.build.molecule("CO2")]).abs().round(decimals=6).tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """
    if isinstance(structures, Batch):
        pos, index, n = structures.pos, structures.batch, structures.num_graphs
    else:
        atoms_list = [structures] if isinstance(structures, Atoms) else list(structures)
        if not atoms_list:
            return torch.zeros(0, 2, dtype=torch.float64)
        sizes = torch.as_tensor([len(a) for a in atoms_list], dtype=torch.long)
        pos = torch.as_tensor(np.concatenate([a.get_positions() for a in atoms_list]), dtype=torch.float64)
        index, n = torch.repeat_interleave(torch.arange(len(atoms_list)), sizes), len(atoms_list)
    evals, _, _ = _spectrum(pos, index, n)
    return _gaps(evals)


def frame_degeneracy(gaps: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The frame case of each structure (long, indices into :data:`DEGENERACY`: 0 none, 1 prolate, 2 oblate,
    3 spherical) from :func:`frame_gaps`, at the tolerance of positions in ``dtype`` (training runs in float32)."""
    tol = tolerance(dtype)
    return (gaps[:, 1] < tol).long() + 2 * (gaps[:, 0] < tol).long()


@torch.no_grad()
def principal_frames(pos: torch.Tensor, index: torch.Tensor, n_graphs: int, tol: float | None = None):
    """The PCA frame of each structure with the degenerate cases completed: ``(frames, gaps, cases, y)``.

    ``frames`` (G, 3, 3) float64, proper rotations whose columns are the axes (largest variance first);
    ``gaps`` (G, 2) as :func:`frame_gaps`; ``cases`` (G,) indices into :data:`DEGENERACY`; ``y`` the centred
    positions (n_atoms, 3) float64. ``tol``: :func:`tolerance` of ``pos.dtype`` by default. No gradient.
    """
    tol = tolerance(pos.dtype) if tol is None else tol
    evals, evecs, y = _spectrum(pos, index, n_graphs)
    gaps = _gaps(evals)
    cases = (gaps[:, 1] < tol).long() + 2 * (gaps[:, 0] < tol).long()
    eye = torch.eye(3, dtype=torch.float64, device=pos.device).expand(n_graphs, 3, 3)
    e1, e3 = _sign_normalised(evecs[..., 0]), _sign_normalised(evecs[..., 2])
    e2 = _sign_normalised(evecs[..., 1])
    full = torch.stack([e1, e2, _cross(e1, e2)], dim=-1)
    p = _perpendicular(e1, eye)  # prolate: keep the long axis
    prolate = torch.stack([e1, p, _cross(e1, p)], dim=-1)
    q = _perpendicular(e3, eye)  # oblate: keep the normal
    oblate = torch.stack([q, _cross(e3, q), e3], dim=-1)
    c = cases.view(-1, 1, 1)
    frames = torch.where(c == 0, full, torch.where(c == 1, prolate, torch.where(c == 2, oblate, eye)))
    return frames, gaps, cases, y


@torch.no_grad()
def canonical_pca_frames(pos: torch.Tensor, index: torch.Tensor, n_graphs: int, tol: float | None = None):
    """One proper frame per structure (G, 3, 3) float64 by the skewness rule of ``"canonical-pca"`` (module
    docstring), and the RMS radius ``sqrt(λ₁ + λ₂ + λ₃)`` (G,) of each structure. No gradient."""
    tol = tolerance(pos.dtype) if tol is None else tol
    frames, _, _, y = principal_frames(pos, index, n_graphs, tol)
    proj = torch.einsum("na,nab->nb", y, frames[index])  # (n_atoms, 3)
    m3 = scatter_sum(proj.pow(3), index, n_graphs)  # (G, 3)
    a3 = scatter_sum(proj.abs().pow(3), index, n_graphs)
    skew = torch.where(a3 > 0, m3 / a3.clamp_min(_TINY_NORM), torch.zeros_like(m3))  # in [-1, 1]
    signs = torch.where(skew.abs() >= tol, torch.sign(skew), torch.ones_like(skew))
    weak = skew.abs().argmin(-1, keepdim=True)  # (G, 1): this axis takes the sign that makes det = +1
    s_weak = signs.gather(-1, weak) * signs.prod(-1, keepdim=True)  # s_k s₁s₂s₃ = product of the other two
    signs = signs.scatter(-1, weak, s_weak)
    radius = scatter_mean(y.pow(2).sum(-1), index, n_graphs).sqrt()
    return frames * signs.unsqueeze(-2), radius


# --- the wrappers ----------------------------------------------------------------------------------------------
def _replicate(batch: Batch, k: int) -> Batch:
    """``k`` copies of every structure, copy-major (copy j of atom i is atom ``j·n_atoms + i``, of graph g graph
    ``j·n_graphs + g``; atoms of a structure stay contiguous). Labels are dropped (the base model reads none)."""
    if k == 1:
        return batch.replace(energy=None, forces=None, stress=None)
    n, g, dev = batch.num_atoms, batch.num_graphs, batch.pos.device
    copies = torch.arange(k, device=dev)
    return batch.replace(
        pos=batch.pos.repeat(k, 1),
        atomic_numbers=batch.atomic_numbers.repeat(k),
        batch=(batch.batch.unsqueeze(0) + (copies * g).view(k, 1)).reshape(-1),
        natoms=batch.natoms.repeat(k),
        cell=batch.cell.repeat(k, 1, 1),
        pbc=batch.pbc.repeat(k, 1),
        edge_index=(batch.edge_index.unsqueeze(1) + (copies * n).view(1, k, 1)).reshape(2, -1),
        cell_shift=batch.cell_shift.repeat(k, 1),
        charge=batch.charge.repeat(k),
        spin=batch.spin.repeat(k),
        energy=None,
        forces=None,
        stress=None,
    )


class Symmetrized(nn.Module):
    """A base model evaluated in frames (module docstring): subclasses give :meth:`frames`.

    ``model(batch)`` follows the model contract; ``model.base`` is the wrapped model.
    """

    method: str = ""
    local = False

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base
        self.symmetries = frozenset(getattr(base, "symmetries", frozenset())) | {"rotation", "translation"}
        self.smooth_cutoff = bool(getattr(base, "smooth_cutoff", False))

    # --- the contract, delegated -----------------------------------------------------------------------------------
    @property
    def cutoff(self) -> float:
        return self.base.cutoff

    @property
    def max_neighbors(self) -> int | None:
        return self.base.max_neighbors

    @property
    def width(self) -> int:
        return self.base.width

    @property
    def base_width(self) -> int:
        return self.base.base_width

    @property
    def config(self):
        """The base model's frozen config (the wrapper adds only ``method``)."""
        return self.base.config

    @property
    def mup_vector_like(self) -> tuple[str, ...]:
        return tuple("base." + p for p in (getattr(self.base, "mup_vector_like", ()) or ()))

    @property
    def fit_scale_factors(self):
        """The base model's ``fit_scale_factors`` (GemNet-OC) fed with the structures as the base model sees them
        (every frame, as in eval mode; no RNG is drawn); absent when the base model has none."""
        fit = getattr(self.base, "fit_scale_factors", None)
        if fit is None:
            raise AttributeError(f"{type(self.base).__name__} has no fit_scale_factors")

        def fit_in_frames(batches):
            return fit([self._framed(b, self.frames(b, every=True))[0] for b in batches])

        return fit_in_frames

    # --- frames ------------------------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Frames per structure in the current mode."""
        return 1

    def frames(self, batch: Batch, every: bool = False) -> torch.Tensor:
        """``(n_graphs, K, 3, 3)`` proper rotations in the positions' dtype (columns = axes); ``every``: all frames
        whatever the mode."""
        raise NotImplementedError

    def _framed(self, batch: Batch, frames: torch.Tensor) -> tuple[Batch, torch.Tensor]:
        """The batch the base model sees (``K`` copies, centred, in frame coordinates) and the per-copy frames
        ``(K·n_graphs, 3, 3)``."""
        g, k = frames.shape[:2]
        with _full_precision(batch.pos.device):
            center = scatter_mean(batch.pos, batch.batch, g)  # (G, 3), differentiable in pos
            y = batch.pos - center[batch.batch]  # (n_atoms, 3)
            big = _replicate(batch, k)
            fr = frames.to(batch.pos.dtype).transpose(0, 1).reshape(k * g, 3, 3)  # copy-major, as _replicate
            pos = torch.einsum("na,nab->nb", y.repeat(k, 1), fr[big.batch])  # (x - c) F
            cell = torch.einsum("gca,gab->gcb", big.cell, fr)  # lattice vectors rotate with the atoms
        return big.replace(pos=pos, cell=cell), fr

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        frames = self.frames(batch)  # (G, K, 3, 3)
        g, k = frames.shape[:2]
        n, dtype = batch.num_atoms, batch.pos.dtype
        big, fr = self._framed(batch, frames)
        out = self.base(big)
        with _full_precision(batch.pos.device):
            fa = fr[big.batch]  # (K·n_atoms, 3, 3)
            forces = torch.einsum("nb,nab->na", out["forces"].to(dtype), fa)  # f Fᵀ
            result = {
                "energy": out["energy"].to(dtype).view(k, g).mean(0),
                "forces": forces.view(k, n, 3).mean(0),
            }
            if out.get("stress") is not None:
                stress = fr @ out["stress"].to(dtype) @ fr.transpose(1, 2)  # F σ Fᵀ
                result["stress"] = stress.view(k, g, 3, 3).mean(0)
        return result

    def extra_repr(self) -> str:
        return f"method={self.method!r}"


class FrameAveraging(Symmetrized):
    """Frame averaging over the four proper PCA frames (Puny et al. 2022): all four in eval mode, one drawn per
    structure per step in train mode (stochastic FA). See the module docstring."""

    method = "frame-averaging"

    def __init__(self, base: nn.Module):
        super().__init__(base)
        self.register_buffer("signs", torch.tensor(_FA_SIGNS), persistent=False)  # (4, 3)

    @property
    def n_frames(self) -> int:
        return 1 if self.training else len(_FA_SIGNS)

    def frames(self, batch: Batch, every: bool = False) -> torch.Tensor:
        g = batch.num_graphs
        frames, _, _, _ = principal_frames(batch.pos, batch.batch, g)
        all4 = frames.unsqueeze(1) * self.signs.to(frames).view(1, 4, 1, 3)  # (G, 4, 3, 3): column signs
        if self.training and not every:
            pick = torch.randint(len(_FA_SIGNS), (g,), device=frames.device)  # torch's seeded RNG
            all4 = all4[torch.arange(g, device=frames.device), pick].unsqueeze(1)
        return all4.to(batch.pos.dtype)


class CanonicalPCA(Symmetrized):
    """One canonical PCA frame per structure: skewness signs, det = +1 (module docstring)."""

    method = "canonical-pca"

    def frames(self, batch: Batch, every: bool = False) -> torch.Tensor:
        frames, _ = canonical_pca_frames(batch.pos, batch.batch, batch.num_graphs)
        return frames.unsqueeze(1).to(batch.pos.dtype)


class Canonicalizer(nn.Module):
    r"""The learned canonicalization network of Kaba et al. 2023: MC-EGNN layers (eq. 11–12 of
    :mod:`nnip.models.egnn`) over the batch's neighbour graph, then two E(3)-equivariant, translation-invariant
    vectors per structure,

    .. math:: v_k = \frac{1}{n} \sum_a \big( s_k(\tilde h_a)\,(x_a - c) + D_a\, w_k \big), \qquad k = 1, 2,

    with ``s`` a linear map of the (LayerNormed) invariant features and ``w`` a combination of the vector channels
    ``D`` (displacements of MC-EGNN). ``(batch, y) -> (n_graphs, 3, 2)``; ``y`` are the centred positions.
    """

    def __init__(self, cutoff: float, hidden_dim: int = 16, num_layers: int = 2, vector_channels: int = 2,
                 num_radial: int = 16, num_elements: int = 100):
        super().__init__()
        w, e = hidden_dim, vector_channels
        self.embedding = nn.Embedding(num_elements, w)
        self.rbf = GaussianBasis(num_radial, cutoff, start=0.0, coeff=0.5)
        self.layers = nn.ModuleList(EGNNLayer(w, 1 if t == 0 else e, e, num_radial + 1) for t in range(num_layers))
        self.norm = nn.LayerNorm(w)
        self.scalars = nn.Linear(w, 2)  # invariant weights of the centred positions
        self.mix = nn.Linear(e, 2, bias=False)  # combination of the vector channels

    def forward(self, batch: Batch, y: torch.Tensor) -> torch.Tensor:
        src, dst = batch.edge_index
        vec = batch.edge_vectors()  # (n_edges, 3)
        dist = vec.norm(dim=-1)
        edge_feat = torch.cat([dist[:, None], self.rbf(dist)], dim=-1)  # (n_edges, 1 + num_radial)
        h = self.embedding(batch.atomic_numbers)  # (n_atoms, w)
        D = vec.new_zeros(batch.num_atoms, 3, 1)  # (n_atoms, 3, E_in)
        for layer in self.layers:
            h, D, _ = layer(h, D, vec, edge_feat, src, dst)
        s = self.scalars(self.norm(h)).to(y.dtype)  # (n_atoms, 2)
        per_atom = y.unsqueeze(-1) * s.unsqueeze(-2) + self.mix(D.to(self.mix.weight.dtype)).to(y.dtype)
        return scatter_mean(per_atom, batch.batch, batch.num_graphs)  # (G, 3, 2)


class CanonicalLearned(Symmetrized):
    """A learned canonical frame (Kaba et al. 2023): :class:`Canonicalizer` → safe Gram–Schmidt → ``e₃ = e₁ × e₂``,
    with the canonical-pca frame as the fallback of degenerate predictions (module docstring)."""

    method = "canonical-learned"

    def __init__(self, base: nn.Module, canonicalizer: nn.Module | None = None):
        super().__init__(base)
        self.smooth_cutoff = False  # the canonicalizer aggregates by a mean over the cutoff graph
        if canonicalizer is None:
            canonicalizer = Canonicalizer(base.cutoff, **CANONICALIZER_HPARAMS)
            ref = next((p for p in base.parameters() if p.is_floating_point()), None)
            if ref is not None:
                canonicalizer = canonicalizer.to(device=ref.device, dtype=ref.dtype)
        self.canonicalizer = canonicalizer

    @property
    def mup_vector_like(self) -> tuple[str, ...]:
        # the canonicalizer's width is fixed along the ladder: μP does not rescale its learning rate
        return super().mup_vector_like + ("canonicalizer.",)

    def frames(self, batch: Batch, every: bool = False) -> torch.Tensor:
        pos, dtype = batch.pos, batch.pos.dtype
        tol = tolerance(dtype)
        fallback, radius = canonical_pca_frames(pos, batch.batch, batch.num_graphs, tol)
        fallback, radius = fallback.to(dtype), radius.to(dtype)
        with _full_precision(pos.device):
            center = scatter_mean(pos, batch.batch, batch.num_graphs)
            v = self.canonicalizer(batch, pos - center[batch.batch])  # (G, 3, 2)
            frame = safe_gram_schmidt(v[..., 0], v[..., 1], fallback, tol * radius + _TINY_NORM)
        return frame.unsqueeze(1)


def safe_gram_schmidt(v1: torch.Tensor, v2: torch.Tensor, fallback: torch.Tensor, threshold: torch.Tensor):
    """Proper frames ``[e₁, e₂, e₁ × e₂]`` (G, 3, 3) from two vectors per structure (G, 3), finite in value and
    gradient for any input: ``e₁ = v₁/‖v₁‖`` unless ``‖v₁‖ <= threshold`` (G,), then ``fallback``'s first column;
    ``e₂`` = the part of ``v₂`` orthogonal to ``e₁``, normalised, unless its length is ``<= threshold``, then the
    column of ``fallback`` (G, 3, 3, orthonormal) least aligned with ``e₁`` projected orthogonal to it (or
    ``fallback``'s second column when ``e₁`` is its first). Norms are clamped away from zero before dividing."""
    n1 = _safe_norm(v1)
    ok1 = (n1 > threshold).unsqueeze(-1)
    e1 = torch.where(ok1, v1 / n1.unsqueeze(-1), fallback[..., 0])
    u2 = v2 - (e1 * v2).sum(-1, keepdim=True) * e1
    n2 = _safe_norm(u2)
    ok2 = ok1 & (n2 > threshold).unsqueeze(-1)
    e2_fallback = torch.where(ok1, _perpendicular(e1, fallback), fallback[..., 1])
    e2 = torch.where(ok2, u2 / n2.unsqueeze(-1), e2_fallback)
    return torch.stack([e1, e2, _cross(e1, e2)], dim=-1)


_WRAPPERS: dict[str, type[Symmetrized]] = {
    "frame-averaging": FrameAveraging,
    "canonical-pca": CanonicalPCA,
    "canonical-learned": CanonicalLearned,
}


def symmetrize_model(model: nn.Module, method: str) -> Symmetrized:
    """Wrap ``model`` (any model following the contract of :mod:`nnip.models`) with a method of
    :data:`SYMMETRIZE_METHODS`; an unknown method is a :class:`~nnip.errors.ConfigError` naming the valid ones."""
    if method not in _WRAPPERS:
        raise ConfigError(f"symmetrize: unknown method {method!r}; valid: {list(SYMMETRIZE_METHODS)}")
    return _WRAPPERS[method](model)
