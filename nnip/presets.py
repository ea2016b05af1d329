"""Scales: ``tiny`` (CI), ``cpu`` (the shipped book), ``paper`` (the paper's ladders on a GPU box).

This is the only place where scales live; notebooks and sweeps take a preset name and read everything from here.

- ``tiny`` — every notebook in ≤ 60 s on 2 cores: a few dozen molecules, a few steps. Proves wiring, not science.
- ``cpu`` — the shipped book: real curves on 100,000 ``xtb-mols`` structures (random frames, splits grouped by
  molecule, ≥ 1,000 validation structures), one streaming epoch; every main architecture on 6–8 rungs spanning
  ≥ 1.5 decades of N; μP base width at a CPU rung with η* (and warmup) chosen by the measured sweep of
  :mod:`nnip.paper.tuning`; 48 log-spaced evaluations per run. All runs of the book ≤ 12 CPU-hours on a 2-core
  machine (measured per figure in the book's reproduction page). Why each number: ``book/reproduce.md``.
- ``paper`` — Tables 3–6 ladders, the paper's batch sizes (64; 128 for EGNN, App. D), lr 1e-3 at the ≈1M base
  width with μP transfer (§3.3), single epoch over OMol25's neutral split; the data path comes from the
  ``NNIP_OMOL25`` environment variable (a directory of ``.aselmdb`` files) — nnip never downloads it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Preset", "ArchScale", "Tuning", "Analysis", "Ablations", "PRESETS", "get", "resolve"]


@dataclass(frozen=True)
class ArchScale:
    """How one architecture is trained under a preset."""

    widths: tuple  # ladder entries used, as hyper-parameter dicts (subset of ladder(name)) or overrides
    batch_size: int = 64
    lr: float = 1e-3  # η* at the μP base width (§3.3)
    extra: dict = field(default_factory=dict)  # fixed hyper-parameters (e.g. smaller depth on CPU)
    #: μP base width w_base (η(w) = η*·w_base/w); None: the model's own (the paper's ≈1M-parameter width)
    base_width: int | None = None
    #: linear learning-rate warmup of the schedule-free optimiser, in steps
    warmup_steps: int = 0
    #: the ladder entry (index into ``widths``) at the base width: where η* is tuned (None: no such rung)
    base_rung: int | None = None
    #: why ``lr``/``warmup_steps`` differ from the η* sweep's optimum, when they do (shown on the tuning page)
    lr_reason: str = ""
    #: gradient-norm clipping of every study's runs (``optim.grad_clip``) except the η* sweep's; None: none
    grad_clip: float | None = None


@dataclass(frozen=True)
class Analysis:
    """How the scaling fits of a preset read its runs (:mod:`nnip.paper.fits` → :mod:`nnip.scaling`)."""

    #: bootstrap resamples of whole runs for the 95% intervals (App. E: 1000)
    n_boot: int = 1000
    #: fraction of each run's first steps left out of every fit (§3.2: "excluding the first 1%–10%")
    drop_first: float = 0.05
    #: per-architecture EMA smoothing factor of the validation loss (footnote 5: GemNet-OC, 0.9). Only at ``paper``
    #: scale: with the cpu preset's evaluations per run (the paper's runs have hundreds), an EMA of 0.9 lags by about
    #: ten evaluations — a third of the run in log D — and would bias the exponents
    ema: dict = field(default_factory=dict)
    #: wall-clock multipliers (footnote 8: "we double EGNN's reported training time", its batch being twice the
    #: others'; the same holds for the cpu preset, 32 vs 16; at tiny all batches are equal)
    wall_factor: dict = field(default_factory=dict)
    #: the frontier backtest holds out the top fraction of the log-range of compute
    holdout: float = 0.25
    #: bootstrap seed
    seed: int = 0


@dataclass(frozen=True)
class Ablations:
    """What the ablation studies (Fig. 7–12, :mod:`nnip.paper`) vary at one preset; the ladders themselves are the
    preset's ``archs``."""

    #: ladder-based studies (Fig. 7, 8, 9, 12) use the first this-many preset widths (None: all)
    ladder_cut: int | None
    #: Fig. 8/9: data fraction r and epochs (None: the preset's ``epochs``), extra evaluations every k steps
    epochs_fraction: float
    epochs: int | None
    eval_every: int | None
    #: Fig. 10: the data fraction each tuning run streams, and the grids
    hp_fraction: float
    lrs: tuple
    batch_sizes: tuple
    depths: tuple
    #: Fig. 10/11: index of the preset width at ≈ fixed N (None: the ladder entry at the model's base width, ≈1M)
    ref_width: int | None
    #: Fig. 11: vector channels E and the data fraction
    vector_channels: tuple
    vc_fraction: float
    #: Fig. 12: structures and seed of the independent xtb-mols draw (tiny/cpu)
    diverse_n: int | None
    diverse_seed: int
    #: bootstrap resamples for the ablations' 95% intervals (App. E: 1000); 0: none
    n_boot: int
    #: log-spaced evaluations of the short runs of Fig. 10/11 (only their ends matter) and of the multi-epoch runs
    #: (which are also evaluated at every epoch end); None: the preset's ``n_evals``
    short_log_points: int | None = None
    epochs_log_points: int | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    #: embedded datasets to build: name -> {"n": structures, "seed": seed}
    datasets: dict
    #: the molecular dataset source: an embedded name ("xtb-mols") or a path/glob of .aselmdb files
    molecules: str
    #: the materials dataset source (Trikha et al. chapter)
    materials: str
    n_val: int
    #: data fractions r at which L(D_r) is read off one streaming run (§4.2)
    fractions: tuple
    #: per-architecture ladder entries and optimiser settings
    archs: dict
    #: maximum training structures (D_max in structures); None = the whole training split
    max_train: int | None
    #: evaluations per run (log-spaced plus regular)
    n_evals: int
    device: str = "cpu"
    amp: str = "none"
    seed: int = 0
    #: default epochs for multi-epoch figures (Fig. 8, 9)
    epochs: int = 4
    #: torch threads per run (``runtime.threads``; not part of the run id). Small models on a 2-core machine run
    #: 10-30x faster on one thread than on two when anything else is running; None leaves torch's default
    threads: int | None = 1
    #: the η* sweep at the base rungs (None: η* is taken from the paper, as at ``paper`` scale)
    tuning: Tuning | None = None
    #: Fig. 4 (eSEN at l_max 2/3/4): the first this-many eSEN rungs (None: all) on this fraction of the stream
    lmax_rungs: int | None = None
    lmax_fraction: float = 1.0
    #: how the fits read the runs (bootstrap size, dropped first steps, EMA, wall-clock factors, backtest hold-out)
    analysis: Analysis = field(default_factory=Analysis)
    #: the scales of the ablation studies (Fig. 7–12); None: the preset has none
    ablations: Ablations | None = None


