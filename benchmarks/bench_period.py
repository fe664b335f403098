"""Benchmark: batched JAX Lomb-Scargle periods against astropy's LombScargle (agreement and speed).

Two datasets, one shared frequency grid per dataset for every method:
  (a) the Gaia DR3 dev set (../shared/data/gaia_dr3_dev; skipped when absent), no catalogue periods;
  (b) synthetic sinusoids with OGLE-like cadence: 8 seasons of ~240 nights, one point a night at a
      random time around midnight, 300-1500 points, periods log-uniform in 0.15-20 d, amplitude
      0.05-0.5 mag, per-point noise 0.01-0.1 mag.
Ours: `find_periods` with plain Lomb-Scargle on the grid (nterms=1, no refinement, no doubling
test), and once more with the default refinement for the agreement with the true periods.
astropy: `LombScargle(t, mag, err).power(freqs)` one star at a time, with its default method
('auto', which picks 'fast' for a regular grid of > 200 frequencies) and the exact 'cython'
method (timed on a subset: it is slow). Agreement: best periods within 0.1 %.

    .venv/bin/python benchmarks/bench_period.py --quick        # small sanity run
    .venv/bin/python benchmarks/bench_period.py --update-readme # full run, rewrites the README section
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import benchlib

ROOT = benchlib.ROOT
GAIA_DEV = ROOT.parent / "shared" / "data" / "gaia_dr3_dev"
README = benchlib.README
README_BLOCK = "bench_period"  # the README's <!-- bench_period:start/end --> block
TOLERANCE = 1e-3  # relative period agreement (0.1 %)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small run: 24 synthetic stars, 40 Gaia stars, 2 cython stars")
    p.add_argument("--n-synthetic", type=int, default=400, help="synthetic stars (full run)")
    p.add_argument("--n-gaia", type=int, default=500, help="Gaia stars, at most the 500 of the dev set (full run)")
    p.add_argument("--n-cython", type=int, default=20, help="stars timed with astropy's exact 'cython' method")
    p.add_argument("--min-period", type=float, default=None,
                   help="shortest period searched, days (default: 0.1 synthetic, 0.05 Gaia)")
    p.add_argument("--oversampling", type=float, default=5.0, help="grid points per peak width")
    p.add_argument("--batch-size", type=int, default=32, help="stars per JAX batch")
    p.add_argument("--single-thread", action="store_true",
                   help="restrict XLA to one CPU thread (astropy runs on one thread)")
    p.add_argument("--skip-astropy", action="store_true", help="time only our method (e.g. on a GPU machine)")
    p.add_argument("--platform", default="cpu", help="JAX platform for our method (cpu, gpu)")
    p.add_argument("--gaia", type=Path, default=GAIA_DEV, help="Gaia dev set folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    p.add_argument("--json", type=Path, default=None, help="write the result (benchlib's format) here")
    p.add_argument("--from-json", type=Path, default=None, help="print (and with --update-readme write) a saved run")
    p.add_argument("--update-readme", action="store_true",
                   help=f"replace (or append) the 'Period finding' section of {README.relative_to(ROOT)}")
    p.add_argument("--preliminary", action="store_true", help="label the numbers as measured under load")
    return p.parse_args(argv)


def ogle_like_set(n_stars: int, seed: int):
    """Synthetic sinusoids with OGLE-like cadence; returns (LightCurveSet, true periods (N,) days)."""
    import numpy as np

    from jaxpelsvae.data import LightCurveSet

    rng = np.random.default_rng([seed, 0xB0])
    nights = (365.25 * np.arange(8)[:, None] + np.arange(240)[None, :]).reshape(-1)  # 8 seasons
    times, mags, errs, periods = [], [], [], []
    for _ in range(n_stars):  # set-up, not a hot path
        n = int(rng.integers(300, 1501))
        t = np.sort(rng.choice(nights, n, replace=False) + rng.normal(0.0, 0.1, n)) + 2455000.0
        period = float(np.exp(rng.uniform(np.log(0.15), np.log(20.0))))
        sigma = rng.uniform(0.01, 0.1)
        err = sigma * rng.uniform(0.8, 1.2, n)
        mag = 16.0 + rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        times.append(t)
        mags.append(mag + err * rng.normal(size=n))
        errs.append(err)
        periods.append(period)
    ids = [f"SYN-{i:05d}" for i in range(n_stars)]
    return LightCurveSet.from_arrays(ids, times, mags, errs), np.asarray(periods)


def gaia_set(folder: Path, n_stars: int):
    from jaxpelsvae.data import read_dataset, validate

    lcs, _ = validate(read_dataset(folder), min_points=5, require_class=False, sort_times=True)
    return lcs.select(range(min(n_stars, len(lcs))))


def run_ours(lcs, grid, batch_size: int, refine: bool):
    """(periods (N,), seconds of the second run, seconds of the first run incl. compilation)."""
    from jaxpelsvae.period import PeriodConfig, find_periods

    cfg = PeriodConfig(nterms=1, refine=refine, double_test="off", batch_size=batch_size)
    t0 = time.perf_counter()
    find_periods(lcs, cfg, grid=grid, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = find_periods(lcs, cfg, grid=grid, progress=False)
    return out["period"].to_numpy(), time.perf_counter() - t0, first


def run_astropy(lcs, freqs, method: str, idx):
    """Best periods (len(idx),) and seconds for astropy on stars idx, one star at a time."""
    import numpy as np
    from astropy.timeseries import LombScargle

    best = np.empty(len(idx))
    t0 = time.perf_counter()
    for k, i in enumerate(idx):  # astropy's own API is one star per call
        t, m, e = lcs.curve(int(i))
        power = LombScargle(t - t[0], m, e).power(freqs, method=method, assume_regular_frequency=True)
        best[k] = 1.0 / freqs[np.argmax(power)]
    return best, time.perf_counter() - t0


def agree(a, b) -> float:
    import numpy as np

    return float(np.mean(np.abs(a / b - 1.0) < TOLERANCE))


def bench_dataset(name, lcs, truth, min_period, args, n_cython):
    import numpy as np

    from jaxpelsvae.period import PeriodConfig, grid_for

    grid = grid_for(lcs, PeriodConfig(min_period=min_period, oversampling=args.oversampling))
    freqs = grid.frequencies
    n = len(lcs)
    rows = []
    ours, secs, first = run_ours(lcs, grid, args.batch_size, refine=False)
    rows.append(dict(dataset=name, method="jaxpelsvae GLS (JAX, batched)", stars=n, stars_per_s=n / secs,
                     agree_ours=None, agree_truth=None if truth is None else agree(ours, truth),
                     first_run_s=first))
    if truth is not None:
        refined, rsecs, _ = run_ours(lcs, grid, args.batch_size, refine=True)
        rows.append(dict(dataset=name, method="jaxpelsvae GLS + local refinement", stars=n, stars_per_s=n / rsecs,
                         agree_ours=agree(refined, ours), agree_truth=agree(refined, truth)))
    if args.skip_astropy:
        return rows, _info(name, lcs, grid)
    auto, asecs = run_astropy(lcs, freqs, "auto", np.arange(n))
    rows.append(dict(dataset=name, method="astropy LombScargle, default (auto -> fast)", stars=n,
                     stars_per_s=n / asecs, agree_ours=agree(ours, auto),
                     agree_truth=None if truth is None else agree(auto, truth)))
    sub = np.random.default_rng([args.seed, 0xC7]).choice(n, size=min(n_cython, n), replace=False)
    exact, csecs = run_astropy(lcs, freqs, "cython", sub)
    rows.append(dict(dataset=name, method=f"astropy LombScargle, exact 'cython' ({sub.size}-star subset)",
                     stars=int(sub.size), stars_per_s=sub.size / csecs, agree_ours=agree(ours[sub], exact),
                     agree_truth=None if truth is None else agree(exact, truth[sub])))
    return rows, _info(name, lcs, grid)


def _info(name, lcs, grid) -> dict:
    import numpy as np

    return dict(dataset=name, stars=len(lcs), frequencies=grid.n, f_min=grid.f0,
                f_max=grid.f0 + (grid.n - 1) * grid.df, median_points=float(np.median(lcs.lengths)))


def markdown(rows, infos, header) -> str:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f} %"

    lines = [header, "",
             "| dataset | method | stars | stars/s | same period as ours (0.1 %) | true period (0.1 %) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['method']} | {r['stars']} | {r['stars_per_s']:.2f} | "
                     f"{pct(r['agree_ours'])} | {pct(r['agree_truth'])} |")
    lines.append("")
    for info in infos:
        lines.append(f"- {info['dataset']}: {info['stars']} stars, median {info['median_points']:.0f} points, "
                     f"{info['frequencies']} frequencies from {info['f_min']:.4g} to {info['f_max']:.4g} cycles/day.")
    first = [r for r in rows if "first_run_s" in r]
    for r in first:
        lines.append(f"- {r['dataset']}: our first run, including jit compilation, took {r['first_run_s']:.1f} s.")
    return "\n".join(lines)


def command_line(argv) -> str:
    """The measuring command as typed, without the options that only route the output."""
    words = list(sys.argv[1:] if argv is None else argv)
    keep, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("--json", "--from-json"):
            skip = True
        elif w not in ("--update-readme", "--preliminary") and not w.startswith(("--json=", "--from-json=")):
            keep.append(w)
    return " ".join(["python benchmarks/bench_period.py", *keep])


def section_text(rows, infos, header) -> str:
    """The README's 'Period finding' section for measured rows."""
    return "\n".join([
        "## Period finding",
        "",
        "`benchmarks/bench_period.py`: best periods of our batched generalised Lomb-Scargle "
        "(`jaxpelsvae.period.find_periods`, JAX, float32 with float64 host phase reduction) against "
        "astropy's `LombScargle` on the same frequency grid (floating mean, error weights, standard "
        "normalisation). Synthetic set: sinusoids with OGLE-like cadence (8 seasons, one point a night, "
        "300-1500 points, periods 0.15-20 d, noise 0.01-0.1 mag). Agreement: best periods within 0.1 %.",
        "",
        markdown(rows, infos, header),
    ])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:  # re-render a saved run, e.g. to update the README without measuring again
        saved = json.loads(args.from_json.read_text())["extra"]
        section = section_text(saved["rows"], saved["datasets"], saved["header"])
        print(section)
        if args.update_readme:
            benchlib.update_readme_block(README_BLOCK, section)
        return 0
    os.environ.setdefault("JAX_PLATFORMS", args.platform)
    if args.single_thread:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    sys.path.insert(0, str(ROOT))
    import jax

    n_syn, n_gaia, n_cy = (24, 40, 2) if args.quick else (args.n_synthetic, args.n_gaia, args.n_cython)
    rows, infos = [], []
    lcs, truth = ogle_like_set(n_syn, args.seed)
    r, info = bench_dataset("synthetic OGLE-like", lcs, truth, args.min_period or 0.1, args, n_cy)
    rows += r
    infos.append(info)
    if args.gaia.is_dir():
        r, info = bench_dataset("Gaia DR3 dev", gaia_set(args.gaia, n_gaia), None, args.min_period or 0.05, args, n_cy)
        rows += r
        infos.append(info)
    else:
        print(f"(Gaia dev set not found at {args.gaia}: skipped)")
    try:
        import astropy

        astropy_version = astropy.__version__
    except ImportError:  # a GPU machine without astropy, run with --skip-astropy
        astropy_version = "absent"
    threads = "1 XLA thread" if args.single_thread else f"{os.cpu_count()} cores"
    date = datetime.date.today().isoformat()
    status = " Preliminary: measured while other jobs loaded the CPU." if args.preliminary else ""
    header = (f"Measured {date} on {benchlib.cpu_model()} ({threads}; JAX {jax.__version__} on "
              f"{jax.devices()[0].platform}, astropy {astropy_version}, one star per astropy call) with "
              f"`{command_line(argv)}`.{status}")
    section = section_text(rows, infos, header)
    print("\n" + section + "\n")
    metrics = [benchlib.metric(f"{r['dataset']}: {r['method']}", r["stars_per_s"], "stars/s") for r in rows]
    benchlib.report(args.json, "period", metrics, quick=args.quick, title="Period finding",
                    extra=dict(rows=rows, datasets=infos, header=header))
    if args.update_readme:
        benchlib.update_readme_block(README_BLOCK, section)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
