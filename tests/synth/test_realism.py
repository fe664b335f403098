"""jaxpelsvae.synth.realism: the realism report of a generator (fields, missing parts, determinism, the two-sample test's scale)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jaxpelsvae.data.features import MISSING, beyond_one_std
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.synth.realism import FEATURES, realism_features, realism_report, two_sample_auc

CLASSES = ("CEP", "ECL", "RRLYR")


@pytest.fixture(scope="module")
def fitted(make_tiny_generator):
    from jaxpelsvae.simulate import simulate_survey

    train = simulate_survey({c: 12 for c in CLASSES}, cadence="gaia", seed=1)
    held_out = simulate_survey({c: 6 for c in CLASSES}, cadence="gaia", seed=2)
    return make_tiny_generator(train), held_out


@pytest.fixture(scope="module")
def plain_report(fitted):
    """The report of `fitted`'s generator without the copy control (read only)."""
    gen, real = fitted
    return realism_report(gen, real, per_class=6, seed=0)


def _in_unit(v):
    return v is not None and 0.0 <= v <= 1.0


def test_report_fields_and_ranges(plain_report):
    rep = plain_report
    json.dumps(rep)  # JSON-ready as it is
    assert rep["features"] == list(FEATURES) and rep["n_real"] == 18 and rep["n_synthetic"] == 18
    for key in ("auc", "real_vs_real_auc", "label_fidelity", "tstr_macro_f1", "trtr_macro_f1"):
        assert _in_unit(rep[key]), key
    assert list(rep["per_class"]) == list(CLASSES)
    for row in rep["per_class"].values():
        assert row["n_real"] == 6 and row["n_synthetic"] == 6
        for key in ("auc", "label_fidelity", "real_recall", "tstr_f1"):
            assert _in_unit(row[key]), key
    assert rep["notes"] == []


def test_same_inputs_give_the_same_numbers(fitted):
    gen, real = fitted
    a, b = (realism_report(gen, real, per_class=6, seed=3) for _ in range(2))
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_what_cannot_be_computed_is_none_with_a_reason(fitted):
    gen, real = fitted
    cls = real.meta["class"].to_numpy(dtype=str)
    keep = np.flatnonzero((cls == "CEP") | (np.arange(len(real)) == np.flatnonzero(cls == "ECL")[0]))
    rep = realism_report(gen, real.select(keep), per_class=6, seed=0)  # CEP 6, ECL 1, RRLYR none
    rows = rep["per_class"]
    assert [rows[c]["n_real"] for c in CLASSES] == [6, 1, 0]
    assert rows["RRLYR"]["auc"] is None and rows["RRLYR"]["tstr_f1"] is None
    assert _in_unit(rows["ECL"]["auc"]) and _in_unit(rep["auc"]) and _in_unit(rows["RRLYR"]["label_fidelity"])
    assert rep["trtr_macro_f1"] is None and rows["CEP"]["real_recall"] is None  # ECL: one star, no fold
    assert _in_unit(rep["tstr_macro_f1"])
    assert any(n.startswith("RRLYR: no two-sample AUC") for n in rep["notes"])
    assert any("real-star yardstick" in n for n in rep["notes"])


def test_two_sample_auc_is_half_for_one_distribution_and_one_for_far_apart_ones():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    same = rng.normal(size=(300, 4))  # an independent draw of the same distribution
    assert abs(two_sample_auc(real, same, seed=0) - 0.5) < 0.1
    assert two_sample_auc(real, real + 20.0, seed=0) == 1.0  # 20 standard deviations apart
    assert two_sample_auc(real[:1], same, seed=0) is None  # one row cannot be cross-validated


def test_real_curves_are_told_from_pure_noise():
    from jaxpelsvae.simulate import simulate_survey

    real = simulate_survey({c: 8 for c in CLASSES}, cadence="gaia", seed=5)
    rng = np.random.default_rng(1)
    noise = LightCurveSet(real.ids, real.time, 15.0 + rng.normal(0, 1e-3, real.mag.shape), np.full(real.err.shape, 1e-3),
                          real.offsets, real.meta.drop(columns=["period"], errors="ignore"), real.classes)
    a, b = realism_features(real), realism_features(noise)
    assert list(a.columns) == [*FEATURES, "period"] and np.isfinite(a.to_numpy()).all()
    assert two_sample_auc(a[list(FEATURES)].to_numpy(), b[list(FEATURES)].to_numpy(), seed=0) > 0.95


def test_beyond_one_std():
    t = np.arange(10.0)
    lcs = LightCurveSet.from_arrays(["a", "flat"], [t, t], [np.r_[np.zeros(8), 5.0, -5.0], np.ones(10)],
                                    [np.ones(10), np.ones(10)])
    assert beyond_one_std(lcs).tolist() == [0.2, MISSING]