@dataclass(frozen=True)
class Tuning:
    """The measured η* sweep (:mod:`nnip.paper.tuning`): each main architecture at its base rung streams ``fraction``
    of the training data for every learning rate × warmup (steps) of the grid."""

    fraction: float
    lrs: tuple
    warmups: tuple
    log_points: int = 20


def _scale(widths, **kw):
    return ArchScale(widths=tuple(widths), **kw)


_GEMNET_SMALL = {
    "num_radial": 16, "num_spherical": 5, "emb_size_trip_in": 16, "emb_size_trip_out": 16, "emb_size_rbf": 8,
    "emb_size_cbf": 8, "cutoff": 6.0, "max_neighbors": 30,
}

_TINY_ARCHS = {
    "mpnn": _scale([{"hidden_dim": 8}, {"hidden_dim": 16}], batch_size=8, extra={"num_layers": 2, "num_radial": 8}),
    "egnn": _scale([{"hidden_dim": 8}, {"hidden_dim": 16}], batch_size=8, extra={"num_layers": 2, "num_radial": 8}),
    "gemnet_oc": _scale([{"hidden_dim": 8}, {"hidden_dim": 16}], batch_size=8,
                        extra={**_GEMNET_SMALL, "num_layers": 1, "num_radial": 8, "num_spherical": 3,
                               "emb_size_trip_in": 4, "emb_size_trip_out": 4, "emb_size_rbf": 4, "emb_size_cbf": 4,
                               "num_before_skip": 1, "num_after_skip": 1, "num_atom": 1, "num_output_afteratom": 1,
                               "num_global_out_layers": 1}),
    "esen": _scale([{"sphere_channels": 2}, {"sphere_channels": 4}], batch_size=8,
                   extra={"num_layers": 1, "l_max": 2, "m_max": 1, "hidden_channels": 8, "num_radial": 8}),
    "equiformer_v2": _scale([{"sphere_channels": 2}, {"sphere_channels": 4}], batch_size=8,
                            extra={"num_layers": 1, "l_max": 2, "m_max": 1, "attn_hidden_channels": 4, "num_heads": 1,
                                   "attn_alpha_channels": 2, "attn_value_channels": 2, "ffn_hidden_channels": 4,
                                   "edge_channels": 4, "num_radial": 8, "cutoff": 5.0, "max_neighbors": 12}),
    "transformer": _scale([{"d_model": 8}, {"d_model": 16}], batch_size=8, extra={"num_layers": 1, "num_heads": 1}),
}

