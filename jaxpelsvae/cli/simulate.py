"""`jaxpelsvae simulate --out DIR`: write a simulated survey of variable stars in the standard layout."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "simulate a survey of variable stars (OGLE-, Gaia-, ASAS-, EROS-, ZTF- or TESS-like) in the standard layout"
# The simulator's cadences (`jaxpelsvae.simulate.surveys.CADENCES`), listed here so that --help
# needs no import of the simulator.
CADENCE_CHOICES = ("ogle", "gaia", "asas", "eros", "ztf", "tess")
CADENCE_HELP = (
    "survey cadence, band and noise: ogle (I band, ~8 seasons, 300-1500 epochs), gaia (G band, "
    "~1000 d of scanning-law transits), asas (V band, ~600 nightly epochs over 9 yr), eros (red band "
    "as I, 7 dense seasons), ztf (r band only, every ~3 nights for 3 yr), tess (red band as I, 1-13 "
    "sectors of 27.4 d at 30-min cadence); with --cadence-from: the band and error law only"
)
CADENCE_FROM_HELP = (
    "observe each simulated star at the times of a curve of this dataset (any format the readers "
    "know; its labels are never read), drawn at random with replacement, and place the star at that "
    "curve's median magnitude with its errors (scaled by the --cadence error law when the star "
    "cannot be put at that magnitude)"
)
OUT_KIND = "dir"  # --out names a folder
DESCRIPTION = (
    "Simulate periodic variable stars (CEP, DSCT, ECL, LPV, RRLYR) with physically tied parameters "
    "(period-luminosity and pulsation relations, Stefan-Boltzmann, logg from mass and radius, "
    "bolometric corrections), physics-driven light-curve shapes, and an OGLE-like (I band, ~8 "
    "seasons, 300-1500 epochs), Gaia-like (G band, ~1000 d, 20-150 transits), ASAS-, EROS-, ZTF- or "
    "TESS-like cadence with a survey error law and rare outliers, or the cadences and errors of the "
    "curves of a real dataset (--cadence-from). Writes DIR/lightcurves.<fmt> (id, time [d], mag, err) and "
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
    parser.add_argument("--cadence", choices=CADENCE_CHOICES, default="ogle", help=CADENCE_HELP)
    parser.add_argument("--cadence-from", type=Path, default=None, metavar="DIR", help=CADENCE_FROM_HELP)
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
    from jaxpelsvae.simulate.donors import load_donor_cadences

    counts = parse_counts(args.counts) if args.counts else default_counts(args.n_stars)
    out = args.out if args.out is not None else Path(args.workdir) / "simulated"
    donors = load_donor_cadences(args.cadence_from) if args.cadence_from is not None else None
    if donors is not None:
        print(f"cadences and errors of {len(donors)} curves of {args.cadence_from}, {args.cadence} band and error law")
    start = time.perf_counter()
    config = SimConfig(cadence=args.cadence, extinction=not args.no_extinction)
    lcs = simulate_survey(counts, cadence=args.cadence, seed=args.seed, config=config, donors=donors)
    simulated = time.perf_counter() - start
    write_survey(lcs, out, fmt=args.fmt)
    written = time.perf_counter() - start - simulated
    summary = ", ".join(f"{c} {n}" for c, n in lcs.class_counts().items())
    print(f"simulated {len(lcs)} stars ({summary}), {lcs.time.shape[0]} observations, "
          f"{args.cadence if donors is None else 'donor'} cadence, seed {args.seed}: {simulated:.1f} s; written to {out} in {written:.1f} s")
    return 0
