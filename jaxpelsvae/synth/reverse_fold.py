"""Reverse folding: a folded template + a period + a real donor cadence -> a raw synthetic light curve (one-curve kernels, vmapped).

Shape suffixes: see `jaxpelsvae` (package docstring). T counts the observations of a padded donor cadence, N the synthetic
curves.

The synthetic curve is the template evaluated at the donor's actual observation times, folded with
the sampled period, plus Gaussian noise drawn from the donor's own photometric errors (at the
donor's bad points, flagged by an inflated error, the donor's own deviation instead; ORIGINAL.md
§15.1 bugs 3-6 fixed: the donor is a real training star of the same class with a nearby period, its
cadence is reused as is, periods are in days).

Precision: a donor time t (days since its first epoch, up to ~3000 d) with a period down to 0.03 d
spans ~1e5 cycles, so t/P in float32 would lose ~0.01 cycle. The host splits t (float64) into
t_hi = float32(t) and t_lo = float32(t - t_hi); the kernel computes t_hi - floor(t_hi / P) P from
exact partial products (`_remainder`: error ~1e-7 d), adds t_lo, and only then divides by P.

Amplitude and level are never stretched: the decoded template is in the normalised units of the
VAE's folds (`data.template`: 1e-4 at the fold's brightest point, 0.9999 at its faintest), and it is
mapped back with a real star's own fold range and bright level (`amplitude`, `mag_lo`: the exact
inverse of the normalisation), so a flat template stays flat. The star is the one whose latent code
was decoded (the generator's posterior mode) or the donor (prior mode). In the posterior mode the
donor's errors are scaled so that the curve keeps its star's signal-to-noise ratio (amplitude /
median stated error): the donor lends its cadence and the pattern of its errors, the star its
brightness. The star's white scatter beyond its errors (`data.template`'s white_sigma, in mag) joins
those scaled errors in quadrature and is never scaled itself: scaled with the donor's errors, a
bright star's scatter shrank or grew by the ratio of its errors to its donor's. Stars that are not periodic
at one period (`data.template`'s red_sigma) get that wander back as a damped random walk with a
time scale of one period (`red_noise`, drawn at 128 knots over the curve and interpolated).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.fold import SCALE_LO, SCALE_SPAN
from jaxpelsvae.data.template import KERNEL_POINTS, MAX_WIDTH, MIN_WIDTH, fold_templates
from jaxpelsvae.errors import ConfigError, DataError

OUTLIER_ERR = 3.0  # a point whose stated error exceeds this many times its curve's median is a bad point


def _split12(x):
    """x = hi + lo exactly, hi keeping the leading 12 of float32's 24 significand bits (bit mask, so
    no multiply that a compiler could fuse into an FMA and change)."""
    bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
    hi = jax.lax.bitcast_convert_type(bits & jnp.uint32(0xFFFFF000), jnp.float32)
    return hi, x - hi


def _remainder(t, period):
    """t - floor(t / period) * period to ~1e-7 d in float32 (within one period of [0, period)).

    The product q * period is split into four partial products of 12-bit halves, each exact in
    float32, subtracted from t largest first. Same precision as `jnp.fmod` (exact), and 16x faster
    on XLA:CPU, where fmod is a scalar library call; FMA contraction cannot change the result
    because every product is already exact.
    """
    q = jnp.floor(t / period)
    qh, ql = _split12(q)
    ph, pl = _split12(jnp.asarray(period, jnp.float32))
    return (((t - qh * ph) - qh * pl) - ql * ph) - ql * pl


def fold_phase(time_hi_T, period, time_lo_T=None, offset=0.0):
    """Phase in cycles [0, 1) of times (days, float32 hi part [+ lo part]) for a period in days."""
    r_T = _remainder(time_hi_T, period)  # may be off by one period: the floor below folds it back
    if time_lo_T is not None:
        r_T = r_T + time_lo_T
    ph_T = r_T / period + offset
    ph_T = ph_T - jnp.floor(ph_T)
    return jnp.where(ph_T >= 1.0, 0.0, ph_T)


def template_at(template_G, phase_grid_G, phase_T):
    """Template value at phases in cycles [0, 1), read from the grid's second cycle.

    phase_grid_G: the template's phases in cycles, G uniformly spaced points over two cycles (step
    2 / G, e.g. `data.fold.PHASE_GRID`). Only the second cycle (points G/2 ... G-1) is read: the
    causal TCN decoder has seen a whole cycle of context there, while its first steps are warm-up.
    The second cycle is closed on itself (its first point follows its last), so every phase
    interpolates between two second-cycle points. Linear interpolation by direct indexing (the
    grid is uniform): `jnp.interp`'s binary search dominated the reverse fold on a CPU.
    """
    n_grid = template_G.shape[-1]
    half = n_grid // 2
    step = 2.0 / n_grid
    lo = phase_grid_G[0]
    x_T = (1.0 + jnp.mod(phase_T - lo, 1.0)) / step  # grid units from lo: [G/2, G), the second cycle
    i0_T = jnp.clip(jnp.floor(x_T), half, n_grid - 1)
    w_T = jnp.clip(x_T - i0_T, 0.0, 1.0)
    i0_T = i0_T.astype(jnp.int32)
    i1_T = jnp.where(i0_T + 1 >= n_grid, half, i0_T + 1)
    return template_G[i0_T] * (1.0 - w_T) + template_G[i1_T] * w_T


def second_cycle(template_G):
    """The part of a two-cycle template that `template_at` reads (points G/2 ... G-1)."""
    return template_G[..., template_G.shape[-1] // 2:]


def unit_template(template_G):
    """A decoded template in units of its fold's range: 0 at the bright end, 1 at the faint end of the
    real folds the VAE learned (`data.fold` normalisation inverted, no stretching)."""
    return (jnp.asarray(template_G, jnp.float32) - SCALE_LO) / SCALE_SPAN


def red_noise(key, time_T, sigma, tau, knots: int = 128):
    """A damped random walk (Ornstein-Uhlenbeck process) of stationary std `sigma` [mag] and time
    scale `tau` [d] at the times time_T (days from the first; padding 0 is masked later).

    Drawn exactly at `knots` equally spaced times over the curve's span, x_k = a x_(k-1) + sigma
    sqrt(1 - a^2) e_k with a = exp(-dt / tau), and linearly interpolated between them: the knots cost
    a few hundred random numbers per curve instead of one per point, which was a quarter of the
    generation time for 1,000-point cadences. Knots lie span / 127 apart (8 d for Gaia's 1,000-d
    baseline): much closer than the time scale (one period) of the long-period variables it is for;
    for a shorter time scale the interpolated walk is smoother, with at least half its variance.
    """
    span = jnp.maximum(jnp.max(time_T) - time_T[0], 1e-6)
    step = span / (knots - 1)
    a = jnp.exp(-step / jnp.maximum(tau, 1e-6))
    e_J = jax.random.normal(key, (knots,), jnp.float32)
    b_J = (sigma * jnp.sqrt(jnp.maximum(1.0 - a**2, 0.0)) * e_J).at[0].set(sigma * e_J[0])  # stationary start

    def walk(x, b):
        x = a * x + b
        return x, x

    x_J = jax.lax.scan(walk, jnp.float32(0.0), b_J)[1]
    pos_T = jnp.clip((time_T - time_T[0]) / step, 0.0, knots - 1.0)
    i_T = jnp.minimum(jnp.floor(pos_T).astype(jnp.int32), knots - 2)
    w_T = pos_T - i_T
    return x_J[i_T] * (1.0 - w_T) + x_J[i_T + 1] * w_T


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
    red_sigma=0.0,
    red_key=None,
):
    """Magnitudes (T,) float32 of ONE synthetic curve at the donor's times (0 where masked).

    template_G: decoded normalised magnitude on phase_grid_G (cycles, two cycles; see `template_at`),
    in the units of the VAE's folds (`unit_template`). period_days: the sampled period [d].
    donor_time_T: float32 days since the donor's first epoch (hi part); donor_time_lo_T: the float32
    remainder t - hi (optional, for full precision). donor_err_T: the donor's errors [mag].
    phase_offset: cycles added to every phase (random epoch). amplitude, mag_lo: the fold range and
    bright level [mag] of the star the template stands for. noise_scale: factor on the errors (see
    `snr_noise_scale`). red_sigma: std [mag] of a damped random walk of time scale one period
    added to the curve (`red_noise`, drawn from red_key). key: Gaussian noise.
    """
    u_G = unit_template(template_G)
    phase_T = fold_phase(donor_time_T, period_days, donor_time_lo_T, phase_offset)
    u_T = template_at(u_G, phase_grid_G, phase_T)
    noise_T = jax.random.normal(key, donor_time_T.shape, jnp.float32) * donor_err_T * noise_scale
    mag_T = mag_lo + amplitude * u_T + noise_T
    if red_key is not None:
        mag_T = mag_T + red_noise(red_key, donor_time_T, red_sigma, period_days)
    return jnp.where(donor_mask_T, mag_T, 0.0).astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Donor bank


class DonorBank(NamedTuple):
    """Real training cadences, padded, for reverse folding (numpy on the host, jax on device).

    time_hi_DT / time_lo_DT: float32 days since each donor's first epoch, split hi + lo (see module
    docstring); err_DT float32 [mag] (padding 1); mask_DT bool; log10_period_D float32 [log10 d];
    label_D int32 class index; amplitude_D, mag_lo_D float32 [mag]: the range and bright level of
    the donor's fold (`data.template.fold_templates`: mag_max - mag_min, mag_min); pair_ok_DT bool
    or None: the observations that pair with their predecessor (the donor's `LightCurveSet.pair_ok`,
    so a synthetic curve encodes the same pairs as its donor; None: every consecutive pair);
    red_sigma_D, white_sigma_D float32 [mag]: the donor's scatter that is not periodic, and its white
    scatter beyond its errors (`data.template`; None: 0); outlier_DT float32 [mag] or None: at the
    donor's bad points (`donor_outliers`) its own deviation from its fold, 0 elsewhere.
    """

    time_hi_DT: np.ndarray
    time_lo_DT: np.ndarray
    err_DT: np.ndarray
    mask_DT: np.ndarray
    log10_period_D: np.ndarray
    label_D: np.ndarray
    amplitude_D: np.ndarray
    mag_lo_D: np.ndarray
    pair_ok_DT: np.ndarray | None = None
    red_sigma_D: np.ndarray | None = None
    white_sigma_D: np.ndarray | None = None
    outlier_DT: np.ndarray | None = None


def build_donor_bank(lcs, periods=None, *, max_len: int | None = None, seed: int = 0, templates=None) -> DonorBank:
    """Donor bank from a LightCurveSet with periods (meta `period` [d] or `periods` (N,)).

    Curves longer than max_len keep a contiguous window of max_len consecutive observations at a
    random start (host numpy RNG seeded by `seed`): the donor's cadence stays its own, while a
    random subset would stretch every Δt by length / max_len (a 1,500-point donor thinned to 1,000
    gave synthetic curves 1.5x the real Δt, which a classifier can tell apart). The pairs the
    quality cuts kept (`lcs.pair_ok`) travel with the cadence. Amplitude, level and red scatter come
    from each donor's fold (see `DonorBank`; `templates`: the `data.template.fold_templates` of every
    star of `lcs` at these periods, when the caller has them, else they are folded here). Stars
    without a finite positive period are left out (counted in the error if none remain).
    """
    idx, periods = _donor_index(lcs, periods)
    lengths = lcs.lengths[idx]
    T = int(lengths.max() if max_len is None else min(max_len, lengths.max()))
    if T < 2:
        raise DataError(f"donor bank: max_len must be >= 2, got {max_len}")
    rng = np.random.default_rng([seed, 7])
    hi, lo, err, mask, pair_ok, outlier = _cadence_rows(lcs, idx, T, rng, periods=periods[idx])
    if templates is None:
        templates = fold_templates(lcs.select(idx), periods[idx])
        idx_t = np.arange(len(idx))
    else:
        idx_t = idx
    folded = templates.folded
    amp = (np.asarray(folded.mag_max)[idx_t] - np.asarray(folded.mag_min)[idx_t]).astype(np.float32)
    labels = np.asarray(lcs.labels)[idx]
    return DonorBank(hi, lo, err, mask, np.log10(periods[idx]).astype(np.float32), labels.astype(np.int32), amp,
                     np.asarray(folded.mag_min)[idx_t].astype(np.float32), pair_ok,
                     np.asarray(templates.red_sigma)[idx_t].astype(np.float32),
                     np.asarray(templates.white_sigma)[idx_t].astype(np.float32), outlier)


def _donor_index(lcs, periods=None) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the stars that can be donors, periods (N,) [d]) for `build_donor_bank`."""
    if periods is None:
        if "period" not in lcs.meta.columns:
            raise DataError("donor bank: the meta table has no 'period' column (rule: donors need periods; run find_periods)")
        periods = lcs.meta["period"].to_numpy(np.float64)
    periods = np.asarray(periods, np.float64)
    ok = np.isfinite(periods) & (periods > 0) & (lcs.lengths >= 2)
    if not ok.any():
        raise DataError("donor bank: no star has a finite positive period and >= 2 points")
    return np.flatnonzero(ok), periods


