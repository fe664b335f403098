"""`ExperimentConfig.classes` / `experiment --classes`: train and test on chosen classes, and the
warning when a cross-survey test set lacks classes the classifier was trained on."""
from __future__ import annotations

import json

import pytest

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.experiments import runner
from jaxpelsvae.experiments.config import ExperimentConfig, preset

SHARED = ("CEP", "ECL", "LPV", "RRLYR")  # the classes of the other survey: no DSCT


@pytest.fixture(scope="module")
def other_survey():
    from jaxpelsvae.simulate import simulate_survey

    return simulate_survey({c: 8 for c in SHARED}, cadence="ogle", seed=2)


def _config(**changes):
    # resample_pairs hands the training curves themselves to the run, so their classes can be read.
    return preset("tiny").replace(figures=False, seeds=1, modes=("baseline",), resample_pairs=True, **changes)


def test_classes_are_parsed_checked_and_round_trip():
    cfg = ExperimentConfig().replace(classes="CEP, ECL,LPV")
    assert cfg.classes == ("CEP", "ECL", "LPV")
    assert ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert ExperimentConfig().classes is None
    for bad in (("CEP", "CEP"), ()):
        with pytest.raises(ConfigError, match="classes"):
            ExperimentConfig(classes=bad)


def test_keep_classes_counts_what_it_leaves_out_and_refuses_unknown_training_classes(survey):
    kept, left = runner.keep_classes(survey, ("RRLYR", "CEP"), "dataset", strict=True)
    assert kept.classes == ("CEP", "RRLYR")  # the dataset's order, whatever the order asked
    assert set(kept.meta["class"]) == {"CEP", "RRLYR"} and len(kept) == 32
    assert left == {"DSCT": 16, "ECL": 16, "LPV": 16}
    with pytest.raises(DataError, match="no star of MIRA.*CEP, DSCT"):
        runner.keep_classes(survey, ("CEP", "MIRA"), "dataset", strict=True)
    # a test dataset may lack a chosen class
    kept, left = runner.keep_classes(survey, ("CEP", "MIRA"), "test dataset", strict=False)
    assert len(kept) == 16 and sum(left.values()) == 64


def test_cross_survey_without_classes_warns_and_with_them_trains_on_the_shared_ones(
        survey, other_survey, trained, tmp_path, capsys):
    result = runner.run_experiment(survey, _config(), tmp_path / "all", test_data=other_survey,
                                   vae_generator_fn=lambda *a: (None, {}))
    warning = capsys.readouterr().err
    assert "DSCT" in warning and "--classes CEP,ECL,LPV,RRLYR" in warning
    assert result.report["split"]["class_mismatch"] in warning
    assert "--classes CEP,ECL,LPV,RRLYR" in (tmp_path / "all" / "report.md").read_text()
    assert trained[-1].classes == ("CEP", "DSCT", "ECL", "LPV", "RRLYR")

    result = runner.run_experiment(survey, _config(classes=SHARED), tmp_path / "shared", test_data=other_survey,
                                   vae_generator_fn=lambda *a: (None, {}))
    assert "warning" not in capsys.readouterr().err
    assert trained[-1].classes == SHARED
    assert "DSCT" not in set(trained[-1].train_set.meta["class"])
    ds, split = result.report["dataset"], result.report["split"]
    assert ds["classes"] == list(SHARED) and ds["classes_selected"] == list(SHARED)
    assert ds["n_left_out_by_classes"] == {"data": 16, "test": 0}
    assert "class_mismatch" not in split and split["classes_missing_in_test"] == []
    assert "left out: dataset DSCT (16 stars)" in (tmp_path / "shared" / "report.md").read_text()


def test_the_cli_passes_classes(tmp_path):
    import argparse

    from jaxpelsvae.cli import experiment

    parser = argparse.ArgumentParser()
    experiment.add_arguments(parser)
    args = parser.parse_args(["data", "--classes", "CEP,ECL,LPV,RRLYR", "--preset", "tiny"])
    cfg, _ = experiment.config_from_args(args)
    assert cfg.classes == SHARED


def test_a_test_dataset_sharing_star_ids_runs_with_a_warning(survey, trained, tmp_path, capsys):
    # Two surveys may number their stars alike: the run goes on, split.csv lists such an id in both parts.
    import pandas as pd

    result = runner.run_experiment(survey, _config(), tmp_path / "same", test_data=survey,
                                   vae_generator_fn=lambda *a: (None, {}))
    assert "shares 80 star ids" in capsys.readouterr().err
    split = pd.read_csv(tmp_path / "same" / "split.csv", dtype=str)
    assert split["id"].duplicated().sum() == len(result.splits["train"]) + len(result.splits["val"])
