"""The benchmark suite's collector (benchmarks/run_all.py): parsing, missing and failing benchmarks, comparison."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_markdown_tables_become_metrics(run_all):
    text = "noise\n| stage | stars/s | wall s |\n|---|---:|---:|\n| read | 2,014 | 1.5 |\n| fold (GPU) | 8.7e3 | - |\n"
    got = run_all.parse_markdown_tables(text)
    assert [(m["name"], m["value"], m["unit"], m["better"]) for m in got] == [
        ("read", 2014.0, "stars/s", "higher"), ("read", 1.5, "wall s", "lower"),
        ("fold (GPU)", 8700.0, "stars/s", "higher")]


def test_known_json_layouts_are_normalised(run_all):
    period = {"rows": [{"dataset": "synthetic", "method": "ours", "stars_per_s": 12.5}]}
    seeds = {"rows": [{"seeds": 4, "epoch_vmap_s": 1.0, "epoch_sequential_s": 3.0, "speedup_steady": 3.0}]}
    assert run_all.from_json("period", period)[0]["value"] == 12.5
    names = [m["name"] for m in run_all.from_json("vmap_seeds", seeds)]
    assert names == ["S=4: epoch, vmapped", "S=4: epoch, sequential", "S=4: speed-up of vmap (steady)"]
    own = {"metrics": [{"name": "epoch", "value": 2.0, "unit": "s", "better": "lower"}]}
    assert run_all.from_json("epoch", own) == own["metrics"]


def test_missing_failing_and_slow_benchmarks_are_rows_not_crashes(run_all, tmp_path, monkeypatch):
    import dataclasses

    scripts = {
        "ok": "import json, sys\nargs = sys.argv\n"
              "print('| metric | samples/s |')\nprint('|---|---:|')\nprint('| step | 123 |')\n",
        "fails": "raise SystemExit(3)\n",
        "slow": "import time\ntime.sleep(30)\n",
    }
    for name, body in scripts.items():
        (tmp_path / f"{name}.py").write_text(body)
    base = run_all.BY_NAME["data"]
    suite = tuple(dataclasses.replace(base, name=n, script=f"{n}.py", quick_timeout=t, json_flag=None)
                  for n, t in (("ok", 60), ("fails", 60), ("slow", 2), ("absent", 60)))
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(run_all, "SUITE", suite)
    monkeypatch.setattr(run_all, "BY_NAME", {b.name: b for b in suite})
    monkeypatch.setattr(run_all, "probe_environment", lambda python, env: {"backend": "cpu", "devices": ["cpu:0"]})
    out = tmp_path / "results"
    assert run_all.main(["--quick", "--out", str(out), "--only", "ok,fails,slow,absent"]) == 0
    result = json.loads((out / "suite_cpu.json").read_text())
    status = {r["name"]: r["status"] for r in result["results"]}
    assert status["ok"] == "ok" and status["absent"] == "missing"
    assert status["fails"].startswith("failed") and status["slow"].startswith("timeout")
    md = (out / "suite_cpu.md").read_text()
    assert "| ok | step | samples/s | 123 | not measured |" in md

    # The comparison of two suites: rates divide B / A, times A / B.
    other = json.loads(json.dumps(result))
    other["label"] = "gpu"
    other["results"][0]["metrics"][0]["value"] = 246.0
    (out / "suite_gpu.json").write_text(json.dumps(other))
    table = run_all.compare(out / "suite_cpu.json", out / "suite_gpu.json")
    assert "| ok | step | samples/s | 123 | 246 | 2.00× |" in table