def donor_ids(lcs, periods=None) -> np.ndarray:
    """(D,) ids of the stars `build_donor_bank(lcs, periods)` takes as donors, in bank order."""
    return lcs.ids[_donor_index(lcs, periods)[0]]


def donor_outliers(time, mag, err, period: float) -> np.ndarray:
    """(n,) float32 [mag]: at the bad points of one curve (stated error above `OUTLIER_ERR` times
    its median error) the point's deviation from the curve's fold at `period` [d] (a kernel mean of
    the other points at its phase, as `data.template`), 0 elsewhere.

    Surveys flag their bad points (clouds, blends, a bad pixel: a magnitude often far too faint)
    with an inflated error, and a Gaussian draw of that error is not such a point: it is symmetric
    and mostly small. A synthetic curve takes its donor's deviation at those points instead, so it
    has the donor's bad points where the donor has them (`synthesize_one`)."""
    time, mag, err = (np.asarray(a, np.float64) for a in (time, mag, err))
    out = np.zeros(len(time), np.float32)
    med = np.median(err) if len(err) else 0.0
    bad = err > OUTLIER_ERR * med
    if med <= 0 or not bad.any() or (~bad).sum() < 3:
        return out
    phase = np.mod(time / period, 1.0)
    width = np.clip(KERNEL_POINTS / len(time), MIN_WIDTH, MAX_WIDTH)
    d = phase[bad, None] - phase[None, ~bad]
    d -= np.floor(d + 0.5)
    k = np.exp(-0.5 * (d / width) ** 2) / np.maximum(err[~bad], 1e-3) ** 2
    den = k.sum(axis=1)
    fit = np.where(den > 1e-300, (k @ mag[~bad]) / np.maximum(den, 1e-300), np.median(mag[~bad]))
    out[bad] = mag[bad] - fit
    return out


