"""Tests of LightCurveSet / PaddedCurves: storage, selection, splitting, padding, constructors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.data import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError


def _toy(n_per_class=(5, 3, 1), seed=0) -> LightCurveSet:
    rng = np.random.default_rng(seed)
    ids, times, mags, errs, cls = [], [], [], [], []
    k = 0
    for c, n in zip(("A", "B", "C"), n_per_class):
        for _ in range(n):
            m = int(rng.integers(3, 9))
            ids.append(f"s{k}")
            times.append(2_450_000.0 + np.sort(rng.uniform(0, 100, m)))
            mags.append(rng.normal(15, 0.1, m))
            errs.append(np.full(m, 0.01))
            cls.append(c)
            k += 1
    return LightCurveSet.from_arrays(ids, times, mags, errs, star_class=cls, period=np.arange(1, k + 1) * 0.5)


def test_csr_storage_and_views():
    lcs = _toy()
    assert len(lcs) == 9
    assert lcs.classes == ("A", "B", "C")
    assert lcs.offsets[0] == 0 and lcs.offsets[-1] == lcs.time.shape[0]
    np.testing.assert_array_equal(lcs.lengths, np.diff(lcs.offsets))
    t, m, e = lcs.curve(4)
    np.testing.assert_array_equal(t, lcs.time[lcs.offsets[4]:lcs.offsets[5]])
    np.testing.assert_array_equal(lcs.labels, [0] * 5 + [1] * 3 + [2])
    assert lcs.labels.dtype == np.int32
    assert lcs.class_counts() == {"A": 5, "B": 3, "C": 1}
    np.testing.assert_allclose(lcs.periods, np.arange(1, 10) * 0.5)


def test_select_keeps_curves_and_classes():
    lcs = _toy()
    sub = lcs.select([7, 2])
    assert list(sub.ids) == ["s7", "s2"]
    for j, i in enumerate([7, 2]):
        for a, b in zip(sub.curve(j), lcs.curve(i)):
            np.testing.assert_array_equal(a, b)
    assert sub.classes == lcs.classes  # labels keep their meaning in subsets
    np.testing.assert_array_equal(sub.labels, [1, 0])
    mask = np.zeros(9, bool)
    mask[[0, 8]] = True
    assert list(lcs.select(mask).ids) == ["s0", "s8"]
    only_b = lcs.select_classes(["B"])
    assert len(only_b) == 3 and only_b.classes == ("B",)
    np.testing.assert_array_equal(only_b.labels, [0, 0, 0])


def test_split_is_stratified_seeded_and_tolerates_tiny_classes():
    lcs = _toy((20, 10, 1))
    parts = lcs.split((0.7, 0.15, 0.15), seed=3)
    ids = [set(p.ids) for p in parts]
    assert sum(len(p) for p in parts) == len(lcs)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert parts[0].class_counts()["A"] == 14 and parts[1].class_counts()["A"] == 3
    assert parts[0].class_counts()["B"] == 7
    assert all(p.classes == ("A", "B", "C") for p in parts)
    again = lcs.split((0.7, 0.15, 0.15), seed=3)
    assert [list(p.ids) for p in again] == [list(p.ids) for p in parts]
    other = lcs.split((0.7, 0.15, 0.15), seed=4)
    assert [list(p.ids) for p in other] != [list(p.ids) for p in parts]
    a, b = lcs.split((0.5, 0.5), seed=0, stratify=False)
    assert len(a) + len(b) == len(lcs)
    with pytest.raises(ConfigError, match="sum to 1"):
        lcs.split((0.5, 0.2))


def test_to_padded_subtracts_reference_epoch_in_float64():
    lcs = LightCurveSet.from_arrays(
        ["a", "b"], [2_458_000.0 + np.array([0.0, 0.001, 0.5]), np.array([10.0])],
        [np.array([1.0, 2.0, 3.0]), np.array([4.0])], [np.full(3, 0.1), np.array([0.2])], star_class=["X", "X"],
    )
    p = lcs.to_padded()
    assert p.time.shape == (2, 3) and p.time.dtype == np.float32
    np.testing.assert_allclose(p.time[0], [0.0, 0.001, 0.5], rtol=1e-6)  # float32 at 2.46e6 could not hold 1e-3
    np.testing.assert_array_equal(p.mask, [[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(p.lengths, [3, 1])
    assert p.t0.dtype == np.float64 and p.t0[0] == 2_458_000.0
    assert p.err[1, 2] == 1.0  # padding keeps 1/err finite
    q = lcs.to_padded(max_len=2)
    assert q.time.shape == (2, 2) and list(q.lengths) == [2, 1]
    assert lcs.to_padded(multiple_of=8).time.shape == (2, 8)
    back = LightCurveSet.from_padded(lcs.ids, *p[:4], t0=p.t0, meta=lcs.meta)
    np.testing.assert_allclose(back.time, lcs.time, atol=1e-6)


def test_from_frames_groups_rows_and_flags_missing_meta():
    lc = pd.DataFrame({"id": ["b", "a", "b", "a", "z"], "time": [1.0, 5.0, 2.0, 6.0, 0.0],
                       "mag": [1.0, 2.0, 3.0, 4.0, 5.0], "err": [0.1] * 5})
    meta = pd.DataFrame({"id": ["a", "b", "c"], "class": ["P", "Q", "P"]})
    lcs = LightCurveSet.from_frames(lc, meta)
    assert list(lcs.ids) == ["a", "b", "c", "z"]  # meta order, then ids only in the light curves
    np.testing.assert_array_equal(lcs.curve(0)[0], [5.0, 6.0])
    np.testing.assert_array_equal(lcs.curve(1)[1], [1.0, 3.0])
    assert lcs.lengths[2] == 0
    assert pd.isna(lcs.meta["class"].iloc[3])
    with pytest.raises(DataError, match="missing column"):
        LightCurveSet.from_frames(lc.drop(columns="err"), meta)


def test_with_meta_concatenate_and_errors():
    lcs = _toy()
    new = pd.DataFrame({"id": lcs.ids[::-1], "teff": np.arange(9.0)})
    out = lcs.with_meta(new)
    assert out.meta["teff"].iloc[0] == 8.0 and list(out.meta["class"]) == list(lcs.meta["class"])
    with pytest.raises(DataError, match="no meta row"):
        lcs.with_meta(new.iloc[1:])
    both = LightCurveSet.concatenate([lcs.select([0]), lcs.select([8])])
    assert list(both.ids) == ["s0", "s8"] and both.classes == ("A", "B", "C")
    with pytest.raises(DataError, match="more than once"):
        LightCurveSet.concatenate([lcs.select([0]), lcs.select([0])])
    lc, meta = lcs.to_frames()
    assert list(lc.columns) == ["id", "time", "mag", "err"] and len(lc) == lcs.time.shape[0]


def test_padded_chunks_bucket_shapes_and_cover_all_stars():
    lcs = _toy((20, 10, 1))
    seen, shapes = [], set()
    for idx, p in lcs.padded_chunks(8, min_len=4, min_rows=8):
        shapes.add(p.time.shape)
        assert p.mask.dtype == bool and p.mask[idx.size:].sum() == 0 and np.all(p.err[idx.size:] == 1)
        np.testing.assert_array_equal(p.lengths[: idx.size], lcs.lengths[idx])
        seen.extend(idx.tolist())
    assert seen == list(range(len(lcs)))
    assert shapes == {(8, 8)}  # the last, short chunk is padded to the same shape: one compilation
