"""`jaxpelsvae period DATA --out FILE`: best period of every star and its quality (CSV id,period,power,fap,alias_flag)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "find every star's period with a batched Lomb-Scargle periodogram (CSV id,period,power,fap,alias_flag)"
OUT_KIND = "file"  # --out names a file
DESCRIPTION = (
    "Find the period of every star of a dataset with a batched generalised (floating-mean, "
    "error-weighted) Lomb-Scargle periodogram in JAX on one shared frequency grid, optionally "
    "re-ranked by a multi-term Fourier fit, refined locally, and checked for period doubling "
    "(eclipsing binaries peak at half their period). Writes a CSV with columns id, period (days), "
    "power (fraction of the weighted variance explained by the final model), fap (Baluev 2008 "
    "false-alarm probability of the chosen periodogram peak) and alias_flag (true when the search cannot "
    "tell the period from its half, double or a one-day alias)."
)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaxpelsvae.period.search import PeriodConfig

    d = PeriodConfig()  # one place for the search's defaults: the config's
    parser.add_argument(
        "data", type=Path,
        help="dataset: a standard-layout folder (lightcurves.csv[.gz]/.parquet/... + meta.csv) or any "
        "other format jaxpelsvae.data.read_dataset recognises",
    )
    parser.add_argument(
        "--split", type=Path, default=None,
        help="split file from `jaxpelsvae split` (CSV id,part): find periods only for the stars of --parts "
        "(stars this command keeps but the split does not list are left out and counted)",
    )
    parser.add_argument(
        "--parts", default="train",
        help="with --split: comma-separated parts (train, val, test) whose stars get a period",
    )
    parser.add_argument(
        "--out", type=Path, default=None,
        help="output CSV (id, period in days, power, fap, alias_flag); when omitted: WORKDIR/periods.csv",
    )
    parser.add_argument(
        "--min-period", type=_positive_float, default=d.min_period,
        help="shortest period searched, days (sets the highest frequency of the grid)",
    )
    parser.add_argument(
        "--max-period", type=_positive_float, default=None,
        help="longest period searched, days; when omitted: the longest time baseline of the dataset",
    )
    parser.add_argument(
        "--oversampling", type=_positive_float, default=d.oversampling,
        help="frequency grid points per periodogram peak width (grid step = 1 / (oversampling * baseline))",
    )
    parser.add_argument(
        "--nterms", type=int, choices=(1, 2, 3), default=d.nterms,
        help="Fourier terms used to re-rank the highest periodogram peaks and refine the best one "
        "(1 = plain Lomb-Scargle)",
    )
    parser.add_argument(
        "--coarse", type=_positive_int, default=d.coarse,
        help="evaluate the periodogram at every COARSE-th grid frequency first, then the full grid around "
        f"the {d.coarse_candidates} best coarse peaks (about COARSE times faster; 1 = the whole grid)",
    )
    parser.add_argument(
        "--candidates", type=_positive_int, default=d.n_candidates,
        help="periodogram peaks kept per star for the multi-term re-ranking",
    )
    parser.add_argument(
        "--refine", action=argparse.BooleanOptionalAction, default=d.refine,
        help="refine the best frequency on a local grid 8 times finer than the search grid",
    )
    parser.add_argument(
        "--double-test", choices=("auto", "on", "off"), default=d.double_test,
        help="period-doubling test (2-harmonic fit at P against 4-harmonic fit at 2P, by BIC): "
        "'auto' tests stars of class ECL, 'on' every star, 'off' none",
    )
    parser.add_argument(
        "--double-margin", type=float, default=d.double_margin,
        help="double the period only when BIC(2P) < BIC(P) - this margin (10 = 'very strong' evidence; "
        "raise it with --double-test on, where most stars are not eclipsing binaries)",
    )
    parser.add_argument(
        "--period-prior", type=float, default=d.period_prior,
        help="rank periodogram peaks under a prior density f^-X per unit frequency: 1 = log-uniform in "
        "period (sparse cadences alias slow variations to high frequencies), 0 = by power alone",
    )
    parser.add_argument(
        "--class-limits", default="none",
        help="'default' (the packaged priors.yaml), a priors.yaml path, or 'none': search a star of a "
        "listed class only within its class's period limits widened 3x (never below --min-period); "
        "sparse cadences such as Gaia's alias long periods to ~0.03 d",
    )
    parser.add_argument(
        "--min-points", type=_positive_int, default=d.min_points,
        help="stars with fewer observations are skipped (listed in WORKDIR/rejected.csv)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=d.batch_size,
        help="stars per device batch (memory grows with batch size x curve length)",
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True,
        help="show a progress bar over batches",
    )


def run(args: argparse.Namespace) -> int:
    from jaxpelsvae.cli import print_notes
    from jaxpelsvae.data import read_dataset, validate, write_rejected
    from jaxpelsvae.period import PeriodConfig, find_periods, grid_for

    # Bad stars (non-finite values, bad errors, too few points) are skipped and listed in
    # WORKDIR/rejected.csv; a class is not needed to find a period.
    lcs, rejected = validate(
        read_dataset(args.data), min_points=args.min_points, require_class=False, sort_times=True,
        source=str(args.data),
    )
    write_rejected(rejected, args.workdir)
    print_notes(rejected)
    if len(rejected):
        print(f"period: skipped {len(rejected)} stars (reasons in {Path(args.workdir) / 'rejected.csv'})")
    if args.split is not None:
        import numpy as np

        from jaxpelsvae.data.split import parts_from_file

        parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        chosen = parts_from_file(lcs, args.split, parts, rejected=rejected, unlisted="skip")
        lcs = lcs.select(np.isin(lcs.ids, np.concatenate([s.ids for s in chosen])))  # dataset order
    config = PeriodConfig(
        min_period=args.min_period,
        max_period=args.max_period,
        oversampling=args.oversampling,
        nterms=args.nterms,
        n_candidates=args.candidates,
        coarse=args.coarse,
        refine=args.refine,
        double_test=args.double_test,
        double_margin=args.double_margin,
        period_prior=args.period_prior,
        batch_size=args.batch_size,
        min_points=args.min_points,
    )
    grid = grid_for(lcs, config)
    print(
        f"period: {len(lcs)} stars, {grid.n} frequencies from {grid.f0:.6g} to "
        f"{grid.f0 + (grid.n - 1) * grid.df:.6g} cycles/day (step {grid.df:.3g})"
    )
    if args.class_limits.lower() == "none":
        table = find_periods(lcs, config, grid=grid, progress=args.progress)
    else:
        table = _within_class_limits(lcs, config, args.class_limits, args.progress)
    out = args.out if args.out is not None else Path(args.workdir) / "periods.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    missing = int(table["period"].isna().sum())
    note = f" ({missing} stars with too few points have no period)" if missing else ""
    print(f"period: wrote {len(table)} rows to {out}{note}")
    return 0


def _within_class_limits(lcs, config, source: str, progress: bool):
    """find_periods per class, each within its prior-box period limits (widened)."""
    from jaxpelsvae.period import find_periods_by_class
    from jaxpelsvae.physics.priors import PriorConfig, class_period_limits

    limits = class_period_limits(PriorConfig(prior_boxes="default" if source.lower() == "default" else source))

    def say(name, n, cfg):
        print(f"period: class {name}: {n} stars searched in {cfg.min_period:.3g}-{cfg.max_period:.3g} d")

    return find_periods_by_class(lcs, limits, config, progress=progress, on_group=say)
