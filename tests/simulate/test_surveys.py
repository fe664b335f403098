"""The ASAS, EROS, ZTF and TESS cadences, and observing simulated stars at the cadences of real curves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.simulate import simulate_survey
from jaxpelsvae.simulate import surveys as sv
from jaxpelsvae.simulate.donors import load_donor_cadences

SMALL = {"CEP": 2, "DSCT": 2, "ECL": 2, "LPV": 2, "RRLYR": 2}
YEAR = 365.25


def _rows(t, mask):
    return [t[i, mask[i]] for i in range(t.shape[0])]


def _check_sorted_finite(rows):
    for ti in rows:
        assert np.all(np.isfinite(ti)) and np.all(np.diff(ti) > 0)


@pytest.mark.parametrize("name, n_seasons, season_days, bounds", [
    ("asas", sv.ASAS_SEASONS, sv.ASAS_SEASON_DAYS, sv.ASAS_POINTS),
    ("eros", sv.EROS_SEASONS, sv.EROS_SEASON_DAYS, sv.EROS_POINTS),
])
def test_seasonal_ground_cadences(name, n_seasons, season_days, bounds):
    cadence = sv.CADENCES[name]
    rng = np.random.default_rng(4)
    n_points = cadence.n_points(6, rng)
    assert np.all((n_points >= bounds[0]) & (n_points <= bounds[1]))
    t, mask = cadence.times(n_points, rng)
    rows = _rows(t, mask)
    _check_sorted_finite(rows)
    assert [len(r) for r in rows] == list(n_points)
    for ti in rows:
        # the first and the last season are (n_seasons - 1) years apart, each at most season_days[1] long
        assert (n_seasons - 1) * YEAR - season_days[1] < np.ptp(ti) < (n_seasons - 1) * YEAR + season_days[1]
        assert (np.diff(ti) > YEAR - season_days[1] - 1).sum() >= n_seasons - 1  # the seasonal gaps at least
        assert np.all((ti % 1.0 > 0.049) & (ti % 1.0 < 0.401))  # night-time only


def test_ztf_cadence_every_three_nights():
    t, mask = sv.ztf_times(6, np.random.default_rng(4))
    rows = _rows(t, mask)
    _check_sorted_finite(rows)
    per_season = np.ceil(sv.ZTF_SEASON_DAYS[1] / sv.ZTF_INTERVAL_D)
    for ti in rows:
        assert 0 < len(ti) <= sv.ZTF_SEASONS * per_season
        assert np.ptp(ti) < (sv.ZTF_SEASONS - 1) * YEAR + sv.ZTF_SEASON_DAYS[1] + 1
        gaps = np.diff(np.floor(ti))  # nights between visits: whole multiples of the interval
        assert np.all(np.isclose(gaps % sv.ZTF_INTERVAL_D, 0) | (gaps > YEAR - sv.ZTF_SEASON_DAYS[1] - 1))


def test_tess_cadence_in_sectors():
    rng = np.random.default_rng(4)
    n_sectors = np.array([1, 2, 13, 1])  # a continuous-viewing-zone star among them
    t, mask = sv.tess_times(n_sectors * sv.TESS_PER_SECTOR, rng)
    rows = _rows(t, mask)
    _check_sorted_finite(rows)
    per_sector = sv.TESS_SECTOR_D / sv.TESS_CADENCE_D
    usable = (sv.TESS_SECTOR_D - 2 * sv.TESS_DOWNLINK_D) / sv.TESS_SECTOR_D
    for ti, k in zip(rows, n_sectors):
        assert np.ptp(ti) < k * sv.TESS_SECTOR_D
        assert (1 - 2 * sv.TESS_FLAGGED) * usable * k * per_sector < len(ti) <= usable * k * per_sector + 1
        steps = np.diff(ti) / sv.TESS_CADENCE_D
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)  # on the 30-min grid
    drawn = sv.tess_n_sectors(200, rng)
    assert drawn.min() >= 1 and drawn.max() <= len(sv.TESS_SECTOR_P)


@pytest.mark.parametrize("name", ["asas", "eros", "ztf", "tess"])
def test_new_cadences_simulate_valid_reproducible_surveys(name):
    lcs = simulate_survey(SMALL, cadence=name, seed=5)
    assert np.all(np.isfinite(lcs.time)) and np.all(np.isfinite(lcs.mag)) and np.all(lcs.err > 0)
    assert set(lcs.meta["band"]) == {sv.SURVEYS[name].band}
    assert lcs.ids[0] == f"SIM5-{name.upper()}-CEP-0000000"
    again = simulate_survey(SMALL, cadence=name, seed=5)
    for field in ("time", "mag", "err", "offsets"):
        np.testing.assert_array_equal(getattr(lcs, field), getattr(again, field))


def test_error_laws_of_every_survey_grow_with_magnitude_above_a_floor():
    for survey in sv.SURVEYS.values():
        e = survey.error(np.array([survey.mag_bright, 0.5 * (survey.mag_bright + survey.mag_faint), survey.mag_faint]))
        assert np.all(np.diff(e) > 0) and np.all(e >= survey.err_floor)


# ----------------------------------------------------------------------------- --cadence-from
def _write_donors(folder, meta_class):
    """Three labelled real-like curves of 15-40 points in the standard layout."""
    rng = np.random.default_rng(0)
    rows, ids = [], ["d0", "d1", "d2"]
    for j, n in enumerate((15, 40, 25)):
        t = np.round(np.cumsum(rng.uniform(0.5, 9.0, n)) + 1000 * j, 5)
        rows.append(pd.DataFrame({"id": ids[j], "time": t, "mag": 15.0 + j + 0.1 * rng.standard_normal(n),
                                  "err": rng.uniform(0.01, 0.05, n)}))
    folder.mkdir()
    pd.concat(rows).to_csv(folder / "lightcurves.csv", index=False)
    meta = pd.DataFrame({"id": ids, "period": [1.0, 2.0, 3.0]})
    if meta_class is not None:
        meta["class"] = meta_class
    meta.to_csv(folder / "meta.csv", index=False)
    return folder


def test_cadence_from_reuses_donor_times_and_never_reads_labels(tmp_path):
    labelled = load_donor_cadences(_write_donors(tmp_path / "a", ["CEP", "ECL", "LPV"]))
    donor_times = [tuple(labelled.time[a:b]) for a, b in zip(labelled.offsets[:-1], labelled.offsets[1:])]
    lcs = simulate_survey(SMALL, cadence="ogle", seed=2, donors=labelled)
    for i in range(len(lcs)):
        assert tuple(lcs.curve(i)[0]) in donor_times  # the donor's times, unshifted
    assert np.all(lcs.err > 0)
    assert lcs.ids[0] == f"SIM2-OGLE-FROM{labelled.tag}-CEP-0000000"
    # other labels, or none: the same survey
    for i, classes in enumerate((["RRLYR", "CEP", "ECL"], None)):
        other = simulate_survey(SMALL, cadence="ogle", seed=2, donors=load_donor_cadences(
            _write_donors(tmp_path / f"b{i}", classes)))
        for field in ("time", "mag", "err", "offsets"):
            np.testing.assert_array_equal(getattr(other, field), getattr(lcs, field))
        assert list(other.ids) == list(lcs.ids)


def test_cli_simulate_cadence_from_and_new_cadences(tmp_path):
    from jaxpelsvae.cli import main

    donors = _write_donors(tmp_path / "donors", ["CEP", "ECL", "LPV"])
    args = ["simulate", "--counts", "CEP=2,RRLYR=2", "--seed", "1", "--format", "csv"]
    assert main([*args, "--out", str(tmp_path / "x"), "--cadence-from", str(donors)]) == 0
    meta = pd.read_csv(donors / "meta.csv")
    meta["class"] = ["LPV", "CEP", "ECL"]
    meta.to_csv(donors / "meta.csv", index=False)
    assert main([*args, "--out", str(tmp_path / "y"), "--cadence-from", str(donors)]) == 0
    assert (tmp_path / "x" / "lightcurves.csv").read_bytes() == (tmp_path / "y" / "lightcurves.csv").read_bytes()
    assert main([*args, "--out", str(tmp_path / "z"), "--cadence-from", str(tmp_path / "missing")]) == 2
    assert main([*args, "--out", str(tmp_path / "t"), "--cadence", "ztf"]) == 0
    assert set(pd.read_csv(tmp_path / "t" / "meta.csv")["band"]) == {"r"}


def test_long_curves_come_in_smaller_chunks():
    from jaxpelsvae.simulate.survey import CHUNK_EPOCHS_PER_STAR, _chunk_starts

    # curves up to OGLE's 1500 epochs: chunks of chunk_size stars, as before long curves existed
    assert _chunk_starts(np.sort(np.random.default_rng(0).integers(300, 1501, 50)), 8) == list(range(0, 50, 8))
    # TESS-long curves: each chunk holds at most chunk_size * CHUNK_EPOCHS_PER_STAR padded epochs
    widths = np.sort(np.repeat([1315, 2630, 17095], [10, 5, 6]))
    starts = _chunk_starts(widths, 4)
    for a, b in zip(starts, starts[1:] + [widths.shape[0]]):
        assert 1 <= b - a <= 4 and (b - a) * widths[b - 1] <= max(4 * CHUNK_EPOCHS_PER_STAR, widths[b - 1])
    assert len(starts) > int(np.ceil(widths.shape[0] / 4))
