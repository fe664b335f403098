"""jaxpelsvae.experiments.config: the nested ExperimentConfig, its presets and the flat names of earlier versions."""
from __future__ import annotations

import json

import pytest

from jaxpelsvae.errors import ConfigError


@pytest.mark.parametrize("name", ["tiny", "small", "paper"])
def test_experiment_config_nests_and_roundtrips_json(name):
    from jaxpelsvae.experiments.config import ExperimentConfig, preset

    cfg = preset(name)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert ExperimentConfig.from_dict(d) == cfg
    assert d["train"]["regulator"]["epochs"] == cfg.regulator.epochs and d["train"]["learning_rate"] == cfg.train.learning_rate
    # each setting in one place: the regulator and the view settings live in `train` only
    assert not {"regulator", "augment", "resample_pairs"} & set(d)
    # what every run sets itself is not written: report.json's train_config holds the runs' values
    assert "mode" not in d["train"] and "classifier" not in d["train"] and "num_classes" not in d["vae"]
    assert not any(key.endswith("_overrides") for key in d)


def test_flat_config_of_earlier_versions_maps_onto_the_nested_one():
    from jaxpelsvae.experiments.config import ExperimentConfig, preset

    flat = {"epochs": 5, "learning_rate": 0.01, "vae_epochs": 3, "vae_overrides": {"units": 16},
            "regulator_overrides": {"decay_parameter_2": 0.46}, "shift_temperature": 2.0,
            "period_overrides": {"nterms": 2}, "view_overrides": {"bins": 32}}
    nested = {"regulator": {"epochs": 5, "decay_parameter_2": 0.46}, "train": {"learning_rate": 0.01,
              "view_overrides": {"bins": 32}}, "vae_train.epochs": 3, "vae": {"units": 16},
              "shift.temperature": 2.0, "period": {"nterms": 2}}
    cfg = ExperimentConfig.from_dict(flat)
    assert cfg == ExperimentConfig.from_dict(nested)
    assert cfg.regulator.epochs == 5 and cfg.regulator.patience == ExperimentConfig().regulator.patience
    assert cfg.train.view_overrides == (("bins", 32),) and cfg.vae.units == 16 and cfg.period.nterms == 2
    # a nested object changes only the fields it gives
    tiny = preset("tiny").replace(regulator={"eps": 0.2})
    assert tiny.regulator.eps == 0.2 and tiny.regulator.epochs == preset("tiny").regulator.epochs
    with pytest.raises(ConfigError, match='"vae": {'):
        ExperimentConfig.from_dict({"vae_overrides": [["units", 16]]})


@pytest.mark.parametrize("changes, message", [
    ({"train": {"mode": "baseline"}}, "train.mode is set for each run"),
    ({"vae.num_classes": 3}, "vae.num_classes is set for each run"),
    ({"train": {"classifier": "folded"}}, "train.classifier is set for each run"),
    ({"regulator": {"nope": 1}}, r"unknown RegulatorConfig settings \['nope'\]"),
    ({"nope": 1}, r"unknown ExperimentConfig settings \['nope'\]"),
])
def test_experiment_config_refuses_unknown_and_per_run_settings(changes, message):
    from jaxpelsvae.experiments.config import preset

    with pytest.raises(ConfigError, match=message):
        preset("tiny").replace(**changes)


def test_the_run_settings_named_at_the_top_are_the_ones_in_train():
    from jaxpelsvae.experiments.config import preset

    tiny = preset("tiny")
    assert tiny.replace(regulator={"epochs": 3}) == tiny.replace(train={"regulator": {"epochs": 3}})
    assert tiny.replace(**{"regulator.eps": 0.2}).train.regulator.eps == 0.2
    both = tiny.replace(augment=True, resample_pairs=True, classifiers=("folded", "cnn"))
    assert both.train.augment and both.train.resample_pairs
    folded, cnn = both.train_config(64, "baseline", "folded"), both.train_config(64, "baseline", "cnn")
    assert folded.augment and not folded.resample_pairs  # each classifier's run keeps what applies to it
    assert cnn.resample_pairs and not cnn.augment and cnn.view_overrides == ()


def test_a_setting_given_at_the_top_and_inside_train_is_refused():
    from jaxpelsvae.experiments.config import preset

    tiny = preset("tiny")
    with pytest.raises(ConfigError, match="regulator is given at the top and inside train"):
        tiny.replace(train={"regulator": {"eps": 0.3}}, regulator={"epochs": 7})
    with pytest.raises(ConfigError, match="name the same setting"):
        tiny.replace(**{"train.augment": True, "augment": False})
    # a dotted path into the same nested object still merges
    both = tiny.replace(train={"regulator": {"eps": 0.3}}, **{"regulator.epochs": 7})
    assert (both.regulator.eps, both.regulator.epochs) == (0.3, 7)
