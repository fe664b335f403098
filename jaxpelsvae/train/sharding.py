"""Data parallelism: the same pure step on a 1-D device mesh, batch sharded along 'data', state replicated.

With one device every helper here is a no-op (plain `jax.jit`). With several, `jax.jit` with
`NamedSharding`s lets XLA insert the gradient all-reduce; BatchNorm's batch statistics become
global means over the whole (sharded) batch, so the sharded step computes the same numbers as the
single-device step up to float summation order.

    mesh = data_mesh()                                    # all devices, axis 'data'
    step = make_sharded_train_step(make_train_step(graphdef, loss_fn, tx, jit=False), mesh)
    state = replicate(state, mesh)
    state, metrics = step(state, shard_batch(batch, mesh))  # B divisible by the device count

Multi-host (several processes, e.g. one per GPU node): call, before any other JAX call,

    jax.distributed.initialize()   # coordinator address, process count and id from the
                                   # cluster environment (SLURM, Kubernetes/GKE, Cloud TPU) or
                                   # given explicitly: initialize("host0:1234", num_processes, process_id)

after which `jax.devices()` lists every process's devices and `data_mesh()` spans them all. Each
process then loads only its own slice of each global batch (B / process_count rows, e.g. with
`np.random.default_rng([seed, epoch, jax.process_index()])`-driven sampling) and `shard_batch`
assembles the global array with `jax.make_array_from_process_local_data`. Checkpoints
(`train/checkpoint.py`) are written collectively by orbax; only process 0 should write reports.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpelsvae.errors import ConfigError

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None, axis: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over `devices` (default: all devices of all processes) with axis `axis`."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (axis,))


def batch_sharding(mesh: Mesh, axis: str = DATA_AXIS) -> NamedSharding:
    """Split the leading (batch) axis across the mesh."""
    return NamedSharding(mesh, PartitionSpec(axis))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every array of `tree` (e.g. a TrainState) on all devices of `mesh`.

    Multi-process: every process holds the same full value (same seed), and the global array is
    assembled from the local copies; `device_put` cannot target other processes' devices.
    """
    sharding = replicated_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(leaf):
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            data = put(jax.random.key_data(leaf))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def shard_batch(batch: Mapping[str, Any], mesh: Mesh, axis: str = DATA_AXIS) -> dict[str, jax.Array]:
    """Shard each array's leading axis across the mesh.

    Single process: `batch` is the global batch (B divisible by the device count). Multi-process:
    `batch` is this process's slice, and the global batch is assembled from all processes'.
    """
    sharding = batch_sharding(mesh, axis)
    n = mesh.shape[axis]
    out = {}
    for name, value in batch.items():
        if jax.process_count() > 1:
            out[name] = jax.make_array_from_process_local_data(sharding, np.asarray(value))
            continue
        if np.shape(value)[0] % n:
            raise ConfigError(
                f"shard_batch: batch array {name!r} has {np.shape(value)[0]} rows, not divisible by "
                f"{n} devices; pad the batch (weight 0 rows) to a multiple"
            )
        out[name] = jax.device_put(value, sharding)
    return out


def make_sharded_train_step(
    train_step: Callable[[Any, Any], tuple[Any, Any]], mesh: Mesh, *, donate: bool = True, axis: str = DATA_AXIS
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """`jax.jit` of a plain `train_step(state, batch) -> (state, metrics)` (`make_train_step(..., jit=False)`)
    with the state replicated, the batch sharded along `axis`, and state and metrics replicated out.
    A plain jit on a one-device mesh."""
    donate_argnums = (0,) if donate else ()
    if mesh.size == 1:
        return jax.jit(train_step, donate_argnums=donate_argnums)
    rep = replicated_sharding(mesh)
    return jax.jit(
        train_step,
        in_shardings=(rep, batch_sharding(mesh, axis)),
        out_shardings=(rep, rep),
        donate_argnums=donate_argnums,
    )


def make_sharded_eval_step(
    eval_step: Callable[[Any, Any], Any], mesh: Mesh, *, axis: str = DATA_AXIS
) -> Callable[[Any, Any], Any]:
    """`jax.jit` of a plain `eval_step(state, batch)` with the state replicated and the batch sharded;
    per-example outputs stay sharded along the batch."""
    if mesh.size == 1:
        return jax.jit(eval_step)
    return jax.jit(eval_step, in_shardings=(replicated_sharding(mesh), batch_sharding(mesh, axis)))
