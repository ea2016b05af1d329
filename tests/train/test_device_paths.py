r"""The GPU path, exercised without a GPU (1 of 2: device placement; ``test_device_paths_amp.py``: autocast, fp16
GradScaler, the ``paper`` preset's configs on the meta device).

The ``paper`` preset trains on CUDA. This machine has no GPU, so the tests run every model, the loss, the optimiser
step and test-time averaging on a **pretend device**: tensors whose ``device`` is not the CPU (``lazy``, a device
type for which every CPU build of torch registers the device guard that autograd needs, and which no nnip code
special-cases) but which hold real CPU tensors behind a ``__torch_dispatch__`` wrapper (:class:`DeviceTensor`), so
data-dependent code (``nonzero``, ``unique``, ``.item()``, neighbour caps) runs with real numbers, unlike the meta
device or ``FakeTensorMode``. A dispatch mode and a function mode route every op and enforce:

- **MIX** — an op that mixes device tensors with a CPU tensor of one or more dimensions fails (CUDA rejects most
  such ops; the rest, e.g. indexing with a CPU index, hide a synchronising host→device copy). 0-d CPU tensors are
  allowed, as on CUDA (they are passed as scalars).
- **HOST** — inside a checked region (:func:`strict`), an op that makes a CPU tensor of one or more dimensions
  fails: ``torch.zeros(3)`` or ``torch.tensor([...])`` without ``device=`` in ``forward``, the loss, the optimiser
  step or test-time averaging. ``torch.zeros(3, device=x.device)``, ``x.new_zeros(3)`` and
  ``torch.tensor([...], device=x.device)`` are fine.
- **H2D** — inside a checked region a host→device copy fails (``torch.tensor([...]).to(x.device)``: made on the
  host, then copied) unless it is one of the copies that are there by design, each named with its reason in
  :data:`BY_DESIGN` (moving a batch onto the device; Haar rotations drawn on the CPU from a seeded CPU generator so
  that they do not depend on the device; Clebsch-Gordan tables built once per device and cached).

Device→host reads (``.item()``, ``float()``, ``.tolist()``, ``.cpu()``) are allowed: they synchronise on a GPU
but are correct. The harness computes with the same CPU kernels, so results on the pretend device equal the CPU
results (checked below), and it has teeth: deliberately broken toy modules are caught
(:func:`test_the_check_catches_a_cpu_tensor_made_in_forward` and the tests after it).

What this proves: every registered model (fast paths and the reference paths that run under autocast and FLOP
counting), GemNet-OC's scale-factor fit, the symmetry wrappers, two real trainer steps (augmentation, eq. 1 and the
symmetry loss eq. 2, FLOP counting, gradient clipping, schedule-free AdamW with μP groups or AdamW + cosine, the
GradScaler sequence) and an evaluation with test-time group averaging keep every tensor on the inputs' device, and
that the tensors the trainer hands to collectives live on the run's device (NCCL reduces CUDA tensors only; the
trainer used to hand it CPU tensors, which would have failed every multi-GPU run at its first step).
What it does not prove: nothing runs a CUDA kernel (no CUDA numerics, no CUDA-only failures such as unsupported
dtypes, no memory limits or out-of-memory behaviour, no stream/asynchrony bugs), nothing runs NCCL, and CUDA's
autocast op lists are not exercised (bf16 autocast is checked with the CPU's, in the other file). torch's own
fused/foreach optimiser kernels are not chosen for wrapper tensors (the single-tensor paths run instead), and FLOP
counts on the pretend device are not a CUDA run's (ops without a kernel for its backend decompose), so they are
not compared.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass, field

import ase.build
import ase.io
import pytest
import torch
import torch.utils._pytree as pytree
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, return_and_correct_aliasing

import nnip.models
from nnip import testing as T
from nnip.models import MODELS, build_model, model_class
from nnip.nn import so3
from nnip.runs import RunStore
from nnip.train import TrainConfig, _dist, pipeline
from nnip.train.optim import set_mode
from nnip.train.trainer import _Run

# ---------------------------------------------------------------------------------------------------------------
# the pretend device
# ---------------------------------------------------------------------------------------------------------------
#: the pretend device: not the CPU, has an autograd device guard in CPU builds of torch, special-cased by no nnip code
PRETEND = torch.device("lazy")

#: host↔device traffic that is there by design: (file suffix, function) → reason. A ``site`` is the innermost
#: caller outside torch and the standard library; a ``scope`` is any caller on the stack.
BY_DESIGN = {
    "site": {
        ("nnip/data/batch.py", "to"): "moving a batch onto the device is the one intended host→device copy",
    },
    "scope": {
        ("nnip/train/tta.py", "random_rotations"): "Haar rotations are drawn on the CPU from a seeded CPU generator "
                                                   "(device-independent), then copied: one (n, 3, 3) per call",
        ("nnip/nn/so3.py", "_cg_recursion"): "Clebsch-Gordan tables are built once per (l, dtype, device) with e3nn "
                                             "on the CPU and cached on the device",
    },
}

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep
_THIS = os.path.abspath(__file__)
aten = torch.ops.aten


class DeviceLeak(AssertionError):
    """A CPU tensor where the inputs live on the (pretend) device."""


@dataclass
class _State:
    strict: bool = False
    violations: list = field(default_factory=list)  # what raised
    by_design: set = field(default_factory=set)  # (kind, BY_DESIGN key) of what it allowed in strict regions


_STATE: _State | None = None
_QUIET = [0]  # > 0 while the harness itself stages a tensor on the host


def _is_pretend(device) -> bool:
    return isinstance(device, (str, torch.device)) and torch.device(device).type == PRETEND.type


def _callers() -> list[tuple[str, str]]:
    """``(file, function)`` of the Python stack, innermost first, without torch, the standard library and this
    harness."""
    out, f = [], sys._getframe(1)
    while f is not None:
        fn, name = f.f_code.co_filename, f.f_code.co_name
        harness = os.path.abspath(fn) == _THIS and name in _HARNESS
        if not (fn.startswith(_TORCH_DIR) or fn.startswith(_STDLIB_DIR) or harness):
            out.append((fn, name))
        f = f.f_back
    return out


def _match(caller, pairs):
    """The ``(file suffix, function)`` of ``pairs`` that ``caller`` is, or None."""
    return next(((suffix, name) for suffix, name in pairs if caller[0].endswith(suffix) and caller[1] == name), None)


def _report(kind: str, message: str) -> None:
    state = _STATE
    if state is None or _QUIET[0]:
        return
    callers = _callers()
    where = f"{os.path.relpath(callers[0][0])}:{callers[0][1]}" if callers else "?"
    if kind != "MIX":
        if not state.strict:
            return
        key = (_match(callers[0], BY_DESIGN["site"]) if callers else None) or next(
            (k for k in (_match(c, BY_DESIGN["scope"]) for c in callers) if k), None)
        if key is not None:
            state.by_design.add((kind, key))
            return
    text = f"{kind}: {message} (in {where})"
    state.violations.append(text)
    raise DeviceLeak(text)


def _desc(t: torch.Tensor) -> str:
    return f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)}"


def _unwrap(t):
    return t.elem if isinstance(t, DeviceTensor) else t


def _wrap(out):
    def on_device(t):
        if isinstance(t, DeviceTensor):
            return t
        leaf = DeviceTensor(t.detach() if t.requires_grad else t)
        return leaf.requires_grad_(True) if t.requires_grad else leaf

    return pytree.tree_map_only(torch.Tensor, on_device, out)


def _dispatch(func, args, kwargs):
    """One aten op with pretend-device semantics (the dispatch mode's and the tensor subclass's)."""
    kwargs = dict(kwargs or {})
    leaves = pytree.tree_leaves((args, kwargs))
    on_dev = any(isinstance(t, DeviceTensor) for t in leaves)
    host = [t for t in leaves if isinstance(t, torch.Tensor) and not isinstance(t, DeviceTensor)]
    target = kwargs.get("device")
    if func is aten._local_scalar_dense.default:  # .item(), float(), bool(): device → host, a sync on a GPU
        return func(_unwrap(args[0]))
    if func is aten._to_copy.default and target is not None and not _is_pretend(target):
        return func(*pytree.tree_map(_unwrap, args), **kwargs)  # .cpu(), .to("cpu"): device → host
    if func is aten.copy_.default and not isinstance(args[0], DeviceTensor):
        return args[0].copy_(_unwrap(args[1]))  # device → host into a CPU tensor
    if func is aten._to_copy.default and _is_pretend(target) and not on_dev:
        _report("H2D", f"a CPU tensor {_desc(args[0])} copied to the device")
    elif func is aten.copy_.default and host:
        _report("H2D", f"a CPU tensor {_desc(host[0])} copied into a device tensor")
    elif on_dev and any(t.dim() > 0 for t in host):
        bad = next(t for t in host if t.dim() > 0)
        _report("MIX", f"{func} mixes device tensors with a CPU tensor {_desc(bad)}")
    if _is_pretend(target):
        kwargs["device"] = torch.device("cpu")
    out = func(*pytree.tree_map(_unwrap, args), **pytree.tree_map(_unwrap, kwargs))
    if not (on_dev or _is_pretend(target)):
        made = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor) and t.dim() > 0]
        if made:
            _report("HOST", f"{func} made a CPU tensor {_desc(made[0])}")
        return out
    return return_and_correct_aliasing(func, args, kwargs, _wrap(out))


class DeviceTensor(torch.Tensor):
    """A tensor on the pretend device: a real CPU tensor ``elem`` behind a wrapper whose ``device`` is ``PRETEND``."""

    elem: torch.Tensor
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        assert type(elem) is torch.Tensor and elem.device.type == "cpu", (type(elem), elem.device)
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            layout=elem.layout, device=PRETEND, requires_grad=False)
        r.elem = elem
        return r

    def __repr__(self):
        return f"DeviceTensor({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs)


class _DispatchMode(TorchDispatchMode):
    """Sees every aten op, factories included (``torch.zeros(3, device=...)``, the scalar of
    ``torch.where(c, x, 0.0)``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs)


