"""The one period filler: catalogue periods as given, label-free search for what classifiers read,
class-limited search only for fitting on training stars (train-vae, fit-generator, experiment)."""
import dataclasses

import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.period import fill_periods, period_sources
from jaxpelsvae.physics.priors import PriorConfig, class_period_limits

LIMITS = class_period_limits(PriorConfig())  # LPV 100-1000 d, RRLYR 0.2-1 d, ...


def _curves(periods, classes, *, n=120, seed=5, ids=None):
    """Sinusoids sampled at random times over 1000 d (a 0.5-d signal labelled LPV aliases into the LPV range)."""
    rng = np.random.default_rng(seed)
    times, mags = [], []
    for period in periods:
        t = np.sort(rng.uniform(0, 1000, n))
        times.append(t)
        mags.append(15 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.01, t.size))
    ids = ids or [f"s{i}" for i in range(len(periods))]
    return LightCurveSet.from_arrays(ids, times, mags, [np.full(n, 0.01)] * len(periods), star_class=classes,
                                     classes=("CEP", "DSCT", "ECL", "LPV", "RRLYR"))


def _with_labels(lcs, classes):
    return lcs.with_meta(lcs.meta.assign(**{"class": classes})).with_classes(lcs.classes)


def test_label_free_periods_do_not_depend_on_the_labels():
    lcs = _curves((0.5, 0.5, 150.0), ["LPV", "RRLYR", "LPV"])
    a, n_a = fill_periods(lcs)
    b, n_b = fill_periods(_with_labels(lcs, ["RRLYR", "LPV", "CEP"]))
    assert n_a == n_b == 3
    np.testing.assert_array_equal(a.periods, b.periods)
    assert abs(a.periods[0] - 0.5) < 1e-3 and abs(a.periods[2] - 150) < 3
    assert list(a.meta["period_source"]) == ["lomb_scargle"] * 3


def test_label_free_search_runs_no_class_dependent_doubling_test():
    # Two unequal eclipses a cycle: the periodogram peaks at half the orbital period, and the
    # doubling test (run on stars labelled ECL under double_test='auto') would double it for the
    # star labelled ECL only -- a label in the period a view folds with.
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 1000, 200))
    phase = (t / 1.3) % 1.0
    mag = 15 + 0.6 * np.exp(-((phase - 0.25) / 0.03) ** 2) + 0.3 * np.exp(-((phase - 0.75) / 0.03) ** 2)
    mag = mag + rng.normal(0, 0.005, t.size)
    lcs = LightCurveSet.from_arrays(["a", "b"], [t, t], [mag, mag], [np.full(t.size, 0.005)] * 2,
                                    star_class=["ECL", "RRLYR"], classes=("CEP", "DSCT", "ECL", "LPV", "RRLYR"))
    limited, _ = fill_periods(lcs, class_limits={"ECL": (0.2, 10.0)})
    assert abs(limited.periods[0] - 1.3) < 1e-2  # fitting may use the class: doubled to the orbit
    free, _ = fill_periods(lcs)
    assert free.periods[0] == free.periods[1]
    assert abs(free.periods[0] - 0.65) < 1e-2


def test_class_limits_are_for_fitting_and_catalogue_periods_stay():
    lcs = _curves((0.5, 0.5, 150.0), ["LPV", "RRLYR", "LPV"])
    lcs = lcs.with_meta(lcs.meta.assign(period=[np.nan, np.nan, 7.0])).with_classes(lcs.classes)
    free, _ = fill_periods(lcs)
    assert list(period_sources(free)) == ["lomb_scargle", "lomb_scargle", "catalogue"]
    fit, n = fill_periods(free, class_limits=LIMITS)  # re-searches the label-free ones of limited classes
    assert n == 2 and fit.periods[2] == 7.0
    assert 100 / 3 <= fit.periods[0] <= 3000 and abs(fit.periods[1] - 0.5) < 1e-3
    assert list(fit.meta["period_source"]) == ["lomb_scargle_class", "lomb_scargle_class", "catalogue"]
    # the fitter's copy is separate: the classifier's set still holds the label-free period
    assert abs(free.periods[0] - 0.5) < 1e-3
    again, n_again = fill_periods(fit, class_limits=LIMITS)
    assert n_again == 0 and np.array_equal(again.periods, fit.periods)
    unlabelled = dataclasses.replace(lcs, meta=lcs.meta.drop(columns=["class"]), classes=())
    np.testing.assert_array_equal(fill_periods(unlabelled, class_limits=LIMITS)[0].periods, free.periods)


