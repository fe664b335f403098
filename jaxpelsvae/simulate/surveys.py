"""The simulated surveys (ASAS, EROS, ZTF, TESS beside OGLE and Gaia) and the registry of cadences.

Each survey is a `cadence.Survey` (band, magnitude-limited counts, error law, outliers) plus a
times function returning padded (N, T) float64 days with a mask, sorted per star. A survey whose
number of epochs is drawn before its times (`Cadence.n_points`) lets the simulator group stars of
similar lengths (small padded arrays); the others draw their epochs inside `times`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from jaxpelsvae.simulate.cadence import (GAIA, OGLE, Survey, _compact, gaia_times, ogle_n_points, ogle_times,
                                         season_times)

# ASAS-3 (Pojmanski 2002): V band from Las Campanas, bright stars (saturation ~8 mag, limit ~14),
# errors ~0.03 mag at the bright end to ~0.2 mag at the limit; frequent outliers (bad frames).
ASAS = Survey("asas", "V", 8.0, 14.0, 0.3, 0.025, 0.2, 14.0, 0.35, 0.01, 1.0)
ASAS_SEASONS = 9
ASAS_SEASON_DAYS = (200.0, 280.0)
ASAS_POINTS = (300, 1000)  # ~600 a star

# EROS-2 (Tisserand et al. 2007): broad red band R_EROS (0.62-0.92 um, simulated as I_C), Magellanic
# Cloud and bulge fields at La Silla, ~13.5-20.5 mag, errors ~0.01 mag floor, ~0.1 mag at 19.5.
EROS = Survey("eros", "I", 13.5, 20.5, 0.25, 0.01, 0.1, 19.5, 0.35, 0.005, 0.58)
EROS_SEASONS = 7
EROS_SEASON_DAYS = (250.0, 320.0)
EROS_POINTS = (250, 1000)  # several hundred a star

# ZTF public survey (Bellm et al. 2019, Masci et al. 2019): r band only (g is not simulated), the
# northern sky every ~3 nights from Palomar, 5-sigma limit r ~ 20.5, saturation ~13 mag.
ZTF = Survey("ztf", "r", 13.0, 20.5, 0.25, 0.01, 0.1, 20.0, 0.4, 0.005, 0.83)
ZTF_SEASONS = 3
ZTF_SEASON_DAYS = (180.0, 280.0)
ZTF_INTERVAL_D = 3.0
ZTF_CLEAR = 0.75  # fraction of scheduled visits not lost to weather or scheduling

# TESS (Ricker et al. 2015): 600-1000 nm T band centred on I_C (simulated as I_C), bright stars
# (saturation ~6.8 mag, full-frame-image photometry to ~15), errors from ~0.2 mmag (systematics)
# to ~0.05 mag at T = 16 per 30-min cadence.
TESS = Survey("tess", "I", 7.0, 15.0, 0.3, 0.0002, 0.01, 14.0, 0.35, 0.001, 0.58)
TESS_SECTOR_D = 27.4  # two 13.7-d orbits
TESS_DOWNLINK_D = 1.0  # data downlink at the end of each orbit: no data
TESS_CADENCE_D = 30.0 / 1440.0  # full-frame images of the prime mission (10 min from 2020)
TESS_FLAGGED = 0.05  # cadences lost to momentum dumps and scattered light
TESS_START = 1325.3  # BTJD (BJD - 2457000) of sector 1
# Sectors a star is observed in: most of the sky once, the continuous viewing zones 13 times.
TESS_SECTOR_P = (0.55, 0.2, 0.08, 0.04, 0.03, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01)


def _n_points(n, rng, median: float, bounds: tuple[int, int]):
    """Epochs per star: N(median, median / 4) rounded and clipped to `bounds`."""
    return np.clip(np.round(rng.normal(median, median / 4.0, n)), *bounds).astype(np.int64)


def asas_n_points(n, rng):
    """ASAS epochs per star: ~600 (300-1000) over its ~9 years."""
    return _n_points(n, rng, 600.0, ASAS_POINTS)


def asas_times(n_points, rng):
    """ASAS-like epochs (Pojmanski 2002): a ground-based survey of ~9 years with one field visit on
    most clear nights, 9 seasons of 200-280 days (a southern field's visibility) and seasonal gaps
    between them. Returns (t_NT float64 days from HJD 2451000, mask_NT bool)."""
    return season_times(n_points, rng, n_seasons=ASAS_SEASONS, season_days=ASAS_SEASON_DAYS)


def eros_n_points(n, rng):
    """EROS-2 epochs per star: ~550 (250-1000) in R_EROS over ~6.7 years."""
    return _n_points(n, rng, 550.0, EROS_POINTS)


def eros_times(n_points, rng):
    """EROS-2-like epochs (Tisserand et al. 2007, 1996-2003): Magellanic Cloud fields observed on
    many nights of 7 long seasons (250-320 d; the Clouds are circumpolar from La Silla), several
    epochs on some nights. EROS-1 (photographic, ~120 epochs over ~2.5 yr) is closer to
    `simulate --cadence-from` on its curves. Returns (t_NT float64 days, mask_NT bool)."""
    return season_times(n_points, rng, n_seasons=EROS_SEASONS, season_days=EROS_SEASON_DAYS)


def ztf_times(n, rng):
    """ZTF-like r-band epochs of `n` stars (Bellm et al. 2019): 3 yearly seasons of 180-280 days
    (Palomar visibility), a visit every 3 nights on a fixed grid (phase per star) inside the
    season, 75 % of visits kept (weather, scheduling), each at night (0.05-0.35 d into the day).
    Returns (t_NT float64 days, mask_NT bool), sorted per star."""
    per_season = int(np.ceil(ZTF_SEASON_DAYS[1] / ZTF_INTERVAL_D))
    season_len = rng.uniform(*ZTF_SEASON_DAYS, (n, 1, 1))
    start = 100.0 + rng.uniform(0.0, 365.25, (n, 1, 1)) + np.arange(ZTF_SEASONS)[None, :, None] * 365.25
    grid = np.arange(per_season)[None, None, :] * ZTF_INTERVAL_D + rng.uniform(0.0, ZTF_INTERVAL_D, (n, 1, 1))
    night = np.floor(start + grid)
    t = night + 0.05 + 0.3 * rng.random((n, ZTF_SEASONS, per_season))
    mask = (grid < season_len) & (rng.random(t.shape) < ZTF_CLEAR)
    return _compact(t.reshape(n, -1), mask.reshape(n, -1))


TESS_PER_SECTOR = int(round(TESS_SECTOR_D / TESS_CADENCE_D))  # cadences of a sector


def tess_n_sectors(n, rng):
    """TESS sectors per star: 1-13 (`TESS_SECTOR_P`; 13 in the continuous viewing zones)."""
    return rng.choice(np.arange(1, len(TESS_SECTOR_P) + 1), size=n, p=TESS_SECTOR_P).astype(np.int64)


def tess_n_slots(n, rng):
    """Cadence slots per star (`TESS_PER_SECTOR` per sector, before the gaps): `tess_times`' sizes."""
    return tess_n_sectors(n, rng) * TESS_PER_SECTOR


def tess_times(n_slots, rng):
    """TESS-like epochs (Ricker et al. 2015) for stars observed in `n_slots` (N,) // TESS_PER_SECTOR
    consecutive 27.4-d sectors of one year-long hemisphere: a 30-min cadence, no data in the 1-d
    downlink at the end of each 13.7-d orbit, 5 % of cadences flagged out. The mask is not packed to
    the front (the grid is dense). Returns (t_NT float64 BTJD days, mask_NT bool), sorted per star."""
    n_sectors = n_slots // TESS_PER_SECTOR
    n = n_sectors.shape[0]
    n_cols = int(n_sectors.max()) * TESS_PER_SECTOR
    first = rng.integers(0, len(TESS_SECTOR_P) - n_sectors + 1)  # first sector, the last within the year
    col = np.arange(n_cols)[None, :]
    t = TESS_START + first[:, None] * TESS_SECTOR_D + (col + 0.5) * TESS_CADENCE_D
    in_orbit = ((col + 0.5) * TESS_CADENCE_D) % (TESS_SECTOR_D / 2)
    mask = (col < n_sectors[:, None] * TESS_PER_SECTOR) & (in_orbit < TESS_SECTOR_D / 2 - TESS_DOWNLINK_D)
    mask &= rng.random((n, n_cols)) >= TESS_FLAGGED
    return t, mask


@dataclass(frozen=True)
class Cadence:
    """A survey and its epochs: `times(n_points, rng)` with `n_points(n, rng)` drawn first (per-star
    sizes that let the simulator group similar stars), or `times(n, rng)` when `n_points` is None."""

    survey: Survey
    times: Callable
    n_points: Callable | None = None


CADENCES = {
    "ogle": Cadence(OGLE, ogle_times, ogle_n_points),
    "gaia": Cadence(GAIA, gaia_times),
    "asas": Cadence(ASAS, asas_times, asas_n_points),
    "eros": Cadence(EROS, eros_times, eros_n_points),
    "ztf": Cadence(ZTF, ztf_times),
    "tess": Cadence(TESS, tess_times, tess_n_slots),
}
SURVEYS = {name: c.survey for name, c in CADENCES.items()}

__all__ = ["ASAS", "EROS", "ZTF", "TESS", "CADENCES", "SURVEYS", "Cadence", "asas_n_points", "asas_times",
           "eros_n_points", "eros_times", "ztf_times", "tess_n_sectors", "tess_n_slots", "tess_times"]
