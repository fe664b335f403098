"""Training-step throughput: the CNN step (and, registered by the VAE module, the VAE step) in samples/s.

Measures, on the default JAX backend (CPU here, GPU when run there):
* `cnn`: the CNN train step (batch 125, L 300, focal loss, Adam + clip 6) driven by a host Python
  loop, per convolution implementation ("einsum" im2col, "xla" = lax.conv + reduce_window);
  compile time separately;
* `cnn_scan`: the same steps inside one `lax.scan` (rolled, and unrolled over all S steps);
* `torch`: an eager PyTorch implementation of the same network and step
  (benchmarks/torch_cnn_step.py) run in a subprocess with the interpreter of `.venv-torch`
  (created with `python3.11 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0 numpy`,
  or any interpreter with torch given by `--torch-python`);
  skipped with a note when that interpreter is missing, and on non-CPU backends.

All selected cases are compiled first, then timed in interleaved rounds (round r runs every case
once), so that a busy machine slows all of them alike; the table shows the best and median round.
Wall-clock samples/s and, for CPU runs, samples per CPU-second of the process (less sensitive to
other load; CPU time counts every thread, so on a quiet machine it is ~wall·threads).

    .venv/bin/python benchmarks/bench_train_step.py                    # full
    .venv/bin/python benchmarks/bench_train_step.py --quick            # a sanity run
    .venv/bin/python benchmarks/bench_train_step.py --only cnn,torch --impl einsum --threads 1

Adding a benchmark: write `bench_<name>(args) -> list[Case]` (compile in the function, time one
round in `Case.run`) and register it in `BENCHMARKS`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import benchlib

ROOT = benchlib.ROOT
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"


@dataclass
class Case:
    """One measured configuration: `run()` times one round and returns {"samples_per_s", ["samples_per_cpu_s"]}."""

    benchmark: str
    variant: str
    run: Callable[[], dict]
    info: dict = field(default_factory=dict)  # compile_s, batch, notes ...
    rounds: list = field(default_factory=list)


def _timed(n_samples: int, fn: Callable[[], None]) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"samples_per_s": n_samples / wall, "samples_per_cpu_s": n_samples / max(cpu, 1e-9)}


def _cnn_setup(args, impl: str):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from jaxpelsvae.models.cnn import CNN
    from jaxpelsvae.train.state import create_train_state, make_optimizer
    from jaxpelsvae.train.steps import classifier_loss_fn

    model = CNN(5, layers=4, seq_length=args.length, conv_impl=impl, rngs=nnx.Rngs(0))
    tx = make_optimizer(1e-3)
    graphdef, state = create_train_state(model, tx, jax.random.key(0))
    rng = np.random.default_rng([0, args.batch, args.length])
    batch = {
        "x": jnp.asarray(rng.normal(size=(args.batch, args.length, 2)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, 5, args.batch), jnp.int32),
        "weight": jnp.ones(args.batch, jnp.float32),
    }
    loss_fn = classifier_loss_fn("focal", alpha_K=jnp.ones(5), gamma=2.0)
    return graphdef, state, tx, loss_fn, batch


def bench_cnn_step(args) -> list[Case]:
    """CNN train step from a host loop, one case per convolution implementation."""
    import jax

    from jaxpelsvae.train.steps import make_train_step

    cases = []
    for impl in args.impl:
        graphdef, state, tx, loss_fn, batch = _cnn_setup(args, impl)
        step = make_train_step(graphdef, loss_fn, tx)
        t0 = time.perf_counter()
        compiled = step.lower(state, batch).compile()
        compile_s = time.perf_counter() - t0
        holder = {"state": state}
        for _ in range(2):  # warm-up
            holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

        def run(compiled=compiled, holder=holder, batch=batch):
            def loop():
                state = holder["state"]
                for _ in range(args.steps):
                    state, metrics = compiled(state, batch)
                jax.block_until_ready((state, metrics))
                holder["state"] = state

            return _timed(args.steps * args.batch, loop)

        cases.append(Case("cnn step, host loop", impl, run, {"compile_s": compile_s}))
    return cases


def bench_cnn_scan(args) -> list[Case]:
    """S = --scan-steps CNN steps in one lax.scan: rolled (unroll=1) and unrolled (unroll=S)."""
    import jax
    import jax.numpy as jnp

    from jaxpelsvae.train.steps import make_scan_steps, make_train_step

    cases = []
    s = args.scan_steps
    for impl in args.impl[:1] if args.quick else args.impl:  # quick: the first implementation only
        for unroll in (1, s):
            graphdef, state, tx, loss_fn, batch = _cnn_setup(args, impl)
            plain = make_train_step(graphdef, loss_fn, tx, jit=False)
            batches = jax.tree.map(lambda x: jnp.broadcast_to(x, (s,) + x.shape), batch)
            scan = make_scan_steps(plain, unroll=unroll)
            t0 = time.perf_counter()
            compiled = scan.lower(state, batches).compile()
            compile_s = time.perf_counter() - t0
            holder = {"state": state}
            holder["state"], metrics = compiled(holder["state"], batches)
            jax.block_until_ready(metrics)
            calls = max(1, args.steps // s)

            def run(compiled=compiled, holder=holder, batches=batches, calls=calls):
                def loop():
                    state = holder["state"]
                    for _ in range(calls):
                        state, metrics = compiled(state, batches)
                    jax.block_until_ready((state, metrics))
                    holder["state"] = state

                return _timed(calls * s * args.batch, loop)

            name = "rolled" if unroll == 1 else f"unroll={unroll}"
            cases.append(Case(f"cnn step, lax.scan over {s}", f"{impl}, {name}", run, {"compile_s": compile_s}))
    return cases


def bench_torch_cnn(args) -> list[Case]:
    """Eager PyTorch (CPU) train step of the same network, in a subprocess with .venv-torch's interpreter."""
    import jax

    if jax.default_backend() != "cpu":
        print(f"note: torch comparison skipped on backend {jax.default_backend()} (the torch venv is CPU-only)")
        return []
    if not Path(args.torch_python).exists():
        print(f"note: torch comparison skipped: {args.torch_python} not found (see this script's docstring)")
        return []
    cmd = [str(args.torch_python), str(Path(__file__).with_name("torch_cnn_step.py")), "--batch", str(args.batch),
           "--length", str(args.length), "--steps", str(args.steps), "--repeats", "1", "--threads", str(args.threads)]

    def run():
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        res = json.loads(out)
        run.version = res["torch"]
        return {"samples_per_s": res["samples_per_s"][0], "samples_per_cpu_s": res["samples_per_cpu_s"][0]}

    run()  # warm the file cache; also records the version
    return [Case("cnn step, eager PyTorch", f"torch {run.version}", run, {"compile_s": None})]


