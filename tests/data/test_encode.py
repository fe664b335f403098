"""Tests of the classifier encoding kernel ((Δt, Δm) pairs), jitted and not."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpelsvae.data import LightCurveSet, encode_batch, encode_curve, encode_set
from jaxpelsvae.errors import ConfigError

T = 16
CADENCE = 0.25 * (1 + np.arange(T - 1) % 3)  # known Δt pattern 0.25, 0.5, 0.75, ...
TIME = np.concatenate([[0.0], np.cumsum(CADENCE)]).astype(np.float32)
MAG = (10.0 + 0.1 * np.arange(T) ** 2).astype(np.float32)  # Δm_k = 0.1 (2k + 1)
DT = np.diff(TIME)
DM = np.diff(MAG)


class EncodeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_time_order_full_curve_gives_known_cadence(self):
        fn = self.variant(lambda t, m, k, key: encode_curve(t, m, k, key, length=T - 1, order="time"))
        x, valid = fn(TIME, MAG, np.ones(T, bool), jax.random.key(0))
        chex.assert_shape(x, (T - 1, 2))
        assert bool(valid.all())
        np.testing.assert_allclose(x[:, 0], DT, rtol=1e-6)
        np.testing.assert_allclose(x[:, 1], DM, rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_random_order_is_a_permutation_of_consecutive_pairs(self):
        fn = self.variant(lambda t, m, k, key: encode_curve(t, m, k, key, length=T - 1, order="random"))
        x, valid = fn(TIME, MAG, np.ones(T, bool), jax.random.key(1))
        assert bool(valid.all())
        got = sorted(map(tuple, np.round(np.asarray(x), 5)))
        want = sorted(map(tuple, np.round(np.stack([DT, DM], -1), 5)))
        assert got == want
        assert not np.allclose(x[:, 1], DM)  # not in time order
        x2, _ = fn(TIME, MAG, np.ones(T, bool), jax.random.key(2))
        assert not np.array_equal(np.asarray(x), np.asarray(x2))

    @chex.variants(with_jit=True, without_jit=True)
    def test_subsample_without_replacement(self):
        fn = self.variant(lambda t, m, k, key: encode_curve(t, m, k, key, length=6, order="random"))
        x, valid = fn(TIME, MAG, np.ones(T, bool), jax.random.key(3))
        assert bool(valid.all())
        dms = np.round(np.asarray(x[:, 1]), 5)
        assert len(set(dms.tolist())) == 6 and set(dms.tolist()) <= set(np.round(DM, 5).tolist())

    @chex.variants(with_jit=True, without_jit=True)
    def test_masks_short_curves_and_zero_padding(self):
        mask = np.zeros(T, bool)
        mask[:5] = True  # 5 observations -> 4 pairs
        for order in ("random", "time"):
            fn = self.variant(lambda t, m, k, key, order=order: encode_curve(t, m, k, key, length=8, order=order))
            x, valid = fn(TIME, MAG, mask, jax.random.key(4))
            np.testing.assert_array_equal(valid, [True] * 4 + [False] * 4)
            np.testing.assert_array_equal(x[4:], 0.0)
            assert sorted(np.round(np.asarray(x[:4, 0]), 5).tolist()) == sorted(np.round(DT[:4], 5).tolist())
        # a non-prefix mask: pairs join consecutive *valid* observations
        mask = np.zeros(T, bool)
        mask[[0, 2, 3, 7]] = True
        fn = self.variant(lambda t, m, k, key: encode_curve(t, m, k, key, length=3, order="time"))
        x, valid = fn(TIME, MAG, mask, jax.random.key(5))
        assert bool(valid.all())
        np.testing.assert_allclose(x[:, 0], [TIME[2] - TIME[0], TIME[3] - TIME[2], TIME[7] - TIME[3]], rtol=1e-6)
        # no observation or one: nothing valid
        x, valid = fn(TIME, MAG, np.eye(T, dtype=bool)[0], jax.random.key(6))
        assert not bool(valid.any()) and float(jnp.abs(x).sum()) == 0.0

    def test_time_window_is_contiguous(self):
        x, valid = jax.jit(lambda key: encode_curve(TIME, MAG, np.ones(T, bool), key, length=5, order="time"))(
            jax.random.key(7))
        start = int(np.argmin(np.abs(DM - x[0, 1])))
        np.testing.assert_allclose(x[:, 1], DM[start:start + 5], rtol=1e-5)


def test_encode_batch_vmaps_and_traces_once():
    n = 6
    time = np.tile(TIME, (n, 1))
    mag = np.tile(MAG, (n, 1))
    mask = np.arange(T)[None, :] < np.array([16, 12, 8, 4, 2, 1])[:, None]
    fn = chex.assert_max_traces(n=1)(lambda t, m, k, key: encode_batch(t, m, k, key, length=10, order="random"))
    x, valid = fn(time, mag, mask, jax.random.key(0))
    chex.assert_shape(x, (n, 10, 2))
    np.testing.assert_array_equal(valid.sum(1), [10, 10, 7, 3, 1, 0])
    assert x.dtype == jnp.float32


def test_encode_set_uses_per_star_keys_and_labels():
    rng = np.random.default_rng(0)
    times = [np.sort(rng.uniform(0, 100, n)) + 2_457_000 for n in (30, 50, 3)]
    lcs = LightCurveSet.from_arrays(["a", "b", "c"], times, [rng.normal(size=t.size) for t in times],
                                    [np.full(t.size, 0.1) for t in times], star_class=["Y", "X", "Y"])
    x, valid, y = encode_set(lcs, length=20, seed=5)
    assert x.shape == (3, 20, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(y, [1, 0, 1])
    np.testing.assert_array_equal(valid.sum(1), [20, 20, 2])
    x_small, _, _ = encode_set(lcs, length=20, seed=5, chunk=1)
    np.testing.assert_array_equal(x, x_small)  # independent of chunking
    x_time, _, _ = encode_set(lcs, length=20, seed=5, order="time")
    assert np.all(x_time[:, :, 0][valid] > 0)  # time order on sorted curves: positive Δt
    # Δt precision: times near 2.457e6 d reduced in float64 first
    np.testing.assert_allclose(np.sort(x_time[2, :2, 0]), np.sort(np.diff(times[2])), atol=1e-5)
    with pytest.raises(ConfigError):
        encode_set(lcs, length=20, order="sorted")
