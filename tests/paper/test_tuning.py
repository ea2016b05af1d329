"""The η* sweep (nnip.paper.tuning) and the design rules of the ``cpu`` preset (issue 10 §2)."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nnip import presets  # noqa: E402
from nnip.models import build_model, count_parameters  # noqa: E402
from nnip.paper import tuning  # noqa: E402
from nnip.paper._common import PAPER_ARCHS  # noqa: E402
from nnip.sweep import expand  # noqa: E402


def _n(arch, h):
    return count_parameters(build_model(arch, **h))


@pytest.mark.parametrize("arch", PAPER_ARCHS)
def test_cpu_ladders_span_decades_with_enough_rungs(arch):
    """>= 6 rungs per main architecture over >= 1.5 decades of N, strictly increasing."""
    scale = presets.get("cpu").archs[arch]
    ns = [_n(arch, {**scale.extra, **w}) for w in scale.widths]
    assert len(ns) >= 6
    assert all(b > a for a, b in zip(ns, ns[1:]))
    assert math.log10(ns[-1] / ns[0]) >= 1.5, ns


@pytest.mark.parametrize("arch", PAPER_ARCHS)
def test_cpu_base_rung_is_the_mup_base_width(arch):
    """μP's w_base is the width of the base rung (the tuned model trains at scale 1), and it sits mid-ladder."""
    scale = presets.get("cpu").archs[arch]
    model = build_model(arch, **tuning.base_hparams("cpu", arch))
    assert model.width == scale.base_width
    assert 0 < scale.base_rung < len(scale.widths) - 1


def test_cpu_preset_data_and_evaluations():
    p = presets.get("cpu")
    assert p.datasets["xtb-mols"]["n"] >= 100_000 and p.n_val >= 1000
    assert p.archs["esen"].extra["l_max"] == 2  # measured cost: l_max 4 only in Fig. 4's reduced study
    assert p.lmax_rungs == 5 and p.lmax_fraction == 0.5
    steps = {int(round(s)) for s in np.geomspace(1, 1500, p.n_evals)}
    assert len(steps) >= 40  # >= 40 distinct log-spaced evaluations even for the shortest main-study run


def test_main_study_configs_carry_base_width_and_warmup():
    p = presets.get("cpu")
    cfgs = expand({"name": "main", "dataset": "molecules", "archs": ["mpnn"]}, "cpu")
    assert len(cfgs) == len(p.archs["mpnn"].widths)
    for cfg in cfgs:
        assert cfg.optim.mup and cfg.optim.base_width == p.archs["mpnn"].base_width
        assert cfg.optim.lr == p.archs["mpnn"].lr and cfg.optim.warmup_steps == p.archs["mpnn"].warmup_steps
        assert cfg.data.n == 100_000 and cfg.data.n_val == 1000 and cfg.data.group_key == "mol_index"


def test_tuning_spec_grid_at_the_base_rung():
    p = presets.get("cpu")
    cfgs = expand(tuning.tuning_spec("cpu"), "cpu")
    assert len(cfgs) == len(PAPER_ARCHS) * len(p.tuning.lrs) * len(p.tuning.warmups)
    for cfg in cfgs:
        assert dict(cfg.model.hparams) == tuning.base_hparams("cpu", cfg.model.name)
        assert cfg.data.fraction == p.tuning.fraction
        assert cfg.optim.base_width == p.archs[cfg.model.name].base_width
    # the preset's (η*, warmup) is a point of its own grid
    lrs = {(c.model.name, c.optim.lr, c.optim.warmup_steps) for c in cfgs}
    for arch in PAPER_ARCHS:
        assert (arch, p.archs[arch].lr, p.archs[arch].warmup_steps) in lrs


def _synthetic(best=(3e-3, 200)):
    rows, k = [], 0
    for arch in ("mpnn", "esen"):
        for lr in (3e-4, 1e-3, 3e-3, 1e-2):
            for warmup in (0, 200):
                loss = 0.1 + (math.log10(lr) - math.log10(best[0])) ** 2 + (0.0 if warmup == best[1] else 0.01)
                for step in (1, 10, 100):
                    rows.append({"run_id": f"r{k}", "arch": arch, "step": step, "val_loss": loss * (1 + 1 / step),
                                 "params": 1000, "optim.lr": lr, "optim.warmup_steps": warmup, "status": "done"})
                k += 1
    return pd.DataFrame(rows)


def test_optimum_and_figure_report_agreement_with_the_preset():
    curves = _synthetic()
    assert tuning.optimum(curves, "esen") == pytest.approx((3e-3, 200, 0.1 * 1.01))
    fig, table = tuning.fig_tuning(curves, preset="cpu")
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    p = presets.get("cpu")
    for arch in ("mpnn", "esen"):
        row = table[table["quantity"].str.startswith(tuning.ARCH_LABELS[arch])].iloc[0]
        matches = p.archs[arch].lr == 3e-3 and p.archs[arch].warmup_steps == 200
        assert ("matches the sweep" in row["note"]) == matches
        assert ("DIFFERS" in row["note"]) == (not matches)
    with pytest.raises(ValueError, match="no finished tuning run of 'egnn'"):
        tuning.optimum(curves, "egnn")


def test_a_preset_that_departs_from_the_sweep_says_why():
    """A preset lr other than the sweep's optimum must carry its reason, and the tuning table prints it."""
    import dataclasses

    p = presets.get("cpu")
    assert "4 of 8" in p.archs["egnn"].lr_reason  # the shipped preset's one departure (MC-EGNN) is explained
    curves = _synthetic()
    reason = "spiked on the full stream"
    esen = dataclasses.replace(p.archs["esen"], lr=1e-2, warmup_steps=0, lr_reason=reason)
    custom = dataclasses.replace(p, archs={**p.archs, "esen": esen})
    _, table = tuning.fig_tuning(curves, preset=custom)
    row = table[table["quantity"].str.startswith(tuning.ARCH_LABELS["esen"])].iloc[0]
    assert "DIFFERS from the sweep's optimum: " + reason in row["note"]


def test_grad_clip_reaches_every_study_but_the_tuning_sweep():
    """ArchScale.grad_clip (GemNet-OC at cpu) is in the main study's configs; the η* sweep stays unclipped."""
    from nnip.paper import main

    p = presets.get("cpu")
    assert p.archs["gemnet_oc"].grad_clip == p.archs["egnn"].grad_clip == 10.0 and p.archs["mpnn"].grad_clip is None
    gem = expand(main.main_spec("gemnet_oc"), "cpu")
    assert gem and all(c.optim.grad_clip == 10.0 for c in gem)
    assert all(c.optim.grad_clip is None for c in expand(main.main_spec("mpnn"), "cpu"))
    assert all(c.optim.grad_clip is None for c in expand(tuning.tuning_spec("cpu", "gemnet_oc"), "cpu"))