def test_train_vae_searches_training_stars_within_their_class_limits():
    from jaxpelsvae.pipeline import fitting_periods  # the stage train-vae and the experiment fit with

    lcs = _curves((0.5, 0.5), ["LPV", "RRLYR"])
    filled, info = fitting_periods(lcs)
    periods = filled.periods
    assert info == {"n_searched": 2, "n_dropped": 0, "n_refolded": 0}
    assert 100 / 3 <= periods[0] <= 3000  # the 0.5-d alias is outside the LPV limits
    assert abs(periods[1] - 0.5) < 1e-3


def test_complete_periods_uses_the_filler():
    from jaxpelsvae.synth.fit import complete_periods

    lcs = _curves((0.5, 0.5), ["LPV", "RRLYR"])
    free, _ = fill_periods(lcs)
    held, n = complete_periods(free, class_limits=LIMITS)
    assert n == 2 and 100 / 3 <= held[0] <= 3000
    np.testing.assert_array_equal(held, fill_periods(lcs, class_limits=LIMITS)[0].periods)


def test_experiment_test_periods_and_inputs_ignore_the_test_labels(tmp_path):
    """Permuting the test labels leaves the test stars' periods and encoded inputs unchanged."""
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.runner import run_experiment
    from jaxpelsvae.pipeline import encode
    from jaxpelsvae.simulate import simulate_survey

    train = simulate_survey({c: 8 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=1)
    classes = ["LPV", "RRLYR", "CEP", "DSCT", "ECL", "LPV", "RRLYR", "CEP", "DSCT", "ECL"]
    test = _curves((0.5,) * 10, classes, n=80, ids=[f"t{i}" for i in range(10)])
    cfg = preset("tiny").replace(modes=("baseline",), epochs=1, figures=False, max_stars=None)
    out = []
    for labels in (classes, classes[::-1]):
        res = run_experiment(train, cfg, tmp_path / str(len(out)), seed=0, test_data=_with_labels(test, labels))
        out.append(res.splits["test"])
    a, b = out
    assert np.array_equal(a.ids, b.ids)
    assert (a.meta["period_source"] == "lomb_scargle").all()
    np.testing.assert_array_equal(a.periods, b.periods)
    assert np.all(np.abs(a.periods - 0.5) < 1e-3)  # label-free: no star is pushed into its class's range
    from jaxpelsvae.train.classifier import TrainConfig

    np.testing.assert_array_equal(encode(a, TrainConfig(seq_length=16), 0, "test").x,
                                  encode(b, TrainConfig(seq_length=16), 0, "test").x)
    folded_a, folded_b = (encode(s, TrainConfig(classifier="folded"), 0, "test").x for s in (a, b))
    for name in folded_a:  # a view that folds at the period reads no label either
        np.testing.assert_array_equal(folded_a[name], folded_b[name])


def test_a_label_free_period_does_not_depend_on_the_other_stars_searched():
    # A set's shared frequency grid follows its longest curve; a star searched alone (predict, a
    # test set) and within its survey must still get the same period.
    short = _curves((0.37, 3.1), ["RRLYR", "CEP"], n=60, seed=2)
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 5000, 300))
    long = LightCurveSet.from_arrays(["long"], [t], [15 + 0.2 * np.sin(2 * np.pi * t / 40.0)], [np.full(300, 0.01)],
                                     star_class=["LPV"], classes=short.classes)
    both = LightCurveSet.concatenate([short, long])
    alone, _ = fill_periods(short)
    together, _ = fill_periods(both)
    np.testing.assert_array_equal(alone.periods, together.periods[:2])
