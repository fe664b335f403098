"""The VAE's targets: light curves folded into smooth, class-aligned phase templates, with how coherent each fold is.

Shape suffixes: see `jaxpelsvae` (package docstring).

A Gaia or EROS curve holds 20-150 points; binned into 300 phases and linearly interpolated, its fold
is mostly straight segments between single noisy points, and rolled by its brightest bin an
eclipsing binary's eclipse lands anywhere: targets an MSE decoder can only average away. Here each
cycle is a Gaussian-kernel mean of the observations (inverse-variance weighted) with a bandwidth
sized to the data (`KERNEL_POINTS` / number of points, within [`MIN_WIDTH`, `MAX_WIDTH`] cycles),
and the cycle is rolled so that a fixed feature sits at phase 0: the primary minimum (faintest
point) for eclipsing classes (`ECLIPSING`), maximum light for the others, the pulsators' convention.
Between the points a pulsator's fold is interpolated; an eclipsing binary's gaps take the brighter
side, so that its eclipses are no wider than its points show (see `template_curve`).

Each fold also says how much of the curve is not periodic at its period: `red_sigma` [mag] is the
scatter about the fold that observations close in time share (see `template_curve`), the wander a
generator must add back (semi-regular long-period variables), and `coherence` = 1 - red_sigma^2 /
variance, low for such stars and for folds at a wrong period, ~1 for strictly periodic stars
however sparse or noisy their curves. `white_sigma` [mag] is the uncorrelated scatter about the fold
beyond the stated errors (errors that are too small are common), which a generator adds as noise.
`fold_noise` [mag] is the noise the fold itself keeps: a kernel mean of ~1.5 points carries ~60 % of
their noise variance, which a generator that evaluates the fold at new times must not add twice.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.fold import (BINS_PER_CYCLE, Folded, circular_fill, empty_folded, host_phases,
                                  normalised_cycles, vae_input)

# Classes whose fold is aligned on the primary minimum; every other class on maximum light.
ECLIPSING = frozenset({"ECL", "EB", "EA", "EW", "EB_EW", "ELL", "BINARY"})
LAG_CYCLES = 0.05  # consecutive observations closer than this many periods count as a pair
MIN_PAIRS = 8  # pairs needed to tell the white scatter from the wander
KERNEL_BUDGET = 1 << 26  # T x T entries per array held at once by `fold_templates` (256 MB in float32; a few such arrays)
KERNEL_POINTS = 0.5  # kernel width in units of the mean phase spacing of the points (1 / n)
MIN_WIDTH, MAX_WIDTH = 0.004, 0.05  # kernel width limits [cycles]
_BIN_CENTRES = ((np.arange(BINS_PER_CYCLE) + 0.5) / BINS_PER_CYCLE).astype(np.float32)


class Templates(NamedTuple):
    """Folded templates of N curves: `folded` (as `data.fold.Folded`: (N, 600) normalised magnitude
    and error, mag_min / mag_max, filled = bins within half a kernel width of an observation);
    coherence (N,) in [0, 1]; red_sigma, white_sigma, fold_noise (N,) [mag] (see the module docstring)."""

    folded: Folded
    coherence: np.ndarray
    red_sigma: np.ndarray
    white_sigma: np.ndarray
    fold_noise: np.ndarray


def kernel_width(n_points):
    """Kernel width [cycles] for a fold of n_points observations (see module docstring)."""
    return jnp.clip(KERNEL_POINTS / jnp.maximum(n_points, 1.0), MIN_WIDTH, MAX_WIDTH)


def _circ(d):
    """Signed circular phase difference in [-0.5, 0.5)."""
    return d - jnp.floor(d + 0.5)


def template_curve(phase_T, time_T, mag_T, err_T, mask_T, period, faintest_first):
    """ONE curve -> (its template as `Folded` (600,), coherence (), red, white and fold-noise variance () [mag^2]).

    time_T: days in time order (padding last); period: () days; faintest_first: () bool, roll the
    faintest bin (rather than the brightest) to phase 0.
    """
    mask = mask_T & jnp.isfinite(phase_T)
    n = jnp.sum(mask)
    h = kernel_width(n.astype(jnp.float32))
    ivar_T = jnp.where(mask, 1.0 / jnp.maximum(err_T, 1e-3) ** 2, 0.0)
    m_T = jnp.where(mask, mag_T, 0.0)
    ph_T = jnp.where(mask, phase_T, 0.0)
    d_QT = _circ(jnp.asarray(_BIN_CENTRES)[:, None] - ph_T[None, :]) / h
    k_QT = jnp.exp(-0.5 * d_QT**2) * ivar_T[None, :]
    den_Q = jnp.sum(k_QT, axis=1)
    num_Q = k_QT @ m_T
    enum_Q = k_QT @ jnp.where(mask, err_T, 0.0)
    # bins beyond ~13 widths of every point get no weight in float32: interpolate them instead
    filled_Q = den_Q > 1e-12 * jnp.max(den_Q)
    safe = jnp.maximum(den_Q, 1e-30)
    cyc_Q = circular_fill(jnp.where(filled_Q, num_Q / safe, 0.0), filled_Q)
    ecyc_Q = circular_fill(jnp.where(filled_Q, enum_Q / safe, 0.0), filled_Q)
    dist_Q = jnp.min(jnp.abs(d_QT) + jnp.where(mask, 0.0, jnp.inf)[None, :], axis=1) * h  # [cycles]
    near_Q = dist_Q <= 0.5 * h
    # A sparse fold's eclipse is a few lone points, and the gaps in phase beside them are wider than
    # the plateau's (on Gaia DR3 dev the binaries' faint points hold 1.2 / n of the cycle each, the
    # others 0.8 / n): any interpolation fills those gaps halfway with the eclipse, and the template
    # resampled at new phases spends more time in eclipse than the star (skewness 2.0 against its
    # real curves' 2.6). An eclipsing binary's points keep their share of the cycle (half a point
    # spacing, or the kernel width, on either side); beyond it a gap takes its brighter side, the
    # plateau. Dense folds have no such gaps and are left as they were.
    share = jnp.maximum(h, 0.5 / jnp.maximum(n, 1).astype(jnp.float32))
    ecl_fill_Q = filled_Q & (dist_Q <= share)
    cyc_Q = jnp.where(faintest_first, circular_fill(cyc_Q, ecl_fill_Q, brighter=True), cyc_Q)

    # Residuals about the fold, each observation predicted by the others that are not close to it
    # in time (more than LAG_CYCLES periods apart): a wander that is not periodic at P (a
    # semi-regular LPV; the fold at a wrong period) is shared by observations close in time, so a
    # prediction from them would carry it too (Gaia observes a star twice 106.5 min apart: for a
    # long period the pair is at one phase and each point would be predicted by the other, hiding
    # most of the wander).
    d_TT = _circ(ph_T[:, None] - ph_T[None, :]) / h
    apart_TT = jnp.abs(time_T[:, None] - time_T[None, :]) >= LAG_CYCLES * period  # False on the diagonal
    k_TT = jnp.exp(-0.5 * d_TT**2) * ivar_T[None, :] * apart_TT
    den_T = jnp.sum(k_TT, axis=1)
    ok_T = mask & (den_T > 1e-6 * ivar_T)
    r_T = jnp.where(ok_T, m_T - (k_TT @ m_T) / jnp.maximum(den_T, 1e-30), 0.0)
    # Their scatter, from the median absolute residual (which the few points in a sparsely sampled
    # eclipse do not move), is the stated errors, the white scatter beyond them and the wander,
    # each point's own plus its neighbours' kernel mean's: variance base + gain * (white^2 + red^2),
    # base = err_i^2 + sum_j k_ij^2 err_j^2 / den_i^2, gain = 1 + sum_j k_ij^2 / den_i^2 (~1.6 at
    # ~1.5 points per kernel mean).
    big = jnp.float32(3e38)
    mad = _masked_median(jnp.abs(r_T), ok_T, big)
    k2_TT = k_TT**2
    safe_T = jnp.maximum(den_T, 1e-30) ** 2
    base = _masked_median(err_T**2 + (k2_TT @ jnp.where(mask, err_T**2, 0.0)) / safe_T, ok_T, big)
    gain = _masked_median(1.0 + jnp.sum(k2_TT, axis=1) / safe_T, ok_T, big)
    beyond_var = jnp.where(jnp.sum(ok_T) >= 4, jnp.maximum(((1.4826 * mad) ** 2 - base) / gain, 0.0), 0.0)
    # Two consecutive observations less than LAG_CYCLES periods apart share the wander: the
    # difference of their residuals holds their errors, twice the white scatter and the difference
    # of their two predictions (weights w = k / den; its variance sum_j (w_i+1,j - w_ij)^2 (err_j^2
    # + white^2 + red^2), small when the two are at one phase), not the wander. Without MIN_PAIRS
    # such pairs the two cannot be told apart and all of it counts as white.
    close = ok_T[1:] & ok_T[:-1] & (jnp.abs(time_T[1:] - time_T[:-1]) < LAG_CYCLES * period)
    n_pairs = jnp.sum(close)
    w_TT = k_TT / jnp.maximum(den_T, 1e-30)[:, None]
    dw2_PT = (w_TT[1:] - w_TT[:-1]) ** 2
    pair_base = _masked_median(err_T[1:] ** 2 + err_T[:-1] ** 2 + dw2_PT @ jnp.where(mask, err_T**2, 0.0), close, big)
    pair_gain = _masked_median(jnp.sum(dw2_PT, axis=1), close, big)
    diff = r_T[1:] - r_T[:-1]
    diff_mad = _masked_median(jnp.abs(diff - _masked_median(diff, close, big)), close, big)
    pair_white = jnp.maximum(((1.4826 * diff_mad) ** 2 - pair_base - pair_gain * beyond_var) / 2.0, 0.0)
    white_var = jnp.where(n_pairs >= MIN_PAIRS, jnp.minimum(pair_white, beyond_var), beyond_var)
    red_var = beyond_var - white_var
    n_ok = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(m_T) / n_ok
    var = jnp.sum(jnp.where(mask, (m_T - mean) ** 2, 0.0)) / n_ok
    coherence = jnp.where(var > 0, jnp.clip(1.0 - red_var / jnp.maximum(var, 1e-30), 0.0, 1.0), 1.0)
    # the noise each kernel mean keeps (its points' errors and white scatter), averaged over the bins
    k2_QT = k_QT**2
    noise_Q = (k2_QT @ jnp.where(mask, err_T**2, 0.0) + jnp.sum(k2_QT, axis=1) * white_var) / safe**2
    fold_var = jnp.sum(jnp.where(filled_Q, noise_Q, 0.0)) / jnp.maximum(jnp.sum(filled_Q), 1)

    shift = -jnp.where(faintest_first, jnp.argmax(cyc_Q), jnp.argmin(cyc_Q))
    cyc_Q, ecyc_Q, near_Q = (jnp.roll(a, shift) for a in (cyc_Q, ecyc_Q, near_Q))
    return normalised_cycles(cyc_Q, ecyc_Q, near_Q), coherence, red_var, white_var, fold_var


def _masked_median(x_T, mask_T, big):
    """Median of x over mask (lower middle value for an even count; `big` must exceed every x)."""
    srt = jnp.sort(jnp.where(mask_T, x_T, big))
    k = jnp.maximum(jnp.sum(mask_T) - 1, 0) // 2
    return jnp.where(jnp.any(mask_T), srt[k], 0.0)


@jax.jit
def template_batch(phase_NT, time_NT, mag_NT, err_NT, mask_NT, period_N, faintest_N):
    """`template_curve` vmapped over N curves;
    returns (Folded (N, 600), coherence (N,), red, white and fold-noise variance (N,) [mag^2])."""
    return jax.vmap(template_curve)(phase_NT, time_NT, mag_NT, err_NT, mask_NT, period_N, faintest_N)


def faintest_first(lcs) -> np.ndarray:
    """(N,) bool: the stars whose fold is aligned on the primary minimum (class in `ECLIPSING`)."""
    if "class" not in lcs.meta.columns:
        return np.zeros(len(lcs), bool)
    return lcs.meta["class"].astype(str).str.upper().isin(ECLIPSING).to_numpy()


def fold_templates(lcs, periods=None, *, chunk: int = 64) -> Templates:
    """Templates (see `Templates`) of every curve of `lcs` at `periods` [d] (default meta['period']).

    Phases in float64 on the host (as `fold_set`), smoothing on device in chunks of at most `chunk`
    curves. The residual pass holds a few T x T arrays per curve (the kernel, its square, its
    normalised rows and their differences), so chunks of long curves are smaller: at most
    `KERNEL_BUDGET` entries per array at once (64 curves of 1,024 points; 4 of 4,096).
    """
    from jaxpelsvae.data.fold import checked_periods, rows_of
    from jaxpelsvae.data.lightcurves import bucket_size

    periods = checked_periods(lcs, periods, "fold_templates")
    longest = bucket_size(int(lcs.lengths.max()) if len(lcs) else 1, 64)
    chunk = int(max(1, min(chunk, KERNEL_BUDGET // longest**2)))
    phase_M = host_phases(lcs, periods)
    first = faintest_first(lcs)
    parts = []
    for idx, padded in lcs.padded_chunks(chunk, min_rows=chunk):
        rows, t_len = padded.time.shape
        phase = np.zeros((rows, t_len), np.float32)
        phase[: idx.size] = lcs.select(idx).pad_values(rows_of(lcs, idx, phase_M), max_len=t_len)
        flags = np.zeros(rows, bool)
        flags[: idx.size] = first[idx]
        per = np.ones(rows, np.float32)
        per[: idx.size] = periods[idx]
        out = template_batch(phase, padded.time, padded.mag, padded.err, padded.mask, per, flags)
        parts.append(jax.tree.map(lambda a: np.asarray(a)[: idx.size], out))
    if not parts:
        return Templates(empty_folded(), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    folded = Folded(*(np.concatenate([p[0][i] for p in parts]) for i in range(5)))
    coherence = np.concatenate([p[1] for p in parts]).astype(np.float64)
    red, white, noise = (np.sqrt(np.concatenate([p[i] for p in parts]).astype(np.float64)) for i in (2, 3, 4))
    return Templates(folded, coherence, red, white, noise)


def fold_for_vae(lcs, periods=None) -> np.ndarray:
    """The PELS-VAE's input (N, 600, 3) for a LightCurveSet: `fold_templates`, then `data.fold.vae_input`.

    The alignment removes the arbitrary epoch of each curve, a nuisance the latent space would
    otherwise have to encode (the original relied on 65k augmented curves for that); synthetic
    curves get their phase back from the random offset of `synth.reverse_fold`. Training, latent
    fitting and generation all fold through `fold_templates` so they agree.
    """
    return vae_input(fold_templates(lcs, periods).folded)
