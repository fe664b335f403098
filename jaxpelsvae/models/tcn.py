"""Temporal convolutional network (Bai et al. 2018) with weight-normed causal dilated convolutions.

Layout is channels-last. Shape suffixes: see `jaxpelsvae` (package docstring).

The PyTorch original (`tcn.TemporalConvNet`) pads both sides by (k-1)*d and chops the last
(k-1)*d outputs; that is the same as padding (k-1)*d zeros on the left only, which is what we do.
The convolution is `jaxpelsvae.models.conv.conv1d`, in two implementations with the same numbers:
  * "einsum": shifted slices + one einsum (im2col). XLA:CPU differentiates this far faster than
    its native convolution, so it is the default on CPU.
  * "xla" (alias "lax"): `lax.conv_general_dilated` with `rhs_dilation`; cuDNN may win on GPU.
"auto" picks per backend at trace time (`conv.default_impl`).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpelsvae.models import conv

CONV_IMPLS = ("auto", *conv.CONV_IMPLS, "lax")
RESIDUAL_INITS = ("original", "identity")


def causal_conv1d(x_BTI: jax.Array, w_KIO: jax.Array, *, dilation: int = 1, impl: str = "auto") -> jax.Array:
    """Causal dilated 1-D convolution: out[t] = sum_j w[j] . x[t - (W-1-j)*dilation] (zeros before t=0).

    x_BTI (B, T, I), w_KIO (W, I, O) -> (B, T, O) (K in this public argument's name
    counts the taps, W). Output at t depends only on inputs at times <= t.
    impl: "einsum" (shifted slices + einsum), "xla"/"lax" (`lax.conv_general_dilated`), or "auto"
    (per backend, `jaxpelsvae.models.conv.default_impl`).
    """
    return conv.conv1d(x_BTI, w_KIO, dilation=dilation, padding="causal", impl=impl)


def dropout_keys(key: jax.Array, n: int) -> jax.Array:
    """n keys for dropout masks, derived from a typed key, on the "rbg" PRNG (XLA's RngBitGenerator).

    Threefry masks compile into a separate unrolled hash per layer shape: measured on XLA:CPU, a
    tiny VAE's training forward pass compiled in 11 s with threefry dropout and ~2 s with rbg, and
    drawing masks of (128, 600, 48) ran twice as fast. Deterministic for a given key and backend.
    """
    if str(jax.random.key_impl(key)) != "rbg":
        key = jax.random.wrap_key_data(jax.random.bits(key, (4,), jnp.uint32), impl="rbg")
    return jax.random.split(key, n)


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout; identity when key is None (evaluation) or rate is 0."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


# Random initial values are drawn in fixed-size blocks: XLA compiles a threefry draw once per shape
# (seconds on CPU), so drawing every parameter shape separately made building a model slow.
_DRAW_BLOCK = 4096


def _blocks(key: jax.Array, shape: Sequence[int], draw, transform) -> jax.Array:
    size = int(np.prod(shape))
    n = max(1, -(-size // _DRAW_BLOCK))
    # transform acts on whole blocks (one compile); only the final slice/reshape depends on shape.
    parts = [transform(draw(jax.random.fold_in(key, i), (_DRAW_BLOCK,), jnp.float32)) for i in range(n)]
    return (parts[0] if n == 1 else jnp.concatenate(parts))[:size].reshape(tuple(shape))


def uniform_init(bound: float):
    """Initializer U(-bound, bound), `init(key, shape, dtype)`; compiled once whatever the shape."""

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        return _blocks(key, shape, jax.random.uniform, lambda u: (2.0 * u - 1.0) * bound).astype(dtype)

    return init


def normal_init(stddev: float):
    """Initializer N(0, stddev^2), `init(key, shape, dtype)`; compiled once whatever the shape."""

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        return _blocks(key, shape, jax.random.normal, lambda z: stddev * z).astype(dtype)

    return init


def torch_uniform_init(fan_in: int):
    """PyTorch's default Conv1d/Linear init (kaiming_uniform with a=sqrt(5), and the bias rule):
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return uniform_init(1.0 / float(np.sqrt(fan_in)))


def _torch_conv_uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    return torch_uniform_init(fan_in)(key, shape)


@jax.jit
def _norm_O(v_WIO: jax.Array) -> jax.Array:
    """Euclidean norm over (taps, inputs) per output channel: (W, I, O) -> (O,)."""
    return jnp.sqrt(jnp.sum(v_WIO**2, axis=(0, 1)))


class WeightNormConv1d(nnx.Module):
    """Causal dilated Conv1d with weight norm W = g * v / ||v||, the norm over (W, I) per output channel.

    Initialisation follows PyTorch's `weight_norm(nn.Conv1d(...))`: v from the default Conv1d init and
    g = ||v|| (so W = v at init), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). (The original's N(0, 0.01)
    re-init writes to `conv.weight`, which weight norm recomputes from g and v, so it has no effect.)
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, dilation: int = 1,
                 impl: str = "auto", rngs: nnx.Rngs):
        fan_in = in_ch * kernel_size
        v_WIO = _torch_conv_uniform(rngs.params(), (kernel_size, in_ch, out_ch), fan_in)
        self.v = nnx.Param(v_WIO)
        self.g = nnx.Param(_norm_O(v_WIO))
        self.bias = nnx.Param(_torch_conv_uniform(rngs.params(), (out_ch,), fan_in))
        self.dilation = dilation
        self.impl = impl

    def weight(self) -> jax.Array:
        """The effective kernel (W, I, O)."""
        v = self.v[...]
        return v * (self.g[...] / _norm_O(v))

    def __call__(self, x_BTI: jax.Array) -> jax.Array:
        y = causal_conv1d(x_BTI, self.weight(), dilation=self.dilation, impl=self.impl)
        return y + self.bias[...]


def identity_shortcut(in_ch: int, out_ch: int) -> np.ndarray:
    """(in_ch, out_ch) float32 1x1 weights that keep the input when the width changes: widening copies
    input channel o mod in_ch to output o; narrowing averages inputs i with i mod out_ch = o."""
    w = np.zeros((in_ch, out_ch), np.float32)
    if in_ch >= out_ch:
        w[np.arange(in_ch), np.arange(in_ch) % out_ch] = 1.0
        return w / w.sum(axis=0, keepdims=True)
    w[np.arange(out_ch) % in_ch, np.arange(out_ch)] = 1.0
    return w


class Conv1x1(nnx.Module):
    """The residual 1x1 convolution of a block that changes width (no weight norm).

    init "original": N(0, 0.01) weights and PyTorch's bias init, as the original's `init_weights`.
    That all but cuts the residual path of every width-changing block (the PELS-VAE has eight,
    whatever its depth), so the signal passes only through the convolutions, which shrink it: at
    init the decoder's output does not vary with z at all (to 4 decimals), and channels of its
    last, 8-wide block die early (ReLU output 0 on every input; 1 to 4 of 8 at init, 6 after 5
    epochs in one run). Small training runs then sit for many epochs at the mean curve.
    "identity": the width-changing analogue of the identity shortcut of same-width blocks: output
    channel o copies input channel o mod in (widening) or averages the input channels i with
    i mod out = o (narrowing), zero bias; every block starts as its input plus the convolutions'
    correction, and a block fed by another cannot start with dead channels (its shortcut is a mean
    of non-negative inputs).
    """

    def __init__(self, in_ch: int, out_ch: int, *, init: str = "original", rngs: nnx.Rngs):
        if init not in RESIDUAL_INITS:
            raise ValueError(f"residual init must be one of {RESIDUAL_INITS}, got {init!r}")
        if init == "original":
            self.w = nnx.Param(normal_init(0.01)(rngs.params(), (in_ch, out_ch)))
            self.bias = nnx.Param(_torch_conv_uniform(rngs.params(), (out_ch,), in_ch))
        else:
            self.w = nnx.Param(jnp.asarray(identity_shortcut(in_ch, out_ch)))
            self.bias = nnx.Param(jnp.zeros((out_ch,), jnp.float32))

    def __call__(self, x_BTI: jax.Array) -> jax.Array:
        return jnp.einsum("bti,io->bto", x_BTI, self.w[...]) + self.bias[...]


class TemporalBlock(nnx.Module):
    """[weight-normed causal conv -> ReLU -> dropout] x 2, then ReLU(out + residual)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int, dropout_rate: float,
                 *, impl: str = "auto", residual_init: str = "original", rngs: nnx.Rngs):
        self.conv1 = WeightNormConv1d(in_ch, out_ch, kernel_size, dilation=dilation, impl=impl, rngs=rngs)
        self.conv2 = WeightNormConv1d(out_ch, out_ch, kernel_size, dilation=dilation, impl=impl, rngs=rngs)
        self.downsample = Conv1x1(in_ch, out_ch, init=residual_init, rngs=rngs) if in_ch != out_ch else None
        self.dropout_rate = dropout_rate

    def __call__(self, x_BTI: jax.Array, keys: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
        """keys: two dropout keys (training) or None (evaluation)."""
        k1, k2 = (None, None) if keys is None else keys
        h = dropout(jax.nn.relu(self.conv1(x_BTI)), self.dropout_rate, k1)
        h = dropout(jax.nn.relu(self.conv2(h)), self.dropout_rate, k2)
        res = x_BTI if self.downsample is None else self.downsample(x_BTI)
        return jax.nn.relu(h + res)


class TemporalConvNet(nnx.Module):
    """Stack of TemporalBlocks; level i has dilation 2**i. (B, T, in_ch) -> (B, T, channels[-1]).

    residual_init: init of the 1x1 residual convolutions ("original" or "identity", see Conv1x1).
    """

    def __init__(self, in_ch: int, channels: Sequence[int], kernel_size: int, dropout_rate: float,
                 *, impl: str = "auto", residual_init: str = "original", rngs: nnx.Rngs):
        conv.resolve_impl(impl)  # fail early on a bad name
        widths = [in_ch, *channels]
        self.blocks = nnx.List([
            TemporalBlock(widths[i], widths[i + 1], kernel_size, 2**i, dropout_rate, impl=impl,
                          residual_init=residual_init, rngs=rngs)
            for i in range(len(channels))
        ])

    def __call__(self, x_BTI: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """key: typed key for dropout (training) or None (evaluation)."""
        keys = None
        if key is not None and self.blocks[0].dropout_rate > 0.0:
            keys = dropout_keys(key, 2 * len(self.blocks))
        h = x_BTI
        for i, block in enumerate(self.blocks):
            h = block(h, None if keys is None else (keys[2 * i], keys[2 * i + 1]))
        return h


def receptive_field(kernel_size: int, levels: int) -> int:
    """Time steps seen by the last output of a TemporalConvNet: 1 + 2 (k-1) (2**levels - 1)."""
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


def min_levels(kernel_size: int, seq_len: int) -> int:
    """Fewest levels whose receptive field (`receptive_field`) covers seq_len steps."""
    if kernel_size < 2 and seq_len > 1:
        raise ValueError(f"a TCN with kernel_size {kernel_size} sees one step whatever its depth")
    levels = 1
    while receptive_field(kernel_size, levels) < seq_len:
        levels += 1
    return levels


def set_conv_impl(module: nnx.Module, impl: str) -> None:
    """Switch every WeightNormConv1d inside `module` to the given implementation (in place)."""
    conv.resolve_impl(impl)
    for _, node in nnx.iter_graph(module):
        if isinstance(node, WeightNormConv1d):
            node.impl = impl
