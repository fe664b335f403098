"""One split for every command: `split` equals `experiment`'s partition, the split file's rules, fitted-id records, overlap refusal."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.cli import main
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.provenance import (
    PROVENANCE_FILE,
    Fitted,
    check_overlap,
    ids_digest,
    read_provenance,
    read_record,
    write_provenance,
)
from jaxpelsvae.data.split import PARTS, read_split, select_parts, write_split
from jaxpelsvae.errors import DataError


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """A tiny simulated survey on disk (60 stars: within the tiny preset's max_stars, so no subsample)."""
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.simulate.survey import write_survey

    lcs = simulate_survey({c: 12 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=3)
    return write_survey(lcs, tmp_path_factory.mktemp("survey") / "data")


def _split(survey, tmp_path, *extra, seed=0):
    out = tmp_path / "split.csv"
    assert main(["split", str(survey), "--workdir", str(tmp_path), "--out", str(out), "--seed", str(seed),
                 "--quiet", *extra]) == 0
    return out


def _toy(ids, cls=None) -> LightCurveSet:
    t = np.arange(12.0)
    n = len(ids)
    return LightCurveSet.from_arrays(list(ids), [t] * n, [np.sin(t)] * n, [np.full(12, 0.01)] * n,
                                     star_class=cls or ["A"] * n)


# ------------------------------------------------------------------------------------ the partition


@pytest.mark.parametrize("scenario, seed", [("hardness", 2), ("random", 5)])
def test_split_command_gives_the_experiment_partition(survey, tmp_path, monkeypatch, scenario, seed):
    from jaxpelsvae.experiments import runs
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.runner import run_experiment

    def no_training(config, inputs, classifier, mode, s, *args, **kw):  # the partition is under test, not the CNN
        classes = inputs.classes
        k = len(classes)
        metrics = {"macro_f1": 0.0, "accuracy": 0.0, "roc_auc_ovo": 0.5, "roc_auc_ovr": 0.5, "best_epoch": 0,
                   "epochs": 1, "confusion": np.zeros((k, k), int).tolist(),
                   "per_class": {c: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1} for c in classes}}
        return [runs.run_entry(mode, s, metrics, 0.0)]

    monkeypatch.setattr(runs, "_seed_run", no_training)
    path = _split(survey, tmp_path / "s", "--preset", "tiny", "--scenario", scenario, seed=seed)
    table = read_split(path)
    cfg = preset("tiny").replace(shift_scenario=scenario, modes=("baseline",), epochs=1, figures=False)
    assert not cfg.quality_cuts and not getattr(cfg, "quality_cuts_test", False) and cfg.sample_size is None
    result = run_experiment(survey, cfg, tmp_path / "e", seed=seed)
    for part in PARTS:
        expected = set(result.splits[part].ids.astype(str))
        assert expected, part
        assert set(table.loc[table["part"] == part, "id"]) == expected, part
    assert len(table) == result.report["dataset"]["n_stars"]
    if (tmp_path / "e" / "split.csv").is_file():  # experiments that write their parts write the same file
        assert (tmp_path / "e" / "split.csv").read_bytes() == path.read_bytes()


def test_split_file_is_byte_identical_for_a_seed_and_changes_with_it(survey, tmp_path):
    a = _split(survey, tmp_path / "a", "--scenario", "random").read_bytes()
    b = _split(survey, tmp_path / "b", "--scenario", "random").read_bytes()
    c = _split(survey, tmp_path / "c", "--scenario", "random", seed=1).read_bytes()
    assert a == b and a != c
    assert a.startswith(b"id,part\n") and b"\r" not in a
    info = json.loads((tmp_path / "a" / "split.json").read_text())
    assert info["method"] == "random" and info["n_train"] + info["n_val"] + info["n_test"] == 60


def test_split_file_rules(tmp_path):
    good = pd.DataFrame({"id": ["a", "b", "c"], "part": ["train", "val", "test"]})
    path = write_split(good, tmp_path / "ok.csv")
    pd.testing.assert_frame_equal(read_split(path), good)
    for bad, rule in (({"id": ["a", "a"], "part": ["train", "test"]}, "listed twice"),
                      ({"id": ["a"], "part": ["training"]}, "not one of"),
                      ({"id": ["a"]}, "without column")):
        (tmp_path / "bad.csv").write_text(pd.DataFrame(bad).to_csv(index=False))
        with pytest.raises(DataError, match=rule):
            read_split(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="jaxpelsvae split"):
        read_split(tmp_path / "missing.csv")


def test_select_parts_requires_the_split_and_the_data_to_match():
    lcs = _toy(["a", "b", "c", "d"])
    table = pd.DataFrame({"id": ["d", "a", "b", "c"], "part": ["train", "test", "train", "val"]})
    train, test = select_parts(lcs, table, ("train", "test"))
    assert train.ids.tolist() == ["b", "d"] and test.ids.tolist() == ["a"]  # dataset order
    with pytest.raises(DataError, match="1 of the 4 stars of the data are not in the split.*'c'"):
        select_parts(lcs, table.iloc[:3], ("train",))
    (train,) = select_parts(lcs, table.iloc[1:], ("train",), unlisted="skip")
    assert train.ids.tolist() == ["b"]
    more = pd.concat([table, pd.DataFrame({"id": ["e", "f"], "part": ["test", "train"]})], ignore_index=True)
    with pytest.raises(DataError, match="2 of the 6 stars of the split are not in the data"):
        select_parts(lcs, more, ("train",))
    with pytest.raises(DataError, match="1 of the 6 stars of the split are not in the data.*'f'"):
        select_parts(lcs, more, ("train",), rejected_ids=["e"])
    (train,) = select_parts(lcs, more, ("train",), rejected_ids=["e", "f"])  # bad stars skipped here
    assert train.ids.tolist() == ["b", "d"]


# ------------------------------------------------------------------------------------ fitted-id records


def test_provenance_records_sorted_ids_with_a_digest(tmp_path):
    path = write_provenance(tmp_path, np.array(["b", "a", "b"]))
    doc = json.loads(path.read_text())
    assert doc["ids"] == ["a", "b"] and doc["n"] == 2 and doc["sha256"] == ids_digest(["b", "a"])
    assert read_provenance(tmp_path) == {"a", "b"}
    doc["ids"].append("c")  # edited by hand: the digest no longer matches
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="digest"):
        read_provenance(tmp_path)
    assert write_provenance(tmp_path, None) is None and not path.exists()  # no stale record survives
    write_provenance(tmp_path, Fitted(["x"], ("the PELS-VAE v",)))
    assert read_record(tmp_path)["unknown"] == ["the PELS-VAE v"]