def _cadence_rows(lcs, idx: np.ndarray, T: int, rng: np.random.Generator, periods=None):
    """(time_hi, time_lo, err, mask, pair_ok, outlier), each (len(idx), T), of the curves ``idx`` of
    ``lcs``: a contiguous window of at most T consecutive observations at a random start (so Δt stay
    the curve's own), times split hi + lo from the window's first epoch, the kept pairs (`pair_ok`),
    and with the curves' periods (len(idx),) [d] their bad points' deviations (`donor_outliers`;
    None without periods: no magnitude is read)."""
    D = len(idx)
    hi = np.zeros((D, T), np.float32)
    lo = np.zeros((D, T), np.float32)
    err = np.ones((D, T), np.float32)
    mask = np.zeros((D, T), bool)
    pair_ok = np.zeros((D, T), bool)
    outlier = None if periods is None else np.zeros((D, T), np.float32)
    for d, i in enumerate(idx):  # host-side, once per fit (not a hot path)
        t, m, e = lcs.curve(int(i))
        a = int(lcs.offsets[i])
        start = int(rng.integers(0, len(t) - T + 1)) if len(t) > T else 0
        window = slice(start, start + min(T, len(t)))
        t_k, e_k = t[window], e[window]
        ok_k = np.ones(len(t_k), bool) if lcs.pair_ok is None else lcs.pair_ok[a + window.start:a + window.stop].copy()
        ok_k[0] = False  # the window's first observation has no predecessor inside it
        rel = t_k - t_k[0]
        n = len(rel)
        hi[d, :n] = rel.astype(np.float32)
        lo[d, :n] = (rel - hi[d, :n].astype(np.float64)).astype(np.float32)
        err[d, :n] = e_k
        mask[d, :n] = True
        pair_ok[d, :n] = ok_k
        if outlier is not None:
            outlier[d, :n] = donor_outliers(t, m, e, float(periods[d]))[window]
    return hi, lo, err, mask, pair_ok, outlier


