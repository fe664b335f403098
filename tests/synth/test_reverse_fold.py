"""jaxpelsvae.synth.reverse_fold: the reverse-folding kernel, donor selection and donor cadences."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpelsvae.data.fold import PHASE_GRID, SCALE_LO, SCALE_SPAN
from jaxpelsvae.synth.reverse_fold import (
    DonorBank,
    fold_phase,
    red_noise,
    reverse_fold,
    select_donor,
    synthesize_batch,
    synthesize_one,
)

GRID = jnp.asarray(PHASE_GRID)


def _sinusoid_template():
    return 0.5 + 0.5 * jnp.sin(2 * jnp.pi * GRID)  # two cycles on the grid, min-max normalised ~[0, 1]


class TestKernel(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_reproduces_a_sinusoid_at_the_donor_times(self):
        rng = np.random.default_rng(0)
        t64 = np.sort(rng.uniform(0, 3000, 200))
        t64 -= t64[0]
        hi = t64.astype(np.float32)
        lo = (t64 - hi).astype(np.float32)
        period, offset, amp, base = np.float32(0.0312345), 0.3, 0.8, 15.0
        fn = self.variant(lambda tm, per, t, t_lo, off: reverse_fold(
            tm, per, t, jnp.ones(200, bool), jnp.zeros(200), off, jax.random.key(0),
            phase_grid_G=GRID, amplitude=amp, mag_lo=base, donor_time_lo_T=t_lo))
        mag = np.asarray(fn(_sinusoid_template(), period, hi, lo, offset))
        phase = np.mod(t64 / np.float64(period) + offset, 1.0)
        # the template's normalised units map back with the star's fold range: no stretching
        expected = base + amp * ((0.5 + 0.5 * np.sin(2 * np.pi * phase)) - SCALE_LO) / SCALE_SPAN
        np.testing.assert_allclose(mag, expected, atol=2e-3 * amp)

    @chex.variants(with_jit=True, without_jit=True)
    def test_noise_comes_from_the_donor_errors(self):
        n = 4000
        fn = self.variant(lambda k: reverse_fold(
            jnp.zeros(600), 1.0, jnp.linspace(0, 100, n), jnp.ones(n, bool), jnp.full(n, 0.05), 0.0, k,
            phase_grid_G=GRID, amplitude=0.0, mag_lo=10.0, noise_scale=2.0))
        mag = np.asarray(fn(jax.random.key(1)))
        np.testing.assert_allclose(mag.std(), 0.1, rtol=0.05)
        np.testing.assert_allclose(mag.mean(), 10.0, atol=0.01)


def test_fold_phase_is_precise_for_long_baselines_and_short_periods():
    t64 = np.linspace(0, 3000, 1001)
    hi = t64.astype(np.float32)
    lo = (t64 - hi).astype(np.float32)
    p = np.float32(0.0301)
    got = np.asarray(jax.jit(fold_phase)(hi, p, lo))
    want = np.mod(t64 / np.float64(p), 1.0)
    d = (got - want + 0.5) % 1.0 - 0.5
    assert np.abs(d).max() < 1e-5
    assert ((got >= 0) & (got < 1)).all()


def test_fold_phase_matches_float64_over_the_period_range():
    rng = np.random.default_rng(7)
    t64 = rng.uniform(0, 10_000, 200_000)
    hi = t64.astype(np.float32)
    lo = (t64 - hi).astype(np.float32)
    p = (10 ** rng.uniform(-1.7, 3.5, t64.size)).astype(np.float32)
    got = np.asarray(jax.jit(fold_phase)(hi, p, lo))
    want = np.mod(t64 / p.astype(np.float64), 1.0)
    d = (got - want + 0.5) % 1.0 - 0.5
    assert np.abs(d).max() < 2e-5
    assert ((got >= 0) & (got < 1)).all()


def test_a_flat_template_stays_flat_and_a_full_one_spans_the_star_amplitude():
    t = jnp.asarray(np.sort(np.random.default_rng(0).uniform(0, 50, 400)), jnp.float32)

    def fold(tmpl):
        return np.asarray(reverse_fold(tmpl, 0.7, t, jnp.ones(400, bool), jnp.zeros(400), 0.0, jax.random.key(0),
                                       phase_grid_G=GRID, amplitude=0.8, mag_lo=15.0))

    # a nearly flat template (a decoder's class average) keeps its small range: 0.02 of the fold's
    small = fold(0.5 + 0.01 * jnp.sin(2 * jnp.pi * GRID))
    assert float(np.ptp(small)) <= 0.8 * 0.02 * 1.001
    np.testing.assert_allclose(small.mean(), 15.0 + 0.8 * (0.5 - SCALE_LO) / SCALE_SPAN, atol=2e-3)
    # a template spanning the normalised range [1e-4, 0.9999] spans the star's fold range from its bright level
    full = fold(SCALE_LO + SCALE_SPAN * (0.5 + 0.5 * jnp.sin(2 * jnp.pi * GRID)))
    assert 15.0 - 1e-4 <= full.min() < 15.0 + 0.01 and 15.8 - 0.01 < full.max() <= 15.8 + 1e-4
    # the first cycle (the decoder's warm-up) is never read
    warm = (SCALE_LO + SCALE_SPAN * (0.5 + 0.5 * jnp.sin(2 * jnp.pi * GRID))).at[:40].set(5.0)
    np.testing.assert_array_equal(fold(warm), full)


def test_red_noise_is_a_damped_random_walk():
    t = jnp.asarray(np.sort(np.random.default_rng(1).uniform(0, 100, 300)), jnp.float32)
    key = jax.random.key(3)
    base = np.asarray(red_noise(key, t, 1.0, 1e9))  # a time scale far beyond the baseline: one constant
    np.testing.assert_allclose(base, base[0], atol=1e-4)
    # linear in sigma for the same draw; zero sigma adds nothing
    np.testing.assert_allclose(np.asarray(red_noise(key, t, 0.3, 5.0)), 0.3 * np.asarray(red_noise(key, t, 1.0, 5.0)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(red_noise(key, t, 0.0, 5.0)), 0.0)


def test_a_star_is_not_the_donor_of_its_own_curve_unless_it_is_its_class_only_one(bank):
    label_D, lp_D = bank.label_D, bank.log10_period_D
    keys = jax.random.split(jax.random.key(0), 200)
    pick = jax.jit(jax.vmap(lambda k, c, p, ex: select_donor(k, label_D, lp_D, c, p, 1, ex)))
    own = 3  # a class-0 star, its own nearest donor in period (k = 1)
    got = np.asarray(pick(keys, jnp.zeros(200, jnp.int32), jnp.full(200, lp_D[own]), jnp.full(200, own)))
    assert not (got == own).any() and (np.asarray(label_D)[got] == 0).all()
    assert (np.asarray(pick(keys, jnp.zeros(200, jnp.int32), jnp.full(200, lp_D[own]), jnp.full(200, -1))) == own).all()
    lonely = _bank(np.random.default_rng(0), per_class=(3, 1))  # class 1 has one donor: row 3
    got = jax.vmap(lambda k: select_donor(k, lonely.label_D, lonely.log10_period_D, 1, 0.0, 4, 3))(keys[:5])
    np.testing.assert_array_equal(np.asarray(got), 3)


def _bank(rng, per_class=(6, 2, 9), T=40):
    labels = np.repeat(np.arange(len(per_class)), per_class).astype(np.int32)
    D = len(labels)
    lengths = rng.integers(10, T + 1, D)
    mask = np.arange(T)[None, :] < lengths[:, None]
    time = np.where(mask, np.sort(rng.uniform(0, 500, (D, T)), axis=1), 0).astype(np.float32)
    time = np.where(mask, time - time[:, :1], 0).astype(np.float32)
    return DonorBank(
        time_hi_DT=jnp.asarray(time), time_lo_DT=jnp.zeros((D, T)), err_DT=jnp.asarray(np.where(mask, 0.02, 1.0), jnp.float32),
        mask_DT=jnp.asarray(mask), log10_period_D=jnp.asarray(rng.uniform(-1.5, 2.5, D), jnp.float32),
        label_D=jnp.asarray(labels), amplitude_D=jnp.asarray(rng.uniform(0.1, 1.0, D), jnp.float32),
        mag_lo_D=jnp.asarray(rng.uniform(12, 18, D), jnp.float32),
    )


@pytest.fixture(scope="module")
def bank():
    return _bank(np.random.default_rng(3))


def test_vmap_equals_a_loop_of_the_single_curve_kernel(bank):
    rng = np.random.default_rng(4)
    N = 4
    tmpl = jnp.asarray(rng.uniform(0, 1, (N, 600)), jnp.float32)
    logp = jnp.asarray(rng.uniform(-1, 2, N), jnp.float32)
    lab = jnp.asarray(rng.integers(0, 3, N), jnp.int32)
    key = jax.random.key(7)
    batch = jax.jit(lambda k: synthesize_batch(k, tmpl, logp, lab, bank, GRID, k_nearest=3, target_snr=5.0))(key)
    one = jax.jit(lambda k, t, p, c: synthesize_one(k, t, p, c, bank, GRID, k_nearest=3, target_snr=5.0))
    keys = jax.random.split(key, N)
    for i in range(N):
        ref = one(keys[i], tmpl[i], logp[i], lab[i])
        for a, b in zip(ref, batch):
            np.testing.assert_allclose(np.asarray(b[i]), np.asarray(a), rtol=3e-6, atol=1e-6)  # a few float32 ulps of ~16 mag


def test_donors_are_always_of_the_sample_class_and_near_in_period(bank):
    rng = np.random.default_rng(5)
    n = 500
    lab = jnp.asarray(rng.integers(0, 3, n), jnp.int32)
    logp = jnp.asarray(rng.uniform(-2, 3, n), jnp.float32)
    keys = jax.random.split(jax.random.key(0), n)
    donors = np.asarray(jax.jit(jax.vmap(lambda k, c, p: select_donor(k, bank.label_D, bank.log10_period_D, c, p, 4)))(
        keys, lab, logp))
    label_D, lp_D = np.asarray(bank.label_D), np.asarray(bank.log10_period_D)
    np.testing.assert_array_equal(label_D[donors], np.asarray(lab))  # class 1 has only 2 donors (< k)
    for i in range(50):  # among the 4 nearest of its class
        same = np.flatnonzero(label_D == int(lab[i]))
        nearest = same[np.argsort(np.abs(lp_D[same] - float(logp[i])))[:4]]
        assert donors[i] in nearest


def test_snr_option_scales_the_errors(bank):
    tmpl = jnp.tile(_sinusoid_template()[None], (4, 1))
    lab = jnp.zeros(4, jnp.int32)
    out = jax.jit(lambda k: synthesize_batch(k, tmpl, jnp.zeros(4), lab, bank, GRID, target_snr=10.0))(jax.random.key(0))
    amp = np.asarray(bank.amplitude_D)[np.asarray(out.donor)]
    err = np.asarray(out.err)
    med = np.array([np.median(e[m]) for e, m in zip(err, np.asarray(out.mask))])
    np.testing.assert_allclose(amp / med, 10.0, rtol=1e-4)


def _long_donor(n=1500, seed=11):
    """One OGLE-like donor longer than the bank's cap: ~1-d visits in 200-d seasons, 220-d gaps."""
    rng = np.random.default_rng(seed)
    t, start = [], 5000.0
    while sum(len(s) for s in t) < n:
        season = start + np.cumsum(rng.exponential(0.8, 250))
        t.append(season[season < start + 200])
        start = t[-1][-1] + 220.0
    t = np.concatenate(t)[:n]
    m = 17 + 0.4 * np.sin(2 * np.pi * t / 0.61) + rng.normal(0, 0.03, t.size)
    from jaxpelsvae.data.lightcurves import LightCurveSet

    return LightCurveSet.from_arrays(["donor"], [t], [m], [rng.uniform(0.02, 0.05, t.size)],
                                     star_class=["RRLYR"], period=[0.61])


