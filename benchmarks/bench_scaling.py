"""Benchmark: how cost grows with the number of stars, the length L and the batch size (log-log slopes, figures).

Curves (each point after a warm-up call, so compilation is excluded; every point that needs a new
shape compiles once before it is timed):
  simulate_stars   `simulate_survey(n_stars=N)` (host numpy), N = 1e3 ... 1e6
  synth_stars      `Generator.generate` of N curves in chunks of a fixed capacity (one program;
                   1,024, or 512 with --quick)
  encode_stars     `encode_batch` of N padded curves (T = 1024 observations), in calls of at most
                   65,536 curves (all calls run)
  cnn_step_L       one training step of the original CNN (batch 125) against L
  encode_L         `encode_batch` of 4,096 curves against L
  cnn_step_batch   one training step (L = 300) against the batch size B
  synth_batch      generating 8,192 curves (2,048 with --quick) with capacity (batch) B per call
Each curve gets a least-squares slope of log(seconds) on log(size): 1 is linear, < 1 means fixed
costs (dispatch, launch, an idle accelerator) still dominate. A size whose estimated memory would
exceed 40 % of the available memory is skipped (and said so). One PNG per curve goes into
``--figures`` (default benchmarks/figures).

    .venv/bin/python benchmarks/bench_scaling.py --quick [--json out.json] [--only cnn_step_L,encode_L]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

CURVES = ("simulate_stars", "synth_stars", "encode_stars", "cnn_step_L", "encode_L", "cnn_step_batch", "synth_batch")
QUICK = {
    "simulate_stars": [1_000, 3_000, 10_000],
    "synth_stars": [512, 1_024, 2_048],
    "encode_stars": [1_000, 10_000, 100_000],
    "cnn_step_L": [100, 300, 600],
    "encode_L": [100, 300, 600],
    "cnn_step_batch": [32, 125, 512],
    "synth_batch": [128, 512, 2_048],
}
FULL = {
    "simulate_stars": [1_000, 10_000, 100_000, 1_000_000],
    "synth_stars": [1_024, 10_240, 102_400, 1_024_000],
    "encode_stars": [1_000, 10_000, 100_000, 1_000_000],
    "cnn_step_L": [100, 200, 300, 600, 1_000],
    "encode_L": [100, 200, 300, 600, 1_000],
    "cnn_step_batch": [32, 64, 125, 256, 512, 1_024],
    "synth_batch": [128, 512, 2_048, 8_192],
}
UNITS = {"simulate_stars": "stars", "synth_stars": "curves", "encode_stars": "curves", "cnn_step_L": "L",
         "encode_L": "L", "cnn_step_batch": "batch size", "synth_batch": "curves per call"}
T_OBS = 1024  # padded observations per curve for the encoder curves
ENCODE_CHUNK = 65_536
SYNTH_CHUNK = {True: 512, False: 1_024}  # generator capacity of the synth_stars curve (quick, full)
SYNTH_BATCH_TOTAL = {True: 2_048, False: 8_192}  # curves generated per point of synth_batch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.parse_common(p, "scaling")
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(CURVES)}")
    p.add_argument("--figures", default=str(Path(__file__).resolve().parent / "figures"),
                   help="folder of the PNG figures ('' for none)")
    p.add_argument("--label", default=None, help="device label in figure titles (default: the JAX backend)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="skip the remaining larger sizes of a curve once one point took longer than this")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per point (best is kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replot", nargs="+", type=Path, default=None, metavar="JSON",
                   help="only redraw the figures from earlier --json results (no measurement)")
    return p.parse_args(argv)


def fits_in_memory(bytes_needed: float) -> bool:
    avail = benchlib.mem_available_bytes()
    return avail is None or bytes_needed < 0.4 * avail


def slope(sizes, seconds) -> float | None:
    """Least-squares slope of log(seconds) against log(size) (None with fewer than 2 points)."""
    import numpy as np

    pts = [(s, t) for s, t in zip(sizes, seconds) if t is not None and t > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


# ------------------------------------------------------------------------------------ the fixtures


class Fixtures:
    """Lazily built shared inputs: a generator (full-size untrained VAE), CNN steps per (L, B)."""

    def __init__(self, args):
        self.args = args
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            from jaxpelsvae.simulate.survey import CLASSES, simulate_survey

            t0 = time.perf_counter()
            lcs = simulate_survey({c: 40 for c in CLASSES}, cadence="ogle", seed=self.args.seed)
            self._generator = benchlib.make_generator(lcs, seq_length=300, capacity_multiple=128,
                                                      seed=self.args.seed)
            print(f"  (generator fitted in {time.perf_counter() - t0:.1f} s)", flush=True)
        return self._generator

    def cnn_step(self, seq_length: int, batch: int):
        """(step, state, device batch) for the original CNN with L = seq_length, B = batch."""
        import jax
        import numpy as np
        from flax import nnx

        from jaxpelsvae.models.cnn import CNN
        from jaxpelsvae.train import steps as steps_lib
        from jaxpelsvae.train.state import create_train_state, make_optimizer

        model = CNN(5, layers=4, seq_length=seq_length, rngs=nnx.Rngs(params=0))
        tx = make_optimizer(1e-3)
        graphdef, state = create_train_state(model, tx, jax.random.key(0))
        step = steps_lib.make_train_step(graphdef, steps_lib.classifier_loss_fn("focal"), tx)
        rng = np.random.default_rng([self.args.seed, seq_length, batch])
        data = {"x": rng.normal(size=(batch, seq_length, 2)).astype(np.float32),
                "y": rng.integers(0, 5, batch).astype(np.int32), "weight": np.ones(batch, np.float32)}
        return step, state, jax.device_put(data)


def padded_curves(n: int, t: int, seed: int):
    """(time (n, t) float32 sorted days, mag (n, t), mask (n, t)) with 60-100 % of each row valid."""
    import numpy as np

    rng = np.random.default_rng([seed, n, t])
    time_NT = np.cumsum(rng.exponential(3.0, (n, t)).astype(np.float32), axis=1)
    mag_NT = rng.normal(size=(n, t)).astype(np.float32)
    lengths = rng.integers(int(0.6 * t), t + 1, n)
    mask_NT = np.arange(t)[None, :] < lengths[:, None]
    return time_NT, mag_NT, mask_NT


# ------------------------------------------------------------------------------------ the points


def point_simulate(fx: Fixtures, n: int) -> float | None:
    from jaxpelsvae.simulate.survey import simulate_survey

    if not fits_in_memory(n * 650 * 8 * 3 * 4):  # ~630 OGLE epochs a star, 3 float64 arrays, ~4 copies
        return None
    simulate_survey(n_stars=100, cadence="ogle", seed=fx.args.seed)
    t0 = time.perf_counter()
    simulate_survey(n_stars=n, cadence="ogle", seed=fx.args.seed)
    return time.perf_counter() - t0


def _generate_chunks(gen, total: int, capacity: int, seed: int):
    import jax

    k = len(gen.classes)
    out = None
    for c, start in enumerate(range(0, total, capacity)):
        n = min(capacity, total - start)
        per = [n // k + (1 if i < n % k else 0) for i in range(k)]
        out = gen.generate(jax.random.fold_in(jax.random.key(seed), c), per, 1.0, capacity=capacity)
    return jax.block_until_ready(out)


def point_synth_stars(fx: Fixtures, n: int) -> float | None:
    gen = fx.generator
    chunk = SYNTH_CHUNK[fx.args.quick]
    _generate_chunks(gen, chunk, chunk, 99)  # compile
    t0 = time.perf_counter()
    _generate_chunks(gen, n, chunk, fx.args.seed)
    return time.perf_counter() - t0


def point_synth_batch(fx: Fixtures, capacity: int) -> float | None:
    per_point = SYNTH_BATCH_TOTAL[fx.args.quick]
    total = max(per_point, capacity)
    if not fits_in_memory(capacity * (1000 * 4 * 5 + 600 * 48 * 4 * 4)):
        return None
    gen = fx.generator
    _generate_chunks(gen, capacity, capacity, 99)  # compile this capacity
    t0 = time.perf_counter()
    _generate_chunks(gen, total, capacity, fx.args.seed)
    return (time.perf_counter() - t0) * per_point / total  # seconds for `per_point` curves


def _encode(time_NT, mag_NT, mask_NT, length: int, key):
    import jax

    from jaxpelsvae.data.encode import encode_batch

    args = jax.device_put((time_NT, mag_NT, mask_NT))
    return encode_batch(*args, key, length=length)


def point_encode_stars(fx: Fixtures, n: int) -> float | None:
    """Seconds to encode n curves: one call up to ENCODE_CHUNK curves, else ceil(n / chunk) calls of
    one fixed chunk shape (static shapes, bounded memory; the last chunk padded), all really run.
    The same synthetic chunk is encoded each time: making 1e6 random curves on the host is not the
    measured cost."""
    import jax

    from jaxpelsvae.data.encode import encode_batch

    chunk = min(n, ENCODE_CHUNK)
    if not fits_in_memory(chunk * T_OBS * 4 * 6):
        return None
    t_NT, m_NT, k_NT = jax.device_put(padded_curves(chunk, T_OBS, fx.args.seed))
    root = jax.random.key(fx.args.seed)
    calls = -(-n // chunk)

    def run():
        return [encode_batch(t_NT, m_NT, k_NT, jax.random.fold_in(root, c), length=300)[0] for c in range(calls)]

    jax.block_until_ready(encode_batch(t_NT, m_NT, k_NT, root, length=300))  # compile
    if calls == 1:
        return benchlib.time_call(run, repeats=fx.args.repeats, warmup=0)["best_s"]
    t0 = time.perf_counter()
    jax.block_until_ready(run())
    return time.perf_counter() - t0


def point_encode_L(fx: Fixtures, length: int) -> float | None:
    import jax

    from jaxpelsvae.data.encode import encode_batch

    t_NT, m_NT, k_NT = jax.device_put(padded_curves(4_096, T_OBS, fx.args.seed))
    key = jax.random.key(fx.args.seed)
    return benchlib.time_call(lambda: encode_batch(t_NT, m_NT, k_NT, key, length=length),
                              repeats=fx.args.repeats)["best_s"]


def _cnn_seconds(fx: Fixtures, seq_length: int, batch: int) -> float:
    """Seconds of one CNN training step (median over a few steps, compilation excluded)."""
    import jax

    step, state, data = fx.cnn_step(seq_length, batch)
    state, _ = step(state, data)
    jax.block_until_ready(state)
    n_steps = 5 if fx.args.quick else 10
    runs = []
    for _ in range(fx.args.repeats):
        t0 = time.perf_counter()
        for _ in range(n_steps):
            state, m = step(state, data)
        jax.block_until_ready((state, m))
        runs.append((time.perf_counter() - t0) / n_steps)
    return min(runs)


def point_cnn_L(fx: Fixtures, length: int) -> float | None:
    return _cnn_seconds(fx, length, 125)


def point_cnn_batch(fx: Fixtures, batch: int) -> float | None:
    return _cnn_seconds(fx, 300, batch)


POINTS = {"simulate_stars": point_simulate, "synth_stars": point_synth_stars, "encode_stars": point_encode_stars,
          "cnn_step_L": point_cnn_L, "encode_L": point_encode_L, "cnn_step_batch": point_cnn_batch,
          "synth_batch": point_synth_batch}


# ------------------------------------------------------------------------------------ figures


def plot_curve(name: str, sizes, seconds, fitted: float | None, label: str, folder: Path) -> Path | None:
    import numpy as np

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(s, t) for s, t in zip(sizes, seconds) if t]
    if not pts:
        return None
    x, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=110)
    ax.loglog(x, y, "o-", label="measured")
    if fitted is not None and len(x) > 1:
        c = np.exp(np.mean(np.log(y) - fitted * np.log(x)))
        ax.loglog(x, c * x ** fitted, "--", color="grey", label=f"slope {fitted:.2f}")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xticks(x)
    ax.set_xticklabels([f"{int(v):,}" for v in x], fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    short = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(short)
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(short)
    ax.tick_params(axis="y", which="both", labelsize=7)
    ax.set_xlabel(UNITS[name])
    ax.set_ylabel("seconds" + (" per step" if name.startswith("cnn") else ""))
    ax.set_title(f"{name} ({label})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scaling_{name}_{label}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def replot(paths, folder: Path) -> None:
    """Redraw the figures of earlier results (curves of later files replace earlier ones)."""
    import json

    for path in paths:
        doc = json.loads(Path(path).read_text())
        label = doc.get("extra", {}).get("label") or doc.get("label", "cpu")
        curves = doc.get("extra", {}).get("curves") or doc.get("curves", {})
        for name, c in curves.items():
            fig = plot_curve(name, c["sizes"], c["seconds"], c["slope"], label, folder)
            print(f"{name}: slope {c['slope']} -> {fig}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.replot:
        replot(args.replot, Path(args.figures))
        return 0
    import jax

    label = args.label or jax.default_backend()
    wanted = [c.strip() for c in args.only.split(",") if c.strip()] or list(CURVES)
    unknown = set(wanted) - set(CURVES)
    if unknown:
        raise SystemExit(f"unknown curves {sorted(unknown)}; choose from {CURVES}")
    sizes_of = QUICK if args.quick else FULL
    fx = Fixtures(args)
    curves, metrics = {}, []
    for name in wanted:
        sizes, seconds, notes = [], [], []
        print(f"{name}:", flush=True)
        for n in sizes_of[name]:
            if args.max_seconds is not None and seconds and seconds[-1] and seconds[-1] > args.max_seconds:
                notes.append(f"{n}: skipped (previous point over {args.max_seconds} s)")
                print(f"  {n:>9,}: skipped (time budget)")
                continue
            try:
                sec = POINTS[name](fx, n)
            except MemoryError:
                sec = None
            if sec is None:
                notes.append(f"{n}: skipped (memory)")
                print(f"  {n:>9,}: skipped (memory)")
                continue
            sizes.append(n)
            seconds.append(sec)
            print(f"  {n:>9,}: {sec:.4g} s", flush=True)
        s = slope(sizes, seconds)
        fig = plot_curve(name, sizes, seconds, s, label, Path(args.figures)) if args.figures else None
        curves[name] = {"sizes": sizes, "seconds": seconds, "slope": s, "unit": UNITS[name], "notes": notes,
                        "figure": None if fig is None else str(fig)}
        metrics.append(benchlib.metric(f"slope {name}", s, "log-log", "lower",
                                       sizes=f"{sizes[0] if sizes else '-'}..{sizes[-1] if sizes else '-'}"))
        if sizes:
            metrics.append(benchlib.metric(f"{name} at {sizes[-1]:,} {UNITS[name]}", seconds[-1], "s", "lower"))
        print(f"  slope {'-' if s is None else f'{s:.2f}'}" + (f"  -> {fig}" if fig else ""), flush=True)

    print("\n| curve | sizes | seconds | log-log slope |\n|---|---|---|---:|")
    for name, c in curves.items():
        sz = ", ".join(f"{x:,}" for x in c["sizes"])
        sec = ", ".join(f"{t:.3g}" for t in c["seconds"])
        fitted = "-" if c["slope"] is None else f"{c['slope']:.2f}"
        print(f"| {name} | {sz} | {sec} | {fitted} |")
    benchlib.write_result(args.json, "scaling", metrics, quick=args.quick, extra={"curves": curves, "label": label})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
