"""Phase dispersion (Stellingwerf 1978): how coherent a curve's fold is, to choose an eclipsing binary's fitting period among its periodogram's peaks.

A sinusoid misfits an eclipse: on sparse cadences the Lomb-Scargle peak of an eclipsing binary is
often half its period, or a slow variation made of a few eclipse points (on the Gaia DR3 dev set a
quarter of the eclipsing binaries' class-limited search landed above 11 d, where the fold averages
the eclipses with the plateau). The phase dispersion minimisation statistic θ (pooled within-bin
variance of the fold over the curve's variance; 0 = a perfectly repeating shape, 1 = no
structure) judges the fold itself, whatever its shape.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.period.lombscargle import _local_peaks
from jaxpelsvae.period.search import PeriodConfig, periodograms

# Stars whose periodograms are held at once (a Gaia-like grid of 1.5e5 frequencies: 0.15 GB).
_CHUNK = 256


def phase_dispersion(time_T: np.ndarray, mag_T: np.ndarray, periods_K: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """(K,) θ of one curve folded at each period: the variance within `n_bins` phase bins (bins
    with fewer than two points left out), pooled, over the curve's variance. NaN for a constant curve."""
    t = np.asarray(time_T, np.float64)
    m = np.asarray(mag_T, np.float64)
    p = np.asarray(periods_K, np.float64).reshape(-1)
    total = np.var(m)
    if not total > 0:
        return np.full(p.shape, np.nan)
    phase = np.mod((t - t.min())[None, :] / p[:, None], 1.0)
    bins = np.minimum((phase * n_bins).astype(np.int64), n_bins - 1) + n_bins * np.arange(p.size)[:, None]
    flat = bins.reshape(-1)
    count = np.bincount(flat, minlength=p.size * n_bins).reshape(p.size, n_bins)
    s1 = np.bincount(flat, np.tile(m, p.size), minlength=p.size * n_bins).reshape(p.size, n_bins)
    s2 = np.bincount(flat, np.tile(m * m, p.size), minlength=p.size * n_bins).reshape(p.size, n_bins)
    used = count >= 2
    within = np.where(used, s2 - s1 ** 2 / np.maximum(count, 1), 0.0).sum(axis=1)
    dof = np.where(used, count - 1, 0).sum(axis=1)
    return np.where(dof > 0, within / np.maximum(dof, 1) / total, np.nan)


def _same_family(a: float, b: float, rtol: float = 0.01) -> bool:
    """Whether period a is b, its half or its double (within rtol)."""
    return any(abs(a / (b * k) - 1.0) < rtol for k in (0.5, 1.0, 2.0))


def coherent_periods(lcs: LightCurveSet, periods_N: np.ndarray, config: PeriodConfig, *, n_peaks: int = 5,
                     n_bins: int = 10, shortest: float = 0.0) -> np.ndarray:
    """(N,) for each star the candidate whose fold is most coherent (smallest θ): its period in
    `periods_N`, the `n_peaks` highest peaks of its Lomb-Scargle periodogram on `config`'s grid, and
    their doubles, within [`shortest`, `config.max_period`]. θ cannot tell an eclipsing binary with
    equal minima from its half period (both folds repeat): where the best candidate is the given
    period's half or double, the given period stays (the search's doubling test made that choice
    on a harmonic model), unless the given period is below `shortest`. A star without a usable
    curve, or without a candidate in that range, keeps its period.

    `shortest` is the class's own minimum period: the search runs below it (a binary's periodogram
    peaks at half its period), but θ must not choose there. On a sparse cadence a few points that
    happen to pair up make a short fold look coherent: Gaia observes a star twice 106.5 min apart
    (its two fields of view), and on Gaia DR3 dev 15-19 of every 42 training binaries were folded
    at 0.036-0.075 d (that gap and its half), inside the δ Scuti range."""
    periods_N = np.asarray(periods_N, np.float64)
    out = periods_N.copy()
    if len(lcs) == 0:
        return out
    longest = np.inf if config.max_period is None else float(config.max_period)
    for first in range(0, len(lcs), _CHUNK):  # a chunk's periodograms at a time: N x F floats on the host
        rows = np.arange(first, min(first + _CHUNK, len(lcs)))
        grid, power = periodograms(lcs.select(rows), config)
        freqs = grid.frequencies
        # peaks whose period or double can be chosen: at least half of `shortest`
        power = np.where(freqs[None, :] * max(shortest, 0.0) <= 2.0, power, 0.0)
        # the periodogram search's own peak finder, every star of the chunk in one call
        peak_idx, peak_power = jax.vmap(lambda p: _local_peaks(p, min(n_peaks, grid.n)))(jnp.asarray(power))
        peak_idx, peak_power = np.asarray(peak_idx), np.asarray(peak_power)
        for j, i in enumerate(rows):
            peaks = 1.0 / freqs[peak_idx[j][peak_power[j] > 0]]  # no power: a star without a usable curve
            candidates = np.r_[periods_N[i], peaks, 2.0 * peaks]
            candidates = candidates[np.isfinite(candidates) & (candidates >= max(shortest, 0.0)) & (candidates > 0)
                                    & (candidates <= longest)]
            if peaks.size == 0 or candidates.size == 0:
                continue
            theta = phase_dispersion(*lcs.curve(int(i))[:2], candidates, n_bins)
            if np.isfinite(theta).any():
                best = candidates[int(np.nanargmin(theta))]
                # the search's own period stays within its family, unless it is below the floor
                if not _same_family(best, periods_N[i]) or periods_N[i] < shortest:
                    out[i] = best
    return out


__all__ = ["coherent_periods", "phase_dispersion"]
