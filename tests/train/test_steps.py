"""Train state, jit steps and the dual gradient masks: EPS rule, disjoint masked updates, one compile per shape."""
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
from jaxpelsvae.train import masks as masks_lib
from jaxpelsvae.train.state import create_train_state, make_optimizer
from jaxpelsvae.train.steps import (
    classifier_eval_fn,
    classifier_loss_fn,
    make_eval_step,
    make_scan_steps,
    make_train_step,
)

L, B, K = 32, 8, 3


def _model(seed=0):
    return CNN(K, layers=2, seq_length=L, rngs=nnx.Rngs(seed))


def _batch(seed=0, n_pad=0):
    rng = np.random.default_rng([seed, 7])
    x = rng.normal(size=(B, L, 2)).astype(np.float32)
    x[..., 1] += np.arange(B)[:, None] % K  # learnable: the class shifts Δm
    weight = np.ones(B, np.float32)
    weight[B - n_pad :] = 0.0
    return {"x": jnp.asarray(x), "y": jnp.asarray(np.arange(B) % K, jnp.int32), "weight": jnp.asarray(weight)}


def _host(tree):
    return jax.tree.map(np.asarray, tree)


# ---------------------------------------------------------------------------------------------
# EPS rule


def test_eps_quantile_is_the_originals_rule():
    s = np.arange(1.0, 17.0, dtype=np.float32)[::-1]  # 16 scores, unsorted
    assert masks_lib.eps_quantile(s, 0.15) == pytest.approx(3.4)  # x = 2.4: s[2] + 0.4 (s[3] - s[2])
    assert masks_lib.eps_quantile(s, 0.25) == pytest.approx(5.0)  # x = 4.0
    assert masks_lib.eps_quantile(s, 0.99) == 16.0  # indices clamped to the last element


@pytest.mark.parametrize("eps,on,off", [(0.15, 13, 3), (0.25, 11, 5)])
def test_masks_follow_the_eps_rule_on_a_known_initialisation(eps, on, off):
    model = _model()
    rng = np.random.default_rng(0)
    # 16 conv1 filters whose |mean| is a known permutation of 1..16 (signs alternate).
    score = rng.permutation(16) + 1.0
    kernel = np.tile((score * np.where(np.arange(16) % 2, -1, 1))[None, None, :], (6, 1, 1)).astype(np.float32)
    model.conv1.kernel[...] = jnp.asarray(kernel)
    params = nnx.state(model, nnx.Param)
    m = masks_lib.make_masks(params, eps)
    filt = np.asarray(m["conv1"]["kernel"][...])
    assert filt.shape == kernel.shape
    expected = score > np.sort(score)[off - 1]  # the `off` smallest |mean| filters go to the synthetic pass
    np.testing.assert_array_equal(filt[0, 0], expected)
    assert filt[0, 0].sum() == on and (~filt[0, 0]).sum() == off
    np.testing.assert_array_equal(np.asarray(m["conv1"]["bias"][...]), expected)  # bias follows its filter
    # Dense kernels: the signed values above sorted(W)[int(eps (n-1))] stay with the real pass.
    w = np.asarray(params["fc1"]["kernel"][...])
    q = np.sort(w.ravel())[int(eps * (w.size - 1))]
    np.testing.assert_array_equal(np.asarray(m["fc1"]["kernel"][...]), w > q)
    for name in ("bn1", "fc1", "fc2"):
        assert np.asarray(m[name]["bias"][...]).all()  # BatchNorm and dense biases: real pass only
    counts = masks_lib.mask_counts(m)
    assert counts["conv1/bias"] == (on, off)


# ---------------------------------------------------------------------------------------------
# Steps


@pytest.fixture(scope="module")
def setup():
    model = _model()
    m = masks_lib.make_masks(nnx.state(model, nnx.Param), 0.15)
    tx, tx_syn = make_optimizer(3e-3), make_optimizer(0.75 * 3e-3)
    graphdef, state = create_train_state(model, tx, jax.random.key(0), masks=m, tx_syn=tx_syn)
    loss_fn = chex.assert_max_traces(classifier_loss_fn("focal", alpha_K=jnp.ones(K), gamma=2.0), n=3)
    steps = {
        "all": make_train_step(graphdef, loss_fn, tx),
        "real": make_train_step(graphdef, loss_fn, tx, subset="real", clip_norm=6.0),
        "synthetic": make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=6.0),
    }
    return graphdef, state, steps