def retarget_donor_bank(bank: DonorBank, target, *, copies: int = 4, max_len: int | None = None,
                        seed: int = 0) -> DonorBank:
    """A donor bank whose cadences and errors come from unlabelled curves of another survey.

    Every training donor of ``bank`` (class, period, amplitude and magnitude level: what depends on
    the class) is repeated ``copies`` times, each copy observed at the times and with the errors of
    a target curve drawn at random (host RNG seeded by ``seed``): synthetic curves of the training
    classes then look as the target survey would observe them. Nothing of the target is read but
    times and errors (no label, no magnitude). Windows of at most ``max_len`` points as
    `build_donor_bank`.
    """
    rng = np.random.default_rng([seed, 11])
    src, pick = _retarget_picks(len(bank.label_D), target, copies, rng)
    longest = int(target.lengths[target.lengths >= 2].max())
    T = longest if max_len is None else min(int(max_len), longest)
    hi, lo, err, mask, pair_ok, _ = _cadence_rows(target, pick, T, rng)
    red, white = (None if a is None else np.asarray(a)[src] for a in (bank.red_sigma_D, bank.white_sigma_D))
    return DonorBank(hi, lo, err, mask, np.asarray(bank.log10_period_D)[src], np.asarray(bank.label_D)[src],
                     np.asarray(bank.amplitude_D)[src], np.asarray(bank.mag_lo_D)[src], pair_ok, red, white)


