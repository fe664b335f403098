"""jaxpelsvae.data.template: smoothed, class-aligned VAE templates and the coherence of each fold."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.template import fold_templates


@pytest.fixture(scope="module")
def survey():
    from jaxpelsvae.simulate import simulate_survey

    return simulate_survey({"ECL": 4, "RRLYR": 4}, cadence="ogle", seed=2)


def _shifted(lcs: LightCurveSet, fraction: float) -> LightCurveSet:
    """The same curves observed from an epoch `fraction` of a period later (times shifted)."""
    star = lcs.star_index
    time = lcs.time + fraction * lcs.periods[star]
    curves = [(time[a:b], lcs.mag[a:b], lcs.err[a:b]) for a, b in zip(lcs.offsets[:-1], lcs.offsets[1:])]
    return LightCurveSet.from_arrays(lcs.ids, *zip(*curves), star_class=lcs.meta["class"], period=lcs.periods)


def test_eclipses_are_aligned_on_the_primary_minimum_and_pulsators_on_maximum_light(survey):
    tpl = fold_templates(survey).folded
    ecl = survey.meta["class"].to_numpy() == "ECL"
    cycle = np.asarray(tpl.mag)[:, :300]
    # normalised magnitude: the faintest bin (primary minimum) of an eclipsing binary at phase 0,
    # the brightest bin of a pulsator
    np.testing.assert_array_equal(np.argmax(cycle[ecl], axis=1), 0)
    np.testing.assert_array_equal(np.argmin(cycle[~ecl], axis=1), 0)
    # whatever the epoch of the observations, the eclipse lands at the same phase
    again = np.asarray(fold_templates(_shifted(survey, 0.37)).folded.mag)[:, :300]
    assert np.abs(again - cycle).max() < 0.1
    # the two cycles repeat
    np.testing.assert_array_equal(np.asarray(tpl.mag)[:, 300:], cycle)


def test_coherence_separates_a_periodic_star_from_one_that_wanders():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 1000, 120))
    t = np.concatenate([t, t + 0.07])  # pairs of visits a few hours apart, as Gaia's scans
    t.sort()
    period = 5.3  # a Cepheid: visit pairs 0.07 d apart are well within LAG_CYCLES of a period
    periodic = 15 + 0.4 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.02, t.size)
    # the same star plus a slow wander of 0.3 mag (a random walk over ~100 d steps)
    walk = np.interp(t, np.arange(0, 1100, 100), rng.normal(0, 0.3, 11))
    lcs = LightCurveSet.from_arrays(["p", "w"], [t, t], [periodic, periodic + walk], [np.full(t.size, 0.02)] * 2,
                                    star_class=["CEP", "CEP"], period=[period, period])
    tpl = fold_templates(lcs)
    assert tpl.coherence[0] > 0.9 and tpl.red_sigma[0] < 0.05
    # the wander's own std at these times is 0.24 mag (1 - its variance share: 0.58)
    assert tpl.coherence[1] < 0.7 and abs(tpl.red_sigma[1] - walk.std()) < 0.2 * walk.std()
    # white scatter beyond the stated errors: the same periodic star with errors stated 4x too small
    small = LightCurveSet.from_arrays(["s"], [t], [15 + 0.4 * np.sin(2 * np.pi * t / period)
                                                   + rng.normal(0, 0.08, t.size)], [np.full(t.size, 0.02)],
                                      star_class=["CEP"], period=[period])
    assert tpl.white_sigma[0] < 0.02 < 0.05 < fold_templates(small).white_sigma[0]



@pytest.mark.parametrize("n_points", [50, 120])
def test_white_scatter_is_measured_once_not_with_the_leave_one_out_mean_noise(n_points):
    """Sinusoids with errors stated at 0.01 mag and a true scatter of hypot(0.01, 0.03): the white
    scatter beyond the errors comes out at 0.03 (median of 40 stars), not inflated by the noise of
    the neighbours each point is predicted from (that inflation gave 1.32 and 1.26 times)."""
    period = 0.61
    rng = np.random.default_rng(5)
    curves = []
    for _ in range(40):
        t = np.sort(rng.uniform(0, 900, n_points))
        curves.append((t, 15 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, np.hypot(0.01, 0.03), n_points),
                       np.full(n_points, 0.01)))
    lcs = LightCurveSet.from_arrays([f"s{i}" for i in range(40)], *zip(*curves), star_class=["RRLYR"] * 40,
                                    period=[period] * 40)
    assert 0.9 < np.median(fold_templates(lcs).white_sigma) / 0.03 < 1.15



def _ou(t, sigma, tau, rng):
    """A damped random walk of stationary std sigma and time scale tau at the times t."""
    x = np.empty(t.size)
    x[0] = rng.normal(0, sigma)
    for i in range(1, t.size):
        a = np.exp(-(t[i] - t[i - 1]) / tau)
        x[i] = a * x[i - 1] + sigma * np.sqrt(1 - a * a) * rng.normal()
    return x


@pytest.mark.parametrize("period, red, white", [(200.0, 0.2, 0.0), (50.0, 0.1, 0.02)])
def test_the_wander_of_stars_observed_in_pairs_is_measured(period, red, white):
    """Long-period stars observed as Gaia does, in pairs of visits 0.074 d apart, with a damped
    random walk (time scale one period) and white scatter beyond their 0.01 mag errors: red and
    white come out at their true values (median of 40 stars). Predicting each point from its pair
    partner, at the same phase, hid most of the wander (0.08 of 0.2, 0.05 of 0.1) and all the white."""
    rng = np.random.default_rng(2)
    curves = []
    for _ in range(40):
        t = np.sort(rng.uniform(0, 1000, 30))
        t = np.sort(np.concatenate([t, t + 0.074]))
        curves.append((t, 12 + 0.5 * np.sin(2 * np.pi * t / period) + _ou(t, red, period, rng)
                       + rng.normal(0, np.hypot(0.01, white), t.size), np.full(t.size, 0.01)))
    tpl = fold_templates(LightCurveSet.from_arrays([f"s{i}" for i in range(40)], *zip(*curves),
                                                   star_class=["LPV"] * 40, period=[period] * 40))
    assert 0.8 * red < np.median(tpl.red_sigma) < 1.2 * red
    assert abs(np.median(tpl.white_sigma) - white) < 0.01


def test_fold_noise_is_the_noise_the_kernel_mean_keeps():
    """A noise-free sinusoid with stated errors sigma: the fold keeps a share of sigma set by the
    kernel (about 1.5 points per kernel mean: 0.5-0.95 sigma), linear in sigma; a kernel mean of
    many points (a dense cadence at the widest kernel) keeps far less."""
    rng = np.random.default_rng(1)
    period = 0.61

    def fold_noise(n, sigma):
        t = np.sort(rng.uniform(0, 900, n))
        lcs = LightCurveSet.from_arrays(["a"], [t], [15 + 0.3 * np.sin(2 * np.pi * t / period)], [np.full(n, sigma)],
                                        star_class=["RRLYR"], period=[period])
        return fold_templates(lcs).fold_noise[0], t

    sparse, _ = fold_noise(50, 0.02)
    assert 0.5 * 0.02 < sparse < 0.95 * 0.02
    again, _ = fold_noise(50, 0.04)  # other times: the same share within the kernel's spread
    assert 0.5 * 0.04 < again < 0.95 * 0.04
    dense, _ = fold_noise(3000, 0.02)  # kernel at MIN_WIDTH: ~25 points per mean
    assert dense < 0.3 * 0.02


def test_noise_factor_leaves_the_star_its_own_noise():
    import jax.numpy as jnp

    from jaxpelsvae.synth.stars import noise_factor

    class Stars:  # the StarBank fields noise_factor reads
        err_S = jnp.asarray([0.01, 0.01, 0.0, 0.01])
        white_sigma_S = jnp.asarray([0.0, 0.02, 0.0, 0.0])
        fold_noise_S = jnp.asarray([0.0, 0.01, 0.005, 0.02])

    got = np.asarray(noise_factor(Stars, jnp.arange(4)))
    # no fold noise: all of it drawn; 0.01^2 of 0.01^2 + 0.02^2 kept by the fold: 80 % of the
    # variance drawn; unknown error: 1; a fold noisier than the star: nothing drawn
    np.testing.assert_allclose(got, [1.0, np.sqrt(0.8), 1.0, 0.0], rtol=1e-6)


def test_an_eclipse_point_beside_a_phase_gap_keeps_its_share_of_the_cycle():
    """Sparse folds leave gaps in phase; a lone point in a narrow eclipse beside one must not spread
    the eclipse across it (resampled at new phases, such a template gave Gaia DR3 dev's binaries
    skewness 2.0 against their real curves' 2.6): an eclipsing binary's gap takes the brighter side."""
    n, period = 30, 1.0
    # 29 plateau points evenly over phases 0.3 ... 1.0, one faint point at 0.1: a gap of 0.2 cycles after it
    phase = np.concatenate([[0.1], np.linspace(0.3, 0.98, n - 1)])
    t = np.sort(phase * period + 10 * period * np.arange(n))
    mag = np.where(np.isclose(np.mod(t / period, 1.0), 0.1), 16.0, 15.0)
    lcs = LightCurveSet.from_arrays(["ecl", "puls"], [t, t], [mag, mag], [np.full(n, 0.01)] * 2,
                                    star_class=["ECL", "RRLYR"], period=[period, period])
    cycle = np.asarray(fold_templates(lcs).folded.mag)[:, :300]
    lo, hi = cycle.min(axis=1), cycle.max(axis=1)
    faint_share = np.mean(cycle - lo[:, None] > 0.5 * (hi - lo)[:, None], axis=1)
    # the binary's eclipse: about the point's own share of the cycle, 1 / n (0.033); interpolated
    # halfway across the gap it would cover 0.1 and more
    assert faint_share[0] < 1.5 / n
    # a pulsator's gap is still interpolated (its curve is smooth between the points)
    assert faint_share[1] > 3.0 / n