def bench_vae_step(args) -> list[Case]:
    """The PELS-VAE step (batch 128, 600 phases) from benchmarks/vae_step.py, measured once by that
    script's own loop (not interleaved); one case per samples/s metric, its compile time beside it."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import vae_step
    except ImportError as err:
        print(f"note: VAE step skipped: {err}")
        return []
    # vae_step.py's own step counts: a VAE step is ~100x a CNN step.
    metrics, _ = vae_step.bench_vae_step(quick=args.quick, impls=tuple(args.impl))
    compile_s = {m["name"].replace(" compile", ""): m["value"] for m in metrics if m["unit"] == "s"}
    cases = []
    for m in metrics:
        if m["unit"] != "samples/s":
            continue
        value = m["value"]
        cases.append(Case("VAE step (batch 128, 600 phases)", m["name"].removeprefix("VAE "),
                          lambda value=value: {"samples_per_s": value},
                          {"compile_s": compile_s.get(m["name"].replace(" host loop", ""))}))
    return cases


# name -> factory of cases; `--only` selects by name. Register new benchmarks here.
BENCHMARKS: dict[str, Callable[[argparse.Namespace], list[Case]]] = {
    "cnn": bench_cnn_step,
    "cnn_scan": bench_cnn_scan,
    "torch": bench_torch_cnn,
    "vae": bench_vae_step,
}
DEFAULT_ORDER = ("cnn", "torch", "cnn_scan", "vae")
# run_all.py times vae_step.py on its own in its quick suite, so --quick leaves the VAE out here.
QUICK_SKIP = ("vae",)


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few steps and rounds (sanity check, not a measurement)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {sorted(BENCHMARKS)} (default: all)")
    p.add_argument("--impl", default="einsum,xla", help="convolution implementations to compare")
    p.add_argument("--batch", type=int, default=125)
    p.add_argument("--length", type=int, default=300)
    p.add_argument("--steps", type=int, default=40, help="steps per timed round")
    p.add_argument("--scan-steps", type=int, default=10, help="steps inside one lax.scan call")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for XLA and torch (0: their defaults)")
    p.add_argument("--json", type=Path, default=None, help="write the result here (default benchmarks/results/)")
    p.add_argument("--torch-python", type=Path, default=TORCH_PYTHON,
                   help="interpreter with torch for the eager PyTorch reference (default .venv-torch's)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.scan_steps = 5, 2, 3
    args.impl = [s.strip() for s in args.impl.split(",") if s.strip()]
    if args.only is None:
        names = list(DEFAULT_ORDER) + [k for k in BENCHMARKS if k not in DEFAULT_ORDER]
        args.only = [k for k in names if not (args.quick and k in QUICK_SKIP)]
    else:
        args.only = [s.strip() for s in args.only.split(",")]
    return args


def _configure_threads(threads: int) -> None:
    # Must happen before JAX initialises its CPU backend.
    if threads > 0:
        flags = os.environ.get("XLA_FLAGS", "")
        if threads == 1:
            flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        else:
            flags += f" intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = flags.strip()


def main(argv=None) -> int:
    args = _parse(argv)
    _configure_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import jax

    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {sorted(BENCHMARKS)}")
    device = jax.devices()[0]
    machine = {
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "threads": args.threads or "default",
        "batch": args.batch,
        "length": args.length,
    }
    try:
        machine["loadavg_start"] = os.getloadavg()[0]
    except OSError:
        pass
    print(f"machine: {machine}", flush=True)
    cases: list[Case] = []
    for name in args.only:
        print(f"setting up {name} ...", flush=True)
        cases += BENCHMARKS[name](args)
    for r in range(args.rounds):
        for case in cases:
            case.rounds.append(case.run())
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{c.variant} {c.rounds[-1]['samples_per_s']:.0f}" for c in cases), flush=True)
    try:
        machine["loadavg_end"] = os.getloadavg()[0]
    except OSError:
        pass

    metrics = []
    for c in cases:
        wall = [x["samples_per_s"] for x in c.rounds]
        cpu = [x["samples_per_cpu_s"] for x in c.rounds if x.get("samples_per_cpu_s")]
        name = f"{c.benchmark} {c.variant}"
        metrics.append(benchlib.metric(name, max(wall), "samples/s", rounds=wall))  # best round
        metrics.append(benchlib.metric(f"{name}, median round", statistics.median(wall), "samples/s"))
        if cpu and machine["backend"] == "cpu":
            metrics.append(benchlib.metric(f"{name}, best per CPU-second", max(cpu), "samples/CPU-s"))
        if c.info.get("compile_s") is not None:
            metrics.append(benchlib.metric(f"{name}, compile", c.info["compile_s"], "s", "lower"))
    title = (f"{machine['backend']} ({machine['device']}, {machine['cpu_count']} CPUs, threads {machine['threads']}), "
             f"batch {args.batch}, L {args.length}, {args.rounds} interleaved rounds of {args.steps} steps")
    out = args.json or ROOT / "benchmarks" / "results" / f"train_step_{machine['backend']}.json"
    benchlib.report(out, "train_step", metrics, quick=args.quick, title=title, extra={"run": machine})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
