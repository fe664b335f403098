"""jaxpelsvae.models.forest: the exported trees predict as scikit-learn does, save without pickle, and sit beside a saved model."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.errors import DataError
from jaxpelsvae.models.forest import FOREST_FILES, feature_matrix, fit_forest, load_forest


@pytest.fixture(scope="module")
def periodic():
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey({c: 20 for c in ("CEP", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=4)
    return lcs.split((0.6, 0.4), seed=0)


def test_the_exported_trees_give_scikit_learns_probabilities(periodic):
    from sklearn.ensemble import RandomForestClassifier

    train, test = periodic
    forest = fit_forest(train, seed=3, trees=25)
    reference = RandomForestClassifier(25, random_state=3, n_jobs=1, class_weight="balanced").fit(
        feature_matrix(train, None), train.labels)
    np.testing.assert_allclose(forest.predict_proba(test), reference.predict_proba(feature_matrix(test, None)),
                               rtol=0, atol=1e-12)
    assert forest.classes == tuple(train.classes)


def test_a_saved_forest_loads_without_pickle_and_saves_the_same_bytes(periodic, tmp_path):
    train, test = periodic
    forest = fit_forest(train, seed=0, trees=10)
    forest.save(tmp_path / "a")
    fit_forest(train, seed=0, trees=10).save(tmp_path / "b")
    for name in FOREST_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with np.load(tmp_path / "a" / FOREST_FILES[0], allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)
    loaded = load_forest(tmp_path / "a")
    np.testing.assert_array_equal(loaded.predict_proba(test), forest.predict_proba(test))
    assert load_forest(tmp_path / "none") is None


def test_one_class_is_refused(periodic):
    train, _ = periodic
    with pytest.raises(DataError, match="two classes"):
        fit_forest(train.select(np.flatnonzero(train.labels == 0)), trees=5)


def test_train_forest_saves_it_beside_the_model_and_refuses_the_cnn(periodic, tmp_path, capsys):
    from jaxpelsvae.cli import main
    from jaxpelsvae.data import LightCurveSet
    from jaxpelsvae.data.readers import write_standard

    data = tmp_path / "data"
    write_standard(LightCurveSet.concatenate(list(periodic)), data)
    common = [str(data), "--mode", "baseline", "--epochs", "1", "--no-progress", "--forest"]
    assert main(["train", *common, "--classifier", "cnn", "--workdir", str(tmp_path / "cnn")]) == 2
    assert "period-aware" in capsys.readouterr().err
    assert main(["train", *common, "--classifier", "folded", "--workdir", str(tmp_path / "run")]) == 0
    assert "with the forest: test macro-F1" in capsys.readouterr().out
    assert load_forest(tmp_path / "run" / "model" / "forest") is not None
    # the same run again without --forest (it resumes, finished): the model no longer averages with it
    assert main(["train", *common[:-1], "--classifier", "folded", "--workdir", str(tmp_path / "run")]) == 0
    assert load_forest(tmp_path / "run" / "model" / "forest") is None
