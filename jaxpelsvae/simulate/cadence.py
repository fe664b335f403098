"""Survey cadences (observation times), apparent magnitudes and photometric noise.

Two surveys here: `OGLE` (ground-based I band, ~8 observing seasons, 300-1500 epochs, night-time
only) and `GAIA` (space-based G band, ~1000 days of transits grouped by the scanning law: pairs of
field-of-view crossings 106.5 min apart, repeated every 6-h spin, visits every few weeks); the
others (ASAS, EROS, ZTF, TESS) and the registry of cadences are in `surveys`.
Times are returned as padded (N, T) float64 arrays [days] with a mask, already sorted per star.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_DISTANCE_PC = 6.0e4  # farthest simulated star (the Small Magellanic Cloud is at ~62 kpc)
FOV_GAP_D = 106.5 / 1440.0  # days between the two Gaia fields of view
SPIN_D = 0.25  # Gaia spin period [days]


@dataclass(frozen=True)
class Survey:
    """A survey: band, magnitude range and slope of its star counts, error law, outliers.

    Mean apparent magnitudes follow dN/dm ~ 10^(count_slope m) on [mag_bright, mag_faint]
    (a magnitude-limited sample); per-epoch errors are
    sqrt(err_floor^2 + (err_ref 10^(err_slope (m - mag_ref)))^2) [mag].
    """

    name: str
    band: str
    mag_bright: float
    mag_faint: float
    count_slope: float
    err_floor: float
    err_ref: float
    mag_ref: float
    err_slope: float
    outlier_rate: float
    extinction_per_band: float  # A_band / A_V

    def error(self, mag):
        """Typical per-epoch error [mag] at magnitude `mag`."""
        photon = self.err_ref * 10 ** (self.err_slope * (np.asarray(mag) - self.mag_ref))
        return np.sqrt(self.err_floor**2 + photon**2)


OGLE = Survey("ogle", "I", 13.0, 19.5, 0.25, 0.004, 0.07, 19.0, 0.3, 0.002, 0.58)
GAIA = Survey("gaia", "G", 8.5, 20.0, 0.2, 0.0008, 0.01, 18.0, 0.4, 0.004, 0.84)


# --------------------------------------------------------------------------- cadences
def _sorted_uniform(rng, n_points, t_max):
    """(N, T) sorted uniform variates on (0, 1) without a sort (normalised exponential spacings);
    row i holds n_points[i] of them, the padding after them is just below 1."""
    gaps = rng.standard_exponential((n_points.shape[0], t_max + 1))
    cum = np.cumsum(gaps, axis=1)
    total = np.take_along_axis(cum, n_points[:, None], axis=1)
    return np.minimum(cum[:, :-1] / total, 1.0 - 1e-12)


def ogle_times(n_points, rng):
    """OGLE-like epochs for stars with `n_points` (N,) observations each.

    8 seasons of 180-260 nights (the field's visibility), season starts fixed per star, unequal
    numbers of epochs per season, observations only in a 0.35-day night window.
    Returns (t_NT float64 days from HJD 2452000, mask_NT bool).
    """
    return season_times(n_points, rng, n_seasons=8, season_days=(180.0, 260.0))


def season_times(n_points, rng, *, n_seasons: int, season_days: tuple[float, float], night_days: float = 0.35):
    """Epochs of a ground-based survey for stars with `n_points` (N,) observations each: `n_seasons`
    yearly seasons of U(season_days) days (the field's visibility; one length per star), the first
    starting 100-465 d after the zero point, epochs spread over the seasons with Dirichlet(6) weights
    (unequal seasons), each epoch inside the first `night_days` of its night (after 0.05 d).
    Returns (t_NT float64 days, mask_NT bool), sorted per star; the padding follows the epochs.
    """
    n = n_points.shape[0]
    t_max = int(n_points.max())
    u = _sorted_uniform(rng, n_points, t_max)
    weights = rng.dirichlet(np.full(n_seasons, 6.0), n)  # (N, S)
    cumw = np.concatenate([np.zeros((n, 1)), np.cumsum(weights, axis=1)], axis=1)
    cumw[:, -1] = 1.0 + 1e-12
    # Season of each epoch: u is sorted per row, so the season boundaries are insertion points;
    # one searchsorted over all rows at once (rows shifted apart by 2).
    rows = np.arange(n)[:, None]
    pos = np.searchsorted((u + 2.0 * rows).ravel(), (cumw[:, 1:-1] + 2.0 * rows).ravel())
    pos -= (rows * t_max).repeat(n_seasons - 1)
    marks = np.zeros((n, t_max + 1), np.int8)
    np.add.at(marks, (rows.repeat(n_seasons - 1), pos), 1)
    season = np.cumsum(marks[:, :t_max], axis=1, dtype=np.int8)
    # Season k maps u in [cumw_k, cumw_k+1) linearly onto its visibility window.
    season_len = rng.uniform(season_days[0], season_days[1], (n, 1))
    start = 100.0 + rng.uniform(0.0, 365.25, (n, 1))
    slope = season_len / weights  # (N, S) days per unit of u
    intercept = start + np.arange(n_seasons)[None, :] * 365.25 - cumw[:, :-1] * slope
    t = np.take_along_axis(intercept, season, axis=1) + u * np.take_along_axis(slope, season, axis=1)
    night = np.floor(t)
    t = night + 0.05 + night_days * (t - night)  # squeeze each day into its night: keeps the order
    mask = np.arange(t_max)[None, :] < n_points[:, None]
    return t, mask


def ogle_n_points(n, rng):
    """Epochs per star: 300 + a log-normal excess (median ~550), at most 1500 (OGLE-III fields)."""
    return np.clip(np.round(300 + 10 ** rng.normal(np.log10(250), 0.35, n)), 300, 1500).astype(np.int64)


def gaia_times(n, rng, max_visits: int = 64, max_per_visit: int = 16):
    """Gaia-like epochs for `n` stars over the DR3 window (1666-2704 d, BJD - 2455197.5).

    Visits are separated by scan-law intervals (mostly 2-8 weeks, some 3-5 month gaps, a few
    revisits after days); a visit holds 1-6 transits (mostly one pair) alternating between the
    two fields of view (gaps of 106.5 min and 6 h - 106.5 min). Some visits are long runs of consecutive scans
    (8-16 transits over 1-2 days; frequent for stars whose ecliptic latitude lies near the
    scanning law's +-45 deg caustics, here a per-star propensity). 8 % of transits are lost.
    Returns (t_NT float64 days, mask_NT bool), sorted per star.
    """
    shape = (n, max_visits)
    kind = rng.random(shape)
    interval = np.where(kind < 0.08, rng.uniform(80.0, 140.0, shape),
                        np.where(kind < 0.12, rng.uniform(1.5, 8.0, shape), 6.0 + rng.gamma(4.0, 8.0, shape)))
    # Stars near the ecliptic poles get more visits: scale the intervals per star.
    interval *= rng.uniform(0.6, 1.4, (n, 1))
    # Mostly one field-of-view pair; single transits and a third or fourth scan are rarer.
    per_visit = rng.choice(np.arange(1, 7), size=shape, p=(0.2, 0.5, 0.12, 0.1, 0.05, 0.03))
    burst = rng.random(shape) < rng.uniform(0.0, 0.06, (n, 1))
    per_visit = np.where(burst, rng.integers(8, max_per_visit + 1, shape), per_visit)
    first = (rng.random(shape + (1,)) < 0.25).astype(np.int64)  # the following field of view first
    pos = np.arange(max_per_visit)[None, None, :] + first
    offset = (pos // 2) * SPIN_D + (pos % 2) * FOV_GAP_D
    offset = offset - offset[:, :, :1]
    # A visit starts only after the previous one ended (keeps the epochs sorted).
    span = np.take_along_axis(offset, (per_visit - 1)[:, :, None], axis=2)[:, :, 0]
    interval[:, 1:] = np.maximum(interval[:, 1:], span[:, :-1] + 0.5)
    visit_t = 1666.0 + rng.uniform(0.0, 40.0, (n, 1)) + np.cumsum(interval, axis=1) - interval[:, :1]
    t = visit_t[:, :, None] + offset
    mask = (np.arange(max_per_visit)[None, None, :] < per_visit[:, :, None]) & (t < 2704.0)
    mask &= rng.random(mask.shape) >= 0.08
    return _compact(t.reshape(n, -1), mask.reshape(n, -1))


def _compact(t_NT, mask_NT):
    """Move each row's valid entries to its front (order kept) and drop all-padding columns, so
    that light curves are evaluated on ~max(n_points) columns rather than visits x transits."""
    order = np.argsort(~mask_NT, axis=1, kind="stable")[:, : max(int(mask_NT.sum(1).max()), 1)]
    return np.take_along_axis(t_NT, order, axis=1), np.take_along_axis(mask_NT, order, axis=1)


# --------------------------------------------------------------------------- magnitudes and noise
_VI_TEFF = np.array([2500, 3000, 3300, 3500, 3800, 4200, 5000, 5800, 6500, 7500, 10000, 30000], np.float64)
_VI_COLOUR = np.array([5.5, 4.5, 3.5, 2.7, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.0, -0.3])


def v_minus_i(teff):
    """Intrinsic (V - I)_C colour [mag] of a star of effective temperature `teff` [K]."""
    return np.interp(np.log10(teff), np.log10(_VI_TEFF), _VI_COLOUR)


def g_minus_i(teff):
    """(G - I)_C from (V - I)_C (Gaia DR2 photometric relations, Evans et al. 2018)."""
    vi = v_minus_i(teff)
    return -0.01760 + 0.99314 * vi - 0.1732 * vi**2 * (vi < 2.75) - 0.1732 * 2.75**2 * (vi >= 2.75)


# ZTF r (effective wavelength ~0.62 um) as a colour interpolation between V (0.55 um) and
# I_C (0.80 um), linear in wavelength: r = V - R_FROM_VI (V - I).
R_FROM_VI = (0.62 - 0.55) / (0.80 - 0.55)


def absolute_mag(abs_gmag, teff, band):
    """Absolute magnitude in `band` ('G', 'I', 'V' or 'r') from M_G and Teff.

    V and I_C follow from the (G - I) and (V - I) colours; ZTF r is interpolated between them
    (`R_FROM_VI`), an approximation good to a few hundredths of a magnitude for non-extreme colours.
    """
    if band == "G":
        return np.asarray(abs_gmag, np.float64)
    abs_i = abs_gmag - g_minus_i(teff)
    if band == "I":
        return abs_i
    if band == "V":
        return abs_i + v_minus_i(teff)
    if band == "r":
        return abs_i + (1.0 - R_FROM_VI) * v_minus_i(teff)
    raise ValueError(f"unknown band {band!r}")


def place_stars(abs_mag, survey: Survey, rng, extinction: bool = True, target=None):
    """Distances and extinctions that put stars of absolute magnitude `abs_mag` (N,) at apparent
    magnitudes drawn from the survey's magnitude-limited counts (or at `target` (N,) when given).

    Extinction grows with distance, A_V = k d with k ~ U(0.2, 1.5) mag/kpc (Galactic disc), or
    is zero with `extinction=False`;
    the distance solves m = M + 5 log10(d / 10 pc) + A_band(d) by bisection in log d, within
    10 pc - 60 kpc (out to the Magellanic Clouds): stars too luminous for their drawn magnitude
    stay at 60 kpc and appear brighter.
    Returns (mean apparent magnitude, distance [pc], A_V [mag]), each (N,).
    """
    n = abs_mag.shape[0]
    b = survey.count_slope * np.log(10.0)
    u = rng.random(n)
    lo, hi = np.exp(b * survey.mag_bright), np.exp(b * survey.mag_faint)
    if target is None:
        target = np.log(lo + u * (hi - lo)) / b  # inverse CDF of dN/dm ~ exp(b m)
    k_v = rng.uniform(0.2, 1.5, n) / 1000.0 * float(extinction)  # A_V per pc (drawn either way)
    log_lo = np.full(n, 1.0)
    log_hi = np.full(n, np.log10(MAX_DISTANCE_PC))
    for _ in range(40):  # bisection: loop over iterations, vectorised over stars
        mid = 0.5 * (log_lo + log_hi)
        m = abs_mag + 5 * mid - 5 + survey.extinction_per_band * k_v * 10**mid
        too_bright = m < target
        log_lo = np.where(too_bright, mid, log_lo)
        log_hi = np.where(too_bright, log_hi, mid)
    dist = 10 ** (0.5 * (log_lo + log_hi))
    a_v = k_v * dist
    mag = abs_mag + 5 * np.log10(dist) - 5 + survey.extinction_per_band * a_v
    return mag, dist, a_v


def add_noise(mag_true_NT, survey: Survey, rng):
    """Per-epoch errors from the survey's error law (10 % jitter), Gaussian noise with those
    errors, and rare outliers (`observe`).
    Returns (mag_obs_NT, err_NT)."""
    shape = mag_true_NT.shape
    err = survey.error(mag_true_NT) * np.exp(0.1 * rng.standard_normal(shape))
    return observe(mag_true_NT, err, survey, rng)


def observe(mag_true_NT, err_NT, survey: Survey, rng):
    """Gaussian noise with the given per-epoch errors and the survey's rare outliers (fainter by
    |N(0, 0.5)| + 0.1 mag with an error inflated 1-10 times). Returns (mag_obs_NT, err_NT)."""
    shape = mag_true_NT.shape
    err = np.array(err_NT, np.float64)
    mag = mag_true_NT + err * rng.standard_normal(shape)
    out = rng.random(shape) < survey.outlier_rate
    if out.any():
        k = int(out.sum())
        jump = np.abs(rng.normal(0.0, 0.5, k)) + 0.1
        mag[out] += jump
        err[out] *= rng.uniform(1.0, 10.0, k)
    return mag, err


__all__ = ["Survey", "OGLE", "GAIA", "ogle_times", "ogle_n_points", "gaia_times", "season_times", "place_stars",
           "add_noise", "observe", "absolute_mag", "g_minus_i", "v_minus_i"]
