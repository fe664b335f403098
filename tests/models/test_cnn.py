"""The CNN classifier: parity with the released PyTorch model, shapes, initialisation, masked BatchNorm."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.cnn import CNN, CNNConfig, count_params
from jaxpelsvae.models.convert import cnn_from_torch_state


@pytest.fixture(scope="module")
def parity(reference_dir):
    path = reference_dir / "original_cnn_parity.npz"
    if not path.exists():
        pytest.skip("original_cnn_parity.npz is not present")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("impl", ["einsum", "xla"])
def test_parity_with_the_released_pytorch_model(parity, impl):
    model = cnn_from_torch_state(parity, prefix="w/", conv_impl=impl)
    assert count_params(model) == 136_677
    with jax.default_matmul_precision("highest"):
        for x_key, out_key in (("x_ncw", "logprobs"), ("x_dsct00310_ncw", "logprobs_dsct00310")):
            x_BL2 = jnp.asarray(parity[x_key].transpose(0, 2, 1))  # PyTorch NCW -> our BLC
            logp = np.asarray(jax.jit(lambda x: model(x))(x_BL2))
            np.testing.assert_allclose(logp, parity[out_key], atol=1e-4, rtol=0)


def test_converter_rejects_wrong_shapes(parity):
    bad = dict(parity)
    bad["w/fc1.weight"] = bad["w/fc1.weight"][:, :100]
    with pytest.raises(ConfigError, match="fc1.weight"):
        cnn_from_torch_state(bad, prefix="w/")
    with pytest.raises(ConfigError, match="fc1"):
        cnn_from_torch_state(parity, prefix="w/", seq_length=200)


@pytest.mark.parametrize("layers,length,flat", [(2, 300, 1056), (3, 300, 704), (4, 300, 512), (4, 299, 512), (4, 100, 128), (4, 50, 128)])
def test_fc1_input_size_matches_the_original_arithmetic(layers, length, flat):
    assert CNNConfig(layers=layers, seq_length=length).fc1_in_features() == flat


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="layers"):
        CNN(5, layers=5, rngs=nnx.Rngs(0))
    with pytest.raises(ConfigError, match="too short"):
        CNN(5, layers=4, seq_length=20, rngs=nnx.Rngs(0))


def test_initialisation_follows_the_original():
    model = CNN(5, layers=4, seq_length=300, rngs=nnx.Rngs(3))
    # Xavier-uniform conv kernels: bound sqrt(6 / (fan_in + fan_out)), fans (C/G)·K and O·K.
    k2 = np.asarray(model.conv2.kernel[...])
    bound = np.sqrt(6 / (8 * 6 + 32 * 6))
    assert np.abs(k2).max() <= bound and np.abs(k2).max() > 0.9 * bound
    # fc1 keeps PyTorch's default U(±1/sqrt(fan_in)); fc2 is Xavier.
    f1 = np.asarray(model.fc1.kernel[...])
    assert np.abs(f1).max() <= 1 / np.sqrt(512) and np.abs(f1).max() > 0.99 / np.sqrt(512)
    f2 = np.asarray(model.fc2.kernel[...])
    assert np.abs(f2).max() <= np.sqrt(6 / 205) and np.abs(f2).max() > 0.8 * np.sqrt(6 / 205)
    b1 = np.asarray(model.conv1.bias[...])
    assert np.abs(b1).max() <= 1 / np.sqrt(6)
    np.testing.assert_array_equal(np.asarray(model.bn1.scale[...]), 1.0)


@pytest.fixture(scope="module")
def small_model():
    return CNN(3, layers=3, seq_length=48, rngs=nnx.Rngs(0))


def test_output_is_log_probabilities_and_groups_separate_streams(small_model):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 48, 2)), jnp.float32)
    model = nnx.clone(small_model)
    model.eval()
    logp = nnx.jit(lambda m, x: m(x))(model, x)
    assert logp.shape == (6, 3)
    np.testing.assert_allclose(np.exp(np.asarray(logp)).sum(axis=1), 1.0, rtol=1e-5)
    # groups=2: before fc1, the first half of the flat vector sees only Δt, the second only Δm.
    def flat(x):
        h = x
        for i in range(1, 4):
            h = getattr(model, f"conv{i}")(h)
            h = getattr(model, f"bn{i}")(h)
        return h

    flat = jax.jit(flat)
    h1, h2 = flat(x), flat(x.at[:, :, 1].set(0.0))
    c = h1.shape[-1]
    np.testing.assert_array_equal(np.asarray(h1[..., : c // 2]), np.asarray(h2[..., : c // 2]))
    assert not np.allclose(np.asarray(h1[..., c // 2 :]), np.asarray(h2[..., c // 2 :]))


def test_training_gradients_of_both_conv_impls_agree():
    # The einsum kernels' custom VJPs against lax.conv / reduce_window's own gradients, through the
    # whole network in training mode (BatchNorm batch statistics, a masked padding row).
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(6, 48, 2)), jnp.float32)
    mask = jnp.arange(6) < 5
    grads = {}
    for impl in ("einsum", "xla"):
        model = CNN(3, layers=3, seq_length=48, conv_impl=impl, rngs=nnx.Rngs(0))
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)

        def loss(params, graphdef=graphdef, rest=rest):
            return jnp.sum(nnx.merge(graphdef, params, rest, copy=True)(x, mask_B=mask)[:, 0])

        with jax.default_matmul_precision("highest"):
            grads[impl] = jax.jit(jax.value_and_grad(loss))(params)
    chex.assert_trees_all_close(grads["einsum"], grads["xla"], rtol=1e-4, atol=1e-5)


def test_batchnorm_mask_excludes_padding_rows(small_model):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(8, 48, 2)), jnp.float32)
    padded = x.at[6:].set(1e3)  # garbage in the padding rows
    mask = jnp.arange(8) < 6
    a, b = nnx.clone(small_model), nnx.clone(small_model)
    forward = nnx.jit(lambda m, x, mask: m(x, mask_B=mask))
    out_small = forward(a, x[:6], None)
    out_padded = forward(b, padded, mask)
    np.testing.assert_allclose(np.asarray(out_padded[:6]), np.asarray(out_small), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(b.bn1.mean[...]), np.asarray(a.bn1.mean[...]), rtol=1e-5, atol=1e-6)


def test_batchnorm_warmup_averages_the_first_batches_then_follows_pytorch():
    from jaxpelsvae.models.batchnorm import BatchNorm

    rng = np.random.default_rng(5)
    batches = rng.normal(30.0, 10.0, size=(14, 8, 3, 2)).astype(np.float32)
    warm, plain = BatchNorm(2), BatchNorm(2, warmup=False)
    step = nnx.jit(lambda m, x: m(x))
    means = []
    for k, x in enumerate(batches):
        before = np.asarray(warm.mean[...])
        step(warm, jnp.asarray(x)), step(plain, jnp.asarray(x))
        means.append(x.mean(axis=(0, 1)))
        if k < 10:  # a cumulative average while 1/n > momentum: the mean of the batches so far
            np.testing.assert_allclose(np.asarray(warm.mean[...]), np.mean(means, axis=0), rtol=1e-5)
        else:  # then PyTorch's exponential average
            np.testing.assert_allclose(np.asarray(warm.mean[...]), 0.9 * before + 0.1 * means[-1], rtol=1e-5)
    # without warm-up, 14 updates still leave 0.9**14 = 23 % of the initial zero mean
    assert np.all(np.asarray(plain.mean[...]) < 0.8 * np.asarray(warm.mean[...]))
    assert float(warm.count[...]) == 14.0


def test_batchnorm_follows_pytorch_training_semantics():
    from jaxpelsvae.models.batchnorm import BatchNorm

    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, size=(5, 7, 4)).astype(np.float32)
    bn = BatchNorm(4, momentum=0.1, epsilon=1e-5, warmup=False)
    bn.scale[...] = jnp.asarray([1.0, 2.0, -1.0, 0.5])
    y = np.asarray(nnx.jit(lambda m, x: m(x))(bn, jnp.asarray(x)))
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    expected = (x - mu) / np.sqrt(var + 1e-5) * np.array([1.0, 2.0, -1.0, 0.5])
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    n = 5 * 7  # PyTorch: running variance from the unbiased batch variance
    np.testing.assert_allclose(np.asarray(bn.var[...]), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.mean[...]), 0.1 * mu, rtol=1e-5)
    bn.eval()
    y_eval = np.asarray(bn(jnp.asarray(x)))
    np.testing.assert_allclose(y_eval, (x - 0.1 * mu) / np.sqrt(np.asarray(bn.var[...]) + 1e-5) * np.array([1.0, 2.0, -1.0, 0.5]), rtol=1e-4, atol=1e-4)
    # A per-element mask (not per row) takes the general path and agrees with dropping the rows.
    bn2, bn3 = BatchNorm(4), BatchNorm(4)
    mask_el = np.ones((5, 7, 1), bool)
    mask_el[3:] = False
    np.testing.assert_allclose(
        np.asarray(bn2(jnp.asarray(x), mask=jnp.asarray(mask_el)))[:3], np.asarray(bn3(jnp.asarray(x[:3]))), rtol=1e-4, atol=1e-4
    )
