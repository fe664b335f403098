"""The simulated survey: determinism, standard-layout round trip, physical consistency of every
star, light-curve physics, cadences, and agreement with the real OGLE-III x Gaia DR2 table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.simulate import CLASSES, default_counts, draw_params, parse_counts, simulate_survey, write_survey
from jaxpelsvae.simulate import shapes
from jaxpelsvae.simulate.cadence import GAIA, OGLE, gaia_times, ogle_n_points, ogle_times

SMALL = {"CEP": 4, "DSCT": 3, "ECL": 5, "LPV": 5, "RRLYR": 4}

# Physical constants (SI) for an independent check of the simulator's solar-unit formulas.
SIGMA_SB = 5.670374419e-8
R_SUN_M = 6.957e8
L_SUN_W = 3.828e26
G_CGS = 6.6743e-8
M_SUN_G = 1.98841e33


@pytest.fixture(scope="module")
def gaia_small():
    return simulate_survey(SMALL, cadence="gaia", seed=11)


@pytest.fixture(scope="module")
def ogle_small():
    return simulate_survey(SMALL, cadence="ogle", seed=11)


@pytest.fixture(scope="module")
def params_big():
    """Physical parameters only (no light curves): 3000 stars per class."""
    return {c: draw_params(c, 3000, np.random.default_rng([5, i])) for i, c in enumerate(CLASSES)}


def test_same_seed_same_survey_other_seed_differs(gaia_small):
    again = simulate_survey(SMALL, cadence="gaia", seed=11)
    for name in ("time", "mag", "err", "offsets"):
        np.testing.assert_array_equal(getattr(gaia_small, name), getattr(again, name))
    pd.testing.assert_frame_equal(gaia_small.meta, again.meta)
    other = simulate_survey(SMALL, cadence="gaia", seed=12)
    assert not np.array_equal(other.meta["period"].to_numpy(), gaia_small.meta["period"].to_numpy())
    # other stars, other ids: a record of the stars a model was fitted on never matches another survey
    assert not set(other.ids) & set(gaia_small.ids)
    assert not set(simulate_survey(SMALL, cadence="ogle", seed=11).ids) & set(gaia_small.ids)
    assert gaia_small.ids[0] == "SIM11-GAIA-CEP-0000000"


def test_a_class_does_not_depend_on_the_other_counts(gaia_small):
    alone = simulate_survey({"RRLYR": 4}, cadence="gaia", seed=11)
    both = gaia_small.select_classes(["RRLYR"])
    np.testing.assert_array_equal(alone.mag, both.mag)
    np.testing.assert_array_equal(alone.meta["period"].to_numpy(), both.meta["period"].to_numpy())


def test_round_trip_through_the_standard_layout(gaia_small, tmp_path):
    from jaxpelsvae.data.readers import read_standard

    write_survey(gaia_small, tmp_path / "sim")
    back = read_standard(tmp_path / "sim")
    assert list(back.ids) == list(gaia_small.ids)
    np.testing.assert_array_equal(back.offsets, gaia_small.offsets)
    for name in ("time", "mag", "err"):
        np.testing.assert_allclose(getattr(back, name), getattr(gaia_small, name), rtol=1e-12)
    for col in ("class", "subclass", "period", "teff", "feh", "abs_gmag", "radius", "logg"):
        assert col in back.meta.columns
    np.testing.assert_allclose(back.meta["period"].to_numpy(float), gaia_small.meta["period"].to_numpy(), rtol=1e-12)
    assert set(back.meta["class"]) == set(CLASSES)


def test_curves_are_valid_and_sorted(gaia_small, ogle_small):
    for lcs in (gaia_small, ogle_small):
        assert np.all(np.isfinite(lcs.time)) and np.all(np.isfinite(lcs.mag)) and np.all(lcs.err > 0)
        star = lcs.star_index
        same = star[1:] == star[:-1]
        assert np.all(np.diff(lcs.time)[same] > 0), "times must increase strictly within a star"
    assert np.all((ogle_small.lengths >= 300) & (ogle_small.lengths <= 1500))


def _luminosity_si(radius_rsun, teff):
    return 4 * np.pi * (radius_rsun * R_SUN_M) ** 2 * SIGMA_SB * teff**4 / L_SUN_W


def _bc_andrae(teff):
    """Andrae et al. (2018) BC_G, written out again for an independent check."""
    hot = (6.000e-02, 6.731e-05, -6.647e-08, 2.859e-11, -7.197e-15)
    cool = (1.749e00, 1.977e-03, 3.737e-07, -8.966e-11, -4.183e-14)
    x = np.clip(teff, 2800, 10000) - 5772.0
    poly = lambda a: sum(c * x**i for i, c in enumerate(a))  # noqa: E731
    return np.where(x + 5772.0 >= 4000, poly(hot), poly(cool))


@pytest.mark.parametrize("cls", CLASSES)
def test_every_star_is_physically_consistent(params_big, cls):
    """Stefan-Boltzmann, g = G M / R^2 and M_G = M_bol - BC_G hold for every star; the simulator
    adds no scatter after these relations, so the tolerance is the precision of the constants."""
    p = params_big[cls]
    lum = _luminosity_si(p["radius"], p["teff"])
    np.testing.assert_allclose(lum, p["luminosity"], rtol=2e-3)
    g = G_CGS * p["mass"] * M_SUN_G / (p["radius"] * R_SUN_M * 100) ** 2
    np.testing.assert_allclose(np.log10(g), p["logg"], atol=2e-3)
    mg = 4.74 - 2.5 * np.log10(lum) - _bc_andrae(p["teff"])
    if cls == "ECL":  # the system magnitude adds the companion
        lum2 = _luminosity_si(p["radius2"], p["teff2"])
        mg2 = 4.74 - 2.5 * np.log10(lum2) - _bc_andrae(p["teff2"])
        mg = -2.5 * np.log10(10 ** (-0.4 * mg) + 10 ** (-0.4 * mg2))
        a = p["separation"]
        total = p["mass"] + p["mass2"]
        np.testing.assert_allclose(a**3 / (total * p["period"] ** 2), 4.2084**3, rtol=1e-6)  # Kepler III
        assert np.all(p["radius"] + p["radius2"] < 1.3 * a)
    np.testing.assert_allclose(mg, p["abs_gmag"], atol=5e-3)
    assert np.all(np.isfinite(p["feh"])) and np.all(p["period"] > 0) and np.all(p["mass"] > 0)


def test_rr_lyrae_follow_the_pulsation_equation(params_big):
    p = params_big["RRLYR"]
    p_fund = np.where(p["subclass"] == "RRab", p["period"], p["period"] / 0.745)
    predicted = 11.497 + 0.84 * np.log10(p["luminosity"]) - 0.68 * np.log10(p["mass"]) - 3.48 * np.log10(p["teff"])
    np.testing.assert_allclose(np.log10(p_fund), predicted, atol=1e-9)


def _fourier_fit(phase, mag, k=4):
    cols = [np.ones_like(phase)]
    for j in range(1, k + 1):
        cols += [np.sin(2 * np.pi * j * phase), np.cos(2 * np.pi * j * phase)]
    coef = np.linalg.lstsq(np.stack(cols, 1), mag, rcond=None)[0]
    amp = np.hypot(coef[1::2], coef[2::2])
    phi = np.arctan2(coef[2::2], coef[1::2])  # sine convention: A sin(x + phi)
    return amp, phi


def test_rrab_phi31_follows_period_and_metallicity():
    """Noise-free RRab templates in V obey Jurcsik & Kovacs (1996) within the drawn scatter."""
    rng = np.random.default_rng(3)
    p = draw_params("RRLYR", 400, rng)
    shape = shapes.draw_shape("RRLYR", p, "V", rng)
    ab = np.flatnonzero(p["subclass"] == "RRab")[:40]
    t = np.linspace(0, 1, 400, endpoint=False)[None, :] * p["period"][ab, None]
    mag = shapes.evaluate("RRLYR", shapes.take(shape, ab), t)
    phi31 = []
    for i in range(ab.size):
        amp, phi = _fourier_fit(t[i] / p["period"][ab[i]] + shape["epoch"][ab[i], 0], mag[i])
        phi31.append(np.mod(phi[2] - 3 * phi[0], 2 * np.pi))
    feh_back = -5.038 - 5.394 * p["period"][ab] + 1.345 * np.array(phi31)
    assert np.abs(feh_back - p["feh"][ab]).max() < 0.5  # 0.08 rad drawn scatter * 1.345, 4+ sigma
    assert np.corrcoef(feh_back, p["feh"][ab])[0, 1] > 0.8


def test_cepheid_r21_has_its_hertzsprung_minimum_near_ten_days():
    logp = np.array([0.5, 0.8, 1.0, 1.2])
    r21, _, _, _ = shapes.hertzsprung_progression(logp)
    assert r21[2] == r21.min() and r21[2] < 0.5 * r21[1]


def test_eclipse_of_the_hotter_star_is_deeper():
    rng = np.random.default_rng(4)
    p = draw_params("ECL", 300, rng)
    shape = shapes.draw_shape("ECL", p, "I", rng)
    phase = np.array([0.0, 0.5])
    t = (phase[None, :] - shape["epoch"][:, None]) * p["period"][:, None]
    dmag = shapes.evaluate("ECL", shape, t)
    circular = p["ecc"] == 0
    hotter = circular & (p["teff"] > 1.05 * p["teff2"])
    assert hotter.sum() > 50
    assert np.all(dmag[hotter, 0] > dmag[hotter, 1] - 1e-6)  # magnitudes: deeper = larger
    assert np.all(dmag[circular, 0] > 0)  # circular binaries eclipse at phase 0
    # Eccentric binaries eclipse too, somewhere on a fine phase grid (deeper than 1 mmag).
    ecc = np.flatnonzero(~circular)
    assert ecc.size > 10
    grid = np.linspace(0, 1, 4000, endpoint=False)[None, :] * p["period"][ecc, None]
    deepest = shapes.evaluate("ECL", shapes.take(shape, ecc), grid).max(axis=1)
    assert np.all(deepest > 1e-3)


def test_kepler_equation_is_solved():
    mean_anomaly = np.linspace(0, 2 * np.pi, 50, dtype=np.float32)[None, :]
    ecc = np.array([[0.0], [0.3], [0.6]], np.float32)
    e_anom = shapes._kepler(mean_anomaly, ecc)  # noqa: SLF001
    np.testing.assert_allclose(e_anom - ecc * np.sin(e_anom), np.broadcast_to(mean_anomaly, e_anom.shape), atol=2e-5)


def test_cadences_look_like_the_surveys():
    rng = np.random.default_rng(8)
    n_points = ogle_n_points(50, rng)
    t, mask = ogle_times(n_points, rng)
    for i in range(3):
        ti = t[i, mask[i]]
        gaps = np.diff(ti)
        assert 2400 < ti[-1] - ti[0] < 3000  # ~8 seasons
        assert (gaps > 90).sum() == 7  # seasonal gaps between the 8 seasons
        assert np.all(ti % 1.0 < 0.41)  # night-time only
    t, mask = gaia_times(200, rng)
    n = mask.sum(1)
    assert 20 <= np.median(n) <= 150 and n.min() >= 5
    span = np.array([np.ptp(t[i, mask[i]]) for i in range(20)])
    assert np.all((span > 700) & (span < 1040))
    gaps = np.concatenate([np.diff(t[i, mask[i]]) for i in range(20)])
    assert np.any(np.isclose(gaps, 106.5 / 1440, atol=1e-9))  # the two fields of view


def test_error_laws_grow_with_magnitude():
    for survey in (OGLE, GAIA):
        e = survey.error(np.array([12.0, 16.0, 19.0]))
        assert np.all(np.diff(e) > 0) and e[0] >= survey.err_floor


def test_default_counts_follow_a_catalogue_balance():
    counts = default_counts(10_000)
    assert sum(counts.values()) == 10_000
    assert counts["LPV"] > counts["ECL"] > counts["RRLYR"] > counts["CEP"] > counts["DSCT"] > 0
    assert sum(default_counts(7).values()) == 7


def test_parse_counts_and_bad_input():
    assert parse_counts("CEP=3, rrlyr=2") == {"CEP": 3, "RRLYR": 2}
    for bad in ("XYZ=3", "CEP", "CEP=two", "CEP=-1"):
        with pytest.raises(ConfigError):
            parse_counts(bad)
    with pytest.raises(ConfigError):
        simulate_survey({"CEP": 1}, cadence="kepler")
    with pytest.raises(ConfigError):
        simulate_survey({"CEP": 0})


def test_cli_writes_the_standard_layout(tmp_path, capsys):
    from jaxpelsvae.cli import main

    rc = main(["simulate", "--out", str(tmp_path / "d"), "--counts", "CEP=2,LPV=1", "--cadence", "gaia", "--seed", "2"])
    assert rc == 0
    meta = pd.read_csv(tmp_path / "d" / "meta.csv")
    assert list(meta["class"]) == ["CEP", "CEP", "LPV"]
    assert (tmp_path / "d" / "lightcurves.csv.gz").is_file()
    assert main(["simulate", "--out", str(tmp_path / "e"), "--counts", "CEP=x"]) == 2


# ----------------------------------------------------------------------------- real OGLE-III x Gaia
DIST_MOD = {"LMC": 18.48, "SMC": 18.96}
# Gaia DR2 (Priam) effective temperatures are confined to 3000-10000 K.
DR2_TEFF_RANGE = (3000.0, 10000.0)


def _real_table(shared_data):
    path = shared_data / "ogle3_gaia_dr2_params.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    d = pd.read_csv(path)
    d["field"] = d["OGLE-ID"].str.split("-").str[1]
    low_extinction = d["field"].isin(["LMC", "SMC", "GD"])
    clouds = d["field"].isin(list(DIST_MOD))
    d["log_period"] = np.log10(d["Period"])
    # DR2 temperatures of reddened bulge stars are biased cool (Priam assumed no extinction).
    d["teff"] = d["teff_val"].where(low_extinction)
    # The table's abs_Gmag uses Bayesian distances (~4-8 kpc) even for Magellanic Cloud stars:
    # use the Clouds' distance moduli there; bulge rows (unknown extinction) are left out.
    m_clouds = d["phot_g_mean_mag"] - d["field"].map(DIST_MOD) - d["a_g_val"].fillna(0.0)
    d["abs_g"] = np.where(clouds, m_clouds, np.where(d["field"] == "GD", d["abs_Gmag"], np.nan))
    # Eclipsing binaries in the Clouds: only the most luminous are within OGLE's reach.
    d.loc[(d["Type"] == "ECL") & clouds, "abs_g"] = np.nan
    return d


def test_parameters_match_the_real_ogle3_gaia_table(shared_data, params_big):
    """Per class and quantity: the simulated median lies inside the real 10-90 % range and the
    simulated 10-90 % range inside the real 1-99 % range (10 % margin of that range); where the
    real table has 10-29 usable rows only the median is checked (inside the real min-max)."""
    real = _real_table(shared_data)
    checked, failures = [], []
    for cls in CLASSES:
        p = params_big[cls]
        sim = {
            # The table's long-period variables are all Miras.
            "log_period": np.log10(p["period"][p["subclass"] == "Mira"] if cls == "LPV" else p["period"]),
            "teff": np.clip(p["teff"], *DR2_TEFF_RANGE),
            "abs_g": p["abs_gmag"],
        }
        rows = real[real["Type"] == cls]
        for name, values in sim.items():
            ref = rows[name].dropna().to_numpy()
            if ref.size < 10:
                continue
            q_sim = np.percentile(values, [10, 50, 90])
            if ref.size < 30:
                ok = ref.min() <= q_sim[1] <= ref.max()
            else:
                q1, q10, q90, q99 = np.percentile(ref, [1, 10, 90, 99])
                margin = 0.1 * (q99 - q1)
                ok = (q10 <= q_sim[1] <= q90) and q_sim[0] >= q1 - margin and q_sim[2] <= q99 + margin
            checked.append((cls, name))
            if not ok:
                failures.append(f"{cls} {name}: sim 10/50/90 % {np.round(q_sim, 3)}, real "
                                f"{np.round(np.percentile(ref, [1, 10, 50, 90, 99]), 3)} (n={ref.size})")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 10, checked
