"""Light-curve models of the simulated classes: physics-driven Fourier pulsators, a geometric
eclipsing-binary model, and stochastic long-period variables.

Each class has a `draw_*` function that turns physical parameters into per-star shape parameters
(a dict of arrays with leading axis N, drawn once per class) and an evaluator that maps times
`t_NT` [days] to magnitude offsets `dmag_NT` [mag] from the star's mean magnitude. Evaluators are
vectorised over stars and observations; the only Python loops run over modes and harmonics.

Fourier convention: m(t) = sum_k A_k sin(k x + phi_k), x = 2 pi (t / P + epoch), phi_1 = 0, so
R_k1 = A_k / A_1 and phi_k1 = phi_k - k phi_1 = phi_k (the sine convention of Simon & Lee 1981 and
Jurcsik & Kovacs 1996; OGLE's cosine phases convert as phi_21^sin = phi_21^cos - pi/2,
phi_31^sin = phi_31^cos - pi).
"""
from __future__ import annotations

import numpy as np

TWO_PI = 2.0 * np.pi
N_HARMONICS = 8  # harmonics kept per pulsation mode (higher ones padded with zeros)
N_MODES = 6  # pulsation modes per star (multi-mode delta Scuti use them all)

# Amplitude in a band relative to the V band for pulsators (Cepheids, RR Lyrae, delta Scuti:
# A_I / A_V ~ 0.6, A_G / A_V ~ 0.92, Clementini et al. 2016); long-period variables are given in I and are redder.
# ZTF r is interpolated between V and I linearly in wavelength (0.62 um, 28 % of the way).
PULSATOR_BAND_SCALE = {"V": 1.0, "G": 0.92, "I": 0.6, "r": 0.89}
LPV_BAND_SCALE = {"I": 1.0, "G": 1.8, "V": 2.6, "r": 2.15}
BAND_WAVELENGTH_UM = {"V": 0.55, "G": 0.64, "I": 0.80, "r": 0.62}


def _interp(x, knots_x, knots_y):
    return np.interp(x, np.asarray(knots_x, np.float64), np.asarray(knots_y, np.float64))


def _harmonic_coefficients(amp_k, phi_k):
    """(..., K) amplitudes and sine phases -> coefficients of sin(kx) and cos(kx)."""
    return amp_k * np.cos(phi_k), amp_k * np.sin(phi_k)


def _peak_to_peak(s_k, c_k, n_grid: int = 128):
    """Peak-to-peak range of sum_k s_k sin(kx) + c_k cos(kx) over one cycle; (N, K) -> (N,)."""
    x = np.linspace(0.0, TWO_PI, n_grid, endpoint=False)
    k = np.arange(1, s_k.shape[-1] + 1)
    kx = k[:, None] * x[None, :]  # (K, G)
    curve = s_k @ np.sin(kx) + c_k @ np.cos(kx)  # (N, G)
    return curve.max(axis=1) - curve.min(axis=1)


def _fourier_mode(amp, r_k, phi_k):
    """Single-mode Fourier shape scaled to peak-to-peak `amp` (N,); r_k, phi_k (N, K) with
    r_1 = 1, phi_1 = 0. Returns (sin-coefficients, cos-coefficients), each (N, K)."""
    s, c = _harmonic_coefficients(r_k, phi_k)
    scale = amp / np.maximum(_peak_to_peak(s, c), 1e-12)
    return s * scale[:, None], c * scale[:, None]


def _geometric_series(n, r21, r31, phi21, phi31, k=N_HARMONICS):
    """Amplitude ratios and phases for k harmonics: R_k1 keep decaying by R31/R21 (at most 0.7)
    per order, tapered by a further 0.85 per order so that the high harmonics add no ripples, and
    phi_k1 continue the progression phi_k1 = phi_31 + (k - 3) phi_21 (true of the saw-tooth-like
    shapes of RRab and Cepheids)."""
    r = np.ones((n, k))
    phi = np.zeros((n, k))
    r[:, 1], phi[:, 1] = r21, phi21
    if k > 2:
        r[:, 2], phi[:, 2] = r31, phi31
        ratio = np.clip(r31 / np.maximum(r21, 1e-6), 0.0, 0.7)
        for j in range(3, k):
            r[:, j] = r[:, j - 1] * ratio * 0.85
            phi[:, j] = phi[:, j - 1] + phi21
    return r, phi


