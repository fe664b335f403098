"""Convolution and max-pool kernels: the einsum and xla implementations agree in outputs and gradients."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models import conv

CASES = [
    # (C, O, K, groups, dilation, padding)
    (2, 16, 6, 2, 1, (3, 3)),  # the CNN's first block
    (16, 32, 6, 2, 1, 3),  # a later CNN block, symmetric int padding
    (4, 6, 4, 1, 3, "causal"),  # the TCN's causal dilated convolution
    (6, 4, 3, 2, 2, (0, 1)),  # asymmetric padding, groups and dilation together
    (6, 4, 3, 2, 2, (7, 0)),  # padding beyond the kernel's reach: the input gradient crops
    (1, 4, 3, 1, 2, (5, 1)),  # one input channel: the broadcast kernel, groups 1, cropping gradient
    (4, 8, 5, 4, 1, 2),  # one input channel a group, two outputs each
]


def _inputs(c, o, k, groups):
    rng = np.random.default_rng([c, o, k, groups])
    x = jnp.asarray(rng.normal(size=(3, 23, c)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, c // groups, o)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(o,)), jnp.float32)
    return x, w, b


def _reference_conv(x, w, b, groups, dilation, left, right):
    """Direct float64 loop over taps, independent of both implementations."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    k, ipg, o = w.shape
    opg = o // groups
    xp = np.pad(x, ((0, 0), (left, right), (0, 0)))
    m = xp.shape[1] - dilation * (k - 1)
    y = np.zeros((x.shape[0], m, o)) + b
    for oc in range(o):
        g = oc // opg
        for j in range(k):
            y[:, :, oc] += xp[:, j * dilation : j * dilation + m, g * ipg : (g + 1) * ipg] @ w[j, :, oc]
    return y


class ConvTest(chex.TestCase):
    @chex.variants(with_jit=True)
    @parameterized.parameters(*CASES)
    def test_impls_agree_in_values_and_gradients(self, c, o, k, groups, dilation, padding):
        self._check(c, o, k, groups, dilation, padding)

    @chex.variants(without_jit=True)
    def test_impls_agree_eagerly(self):
        # Eager dispatch is slow (one op at a time): one case that has groups, dilation and padding.
        self._check(*CASES[-1])

    def _check(self, c, o, k, groups, dilation, padding):
        x, w, b = _inputs(c, o, k, groups)
        results = {}
        for impl in conv.CONV_IMPLS:

            def loss(x, w, b, impl=impl):
                y = conv.conv1d(x, w, b, groups=groups, dilation=dilation, padding=padding, impl=impl)
                return jnp.sum(jnp.sin(y)), y

            with jax.default_matmul_precision("highest"):
                results[impl] = self.variant(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(x, w, b)
        chex.assert_trees_all_close(results["einsum"], results["xla"], rtol=2e-5, atol=2e-5)
        left, right = ((k - 1) * dilation, 0) if padding == "causal" else (
            (padding, padding) if isinstance(padding, int) else padding
        )
        y = results["einsum"][0][1]
        np.testing.assert_allclose(np.asarray(y), _reference_conv(x, w, b, groups, dilation, left, right), rtol=1e-4, atol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_max_pool_impls_agree_in_values_and_gradients(self):
        x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 17, 5)), jnp.float32)
        results = {
            impl: self.variant(jax.value_and_grad(lambda x, impl=impl: jnp.sum(conv.max_pool1d(x, 3, impl=impl) ** 2)))(x)
            for impl in conv.CONV_IMPLS
        }
        chex.assert_trees_all_close(results["einsum"], results["xla"])
        pooled = np.asarray(conv.max_pool1d(x, 3, impl="einsum"))
        assert pooled.shape == (2, 5, 5)  # floor(17 / 3); the last 2 steps are dropped like PyTorch
        np.testing.assert_array_equal(pooled[:, 1], np.asarray(x)[:, 3:6].max(axis=1))


