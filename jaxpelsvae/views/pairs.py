"""Pair views: the original (Δt, Δm) encoding as a view, and a scale-free variant for the hybrid classifier."""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxpelsvae.data.encode import ORDERS, encode_curve
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.views.stats import robust_standardise


@dataclasses.dataclass(frozen=True)
class PairsViewConfig:
    """Static settings of the pair views: L pairs (`length`), drawn in `order` (see `encode_curve`)."""

    length: int = 64
    order: str = "random"

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ConfigError(f"PairsViewConfig.order must be one of {ORDERS}, got {self.order!r}")
        if self.length < 1:
            raise ConfigError(f"PairsViewConfig.length must be >= 1, got {self.length}")


def pairs_view(time_T, mag_T, err_T, mask_T, period, key, *, config: PairsViewConfig = PairsViewConfig()):
    """The original classifier's input for ONE curve: x_L2 (Δt days, Δm mag), exactly `encode_curve`.

    The period and errors are not used (the original CNN never sees them); the key draws the pairs.
    """
    del err_T, period
    x, _ = encode_curve(time_T, mag_T, mask_T, key, length=config.length, order=config.order)
    return x


def scaled_pairs_view(time_T, mag_T, err_T, mask_T, period, key, *, config: PairsViewConfig = PairsViewConfig()):
    """(Δt, Δm) pairs in units that carry across surveys, for the hybrid classifier's pair branch.

    Returns {"pairs": (L, 3) float32 [log10 Δt, Δt / period mod 1, Δm / amplitude], "valid": (L,) bool}.
    Raw Δt spans 0.01-500 d and Δm depends on the band and amplitude; log10 Δt and the standardised
    Δm put every curve on one scale, and the phase difference Δt/P mod 1 ties the pairs to the period.
    """
    del err_T
    mask = jnp.asarray(mask_T, bool)
    y_T, _ = robust_standardise(jnp.asarray(mag_T, jnp.float32), mask)
    x, valid = encode_curve(time_T, y_T, mask, key, length=config.length, order=config.order)
    p = jnp.asarray(period, jnp.float32)
    p = jnp.where(jnp.isfinite(p) & (p > 0), p, 1.0)
    dt = x[:, 0]
    feats = jnp.stack([jnp.log10(jnp.maximum(dt, 1e-3)), jnp.mod(dt / p, 1.0), x[:, 1]], axis=-1)
    return {"pairs": jnp.where(valid[:, None], feats, 0.0).astype(jnp.float32), "valid": valid}
