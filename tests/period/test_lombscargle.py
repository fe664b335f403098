"""Period finding: GLS kernel against float64 references, masks, precision, doubling test, CLI."""
from __future__ import annotations

import functools

import chex
import jax
import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from jaxpelsvae.cli import main as cli_main
from jaxpelsvae.data import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.period import (
    FrequencyGrid,
    PeriodConfig,
    auto_grid,
    find_periods,
    fourier_power_one,
    gls_peaks_batch,
    gls_power_one,
    lomb_scargle_batch,
    lomb_scargle_peaks,
    phases_at,
    reduce_phases,
)
from jaxpelsvae.period.lombscargle import prepare_inputs


def gls_reference(t, y, dy, freqs):
    """Float64 numpy generalised Lomb-Scargle (Zechmeister & Kuerster 2009), straight from the formula."""
    w = 1.0 / dy**2
    w = w / w.sum()
    y = y - np.sum(w * y)
    arg = 2 * np.pi * np.outer(freqs, t)
    cos, sin = np.cos(arg), np.sin(arg)
    c, s = cos @ w, sin @ w
    yc, ys = cos @ (w * y), sin @ (w * y)
    cc = (cos**2) @ w - c * c
    ss = (sin**2) @ w - s * s
    cs = (cos * sin) @ w - c * s
    yy = np.sum(w * y * y)
    return (ss * yc**2 + cc * ys**2 - 2 * cs * yc * ys) / (yy * (cc * ss - cs**2))


def sinusoid(rng, n, baseline, period, amp=0.3, noise=0.05, t_start=0.0):
    t = np.sort(rng.uniform(t_start, t_start + baseline, n))
    err = rng.uniform(0.5, 1.5, n) * noise
    mag = 15.0 + amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + err * rng.normal(size=n)
    return t, mag, err


def eclipsing(rng, n, baseline, period, depths=(0.8, 0.4), width=0.04, noise=0.02):
    """Two Gaussian eclipses of unequal depth half a period apart (plain LS peaks at period/2)."""
    t = np.sort(rng.uniform(0, baseline, n))
    phase = (t / period) % 1.0
    d1, d2 = np.minimum(phase, 1 - phase), np.abs(phase - 0.5)
    err = np.full(n, noise)
    mag = 15.0 + depths[0] * np.exp(-0.5 * (d1 / width) ** 2) + depths[1] * np.exp(-0.5 * (d2 / width) ** 2)
    return t, mag + err * rng.normal(size=n), err


def pad(curves, t_len):
    n = len(curves)
    time, mag, err, mask = np.zeros((n, t_len)), np.zeros((n, t_len)), np.ones((n, t_len)), np.zeros((n, t_len), bool)
    for i, (t, m, e) in enumerate(curves):  # test set-up only
        k = t.size
        time[i, :k], mag[i, :k], err[i, :k], mask[i, :k] = t - t[0], m, e, True
    return time, mag, err, mask


# ------------------------------------------------------------------------------- grid
def test_auto_grid_rules():
    grid = auto_grid(1000.0, min_period=0.1, oversampling=5)
    assert grid.df == pytest.approx(1 / 5000)
    assert grid.f0 == pytest.approx(1 / 1000)
    assert grid.f0 + (grid.n - 1) * grid.df <= 10.0 < grid.f0 + grid.n * grid.df
    nyq = auto_grid(1000.0, min_period=None, n_points=200, max_period=100)
    assert nyq.f0 == pytest.approx(0.01)
    assert nyq.f0 + (nyq.n - 1) * nyq.df == pytest.approx(5 * 200 / 2000, abs=nyq.df)
    assert FrequencyGrid.from_frequencies(grid.frequencies[:50]) == pytest.approx(FrequencyGrid(grid.f0, grid.df, 50))
    with pytest.raises(ConfigError, match="regularly spaced"):
        FrequencyGrid.from_frequencies([0.1, 0.2, 0.4])
    with pytest.raises(ConfigError, match="empty period range"):
        auto_grid(1000.0, min_period=2.0, max_period=1.0)


