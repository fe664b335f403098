"""Checkpoints with orbax: a `TrainState` (or any pytree of arrays) plus a JSON loop state per step.

Layout: `<directory>/<step>/{state, loop}` managed by `ocp.CheckpointManager` (absolute path,
`max_to_keep`). Restoring needs a *target*: a fresh state built the same way as the saved one
(same model, optimiser, masks); its shapes, dtypes and shardings define what comes back. Typed
PRNG keys are stored as their raw uint32 key data and re-wrapped on restore.

    store = CheckpointStore(workdir / "checkpoints", max_to_keep=3)
    store.save(step, state, {"epoch": 3, "best_val": 0.41})
    state, loop = store.restore(fresh_state)          # latest step
    store.close()                                     # waits for asynchronous saves
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from jaxpelsvae.errors import ConfigError


def _is_typed_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_typed_key(x) else x, tree)


def _data_to_keys(tree: Any, like: Any) -> Any:
    return jax.tree.map(
        lambda x, ref: jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref)) if _is_typed_key(ref) else x,
        tree,
        like,
    )


class CheckpointStore:
    """One run's checkpoint folder: `save(step, state, loop)`, `restore(target, step=None)`, `latest_step()`."""

    def __init__(self, directory: str | Path, *, max_to_keep: int | None = 3, save_interval_steps: int = 1):
        self.directory = Path(directory).expanduser().resolve()  # orbax requires absolute paths
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, save_interval_steps=save_interval_steps, create=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, loop: dict[str, Any] | None = None, *, force: bool = False) -> bool:
        """Save `state` (pytree of arrays) and `loop` (JSON-serialisable dict) under `step`; asynchronous.

        Returns whether a checkpoint was started (the manager skips steps off `save_interval_steps`).
        """
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(_keys_to_data(state)),
            loop=ocp.args.JsonSave(dict(loop or {})),
        )
        return self.manager.save(int(step), args=args, force=force)

    def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """(state, loop) at `step` (default: the latest), shaped, typed and sharded like `target`."""
        self.manager.wait_until_finished()
        step = self.latest_step() if step is None else int(step)
        if step is None:
            raise ConfigError(f"no checkpoint to restore in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _keys_to_data(target))
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), loop=ocp.args.JsonRestore()),
        )
        return _data_to_keys(restored["state"], target), dict(restored["loop"] or {})

    def restore_json(self, step: int | None = None) -> dict[str, Any]:
        """The JSON item alone at `step` (default: the latest): what a caller reads first when the
        arrays' shapes depend on it."""
        self.manager.wait_until_finished()
        step = self.latest_step() if step is None else int(step)
        if step is None:
            raise ConfigError(f"no checkpoint to restore in {self.directory}")
        restored = self.manager.restore(step, args=ocp.args.Composite(loop=ocp.args.JsonRestore()))
        return dict(restored["loop"] or {})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def wait_until_finished(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        """Wait for pending saves and release the manager (call before the process exits)."""
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self) -> "CheckpointStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def save(directory: str | Path, step: int, state: Any, loop: dict[str, Any] | None = None, *, max_to_keep: int | None = 3) -> None:
    """One-shot save (opens, saves, waits, closes). Loops should keep a `CheckpointStore` open instead."""
    with CheckpointStore(directory, max_to_keep=max_to_keep) as store:
        store.save(step, state, loop, force=True)


def restore(directory: str | Path, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """One-shot restore of (state, loop) at `step` (default latest) against `target` (a fresh state)."""
    with CheckpointStore(directory, max_to_keep=None) as store:
        return store.restore(target, step)
