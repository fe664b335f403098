"""Reproducible installs: constraints.txt pins every dependency, and ./run installs from it (and
reinstalls when it or pyproject.toml changes), unless JAXPELSVAE_UNLOCKED=1 asks for the newest."""
from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_dependency_is_pinned_within_its_allowed_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    assert "jaxpelsvae" not in pins  # the project itself is installed from the checkout
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} is outside {req.specifier}"
    assert "jaxlib" in pins  # jax's compiled half is pinned too, or jax alone would not fix the build


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of ./run with the project's files and a stand-in venv whose python logs its arguments."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("run", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, repo / name)
    venv, log = tmp_path / "venv", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    for tool in ("python", "jaxpelsvae"):
        script = venv / "bin" / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        script.chmod(0o755)
    return repo, venv, log


def _run(repo: Path, venv: Path, log: Path, **env) -> list[str]:
    log.write_text("")
    full = {k: v for k, v in os.environ.items() if k != "JAXPELSVAE_UNLOCKED"}
    full |= {"JAXPELSVAE_VENV": str(venv), **env}
    subprocess.run(["bash", str(repo / "run"), "simulate", "--help"], env=full, check=True, capture_output=True)
    # The project's install (not pip's own upgrade): "python -m pip install [-c LOCK] -e REPO[test]".
    return [line for line in log.read_text().splitlines() if "pip install" in line and line.endswith("[test]")]


def test_run_installs_from_the_lock_and_reinstalls_when_it_changes(tmp_path):
    repo, venv, log = _fake_checkout(tmp_path)
    installs = _run(repo, venv, log)
    assert len(installs) == 1 and f"-c {repo}/constraints.txt" in installs[0]
    assert _run(repo, venv, log) == []  # nothing changed: no reinstall
    with (repo / "constraints.txt").open("a") as f:
        f.write("# edited\n")
    assert len(_run(repo, venv, log)) == 1  # the lock changed
    assert _run(repo, venv, log) == []
    (repo / "pyproject.toml").write_text((repo / "pyproject.toml").read_text() + "\n")
    assert len(_run(repo, venv, log)) == 1  # the project's requirements changed
    unlocked = _run(repo, venv, log, JAXPELSVAE_UNLOCKED="1")
    assert len(unlocked) == 1 and "-c " not in unlocked[0]  # upgrading on purpose: the newest allowed
    assert len(_run(repo, venv, log)) == 1  # and back to the lock
