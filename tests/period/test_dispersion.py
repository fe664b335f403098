"""jaxpelsvae.period.dispersion: the phase dispersion θ and the eclipsing binaries' coherent fitting periods."""
from __future__ import annotations

import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.period.dispersion import coherent_periods, phase_dispersion
from jaxpelsvae.period.search import PeriodConfig

CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")


def _binary(n=60, period=1.3, seed=3):
    """Two unequal eclipses a cycle at `n` random epochs over 1000 d (a sparse survey)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 1000, n))
    phase = (t / period) % 1.0
    mag = 15 + 0.6 * np.exp(-((phase - 0.25) / 0.04) ** 2) + 0.3 * np.exp(-((phase - 0.75) / 0.04) ** 2)
    return t, mag + rng.normal(0, 0.005, t.size)


def test_theta_is_small_at_the_period_near_one_elsewhere_and_nan_for_a_flat_curve():
    t, mag = _binary(n=300)
    theta = phase_dispersion(t, mag, [1.3, 0.7712, 17.3])
    # narrow eclipses share their phase bins with the plateau, so θ stays above 0 at the period
    assert theta[0] < 0.5 * min(theta[1], theta[2]) and min(theta[1], theta[2]) > 0.7
    # the same θ one period at a time (the candidates are independent)
    np.testing.assert_allclose(theta, [phase_dispersion(t, mag, [p])[0] for p in (1.3, 0.7712, 17.3)], rtol=1e-12)
    assert np.isnan(phase_dispersion(t, np.full(t.size, 15.0), [1.3])).all()


def test_a_wrong_period_moves_to_the_orbit_and_the_orbit_or_its_half_stays():
    t, mag = _binary()
    lcs = LightCurveSet.from_arrays(["a", "b", "c"], [t] * 3, [mag] * 3, [np.full(t.size, 0.005)] * 3,
                                    star_class=["ECL"] * 3, classes=CLASSES)
    config = PeriodConfig(min_period=0.1, max_period=100.0)
    got = coherent_periods(lcs, np.array([37.0, 1.3, 0.65]), config)
    # the orbit or its half: θ on 60 epochs need not tell them apart, both folds keep the eclipses
    assert min(abs(got[0] / 1.3 - 1), abs(got[0] / 0.65 - 1)) < 0.01
    assert got[1] == 1.3 and got[2] == 0.65  # the search's own choice within the family stays


def test_fitting_refolds_only_searched_eclipsing_binaries():
    from jaxpelsvae.period.fill import fill_for_fitting
    from jaxpelsvae.physics.priors import PriorConfig, class_period_limits

    t, mag = _binary()
    lcs = LightCurveSet.from_arrays(["a", "b"], [t] * 2, [mag] * 2, [np.full(t.size, 0.005)] * 2,
                                    star_class=["ECL", "ECL"], classes=CLASSES)
    lcs = lcs.with_meta(lcs.meta.assign(period=[37.0, np.nan])).with_classes(lcs.classes)
    filled, info = fill_for_fitting(lcs, class_period_limits(PriorConfig()))
    assert filled.periods[0] == 37.0  # a catalogue period is never replaced
    assert abs(filled.periods[1] / 1.3 - 1) < 0.01 or abs(filled.periods[1] / 0.65 - 1) < 0.01
    assert info["n_searched"] == 1 and info["n_refolded"] in (0, 1)


def test_the_coherent_fold_is_never_chosen_below_the_class_minimum():
    # a binary whose fold is coherent at 0.05 d (the δ Scuti range, where Gaia's 106.5-min pairs
    # alias real binaries): found there without a floor, never below the class's minimum with one
    t, mag = _binary(n=300, period=0.05)
    lcs = LightCurveSet.from_arrays(["a"], [t], [mag], [np.full(t.size, 0.005)], star_class=["ECL"], classes=CLASSES)
    config = PeriodConfig(min_period=0.02, max_period=100.0)
    free = coherent_periods(lcs, np.array([37.0]), config)
    assert min(abs(free[0] / 0.05 - 1), abs(free[0] / 0.025 - 1), abs(free[0] / 0.1 - 1)) < 0.01
    floored = coherent_periods(lcs, np.array([37.0]), config, shortest=0.2)
    assert floored[0] >= 0.2
    # a given period below the floor with no candidate above it is kept as is
    tiny = PeriodConfig(min_period=0.02, max_period=0.15)
    assert coherent_periods(lcs, np.array([0.05]), tiny, shortest=0.2)[0] == 0.05


def test_fitting_keeps_an_eclipsing_binary_at_or_above_its_class_minimum():
    from jaxpelsvae.period.fill import fill_for_fitting
    from jaxpelsvae.physics.priors import PriorConfig, class_period_limits

    limits = class_period_limits(PriorConfig())
    # coherent at 0.07 and 0.08 d, below the binaries' 0.1 d: the search alone lands there (at
    # 0.08 d its fold's double is as coherent, and the search's own period would stay)
    curves = [_binary(n=300, period=p) for p in (0.07, 0.08)]
    lcs = LightCurveSet.from_arrays(["a", "b"], [c[0] for c in curves], [c[1] for c in curves],
                                    [np.full(300, 0.005)] * 2, star_class=["ECL"] * 2, classes=CLASSES)
    searched, _ = fill_for_fitting(lcs, limits, coherent_classes=())
    assert (searched.periods < limits["ECL"][0]).all()
    filled, info = fill_for_fitting(lcs, limits)
    assert (filled.periods >= limits["ECL"][0]).all() and info["n_refolded"] == 2
