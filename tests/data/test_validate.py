"""Tests of per-star validation (one test per rejection rule), rejected.csv and the original's cuts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.data import DataConfig, LightCurveSet, original_cuts, validate, write_rejected
from jaxpelsvae.data.validate import group_quantile, rejection_summary, validation_notes
from jaxpelsvae.errors import ConfigError, DataError

GOOD_T = np.arange(12.0)
GOOD_M = np.linspace(15.0, 15.5, 12)
GOOD_E = np.full(12, 0.02)


def _set_with(bad_t=None, bad_m=None, bad_e=None, bad_class="A") -> LightCurveSet:
    """Star 'good' plus star 'bad' built from the good arrays with one thing changed."""
    t = GOOD_T if bad_t is None else np.asarray(bad_t, float)
    m = GOOD_M[: t.size] if bad_m is None else np.asarray(bad_m, float)
    e = GOOD_E[: t.size] if bad_e is None else np.asarray(bad_e, float)
    return LightCurveSet.from_arrays(["good", "bad"], [GOOD_T, t], [GOOD_M, m], [GOOD_E, e],
                                     star_class=["A", bad_class], classes=("A", "B"))


def _reason(lcs, **kw) -> str:
    kept, rejected = validate(lcs, **kw)
    assert list(kept.ids) == ["good"]
    assert list(rejected["id"]) == ["bad"]
    return rejected["reason"].iloc[0]


def test_rule_non_finite_values():
    m = GOOD_M.copy()
    m[3] = np.nan
    assert _reason(_set_with(bad_m=m)) == "non-finite values: 1 of 12 rows have NaN/inf in time, mag or err"
    t = GOOD_T.copy()
    t[5] = np.inf
    assert _reason(_set_with(bad_t=t)).startswith("non-finite values: 1 of 12")


def test_rule_unsorted_times_and_sort_option():
    t = GOOD_T.copy()
    t[[4, 5]] = t[[5, 4]]
    assert _reason(_set_with(bad_t=t)) == "unsorted times: 1 steps go back in time"
    kept, rejected = validate(_set_with(bad_t=t), sort_times=True)
    assert len(rejected) == 0
    np.testing.assert_array_equal(kept.curve(1)[0], GOOD_T)


def test_rule_duplicated_times():
    t = GOOD_T.copy()
    t[6] = t[5]
    assert _reason(_set_with(bad_t=t)) == "duplicated times: 1 repeated epochs"


def test_rule_non_positive_errors():
    e = GOOD_E.copy()
    e[[0, 1]] = [0.0, -0.1]
    assert _reason(_set_with(bad_e=e)) == "non-positive errors: 2 of 12 errors are <= 0"


def test_rule_too_few_points():
    assert _reason(_set_with(bad_t=GOOD_T[:4]), min_points=5) == "too few points: 4 < 5"


def test_rule_unknown_and_missing_class():
    assert _reason(_set_with(bad_class="Z")) == "unknown class: 'Z' is not one of A, B"
    assert _reason(_set_with(bad_class="B"), classes=("A",)) == "unknown class: 'B' is not one of A"
    lcs = _set_with()
    meta = lcs.meta.copy()
    meta.loc[1, "class"] = None
    assert _reason(lcs.with_meta(meta).with_classes(("A",))) == "missing class: no class in the meta table"


def test_rule_missing_columns_is_file_level():
    with pytest.raises(DataError, match=r"missing column\(s\) \['mag'\].*rule: missing columns"):
        LightCurveSet.from_frames(pd.DataFrame({"id": ["a"], "time": [1.0], "err": [0.1]}), None, source="x.csv")


def test_nothing_usable_fails_with_counts(tmp_path):
    lcs = LightCurveSet.from_arrays(["a", "b", "c"], [[1.0], [1.0, 2.0], GOOD_T], [[1.0], [1.0, 1.0], GOOD_M],
                                    [[0.1], [0.1, 0.1], GOOD_E], star_class=["A", "A", "Q"], classes=("A",))
    with pytest.raises(DataError, match=r"mydata: no usable light curves.*all 3 stars rejected "
                                        r"\(too few points: 2, unknown class: 1\)"):
        validate(lcs, min_points=5, source="mydata")
    good, rejected = validate(lcs, min_points=1, classes=("A", "Q"))
    path = write_rejected(rejected, tmp_path / "w")
    assert path.name == "rejected.csv" and len(pd.read_csv(path)) == 0
    assert rejection_summary(pd.DataFrame({"id": ["x", "y"], "reason": ["too few points: 1 < 2", "too few points: 0 < 2"]})) == {"too few points": 2}


def test_data_config_checks():
    assert DataConfig().seq_length == 300 and DataConfig().snr_threshold == 4.0
    with pytest.raises(ConfigError):
        DataConfig(quantiles=(0.9, 0.1))
    with pytest.raises(ConfigError):
        DataConfig(encode_order="sorted")


def test_group_quantile_is_pandas_series_quantile():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 40, 3000)
    v = rng.normal(size=3000).round(1)  # ties too
    for q in (0.001, 0.999, 0.5):
        ref = np.array([pd.Series(v[g == k]).quantile(q) for k in range(41)])
        np.testing.assert_array_equal(group_quantile(v, g, 41, q), ref)  # group 40 empty -> NaN both


def _pandas_original(t, m, e, seq_length, snr_thr, dt_max=100.0):
    df = pd.DataFrame({"time": t, "magnitude": m, "error": e}).dropna()
    df["delta_time"] = df["time"].diff()
    df["delta_mag"] = df["magnitude"].diff()
    df = df[(df.delta_mag > df.delta_mag.quantile(0.001)) & (df.delta_mag < df.delta_mag.quantile(0.999))]
    df = df[df.delta_time < dt_max]
    df = df[df.delta_time > df.delta_time.quantile(0.001)]
    snr = (df.magnitude.max() - df.magnitude.min()) / df.error.mean()
    return len(df), snr, len(df) > seq_length and snr > snr_thr, df[["delta_time", "delta_mag"]].to_numpy()


def test_original_cuts_match_a_pandas_transcription():
    rng = np.random.default_rng(1)
    ids, ts, ms, es = [], [], [], []
    for k in range(12):
        n = int(rng.integers(40, 90))
        t = np.cumsum(rng.exponential(8.0, n)) + 5000  # some gaps exceed 100 d
        m = 18 + 0.3 * np.sin(t / 3.0) + rng.normal(0, 0.05 * (1 + k % 3), n)
        m[rng.integers(0, n)] = np.nan if k % 4 == 0 else m[0]
        ids.append(f"s{k}"), ts.append(t), ms.append(m), es.append(rng.uniform(0.02, 0.2, n))
    lcs = LightCurveSet.from_arrays(ids, ts, ms, es, star_class=["A"] * 12)
    kept, rejected = original_cuts(lcs, seq_length=45, snr_threshold=3.0)
    kept_ids = set(kept.ids)
    for i in range(12):
        n_ref, snr_ref, ok_ref, _ = _pandas_original(ts[i], ms[i], es[i], 45, 3.0)
        assert (ids[i] in kept_ids) == ok_ref
        if ok_ref:
            j = list(kept.ids).index(ids[i])
            assert kept.pair_ok[kept.offsets[j]:kept.offsets[j + 1]].sum() == n_ref
            np.testing.assert_allclose(kept.meta["snr"].iloc[j], snr_ref, rtol=1e-12)
        else:
            row = rejected[rejected["id"] == ids[i]].iloc[0]
            assert row["n_kept"] == n_ref
            assert row["reason"].startswith("too short after cuts" if n_ref <= 45 else "low SNR")
    assert 0 < len(kept) < 12


def test_original_cuts_constant_error_rejected():
    t = np.cumsum(np.random.default_rng(0).uniform(0.5, 1.5, 50))  # a regular cadence would fail Δt > q(Δt)
    lcs = LightCurveSet.from_arrays(["flat_err", "ok"], [t, t], [np.sin(t), np.sin(t)],
                                    [np.full(50, 0.01), np.linspace(0.01, 0.02, 50)], star_class=["A", "A"])
    kept, rejected = original_cuts(lcs, seq_length=10, snr_threshold=1.0)
    assert list(kept.ids) == ["ok"]
    assert rejected["reason"].iloc[0].startswith("constant error")


def _seasonal_cadence(rng, seasons=5, per_season=80, gap=220.0):
    """OGLE-like: nightly-ish visits in seasons of ~200 d, separated by gaps of more than 100 d."""
    t, start = [], 5000.0
    for _ in range(seasons):
        season = start + np.sort(rng.uniform(0, 200, per_season))
        t.append(season)
        start = season[-1] + gap
    return np.concatenate(t)


def test_quality_cuts_keep_pairs_not_rows():
    """No encoded real pair spans a season gap; the encoded pairs are the original's kept pairs."""
    from jaxpelsvae.data import encode_set

    rng = np.random.default_rng(3)
    ids, ts, ms, es = [], [], [], []
    for k in range(6):
        t = _seasonal_cadence(rng)
        n = t.size
        ids.append(f"s{k}"), ts.append(t)
        ms.append(17 + 0.4 * np.sin(2 * np.pi * t / (0.3 + k)) + rng.normal(0, 0.03, n))
        es.append(rng.uniform(0.02, 0.05, n))
    lcs = LightCurveSet.from_arrays(ids, ts, ms, es, star_class=["A"] * 6)
    kept, _ = original_cuts(lcs, seq_length=50, snr_threshold=3.0)
    assert len(kept) == 6
    x, valid, _ = encode_set(kept, length=512, seed=0, order="time")  # every kept pair, in time order
    assert np.all(x[..., 0][valid] < 100.0) and np.all(x[..., 0][valid] > 0)
    for j in range(6):
        n_ref, _, ok, pairs_ref = _pandas_original(ts[j], ms[j], es[j], 50, 3.0)
        assert ok and valid[j].sum() == n_ref
        np.testing.assert_allclose(x[j][valid[j]], pairs_ref, rtol=1e-5, atol=3e-4)  # float32 times over ~1600 d
    # the season gaps are still there as observations (the cut rows' neighbours are kept as
    # predecessors): only the pairs across them are left out
    assert np.max(np.diff(kept.curve(0)[0])) > 100.0


