"""The multi-fold view: a curve folded at several label-free candidate periods found inside the view, with a cadence-free shape per fold."""
from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from jaxpelsvae.data.fold import phase_of
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.period.grid import _HIGH_BITS
from jaxpelsvae.period.lombscargle import gls_power_one
from jaxpelsvae.views.folded import augment_points, bin_cycle, check_fold_settings
from jaxpelsvae.views.stats import MIN_SCALE, harmonic_r2, masked_quantile, robust_standardise

CHANNELS = ("fit", "mag", "filled")
_BLOCK = 256


@dataclasses.dataclass(frozen=True)
class MultiFoldViewConfig:
    """Static settings of `multifold_view` (hashable: a jit static argument).

    bands: fixed period bands (days, a log ladder independent of any data set). In each, the
        highest peak of a uniform-weight Lomb-Scargle periodogram of the curve itself is a
        candidate period, beside the given `period`. The period search of sparse surveys
        (Gaia's scanning law) often returns an alias below 0.1 d for long-period stars; a
        candidate per band lets the model see the long period too, and the same search runs on
        real, synthetic and `predict` curves alike.
    df: frequency step (1/d) of every band's grid; 2e-4 keeps the phase drift of the best grid
        point under 0.1 cycle over a 1000-day baseline.
    factors: each candidate is folded at each factor × candidate (2: an eclipsing binary found at
        half its orbital period shows its two eclipses).
    channels: per phase bin, any of "fit" (a `harmonics`-term ridge Fourier fit of the fold
        evaluated at the bin centre: the same shape from 40 or 400 points), "mag" (mean of the
        bin, empty bins filled circularly) and "filled" (bin held a point; mostly cadence, so
        off by default).
    harmonics, ridge: the shape fit; the ridge (× number of points) keeps wrong-period folds of
        sparse curves from over-fitting wild shapes.
    moments: three amplitude-free scalars of the magnitude distribution beside the folds, as a
        feature forest reads them: skewness and excess kurtosis of the standardised magnitudes
        (an eclipsing binary's faint tail, a pulsator's bright one) and (p75 − p25) / (p95 − p5)
        (how much of the time the star spends near its extremes).
    augment, point_dropout, phase_jitter, noise: as `FoldedViewConfig` (training only).
    bins: phase bins per cycle (32: the fit channel is smooth, and 4C·F folds cost 4C·F towers).
    """

    bins: int = 32
    bands: tuple[tuple[float, float], ...] = ((1.0, 10.0), (10.0, 100.0), (100.0, 1000.0))
    df: float = 2e-4
    factors: tuple[float, ...] = (1.0, 2.0)
    channels: tuple[str, ...] = ("fit", "mag")
    harmonics: int = 4
    ridge: float = 0.02
    amplitude: bool = True
    moments: bool = False
    augment: bool = False
    point_dropout: float = 0.1
    phase_jitter: bool = True
    noise: float = 0.0

    def __post_init__(self):
        check_fold_settings(self)
        if any(not (0 < lo < hi) for lo, hi in self.bands):
            raise ConfigError(f"MultiFoldViewConfig.bands must be (low, high) days with 0 < low < high, got {self.bands}")
        if not self.channels or any(c not in CHANNELS for c in self.channels):
            raise ConfigError(f"MultiFoldViewConfig.channels must be a non-empty subset of {CHANNELS}, got {self.channels}")

    @property
    def chunk_points(self) -> int:
        """Padded points (stars × their padded length) a `view_set` chunk may hold: each point holds
        a block of the band searches' frequencies, so 4,096 stars of 2,048 points would need about
        100 GB; 2^18 points take about 3 GB."""
        return 2**18

    @property
    def n_candidates(self) -> int:
        """The given period plus one per band."""
        return 1 + len(self.bands)

    @property
    def n_folds(self) -> int:
        return self.n_candidates * len(self.factors)

    @property
    def n_scalars(self) -> int:
        """log10 amplitude, then per candidate: log10 period and its one-harmonic power, then the
        three moments when `moments`."""
        return 1 + 2 * self.n_candidates + (3 if self.moments else 0)


def band_peak(t_T, y_T, w_T, low: float, high: float, df: float):
    """(period, power) of the highest Lomb-Scargle peak with period in [low, high] days.

    t_T: times relative to the curve's first point (so float32 phases stay accurate: f·t stays
    below ~1e4 cycles for these bands); w_T: weights, 0 on padding. The grid is uniform in
    frequency from 1/high with step df; the kernel's reduced phases are computed here on device.
    """
    f0 = 1.0 / high
    n_freq = max(int(math.ceil((1.0 / low - f0) / df)) + 1, 2)
    frac = lambda x: x - jnp.floor(x)  # noqa: E731
    c = frac(_BLOCK * df * t_T)
    c_hi = jnp.round(c * 2.0**_HIGH_BITS) / 2.0**_HIGH_BITS
    power = gls_power_one(frac(f0 * t_T), c_hi, c - c_hi, frac(df * t_T), y_T, w_T,
                          n_freq=n_freq, block=min(_BLOCK, n_freq), chunk=16 * _BLOCK)
    k = jnp.argmax(power)
    return 1.0 / (f0 + k.astype(jnp.float32) * df), power[k]


