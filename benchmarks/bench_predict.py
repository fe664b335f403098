"""Benchmark: `jaxpelsvae.predict` throughput on Gaia-like stars without catalogue periods (period search + view + network + forest).

Method: N simulated Gaia-cadence stars (`simulate_survey(..., cadence="gaia")`, the catalogue-like
class balance) lose their class and their catalogue period, so `predict` runs the label-free
period search on every star, as it does on real Gaia curves. The model is `--model DIR`, or one
trained here the way users get theirs: `jaxpelsvae experiment --preset small --classifier
multifold --modes baseline --seeds 1` (random split, `--epochs` epochs: the same architecture and
forest beside the network, few epochs; speed does not depend on training) on `--train-stars`
other simulated Gaia stars without periods. `predict(curves, model)` is timed end to end after
one warm-up call (compilation excluded), `--repeats` times. The split: the period search alone
(`fill_periods` with the search settings the model recorded, what `predict` runs first) and the
rest (`predict` on the same stars with those periods filled in: validation, view, network,
forest, table), each timed as often.

    python benchmarks/bench_predict.py [--quick] [--stars 2000] [--repeats 3] [--model DIR] [--json PATH]

Target (issue 26): >= 200 Gaia-like stars/s on the 2-core development machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import benchlib

TARGET = 200.0  # stars/s, the acceptance line
CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    benchlib.parse_common(p, "predict")  # --quick: 200 stars, 2 repeats
    p.add_argument("--stars", type=int, default=2000, help="Gaia-like stars to classify")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up")
    p.add_argument("--model", type=Path, default=None,
                   help="a saved classifier (model folder or the run folder above it); default: train one here")
    p.add_argument("--train-stars", type=int, default=200, help="simulated stars the model is trained on")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the model trained here")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the training run here (default: a temporary folder, removed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated stars")
    args = p.parse_args(argv)
    if args.quick:
        args.stars, args.repeats = 200, 2
    return args


def unlabelled_gaia(n_stars: int, seed: int):
    """N Gaia-like simulated stars with only their ids in meta: no class, no catalogue period."""
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey(n_stars=n_stars, cadence="gaia", seed=seed)
    return lcs.with_meta(lcs.meta[["id"]])


def train_model(workdir: Path, n_stars: int, epochs: int, seed: int) -> Path:
    """The model folder of a `small`-preset multifold baseline run (its forest beside it) trained
    by the command line on ``n_stars`` balanced Gaia-like stars without periods."""
    from jaxpelsvae.data.readers import write_standard
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey({c: max(n_stars // len(CLASSES), 1) for c in CLASSES}, cadence="gaia", seed=seed + 1)
    data = write_standard(lcs.with_meta(lcs.meta[["id", "class"]]), workdir / "train_data")
    run = workdir / "experiment"
    # The random split keeps ~70 % of the stars for training (the hardness split leaves a few dozen).
    cmd = [sys.executable, "-m", "jaxpelsvae", "experiment", str(data), "--workdir", str(run), "--preset", "small",
           "--classifier", "multifold", "--modes", "baseline", "--seeds", "1", "--epochs", str(epochs),
           "--scenario", "random", "--seed", str(seed), "--no-figures", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(benchlib.ROOT), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    print(f"trained the model in {time.perf_counter() - t0:.1f} s: {' '.join(cmd[1:])}")
    return run / "runs" / "multifold_baseline_seed0" / "model"


def timed(fn, repeats: int, warmup: bool = True) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn``, after one warm-up call (compilation) with ``warmup``."""
    if warmup:
        fn()
    runs = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return runs


def measure(lcs, model, repeats: int) -> dict:
    """Seconds per call of predict (end to end), the period search alone and predict with the periods
    given; the table of the last end-to-end call."""
    import jaxpelsvae
    from jaxpelsvae.config import from_dict
    from jaxpelsvae.period import fill_periods
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.prediction import resolve_model_dir
    from jaxpelsvae.train.classifier import read_model_info

    info = read_model_info(resolve_model_dir(model))
    period = from_dict(PeriodConfig, info["period"]) if info.get("period") else PeriodConfig()
    out = {}
    with warnings.catch_warnings():  # validation notes (none expected for simulated stars) are not timed output
        warnings.simplefilter("ignore")
        out["total"] = timed(lambda: out.__setitem__("table", jaxpelsvae.predict(lcs, model)), repeats)
        filled = fill_periods(lcs, config=period)[0]
        # predict's warm-up compiled both parts for these very shapes: no second warm-up.
        out["period"] = timed(lambda: fill_periods(lcs, config=period), repeats, warmup=False)
        out["rest"] = timed(lambda: jaxpelsvae.predict(filled, model), repeats, warmup=False)
    return out


def summary(n: int, times: dict) -> list[dict]:
    """benchlib metric rows: stars/s of the whole call (min, median, max over repeats) and the split,
    median and best (on a shared machine other jobs only ever add time, so the best is the steadier)."""
    rates = [n / s for s in times["total"]]
    rows = [benchlib.metric("predict, stars/s median", statistics.median(rates), "stars/s"),
            benchlib.metric("predict, stars/s min", min(rates), "stars/s"),
            benchlib.metric("predict, stars/s max", max(rates), "stars/s")]
    for stat, pick in (("median", statistics.median), ("best", min)):
        period, rest = pick(times["period"]), pick(times["rest"])
        rows += [benchlib.metric(f"period search ({stat})", period, "s", "lower", share=period / (period + rest)),
                 benchlib.metric(f"view + network + forest + table ({stat})", rest, "s", "lower",
                                 share=rest / (period + rest))]
    best_period, best_rest = min(times["period"]), min(times["rest"])
    rows += [benchlib.metric("period search alone, stars/s best", n / best_period, "stars/s"),
             benchlib.metric("predict with periods given, stars/s best", n / best_rest, "stars/s")]
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            workdir = args.workdir or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            model = train_model(workdir, args.train_stars, args.epochs, args.seed)
        lcs = unlabelled_gaia(args.stars, args.seed)
        times = measure(lcs, model, args.repeats)
    n = len(lcs)
    table = times.pop("table")
    metrics = summary(n, times)
    median = metrics[0]["value"]
    print(f"{n} Gaia-like stars ({int(lcs.lengths.sum()):,} observations), {len(table)} classified; "
          f"target {TARGET:.0f} stars/s: {'met' if median >= TARGET else 'not met'} ({median:,.0f})")
    benchlib.report(args.json, "predict", metrics, quick=args.quick, title=f"predict ({n} Gaia-like stars, no periods)",
                    extra={"stars": n, "classified": len(table), "observations": int(lcs.lengths.sum()),
                           "repeats": args.repeats, "model": str(model), "target_stars_per_s": TARGET,
                           "seconds": times})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
