"""Physical parameters of simulated variable stars, drawn per class and tied together by physics.

Every star gets the six parameters the project uses (`PARAM_COLUMNS`, units in `PARAM_UNITS`) plus
`mass` [M_sun] and a `subclass`. They are not drawn independently: per class a few primary
quantities are drawn (period, metallicity, mass, effective temperature, ...) and the rest follows
from published relations:

* luminosity from a pulsation or period-luminosity relation (RR Lyrae: van Albada & Baker 1971
  pulsation equation; Cepheids: period-radius relation, Gieren et al. 1998; delta Scuti:
  pulsation constant Q = P sqrt(rho/rho_sun); long-period variables: bolometric P-L sequences;
  eclipsing binaries: main-sequence mass-radius-temperature and Kepler's third law),
* radius from L = 4 pi R^2 sigma Teff^4 (in solar units R = sqrt(L) (5772 K / Teff)^2),
* logg = log10(g_sun M / R^2) with log10 g_sun = 4.438 (cgs),
* absolute G magnitude M_G = 4.74 - 2.5 log10 L - BC_G(Teff) (Andrae et al. 2018 bolometric
  correction).

The relations hold exactly for every star (no scatter is added after them); for eclipsing
binaries `teff`, `radius`, `logg` and `mass` describe the primary and `abs_gmag` the whole system
(both stars), with the companion in `mass2`, `radius2`, `teff2`, the orbit in `separation`,
`incl_deg`, `ecc`, `omega_deg`; binaries are drawn as a magnitude-limited survey sees them
(luminosity-weighted). Checked against the real OGLE-III x Gaia DR2 table in tests/simulate/test_survey.py.
"""
from __future__ import annotations

import numpy as np

CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")

# Units of the meta columns written by the simulator.
PARAM_COLUMNS = ("period", "teff", "feh", "abs_gmag", "radius", "logg")
PARAM_UNITS = {
    "period": "days",
    "teff": "K",
    "feh": "dex",
    "abs_gmag": "mag (absolute Gaia G)",
    "radius": "R_sun",
    "logg": "dex (cgs)",
    "mass": "M_sun",
}

# Default class balance of a real catalogue (OGLE-III-like: LPV >> ECL > RRLYR > CEP > DSCT).
DEFAULT_FRACTIONS = {"LPV": 0.55, "ECL": 0.25, "RRLYR": 0.12, "CEP": 0.05, "DSCT": 0.03}

# Sub-class mixture per class (names written to meta `subclass`).
SUBCLASS_FRACTIONS = {
    "CEP": {"F": 0.55, "1O": 0.40, "1O/2O": 0.05},
    "DSCT": {"HADS": 0.45, "HADS_F/1O": 0.15, "multimode": 0.40},
    "ECL": {"contact": 0.35, "semidetached": 0.25, "detached": 0.40},
    "LPV": {"Mira": 0.12, "SRV": 0.33, "OSARG": 0.55},
    "RRLYR": {"RRab": 0.72, "RRc": 0.28},
}

T_SUN = 5772.0  # K (IAU nominal)
MBOL_SUN = 4.74  # mag
LOGG_SUN = 4.438  # cgs dex
KEPLER_RSUN = 4.2084  # a [R_sun] = 4.2084 (M_tot [M_sun])^(1/3) (P [d])^(2/3)

# Andrae et al. (2018, A&A 616, A8) Eq. 7: BC_G = sum a_i (Teff - T_sun)^i, valid 3300-8000 K.
_BC_HOT = (6.000e-02, 6.731e-05, -6.647e-08, 2.859e-11, -7.197e-15)  # 4000-8000 K
_BC_COOL = (1.749e00, 1.977e-03, 3.737e-07, -8.966e-11, -4.183e-14)  # 3300-4000 K


def bolometric_correction_g(teff):
    """BC_G(Teff) in mag (Andrae et al. 2018); Teff (any shape) in K, clipped to 2800-10000 K
    (the polynomials are extrapolated a little beyond 3300-8000 K)."""
    x = np.clip(np.asarray(teff, np.float64), 2800.0, 10000.0) - T_SUN
    hot = sum(a * x**i for i, a in enumerate(_BC_HOT))
    cool = sum(a * x**i for i, a in enumerate(_BC_COOL))
    return np.where(x + T_SUN >= 4000.0, hot, cool)


def radius_from(lum, teff):
    """Stefan-Boltzmann: radius [R_sun] from luminosity [L_sun] and Teff [K]."""
    return np.sqrt(lum) * (T_SUN / np.asarray(teff, np.float64)) ** 2


def luminosity_from(radius, teff):
    """Stefan-Boltzmann: luminosity [L_sun] from radius [R_sun] and Teff [K]."""
    return np.asarray(radius, np.float64) ** 2 * (np.asarray(teff, np.float64) / T_SUN) ** 4