# --------------------------------------------------------------------------- pulsators
def _empty_pulsator(n):
    return {
        "freq": np.zeros((n, N_MODES)),  # cycles / day
        "s": np.zeros((n, N_MODES, N_HARMONICS)),
        "c": np.zeros((n, N_MODES, N_HARMONICS)),
        "epoch": np.zeros((n, N_MODES)),
    }


def draw_rrlyr(p: dict, band: str, rng: np.random.Generator) -> dict:
    """RRab: amplitude falling with period along the Bailey diagram (a linear fit to the
    Oosterhoff I locus), phi_31 from the period-metallicity relation of Jurcsik & Kovacs (1996);
    RRc: near-sinusoidal, low amplitude."""
    n = p["period"].shape[0]
    per, feh = p["period"], p["feh"]
    logp = np.log10(per)
    ab = p["subclass"] == "RRab"
    amp_v_ab = 0.8 - 3.2 * (logp + 0.24) + rng.normal(0, 0.12, n)
    amp_v_c = rng.normal(0.45, 0.08, n)
    amp_v = np.clip(np.where(ab, amp_v_ab, amp_v_c), 0.2, 1.4)
    # JK96: [Fe/H] = -5.038 - 5.394 P + 1.345 phi31 (V, sine series).
    phi31_ab = (feh + 5.038 + 5.394 * per) / 1.345 + rng.normal(0, 0.08, n)
    phi21_ab = 2.40 + 0.8 * (per - 0.58) + rng.normal(0, 0.08, n)
    r21_ab = np.clip(0.48 - 0.3 * (per - 0.58) + rng.normal(0, 0.04, n), 0.25, 0.6)
    r31_ab = np.clip(0.33 - 0.3 * (per - 0.58) + rng.normal(0, 0.04, n), 0.1, 0.45)
    r21_c = np.clip(rng.normal(0.15, 0.05, n), 0.02, 0.3)
    r31_c = np.clip(rng.normal(0.07, 0.03, n), 0.0, 0.15)
    # RRc (OGLE cosine phases phi21 ~ 4.8, phi31 ~ 3.2, converted to the sine convention).
    phi21_c = rng.normal(4.8 - np.pi / 2, 0.15, n)
    phi31_c = rng.normal(3.2 - np.pi, 0.3, n) + 0.5 * (feh + 1.3)
    r, phi = _geometric_series(n, np.where(ab, r21_ab, r21_c), np.where(ab, r31_ab, r31_c),
                               np.where(ab, phi21_ab, phi21_c), np.where(ab, phi31_ab, phi31_c))
    r[~ab, 3:] = 0.0  # RRc: three harmonics are enough
    out = _empty_pulsator(n)
    out["freq"][:, 0] = 1.0 / per
    out["s"][:, 0], out["c"][:, 0] = _fourier_mode(amp_v * PULSATOR_BAND_SCALE[band], r, phi)
    out["epoch"] = rng.random((n, N_MODES))
    return out


def hertzsprung_progression(logp_f):
    """Fourier parameters of fundamental-mode Cepheids against log P (I band, sine phases):
    the bump progression puts a minimum of R21 and a drop of phi21 at P ~ 10 d (OGLE-III LMC,
    Soszynski et al. 2008). Returns (R21, R31, phi21, phi31)."""
    kx = (0.0, 0.5, 0.85, 1.0, 1.1, 1.3, 1.7)
    r21 = _interp(logp_f, kx, (0.32, 0.45, 0.40, 0.10, 0.30, 0.42, 0.45))
    r31 = _interp(logp_f, kx, (0.15, 0.25, 0.22, 0.05, 0.15, 0.22, 0.25))
    phi21_cos = _interp(logp_f, kx, (4.1, 4.4, 4.6, 3.4, 3.6, 4.0, 4.3))
    phi21 = phi21_cos - np.pi / 2
    phi31 = 2.0 * phi21 + 0.2 + _interp(logp_f, kx, (0.0, 0.0, 0.2, 0.8, 0.3, 0.1, 0.0))
    return r21, r31, phi21, phi31


