"""Period quality: the search's false-alarm probability (against astropy's Baluev) and alias flag, in `period` and `fill_periods`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from jaxpelsvae.cli import main as cli_main
from jaxpelsvae.data import LightCurveSet
from jaxpelsvae.period import fill_periods, find_periods
from jaxpelsvae.period.lombscargle import false_alarm_probability


def _sinusoid(rng, n, period, amp, noise=0.05, baseline=500.0):
    t = np.sort(rng.uniform(0.0, baseline, n))
    return t, 15.0 + amp * np.sin(2 * np.pi * t / period + 0.3) + noise * rng.normal(size=n), np.full(n, noise)


def _eclipsing(rng, n, period, baseline=500.0, noise=0.02):
    """Two eclipses of unequal depth half a period apart: the periodogram peaks at period / 2."""
    t = np.sort(rng.uniform(0.0, baseline, n))
    phase = (t / period) % 1.0
    d1, d2 = np.minimum(phase, 1 - phase), np.abs(phase - 0.5)
    mag = 15.0 + 0.8 * np.exp(-0.5 * (d1 / 0.04) ** 2) + 0.4 * np.exp(-0.5 * (d2 / 0.04) ** 2)
    return t, mag + noise * rng.normal(size=n), np.full(n, noise)


def _set(curves, ids, classes=None):
    return LightCurveSet.from_arrays(ids, [c[0] for c in curves], [c[1] for c in curves], [c[2] for c in curves],
                                     star_class=classes)


def test_false_alarm_probability_is_astropys_baluev():
    rng = np.random.default_rng(0)
    t, y, dy = _sinusoid(rng, 60, 3.7, amp=0.03, noise=0.05)
    ls = LombScargle(t, y, dy)
    w = dy**-2 / np.sum(dy**-2)
    t_eff = np.sqrt(4 * np.pi * np.sum(w * (t - np.sum(w * t)) ** 2))
    f_max = ls.autofrequency(maximum_frequency=5.0, return_freq_limits=True)[1]  # astropy's grid end
    for power in (0.05, 0.2, 0.4, 0.7):
        ours = false_alarm_probability(power, t.size, f_max, t_eff)
        theirs = ls.false_alarm_probability(power, method="baluev", maximum_frequency=5.0)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-300)
    assert np.isnan(false_alarm_probability(0.5, 3, 5.0, t_eff))  # too few points for the formula


def test_a_clear_sinusoid_has_a_tiny_fap_and_noise_a_large_one():
    rng = np.random.default_rng(1)
    curves = [_sinusoid(rng, 300, 2.3, amp=0.3)]
    curves += [(np.sort(rng.uniform(0, 500, 80)), 15 + 0.05 * rng.normal(size=80), np.full(80, 0.05))
               for _ in range(8)]
    found = find_periods(_set(curves, [f"s{i}" for i in range(9)]), min_period=0.2, progress=False)
    assert found["fap"].between(0.0, 1.0).all()
    assert found["period"][0] == pytest.approx(2.3, rel=1e-3)
    assert found["fap"][0] < 1e-10 and not found["alias_flag"][0]
    # white noise: no periodogram peak is significant (each fap is uniform on [0, 1] in theory)
    assert (found["fap"][1:] > 1e-3).all()


def test_an_eclipsing_binary_found_at_half_its_period_is_flagged():
    rng = np.random.default_rng(2)
    lcs = _set([_eclipsing(rng, 300, 1.37)], ["eb"])
    blind = find_periods(lcs, min_period=0.2, progress=False)  # no class: no doubling
    assert blind["period"][0] == pytest.approx(1.37 / 2, rel=1e-3)
    assert blind["alias_flag"][0] and blind["fap"][0] < 1e-10  # a real signal, at an ambiguous period
    doubled = find_periods(_set([_eclipsing(np.random.default_rng(2), 300, 1.37)], ["eb"], ["ECL"]),
                           min_period=0.2, progress=False)
    assert doubled["period"][0] == pytest.approx(1.37, rel=1e-3) and not doubled["alias_flag"][0]


def test_fill_periods_and_period_cli_write_the_quality(tmp_path):
    from jaxpelsvae.data import write_standard

    rng = np.random.default_rng(3)
    lcs = _set([_sinusoid(rng, 200, 2.3, amp=0.3), _eclipsing(rng, 300, 1.37)], ["sin", "eb"])
    filled, _ = fill_periods(lcs, min_period=0.2)
    assert list(filled.meta["period_alias_flag"]) == [False, True]
    assert filled.meta["period_fap"].between(0.0, 1.0).all() and (filled.meta["period_power"] > 0.5).all()
    given = lcs.with_meta(lcs.meta.assign(period=[2.3, np.nan]))
    kept, _ = fill_periods(given, min_period=0.2)
    assert np.isnan(kept.meta["period_fap"][0]) and not kept.meta["period_alias_flag"][0]  # catalogue period
    folder = write_standard(lcs, tmp_path / "data", fmt="csv")
    out = tmp_path / "periods.csv"
    assert cli_main(["period", str(folder), "--out", str(out), "--min-period", "0.2", "--no-progress",
                     "--workdir", str(tmp_path / "work")]) == 0
    table = pd.read_csv(out, dtype={"id": str})
    assert list(table.columns) == ["id", "period", "power", "fap", "alias_flag"]
    assert table["alias_flag"].tolist() == [False, True]