def test_check_overlap_refuses_warns_or_passes(tmp_path):
    fitted, old = tmp_path / "fitted", tmp_path / "old"
    write_provenance(fitted, [f"s{i}" for i in range(10)])
    old.mkdir()
    with pytest.raises(DataError, match=r"3 of the 4 test stars are stars the VAE .* \(e.g. 's1', 's2', 's3'\)"):
        check_overlap(["s1", "s2", "s3", "z"], {"VAE": fitted})
    lines = check_overlap(["s1", "z"], {"VAE": fitted}, allow=True)
    assert len(lines) == 1 and "--allow-overlap" in lines[0] and "1 of the 2" in lines[0]
    assert check_overlap(["z"], {"VAE": fitted}) == []
    lines = check_overlap(["s1"], {"model": old})
    assert len(lines) == 1 and "cannot be checked" in lines[0]


# ------------------------------------------------------------------------------------ the commands


def test_train_and_fit_generator_refuse_artefacts_fitted_on_held_out_stars(survey, tmp_path, capsys):
    split = _split(survey, tmp_path, "--scenario", "random")
    table = read_split(split)
    # the README's old workflow fitted the generator on all of DATA, then split at random: refused
    # (the check runs before the generator is loaded: a folder with its record is enough here)
    leaky = tmp_path / "gen_all"
    write_provenance(leaky, table["id"])
    capsys.readouterr()
    train = ["train", str(survey), "--mode", "selfreg", "--generator", str(leaky),
             "--workdir", str(tmp_path / "cnn"), "--epochs", "1", "--no-progress"]
    assert main(train) == 2
    assert "test stars are stars the generator" in capsys.readouterr().err
    assert main([*train, "--split", str(split)]) == 2  # the split's test stars are donors of this generator
    n_test = int((table["part"] == "test").sum())
    assert f"{n_test} of the {n_test} test stars" in capsys.readouterr().err
    # a generator fitted on train and val stars: the val stars would pick the best epoch
    write_provenance(leaky, table.loc[table["part"] != "test", "id"])
    assert main([*train, "--split", str(split)]) == 2
    assert "validation stars" in capsys.readouterr().err
    # a VAE fitted on val/test stars cannot become a generator for this split
    vae = tmp_path / "vae_all"
    vae.mkdir()
    (vae / "vae.json").write_text("{}")
    write_provenance(vae, table["id"])
    assert main(["fit-generator", str(survey), "--split", str(split), "--vae", str(vae),
                 "--workdir", str(tmp_path / "gen_bad")]) == 2
    assert "val and test stars of the split" in capsys.readouterr().err


