r"""Optimisers (§3.2–3.3): schedule-free AdamW, AdamW + linear warmup + cosine decay to a floor, μP groups.

**μP learning-rate transfer** (§3.3, Yang et al. 2021): the learning rate η* tuned on the ≈1M-parameter model of
width ``w_base`` is transferred to width ``w`` as

.. math:: \eta(w) = \eta^* \cdot w_{base} / w

for *matrix-like* parameters (``ndim >= 2`` and not an ``nn.Embedding`` table, nor a name listed in the model's
optional ``mup_vector_like`` tuple of name prefixes — e.g. an input projection whose fan-in does not grow with
width); *vector-like* parameters (biases, norms, embeddings, scalars) keep η*. Weight decay applies to the matrix
group only. With ``mup=False`` both groups use η*.

**Schedule-free AdamW** keeps two sequences: the parameters hold ``y`` (where gradients are taken) in train mode and
``x`` (the average, the model to evaluate) in eval mode; :func:`set_mode` switches model and optimiser together and
must bracket every evaluation. Checkpoints store the train-mode state (exact resume, whenever they are written) and
the eval-mode weights computed out of place (:func:`eval_state_dict`, for inference), so writing a checkpoint never
perturbs training — the reason :mod:`nnip.train.trainer` can checkpoint on a timer and still resume bit-identically.
"""

from __future__ import annotations

import math

import schedulefree
import torch
from torch import nn

__all__ = [
    "param_groups",
    "build_optimizer",
    "is_schedule_free",
    "set_mode",
    "eval_state_dict",
    "current_lr",
    "cosine_factor",
]


def _vector_like_names(model: nn.Module) -> set[str]:
    names = set()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.Embedding):
            for p_name, _ in mod.named_parameters(recurse=False):
                names.add(f"{mod_name}.{p_name}" if mod_name else p_name)
    return names


def param_groups(
    model: nn.Module,
    lr: float,
    *,
    weight_decay: float = 0.0,
    mup: bool = False,
    width: int | None = None,
    base_width: int | None = None,
) -> list[dict]:
    """Two parameter groups ``[{"name": "vector", ...}, {"name": "matrix", ...}]`` (empty groups dropped).

    Args:
        model: the model; trainable parameters only.
        lr: η*, the learning rate of the base-width model.
        weight_decay: applied to the matrix group.
        mup: scale the matrix group's learning rate by ``base_width / width``.
        width, base_width: ``w`` and ``w_base`` (default: ``model.width`` and ``model.base_width``).
    """
    embedding = _vector_like_names(model)
    prefixes = tuple(getattr(model, "mup_vector_like", ()) or ())
    vector, matrix = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_vector = p.ndim < 2 or name in embedding or (prefixes and name.startswith(prefixes))
        (vector if is_vector else matrix).append(p)
    scale = 1.0
    if mup:
        w = width if width is not None else getattr(model, "width", None)
        wb = base_width if base_width is not None else getattr(model, "base_width", None)
        if not w or not wb:
            raise ValueError("μP needs the model's width and base_width (model.width / model.base_width)")
        scale = float(wb) / float(w)
    groups = [
        {"name": "vector", "params": vector, "lr": lr, "weight_decay": 0.0, "lr_scale": 1.0},
        {"name": "matrix", "params": matrix, "lr": lr * scale, "weight_decay": weight_decay, "lr_scale": scale},
    ]
    return [g for g in groups if g["params"]]


def cosine_factor(step: int, *, total_steps: int, warmup_steps: int = 0, floor: float = 0.0) -> float:
    """Multiplier of the base lr at optimiser step ``step`` (0-based): linear warmup ``(step+1)/warmup`` then cosine
    from 1 down to ``floor`` at ``total_steps``; constant ``floor`` afterwards."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_optimizer(model: nn.Module, spec, *, total_steps: int):
    """``(optimizer, scheduler | None)`` from an :class:`nnip.train.config.OptimSpec`."""
    groups = param_groups(model, spec.lr, weight_decay=spec.weight_decay, mup=spec.mup, base_width=spec.base_width)
    if spec.name == "schedulefree_adamw":
        opt = schedulefree.AdamWScheduleFree(
            groups, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, weight_decay=spec.weight_decay,
            warmup_steps=spec.warmup_steps,
        )
        return opt, None
    if spec.name == "adamw_cosine":
        opt = torch.optim.AdamW(groups, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, weight_decay=spec.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda k: cosine_factor(k, total_steps=total_steps, warmup_steps=spec.warmup_steps, floor=spec.min_lr_ratio),
        )
        return opt, sched
    raise ValueError(f"unknown optimizer {spec.name!r}")


def is_schedule_free(optimizer) -> bool:
    return hasattr(optimizer, "train") and hasattr(optimizer, "eval") and "train_mode" in optimizer.param_groups[0]


def set_mode(model: nn.Module, optimizer, train: bool) -> None:
    """``model.train()/eval()`` together with ``optimizer.train()/eval()`` for schedule-free optimisers."""
    model.train(train)
    if optimizer is not None and is_schedule_free(optimizer):
        optimizer.train() if train else optimizer.eval()


@torch.no_grad()
def eval_state_dict(model: nn.Module, optimizer) -> dict[str, torch.Tensor]:
    """The weights to *evaluate* (schedule-free ``x``), without touching the model: for a schedule-free optimiser
    in train mode ``x = lerp(y, z, 1 - 1/β1)`` (the same arithmetic as ``optimizer.eval()``), else a copy of the
    current state dict."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if optimizer is None or not is_schedule_free(optimizer):
        return sd
    name_of = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        if not group["train_mode"]:
            continue
        beta1 = group["betas"][0]
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if "z" in state and id(p) in name_of:
                sd[name_of[id(p)]] = torch.lerp(p.detach(), state["z"].to(p.device), 1 - 1 / beta1)
    return sd


def current_lr(optimizer) -> float:
    """η of the first (vector, η*) group as applied at the last step (warmup/schedule included)."""
    g = optimizer.param_groups[0]
    if "scheduled_lr" in g and g.get("k", 0) > 0:
        return float(g["scheduled_lr"]) / float(g.get("lr_scale", 1.0) or 1.0)
    return float(g["lr"]) / float(g.get("lr_scale", 1.0) or 1.0)
