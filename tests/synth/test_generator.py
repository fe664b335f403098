"""jaxpelsvae.synth.generator: the generator end to end (tiny untrained VAE, tiny data), saved and on target donors."""
from __future__ import annotations

import dataclasses

import chex
import jax
import numpy as np
import pytest

from jaxpelsvae.errors import ConfigError


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


def test_with_encoding_gives_the_same_raw_curves_encoded_at_another_length(generator):
    _, gen = generator
    other = gen.with_encoding(48)
    assert gen.with_encoding(32) is gen and gen.config.seq_length == 32  # the original is left as it was
    a, b = (g.generate(jax.random.key(6), [2, 2, 2, 2, 2], 1.0) for g in (gen, other))
    chex.assert_shape(b.x_NL2, (32, 48, 2))
    for name in ("time_NT", "mag_NT", "err_NT", "mask_NT", "y_N", "period_N"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), err_msg=name)


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


def test_a_generator_saved_before_the_noise_fields_loads_and_keeps_the_donors_noise(generator, tmp_path):
    """Banks saved without the stars' median errors and fold noise or the donors' bad points: the
    curves keep the donor's errors, its full noise and no copied bad point."""
    from jaxpelsvae.synth.generator import Generator

    _, gen = generator
    folder = gen.save(tmp_path / "g")
    for name, dropped in (("stars.npz", ("err_S", "fold_noise_S")), ("donors.npz", ("outlier_DT",))):
        with np.load(folder / name) as npz:
            kept = {k: npz[k] for k in npz.files if k not in dropped}
        np.savez(folder / name, **kept)
    old = Generator.load(folder)
    assert (old.stars.err_S == 0).all() and (old.stars.fold_noise_S == 0).all() and old.bank_host.outlier_DT is None
    got = old.generate(jax.random.key(4), 4, 1.0).trim()
    mask = got.mask_NT.astype(bool)
    np.testing.assert_array_equal(got.err_NT[mask], old.bank_host.err_DT[got.donor_N][mask])


def test_random_forest_latent_runs_between_two_jitted_stages(generator):
    from jaxpelsvae.physics.latent import LatentConfig, fit_latent
    from jaxpelsvae.synth.generator import Generator

    _, gen = generator
    rng = np.random.default_rng(0)
    rf = fit_latent(rng.normal(size=(60, 6)), np.arange(60) % 5, rng.normal(size=(60, 2)), 5,
                    LatentConfig(model="rf", rf_trees=3, max_epochs=1, hidden=(4,)))
    assert rf.kind == "rf"
    prior_mode = dataclasses.replace(gen.config, latent_source="prior")
    gen_rf = Generator(gen.priors, rf, gen.vae_model, gen.vae_classes, gen.bank_host, prior_mode)
    a = gen_rf.generate(jax.random.key(2), [4, 0, 3, 0, 1], 1.0)
    b = gen_rf.generate(jax.random.key(2), [4, 0, 3, 0, 1], 1.0)
    assert len(gen_rf._programs(32, 1)) == 2  # noqa: SLF001
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    got = a.trim()
    np.testing.assert_array_equal(np.bincount(got.y_N, minlength=5), [4, 0, 3, 0, 1])
    np.testing.assert_array_equal(gen_rf.bank_host.label_D[got.donor_N], got.y_N)


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


def test_synthetic_curves_name_their_donor_star(generator, tmp_path):
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.synth.generator import Generator

    lcs, gen = generator
    out = gen.to_lightcurves(gen.generate(jax.random.key(3), {"CEP": 3, "ECL": 3}, 1.0))
    donor_class = dict(zip(lcs.ids, lcs.meta["class"]))
    assert all(donor_class[d] == c for d, c in zip(out.meta["donor"], out.meta["class"]))  # star ids, same class
    back = Generator.load(gen.save(tmp_path / "g"))
    np.testing.assert_array_equal(back.donor_ids, gen.donor_ids)
    # on target donors: the target curve whose epochs the synthetic curve is observed at
    target = simulate_survey({"RRLYR": 5}, cadence="gaia", seed=4)
    moved = gen.with_donors(target, copies=2, seed=0)
    out = moved.to_lightcurves(moved.generate(jax.random.key(1), {"CEP": 4}, 1.0))
    for i, donor in enumerate(out.meta["donor"]):
        t_target = target.curve(int(np.flatnonzero(target.ids == donor)[0]))[0]
        dt = np.diff(out.curve(i)[0])
        assert any(np.allclose(dt, np.diff(t_target)[k:k + dt.size], atol=2e-3)
                   for k in range(t_target.size - dt.size))


