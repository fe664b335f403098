"""jaxpelsvae.cli.experiment: command-line options build the nested experiment config."""
from __future__ import annotations

import pytest

from jaxpelsvae.errors import ConfigError


def test_experiment_cli_options_build_the_config(tmp_path):
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.experiment import config_from_args
    from jaxpelsvae.experiments.config import preset

    args = build_parser().parse_args([
        "experiment", str(tmp_path), "--preset", "tiny", "--seeds", "4", "--temperature", "2.5", "--modes", "baseline",
        "--vmap-seeds", "--seq-length", "64", "--quiet", "--hardness-target", "RRLYR",
    ])
    cfg, sweep = config_from_args(args)
    assert sweep is None and cfg.seeds == 4 and cfg.shift.temperature == 2.5 and cfg.modes == ("baseline",)
    assert cfg.shift.hardness_target == "RRLYR" and preset("tiny").shift.hardness_target is None
    assert cfg.vmap_seeds and cfg.seq_length == 64 and not cfg.progress and cfg.preset == "tiny"
    # without --quiet the tiny preset shows its progress like any other
    assert config_from_args(build_parser().parse_args(["experiment", str(tmp_path), "--preset", "tiny"]))[0].progress
    with pytest.raises(ConfigError):
        preset_cfg = config_from_args(build_parser().parse_args(["experiment", str(tmp_path), "--modes", "nope"]))
        del preset_cfg


def test_experiment_cli_options_set_the_nested_configs(tmp_path):
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.experiment import config_from_args
    from jaxpelsvae.experiments.config import preset

    args = build_parser().parse_args([
        "experiment", str(tmp_path), "--preset", "small", "--epochs", "7", "--vae-epochs", "3", "--loss", "nll",
        "--ranking", "CCR", "--regulator", "decay_parameter_2=0.4", "--regulator", "proportion_range=[2,5]",
        "--classifier", "cnn", "--no-augment", "--synthetic-periods", "true",
    ])
    cfg, _ = config_from_args(args)
    small = preset("small")
    assert (cfg.regulator.epochs, cfg.regulator.ranking_method, cfg.regulator.decay_parameter_2) == (7, "CCR", 0.4)
    assert cfg.regulator.proportion_range == (2, 5) and cfg.regulator.patience == small.regulator.patience
    assert cfg.vae_train.epochs == 3 and cfg.vae_train.batch_size == small.vae_train.batch_size
    assert cfg.train.loss == "nll" and cfg.train.synthetic_periods == "true" and cfg.train.batch_size == 64
    assert cfg.classifiers == ("cnn",) and not cfg.augment and cfg.vae == small.vae
    run = cfg.train_config(50, "selfreg")
    assert run.regulator == cfg.regulator and run.seq_length == 50 and run.resample_pairs and not run.augment
