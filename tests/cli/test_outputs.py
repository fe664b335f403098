"""Outputs are checked before any work (one-line errors, exit code 2) and a workdir takes one command at a time."""
from __future__ import annotations

import fcntl
import json
import signal
import subprocess
import sys

import pytest

from jaxpelsvae.cli import main

# Every command that writes into --workdir, with the least arguments it parses (DATA, --model and
# the like need not exist: the workdir is claimed before they are read).
WORKDIR_COMMANDS = {
    "simulate": [],
    "period": ["data"],
    "split": ["data"],
    "train-vae": ["data"],
    "fit-generator": ["data", "--vae", "vae"],
    "check-generator": ["data", "--generator", "gen"],
    "train": ["data"],
    "evaluate": ["data", "--model", "model"],
    "predict": ["data", "--model", "model", "--out", "p.csv"],
    "experiment": ["data"],
    "demo": [],
}


def _hold(lock_file):
    """The lock file open with its lock taken, as a running command holds it."""
    handle = open(lock_file, "a+")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


@pytest.mark.parametrize("command", sorted(WORKDIR_COMMANDS))
def test_a_busy_workdir_stops_the_command_at_once(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    wd = tmp_path / "wd"
    wd.mkdir()
    holder = _hold(wd / ".lock")
    try:
        rc = main([command, *WORKDIR_COMMANDS[command], "--workdir", str(wd)])
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert rc == 2 and f"--workdir {wd} is in use by another jaxpelsvae command" in err, err
    assert err.count("\n") == 1
    assert sorted(p.name for p in wd.iterdir()) == [".lock"]  # nothing written


def test_the_lock_goes_with_the_process_that_held_it(tmp_path, capsys):
    """A killed command leaves no stale lock: the system frees it with the process."""
    wd = tmp_path / "wd"
    wd.mkdir()
    code = ("import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(wd / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["simulate", "--n-stars", "10", "--workdir", str(wd)]
        assert main(args) == 2
        assert "is in use" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(args) == 0
    assert (wd / "simulated" / "meta.csv").is_file()
    assert main(args) == 0  # and a finished command frees it too


def _bad_output(tmp_path, case):
    """(arguments, the message expected) for an output that cannot be used."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    (tmp_path / "a_folder").mkdir()
    wd = ["--workdir", str(tmp_path / "wd")]
    return {
        "workdir is a file": (["simulate", "--workdir", str(a_file)], f"--workdir {a_file} cannot be written: "
                                                                      "it is a file, not a folder"),
        "workdir under a file": (["train", "data", "--workdir", str(a_file / "wd")],
                                 f"--workdir {a_file / 'wd'} cannot be written: a parent of it is a file"),
        "workdir not writable": (["train", "data", "--workdir", "/sys/jaxpelsvae_wd"],
                                 "--workdir /sys/jaxpelsvae_wd cannot be written: Operation not permitted"),
        "out dir is a file": (["simulate", "--out", str(a_file), *wd],
                              f"--out {a_file} cannot be written: it is a file, not a folder"),
        "out file is a folder": (["predict", "data", "--model", "m", "--out", str(tmp_path / "a_folder"), *wd],
                                 f"--out {tmp_path / 'a_folder'} is a folder; give a file name"),
        "out file under a file": (["period", "data", "--out", str(a_file / "p.csv"), *wd],
                                  f"--out {a_file / 'p.csv'} cannot be written: its folder {a_file}: "
                                  "it is a file, not a folder"),
        "out file not writable": (["split", "data", "--out", "/sys/jaxpelsvae/split.csv", *wd],
                                  "--out /sys/jaxpelsvae/split.csv cannot be written: its folder "
                                  "/sys/jaxpelsvae: Operation not permitted"),
    }[case]


@pytest.mark.parametrize("case", ["workdir is a file", "workdir under a file", "workdir not writable",
                                  "out dir is a file", "out file is a folder", "out file under a file",
                                  "out file not writable"])
def test_unusable_outputs_are_one_line_errors_before_any_work(tmp_path, capsys, case):
    args, message = _bad_output(tmp_path, case)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny untrained classifier saved as `train` saves one."""
    import jax

    from jaxpelsvae.train.classifier import TrainConfig, build_model, save_model
    from jaxpelsvae.train.state import split_model

    config = TrainConfig(seq_length=32, layers=2)
    _, params, rest = split_model(build_model(3, config, jax.random.key(0)))
    path = tmp_path_factory.mktemp("model") / "model"
    save_model(path, params, rest, {"config": config.to_dict(), "classes": ["A", "B", "C"], "best_epoch": 0})
    return path


def _break(model, case):
    if case == "model.json not JSON":
        (model / "model.json").write_text('{"config": {"seq_len')
        return "model.json: not valid JSON"
    if case == "model.json without classes":
        info = json.loads((model / "model.json").read_text())
        (model / "model.json").write_text(json.dumps({"config": info["config"]}))
        return "model.json: not a classifier description"
    for f in (model / "variables").rglob("*"):  # weights cut short
        if f.is_file() and f.name != "commit_success.txt":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return "checkpoint cannot be read (truncated or corrupted"


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize("case", ["model.json not JSON", "model.json without classes", "truncated weights"])
def test_a_broken_model_is_a_one_line_error_before_the_data_are_read(saved_model, tmp_path, capsys, command, case):
    import shutil

    model = shutil.copytree(saved_model, tmp_path / "model")
    message = _break(model, case)
    args = [command, "--model", str(model), str(tmp_path / "no_such_data"), "--workdir", str(tmp_path / "wd")]
    if command == "predict":
        args += ["--out", str(tmp_path / "p.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "no_such_data" not in err and err.count("\n") == 1, err