def _synthetic_and_real_dt(donor, *, length=300, n=16):
    from jaxpelsvae.data.encode import encode_batch, encode_set
    from jaxpelsvae.synth.reverse_fold import build_donor_bank

    bank = build_donor_bank(donor, max_len=1000, seed=0)
    assert bank.mask_DT.shape == (1, 1000)
    key = jax.random.key(0)
    syn = synthesize_batch(key, jnp.broadcast_to(_sinusoid_template(), (n, GRID.size)),
                           jnp.full(n, np.log10(0.61), jnp.float32), jnp.zeros(n, jnp.int32),
                           DonorBank(*(None if a is None else jnp.asarray(a) for a in bank)), GRID)
    x_syn, v_syn = encode_batch(syn.time, syn.mag, syn.mask, jax.random.key(1), length=length,
                                pair_ok_NT=syn.pair_ok)
    x_real, v_real, _ = encode_set(donor, length=2048, seed=0)  # every real pair of the donor
    return np.asarray(x_syn[..., 0])[np.asarray(v_syn)], x_real[..., 0][v_real]


def test_synthetic_curves_keep_their_donors_cadence():
    """A 1,500-point donor capped at 1,000 points: synthetic Δt follow the donor's real Δt (a random
    thinning to 1,000 stretched them by 1.5x)."""
    dt_syn, dt_real = _synthetic_and_real_dt(_long_donor())
    assert abs(np.median(dt_syn) / np.median(dt_real) - 1) < 0.05
    assert abs(np.mean(dt_syn < 1.0) - np.mean(dt_real < 1.0)) < 0.05