def _retarget_picks(n_donors: int, target, copies: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training donor of each new donor, the target curve whose cadence it takes), both (n_donors·copies,)."""
    if int(copies) < 1:
        raise ConfigError(f"retarget_donor_bank: copies must be >= 1, got {copies}")
    usable = np.flatnonzero(target.lengths >= 2)
    if usable.size == 0:
        raise DataError("target donors: no curve has two or more observations")
    src = np.repeat(np.arange(n_donors), int(copies))
    return src, usable[rng.integers(0, usable.size, src.size)]


def retargeted_donor_ids(n_donors: int, target, *, copies: int = 4, seed: int = 0) -> np.ndarray:
    """(n_donors·copies,) ids of the target curves `retarget_donor_bank` (same arguments) observes
    its donors at, in bank order."""
    return target.ids[_retarget_picks(n_donors, target, copies, np.random.default_rng([seed, 11]))[1]]


def check_bank_classes(bank: DonorBank, num_classes: int, classes=None) -> None:
    """Raise ConfigError if a class has no donor (every generated class needs one)."""
    counts = np.bincount(np.asarray(bank.label_D), minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        names = [classes[i] for i in empty] if classes is not None else list(empty)
        raise ConfigError(f"donor bank: no donor star for class(es) {names} (rule: each class needs a real star with a period)")


def select_donor(key, label_D, log10_period_D, c, log10_period, k: int, exclude=-1):
    """Index of a donor of class c among its k nearest in log10 period (uniform among them).

    exclude: a bank row never drawn (the star the synthetic curve is made from: a star does not
    donate the cadence of its own synthetic curve), unless it is its class's only donor. The class
    must have at least one donor (`check_bank_classes`); with fewer than k, only the class's own
    donors can be drawn.
    """
    idx_D = jnp.arange(label_D.shape[0])
    dist_D = jnp.where(label_D == c, jnp.abs(log10_period_D - log10_period), jnp.inf)
    others_D = jnp.where(idx_D == exclude, jnp.inf, dist_D)
    dist_D = jnp.where(jnp.any(jnp.isfinite(others_D)), others_D, dist_D)
    k = min(k, label_D.shape[0])
    neg_k, idx_k = jax.lax.top_k(-dist_D, k)
    logits_k = jnp.where(jnp.isfinite(neg_k), 0.0, -jnp.inf)
    return idx_k[jax.random.categorical(key, logits_k)]


class SynthCurves(NamedTuple):
    """Raw synthetic curves (N, T): time float32 days since the donor's first epoch, mag, err, mask; donor (N,);
    pair_ok (N, T): the donor's encodable pairs (see `DonorBank`)."""

    time: jax.Array
    mag: jax.Array
    err: jax.Array
    mask: jax.Array
    donor: jax.Array
    pair_ok: jax.Array | None = None


class Source(NamedTuple):
    """What the star a template stands for brings to its curve (the generator's posterior mode),
    per curve: amplitude, mag_lo [mag] (its fold's range and bright level), red_sigma, white_sigma
    [mag], snr (its amplitude / median stated error: the donor's errors are scaled to it; <= 0
    keeps them), noise_factor (on the noise drawn: the template already carries part of the star's
    noise; None: 1), and exclude, its own bank row (-1: none). None fields come from the donor."""

    amplitude: jax.Array | None = None
    mag_lo: jax.Array | None = None
    red_sigma: jax.Array | None = None
    white_sigma: jax.Array | None = None
    snr: jax.Array | None = None
    noise_factor: jax.Array | None = None
    exclude: jax.Array | int = -1


