"""Checkpoints: save, restore into a fresh state, and the next step equals the uninterrupted run's (bitwise)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.cnn import CNN
from jaxpelsvae.train.checkpoint import CheckpointStore, restore, save
from jaxpelsvae.train.masks import make_masks
from jaxpelsvae.train.state import create_train_state, make_optimizer
from jaxpelsvae.train.steps import classifier_loss_fn, make_train_step

L, B, K = 32, 8, 3


def _fresh(seed=0):
    model = CNN(K, layers=2, seq_length=L, rngs=nnx.Rngs(seed))
    masks = make_masks(nnx.state(model, nnx.Param), 0.15)
    return create_train_state(model, make_optimizer(1e-3), jax.random.key(seed), masks=masks, tx_syn=make_optimizer(7.5e-4))


def _batch(seed):
    rng = np.random.default_rng([seed, 11])
    return {
        "x": jnp.asarray(rng.normal(size=(B, L, 2)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, K, B), jnp.int32),
        "weight": jnp.ones(B, jnp.float32),
    }


def _host(state):
    return jax.tree.map(np.asarray, state.replace(key=jax.random.key_data(state.key)))


def test_restored_run_takes_the_identical_next_step(tmp_path):
    graphdef, state = _fresh()
    loss_fn = classifier_loss_fn("focal", alpha_K=jnp.ones(K))
    real = make_train_step(graphdef, loss_fn, make_optimizer(1e-3), subset="real", clip_norm=6.0)
    state, _ = real(state, _batch(1))
    with CheckpointStore(tmp_path / "ckpt", max_to_keep=2) as store:
        store.save(int(state.step), state, {"epoch": 1, "best_val": 0.5, "history": [1.0, 0.5]})
        store.wait_until_finished()
        expected, _ = real(state, _batch(2))  # the uninterrupted run (donates `state`)
        expected = _host(expected)
        _, target = _fresh(seed=9)  # a different fresh state: only its structure may matter
        restored, loop = store.restore(target)
        assert store.latest_step() == 1
    assert loop == {"epoch": 1, "best_val": 0.5, "history": [1.0, 0.5]}
    assert jnp.issubdtype(restored.key.dtype, jax.dtypes.prng_key)
    resumed, _ = real(restored, _batch(2))
    for a, b in zip(jax.tree.leaves(_host(resumed)), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(a, b)


def test_one_shot_functions_and_missing_checkpoint(tmp_path):
    _, state = _fresh()
    with pytest.raises(ConfigError, match="no checkpoint"):
        restore(tmp_path / "empty", state)
    save(tmp_path / "one", 5, state, {"epoch": 0})
    restored, loop = restore(tmp_path / "one", _fresh(seed=3)[1])
    assert loop == {"epoch": 0} and int(restored.step) == 0
    for a, b in zip(jax.tree.leaves(_host(restored)), jax.tree.leaves(_host(state))):
        np.testing.assert_array_equal(a, b)


def _truncate(folder):
    """Cut every data file of a saved step to half its length (a crash or a full disk)."""
    for f in folder.rglob("*"):
        if f.is_file() and f.name != "commit_success.txt":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def test_opening_for_writing_clears_unfinished_saves_and_a_step_saves_again(tmp_path):
    import shutil

    _, state = _fresh()
    directory = tmp_path / "ckpt"
    save(directory, 1, state, {"epoch": 1})
    # What a process killed mid-save leaves: the step's temporary folder, here a complete-looking one.
    shutil.copytree(directory / "1", directory / "2.orbax-checkpoint-tmp")
    (directory / "3.orbax-checkpoint-tmp-1700000000").mkdir()
    assert restore(directory, _fresh(seed=3)[1])[1] == {"epoch": 1}  # reading leaves the folder as it is
    assert (directory / "2.orbax-checkpoint-tmp").exists()
    with CheckpointStore(directory, max_to_keep=3) as store:
        assert sorted(p.name for p in directory.iterdir()) == ["1"]
        assert store.latest_step() == 1
        store.save(2, state, {"epoch": 2}, force=True)
        store.save(1, state, {"epoch": "again"}, force=True)  # a step saved before a kill, saved again
    assert restore(directory, _fresh(seed=3)[1], step=1)[1] == {"epoch": "again"}
    assert restore(directory, _fresh(seed=3)[1])[1] == {"epoch": 2}


@pytest.mark.parametrize("part", ["state", "loop"])
def test_truncated_checkpoint_is_a_checkpoint_error(tmp_path, part):
    from jaxpelsvae.errors import CheckpointError

    _, state = _fresh()
    save(tmp_path / "ckpt", 4, state, {"epoch": 4})
    _truncate(tmp_path / "ckpt" / "4" / part)
    with pytest.raises(CheckpointError, match=r"ckpt/4: checkpoint cannot be read \(truncated or corrupted"):
        restore(tmp_path / "ckpt", _fresh(seed=3)[1])
