"""Batched generalised (floating-mean, error-weighted) Lomb-Scargle periodogram in JAX.

The power at frequency f is Zechmeister & Kuerster (2009)'s
    p(f) = (SS * YC^2 + CC * YS^2 - 2 CS * YC * YS) / (YY * (CC * SS - CS^2)),
the fraction of the weighted variance explained by a sinusoid plus a constant (astropy's
`LombScargle(t, y, dy, fit_mean=True, center_data=True)` with normalization='standard').

Speed: frequencies are taken in blocks f_{b,j} = f0 + (b * block + j) * df, so that
exp(2 pi i f t) = exp(2 pi i f_b t) * exp(2 pi i j df t) and every weighted trigonometric sum of a
block of frequencies becomes one matrix product over the star's points (the sums of
w, w*y at f and of w at 2f). This needs only (n_blocks + block) * T sines and cosines instead of
F * T, and runs at matmul speed. Precision: the phases come from `grid.reduce_phases` (float64 on
the host), so float32 on the device is enough even when f * t reaches 1e5-1e6 cycles.

Memory: the blocks are processed in chunks of `chunk` frequencies with `lax.map`, so a batch needs
about batch * T * (16 * block + 48 * chunk / block) bytes beyond its (N, F) output (about 11 MB a
star at T = 1536 with the defaults), whatever the number of frequencies.

Compilation: one compile per (batch, T, F) shape, so callers pad batches to bucketed lengths. On
GPUs XLA autotunes the matrix products at each compile (about 20 s a shape on an H100); measured
there, 64 OGLE-like stars (1024 points, 1.4e5 frequencies) then take about 7 ms.

Shape suffixes: see `jaxpelsvae` (package docstring); inside a chunk, F counts the frequencies of one block.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import DataError
from jaxpelsvae.period.grid import FrequencyGrid, ReducedPhases, reduce_phases

_TWO_PI = 2.0 * np.pi
# Highest matmul precision: on GPUs the default (TF32) would lose the 1e-6 accuracy of the sums.
_PRECISION = jax.lax.Precision.HIGHEST

DEFAULT_BLOCK = 256
DEFAULT_CHUNK = 16384


def _normalised_weights(y_T, w_T):
    """Weights summing to 1 and the weighted-mean-centred magnitudes (both (T,) float32)."""
    total = jnp.sum(w_T)
    w_T = w_T / jnp.where(total > 0, total, 1.0)
    y_T = y_T - jnp.sum(w_T * y_T)
    return y_T, w_T


def _power_from_sums(c, s, yc, ys, c2, s2, yy):
    """Generalised Lomb-Scargle power from the weighted sums (weights summing to 1, y centred):
    c, s = sum w cos/sin(theta), yc, ys = sum w y cos/sin(theta), c2, s2 = sum w cos/sin(2 theta)."""
    cc = 0.5 * (1.0 + c2) - c * c
    ss = 0.5 * (1.0 - c2) - s * s
    cs = 0.5 * s2 - c * s
    det = cc * ss - cs * cs
    num = ss * yc * yc + cc * ys * ys - 2.0 * cs * yc * ys
    den = yy * det
    power = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
    return jnp.clip(power, 0.0, 1.0)


def gls_window_one(phase_RT, dphase_T, y_T, w_T, *, half: int):
    """Generalised Lomb-Scargle power of ONE star on R short grids f_r + j df, j = -half .. half: (R, 2 half + 1).

    phase_RT: (R, T) float32 phases frac(f_r t) of the grids' centres (`grid.phases_at`, float64
    on the host); dphase_T: (T,) float32 frac(df t); y_T, w_T as `gls_power_one`. As in the grid
    kernel, exp(2 pi i (f_r + j df) t) = exp(2 pi i f_r t) exp(2 pi i j df t): the sums of every
    centre and offset are two matrix products over the points, with sines and cosines of the R
    centres and the 2 half + 1 offsets only.
    """
    y_T, w_T = _normalised_weights(y_T, w_T)
    j_J = jnp.arange(-half, half + 1, dtype=jnp.float32)
    phi_TJ = _TWO_PI * jnp.mod(dphase_T[:, None] * j_J[None, :], 1.0)
    theta_RT = _TWO_PI * phase_RT
    cos_RT, sin_RT = jnp.cos(theta_RT), jnp.sin(theta_RT)
    wy_T = w_T * y_T
    lhs = jnp.concatenate([w_T * cos_RT, w_T * sin_RT, wy_T * cos_RT, wy_T * sin_RT], axis=0)
    prod = jnp.dot(lhs, _inner(phi_TJ), precision=_PRECISION)
    # cos and sin of 2 theta from those of theta (double angles)
    lhs2 = jnp.concatenate([w_T * (2.0 * cos_RT * cos_RT - 1.0), w_T * (2.0 * sin_RT * cos_RT)], axis=0)
    prod2 = jnp.dot(lhs2, _inner(2.0 * phi_TJ), precision=_PRECISION)
    r, j = phase_RT.shape[0], j_J.shape[0]
    c, s = _complex_sum(prod, 0, r, j)
    yc, ys = _complex_sum(prod, 2, r, j)
    c2, s2 = _complex_sum(prod2, 0, r, j)
    return _power_from_sums(c, s, yc, ys, c2, s2, jnp.sum(w_T * y_T * y_T))


def _over_blocks(a_T, c_hi_T, c_lo_T, d_T, *, n_freq: int, block: int, chunk: int, chunk_power):
    """(n_freq,) power on the grid, computed `chunk` frequencies at a time with `lax.map`.

    chunk_power(phi_TF) returns fn(theta_UT) -> power (U * block,) of U blocks, given the phases
    theta_UT (radians) of the blocks' first frequencies and phi_TF of the offsets j * df inside a block.
    """
    n_blocks = -(-n_freq // block)
    blocks_per_chunk = max(1, min(n_blocks, chunk // block))
    n_chunks = -(-n_blocks // blocks_per_chunk)
    j_F = jnp.arange(block, dtype=jnp.float32)
    of_chunk = chunk_power(_TWO_PI * jnp.mod(d_T[:, None] * j_F[None, :], 1.0))

    def one_chunk(first_block):
        b_U = (first_block + jnp.arange(blocks_per_chunk)).astype(jnp.float32)
        cycles_UT = a_T[None, :] + jnp.mod(b_U[:, None] * c_hi_T[None, :], 1.0) + b_U[:, None] * c_lo_T[None, :]
        return of_chunk(_TWO_PI * jnp.mod(cycles_UT, 1.0))

    starts = jnp.arange(n_chunks, dtype=jnp.int32) * blocks_per_chunk
    return jax.lax.map(one_chunk, starts).reshape(-1)[:n_freq]


def _complex_sum(m, row: int, n_rows: int, block: int):
    """(real, imag) (U, F) of sum_t u_t e^{i (theta_bt + phi_tj)} from the product of the rows
    [Re, Im] of u e^{i theta} (row, row + 1 of height n_rows) with the columns [Re | Im] of e^{i phi}."""
    re, im = m[row * n_rows:(row + 1) * n_rows], m[(row + 1) * n_rows:(row + 2) * n_rows]
    return re[:, :block] - im[:, block:], re[:, block:] + im[:, :block]


def _inner(phi_TF):
    """(T, 2F) columns [cos | sin] of the in-block phases."""
    return jnp.concatenate([jnp.cos(phi_TF), jnp.sin(phi_TF)], axis=1)


def screen_power_one(a_T, c_hi_T, c_lo_T, d_T, y_T, w_T, *, n_freq: int, block: int, chunk: int):
    """A cheap screen of ONE star's periodogram on the grid: 2 |sum w y e^{i theta}|^2 / sum w y^2, (n_freq,).

    The classical (Schuster) power of the weighted-mean-centred data, which the generalised power
    approaches when the phases cover the cycle evenly (sum w cos^2 = 1/2, sum w cos = 0). It needs a
    third of `gls_power_one`'s products (no sums of w at f and 2f); `search` uses it only to pick
    candidate peaks that the exact power then ranks. Inputs as `gls_power_one`.
    """
    y_T, w_T = _normalised_weights(y_T, w_T)
    yy = jnp.sum(w_T * y_T * y_T)
    wy_T = w_T * y_T
    scale = 2.0 / jnp.where(yy > 0, yy, 1.0)

    def chunk_power(phi_TF):
        inner_T2F = _inner(phi_TF)

        def power(theta_UT):
            lhs = jnp.concatenate([wy_T * jnp.cos(theta_UT), wy_T * jnp.sin(theta_UT)], axis=0)
            yc, ys = _complex_sum(jnp.dot(lhs, inner_T2F, precision=_PRECISION), 0, theta_UT.shape[0], block)
            return jnp.clip(scale * (yc * yc + ys * ys), 0.0, 1.0).reshape(-1)
        return power

    return _over_blocks(a_T, c_hi_T, c_lo_T, d_T, n_freq=n_freq, block=block, chunk=chunk, chunk_power=chunk_power)


def gls_power_one(a_T, c_hi_T, c_lo_T, d_T, y_T, w_T, *, n_freq: int, block: int, chunk: int):
    """Generalised Lomb-Scargle power of ONE star on the grid f0 + k df, k < n_freq.

    a_T, c_hi_T, c_lo_T, d_T: (T,) float32 reduced phases (see `grid.ReducedPhases`) of the grid.
    y_T: (T,) float32 magnitudes; w_T: (T,) float32 weights 1/err^2, 0 on padding (need not sum
        to 1). Returns power (n_freq,) float32 in [0, 1] (0 where the star has no variance).
    """
    y_T, w_T = _normalised_weights(y_T, w_T)
    yy = jnp.sum(w_T * y_T * y_T)
    wy_T = w_T * y_T

    def chunk_power(phi_TF):
        # Columns: Re/Im of e^{i phi} (and of e^{2 i phi} for the 2f sums).
        inner_T2F, inner2_T2F = _inner(phi_TF), _inner(2.0 * phi_TF)

        def power(theta_UT):
            nb = theta_UT.shape[0]
            cos_UT, sin_UT = jnp.cos(theta_UT), jnp.sin(theta_UT)
            # Rows: Re/Im of w e^{i theta} and w y e^{i theta}.
            lhs = jnp.concatenate([w_T * cos_UT, w_T * sin_UT, wy_T * cos_UT, wy_T * sin_UT], axis=0)
            prod = jnp.dot(lhs, inner_T2F, precision=_PRECISION)
            lhs2 = jnp.concatenate([w_T * jnp.cos(2.0 * theta_UT), w_T * jnp.sin(2.0 * theta_UT)], axis=0)
            prod2 = jnp.dot(lhs2, inner2_T2F, precision=_PRECISION)
            c, s = _complex_sum(prod, 0, nb, block)
            yc, ys = _complex_sum(prod, 2, nb, block)
            c2, s2 = _complex_sum(prod2, 0, nb, block)
            return _power_from_sums(c, s, yc, ys, c2, s2, yy).reshape(-1)
        return power

    return _over_blocks(a_T, c_hi_T, c_lo_T, d_T, n_freq=n_freq, block=block, chunk=chunk, chunk_power=chunk_power)


def _local_peaks(power_F, k: int, score_F=None):
    """Indices (k,) int32 and powers (k,) of the k local maxima of a (F,) periodogram with the highest
    `score_F` (default: the power itself), best first."""
    left = jnp.concatenate([jnp.full((1,), -jnp.inf, power_F.dtype), power_F[:-1]])
    right = jnp.concatenate([power_F[1:], jnp.full((1,), -jnp.inf, power_F.dtype)])
    is_peak = (power_F >= left) & (power_F > right)
    score_F = power_F if score_F is None else score_F
    _, idx = jax.lax.top_k(jnp.where(is_peak, score_F, -jnp.inf), k)
    return idx.astype(jnp.int32), power_F[idx]


def log_posterior_score(power, n_points, frequency, period_prior: float):
    """Log posterior (up to a constant) of a sinusoid at `frequency` [1/d] explaining the fraction
    `power` of the weighted variance of `n_points` points, under a prior density per unit frequency
    f**(-period_prior).

    The profile likelihood of a sinusoid with unknown noise scale is (1 - power)**(-n/2); every
    periodogram peak is about one resolution 1/baseline wide whatever its frequency, so the prior
    enters as its density per unit frequency. period_prior = 1 is the log-uniform prior on the
    period (no preferred scale): on sparse cadences an alias at high frequency must
    then beat a slow variation by a margin that grows with the frequency ratio (Gaia DR3 LPVs
    otherwise peak at 0.03 d). period_prior = 0 ranks by power alone (plain Lomb-Scargle).
    Works on NumPy and JAX arrays.
    """
    xp = jnp if isinstance(power, jax.Array) else np
    p = xp.clip(power, 0.0, 1.0 - 1e-6)
    return -0.5 * n_points * xp.log1p(-p) - period_prior * xp.log(frequency)


def false_alarm_probability(power, n_points, f_max: float, t_eff):
    """Baluev (2008) false-alarm probability of a generalised Lomb-Scargle peak of `power`.

    The probability that pure noise (Gaussian, the given errors up to a common scale) gives a peak
    at least this high anywhere below `f_max` [1/d]: eq. (6) of Baluev (2008), MNRAS 385, 1279, the
    "alias-free" Davies bound for the floating-mean periodogram with the standard normalisation
    (1 + 2 parameters: dH = 1, dK = 3), as astropy's `false_alarm_probability(method='baluev')`.
    t_eff: effective baseline sqrt(4 pi var_w(t)) [d] (weighted variance of the times). NumPy
    arrays broadcast; NaN where n_points < 4.
    """
    from scipy.special import gammaln

    z = np.clip(np.asarray(power, np.float64), 0.0, 1.0)
    n = np.asarray(n_points, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        nh, nk = n - 1.0, n - 3.0
        fap_single = (1.0 - z) ** (0.5 * nk)
        gamma = np.sqrt(2.0 / nh) * np.exp(gammaln(nh / 2.0) - gammaln((nh - 1.0) / 2.0))
        tau = gamma * f_max * np.asarray(t_eff, np.float64) * (1.0 - z) ** (0.5 * (nk - 1.0)) * np.sqrt(0.5 * nh * z)
        fap = -np.expm1(-tau) + fap_single * np.exp(-tau)
    return np.where(n >= 4, np.clip(fap, 0.0, 1.0), np.nan)


def gls_peaks_one(a_T, c_hi_T, c_lo_T, d_T, y_T, w_T, *, n_freq: int, block: int, chunk: int, k: int,
                  f0: float = 1.0, df: float = 1.0, period_prior: float = 0.0, screen: bool = False):
    """The k best local maxima of ONE star's periodogram: (indices (k,) int32, power (k,)).

    period_prior 0: the k highest peaks. Otherwise peaks are ranked by `log_posterior_score` on the
    grid f0 + k df (cycles per day). screen: rank `screen_power_one` instead of the exact power.
    """
    kernel = screen_power_one if screen else gls_power_one
    power = kernel(a_T, c_hi_T, c_lo_T, d_T, y_T, w_T, n_freq=n_freq, block=block, chunk=chunk)
    if period_prior == 0.0:
        return _local_peaks(power, min(k, n_freq))
    freq_F = f0 + df * jnp.arange(n_freq, dtype=jnp.float32)
    score = log_posterior_score(power, jnp.sum(w_T > 0), freq_F, period_prior)
    return _local_peaks(power, min(k, n_freq), score)


_STATIC = ("n_freq", "block", "chunk")


@functools.partial(jax.jit, static_argnames=_STATIC)
def gls_power_batch(a_NT, c_hi_NT, c_lo_NT, d_NT, y_NT, w_NT, *, n_freq: int, block: int, chunk: int):
    """`gls_power_one` vmapped over N stars and jitted: (N, T) inputs -> power (N, n_freq) float32."""
    kernel = functools.partial(gls_power_one, n_freq=n_freq, block=block, chunk=chunk)
    return jax.vmap(kernel)(a_NT, c_hi_NT, c_lo_NT, d_NT, y_NT, w_NT)


@functools.partial(jax.jit, static_argnames=_STATIC + ("k", "f0", "df", "period_prior", "screen"))
def gls_peaks_batch(a_NT, c_hi_NT, c_lo_NT, d_NT, y_NT, w_NT, *, n_freq: int, block: int, chunk: int, k: int,
                    f0: float = 1.0, df: float = 1.0, period_prior: float = 0.0, screen: bool = False):
    """`gls_peaks_one` vmapped and jitted: (N, T) inputs -> (indices (N, k) int32, power (N, k)).

    Only the peaks leave the device, never the (N, F) periodogram. f0, df and period_prior: the
    grid and the prior of the peak ranking (`gls_peaks_one`).
    """
    kernel = functools.partial(gls_peaks_one, n_freq=n_freq, block=block, chunk=chunk, k=k, f0=f0, df=df,
                               period_prior=period_prior, screen=screen)
    return jax.vmap(kernel)(a_NT, c_hi_NT, c_lo_NT, d_NT, y_NT, w_NT)


@functools.partial(jax.jit, static_argnames=("half",))
def gls_window_batch(phase_NRT, dphase_NT, y_NT, w_NT, *, half: int):
    """`gls_window_one` vmapped over N stars and jitted: -> power (N, R, 2 half + 1) float32."""
    return jax.vmap(functools.partial(gls_window_one, half=half))(phase_NRT, dphase_NT, y_NT, w_NT)


def prepare_inputs(time_NT, mag_NT, err_NT, mask_NT, grid: FrequencyGrid, block: int = DEFAULT_BLOCK):
    """Host-side inputs of the kernels: (ReducedPhases, y_NT, w_NT), all (N, T) float32.

    time_NT: days (float64 preferred; float32 times relative to a per-curve epoch are fine);
    err_NT must be positive on the masked points (DataError otherwise).
    """
    time_NT = np.asarray(time_NT, np.float64)
    mask_NT = np.asarray(mask_NT, bool)
    mag_NT = np.asarray(mag_NT, np.float64)
    err_NT = np.asarray(err_NT, np.float64)
    if not (time_NT.shape == mag_NT.shape == err_NT.shape == mask_NT.shape) or time_NT.ndim != 2:
        raise DataError(
            f"lomb_scargle: time, mag, err and mask must share one (N, T) shape, got "
            f"{time_NT.shape}, {mag_NT.shape}, {err_NT.shape}, {mask_NT.shape}"
        )
    bad = mask_NT & ~(np.isfinite(time_NT) & np.isfinite(mag_NT) & np.isfinite(err_NT) & (err_NT > 0))
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(
            f"lomb_scargle: curve row {row} has non-finite values or non-positive errors "
            "(rule: finite values, err > 0)"
        )
    time_NT = np.where(mask_NT, time_NT, 0.0)
    w_NT = np.where(mask_NT, 1.0 / np.where(mask_NT, err_NT, 1.0) ** 2, 0.0)
    # Centre on each curve's weighted mean in float64 so float32 keeps the variations, not the level.
    wsum = np.maximum(w_NT.sum(axis=1, keepdims=True), 1e-300)
    y_NT = np.where(mask_NT, mag_NT - (w_NT * mag_NT).sum(axis=1, keepdims=True) / wsum, 0.0)
    # Rescale weights per curve (the power does not depend on their scale) to stay in float32 range.
    w_NT = w_NT / np.maximum(w_NT.max(axis=1, keepdims=True), 1e-300)
    phases = reduce_phases(time_NT, grid, block)
    return phases, y_NT.astype(np.float32), w_NT.astype(np.float32)


def _as_grid(freqs) -> FrequencyGrid:
    return freqs if isinstance(freqs, FrequencyGrid) else FrequencyGrid.from_frequencies(freqs)


def lomb_scargle_batch(
    time_NT, mag_NT, err_NT, mask_NT, freqs, *, block: int = DEFAULT_BLOCK, chunk: int = DEFAULT_CHUNK
):
    """Generalised Lomb-Scargle power of N padded light curves on a regular frequency grid.

    time_NT: (N, T) days (float32 relative to a per-curve epoch, or float64); mag_NT: (N, T)
    magnitudes; err_NT: (N, T) magnitude errors (> 0 where mask); mask_NT: (N, T) bool, True on
    real points. freqs: a FrequencyGrid or an evenly spaced (F,) array in cycles per day.
    Returns power (N, F) float32 on the device (fraction of weighted variance explained, in [0, 1]).
    """
    grid = _as_grid(freqs)
    phases, y_NT, w_NT = prepare_inputs(time_NT, mag_NT, err_NT, mask_NT, grid, block)
    return gls_power_batch(*phases, y_NT, w_NT, n_freq=grid.n, block=block, chunk=chunk)


def lomb_scargle_peaks(
    time_NT, mag_NT, err_NT, mask_NT, freqs, k: int = 5, *, block: int = DEFAULT_BLOCK, chunk: int = DEFAULT_CHUNK
):
    """The k highest periodogram peaks of N padded curves (inputs as `lomb_scargle_batch`).

    Returns (frequency (N, k) float64 cycles/day, power (N, k) float32), best first.
    """
    grid = _as_grid(freqs)
    phases, y_NT, w_NT = prepare_inputs(time_NT, mag_NT, err_NT, mask_NT, grid, block)
    idx, power = gls_peaks_batch(*phases, y_NT, w_NT, n_freq=grid.n, block=block, chunk=chunk, k=min(k, grid.n))
    return grid.f0 + grid.df * np.asarray(idx, np.float64), np.asarray(power)


__all__ = [
    "ReducedPhases",
    "gls_window_batch",
    "gls_window_one",
    "gls_power_batch",
    "gls_power_one",
    "screen_power_one",
    "false_alarm_probability",
    "gls_peaks_batch",
    "lomb_scargle_batch",
    "log_posterior_score",
    "lomb_scargle_peaks",
    "prepare_inputs",
]
