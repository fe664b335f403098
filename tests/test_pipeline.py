"""jaxpelsvae.pipeline: the stages the CLI, the runner and the scripts compose."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import DataError


def test_fitting_periods_searches_within_class_limits_and_drops_or_refuses_the_rest():
    from jaxpelsvae.pipeline import fitting_periods

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 60, 80))
    lcs = LightCurveSet.from_arrays(
        ["a", "b", "c"], [t, t, t[:3]],
        [15 + 0.3 * np.sin(2 * np.pi * t / 0.6), 15 + 0.3 * np.sin(2 * np.pi * t / 0.9), np.full(3, 15.0)],
        [np.full(80, 0.01), np.full(80, 0.01), np.full(3, 0.01)],
        star_class=["RRLYR", "RRLYR", "CEP"], period=[np.nan, 0.9, np.nan])
    with pytest.raises(DataError, match=r"survey: no period found for 1 stars, e.g. 'c'"):
        fitting_periods(lcs, source="survey")
    kept, info = fitting_periods(lcs, drop_missing=True)
    assert list(kept.ids) == ["a", "b"] and info == {"n_searched": 1, "n_dropped": 1, "n_refolded": 0}
    assert kept.periods[0] == pytest.approx(0.6, rel=1e-2) and kept.periods[1] == 0.9  # the catalogue's, as given


def test_encode_draws_each_part_from_its_own_stream(toy):
    from jaxpelsvae.pipeline import encode
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import TrainConfig, view_inputs

    cfg = TrainConfig(seq_length=16)
    val, again, test = encode(toy, cfg, 0, "val"), encode(toy, cfg, 0, "val"), encode(toy, cfg, 0, "test")
    np.testing.assert_array_equal(val.x, again.x)
    np.testing.assert_array_equal(val.x, view_inputs(toy, cfg, 0, ENCODE_STREAMS["val"]))
    assert not np.array_equal(val.x, test.x)
    np.testing.assert_array_equal(val.y_N, toy.labels)
    # labels follow the classes asked for (a test set of another survey: the training classes)
    flipped = encode(toy, cfg, 0, "val", classes=toy.classes[::-1])
    np.testing.assert_array_equal(flipped.y_N, len(toy.classes) - 1 - toy.labels)


def test_load_donors_drops_labels_and_rereads_changed_files(make_toy_set, tmp_path):
    from jaxpelsvae.data.readers import write_standard
    from jaxpelsvae.pipeline import load_donors

    write_standard(make_toy_set(4, seed=1), tmp_path / "donors")
    first = load_donors(tmp_path / "donors")
    assert len(first) == 12 and "class" not in first.meta.columns
    assert load_donors(tmp_path / "donors") is first  # read once per experiment
    write_standard(make_toy_set(2, seed=1), tmp_path / "donors")
    assert len(load_donors(tmp_path / "donors")) == 6  # the files changed: read again


def test_load_donors_reads_curves_without_a_class(make_toy_set, tmp_path):
    import pandas as pd

    from jaxpelsvae.data.readers import write_standard
    from jaxpelsvae.pipeline import load_donors

    write_standard(make_toy_set(4, seed=2), tmp_path / "donors")
    meta = pd.read_csv(tmp_path / "donors" / "meta.csv")
    meta.drop(columns=["class"]).to_csv(tmp_path / "donors" / "meta.csv", index=False)
    donors = load_donors(tmp_path / "donors")
    assert len(donors) == 12 and "class" not in donors.meta.columns


def test_quality_cuts_cut_every_set_record_the_rejected_and_refuse_an_emptied_set(toy, tmp_path):
    from jaxpelsvae.data.validate import original_cuts
    from jaxpelsvae.pipeline import quality_cuts

    half = len(toy) // 2
    sets = {"train_part": toy.select(np.arange(half)), "val_part": toy.select(np.arange(half, len(toy)))}
    length = int(np.median(toy.lengths))  # about half of the stars have more points than L
    kept, info = quality_cuts(sets, seq_length=length, snr_threshold=0.0, folder=tmp_path / "cuts")
    for name, lcs in sets.items():
        expected, _ = original_cuts(lcs, seq_length=length, snr_threshold=0.0)
        assert list(kept[name].ids) == list(expected.ids)
        assert info[f"{name}_after"] == expected.class_counts()
    n_cut = len(toy) - sum(len(s) for s in kept.values())
    assert n_cut > 0 and info["n_rejected"] == n_cut
    assert len((tmp_path / "cuts" / "rejected.csv").read_text().splitlines()) == n_cut + 1
    with pytest.raises(DataError, match="train_part"):
        quality_cuts({"train_part": toy, "val_part": sets["val_part"]}, seq_length=int(toy.lengths.max()) + 1,
                     snr_threshold=0.0, folder=tmp_path / "none")


def test_training_sets_share_the_sample_size_between_the_parts(toy):
    from jaxpelsvae.pipeline import training_sets

    half = len(toy) // 2
    train_part, val_part = toy.select(np.arange(half)), toy.select(np.arange(half, len(toy)))
    train, val = training_sets(train_part, val_part, sample_size=10, val_fraction=0.3, seed=0)
    assert len(train) >= 7 and len(val) >= 3  # 7 and 3 in proportion, and every class keeps a star
    assert set(train.ids) <= set(train_part.ids) and set(val.ids) <= set(val_part.ids)
    same = training_sets(train_part, val_part, sample_size=None, val_fraction=0.3, seed=0)
    assert len(same[0]) == len(train_part) and len(same[1]) == len(val_part)
