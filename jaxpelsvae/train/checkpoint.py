"""Checkpoints with orbax: a `TrainState` (or any pytree of arrays) plus a JSON loop state per step.

Layout: `<directory>/<step>/{state, loop}` managed by `ocp.CheckpointManager` (absolute path,
`max_to_keep`). Restoring needs a *target*: a fresh state built the same way as the saved one
(same model, optimiser, masks); its shapes, dtypes and shardings define what comes back. Typed
PRNG keys are stored as their raw uint32 key data and re-wrapped on restore.

A save is written into `<step>.orbax-checkpoint-tmp` and renamed to `<step>` once complete, so a
process killed mid-save leaves only that temporary folder: a store opened for writing deletes it,
a step saved again replaces the earlier one, and a step that cannot be read back raises
`CheckpointError` (callers may fall back to an earlier step).

    store = CheckpointStore(workdir / "checkpoints", max_to_keep=3)
    store.save(step, state, {"epoch": 3, "best_val": 0.41})
    state, loop = store.restore(fresh_state)          # latest step
    store.close()                                     # waits for asynchronous saves
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from jaxpelsvae.errors import CheckpointError, ConfigError

# Marks the folders of a save still in progress (orbax renames them away once complete).
UNFINISHED_MARK = ".orbax-checkpoint-tmp"
# What reading a truncated or corrupted checkpoint raises (tensorstore and JSON errors are ValueErrors).
_READ_ERRORS = (ValueError, OSError, KeyError, TypeError)


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


def clear_unfinished(directory: Path) -> list[str]:
    """Delete the leftovers of saves that never completed (a process killed mid-save) directly in
    ``directory``; returns their names. Only for a folder no other process is writing into."""
    if not directory.is_dir():
        return []
    removed = []
    for entry in sorted(directory.iterdir()):
        if UNFINISHED_MARK in entry.name:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
    return removed


def _reading_error(directory: Path, step: int, err: Exception) -> CheckpointError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return CheckpointError(f"{directory / str(step)}: checkpoint cannot be read (truncated or corrupted?): "
                           f"{first[:300]}")


class CheckpointStore:
    """One run's checkpoint folder: `save(step, state, loop)`, `restore(target, step=None)`, `latest_step()`.

    writable: the caller owns the folder (no other process writes into it), so the leftovers of
    saves a killed process never finished are deleted on opening; False leaves the folder as it is.
    """

    def __init__(self, directory: str | Path, *, max_to_keep: int | None = 3, save_interval_steps: int = 1,
                 writable: bool = True):
        self.directory = Path(directory).expanduser().resolve()  # orbax requires absolute paths
        if writable:
            clear_unfinished(self.directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, save_interval_steps=save_interval_steps, create=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, loop: dict[str, Any] | None = None, *, force: bool = False) -> bool:
        """Save `state` (pytree of arrays) and `loop` (JSON-serialisable dict) under `step`; asynchronous.

        Returns whether a checkpoint was started (the manager skips steps off `save_interval_steps`).
        A step already on disk is replaced: a killed run may have saved it before dying, or it was
        unreadable and the run fell back to an earlier one.
        """
        if int(step) in self.manager.all_steps():
            self.manager.wait_until_finished()
            self.manager.delete(int(step))
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
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), loop=ocp.args.JsonRestore()),
            )
        except _READ_ERRORS as err:
            raise _reading_error(self.directory, step, err) from err
        return _data_to_keys(restored["state"], target), dict(restored["loop"] or {})

    def restore_json(self, step: int | None = None) -> dict[str, Any]:
        """The JSON item alone at `step` (default: the latest): what a caller reads first when the
        arrays' shapes depend on it."""
        self.manager.wait_until_finished()
        step = self.latest_step() if step is None else int(step)
        if step is None:
            raise ConfigError(f"no checkpoint to restore in {self.directory}")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(loop=ocp.args.JsonRestore()))
        except _READ_ERRORS as err:
            raise _reading_error(self.directory, step, err) from err
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
    with CheckpointStore(directory, max_to_keep=None, writable=False) as store:
        return store.restore(target, step)
