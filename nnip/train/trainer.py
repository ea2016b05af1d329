"""``train(cfg, store) -> RunRecord``: the training loop of every run (§3.1–3.3, §4.1, §4.4–4.5, App. D, H).

One run = one :class:`~nnip.train.config.TrainConfig` = one directory of a :class:`~nnip.runs.RunStore`. The loop:

1. **data** — read, seeded split, data fraction r (nested prefixes, D_r = r·D_max), per-element references and σ
   fitted on the training split (App. D); batches are collated (graph with the *model's* cutoff and neighbour cap)
   and normalised in DataLoader workers (``runtime.num_workers``); the time the loop waits for them is measured.
2. **step** — optional random rotation of every structure (augmentation, §4.5), the objective eq. (1) [+ λ·eq. (2)
   with M Haar rotations, §4.4] under AMP (``bf16`` autocast on CPU/GPU; ``fp16`` + GradScaler on CUDA), backward,
   gradient all-reduce under DDP, clipping, optimiser step (schedule-free AdamW or AdamW + cosine; μP groups).
3. **FLOPs** — counted on a replay of the first steps and of every k-th step (same batch and RNG state, its time
   excluded from the wall clocks), predicted in between (:mod:`nnip.train.flops`); the curve's ``flops`` is
   cumulative *training* compute C (evaluation excluded).
4. **evaluation** — at log-spaced steps, every k steps, each epoch end (``epochs`` regime) and the last step; in eval
   mode (schedule-free ``x``); task loss eq. (1) only (no symmetry term), energy MAE per atom (eV/atom), force L2
   (eV/Å), stress MAE (eV/Å³) if predicted, and the same under test-time group averaging (eq. 23) if ``eval.tta_m``.
   Each evaluation appends a row to ``curve.csv``.
5. **checkpoints** — at evaluations / every k steps / on a timer; a killed run resumes from the last one and
   reproduces the uninterrupted curve exactly on CPU (rows after that checkpoint are truncated and recomputed).
6. **failure** — a non-finite loss stops the run: ``status = failed``, ``reason = "diverged: ..."`` (final, a cache
   hit like ``done``). Other exceptions mark the run failed and propagate; re-running it resumes from its checkpoint.

Compilation (``runtime.compile``): the training step's forward runs through ``torch.compile(model)``
(:func:`compile_forward`); the eager module stays ``self.model`` and shares its parameters with the compiled
wrapper, so optimiser, gradient all-reduce, checkpoints (its ``state_dict``) and resume are unchanged. FLOP counting
replays the step on the eager module (a Python dispatch mode cannot run inside compiled code; eager arithmetic is
also what is counted), and evaluation runs eagerly (no second, inference-mode compilation; the curve's validation
numbers come from the same code as an eager run's). Compilation happens inside the first steps and counts in both
wall clocks: it is a real cost of the run. With ``compile`` off the step is the eager code path unchanged.

Wall-clock: ``wall_s`` counts everything in this process from start (evaluation included), ``wall_s_train``
excludes evaluation and checkpointing; both accumulate across resumes (the time between the last checkpoint and a
crash is lost). The device is recorded (``"cpu: <model>, <threads> threads"`` or the CUDA device name).
What a run writes and returns (``config.json``, ``summary.json``, the rows of ``curve.csv``, :class:`RunRecord`) is
built from the loop's state in :mod:`nnip.train.record`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time

import numpy as np
import torch
from tqdm.std import tqdm  # plain text bars: no ipywidgets needed in notebooks

from nnip.data.references import Normalizer
from nnip.models import build_model_from_spec, count_parameters
from nnip.runs import RunStore, StoreError, is_final
from nnip.train import _dist, checkpoint, pipeline, record
from nnip.train._provenance import device_name, now, seed_everything
from nnip.train.config import TrainConfig
from nnip.train.evaluate import accumulate, metrics
from nnip.train.flops import StepFlopModel, batch_features, count_flops
from nnip.train.loss import LossWeights, objective
from nnip.train.optim import build_optimizer, eval_state_dict, set_mode
from nnip.train.record import RunRecord, read_record
from nnip.train.tta import group_average, random_rotations

# build_model_from_spec, device_name and RunRecord: re-exported (they lived here before nnip.models, _provenance
# and record)
__all__ = ["train", "RunRecord", "TrainingDiverged", "eval_schedule", "compile_forward", "build_model_from_spec",
           "device_name"]

log = logging.getLogger("nnip.train")

#: the metric sums the evaluation all-reduces over ranks (:func:`nnip.train.loss.metric_sums`)
_EVAL_KEYS = ("n_graphs", "loss", "energy_loss", "force_loss", "energy_abs_per_atom", "n_atoms", "force_l2",
              "stress_abs", "n_stress")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN/inf."""


