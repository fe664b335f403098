"""Multi-process data parallelism check: a few sharded CNN training steps across processes.

Run one copy per process (e.g. two on loopback, CPU collectives through gloo):

    python -m jaxpelsvae.train.distributed_check --num-processes 2 --process-id 0 --port 29871 --out a.npz
    python -m jaxpelsvae.train.distributed_check --num-processes 2 --process-id 1 --port 29871 --out b.npz

and once with `--num-processes 1` for the single-process reference. Every process feeds only its own
slice of each global batch (`shard_batch` assembles the global array), so the parameters after the
steps must match the single-process run to float tolerance. On a GPU cluster the same code runs with
`jax.distributed.initialize()` reading the coordinator from the cluster environment.
"""
from __future__ import annotations

import argparse

import numpy as np

# Small enough to compile in seconds on a 2-core machine, big enough to exercise every layer type.
SEQ_LEN, NUM_CLASSES, GLOBAL_BATCH, STEPS = 32, 3, 8, 3


def make_batches(seed: int = 0) -> list[dict[str, np.ndarray]]:
    """The global batches every process agrees on (each takes its own rows)."""
    rng = np.random.default_rng([seed, 17])
    return [
        {
            "x": rng.normal(size=(GLOBAL_BATCH, SEQ_LEN, 2)).astype(np.float32),
            "y": rng.integers(0, NUM_CLASSES, GLOBAL_BATCH).astype(np.int32),
            "weight": np.ones(GLOBAL_BATCH, np.float32),
        }
        for _ in range(STEPS)
    ]


def make_model():
    """The CNN every process starts from (the same parameters everywhere)."""
    from flax import nnx

    from jaxpelsvae.models.cnn import CNN

    return CNN(NUM_CLASSES, layers=2, seq_length=SEQ_LEN, rngs=nnx.Rngs(0))


def run(num_processes: int, process_id: int, port: int, local_devices: int) -> dict[str, np.ndarray]:
    """Initialise the (possibly multi-process) runtime, take STEPS sharded steps, return final params."""
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", local_devices)
    if num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}", num_processes=num_processes, process_id=process_id
        )
    import jax.numpy as jnp
    import optax

    from jaxpelsvae.train import sharding
    from jaxpelsvae.train.state import create_train_state
    from jaxpelsvae.train.steps import classifier_loss_fn, make_train_step

    # SGD keeps the comparison at float tolerance (Adam's first step is ~lr·sign(g), which amplifies
    # summation-order noise in near-zero gradients such as conv biases ahead of BatchNorm).
    tx = optax.sgd(0.05)
    model = make_model()
    graphdef, state = create_train_state(model, tx, jax.random.key(0))
    plain = make_train_step(graphdef, classifier_loss_fn("focal", alpha_K=jnp.ones(NUM_CLASSES)), tx, jit=False)
    mesh = sharding.data_mesh()
    step = sharding.make_sharded_train_step(plain, mesh)
    state = sharding.replicate(state, mesh)
    rows = GLOBAL_BATCH // jax.process_count()
    lo = jax.process_index() * rows
    for batch in make_batches():
        local = {k: v[lo : lo + rows] for k, v in batch.items()}
        state, _ = step(state, sharding.shard_batch(local, mesh))
    leaves = jax.tree_util.tree_leaves_with_path(state.params)
    # Replicated arrays: every process holds the full value locally.
    out = {jax.tree_util.keystr(p): np.asarray(jax.device_get(v.addressable_data(0))) for p, v in leaves}
    if num_processes > 1:
        jax.distributed.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--port", type=int, default=29871)
    parser.add_argument("--local-devices", type=int, default=2, help="fake CPU devices per process")
    parser.add_argument("--out", required=True, help="npz file for the final parameters")
    args = parser.parse_args(argv)
    params = run(args.num_processes, args.process_id, args.port, args.local_devices)
    np.savez(args.out, **params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