def synthesize_one(key, template_G, log10_period, c, bank: DonorBank, phase_grid_G, *, k_nearest: int = 5,
                   target_snr=0.0, source: Source = Source()):
    """One raw synthetic curve: pick a same-class donor near the period (never `source.exclude`),
    reverse-fold, add its noise and the red scatter. Amplitude, level, red scatter and SNR are the
    source's, or the donor's where the source gives none (a target_snr > 0 overrides the SNR)."""
    k_donor, k_phase, k_noise, k_red = jax.random.split(key, 4)
    d = select_donor(k_donor, bank.label_D, bank.log10_period_D, c, log10_period, k_nearest, source.exclude)
    period = jnp.power(10.0, log10_period)
    err_T, mask_T = bank.err_DT[d], bank.mask_DT[d]
    amplitude = bank.amplitude_D[d] if source.amplitude is None else source.amplitude
    mag_lo = bank.mag_lo_D[d] if source.mag_lo is None else source.mag_lo
    red, white = source.red_sigma, source.white_sigma
    if red is None:
        red = 0.0 if bank.red_sigma_D is None else bank.red_sigma_D[d]
    if white is None:
        white = 0.0 if bank.white_sigma_D is None else bank.white_sigma_D[d]
    # a fixed target SNR wins; else the star's own: a bright star's curve is not observed at a faint
    # donor's errors (nor a faint star's at a bright one's), which would bury a low-amplitude signal
    snr = target_snr if source.snr is None else jnp.where(jnp.asarray(target_snr) > 0, target_snr, source.snr)
    scale = snr_noise_scale(amplitude, err_T, mask_T, snr)
    # the star's white scatter beyond its errors joins the donor's errors, scaled to the star's, in
    # the noise drawn (in quadrature; white is the star's own [mag] and takes no scale); the curve
    # still states the scaled donor's errors, as the real star states its own
    noise_err_T = jnp.sqrt((err_T * scale) ** 2 + white**2)
    if source.noise_factor is not None:
        noise_err_T = noise_err_T * source.noise_factor
    # at the donor's bad points its own deviation replaces the Gaussian draw (`donor_outliers`)
    outlier_T = jnp.zeros_like(err_T) if bank.outlier_DT is None else bank.outlier_DT[d]
    noise_err_T = jnp.where(outlier_T != 0, 0.0, noise_err_T)
    mag_T = reverse_fold(
        template_G, period, bank.time_hi_DT[d], mask_T, noise_err_T, jax.random.uniform(k_phase), k_noise,
        phase_grid_G=phase_grid_G, amplitude=amplitude, mag_lo=mag_lo, donor_time_lo_T=bank.time_lo_DT[d],
        red_sigma=red, red_key=k_red,
    ) + jnp.where(mask_T, outlier_T, 0.0)
    pair_ok_T = mask_T if bank.pair_ok_DT is None else bank.pair_ok_DT[d]
    return SynthCurves(bank.time_hi_DT[d], mag_T, jnp.where(mask_T, err_T * scale, 1.0), mask_T, d, pair_ok_T)


def synthesize_batch(key, template_NG, log10_period_N, label_N, bank: DonorBank, phase_grid_G, *,
                     k_nearest: int = 5, target_snr=0.0, repeats: int = 1, source: Source = Source()) -> SynthCurves:
    """vmap of `synthesize_one` over N templates x `repeats` curves each (one key per curve).

    (N, G) templates -> SynthCurves (N * repeats, T); rows i*R ... i*R+R-1 come from template i,
    each with its own donor draw, phase and noise. source: per-template (N,) fields (see `Source`).
    """
    if template_NG.shape[-1] != phase_grid_G.shape[-1]:
        raise ConfigError(f"template length {template_NG.shape[-1]} != phase grid length {phase_grid_G.shape[-1]}")
    if int(repeats) < 1:
        raise ConfigError(f"synthesize_batch: repeats must be >= 1, got {repeats}")
    n, r = template_NG.shape[0], int(repeats)
    keys = jax.random.split(key, n * r)
    src_M = jnp.arange(n * r) // r  # template of each output row
    exclude_N = jnp.broadcast_to(jnp.asarray(source.exclude, jnp.int32), (n,))

    def one(kk, i):
        pick = Source(*(None if a is None else a[i] for a in source[:-1]), exclude_N[i])
        return synthesize_one(kk, template_NG[i], log10_period_N[i], label_N[i], bank, phase_grid_G,
                              k_nearest=k_nearest, target_snr=target_snr, source=pick)

    return jax.vmap(one)(keys, src_M)