# --- helpers --------------------------------------------------------------------------------------------------
def eval_schedule(total_steps: int, log_points: int = 20, every: int | None = None) -> list[int]:
    """Evaluation steps: ``log_points`` log-spaced steps in ``[1, total_steps]`` ∪ multiples of ``every`` ∪ the last.

    >>> eval_schedule(100, 5)
    [1, 3, 10, 32, 100]
    """
    steps = {int(total_steps)}
    if log_points > 0:
        steps |= {int(round(s)) for s in np.geomspace(1, total_steps, log_points)}
    if every:
        steps |= set(range(every, total_steps + 1, every))
    return sorted(s for s in steps if 1 <= s <= total_steps)


def dynamic_sizes(batch) -> None:
    """Mark the batch's atom and edge counts dynamic for ``torch.compile`` (``torch._dynamo.maybe_mark_dynamic``, dim
    0 of every per-atom and per-edge tensor, dim 1 of ``edge_index``): the first compilation then already treats them
    as symbols, instead of compiling graphs specialised to the first batch's sizes and recompiling them all at the
    second batch (automatic dynamic shapes). "maybe": a size the traced code specialises on is allowed to stay
    static. Measured (``tests/train/test_compile.py``, MPNN, cold inductor cache): one compilation instead of two."""
    mark = torch._dynamo.maybe_mark_dynamic
    for name in ("pos", "atomic_numbers", "batch", "forces", "cell_shift"):
        t = getattr(batch, name, None)
        if isinstance(t, torch.Tensor) and t.dim() >= 1:
            mark(t, 0)
    if isinstance(getattr(batch, "edge_index", None), torch.Tensor):
        mark(batch.edge_index, 1)


