"""Multi-harmonic (Fourier series) fits at candidate frequencies: refinement and period-doubling test.

A model with harmonics h_1..h_H of a frequency f is y(t) = c0 + sum_h [a_h cos(2 pi h phase) +
b_h sin(2 pi h phase)], phase = frac(f t) (cycles, computed in float64 on the host by
`grid.phases_at`). Fitted by weighted least squares; the kernel returns the explained fraction
of the weighted variance, 1 - chi2 / chi2_const, which for a single harmonic equals the
generalised Lomb-Scargle power at f.

Shape suffixes: see `jaxpelsvae` (package docstring); C counts the model's coefficients (1 + 2H).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

_TWO_PI = 2.0 * np.pi
# Relative ridge on the normal equations: keeps near-singular fits (sparse curves, many harmonics)
# finite without changing well-posed ones beyond float32 noise.
_RIDGE = 1e-6


def fourier_power_one(phase_KT, y_T, w_T, *, harmonics: tuple[int, ...]):
    """Explained variance fraction of a Fourier model at R candidate frequencies of ONE star.

    phase_KT: (R, T) float32 phases frac(f_r t) in cycles (K in the public argument's name counts
    the candidates, R); y_T: (T,) float32 magnitudes;
    w_T: (T,) float32 weights 1/err^2 (0 on padding). harmonics: static tuple of harmonic numbers
    of f_r in the model (e.g. (1, 2) for two terms). Returns (power (R,) float32,
    chi2 (R,) float32 = sum w r^2 with the weights normalised to sum 1).
    """
    total = jnp.sum(w_T)
    w_T = w_T / jnp.where(total > 0, total, 1.0)
    y_T = y_T - jnp.sum(w_T * y_T)
    chi2_const = jnp.sum(w_T * y_T * y_T)
    h_H = jnp.asarray(harmonics, jnp.float32)
    arg_RTH = _TWO_PI * jnp.mod(phase_KT[..., None] * h_H, 1.0)
    ones_RT1 = jnp.ones(phase_KT.shape + (1,), jnp.float32)
    x_RTC = jnp.concatenate([ones_RT1, jnp.cos(arg_RTH), jnp.sin(arg_RTH)], axis=-1)
    xw_RTC = x_RTC * w_T[None, :, None]
    gram_RCC = jnp.einsum("rtc,rtd->rcd", xw_RTC, x_RTC, precision=jax.lax.Precision.HIGHEST)
    rhs_RC = jnp.einsum("rtc,t->rc", xw_RTC, y_T, precision=jax.lax.Precision.HIGHEST)
    eye = jnp.eye(gram_RCC.shape[-1], dtype=jnp.float32)
    scale = jnp.trace(gram_RCC, axis1=-2, axis2=-1)[:, None, None] / gram_RCC.shape[-1]
    coef_RC = jnp.linalg.solve(gram_RCC + _RIDGE * scale * eye, rhs_RC[..., None])[..., 0]
    resid_RT = y_T[None, :] - jnp.einsum("rtc,rc->rt", x_RTC, coef_RC, precision=jax.lax.Precision.HIGHEST)
    chi2_R = jnp.sum(w_T[None, :] * resid_RT * resid_RT, axis=-1)
    power_R = jnp.where(chi2_const > 0, 1.0 - chi2_R / jnp.where(chi2_const > 0, chi2_const, 1.0), 0.0)
    return power_R, chi2_R


@functools.partial(jax.jit, static_argnames=("harmonics",))
def fourier_power_batch(phase_NKT, y_NT, w_NT, *, harmonics: tuple[int, ...]):
    """`fourier_power_one` vmapped over N stars and jitted: -> (power (N, R), chi2 (N, R)); phase_NKT: (N, R, T)."""
    return jax.vmap(functools.partial(fourier_power_one, harmonics=harmonics))(phase_NKT, y_NT, w_NT)


def doubling_bic(chi2_single, chi2_double, n_points, nterms: int):
    """BIC(2P) - BIC(P) for the period-doubling test; negative means the doubled period wins.

    The model at P (harmonics 2, 4, .., 2n of f/2) is nested in the model at 2P (harmonics
    1, 2, .., 2n of f/2), which adds the n odd harmonics (2n parameters) that describe unequal
    eclipses or alternating cycles. The Gaussian likelihood with a free error scale makes the
    test insensitive to over- or under-estimated photometric errors:
        dBIC = n_pts * ln(chi2_2P / chi2_P) + 2n * ln(n_pts).
    """
    n = np.asarray(n_points, np.float64)
    ratio = np.asarray(chi2_double, np.float64) / np.maximum(np.asarray(chi2_single, np.float64), 1e-30)
    return n * np.log(np.maximum(ratio, 1e-30)) + 2 * nterms * np.log(np.maximum(n, 1.0))


def doubling_harmonics(nterms: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Harmonics of f/2 in the period-doubling test: (model at P, model at 2P)."""
    return tuple(range(2, 2 * nterms + 1, 2)), tuple(range(1, 2 * nterms + 1))


__all__ = ["doubling_bic", "doubling_harmonics", "fourier_power_batch", "fourier_power_one"]