def test_class_labels_differing_in_case_or_spaces_are_one_class():
    labels = ["CEP", "cep", " Cep ", "Dsct", "dsct", "RR Lyr", "Mira", "mira", "mira"]
    n = len(labels)
    lcs = LightCurveSet.from_arrays([f"s{i}" for i in range(n)], [GOOD_T] * n, [GOOD_M] * n, [GOOD_E] * n,
                                    star_class=labels)
    kept, rejected = validate(lcs)
    assert len(rejected) == 0
    # default names for the known classes, the most frequent spelling for the others
    assert kept.classes == ("CEP", "DSCT", "RRLYR", "mira")
    assert list(kept.meta["class"]) == ["CEP"] * 3 + ["DSCT"] * 2 + ["RRLYR"] + ["mira"] * 3
    notes = validation_notes(rejected)
    assert any("' Cep ' (1 star), 'cep' (1 star) read as 'CEP'" in note for note in notes), notes
    assert any("'Mira' (1 star) read as 'mira'" in note for note in notes), notes
    # the names a model was trained on win, and stars are not rejected as unknown classes
    kept, rejected = validate(lcs, classes=("Cep", "DSCT", "RRLYR", "MIRA"))
    assert len(rejected) == 0 and set(kept.meta["class"]) == {"Cep", "DSCT", "RRLYR", "MIRA"}


def test_implausible_points_are_dropped_not_the_star():
    m, e = GOOD_M.copy(), GOOD_E.copy()
    m[3], e[7] = 1e30, 1e20
    kept, rejected = validate(_set_with(bad_m=m, bad_e=e, bad_class="B"))
    assert list(kept.ids) == ["good", "bad"] and len(rejected) == 0
    np.testing.assert_array_equal(kept.curve(1)[1], np.delete(GOOD_M, [3, 7]))
    assert validation_notes(rejected) == ["dropped 2 implausible points (|mag| > 50 or err > 10 mag) of 1 star, "
                                          "e.g. 'bad' (2)"]
    # 99.99 sentinels and bright or faint real magnitudes: only the sentinels go
    m = GOOD_M.copy()
    m[:5] = [99.99, -26.7, 31.0, 99.99, 99.99]
    reason = _reason(_set_with(bad_m=m), min_points=10)
    assert reason == "too few points: 9 < 10 after dropping 3 implausible points"
    assert validate(_set_with(bad_m=m), min_points=9)[0].curve(1)[1][:2].tolist() == [-26.7, 31.0]