_FROM_DATA = (torch.tensor, torch.as_tensor, torch.asarray)


class _FunctionMode(TorchFunctionMode):
    """``torch.tensor(data, device=...)`` and friends build their tensor below the dispatcher: stage it on the
    host (what CUDA does too) and put it on the pretend device. ``.tolist()`` reads the data behind the wrapper."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.tolist and isinstance(args[0], DeviceTensor):
            return args[0].elem.tolist()  # device → host read (torch refuses .tolist() on subclasses)
        if func in _FROM_DATA and _is_pretend(kwargs.get("device")):
            kwargs["device"] = torch.device("cpu")
        elif func is torch.Tensor.new_tensor and (_is_pretend(kwargs.get("device")) or (
                isinstance(args[0], DeviceTensor) and kwargs.get("device") is None)):
            kwargs["device"] = torch.device("cpu")
            kwargs.setdefault("dtype", args[0].dtype)
            func, args = torch.tensor, args[1:]
        else:
            return func(*args, **kwargs)
        _QUIET[0] += 1
        try:
            return _wrap(func(*args, **kwargs))
        finally:
            _QUIET[0] -= 1


_HARNESS = {"_callers", "_report", "_dispatch", "_wrap", "on_device", "__torch_dispatch__", "__torch_function__",
            "_current_mode", "_autocast", "_is_autocast_enabled"}


@contextlib.contextmanager
def pretend_device():
    """Route every op through the pretend device (MIX is always checked; HOST and H2D inside :func:`strict`).

    Three shims keep the code paths those of a GPU: ``torch.autocast`` and ``torch.is_autocast_enabled`` take the
    pretend device type as ``"cuda"`` (they reject unknown types; the models open ``autocast(enabled=False)``
    regions), and :func:`nnip.nn._reference.use_reference` does not count this harness's dispatch mode as FLOP
    counting, so the models' fast paths run (FLOP counting itself still switches them off).
    """
    global _STATE
    import nnip.nn._reference as reference

    prev_state, state = _STATE, _State()
    orig_autocast, orig_enabled = torch.autocast, torch.is_autocast_enabled
    orig_mode = reference._get_current_dispatch_mode

    def _autocast(device_type, *args, **kwargs):
        return orig_autocast("cuda" if device_type == PRETEND.type else device_type, *args, **kwargs)

    def _is_autocast_enabled(*args):
        return orig_enabled(*(("cuda",) if args and args[0] == PRETEND.type else args))

    def _current_mode():
        mode = orig_mode()
        return None if isinstance(mode, _DispatchMode) else mode

    _STATE = state
    torch.autocast, torch.is_autocast_enabled, reference._get_current_dispatch_mode = (
        _autocast, _is_autocast_enabled, _current_mode)
    try:
        with _FunctionMode(), _DispatchMode():
            yield state
    finally:
        torch.autocast, torch.is_autocast_enabled, reference._get_current_dispatch_mode = (
            orig_autocast, orig_enabled, orig_mode)
        _STATE = prev_state


@contextlib.contextmanager
def strict():
    """Inside :func:`pretend_device`: a CPU tensor made, or copied to the device, here fails (HOST, H2D)."""
    prev, _STATE.strict = _STATE.strict, True
    try:
        yield _STATE
    finally:
        _STATE.strict = prev


def to_cpu(tree):
    """The CPU tensors behind the device tensors of ``tree`` (no op: usable outside :func:`pretend_device`)."""
    return pytree.tree_map_only(DeviceTensor, lambda t: t.elem, tree)


def _on_device(tree) -> bool:
    return all(t.device == PRETEND for t in pytree.tree_leaves(tree) if isinstance(t, torch.Tensor))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def _flat(grads) -> torch.Tensor:
    """All gradients as one vector (a per-tensor relative error is noise where a gradient is ~0)."""
    return torch.cat([g.reshape(-1) for g in grads if g is not None])


# ---------------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def structures(ethanol_xyz):
    """Two ethanol frames and a rattled periodic Cu cell (stress)."""
    cu = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    cu.rattle(0.05, seed=1)
    return [*ase.io.read(ethanol_xyz, ":2"), cu]


def _loss(out: dict) -> torch.Tensor:
    return out["energy"].sum() + out["forces"].pow(2).sum() + out["stress"].pow(2).sum()


def _model_on_both(model, structures, reference: bool = False, seed: int = 0):
    """``model`` on the CPU and on the pretend device (strict: forward, backward and GemNet-OC's scale-factor fit),
    each forward after ``torch.manual_seed(seed)``: outputs and parameter gradients of both, and the harness state."""
    batch = T.batch_for(model, structures)
    paths = so3.reference_implementation if reference else contextlib.nullcontext
    fit = getattr(model, "fit_scale_factors", None)
    params = [p for p in model.parameters() if p.requires_grad]
    with paths():
        if fit is not None:
            with torch.no_grad():
                fit([batch])
        torch.manual_seed(seed)
        ref = model(batch)
        ref_grads = torch.autograd.grad(_loss(ref), params, allow_unused=True)
    with pretend_device() as state:
        dev_model, dev_batch = model.to(PRETEND), batch.to(PRETEND)
        assert _on_device(list(dev_model.parameters()) + list(dev_model.buffers()))
        with strict(), paths():
            if fit is not None:
                with torch.no_grad():
                    dev_model.fit_scale_factors([dev_batch])
            torch.manual_seed(seed)
            out = dev_model(dev_batch)
            dev_params = [p for p in dev_model.parameters() if p.requires_grad]
            grads = torch.autograd.grad(_loss(out), dev_params, allow_unused=True)
    assert _on_device(out) and _on_device([g for g in grads if g is not None])
    return ref, ref_grads, to_cpu(out), to_cpu(grads), state


# ---------------------------------------------------------------------------------------------------------------
# every model, its symmetry wrappers
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reference", [False, True], ids=["fast-paths", "reference-paths"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_forward_backward_on_device(name, reference, structures):
    """Forward (energy, forces, stress) and backward of every registered model keep every tensor on the device,
    with the models' fast paths (float32 training on a GPU) and the reference paths (what runs under autocast and
    FLOP counting); the numbers are the CPU's (same kernels: 1e-5 relative covers reordered float32 sums)."""
    torch.manual_seed(0)
    model = build_model(name, **{**model_class(name).TEST_HPARAMS, "stress": True}).float()
    ref, ref_grads, out, grads, state = _model_on_both(model, structures, reference)
    assert state.violations == []
    assert {key for _, key in state.by_design} <= {("nnip/nn/so3.py", "_cg_recursion")}, state.by_design
    for key in ("energy", "forces", "stress"):
        assert out[key].dtype == torch.float32
        assert _rel(out[key], ref[key].detach()) < 1e-5, key
    assert [g is None for g in grads] == [r is None for r in ref_grads]
    assert _rel(_flat(grads), _flat(ref_grads)) < 1e-5


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("method", getattr(nnip.models, "SYMMETRIZE_METHODS", ()))
def test_symmetrized_model_on_device(method, train, structures):
    """The architecture-agnostic symmetry wrappers (frames drawn on the device in train mode, all frames in eval
    mode) around the MPNN."""
    torch.manual_seed(0)
    model = build_model("mpnn", symmetrize=method, **{**model_class("mpnn").TEST_HPARAMS, "stress": True})
    model = model.float().train(train)
    # the same seed before each forward: the same frame draws on both devices (the pretend device's RNG is the CPU's)
    ref, ref_grads, out, grads, state = _model_on_both(model, structures, seed=1)
    assert state.violations == [] and state.by_design == set()
    for key in ("energy", "forces", "stress"):
        assert _rel(out[key], ref[key].detach()) < 1e-5, key
    assert _rel(_flat(grads), _flat(ref_grads)) < 1e-5


