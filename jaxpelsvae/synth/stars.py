"""The training stars a generator draws from in its posterior mode: encoder posteriors, physics, fold amplitude and level, red scatter, own donor row.

Shape suffixes: see `jaxpelsvae` (package docstring).

A physics -> latent regressor puts codes where the training stars are not (held-out within-class
R² <= 0 on Gaia DR3 dev, codes 1.3-1.6 from the nearest real code where real codes lie 0.3-0.6
apart). The posterior mode draws a training star of the requested class instead (uniformly, or
with weights that focus on the stars a classifier confuses) and a code from that star's encoder
posterior q(z | x) = N(mu, sigma^2) (widened by 1/sqrt(b) at temperature b < 1): a mixture over
the stars, on the data by construction. The decoded template gets the star's fold detail added
(its fold minus the decoding of its posterior mean): a small decoder trained on a few hundred
stars smooths narrow eclipses and steep rises away, and a code near the star's own then decodes
to the star's shape with the decoder's variation around it. The star also brings its period (jittered by
`PERIOD_JITTER_DEX`), its physics, its fold's amplitude and bright level, its red scatter and its signal-to-noise
ratio (the donor's errors are scaled to it); its own cadence is never its synthetic curve's donor.
The detail carries the noise the star's fold keeps (`data.template`'s fold_noise), so the noise
drawn for its curve is only what is left of the star's own (`noise_factor`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import ConfigError

PERIOD_JITTER_DEX = 0.02  # std of the log10 period jitter around the star's own period


class StarBank(NamedTuple):
    """Per training star (S,): mu_SZ, sigma_SZ its encoder posterior; label_S class index (the
    generator's classes); phys_SP model-space physics (priors' parameters, imputed; the period
    column is the fitting period); amplitude_S, mag_lo_S [mag] its fold's range and bright level;
    red_sigma_S, white_sigma_S [mag] its scatter that is not periodic and its white scatter beyond
    its errors (`data.template`); donor_S its own row in the donor bank
    (-1: none, e.g. donors from another survey); detail_SG (S, G) its fold minus the decoding of
    its posterior mean: the detail the decoder misses (narrow eclipses, steep rises); err_S [mag]
    the median of its stated errors (0: unknown, e.g. a generator saved before it was kept; its
    curves then keep the donor's errors); fold_noise_S [mag] the noise its fold keeps
    (`data.template`), which its detail brings into every template decoded for it (0: none known)."""

    mu_SZ: np.ndarray
    sigma_SZ: np.ndarray
    label_S: np.ndarray
    phys_SP: np.ndarray
    amplitude_S: np.ndarray
    mag_lo_S: np.ndarray
    red_sigma_S: np.ndarray
    white_sigma_S: np.ndarray
    donor_S: np.ndarray
    detail_SG: np.ndarray
    err_S: np.ndarray
    fold_noise_S: np.ndarray


def build_star_bank(mu_SZ, logvar_SZ, label_S, phys_SP, templates, donor_S, detail_SG, err_S) -> StarBank:
    """StarBank from the encoder's (mu, logvar), labels, physics, `data.template.Templates` of the
    same stars, their donor-bank rows, fold details and median errors (see `StarBank`)."""
    folded = templates.folded
    bank = StarBank(
        np.asarray(mu_SZ, np.float32), np.exp(0.5 * np.asarray(logvar_SZ, np.float64)).astype(np.float32),
        np.asarray(label_S, np.int32), np.asarray(phys_SP, np.float32),
        (np.asarray(folded.mag_max) - np.asarray(folded.mag_min)).astype(np.float32),
        np.asarray(folded.mag_min, np.float32), np.asarray(templates.red_sigma, np.float32),
        np.asarray(templates.white_sigma, np.float32), np.asarray(donor_S, np.int32),
        np.asarray(detail_SG, np.float32), np.asarray(err_S, np.float32),
        np.asarray(templates.fold_noise, np.float32))
    n = len(bank.label_S)
    if any(len(a) != n for a in bank):
        raise ConfigError(f"star bank: fields of different lengths {[len(a) for a in bank]}")
    return bank


def median_errors(lcs) -> np.ndarray:
    """(S,) float32 median stated error [mag] of every star of the LightCurveSet `lcs` (0 for a star
    without points)."""
    import pandas as pd

    med = pd.Series(np.asarray(lcs.err, np.float64)).groupby(np.asarray(lcs.star_index)).median()
    return med.reindex(range(len(lcs)), fill_value=0.0).to_numpy(np.float32)


def noise_factor(stars, star_N):
    """(N,) factor on the noise drawn for curves of the stars star_N: sqrt(1 - fold_noise^2 /
    (err^2 + white^2)), so that the fold's own noise plus the noise drawn make the star's noise
    (1 where the star's error is unknown)."""
    total = stars.err_S[star_N] ** 2 + stars.white_sigma_S[star_N] ** 2
    left = 1.0 - stars.fold_noise_S[star_N] ** 2 / jnp.maximum(total, 1e-30)
    return jnp.where(stars.err_S[star_N] > 0, jnp.sqrt(jnp.clip(left, 0.0, 1.0)), 1.0)


def check_star_weights(weights, bank: StarBank, num_classes: int) -> np.ndarray:
    """(S,) float32 weights >= 0 with a positive total in every class (ConfigError otherwise)."""
    w = np.asarray(weights, np.float64).reshape(-1)
    if w.shape != bank.label_S.shape or not (np.isfinite(w) & (w >= 0)).all():
        raise ConfigError(f"star weights: need {len(bank.label_S)} finite values >= 0, got shape {w.shape}")
    per_class = np.bincount(bank.label_S, weights=w, minlength=num_classes)
    if (per_class <= 0).any():
        raise ConfigError(f"star weights: classes {np.flatnonzero(per_class <= 0).tolist()} have zero total weight")
    return w.astype(np.float32)


def sample_stars(key, label_S, weight_S, labels_N):
    """(N,) int32 star of each slot: drawn with probability ∝ weight among the stars of its class."""
    logits_NS = jnp.where(label_S[None, :] == labels_N[:, None], jnp.log(jnp.maximum(weight_S, 1e-30))[None, :],
                          -jnp.inf)
    return jax.random.categorical(key, logits_NS, axis=-1).astype(jnp.int32)


def posterior_sample(key, stars, labels_N, weight_S, b, period_col: int, period_is_log: bool):
    """(star (N,), z (N, Z), physics (N, P)) for slots of classes labels_N at temperature b: a star,
    a code from its posterior widened by 1/sqrt(b), its physics with the period jittered."""
    k_star, k_z, k_p = jax.random.split(key, 3)
    s_N = sample_stars(k_star, stars.label_S, weight_S, labels_N)
    eps = jax.random.normal(k_z, (labels_N.shape[0], stars.mu_SZ.shape[1]), jnp.float32)
    z_NZ = stars.mu_SZ[s_N] + stars.sigma_SZ[s_N] * eps / jnp.sqrt(b)
    phys_NP = stars.phys_SP[s_N]
    jitter_N = PERIOD_JITTER_DEX * jax.random.normal(k_p, labels_N.shape, jnp.float32)
    lp = phys_NP[:, period_col]
    lp = lp + jitter_N if period_is_log else lp * jnp.power(10.0, jitter_N)
    return s_N, z_NZ, phys_NP.at[:, period_col].set(lp)
