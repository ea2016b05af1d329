"""``TrainConfig``: one training run, as frozen nested dataclasses with a strict YAML/JSON round trip.

A config is a tree of sections (``model``, ``data``, ``optim``, ``loss``, ``train``, ``eval``, ``runtime``) plus
``tags``. ``TrainConfig.from_dict`` rejects unknown keys with a message naming the dotted key and the valid ones;
``cfg.override(["optim.lr=5e-4", "model.hparams.hidden_dim=64"])`` applies ``--set`` style overrides.

The **run id** is a short hash of the *resolved* config (:meth:`TrainConfig.resolved`: recipe weights filled in,
defaults made explicit) **excluding** ``runtime`` (device, workers, threads, compilation, checkpoint cadence,
FLOP-measurement cadence) and ``tags``: those change where and how fast a run executes, not what it computes (a
compiled run's float32 numbers differ from the eager run's by round-off only). Consequences: the same
experiment on CPU and on CUDA shares one id (the second is a cache hit), and AMP (``train.amp``), which does change
the numbers, is part of the id. The dataset enters the id through its *description* (path or embedded name, n,
seed); its content hash is stored in ``config.json`` beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from nnip._nested import flatten
from nnip.data.registry import DATASETS
from nnip.errors import ConfigError  # re-exported: nnip.train.ConfigError
from nnip.models import SYMMETRIZE_METHODS

__all__ = [
    "TrainConfig",
    "ModelSpec",
    "DataSpec",
    "OptimSpec",
    "LossSpec",
    "ScheduleSpec",
    "EvalSpec",
    "RuntimeSpec",
    "COMPILE_MODES",
    "ConfigError",
    "RECIPES",
    "TRAINER_VERSION",
    "read_config_file",
    "undot",
]

#: bumped when the trainer's semantics change in a way that changes results (enters the run id)
TRAINER_VERSION = 2  # 2: GemNet-OC scale factors fitted before step 1

#: loss weights of the named recipes: (energy, forces, isotropic stress, anisotropic stress)
RECIPES: dict[str, dict[str, float]] = {
    # eq. (1) of Ngo & Ravanbakhsh: λ_e = λ_f; stress (if a model predicts it) weighted like energy
    "eq1": {"energy_weight": 1.0, "force_weight": 1.0, "stress_iso_weight": 1.0, "stress_aniso_weight": 1.0},
    # Trikha et al. / fairchem OMat24 recipe: 2.5·E + 20·F + 5·(iso + aniso stress)
    "materials": {"energy_weight": 2.5, "force_weight": 20.0, "stress_iso_weight": 5.0, "stress_aniso_weight": 5.0},
}


# --- sections -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """The model: a name in :data:`nnip.models.MODELS` (or ``"package.module:Class"`` for a user model following
    the model contract), its hyper-parameters (checked by the model's own ``Config``) and ``symmetrize``, an
    architecture-agnostic symmetry wrapper (:data:`nnip.models.SYMMETRIZE_METHODS`, :mod:`nnip.models.symmetrize`).

    ``symmetrize = None`` (the default) is left out of :meth:`TrainConfig.to_dict`, so every config without it —
    its ``config.json`` and its run id — is exactly what it was before the key existed.
    """

    name: str = "mpnn"
    hparams: Mapping[str, Any] = field(default_factory=dict)
    symmetrize: str | None = None

    #: keys of this section left out of :meth:`TrainConfig.to_dict` (and the run id) when ``None``
    OMIT_IF_NONE = ("symmetrize",)

    def __post_init__(self):
        if self.symmetrize is not None and self.symmetrize not in SYMMETRIZE_METHODS:
            raise ConfigError(f"model.symmetrize = {self.symmetrize!r} is not one of {list(SYMMETRIZE_METHODS)} "
                              "(or null: no wrapper)")


@dataclass(frozen=True)
class DataSpec:
    """Where the structures come from, the train/validation split and the data fraction r (D_r = r·D_max).

    Exactly one of ``source`` (a file/dir/glob read by :func:`nnip.data.read`) and ``name`` (an embedded dataset
    made by ``nnip.data.registry.ensure_dataset(name, n=n or size=size, seed=seed)``) is given. The validation set
    is ``val_source`` if given, else a seeded hold-out of ``val_fraction`` or ``n_val`` structures.

    ``group_by`` names the ``atoms.info`` key whose groups are held out whole (:func:`nnip.data.splits.split`):
    ``"auto"`` (default) is the embedded dataset's own key (``mol_index`` for ``xtb-mols``: no molecule has
    conformers on both sides) and no grouping for user files; ``None`` splits per structure.
    """

    source: str | None = None
    name: str | None = None
    size: str | None = None
    n: int | None = None
    seed: int = 0
    limit: int | None = None
    val_source: str | None = None
    val_fraction: float | None = 0.1
    n_val: int | None = None
    split_seed: int = 0
    group_by: str | None = "auto"
    fraction: float = 1.0
    #: energy references / σ are fitted on the first this-many structures of the *full* training split (so every
    #: data fraction shares one normalisation and losses are comparable across r); ``None``: all of them
    reference_structures: int | None = 10000

    @property
    def group_key(self) -> str | None:
        """``group_by`` with ``"auto"`` resolved: the embedded dataset's group key, else no grouping."""
        if self.group_by != "auto":
            return self.group_by
        return _embedded(self.name).group_key if self.name is not None and self.val_source is None else None


