"""The switch between fast paths and the plain reference code of :mod:`nnip.nn` (re-exported by :mod:`nnip.nn.so3`).

Fast paths compute the same function as the plain code they replace (tests compare them in float64). The plain code
runs inside :func:`reference_implementation`, under autocast (its casts are the reference's) and under a Python
dispatch mode: :func:`nnip.train.flops.count_flops` counts the model's arithmetic as written plainly, so a step's
measured FLOPs do not depend on the fast paths (no recomputation, no changed autograd accumulations).
"""

from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

__all__ = ["reference_implementation", "use_reference"]

_FORCE_REFERENCE = False


@contextlib.contextmanager
def reference_implementation():
    """Run the plain reference code of every fast path inside the block (tests, benchmarks)."""
    global _FORCE_REFERENCE
    previous, _FORCE_REFERENCE = _FORCE_REFERENCE, True
    try:
        yield
    finally:
        _FORCE_REFERENCE = previous


def use_reference(x: torch.Tensor) -> bool:
    """Whether the plain reference code must run for ``x``: inside :func:`reference_implementation`, under autocast
    or under a Python dispatch mode (FLOP counting). Models with fast paths of their own branch on it too."""
    return _FORCE_REFERENCE or torch.is_autocast_enabled(x.device.type) or _get_current_dispatch_mode() is not None