def test_train_state_is_a_pytree_with_typed_key(setup):
    _, state, _ = setup
    assert jnp.issubdtype(state.key.dtype, jax.dtypes.prng_key)
    assert int(state.step) == 0 and state.opt_state_syn is not None
    chex.assert_trees_all_equal_structs(state.params, state.masks)
    with pytest.raises(ConfigError, match="masks and tx_syn"):
        create_train_state(_model(), make_optimizer(1e-3), jax.random.key(0), masks=state.masks)


@pytest.mark.parametrize("subset", ["real", "synthetic"])
def test_masked_step_leaves_the_other_subset_bitwise_unchanged(setup, subset):
    _, state0, steps = setup
    state = jax.tree.map(jnp.copy, state0)  # the step donates its input
    before = _host(state.params)
    for seed in range(2):
        state, _ = steps[subset](state, _batch(seed))
    after, mask = _host(state.params), _host(state0.masks)
    updated = mask if subset == "real" else jax.tree.map(np.logical_not, mask)
    for b, a, u in zip(jax.tree.leaves(before), jax.tree.leaves(after), jax.tree.leaves(updated)):
        np.testing.assert_array_equal(a[~u], b[~u])  # bitwise
    changed = sum(int((a[u] != b[u]).sum()) for b, a, u in zip(jax.tree.leaves(before), jax.tree.leaves(after), jax.tree.leaves(updated)))
    assert changed > 0.5 * sum(int(u.sum()) for u in jax.tree.leaves(updated))
    # The other optimiser's state is untouched, and this one's Adam moments stay zero off its subset.
    opt = state.opt_state if subset == "real" else state.opt_state_syn
    other0 = state0.opt_state_syn if subset == "real" else state0.opt_state
    other = state.opt_state_syn if subset == "real" else state.opt_state
    chex.assert_trees_all_equal(other, other0)
    mu = _host(opt[1][0].mu)
    for m_, u in zip(jax.tree.leaves(mu), jax.tree.leaves(updated)):
        assert not m_[~u].any()
    assert int(state.step) == 2


def test_a_shared_parameter_is_moved_by_the_synthetic_pass_and_nothing_else_changes(setup):
    """shared=("fc2/bias",): the synthetic step moves the output bias (the real pass's alone under the
    EPS rule) and every other entry exactly as the unshared synthetic step does."""
    graphdef, state0, steps = setup
    loss_fn = classifier_loss_fn("focal", alpha_K=jnp.ones(K), gamma=2.0)
    tx_syn = make_optimizer(0.75 * 3e-3)
    shared_step = make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=6.0, shared=("fc2/bias",))
    plain, shared = jax.tree.map(jnp.copy, state0), jax.tree.map(jnp.copy, state0)
    plain, _ = steps["synthetic"](plain, _batch(0))
    shared, _ = shared_step(shared, _batch(0))
    bias0 = np.asarray(state0.params["fc2"]["bias"][...])
    assert np.asarray(state0.masks["fc2"]["bias"][...]).all()  # the real pass's under the EPS rule
    np.testing.assert_array_equal(np.asarray(plain.params["fc2"]["bias"][...]), bias0)
    assert (np.asarray(shared.params["fc2"]["bias"][...]) != bias0).all()
    p, s = _host(plain.params), _host(shared.params)
    p["fc2"]["bias"] = s["fc2"]["bias"] = np.zeros(K)
    chex.assert_trees_all_close(p, s, rtol=1e-6, atol=1e-9)  # two compiled programs: allow rounding
    with pytest.raises(ConfigError, match="no parameter named fc9/bias"):
        masks_lib.pass_keep(state0.masks, "synthetic", ("fc9/bias",))


def test_a_step_without_statistics_keeps_the_running_statistics(setup):
    """update_statistics=False: parameters move as with the default step, BatchNorm's running
    statistics stay bitwise as they were (the default step moves them)."""
    graphdef, state0, _ = setup
    loss_fn = classifier_loss_fn("focal", alpha_K=jnp.ones(K), gamma=2.0)
    tx_syn = make_optimizer(0.75 * 3e-3)
    kept, moved = (jax.tree.map(jnp.copy, state0) for _ in range(2))
    keep_step = make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=6.0,
                                update_statistics=False)
    move_step = make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=6.0)
    for seed in range(2):
        kept, _ = keep_step(kept, _batch(seed))
        moved, _ = move_step(moved, _batch(seed))
    chex.assert_trees_all_equal(_host(kept.rest), _host(state0.rest))
    assert any((a != b).any() for a, b in zip(jax.tree.leaves(_host(moved.rest)), jax.tree.leaves(_host(state0.rest))))
    # Training-mode normalisation uses the batch's statistics either way, so the updates agree.
    chex.assert_trees_all_close(_host(kept.params), _host(moved.params), rtol=1e-5, atol=1e-6)


