"""Folding for the VAE: phase-fold with a period onto the fixed two-cycle 600-point grid, bin, fill, normalise."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import DataError

BINS_PER_CYCLE = 300
N_PHASE = 2 * BINS_PER_CYCLE
# Bin centres of 300 equal phase bins, repeated for a second cycle: (600,) in (0, 2).
PHASE_GRID = ((np.arange(N_PHASE) + 0.5) / BINS_PER_CYCLE).astype(np.float32)
SCALE_LO, SCALE_HI = 1e-4, 0.9999  # the original's normalize_each scale_to
SCALE_SPAN = SCALE_HI - SCALE_LO  # 0.9998


def phase_to_vae_time(phase):
    """Two-cycle phase (0..2) -> the VAE's time axis, the original's min-max normalised phase:
    (φ − φ_min)/(φ_max − φ_min)·0.9998 + 1e-4 with φ_min/φ_max the ends of PHASE_GRID, so
    PHASE_GRID maps onto [1e-4, 0.9999]. Works on numpy or jax arrays."""
    lo, hi = float(PHASE_GRID[0]), float(PHASE_GRID[-1])
    return (phase - lo) / (hi - lo) * SCALE_SPAN + SCALE_LO


PHASE_GRID_VAE = phase_to_vae_time(PHASE_GRID.astype(np.float64)).astype(np.float32)


class Folded(NamedTuple):
    """A folded curve on PHASE_GRID (leading batch axis N after fold_batch / fold_set).

    mag: (600,) float32 binned magnitude, min-max normalised per curve to [1e-4, 0.9999]
        (the original's normalize_each): mag' = (m − mag_min)/(mag_max − mag_min)·0.9998 + 1e-4.
    err: (600,) float32 binned error in the same normalised units: err' = err/(mag_max − mag_min)·0.9998.
    mag_min, mag_max: () float32 magnitudes that undo the normalisation (see `unnormalise`).
    filled: (600,) bool, True where the phase bin held observations, False where interpolated.
    """

    mag: jax.Array
    err: jax.Array
    mag_min: jax.Array
    mag_max: jax.Array
    filled: jax.Array


def circular_fill(value_Q, filled_Q, brighter=False):
    """Fill empty bins by linear interpolation between the nearest filled bins on a circle (brighter:
    with the smaller of the two, the brighter magnitude, instead)."""
    n_bins = value_Q.shape[0]
    idx = jnp.arange(2 * n_bins)
    filled2 = jnp.concatenate([filled_Q, filled_Q])
    prev2 = jax.lax.cummax(jnp.where(filled2, idx, -1), axis=0)
    next2 = jax.lax.cummin(jnp.where(filled2, idx, 4 * n_bins), axis=0, reverse=True)
    b = jnp.arange(n_bins)
    prev = prev2[b + n_bins] - n_bins  # in [−n_bins, n_bins): may wrap to the previous cycle
    nxt = next2[b]  # in [0, 2·n_bins): may wrap to the next cycle
    gap = nxt - prev
    w = jnp.where(gap > 0, (b - prev) / jnp.maximum(gap, 1), 0.0)
    v_prev = value_Q[jnp.mod(prev, n_bins)]
    v_next = value_Q[jnp.mod(nxt, n_bins)]
    fill = jnp.where(brighter, jnp.minimum(v_prev, v_next), v_prev + w * (v_next - v_prev))
    out = jnp.where(filled_Q, value_Q, fill)
    return jnp.where(jnp.any(filled_Q), out, 0.0)


def fold_phased_curve(phase_T, mag_T, err_T, mask_T, *, align: bool = False) -> Folded:
    """Bin ONE curve whose phases are already known (phase_T in [0, 1), float32).

    Each of the 300 bins per cycle takes the mean magnitude and mean error of its observations.
    Empty bins (common for sparse Gaia curves, 20-150 points) are filled by periodic (circular)
    linear interpolation between the nearest filled bins on either side, wrapping around phase
    1 -> 0; `filled` records which bins held data. A curve without observations gives zeros.
    align: roll the cycle so that the brightest bin (minimum magnitude) is at phase 0.
    The cycle is then repeated to give two cycles (600 bins) and normalised (see Folded).
    """
    phase_T = jnp.asarray(phase_T, jnp.float32)
    mask = jnp.asarray(mask_T, bool) & jnp.isfinite(phase_T)  # a NaN phase (bad period) is ignored
    w = mask.astype(jnp.float32)
    b = jnp.clip(jnp.floor(jnp.where(mask, phase_T, 0.0) * BINS_PER_CYCLE), 0, BINS_PER_CYCLE - 1)
    b = jnp.where(mask, b.astype(jnp.int32), 0)
    count = jax.ops.segment_sum(w, b, num_segments=BINS_PER_CYCLE)
    sum_m = jax.ops.segment_sum(jnp.where(mask, mag_T, 0.0), b, num_segments=BINS_PER_CYCLE)
    sum_e = jax.ops.segment_sum(jnp.where(mask, err_T, 0.0), b, num_segments=BINS_PER_CYCLE)
    filled = count > 0
    safe = jnp.maximum(count, 1.0)
    mag_Q = circular_fill(sum_m / safe, filled)
    err_Q = circular_fill(sum_e / safe, filled)
    if align:
        shift = -jnp.argmin(jnp.where(jnp.any(filled), mag_Q, 0.0))
        mag_Q, err_Q, filled = (jnp.roll(a, shift) for a in (mag_Q, err_Q, filled))
    return normalised_cycles(mag_Q, err_Q, filled)


def normalised_cycles(mag_Q, err_Q, filled_Q) -> Folded:
    """ONE binned cycle (Q,) of magnitudes, errors and filled flags -> `Folded`: min-max normalised
    (see `Folded`) and repeated into two cycles."""
    mag_min, mag_max = jnp.min(mag_Q), jnp.max(mag_Q)
    rng = mag_max - mag_min
    rng = jnp.where(rng > 0, rng, 1.0)  # a flat curve normalises to 1e-4 instead of dividing by 0
    mag_n = (mag_Q - mag_min) / rng * SCALE_SPAN + SCALE_LO
    err_n = err_Q / rng * SCALE_SPAN
    two = lambda a: jnp.concatenate([a, a])  # noqa: E731
    return Folded(two(mag_n).astype(jnp.float32), two(err_n).astype(jnp.float32),
                  mag_min.astype(jnp.float32), mag_max.astype(jnp.float32), two(filled_Q))


def empty_folded() -> Folded:
    """`Folded` of no curve (numpy arrays with a leading axis of 0)."""
    return Folded(np.zeros((0, N_PHASE), np.float32), np.zeros((0, N_PHASE), np.float32),
                  np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros((0, N_PHASE), bool))


def phase_of(time_T, period):
    """Phase in [0, 1) of float32 times (days since any epoch) for a period in days, on device.

    Reduced as t − floor(t/P)·P before dividing, so the phase error stays ~2^-24·|t|/P, the
    resolution of float32 t itself. For long baselines and short periods prefer host float64
    phases (`fold_set` does that).
    """
    t = jnp.asarray(time_T, jnp.float32)
    p = jnp.asarray(period, jnp.float32)
    rem = t - jnp.floor(t / p) * p
    return jnp.mod(rem / p, 1.0)


def fold_curve(time_T, mag_T, err_T, mask_T, period, *, align: bool = False) -> Folded:
    """Fold ONE curve with `period` (days) on device and bin it onto PHASE_GRID (see
    `fold_phased_curve` for binning, filling and normalisation; `phase_of` for precision).

    time_T, mag_T, err_T: (T,) float32 (time in days since the curve's reference epoch);
    mask_T: (T,) bool; period: () days. Returns Folded with (600,) arrays.
    """
    return fold_phased_curve(phase_of(time_T, period), mag_T, err_T, mask_T, align=align)


@jax.jit
def fold_batch(time_NT, mag_NT, err_NT, mask_NT, period_N) -> Folded:
    """`fold_curve` vmapped over N curves (jitted). period_N: (N,) days. Returns Folded (N, 600)."""
    return jax.vmap(fold_curve)(time_NT, mag_NT, err_NT, mask_NT, period_N)


def _fold_phased_batch(phase_NT, mag_NT, err_NT, mask_NT, align):
    return jax.vmap(lambda p, m, e, k: fold_phased_curve(p, m, e, k, align=align))(phase_NT, mag_NT, err_NT, mask_NT)


fold_phased_batch = jax.jit(_fold_phased_batch, static_argnames=("align",))
fold_phased_batch.__doc__ = "`fold_phased_curve` vmapped over N curves (jitted); phase_NT (N, T) in [0, 1)."


def host_phases(lcs: LightCurveSet, periods: np.ndarray, t_ref: np.ndarray | None = None) -> np.ndarray:
    """(M,) float64 phases ((t − t_ref)/P mod 1) of every observation, computed in float64.

    t_ref: (N,) reference epochs (default: each curve's first observation).
    """
    star = lcs.star_index
    if t_ref is None:
        t_ref = np.zeros(len(lcs))
        nonempty = lcs.lengths > 0
        t_ref[nonempty] = lcs.time[lcs.offsets[:-1][nonempty]]
    return np.mod((lcs.time - np.asarray(t_ref, np.float64)[star]) / np.asarray(periods, np.float64)[star], 1.0)


def checked_periods(lcs: LightCurveSet, periods: np.ndarray | None, what: str) -> np.ndarray:
    """(N,) float64 periods [d] for folding `lcs`: `periods`, or meta['period'] when None; DataError
    when absent, misshapen, non-finite or <= 0 for any star."""
    n = len(lcs)
    if periods is None:
        periods = lcs.periods
        if periods is None:
            raise DataError(f"{what}: no periods given and the meta table has no `period` column; "
                            "find them with `jaxpelsvae period` / jaxpelsvae.period.find_periods")
    periods = np.asarray(periods, np.float64).reshape(-1)
    if periods.shape != (n,):
        raise DataError(f"{what}: periods must have shape ({n},), got {periods.shape}")
    bad = ~(np.isfinite(periods) & (periods > 0))
    if bad.any():
        raise DataError(f"{what}: {int(bad.sum())} stars have no valid period (finite, > 0), e.g. star "
                        f"{lcs.ids[np.flatnonzero(bad)[0]]!r}; find periods first (rule: missing period)")
    return periods


def fold_set(
    lcs: LightCurveSet,
    periods: np.ndarray | None = None,
    *,
    align: bool = False,
    t_ref: np.ndarray | None = None,
    chunk: int = 4096,
) -> Folded:
    """Fold every curve of `lcs` (host helper): phases in float64 on the host, binning on device.

    periods: (N,) days; default meta['period'] (DataError if absent, non-finite or <= 0 for any star).
    Returns Folded of numpy arrays: mag/err (N, 600) float32, mag_min/mag_max (N,), filled (N, 600).
    """
    periods = checked_periods(lcs, periods, "fold_set")
    phase_M = host_phases(lcs, periods, t_ref)
    outs = []
    for idx, padded in lcs.padded_chunks(chunk):
        t_len, rows = padded.time.shape[1], padded.time.shape[0]
        phase = np.zeros((rows, t_len), np.float32)
        phase[: idx.size] = lcs.select(idx).pad_values(rows_of(lcs, idx, phase_M), max_len=t_len)
        out = fold_phased_batch(phase, padded.mag, padded.err, padded.mask, align)
        outs.append(jax.tree.map(lambda a: np.asarray(a)[: idx.size], out))
    if not outs:
        return empty_folded()
    return Folded(*(np.concatenate(parts) for parts in zip(*outs)))


def rows_of(lcs: LightCurveSet, idx: np.ndarray, values_M: np.ndarray) -> np.ndarray:
    """Concatenated per-observation values of stars idx (in order), without a loop over stars."""
    lengths = lcs.lengths[idx]
    within = np.arange(lengths.sum(), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return values_M[np.repeat(lcs.offsets[:-1][idx], lengths) + within]


def vae_input(folded: Folded) -> np.ndarray:
    """The VAE encoder input (N, 600, 3) float32 = (normalised phase PHASE_GRID_VAE, normalised mag,
    normalised err), as the original's normalize_each produces it (ORIGINAL.md §9.1)."""
    mag = np.asarray(folded.mag, np.float32)
    err = np.asarray(folded.err, np.float32)
    phase = np.broadcast_to(PHASE_GRID_VAE, mag.shape)
    return np.stack([phase, mag, err], axis=-1)


def unnormalise(folded: Folded) -> tuple[np.ndarray, np.ndarray]:
    """(mag, err) in magnitudes, (N, 600) each, undoing the per-curve min-max normalisation."""
    lo = np.asarray(folded.mag_min)[..., None]
    rng = np.asarray(folded.mag_max)[..., None] - lo
    rng = np.where(rng > 0, rng, 1.0)
    mag = (np.asarray(folded.mag) - SCALE_LO) / SCALE_SPAN * rng + lo
    err = np.asarray(folded.err) / SCALE_SPAN * rng
    return mag, err
