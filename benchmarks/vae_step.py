"""Benchmark: the PELS-VAE training step (batch 128, 600 phases, the original's size): compile time,
samples/s from a host loop, and `lax.scan` (rolled and unrolled), per convolution implementation.

The step is the project's own (`train.steps.make_train_step` over `train.vae_train.vae_loss_fn`,
Adam with the per-epoch cosine schedule, state donated). Timings wait for the outputs. Used by
`bench_train_step.py` (its VAE rows) and runnable alone:

    .venv/bin/python benchmarks/vae_step.py [--quick] [--impls einsum,xla] [--steps 10] [--scan-steps 4]
        [--batch 128] [--no-scan] [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

BATCH = 128
SEQ_LEN = 600


def _setup(impl: str, batch: int, seed: int = 0):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from jaxpelsvae.data import PHASE_GRID_VAE
    from jaxpelsvae.models.vae import PelsVAE, VAEConfig
    from jaxpelsvae.train.state import create_train_state, make_optimizer
    from jaxpelsvae.train.vae_train import cosine_annealing_per_epoch, vae_loss_fn

    config = VAEConfig(num_classes=8, phys_dim=6, conv_impl=impl)  # the original's size (243,165 parameters)
    model = PelsVAE(config, rngs=nnx.Rngs(seed))
    tx = make_optimizer(cosine_annealing_per_epoch(1e-3, 100, 50, 1e-5), clip_norm=None)
    graphdef, state = create_train_state(model, tx, jax.random.key(seed))
    rng = np.random.default_rng([seed, 0])
    labels = rng.integers(0, config.num_classes, batch)
    mag = 0.5 + 0.4 * np.sin(2 * np.pi * 2 * PHASE_GRID_VAE[None] + rng.uniform(0, 6, (batch, 1)))
    x = np.stack([np.broadcast_to(PHASE_GRID_VAE, mag.shape), mag, np.full(mag.shape, 0.02)], -1)
    batch_ = {
        "x": jnp.asarray(x, jnp.float32),
        "onehot": jnp.asarray(np.eye(config.num_classes, dtype=np.float32)[labels]),
        "phys": jnp.asarray(rng.uniform(size=(batch, config.phys_dim)), jnp.float32),
        "weight": jnp.ones(batch, jnp.float32),
    }
    return config, graphdef, state, tx, batch_, vae_loss_fn(config.beta, config.kl_scale)


def bench_vae_step(*, quick: bool = False, impls=("einsum", "xla"), steps: int | None = None,
                   scan: bool = True, scan_steps: int | None = None,
                   batch: int = BATCH) -> tuple[list[dict], dict]:
    """Metrics rows (benchlib format) and extra details for the VAE training step.

    steps: timed host-loop steps (default 10, quick 2). scan_steps: steps inside one `lax.scan`
    (default 4, quick 2; the unrolled variant compiles that many copies of the step).
    """
    import jax

    from jaxpelsvae.train.steps import make_scan_steps, make_train_step

    steps = steps or (2 if quick else 10)
    if quick:
        impls = tuple(impls)[:1]  # a sanity run: the first implementation only
    scan_steps = scan_steps or (2 if quick else 4)
    rows, extra = [], {"batch": batch, "seq_len": SEQ_LEN, "steps": steps, "scan_steps": scan_steps,
                       "backend": jax.default_backend()}
    for impl in impls:
        config, graphdef, state, tx, batch_, loss_fn = _setup(impl, batch)
        step = make_train_step(graphdef, loss_fn, tx)
        t0 = time.perf_counter()
        compiled = step.lower(state, batch_).compile()
        compile_s = time.perf_counter() - t0
        state, m = compiled(state, batch_)  # warm-up
        benchlib.block(m)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            state, m = compiled(state, batch_)
        benchlib.block((state.params, m))
        loop_s = (time.perf_counter() - t0) / steps
        cpu_s = (time.process_time() - c0) / steps
        rows += [
            benchlib.metric(f"VAE step compile ({impl})", compile_s, "s", "lower"),
            benchlib.metric(f"VAE step host loop ({impl})", batch / loop_s, "samples/s"),
        ]
        # CPU seconds of this process count every thread: less sensitive to other load than wall time.
        extra[f"host_loop_s_per_step_{impl}"] = loop_s
        extra[f"host_loop_samples_per_cpu_s_{impl}"] = batch / max(cpu_s, 1e-9)
        if not scan:
            continue
        plain = make_train_step(graphdef, loss_fn, tx, jit=False)
        batches = jax.tree.map(lambda a: jax.numpy.broadcast_to(a, (scan_steps, *a.shape)), batch_)
        for label, unroll in (("rolled", 1), ("unrolled", scan_steps)):
            run = make_scan_steps(plain, unroll=unroll)
            t0 = time.perf_counter()
            compiled_scan = run.lower(state, batches).compile()
            c_s = time.perf_counter() - t0
            state, m = compiled_scan(state, batches)  # warm-up
            benchlib.block(m)
            t0 = time.perf_counter()
            state, m = compiled_scan(state, batches)
            benchlib.block((state.params, m))
            s_per_step = (time.perf_counter() - t0) / scan_steps
            rows += [
                benchlib.metric(f"VAE scan {label} compile ({impl})", c_s, "s", "lower"),
                benchlib.metric(f"VAE scan {label} ({impl})", batch / s_per_step, "samples/s"),
            ]
            extra[f"scan_{label}_s_per_step_{impl}"] = s_per_step
    return rows, extra


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.parse_common(p, "vae_step")
    p.add_argument("--impls", default="einsum,xla", help="convolution implementations to time")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10; --quick 2)")
    p.add_argument("--scan-steps", type=int, default=None, help="steps in one lax.scan (default 4; --quick 2)")
    p.add_argument("--no-scan", action="store_true", help="skip the lax.scan variants")
    p.add_argument("--batch", type=int, default=BATCH)
    args = p.parse_args(argv)
    rows, extra = bench_vae_step(quick=args.quick, impls=tuple(args.impls.split(",")), steps=args.steps,
                                 scan=not args.no_scan, scan_steps=args.scan_steps, batch=args.batch)
    benchlib.report(args.json, "vae_step", rows, quick=args.quick, extra=extra,
                    title=f"PELS-VAE train step (batch {args.batch}, {SEQ_LEN} phases)")
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in extra.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
