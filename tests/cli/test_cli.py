"""The command line answers --help for itself and for every command it lists."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from jaxpelsvae import cli
from jaxpelsvae.cli import build_parser

# The commands of the CLI contract (DESIGN.md) this checkout provides; extend it with each new command.
CONTRACT_COMMANDS = (
    "simulate", "period", "train-vae", "fit-generator", "synthesize", "train", "evaluate", "predict", "experiment",
    "demo", "split", "check-generator",
)


def _commands(parser) -> dict:
    return parser._subparsers._group_actions[0].choices  # noqa: SLF001


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "COMMAND" in out


def test_the_contract_commands_are_all_there():
    assert sorted(_commands(build_parser())) == sorted(CONTRACT_COMMANDS)


def test_a_command_that_fails_to_import_is_an_error(monkeypatch):
    # A missing or broken command module must stop the tool, not leave a shorter command list.
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "no_such_command"))
    with pytest.raises(ModuleNotFoundError, match="no_such_command"):
        build_parser()


def test_every_command_has_help_with_seed_and_workdir(capsys):
    parser = build_parser()
    names = [a for a in parser._subparsers._group_actions[0].choices]  # noqa: SLF001
    assert names, "no commands registered"
    for name in names:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        out = capsys.readouterr().out
        assert "--seed" in out and "--workdir" in out, name


def test_python_dash_m_runs():
    res = subprocess.run([sys.executable, "-m", "jaxpelsvae", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "jaxpelsvae" in res.stdout


def test_every_option_of_every_command_is_described():
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():  # noqa: SLF001
        for action in sub._actions:  # noqa: SLF001
            if action.dest != "help":
                assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"


def test_simulate_train_vae_fit_generator_synthesize_chain(tmp_path, capsys):
    """The generator's command chain end to end on one split's train part (each fit records its stars),
    with the synthesized set read back as a dataset."""
    import json
    from unittest.mock import ANY

    import numpy as np

    from jaxpelsvae.cli import main
    from jaxpelsvae.data import read_dataset
    from jaxpelsvae.data.provenance import read_provenance
    from jaxpelsvae.data.split import read_split

    work = tmp_path / "w"
    common = ["--workdir", str(work)]
    assert main(["simulate", *common, "--counts", "CEP=12,ECL=12,RRLYR=12", "--cadence", "gaia"]) == 0
    data = str(work / "simulated")
    split = str(work / "split.csv")
    assert main(["split", data, *common, "--scenario", "random", "--out", split]) == 0
    table = read_split(split)
    train_ids = set(table.loc[table["part"] == "train", "id"])
    assert 0 < len(train_ids) < 36
    assert main(["train-vae", data, *common, "--split", split, "--units", "8", "--levels", "7", "--latent", "3",
                 "--epochs", "1", "--batch-size", "16", "--no-progress"]) == 0
    assert read_provenance(work / "vae") == train_ids
    assert main(["fit-generator", data, *common, "--split", split, "--vae", str(work), "--latent-model", "mlp",
                 "--seq-length", "24", "--realism-per-class", "4"]) == 0
    assert read_provenance(work / "generator") == train_ids
    # the realism report of the generator on the split's val part, as check-generator writes it
    val_ids = set(table.loc[table["part"] == "val", "id"])
    realism = json.loads((work / "generator" / "realism.json").read_text())
    assert realism["n_real"] == len(val_ids) and realism["n_synthetic"] == 12
    assert realism["copy_control"]["n_stars"] >= 1  # the training stars drawn, from the split's train part
    check = tmp_path / "check"
    assert main(["check-generator", data, "--generator", str(work), "--split", split, "--per-class", "4",
                 "--workdir", str(check)]) == 0
    assert json.loads((check / "realism.json").read_text()) == {**realism, "seconds": ANY}
    assert (check / "realism.png").stat().st_size > 0
    # every star of the dataset: the generator's own stars among them are refused
    assert main(["check-generator", data, "--generator", str(work), "--per-class", "4", "--workdir", str(check)]) == 2
    assert f"{len(train_ids)} of the 36 stars judged are stars the generator" in capsys.readouterr().err
    assert json.loads((work / "vae_summary.json").read_text())["n_stars"] == len(train_ids)
    out = tmp_path / "synth"
    assert main(["synthesize", *common, "--generator", str(work), "--out", str(out), "--counts", "CEP=2,RRLYR=3",
                 "--repeats", "3", "--b", "0.8"]) == 0
    lcs = read_dataset(out)
    assert len(lcs) == 15
    assert sorted(lcs.meta["class"].value_counts().items()) == [("CEP", 6), ("RRLYR", 9)]
    # three curves per template, on different donor cadences or draws, same period
    groups = lcs.meta.groupby("template")
    assert groups.ngroups == 5 and (groups.size() == 3).all()
    assert (groups["period"].nunique() == 1).all()
    assert json.loads((out / "synthesis.json").read_text())["repeats"] == 3
    assert np.isfinite(lcs.mag).all()
    # each curve names the real training star whose cadence and errors it carries, not a bank row
    assert set(lcs.meta["donor"].astype(str)) <= train_ids
    # Same generator, same seed: the same bytes in every file (gzip header included).
    again = tmp_path / "synth_again"
    assert main(["synthesize", *common, "--generator", str(work), "--out", str(again), "--counts", "CEP=2,RRLYR=3",
                 "--repeats", "3", "--b", "0.8"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(p.name for p in again.iterdir()) and "lightcurves.csv.gz" in files
    for name in files:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


# What a help text uses to state a default: "(default 500)", "(default: 500)", "when omitted: ...".
_DEFAULT_STATED = re.compile(r"\(default\b|\bdefault:|\bwhen omitted\b", re.IGNORECASE)


def _option_help(sub, action) -> str:
    """One option's help text as `--help` prints it, on one line."""
    return " ".join(sub._get_formatter()._expand_help(action).split())  # noqa: SLF001


