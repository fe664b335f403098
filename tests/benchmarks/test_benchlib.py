"""The benchmark suite (benchmarks/run_all.py, benchlib.py): one result format, missing and failing benchmarks, comparison, README blocks."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_only_benchlib_results_are_read(run_all):
    import benchlib

    result = benchlib.write_result(None, "epoch", [benchlib.metric("epoch", 2.0, "s", "lower")], quick=True,
                                   env={"machine": {}})
    assert run_all.metrics_of(result) == [{"name": "epoch", "value": 2.0, "unit": "s", "better": "lower"}]
    with pytest.raises(ValueError, match="benchlib"):  # a script's own layout is not guessed at
        run_all.metrics_of({"rows": [{"dataset": "synthetic", "stars_per_s": 12.5}]})


def test_readme_block_is_replaced_in_place_or_appended(tmp_path):
    import benchlib

    readme = tmp_path / "README.md"
    readme.write_text("# B\n\nbefore\n<!-- t:start -->\nold\n<!-- t:end -->\nafter\n")
    benchlib.update_readme_block("t", "new table", readme)
    assert readme.read_text() == "# B\n\nbefore\n<!-- t:start -->\nnew table\n<!-- t:end -->\nafter\n"
    benchlib.update_readme_block("u", "other", readme)
    assert readme.read_text().endswith("after\n\n<!-- u:start -->\nother\n<!-- u:end -->\n")


def test_every_suite_script_writes_its_result_through_benchlib(run_all):
    # run_all passes --json to every script and reads nothing else; each must take it and report
    # through benchlib (read from the source: running them all is the suite's job, not a test's).
    for bench in run_all.SUITE:
        source = (BENCH / bench.script).read_text()
        assert "benchlib.report(" in source or "benchlib.write_result(" in source, bench.script
        assert "--json" in source or "parse_common(" in source, bench.script


def test_missing_failing_and_slow_benchmarks_are_rows_not_crashes(run_all, tmp_path, monkeypatch):
    import dataclasses

    scripts = {
        "ok": "import json, sys\npath = sys.argv[sys.argv.index('--json') + 1]\n"
              "open(path, 'w').write(json.dumps({'metrics': [{'name': 'step', 'value': 123, 'unit': 'samples/s',"
              " 'better': 'higher'}]}))\n",
        "silent": "print('| metric | samples/s |')\nprint('|---|---:|')\nprint('| step | 9 |')\n",
        "fails": "raise SystemExit(3)\n",
        "slow": "import time\ntime.sleep(30)\n",
    }
    for name, body in scripts.items():
        (tmp_path / f"{name}.py").write_text(body)
    base = run_all.BY_NAME["data"]
    suite = tuple(dataclasses.replace(base, name=n, script=f"{n}.py", quick_timeout=t)
                  for n, t in (("ok", 60), ("silent", 60), ("fails", 60), ("slow", 2), ("absent", 60)))
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(run_all, "SUITE", suite)
    monkeypatch.setattr(run_all, "BY_NAME", {b.name: b for b in suite})
    monkeypatch.setattr(run_all, "probe_environment", lambda python, env: {"backend": "cpu", "devices": ["cpu:0"]})
    out = tmp_path / "results"
    assert run_all.main(["--quick", "--out", str(out), "--only", "ok,silent,fails,slow,absent"]) == 0
    result = json.loads((out / "suite_cpu.json").read_text())
    status = {r["name"]: r["status"] for r in result["results"]}
    assert status["ok"] == "ok" and status["absent"] == "missing"
    assert status["silent"] == "ok (no result written)"  # a printed table is not parsed
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


def test_readiness_table_projects_a_paper_cell_and_marks_missing_columns(tmp_path):
    sys.path.insert(0, str(BENCH))
    import readiness

    def m(name, value, unit):
        return {"name": name, "value": value, "unit": unit}

    suite = {"label": "gpu", "env": {"devices": ["gpu:0 H200"], "machine": {}, "versions": {}}, "results": [
        {"name": "train_step", "metrics": [m("cnn step, host loop einsum", 1000.0, "samples/s"),
                                           m("cnn step, host loop einsum, median round", 5e4, "samples/s"),
                                           m("cnn step, host loop xla", 2000.0, "samples/s")]},
        {"name": "synth", "metrics": [m("generate N=64, R=10", 400.0, "curves/s"),
                                      m("generate N=256, R=10", 800.0, "curves/s"),
                                      m("generate N=256, R=1", 90.0, "curves/s")]},
        {"name": "vmap_seeds", "metrics": [m("S=8: speed-up of vmap (steady)", 4.0, "x"),
                                           m("S=32: speed-up of vmap (steady)", 16.0, "x")]},
    ]}
    (tmp_path / "suite_gpu.json").write_text(json.dumps(suite))
    (tmp_path / "util.csv").write_text("10\n30\nN/A\n")
    (tmp_path / "seeds.json").write_text(json.dumps({"metrics": [m("S=8: epoch, vmapped", 0.5, "s"),
                                                                 m("S=8: speed-up", 6.0, "x")]}))
    md = tmp_path / "readiness.md"
    assert readiness.main(["--suite", f"gpu={tmp_path / 'suite_gpu.json'}", "--util", f"gpu={tmp_path / 'util.csv'}",
                           "--selfreg-seeds", f"gpu={tmp_path / 'seeds.json'}", "--md", str(md)]) == 0
    text = md.read_text()
    assert "| vmapped self-regulated seeds S = 8: speed-up over sequential | x | not measured | 6.00 |" in text
    assert "- cpu: not measured." in text
    assert "| synthesis, R = 10 (best size) | curves/s | not measured | 800 |" in text
    assert "| device utilisation during the suite, mean | % | not measured | 20.0 |" in text
    # Step 2,000 samples/s (best host loop, not the median row), R = 10 at 800 curves/s, forward 3x:
    p = readiness.PAPER
    selfreg = (p["train"] + p["synthetic"]) / 2000 + p["synthetic"] / 800 + (p["train"] + p["val"] + p["synthetic"]) / 6000
    baseline = p["train"] / 2000 + (p["train"] + p["val"]) / 6000
    f = readiness.figures(readiness.suite_metrics(tmp_path / "suite_gpu.json")[0], None)
    assert f["cell_seq_h"] == pytest.approx(30 * 500 * (selfreg + baseline) / 3600)
    assert f["cell_vmap_h"] == pytest.approx(30 * 500 * (selfreg + baseline / 16) / 3600)