def compile_forward(model: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """``model`` itself when ``mode`` is None, else ``torch.compile(model, mode=mode)``.

    Shapes: torch's automatic dynamic shapes (``dynamic=None``), with every batch's atom and edge counts marked
    dynamic before the step (:func:`dynamic_sizes`), so the first batch compiles graphs with those sizes as symbols
    (without the marks it would compile graphs specialised to its sizes and the second batch, whose counts differ,
    would recompile each of them once); no recompilation follows (measured: ``benchmarks/bench_compile.py``'s
    ``recompiles`` = 0; code whose Python control flow depends on a size, such as the chunked S² activation of
    :mod:`nnip.nn.so3`, is kept out of the traced graphs with ``torch.compiler.disable``). ``dynamic=True`` would save that one recompilation but makes every Python int Dynamo meets
    symbolic, model constants included (ℓ_max, the ℓ of a Clebsch–Gordan table): eSEN and EquiformerV2 then fail to
    trace (e3nn's ``wigner_3j`` needs a constant ℓ). The wrapper shares ``model``'s parameters and buffers; its
    ``state_dict`` keys carry an ``_orig_mod.`` prefix, so checkpoints are taken from ``model``. Graph breaks
    (Python code Dynamo cannot trace, e.g. :func:`nnip.nn.so3.use_reference`'s dispatch-mode check) split the
    forward into several compiled graphs with eager glue in between; the results are the same.
    """
    if mode is None:
        return model
    return torch.compile(model, mode=mode)


# --- the run ----------------------------------------------------------------------------------------------------
class _Run:
    """State and loop of one run (constructed by :func:`train` while it holds the run's lock)."""

    def __init__(self, cfg: TrainConfig, store: RunStore, run_id: str, ctx: _dist.DistContext):
        self.cfg, self.store, self.run_id, self.ctx = cfg, store, run_id, ctx
        rt, tr = cfg.runtime, cfg.train
        if rt.threads:
            torch.set_num_threads(rt.threads)
        self.device = ctx.device
        if tr.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("train.amp = 'fp16' needs a CUDA device (GradScaler); use 'bf16' on CPU")
        seed_everything(tr.seed)

        # model first (its cutoff / neighbour cap define the graphs)
        self.model = build_model_from_spec(cfg.model.name, cfg.model.hparams, cfg.model.symmetrize).to(self.device)
        ctx.broadcast_params(self.model)
        self.n_params = count_parameters(self.model)
        self.cutoff = float(getattr(self.model, "cutoff", 6.0))
        self.max_neighbors = getattr(self.model, "max_neighbors", 30)

        # data
        self.data = pipeline.load_data(cfg.data, max_val=cfg.eval.max_structures, cache=rt.cache_structures,
                                    regime=tr.regime)
        self.normalizer: Normalizer = self.data.normalizer
        self.n_train = len(self.data.train)
        if self.n_train < ctx.world:
            raise ValueError(f"{self.n_train} training structures for {ctx.world} processes")
        self.total_steps = pipeline.total_steps(self.n_train, tr, self.data.mean_atoms, ctx.world)
        self.eval_steps = set(eval_schedule(self.total_steps, cfg.eval.log_points, cfg.eval.every))
        self.val = pipeline.val_batches(
            self.data.val, cfg.eval.batch_size, cutoff=self.cutoff, max_neighbors=self.max_neighbors,
            normalizer=self.normalizer, rank=ctx.rank, world=ctx.world,
        )

        # GemNet-OC (footnote 4): per-layer scale factors estimated on a few training batches before training,
        # instead of LayerNorm; they are buffers, so checkpoints carry them and a resumed run reloads them
        if hasattr(self.model, "fit_scale_factors"):
            k = min(self.n_train, 4 * tr.batch_size)
            first = [self.data.train[i] for i in range(k)]
            fit_batches = pipeline.val_batches(first, tr.batch_size, cutoff=self.cutoff,
                                               max_neighbors=self.max_neighbors, normalizer=self.normalizer, rank=0,
                                               world=1)
            with torch.no_grad():
                self.model.fit_scale_factors([b.to(self.device) for _, b in fit_batches])

        # optimisation
        self.weights = LossWeights.from_spec(cfg.loss)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, total_steps=self.total_steps)
        # the training forward: the eager model, or its compiled wrapper (runtime.compile; same parameters)
        self.forward_model = compile_forward(self.model, rt.compile_mode)
        self.scaler = torch.amp.GradScaler("cuda") if tr.amp == "fp16" else None
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tr.amp)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.flop_model = StepFlopModel()
        self.uncounted: dict[str, int] = {}

        self.columns = record.curve_columns(cfg, self.data.has_stress)

        # counters (everything that a checkpoint must restore)
        self.c = {
            "step": 0, "epoch": 0, "batch_in_epoch": 0, "atoms_seen": 0, "structures_seen": 0, "flops": 0.0,
            "wall_s": 0.0, "wall_s_train": 0.0, "data_wait_s": 0.0, "loss_sum": 0.0, "task_sum": 0.0,
            "sym_sum": 0.0, "loss_n": 0, "best_val": math.inf, "best_step": 0, "es_best": math.inf, "bad_evals": 0,
            "curve_rows": 0,
            "last_eval_step": -1, "resumes": 0, "flops_count_s": 0.0, "stopped_early": False, "last_val": math.nan,
        }
        self.last_metrics: dict = {}
        self._warned_stress = False
        self._instrument_s = 0.0  # FLOP counting time in this process: excluded from wall_s and wall_s_train

    # --- checkpoints --------------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        if not self.ctx.is_main:
            return
        state = checkpoint.make_state(
            run_id=self.run_id, config=self.cfg.to_dict(), normalizer=self.normalizer, model=self.model,
            model_eval=eval_state_dict(self.model, self.optimizer), optimizer=self.optimizer,
            scheduler=self.scheduler, scaler=self.scaler, counters=self.c, flop_points=self.flop_model.state(),
            uncounted=self.uncounted, last_metrics=self.last_metrics)
        self.store.save_checkpoint(self.run_id, state)
        self.store.write_summary(self.run_id, record.summary(self, "running"))
        self._last_ckpt_time = time.monotonic()

    def restore(self, state: dict) -> None:
        rest = checkpoint.restore(state, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                                  scaler=self.scaler)
        self.c.update(rest["counters"])
        self.flop_model = StepFlopModel.from_state(rest["flop_points"])
        self.uncounted = rest["uncounted"]
        self.last_metrics = rest["last_metrics"]

    # --- one step -------------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _measure_now(self, step: int) -> bool:
        rt = self.cfg.runtime
        return step <= rt.flops_calibration_steps or (rt.flops_every > 0 and step % rt.flops_every == 0)

    def _count_step_flops(self, batch, n_global: int, sym_R, feats) -> float:
        """Count this step's FLOPs on a replay of its forward + backward (same batch, rotations and RNG state;
        gradients discarded), so that the slow counting never enters the step's numbers or its timing."""
        t0 = time.monotonic()
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        with count_flops() as counter:
            with self._autocast():
                total, _, _ = objective(self.model, batch, self.weights, sym_rotations=sym_R,
                                        sym_weight=self.cfg.loss.symmetry_weight)
            (total.sum() / n_global).backward()
        self.optimizer.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, self.device)
        for name, calls in counter.count.uncounted.items():
            self.uncounted[name] = self.uncounted.get(name, 0) + calls
        # collectives' tensors live on the run's device (NCCL reduces CUDA tensors only)
        rows = self.ctx.all_gather_rows(torch.tensor([*feats, float(counter.total)], dtype=torch.float64,
                                                     device=self.device))
        for r in rows.tolist():
            self.flop_model.add(r[:-1], r[-1])
        dt = time.monotonic() - t0
        self._instrument_s += dt
        self.c["flops_count_s"] += dt
        return float(counter.total)

    def train_step(self, batch, n_global: int, shard_lo: int) -> tuple[float, float, float]:
        cfg, ctx = self.cfg, self.ctx
        step = self.c["step"] + 1
        batch = batch.to(self.device)
        n_local = batch.num_graphs
        if cfg.train.augment:
            g = torch.Generator().manual_seed(pipeline.derive_seed(cfg.train.seed, step, 1))
            R = random_rotations(n_global, generator=g, dtype=batch.pos.dtype, device=self.device)
            batch = batch.rotate(R[shard_lo : shard_lo + n_local])
        sym_R = None
        if cfg.loss.symmetry_m > 0:
            m = cfg.loss.symmetry_m
            g = torch.Generator().manual_seed(pipeline.derive_seed(cfg.train.seed, step, 2))
            sym_R = random_rotations(m * n_global, generator=g, dtype=batch.pos.dtype, device=self.device)
            sym_R = sym_R.view(m, n_global, 3, 3)[:, shard_lo : shard_lo + n_local]
        feats = batch_features(batch)
        if self._measure_now(step):
            local_flops = self._count_step_flops(batch, n_global, sym_R, feats)
        else:
            local_flops = self.flop_model.predict(feats)
        if self.forward_model is not self.model:
            dynamic_sizes(batch)
        with self._autocast():
            total, task, parts = objective(self.forward_model, batch, self.weights, sym_rotations=sym_R,
                                           sym_weight=cfg.loss.symmetry_weight)
        loss = total.sum() / n_global
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if not self._warned_stress and batch.stress is not None and "stress" not in parts:
            log.warning("run %s: the data has stress labels but the model predicts no stress "
                        "(build it with stress=True to train on stress)", self.run_id)
            self._warned_stress = True
        sym_sum = float(parts["symmetry"].detach().sum()) if "symmetry" in parts else 0.0
        stats = torch.tensor([float(total.detach().sum()), float(task.detach().sum()), sym_sum, local_flops,
                              float(batch.num_atoms)], dtype=torch.float64, device=self.device)
        ctx.all_reduce(stats)
        if not all(math.isfinite(v) for v in stats[:3].tolist()):
            raise TrainingDiverged(f"diverged: non-finite training loss at step {step}")
        ctx.all_reduce_grads(self.params)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        tot, tsk, sym, flops, atoms = stats.tolist()
        c = self.c
        c["step"] = step
        c["atoms_seen"] += int(atoms)
        c["structures_seen"] += n_global
        c["flops"] += flops
        c["loss_sum"] += tot
        c["task_sum"] += tsk
        c["sym_sum"] += sym
        c["loss_n"] += n_global
        return tot / n_global, tsk / n_global, flops

    # --- evaluation ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict:
        """:func:`nnip.train.evaluate.accumulate` on this rank's validation batches (eval weights, under AMP), with
        test-time group averaging as a second predictor when ``eval.tta_m``; sums all-reduced over ranks."""
        cfg = self.cfg

        def plain(k, batch):
            with self._autocast():
                return self.model(batch)

        def averaged(k, batch):
            g = torch.Generator().manual_seed(pipeline.derive_seed(cfg.train.seed, k, 3))
            with self._autocast():
                return group_average(self.model, batch, cfg.eval.tta_m, generator=g)

        predictors = {"": plain, **({"_tta": averaged} if cfg.eval.tta_m > 0 else {})}
        set_mode(self.model, self.optimizer, False)
        try:
            totals = accumulate(self.val, predictors, self.weights, float(self.normalizer.std), device=self.device)
        finally:
            set_mode(self.model, self.optimizer, True)
        keys = _EVAL_KEYS
        sums = torch.tensor([[totals.get(name, {}).get(key, 0.0) for key in keys] for name in ("", "_tta")],
                            dtype=torch.float64, device=self.device)
        self.ctx.all_reduce(sums)
        out = {}
        for row, suffix in enumerate(predictors):
            out.update(metrics(dict(zip(keys, sums[row].tolist())), suffix=suffix, terms=row == 0,
                               stress=self.data.has_stress))
        return out

    # --- the loop -----------------------------------------------------------------------------------------------
    def run(self, t_start: float) -> str:
        """Train to the end; returns the stop reason (or raises :class:`TrainingDiverged`)."""
        cfg, ctx, c = self.cfg, self.ctx, self.c
        tr, rt = cfg.train, cfg.runtime
        set_mode(self.model, self.optimizer, True)
        self._last_ckpt_time = time.monotonic()
        wall_offset = c["wall_s"]  # + time since this process started (setup included)
        progress = None
        if rt.progress and ctx.is_main:
            progress = tqdm(total=self.total_steps, initial=c["step"], desc=self.run_id, unit="step")
        reason = None
        try:
            while reason is None:
                batches = pipeline.epoch_batches(self.n_train, tr.batch_size, tr.seed, c["epoch"], min_size=ctx.world,
                                              shuffle=tr.regime == "epochs")
                loader = pipeline.make_loader(
                    self.data.train, batches[c["batch_in_epoch"]:], cutoff=self.cutoff,
                    max_neighbors=self.max_neighbors, normalizer=self.normalizer, num_workers=rt.num_workers,
                    rank=ctx.rank, world=ctx.world,
                )
                it = iter(loader)
                while True:
                    t0 = time.monotonic()
                    try:
                        batch, n_global, lo = next(it)
                    except StopIteration:
                        break
                    t1 = time.monotonic()
                    instrument = self._instrument_s
                    self.train_step(batch, n_global, lo)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    t2 = time.monotonic()
                    c["data_wait_s"] += t1 - t0
                    c["wall_s_train"] += t2 - t0 - (self._instrument_s - instrument)
                    c["batch_in_epoch"] += 1
                    epoch_end = c["batch_in_epoch"] >= len(batches)
                    if epoch_end:
                        c["epoch"] += 1
                        c["batch_in_epoch"] = 0
                    step = c["step"]
                    if progress is not None:
                        progress.update(1)
                    if tr.max_steps is not None and step >= tr.max_steps:
                        reason = "max_steps"
                    elif tr.max_atoms is not None and c["atoms_seen"] >= tr.max_atoms:
                        reason = "max_atoms"
                    elif epoch_end and c["epoch"] >= tr.max_epochs:
                        reason = "max_epochs" if tr.regime == "epochs" else "end of stream"
                    do_eval = (step in self.eval_steps or reason is not None
                               or (epoch_end and tr.regime == "epochs"))
                    if do_eval:
                        metrics = self.evaluate()
                        c["wall_s"] = wall_offset + (time.monotonic() - t_start) - self._instrument_s
                        self._after_eval(metrics, epoch_end)
                        if reason is None and epoch_end and c["stopped_early"]:
                            reason = "early stopping"
                    c["wall_s"] = wall_offset + (time.monotonic() - t_start) - self._instrument_s
                    due = (
                        (do_eval and rt.checkpoint_at_eval)
                        or (rt.checkpoint_every and step % rt.checkpoint_every == 0)
                        or (rt.checkpoint_minutes is not None
                            and time.monotonic() - self._last_ckpt_time >= 60 * rt.checkpoint_minutes)
                        or reason is not None
                    )
                    if due:
                        self.checkpoint()
                    if reason is not None:
                        break
                del it, loader
        finally:
            if progress is not None:
                progress.close()
        return reason

    def _after_eval(self, metrics: dict, epoch_end: bool) -> None:
        c, cfg = self.c, self.cfg
        val = metrics["val_loss"]
        if not math.isfinite(val):
            raise TrainingDiverged(f"diverged: non-finite validation loss at step {c['step']}")
        row = record.curve_row(self, metrics)
        if self.ctx.is_main:
            self.store.append_curve(self.run_id, row, self.columns)
        c["curve_rows"] += 1
        c["last_eval_step"] = c["step"]
        c["last_val"] = val
        self.last_metrics = metrics
        c["loss_sum"] = c["task_sum"] = c["sym_sum"] = 0.0
        c["loss_n"] = 0
        if val < c["best_val"]:
            c["best_val"], c["best_step"] = val, c["step"]
        if epoch_end:  # early stopping looks at epoch-end evaluations only
            if val < c["es_best"]:
                c["es_best"], c["bad_evals"] = val, 0
            else:
                c["bad_evals"] += 1
        if (cfg.train.regime == "epochs" and cfg.train.patience is not None and epoch_end
                and c["bad_evals"] >= cfg.train.patience):
            c["stopped_early"] = True