def draw_cep(p: dict, band: str, rng: np.random.Generator) -> dict:
    """Classical Cepheids: F mode with the Hertzsprung progression (amplitude dip and R21 minimum
    near 10 d), near-sinusoidal first overtones, and 1O/2O double-mode stars (P2/P1 = 0.80)."""
    n = p["period"].shape[0]
    per = p["period"]
    sub = p["subclass"]
    fund = sub == "F"
    logp = np.log10(per)
    r21_f, r31_f, phi21_f, phi31_f = hertzsprung_progression(logp)
    # First overtone: small R21 with a minimum near P = 3.2 d (resonance with the 4th overtone).
    r21_o = np.clip(_interp(logp, (-0.4, 0.2, 0.5, 0.8), (0.2, 0.15, 0.04, 0.12)) + rng.normal(0, 0.03, n), 0.01, 0.3)
    r31_o = np.clip(0.4 * r21_o + rng.normal(0, 0.02, n), 0.0, 0.15)
    phi21_o = _interp(logp, (-0.4, 0.2, 0.5, 0.8), (4.8, 4.6, 3.6, 3.8)) - np.pi / 2
    phi31_o = 2 * phi21_o + rng.normal(0.5, 0.3, n)
    noise = rng.normal(0, 0.03, (4, n))
    r, phi = _geometric_series(
        n, np.where(fund, np.clip(r21_f + noise[0], 0.02, 0.6), r21_o),
        np.where(fund, np.clip(r31_f + noise[1], 0.0, 0.4), r31_o),
        np.where(fund, phi21_f + 3 * noise[2], phi21_o), np.where(fund, phi31_f + 4 * noise[3], phi31_o))
    r[~fund, 4:] = 0.0
    # I-band amplitudes: grow with period for F, with a dip at the Hertzsprung resonance.
    amp_i_f = (0.25 + 0.35 * logp) * (1.0 - 0.35 * np.exp(-(((logp - 1.0) / 0.08) ** 2)))
    amp_i_f = np.clip(amp_i_f + rng.normal(0, 0.08, n), 0.1, 1.0)
    amp_i_o = np.clip(rng.normal(0.18, 0.06, n), 0.04, 0.4)
    amp_i = np.select([fund, sub == "1O"], [amp_i_f, amp_i_o], 0.6 * amp_i_o)
    amp = amp_i / PULSATOR_BAND_SCALE["I"] * PULSATOR_BAND_SCALE[band]
    out = _empty_pulsator(n)
    out["freq"][:, 0] = 1.0 / per
    out["s"][:, 0], out["c"][:, 0] = _fourier_mode(amp, r, phi)
    double = sub == "1O/2O"
    ones = np.ones((n, 1))
    s2, c2 = _fourier_mode(amp * rng.uniform(0.4, 0.9, n), np.hstack([ones, 0.05 * ones]),
                           np.hstack([0 * ones, rng.uniform(0, TWO_PI, (n, 1))]))
    out["freq"][:, 1] = np.where(double, 1.0 / (0.80 * per), 0.0)
    out["s"][:, 1, :2] = np.where(double[:, None], s2, 0.0)
    out["c"][:, 1, :2] = np.where(double[:, None], c2, 0.0)
    out["epoch"] = rng.random((n, N_MODES))
    return out


