"""The folded view: a curve phase-folded at its period (and multiples) on a fixed grid, standardised, with scalars."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxpelsvae.data.fold import circular_fill, phase_of
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.views.stats import MIN_SCALE, harmonic_r2, robust_standardise

# Channels of one folded cycle: the mean standardised magnitude of each phase bin (empty bins
# filled by circular interpolation) and whether the bin held an observation.
FOLD_CHANNELS = ("mag", "filled")


@dataclasses.dataclass(frozen=True)
class FoldedViewConfig:
    """Static settings of `folded_view` (hashable: a jit static argument).

    bins: phase bins per cycle. Gaia curves hold 20-150 points, so most of 64 bins stay empty
        (filled by interpolation, flagged by the `filled` channel).
    factors: the curve is folded at each factor × period, one fold each. (1, 2) also shows the fold
        at twice the period: an eclipsing binary found at half its orbital period (the main
        period-search alias) then shows its two unequal eclipses in the second fold.
    harmonics: Fourier terms of the fit whose R² (per fold) tells how periodic the curve is there.
    augment: training-time augmentation, drawn from the view's key: `point_dropout` drops each
        observation with that probability, `phase_jitter` shifts the phase origin by a uniform
        random fraction of a cycle (the model must not depend on the arbitrary epoch or on where
        bin edges fall), `noise` adds Gaussian noise of a uniform random level in [0, noise] times
        the curve's amplitude (a noisier survey; 0 = off).
    """

    bins: int = 64
    factors: tuple[float, ...] = (1.0, 2.0)
    harmonics: int = 2
    augment: bool = False
    point_dropout: float = 0.1
    phase_jitter: bool = True
    noise: float = 0.0

    def __post_init__(self):
        check_fold_settings(self)

    @property
    def n_scalars(self) -> int:
        """log10 period, log10 amplitude, then one harmonic-fit R² per fold."""
        return 2 + len(self.factors)


def bin_cycle(phase_T, y_T, mask_T, bins: int):
    """Mean of y in each of `bins` equal phase bins of one cycle; empty bins filled circularly.

    Returns (value_Q, filled_Q bool). Padding (mask False) never enters a bin.
    """
    w = mask_T.astype(jnp.float32)
    b = jnp.clip(jnp.floor(phase_T * bins).astype(jnp.int32), 0, bins - 1)
    count = jax.ops.segment_sum(w, b, num_segments=bins)
    total = jax.ops.segment_sum(y_T * w, b, num_segments=bins)
    filled = count > 0
    return circular_fill(total / jnp.maximum(count, 1.0), filled), filled


def check_fold_settings(config) -> None:
    """The settings every folding view shares (bins, fold factors, point dropout), checked alike."""
    name = type(config).__name__
    if config.bins < 4:
        raise ConfigError(f"{name}.bins must be >= 4, got {config.bins}")
    if not config.factors or any(f <= 0 for f in config.factors):
        raise ConfigError(f"{name}.factors must be positive, got {config.factors}")
    if not 0.0 <= config.point_dropout < 1.0:
        raise ConfigError(f"{name}.point_dropout must be in [0, 1), got {config.point_dropout}")


def augment_points(mag_T, mask_T, key, config):
    """A training view's augmentation of one curve (`config.augment`; a no-op without it): Gaussian
    noise up to `config.noise` times the curve's amplitude, `config.point_dropout` of the points
    dropped (never below 3 points), and a random phase origin (`config.phase_jitter`). Returns
    (mag_T, mask_T, phase shift in cycles). Shared by the views that fold a curve."""
    k_drop, k_shift = jax.random.split(key)
    k_level, k_noise = jax.random.split(jax.random.fold_in(key, 1))  # apart, so older draws stay the same
    if config.augment and config.noise > 0:
        _, amp0 = robust_standardise(mag_T, mask_T)
        level = jax.random.uniform(k_level, (), maxval=config.noise) * amp0
        mag_T = mag_T + level * jax.random.normal(k_noise, mag_T.shape)
    if config.augment and config.point_dropout > 0:
        keep = jax.random.bernoulli(k_drop, 1.0 - config.point_dropout, mask_T.shape)
        # Never drop a curve to fewer than 3 points: then keep them all.
        keep = jnp.where(jnp.sum(mask_T & keep) >= 3, keep, True)
        mask_T = mask_T & keep
    shift = jax.random.uniform(k_shift, ()) if (config.augment and config.phase_jitter) else 0.0
    return mag_T, mask_T, shift


def folded_view(time_T, mag_T, err_T, mask_T, period, key, *, config: FoldedViewConfig = FoldedViewConfig()):
    """Folded view of ONE padded curve (jit and vmap it over curves; see views/registry.py).

    time_T (T,) days since any epoch, mag_T (T,), err_T (T,) (unused: errors are survey-specific),
    mask_T (T,) bool, period () days, key: typed key (used only when config.augment).
    Returns {"folded": (len(factors), Q, 2) float32 [mag, filled] per fold factor, "scalars": (2 + len(factors),) float32}.
    Magnitudes are standardised per curve ((m − median)/(p95 − p5)), so band and zero point drop
    out; scalars: log10 period, log10 amplitude (p95 − p5, mag), harmonic R² at each factor.
    A non-finite or non-positive period gives zeros (no fold can be made).
    """
    del err_T
    mask = jnp.asarray(mask_T, bool)
    period = jnp.asarray(period, jnp.float32)
    ok = jnp.isfinite(period) & (period > 0)
    safe_p = jnp.where(ok, period, 1.0)
    mag_T, mask, shift = augment_points(jnp.asarray(mag_T, jnp.float32), mask, key, config)
    y_T, amp = robust_standardise(mag_T, mask)
    folds, r2s = [], []
    for factor in config.factors:  # static: a handful of folds
        phase = jnp.mod(phase_of(time_T, safe_p * factor) + shift, 1.0)
        value, filled = bin_cycle(phase, y_T, mask, config.bins)
        folds.append(jnp.stack([value, filled.astype(jnp.float32)], axis=-1))
        r2s.append(harmonic_r2(phase, y_T, mask, harmonics=config.harmonics))
    folded = jnp.stack(folds)
    scalars = jnp.stack([jnp.log10(safe_p), jnp.log10(jnp.maximum(amp, MIN_SCALE)), *r2s])
    folded = jnp.where(ok, folded, 0.0).astype(jnp.float32)
    scalars = jnp.where(ok, scalars, 0.0).astype(jnp.float32)
    return {"folded": folded, "scalars": scalars}
