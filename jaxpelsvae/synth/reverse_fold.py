"""Reverse folding: a folded template + a period + a real donor cadence -> a raw synthetic light curve (one-curve kernels, vmapped).

Shape letters: G phases of the template grid (600, two cycles), T observations of a padded donor
cadence, D donor stars in the bank, N synthetic curves, k nearest donors.

The synthetic curve is the template evaluated at the donor's actual observation times, folded with
the sampled period, plus Gaussian noise drawn from the donor's own photometric errors (ORIGINAL.md
§15.1 bugs 3-6 fixed: the donor is a real training star of the same class with a nearby period, its
cadence is reused as is, periods are in days).

Precision: a donor time t (days since its first epoch, up to ~3000 d) with a period down to 0.03 d
spans ~1e5 cycles, so t/P in float32 would lose ~0.01 cycle. The host splits t (float64) into
t_hi = float32(t) and t_lo = float32(t - t_hi); the kernel computes fmod(t_hi, P) exactly (IEEE
remainder is exact), adds t_lo, and only then divides by P.

Amplitude and mean come from the donor star (a same-class star with a nearby period): the 2nd-98th
percentile range of its magnitudes with the part due to noise removed (range^2 - (4.1 median err)^2,
at least half the observed range), and its 2nd percentile as the bright level. The template is
scaled so that its 1st and 99th percentiles map to 0 and 1 (the original's `revert_light_curve`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import ConfigError, DataError


def fold_phase(time_hi_T, period, time_lo_T=None, offset=0.0):
    """Phase in cycles [0, 1) of times (days, float32 hi part [+ lo part]) for a period in days."""
    r_T = jnp.fmod(time_hi_T, period)  # exact: the remainder of two floats is representable
    if time_lo_T is not None:
        r_T = r_T + time_lo_T
    ph_T = r_T / period + offset
    ph_T = ph_T - jnp.floor(ph_T)
    return jnp.where(ph_T >= 1.0, 0.0, ph_T)


def template_at(template_G, phase_grid_G, phase_T):
    """Template value at phases in cycles [0, 1), read from the grid's second cycle.

    phase_grid_G: the template's phases in cycles (two cycles, e.g. `data.fold.PHASE_GRID`). The
    second cycle is used because the causal TCN decoder has seen a whole cycle of context there (its
    first steps are warm-up). The grid is closed periodically (its first point repeated one grid
    period later) so every phase interpolates.
    """
    span = 2.0
    grid_ext = jnp.concatenate([phase_grid_G, phase_grid_G[:1] + span])
    tmpl_ext = jnp.concatenate([template_G, template_G[:1]])
    lo = phase_grid_G[0]
    p1 = lo + 1.0 + jnp.mod(phase_T - lo, 1.0)  # in [lo + 1, lo + 2): the second cycle
    return jnp.interp(p1, grid_ext, tmpl_ext)


def snr_noise_scale(amplitude, err_T, mask_T, target_snr):
    """Factor on the donor's errors so that amplitude / median(err) equals target_snr (<= 0: keep 1)."""
    med = jnp.nanmedian(jnp.where(mask_T, err_T, jnp.nan))
    scale = amplitude / (jnp.maximum(target_snr, 1e-12) * jnp.maximum(med, 1e-12))
    return jnp.where(target_snr > 0, scale, 1.0)