def draw_dsct(p: dict, band: str, rng: np.random.Generator) -> dict:
    """delta Scuti: high-amplitude (HADS, RRab-like shapes, some F/1O double-mode with
    P1/P0 = 0.773) and low-amplitude multi-mode stars (3-6 non-commensurate sinusoids)."""
    n = p["period"].shape[0]
    per = p["period"]
    sub = p["subclass"]
    hads = sub != "multimode"
    amp_v = np.where(hads, 10 ** rng.normal(np.log10(0.35), 0.2, n),
                     10 ** rng.uniform(np.log10(0.01), np.log10(0.1), n))
    r21 = np.clip(rng.normal(0.38, 0.07, n), 0.1, 0.6)
    r31 = np.clip(rng.normal(0.18, 0.05, n), 0.02, 0.35)
    r, phi = _geometric_series(n, r21, r31, rng.normal(2.5, 0.15, n), rng.normal(5.2, 0.3, n))
    r[:, 5:] = 0.0
    r[~hads, 1:] = 0.0  # low-amplitude modes are sinusoidal
    amp = amp_v * PULSATOR_BAND_SCALE[band]
    out = _empty_pulsator(n)
    out["freq"][:, 0] = 1.0 / per
    out["s"][:, 0], out["c"][:, 0] = _fourier_mode(amp, r, phi)
    # Secondary modes: the first overtone of double-mode HADS, or a set of non-radial /
    # overtone modes with random frequency ratios for the multi-mode stars.
    n_extra = N_MODES - 1
    ratio = rng.uniform(0.75, 1.9, (n, n_extra))
    rel_amp = rng.uniform(0.15, 0.8, (n, n_extra))
    n_modes = rng.integers(2, n_extra + 1, n)  # multimode: 3..6 modes in total
    active = np.arange(n_extra)[None, :] < n_modes[:, None]
    double = sub == "HADS_F/1O"
    ratio[double, 0] = 1.0 / 0.773
    rel_amp[double, 0] = rng.uniform(0.3, 0.9, int(double.sum()))
    use = np.where(double[:, None], np.arange(n_extra)[None, :] == 0, active & ~hads[:, None])
    out["freq"][:, 1:] = np.where(use, ratio / per[:, None], 0.0)
    out["s"][:, 1:, 0] = np.where(use, rel_amp * amp[:, None] / 2.0, 0.0)
    out["epoch"] = rng.random((n, N_MODES))
    return out


def eval_pulsator(shape: dict, t_NT: np.ndarray) -> np.ndarray:
    """Sum over modes and harmonics: sum_mk s_mk sin(k x_m) + c_mk cos(k x_m); (N, T) mag."""
    out = np.zeros(t_NT.shape, np.float32)
    freq, s, c, epoch = shape["freq"], shape["s"], shape["c"], shape["epoch"]
    for m in range(freq.shape[1]):
        if not np.any(freq[:, m] > 0):
            continue
        out += _harmonic_sum(_cycles(t_NT, freq[:, m : m + 1], epoch[:, m : m + 1]), s[:, m], c[:, m])
    return out


def _cycles(t_NT, freq_N1, offset):
    """Phase in cycles, reduced to [0, 1) in float64 and then cast to float32: the trigonometry
    runs in float32 (twice as fast) without losing the precision of long time bases."""
    x = t_NT * freq_N1 + offset
    return (x - np.floor(x)).astype(np.float32)


def _harmonic_sum(phase_NT, s_NH, c_NH):
    """sum_k s_k sin(k x) + c_k cos(k x), x = 2 pi phase, by the angle-addition recurrence (one
    sin/cos per point); float32 (N, T)."""
    x = np.float32(TWO_PI) * phase_NT
    s1, c1 = np.sin(x), np.cos(x)
    s_NH, c_NH = s_NH.astype(np.float32), c_NH.astype(np.float32)
    sk, ck = s1, c1
    out = s_NH[:, :1] * sk + c_NH[:, :1] * ck
    for k in range(1, s_NH.shape[1]):
        if not (np.any(s_NH[:, k]) or np.any(c_NH[:, k])):
            break
        sk, ck = sk * c1 + ck * s1, ck * c1 - sk * s1
        out += s_NH[:, k : k + 1] * sk + c_NH[:, k : k + 1] * ck
    return out


