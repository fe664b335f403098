"""Accelerator readiness of the hot paths: no host transfers inside generation and training steps, compile once.

`jax.transfer_guard("disallow")` forbids implicit transfers in both directions; on this CPU backend
a device-to-host read is zero-copy and not guarded, but a host round-trip (fetch, compute on the
host, send back) is caught when the data comes back. Run on a GPU (benchmarks/gpu.sh runs this
file), the device-to-host guards below are enforced as well.

Where the loop legitimately transfers (documented in benchmarks/README.md): the host sends each
batch (indices gathered on the host), the synthetic set is copied to the host once per
regeneration, and metrics are fetched once per epoch.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

L = 32
CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")


@pytest.fixture(scope="module")
def survey():
    from jaxpelsvae.simulate import simulate_survey

    return simulate_survey({c: 8 for c in CLASSES}, cadence="gaia", seed=5)


@pytest.fixture(scope="module")
def generator(survey):
    """The project's generator with a tiny untrained VAE and the MLP latent model (one jitted program)."""
    from flax import nnx

    from jaxpelsvae.models.vae import PelsVAE, VAEConfig
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.physics.priors import PriorConfig
    from jaxpelsvae.synth.fit import fit_generator
    from jaxpelsvae.synth.generator import GeneratorConfig
    from jaxpelsvae.train.vae_train import LoadedVAE

    cfg = VAEConfig(latent_dim=2, units=8, levels=7, kernel_size=4, num_classes=5, phys_dim=0)
    vae = LoadedVAE(PelsVAE(cfg, rngs=nnx.Rngs(0)), cfg, None, CLASSES, {})
    return fit_generator(
        survey, vae,
        priors_config=PriorConfig(max_iter=20, truncate=True),
        latent_config=LatentConfig(model="mlp", max_epochs=2, hidden=(8,)),
        config=GeneratorConfig(seq_length=L, capacity_multiple=32, donor_max_len=64),
    )


@pytest.fixture(scope="module")
def loop_steps():
    """The self-regulated loop's jitted steps and a fresh masked TrainState (tiny CNN)."""
    from jaxpelsvae.train import classifier
    from jaxpelsvae.selfreg.state import RegulatorConfig

    config = classifier.TrainConfig(mode="selfreg", seq_length=L, layers=2, learning_rate=1e-3, batch_size=16,
                              synthetic_batch_size=16, eval_batch_size=16, regulator=RegulatorConfig())
    steps = classifier.build_steps(len(CLASSES), config, np.ones(len(CLASSES), np.float32))
    return config, steps


def _batch(seed: int, b: int = 16, pad: int = 0):
    rng = np.random.default_rng([seed, 7])
    weight = np.ones(b, np.float32)
    weight[b - pad:] = 0.0
    return {"x": rng.normal(size=(b, L, 2)).astype(np.float32), "y": rng.integers(0, 5, b).astype(np.int32),
            "weight": weight}


def test_guard_is_active():
    """The guard really refuses an implicit transfer here (else the tests below prove nothing)."""
    with jax.transfer_guard("disallow"):
        with pytest.raises(Exception, match="(?i)disallowed"):
            jnp.asarray(np.ones(3, np.float32))


def test_generation_program_has_no_host_round_trip(generator):
    """The fused generator program (priors -> latent -> decoder -> reverse fold -> encode) runs with
    every implicit transfer disallowed, and the public `generate` without device-to-host reads."""
    counts = generator.counts_array([3, 4, 5, 6, 7])
    cap = generator.capacity_for(int(counts.sum()))
    (program,) = generator._programs(cap, 1)  # noqa: SLF001 - the jitted program behind `generate`
    consts = generator._consts()  # noqa: SLF001
    # Arguments built as `generate` builds them (device arrays), so the compiled program is shared.
    program(consts, jax.random.key(1), jnp.asarray(counts), jnp.float32(0.8))  # compile outside the guard
    other = (consts, jax.random.key(2), jnp.asarray(counts + 1), jnp.float32(0.9))
    with jax.transfer_guard("disallow"):
        out = program(*other)
        jax.block_until_ready(out)
    chex.assert_shape(out.x_NL2, (cap, L, 2))
    assert program._cache_size() == 1  # noqa: SLF001 - other counts and b, same program
    with jax.transfer_guard_device_to_host("disallow"):
        batch = generator.generate(jax.random.key(3), [1, 2, 3, 4, 5], 1.0)
        jax.block_until_ready(batch)
    assert np.asarray(batch.slot_valid_N).sum() == 15
    assert program._cache_size() == 1  # noqa: SLF001 - `generate` ran the same compiled program