def harmonic_fit_profile(phase_T, y_T, mask_T, bins: int, *, harmonics: int, ridge: float):
    """A `harmonics`-term ridge Fourier fit of y(phase), evaluated at the `bins` bin centres.

    Unlike bin means, the profile does not depend on how many points fall in each bin (the
    cadence); the ridge shrinks unsupported harmonics towards 0 instead of letting them fit noise.
    """
    w = mask_T.astype(jnp.float32)

    def design(ph):
        ang = 2.0 * jnp.pi * ph
        cols = [jnp.ones_like(ang)]
        for k in range(1, harmonics + 1):
            cols += [jnp.cos(k * ang), jnp.sin(k * ang)]
        return jnp.stack(cols, axis=-1)

    x_TC = design(phase_T) * w[:, None]
    n = jnp.maximum(jnp.sum(w), 1.0)
    # No penalty on the constant; harmonic k penalised ∝ k² (smoothness).
    pen = jnp.concatenate([jnp.zeros(1), jnp.repeat(jnp.arange(1, harmonics + 1, dtype=jnp.float32) ** 2, 2)])
    gram = x_TC.T @ x_TC + (ridge * n * pen + 1e-6 * n) * jnp.eye(x_TC.shape[1])
    coef = jnp.linalg.solve(gram, x_TC.T @ (y_T * w))
    centres = (jnp.arange(bins, dtype=jnp.float32) + 0.5) / bins
    return design(centres) @ coef


def _fold_channels(phase, y_T, mask, config: MultiFoldViewConfig):
    value, filled = bin_cycle(phase, y_T, mask, config.bins)
    out = {"mag": value, "filled": filled.astype(jnp.float32)}
    if "fit" in config.channels:
        fit = harmonic_fit_profile(phase, y_T, mask, config.bins, harmonics=config.harmonics, ridge=config.ridge)
        out["fit"] = jnp.clip(fit, -3.0, 3.0)
    return jnp.stack([out[c] for c in config.channels], axis=-1)


def multifold_view(time_T, mag_T, err_T, mask_T, period, key, *, config: MultiFoldViewConfig = MultiFoldViewConfig()):
    """Multi-fold view of ONE padded curve (jit and vmap it over curves; see views/registry.py).

    time_T (T,) days, mag_T (T,), err_T (T,) (unused: errors are survey-specific, so the search
    weights points uniformly), mask_T (T,) bool, period () days (NaN if unknown: its slots are 0),
    key: typed key (used only when config.augment).
    Returns {"folded": (C·F, B, channels) float32, candidate-major (candidate c at factor f is row
    c·F + f; candidate 0 is `period`, then one per band), "scalars": (1 + 2C,) float32 [log10
    amplitude, then per candidate log10 period and the one-harmonic power at it]}.
    """
    del err_T
    mask = jnp.asarray(mask_T, bool)
    mag_T, mask, shift = augment_points(jnp.asarray(mag_T, jnp.float32), mask, key, config)
    y_T, amp = robust_standardise(mag_T, mask)
    time_T = jnp.asarray(time_T, jnp.float32)
    t0 = jnp.min(jnp.where(mask, time_T, jnp.inf))
    t_rel = jnp.where(mask, time_T - jnp.where(jnp.isfinite(t0), t0, 0.0), 0.0)
    w_T = mask.astype(jnp.float32)

    period = jnp.asarray(period, jnp.float32)
    given_ok = jnp.isfinite(period) & (period > 0)
    cands, oks = [jnp.where(given_ok, period, 1.0)], [given_ok]
    for low, high in config.bands:  # static: a few bands
        p, pw = band_peak(t_rel, y_T, w_T, low, high, config.df)
        cands.append(p)
        oks.append(pw > 0)  # 0 power: a flat or empty curve has no peak
    log_amp = jnp.log10(jnp.maximum(amp, MIN_SCALE)) if config.amplitude else jnp.zeros(())
    folds, scalars = [], [log_amp]
    for cand, ok in zip(cands, oks):
        rows = []
        for factor in config.factors:
            phase = jnp.mod(phase_of(t_rel, cand * factor) + shift, 1.0)
            rows.append(_fold_channels(phase, y_T, mask, config))
        # One-harmonic R² at the candidate: the periodogram power there, for any candidate alike.
        power = harmonic_r2(phase_of(t_rel, cand), y_T, mask, harmonics=1)
        folds.append(jnp.where(ok, jnp.stack(rows), 0.0))
        scalars += [jnp.where(ok, jnp.log10(cand), 0.0), jnp.where(ok, power, 0.0)]
    if config.moments:
        scalars += list(distribution_moments(y_T, mask))
    folded = jnp.concatenate(folds).astype(jnp.float32)
    return {"folded": folded, "scalars": jnp.stack(scalars).astype(jnp.float32)}


def distribution_moments(y_T, mask_T):
    """(skewness, excess kurtosis, (p75 − p25) / (p95 − p5)) of the valid points of y_T (any
    location and scale: all three are invariant to both); zeros for fewer than 3 points."""
    w = mask_T.astype(jnp.float32)
    n = jnp.sum(w)
    mean = jnp.sum(w * y_T) / jnp.maximum(n, 1.0)
    d = (y_T - mean) * w
    var = jnp.sum(d**2) / jnp.maximum(n, 1.0)
    sd = jnp.sqrt(jnp.maximum(var, MIN_SCALE**2))
    skew = jnp.sum((d / sd) ** 3) / jnp.maximum(n, 1.0)
    kurt = jnp.sum((d / sd) ** 4) / jnp.maximum(n, 1.0) - 3.0
    inner = masked_quantile(y_T, mask_T, 0.75) - masked_quantile(y_T, mask_T, 0.25)
    outer = masked_quantile(y_T, mask_T, 0.95) - masked_quantile(y_T, mask_T, 0.05)
    ratio = inner / jnp.maximum(outer, MIN_SCALE)
    ok = n >= 3
    # clipped: a single outlier in a short curve gives a kurtosis in the hundreds
    return (jnp.where(ok, jnp.clip(skew, -10.0, 10.0), 0.0), jnp.where(ok, jnp.clip(kurt, -3.0, 30.0), 0.0),
            jnp.where(ok, ratio, 0.0))
