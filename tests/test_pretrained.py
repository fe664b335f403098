"""The shipped model: small, pickle-free, loads and predicts without --model; its training survey is simulated and seeded."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxpelsvae
from jaxpelsvae.cli import main
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.readers import write_standard
from jaxpelsvae.experiments import pretrained as build
from jaxpelsvae.prediction import PRETRAINED, pretrained_card, pretrained_model
from jaxpelsvae.simulate import simulate_survey

MAX_BYTES = 2 * 1024 * 1024  # the limit for weights shipped in the package


def shipped_files():
    return [p for p in pretrained_model().rglob("*") if p.is_file()]


def test_the_shipped_model_is_small_and_holds_no_pickle():
    files = shipped_files()
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    for path in files:  # a pickle starts with the PROTO opcode 0x80; npz members are read with allow_pickle=False
        assert not path.read_bytes()[:1] == b"\x80", path
        assert path.suffix not in (".pkl", ".pickle", ".joblib")
    names = {p.relative_to(PRETRAINED).parts[0] for p in files}
    assert {"model.json", "card.json", "variables", "forest"} <= names
    # no file records the folders of the machine that built it (orbax's commit markers did)
    assert not [p for p in files if p.name == build.COMMIT_MARKER]


def test_the_card_says_how_it_was_trained_and_matches_the_model():
    card = pretrained_card()
    info = json.loads((pretrained_model() / "model.json").read_text())
    assert card["classes"] == info["classes"] == list(build.CLASSES)
    assert card["trained_on"].startswith("simulated surveys only")
    assert card["command"].startswith("python -m jaxpelsvae.experiments.pretrained")
    assert card["mode"] == info["mode"] == build.MODE
    assert 0.0 <= card["simulated_test"]["macro_f1"] <= 1.0


@pytest.fixture(scope="module")
def curves():
    """Three cadences the model was trained on, labels and periods removed."""
    parts = [simulate_survey({c: 1 for c in build.CLASSES}, cadence=cad, seed=40 + k)
             for k, cad in enumerate(("gaia", "asas", "ztf"))]
    lcs = LightCurveSet.concatenate(parts)
    return lcs.with_meta(lcs.meta[["id"]])


def test_predict_without_a_model_uses_the_shipped_one(curves, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = jaxpelsvae.predict(curves)
    assert list(table["id"]) == list(curves.ids)
    probs = table[list(build.CLASSES)].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert set(table["predicted"]) <= set(build.CLASSES)
    assert (table["period_source"] == "lomb_scargle").all() and np.isfinite(table["period"]).all()
    data = tmp_path / "data"
    write_standard(curves, data)
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(data), "--out", str(out), "--workdir", str(tmp_path / "w")]) == 0
    assert "model: the shipped multifold+forest (selfreg; simulated surveys only" in capsys.readouterr().out
    written = pd.read_csv(out)
    np.testing.assert_allclose(written[list(build.CLASSES)].to_numpy(), probs, atol=2e-6)


def test_the_training_survey_is_simulated_seeded_and_half_without_periods():
    a = build.training_survey(seed=3, stars_per_class=2, cadences=("gaia", "eros"))
    b = build.training_survey(seed=3, stars_per_class=2, cadences=("gaia", "eros"))
    assert len(a) == 2 * 2 * len(build.CLASSES)
    assert all(str(i).startswith("SIM") for i in a.ids)  # no real star
    pd.testing.assert_frame_equal(a.meta, b.meta)
    np.testing.assert_array_equal(a.mag, b.mag)
    missing = np.isnan(a.meta["period"].to_numpy(float))
    assert 0 < missing.sum() < len(a)
    config = build.experiment_config(epochs=3)
    assert config.classifiers == (build.CLASSIFIER,) and config.modes == (build.MODE,) and config.forest
    assert config.shift.scenario == "random" and config.regulator.epochs == 3


def test_every_shipped_file_is_package_data():
    import tomllib
    from pathlib import Path

    root = Path(jaxpelsvae.__file__).parent
    patterns = tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    covered = {p for pattern in patterns["jaxpelsvae"] for p in root.glob(pattern) if p.is_file()}
    assert set(shipped_files()) <= covered  # a wheel (a clean, non-editable install) carries them all


def test_the_builder_refuses_to_replace_a_folder_that_is_not_a_model(tmp_path):
    from jaxpelsvae.errors import ConfigError

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not a model folder"):  # before any training
        build.build(tmp_path / "out", workdir=tmp_path / "w", stars_per_class=1)
    assert (tmp_path / "out" / "notes.txt").is_file()
