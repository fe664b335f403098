"""Reverse-folding kernel, donor selection, and the generator end to end (tiny untrained VAE, tiny data)."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpelsvae.data.fold import PHASE_GRID
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.synth.reverse_fold import (
    DonorBank,
    fold_phase,
    reverse_fold,
    select_donor,
    synthesize_batch,
    synthesize_one,
)

GRID = jnp.asarray(PHASE_GRID)


def _sinusoid_template():
    return 0.5 + 0.5 * jnp.sin(2 * jnp.pi * GRID)  # two cycles on the grid, min-max normalised ~[0, 1]


class TestKernel(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_reproduces_a_sinusoid_at_the_donor_times(self):
        rng = np.random.default_rng(0)
        t64 = np.sort(rng.uniform(0, 3000, 200))
        t64 -= t64[0]
        hi = t64.astype(np.float32)
        lo = (t64 - hi).astype(np.float32)
        period, offset, amp, base = np.float32(0.0312345), 0.3, 0.8, 15.0
        fn = self.variant(lambda tm, per, t, t_lo, off: reverse_fold(
            tm, per, t, jnp.ones(200, bool), jnp.zeros(200), off, jax.random.key(0),
            phase_grid_G=GRID, amplitude=amp, mag_lo=base, donor_time_lo_T=t_lo))
        mag = np.asarray(fn(_sinusoid_template(), period, hi, lo, offset))
        phase = np.mod(t64 / np.float64(period) + offset, 1.0)
        t_min, t_max = np.quantile(np.asarray(_sinusoid_template()), [0.01, 0.99])
        expected = base + amp * ((0.5 + 0.5 * np.sin(2 * np.pi * phase)) - t_min) / (t_max - t_min)
        np.testing.assert_allclose(mag, expected, atol=2e-3 * amp)

    @chex.variants(with_jit=True, without_jit=True)
    def test_noise_comes_from_the_donor_errors(self):
        n = 4000
        fn = self.variant(lambda k: reverse_fold(
            jnp.zeros(600), 1.0, jnp.linspace(0, 100, n), jnp.ones(n, bool), jnp.full(n, 0.05), 0.0, k,
            phase_grid_G=GRID, amplitude=0.0, mag_lo=10.0, noise_scale=2.0))
        mag = np.asarray(fn(jax.random.key(1)))
        np.testing.assert_allclose(mag.std(), 0.1, rtol=0.05)
        np.testing.assert_allclose(mag.mean(), 10.0, atol=0.01)


def test_fold_phase_is_precise_for_long_baselines_and_short_periods():
    t64 = np.linspace(0, 3000, 1001)
    hi = t64.astype(np.float32)
    lo = (t64 - hi).astype(np.float32)
    p = np.float32(0.0301)
    got = np.asarray(jax.jit(fold_phase)(hi, p, lo))
    want = np.mod(t64 / np.float64(p), 1.0)
    d = (got - want + 0.5) % 1.0 - 0.5
    assert np.abs(d).max() < 1e-5
    assert ((got >= 0) & (got < 1)).all()


def test_fold_phase_matches_float64_over_the_period_range():
    rng = np.random.default_rng(7)
    t64 = rng.uniform(0, 10_000, 200_000)
    hi = t64.astype(np.float32)
    lo = (t64 - hi).astype(np.float32)
    p = (10 ** rng.uniform(-1.7, 3.5, t64.size)).astype(np.float32)
    got = np.asarray(jax.jit(fold_phase)(hi, p, lo))
    want = np.mod(t64 / p.astype(np.float64), 1.0)
    d = (got - want + 0.5) % 1.0 - 0.5
    assert np.abs(d).max() < 2e-5
    assert ((got >= 0) & (got < 1)).all()


def test_tail_quantiles_equal_jnp_quantile():
    from jaxpelsvae.synth.reverse_fold import scale_template, tail_quantiles

    x = jnp.asarray(np.random.default_rng(3).normal(size=(20, 600)), jnp.float32)
    x = x.at[0, :50].set(1.0)  # ties in the tail
    for q in ((0.01, 0.99), (0.05, 0.9), (0.0, 1.0)):
        got = jax.vmap(lambda v: jnp.stack(tail_quantiles(v, *q)))(x)
        np.testing.assert_allclose(got, jnp.quantile(x, jnp.asarray(q), axis=1).T, atol=2e-6)
    u = jax.vmap(scale_template)(x)[:, 300:]  # the second cycle, which is the part read
    np.testing.assert_allclose(jnp.quantile(u, jnp.asarray([0.01, 0.99]), axis=1).T, [[0.0, 1.0]] * 20, atol=1e-5)


def test_decoder_warm_up_in_the_first_cycle_does_not_shrink_the_amplitude():
    # a decoder's first-cycle warm-up overshoots; the second cycle holds a small sinusoid
    tmpl = 0.5 + 0.01 * jnp.sin(2 * jnp.pi * GRID)
    tmpl = tmpl.at[:40].set(jnp.linspace(0.0, 1.0, 40))
    t = jnp.asarray(np.sort(np.random.default_rng(0).uniform(0, 50, 400)), jnp.float32)
    mag = reverse_fold(tmpl, 0.7, t, jnp.ones(400, bool), jnp.zeros(400), 0.0, jax.random.key(0),
                       phase_grid_G=GRID, amplitude=0.8, mag_lo=15.0)
    assert 0.75 < float(jnp.ptp(mag)) <= 0.8 * 1.03


def _bank(rng, per_class=(6, 2, 9), T=40):
    labels = np.repeat(np.arange(len(per_class)), per_class).astype(np.int32)
    D = len(labels)
    lengths = rng.integers(10, T + 1, D)
    mask = np.arange(T)[None, :] < lengths[:, None]
    time = np.where(mask, np.sort(rng.uniform(0, 500, (D, T)), axis=1), 0).astype(np.float32)
    time = np.where(mask, time - time[:, :1], 0).astype(np.float32)
    return DonorBank(
        time_hi_DT=jnp.asarray(time), time_lo_DT=jnp.zeros((D, T)), err_DT=jnp.asarray(np.where(mask, 0.02, 1.0), jnp.float32),
        mask_DT=jnp.asarray(mask), log10_period_D=jnp.asarray(rng.uniform(-1.5, 2.5, D), jnp.float32),
        label_D=jnp.asarray(labels), amplitude_D=jnp.asarray(rng.uniform(0.1, 1.0, D), jnp.float32),
        mag_lo_D=jnp.asarray(rng.uniform(12, 18, D), jnp.float32),
    )


@pytest.fixture(scope="module")
def bank():
    return _bank(np.random.default_rng(3))


def test_vmap_equals_a_loop_of_the_single_curve_kernel(bank):
    rng = np.random.default_rng(4)
    N = 4
    tmpl = jnp.asarray(rng.uniform(0, 1, (N, 600)), jnp.float32)
    logp = jnp.asarray(rng.uniform(-1, 2, N), jnp.float32)
    lab = jnp.asarray(rng.integers(0, 3, N), jnp.int32)
    key = jax.random.key(7)
    batch = jax.jit(lambda k: synthesize_batch(k, tmpl, logp, lab, bank, GRID, k_nearest=3, target_snr=5.0))(key)
    one = jax.jit(lambda k, t, p, c: synthesize_one(k, t, p, c, bank, GRID, k_nearest=3, target_snr=5.0))
    keys = jax.random.split(key, N)
    for i in range(N):
        ref = one(keys[i], tmpl[i], logp[i], lab[i])
        for a, b in zip(ref, batch):
            np.testing.assert_allclose(np.asarray(b[i]), np.asarray(a), rtol=3e-6, atol=1e-6)  # a few float32 ulps of ~16 mag


def test_donors_are_always_of_the_sample_class_and_near_in_period(bank):
    rng = np.random.default_rng(5)
    n = 500
    lab = jnp.asarray(rng.integers(0, 3, n), jnp.int32)
    logp = jnp.asarray(rng.uniform(-2, 3, n), jnp.float32)
    keys = jax.random.split(jax.random.key(0), n)
    donors = np.asarray(jax.jit(jax.vmap(lambda k, c, p: select_donor(k, bank.label_D, bank.log10_period_D, c, p, 4)))(
        keys, lab, logp))
    label_D, lp_D = np.asarray(bank.label_D), np.asarray(bank.log10_period_D)
    np.testing.assert_array_equal(label_D[donors], np.asarray(lab))  # class 1 has only 2 donors (< k)
    for i in range(50):  # among the 4 nearest of its class
        same = np.flatnonzero(label_D == int(lab[i]))
        nearest = same[np.argsort(np.abs(lp_D[same] - float(logp[i])))[:4]]
        assert donors[i] in nearest


def test_snr_option_scales_the_errors(bank):
    tmpl = jnp.tile(_sinusoid_template()[None], (4, 1))
    lab = jnp.zeros(4, jnp.int32)
    out = jax.jit(lambda k: synthesize_batch(k, tmpl, jnp.zeros(4), lab, bank, GRID, target_snr=10.0))(jax.random.key(0))
    amp = np.asarray(bank.amplitude_D)[np.asarray(out.donor)]
    err = np.asarray(out.err)
    med = np.array([np.median(e[m]) for e, m in zip(err, np.asarray(out.mask))])
    np.testing.assert_allclose(amp / med, 10.0, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# The generator end to end


@pytest.fixture(scope="module")
def generator():
    from flax import nnx

    from jaxpelsvae.models.vae import PelsVAE, VAEConfig
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.physics.priors import PriorConfig
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.synth.fit import fit_generator
    from jaxpelsvae.synth.generator import GeneratorConfig
    from jaxpelsvae.train.vae_train import LoadedVAE

    lcs = simulate_survey({c: 16 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=1)
    cfg = VAEConfig(latent_dim=2, units=8, levels=7, kernel_size=4, num_classes=5, phys_dim=0)
    vae = LoadedVAE(PelsVAE(cfg, rngs=nnx.Rngs(0)), cfg, None, tuple(lcs.classes), {})
    gen = fit_generator(
        lcs, vae,
        priors_config=PriorConfig(max_iter=100, truncate=True),
        latent_config=LatentConfig(model="mlp", rf_trees=4, max_epochs=5, hidden=(8,)),
        config=GeneratorConfig(seq_length=32, capacity_multiple=32, donor_max_len=64),
    )
    return lcs, gen


def test_generate_end_to_end(generator):
    lcs, gen = generator
    rep = gen.report
    assert set(rep["latent_r2_heldout"]) == {"rf", "mlp"} and np.isfinite(rep["vae_recon_mse"])
    counts = {"CEP": 3, "DSCT": 7, "ECL": 0, "LPV": 2, "RRLYR": 5}
    batch = gen.generate(jax.random.key(0), counts, 0.8)
    N = 32
    chex.assert_shape(batch.x_NL2, (N, 32, 2))
    chex.assert_shape(batch.phys_NP, (N, 6))
    chex.assert_shape(batch.template_NG, (N, 600))
    got = batch.trim()
    assert len(got.y_N) == 17
    np.testing.assert_array_equal(np.bincount(got.y_N, minlength=5), [3, 7, 0, 2, 5])
    assert np.isfinite(got.x_NL2).all() and got.valid_NL.any(axis=1).all()
    # donors of the same class, and the synthetic curve keeps the donor's cadence
    np.testing.assert_array_equal(gen.bank_host.label_D[got.donor_N], got.y_N)
    np.testing.assert_array_equal(got.mask_NT, gen.bank_host.mask_DT[got.donor_N])
    np.testing.assert_allclose(got.period_N, 10 ** got.phys_NP[:, 0], rtol=1e-5)


def test_same_key_same_batch_and_no_recompile(generator):
    _, gen = generator
    a = gen.generate(jax.random.key(3), [2, 2, 2, 2, 2], 1.0)
    b = gen.generate(jax.random.key(3), [2, 2, 2, 2, 2], 1.0)
    c = gen.generate(jax.random.key(4), [2, 2, 2, 2, 2], 1.0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.x_NL2), np.asarray(c.x_NL2))
    # other counts and temperature with the same rounded total: the compiled program is reused
    n_programs = len(gen._compiled)  # noqa: SLF001
    (prog,) = gen._programs(32, 1)  # noqa: SLF001
    size = prog._cache_size()  # noqa: SLF001
    gen.generate(jax.random.key(5), [9, 1, 0, 4, 3], 0.6)
    assert len(gen._compiled) == n_programs and prog._cache_size() == size  # noqa: SLF001


def test_repeats_decode_once_and_fold_each_copy_on_its_own_donor(generator):
    _, gen = generator
    R = 3
    batch = gen.generate(jax.random.key(6), {"CEP": 2, "DSCT": 0, "ECL": 4, "LPV": 1, "RRLYR": 3}, 1.0, repeats=R)
    chex.assert_shape(batch.x_NL2, (32 * R, 32, 2))
    got = batch.trim()
    np.testing.assert_array_equal(np.bincount(got.y_N, minlength=5), [2 * R, 0, 4 * R, R, 3 * R])
    # rows i*R ... i*R+R-1 share one decoded template, its physics and latent code
    for field in ("template_NG", "phys_NP", "z_NZ", "y_N"):
        a = getattr(got, field).reshape(-1, R, *getattr(got, field).shape[1:])
        np.testing.assert_array_equal(a, np.broadcast_to(a[:, :1], a.shape))
    # ... but each copy is its own light curve: same-class donors, different noise and encoding
    np.testing.assert_array_equal(gen.bank_host.label_D[got.donor_N], got.y_N)
    x = got.x_NL2.reshape(-1, R, *got.x_NL2.shape[1:])
    assert not np.array_equal(x[:, 0], x[:, 1])
    mag = np.where(got.mask_NT, got.mag_NT, 0.0).reshape(-1, R, got.mag_NT.shape[1])
    assert not np.array_equal(mag[:, 0], mag[:, 1])
    with pytest.raises(ConfigError, match="repeats"):
        gen.generate(jax.random.key(0), 2, 1.0, repeats=0)


def test_generate_rejects_bad_requests(generator):
    _, gen = generator
    with pytest.raises(ConfigError, match="unknown"):
        gen.generate(jax.random.key(0), {"XYZ": 3})
    with pytest.raises(ConfigError, match="b must be"):
        gen.generate(jax.random.key(0), 2, 0.0)
    with pytest.raises(ConfigError, match="counts"):
        gen.generate(jax.random.key(0), [0, 0, 0, 0, 0])


def test_save_load_restores_the_program_inputs(generator, tmp_path):
    from jaxpelsvae.synth.generator import Generator

    _, gen = generator
    gen.save(tmp_path / "g")
    back = Generator.load(tmp_path / "g")
    # everything the program reads is restored bit for bit (so the same key gives the same batch)
    chex.assert_trees_all_equal(back._consts(), gen._consts())  # noqa: SLF001
    assert back.classes == gen.classes and back.config == gen.config and back.latent.kind == gen.latent.kind
    chex.assert_trees_all_equal(dict(vars(back.latent.stats)), dict(vars(gen.latent.stats)))
    assert (tmp_path / "g" / "report.json").is_file()


def test_random_forest_latent_runs_between_two_jitted_stages(generator):
    from jaxpelsvae.physics.latent import LatentConfig, fit_latent
    from jaxpelsvae.synth.generator import Generator

    _, gen = generator
    rng = np.random.default_rng(0)
    rf = fit_latent(rng.normal(size=(60, 6)), np.arange(60) % 5, rng.normal(size=(60, 2)), 5,
                    LatentConfig(model="rf", rf_trees=3, max_epochs=1, hidden=(4,)))
    assert rf.kind == "rf"
    gen_rf = Generator(gen.priors, rf, gen.vae_model, gen.vae_classes, gen.bank_host, gen.config)
    a = gen_rf.generate(jax.random.key(2), [4, 0, 3, 0, 1], 1.0)
    b = gen_rf.generate(jax.random.key(2), [4, 0, 3, 0, 1], 1.0)
    assert len(gen_rf._programs(32, 1)) == 2  # noqa: SLF001
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    got = a.trim()
    np.testing.assert_array_equal(np.bincount(got.y_N, minlength=5), [4, 0, 3, 0, 1])
    np.testing.assert_array_equal(gen_rf.bank_host.label_D[got.donor_N], got.y_N)


# ------------------------------------------------------------------------------------ donor cadences


def _long_donor(n=1500, seed=11):
    """One OGLE-like donor longer than the bank's cap: ~1-d visits in 200-d seasons, 220-d gaps."""
    rng = np.random.default_rng(seed)
    t, start = [], 5000.0
    while sum(len(s) for s in t) < n:
        season = start + np.cumsum(rng.exponential(0.8, 250))
        t.append(season[season < start + 200])
        start = t[-1][-1] + 220.0
    t = np.concatenate(t)[:n]
    m = 17 + 0.4 * np.sin(2 * np.pi * t / 0.61) + rng.normal(0, 0.03, t.size)
    from jaxpelsvae.data.lightcurves import LightCurveSet

    return LightCurveSet.from_arrays(["donor"], [t], [m], [rng.uniform(0.02, 0.05, t.size)],
                                     star_class=["RRLYR"], period=[0.61])