@pytest.mark.parametrize("pad", [0, 5])
def test_train_and_eval_steps_run_under_the_transfer_guard(loop_steps, pad):
    """Real (masked), synthetic (masked) and eval steps: device-resident batch in, no transfer inside,
    loss stays on the device; a padded last batch (weights 0) uses the same program."""
    from jaxpelsvae.train import classifier

    config, steps = loop_steps
    state = classifier.init_train_state(len(CLASSES), config, steps, seed=0)
    batches = [jax.device_put(_batch(s, pad=pad)) for s in range(3)]
    state, _ = steps.train_real(state, batches[0])  # compile outside the guard
    state, _ = steps.train_synthetic(state, batches[0])
    steps.evaluate(state, batches[0])
    sizes = (steps.train_real._cache_size(), steps.train_synthetic._cache_size())  # noqa: SLF001
    with jax.transfer_guard("disallow"):
        losses = []
        for batch in batches[1:]:
            state, m = steps.train_synthetic(state, batch)
            state, m = steps.train_real(state, batch)
            losses.append(m["loss"])
        out = steps.evaluate(state, batches[1])
        jax.block_until_ready((state, losses, out))
    assert np.isfinite(np.asarray(losses)).all()
    assert (steps.train_real._cache_size(), steps.train_synthetic._cache_size()) == sizes  # noqa: SLF001
    assert sizes == (1, 1)


def test_steps_trace_once_over_an_epoch(loop_steps):
    """`chex.assert_max_traces(n=1)`: full, padded and shuffled batches never retrace the step."""
    from jaxpelsvae.train import batching, classifier
    from jaxpelsvae.train import steps as steps_lib
    from jaxpelsvae.train.state import make_optimizer

    config, steps = loop_steps
    alpha = jnp.ones(len(CLASSES), jnp.float32)
    loss_fn = steps_lib.classifier_loss_fn("focal", alpha_K=alpha)
    plain = steps_lib.make_train_step(steps.graphdef, loss_fn, make_optimizer(1e-3, clip_norm=None),
                                      subset="real", clip_norm=6.0, jit=False)
    step = jax.jit(chex.assert_max_traces(plain, n=1), donate_argnums=0)
    state = classifier.init_train_state(len(CLASSES), config, steps, seed=1)
    data = classifier.Encoded(*(lambda b: (b["x"], b["y"]))(_batch(9, b=37)))  # 37 = 2 full batches + 5
    for epoch in range(2):
        state, loss = batching.train_pass(step, state, data.arrays, 16, np.random.default_rng([0, epoch, 0]))
    assert np.isfinite(float(loss)) and int(state.step) == 6
    chex.clear_trace_counter()


def test_encoder_runs_under_the_transfer_guard():
    """The shared encoder (real and synthetic curves) is one program with device inputs."""
    from jaxpelsvae.data.encode import encode_batch

    rng = np.random.default_rng(0)
    time_NT = np.sort(rng.uniform(0, 100, (8, 64)), axis=1).astype(np.float32)
    args = jax.device_put((time_NT, rng.normal(size=(8, 64)).astype(np.float32), np.ones((8, 64), bool)))
    encode_batch(*args, jax.random.key(0), length=L)
    key = jax.device_put(jax.random.key(1))
    with jax.transfer_guard("disallow"):
        x, valid = encode_batch(*args, key, length=L)
        jax.block_until_ready(x)
    chex.assert_shape(x, (8, L, 2))