@dataclass(frozen=True)
class OptimSpec:
    """Optimiser (§3.2): ``schedulefree_adamw`` (Defazio et al. 2024) or ``adamw_cosine`` (linear warmup, cosine
    decay to ``min_lr_ratio·lr``); μP learning-rate transfer η(w) = η*·w_base/w for matrix-like parameters (§3.3)."""

    name: str = "schedulefree_adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None
    mup: bool = False
    base_width: int | None = None  # w_base; None: the model's ``base_width``


@dataclass(frozen=True)
class LossSpec:
    """Task loss eq. (1) (+ stress) with recipe weights, plus the symmetry loss eq. (2) with ``symmetry_m`` Haar
    rotations weighted by ``symmetry_weight`` (λ = 1 in §4.4); ``symmetry_m = 0`` turns it off. A weight left
    ``None`` takes the recipe's value (:data:`RECIPES`)."""

    recipe: str = "eq1"
    energy_weight: float | None = None
    force_weight: float | None = None
    stress_iso_weight: float | None = None
    stress_aniso_weight: float | None = None
    symmetry_m: int = 0
    symmetry_weight: float = 1.0


@dataclass(frozen=True)
class ScheduleSpec:
    """How long and on what: ``stream`` (single epoch, each sample once, §3.1) or ``epochs`` (``max_epochs`` passes
    over the data fraction, optional early stopping after ``patience`` epoch-end evaluations without improvement,
    §4.5), batch size, random-rotation augmentation, AMP, and the seed of init, augmentation, symmetry-loss rotations
    and the epochs regime's data order (the stream follows the split's seeded order, ``data.split_seed``, so that
    its first r·D_max structures are exactly the fraction D_r)."""

    regime: str = "stream"
    max_epochs: int = 1
    patience: int | None = None
    batch_size: int = 64
    max_steps: int | None = None
    max_atoms: int | None = None
    augment: bool = False
    amp: str = "none"
    seed: int = 0


@dataclass(frozen=True)
class EvalSpec:
    """Evaluation schedule: ``log_points`` log-spaced steps over the run plus every ``every`` steps (and the last
    step, and each epoch end in the ``epochs`` regime). ``tta_m > 0`` also reports test-time group averaging
    (eq. 23) with that many rotations (``*_tta`` columns)."""

    log_points: int = 20
    every: int | None = None
    batch_size: int | None = None  # None: the training batch size
    tta_m: int = 0
    max_structures: int | None = None  # evaluate on the first this-many validation structures


