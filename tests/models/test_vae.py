"""jaxpelsvae.models.vae and models.tcn: shapes, parameter counts and initialisation of the original, causality, the loss, saving."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.tcn import (
    Conv1x1,
    TemporalConvNet,
    WeightNormConv1d,
    causal_conv1d,
    min_levels,
    receptive_field,
    set_conv_impl,
)
from jaxpelsvae.models.vae import PelsVAE, VAEConfig, count_params, kl_divergence, vae_loss
from jaxpelsvae.models.vae_inputs import PhysScaler, one_hot
from jaxpelsvae.train.state import create_train_state, make_optimizer
from jaxpelsvae.train.steps import make_train_step
from jaxpelsvae.train.vae_train import (
    load_vae,
    save_vae,
    vae_loss_fn,
)

TINY = VAEConfig(latent_dim=3, units=8, levels=4, kernel_size=3, dropout=0.1, seq_len=32, num_classes=3, phys_dim=2)


B = 6


@pytest.fixture(scope="module")
def tiny_model():
    return PelsVAE(TINY, rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def tiny_batch():
    rng = np.random.default_rng([0, 1])
    phase = np.linspace(1e-4, 0.9999, TINY.seq_len, dtype=np.float32)
    labels = np.arange(B) % TINY.num_classes
    shift = rng.uniform(0, 2 * np.pi, (B, 1))
    mag = 0.5 + 0.4 * np.sin(2 * np.pi * 2 * phase[None] * (1 + labels[:, None]) + shift)
    x = np.stack([np.broadcast_to(phase, mag.shape), mag, np.full(mag.shape, 0.02)], axis=-1).astype(np.float32)
    return {
        "x": jnp.asarray(x),
        "onehot": jnp.asarray(one_hot(labels, TINY.num_classes)),
        "phys": jnp.asarray(rng.uniform(size=(B, TINY.phys_dim)).astype(np.float32)),
        "weight": jnp.ones(B, jnp.float32),
    }


@pytest.fixture(scope="module")
def forward(tiny_model):
    """Jitted passes over a state: training mode (key) and evaluation mode, which also returns
    encode's mu and decode's output to check that they compose into __call__."""
    graphdef, _ = nnx.split(tiny_model)

    @jax.jit
    def train_fwd(state, batch, key):
        return nnx.merge(graphdef, state)(batch["x"], batch["onehot"], batch["phys"], key=key)

    @jax.jit
    def eval_fwd(state, batch):
        model = nnx.merge(graphdef, state)
        out = model(batch["x"], batch["onehot"], batch["phys"])
        mu, _ = model.encode(batch["x"], batch["onehot"], batch["phys"])
        return out, mu, model.decode(mu, batch["onehot"], batch["x"][..., 0])

    return train_fwd, eval_fwd


def test_forward_shapes_and_range(tiny_model, tiny_batch, forward):
    train_fwd, eval_fwd = forward
    state = nnx.state(tiny_model)
    out = train_fwd(state, tiny_batch, jax.random.key(1))
    chex.assert_shape(out.xhat, (B, TINY.seq_len))
    chex.assert_shape([out.mu, out.logvar, out.z], (B, TINY.latent_dim))
    assert bool(jnp.all((out.xhat > 0) & (out.xhat < 1)))
    assert not np.allclose(out.z, out.mu)  # sampled in training mode
    det, mu, xhat = eval_fwd(state, tiny_batch)
    np.testing.assert_array_equal(det.z, det.mu)  # evaluation: z = mu, no dropout
    assert not np.allclose(out.xhat, det.xhat)  # dropout and sampling act in training mode only
    np.testing.assert_allclose(mu, det.mu, atol=1e-6)  # encode / decode compose into __call__
    np.testing.assert_allclose(xhat, det.xhat, atol=1e-6)


def test_parameter_counts_match_the_original():
    # Counts of the original VAE_TCN (ORIGINAL.md §9.2): generative_main defaults, and two released runs.
    def n_params(cfg):
        return count_params(nnx.eval_shape(lambda: PelsVAE(cfg, rngs=nnx.Rngs(0))))

    assert n_params(VAEConfig()) == 243_165
    assert n_params(VAEConfig(latent_dim=4, kernel_size=5, phys_dim=0)) == 300_897
    assert n_params(VAEConfig(latent_dim=4, kernel_size=5, phys_dim=3)) == 300_945
    assert n_params(VAEConfig(latent_dim=6, levels=8, kernel_size=5, phys_dim=3)) == 255_125
    assert receptive_field(4, 9) >= 600  # the last encoder step sees the whole folded curve


def test_weight_norm_init_follows_pytorch(tiny_model):
    convs = [n for _, n in nnx.iter_graph(tiny_model) if isinstance(n, WeightNormConv1d)]
    assert len(convs) == 2 * 2 * TINY.levels
    for conv in convs:
        v = np.asarray(conv.v[...])
        k, i, _ = v.shape
        np.testing.assert_allclose(conv.g[...], np.sqrt((v**2).sum(axis=(0, 1))), rtol=1e-6)  # g = ||v||, not 1
        np.testing.assert_allclose(conv.weight(), v, rtol=1e-5, atol=1e-7)  # so W = v at init
        assert np.abs(v).max() <= 1 / np.sqrt(k * i) + 1e-7  # PyTorch Conv1d default U(±1/sqrt(fan_in))
    # the norm is taken per output channel over (taps, inputs): scaling v leaves W unchanged
    conv = convs[0]
    w = conv.weight()
    conv.v[...] = conv.v[...] * 3.0
    np.testing.assert_allclose(conv.weight(), w, rtol=1e-5)
    conv.v[...] = conv.v[...] / 3.0


@pytest.mark.parametrize("impl", ["einsum", "xla"])
def test_tcn_is_causal(impl):
    net = TemporalConvNet(2, [4, 4, 4], kernel_size=3, dropout_rate=0.0, impl=impl, rngs=nnx.Rngs(1))
    graphdef, state = nnx.split(net)
    t0 = 20
    x = jax.random.normal(jax.random.key(2), (1, 40, 2))

    @jax.jit
    def probe(x):
        apply = nnx.merge(graphdef, state)
        grad = jax.grad(lambda x: apply(x)[0, t0].sum())(x)
        return grad, apply(x), apply(x.at[:, t0 + 1 :].add(1.0))

    g, y1, y2 = (np.asarray(a) for a in probe(x))
    assert np.all(g[0, t0 + 1 :] == 0.0)  # output at t0 ignores every later input
    assert np.any(g[0, : t0 + 1] != 0.0)
    np.testing.assert_array_equal(y1[:, : t0 + 1], y2[:, : t0 + 1])  # a later change leaves them as they were
    assert not np.allclose(y1[:, t0 + 1 :], y2[:, t0 + 1 :])


class TestConvImplsAgree(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_causal_conv_outputs_and_gradients(self):
        x = jax.random.normal(jax.random.key(0), (2, 24, 3))
        w = jax.random.normal(jax.random.key(1), (4, 3, 5))

        def loss(x, w, impl, d):
            return jnp.sum(jnp.sin(causal_conv1d(x, w, dilation=d, impl=impl)))

        for d in (1, 4):
            run = self.variant(lambda x, w, impl, d=d: (causal_conv1d(x, w, dilation=d, impl=impl),
                                                        jax.grad(loss, argnums=(0, 1))(x, w, impl, d)),
                               static_argnums=(2,))
            y_e, g_e = run(x, w, "einsum")
            y_x, g_x = run(x, w, "xla")
            chex.assert_trees_all_close(y_e, y_x, atol=1e-5, rtol=1e-5)
            chex.assert_trees_all_close(g_e, g_x, atol=1e-4, rtol=1e-4)

    def test_tcn_gradients_agree(self):
        net = TemporalConvNet(3, [4, 6, 6], kernel_size=3, dropout_rate=0.0, rngs=nnx.Rngs(5))
        x = jax.random.uniform(jax.random.key(3), (2, 24, 3))

        def loss_and_grad(impl):
            set_conv_impl(net, impl)  # weight-normed convs, residual 1x1, dilations 1, 2, 4
            graphdef, params = nnx.split(net)

            def loss(p, x):
                return jnp.sum(jnp.tanh(nnx.merge(graphdef, p)(x)))

            return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)

        (l_e, g_e), (l_x, g_x) = loss_and_grad("einsum"), loss_and_grad("xla")
        np.testing.assert_allclose(l_e, l_x, rtol=1e-5)
        chex.assert_trees_all_close(g_e, g_x, atol=1e-5, rtol=1e-4)


def test_vae_loss_is_the_original_formula(tiny_batch):
    rng = np.random.default_rng(3)
    xhat = rng.uniform(size=(B, TINY.seq_len)).astype(np.float32)
    mu, logvar = rng.normal(size=(2, B, 3)).astype(np.float32)
    from jaxpelsvae.models.vae import VAEOutput

    out = VAEOutput(jnp.asarray(xhat), jnp.asarray(mu), jnp.asarray(logvar), jnp.asarray(mu))
    x = np.asarray(tiny_batch["x"])
    loss, metrics = vae_loss(out, tiny_batch["x"], beta=0.75, kl_scale=1e-4)
    # the original: MSE over batch and steps + beta * KL_sum / B / 1e4
    mse = np.mean((xhat - x[..., 1]) ** 2)
    kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
    np.testing.assert_allclose(loss, mse + 0.75 * kl / B / 1e4, rtol=1e-5)
    np.testing.assert_allclose(metrics["kl"], kl / B, rtol=1e-5)
    np.testing.assert_allclose(kl_divergence(jnp.zeros((1, 3)), jnp.zeros((1, 3))), [0.0])
    # zero-weight rows (padding) do not count
    w = jnp.asarray([1, 1, 1, 0, 0, 0], jnp.float32)
    loss_w, _ = vae_loss(out, tiny_batch["x"], beta=0.75, weights_B=w)
    sub = VAEOutput(*(a[:3] for a in out))
    np.testing.assert_allclose(loss_w, vae_loss(sub, tiny_batch["x"][:3], beta=0.75)[0], rtol=1e-6)


def test_loss_falls_on_a_tiny_batch(tiny_batch):
    model = PelsVAE(TINY, rngs=nnx.Rngs(1))
    tx = make_optimizer(1e-2, clip_norm=None)
    graphdef, state = create_train_state(model, tx, jax.random.key(0))
    step = make_train_step(graphdef, vae_loss_fn(TINY.beta, TINY.kl_scale), tx)
    losses = []
    for _ in range(40):
        state, metrics = step(state, tiny_batch)
        losses.append(metrics["loss"])
    losses = np.asarray(jax.device_get(losses))
    assert np.all(np.isfinite(losses))
    assert losses[-5:].mean() < 0.8 * losses[:5].mean(), losses
    assert step._cache_size() == 1  # compiled once
    assert int(state.step) == 40


def test_save_load_round_trip(tmp_path, tiny_model, tiny_batch, forward):
    scaler = PhysScaler.fit(np.array([[0.0, 1.0], [2.0, 3.0]]), ("teff", "logg"))
    save_vae(tmp_path / "vae", tiny_model, TINY, scaler, classes=("A", "B", "C"), extra={"note": 1})
    loaded = load_vae(tmp_path / "vae")
    assert loaded.config == TINY and loaded.scaler == scaler
    assert loaded.classes == ("A", "B", "C") and loaded.extra == {"note": 1}
    chex.assert_trees_all_equal(nnx.state(loaded.model), nnx.state(tiny_model))
    _, eval_fwd = forward
    out_a = eval_fwd(nnx.state(tiny_model), tiny_batch)
    out_b = eval_fwd(nnx.state(loaded.model), tiny_batch)
    chex.assert_trees_all_equal(out_a, out_b)
    with pytest.raises(ConfigError):
        save_vae(tmp_path / "bad", tiny_model, TINY, scaler, classes=("A", "B"))


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="levels"):
        VAEConfig(levels=2)
    with pytest.raises(ConfigError, match="dropout"):
        VAEConfig(dropout=1.0)
    with pytest.raises(ConfigError, match="conv_impl"):
        VAEConfig(conv_impl="fft")
    with pytest.raises(ConfigError, match="residual_init"):
        VAEConfig(residual_init="glorot")
    assert VAEConfig.from_dict(TINY.to_dict()) == TINY
    old_save = {k: v for k, v in TINY.to_dict().items() if k != "residual_init"}  # saved before the field
    assert VAEConfig.from_dict(old_save).residual_init == VAEConfig().residual_init == "identity"  # loads


def test_config_rejects_an_encoder_that_cannot_see_the_whole_curve():
    # The encoder reads the TCN output at the last phase only: with kernel 4, levels 4 see 91 of 600.
    assert (receptive_field(4, 4), receptive_field(4, 7)) == (91, 763)
    assert (min_levels(4, 600), min_levels(2, 600), min_levels(4, 91), min_levels(4, 92)) == (7, 9, 4, 5)
    with pytest.raises(ConfigError, match=r"receptive field \(91 phases.*levels >= 7"):
        VAEConfig(levels=4)
    with pytest.raises(ConfigError, match="receptive field"):
        VAEConfig(levels=4, seq_len=92)
    with pytest.raises(ConfigError, match="kernel_size >= 2"):
        VAEConfig(kernel_size=1, seq_len=2)
    assert VAEConfig(levels=4, seq_len=91).receptive_field == 91
    assert VAEConfig(levels=7).receptive_field == 763 and VAEConfig().receptive_field == 3067


def test_identity_residual_init_keeps_the_input():
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 5, 8)).astype(np.float32))
    narrow = Conv1x1(8, 3, init="identity", rngs=nnx.Rngs(0))(x)  # output o: mean of inputs o, o+3, o+6
    np.testing.assert_allclose(narrow[..., 0], x[..., [0, 3, 6]].mean(-1), rtol=1e-6)
    np.testing.assert_allclose(narrow[..., 2], x[..., [2, 5]].mean(-1), rtol=1e-6)
    wide = Conv1x1(8, 20, init="identity", rngs=nnx.Rngs(0))(x)  # output o copies input o mod 8
    np.testing.assert_array_equal(wide, x[..., np.arange(20) % 8])
    original = Conv1x1(8, 20, rngs=nnx.Rngs(0))
    assert float(jnp.std(original.w[...])) < 0.02  # the original's N(0, 0.01)
    with pytest.raises(ValueError, match="residual init"):
        Conv1x1(8, 3, init="zeros", rngs=nnx.Rngs(0))
