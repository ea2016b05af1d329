"""The run ids of the cpu preset's studies are pinned: a refactor of the paper layer, the sweeps or the presets that
changed one would orphan the committed store ``results/cpu`` (a run id is the hash of the resolved config).

Pinned are the studies of architectures whose cpu scales are settled (MPNN, eSEN, the transformer); a deliberate
change of a preset's scale changes its runs' ids and must update this file with the reason in its commit."""

import hashlib
from pathlib import Path

from nnip.paper import main, symmetry, transformer, translation, tuning
from nnip.sweep import expand

STORE = Path(__file__).resolve().parents[2] / "results" / "cpu" / "runs"

#: the main study's cpu runs, as committed (MPNN) or training (eSEN) when the paper layer was split (issue 13)
MAIN_MPNN = ["0f44edacbb6a", "1a3c9d97c683", "20729ffb55a1", "411d8fe738ca", "476da59a07c5", "7ea02472409a",
             "9a9644738066", "9dee0cf3906b"]
MAIN_ESEN = ["041efb46162b", "28f35971219c", "4827ab24f74c", "62cdbf352036", "d23a415681cb", "ff075cd2d8f9"]
#: study → (runs, sha256 of the sorted ids joined by spaces, first 16 hex digits)
DIGESTS = {
    "fig7": (10, "61dd496285579918"),
    "fig15": (8, "e8d6adb9ca14fe57"),
    "fig16": (5, "3d2f138af6ce38e2"),
    "fig4": (15, "fced797167c113ad"),
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
