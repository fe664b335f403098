"""Tests of folding onto the two-cycle 600-point phase grid, jitted and not, dense and sparse."""
from __future__ import annotations

import chex
import jax
import numpy as np
import pytest

from jaxpelsvae.data import (
    PHASE_GRID,
    PHASE_GRID_VAE,
    LightCurveSet,
    fold_curve,
    fold_set,
    unnormalise,
    vae_input,
)
from jaxpelsvae.errors import DataError

PERIOD = 0.61803
AMP = 0.4


def _sinusoid(n, seed, span=1500.0, t_start=0.0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, span, n)) + t_start
    m = 15.0 + AMP * np.sin(2 * np.pi * t / PERIOD)
    return t, m, np.full(n, 0.02)


def _expected_norm(t_first):
    """Normalised sinusoid on the grid for phase origin t_first."""
    phase = PHASE_GRID.astype(np.float64)
    m = np.sin(2 * np.pi * (phase + t_first / PERIOD))
    return (m + 1) / 2 * 0.9998 + 1e-4


def test_phase_grid_is_regular_two_cycles():
    assert PHASE_GRID.shape == (600,)
    np.testing.assert_allclose(np.diff(PHASE_GRID), 1 / 300, rtol=1e-4)
    assert 0 < PHASE_GRID[0] < PHASE_GRID[-1] < 2
    np.testing.assert_allclose(PHASE_GRID[300:] - PHASE_GRID[:300], 1.0, rtol=1e-6)
    np.testing.assert_allclose([PHASE_GRID_VAE[0], PHASE_GRID_VAE[-1]], [1e-4, 0.9999], rtol=1e-6)


class FoldTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_dense_sinusoid_folds_to_one_clean_cycle_twice(self):
        t, m, e = _sinusoid(2400, 0)
        fn = self.variant(fold_curve)
        f = fn((t - t[0]).astype(np.float32), m.astype(np.float32), e.astype(np.float32), np.ones(t.size, bool),
               np.float32(PERIOD))
        chex.assert_shape(f.mag, (600,))
        np.testing.assert_array_equal(f.mag[:300], f.mag[300:])  # the cycle is repeated
        assert float(f.mag.min()) == pytest.approx(1e-4, abs=1e-6) and float(f.mag.max()) == pytest.approx(0.9999, abs=1e-6)
        np.testing.assert_allclose(f.mag, _expected_norm(t[0]), atol=0.03)
        assert float(f.mag_max - f.mag_min) == pytest.approx(2 * AMP, rel=0.02)
        np.testing.assert_allclose(f.err, 0.02 / float(f.mag_max - f.mag_min) * 0.9998, rtol=1e-4)
        assert bool(f.filled.all())

    @chex.variants(with_jit=True, without_jit=True)
    def test_sparse_curve_is_filled_by_circular_interpolation(self):
        t, m, e = _sinusoid(40, 1)  # Gaia-like: 40 points
        mask = np.ones(64, bool)
        mask[40:] = False
        pad = lambda a: np.pad(a, (0, 24)).astype(np.float32)  # noqa: E731
        f = self.variant(fold_curve)(pad(t - t[0]), pad(m), pad(e), mask, np.float32(PERIOD))
        filled = np.asarray(f.filled[:300])
        assert 30 <= filled.sum() <= 40
        assert np.all(np.isfinite(f.mag)) and float(f.mag.min()) >= 1e-4 - 1e-7 and float(f.mag.max()) <= 0.9999 + 1e-7
        np.testing.assert_allclose(f.mag, _expected_norm(t[0]), atol=0.12)  # a sparse but faithful cycle
        # interpolated bins lie on the straight line between their filled neighbours (circularly)
        mag = np.asarray(f.mag[:300])
        idx = np.flatnonzero(filled)
        b = int(np.flatnonzero(~filled)[0])
        prev = idx[idx < b].max() if (idx < b).any() else idx.max() - 300
        nxt = idx[idx > b].min() if (idx > b).any() else idx.min() + 300
        w = (b - prev) / (nxt - prev)
        assert mag[b] == pytest.approx(mag[prev % 300] + w * (mag[nxt % 300] - mag[prev % 300]), abs=1e-5)


def test_fold_set_float64_phases_and_helpers():
    curves = [_sinusoid(1000, k, t_start=2_455_000.0 + 17 * k) for k in range(3)]
    lcs = LightCurveSet.from_arrays(["a", "b", "c"], *zip(*curves), star_class=["X"] * 3, period=[PERIOD] * 3)
    f = fold_set(lcs)
    assert f.mag.shape == (3, 600) and isinstance(f.mag, np.ndarray)
    for k, (t, _, _) in enumerate(curves):
        np.testing.assert_allclose(f.mag[k], _expected_norm(t[0]), atol=0.04)
    mag, err = unnormalise(f)
    np.testing.assert_allclose(mag.max(1) - mag.min(1), 2 * AMP, rtol=0.02)
    np.testing.assert_allclose(err, 0.02, rtol=1e-4)
    x = vae_input(f)
    assert x.shape == (3, 600, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[1, :, 0], PHASE_GRID_VAE)
    # the same through the device kernel, timed in float32 since the first observation
    padded = lcs.to_padded()
    from jaxpelsvae.data import fold_batch

    g = fold_batch(padded.time, padded.mag, padded.err, padded.mask, np.full(3, PERIOD, np.float32))
    np.testing.assert_allclose(np.asarray(g.mag), f.mag, atol=0.05)
    aligned = fold_set(lcs, align=True)
    assert np.all(np.argmin(aligned.mag[:, :300], axis=1) == 0)
    from jaxpelsvae.data import fold_for_vae, fold_templates

    # the VAE's input is the smoothed template (data.template): on a dense sinusoid, the binned fold
    x_vae = fold_for_vae(lcs)
    np.testing.assert_array_equal(x_vae, vae_input(fold_templates(lcs).folded))
    np.testing.assert_array_equal(x_vae[..., 0], vae_input(aligned)[..., 0])
    np.testing.assert_allclose(x_vae[..., 1:], vae_input(aligned)[..., 1:], atol=0.03)
    jax.block_until_ready(g)


def test_fold_set_needs_periods():
    lcs = LightCurveSet.from_arrays(["a", "b"], [np.arange(5.0)] * 2, [np.arange(5.0)] * 2, [np.ones(5)] * 2,
                                    star_class=["X", "X"])
    with pytest.raises(DataError, match="no `period` column"):
        fold_set(lcs)
    with pytest.raises(DataError, match="1 stars have no valid period.*'b'"):
        fold_set(lcs, periods=[1.0, np.nan])
