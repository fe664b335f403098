"""Frequency grids for period searches and the float64 host-side phase reduction that keeps float32 exact.

Units: time in days, frequency in cycles per day, phase in cycles (fractions of a turn).
Shape suffixes: see `jaxpelsvae` (package docstring).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxpelsvae.errors import ConfigError

# Bits of the per-block phase step kept in its "high" float32 part: block_index * high is then exact
# in float32 for up to 2**(24 - 12) = 4096 blocks, and the remaining error is block_index * ulp(low).
_HIGH_BITS = 12


class FrequencyGrid(NamedTuple):
    """A regular frequency grid f_k = f0 + k * df, k = 0 .. n-1 (cycles per day, float64 on the host)."""

    f0: float
    df: float
    n: int

    @property
    def frequencies(self) -> np.ndarray:
        """(n,) float64 frequencies in cycles per day."""
        return self.f0 + self.df * np.arange(self.n, dtype=np.float64)

    @property
    def periods(self) -> np.ndarray:
        """(n,) float64 periods in days (1 / frequencies)."""
        return 1.0 / self.frequencies

    @classmethod
    def from_frequencies(cls, freqs, rtol: float = 1e-6) -> FrequencyGrid:
        """The grid of a regular, increasing (F,) frequency array (ConfigError if it is not regular)."""
        freqs = np.asarray(freqs, np.float64).reshape(-1)
        if freqs.size == 0 or not np.all(np.isfinite(freqs)) or freqs[0] <= 0:
            raise ConfigError("frequency grid: frequencies must be finite and positive (cycles per day)")
        if freqs.size == 1:
            return cls(float(freqs[0]), 1.0, 1)
        df = (freqs[-1] - freqs[0]) / (freqs.size - 1)
        expected = freqs[0] + df * np.arange(freqs.size)
        if df <= 0 or np.max(np.abs(freqs - expected)) > rtol * max(df, 1e-300) * freqs.size:
            raise ConfigError(
                "frequency grid: frequencies must be regularly spaced and increasing "
                "(f0 + k*df); pass a FrequencyGrid or an evenly spaced array"
            )
        return cls(float(freqs[0]), float(df), int(freqs.size))


def auto_grid(
    baseline: float,
    *,
    min_period: float | None = 0.02,
    max_period: float | None = None,
    oversampling: float = 5.0,
    n_points: int | None = None,
    nyquist_factor: float = 5.0,
    max_frequencies: int = 20_000_000,
) -> FrequencyGrid:
    """Frequency grid from the data's time span.

    Step df = 1 / (oversampling * baseline): `oversampling` grid points per periodogram peak width.
    Highest frequency = 1 / min_period; when min_period is None, astropy's rule
    nyquist_factor * n_points / (2 * baseline) (a multiple of the mean Nyquist frequency; note
    that irregular sampling often detects periods far below it, so prefer an explicit min_period).
    Lowest frequency = 1 / max_period, default 1 / baseline (at least one full cycle observed).

    baseline: time span in days (longest star of the set). Returns a FrequencyGrid.
    """
    baseline = float(baseline)
    if not np.isfinite(baseline) or baseline <= 0:
        raise ConfigError(f"frequency grid: the time baseline must be positive, got {baseline} days")
    if not oversampling > 0:
        raise ConfigError(f"frequency grid: oversampling must be > 0, got {oversampling}")
    df = 1.0 / (oversampling * baseline)
    if min_period is not None:
        if not min_period > 0:
            raise ConfigError(f"frequency grid: min_period must be > 0 days, got {min_period}")
        f_max = 1.0 / min_period
    else:
        if not n_points or n_points < 2:
            raise ConfigError("frequency grid: give min_period, or n_points for the Nyquist-like rule")
        f_max = nyquist_factor * n_points / (2.0 * baseline)
    if max_period is not None:
        if not max_period > 0:
            raise ConfigError(f"frequency grid: max_period must be > 0 days, got {max_period}")
        f_min = 1.0 / max_period
    else:
        f_min = 1.0 / baseline
    if f_min >= f_max:
        raise ConfigError(
            f"frequency grid: empty period range (longest period {1 / f_min:.6g} d must exceed "
            f"the shortest {1 / f_max:.6g} d)"
        )
    n = int(np.floor((f_max - f_min) / df)) + 1
    if n > max_frequencies:
        raise ConfigError(
            f"frequency grid: {n} frequencies exceed the limit {max_frequencies}; raise min_period "
            "or lower oversampling"
        )
    return FrequencyGrid(f_min, df, n)


class ReducedPhases(NamedTuple):
    """Per-point phase terms (cycles, float32) from which the kernel rebuilds every grid phase.

    For frequency index k = b * block + j (block b, position j in the block):
        phase(f_k, t) = frac( a + frac(b * c_hi) + b * c_lo + j * d )
    with a = frac(f0 t), c_hi + c_lo = frac(block * df * t), d = frac(df * t), each computed in
    float64 on the host. All float32 products stay small, so the phase error is ~1e-6 cycles even
    when f * t reaches 1e6 cycles (a direct float32 f * t would be off by ~0.06 cycles).
    """

    a: np.ndarray  # (N, T)
    c_hi: np.ndarray  # (N, T), a multiple of 2**-12
    c_lo: np.ndarray  # (N, T), |c_lo| <= 2**-13
    d: np.ndarray  # (N, T)


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def reduce_phases(time_NT, grid: FrequencyGrid, block: int) -> ReducedPhases:
    """Host float64 phase reduction of (N, T) times (days) for `grid` with `block` frequencies a block."""
    t = np.asarray(time_NT, np.float64)
    c = _frac(block * grid.df * t)
    scale = float(2**_HIGH_BITS)
    c_hi = np.round(c * scale) / scale
    c_lo = c - c_hi
    return ReducedPhases(
        _frac(grid.f0 * t).astype(np.float32),
        c_hi.astype(np.float32),
        c_lo.astype(np.float32),
        _frac(grid.df * t).astype(np.float32),
    )


def phases_at(time_NT, freqs_NK) -> np.ndarray:
    """(N, R, T) float32 phases frac(f t) in cycles of N stars at R candidate frequencies each (float64 product;
    freqs_NK is (N, R): K in the public argument's name counts the candidates, R)."""
    t = np.asarray(time_NT, np.float64)
    f = np.asarray(freqs_NK, np.float64)
    return _frac(f[:, :, None] * t[:, None, :]).astype(np.float32)