def logg_from(mass, radius):
    """Surface gravity log10(g [cgs]) from mass [M_sun] and radius [R_sun]."""
    return LOGG_SUN + np.log10(mass) - 2.0 * np.log10(radius)


def abs_gmag_from(lum, teff):
    """Absolute Gaia G magnitude from luminosity [L_sun] and Teff [K]."""
    return MBOL_SUN - 2.5 * np.log10(lum) - bolometric_correction_g(teff)


def combine_mags(m1, m2):
    """Magnitude of two unresolved stars."""
    return -2.5 * np.log10(10 ** (-0.4 * np.asarray(m1)) + 10 ** (-0.4 * np.asarray(m2)))


def roche_lobe(q):
    """Eggleton (1983) Roche-lobe radius in units of the separation, q = M_this / M_other."""
    q23 = np.asarray(q, np.float64) ** (2.0 / 3.0)
    return 0.49 * q23 / (0.6 * q23 + np.log1p(np.cbrt(q)))


def _clipped_normal(rng, mean, sd, lo, hi, n):
    return np.clip(rng.normal(mean, sd, n), lo, hi)


def _pick(rng, fractions: dict, n: int) -> np.ndarray:
    names = np.array(list(fractions), dtype=object)
    p = np.array(list(fractions.values()), np.float64)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _finish(out: dict, lum, teff, mass) -> dict:
    """Radius, logg and M_G from L, Teff and mass (the physics shared by all single stars)."""
    out["teff"] = teff
    out["radius"] = radius_from(lum, teff)
    out["logg"] = logg_from(mass, out["radius"])
    out["abs_gmag"] = abs_gmag_from(lum, teff)
    out["mass"] = mass
    out["luminosity"] = lum
    return out


def _rrlyr(rng, n):
    sub = _pick(rng, SUBCLASS_FRACTIONS["RRLYR"], n)
    ab = sub == "RRab"
    feh = _clipped_normal(rng, -1.3, 0.5, -2.6, 0.2, n)
    mass = _clipped_normal(rng, 0.68, 0.05, 0.55, 0.85, n)
    # Periods grow toward low metallicity (Oosterhoff/Sandage period shift).
    logp_ab = np.clip(np.log10(0.575) - 0.12 * (feh + 1.3) + rng.normal(0, 0.055, n), np.log10(0.36), np.log10(0.95))
    logp_c = np.clip(np.log10(0.33) - 0.05 * (feh + 1.3) + rng.normal(0, 0.045, n), np.log10(0.21), np.log10(0.48))
    logp = np.where(ab, logp_ab, logp_c)
    # Across the instability strip: longer-period RRab are redder; RRc sit at the blue side.
    teff = np.where(ab, 6500.0 - 2500.0 * (logp + 0.24), 7150.0 - 1500.0 * (logp + 0.48)) + rng.normal(0, 120, n)
    logp_f = np.where(ab, logp, logp - np.log10(0.745))  # fundamentalised period of RRc
    # van Albada & Baker (1971): log P_F = 11.497 + 0.84 log L - 0.68 log M - 3.48 log Teff.
    log_l = (logp_f - 11.497 + 0.68 * np.log10(mass) + 3.48 * np.log10(teff)) / 0.84
    out = {"subclass": sub, "period": 10**logp, "feh": feh}
    return _finish(out, 10**log_l, teff, mass)


def _cep(rng, n):
    sub = _pick(rng, SUBCLASS_FRACTIONS["CEP"], n)
    feh = _clipped_normal(rng, -0.3, 0.25, -1.0, 0.3, n)
    long_tail = rng.random(n) < 0.15
    logp_f = np.where(long_tail, rng.normal(0.95, 0.3, n), rng.normal(0.45, 0.18, n))
    logp_1o = rng.normal(0.22, 0.17, n)
    logp_12 = rng.normal(-0.1, 0.12, n)
    logp = np.select([sub == "F", sub == "1O"], [np.clip(logp_f, 0.0, 1.8), np.clip(logp_1o, -0.4, 0.8)],
                     np.clip(logp_12, -0.4, 0.3))
    # Fundamentalised period: P_1O / P_F = 0.72 (Soszynski et al. 2008).
    logp_fund = np.where(sub == "F", logp, logp - np.log10(0.72))
    # Period-radius relation (Gieren et al. 1998) and the instability-strip temperature trend.
    radius = 10 ** (0.750 * logp_fund + 1.075 + rng.normal(0, 0.02, n))
    teff = 10 ** (3.795 - 0.06 * logp_fund + np.where(sub == "F", 0.0, 0.01) + rng.normal(0, 0.012, n))
    mass = 10 ** (0.55 + 0.30 * logp_fund + rng.normal(0, 0.03, n))
    out = {"subclass": sub, "period": 10**logp, "feh": feh}
    return _finish(out, luminosity_from(radius, teff), teff, mass)


