"""TrainConfig: strict round trips, overrides, run ids."""

import json

import pytest
import yaml

from nnip.train import RECIPES, ConfigError, TrainConfig


def _cfg(**kw):
    return TrainConfig.from_dict({"model": {"name": "mpnn", "hparams": {"hidden_dim": 32}}, "data": {"source": "a.xyz"}, **kw})


def test_yaml_and_json_round_trip(tmp_path):
    cfg = _cfg(tags=["a", "b"]).override(["optim.betas=[0.9, 0.99]"])
    assert TrainConfig.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    assert TrainConfig.from_file(path) == cfg
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert TrainConfig.from_file(tmp_path / "c.json") == cfg


@pytest.mark.parametrize(
    "bad, key",
    [({"optim": {"lrr": 1}}, "optim.lrr"), ({"trian": {}}, "trian"), ({"data": {"source": "a", "fractoin": 1}}, "data.fractoin")],
)
def test_unknown_keys_are_errors_naming_the_key(bad, key):
    d = {"data": {"source": "a.xyz"}, **bad}
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        TrainConfig.from_dict(d)


def test_overrides_parse_values_and_reject_unknown_keys():
    cfg = _cfg().override(["optim.lr=1e-3", "train.batch_size=16", "model.hparams.num_layers=3", "train.augment=true"])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.train.batch_size == 16 and cfg.train.augment is True
    assert cfg.model.hparams == {"hidden_dim": 32, "num_layers": 3}
    with pytest.raises(ConfigError, match="optim.lrr"):
        cfg.override(["optim.lrr=1"])
    with pytest.raises(ConfigError, match="train.batch_size"):
        cfg.override(["train.batch_size=abc"])
    with pytest.raises(ConfigError, match="key=value"):
        cfg.override(["optim.lr"])


def test_validation_of_choices_and_data():
    with pytest.raises(ConfigError, match="train.regime"):
        _cfg(train={"regime": "forever"})
    with pytest.raises(ConfigError, match="exactly one"):
        TrainConfig.from_dict({"data": {"source": "a", "name": "xtb-mols"}})
    with pytest.raises(ConfigError, match="fraction"):
        _cfg().override({"data.fraction": 0.0})


def test_run_id_excludes_runtime_and_tags_but_not_amp_or_options():
    cfg = _cfg()
    assert cfg.run_id() == _cfg().run_id() and len(cfg.run_id()) == 12
    assert cfg.override({"runtime.device": "cuda", "runtime.num_workers": 4, "tags": ["x"]}).run_id() == cfg.run_id()
    for change in ({"train.amp": "bf16"}, {"data.fraction": 0.5}, {"loss.symmetry_m": 5}, {"optim.lr": 5e-4}):
        assert cfg.override(change).run_id() != cfg.run_id(), change
    # resolution: explicit recipe weights equal to the defaults give the same run
    assert cfg.override({"loss.energy_weight": 1.0}).run_id() == cfg.run_id()


def test_recipes_resolve_weights():
    r = _cfg(loss={"recipe": "materials"}).resolved().loss
    assert (r.energy_weight, r.force_weight, r.stress_iso_weight, r.stress_aniso_weight) == (2.5, 20.0, 5.0, 5.0)
    r = _cfg(loss={"recipe": "materials", "force_weight": 10}).resolved().loss
    assert r.force_weight == 10.0 and r.energy_weight == RECIPES["materials"]["energy_weight"]
    assert _cfg().resolved().eval.batch_size == 64