# ---------------------------------------------------------------------------------------------------------------
# the check has teeth: deliberately broken toys
# ---------------------------------------------------------------------------------------------------------------
class _Toy(torch.nn.Module):
    """A linear energy/force head; ``bug`` picks a device mistake in ``forward`` (``None``: written correctly)."""

    def __init__(self, bug: str | None = None):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.bug = bug
        self.table = torch.ones(3)  # a plain attribute: ``.to(device)`` does not move it (not a buffer)

    def forward(self, pos: torch.Tensor) -> dict:
        h = self.lin(pos)
        if self.bug == "zeros":
            h = h + torch.zeros(3)
        elif self.bug == "to-device":
            h = h + torch.zeros(3).to(pos.device)
        elif self.bug == "attribute":
            h = h * self.table
        elif self.bug == "backward":
            h = _HostGrad.apply(h)
        else:  # every device-correct idiom
            h = h + torch.zeros(3, device=pos.device) + h.new_zeros(3) + torch.tensor([0.0] * 3, device=pos.device)
            h = torch.where(h > -1e9, h, 0.0) * torch.tensor(1.0)  # a Python scalar and a 0-d CPU tensor
            assert float(h.detach().abs().sum()) >= 0.0 and len(h.detach().tolist()) == 5  # device → host reads
        return {"energy": h.sum(-1), "forces": h}