def _dsct(rng, n):
    sub = _pick(rng, SUBCLASS_FRACTIONS["DSCT"], n)
    feh = _clipped_normal(rng, 0.0, 0.2, -0.8, 0.5, n)
    mass = _clipped_normal(rng, 1.8, 0.25, 1.4, 2.6, n)
    logp = np.where(sub == "multimode", _clipped_normal(rng, -1.05, 0.18, -1.6, -0.55, n),
                    _clipped_normal(rng, -0.92, 0.15, -1.5, -0.55, n))
    # Pulsation constant Q = P sqrt(M/R^3) (days): 0.033 for the radial fundamental mode, smaller
    # for the overtones that often dominate low-amplitude multi-mode stars.
    q = np.where(sub == "multimode", rng.uniform(0.022, 0.033, n), 0.033)
    radius = np.cbrt(mass * (10**logp / q) ** 2)
    teff = np.clip(7400.0 - 1000.0 * (logp + 1.0) + rng.normal(0, 300, n), 6300.0, 8800.0)
    out = {"subclass": sub, "period": 10**logp, "feh": feh}
    return _finish(out, luminosity_from(radius, teff), teff, mass)


def _lpv(rng, n):
    sub = _pick(rng, SUBCLASS_FRACTIONS["LPV"], n)
    mira, srv = sub == "Mira", sub == "SRV"
    feh = _clipped_normal(rng, -0.3, 0.3, -1.5, 0.4, n)
    mass = 10 ** np.select([mira, srv], [rng.normal(0.1, 0.12, n), rng.normal(0.1, 0.15, n)], rng.normal(0.05, 0.1, n))
    logp = np.select([mira, srv], [_clipped_normal(rng, 2.48, 0.13, 2.0, 2.95, n),
                                   _clipped_normal(rng, 2.0, 0.25, 1.4, 2.7, n)],
                     _clipped_normal(rng, 1.55, 0.22, 1.0, 2.1, n))
    # Bolometric period-luminosity sequences of the LMC (Miras and SRVs on the fundamental-mode
    # sequence C / first-overtone C', OSARGs on the overtone sequences A/B near the RGB tip).
    mbol = np.select([mira, srv], [-3.0 * (logp - 2.5) - 4.8, -3.0 * (logp + 0.1 - 2.5) - 4.8],
                     -3.0 * (logp - 1.6) - 3.5) + rng.normal(0, 0.25, n)
    teff = np.select([mira, srv], [_clipped_normal(rng, 3000, 200, 2500, 3600, n),
                                   _clipped_normal(rng, 3350, 150, 2900, 3800, n)],
                     _clipped_normal(rng, 3700, 180, 3200, 4200, n))
    out = {"subclass": sub, "period": 10**logp, "feh": feh}
    return _finish(out, 10 ** ((MBOL_SUN - mbol) / 2.5), teff, mass)


def _main_sequence(mass):
    """Zero-age-main-sequence-like radius [R_sun] and Teff [K] of a star of `mass` [M_sun]."""
    return mass**0.8, T_SUN * mass**0.55


