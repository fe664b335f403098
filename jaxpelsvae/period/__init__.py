"""Period finding: batched generalised Lomb-Scargle in JAX, multi-term refinement, doubling test, and the one period filler."""
from __future__ import annotations

from jaxpelsvae.period.grid import FrequencyGrid, auto_grid, phases_at, reduce_phases
from jaxpelsvae.period.harmonic import fourier_power_batch, fourier_power_one
from jaxpelsvae.period.lombscargle import (
    gls_peaks_batch,
    gls_power_batch,
    gls_power_one,
    lomb_scargle_batch,
    lomb_scargle_peaks,
)
from jaxpelsvae.period.search import (
    CLASS_LIMIT_MARGIN,
    PeriodConfig,
    find_periods,
    find_periods_by_class,
    grid_for,
    periodograms,
)
from jaxpelsvae.period.fill import fill_periods, period_sources

__all__ = [
    "CLASS_LIMIT_MARGIN",
    "FrequencyGrid",
    "PeriodConfig",
    "auto_grid",
    "find_periods",
    "find_periods_by_class",
    "fill_periods",
    "fourier_power_batch",
    "fourier_power_one",
    "gls_peaks_batch",
    "gls_power_batch",
    "gls_power_one",
    "grid_for",
    "lomb_scargle_batch",
    "lomb_scargle_peaks",
    "period_sources",
    "periodograms",
    "phases_at",
    "reduce_phases",
]
