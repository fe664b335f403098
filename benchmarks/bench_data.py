"""Throughput of the data layer (read OGLE .dat, original cuts, encode, fold) against a pandas per-star baseline.

The baseline transcribes the original's per-curve preprocessing (ORIGINAL.md §4.2: pandas read,
diff, quantile clipping, SNR, random sampling of L pairs) and runs it on the same files and CPU.
Usage: python benchmarks/bench_data.py [--quick] [--stars N] [--points P] [--json PATH]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import benchlib


def write_ogle_like(folder: Path, n_stars: int, n_points: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n_stars):
        n = int(rng.integers(n_points // 2, n_points * 3 // 2))
        t = 5260.0 + np.cumsum(rng.exponential(3600.0 / n, n))
        period = 10 ** rng.uniform(-1.3, 2.0)
        m = 18.0 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.04, n)
        e = rng.uniform(0.02, 0.07, n)
        lines = "\n".join(f"{a:.5f} {b:.3f} {c:.3f}" for a, b, c in zip(t, m, e))
        (folder / f"OGLE-LMC-RRLYR-{i:05d}.dat").write_text(lines + "\n")


def pandas_baseline(files, seq_length: int, snr: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    kept = 0
    for f in files:
        df = pd.read_table(f, sep=r"\s+", names=["time", "magnitude", "error"]).dropna()
        df["delta_time"] = df["time"].diff()
        df["delta_mag"] = df["magnitude"].diff()
        df = df[(df.delta_mag > df.delta_mag.quantile(0.001)) & (df.delta_mag < df.delta_mag.quantile(0.999))]
        df = df[df.delta_time < 100]
        df = df[df.delta_time > df.delta_time.quantile(0.001)]
        s = (df.magnitude.max() - df.magnitude.min()) / df.error.mean()
        if len(df) > seq_length and s > snr:
            df.sample(seq_length, random_state=int(rng.integers(1 << 31)))[["delta_time", "delta_mag"]].to_numpy()
            kept += 1
    return kept


def main() -> None:
    parser = benchlib.parse_common(argparse.ArgumentParser(description=__doc__.splitlines()[0]), "data")
    parser.add_argument("--stars", type=int, default=2000, help="number of synthetic OGLE-like stars")
    parser.add_argument("--points", type=int, default=800, help="median observations per star")
    parser.add_argument("--seq-length", type=int, default=300, help="L of the encoding")
    args = parser.parse_args()
    if args.quick:
        args.stars, args.points = 200, 500
    import jax

    from jaxpelsvae.data import encode_set, fold_set, original_cuts, read_ogle_dat

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_ogle_like(folder, args.stars, args.points)
        files = sorted(folder.glob("*.dat"))
        t0 = time.perf_counter()
        n_base = pandas_baseline(files, args.seq_length, 4.0)
        t_base = time.perf_counter() - t0

        t0 = time.perf_counter()
        lcs = read_ogle_dat(folder)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        kept, _ = original_cuts(lcs, seq_length=args.seq_length, snr_threshold=4.0)
        t_cut = time.perf_counter() - t0
        encode_set(kept, args.seq_length, seed=0)  # warm-up: compile for these shapes
        t0 = time.perf_counter()
        x, _, _ = encode_set(kept, args.seq_length, seed=0)
        t_enc = time.perf_counter() - t0
        periods = np.full(len(kept), 0.5)
        fold_set(kept, periods)  # warm-up
        t0 = time.perf_counter()
        fold_set(kept, periods)
        t_fold = time.perf_counter() - t0

    n = len(lcs)
    print(f"device: {jax.devices()[0].platform}, stars: {n}, observations: {lcs.time.size}, kept: {len(kept)} "
          f"(baseline kept {n_base})")
    metrics = [
        benchlib.metric("pandas per-star baseline (read + cuts + sample)", n / t_base, "stars/s"),
        benchlib.metric("read_ogle_dat", n / t_read, "stars/s"),
        benchlib.metric("original_cuts", n / t_cut, "stars/s"),
        benchlib.metric(f"ours: read + cuts + encode (L={args.seq_length})", n / (t_read + t_cut + t_enc), "stars/s"),
        benchlib.metric("encode_set (kept stars)", len(kept) / t_enc, "stars/s"),
        benchlib.metric("fold_set (kept stars)", len(kept) / t_fold, "stars/s"),
    ]
    benchlib.report(args.json, "data", metrics, quick=args.quick, title=f"Data layer ({n} stars)",
                    extra={"stars": n, "observations": int(lcs.time.size), "kept": len(kept), "baseline_kept": n_base})

if __name__ == "__main__":
    main()