# --- entry point ----------------------------------------------------------------------------------------------------
def _as_config(cfg) -> TrainConfig:
    if isinstance(cfg, TrainConfig):
        return cfg
    if isinstance(cfg, (str, os.PathLike)):
        return TrainConfig.from_file(cfg)
    return TrainConfig.from_dict(cfg)


def train(cfg: TrainConfig | dict | str | os.PathLike, store: RunStore | str | os.PathLike) -> RunRecord:
    """Train the run described by ``cfg`` into ``store`` (or return it at once if it is already finished).

    Args:
        cfg: a :class:`TrainConfig`, its dict, or a YAML/JSON path.
        store: a :class:`~nnip.runs.RunStore` or its root directory.

    Returns:
        :class:`RunRecord` with ``status`` ``"done"`` or ``"failed"`` (``reason`` starting ``"diverged"``);
        ``cached=True`` when the finished run was already in the store.

    Raises:
        any exception other than divergence, after marking the run failed (its checkpoint is kept: calling
        :func:`train` again resumes it).

    Resume: if the run directory holds a checkpoint, training continues from it (model, optimiser incl.
    schedule-free state, scheduler, GradScaler, RNG states, data position, counters, FLOP fit) and the curve is
    truncated to the rows it had at that checkpoint. Concurrency: the run directory is locked for the whole call;
    a second process training the same run waits for the lock and then gets a cache hit.
    """
    cfg = _as_config(cfg).resolved()
    store = store if isinstance(store, RunStore) else RunStore(store)
    run_id = cfg.run_id()
    if is_final(store.read_summary(run_id)):
        return read_record(store, run_id, True)
    ctx = _dist.setup(cfg.runtime.device)
    lock = store.lock(run_id) if ctx.is_main else contextlib.nullcontext()
    with lock:
        ctx.barrier()
        if is_final(store.read_summary(run_id)):
            return read_record(store, run_id, True)
        t_start = time.monotonic()
        run = None
        try:
            run = _Run(cfg, store, run_id, ctx)
            state = store.load_checkpoint(run_id, map_location=run.device)
            if state is not None:
                run.restore(state)
                run.c["resumes"] += 1
                if ctx.is_main:
                    store.truncate_curve(run_id, run.c["curve_rows"])
            elif ctx.is_main:
                store.start_curve(run_id, run.columns)
            if ctx.is_main:
                store.write_config(run_id, record.config_record(run))
                store.write_summary(run_id, record.summary(run, "running"))
            ctx.barrier()
            reason = run.run(t_start)
            if ctx.is_main:
                store.write_summary(run_id, record.summary(run, "done", reason))
            ctx.barrier()  # every rank returns the final summary
        except TrainingDiverged as err:
            log.warning("run %s %s", run_id, err)
            if ctx.is_main:
                summary = record.summary(run, "failed", str(err)) if run is not None else {"status": "failed",
                                                                                     "reason": str(err)}
                store.write_summary(run_id, summary)
            ctx.barrier()  # divergence is detected on all-reduced losses: every rank is here
        except Exception as err:
            if ctx.is_main and not isinstance(err, StoreError):  # a store that cannot be written stays as it was
                reason = f"{type(err).__name__}: {err}"
                summary = record.summary(run, "failed", reason) if run is not None else {
                    "run_id": run_id, "status": "failed", "reason": reason, "arch": cfg.model.name,
                    "tags": list(cfg.tags), "updated": now()}
                if not (store.run_dir(run_id) / "config.json").exists():
                    store.write_config(run_id, {"run_id": run_id, "config": cfg.to_dict()})
                store.write_summary(run_id, summary)
            raise
    return read_record(store, run_id, False)