# ------------------------------------------------------------------------------- kernel
class GLSKernelTest(chex.TestCase):
    """The one-star kernel, jitted and not, against float64 references."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_long_baseline_float32_matches_float64(self):
        # 3000 d at P ~ 0.05 d: f * t reaches 6e4 cycles, where a float32 f * t is off by ~4e-3
        # cycles; the host phase reduction must keep the float32 kernel at the float64 answer.
        rng = np.random.default_rng([7, 1])
        t, mag, err = sinusoid(rng, 300, 3000.0, period=0.0503, noise=0.2)
        t = t + 2460000.0  # an absolute epoch: times reach the kernel only as reduced phases
        grid = FrequencyGrid(19.6, 3e-5, 30_000)  # around 1/P, spanning > 100 peak widths
        block, chunk = 128, 4096
        ones = np.ones((1, t.size), bool)
        phases, y, w = prepare_inputs((t - t[0])[None], mag[None], err[None], ones, grid, block)
        kernel = self.variant(functools.partial(gls_power_one, n_freq=grid.n, block=block, chunk=chunk))
        power = np.asarray(kernel(*(p[0] for p in phases), y[0], w[0]))
        ref = gls_reference(t - t[0], mag, err, grid.frequencies)
        np.testing.assert_allclose(power, ref, atol=2e-5)
        assert grid.frequencies[np.argmax(power)] == grid.frequencies[np.argmax(ref)]
        assert 1 / grid.frequencies[np.argmax(power)] == pytest.approx(0.0503, rel=1e-4)
        # The naive float32 phase f * t is visibly wrong at this baseline: the test can fail.
        naive_arg = (2 * np.pi * (grid.frequencies[:2000, None].astype(np.float32) * (t - t[0]).astype(np.float32)))
        naive_c = np.cos(naive_arg).astype(np.float64) @ (w[0] / w[0].sum())
        exact_c = np.cos(2 * np.pi * grid.frequencies[:2000, None] * (t - t[0])) @ (w[0] / w[0].sum())
        assert np.max(np.abs(naive_c - exact_c)) > 50 * 2e-5

    @chex.variants(with_jit=True, without_jit=True)
    def test_fourier_single_term_equals_gls(self):
        rng = np.random.default_rng([7, 2])
        t, mag, err = sinusoid(rng, 120, 500.0, period=1.7)
        freqs = np.array([[0.2, 1 / 1.7, 0.9, 3.3]])
        phase = phases_at((t - t[0])[None], freqs)[0]
        ones = np.ones((1, t.size), bool)
        _, y, w = prepare_inputs((t - t[0])[None], mag[None], err[None], ones, FrequencyGrid(0.2, 0.1, 2))
        power, chi2 = self.variant(functools.partial(fourier_power_one, harmonics=(1,)))(phase, y[0], w[0])
        np.testing.assert_allclose(np.asarray(power), gls_reference(t - t[0], mag, err, freqs[0]), atol=2e-5)
        assert np.all(np.asarray(chi2) > 0)


def test_batch_matches_astropy_and_recovers_periods():
    rng = np.random.default_rng([7, 3])
    periods = [0.31, 2.7, 11.0]
    curves = [sinusoid(rng, n, 900.0, p) for n, p in zip((150, 220, 90), periods)]
    time, mag, err, mask = pad(curves, 224)
    grid = auto_grid(900.0, min_period=0.2)
    power = np.asarray(lomb_scargle_batch(time.astype(np.float32), mag, err, mask, grid))
    assert power.shape == (3, grid.n)
    freqs, best = lomb_scargle_peaks(time, mag, err, mask, grid, k=3)
    for i, (t, m, e) in enumerate(curves):
        ref = LombScargle(t, m, e).power(grid.frequencies, method="cython")
        # float32 times relative to the first epoch: ~1e-4 d resolution, so ~1e-3 power agreement
        np.testing.assert_allclose(power[i], ref, atol=2e-3)
        assert 1 / freqs[i, 0] == pytest.approx(periods[i], rel=2e-3)
        assert best[i, 0] >= best[i, 1] >= best[i, 2]


def test_padding_and_garbage_do_not_change_power():
    rng = np.random.default_rng([7, 4])
    t, mag, err = sinusoid(rng, 80, 400.0, 0.77)
    time, m, e, mask = pad([(t, mag, err)], 80)
    grid = auto_grid(400.0, min_period=0.5)
    base = np.asarray(lomb_scargle_batch(time, m, e, mask, grid))
    time2, m2, e2, mask2 = pad([(t, mag, err)], 200)
    time2[:, 80:] = rng.uniform(0, 400, 120)  # junk in the padding must be ignored
    m2[:, 80:] = 1e3
    e2[:, 80:] = 1e-3
    padded = np.asarray(lomb_scargle_batch(time2, m2, e2, mask2, grid))
    np.testing.assert_allclose(padded, base, atol=1e-6)


def test_bad_input_is_refused():
    time, mag, err, mask = pad([(np.arange(10.0), np.ones(10), np.full(10, 0.1))], 10)
    err[0, 3] = 0.0
    with pytest.raises(DataError, match="err > 0"):
        lomb_scargle_batch(time, mag, err, mask, FrequencyGrid(0.1, 0.01, 10))


# ------------------------------------------------------------------------------- find_periods
@pytest.fixture(scope="module")
def mixed_set():
    """Two eclipsing binaries, one sinusoid labelled ECL, two RR Lyrae-like sinusoids, one too short."""
    rng = np.random.default_rng([7, 5])
    truth = {"eb1": 1.37, "eb2": 3.11, "sin_ecl": 0.91, "rr1": 0.573, "rr2": 0.4321}
    curves = [eclipsing(rng, 400, 800.0, truth["eb1"]), eclipsing(rng, 300, 800.0, truth["eb2"], depths=(0.6, 0.35)),
              sinusoid(rng, 250, 800.0, truth["sin_ecl"]), sinusoid(rng, 200, 800.0, truth["rr1"]),
              sinusoid(rng, 60, 800.0, truth["rr2"]), sinusoid(rng, 3, 800.0, 1.0)]
    ids = [*truth, "short"]
    lcs = LightCurveSet.from_arrays(ids, [c[0] for c in curves], [c[1] for c in curves], [c[2] for c in curves],
                                    star_class=["ECL", "ECL", "ECL", "RRLYR", "RRLYR", "RRLYR"])
    return lcs, truth


def test_doubling_test_recovers_eclipsing_binary_periods(mixed_set):
    lcs, truth = mixed_set
    plain = find_periods(lcs, min_period=0.2, double_test="off", batch_size=8, progress=False).set_index("id")
    auto = find_periods(lcs, min_period=0.2, double_test="auto", batch_size=8, progress=False, details=True)
    auto = auto.set_index("id")
    for star in ("eb1", "eb2"):
        assert plain.loc[star, "period"] == pytest.approx(truth[star] / 2, rel=1e-3)  # the known failure
        assert auto.loc[star, "period"] == pytest.approx(truth[star], rel=1e-3)
        assert auto.loc[star, "doubled"]
    for star in ("sin_ecl", "rr1", "rr2"):  # a true sinusoid keeps its period, tested or not
        assert auto.loc[star, "period"] == pytest.approx(truth[star], rel=1e-3)
        assert not auto.loc[star, "doubled"]
    assert auto.loc["sin_ecl", "doubling_dbic"] > 0  # tested (class ECL) and rejected
    assert np.isnan(auto.loc["rr1", "doubling_dbic"])  # class RRLYR: not tested under 'auto'
    assert np.isnan(auto.loc["short", "period"]) and np.isnan(auto.loc["short", "power"])
    assert list(plain.reset_index().columns) == ["id", "period", "power", "fap", "alias_flag"]
    assert list(auto.index) == list(lcs.ids)
    assert (auto["power"].dropna() > 0.5).all()


def test_multi_term_and_batches_compile_once(mixed_set):
    lcs, truth = mixed_set
    sub = lcs.select([3, 4])
    before = gls_peaks_batch._cache_size()  # noqa: SLF001
    out = find_periods(sub, min_period=0.2, nterms=2, batch_size=1, refine=False, progress=False).set_index("id")
    assert gls_peaks_batch._cache_size() - before <= 2  # noqa: SLF001 - two length buckets at most
    for star in ("rr1", "rr2"):
        assert out.loc[star, "period"] == pytest.approx(truth[star], rel=2e-3)


def test_find_periods_refuses_bad_values():
    lcs = LightCurveSet.from_arrays(["a"], [np.arange(20.0)], [np.r_[np.ones(19), np.nan]], [np.full(20, 0.1)])
    with pytest.raises(DataError, match="'a'"):
        find_periods(lcs, progress=False)


# ------------------------------------------------------------------------------- CLI
def test_cli_period_end_to_end(tmp_path, mixed_set, capsys):
    from jaxpelsvae.data import write_standard

    lcs, truth = mixed_set
    folder = write_standard(lcs.select([0, 3, 5]), tmp_path / "data", fmt="csv")
    out = tmp_path / "periods.csv"
    code = cli_main(["period", str(folder), "--out", str(out), "--min-period", "0.2", "--batch-size", "8",
                     "--no-progress", "--workdir", str(tmp_path / "work")])
    assert code == 0
    table = pd.read_csv(out, dtype={"id": str})
    assert list(table.columns) == ["id", "period", "power", "fap", "alias_flag"]
    got = table.set_index("id")["period"]
    assert set(got.index) == {"eb1", "rr1"}  # the 3-point star is skipped ...
    rejected = pd.read_csv(tmp_path / "work" / "rejected.csv")
    assert rejected["id"].astype(str).tolist() == ["short"]  # ... and listed with its reason
    assert got["eb1"] == pytest.approx(truth["eb1"], rel=1e-3)  # class ECL: doubling test by default
    assert got["rr1"] == pytest.approx(truth["rr1"], rel=1e-3)
    assert "wrote 2 rows" in capsys.readouterr().out
    # per-class search within the packaged prior boxes' limits: same answers, same order
    out2 = tmp_path / "periods_limited.csv"
    assert cli_main(["period", str(folder), "--out", str(out2), "--class-limits", "default", "--no-progress",
                     "--workdir", str(tmp_path / "work")]) == 0
    limited = pd.read_csv(out2, dtype={"id": str})
    assert limited["id"].tolist() == table["id"].tolist()
    np.testing.assert_allclose(limited["period"], table["period"], rtol=1e-3)
    assert "class RRLYR: 1 stars searched in 0.0667-3 d" in capsys.readouterr().out


def test_cli_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        cli_main(["period", "--help"])
    text = capsys.readouterr().out
    for option in ("--out", "--min-period", "--max-period", "--oversampling", "--nterms", "--double-test",
                   "--double-margin", "--batch-size", "--candidates", "--refine", "--min-points"):
        assert option in text


def test_reduce_phases_reconstructs_grid_phases():
    rng = np.random.default_rng([7, 6])
    t = np.sort(rng.uniform(0, 3000, (2, 50)), axis=1)
    grid, block = FrequencyGrid(0.5, 7e-5, 300_000), 256
    ph = reduce_phases(t, grid, block)
    k = np.array([0, 1, 255, 256, 123_457, 299_999])
    b, j = (k // block).astype(np.float32), (k % block).astype(np.float32)
    rebuilt = (ph.a[..., None] + np.mod(b * ph.c_hi[..., None], np.float32(1)) + b * ph.c_lo[..., None]
               + j * ph.d[..., None]) % np.float32(1)
    exact = (grid.f0 + grid.df * k) * t[..., None] % 1.0
    diff = np.abs(rebuilt - exact)
    assert np.minimum(diff, 1 - diff).max() < 5e-5


def test_periodograms_peak_where_find_periods_says(mixed_set):
    from jaxpelsvae.period import periodograms

    lcs, truth = mixed_set
    sub = lcs.select([4])
    grid, power = periodograms(sub, min_period=0.2, batch_size=1)
    assert power.shape == (1, grid.n)
    best = find_periods(sub, grid=grid, min_period=0.2, batch_size=1, refine=False, progress=False)
    assert 1 / grid.frequencies[np.argmax(power[0])] == pytest.approx(best["period"].iloc[0], rel=1e-9)
    assert best["power"].iloc[0] == pytest.approx(power[0].max(), rel=1e-6)


def test_complete_periods_searches_within_the_class_limits():
    from jaxpelsvae.physics.priors import PriorConfig, class_period_limits
    from jaxpelsvae.synth.fit import complete_periods

    rng = np.random.default_rng(5)
    times, mags = [], []
    for period in (0.5, 0.5, 150.0):  # a strong 0.5-d signal labelled LPV; a real RR Lyrae; a slow LPV
        t = np.sort(rng.uniform(0, 1000, 120))
        times.append(t)
        mags.append(15 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.01, t.size))
    lcs = LightCurveSet.from_arrays(["a", "b", "c"], times, mags, [np.full(120, 0.01)] * 3,
                                    star_class=["LPV", "RRLYR", "LPV"], period=[np.nan, np.nan, np.nan])
    free, n_free = complete_periods(lcs)
    limits = class_period_limits(PriorConfig())
    assert limits["LPV"] == (100.0, 1000.0) and limits["RRLYR"] == (0.2, 1.0)
    held, n_held = complete_periods(lcs, class_limits=limits, margin=3.0)
    assert n_free == n_held == 3
    assert abs(free[0] - 0.5) < 1e-3 and 100 / 3 <= held[0] <= 3000  # the LPV may not take 0.5 d
    assert abs(held[1] - 0.5) < 1e-3 and abs(free[1] - 0.5) < 1e-3  # inside its class's limits
    assert abs(held[2] - 150) < 3 and abs(free[2] - 150) < 3
    known = complete_periods(lcs, periods=[2.0, np.nan, 7.0], class_limits=limits)[0]
    assert known[0] == 2.0 and known[2] == 7.0  # given periods are kept as they are
    with pytest.raises(ConfigError, match="margin"):
        complete_periods(lcs, class_limits=limits, margin=0.5)


def _two_scale_curve(seed=3, n=40, baseline=1000.0):
    """A slow variation (100 d) plus a slightly stronger fast one (0.1 d), sparsely sampled: plain
    Lomb-Scargle ranks the fast peak first by a small power margin."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, baseline, n))
    mag = 15.0 + 0.30 * np.sin(2 * np.pi * t / 100.0) + 0.33 * np.sin(2 * np.pi * t / 0.1 + 1.0)
    return LightCurveSet.from_arrays(["a"], [t], [mag], [np.full(n, 0.01)])