@dataclass(frozen=True)
class RuntimeSpec:
    """Where and how a run executes; **not** part of the run id (see the module docstring).

    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``; ``threads``: ``torch.set_num_threads`` (None:
    leave it); checkpoints are written at every evaluation (``checkpoint_at_eval``), every ``checkpoint_every``
    steps and when ``checkpoint_minutes`` have passed since the last one — they do not change the numbers, so a
    resumed run reproduces an uninterrupted one whatever the cadence. FLOPs are counted exactly on the first
    ``flops_calibration_steps`` steps and every ``flops_every``-th step (see :mod:`nnip.train.flops`).
    ``num_workers`` DataLoader processes collate batches (neighbour lists) in parallel with training.
    ``compile``: run the training step's forward through ``torch.compile(model)``, automatic dynamic shapes
    (``true``: the default mode, or one of :data:`COMPILE_MODES`); ``false`` (default) runs eagerly. It changes
    float32 results only by the reordering of fused kernels (a curve within round-off of the eager one, not
    bit-identical), so it is a runtime choice like the device; compile time is part of the run's wall clock (see
    :mod:`nnip.train.trainer`).
    """

    device: str = "cpu"
    num_workers: int = 0
    threads: int | None = None
    checkpoint_at_eval: bool = True
    checkpoint_every: int | None = None
    checkpoint_minutes: float | None = 20.0
    flops_calibration_steps: int = 3
    flops_every: int = 500
    #: hold the training structures in memory once read; None: only in the ``epochs`` regime (re-read every
    #: epoch otherwise) and for at most 200 000 structures — a single-epoch stream reads each one once anyway
    cache_structures: bool | None = None
    progress: bool = False
    compile: bool | str = False

    def __post_init__(self):
        if isinstance(self.compile, str) and self.compile not in COMPILE_MODES:
            raise ConfigError(f"runtime.compile = {self.compile!r} is not one of [false, true, "
                              f"{', '.join(repr(m) for m in COMPILE_MODES)}]")
        if not isinstance(self.compile, (bool, str)):
            raise ConfigError(f"runtime.compile must be true/false or a mode string, got {self.compile!r}")

    @property
    def compile_mode(self) -> str | None:
        """The ``torch.compile`` mode of ``compile`` (``"default"`` for ``true``), or None when it is off."""
        if self.compile is False:
            return None
        return "default" if self.compile is True else self.compile


#: ``runtime.compile`` strings: ``torch.compile`` modes (CUDA graphs, "reduce-overhead", need fixed shapes and
#: every batch has its own: not offered)
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")


