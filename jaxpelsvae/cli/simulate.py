"""`jaxpelsvae simulate --out DIR`: write a simulated survey of variable stars in the standard layout."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "simulate a survey of variable stars (OGLE- or Gaia-like) and write it in the standard layout"
OUT_KIND = "dir"  # --out names a folder
DESCRIPTION = (
    "Simulate periodic variable stars (CEP, DSCT, ECL, LPV, RRLYR) with physically tied parameters "
    "(period-luminosity and pulsation relations, Stefan-Boltzmann, logg from mass and radius, "
    "bolometric corrections), physics-driven light-curve shapes, and an OGLE-like (I band, ~8 "
    "seasons, 300-1500 epochs) or Gaia-like (G band, ~1000 d, 20-150 transits) cadence with a "
    "survey error law and rare outliers. Writes DIR/lightcurves.<fmt> (id, time [d], mag, err) and "
    "DIR/meta.csv (id, class, subclass, period [d], teff [K], feh [dex], abs_gmag [mag], "
    "radius [R_sun], logg [cgs dex], mass [M_sun], ...)."
)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder of the dataset; when omitted: WORKDIR/simulated")
    parser.add_argument("--counts", default=None,
                        help="stars per class, e.g. CEP=100,DSCT=50,ECL=300,LPV=800,RRLYR=200 (classes left "
                        "out get none); when omitted: --n-stars split with the catalogue-like default balance "
                        "(LPV 55 %%, ECL 25 %%, RRLYR 12 %%, CEP 5 %%, DSCT 3 %%)")
    parser.add_argument("--n-stars", type=_non_negative_int, default=10_000,
                        help="total number of stars when --counts is not given")
    parser.add_argument("--cadence", choices=("ogle", "gaia"), default="ogle",
                        help="survey cadence, band and noise: ogle (I band) or gaia (G band)")
    parser.add_argument("--no-extinction", action="store_true",
                        help="no interstellar extinction (by default A_V grows with distance, 0.2-1.5 mag/kpc)")
    parser.add_argument("--format", dest="fmt", choices=("csv.gz", "csv", "parquet"), default="csv.gz",
                        help="file format of the light-curve table")


def uses_workdir(args: argparse.Namespace) -> bool:
    """Only the default --out (WORKDIR/simulated) is in the workdir."""
    return args.out is None


def run(args: argparse.Namespace) -> int:
    import time

    from jaxpelsvae.simulate import SimConfig, default_counts, parse_counts, simulate_survey, write_survey

    counts = parse_counts(args.counts) if args.counts else default_counts(args.n_stars)
    out = args.out if args.out is not None else Path(args.workdir) / "simulated"
    start = time.perf_counter()
    config = SimConfig(cadence=args.cadence, extinction=not args.no_extinction)
    lcs = simulate_survey(counts, cadence=args.cadence, seed=args.seed, config=config)
    simulated = time.perf_counter() - start
    write_survey(lcs, out, fmt=args.fmt)
    written = time.perf_counter() - start - simulated
    summary = ", ".join(f"{c} {n}" for c, n in lcs.class_counts().items())
    print(f"simulated {len(lcs)} stars ({summary}), {lcs.time.shape[0]} observations, "
          f"{args.cadence} cadence, seed {args.seed}: {simulated:.1f} s; written to {out} in {written:.1f} s")
    return 0
