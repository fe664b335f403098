"""jaxpelsvae.data.shift: the hardness, random, SNR and cross-dataset splits."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.data.features import light_curve_features
from jaxpelsvae.data.shift import (
    ShiftConfig,
    gini_hardness,
    hardness_split,
    make_split,
    match_classes,
    random_split,
)
from jaxpelsvae.errors import ConfigError, DataError


def test_hardness_split_is_deterministic_for_a_seed(toy):
    a = hardness_split(toy, 3.0, seed=5, n_estimators=20)
    b = hardness_split(toy, 3.0, seed=5, n_estimators=20)
    c = hardness_split(toy, 3.0, seed=6, n_estimators=20)
    assert list(a.train.ids) == list(b.train.ids) and list(a.test.ids) == list(b.test.ids)
    assert a.info["hardness_by_id"] == b.info["hardness_by_id"]
    assert list(a.test.ids) != list(c.test.ids)
    assert len(a.train) + len(a.test) == len(toy)
    assert not set(a.train.ids) & set(a.test.ids)


def test_hardness_split_sends_harder_stars_to_test_more_often(toy):
    # Out-of-fold hardness spreads h over [0, 2/3]; over many seeds, a star's test frequency must
    # grow with its hardness as P(test) = 1 − exp(−T·h).
    h = gini_hardness(light_curve_features(toy).to_numpy(), toy.labels, seed=0, in_sample=False, n_estimators=30)
    assert h.std() > 0.05
    in_test = np.zeros(len(toy))
    n_draws = 200
    for seed in range(n_draws):
        s = hardness_split(toy, 3.0, seed=seed, hardness=h)
        in_test += np.isin(toy.ids, s.test.ids)
        if len(s.test) and len(s.train):
            assert s.info["hardness_mean_test"] > s.info["hardness_mean_train"] - 0.05
    freq = in_test / n_draws
    hard, easy = h > np.quantile(h, 0.75), h < np.quantile(h, 0.25)
    assert freq[hard].mean() > freq[easy].mean() + 0.2
    np.testing.assert_allclose(freq, 1 - np.exp(-3.0 * h), atol=0.15)
    assert np.corrcoef(freq, h)[0, 1] > 0.9
    # T = 0 keeps everything in training
    assert len(hardness_split(toy, 0.0, seed=0, hardness=h).test) == 0


def test_gini_hardness_range_and_in_sample_is_easier(toy):
    f = light_curve_features(toy).to_numpy()
    h_in = gini_hardness(f, toy.labels, seed=0, in_sample=True, n_estimators=30)
    h_oof = gini_hardness(f, toy.labels, seed=0, in_sample=False, n_estimators=30)
    assert h_in.shape == (len(toy),) and (h_in >= 0).all() and (h_in <= 1 - 1 / 3 + 1e-9).all()
    assert h_in.mean() < h_oof.mean()


def test_hardness_split_of_one_class_names_the_class(toy):
    one = toy.select_classes(["B"])  # labels all 0 in the set's own class list ("B",)
    with pytest.raises(DataError, match=r"at least 2 classes, got only B$"):
        hardness_split(one, 3.0, seed=0, n_estimators=5)


def test_one_against_rest_hardness_is_the_binary_forests(toy):
    # Bias 1: h comes from a forest that tells the target from the rest, so it is the Gini impurity
    # of two-class probabilities (at most 1/2) and equals gini_hardness on the binary labels.
    f = light_curve_features(toy)
    s = make_split(toy, ShiftConfig(temperature=4.0, in_sample=False, n_estimators=20, hardness_target="B"),
                   seed=2, features=f)
    h = np.array([s.info["hardness_by_id"][i] for i in toy.ids])
    binary = (toy.labels == toy.classes.index("B")).astype(int)
    expected = gini_hardness(f.to_numpy(), binary, seed=2, in_sample=False, n_estimators=20)
    np.testing.assert_allclose(h, expected, atol=1e-6)
    assert h.max() <= 0.5 + 1e-9 and s.info["parameters"]["target"] == "B"
    assert len(s.train) + len(s.test) == len(toy) and 0 < len(s.test) < len(toy)
    assert "target" not in make_split(toy, ShiftConfig(n_estimators=5), seed=2, features=f).info["parameters"]
    with pytest.raises(ConfigError, match="hardness target 'Z' is not a class"):
        make_split(toy, ShiftConfig(n_estimators=5, hardness_target="Z"), seed=2, features=f)


def test_random_split_is_stratified_and_deterministic(toy):
    a, b = random_split(toy, 0.25, seed=1), random_split(toy, 0.25, seed=1)
    assert list(a.test.ids) == list(b.test.ids)
    assert a.info["test_pool"] == {"A": 10, "B": 10, "C": 10}


def test_cross_dataset_matches_classes_by_name(make_toy_set):
    train = make_toy_set(5, seed=1, classes=("A", "B", "C"))
    test = make_toy_set(4, seed=2, classes=("B", "C", "D"))
    split = match_classes(train, test)
    assert split.test.classes == ("A", "B", "C")
    assert set(split.test.meta["class"]) == {"B", "C"}
    assert split.info["classes_missing_in_test"] == ["A"]
    assert split.info["classes_missing_in_train"] == ["D"] and split.info["test_stars_dropped"] == 4
    assert list(np.unique(split.test.labels)) == [1, 2]
    with pytest.raises(DataError):
        match_classes(train, make_toy_set(3, classes=("X", "Y")))


def test_make_split_dispatch_and_config_errors(toy):
    with pytest.raises(ConfigError):
        ShiftConfig(scenario="nope")
    with pytest.raises(ConfigError, match="quality_cuts"):  # the cuts are a setting of their own, not a scenario
        ShiftConfig(scenario="snr")
    with pytest.raises(ConfigError):
        make_split(toy, ShiftConfig(scenario="cross"))
    s = make_split(toy, ShiftConfig(scenario="random", test_fraction=0.5), seed=0)
    assert s.info["method"] == "random" and len(s.test) == len(toy) // 2