def test_a_step_without_statistics_still_advances_rng_counts():
    """update_statistics=False keeps only BatchNorm's statistics: a dropout's RNG count advances,
    so consecutive steps draw different masks."""
    from jaxpelsvae.models.batchnorm import BatchNorm

    class Tiny(nnx.Module):
        def __init__(self):
            self.dense = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
            self.bn = BatchNorm(4)
            self.drop = nnx.Dropout(0.5, rngs=nnx.Rngs(dropout=1))

        def __call__(self, x):
            return self.drop(self.bn(self.dense(x)))

    def loss_fn(model, batch, key):
        del key
        return jnp.mean(model(batch["x"]) ** 2), {}

    tx = make_optimizer(1e-3)
    graphdef, state = create_train_state(Tiny(), tx, jax.random.key(0))
    def variables(rest):  # (kind, host value) per variable; typed keys as their raw data
        leaves = jax.tree.leaves(rest, is_leaf=lambda x: isinstance(x, nnx.Variable))
        raw = [v[...] for v in leaves]
        raw = [jax.random.key_data(r) if jnp.issubdtype(r.dtype, jax.dtypes.prng_key) else r for r in raw]
        return [(type(v).__name__, np.asarray(r)) for v, r in zip(leaves, raw)]

    before = variables(state.rest)
    step = make_train_step(graphdef, loss_fn, tx, update_statistics=False)
    state, _ = step(state, {"x": jnp.arange(12.0).reshape(4, 3)})
    after = variables(state.rest)
    assert {"BatchStat", "RngCount"} <= {kind for kind, _ in after}
    for (kind, b), (_, a) in zip(before, after, strict=True):
        assert np.array_equal(a, b) == (kind != "RngCount"), kind


def test_loss_falls_and_step_compiles_once(setup):
    graphdef, state0, steps = setup
    state = jax.tree.map(jnp.copy, state0)
    batch = _batch(0)
    losses = []
    for _ in range(25):
        state, metrics = steps["all"](state, batch)
        losses.append(metrics["loss"])
    losses = np.asarray(jax.device_get(losses))
    assert losses[-1] < 0.3 * losses[0]
    # Real-then-synthetic alternation as the self-regulated epoch does: no new compiles either.
    for _ in range(2):
        state, _ = steps["synthetic"](state, batch)
        state, _ = steps["real"](state, batch)
    eval_step = make_eval_step(graphdef, classifier_eval_fn("focal", alpha_K=jnp.ones(K)))
    out = eval_step(state, batch)
    assert out["logprobs"].shape == (B, K) and float(out["correct"]) >= 6


def test_padded_rows_do_not_change_the_step(setup):
    """A batch padded with weight-0 garbage rows steps like the batch without them."""
    graphdef, state0, _ = setup
    # Plain SGD: Adam's first step is ~lr·sign(g), which would amplify float noise in tiny gradients.
    tx = optax.sgd(0.1)
    state0 = state0.replace(opt_state=tx.init(state0.params))
    loss_fn = classifier_loss_fn("focal", alpha_K=jnp.ones(K), gamma=2.0)
    step = make_train_step(graphdef, loss_fn, tx, donate=False)
    full = _batch(3, n_pad=2)
    garbage = dict(full, x=full["x"].at[B - 2 :].set(50.0), y=full["y"].at[B - 2 :].set(0))
    short = {k: v[: B - 2] for k, v in full.items()}
    s_pad, m_pad = step(state0, garbage)
    s_short, m_short = step(state0, short)
    np.testing.assert_allclose(float(m_pad["loss"]), float(m_short["loss"]), rtol=1e-5)
    chex.assert_trees_all_close((s_pad.params, s_pad.rest), (s_short.params, s_short.rest), rtol=1e-4, atol=1e-6)


def test_scan_over_steps_matches_the_host_loop(setup):
    graphdef, state0, _ = setup
    tx = optax.sgd(0.1)  # not Adam: its first steps are ~lr·sign(g), amplifying float noise
    state0 = state0.replace(opt_state=tx.init(state0.params))
    plain = make_train_step(graphdef, classifier_loss_fn("focal", alpha_K=jnp.ones(K)), tx, jit=False)
    batches = [_batch(s) for s in range(2)]
    host_state = jax.tree.map(jnp.copy, state0)
    jitted = jax.jit(plain)
    for b in batches:
        host_state, _ = jitted(host_state, b)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
    scan_state, metrics = make_scan_steps(plain, unroll=2)(jax.tree.map(jnp.copy, state0), stacked)
    assert metrics["loss"].shape == (2,)
    chex.assert_trees_all_close(scan_state.params, host_state.params, rtol=1e-5, atol=1e-6)