def _synthetic_and_real_dt(donor, *, length=300, n=16):
    from jaxpelsvae.data.encode import encode_batch, encode_set
    from jaxpelsvae.synth.reverse_fold import build_donor_bank

    bank = build_donor_bank(donor, max_len=1000, seed=0)
    assert bank.mask_DT.shape == (1, 1000)
    key = jax.random.key(0)
    syn = synthesize_batch(key, jnp.broadcast_to(_sinusoid_template(), (n, GRID.size)),
                           jnp.full(n, np.log10(0.61), jnp.float32), jnp.zeros(n, jnp.int32),
                           DonorBank(*(None if a is None else jnp.asarray(a) for a in bank)), GRID)
    x_syn, v_syn = encode_batch(syn.time, syn.mag, syn.mask, jax.random.key(1), length=length,
                                pair_ok_NT=syn.pair_ok)
    x_real, v_real, _ = encode_set(donor, length=2048, seed=0)  # every real pair of the donor
    return np.asarray(x_syn[..., 0])[np.asarray(v_syn)], x_real[..., 0][v_real]


def test_synthetic_curves_keep_their_donors_cadence():
    """A 1,500-point donor capped at 1,000 points: synthetic Δt follow the donor's real Δt (a random
    thinning to 1,000 stretched them by 1.5x)."""
    dt_syn, dt_real = _synthetic_and_real_dt(_long_donor())
    assert abs(np.median(dt_syn) / np.median(dt_real) - 1) < 0.05
    assert abs(np.mean(dt_syn < 1.0) - np.mean(dt_real < 1.0)) < 0.05


