"""1-D convolution and max-pool kernels (channels-last), each in an "einsum" and an "xla" implementation.

Shape suffixes: see `jaxpelsvae` (package docstring); with G groups, I = C / G and O counts the output
channels of one group where a function works group by group.

Why two implementations: XLA:CPU differentiates `lax.conv_general_dilated` (grouped, k=6) and the
`reduce_window` max-pool slowly. A convolution written as W shifted slices of the padded input
(im2col) contracted with the kernel by one matmul per group, and a max-pool written as reshape +
`max`, trains the original CNN several times faster on CPU (benchmarks/README.md). On GPU cuDNN may win,
so the implementation is chosen per backend (`default_impl`) and can be forced per call, per module
(`impl=`) or globally (`set_default_impl`, or the environment variable `JAXPELSVAE_CONV_IMPL`).
Both implementations give the same outputs and gradients (tests/models/test_conv.py); the einsum ones
carry their own backward passes (custom VJPs below), which XLA:CPU runs faster than the
automatic ones.

Kernel layout is Flax's: `(W, C/G, O)`, output channels grouped contiguously (the first O/G
outputs see the first C/G inputs), the same grouping as PyTorch's `groups=`.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpelsvae.errors import ConfigError

CONV_IMPLS = ("einsum", "xla")
PADDING_MODES = ("zeros", "circular")
# "lax" is accepted as a synonym of "xla" (the name used by the TCN module).
_ALIASES = {"lax": "xla", "einsum": "einsum", "xla": "xla"}
# Backend -> implementation used when impl="auto". CPU: einsum (measured, benchmarks/README.md).
# GPU/TPU: the native convolution until a benchmark on that device says otherwise.
DEFAULT_IMPL_BY_BACKEND = {"cpu": "einsum", "gpu": "xla", "tpu": "xla"}
_forced_impl: str | None = None


def set_default_impl(impl: str | None) -> None:
    """Force one implementation ("einsum" | "xla") for every impl="auto" call; None restores per-backend."""
    global _forced_impl
    _forced_impl = None if impl is None else _canonical(impl)


def _canonical(impl: str) -> str:
    try:
        return _ALIASES[impl]
    except KeyError:
        raise ConfigError(
            f"unknown convolution implementation {impl!r}; expected one of {CONV_IMPLS} or 'auto'"
        ) from None


def default_impl() -> str:
    """The implementation "auto" resolves to now: forced > $JAXPELSVAE_CONV_IMPL > per backend."""
    if _forced_impl is not None:
        return _forced_impl
    env = os.environ.get("JAXPELSVAE_CONV_IMPL", "").strip()
    if env and env != "auto":
        return _canonical(env)
    return DEFAULT_IMPL_BY_BACKEND.get(jax.default_backend(), "xla")


def resolve_impl(impl: str = "auto") -> str:
    """Map "auto" to the per-backend default and check the name; resolved at trace time."""
    return default_impl() if impl == "auto" else _canonical(impl)


def _check_padding(padding: int | tuple[int, int] | str, kernel_size: int, dilation: int) -> tuple[int, int]:
    if padding == "causal":
        return ((kernel_size - 1) * dilation, 0)
    if isinstance(padding, (int, np.integer)):
        return (int(padding), int(padding))
    left, right = padding
    return (int(left), int(right))


def conv1d(
    x_BLC: jax.Array,
    w_KIO: jax.Array,
    bias_O: jax.Array | None = None,
    *,
    groups: int = 1,
    dilation: int = 1,
    padding: int | tuple[int, int] | str = 0,
    padding_mode: str = "zeros",
    impl: str = "auto",
) -> jax.Array:
    """Stride-1 dilated, grouped 1-D convolution (cross-correlation, like PyTorch and Flax).

    x_BLC (B, L, C); w_KIO (W, C/groups, O) (K in this public argument's name counts the taps, W);
    bias_O (O,) or None. padding: int (both sides),
    (left, right), or "causal" (= ((W-1)·dilation, 0): output t sees inputs <= t).
    padding_mode: "zeros", or "circular" (PyTorch's name): the padding wraps around the sequence,
    for periodic inputs such as a phase-folded curve, so the layer commutes with cyclic shifts.
    Returns (B, Y, O) with Y = L + left + right - dilation·(W-1).
    out[b, y, o] = bias[o] + sum_{w, i} x_pad[b, y + w·dilation, g·I + i] · w[w, i, o], g = o // (O/groups).
    """
    k, i_per_group, o = w_KIO.shape
    c = x_BLC.shape[-1]
    if c != i_per_group * groups or o % groups:
        raise ConfigError(
            f"conv1d: input channels {c} and output channels {o} do not fit kernel {w_KIO.shape} "
            f"with groups={groups}"
        )
    left, right = _check_padding(padding, k, dilation)
    if padding_mode not in PADDING_MODES:
        raise ConfigError(f"conv1d: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if padding_mode == "circular" and (left or right):
        if max(left, right) > x_BLC.shape[1]:
            raise ConfigError(f"conv1d: circular padding {left, right} longer than the input {x_BLC.shape[1]}")
        # Wrap once here; both implementations then run unpadded, so they stay identical.
        x_BLC = jnp.pad(x_BLC, ((0, 0), (left, right), (0, 0)), mode="wrap")
        left = right = 0
    if resolve_impl(impl) == "xla":
        y = jax.lax.conv_general_dilated(
            x_BLC,
            w_KIO,
            window_strides=(1,),
            padding=[(left, right)],
            rhs_dilation=(dilation,),
            dimension_numbers=("NWC", "WIO", "NWC"),
            feature_group_count=groups,
        )
    else:
        y = _conv1d_einsum(x_BLC, w_KIO, groups=groups, dilation=dilation, left=left, right=right)
    if bias_O is not None:
        y = y + bias_O
    return y


def _conv1d_einsum(x_BLC, w_WIO, *, groups, dilation, left, right):
    k, i_per_group, _ = w_WIO.shape
    m = x_BLC.shape[1] + left + right - dilation * (k - 1)
    if m <= 0:
        raise ConfigError(f"conv1d: input length {x_BLC.shape[1]} too short for kernel {k}, dilation {dilation}")
    if i_per_group == 1:
        return _conv_depthwise(x_BLC, w_WIO, groups, dilation, left, right)
    return _conv_im2col(x_BLC, w_WIO, groups, dilation, left, right)


def _pad_time(x_BLC, left, right):
    # lax.pad accepts negative padding (a crop), which the input gradients below rely on.
    return jax.lax.pad(x_BLC, jnp.zeros((), x_BLC.dtype), ((0, 0, 0), (left, right, 0), (0, 0, 0)))


def _col2im(dpatches_BYWI, dilation, left, length):
    """Transpose of im2col: dx[t] = Σ_j dpatches[t + left − j·d, j], as one sum of shifted slices
    (XLA fuses it into one loop; differentiated automatically, the stack's transpose became W
    materialised slices, each padded and added separately)."""
    _, m, k, _ = dpatches_BYWI.shape
    dx = None
    for j in range(k):
        lo = j * dilation - left
        shifted = _pad_time(dpatches_BYWI[:, :, j, :], lo, length - m - lo)
        dx = shifted if dx is None else dx + shifted
    return dx


# Why custom VJPs: differentiated automatically, XLA:CPU spends more time in the copies around the
# matmuls (col2im as W separate slice/pad/add passes, per-element masks) than in the matmuls
# themselves; the backward passes below write those copies once (profile in benchmarks/README.md).
# Both kernels give the outputs and gradients of `lax.conv_general_dilated` (tests/models/test_conv.py).
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_im2col(x_BLC, w_WIO, groups, dilation, left, right):
    return _conv_im2col_fwd(x_BLC, w_WIO, groups, dilation, left, right)[0]


def _conv_im2col_fwd(x_BLC, w_WIO, groups, dilation, left, right):
    k, i_per_group, o = w_WIO.shape
    b, length, _ = x_BLC.shape
    p_per_group = o // groups
    x_pad = _pad_time(x_BLC, left, right)
    m = length + left + right - dilation * (k - 1)
    outputs, patches = [], []
    for g in range(groups):
        # im2col per group: tap j is the group's padded input shifted by j·dilation; taps and
        # channels are merged into one contraction axis of depth W·I, so each group is one plain
        # (B·Y, W·I) @ (W·I, O/G) matmul. Measured on XLA:CPU (benchmarks/README.md): about 2x faster
        # in training than a single einsum with the group as a batch axis, whose dot needs
        # transposes, and 3-4x faster than lax.conv_general_dilated's gradients.
        x_g = jax.lax.slice_in_dim(x_pad, g * i_per_group, (g + 1) * i_per_group, axis=2)
        taps = [jax.lax.slice_in_dim(x_g, j * dilation, j * dilation + m, axis=1) for j in range(k)]
        patches_BYC = jnp.stack(taps, axis=2).reshape(b, m, k * i_per_group)
        w_CO = w_WIO[:, :, g * p_per_group : (g + 1) * p_per_group].reshape(k * i_per_group, p_per_group)
        outputs.append(jnp.einsum("bmj,jp->bmp", patches_BYC, w_CO))
        patches.append(patches_BYC)
    y = outputs[0] if groups == 1 else jnp.concatenate(outputs, axis=-1)
    # The patches are kept for the kernel gradient rather than rebuilt.
    return y, (patches, w_WIO, length)


def _conv_im2col_bwd(groups, dilation, left, right, residuals, dy_BYO):
    patches, w_WIO, length = residuals
    k, i_per_group, o = w_WIO.shape
    p_per_group = o // groups
    b, m, _ = dy_BYO.shape
    dw, dx = [], []
    for g in range(groups):
        dy_g = jax.lax.slice_in_dim(dy_BYO, g * p_per_group, (g + 1) * p_per_group, axis=2)
        w_CO = w_WIO[:, :, g * p_per_group : (g + 1) * p_per_group].reshape(k * i_per_group, p_per_group)
        dw.append(jnp.einsum("bmj,bmp->jp", patches[g], dy_g).reshape(k, i_per_group, p_per_group))
        dpatches = jnp.einsum("bmp,jp->bmj", dy_g, w_CO).reshape(b, m, k, i_per_group)
        dx.append(_col2im(dpatches, dilation, left, length))
    if groups == 1:
        return dx[0], dw[0]
    return jnp.concatenate(dx, axis=-1), jnp.concatenate(dw, axis=-1)


_conv_im2col.defvjp(_conv_im2col_fwd, _conv_im2col_bwd)


# One input channel a group (the CNN's first block: 2 channels, groups 2): an im2col of W × 1
# columns is a slow copy of single floats, while W broadcast multiply-adds over the output channels
# are one fused loop (about 5x faster forward on XLA:CPU).
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_depthwise(x_BLC, w_WIO, groups, dilation, left, right):
    return _conv_depthwise_fwd(x_BLC, w_WIO, groups, dilation, left, right)[0]


def _conv_depthwise_fwd(x_BLC, w_W1O, groups, dilation, left, right):
    k, _, o = w_W1O.shape
    x_pad = _pad_time(x_BLC, left, right)
    m = x_pad.shape[1] - dilation * (k - 1)
    x_rep = jnp.repeat(x_pad, o // groups, axis=2)  # output channel o reads input channel o // (O/G)
    y = None
    for j in range(k):
        term = jax.lax.slice_in_dim(x_rep, j * dilation, j * dilation + m, axis=1) * w_W1O[j, 0]
        y = term if y is None else y + term
    return y, (x_pad, w_W1O, x_BLC.shape[1])


def _conv_depthwise_bwd(groups, dilation, left, right, residuals, dy_BYO):
    x_pad, w_W1O, length = residuals
    k, _, o = w_W1O.shape
    p_per_group = o // groups
    b, m, _ = dy_BYO.shape
    dw = []
    for g in range(groups):
        # A (B, Y, W) im2col of one channel and one matmul: measured faster than W reductions.
        taps = [jax.lax.slice_in_dim(x_pad[:, :, g], j * dilation, j * dilation + m, axis=1) for j in range(k)]
        dy_g = jax.lax.slice_in_dim(dy_BYO, g * p_per_group, (g + 1) * p_per_group, axis=2)
        dw.append(jnp.einsum("bmk,bmp->kp", jnp.stack(taps, axis=-1), dy_g))
    dw_W1O = jnp.concatenate(dw, axis=-1)[:, None, :]
    # dpatches[b, y, j, g] = Σ_p dy[b, y, g·(O/G) + p] · w[j, 0, g·(O/G) + p]
    dpatches = jnp.einsum("bmgp,kgp->bmkg", dy_BYO.reshape(b, m, groups, p_per_group),
                          w_W1O[:, 0].reshape(k, groups, p_per_group))
    return _col2im(dpatches, dilation, left, length), dw_W1O


_conv_depthwise.defvjp(_conv_depthwise_fwd, _conv_depthwise_bwd)


def max_pool1d(x_BLC: jax.Array, window: int = 3, *, impl: str = "auto") -> jax.Array:
    """Max-pool with stride = window, floor mode (PyTorch `MaxPool1d(window)`): (B, L, C) -> (B, L // window, C)."""
    b, length, c = x_BLC.shape
    m = length // window
    if m == 0:
        raise ConfigError(f"max_pool1d: length {length} shorter than the window {window}")
    if resolve_impl(impl) == "xla":
        return jax.lax.reduce_window(
            x_BLC, -jnp.inf, jax.lax.max, (1, window, 1), (1, window, 1), "VALID"
        )
    return _max_pool(x_BLC, window)


# Why a custom VJP: `max`'s automatic gradient builds an equality mask, converts it, counts ties
# and divides, partly in the forward pass (linearisation); here the forward pass is the max alone
# and the backward pass one select per window element. Ties: the first maximum of a window gets
# the whole gradient, as PyTorch's MaxPool1d and XLA's `reduce_window` gradient do (the automatic
# gradient of `max` would split it among the tied elements).
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool(x_BLC, window):
    b, length, c = x_BLC.shape
    return x_BLC[:, : (length // window) * window].reshape(b, length // window, window, c).max(axis=2)


def _max_pool_fwd(x_BLC, window):
    y = _max_pool(x_BLC, window)
    return y, (x_BLC, y)


def _max_pool_bwd(window, residuals, dy_BYC):
    x_BLC, y_BYC = residuals
    b, length, c = x_BLC.shape
    m = length // window
    x_BYWC = x_BLC[:, : m * window].reshape(b, m, window, c)
    taken = jnp.zeros(y_BYC.shape, bool)
    parts = []
    for j in range(window):
        first = (x_BYWC[:, :, j] == y_BYC) & ~taken
        taken = taken | first
        parts.append(jnp.where(first, dy_BYC, 0.0))
    dx = jnp.stack(parts, axis=2).reshape(b, m * window, c)
    return (_pad_time(dx, 0, length - m * window),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def conv_output_length(length: int, kernel_size: int, *, padding: tuple[int, int] = (0, 0), dilation: int = 1) -> int:
    """Output length of `conv1d` (stride 1) for an input of `length` steps."""
    return length + padding[0] + padding[1] - dilation * (kernel_size - 1)


Initializer = Callable[..., jax.Array]


class Conv1D(nnx.Module):
    """Grouped, dilated, zero- or circularly padded 1-D convolution layer over `conv1d` (channels-last).

    Parameters: `kernel` (W, in_features/groups, out_features), `bias` (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        groups: int = 1,
        dilation: int = 1,
        padding: int | tuple[int, int] | str = 0,
        padding_mode: str = "zeros",
        use_bias: bool = True,
        kernel_init: Initializer | None = None,
        bias_init: Initializer | None = None,
        impl: str = "auto",
        rngs: nnx.Rngs,
    ):
        if in_features % groups or out_features % groups:
            raise ConfigError(
                f"Conv1D: in_features {in_features} and out_features {out_features} must be "
                f"divisible by groups={groups}"
            )
        resolve_impl(impl)  # fail early on a bad name
        if padding_mode not in PADDING_MODES:
            raise ConfigError(f"Conv1D: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        fan_in = kernel_size * in_features // groups
        # PyTorch's defaults: kaiming_uniform(a=sqrt 5) for weights and U(±1/sqrt(fan_in)) for biases,
        # both of which reduce to U(±1/sqrt(fan_in)).
        default_init = torch_default_uniform(fan_in)
        kernel_init = kernel_init or default_init
        bias_init = bias_init or default_init
        shape = (kernel_size, in_features // groups, out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), shape, jnp.float32))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), jnp.float32)) if use_bias else None
        self.groups = groups
        self.dilation = dilation
        self.padding = _check_padding(padding, kernel_size, dilation)
        self.padding_mode = padding_mode
        self.impl = impl

    def __call__(self, x_BLC: jax.Array) -> jax.Array:
        return conv1d(
            x_BLC,
            self.kernel[...],
            None if self.bias is None else self.bias[...],
            groups=self.groups,
            dilation=self.dilation,
            padding=self.padding,
            padding_mode=self.padding_mode,
            impl=self.impl,
        )


def torch_default_uniform(fan_in: int) -> Initializer:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases."""
    bound = 1.0 / np.sqrt(fan_in)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init