class _HostGrad(torch.autograd.Function):
    """Identity whose backward makes a CPU tensor (the backward pass is checked too)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * torch.ones(g.shape[-1])


def _toy_step(bug):
    torch.manual_seed(0)
    toy, pos = _Toy(bug), torch.randn(5, 3)
    with pretend_device() as state:
        dev_toy, dev_pos = toy.to(PRETEND), pos.to(PRETEND)
        with strict():
            out = dev_toy(dev_pos)
            (out["energy"].sum() + out["forces"].pow(2).sum()).backward()
    return state


def test_the_check_catches_a_cpu_tensor_made_in_forward():
    with pytest.raises(DeviceLeak, match=r"HOST: aten.zeros.default made a CPU tensor float32\[3\] "
                                         r"\(in .*test_device_paths.py:forward\)"):
        _toy_step("zeros")


def test_the_check_catches_a_host_tensor_copied_to_the_device():
    with pytest.raises(DeviceLeak, match=r"(HOST|H2D): .*float32\[3\].*test_device_paths.py:forward"):
        _toy_step("to-device")


def test_the_check_catches_a_cpu_attribute_the_model_forgot_to_move():
    with pytest.raises(DeviceLeak, match=r"MIX: aten.mul.Tensor mixes device tensors with a CPU tensor float32\[3\]"):
        _toy_step("attribute")


def test_the_check_catches_a_cpu_tensor_made_in_backward():
    with pytest.raises(Exception) as info:
        _toy_step("backward")
    assert "HOST: aten.ones.default made a CPU tensor float32[3]" in str(info.value)
    assert "test_device_paths.py:backward" in str(info.value)


def test_device_correct_idioms_pass_and_match_the_cpu():
    assert _toy_step(None).violations == []
    torch.manual_seed(0)
    toy, pos = _Toy(None), torch.randn(5, 3)
    ref = toy(pos)
    with pretend_device():
        out = toy.to(PRETEND)(pos.to(PRETEND))
    assert out["forces"].device == PRETEND and torch.equal(to_cpu(out["forces"]), ref["forces"])


def test_the_check_catches_a_cpu_tensor_made_in_an_optimiser_step():
    class NoisySGD(torch.optim.SGD):
        @torch.no_grad()
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                p.add_(torch.randn(p.shape).to(p.device), alpha=1e-3)  # host noise: made on the CPU, then copied
            return super().step(closure)

    toy = _Toy(None)
    with pretend_device() as state:
        dev_toy = toy.to(PRETEND)
        opt = NoisySGD(dev_toy.parameters(), lr=0.1)
        out = dev_toy(torch.randn(5, 3).to(PRETEND))
        out["energy"].sum().backward()
        with strict(), pytest.raises(DeviceLeak, match=r"HOST: aten.randn.default .*test_device_paths.py:step"):
            opt.step()
    assert len(state.violations) == 1


def test_the_check_outside_strict_regions_still_rejects_mixing():
    """Setup code (building, moving) runs unchecked for HOST/H2D, but a device op with a CPU operand always fails."""
    with pretend_device(), pytest.raises(DeviceLeak, match="MIX"):
        torch.ones(3).to(PRETEND) + torch.ones(3)


# ---------------------------------------------------------------------------------------------------------------
# one trainer step and one evaluation
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _CollectivesOnDevice(_dist.DistContext):
    """One process whose collectives check what NCCL requires, the tensors on the process's device (and are the
    identity otherwise). Not NCCL: a check of what the trainer hands to it."""

    def _check(self, t: torch.Tensor, what: str) -> None:
        if t.device != self.device:
            raise AssertionError(f"{what}: a {t.device} tensor; NCCL reduces tensors on {self.device} only")

    @property
    def enabled(self) -> bool:
        return True

    def all_reduce(self, t):
        self._check(t, "all_reduce")
        return t

    def all_gather_rows(self, row):
        self._check(row, "all_gather_rows")
        return row[None]

    def barrier(self) -> None:
        pass

    def broadcast_params(self, module) -> None:
        for t in list(module.parameters()) + list(module.buffers()):
            self._check(t, "broadcast")

    def all_reduce_grads(self, params) -> None:
        for p in params:
            if p.grad is not None:
                self._check(p.grad, "all_reduce_grads")


@pytest.fixture(scope="module")
def ethanol_40(tmp_path_factory, ethanol_xyz):
    from nnip.data import read

    ds = read(ethanol_xyz, limit=40)
    path = tmp_path_factory.mktemp("data") / "ethanol40.xyz"
    ase.io.write(path, [ds[k] for k in range(40)], format="extxyz")
    return path


def _train_two_steps(cfg: TrainConfig, device: torch.device, tmp_path, scaler: bool):
    """Two trainer steps (the first with FLOP counting) and one evaluation of ``cfg`` on ``device``; returns the
    step losses, the parameters after them, the evaluation metrics and the pretend device's state (or None)."""
    ctx = _CollectivesOnDevice(device=device)
    cm = pretend_device() if device == PRETEND else contextlib.nullcontext()
    with cm as state:
        run = _Run(cfg, RunStore(tmp_path / device.type), cfg.run_id(), ctx)
        if scaler:  # the trainer's fp16 branch; its GradScaler("cuda") is disabled without CUDA, so use one for
            run.scaler = torch.amp.GradScaler(device.type)  # this device (autocast stays off: see the other file)
        set_mode(run.model, run.optimizer, True)
        batches = pipeline.epoch_batches(run.n_train, cfg.train.batch_size, cfg.train.seed, 0, min_size=1,
                                         shuffle=False)
        loader = pipeline.make_loader(run.data.train, batches, cutoff=run.cutoff, max_neighbors=run.max_neighbors,
                                      normalizer=run.normalizer, num_workers=0, rank=0, world=1)
        items = [item for _, item in zip(range(2), loader)]  # collated on the host, outside the checked region
        losses = []
        with strict() if state is not None else contextlib.nullcontext():
            for batch, n_global, lo in items:
                losses.append(run.train_step(batch, n_global, lo))
            metrics = run.evaluate()
        params = {n: p.detach().cpu() for n, p in run.model.named_parameters()}
        assert run.optimizer.state and all(math.isfinite(v) for step in losses for v in step)
        if state is not None:
            assert _on_device(list(run.model.parameters()))
            # (torch's AdamW keeps its step count as a 0-d CPU tensor unless capturable: by design, as on CUDA)
            assert _on_device([v for s in run.optimizer.state.values() for v in s.values() if v.dim() > 0])
    return losses, params, metrics, state


