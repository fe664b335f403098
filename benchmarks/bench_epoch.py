"""Benchmark: one self-regulated epoch, today's per-step loop against the compiled epoch, timed by phase.

The epoch is the library's (`selfreg.epoch`, the one `train_classifier` drives): its parts
`generate_requested`, `epoch_passes` + `train_passes`, `evaluate` and `close_epoch` are called in
the order of `selfreg.epoch.run_epoch` and timed one by one (the programs of `prepare_epochs`'s
steps wrapped to count their launches; the passes and evaluation programs waited for), once per
path on the same data, generator and seed (`TrainConfig.compiled_epoch`):

  per-step   one jitted step a batch driven from Python, the batch gathered on the host
             (`batching.train_pass`), one jitted eval step a batch (`classifier.predict`);
  compiled   the sets on the device (uploaded once; the synthetic set at each generation, padded
             to the rows of the largest set the policy can ask for), one program a training pass
             (`lax.scan` over the epoch's index array, state donated) and one program a set's
             evaluation (`evaluate_set`).

Phases:
  generate       the generator's jitted program and the synthetic set (+ its upload, compiled path)
  synthetic pass `repetitions` shuffled passes of the masked synthetic step
  real pass      one shuffled pass of the masked real step
  evaluate       the eval-mode programs over train, validation and synthetic sets
  host metrics   their fetch and accuracy, macro-F1, ROC-AUC, confusion on the host (numpy), three splits
  policy+ckpt    `close_epoch` (the epoch's record, `policies.update`) and the epoch checkpoint (orbax,
                 waited for)

Both paths read the same batch order, so they end with the same parameters within float
tolerance (printed). Reported per path: the steady epoch (median over the epochs after the
compiling epoch 0), the ratio per-step / compiled, and the host dispatches per epoch (calls of
compiled programs made by the epoch). ``--demo`` sizes the data like `jaxpelsvae demo` (small
preset: batch 64, 32 synthetic curves per class; its survey's counts). ``--profile DIR`` records
the last timed epoch of the compiled path with `jax.profiler.trace` and prints the top events.

    .venv/bin/python benchmarks/bench_epoch.py --quick [--json out.json] [--profile /tmp/epoch_trace]
    .venv/bin/python benchmarks/bench_epoch.py --demo --epochs 3
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
PATHS = ("per-step", "compiled")
# `jaxpelsvae demo`'s survey (cli/demo.py DEMO_COUNTS) and the small preset's classifier settings.
from jaxpelsvae.cli.demo import DEMO_COUNTS  # noqa: E402


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
    p.add_argument("--batch-size", type=int, default=125, help="real batch size (the demo's: 64)")
    p.add_argument("--demo", action="store_true", help="the demo's survey counts and small-preset settings")
    p.add_argument("--paths", default=None,
                   help=f"comma-separated paths to time (default: {','.join(PATHS)}; with --quick: compiled)")
    p.add_argument("--selfreg-seeds", default=None, metavar="S,S,...",
                   help="instead: time S self-regulated seeds as one vmapped program against S sequential runs "
                        "on a tiny configuration (L 64, 2 layers, 40 stars per class), e.g. 1,2,4")
    args = p.parse_args(argv)
    if args.quick:
        args.stars_per_class, args.oversampling, args.epochs = 80, 2, 1
    if args.demo:
        args.batch_size, args.synthetic_per_class = 64, 32
    # --quick stays within run_all.py's budget: the compiled path alone unless --paths asks for both.
    paths = args.paths or ("compiled" if args.quick else ",".join(PATHS))
    args.paths = tuple(x.strip() for x in paths.split(",") if x.strip())
    if not set(args.paths) <= set(PATHS):
        p.error(f"--paths: unknown path in {args.paths}; expected {PATHS}")
    return args


class Setup:
    """Everything built before the first epoch (not timed as part of an epoch): the encoded splits,
    the steps, the generator; `start` then prepares one path."""

    def __init__(self, train_lcs, val_lcs, generator, config, seed: int = 0):
        import numpy as np

        from jaxpelsvae.train import classifier
        from jaxpelsvae.train.losses import class_weights_alpha

        self.generator, self.config, self.seed = generator, config, seed
        self.classes = tuple(train_lcs.classes)
        t0 = time.perf_counter()
        self.enc_train = classifier.encode_split(train_lcs, self.classes, config, seed, 11)
        self.enc_val = classifier.encode_split(val_lcs, self.classes, config, seed, 12)
        self.t_encode = time.perf_counter() - t0
        self.k = len(self.classes)
        alpha = class_weights_alpha(np.concatenate([self.enc_train.y_N, self.enc_val.y_N]), self.k)
        self.steps = classifier.build_steps(self.k, config, alpha)
        self.start("per-step")

    @classmethod
    def from_args(cls, args) -> "Setup":
        """The simulated survey, the generator and the configuration of the command line."""
        from jaxpelsvae.selfreg.state import RegulatorConfig
        from jaxpelsvae.simulate.survey import CLASSES, simulate_survey
        from jaxpelsvae.train.classifier import TrainConfig

        t0 = time.perf_counter()
        counts = dict(DEMO_COUNTS) if args.demo else {c: args.stars_per_class for c in CLASSES}
        lcs = simulate_survey(counts, cadence=args.cadence, seed=args.seed)
        train_lcs, val_lcs, _ = lcs.split((0.7, 0.15, 0.15), seed=args.seed)
        t_simulate = time.perf_counter() - t0
        t0 = time.perf_counter()
        generator = benchlib.make_generator(train_lcs, seq_length=args.seq_length, seed=args.seed)
        t_fit = time.perf_counter() - t0
        reg = RegulatorConfig(synthetic_samples_by_class=args.synthetic_per_class, n_oversampling=args.oversampling,
                              epochs=10_000, patience=10_000)
        config = TrainConfig(mode="selfreg", seq_length=args.seq_length, regulator=reg, batch_size=args.batch_size)
        s = cls(train_lcs, val_lcs, generator, config, args.seed)
        s.t_simulate, s.t_fit, s.fit_seconds = t_simulate, t_fit, generator.report.get("seconds", {})
        return s

    def start(self, path: str) -> None:
        """A fresh state and regulator for timing ``path`` (the same initial parameters each time), and
        the library's epoch set-up (`prepare_epochs`) on that path, its programs counted and timed."""
        import dataclasses

        from jaxpelsvae.selfreg import policies
        from jaxpelsvae.selfreg.epoch import prepare_epochs
        from jaxpelsvae.train import classifier

        self.path = path
        self.state = classifier.init_train_state(self.k, self.config, self.steps, self.seed)
        self.regulator, _ = policies.init(self.config.regulator, self.k, selfreg=True)
        self.counts = self.regulator.pending_counts
        self.dispatches, self.times = 0, defaultdict(float)
        steps = self.steps
        # Every program launch counted; the evaluation programs also waited for, so that "evaluate"
        # (the programs) and "host metrics" (what the library does with their outputs) split exactly.
        counted = steps._replace(**{name: self.count(getattr(steps, name))
                                    for name in ("train_real", "train_synthetic", "real_pass", "synthetic_pass")},
                                 **{name: self.timed(self.count(getattr(steps, name)), "evaluate")
                                    for name in ("evaluate", "evaluate_pass")})
        config = dataclasses.replace(self.config, compiled_epoch=path == "compiled")
        self.setup = prepare_epochs(config, self.classes, self.enc_train, self.enc_val, self.seed,
                                    generator=self.generator, steps=counted)

    def count(self, fn):
        """``fn`` counting its calls into ``self.dispatches`` (the host's program launches)."""
        def counted(*args):
            self.dispatches += 1
            return fn(*args)

        return counted

    def timed(self, fn, phase: str):
        """``fn`` waited for and its seconds added to ``self.times[phase]``, under a trace annotation."""
        import jax

        def run(*args):
            t0 = time.perf_counter()
            with jax.profiler.TraceAnnotation(phase):
                out = jax.block_until_ready(fn(*args))
            self.times[phase] += time.perf_counter() - t0
            return out

        return run


