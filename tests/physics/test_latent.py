"""jaxpelsvae.physics.latent: the physics -> latent models (random forest and MLP)."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpelsvae.errors import DataError
from jaxpelsvae.physics.latent import LatentConfig, LatentModel, fit_latent, mlp_sample


@pytest.fixture(scope="module")
def latent_data():
    rng = np.random.default_rng(1)
    n, K = 300, 3
    x = rng.normal(size=(n, 4))
    lab = rng.integers(0, K, n)
    z = np.stack([np.sin(x[:, 0]) + lab, x[:, 1] * x[:, 2]], 1) + 0.1 * rng.normal(size=(n, 2))
    return x, lab, z, K


def test_fit_latent_reports_both_models_and_picks_better(latent_data):
    x, lab, z, K = latent_data
    cfg = LatentConfig(rf_trees=10, max_epochs=60, patience=10, hidden=(32, 32), learning_rate=3e-3)
    model = fit_latent(x, lab, z, K, cfg)
    rep = model.report
    assert set(rep["latent_r2_heldout"]) == {"rf", "mlp"} and set(rep["latent_nll_heldout"]) == {"rf", "mlp"}
    r2 = rep["latent_r2_heldout"]
    assert model.kind == ("mlp" if r2["mlp"] >= r2["rf"] else "rf") == rep["chosen"]
    assert r2["mlp"] > 0.3 and r2["rf"] > 0.3  # learnable signal
    assert rep["n_heldout"] == pytest.approx(0.1 * len(x), abs=3)
    forced = fit_latent(x, lab, z, K, LatentConfig(model="rf", rf_trees=5, max_epochs=1))
    assert forced.kind == "rf"
    pred = forced.predict_mean(x[:5], lab[:5])
    assert pred.shape == (5, 2)


def test_mlp_sampling_is_jittable_and_keyed(latent_data, tmp_path):
    x, lab, z, K = latent_data
    model = fit_latent(x, lab, z, K, LatentConfig(model="mlp", rf_trees=3, max_epochs=5, hidden=(16,)))
    fn = jax.jit(lambda k, p, c: mlp_sample(model.mlp_params, model.stats, k, p, c))
    a = fn(jax.random.key(0), jnp.asarray(x[:8], jnp.float32), jnp.asarray(lab[:8]))
    b = fn(jax.random.key(0), jnp.asarray(x[:8], jnp.float32), jnp.asarray(lab[:8]))
    c = fn(jax.random.key(1), jnp.asarray(x[:8], jnp.float32), jnp.asarray(lab[:8]))
    chex.assert_shape(a, (8, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    model.save(tmp_path / "lat")
    back = LatentModel.load(tmp_path / "lat")
    np.testing.assert_allclose(back.predict_mean(x[:8], lab[:8]), model.predict_mean(x[:8], lab[:8]), rtol=1e-6)


def test_fit_latent_rejects_nan():
    with pytest.raises(DataError, match="NaN"):
        fit_latent(np.full((20, 2), np.nan), np.zeros(20, int), np.zeros((20, 2)), 1)
