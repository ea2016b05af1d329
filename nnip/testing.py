r"""Symmetry and contract checks for interatomic-potential models, shipped for users' own models.

Every check takes a model that follows the :mod:`nnip.models` contract — ``model(batch)`` returns
``{"energy": (n_graphs,), "forces": (n_atoms, 3)[, "stress": (n_graphs, 3, 3)]}`` and the model declares
``symmetries``, ``local`` and (optionally) ``smooth_cutoff`` — and either a :class:`~nnip.data.Batch` or a list of
``ase.Atoms``. Batches are cast to the model's floating dtype; run the checks in float64 (``model.double()``) to
see round-off (~1e-14) rather than float32 noise (~1e-6). The properties checked, for a rotation ``R`` (applied as
``x -> x Rᵀ``, :meth:`~nnip.data.Batch.rotate`), a translation ``t`` and a permutation ``π`` of the atoms of one
structure:

.. math::

    E(x R^\top) = E(x), \quad F(x R^\top) = F(x) R^\top, \quad \sigma(x R^\top) = R\,\sigma(x)\,R^\top, \qquad
    E(x + t) = E(x), \quad F(x + t) = F(x), \qquad E(\pi x) = E(x), \quad F(\pi x) = \pi F(x).

Relative errors are ``‖out(g·x) - g·out(x)‖ / ‖out(x)‖`` over the whole batch (Frobenius norms).

>>> import torch
>>> R = random_rotation(generator=torch.Generator().manual_seed(0))
>>> bool(torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype))) and abs(torch.det(R).item() - 1) < 1e-12
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from nnip.data.batch import Batch, collate

__all__ = [
    "random_rotation",
    "model_dtype",
    "batch_for",
    "equivariance_error",
    "translation_error",
    "permutation_error",
    "assert_equivariant",
    "assert_translation_invariant",
    "assert_not_translation_invariant",
    "assert_permutation_equivariant",
    "assert_batch_consistent",
    "assert_no_cross_talk",
    "assert_local",
    "assert_smooth_cutoff",
    "check_model",
    "lattice_weights_",
]

#: default relative tolerances of the exact (symmetry-by-construction) checks, by dtype
TOLERANCES = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 1e-2}


# --- helpers ---------------------------------------------------------------------------------------------------


@torch.no_grad()
def lattice_weights_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Overwrite every parameter with machine-independent values: ``k / 1000 · fan_in^-1/2`` for integers ``k``
    drawn uniformly from [-1000, 1000] by numpy's PCG64 (integer arithmetic, a correctly rounded division and
    ``sqrt``: the same bits on every CPU), where ``fan_in`` is the last dimension (1 for vectors). Returns ``model``.

    A model's *initialisation* is not machine-independent at float64 precision: torch's ``uniform_``/``normal_``
    take different vectorised paths per ATen CPU capability, and orthogonal initialisers (GemNet-OC's
    ``he_orthogonal_``) call a float32 QR in MKL whose kernels differ between CPUs — 1e-7 relative in the weights.
    Pinning a model's *function* therefore starts from these weights (``tests/models/test_numerics_pinned.py``).
    """
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        fan_in = p.shape[-1] if p.dim() >= 2 else 1
        k = rng.integers(-1000, 1001, size=tuple(p.shape))
        p.copy_(torch.from_numpy(k / 1000.0 / np.sqrt(fan_in)))
    return model