def test_synthetic_curves_encode_only_the_pairs_their_donor_kept():
    """Donors from the quality cuts: synthetic pairs never span a season gap either (real ones do not)."""
    from jaxpelsvae.data.validate import original_cuts

    kept, _ = original_cuts(_long_donor(), seq_length=300, snr_threshold=3.0)
    assert kept.pair_ok is not None and np.diff(kept.time).max() > 100
    dt_syn, dt_real = _synthetic_and_real_dt(kept)
    assert dt_syn.max() < 100 and dt_real.max() < 100
    assert abs(np.median(dt_syn) / np.median(dt_real) - 1) < 0.05


def test_a_source_snr_scales_the_donor_errors_and_a_target_snr_overrides_it(bank):
    from jaxpelsvae.synth.reverse_fold import Source

    tmpl = jnp.tile(_sinusoid_template()[None], (4, 1))
    lab = jnp.zeros(4, jnp.int32)
    amp = jnp.asarray([0.1, 0.2, 0.3, 0.4], jnp.float32)
    snr = jnp.asarray([5.0, 20.0, 0.0, 50.0], jnp.float32)  # 0: the donor's errors as they are
    for target, want in ((0.0, np.array([5.0, 20.0, 0.3 / 0.02, 50.0])), (10.0, np.full(4, 10.0))):
        out = synthesize_batch(jax.random.key(0), tmpl, jnp.zeros(4), lab, bank, GRID, target_snr=target,
                               source=Source(amplitude=amp, snr=snr))
        med = np.array([np.median(e[m]) for e, m in zip(np.asarray(out.err), np.asarray(out.mask))])
        np.testing.assert_allclose(np.asarray(amp) / med, want, rtol=1e-4)



