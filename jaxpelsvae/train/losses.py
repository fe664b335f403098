"""Classification losses over log-probabilities: focal loss with per-class α, weighted cross-entropy, NLL.

Shape suffixes: see `jaxpelsvae` (package docstring). Inputs are log-probabilities `logp_BK` (the CNN ends in
log_softmax; cross-entropy re-applies log_softmax, which is the identity on log-probabilities, so
raw logits work as well). Every loss is computed per example, then reduced once; `weight_B` is the
per-row weight of a batch (0 for the padding rows of a last batch, 1 otherwise): padding rows never
contribute, and means divide by the total weight, not by B.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import ConfigError

REDUCTIONS = ("mean", "torch_mean", "sum", "none")


def class_weights_alpha(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """α_c = sqrt(N / (K · n_c)) (sqrt of sklearn's 'balanced' weight), float32 (K,) (ORIGINAL.md §6.1).

    labels: (N,) int in [0, K). A class absent from `labels` gets the weight of a class of one
    star, sqrt(N / K), not infinity: its real stars are none, but a self-regulated run trains on
    its synthetic curves (under strict quality cuts a class can lose every training star to them,
    and a generator fitted before the cuts still makes its curves), and the loss must count them.
    The original had no such case: it re-indexed the classes present after the cuts.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ConfigError("class_weights_alpha: labels must be a non-empty 1-D integer array")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"class_weights_alpha: labels outside [0, {num_classes})")
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    w = labels.size / (num_classes * np.maximum(counts, 1.0))
    return np.sqrt(w).astype(np.float32)


def cross_entropy_per_example(logp_BK: jax.Array, y_B: jax.Array) -> jax.Array:
    """CE_i = -log_softmax(logp)_i[y_i], (B,)."""
    logp_BK = jax.nn.log_softmax(logp_BK, axis=-1)
    return -jnp.take_along_axis(logp_BK, y_B[:, None].astype(jnp.int32), axis=-1)[:, 0]


def _alpha_of(alpha_K, y_B, dtype):
    if alpha_K is None:
        return jnp.ones(y_B.shape, dtype)
    return jnp.asarray(alpha_K, dtype)[y_B]


def per_example_loss(
    logp_BK: jax.Array, y_B: jax.Array, *, kind: str = "focal", alpha_K: jax.Array | None = None, gamma: float = 2.0
) -> jax.Array:
    """(B,) per-example loss: focal α_y (1-p)^γ CE, "cross_entropy"/"nll" α_y CE, "unweighted_cross_entropy" CE."""
    ce_B = cross_entropy_per_example(logp_BK, y_B)
    if kind == "focal":
        return focal_loss_per_example(logp_BK, y_B, alpha_K=alpha_K, gamma=gamma)
    if kind in ("cross_entropy", "nll"):
        return _alpha_of(alpha_K, y_B, ce_B.dtype) * ce_B
    if kind == "unweighted_cross_entropy":
        return ce_B
    raise ConfigError(f"unknown loss kind {kind!r}")


def focal_loss_per_example(
    logp_BK: jax.Array, y_B: jax.Array, *, alpha_K: jax.Array | None = None, gamma: float = 2.0
) -> jax.Array:
    """FL_i = α_{y_i} (1 - p_i)^γ CE_i with p_i = exp(-CE_i) (ORIGINAL.md §6.2), (B,)."""
    ce_B = cross_entropy_per_example(logp_BK, y_B)
    p_B = jnp.exp(-ce_B)
    a_B = _alpha_of(alpha_K, y_B, ce_B.dtype)
    if isinstance(gamma, (int, float)) and gamma == 0:
        # Static γ = 0: skip the power, whose gradient at p = 1 would be 0·∞.
        return a_B * ce_B
    modulator_B = jnp.power(jnp.maximum(1.0 - p_B, 0.0), gamma)
    return a_B * modulator_B * ce_B


def reduce_loss(per_B: jax.Array, weight_B: jax.Array | None = None, *, reduction: str = "mean", norm_B: jax.Array | None = None) -> jax.Array:
    """Reduce per-example losses with row weights (0 = padding).

    mean: Σ w·l / Σ w; torch_mean: Σ w·l / Σ w·norm (norm_B = α_{y_i}, PyTorch's weighted mean);
    sum: Σ w·l; none: w·l (B,). An all-padding batch gives 0, not NaN.
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    w_B = jnp.ones_like(per_B) if weight_B is None else jnp.asarray(weight_B, per_B.dtype)
    weighted_B = w_B * per_B
    if reduction == "none":
        return weighted_B
    total = weighted_B.sum()
    if reduction == "sum":
        return total
    denom = (w_B if norm_B is None or reduction == "mean" else w_B * norm_B).sum()
    return total / jnp.maximum(denom, jnp.finfo(per_B.dtype).tiny)


def focal_loss(
    logp_BK: jax.Array,
    y_B: jax.Array,
    *,
    alpha_K: jax.Array | None = None,
    gamma: float = 2.0,
    weight_B: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-class focal loss, mean over the (non-padding) rows as the original (`reduction='mean'`)."""
    per_B = focal_loss_per_example(logp_BK, y_B, alpha_K=alpha_K, gamma=gamma)
    return reduce_loss(per_B, weight_B, reduction=reduction)


def weighted_cross_entropy(
    logp_BK: jax.Array,
    y_B: jax.Array,
    *,
    alpha_K: jax.Array | None = None,
    weight_B: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """α-weighted cross-entropy Σ w α_y CE / Σ w ("mean", = focal at γ=0) or / Σ w α_y ("torch_mean",
    PyTorch's `CrossEntropyLoss(weight=α)` / `NLLLoss(weight=α)`)."""
    ce_B = cross_entropy_per_example(logp_BK, y_B)
    a_B = _alpha_of(alpha_K, y_B, ce_B.dtype)
    return reduce_loss(a_B * ce_B, weight_B, reduction=reduction, norm_B=a_B)


def nll_loss(logp_BK, y_B, *, alpha_K=None, weight_B=None, reduction: str = "torch_mean") -> jax.Array:
    """PyTorch's `NLLLoss(weight=α)` on log-probabilities (= weighted cross-entropy on log-probs)."""
    return weighted_cross_entropy(logp_BK, y_B, alpha_K=alpha_K, weight_B=weight_B, reduction=reduction)


def weighted_accuracy(logp_BK: jax.Array, y_B: jax.Array, weight_B: jax.Array | None = None) -> jax.Array:
    """Fraction of non-padding rows whose argmax equals the label."""
    correct_B = (jnp.argmax(logp_BK, axis=-1) == y_B).astype(jnp.float32)
    return reduce_loss(correct_B, weight_B, reduction="mean")