def run_epoch(s: Setup, store=None) -> dict[str, float]:
    """One self-regulated epoch of the library (`selfreg.epoch`'s parts, as `run_epoch` calls them) on
    ``s`` along ``s.path`` (mutates its state and regulator); seconds per phase and the epoch's
    program launches."""
    import jax

    from jaxpelsvae.selfreg.epoch import Split, close_epoch, epoch_passes, evaluate, generate_requested, train_passes

    setup = s.setup
    config = setup.config
    s.dispatches, s.times = 0, defaultdict(float)
    t = {}
    epoch = s.regulator.epoch
    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("generate"):
        # Regenerated every epoch with the first epoch's counts: a steady state. (In the loop a new
        # total, rounded up to the generator's capacity_multiple, compiles the generator's program
        # again; see benchmarks/README.md.)
        regulator = s.regulator.replace(pending_counts=s.counts)
        regulator, new_set, temperature = generate_requested(setup.generator, setup.gen_key, regulator, setup.classes,
                                                             config, setup.capacity, setup.period_config)
        synthetic = Split.of(new_set, config.compiled_epoch, bucket=setup.syn_rows)
        jax.block_until_ready(synthetic.device)
    t["generate"] = time.perf_counter() - t0

    p = epoch_passes(setup, synthetic, setup.train, epoch)
    state, syn_loss, real_loss = train_passes(s.timed(p.synthetic_pass, "synthetic pass"),
                                              s.timed(p.real_pass, "real pass"), s.state, p.synthetic_data,
                                              p.synthetic_orders, p.real_data, p.real_order)
    s.state = state
    t["synthetic pass"], t["real pass"] = s.times["synthetic pass"], s.times["real pass"]

    t0 = time.perf_counter()
    metrics = {"train": evaluate(setup, state, setup.train), "val": evaluate(setup, state, setup.val),
               "synthetic": evaluate(setup, state, synthetic)}
    t["evaluate"] = s.times["evaluate"]
    t["host metrics"] = time.perf_counter() - t0 - t["evaluate"]

    t0 = time.perf_counter()
    with jax.profiler.TraceAnnotation("policy+ckpt"):
        s.regulator, _ = close_epoch(config.regulator, regulator, metrics, real_loss, syn_loss, regenerated=True,
                                     temperature_used=temperature,
                                     wall_s={"generate": t["generate"], "train": t["synthetic pass"] + t["real pass"],
                                             "evaluate": t["evaluate"] + t["host metrics"]})
        if store is not None:
            store.save(epoch, {"state": state}, s.regulator.to_dict(), force=True)
            store.wait_until_finished()
    t["policy+ckpt"] = time.perf_counter() - t0
    t["total"] = sum(t[p] for p in PHASES)
    t["n_synthetic"] = synthetic.host.y_N.shape[0]
    t["dispatches"] = s.dispatches
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
    gen = s.setup.generator
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


