"""The run ids of the cpu preset's studies are pinned: a refactor of the paper layer, the sweeps or the presets that
changed one would orphan the committed store ``results/cpu`` (a run id is the hash of the resolved config).

Pinned are the studies of architectures whose cpu scales are settled (MPNN, eSEN, the transformer); a deliberate
change of a preset's scale changes its runs' ids and must update this file with the reason in its commit."""

import hashlib
import json
from pathlib import Path

import pandas as pd

from nnip.paper import main, symmetry, transformer, translation, tuning
from nnip.sweep import expand

STORE = Path(__file__).resolve().parents[2] / "results" / "cpu" / "runs"

#: the main study's cpu runs, as committed (MPNN) or training (eSEN) when the paper layer was split (issue 13)
MAIN_MPNN = ["0f44edacbb6a", "1a3c9d97c683", "20729ffb55a1", "411d8fe738ca", "476da59a07c5", "7ea02472409a",
             "9a9644738066", "9dee0cf3906b"]
# eSEN's ladder changed after its pilot (C = 1, 2 -> 3, 6 and 64 added; presets.py says why): C = 4, 8, 16, 32 kept
MAIN_ESEN = ["041efb46162b", "28f35971219c", "629dc5596afb", "bb7543c9b587", "d1d3dae356ad", "d23a415681cb",
             "ff075cd2d8f9"]
#: study → (runs, sha256 of the sorted ids joined by spaces, first 16 hex digits)
DIGESTS = {
    "fig7": (10, "61dd496285579918"),
    "fig15": (8, "e8d6adb9ca14fe57"),
    "fig16": (5, "3d2f138af6ce38e2"),
    # 10 since the l_max = 2 half-stream runs are read off the main study's (truncated) runs instead of retrained
    "fig4": (10, "07b5bb4bff88f913"),
    "tuning-mpnn-esen": (24, "ce5152db32dfa89e"),
}


def _ids(spec) -> list[str]:
    return sorted(c.run_id() for c in expand(spec, "cpu"))


def test_main_study_run_ids_are_the_committed_runs():
    assert _ids(main.main_spec("mpnn")) == MAIN_MPNN
    assert _ids(main.main_spec("esen")) == MAIN_ESEN
    assert all((STORE / run_id / "summary.json").exists() for run_id in MAIN_MPNN)


def test_ablation_and_appendix_run_ids_are_pinned():
    specs = {"fig7": symmetry.symmetry_spec("cpu"), "fig15": translation.TRANSLATION_SPEC,
             "fig16": transformer.TRANSFORMER_SPEC, "fig4": main.lmax_spec("cpu"),
             "tuning-mpnn-esen": tuning.tuning_spec("cpu", "mpnn,esen")}
    got = {}
    for name, spec in specs.items():
        ids = _ids(spec)
        got[name] = (len(ids), hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16])
    assert got == DIGESTS


def test_a_truncated_streaming_run_is_the_shorter_run():
    """What the pilot and Fig. 4 rely on (:func:`nnip.paper.fits.truncate`): the committed MPNN tuning run at the
    base rung (20 % of the stream, η* and warmup of the preset) and the main-study run of the same rung agree at
    every step both evaluated — same stream prefix, same schedule-free trajectory."""
    runs = {}
    for path in STORE.glob("*/config.json"):
        cfg = json.loads(path.read_text())["config"]
        if cfg["model"]["name"] != "mpnn" or cfg["model"]["hparams"].get("hidden_dim") != 64:
            continue
        o = cfg["optim"]
        tags = json.loads(path.with_name("summary.json").read_text())["tags"]
        # the ablations also train this rung at these settings (other data or losses): the tuning and main runs only
        if (o["lr"], o["warmup_steps"]) == (3e-2, 200) and tags[0] in ("tuning", "main"):
            runs[tags[0]] = pd.read_csv(path.with_name("curve.csv"))
    short, full = runs["tuning"], runs["main"]
    both = short.merge(full, on="step", suffixes=("_short", "_full"))
    assert len(both) >= 5
    for col in ("flops", "atoms_seen"):
        assert (both[f"{col}_short"] == both[f"{col}_full"]).all(), col
    # equal to float32 round-off (the tuning run predates the GaussianBasis subnormal flush, a ~1e-38 change);
    # train_loss is not compared: it averages the training losses since the previous evaluation, whose spacing differs
    assert ((both["val_loss_short"] / both["val_loss_full"] - 1).abs() < 1e-6).all()


def test_fig4_reads_the_preset_l_max_off_the_main_runs():
    spec = main.lmax_spec("cpu")
    assert spec["grid"]["model.hparams.l_max"] == [3, 4] and spec["fractions"] == [0.5]
    rungs = spec["models"][0]["hparams"]
    assert [h["sphere_channels"] for h in rungs] == [3, 4, 6, 8, 16]


def test_every_committed_run_is_valid():
    """Each finished run directory of ``results/cpu``: its stored config hashes to its directory name (so the code
    still reads it as a cache hit), its summary is final, and its curve ends at the summary's step count (a failed run's, at or before it)."""
    from nnip.runs import is_final
    from nnip.train.config import TrainConfig

    checked = 0
    for run_dir in sorted(STORE.iterdir()):
        summary_path = run_dir / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        if summary.get("status") == "running":  # a run training on this machine right now (never committed)
            continue
        config = json.loads((run_dir / "config.json").read_text())["config"]
        assert TrainConfig.from_dict(config).run_id() == run_dir.name, run_dir.name
        assert is_final(summary), run_dir.name
        curve = pd.read_csv(run_dir / "curve.csv")
        last = int(curve["step"].iloc[-1]) if len(curve) else 0
        if summary["status"] == "done":
            assert last == int(summary["steps"]), run_dir.name
        else:  # failed (diverged): the curve stops at the last evaluation before the failing step
            assert last <= int(summary["steps"]) and summary["reason"], run_dir.name
        checked += 1
    assert checked >= len(MAIN_MPNN) + len(MAIN_ESEN)


def test_no_cpu_run_is_missing():
    """The committed store holds every run of every study of the cpu preset (what the book renders from)."""
    from nnip.paper import catalog

    todo = catalog.missing_runs("cpu")
    assert todo.empty, f"{len(todo)} run(s) of the cpu studies are missing from results/cpu:\n" + todo.to_string()
