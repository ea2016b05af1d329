r"""Measured FLOPs of training steps and forward passes: C of eq. (3) and κ of §4.1 / Fig. 2.

The paper writes :math:`C \approx 3\kappa N D` (eq. 3) with κ the forward FLOPs per parameter per token (atom). We
do not assume it: :func:`count_flops` runs code under two dispatch modes and counts every aten op it executes —
forward, backward, double-backward, the ``M`` extra passes of the symmetry loss eq. (2) — whatever the model does.

What is counted (2 FLOPs per multiply-add, as ``torch.utils.flop_counter``):

- **matmul-like** (``mm``, ``addmm``, ``bmm``, ``baddbmm``, convolutions, attention) by
  :class:`torch.utils.flop_counter.FlopCounterMode`; ``einsum``/``matmul``/``linear`` reach it as ``mm``/``bmm``.
  Added here: ``mv``/``addmv`` (2·m·n), ``dot``/``vdot`` (2·n), and the CPU flash-attention kernels
  (``_scaled_dot_product_flash_attention_for_cpu`` and its backward) with torch's own SDPA formulas.
- **pointwise** ops (aten ``Tag.pointwise``: add, mul, silu, exp, sin, where, …): 1 FLOP per output element, whatever
  the function (a transcendental counts 1, like an add).
- **reductions** (sum, mean, amax, norms, cumsum, softmax, layer norm and their backwards): a small multiple of the
  input size (1 for sums, 2 for norms, 3 for softmax, 5/8 for layer norm forward/backward).
- **scatter/gather** (``index_add``, ``index_copy``, ``scatter_add``, ``scatter_reduce``, ``index_put``: source elements;
  ``index_select``, ``gather``, ``index``, ``embedding``: output elements): the elements touched — the message
  aggregation of a GNN.

What is **not** counted (reported by name in :attr:`FlopCount.uncounted`, stored in each run's summary):

- data movement and allocation (views, copies, ``cat``, dtype casts, ``zeros``), 0 by design;
- aten ops outside the lists above, listed, not counted — in the shipped models only integer index
  bookkeeping: ``sort`` and ``_unique2`` (GemNet-OC's triplet/quadruplet construction); others would be e.g.
  ``topk`` or ``linalg_*`` decompositions (``linalg_det`` of a stress head's cell volume);
- the optimiser update (≈ 10–20 FLOPs per parameter per step: negligible next to N·D terms), gradient clipping,
  the DDP all-reduce, AMP casts, and everything outside the step: neighbour lists and collation on the CPU
  (data loading), evaluation passes (C is *training* compute, as in the paper), logging;
- fused/compiled kernels (``torch.compile``) are counted as the aten ops they replace only when run eagerly.

**Per-step model.** Counting under dispatch modes is slow (Python per op: 4–13× a step on CPU), so the trainer
counts a *replay* of the first ``flops_calibration_steps`` steps and of every ``flops_every``-th step — the same
batch, rotations and RNG state, gradients discarded, so the step's numbers are unchanged — excludes the replay's
time from ``wall_s``/``wall_s_train`` (it is reported as ``flops_count_hours``), and predicts the other steps with
:class:`StepFlopModel`: a non-negative least-squares fit (no intercept) of the measured step FLOPs on
``(n_atoms, n_edges, n_graphs)`` of the step's batch. This is exact for models whose cost is linear in atoms and edges (MPNN, EGNN, eSEN,
EquiformerV2 — up to the per-structure constant); GemNet-OC's triplet/quadruplet terms grow faster than edges and
are fitted approximately — the fit's worst relative error on the measured steps is stored as ``flops_fit_rel_err``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from scipy.optimize import nnls
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_backward_flop_count, sdpa_flop_count

from nnip.models import count_parameters

__all__ = ["FlopCount", "count_flops", "StepFlopModel", "forward_flops_per_atom", "kappa", "batch_features"]

aten = torch.ops.aten

_REDUCTION_FACTOR = {
    "sum": 1, "mean": 1, "prod": 1, "amax": 1, "amin": 1, "max": 1, "min": 1, "argmax": 1, "argmin": 1,
    "any": 1, "all": 1, "cumsum": 1, "cumprod": 1, "logsumexp": 3, "norm": 2, "linalg_vector_norm": 2,
    "var": 3, "std": 3, "var_mean": 3, "std_mean": 3, "_softmax": 3, "_log_softmax": 3,
    "_softmax_backward_data": 3, "_log_softmax_backward_data": 3, "native_layer_norm": 5,
    "native_layer_norm_backward": 8, "native_group_norm": 5, "native_group_norm_backward": 8,
    "native_batch_norm": 5, "native_batch_norm_backward": 8, "_native_batch_norm_legit": 5,
    "_native_batch_norm_legit_no_training": 5, "nansum": 1, "count_nonzero": 1,
}
_SCATTER_SOURCE = {"index_add": 3, "index_copy": 3, "scatter_add": 3, "scatter": 3, "scatter_reduce": 3, "index_reduce": 3}
_SCATTER_VALUES = {"index_put", "_index_put_impl", "index_put_"}
_POINTWISE_EXTRA = {"masked_fill", "index_fill", "masked_scatter", "lerp", "addcmul", "addcdiv"}
_GATHER_OUTPUT = {"index_select", "gather", "index", "embedding", "take", "masked_select"}
_GATHER_GRAD = {"embedding_dense_backward", "index_select_backward", "gather_backward"}
_FREE = {
    "view", "_unsafe_view", "reshape", "expand", "permute", "transpose", "t", "select", "slice", "unsqueeze",
    "squeeze", "clone", "copy_", "copy", "_to_copy", "detach", "alias", "empty", "empty_like", "empty_strided",
    "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros", "new_ones", "new_empty",
    "new_full", "new_empty_strided", "fill_", "fill", "zero_", "cat", "stack", "split", "split_with_sizes", "unbind",
    "chunk", "narrow", "as_strided", "contiguous", "lift_fresh", "lift_fresh_copy", "arange", "linspace",
    "repeat_interleave", "repeat", "diagonal", "diag_embed", "_local_scalar_dense", "scalar_tensor",
    "constant_pad_nd", "set_", "resize_", "expand_as", "view_as", "flatten", "unflatten", "movedim", "_reshape_alias",
    "unfold", "tril", "triu", "eye", "randn", "rand", "randint", "normal_", "uniform_", "bernoulli_", "random_",
    "_unsafe_index", "slice_backward", "select_backward", "detach_", "as_strided_", "squeeze_", "unsqueeze_",
    "_pin_memory", "is_pinned", "_has_compatible_shallow_copy_type", "split_backward", "unbind_backward",
    "stack_backward", "nonzero", "bincount", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset",
    "view_as_real", "view_as_complex", "_conj", "resolve_conj", "resolve_neg", "diagonal_backward",
    "expand_backward", "_efficientzerotensor", "_to_dense", "item", "rsub_", "block_diag", "flip", "roll",
    "_assert_async", "_functional_assert_async", "_assert_scalar", "dropout", "native_dropout", "promote_types",
    "result_type", "is_nonzero", "equal",
}


@dataclass
class FlopCount:
    """FLOPs counted in a :func:`count_flops` block, by kind; ``uncounted`` maps op name → number of calls."""

    matmul: int = 0
    pointwise: int = 0
    reduction: int = 0
    scatter: int = 0
    uncounted: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.matmul + self.pointwise + self.reduction + self.scatter

    def as_dict(self) -> dict:
        return {"total": self.total, "matmul": self.matmul, "pointwise": self.pointwise, "reduction": self.reduction,
                "scatter": self.scatter, "uncounted": dict(self.uncounted)}


def _numel(x) -> int:
    if isinstance(x, torch.Tensor):
        return x.numel()
    if isinstance(x, (list, tuple)):
        return sum(_numel(v) for v in x)
    return 0


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


class _ExtraFlopMode(TorchDispatchMode):
    """Counts the aten ops that :class:`FlopCounterMode` ignores (pointwise, reductions, scatter/gather)."""

    def __init__(self, count: FlopCount):
        super().__init__()
        self.count = count

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in flop_registry:
            return out
        name = packet.__name__.rstrip("_") if packet.__name__.endswith("_") and not packet.__name__.startswith("_") else packet.__name__
        c = self.count
        if name == "_scaled_dot_product_flash_attention_for_cpu":  # CPU attention: not in torch's registry
            c.matmul += int(sdpa_flop_count(args[0].shape, args[1].shape, args[2].shape))
        elif name == "_scaled_dot_product_flash_attention_for_cpu_backward":
            c.matmul += int(sdpa_backward_flop_count(args[0].shape, args[1].shape, args[2].shape, args[3].shape))
        elif name in ("mv", "addmv"):
            mat = args[1] if name == "addmv" else args[0]
            c.matmul += 2 * mat.numel()
        elif name in ("dot", "vdot"):
            c.matmul += 2 * args[0].numel()
        elif torch.Tag.pointwise in func.tags or name in _POINTWISE_EXTRA:
            t = _first_tensor(out)
            c.pointwise += t.numel() if t is not None else 0
        elif name in _REDUCTION_FACTOR:
            c.reduction += _REDUCTION_FACTOR[name] * _numel(args[0])
        elif name in _SCATTER_SOURCE:
            c.scatter += _numel(args[_SCATTER_SOURCE[name]]) if len(args) > _SCATTER_SOURCE[name] else _numel(out)
        elif name in _SCATTER_VALUES:
            c.scatter += _numel(args[2]) if len(args) > 2 else _numel(out)
        elif name in _GATHER_OUTPUT:
            c.scatter += _numel(_first_tensor(out))
        elif name in _GATHER_GRAD:
            c.scatter += _numel(args[0])
        elif name in ("cross", "linalg_cross"):
            c.pointwise += 3 * _numel(_first_tensor(out))
        elif name not in _FREE and packet.__name__ not in _FREE:
            c.uncounted[packet.__name__] += 1
        return out


class count_flops:
    """Context manager counting the FLOPs of everything run inside it (see the module docstring).

    >>> with count_flops() as fc:
    ...     _ = torch.ones(4, 8) @ torch.ones(8, 2)
    >>> fc.count.matmul
    128
    """

    def __init__(self):
        self.count = FlopCount()
        self._fcm = FlopCounterMode(display=False)
        self._extra = _ExtraFlopMode(self.count)

    def __enter__(self) -> "count_flops":
        self._fcm.__enter__()
        self._extra.__enter__()
        return self

    def __exit__(self, *exc):
        self._extra.__exit__(*exc)
        self._fcm.__exit__(*exc)
        self.count.matmul += int(self._fcm.get_total_flops())
        return False

    @property
    def total(self) -> int:
        return self.count.total


#: number of regressors of :class:`StepFlopModel`
N_FEATURES = 3


def batch_features(batch) -> np.ndarray:
    """``(n_atoms, n_edges, n_graphs)`` of a batch: the regressors of :class:`StepFlopModel`."""
    return np.array([batch.num_atoms, batch.num_edges, batch.num_graphs], dtype=np.float64)


class StepFlopModel:
    """Per-step FLOPs as a non-negative linear function of :func:`batch_features`, fitted on measured steps.

    No intercept: every cost of a step scales with its atoms, edges or structures (weight gradients are sums over
    atoms/edges), so a half-size last batch is predicted at half the cost even when all measured batches had the
    same size (collinear regressors: any fitted combination is exact along that ray).

    >>> m = StepFlopModel()
    >>> m.add([10, 100, 2], 1000.0); m.add([20, 210, 3], 2100.0)
    >>> round(m.predict([15, 150, 2]))
    1500
    """

    def __init__(self):
        self.points: list[tuple[np.ndarray, float]] = []
        self._coef: np.ndarray | None = None

    def add(self, features, flops: float) -> None:
        self.points.append((np.asarray(features, dtype=np.float64), float(flops)))
        self._coef = None

    def _fit(self) -> np.ndarray:
        X = np.stack([p[0] for p in self.points])
        y = np.array([p[1] for p in self.points])
        scale = np.abs(X).max(0)
        scale[scale == 0] = 1.0
        coef, _ = nnls(X / scale, y)
        return coef / scale

    def predict(self, features) -> float:
        if not self.points:
            raise ValueError("StepFlopModel: no measured steps yet")
        if self._coef is None:
            self._coef = self._fit()
        return float(np.asarray(features, dtype=np.float64) @ self._coef)

    def max_rel_error(self) -> float:
        """Worst relative error of the fit on the measured steps (0 for an exactly linear cost)."""
        if not self.points:
            return float("nan")
        return max(abs(self.predict(f) - y) / max(y, 1.0) for f, y in self.points)

    @property
    def coefficients(self) -> dict:
        if self._coef is None:
            self._coef = self._fit()
        return dict(zip(("per_atom", "per_edge", "per_graph"), self._coef.tolist()))

    def state(self) -> torch.Tensor:
        """Measured points as a ``(n, N_FEATURES + 1)`` float64 tensor (checkpoint-friendly)."""
        if not self.points:
            return torch.zeros(0, N_FEATURES + 1, dtype=torch.float64)
        return torch.tensor([list(f) + [y] for f, y in self.points], dtype=torch.float64)

    @classmethod
    def from_state(cls, t: torch.Tensor) -> "StepFlopModel":
        m = cls()
        for row in t.tolist():
            m.add(row[:N_FEATURES], row[N_FEATURES])
        return m


@torch.no_grad()
def forward_flops_per_atom(model, batches: Iterable) -> float:
    """Forward FLOPs per atom of ``model`` over ``batches`` (no gradients; energy + forces [+ stress] heads)."""
    flops, atoms = 0, 0
    for batch in batches:
        with count_flops() as fc:
            model(batch)
        flops += fc.total
        atoms += batch.num_atoms
    if atoms == 0:
        raise ValueError("forward_flops_per_atom: no atoms in batches")
    return flops / atoms


def kappa(model, batches: Iterable) -> float:
    """κ of eq. (3): forward FLOPs per parameter per atom, ``forward_flops_per_atom / N`` (paper, Fig. 2: MPNN 2.33,
    MC-EGNN 28.09, GemNet-OC 35.18, eSEN 74.36 on OMol25 graphs)."""
    return forward_flops_per_atom(model, batches) / count_parameters(model)