# CPU scale: the paper's depths where affordable (MPNN 5); equivariant models shallower than the paper's 12 layers
# (see book/limitations.md). Main architectures: 6-8 rungs spanning >= 1.5 decades of N (MPNN 6.3k-481k, MC-EGNN
# 7.5k-359k, GemNet-OC 14.5k-1.06M, eSEN 13.3k-462k); the base rung (geometric middle of the ladder in N) is the
# mu-P base width where eta* was tuned (nnip.paper.tuning; the sweep is in the book). eSEN runs at l_max = 2, not
# the paper's 4: measured in this book's tuning runs, an l_max = 4 step costs ~2.5x an l_max = 2 step at equal C, and
# the l_max = 4 ladder that spans 1.5 decades (C = 1..32) would take ~5 of the book's 12 CPU-hours; Fig. 4 compares
# l_max 2/3/4 on the first five rungs and half the stream (nnip.paper.main.lmax_spec).
_CPU_ARCHS = {
    "mpnn": _scale([{"hidden_dim": w} for w in (16, 24, 32, 48, 64, 96, 128, 192)], batch_size=16,
                   extra={"num_layers": 5}, base_width=64, base_rung=4,
                   lr=3e-2, warmup_steps=200),  # the sweep's best (nnip.paper.tuning): 0.765 vs 0.839 at 1e-2
    "egnn": _scale([{"hidden_dim": w} for w in (8, 12, 16, 24, 32, 48, 64, 96)], batch_size=32,
                   extra={"num_layers": 4}, base_width=32, base_rung=4,
                   lr=1e-2, warmup_steps=0, grad_clip=10.0,  # the sweep's runner-up (0.416), clipped: its best,
                   # 3e-2 + 200 warmup (0.382), spiked or diverged in 4 of the 8 full-stream main runs (losses up to
                   # 1.6e5); at 1e-2 unclipped w = 12 still diverged (step ~1,500); clipped at 10 it recovered (0.360)
                   lr_reason="its best (3e-2, warmup 200) spiked or diverged in 4 of 8 full-stream main runs; "
                             "1e-2 without warmup, the runner-up, clipped at gradient norm 10, trained the worst "
                             "case (w = 12, which diverged unclipped) through the whole stream (pilot: final 0.360)"),
    "gemnet_oc": _scale([{"hidden_dim": w} for w in (8, 12, 16, 24, 32, 48, 64, 96)], batch_size=16,
                        extra={**_GEMNET_SMALL, "num_layers": 2}, base_width=32, base_rung=4,
                        lr=1e-2, warmup_steps=0,  # the sweep's best: 0.172 (3e-2 + 200 warmup: 0.173; 3e-3: 0.215;
                        # 1e-1 with warmup diverged). Unlike the other three, GemNet-OC's optimum is 1e-2 without warmup.
                        grad_clip=10.0),  # fairchem's GemNet-OC recipe (clip_grad_norm: 10): unclipped, the w = 8
    # main run spiked twice (final 1.12, best 0.25); clipped it trained cleanly to 0.173 (pilot, book/reproduce.md)
    # eSEN C = 3..64 (13.3k-462k): the first ladder (C = 1..32) failed the pilot — C = 1 never left the zero-force
    # plateau (val loss 1.87 after the whole stream) and C = 2 left it only after ~1,000 steps, so the loss-compute
    # frontier began with a cliff (backtest error 27 %); C = 3 leaves it within ~100 steps (measured), C = 6 and 64
    # were added to keep >= 6 rungs over >= 1.5 decades. The base rung stays C = 8, where eta* was tuned (the
    # geometric middle of the new ladder is C = 16; moving it would change every eSEN run id).
    "esen": _scale([{"sphere_channels": c} for c in (3, 4, 6, 8, 16, 32, 64)], batch_size=16,
                   extra={"num_layers": 3, "l_max": 2, "m_max": 2, "hidden_channels": 16, "num_radial": 32},
                   base_width=72, base_rung=3,  # width = (l_max + 1)^2 C: C = 8
                   lr=3e-2, warmup_steps=200),  # the sweep's best: 0.207 (1e-2: 0.239, 1e-1 with warmup: 0.221)
    # materials chapter: every channel width grows with C (attention C, alpha/value C/2, feed-forward and edge 2C),
    # so the ladder spans 14.8k-286k parameters (1.3 decades); with only sphere_channels growing (attention 8,
    # feed-forward/edge 16 fixed) C = 4..32 spans 33k-98k (0.5 decade), too little for a parameter exponent.
    "equiformer_v2": _scale([{"sphere_channels": c, "attn_hidden_channels": c, "attn_alpha_channels": c // 2,
                              "attn_value_channels": c // 2, "ffn_hidden_channels": 2 * c, "edge_channels": 2 * c}
                             for c in (4, 6, 8, 12, 16, 24)], batch_size=16,
                            extra={"num_layers": 2, "l_max": 2, "m_max": 2, "num_heads": 2, "num_radial": 32,
                                   "cutoff": 6.0, "max_neighbors": 20}),
    "transformer": _scale([{"d_model": d} for d in (8, 16, 32, 64, 128)], batch_size=16,
                          extra={"num_layers": 2, "num_heads": 2}),
}

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        datasets={"xtb-mols": {"n": 64, "seed": 0}, "emt-alloys": {"n": 64, "seed": 0}},
        molecules="xtb-mols",
        materials="emt-alloys",
        n_val=8,
        fractions=(0.5, 1.0),
        archs=_TINY_ARCHS,
        max_train=48,
        n_evals=4,
        epochs=2,
        tuning=Tuning(fraction=0.5, lrs=(1e-3, 3e-3), warmups=(0, 2), log_points=4),
        analysis=Analysis(n_boot=20),
        # wiring only: a handful of runs, each a few steps
        ablations=Ablations(ladder_cut=None, epochs_fraction=0.25, epochs=4, eval_every=1, hp_fraction=0.5,
                            lrs=(5e-4, 1e-3), batch_sizes=(8, 16), depths=(1, 2), ref_width=0, vector_channels=(1, 4),
                            vc_fraction=0.5, diverse_n=64, diverse_seed=1, n_boot=0),
    ),
    "cpu": Preset(
        name="cpu",
        datasets={"xtb-mols": {"n": 100000, "seed": 0}, "emt-alloys": {"n": 4000, "seed": 0}},
        molecules="xtb-mols",
        materials="emt-alloys",
        n_val=1000,
        # materials data scaling: 5 log-spaced fractions (one decade of D: 300 ... 3,000 structures), each its own
        # multi-epoch run of the largest EquiformerV2/transformer rung; evenly spaced 0.1 ... 1.0 cost 2.5x as much
        # and put 6 of 10 points in the top 0.4 decade
        fractions=(0.1, 0.18, 0.32, 0.56, 1.0),
        archs=_CPU_ARCHS,
        max_train=None,
        n_evals=48,  # >= 41 distinct log-spaced steps for runs of >= 1,500 steps
        epochs=8,
        # 20 % of the stream (~1,240 steps at batch 16): long enough that the lr ranking is not a warm-up effect.
        # The grid was (3e-4 ... 1e-2); the MPNN's best was its top edge twice, so it was extended upwards (3e-2, 1e-1)
        tuning=Tuning(fraction=0.2, lrs=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), warmups=(0, 200)),
        lmax_rungs=5,
        lmax_fraction=0.5,
        analysis=Analysis(n_boot=1000, wall_factor={"egnn": 2.0}),
        # the five smallest preset widths (the symmetry loss costs (M+1)x; five runs are the fewest behind a bootstrap
        # interval, see nnip.paper.scorecard); 1 % (~1,000 structures) x 20 epochs, evaluated at every epoch end;
        # Fig. 10/11 at the mu-P base rung, streaming 10 % of the data
        ablations=Ablations(ladder_cut=5, epochs_fraction=0.01, epochs=20, eval_every=None, hp_fraction=0.1,
                            lrs=(1e-4, 5e-4, 1e-3), batch_sizes=(8, 16, 32, 64), depths=(1, 2, 3, 4, 6),
                            ref_width=None, vector_channels=(1, 2, 4, 8, 16), vc_fraction=0.25, diverse_n=5000,
                            diverse_seed=1, n_boot=200, short_log_points=6, epochs_log_points=10),
    ),
    "paper": Preset(
        name="paper",
        datasets={},
        molecules=os.environ.get("NNIP_OMOL25", "$NNIP_OMOL25"),
        materials=os.environ.get("NNIP_OMAT24", "$NNIP_OMAT24"),
        n_val=27000,
        fractions=tuple(round(0.1 * k, 1) for k in range(1, 11)),
        archs={},  # filled below from the ladders: the paper's Tables 3-6
        max_train=None,
        n_evals=200,
        device="cuda",
        amp="bf16",
        epochs=100,
        threads=None,
        analysis=Analysis(n_boot=1000, ema={"gemnet_oc": 0.9}, wall_factor={"egnn": 2.0}),
        # full ladders, 1 % x 100 epochs evaluated every 1000 steps, 3 x 4 tuning grid at ≈1M parameters
        ablations=Ablations(ladder_cut=None, epochs_fraction=0.01, epochs=100, eval_every=1000, hp_fraction=0.1,
                            lrs=(1e-4, 5e-4, 1e-3), batch_sizes=(64, 128, 256, 512), depths=(2, 4, 6, 8, 12, 16),
                            ref_width=None, vector_channels=(1, 2, 4, 8, 16, 32), vc_fraction=1.0, diverse_n=None,
                            diverse_seed=0, n_boot=1000, short_log_points=20),
    ),
}