def test_the_star_white_scatter_joins_the_scaled_errors_unscaled(bank):
    """white_sigma is the star's own scatter [mag]: it joins the donor's errors after they are scaled
    to the star's, so a bright star keeps its scatter on a faint donor's cadence."""
    from jaxpelsvae.synth.reverse_fold import Source

    flat = jnp.full((3, GRID.shape[0]), SCALE_LO, jnp.float32)  # the bright end everywhere: mag = mag_lo + noise
    amp = jnp.full(3, 0.2, jnp.float32)
    star_err = 0.005  # the bank's donors state 0.02: their errors are scaled by 0.25

    def noise(white):
        out = synthesize_batch(jax.random.key(4), flat, jnp.zeros(3), jnp.zeros(3, jnp.int32), bank, GRID,
                               source=Source(amplitude=amp, mag_lo=jnp.full(3, 15.0), snr=amp / star_err,
                                             white_sigma=jnp.full(3, white, jnp.float32)))
        return np.asarray(out.mag)[np.asarray(out.mask)] - 15.0

    ratio = noise(0.03) / noise(0.0)  # the same draws: only the noise's std differs
    np.testing.assert_allclose(ratio, np.hypot(star_err, 0.03) / star_err, rtol=1e-3)


def _curve_with_bad_points(seed=0, n=120, period=0.7):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 300, n))
    err = np.full(n, 0.01)
    mag = 15 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.01, n)
    bad = np.array([10, 57, 90])
    err[bad] = 0.2  # the survey flags its bad points with an inflated error
    mag[bad] += np.array([0.8, 1.2, -0.5])
    return t, mag, err, bad, period


def test_donor_outliers_are_the_bad_points_deviations_from_the_fold():
    from jaxpelsvae.synth.reverse_fold import donor_outliers

    t, mag, err, bad, period = _curve_with_bad_points()
    out = donor_outliers(t, mag, err, period)
    assert np.flatnonzero(out).tolist() == bad.tolist()
    # the fold at their phases is the sinusoid (to the noise of a few neighbours)
    np.testing.assert_allclose(out[bad], [0.8, 1.2, -0.5], atol=0.05)
    assert not donor_outliers(t, mag, np.full(t.size, 0.01), period).any()  # no inflated error, no bad point


def test_synthetic_curves_have_their_donors_bad_points():
    from jaxpelsvae.data.lightcurves import LightCurveSet
    from jaxpelsvae.synth.reverse_fold import Source, build_donor_bank

    t, mag, err, bad, period = _curve_with_bad_points()
    donor = LightCurveSet.from_arrays(["d"], [t], [mag], [err], star_class=["RRLYR"], period=[period])
    with_bad = build_donor_bank(donor, seed=0)
    assert np.flatnonzero(with_bad.outlier_DT[0]).tolist() == bad.tolist()
    without = with_bad._replace(outlier_DT=None)
    tmpl = _sinusoid_template()[None]
    quiet = Source(amplitude=jnp.asarray([0.3], jnp.float32), snr=jnp.asarray([1e7], jnp.float32),
                   white_sigma=jnp.zeros(1, jnp.float32))  # noise ~0

    def curve(b):
        return np.asarray(synthesize_batch(jax.random.key(1), tmpl, jnp.asarray([np.log10(period)], jnp.float32),
                                           jnp.zeros(1, jnp.int32), DonorBank(*(None if a is None else jnp.asarray(a) for a in b)),
                                           GRID, source=quiet).mag[0])

    diff = curve(with_bad) - curve(without)
    np.testing.assert_allclose(diff[bad], with_bad.outlier_DT[0][bad], atol=1e-4)
    np.testing.assert_allclose(np.delete(diff, bad), 0.0, atol=1e-4)