def test_generator_record_includes_its_vae_or_says_it_cannot(tmp_path):
    from jaxpelsvae.cli.fit_generator import _fitted_ids

    write_provenance(tmp_path / "vae", ["a", "x"])
    assert _fitted_ids(["b", "a"], tmp_path / "vae") == Fitted(["a", "b", "x"], ())
    (tmp_path / "old").mkdir()
    assert _fitted_ids(["b", "a"], tmp_path / "old") == Fitted(["a", "b"], (f"the PELS-VAE {tmp_path / 'old'}",))


def _fake_model(folder, classes, fitted=None):
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"classes": list(classes)}))
    if fitted is not None:
        write_provenance(folder, fitted)
    return folder


def test_evaluate_refuses_stars_the_model_saw(survey, tmp_path, capsys, monkeypatch):
    import jaxpelsvae.train.classifier as classifier

    split = _split(survey, tmp_path, "--scenario", "random")
    table = read_split(split)
    classes = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")
    seen = table.loc[table["part"] != "test", "id"]
    model = _fake_model(tmp_path / "model", classes, seen)
    scored = []

    def fake_evaluate(model_dir, lcs, seed=0):  # the overlap check is what is tested, not the CNN
        scored.append(set(lcs.ids))
        return {"macro_f1": 0.5, "accuracy": 0.5, "roc_auc_ovo": 0.5, "confusion": np.eye(5).tolist(),
                "classes": list(classes)}

    monkeypatch.setattr(classifier, "evaluate_saved_model", fake_evaluate)
    # evaluate loads the model before the data (a broken one stops there); this one has no weights
    monkeypatch.setattr(classifier, "load_model", lambda path: (None, None, None, {"classes": list(classes)}))
    work = ["--workdir", str(tmp_path / "eval")]
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), str(survey), *work]) == 2
    err = capsys.readouterr().err
    assert f"{len(seen)} of the 60 stars scored are stars the classifier" in err and "--allow-overlap" in err
    assert main(["evaluate", "--model", str(model), str(survey), "--split", str(split), *work]) == 0
    assert scored[-1] == set(table.loc[table["part"] == "test", "id"])
    assert main(["evaluate", "--model", str(model), str(survey), "--allow-overlap", *work]) == 0
    assert "warning:" in capsys.readouterr().out and len(scored[-1]) == 60
    old = _fake_model(tmp_path / "old", classes)  # saved before fitted-id records: warn, go on
    assert main(["evaluate", "--model", str(old), str(survey), "--split", str(split), *work]) == 0
    assert "cannot be checked" in capsys.readouterr().out


def test_train_with_split_trains_on_train_picks_on_val_and_records_both(survey, tmp_path):
    split = _split(survey, tmp_path, "--scenario", "random")
    table = read_split(split)
    work = tmp_path / "cnn"
    assert main(["train", str(survey), "--mode", "baseline", "--split", str(split), "--workdir", str(work),
                 "--epochs", "1", "--layers", "2", "--seq-length", "16", "--batch-size", "16", "--no-progress"]) == 0
    info = json.loads((work / "model" / "model.json").read_text())
    metrics = json.loads((work / "metrics.json").read_text())
    counts = table["part"].value_counts()
    assert (info["n_train"], info["n_val"], metrics["splits"]["test"]["n"]) == (
        counts["train"], counts["val"], counts["test"])
    assert read_provenance(work / "model") == set(table.loc[table["part"] != "test", "id"])
    assert PROVENANCE_FILE in {p.name for p in (work / "model").iterdir()}


def test_period_with_split_finds_periods_for_the_chosen_parts_only(survey, tmp_path):
    split = _split(survey, tmp_path, "--scenario", "random")
    table = read_split(split)
    out = tmp_path / "periods.csv"
    assert main(["period", str(survey), "--split", str(split), "--parts", "val", "--out", str(out),
                 "--workdir", str(tmp_path), "--no-progress", "--oversampling", "2"]) == 0
    found = pd.read_csv(out, dtype={"id": str})
    assert set(found["id"]) == set(table.loc[table["part"] == "val", "id"])