_SECTIONS = {
    "model": ModelSpec,
    "data": DataSpec,
    "optim": OptimSpec,
    "loss": LossSpec,
    "train": ScheduleSpec,
    "eval": EvalSpec,
    "runtime": RuntimeSpec,
}
_CHOICES = {
    "optim.name": ("schedulefree_adamw", "adamw_cosine"),
    "loss.recipe": tuple(RECIPES),
    "train.regime": ("stream", "epochs"),
    "train.amp": ("none", "bf16", "fp16"),
}
#: sections and top-level keys left out of the run id
_NOT_HASHED = ("runtime", "tags")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (see the section classes for each field).

    >>> cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"source": "train.xyz"}})
    >>> cfg.override(["optim.lr=5e-4"]).optim.lr
    0.0005
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataSpec = field(default_factory=DataSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    train: ScheduleSpec = field(default_factory=ScheduleSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    tags: tuple[str, ...] = ()

    # --- construction -----------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None = None) -> "TrainConfig":
        """Build from a nested dict (as written by :meth:`to_dict`); dotted keys (``"optim.lr"``) are accepted at
        the top level too. Unknown keys raise :class:`ConfigError` naming the key."""
        d = undot(dict(d or {}))
        unknown = sorted(set(d) - set(_SECTIONS) - {"tags"})
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; valid top-level keys: {sorted(_SECTIONS) + ['tags']}")
        kwargs = {}
        for name, section_cls in _SECTIONS.items():
            value = d.get(name, {})
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {name!r} must be a mapping, got {type(value).__name__}")
            kwargs[name] = _build_section(section_cls, value, name)
        tags = d.get("tags", ())
        if isinstance(tags, str):
            tags = (tags,)
        kwargs["tags"] = tuple(str(t) for t in tags)
        cfg = cls(**kwargs)
        cfg._validate()
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        """Read a ``.yaml``/``.yml``/``.json`` file; any :class:`ConfigError` names the file."""
        d = read_config_file(path, "config")
        try:
            return cls.from_dict(d)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def to_dict(self) -> dict:
        """Plain nested dict of built-in types (tuples become lists), the inverse of :meth:`from_dict`."""
        out = {}
        for name, section_cls in _SECTIONS.items():
            out[name] = _plain(dataclasses.asdict(getattr(self, name)))
            for key in getattr(section_cls, "OMIT_IF_NONE", ()):  # optional keys added later: absent = as before
                if out[name].get(key, 0) is None:
                    del out[name][key]
        out["tags"] = list(self.tags)
        return out

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **sections) -> "TrainConfig":
        return dataclasses.replace(self, **sections)

    def override(self, assignments: Sequence[str] | Mapping[str, Any]) -> "TrainConfig":
        """Apply ``key=value`` strings (values parsed as YAML, ``1e-3`` read as a float) or a ``{dotted key: value}``
        mapping; ``model.hparams.*`` keys are free-form, every other key must exist."""
        if isinstance(assignments, Mapping):
            pairs = list(assignments.items())
        else:
            pairs = []
            for a in assignments:
                if "=" not in a:
                    raise ConfigError(f"override {a!r} is not of the form key=value")
                key, value = a.split("=", 1)
                pairs.append((key.strip(), parse_value(value)))
        d = self.to_dict()
        for key, value in pairs:
            _set_dotted(d, key, value)
        return TrainConfig.from_dict(d)

    # --- derived ----------------------------------------------------------------------------------------------
    def resolved(self) -> "TrainConfig":
        """Recipe weights filled in and defaults made explicit; the form that is hashed and stored."""
        recipe = RECIPES[self.loss.recipe]
        loss = dataclasses.replace(
            self.loss, **{k: (v if getattr(self.loss, k) is None else getattr(self.loss, k)) for k, v in recipe.items()}
        )
        ev = self.eval if self.eval.batch_size is not None else dataclasses.replace(self.eval, batch_size=self.train.batch_size)
        data = self.data
        if data.n_val is not None and data.val_fraction is not None:
            data = dataclasses.replace(data, val_fraction=None)
        if data.val_source is not None:
            data = dataclasses.replace(data, val_fraction=None, n_val=None, group_by=None)
        if data.group_by == "auto":
            data = dataclasses.replace(data, group_by=data.group_key)
        train = self.train
        if train.regime == "stream" and train.max_epochs != 1:
            train = dataclasses.replace(train, max_epochs=1)
        return dataclasses.replace(self, loss=loss, eval=ev, data=data, train=train)

    def hashed_dict(self) -> dict:
        """The part of the resolved config that defines the run id."""
        d = self.resolved().to_dict()
        for k in _NOT_HASHED:
            d.pop(k, None)
        d["trainer_version"] = TRAINER_VERSION
        if self.data.name is not None:  # a regenerated embedded dataset is a different experiment
            d["data"]["dataset_version"] = _embedded(self.data.name).version
        return d

    def run_id(self) -> str:
        """Short (12 hex) hash of :meth:`hashed_dict`, stable across processes and machines."""
        text = json.dumps(self.hashed_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def flat(self) -> dict:
        """``{"optim.lr": 1e-3, "model.hparams.hidden_dim": 64, ...}`` of the resolved config (for tables)."""
        return flatten(self.resolved().to_dict())

    # --- checks -----------------------------------------------------------------------------------------------
    def _validate(self) -> None:
        for key, choices in _CHOICES.items():
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if value not in choices:
                raise ConfigError(f"{key} = {value!r} is not one of {list(choices)}")
        d, t = self.data, self.train
        if (d.source is None) == (d.name is None):
            raise ConfigError("data: give exactly one of data.source (a path) and data.name (an embedded dataset)")
        if not 0.0 < d.fraction <= 1.0:
            raise ConfigError(f"data.fraction must be in (0, 1], got {d.fraction}")
        if d.val_source is None and d.val_fraction is None and d.n_val is None:
            raise ConfigError("data: give data.val_fraction, data.n_val or data.val_source")
        if t.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {t.batch_size}")
        if t.max_epochs < 1:
            raise ConfigError(f"train.max_epochs must be >= 1, got {t.max_epochs}")
        if self.loss.symmetry_m < 0 or self.eval.tta_m < 0:
            raise ConfigError("loss.symmetry_m and eval.tta_m must be >= 0")
        if self.eval.log_points < 0:
            raise ConfigError("eval.log_points must be >= 0")
        if not self.model.name:
            raise ConfigError("model.name is empty")


# --- helpers ------------------------------------------------------------------------------------------------
def read_config_file(path: str | Path, what: str = "config") -> dict:
    """The mapping in a YAML/JSON file; a missing, unreadable or malformed file is a :class:`ConfigError` naming
    the file (and the line and column of a syntax error)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a {what} file (.yaml/.json)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read {what} file ({type(err).__name__}: {err})") from None
    try:
        d = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}, line {err.lineno}, column {err.colno}: malformed JSON ({err.msg})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML ({problem})") from None
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise ConfigError(f"{path}: expected a mapping of {what} keys at the top level, got {type(d).__name__}")
    return dict(d)


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value: YAML scalars/lists/maps, plus numbers YAML 1.1 reads as strings (``1e-3``)."""
    text = text.strip()
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
        return float(value)
    return value


def undot(d: dict) -> dict:
    """Expand dotted top-level keys into nested dicts (``model.hparams`` values stay as given)."""
    out: dict = {}
    for key, value in d.items():
        if isinstance(key, str) and "." in key:
            _set_dotted(out, key, value)
        else:
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key].update(value)
            else:
                out[key] = value
    return out


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = d
    for k, part in enumerate(parts[:-1]):
        path = ".".join(parts[: k + 1])
        if k == 0 and part not in _SECTIONS:
            raise ConfigError(f"unknown config key {key!r} (no section {part!r}; sections: {sorted(_SECTIONS)})")
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"config key {path!r} is not a section; cannot set {key!r}")
        node = child
    node[parts[-1]] = value


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _build_section(cls, values: Mapping[str, Any], prefix: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}.{unknown[0]}'; valid keys of {prefix!r}: {sorted(names)}")
    hints = _hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(value, hints[name], f"{prefix}.{name}")
    return cls(**kwargs)


def _coerce(value: Any, hint, key: str):
    """Light type coercion/checking for config values (int→float, list→tuple, dict copies)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        last = None
        for a in non_none:
            try:
                return _coerce(value, a, key)
            except ConfigError as err:
                last = err
        if len(non_none) > 1:  # e.g. bool | str: one message naming every accepted type, not the last one tried
            names = " or ".join(getattr(a, "__name__", str(a)) for a in non_none)
            raise ConfigError(f"{key} must be {names}, got {value!r}")
        raise last if last else ConfigError(f"{key}: bad value {value!r}")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return int(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true/false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key} must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin in (Mapping, dict) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    return value


def _plain(x):
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _embedded(name: str):
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"data.name: unknown embedded dataset {name!r}; known: {sorted(DATASETS)}") from None