def random_rotation(
    n: int | None = None, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Haar-random rotations in SO(3): ``() -> (3, 3)`` or ``(n,) -> (n, 3, 3)``.

    QR of a Gaussian matrix with the sign fix ``Q diag(sign(diag(R)))`` gives Haar O(3); multiplying by the
    determinant (−I is central and odd-dimensional) maps it onto Haar SO(3), so ``det = +1`` and ``R Rᵀ = I``.
    """
    shape = (1 if n is None else n, 3, 3)
    a = torch.randn(shape, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    q = q * torch.det(q).view(-1, 1, 1)
    q = q.to(dtype)
    return q[0] if n is None else q


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The floating dtype of the model's first floating parameter or buffer (``float32`` if it has none)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _model_device(model: torch.nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def batch_for(model: torch.nn.Module, atoms_list: Sequence[Atoms] | Batch, **kwargs) -> Batch:
    """``collate`` the structures with the model's ``cutoff``/``max_neighbors``, in its dtype and on its device."""
    if isinstance(atoms_list, Batch):
        batch = atoms_list
    else:
        cutoff = getattr(model, "cutoff", 6.0)
        max_nb = getattr(model, "max_neighbors", 30)
        batch = collate(list(atoms_list), cutoff=cutoff, max_neighbors=max_nb, **kwargs)
    return batch.to(device=_model_device(model), dtype=model_dtype(model))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """``‖a - b‖ / ‖b‖`` (absolute error if ``b`` is zero)."""
    denom = b.detach().norm().item()
    err = (a - b).detach().norm().item()
    return err / denom if denom > 0 else err


def _outputs(model, batch) -> dict[str, torch.Tensor]:
    out = model(batch)
    return {k: v for k, v in out.items() if k in ("energy", "forces", "stress") and v is not None}


def _tol(model, rtol):
    return TOLERANCES.get(model_dtype(model), 1e-4) if rtol is None else rtol


# --- error measures --------------------------------------------------------------------------------------------
@torch.no_grad()
def equivariance_error(model: torch.nn.Module, batch: Batch, rotation: torch.Tensor) -> dict[str, float]:
    """Relative rotation errors per output: ``{"energy": ‖E(xRᵀ) - E(x)‖/‖E(x)‖, "forces": ‖F(xRᵀ) - F(x)Rᵀ‖/‖F‖,
    "stress": ‖σ(xRᵀ) - Rσ(x)Rᵀ‖/‖σ‖}`` (``stress`` only when the model predicts it).

    Args:
        model: the model (evaluated in eval mode by the caller's choice; this function does not toggle it).
        batch: any batch; cast to the model's dtype/device.
        rotation: ``(3, 3)`` for every structure or ``(n_graphs, 3, 3)`` one per structure.
    """
    batch = batch_for(model, batch)
    R = rotation.to(device=batch.pos.device, dtype=batch.pos.dtype)
    Rg = R.expand(batch.num_graphs, 3, 3) if R.dim() == 2 else R
    out = _outputs(model, batch)
    rot = _outputs(model, batch.rotate(Rg))
    errors = {"energy": _rel(rot["energy"], out["energy"])}
    errors["forces"] = _rel(rot["forces"], torch.einsum("nab,nb->na", Rg[batch.batch], out["forces"]))
    if "stress" in out:
        errors["stress"] = _rel(rot["stress"], Rg @ out["stress"] @ Rg.transpose(1, 2))
    return errors


@torch.no_grad()
def translation_error(model: torch.nn.Module, batch: Batch, shift: torch.Tensor) -> dict[str, float]:
    """Relative errors ``‖out(x + t) - out(x)‖ / ‖out(x)‖`` per output; ``shift`` is ``(3,)`` or ``(n_graphs, 3)``."""
    batch = batch_for(model, batch)
    out = _outputs(model, batch)
    moved = _outputs(model, batch.translate(shift.to(batch.pos)))
    return {k: _rel(moved[k], out[k]) for k in out}


@torch.no_grad()
def permutation_error(
    model: torch.nn.Module, atoms_list: Sequence[Atoms], generator: torch.Generator | None = None
) -> dict[str, float]:
    """Permute the atoms of every structure (a random ``π`` each), rebuild the batch with ``collate`` and return
    ``{"energy": ‖E(πx) - E(x)‖/‖E‖, "forces": ‖F(πx) - πF(x)‖/‖F‖[, "stress": …]}``.

    The neighbour list is rebuilt, so a ``max_neighbors`` cap with exactly tied distances may legitimately pick
    other neighbours: use structures without ties (molecules, rattled crystals).
    """
    atoms_list = list(atoms_list)
    perms, permuted = [], []
    for atoms in atoms_list:
        p = torch.randperm(len(atoms), generator=generator).numpy()
        perms.append(p)
        permuted.append(_permute_atoms(atoms, p))
    out = _outputs(model, batch_for(model, atoms_list))
    pout = _outputs(model, batch_for(model, permuted))
    offsets = np.r_[0, np.cumsum([len(a) for a in atoms_list])]
    index = torch.as_tensor(np.concatenate([p + o for p, o in zip(perms, offsets[:-1])]), device=out["forces"].device)
    errors = {"energy": _rel(pout["energy"], out["energy"]), "forces": _rel(pout["forces"], out["forces"][index])}
    if "stress" in out:
        errors["stress"] = _rel(pout["stress"], out["stress"])
    return errors


def _permute_atoms(atoms: Atoms, perm: np.ndarray) -> Atoms:
    new = atoms[perm]  # ase indexing keeps cell, pbc, info and per-atom arrays
    new.calc = None
    return new


# --- assertions ------------------------------------------------------------------------------------------------
def _check(errors: dict[str, float], rtol: float, what: str):
    bad = {k: v for k, v in errors.items() if not v <= rtol}
    if bad:
        raise AssertionError(f"{what}: relative errors {bad} exceed {rtol:g} (all: {errors})")


def assert_equivariant(
    model: torch.nn.Module,
    batch: Batch | Sequence[Atoms],
    rtol: float | None = None,
    n_rotations: int = 3,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``E(xRᵀ) = E(x)``, ``F(xRᵀ) = F(x)Rᵀ``, ``σ(xRᵀ) = Rσ(x)Rᵀ`` for ``n_rotations`` Haar rotations (a different
    one per structure); raises ``AssertionError`` if any relative error exceeds ``rtol`` (default by dtype:
    1e-9 in float64, 1e-4 in float32). Returns the worst error per output."""
    batch = batch_for(model, batch)
    rtol = _tol(model, rtol)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    worst: dict[str, float] = {}
    for _ in range(n_rotations):
        R = random_rotation(batch.num_graphs, generator=generator)
        for k, v in equivariance_error(model, batch, R).items():
            worst[k] = max(worst.get(k, 0.0), v)
    _check(worst, rtol, "rotation equivariance")
    return worst


def assert_translation_invariant(
    model: torch.nn.Module,
    batch: Batch | Sequence[Atoms],
    rtol: float | None = None,
    shift: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``out(x + t) = out(x)`` for a random per-structure shift ``t`` (|t| ~ 10 Å) or the given one."""
    batch = batch_for(model, batch)
    if shift is None:
        g = generator if generator is not None else torch.Generator().manual_seed(1)
        shift = 10.0 * torch.randn(batch.num_graphs, 3, generator=g, dtype=torch.float64)
    errors = translation_error(model, batch, shift)
    _check(errors, _tol(model, rtol), "translation invariance")
    return errors


def assert_not_translation_invariant(
    model: torch.nn.Module, batch: Batch | Sequence[Atoms], min_error: float = 1e-3
) -> dict[str, float]:
    """The negative check: a model that does *not* declare ``"translation"`` should measurably change
    (largest relative error of energy/forces ``> min_error``) under a 10 Å shift."""
    batch = batch_for(model, batch)
    errors = translation_error(model, batch, torch.tensor([10.0, -7.0, 4.0], dtype=torch.float64))
    if max(errors["energy"], errors["forces"]) <= min_error:
        raise AssertionError(f"expected a translation-dependent model, errors {errors} <= {min_error:g}")
    return errors


def assert_permutation_equivariant(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    rtol: float | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``E(πx) = E(x)`` and ``F(πx) = πF(x)`` for a random permutation of the atoms of each structure (the batch
    is rebuilt with ``collate``; see :func:`permutation_error`)."""
    g = generator if generator is not None else torch.Generator().manual_seed(2)
    errors = permutation_error(model, atoms_list, generator=g)
    _check(errors, _tol(model, rtol), "permutation equivariance")
    return errors


@torch.no_grad()
def assert_batch_consistent(model: torch.nn.Module, atoms_list: Sequence[Atoms], rtol: float | None = None) -> None:
    """Evaluating structures together in one batch equals evaluating each alone (energy, forces, stress)."""
    atoms_list = list(atoms_list)
    rtol = _tol(model, rtol)
    together = _outputs(model, batch_for(model, atoms_list))
    start = 0
    for g, atoms in enumerate(atoms_list):
        alone = _outputs(model, batch_for(model, [atoms]))
        n = len(atoms)
        errors = {
            "energy": _rel(together["energy"][g : g + 1], alone["energy"]),
            "forces": _rel(together["forces"][start : start + n], alone["forces"]),
        }
        if "stress" in together:
            errors["stress"] = _rel(together["stress"][g : g + 1], alone["stress"])
        _check(errors, rtol, f"batch consistency (structure {g})")
        start += n


def assert_no_cross_talk(model: torch.nn.Module, batch: Batch | Sequence[Atoms]) -> None:
    """``∂E_g / ∂x_a = 0`` exactly for every atom ``a`` outside structure ``g`` (and the gradient inside is not
    identically zero). Needs at least two structures."""
    batch = batch_for(model, batch)
    if batch.num_graphs < 2:
        raise ValueError("assert_no_cross_talk needs a batch of at least two structures")
    pos = batch.pos.detach().clone().requires_grad_(True)
    out = model(batch.replace(pos=pos))
    for g in range(batch.num_graphs):
        (grad,) = torch.autograd.grad(out["energy"][g], pos, retain_graph=True, allow_unused=True)
        if grad is None:
            raise AssertionError(f"energy of structure {g} does not depend on positions at all")
        outside = batch.batch != g
        leak = grad[outside].abs().max().item() if outside.any() else 0.0
        if leak != 0.0:
            raise AssertionError(f"energy of structure {g} depends on atoms of other structures (|grad| = {leak:g})")
        if grad[~outside].abs().max().item() == 0.0:
            raise AssertionError(f"energy of structure {g} has zero gradient w.r.t. its own atoms")


@torch.no_grad()
def assert_local(
    model: torch.nn.Module, atoms_a: Atoms, atoms_b: Atoms, separation: float = 40.0, rtol: float | None = None
) -> None:
    """Two structures placed ``separation`` Å apart (beyond the cutoff) in one structure: the energy is the sum of
    their separate energies and the forces are their separate forces. Molecules only (no periodic cells)."""
    if atoms_a.pbc.any() or atoms_b.pbc.any():
        raise ValueError("assert_local needs non-periodic structures")
    pa, pb = atoms_a.get_positions(), atoms_b.get_positions()
    shift = pa.max(axis=0) - pb.min(axis=0) + np.array([separation, 0.0, 0.0])
    b_far = atoms_b.copy()
    b_far.positions = pb + shift
    both = atoms_a.copy()
    both.calc = None
    b_far.calc = None
    both += b_far
    both.cell = np.zeros((3, 3))
    both.pbc = False
    joint = _outputs(model, batch_for(model, [both]))
    alone = _outputs(model, batch_for(model, [atoms_a, b_far]))
    errors = {
        "energy": _rel(joint["energy"], alone["energy"].sum(0, keepdim=True)),
        "forces": _rel(joint["forces"], alone["forces"]),
    }
    _check(errors, _tol(model, rtol), f"locality ({separation:g} Å apart)")


@torch.no_grad()
def assert_smooth_cutoff(
    model: torch.nn.Module,
    numbers: tuple[int, int] = (6, 8),
    eps: tuple[float, float] = (1e-3, 1e-5),
    atol: float = 1e-10,
) -> dict[str, float]:
    """A dimer whose bond crosses the cutoff ``c``: the energy and forces change by O(ε) between ``c - ε`` and
    ``c + ε`` (the envelope goes to zero), i.e. the jump shrinks with ε instead of staying finite.

    Measures ``Δ(ε) = |E(c - ε) - E(c + ε)|`` (and the force analogue) at the two ``eps`` and requires
    ``Δ(ε_small) <= atol + 10 (ε_small / ε_big) Δ(ε_big)``: a model with a discontinuity at the cutoff has
    ``Δ(ε_small) ≈ Δ(ε_big)`` and fails. Returns ``{"energy_jump": Δ_E(ε_small), "forces_jump": Δ_F(ε_small)}``.
    """
    c = float(getattr(model, "cutoff"))

    def dimer(d):
        return Atoms(numbers=list(numbers), positions=[[0.0, 0.0, 0.0], [d, 0.0, 0.0]])

    jumps = {}
    for e in eps:
        inside = _outputs(model, batch_for(model, [dimer(c - e)]))
        outside = _outputs(model, batch_for(model, [dimer(c + e)]))
        jumps[e] = (
            (inside["energy"] - outside["energy"]).abs().max().item(),
            (inside["forces"] - outside["forces"]).abs().max().item(),
        )
    big, small = max(eps), min(eps)
    for k, name in enumerate(("energy", "forces")):
        allowed = atol + 10.0 * (small / big) * jumps[big][k]
        if jumps[small][k] > allowed:
            raise AssertionError(
                f"{name} jumps at the cutoff: Δ({small:g}) = {jumps[small][k]:.3g} vs Δ({big:g}) = {jumps[big][k]:.3g}"
            )
    return {"energy_jump": jumps[small][0], "forces_jump": jumps[small][1]}


def check_model(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    periodic: Sequence[Atoms] = (),
    rtol: float | None = None,
) -> dict[str, object]:
    """Run every check that ``model`` declares: rotation (``"rotation"`` in ``model.symmetries``), translation,
    permutation, batch consistency, no cross-talk, locality (``model.local``) and smoothness at the cutoff
    (``model.smooth_cutoff``). ``atoms_list``: ≥ 2 molecules; ``periodic``: optional periodic cells for the
    rotation/translation checks. Returns a report; raises ``AssertionError`` at the first failure."""
    atoms_list = list(atoms_list)
    symmetries = set(getattr(model, "symmetries", ()))
    report: dict[str, object] = {}
    sets = {"molecules": atoms_list, **({"periodic": list(periodic)} if periodic else {})}
    for name, structures in sets.items():
        if "rotation" in symmetries:
            report[f"rotation/{name}"] = assert_equivariant(model, structures, rtol=rtol)
        if "translation" in symmetries:
            report[f"translation/{name}"] = assert_translation_invariant(model, structures, rtol=rtol)
    if "permutation" in symmetries:
        report["permutation"] = assert_permutation_equivariant(model, atoms_list, rtol=rtol)
    assert_batch_consistent(model, atoms_list, rtol=rtol)
    report["batch_consistent"] = True
    assert_no_cross_talk(model, atoms_list)
    report["no_cross_talk"] = True
    if getattr(model, "local", False):
        assert_local(model, atoms_list[0], atoms_list[1], rtol=rtol)
        report["local"] = True
    if getattr(model, "smooth_cutoff", False):
        report["smooth_cutoff"] = assert_smooth_cutoff(model)
    return report
