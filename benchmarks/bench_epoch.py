"""Benchmark: one self-regulated epoch (generate, synthetic and real passes, evaluation), timed by phase, profiled.

The epoch is assembled from the loop's own pieces (`jaxpelsvae.selfreg.loop`: `build_steps`,
`init_train_state`, `generate_set`, `train_pass`, `predict`; `selfreg.metrics`; `policies.update`;
`train.checkpoint.CheckpointStore`), in the order of `loop.train_classifier`, so that the host-side
time of each phase can be read off:

  generate       the generator's jitted program (priors -> latent -> decoder -> reverse fold ->
                 encode) and the copy of the synthetic set to the host (the loop keeps it there)
  synthetic pass `repetitions` shuffled passes of the masked synthetic step (batch 128)
  real pass      one shuffled pass of the masked real step (batch 125)
  evaluate       eval-mode forward passes over train, validation and synthetic sets + fetch
  host metrics   accuracy, macro-F1, ROC-AUC, confusion on the host (numpy), three splits
  policy+ckpt    `policies.update` and the epoch checkpoint (orbax, waited for)

The generator is fitted on the simulated training split with an untrained VAE of the original's
size (speed does not depend on training) and the MLP latent model (one jitted program). Epoch 0
compiles everything and is reported separately; the next epochs are timed (regenerating every
epoch, so that generation is always measured). ``--profile DIR`` records the last timed epoch with
`jax.profiler.trace` (TensorBoard / Perfetto trace in DIR) and prints the top events by total time.

    .venv/bin/python benchmarks/bench_epoch.py --quick [--json out.json] [--profile /tmp/epoch_trace]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

PHASES = ("generate", "synthetic pass", "real pass", "evaluate", "host metrics", "policy+ckpt")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.parse_common(p, "epoch")
    p.add_argument("--stars-per-class", type=int, default=600, help="simulated stars per class (full run)")
    p.add_argument("--synthetic-per-class", type=int, default=64, help="synthetic_samples_by_class")
    p.add_argument("--oversampling", type=int, default=10, help="n_oversampling (curves per requested sample)")
    p.add_argument("--seq-length", type=int, default=300, help="L of the encoding")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs after the compiling epoch 0")
    p.add_argument("--cadence", default="ogle", choices=("ogle", "gaia"))
    p.add_argument("--profile", type=Path, default=None, help="jax.profiler trace of the last epoch into DIR")
    p.add_argument("--no-checkpoint", action="store_true", help="skip the per-epoch orbax checkpoint")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.stars_per_class, args.oversampling, args.epochs = 80, 2, 1
    return args


class Setup:
    """Everything built before the first epoch (not timed as part of an epoch)."""

    def __init__(self, args):
        import jax
        import numpy as np

        from jaxpelsvae.selfreg import policies
        from jaxpelsvae.train import classifier
        from jaxpelsvae.selfreg.state import RegulatorConfig
        from jaxpelsvae.simulate.survey import CLASSES, simulate_survey
        from jaxpelsvae.train.losses import class_weights_alpha

        t0 = time.perf_counter()
        counts = {c: args.stars_per_class for c in CLASSES}
        lcs = simulate_survey(counts, cadence=args.cadence, seed=args.seed)
        self.train_lcs, val_lcs, _ = lcs.split((0.7, 0.15, 0.15), seed=args.seed)
        self.t_simulate = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.generator = benchlib.make_generator(self.train_lcs, seq_length=args.seq_length, seed=args.seed)
        self.t_fit = time.perf_counter() - t0
        self.fit_seconds = self.generator.report.get("seconds", {})
        self.classes = tuple(self.train_lcs.classes)
        reg = RegulatorConfig(synthetic_samples_by_class=args.synthetic_per_class, n_oversampling=args.oversampling,
                              epochs=10_000, patience=10_000)
        self.config = classifier.TrainConfig(mode="selfreg", seq_length=args.seq_length, regulator=reg)
        t0 = time.perf_counter()
        self.enc_train = classifier.encode_split(self.train_lcs, self.classes, self.config, args.seed, 11)
        self.enc_val = classifier.encode_split(val_lcs, self.classes, self.config, args.seed, 12)
        self.t_encode = time.perf_counter() - t0
        k = len(self.classes)
        alpha = class_weights_alpha(np.concatenate([self.enc_train.y_N, self.enc_val.y_N]), k)
        self.steps = classifier.build_steps(k, self.config, alpha)
        self.state = classifier.init_train_state(k, self.config, self.steps, args.seed)
        self.regulator, _ = policies.init(reg, k, selfreg=True)
        self.counts = self.regulator.pending_counts
        self.gen_key = jax.random.fold_in(jax.random.key(args.seed), 2)


def run_epoch(s: Setup, epoch: int, seed: int, store=None) -> dict[str, float]:
    """One self-regulated epoch on ``s`` (mutates its state and regulator); seconds per phase."""
    import jax
    import numpy as np

    from jaxpelsvae.selfreg import policies
    from jaxpelsvae.selfreg.synthetic import generate_set
    from jaxpelsvae.train import batching, classifier
    from jaxpelsvae.selfreg.metrics import classification_metrics

    rcfg = s.config.regulator
    t = {}
    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("generate"):
        synthetic = generate_set(s.generator, jax.random.fold_in(s.gen_key, epoch), s.counts,
                                      s.regulator.temperature, s.classes, s.config.seq_length,
                                      rcfg.n_oversampling)
    t["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    state = s.state
    with jax.profiler.TraceAnnotation("synthetic pass"):
        for r in range(rcfg.repetitions):
            rng = np.random.default_rng([seed, epoch, 1 + r])
            state, _ = batching.train_pass(s.steps.train_synthetic, state, synthetic.arrays, s.config.synthetic_batch_size, rng)
        jax.block_until_ready(state)
    t["synthetic pass"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("real pass"):
        rng = np.random.default_rng([seed, epoch, 0])
        state, real_loss = batching.train_pass(s.steps.train_real, state, s.enc_train.arrays, s.config.batch_size, rng)
        jax.block_until_ready(state)
    t["real pass"] = time.perf_counter() - t0
    s.state = state

    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("evaluate"):
        preds = {name: classifier.predict(s.steps.evaluate, state, data, s.config.eval_batch_size)
                 for name, data in (("train", s.enc_train), ("val", s.enc_val), ("synthetic", synthetic))}
    t["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("host metrics"):
        data = {"train": s.enc_train, "val": s.enc_val, "synthetic": synthetic}
        m = {name: classification_metrics(data[name].y_N, np.exp(logp.astype(np.float64)), s.classes, loss=loss)
             for name, (logp, loss) in preds.items()}
    t["host metrics"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("policy+ckpt"):
        report = policies.EpochReport(epoch=epoch, val_loss=m["val"]["loss"],
                                      train_confusion_KK=np.asarray(m["train"]["confusion"]),
                                      synthetic_accuracy=m["synthetic"]["accuracy"],
                                      record={"train_step_loss": float(real_loss)})
        s.regulator, _ = policies.update(s.regulator, report, rcfg)
        # The benchmark regenerates every epoch with the first epoch's counts: a steady state. (In
        # the loop a new total, rounded up to the generator's capacity_multiple, compiles the
        # generator's program again; see benchmarks/README.md.)
        if store is not None:
            store.save(epoch, {"state": state}, s.regulator.to_dict(), force=True)
            store.wait_until_finished()
    t["policy+ckpt"] = time.perf_counter() - t0
    t["total"] = sum(t[p] for p in PHASES)
    t["n_synthetic"] = len(synthetic.y_N)
    return t


def top_trace_events(trace_dir: Path, n: int = 12) -> dict[str, list[tuple[str, float, int]]]:
    """The costliest events of the Perfetto trace in ``trace_dir``: {group: [(name, total ms, count)]}.

    groups: "phases" (the epoch's annotations), "jit calls" (host time of each jitted function call,
    PjitFunction(...): dispatch, the work runs asynchronously), "xla programs" / "xla ops" (thunk
    time on XLA's threads per compiled program / per fused op), "compile" (XLA compilation inside
    the epoch; empty in a steady epoch).
    """
    files = sorted(trace_dir.rglob("perfetto_trace.json.gz"))
    if not files:
        return {}
    with gzip.open(files[-1], "rt") as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    groups: dict[str, tuple[defaultdict, defaultdict]] = {
        g: (defaultdict(float), defaultdict(int)) for g in ("phases", "jit calls", "xla programs", "xla ops",
                                                            "compile")}

    def add(group, name, ms):
        total, count = groups[group]
        total[name] += ms
        count[name] += 1

    for e in events:
        if e.get("ph") != "X" or "dur" not in e:
            continue
        name, ms = e.get("name", "?"), float(e["dur"]) / 1e3
        module = (e.get("args") or {}).get("hlo_module")
        if name in PHASES:
            add("phases", name, ms)
        elif name.startswith("PjitFunction("):
            add("jit calls", name, ms)
        elif name in ("backend_compile_and_load", "backend_compile"):
            add("compile", name, ms)
        elif module and not name.startswith(("ThunkExecutor", "$")):
            # XLA thunks on the worker threads: summed per program and per (program, op); ops of
            # one program may run on several threads at once, so sums can exceed the wall time.
            add("xla programs", module, ms)
            add("xla ops", f"{module}/{name}", ms)
    return {g: [(k, total[k], count[k]) for k in sorted(total, key=total.get, reverse=True)[:n]]
            for g, (total, count) in groups.items()}


def hlo_op_names(s: Setup, counts) -> dict[str, dict[str, str]]:
    """{hlo module: {fused op: the JAX op it came from (metadata op_name)}} for the generator's
    program and the synthetic train step (compiled once more, for their optimised HLO text)."""
    import re

    import jax
    import jax.numpy as jnp
    import numpy as np

    texts = []
    gen = s.generator
    for cap, progs in list(gen._compiled.items()):  # noqa: SLF001 - the programs behind `generate`
        if len(progs) == 1:
            c = np.minimum(np.asarray(counts, np.int32), cap // max(len(counts), 1))
            texts.append(progs[0].lower(gen._consts(), jax.random.key(0), jnp.asarray(c),  # noqa: SLF001
                                        jnp.float32(1.0)).compile().as_text())
    b = s.config.synthetic_batch_size
    batch = {"x": np.zeros((b, s.config.seq_length, 2), np.float32), "y": np.zeros(b, np.int32),
             "weight": np.ones(b, np.float32)}
    texts.append(s.steps.train_synthetic.lower(s.state, batch).compile().as_text())
    out: dict[str, dict[str, str]] = {}
    pattern = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{op_name=\"([^\"]+)\"")
    for text in texts:
        head = re.match(r"HloModule ([\w.\-]+)", text)
        module = head.group(1) if head else "?"
        ops = out.setdefault(module, {})
        for line in text.splitlines():
            m = pattern.match(line)
            if m:
                ops.setdefault(m.group(1), m.group(2))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    t_start = time.perf_counter()
    s = Setup(args)
    print(f"set-up: simulate {s.t_simulate:.1f} s, fit generator {s.t_fit:.1f} s, encode {s.t_encode:.1f} s; "
          f"{len(s.enc_train.y_N)} training curves, {len(s.enc_val.y_N)} validation, L={args.seq_length}, "
          f"device {jax.devices()[0]}; fit: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.fit_seconds.items()))
    from jaxpelsvae.train.checkpoint import CheckpointStore

    with tempfile.TemporaryDirectory() as tmp:
        store = None if args.no_checkpoint else CheckpointStore(Path(tmp) / "ckpt", max_to_keep=2)
        epochs = []
        try:
            for e in range(args.epochs + 1):
                last = e == args.epochs
                if last and args.profile is not None and e > 0:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    with jax.profiler.trace(str(args.profile), create_perfetto_trace=True):
                        epochs.append(run_epoch(s, e, args.seed, store))
                else:
                    epochs.append(run_epoch(s, e, args.seed, store))
                print(f"epoch {e}: " + ", ".join(f"{p} {epochs[-1][p]:.2f} s" for p in PHASES)
                      + f"; total {epochs[-1]['total']:.2f} s ({epochs[-1]['n_synthetic']} synthetic curves)")
        finally:
            if store is not None:
                store.close()

    first, timed = epochs[0], epochs[1:] or epochs
    import numpy as np

    mean = {p: float(np.median([ep[p] for ep in timed])) for p in (*PHASES, "total")}
    n_syn = int(np.median([ep["n_synthetic"] for ep in timed]))
    n_train = len(s.enc_train.y_N)
    metrics = [benchlib.metric("epoch (steady, median)", mean["total"], "s", "lower"),
               benchlib.metric("epoch 0 (incl. compilation)", first["total"], "s", "lower")]
    metrics += [benchlib.metric(f"phase: {p}", mean[p], "s", "lower") for p in PHASES]
    train_time = mean["synthetic pass"] + mean["real pass"]
    metrics.append(benchlib.metric("training samples/s (both passes)",
                                   (n_syn * s.config.regulator.repetitions + n_train) / train_time, "samples/s"))
    metrics.append(benchlib.metric("synthetic curves/s (generate)", n_syn / mean["generate"], "curves/s"))
    extra = {"train_curves": n_train, "val_curves": len(s.enc_val.y_N), "synthetic_curves": n_syn,
             "seq_length": args.seq_length, "cadence": args.cadence, "epochs": epochs,
             "setup_s": {"simulate": s.t_simulate, "fit_generator": s.t_fit, "encode": s.t_encode},
             "wall_s": time.perf_counter() - t_start}
    share = {p: mean[p] / mean["total"] for p in PHASES}
    print("\nshare of the steady epoch: " + ", ".join(f"{p} {100 * share[p]:.0f} %"
                                                      for p in sorted(PHASES, key=share.get, reverse=True)))
    if args.profile is not None:
        top = top_trace_events(args.profile)
        try:
            names = hlo_op_names(s, s.counts)
        except Exception as exc:  # noqa: BLE001 - naming the ops is a nicety
            print(f"(could not name the XLA ops: {exc})")
            names = {}
        top["xla ops"] = [(f"{op} [{names.get(op.split('/', 1)[0], {}).get(op.split('/', 1)[-1], '?')}]", ms, c)
                          for op, ms, c in top.get("xla ops", [])]
        extra["profile_dir"] = str(args.profile)
        extra["profile_top"] = {g: [{"name": n, "ms": ms, "count": c} for n, ms, c in rows]
                                for g, rows in top.items()}
        print(f"\ntop events of the profiled epoch ({args.profile}):")
        print("| group | event | total ms | count |\n|---|---|---:|---:|")
        for group, rows in top.items():
            for name, ms, c in rows:
                print(f"| {group} | {name[:160]} | {ms:.1f} | {c} |")
    benchlib.print_metrics(f"self-regulated epoch ({n_train} real + {n_syn} synthetic curves, L={args.seq_length})",
                           metrics)
    benchlib.write_result(args.json, "epoch", metrics, quick=args.quick, extra=extra)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
