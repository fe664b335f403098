"""The command line answers --help for itself and for every command it lists."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jaxpelsvae.cli import build_parser


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "COMMAND" in out


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


def test_simulate_train_vae_fit_generator_synthesize_chain(tmp_path):
    """The generator's command chain end to end on one split's train part (each fit records its stars),
    with the synthesized set read back as a dataset."""
    import json

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
                 "--seq-length", "24"]) == 0
    assert read_provenance(work / "generator") == train_ids
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