# --------------------------------------------------------------------------- long-period variables
N_MOD_TERMS = 2  # random sinusoids per modulation process


def draw_lpv(p: dict, band: str, rng: np.random.Generator) -> dict:
    """Miras (large amplitude, mildly non-sinusoidal), semi-regulars and OSARGs (multi-periodic,
    small amplitude, some with a long secondary period). Cycle-to-cycle changes: slow random
    modulations of phase (period), amplitude and mean magnitude, each a sum of sinusoids with
    time scales of a few cycles."""
    n = p["period"].shape[0]
    per = p["period"]
    sub = p["subclass"]
    mira, srv = sub == "Mira", sub == "SRV"
    amp_i = np.select([mira, srv], [10 ** rng.normal(np.log10(1.4), 0.15, n), 10 ** rng.normal(np.log10(0.3), 0.25, n)],
                      10 ** rng.normal(np.log10(0.04), 0.3, n))
    band_scale = LPV_BAND_SCALE[band] * np.where(mira, 1.0, 0.85)
    amp = amp_i * band_scale
    r21 = np.where(mira, np.clip(rng.normal(0.15, 0.06, n), 0.0, 0.35), np.clip(rng.normal(0.06, 0.04, n), 0.0, 0.2))
    r, phi = _geometric_series(n, r21, 0.3 * r21, rng.uniform(0, TWO_PI, n), rng.uniform(0, TWO_PI, n), k=3)
    out = _empty_pulsator(n)
    out["freq"][:, 0] = 1.0 / per
    out["s"][:, 0, :3], out["c"][:, 0, :3] = _fourier_mode(amp, r, phi)
    # Extra modes: OSARGs and SRVs are multi-periodic (period ratios of the A/B/C sequences);
    # 30 % have a long secondary period ~8 P of comparable amplitude.
    ratio = np.stack([rng.choice([0.53, 0.72, 1.4, 1.9], n), rng.choice([0.53, 0.72, 1.4], n)], 1)
    ratio = ratio * rng.normal(1, 0.02, (n, 2))
    rel = rng.uniform(0.2, 0.8, (n, 2)) * (~mira)[:, None]
    rel[:, 1] *= rng.random(n) < 0.5
    out["freq"][:, 1:3] = np.where(rel > 0, 1.0 / (per[:, None] * ratio), 0.0)
    out["s"][:, 1:3, 0] = rel * amp[:, None] / 2.0
    lsp = (~mira) & (rng.random(n) < 0.3)
    out["freq"][:, 3] = np.where(lsp, 1.0 / (per * rng.uniform(6, 10, n)), 0.0)
    out["s"][:, 3, 0] = np.where(lsp, rng.uniform(0.3, 1.0, n) * amp / 2.0, 0.0)
    out["epoch"] = rng.random((n, N_MODES))
    # Modulations: phase [cycles], relative amplitude and mean [mag]; Miras are the most regular.
    size = (n, N_MOD_TERMS)
    strength = np.where(mira, 1.0, np.where(srv, 3.0, 4.0))[:, None]
    out["pm_amp"] = rng.uniform(0.02, 0.06, size) * strength
    out["am_amp"] = rng.uniform(0.05, 0.12, size) * np.minimum(strength, 2.5)
    out["mm_amp"] = rng.uniform(0.02, 0.06, size) * amp[:, None] * np.where(mira, 0.2, 0.4)[:, None]
    for name in ("pm", "am", "mm"):
        out[f"{name}_freq"] = 1.0 / (per[:, None] * rng.uniform(2.0, 8.0, size))
        out[f"{name}_phase"] = rng.uniform(0, TWO_PI, size)
    return out


def _modulation(shape, name, t_NT):
    total = np.zeros(t_NT.shape, np.float32)
    for j in range(N_MOD_TERMS):
        phase = _cycles(t_NT, shape[f"{name}_freq"][:, j : j + 1], shape[f"{name}_phase"][:, j : j + 1] / TWO_PI)
        total += shape[f"{name}_amp"][:, j : j + 1].astype(np.float32) * np.sin(np.float32(TWO_PI) * phase)
    return total