@pytest.mark.parametrize("optim,scaler", [
    ({"optim.name": "schedulefree_adamw", "optim.mup": True}, False),
    ({"optim.name": "adamw_cosine", "optim.warmup_steps": 1}, True),
], ids=["schedulefree-mup", "adamw-cosine-gradscaler"])
def test_trainer_step_and_evaluation_on_device(optim, scaler, ethanol_40, tmp_path):
    """Two steps of the real trainer (:meth:`_Run.train_step`: random-rotation augmentation, the eq. 1 loss plus the
    symmetry loss eq. 2 with M = 2, FLOP counting on step 1, gradient clipping, the optimiser with μP groups) and
    one evaluation with test-time group averaging (M = 2), checked on the pretend device, with collectives that
    require device tensors; losses, parameters and metrics equal the same run's on the CPU."""
    cfg = TrainConfig.from_dict({
        "model.name": "mpnn", "model.hparams": dict(model_class("mpnn").TEST_HPARAMS),
        "data.source": str(ethanol_40), "data.n_val": 8, "train.batch_size": 4, "train.max_steps": 2,
        "train.augment": True, "loss.symmetry_m": 2, "eval.tta_m": 2, "eval.log_points": 2, **optim,
        "optim.grad_clip": 1.0, "runtime.threads": 1, "runtime.flops_calibration_steps": 1, "runtime.flops_every": 0,
    }).resolved()
    losses, params, metrics, _ = _train_two_steps(cfg, torch.device("cpu"), tmp_path, scaler)
    dev_losses, dev_params, dev_metrics, state = _train_two_steps(cfg, PRETEND, tmp_path, scaler)
    assert state.violations == []
    assert {key for _, key in state.by_design} <= set(BY_DESIGN["site"]) | set(BY_DESIGN["scope"])
    assert ("H2D", ("nnip/train/tta.py", "random_rotations")) in state.by_design  # augmentation, eq. 2, TTA
    # (total, task) losses; not the FLOPs: ops with no kernel for the pretend device's backend decompose (e.g.
    # silu_backward into sigmoid, mul, ...), so the counts there are not what a CUDA run counts (nor the CPU's)
    torch.testing.assert_close([s[:2] for s in dev_losses], [s[:2] for s in losses], rtol=1e-5, atol=0)
    for key, p in params.items():
        assert _rel(dev_params[key], p) < 1e-5, key
    assert dev_metrics.keys() == metrics.keys() and "val_loss_tta" in metrics
    for key, v in metrics.items():
        assert abs(dev_metrics[key] - v) <= 1e-5 * abs(v), key
