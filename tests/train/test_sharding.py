"""Data parallelism: the sharded step on 4 fake CPU devices matches the single-device step."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.cnn import CNN
from jaxpelsvae.train import sharding
from jaxpelsvae.train.state import create_train_state
from jaxpelsvae.train.steps import classifier_eval_fn, classifier_loss_fn, make_eval_step, make_train_step

L, B, K = 32, 8, 3


def test_sharded_step_matches_single_device_step():
    if jax.device_count() < 4:
        pytest.skip("needs the 4 fake CPU devices of conftest.py")
    # Plain SGD: Adam's first step is ~lr·sign(g), and conv biases before BatchNorm have gradients
    # that are float noise around 0; SGD keeps the comparison at float tolerance.
    tx = optax.sgd(0.1)
    graphdef, state = create_train_state(CNN(K, layers=2, seq_length=L, rngs=nnx.Rngs(0)), tx, jax.random.key(0))
    rng = np.random.default_rng(5)
    batch = {
        "x": jnp.asarray(rng.normal(size=(B, L, 2)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, K, B), jnp.int32),
        "weight": jnp.asarray([1.0] * 7 + [0.0]),  # a padded row too
    }
    plain = make_train_step(graphdef, classifier_loss_fn("focal", alpha_K=jnp.ones(K)), tx, jit=False)
    single_state, single_metrics = jax.jit(plain)(state, batch)

    mesh = sharding.data_mesh(jax.devices()[:4])
    step = sharding.make_sharded_train_step(plain, mesh)
    sharded_batch = sharding.shard_batch(batch, mesh)
    assert len(sharded_batch["x"].sharding.device_set) == 4
    sh_state, sh_metrics = step(sharding.replicate(state, mesh), sharded_batch)
    assert sh_state.params["fc1"]["kernel"][...].sharding.is_fully_replicated
    chex.assert_trees_all_close(sh_metrics, single_metrics, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(sh_state.params, single_state.params, rtol=1e-5, atol=2e-6)
    chex.assert_trees_all_close(sh_state.rest, single_state.rest, rtol=1e-5, atol=1e-6)

    eval_fn = classifier_eval_fn("focal", alpha_K=jnp.ones(K))
    ev_single = make_eval_step(graphdef, eval_fn)(single_state, batch)
    ev_sharded = sharding.make_sharded_eval_step(make_eval_step(graphdef, eval_fn, jit=False), mesh)(sh_state, sharded_batch)
    chex.assert_trees_all_close(ev_sharded, ev_single, rtol=1e-4, atol=1e-5)

    with pytest.raises(ConfigError, match="not divisible"):
        sharding.shard_batch({"x": jnp.ones((6, 2))}, mesh)


def test_one_device_mesh_is_a_plain_jit():
    mesh = sharding.data_mesh(jax.devices()[:1])
    step = sharding.make_sharded_train_step(lambda s, b: (s + 1, {"b": b["x"].sum()}), mesh, donate=False)
    state, m = step(jnp.zeros(()), {"x": jnp.ones(3)})
    assert float(state) == 1.0 and float(m["b"]) == 3.0