def get(name: str) -> Preset:
    """The preset called ``name``; the ``paper`` preset's ladders come from :func:`nnip.models.ladder`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    if name == "paper" and not preset.archs:
        from nnip.models import ladder  # torch-free analysis: nnip.models imports torch

        batch = {"egnn": 128}
        archs = {}
        for arch in ("mpnn", "egnn", "gemnet_oc", "esen", "equiformer_v2", "transformer"):
            try:
                archs[arch] = _scale(ladder(arch), batch_size=batch.get(arch, 64), lr=1e-3)
            except NotImplementedError:
                continue
        preset = Preset(**{**preset.__dict__, "archs": archs})
    return preset


def _typed(cls, value):
    """``value`` as the dataclass ``cls`` (a mapping of its fields), unchanged when it already is one (or None)."""
    if value is None or isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{cls.__name__}: expected a mapping of its fields, got {value!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown field {unknown[0]!r}; fields: {sorted(names)}")
    return cls(**value)


def resolve(preset: str | Preset | Mapping) -> Preset:
    """A :class:`Preset` from a name (:func:`get`), a :class:`Preset` (returned as is) or a mapping of its fields
    (``archs`` values, ``tuning``, ``analysis`` and ``ablations`` may be mappings too; ``datasets`` defaults to none).
    The paper's functions and the sweep take any of these and resolve it once, at their entry."""
    if isinstance(preset, str):
        preset = get(preset)
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, Mapping):
        raise TypeError(f"preset: expected a name, a Preset or a mapping, got {preset!r}")
    d = {"datasets": {}, **preset}
    d["archs"] = {name: _typed(ArchScale, scale) for name, scale in (d.get("archs") or {}).items()}
    for key, cls in (("tuning", Tuning), ("analysis", Analysis), ("ablations", Ablations)):
        if key in d:
            d[key] = _typed(cls, d[key])
    return _typed(Preset, d)
