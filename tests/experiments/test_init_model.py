"""`ExperimentConfig.init_model`: runs of the saved model's classifier start from its weights; mismatches are clear errors."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.experiments.runs import init_variables
from jaxpelsvae.train.classifier import TrainConfig, build_model, load_model, save_model
from jaxpelsvae.train.state import split_model

CLASSES = ["CEP", "ECL", "RRLYR"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    config = TrainConfig(classifier="folded")
    _, params, rest = split_model(build_model(len(CLASSES), config, jax.random.key(3)))
    path = tmp_path_factory.mktemp("init") / "model"
    save_model(path, params, rest, {"config": config.to_dict(), "classes": CLASSES, "best_epoch": 0})
    return path, config


def test_the_runs_of_the_saved_classifier_start_from_its_weights(saved):
    path, config = saved
    assert init_variables(None, "folded", config, CLASSES) is None
    params, rest = init_variables(str(path), "folded", config, CLASSES)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(load_model(path)[1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert init_variables(str(path), "cnn", TrainConfig(classifier="cnn"), CLASSES) is None  # another classifier


def test_a_subset_of_classes_keeps_their_outputs(saved):
    path, config = saved
    params, _ = init_variables(str(path), "folded", config, ["RRLYR", "CEP"])
    full = load_model(path)[1]
    np.testing.assert_array_equal(np.asarray(params["fc2"]["kernel"][...]),
                                  np.asarray(full["fc2"]["kernel"][...])[:, [2, 0]])
    np.testing.assert_array_equal(np.asarray(params["fc2"]["bias"][...]), np.asarray(full["fc2"]["bias"][...])[[2, 0]])


def test_other_classes_or_sizes_are_refused(saved):
    path, config = saved
    with pytest.raises(ConfigError, match="not among the model's"):
        init_variables(str(path), "folded", config, ["CEP", "MIRA"])
    wider = dataclasses.replace(config, backbone_overrides=(("hidden", 32),))
    with pytest.raises(ConfigError, match=r"other weight shapes.*fc"):
        init_variables(str(path), "folded", wider, CLASSES)


def test_settings_that_keep_every_shape_are_accepted(saved):
    """Augmentation settings change training, not the weights."""
    path, config = saved
    other_view = dataclasses.replace(config, view_overrides=(("noise", 1.0), ("phase_jitter", False)))
    params, _ = init_variables(str(path), "folded", other_view, CLASSES)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(load_model(path)[1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_pretrained_names_the_shipped_model():
    from jaxpelsvae.experiments.pretrained import CLASSES as SHIPPED, experiment_config

    tcfg = experiment_config().train_config(52, "baseline", "multifold")
    params, _ = init_variables("pretrained", "multifold", tcfg, list(SHIPPED))
    assert jax.tree.leaves(params)