@pytest.mark.parametrize("length", [15, 17])
def test_max_pool_gradient_goes_to_the_first_maximum_of_a_window(length):
    # Ties (here every window of a constant stretch) give the whole gradient to the first maximum,
    # as PyTorch's MaxPool1d and the reduce_window gradient do; the floor-mode tail gets none.
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, length, 3)), jnp.float32)
    x = x.at[:, 3:9].set(5.0)
    cot = jnp.asarray(np.random.default_rng(3).normal(size=(2, length // 3, 3)), jnp.float32)
    grads = {impl: jax.grad(lambda x, impl=impl: jnp.vdot(conv.max_pool1d(x, 3, impl=impl), cot))(x)
             for impl in conv.CONV_IMPLS}
    np.testing.assert_array_equal(np.asarray(grads["einsum"]), np.asarray(grads["xla"]))
    g = np.asarray(grads["einsum"])
    np.testing.assert_array_equal(g[:, 3:9:3], np.asarray(cot[:, 1:3]))
    np.testing.assert_array_equal(g[:, 4:6], 0.0)
    np.testing.assert_array_equal(g[:, 15:], 0.0)


def test_conv_gradients_under_vmap_match_per_example():
    # The vmapped repetitions (experiments.repetitions) differentiate through the custom VJPs
    # under jax.vmap; both kernels (one channel a group, im2col) appear in the CNN's blocks.
    rng = np.random.default_rng(7)
    xs = jnp.asarray(rng.normal(size=(3, 2, 20, 4)), jnp.float32)
    for c, o, groups in ((4, 8, 4), (4, 6, 2)):
        ws = jnp.asarray(rng.normal(size=(3, 5, c // groups, o)), jnp.float32)

        def loss(x, w, groups=groups):
            return jnp.sum(jnp.tanh(conv.conv1d(x[..., :c], w, groups=groups, padding=2, impl="einsum")))

        batched = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(xs, ws)
        for s in range(3):
            single = jax.grad(loss, argnums=(0, 1))(xs[s], ws[s])
            chex.assert_trees_all_close(jax.tree.map(lambda a: a[s], batched), single, rtol=1e-5, atol=1e-5)


def test_causal_output_ignores_the_future():
    x, w, _ = _inputs(4, 6, 4, 1)
    y = conv.conv1d(x, w, dilation=2, padding="causal")
    y_changed = conv.conv1d(x.at[:, 15:].set(9.0), w, dilation=2, padding="causal")
    assert y.shape == x.shape[:2] + (6,)
    np.testing.assert_array_equal(np.asarray(y[:, :15]), np.asarray(y_changed[:, :15]))
    assert not np.allclose(np.asarray(y[:, 15:]), np.asarray(y_changed[:, 15:]))


def test_impl_selection_and_errors(monkeypatch):
    assert conv.resolve_impl("lax") == "xla"
    assert conv.resolve_impl("auto") == conv.DEFAULT_IMPL_BY_BACKEND[jax.default_backend()]
    monkeypatch.setenv("JAXPELSVAE_CONV_IMPL", "xla")
    assert conv.resolve_impl("auto") == "xla"
    conv.set_default_impl("einsum")
    try:
        assert conv.resolve_impl("auto") == "einsum"
    finally:
        conv.set_default_impl(None)
    with pytest.raises(ConfigError, match="unknown convolution"):
        conv.resolve_impl("fft")
    with pytest.raises(ConfigError, match="groups"):
        conv.conv1d(jnp.ones((1, 8, 3)), jnp.ones((2, 1, 4)), groups=2)


def test_conv1d_layer_shapes_and_torch_default_init():
    layer = conv.Conv1D(4, 8, 6, groups=2, padding=3, rngs=nnx.Rngs(0))
    assert layer.kernel.shape == (6, 2, 8) and layer.bias.shape == (8,)
    bound = 1 / np.sqrt(6 * 2)
    assert np.abs(np.asarray(layer.kernel[...])).max() <= bound
    assert layer(jnp.ones((2, 30, 4))).shape == (2, 31, 8)
