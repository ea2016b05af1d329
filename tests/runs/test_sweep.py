"""Sweeps: expansion, cache hits, failures recorded while the sweep goes on, the submitit path, the CLIs."""

import json

import pytest
import yaml

from nnip.runs import RunStore
from nnip.sweep import SweepJob, SweepSpec, expand, load_preset, missing, run_sweep, sweep_cli
from nnip.train import ConfigError, train_cli
from tests.train.conftest import STANDIN


@pytest.fixture
def preset(ethanol_small):
    return {
        "name": "t", "molecules": str(ethanol_small), "materials": "m.xyz", "n_val": 12, "fractions": (0.5, 1.0),
        "n_evals": 3, "max_train": None,
        "archs": {STANDIN: {"widths": [{"hidden_dim": 4}, {"hidden_dim": 8}], "batch_size": 8, "lr": 2e-3,
                            "extra": {"num_radial": 6}}},
    }


def test_expand(preset):
    spec = {"name": "s", "archs": [STANDIN], "grid": {"loss.symmetry_m": [0, 2]}, "base": {"eval": {"tta_m": 1}},
            "tags": ["fig7"]}
    cfgs = expand(spec, preset)
    assert len(cfgs) == 4 and len({c.run_id() for c in cfgs}) == 4
    c = cfgs[0]
    assert c.model.hparams == {"num_radial": 6, "hidden_dim": 4} and c.train.batch_size == 8 and c.optim.lr == 2e-3
    assert c.optim.mup and c.eval.tta_m == 1 and c.eval.log_points == 3 and c.data.n_val == 12
    assert c.data.fraction == 1.0 and c.tags == ("fig7", "s")
    assert [x.loss.symmetry_m for x in cfgs] == [0, 2, 0, 2]
    ep = expand({"archs": [STANDIN], "regime": "epochs", "models": [{"name": STANDIN, "hparams": {"hidden_dim": 16}}]},
                {**preset, "epochs": 3})
    assert [(x.model.hparams["hidden_dim"], x.data.fraction) for x in ep] == [
        (4, 0.5), (4, 1.0), (8, 0.5), (8, 1.0), (16, 0.5), (16, 1.0)]
    assert all(x.train.max_epochs == 3 and x.train.regime == "epochs" for x in ep)
    mat = expand({"archs": [STANDIN], "dataset": "materials"}, {**preset, "materials": "m.xyz"})
    assert mat[0].loss.recipe == "materials" and mat[0].model.hparams["stress"] is True
    with pytest.raises(ConfigError, match="unknown sweep spec key"):
        SweepSpec.from_dict({"archz": []})
    with pytest.raises(ConfigError, match="not in the preset"):
        expand({"archs": ["nope"]}, preset)


def test_local_sweep_records_failures_and_skips_finished_runs(tmp_path, preset):
    spec = {"name": "s", "models": [{"name": STANDIN, "hparams": [{"hidden_dim": 4}, {"hidden_dim": 4, "nan_output": True},
                                                                  {"hidden_dim": 4, "no_such": 1}]}]}
    df = run_sweep(spec, preset, tmp_path, progress=False)
    assert df["status"].tolist() == ["done", "failed", "failed"]
    assert df["reason"].iloc[1].startswith("diverged") and "no_such" in df["reason"].iloc[2]
    assert len(missing(spec, preset, tmp_path)) == 1  # the exception (not divergence) is retried
    again = run_sweep(spec, preset, tmp_path, progress=False)
    assert again["cached"].iloc[0] and again["cached"].iloc[1]
    assert len(RunStore(tmp_path).summaries()) == 3


def test_submitit_path_with_the_local_executor(tmp_path, preset):
    spec = {"name": "s", "archs": [STANDIN]}
    df = run_sweep(spec, {**preset, "archs": {STANDIN: {**preset["archs"][STANDIN], "widths": [{"hidden_dim": 4}]}}},
                   tmp_path, executor="slurm", slurm={"cluster": "local", "time": 10, "array_parallelism": 2},
                   progress=False)
    assert df["status"].tolist() == ["done"]
    assert list((tmp_path / "submitit").iterdir())  # the job's logs
    # preemption: submitit calls checkpoint() and requeues the same call, which resumes the run
    job = SweepJob(str(tmp_path))
    delayed = job.checkpoint({"a": 1})
    assert delayed.function is job and delayed.args == ({"a": 1},)


def test_clis(tmp_path, config_factory, preset, capsys, monkeypatch):
    cfg = config_factory()
    path = tmp_path / "run.yaml"
    cfg.to_yaml(path)
    assert train_cli([str(path), "--store", str(tmp_path / "s"), "--set", "train.max_steps=3", "-q"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "done" and out["steps"] == 3
    assert train_cli([str(path), "--print-config"]) == 0
    assert f"# run id {cfg.run_id()}" in capsys.readouterr().out
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "c", "archs": [STANDIN]}))
    import nnip.presets

    monkeypatch.setattr(nnip.presets, "get", lambda name: preset)
    assert sweep_cli([str(spec), "--preset", "t", "--store", str(tmp_path / "sw"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("pending" in l for l in lines)


def test_a_preset_is_typed_whatever_it_is_given_as(preset):
    from nnip.presets import Preset, get, resolve

    typed = load_preset(preset)
    assert isinstance(typed, Preset) and typed.archs[STANDIN].batch_size == 8 and load_preset(None) is None
    spec = {"name": "s", "archs": [STANDIN]}
    assert [c.run_id() for c in expand(spec, typed)] == [c.run_id() for c in expand(spec, preset)]
    main = {"name": "main", "archs": ["mpnn", "esen"]}
    assert [c.run_id() for c in expand(main, get("tiny"))] == [c.run_id() for c in expand(main, "tiny")]
    assert resolve(get("cpu")) is get("cpu")
    with pytest.raises(TypeError, match="unknown field 'widthz'"):
        resolve({**preset, "archs": {STANDIN: {"widthz": []}}})