def eval_lpv(shape: dict, t_NT: np.ndarray) -> np.ndarray:
    """Multi-periodic LPV light curve with phase, amplitude and mean modulations; (N, T) mag."""
    phase_shift = _modulation(shape, "pm", t_NT)  # cycles
    amp_factor = np.maximum(1.0 + _modulation(shape, "am", t_NT), 0.1)
    out = np.zeros(t_NT.shape, np.float32)
    freq, s, c, epoch = shape["freq"], shape["s"], shape["c"], shape["epoch"]
    for m in range(4):
        if not np.any(freq[:, m] > 0):
            continue
        phase = _cycles(t_NT, freq[:, m : m + 1], epoch[:, m : m + 1])
        if m < 3:  # the long secondary period is not phase-modulated with the pulsation
            phase = phase + phase_shift
        out += _harmonic_sum(phase, s[:, m, :3], c[:, m, :3])
    return out * amp_factor + _modulation(shape, "mm", t_NT)


# --------------------------------------------------------------------------- eclipsing binaries
def planck_ratio(t_hot, t_cool, wavelength_um):
    """Surface-brightness ratio B_lambda(t_cool) / B_lambda(t_hot) of black bodies."""
    c2 = 14387.77 / wavelength_um  # h c / (lambda k) in K
    return np.expm1(c2 / t_hot) / np.expm1(c2 / t_cool)


def draw_ecl(p: dict, band: str, rng: np.random.Generator) -> dict:
    """Geometry of the binary in units of the separation: radii, inclination, surface-brightness
    ratio in the band (black bodies), mass ratio for the ellipsoidal effect, albedos."""
    n = p["period"].shape[0]
    a = p["separation"]
    return {
        "period": p["period"],
        "epoch": rng.random(n),
        "r1": p["radius"] / a,
        "r2": p["radius2"] / a,
        "sin_i": np.sin(np.radians(p["incl_deg"])),
        "cos_i": np.cos(np.radians(p["incl_deg"])),
        "j21": planck_ratio(p["teff"], p["teff2"], BAND_WAVELENGTH_UM[band]),
        "q": p["mass2"] / p["mass"],
        "ecc": p["ecc"],
        "omega": np.radians(p["omega_deg"]),
        # Convective envelopes (cool stars) reflect about half, radiative ones all the light.
        "albedo1": np.where(p["teff"] < 7000, 0.5, 1.0),
        "albedo2": np.where(p["teff2"] < 7000, 0.5, 1.0),
    }


def _overlap_area(d, r1, r2):
    """Area of the intersection of two circles of radii r1, r2 at centre distance d (arrays)."""
    d = np.maximum(d, np.float32(1e-12))
    small = np.minimum(r1, r2)
    big = np.maximum(r1, r2)
    inside = d <= big - small
    apart = d >= r1 + r2
    c1 = np.clip((d * d + r1 * r1 - r2 * r2) / (2 * d * r1), -1.0, 1.0)
    c2 = np.clip((d * d + r2 * r2 - r1 * r1) / (2 * d * r2), -1.0, 1.0)
    k = np.maximum((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2), 0.0)
    lens = r1 * r1 * np.arccos(c1) + r2 * r2 * np.arccos(c2) - 0.5 * np.sqrt(k)
    return np.where(apart, 0.0, np.where(inside, np.pi * small * small, lens))


# Ellipsoidal coefficient 0.15 (15 + u)(1 + tau) / (3 - u) of Morris (1985) with linear
# limb darkening u = 0.6 and gravity darkening tau = 0.4.
ELLIPSOIDAL_COEF = 0.15 * (15 + 0.6) * (1 + 0.4) / (3 - 0.6)


def _kepler(mean_anomaly, ecc, iterations: int = 6):
    """Eccentric anomaly E solving E - e sin E = M (Newton steps from E = M + e sin M)."""
    e_anom = mean_anomaly + ecc * np.sin(mean_anomaly)
    for _ in range(iterations):  # fixed iteration count, vectorised over all points
        e_anom = e_anom - (e_anom - ecc * np.sin(e_anom) - mean_anomaly) / (1 - ecc * np.cos(e_anom))
    return e_anom