def test_a_star_never_donates_the_cadence_of_its_own_curve(generator):
    _, gen = generator
    stars = gen.stars
    assert gen.config.latent_source == "posterior" and (stars.donor_S >= 0).all()
    got = gen.generate(jax.random.key(5), 30, 1.0).trim()  # 150 curves from 80 stars, 16 per class
    assert (got.star_N >= 0).all()
    np.testing.assert_array_equal(stars.label_S[got.star_N], got.y_N)
    assert not (got.donor_N == stars.donor_S[got.star_N]).any()
    # the code is drawn around the star's own posterior mean, and its period is the star's, jittered
    from jaxpelsvae.synth.stars import PERIOD_JITTER_DEX

    assert (np.abs(got.phys_NP[:, 0] - stars.phys_SP[got.star_N, 0]) < 6 * PERIOD_JITTER_DEX).all()


def test_star_weights_focus_the_draw_on_chosen_stars(generator):
    _, gen = generator
    stars = gen.stars
    w = np.zeros(len(stars.label_S))
    chosen = [int(np.flatnonzero(stars.label_S == k)[0]) for k in range(len(gen.classes))]
    w[chosen] = 1.0
    got = gen.generate(jax.random.key(2), 6, 1.0, star_weights=w).trim()
    assert set(got.star_N.tolist()) == set(chosen)
    w[chosen[0]] = 0.0
    with pytest.raises(ConfigError, match="zero total weight"):
        gen.generate(jax.random.key(2), 6, 1.0, star_weights=w)


def test_generation_from_python_decode_given_stars_and_a_pure_function(generator):
    _, gen = generator
    stars = gen.stars
    # decode given latents: the posterior means of three stars
    pick = np.array([0, 20, 40])
    templates = np.asarray(gen.decode(stars.mu_SZ[pick], stars.label_S[pick]))
    assert templates.shape == (3, 600) and np.isfinite(templates).all()
    # generate from given stars (by id), in the order asked
    got = gen.generate_from_stars(jax.random.key(0), gen.star_ids[[40, 0, 0]]).trim()
    np.testing.assert_array_equal(got.star_N, [40, 0, 0])
    np.testing.assert_array_equal(got.y_N, stars.label_S[[40, 0, 0]])
    with pytest.raises(ConfigError, match="unknown stars"):
        gen.generate_from_stars(jax.random.key(0), ["no-such-star"])
    # a pure function inside the caller's own jit gives the method's batch for the same key
    params, generate = gen.functional(32)
    counts = gen.counts_array([2, 1, 0, 3, 1])
    inside = jax.jit(generate)(params, jax.random.key(9), counts, 1.0)
    outside = gen.generate(jax.random.key(9), counts, 1.0, capacity=32)
    chex.assert_trees_all_close(inside, outside, atol=1e-5)


def test_a_curve_keeps_the_signal_to_noise_of_its_star(generator):
    """Posterior mode: the donor lends its cadence and the pattern of its errors, scaled so that the
    curve's median stated error is its star's own (amplitude / error, its SNR, with it); on another
    survey's donors the target's errors are kept as they are."""
    from jaxpelsvae.simulate import simulate_survey

    lcs, gen = generator
    star_err = np.array([np.median(lcs.curve(i)[2]) for i in range(len(lcs))])
    row = {star: i for i, star in enumerate(lcs.ids)}
    np.testing.assert_allclose(gen.stars.err_S, star_err[[row[s] for s in gen.star_ids]], rtol=1e-6)
    got = gen.generate(jax.random.key(2), 6, 1.0).trim()
    med = np.array([np.median(e[m]) for e, m in zip(got.err_NT, got.mask_NT.astype(bool))])
    np.testing.assert_allclose(med, gen.stars.err_S[got.star_N], rtol=1e-4)
    moved = gen.with_donors(simulate_survey({"RRLYR": 5}, cadence="ogle", seed=4), copies=2, seed=0)
    assert (moved.stars.err_S == 0).all()
    out = moved.generate(jax.random.key(2), 6, 1.0).trim()
    np.testing.assert_array_equal(out.err_NT[out.mask_NT.astype(bool)],
                                  moved.bank_host.err_DT[out.donor_N][out.mask_NT.astype(bool)])
