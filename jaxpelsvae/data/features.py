"""Simple per-star light-curve features (FATS-like), vectorised over the ragged CSR storage.

Used by the hardness-bias scenario (a random forest on these features) and handy for quick looks.
Every feature is computed for all stars at once with segment reductions (no loop over stars).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jaxpelsvae.data.lightcurves import LightCurveSet

N_HARMONICS = 3
# Value given to features that cannot be computed (no period, too few points); random forests
# split it off cleanly, unlike NaN which older scikit-learn versions refuse.
MISSING = -99.0

FEATURE_NAMES = (
    "n_points",
    "log10_time_span",
    "median_mag",
    "amplitude",
    "p95_p5",
    "p75_p25",
    "median_minus_mean",
    "std",
    "skewness",
    "kurtosis",
    "std_over_err",
    "snr",
    "mean_err",
    "log10_period",
    "fourier_a1",
    "fourier_r21",
    "fourier_r31",
    "fourier_phi21",
)


def _segment_sum(x_M: np.ndarray, star_M: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(star_M, weights=x_M, minlength=n)


def _sorted_percentiles(lcs: LightCurveSet, qs) -> np.ndarray:
    """(N, len(qs)) magnitude percentiles (linear interpolation) of every star; NaN if empty."""
    star = lcs.star_index
    order = np.lexsort((lcs.mag, star))  # stars stay contiguous, magnitudes sorted within a star
    mag_sorted = lcs.mag[order]
    n_i = lcs.lengths.astype(np.float64)
    out = np.full((len(lcs), len(qs)), np.nan)
    ok = n_i > 0
    start = lcs.offsets[:-1][ok].astype(np.float64)
    for j, q in enumerate(qs):  # a handful of quantiles, each vectorised over stars
        pos = start + q * (n_i[ok] - 1.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, lcs.offsets[1:][ok] - 1)
        frac = pos - lo
        out[ok, j] = mag_sorted[lo] * (1.0 - frac) + mag_sorted[hi] * frac
    return out


def _fourier(lcs: LightCurveSet, period_N: np.ndarray, ridge: float = 1e-6):
    """Least-squares harmonic fit mag ≈ a0 + Σ_k a_k cos(2πk t/P) + b_k sin(2πk t/P), k=1..3.

    Returns (A_NH amplitudes, phi_NH phases); rows without a valid period or with fewer points than
    2·H+2 are NaN. The normal equations of all stars are accumulated with segment sums and solved
    as one batched solve.
    """
    n = len(lcs)
    star = lcs.star_index
    n_coef = 2 * N_HARMONICS + 1
    amp = np.full((n, N_HARMONICS), np.nan)
    phase = np.full((n, N_HARMONICS), np.nan)
    valid = np.isfinite(period_N) & (period_N > 0) & (lcs.lengths >= n_coef + 1)
    if not valid.any():
        return amp, phase
    t0 = np.zeros(n)
    nonempty = lcs.lengths > 0
    t0[nonempty] = lcs.time[lcs.offsets[:-1][nonempty]]
    p_obs = np.where(valid, period_N, 1.0)[star]
    phi = 2.0 * np.pi * ((lcs.time - t0[star]) / p_obs % 1.0)
    cols = [np.ones_like(phi)]
    for k in range(1, N_HARMONICS + 1):
        cols += [np.cos(k * phi), np.sin(k * phi)]
    x_MC = np.stack(cols, axis=1)
    y_M = lcs.mag - _segment_sum(lcs.mag, star, n)[star] / np.maximum(lcs.lengths, 1)[star]
    xtx = np.zeros((n, n_coef, n_coef))
    for a in range(n_coef):
        for b in range(a, n_coef):
            xtx[:, a, b] = xtx[:, b, a] = _segment_sum(x_MC[:, a] * x_MC[:, b], star, n)
    xty = np.stack([_segment_sum(x_MC[:, a] * y_M, star, n) for a in range(n_coef)], axis=1)
    xtx[~valid] = np.eye(n_coef)
    xtx += ridge * np.eye(n_coef) * np.maximum(lcs.lengths, 1)[:, None, None]
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]
    a_k, b_k = coef[:, 1::2], coef[:, 2::2]
    amp[valid] = np.hypot(a_k, b_k)[valid]
    phase[valid] = np.arctan2(-b_k, a_k)[valid]
    return amp, phase


def beyond_one_std(lcs: LightCurveSet) -> np.ndarray:
    """(N,) fraction of each star's points farther than one standard deviation from its mean magnitude
    (FATS' Beyond1Std, unweighted); MISSING for stars with fewer than two points or a constant curve.
    Kept out of FEATURE_NAMES so that the hardness-bias split's forest keeps its inputs."""
    n = len(lcs)
    star = lcs.star_index
    n_i = lcs.lengths.astype(np.float64)
    safe_n = np.maximum(n_i, 1.0)
    dev = lcs.mag - (_segment_sum(lcs.mag, star, n) / safe_n)[star]
    std = np.sqrt(_segment_sum(dev**2, star, n) / safe_n)
    frac = _segment_sum((np.abs(dev) > std[star]).astype(np.float64), star, n) / safe_n
    return np.where((n_i >= 2) & (std > 0), frac, MISSING)


def light_curve_features(lcs: LightCurveSet, periods: np.ndarray | None = None) -> pd.DataFrame:
    """Feature table, one row per star (index = star ids), columns FEATURE_NAMES, float64.

    periods: (N,) days; defaults to `lcs.periods` (meta column `period`); NaN where unknown, and
    then the period and Fourier features take the value MISSING. Magnitudes in mag, times in days.
    Non-finite results (e.g. skewness of a constant curve) are also set to MISSING.
    """
    n = len(lcs)
    star = lcs.star_index
    n_i = lcs.lengths.astype(np.float64)
    safe_n = np.maximum(n_i, 1.0)
    mean = _segment_sum(lcs.mag, star, n) / safe_n
    dev = lcs.mag - mean[star]
    m2 = _segment_sum(dev**2, star, n) / safe_n
    m3 = _segment_sum(dev**3, star, n) / safe_n
    m4 = _segment_sum(dev**4, star, n) / safe_n
    std = np.sqrt(m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = m3 / m2**1.5
        kurt = m4 / m2**2 - 3.0
        mean_err = _segment_sum(lcs.err, star, n) / safe_n
        pct = _sorted_percentiles(lcs, (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0))
        first = np.where(n_i > 0, lcs.time[np.minimum(lcs.offsets[:-1], max(lcs.time.size - 1, 0))], np.nan)
        last = np.where(n_i > 0, lcs.time[np.maximum(lcs.offsets[1:] - 1, 0)], np.nan)
        span = last - first
        if periods is None:
            periods = lcs.periods
        period = np.full(n, np.nan) if periods is None else np.asarray(periods, np.float64).reshape(n)
        amp, phase = _fourier(lcs, period)
        table = {
            "n_points": n_i,
            "log10_time_span": np.log10(np.maximum(span, 1e-6)),
            "median_mag": pct[:, 3],
            "amplitude": 0.5 * (pct[:, 6] - pct[:, 0]),
            "p95_p5": pct[:, 5] - pct[:, 1],
            "p75_p25": pct[:, 4] - pct[:, 2],
            "median_minus_mean": pct[:, 3] - mean,
            "std": std,
            "skewness": skew,
            "kurtosis": kurt,
            "std_over_err": std / mean_err,
            "snr": (pct[:, 6] - pct[:, 0]) / mean_err,
            "mean_err": mean_err,
            "log10_period": np.log10(np.where(period > 0, period, np.nan)),
            "fourier_a1": amp[:, 0],
            "fourier_r21": amp[:, 1] / amp[:, 0],
            "fourier_r31": amp[:, 2] / amp[:, 0],
            "fourier_phi21": np.mod(phase[:, 1] - 2.0 * phase[:, 0], 2.0 * np.pi),
        }
    df = pd.DataFrame(table, index=pd.Index(lcs.ids, name="id"))[list(FEATURE_NAMES)]
    return df.where(np.isfinite(df.to_numpy()), MISSING)