def test_log_period_prior_prefers_the_slow_scale_when_the_powers_are_close():
    lcs = _two_scale_curve()
    plain = find_periods(lcs, progress=False, details=True, period_prior=0.0)
    prior = find_periods(lcs, progress=False, details=True, period_prior=1.0)
    assert abs(plain["period"][0] - 0.1) < 1e-3
    assert abs(prior["period"][0] / 100.0 - 1.0) < 0.05
    # the posterior ranking that chose it: the likelihood favours 0.1 d by less than the prior's log(1000)
    n = 40
    pw_fast, pw_slow = plain["power"][0], prior["power"][0]
    from jaxpelsvae.period.lombscargle import log_posterior_score
    assert log_posterior_score(pw_fast, n, 10.0, 0.0) > log_posterior_score(pw_slow, n, 0.01, 0.0)
    assert log_posterior_score(pw_fast, n, 10.0, 1.0) < log_posterior_score(pw_slow, n, 0.01, 1.0)


def test_log_period_prior_keeps_a_clear_short_period():
    rng = np.random.default_rng(5)
    t, mag, err = sinusoid(rng, 50, 1000.0, 0.05, amp=0.2, noise=0.02)
    lcs = LightCurveSet.from_arrays(["d"], [t], [mag], [err])
    for prior in (0.0, 1.0, 2.0):
        assert abs(find_periods(lcs, progress=False, period_prior=prior)["period"][0] / 0.05 - 1) < 1e-3


