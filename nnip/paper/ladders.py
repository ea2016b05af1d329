"""Model entries of the ablation studies (Fig. 7–12), all read from the preset (:mod:`nnip.presets`): the preset's
ladder of an architecture, the ≈ fixed-N reference model of §3.3, and the width that holds N fixed at another depth.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np

from nnip.paper._common import preset_name
from nnip.presets import Ablations, Preset, resolve
from nnip.scaling import _memo

__all__ = ["ablations", "ladder_entry", "reference_hparams", "n_params", "solve_width"]


def ablations(preset: str | Preset) -> Ablations:
    """The ablation scales of ``preset`` (:attr:`nnip.presets.Preset.ablations`; ValueError when it has none)."""
    s = resolve(preset).ablations
    if s is None:
        raise ValueError(f"preset={preset_name(preset)!r} has no ablation scales")
    return s


def ladder_entry(preset: str | Preset, arch: str, cut: int | None = None) -> dict:
    """A sweep ``models`` entry with the preset's widths of ``arch`` (the first ``cut``); batch size and lr from the
    preset, so the runs coincide with the main study's (cache hits)."""
    scale = resolve(preset).archs
    if arch not in scale:
        raise ValueError(f"arch {arch!r} is not in preset {preset_name(preset)!r}")
    widths = [dict(w) for w in scale[arch].widths]
    return {"name": arch, "hparams": widths[:cut] if cut else widths}


def reference_hparams(preset: str | Preset, arch: str) -> dict:
    """Full hyper-parameters of the ≈ fixed-N model of Fig. 10/11: the preset's μP base rung (cpu: where η* was
    tuned), else the preset width ``ref_width`` (tiny), else the ladder entry at the model's μP base width, the
    ≈1M-parameter model of §3.3 (paper)."""
    from nnip.models import build_model  # torch-free analysis: nnip.models imports torch

    preset = resolve(preset)

    p, s = preset, ablations(preset)
    entry = p.archs[arch]
    widths = [dict(w) for w in entry.widths]
    if entry.base_rung is not None:  # the preset's μP base rung, where η* was tuned (cpu)
        h = widths[entry.base_rung]
    elif s.ref_width is not None:
        h = widths[min(s.ref_width, len(widths) - 1)]
    else:
        base = build_model(arch, **{**entry.extra, **widths[0]}).base_width
        h = min(widths, key=lambda w: abs(w.get("hidden_dim", 0) - base))
    return {**entry.extra, **h}


@functools.lru_cache(maxsize=1)
def _model_code() -> str:
    """A digest of the source that defines every model's parameters (``nnip/models``, ``nnip/nn``) and of the torch
    and e3nn versions: the part of :func:`n_params`'s memo key that an edited model changes."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted([*(root / "models").rglob("*.py"), *(root / "nn").rglob("*.py")]):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    for dist in ("torch", "e3nn"):
        h.update(f"|{dist} {importlib.metadata.version(dist)}".encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=512)
def n_params(arch: str, items: tuple) -> int:
    """N of ``build_model(arch, **dict(items))``, built on the meta device (no memory, ~100× faster for GemNet-OC)
    unless its constructor computes on tensors.

    Built, not computed: only the MPNN, MC-EGNN and transformer have closed forms (``mpnn.table3_params``,
    ``egnn.table4_params``, ``transformer.transformer_params``), and those hold for their default configuration
    only (e.g. a translation-invariant MPNN without a stress head); GemNet-OC, eSEN and EquiformerV2 have none. One
    way for every model and every hyper-parameter keeps N exactly what the trainer counts
    (:func:`nnip.models.count_parameters`).

    A book build's kernels share the counts through its memo (:mod:`nnip.scaling._memo`, keyed also by the models'
    source, :func:`_model_code`): the depth–width study solves widths for ~150 models, which the cost page, Fig. 10 and
    the build's final catalog check would each build again (~3 s of torch imports and meta-device builds each)."""
    memo_key = _memo.key("n_params", _model_code(), arch, items)
    hit = _memo.get(memo_key)
    if hit is not None:
        return int(hit[0])
    import torch  # torch-free analysis: lazy

    from nnip.models import build_model, count_parameters  # torch-free analysis: lazy

    try:
        with torch.device("meta"):
            n = count_parameters(build_model(arch, **dict(items)))
    except (RuntimeError, NotImplementedError):
        n = count_parameters(build_model(arch, **dict(items)))
    _memo.put(memo_key, np.array([n], dtype=np.float64))  # exact: N < 2^53
    return n


def solve_width(arch: str, hparams: dict, n_target: int, key: str = "hidden_dim", lo: int = 2) -> tuple[int, int]:
    """The width ``hparams[key]`` (≥ ``lo``) whose model has the parameter count closest to ``n_target`` → ``(width,
    N)``. N grows with the width: doubling from ``lo`` brackets the target, bisection closes in (only models up to
    about twice the target are ever built). Holds N ≈ fixed while the depth changes (§3.3, Fig. 10)."""
    def n_of(w: int) -> int:
        return n_params(arch, tuple(sorted({**hparams, key: int(w)}.items())))

    if n_of(lo) >= n_target:
        return lo, n_of(lo)
    up = lo
    while n_of(up) < n_target:  # invariant after the loop: N(lo) < n_target <= N(up)
        lo, up = up, 2 * up
    while up - lo > 1:
        mid = (lo + up) // 2
        if n_of(mid) < n_target:
            lo = mid
        else:
            up = mid
    best = min((lo, up), key=lambda w: abs(n_of(w) - n_target))
    return best, n_of(best)
