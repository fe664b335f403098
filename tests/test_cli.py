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