def test_period_prior_is_validated():
    with pytest.raises(ConfigError, match="period_prior"):
        find_periods(_two_scale_curve(), progress=False, period_prior=-1.0)


# ------------------------------------------------------------------------------- coarse-to-fine search
def test_power_at_frequencies_matches_the_grid_kernel_and_the_screen_approaches_it():
    from jaxpelsvae.period.lombscargle import gls_power_batch, gls_window_batch, screen_power_one

    rng = np.random.default_rng([7, 9])
    curves = [sinusoid(rng, 300, 500.0, 0.613), sinusoid(rng, 300, 500.0, 7.7, noise=0.3)]
    time, mag, err, mask = pad(curves, 300)
    grid = auto_grid(500.0, min_period=0.3)
    phases, y, w = prepare_inputs(time, mag, err, mask, grid)
    exact = np.asarray(gls_power_batch(*phases, y, w, n_freq=grid.n, block=256, chunk=16384))
    centre = np.array([3, 17, 500, grid.n // 2, grid.n - 4])
    dphase = ((grid.df * time) % 1.0).astype(np.float32)
    window = np.asarray(gls_window_batch(phases_at(time, np.tile(grid.frequencies[centre], (2, 1))), dphase, y, w,
                                         half=3))
    assert window.shape == (2, centre.size, 7)
    np.testing.assert_allclose(window, exact[:, centre[:, None] + np.arange(-3, 4)], atol=2e-4)
    # 300 random epochs cover every phase evenly: the classical power is the generalised one up to
    # the sampling's small departures (the mean and the 2f sums it leaves out).
    screen = np.asarray(jax.vmap(functools.partial(screen_power_one, n_freq=grid.n, block=256, chunk=16384))(*phases, y, w))
    assert np.max(np.abs(screen - exact)) < 0.1
    # the screen peaks on the exact peak's top (within two grid steps: neighbours at the top are near ties)
    assert abs(int(np.argmax(screen[0])) - int(np.argmax(exact[0]))) <= 2


def test_coarse_to_fine_search_finds_the_whole_grids_periods(mixed_set):
    lcs, truth = mixed_set
    rng = np.random.default_rng([7, 10])
    more = [sinusoid(rng, n, 1000.0, p, noise=0.1) for n, p in ((45, 0.0731), (60, 3.9), (80, 127.0), (35, 0.55))]
    extra = LightCurveSet.from_arrays([f"s{i}" for i in range(4)], [c[0] for c in more], [c[1] for c in more],
                                      [c[2] for c in more], star_class=["DSCT", "CEP", "LPV", "RRLYR"])
    for curves in (lcs, extra):
        whole = find_periods(curves, min_period=0.05, coarse=1, details=True, progress=False)
        for setting in (dict(coarse=4), dict(coarse=3, screen=False), dict(coarse=5, coarse_candidates=8)):
            fast = find_periods(curves, min_period=0.05, details=True, progress=False, **setting)
            pd.testing.assert_series_equal(fast["period"], whole["period"], rtol=1e-9)
            np.testing.assert_allclose(fast["power"], whole["power"], atol=1e-5)
            np.testing.assert_array_equal(fast["doubled"], whole["doubled"])
    assert whole.set_index("id").loc["s2", "period"] == pytest.approx(127.0, rel=2e-2)


def test_coarse_settings_are_validated():
    with pytest.raises(ConfigError, match="coarse"):
        PeriodConfig(coarse=0)
    with pytest.raises(ConfigError, match="coarse_candidates"):
        PeriodConfig(coarse_candidates=0)