def _ecl(rng, n):
    sub = _pick(rng, SUBCLASS_FRACTIONS["ECL"], n)
    contact, semi = sub == "contact", sub == "semidetached"
    feh = _clipped_normal(rng, -0.1, 0.25, -1.0, 0.4, n)
    m1 = np.select([contact, semi], [_clipped_normal(rng, 1.2, 0.25, 0.6, 2.2, n),
                                     10 ** _clipped_normal(rng, 0.35, 0.15, 0.0, 0.8, n)],
                   10 ** _clipped_normal(rng, 0.12, 0.2, -0.25, 0.6, n))
    q = np.select([contact, semi], [0.08 + 0.8 * rng.beta(2, 3, n), rng.uniform(0.15, 0.6, n)],
                  0.35 + 0.65 * rng.beta(3, 1.5, n))
    m2 = q * m1
    logp = np.select([contact, semi], [_clipped_normal(rng, -0.43, 0.09, -0.62, -0.15, n),
                                       _clipped_normal(rng, 0.25, 0.25, -0.3, 1.2, n)],
                     _clipped_normal(rng, 0.45, 0.45, -0.3, 2.0, n))
    period = 10**logp
    a = KEPLER_RSUN * np.cbrt(m1 + m2) * period ** (2.0 / 3.0)  # separation [R_sun]
    rl1, rl2 = roche_lobe(q ** -1.0) * a, roche_lobe(q) * a
    r1_ms, t1_ms = _main_sequence(m1)
    r2_ms, t2_ms = _main_sequence(m2)
    # Detached: main-sequence stars, some evolved, kept inside 85 % of their Roche lobes.
    grow1 = 10 ** rng.uniform(0.0, 0.25, n)
    grow2 = 10 ** rng.uniform(0.0, 0.1, n)
    r1_det = np.minimum(r1_ms * grow1, 0.85 * rl1)
    r2_det = np.minimum(r2_ms * grow2, 0.85 * rl2)
    # Semi-detached (Algol): the less massive star fills its Roche lobe.
    r1_semi = np.minimum(r1_ms * grow1, 0.8 * rl1)
    # Contact: both stars fill (slightly overfill) their lobes.
    fill = 1.0 + 0.1 * rng.random(n)
    r1 = np.select([contact, semi], [rl1 * fill, r1_semi], r1_det)
    r2 = np.select([contact, semi], [rl2 * fill, rl2], r2_det)
    # Evolved (larger than main-sequence) stars are cooler at a similar luminosity.
    t1 = t1_ms * (r1_ms / r1) ** 0.35
    t2_det = t2_ms * (r2_ms / r2) ** 0.35
    t2 = np.select([contact, semi], [t1 * (1.0 + rng.normal(0, 0.03, n)), t1 * rng.uniform(0.45, 0.75, n)], t2_det)
    t1, t2 = np.clip(t1, 3000.0, 30000.0), np.clip(t2, 2800.0, 30000.0)
    # Detached binaries wider than ~2 d keep eccentric orbits (tides circularise closer ones);
    # periastron must stay wider than the stars.
    e_max = np.clip(1.0 - (r1 + r2) / (0.8 * a), 0.0, 0.6)
    ecc = np.where(~contact & ~semi & (period > 2.0), np.minimum(rng.beta(1.2, 4.0, n), e_max), 0.0)
    omega = np.where(ecc > 0, rng.uniform(0.0, 2 * np.pi, n), np.pi / 2)
    # Only eclipsing orientations: cos i below the grazing limit (R1 + R2) / r at the closer
    # conjunction, r = a (1 - e^2) / (1 + e |sin omega|).
    r_conj = a * (1 - ecc**2) / (1 + ecc * np.abs(np.sin(omega)))
    cos_i = rng.random(n) * np.minimum(0.98 * (r1 + r2) / r_conj, 1.0)
    out = {"subclass": sub, "period": period, "feh": feh}
    out = _finish(out, luminosity_from(r1, t1), t1, m1)
    lum2 = luminosity_from(r2, t2)
    out["abs_gmag"] = combine_mags(out["abs_gmag"], abs_gmag_from(lum2, t2))
    out.update(mass2=m2, radius2=r2, teff2=t2, incl_deg=np.degrees(np.arccos(cos_i)), separation=a,
               ecc=ecc, omega_deg=np.degrees(omega))
    return out


def _ecl_observed(rng, n):
    """Binaries as a magnitude-limited survey sees them: luminous systems are seen out to larger
    distances, so draw 3n systems and keep n with probability proportional to L^0.5 (the
    Malmquist weight is L^1.5 in a transparent Euclidean volume, L in a thin disc, and less where
    dust in the disc limits the depth of the survey)."""
    pool = _ecl(rng, 3 * n)
    weight = 10 ** (-0.2 * (pool["abs_gmag"] - np.median(pool["abs_gmag"])))
    keep = np.sort(rng.choice(3 * n, size=n, replace=False, p=weight / weight.sum()))
    return {k: v[keep] for k, v in pool.items()}


_DRAW = {"CEP": _cep, "DSCT": _dsct, "ECL": _ecl_observed, "LPV": _lpv, "RRLYR": _rrlyr}


def draw_params(cls: str, n: int, rng: np.random.Generator) -> dict:
    """Physical parameters of `n` stars of class `cls` (one of `CLASSES`).

    Returns a dict of (n,) arrays: `subclass` (str), `period` [d], `teff` [K], `feh` [dex],
    `abs_gmag` [mag], `radius` [R_sun], `logg` [cgs dex], `mass` [M_sun], `luminosity` [L_sun];
    eclipsing binaries also `mass2`, `radius2`, `teff2`, `incl_deg`, `separation` [R_sun],
    `ecc` (orbital eccentricity) and `omega_deg` (argument of periastron).
    """
    if cls not in _DRAW:
        from jaxpelsvae.errors import ConfigError

        raise ConfigError(f"simulate: unknown class {cls!r}; known classes: {CLASSES}")
    out = _DRAW[cls](rng, int(n))
    out["subclass"] = np.asarray(out["subclass"], dtype=str)
    return out
