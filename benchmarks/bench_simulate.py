"""Benchmark: simulated-survey generation speed (into memory) and, separately, writing it.

    .venv/bin/python benchmarks/bench_simulate.py [--quick] [--n-stars 100000] [--cadence ogle] [--write] [--json PATH]

Target: 100,000 OGLE-cadence stars generated in under a minute on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import benchlib


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.parse_common(parser, "simulate")
    parser.add_argument("--n-stars", type=int, default=100_000, help="stars to simulate")
    parser.add_argument("--cadence", default="ogle", choices=("ogle", "gaia"), help="survey cadence")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--write", action="store_true", help="also time writing lightcurves.parquet + meta.csv")
    args = parser.parse_args(argv)  # --quick: 10,000 stars, no write (a sanity run)
    n = 10_000 if args.quick else args.n_stars

    from jaxpelsvae.simulate import simulate_survey

    simulate_survey(n_stars=10, cadence=args.cadence, seed=args.seed)  # imports and first-call set-up
    start, cpu_start = time.perf_counter(), time.process_time()
    lcs = simulate_survey(n_stars=n, cadence=args.cadence, seed=args.seed)
    gen_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    n_obs = lcs.time.shape[0]
    # CPU time of this process tells what a quiet machine would take when others share the cores.
    print(f"simulate {n} stars ({args.cadence}): {gen_s:.2f} s wall, {cpu_s:.2f} s CPU, {n_obs:,} observations, "
          f"{n / gen_s:,.0f} stars/s, {n_obs / gen_s / 1e6:.2f} M obs/s  [cpus: {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}]")
    metrics = [benchlib.metric(f"{n} stars", n / gen_s, "stars/s"),
               benchlib.metric(f"{n} stars, CPU time", cpu_s, "s", "lower")]
    if args.write and not args.quick:
        from jaxpelsvae.simulate import write_survey

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_survey(lcs, tmp, fmt="parquet")
            metrics.append(benchlib.metric(f"{n} stars, write parquet", time.perf_counter() - start, "s", "lower"))
    benchlib.report(args.json, "simulate", metrics, quick=args.quick, title=f"Simulated survey ({args.cadence} cadence)",
                    extra={"stars": n, "observations": int(n_obs), "cadence": args.cadence, "wall_s": gen_s})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