def reverse_fold(
    template_G,
    period_days,
    donor_time_T,
    donor_mask_T,
    donor_err_T,
    phase_offset,
    key,
    *,
    phase_grid_G,
    amplitude=1.0,
    mag_lo=0.0,
    donor_time_lo_T=None,
    noise_scale=1.0,
):
    """Magnitudes (T,) float32 of ONE synthetic curve at the donor's times (0 where masked).

    template_G: decoded normalised magnitude on phase_grid_G (cycles, two cycles; see `template_at`),
    rescaled by its 1st-99th percentiles. period_days: the
    sampled period [d]. donor_time_T: float32 days since the donor's first epoch (hi part);
    donor_time_lo_T: the float32 remainder t - hi (optional, for full precision). donor_err_T: the
    donor's errors [mag]. phase_offset: cycles added to every phase (random epoch). amplitude,
    mag_lo: peak-to-peak amplitude and bright level [mag]. noise_scale: factor on the errors
    (see `snr_noise_scale`). key: Gaussian noise.
    """
    t = jnp.asarray(template_G, jnp.float32)
    # the original's robust scaling: 1st and 99th percentiles of the template map to 0 and 1
    q01, q99 = jnp.quantile(t, 0.01), jnp.quantile(t, 0.99)
    u_G = (t - q01) / jnp.maximum(q99 - q01, 1e-6)
    phase_T = fold_phase(donor_time_T, period_days, donor_time_lo_T, phase_offset)
    u_T = template_at(u_G, phase_grid_G, phase_T)
    noise_T = jax.random.normal(key, donor_time_T.shape, jnp.float32) * donor_err_T * noise_scale
    mag_T = mag_lo + amplitude * u_T + noise_T
    return jnp.where(donor_mask_T, mag_T, 0.0).astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Donor bank


class DonorBank(NamedTuple):
    """Real training cadences, padded, for reverse folding (numpy on the host, jax on device).

    time_hi_DT / time_lo_DT: float32 days since each donor's first epoch, split hi + lo (see module
    docstring); err_DT float32 [mag] (padding 1); mask_DT bool; log10_period_D float32 [log10 d];
    label_D int32 class index; amplitude_D, mag_lo_D float32 [mag].
    """

    time_hi_DT: np.ndarray
    time_lo_DT: np.ndarray
    err_DT: np.ndarray
    mask_DT: np.ndarray
    log10_period_D: np.ndarray
    label_D: np.ndarray
    amplitude_D: np.ndarray
    mag_lo_D: np.ndarray


def build_donor_bank(lcs, periods=None, *, max_len: int | None = None, seed: int = 0) -> DonorBank:
    """Donor bank from a LightCurveSet with periods (meta `period` [d] or `periods` (N,)).

    Curves longer than max_len keep a random sorted subset of max_len points (host numpy RNG seeded
    by `seed`). Stars without a finite positive period are left out (counted in the error if none remain).
    """
    if periods is None:
        if "period" not in lcs.meta.columns:
            raise DataError("donor bank: the meta table has no 'period' column (rule: donors need periods; run find_periods)")
        periods = lcs.meta["period"].to_numpy(np.float64)
    periods = np.asarray(periods, np.float64)
    ok = np.isfinite(periods) & (periods > 0) & (lcs.lengths >= 2)
    if not ok.any():
        raise DataError("donor bank: no star has a finite positive period and >= 2 points")
    idx = np.flatnonzero(ok)
    lengths = lcs.lengths[idx]
    T = int(lengths.max() if max_len is None else min(max_len, lengths.max()))
    D = len(idx)
    rng = np.random.default_rng([seed, 7])
    hi = np.zeros((D, T), np.float32)
    lo = np.zeros((D, T), np.float32)
    err = np.ones((D, T), np.float32)
    mask = np.zeros((D, T), bool)
    amp = np.zeros(D, np.float32)
    mag_lo = np.zeros(D, np.float32)
    labels = np.asarray(lcs.labels)[idx]
    for d, i in enumerate(idx):  # host-side, once per fit (not a hot path)
        t, m, e = lcs.curve(int(i))
        if len(t) > T:
            keep = np.sort(rng.choice(len(t), T, replace=False))
            t_k, e_k = t[keep], e[keep]
        else:
            t_k, e_k = t, e
        rel = t_k - t_k[0]
        n = len(rel)
        hi[d, :n] = rel.astype(np.float32)
        lo[d, :n] = (rel - hi[d, :n].astype(np.float64)).astype(np.float32)
        err[d, :n] = e_k
        mask[d, :n] = True
        q02, q98 = np.percentile(m, [2, 98])
        rng_obs = q98 - q02
        noise = 4.1 * float(np.median(e))
        amp[d] = np.sqrt(max(rng_obs**2 - noise**2, 0.25 * rng_obs**2))
        mag_lo[d] = q02
    return DonorBank(hi, lo, err, mask, np.log10(periods[idx]).astype(np.float32), labels.astype(np.int32), amp, mag_lo)


