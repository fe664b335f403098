"""benchmarks/bench_predict.py: a tiny run on a saved period-aware model with its forest writes benchlib's result."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _script():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_predict", BENCH / "bench_predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _saved_multifold_with_forest(path: Path) -> Path:
    """An untrained multifold classifier saved as `train` saves one, with a small forest beside it
    (speed, not accuracy, is what the benchmark reads) and a coarse recorded period search (a
    short grid compiles and runs faster; the benchmark must take the search the model records)."""
    import jax

    from jaxpelsvae.models.forest import fit_forest
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.train.classifier import TrainConfig, build_model, save_model
    from jaxpelsvae.train.state import split_model

    classes = ["CEP", "ECL", "RRLYR"]
    config = TrainConfig(classifier="multifold")
    _, params, rest = split_model(build_model(len(classes), config, jax.random.key(0)))
    period = {"min_period": 0.5, "refine": False, "double_test": "off"}
    save_model(path, params, rest, {"config": config.to_dict(), "classes": classes, "best_epoch": 0, "period": period})
    fit_forest(simulate_survey({c: 4 for c in classes}, cadence="gaia", seed=7), trees=3).save(path / "forest")
    return path


def test_a_tiny_run_times_predict_and_its_split(tmp_path):
    model = _saved_multifold_with_forest(tmp_path / "model")
    out = tmp_path / "predict.json"
    assert _script().main(["--stars", "6", "--repeats", "1", "--model", str(model), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert result["benchmark"] == "predict" and result["extra"]["stars"] == 6
    assert result["extra"]["classified"] == 6  # no star was lost on the way (all have enough points)
    assert values["predict, stars/s min"] <= values["predict, stars/s median"] <= values["predict, stars/s max"]
    assert values["period search (best)"] > 0 and values["view + network + forest + table (best)"] > 0
    assert {len(result["extra"]["seconds"][part]) for part in ("total", "period", "rest")} == {1}
