"""Batch normalisation over all but the last (channel) axis, with PyTorch's semantics and a batch mask.

Why not `nnx.BatchNorm`: in the CNN's training step on XLA:CPU it cost about half of the step;
this version folds the normalisation into one per-channel multiply-add (x·a + c) and trains the
CNN ~1.7x faster (benchmarks/README.md). It also follows PyTorch exactly: the running variance
is updated with the *unbiased* batch variance, `momentum` is PyTorch's (new = (1−m)·old + m·batch).
Variables are named like Flax's (`scale`, `bias` params; `mean`, `var` batch statistics), so
`model.eval()` / `model.train()` switch it through `use_running_average`.

Warm-up of the running statistics (`warmup=True`, the default): the n-th update uses the weight
max(momentum, 1/n), a cumulative average until it reaches PyTorch's exponential one (after
1/momentum = 10 steps). The running statistics then describe the batches seen from the first step
on, instead of starting 90 % at (mean 0, var 1): on a few hundred training curves (4 steps an
epoch) evaluation-mode outputs were wrong for the first epochs, the validation loss rose while the
network learned, and early stopping ended runs at epoch 0. `warmup=False` is PyTorch's update.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class BatchNorm(nnx.Module):
    """y = (x − μ) / sqrt(σ² + eps) · scale + bias per channel (last axis of x, any leading axes).

    Training mode (`use_running_average=False`): μ, σ² are the (masked) batch statistics over all
    leading axes, and the running statistics are updated. Evaluation: the running statistics.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.1, epsilon: float = 1e-5,
                 use_running_average: bool = False, warmup: bool = True, rngs: nnx.Rngs | None = None):
        del rngs  # deterministic initialisation (scale 1, bias 0, mean 0, var 1), as PyTorch >= 1.2
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        # Updates so far (PyTorch's num_batches_tracked), float32 like the other statistics.
        self.count = nnx.BatchStat(jnp.zeros((), jnp.float32))
        self.warmup = warmup
        self.momentum = momentum
        self.epsilon = epsilon
        self.use_running_average = use_running_average

    def __call__(self, x: jax.Array, use_running_average: bool | None = None, *, mask: jax.Array | None = None) -> jax.Array:
        """x (..., C). mask: bool broadcastable to x[..., :1] (e.g. (B, 1, 1)); False rows are left out of
        the batch statistics (their outputs are still computed, from the others' statistics)."""
        if use_running_average is None:
            use_running_average = self.use_running_average
        if use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            axes = tuple(range(x.ndim - 1))
            if mask is None:
                count = jnp.asarray(x.size // x.shape[-1], jnp.float32)
                mean = jnp.mean(x, axes)
                mean_sq = jnp.mean(jnp.square(x), axes)
            elif all(d == 1 for d in jnp.shape(mask)[1:]):
                # A per-row mask (B, 1, ..., 1): reduce over the inner axes first, then weight the
                # (B, C) row sums; much cheaper on CPU than weighting every element.
                w_B = jnp.reshape(mask, (x.shape[0],)).astype(x.dtype)
                inner = tuple(range(1, x.ndim - 1))
                per_row = x.size // (x.shape[0] * x.shape[-1])
                count = jnp.maximum(jnp.sum(w_B) * per_row, 1.0)
                # (no matmul here: GPUs would round it to TF32)
                mean = jnp.sum(w_B[:, None] * jnp.sum(x, inner).reshape(x.shape[0], -1), 0) / count
                mean_sq = jnp.sum(w_B[:, None] * jnp.sum(jnp.square(x), inner).reshape(x.shape[0], -1), 0) / count
            else:
                w = jnp.broadcast_to(mask, x.shape[:-1] + (1,)).astype(x.dtype)
                count = jnp.maximum(jnp.sum(w), 1.0)
                mean = jnp.sum(x * w, axes) / count
                mean_sq = jnp.sum(jnp.square(x) * w, axes) / count
            # One pass (E[x²] − E[x]²), as Flax's fast variance; clamped against rounding below 0.
            var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
            n = self.count[...] + 1.0
            self.count[...] = n
            m = jnp.maximum(self.momentum, 1.0 / n) if self.warmup else self.momentum
            unbiased = var * count / jnp.maximum(count - 1.0, 1.0)
            self.mean[...] = (1.0 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
            self.var[...] = (1.0 - m) * self.var[...] + m * jax.lax.stop_gradient(unbiased)
        # Folded affine map: one multiply-add over x instead of subtract, multiply, multiply, add.
        a = jax.lax.rsqrt(var + self.epsilon) * self.scale[...]
        return x * a + (self.bias[...] - mean * a)