def test_power_at_a_period_is_the_searchs_power_at_its_peak():
    # `periods="given"` scores each curve at its own period with no search: the power there must be
    # the one-term periodogram the search reports at its peak, so both paths mean the same thing.
    from jaxpelsvae.period.search import find_periods
    from jaxpelsvae.synth.realism import power_at

    rng = np.random.default_rng(4)
    ids, times, mags, errs = [], [], [], []
    for i, p in enumerate((0.37, 2.9, 41.0)):
        t = np.sort(rng.uniform(0, 700, 120))
        ids.append(f"s{i}")
        times.append(t)
        mags.append(15 + 0.3 * np.sin(2 * np.pi * t / p + i) + rng.normal(0, 0.05, t.size))
        errs.append(rng.uniform(0.03, 0.07, t.size))
    lcs = LightCurveSet.from_arrays(ids, times, mags, errs)
    found = find_periods(lcs, progress=False, period_prior=0.0, double_test="off")
    np.testing.assert_allclose(power_at(lcs, found["period"].to_numpy()), found["power"].to_numpy(), atol=2e-3)
    assert np.isnan(power_at(lcs, np.array([np.nan, 1.0, -1.0]))[[0, 2]]).all()


def test_given_periods_score_real_stars_at_theirs_and_synthetic_curves_at_the_sampled_ones(fitted):
    gen, real = fitted
    rep, sets = realism_report(gen, real, per_class=6, seed=0, periods="given", return_sets=True)
    assert rep["periods"] == "given" and _in_unit(rep["auc"]) and _in_unit(rep["tstr_macro_f1"])
    np.testing.assert_array_equal(sets.real_X["period"].to_numpy(), real.periods)
    np.testing.assert_array_equal(sets.synth_X["period"].to_numpy(), sets.synthetic.meta["period"].to_numpy())
    unknown = real.with_meta(real.meta.assign(period=np.nan))  # no period to give: searched, and said so
    rep = realism_report(gen, unknown, per_class=6, seed=0, periods="given")
    assert rep["periods"] == "found" and any("periods searched" in n for n in rep["notes"])


def test_a_generator_on_other_donors_is_judged_at_the_training_cadences(fitted):
    # The experiment's realism stage: synthetic curves observed at another survey's cadences would
    # be told from the training survey's held-out stars by their cadence alone, so the stage judges
    # the same templates at the training stars' own cadences and says so.
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.generator_stage import realism
    from jaxpelsvae.simulate import simulate_survey

    gen, real = fitted
    moved = gen.with_donors(simulate_survey({"RRLYR": 4}, cadence="ogle", seed=5), copies=2, seed=0)
    assert moved.own_cadences is gen and moved.with_donors(real, seed=1).own_cadences is gen
    assert sum(moved.report["donors_per_class"].values()) == len(moved.bank_host.label_D)
    config = preset("tiny").replace(progress=False)
    own, _ = realism(gen, real, real, config, 0)
    judged, _ = realism(moved, real, real, config, 0)
    assert judged["auc"] == own["auc"] and judged["per_class"] == own["per_class"]
    assert any("own cadences" in n for n in judged["notes"]) and not any("own cadences" in n for n in own["notes"])


def _training_stars():
    """The stars `fitted`'s generator was fitted on (the same simulation)."""
    from jaxpelsvae.simulate import simulate_survey

    return simulate_survey({c: 12 for c in CLASSES}, cadence="gaia", seed=1)


def test_the_copy_control_scores_the_real_curves_of_the_stars_drawn(fitted, plain_report):
    from jaxpelsvae.synth.realism import copy_features, realism_lines

    gen, real = fitted
    train = _training_stars()
    rep, sets = realism_report(gen, real, per_class=6, seed=0, train=train, return_sets=True)
    copies = rep["copy_control"]
    json.dumps(copies)
    for key in ("auc", "label_fidelity", "tstr_macro_f1"):
        assert _in_unit(copies[key]), key
    assert list(copies["per_class"]) == list(CLASSES) and 1 <= copies["n_stars"] <= 18
    assert any(line.startswith("  copy control") for line in realism_lines(rep))

    # the synthetic curves' own numbers do not move with the control beside them
    def without(r):
        return {k: v for k, v in r.items() if k not in ("copy_control", "seconds")}

    assert plain_report["copy_control"] is None and without(rep) == without(plain_report)
    # row for row, the features of the training star each synthetic curve was made from
    table, why = copy_features(sets, train)
    assert why is None and len(table) == len(sets.synth_X)
    star = sets.synthetic.meta["star"].astype(str).to_numpy()
    for i in (0, len(star) - 1):
        one = realism_features(train.select(np.flatnonzero(np.asarray(train.ids).astype(str) == star[i])))
        np.testing.assert_allclose(table.iloc[i][list(FEATURES)].to_numpy(float),
                                   one.iloc[0][list(FEATURES)].to_numpy(float), rtol=1e-6, atol=1e-9)
    # without the source stars: no control, and a note that says why
    table, why = copy_features(sets, train.select(np.arange(1)))  # one star; three classes come from more
    assert table is None and why.startswith("no copy control: ") and "not among the training stars" in why