def _options():
    for name, sub in _commands(build_parser()).items():
        for action in sub._actions:  # noqa: SLF001
            if action.dest != "help" and action.help:
                yield name, sub, action


def test_help_shows_each_default_once():
    for name, sub, action in _options():
        text, where = _option_help(sub, action), f"{name} {'/'.join(action.option_strings) or action.dest}"
        assert "(default: None)" not in text, where
        assert len(_DEFAULT_STATED.findall(text)) <= 1, f"{where}: {text}"
        if action.default is not None and action.default is not False and action.default != argparse.SUPPRESS:
            # An option with a value of its own shows it (appended, or written in its help).
            assert len(_DEFAULT_STATED.findall(text)) == 1, f"{where}: {text}"
    full = subprocess.run([sys.executable, "-m", "jaxpelsvae", "train", "--help"], capture_output=True,
                          text=True).stdout
    assert "(default: None)" not in full and "(default 40)" in " ".join(full.split())


def test_defaults_written_in_help_are_the_real_ones():
    """Options whose None means "the config's value" state that value; it must be the config's."""
    from jaxpelsvae.cli import train
    from jaxpelsvae.data.validate import DEFAULT_MIN_POINTS
    from jaxpelsvae.train.classifier import TrainConfig

    config = TrainConfig()
    real = {f"--{opt.replace('_', '-')}": getattr(config, field)
            for opt, field in train._TRAIN_OPTIONS.items()}  # noqa: SLF001
    real |= {f"--{opt.replace('_', '-')}": getattr(config.regulator, field)
             for opt, field in train._REGULATOR_OPTIONS.items()}  # noqa: SLF001
    checked = 0
    for name, sub, action in _options():
        if action.default is not None:
            continue
        stated = re.search(r"\(default:? ([^()]+)\)", _option_help(sub, action))
        option = action.option_strings[0] if action.option_strings else action.dest
        if option == "--min-points":
            expected = DEFAULT_MIN_POINTS
        elif name == "train" and option in real and not isinstance(real[option], bool):
            expected = real[option]
        else:
            continue
        assert stated is not None, f"{name} {option}: the help does not say its default ({expected})"
        assert stated.group(1) == str(expected), f"{name} {option}: help says {stated.group(1)}, really {expected}"
        checked += 1
    assert checked >= 12


def test_period_options_default_to_the_period_config():
    from jaxpelsvae.period.search import PeriodConfig

    sub = _commands(build_parser())["period"]
    defaults = {a.dest: a.default for a in sub._actions}  # noqa: SLF001
    config = PeriodConfig()
    fields = {"min_period": "min_period", "max_period": "max_period", "oversampling": "oversampling",
              "nterms": "nterms", "candidates": "n_candidates", "refine": "refine", "double_test": "double_test",
              "double_margin": "double_margin", "period_prior": "period_prior", "min_points": "min_points",
              "batch_size": "batch_size"}
    for dest, field in fields.items():
        assert defaults[dest] == getattr(config, field), dest


def test_fit_generator_lines_agree_in_number():
    from jaxpelsvae.cli.fit_generator import mixture_line

    assert mixture_line("CEP", {"n_fit": 1, "n_components": 1, "imputed": {"teff": 0}}) == \
        "CEP: 1 star in the mixture (1 component); imputed none"
    assert "12 stars in the mixture (3 components)" in mixture_line("ECL", {"n_fit": 12, "n_components": 3, "imputed": {}})


def test_demo_shows_the_main_classifier_on_a_survey_sized_for_minutes():
    # The demo runs in minutes on 2 cores: the preset's main classifier only, on 1,000 stars; the
    # original CNN is an option (--classifier folded,cnn).
    from jaxpelsvae.cli.demo import DEMO_COUNTS, demo_counts
    from jaxpelsvae.experiments.config import preset

    args = build_parser().parse_args(["demo"])
    assert args.classifier == preset("small").classifiers[0] == "folded"
    assert sum(demo_counts(None).values()) == sum(DEMO_COUNTS.values()) == 1000
    assert build_parser().parse_args(["demo", "--classifier", "folded,cnn"]).classifier == "folded,cnn"


def test_split_options_set_the_bias_1_hardness():
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.split import shift_config_from_args

    args = build_parser().parse_args(["split", "DATA", "--temperature", "4", "--hardness-target", "RRLYR"])
    shift, _, _ = shift_config_from_args(args)
    assert shift.scenario == "hardness" and shift.temperature == 4.0 and shift.hardness_target == "RRLYR"
    assert shift_config_from_args(build_parser().parse_args(["split", "DATA"]))[0].hardness_target is None