def seeds_table(args) -> int:
    """Steady seconds per epoch of S self-regulated seeds: sequential `train_classifier` runs (sum
    over seeds) against one vmapped program (`experiments.repetitions.train_selfreg_seeds`)."""
    import dataclasses

    import numpy as np

    from jaxpelsvae.experiments.repetitions import train_selfreg_seeds
    from jaxpelsvae.selfreg.loop import train_classifier
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.simulate.survey import CLASSES, simulate_survey
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import TrainConfig, encode_split

    sizes = [int(x) for x in args.selfreg_seeds.split(",")]
    length, epochs = 64, max(args.epochs, 3)
    lcs = simulate_survey({c: 40 for c in CLASSES}, cadence="gaia", seed=args.seed)
    parts = lcs.split((0.6, 0.2, 0.2), seed=args.seed)
    classes = tuple(parts[0].classes)
    generator = benchlib.make_generator(parts[0], seq_length=length, full_size=False, capacity_multiple=32,
                                        donor_max_len=128, seed=args.seed)
    reg = RegulatorConfig(synthetic_samples_by_class=8, n_oversampling=2, epochs=epochs, patience=10_000,
                          max_synthetic_age=10_000, threshold_acc_synthetic=1.0)
    cfg = TrainConfig(mode="selfreg", seq_length=length, layers=2, learning_rate=3e-3, batch_size=32,
                      synthetic_batch_size=32, eval_batch_size=128, regulator=reg)
    encoded = tuple(encode_split(s, classes, cfg, args.seed, ENCODE_STREAMS[name])
                    for name, s in zip(("train", "val", "test"), parts))
    rows, metrics = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            seeds = list(range(count))
            seq = 0.0
            for s in seeds:
                run = train_classifier(None, None, None, dataclasses.replace(cfg, checkpoint_every=10_000),
                                       generator=generator, workdir=Path(tmp) / f"{count}-{s}", seed=s,
                                       progress=False, encoded=encoded, classes=classes)
                walls = [sum(h["wall_s"].values()) for h in run.regulator.history]
                seq += float(np.median(walls[1:]))
            vm = float(np.median(train_selfreg_seeds(encoded, classes, generator, seeds, cfg)[0].epoch_seconds[1:]))
            rows.append((count, seq, vm))
            metrics += [benchlib.metric(f"S={count}: epoch, sequential", seq, "s", "lower"),
                        benchlib.metric(f"S={count}: epoch, vmapped", vm, "s", "lower"),
                        benchlib.metric(f"S={count}: speed-up", seq / vm, "x")]
    print(f"self-regulated seeds, {len(encoded[0].y_N)} training curves, L={length}, {epochs} epochs "
          "(steady: median of the epochs after the first)")
    print("| seeds S | sequential s/epoch | vmapped s/epoch | speed-up |\n|---:|---:|---:|---:|")
    for count, seq, vm in rows:
        print(f"| {count} | {seq:.3f} | {vm:.3f} | {seq / vm:.2f} |")
    benchlib.write_result(args.json, "epoch_selfreg_seeds", metrics, quick=args.quick,
                          extra={"rows": rows, "train_curves": len(encoded[0].y_N), "seq_length": length})
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.selfreg_seeds:
        return seeds_table(args)
    import jax

    t_start = time.perf_counter()
    s = Setup.from_args(args)
    print(f"set-up: simulate {s.t_simulate:.1f} s, fit generator {s.t_fit:.1f} s, encode {s.t_encode:.1f} s; "
          f"{len(s.enc_train.y_N)} training curves, {len(s.enc_val.y_N)} validation, L={args.seq_length}, "
          f"device {jax.devices()[0]}; fit: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.fit_seconds.items()))
    from jaxpelsvae.train.checkpoint import CheckpointStore

    runs, finals = {}, {}
    for path in args.paths:
        s.start(path)
        with tempfile.TemporaryDirectory() as tmp:
            store = None if args.no_checkpoint else CheckpointStore(Path(tmp) / "ckpt", max_to_keep=2)
            epochs = []
            try:
                for e in range(args.epochs + 1):
                    profile = (e == args.epochs and e > 0 and args.profile is not None and path == args.paths[-1])
                    if profile:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        with jax.profiler.trace(str(args.profile), create_perfetto_trace=True):
                            epochs.append(run_epoch(s, store))
                    else:
                        epochs.append(run_epoch(s, store))
                    print(f"{path} epoch {e}: " + ", ".join(f"{p} {epochs[-1][p]:.2f} s" for p in PHASES)
                          + f"; total {epochs[-1]['total']:.2f} s ({epochs[-1]['n_synthetic']} synthetic curves, "
                          f"{epochs[-1]['dispatches']} dispatches)")
            finally:
                if store is not None:
                    store.close()
        runs[path] = epochs
        finals[path] = jax.device_get((s.state.params, s.state.rest))

    import numpy as np

    def steady(epochs):
        timed = epochs[1:] or epochs
        return {p: float(np.median([ep[p] for ep in timed])) for p in (*PHASES, "total", "dispatches")}

    med = {path: steady(epochs) for path, epochs in runs.items()}
    main_path = "compiled" if "compiled" in runs else args.paths[0]
    mean, first, timed = med[main_path], runs[main_path][0], runs[main_path][1:] or runs[main_path]
    n_syn = int(np.median([ep["n_synthetic"] for ep in timed]))
    n_train = len(s.enc_train.y_N)
    metrics = [benchlib.metric("epoch (steady, median)", mean["total"], "s", "lower", path=main_path),
               benchlib.metric("epoch 0 (incl. compilation)", first["total"], "s", "lower", path=main_path)]
    metrics += [benchlib.metric(f"phase: {p}", mean[p], "s", "lower", path=main_path) for p in PHASES]
    train_time = mean["synthetic pass"] + mean["real pass"]
    metrics.append(benchlib.metric("training samples/s (both passes)",
                                   (n_syn * s.config.regulator.repetitions + n_train) / train_time, "samples/s"))
    metrics.append(benchlib.metric("synthetic curves/s (generate)", n_syn / mean["generate"], "curves/s"))
    for path in runs:
        metrics.append(benchlib.metric(f"{path}: epoch (steady, median)", med[path]["total"], "s", "lower"))
        metrics.append(benchlib.metric(f"{path}: train + evaluate (steady)", sum(
            med[path][p] for p in ("synthetic pass", "real pass", "evaluate")), "s", "lower"))
        metrics.append(benchlib.metric(f"{path}: epoch 0 (incl. compilation)", runs[path][0]["total"], "s", "lower"))
        metrics.append(benchlib.metric(f"{path}: dispatches per epoch", med[path]["dispatches"], "calls", "lower"))
    if set(PATHS) <= set(runs):
        ratio = med["per-step"]["total"] / med["compiled"]["total"]
        passes = ("synthetic pass", "real pass", "evaluate")
        ratio_passes = sum(med["per-step"][p] for p in passes) / sum(med["compiled"][p] for p in passes)
        metrics.append(benchlib.metric("speed-up of the compiled epoch (per-step / compiled)", ratio, "x"))
        metrics.append(benchlib.metric("speed-up of its passes (train + evaluate)", ratio_passes, "x"))
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                   for a, b in zip(jax.tree.leaves(finals["per-step"]), jax.tree.leaves(finals["compiled"])))
        print(f"\nlargest parameter difference between the paths after {args.epochs + 1} epochs: {diff:.3g}")
        print("| path | epoch (steady) s | train + evaluate s | epoch 0 s | dispatches / epoch |\n|---|---:|---:|---:|---:|")
        for path in runs:
            print(f"| {path} | {med[path]['total']:.3f} | {sum(med[path][p] for p in passes):.3f} | "
                  f"{runs[path][0]['total']:.1f} | {med[path]['dispatches']:.0f} |")
        print(f"ratio per-step / compiled: epoch {ratio:.2f}, passes {ratio_passes:.2f}")
    extra = {"train_curves": n_train, "val_curves": len(s.enc_val.y_N), "synthetic_curves": n_syn,
             "seq_length": args.seq_length, "cadence": args.cadence, "epochs": runs,
             "batch_size": args.batch_size, "demo": args.demo,
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