def test_synthetic_curves_encode_only_the_pairs_their_donor_kept():
    """Donors from the quality cuts: synthetic pairs never span a season gap either (real ones do not)."""
    from jaxpelsvae.data.validate import original_cuts

    kept, _ = original_cuts(_long_donor(), seq_length=300, snr_threshold=3.0)
    assert kept.pair_ok is not None and np.diff(kept.time).max() > 100
    dt_syn, dt_real = _synthetic_and_real_dt(kept)
    assert dt_syn.max() < 100 and dt_real.max() < 100
    assert abs(np.median(dt_syn) / np.median(dt_real) - 1) < 0.05


def test_a_generator_on_target_donors_observes_at_the_target_cadences(generator):
    from jaxpelsvae.simulate import simulate_survey

    _, gen = generator
    target = simulate_survey({"RRLYR": 5}, cadence="ogle", seed=4)  # dense OGLE cadences vs Gaia's ~50 points
    moved = gen.with_donors(target, copies=2, seed=0)
    assert moved.report["donors"]["n_curves"] == 5
    batch = moved.generate(jax.random.key(1), {"CEP": 4, "LPV": 4}, 1.0).trim()
    # every synthetic curve is observed at 64 consecutive target epochs (donor_max_len), with the
    # class of its request and a training donor's period scale
    assert (batch.mask_NT.sum(axis=1) == 64).all()
    np.testing.assert_array_equal(moved.bank_host.label_D[batch.donor_N], batch.y_N)
    assert set(np.unique(batch.y_N)) == {gen.classes.index("CEP"), gen.classes.index("LPV")}
    # each curve's Δt are those of 64 consecutive epochs of one target curve
    target_dts = [np.round(np.diff(target.curve(i)[0]), 3) for i in range(len(target))]
    for row in range(len(batch.y_N)):
        dt = np.round(np.diff(batch.time_NT[row][batch.mask_NT[row]].astype(np.float64)), 3)
        assert any(any(np.allclose(dt, d[k:k + dt.size], atol=2e-3) for k in range(d.size - dt.size + 1))
                   for d in target_dts)
