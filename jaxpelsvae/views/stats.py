"""Masked per-curve statistics (quantiles, robust centre and scale, harmonic-fit R²) written for one curve."""
from __future__ import annotations

import jax.numpy as jnp

# Scale floor in magnitudes: a flat (or one-point) curve standardises to ~0 instead of dividing by 0.
MIN_SCALE = 1e-3


def masked_quantile(x_T, mask_T, q):
    """Quantile q in [0, 1] of the valid entries of x_T (linear interpolation, numpy's default).

    Padding is sorted past the valid values, so the result never depends on it; 0 if no entry is valid.
    """
    n = jnp.sum(mask_T.astype(jnp.int32))
    xs = jnp.sort(jnp.where(mask_T, x_T, jnp.inf))
    pos = q * jnp.maximum(n - 1, 0).astype(jnp.float32)
    lo = jnp.floor(pos).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, jnp.maximum(n - 1, 0))
    frac = pos - lo
    value = xs[lo] * (1.0 - frac) + jnp.where(frac > 0, xs[hi], 0.0) * frac
    return jnp.where(n > 0, value, 0.0)


def robust_standardise(mag_T, mask_T, *, lo: float = 0.05, hi: float = 0.95):
    """(m − median) / (p_hi − p_lo) over the valid points, and that amplitude (mag).

    Band and zero point drop out; the p95−p5 range resists single outliers that min–max would follow.
    Returns (standardised mag (T,), 0 on padding; amplitude ()).
    """
    centre = masked_quantile(mag_T, mask_T, 0.5)
    amp = masked_quantile(mag_T, mask_T, hi) - masked_quantile(mag_T, mask_T, lo)
    scale = jnp.maximum(amp, MIN_SCALE)
    return jnp.where(mask_T, (mag_T - centre) / scale, 0.0), amp


def harmonic_r2(phase_T, y_T, mask_T, *, harmonics: int = 2, ridge: float = 1e-3):
    """Fraction of the variance of y explained by a `harmonics`-term Fourier series in phase.

    A period-reliability measure computed from the curve alone (like a multi-term periodogram
    power): near 1 for a clean periodic signal at that period, near 0 for noise or a wrong period.
    The small ridge keeps curves with fewer points than coefficients finite.
    """
    w = mask_T.astype(jnp.float32)
    ang = 2.0 * jnp.pi * phase_T
    cols = [jnp.ones_like(ang)]
    for k in range(1, harmonics + 1):
        cols += [jnp.cos(k * ang), jnp.sin(k * ang)]
    x_TC = jnp.stack(cols, axis=-1) * w[:, None]
    y = y_T * w
    n = jnp.maximum(jnp.sum(w), 1.0)
    gram = x_TC.T @ x_TC + ridge * n * jnp.eye(x_TC.shape[1])
    coef = jnp.linalg.solve(gram, x_TC.T @ y)
    resid = jnp.sum(jnp.square(y - x_TC @ coef) * w)
    mean = jnp.sum(y) / n
    total = jnp.sum(jnp.square(y - mean) * w)
    return jnp.clip(1.0 - resid / jnp.maximum(total, 1e-12), 0.0, 1.0)
