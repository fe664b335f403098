"""Losses: focal loss against its definition, focal = weighted cross-entropy at γ = 0, padding rows ignored."""
from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.train import losses


def _batch(seed=0, b=9, k=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(b, k)) * 2
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    y = rng.integers(0, k, b)
    alpha = rng.uniform(0.5, 2.0, k)
    return jnp.asarray(logp, jnp.float32), jnp.asarray(y, jnp.int32), jnp.asarray(alpha, jnp.float32)


def test_class_weights_alpha_is_sqrt_of_sklearn_balanced():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 7)
    expected = np.sqrt(compute_class_weight("balanced", classes=np.arange(3), y=labels))
    np.testing.assert_allclose(losses.class_weights_alpha(labels, 3), expected, rtol=1e-6)
    # a class absent from the real stars (its synthetic curves still reach the loss): the weight
    # of a one-star class, neither 0 (its synthetic curves would teach nothing) nor infinity
    alpha = losses.class_weights_alpha(labels, 4)
    np.testing.assert_allclose(alpha[3], np.sqrt(labels.size / 4), rtol=1e-6)
    assert alpha[3] > alpha[:3].max()
    with pytest.raises(ConfigError):
        losses.class_weights_alpha(np.array([0, 5]), 3)


def test_synthetic_curves_of_a_class_without_real_stars_reach_the_loss():
    """Under strict quality cuts a class can lose every training star while the generator, fitted
    before the cuts, still makes its curves: those curves must move the classifier (with α = 0 for
    the absent class they reached the loss with no weight: EROS-1 dev at SNR > 10 cuts every RR
    Lyrae star)."""
    import jax

    real_labels = np.array([0] * 20 + [1] * 7 + [2] * 3)  # class 3: no real training star
    alpha = jnp.asarray(losses.class_weights_alpha(real_labels, 4))
    synthetic_y = jnp.full((6,), 3, jnp.int32)  # a synthetic batch of that class
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32)

    def loss(z):
        return losses.focal_loss(jax.nn.log_softmax(z), synthetic_y, alpha_K=alpha, gamma=2.0)

    assert float(loss(logits)) > 0.1
    grad = jax.grad(loss)(logits)
    assert float(jnp.min(grad[:, 3])) < 0  # pushes every curve toward its class


class LossTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_focal_equals_weighted_cross_entropy_at_gamma_zero(self):
        logp, y, alpha = _batch()
        focal = self.variant(lambda lp, y: losses.focal_loss(lp, y, alpha_K=alpha, gamma=0.0))(logp, y)
        ce = self.variant(lambda lp, y: losses.weighted_cross_entropy(lp, y, alpha_K=alpha))(logp, y)
        np.testing.assert_allclose(focal, ce, rtol=1e-6)
        per_f = losses.focal_loss_per_example(logp, y, alpha_K=alpha, gamma=0.0)
        per_c = losses.per_example_loss(logp, y, kind="cross_entropy", alpha_K=alpha)
        np.testing.assert_allclose(per_f, per_c, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_focal_loss_matches_its_definition(self):
        logp, y, alpha = _batch(1)
        got = self.variant(lambda lp, y: losses.focal_loss(lp, y, alpha_K=alpha, gamma=2.0))(logp, y)
        lp, yy, a = np.asarray(logp, np.float64), np.asarray(y), np.asarray(alpha, np.float64)
        ce = -lp[np.arange(len(yy)), yy]
        expected = np.mean(a[yy] * (1 - np.exp(-ce)) ** 2 * ce)
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_padding_rows_do_not_count():
    logp, y, alpha = _batch(2)
    weight = jnp.asarray([1.0] * 6 + [0.0] * 3)
    garbage = logp.at[6:].set(jnp.log(jnp.full((4,), 1e-30)))  # huge CE in the padding rows
    for fn in (
        lambda lp, w: losses.focal_loss(lp, y, alpha_K=alpha, gamma=2.0, weight_B=w),
        lambda lp, w: losses.weighted_cross_entropy(lp, y, alpha_K=alpha, weight_B=w, reduction="torch_mean"),
    ):
        np.testing.assert_allclose(fn(garbage, weight), fn(logp, weight), rtol=1e-6)
    full = losses.focal_loss(logp[:6], y[:6], alpha_K=alpha, gamma=2.0)
    np.testing.assert_allclose(losses.focal_loss(garbage, y, alpha_K=alpha, gamma=2.0, weight_B=weight), full, rtol=1e-6)
    assert float(losses.focal_loss(logp, y, weight_B=jnp.zeros(9))) == 0.0  # all padding: 0, not NaN


def test_torch_mean_is_pytorchs_weighted_mean():
    logp, y, alpha = _batch(3)
    lp, yy, a = np.asarray(logp, np.float64), np.asarray(y), np.asarray(alpha, np.float64)
    ce = -lp[np.arange(len(yy)), yy]
    expected = np.sum(a[yy] * ce) / np.sum(a[yy])
    np.testing.assert_allclose(losses.nll_loss(logp, y, alpha_K=alpha), expected, rtol=1e-5)
    # Cross-entropy on log-probabilities equals cross-entropy on the logits (log_softmax is idempotent).
    np.testing.assert_allclose(
        losses.weighted_cross_entropy(logp + 3.0, y, alpha_K=alpha), losses.weighted_cross_entropy(logp, y, alpha_K=alpha), rtol=1e-5
    )
