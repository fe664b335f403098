"""`jaxpelsvae.predict`: every input form gives the command line's table, labels unread, clear errors."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxpelsvae
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.readers import write_standard
from jaxpelsvae.errors import DataError
from jaxpelsvae.simulate import simulate_survey

COLUMNS_AFTER_CLASSES = ["predicted", "probability", "period", "period_source", "period_power", "period_fap",
                         "period_alias_flag"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small folded-view classifier saved as `train` saves one (its weights untrained: what is
    tested is the path from curves to the table, not its accuracy)."""
    import jax

    from jaxpelsvae.train.classifier import TrainConfig, build_model, save_model
    from jaxpelsvae.train.state import split_model

    config = TrainConfig(classifier="folded")
    _, params, rest = split_model(build_model(3, config, jax.random.key(0)))
    path = tmp_path_factory.mktemp("run") / "model"
    save_model(path, params, rest, {"config": config.to_dict(), "classes": ["CEP", "ECL", "RRLYR"], "best_epoch": 0})
    return path


@pytest.fixture(scope="module")
def curves():
    """8 simulated Gaia-cadence stars with a class but no period, and one star too short to keep."""
    lcs = simulate_survey({c: 2 for c in ("CEP", "DSCT", "ECL", "RRLYR")}, cadence="gaia", seed=5)
    lcs = lcs.with_meta(lcs.meta[["id", "class"]])
    short = LightCurveSet.from_arrays(["short"], [np.arange(3.0)], [np.ones(3)], [np.full(3, 0.01)],
                                      star_class=["CEP"])
    return LightCurveSet.concatenate([lcs, short])


@pytest.fixture(scope="module")
def reference(curves, model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jaxpelsvae.predict(curves, model_dir)


def _long_table(lcs: LightCurveSet) -> pd.DataFrame:
    lc, _ = lcs.to_frames()
    return lc.assign(id=lc["id"].astype(str))


def test_the_table_has_the_command_lines_columns_and_lists_the_rejected_star(reference, curves):
    assert list(reference.columns) == ["id", "CEP", "ECL", "RRLYR", *COLUMNS_AFTER_CLASSES]
    assert list(reference["id"]) == list(curves.ids[:-1])
    np.testing.assert_allclose(reference[["CEP", "ECL", "RRLYR"]].sum(axis=1), 1.0, atol=1e-6)
    assert (reference["period_source"] == "lomb_scargle").all()
    assert reference.attrs["rejected"] == {"short": "too few points: 3 < 10"}


@pytest.mark.parametrize("form", ["path", "DataFrame", "dict"])
def test_every_input_form_gives_the_lightcurveset_table(form, curves, model_dir, reference, tmp_path):
    if form == "path":
        given = write_standard(curves, tmp_path / "data")
    elif form == "DataFrame":
        given = _long_table(curves)
    else:
        given = {star: curves.curve(i) for i, star in enumerate(curves.ids)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = jaxpelsvae.predict(given, model_dir)
    pd.testing.assert_frame_equal(table, reference)
    assert table.attrs["rejected"] == reference.attrs["rejected"]


def test_one_star_as_a_tuple(curves, model_dir, reference):
    table = jaxpelsvae.predict(curves.curve(0), str(model_dir))
    assert list(table["id"]) == ["0"]
    pd.testing.assert_frame_equal(table.drop(columns="id"), reference.iloc[:1].drop(columns="id"),
                                  check_exact=False, atol=1e-6)


def test_labels_are_not_read(curves, model_dir, reference):
    perm = curves.meta["class"].sample(frac=1.0, random_state=1).to_numpy()
    relabelled = curves.with_meta(curves.meta.assign(**{"class": perm}))
    assert (relabelled.meta["class"] != curves.meta["class"]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_frame_equal(jaxpelsvae.predict(relabelled, model_dir), reference)
        # a class column in a table of observations, even one with spellings to merge, is ignored too
        table = _long_table(curves).assign(**{"class": "cep"})
        pd.testing.assert_frame_equal(jaxpelsvae.predict(table, model_dir), reference)


def test_what_validation_did_is_one_warning_or_notes_with_progress(curves, model_dir, capsys):
    odd = curves.select(np.arange(len(curves)))  # a copy whose first star has one impossible point
    mag = odd.mag.copy()
    mag[0] = 99.99
    odd = dataclasses.replace(odd, mag=mag)
    with pytest.warns(UserWarning) as caught:
        jaxpelsvae.predict(odd, model_dir)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "1 of 9 stars rejected (too few points: 1)" in message and "dropped 1 implausible point" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # progress=True prints instead of warning
        jaxpelsvae.predict(odd, model_dir, progress=True)
    assert capsys.readouterr().err.startswith("note: dropped 1 implausible point")


def test_the_command_line_writes_the_functions_table(curves, model_dir, reference, tmp_path):
    from jaxpelsvae.cli import main

    data = write_standard(curves, tmp_path / "data")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(data), "--model", str(model_dir.parent), "--out", str(out),
                 "--workdir", str(tmp_path / "w")]) == 0
    assert out.read_text() == reference.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    assert (tmp_path / "w" / "rejected.csv").read_text() == "id,reason\nshort,too few points: 3 < 10\n"


def test_results_concatenate(reference):
    # pandas compares the inputs' attrs when concatenating: a DataFrame there would raise
    both = pd.concat([reference, reference.copy()], ignore_index=True)
    assert len(both) == 2 * len(reference)


def test_the_top_level_name_stays_the_function_once_its_module_is_imported():
    import jaxpelsvae.prediction  # noqa: F401 - a submodule named like the function would shadow it

    assert callable(jaxpelsvae.predict) and jaxpelsvae.predict.__module__ == "jaxpelsvae.prediction"


def test_missing_err_column_is_a_clear_error(curves, model_dir):
    with pytest.raises(DataError, match=r"lacks column\(s\) \['err'\]"):
        jaxpelsvae.predict(_long_table(curves).drop(columns="err"), model_dir)


def test_a_bad_model_folder_is_a_clear_error_before_the_curves_are_read(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no saved classifier here"):
        jaxpelsvae.predict(tmp_path / "no_such_data", tmp_path)
    import jaxpelsvae.prediction as prediction

    monkeypatch.setattr(prediction, "PRETRAINED", tmp_path / "pretrained")  # an installation without it
    with pytest.raises(DataError, match="shipped model is missing"):
        jaxpelsvae.predict(tmp_path / "no_such_data")
