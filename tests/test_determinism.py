"""Same seed, same bytes: the dataset, rejected.csv and period writers produce identical files when a
run is repeated (another process, another hash seed, another time of day)."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIM = ["--counts", "CEP=6,ECL=6,LPV=4,RRLYR=6", "--cadence", "gaia", "--seed", "7"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_same_files(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb) and fa
    for name in fa:
        assert fa[name] == fb[name], f"{name} differs between two runs with the same seed"


def _cli(*args: str, hash_seed: str) -> None:
    """`python -m jaxpelsvae ARGS` in a fresh process (set and dict orders follow PYTHONHASHSEED)."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "jaxpelsvae", *args], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]


def test_simulate_twice_writes_the_same_bytes(tmp_path):
    _cli("simulate", "--out", str(tmp_path / "a"), "--workdir", str(tmp_path / "wa"), *SIM, hash_seed="1")
    _cli("simulate", "--out", str(tmp_path / "b"), "--workdir", str(tmp_path / "wb"), *SIM, hash_seed="2")
    _assert_same_files(tmp_path / "a", tmp_path / "b")
    # The gzip header carries no time of writing and no file name (RFC 1952: FLG byte 3, MTIME 4-7),
    # so two runs a second apart, or into differently named files, still agree.
    head = (tmp_path / "a" / "lightcurves.csv.gz").read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08" and head[3] & 0x08 == 0 and head[4:8] == b"\0\0\0\0"


@pytest.mark.parametrize("fmt", ["csv.gz", "csv", "parquet"])
def test_write_standard_bytes_depend_only_on_the_data(tmp_path, monkeypatch, fmt):
    import time

    from jaxpelsvae.data import write_standard
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey({"CEP": 3, "LPV": 3}, cadence="gaia", seed=2)
    write_standard(lcs, tmp_path / "a", fmt=fmt)
    later = time.time() + 3600.0  # an hour later: nothing in the files may record when they were written
    monkeypatch.setattr(time, "time", lambda: later)
    write_standard(lcs, tmp_path / "b", fmt=fmt)
    _assert_same_files(tmp_path / "a", tmp_path / "b")
    text = (gzip.decompress if fmt == "csv.gz" else lambda b: b)((tmp_path / "a" / f"lightcurves.{fmt}").read_bytes())
    if fmt != "parquet":
        assert text.startswith(b"id,time,mag,err\n") and b"\r" not in text  # fixed columns and line ends


def test_period_and_rejected_csv_twice_are_identical(tmp_path):
    from jaxpelsvae.cli import main
    from jaxpelsvae.data import write_standard
    from jaxpelsvae.simulate import simulate_survey

    data = write_standard(simulate_survey({"CEP": 4, "RRLYR": 4, "ECL": 4}, cadence="gaia", seed=3), tmp_path / "data")
    for tag in ("a", "b"):
        # A high --min-points so that some stars land in rejected.csv.
        assert main(["period", str(data), "--workdir", str(tmp_path / tag), "--min-points", "40",
                     "--no-progress"]) == 0
    _assert_same_files(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a" / "rejected.csv").read_text().count("\n") > 1  # some stars were rejected