def eval_ecl(shape: dict, t_NT: np.ndarray) -> np.ndarray:
    """Eclipses of two uniform discs on a Keplerian orbit plus ellipsoidal variation and
    reflection (both scaling with the instantaneous separation); (N, T) mag.

    theta = true anomaly + omega is the orbital angle; star 2 is in front of star 1 when
    sin(theta) > 0. Circular orbits have omega = 90 deg, so the primary eclipse is at phase 0.
    """
    col = {k: v[:, None].astype(np.float32) for k, v in shape.items() if k not in ("period", "epoch")}
    mean_anom = np.float32(TWO_PI) * _cycles(t_NT, 1.0 / shape["period"][:, None], shape["epoch"][:, None])
    true_anom, sep = mean_anom, np.ones_like(mean_anom)
    rows = np.flatnonzero(shape["ecc"] > 0)  # Kepler's equation only for the eccentric orbits
    if rows.size:
        ecc = col["ecc"][rows]
        e_anom = _kepler(mean_anom[rows], ecc)
        true_anom = true_anom.copy()
        true_anom[rows] = 2 * np.arctan2(np.sqrt(1 + ecc) * np.sin(e_anom / 2), np.sqrt(1 - ecc) * np.cos(e_anom / 2))
        sep[rows] = 1 - ecc * np.cos(e_anom)  # separation in units of the semi-major axis
    theta = true_anom + col["omega"]
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    r1, r2 = col["r1"], col["r2"]
    d = sep * np.sqrt(cos_t**2 + (col["cos_i"] * sin_t) ** 2)
    f1 = np.pi * r1 * r1
    f2 = np.pi * r2 * r2 * col["j21"]
    area = _overlap_area(d, r1, r2)
    eclipsed = np.where(sin_t > 0, area, area * col["j21"])  # star 2 in front: star 1 is hidden
    # Ellipsoidal light is faintest at the conjunctions (cos 2 theta = -1) and grows as r^-3.
    cos_2c = -(2 * cos_t * cos_t - 1)
    sin2 = col["sin_i"] ** 2
    ell = ELLIPSOIDAL_COEF * sin2 * cos_2c * (f1 * r1**3 * col["q"] + f2 * r2**3 / col["q"]) / sep**3
    # Reflection: the lit hemisphere of star 2 faces us when star 2 is behind (sin theta = -1).
    refl = 0.5 * col["sin_i"] * (col["albedo2"] * f1 * r2 * r2 * 0.25 * (1 - sin_t)
                                 + col["albedo1"] * f2 * r1 * r1 * 0.25 * (1 + sin_t)) / sep**2
    flux = f1 + f2 - eclipsed - ell + refl
    return np.float32(-2.5) * np.log10(np.maximum(flux, np.float32(1e-9)) / (f1 + f2))


DRAW = {"CEP": draw_cep, "DSCT": draw_dsct, "ECL": draw_ecl, "LPV": draw_lpv, "RRLYR": draw_rrlyr}
EVAL = {"CEP": eval_pulsator, "DSCT": eval_pulsator, "ECL": eval_ecl, "LPV": eval_lpv, "RRLYR": eval_pulsator}


def draw_shape(cls: str, params: dict, band: str, rng: np.random.Generator) -> dict:
    """Per-star shape parameters (dict of arrays, leading axis N) of class `cls` in `band`."""
    return DRAW[cls](params, band, rng)


def evaluate(cls: str, shape: dict, t_NT: np.ndarray) -> np.ndarray:
    """Magnitude offsets (N, T) [mag] of the stars in `shape` at times `t_NT` [days]."""
    return EVAL[cls](shape, t_NT)


def take(shape: dict, idx) -> dict:
    """The stars `idx` (slice or index array) of a shape dict (for chunked evaluation)."""
    return {k: v[idx] for k, v in shape.items()}