def check_bank_classes(bank: DonorBank, num_classes: int, classes=None) -> None:
    """Raise ConfigError if a class has no donor (every generated class needs one)."""
    counts = np.bincount(np.asarray(bank.label_D), minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        names = [classes[i] for i in empty] if classes is not None else list(empty)
        raise ConfigError(f"donor bank: no donor star for class(es) {names} (rule: each class needs a real star with a period)")


def select_donor(key, label_D, log10_period_D, c, log10_period, k: int):
    """Index of a donor of class c among its k nearest in log10 period (uniform among them).

    The class must have at least one donor (`check_bank_classes`); with fewer than k, only the
    class's own donors can be drawn.
    """
    dist_D = jnp.where(label_D == c, jnp.abs(log10_period_D - log10_period), jnp.inf)
    k = min(k, label_D.shape[0])
    neg_k, idx_k = jax.lax.top_k(-dist_D, k)
    logits_k = jnp.where(jnp.isfinite(neg_k), 0.0, -jnp.inf)
    return idx_k[jax.random.categorical(key, logits_k)]


class SynthCurves(NamedTuple):
    """Raw synthetic curves (N, T): time float32 days since the donor's first epoch, mag, err, mask; donor (N,)."""

    time: jax.Array
    mag: jax.Array
    err: jax.Array
    mask: jax.Array
    donor: jax.Array


def synthesize_one(key, template_G, log10_period, c, bank: DonorBank, phase_grid_G, *, k_nearest: int = 5,
                   target_snr=0.0):
    """One raw synthetic curve: pick a same-class donor near the period, reverse-fold, add its noise."""
    k_donor, k_phase, k_noise = jax.random.split(key, 3)
    d = select_donor(k_donor, bank.label_D, bank.log10_period_D, c, log10_period, k_nearest)
    period = jnp.power(10.0, log10_period)
    err_T, mask_T = bank.err_DT[d], bank.mask_DT[d]
    amplitude = bank.amplitude_D[d]
    scale = snr_noise_scale(amplitude, err_T, mask_T, target_snr)
    mag_T = reverse_fold(
        template_G, period, bank.time_hi_DT[d], mask_T, err_T, jax.random.uniform(k_phase), k_noise,
        phase_grid_G=phase_grid_G, amplitude=amplitude, mag_lo=bank.mag_lo_D[d],
        donor_time_lo_T=bank.time_lo_DT[d], noise_scale=scale,
    )
    return SynthCurves(bank.time_hi_DT[d], mag_T, jnp.where(mask_T, err_T * scale, 1.0), mask_T, d)


def synthesize_batch(key, template_NG, log10_period_N, label_N, bank: DonorBank, phase_grid_G, *,
                     k_nearest: int = 5, target_snr=0.0) -> SynthCurves:
    """vmap of `synthesize_one` over N curves (one key each): (N, G) templates -> SynthCurves (N, T)."""
    if template_NG.shape[-1] != phase_grid_G.shape[-1]:
        raise ConfigError(f"template length {template_NG.shape[-1]} != phase grid length {phase_grid_G.shape[-1]}")
    keys = jax.random.split(key, template_NG.shape[0])
    return jax.vmap(
        lambda kk, tm, lp, c: synthesize_one(kk, tm, lp, c, bank, phase_grid_G, k_nearest=k_nearest,
                                             target_snr=target_snr)
    )(keys, template_NG, log10_period_N, label_N)
