"""`jaxpelsvae demo`: simulate an OGLE-cadence survey and run `experiment` on it with the small preset."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli.simulate import CADENCE_CHOICES, CADENCE_FROM_HELP, CADENCE_HELP

HELP = "simulate an OGLE-like survey and run the whole experiment on it (about 4 minutes on 2 CPU cores)"
DESCRIPTION = (
    "Simulate a survey of periodic variable stars with OGLE-III-like cadence (jaxpelsvae simulate), "
    "write it in the standard layout into WORKDIR/survey, then run `jaxpelsvae experiment` on it with "
    "the small preset and its main classifier (folded): hardness-biased split, PELS-VAE, generator, "
    "baseline and self-regulated training over 3 seeds. Prints the summary table; the full report is "
    "WORKDIR/report.md. --classifier folded,cnn adds the original CNN for comparison (about twice as long)."
)

# Stars per class of the demo survey: imbalanced like the catalogues, small enough for the whole
# method (VAE, generator, 3 seeds of both modes) to run in minutes on 2 CPU cores.
DEMO_COUNTS = {"CEP": 120, "DSCT": 80, "ECL": 280, "LPV": 240, "RRLYR": 280}
# The demo shows the method with the preset's main classifier; the others are options.
DEMO_CLASSIFIER = "folded"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stars", type=int, default=None,
                        help=f"total stars to simulate (default: {sum(DEMO_COUNTS.values())}, split as {DEMO_COUNTS})")
    parser.add_argument("--cadence", choices=CADENCE_CHOICES, default="ogle", help=CADENCE_HELP)
    parser.add_argument("--cadence-from", type=Path, default=None, metavar="DIR", help=CADENCE_FROM_HELP)
    parser.add_argument("--preset", choices=("tiny", "small", "paper"), default="small", help="experiment preset")
    parser.add_argument("--seeds", type=int, default=None, help="repetitions per mode (default: the preset's)")
    parser.add_argument("--epochs", type=int, default=None, help="classifier epochs at most (default: the preset's)")
    parser.add_argument("--vmap-seeds", action=argparse.BooleanOptionalAction, default=None,
                        help="train the seeds of each classifier and mode together as one vmapped program, where "
                             "their training views are fixed (no --augment) (default: the preset's)")
    parser.add_argument("--classifier", default=DEMO_CLASSIFIER, metavar="NAME[,NAME...]",
                        help="registered classifiers to train, the first is the main one (e.g. folded,cnn to "
                             "compare with the original CNN)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def demo_counts(total: int | None) -> dict[str, int]:
    """DEMO_COUNTS scaled to `total` stars (each class keeps at least 10)."""
    if total is None:
        return dict(DEMO_COUNTS)
    scale = total / sum(DEMO_COUNTS.values())
    return {c: max(10, int(round(n * scale))) for c, n in DEMO_COUNTS.items()}


def run(args) -> int:
    import time

    from jaxpelsvae.data.readers import write_standard
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.report import summary_table
    from jaxpelsvae.experiments.runner import run_experiment
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.simulate.donors import load_donor_cadences

    t0 = time.perf_counter()
    workdir = args.workdir.absolute()
    counts = demo_counts(args.stars)
    donors = load_donor_cadences(args.cadence_from) if args.cadence_from is not None else None
    observed = f"{args.cadence.upper()} cadence" if donors is None else f"the cadences of {args.cadence_from}"
    if not args.quiet:
        print(f"[demo] simulating {sum(counts.values())} stars with {observed}: {counts}", flush=True)
    lcs = simulate_survey(counts, cadence=args.cadence, seed=args.seed, donors=donors)
    # Written for the user (rerun `jaxpelsvae experiment WORKDIR/survey`); the run itself uses the
    # in-memory set (still validated) rather than reading 10^6 rows back.
    write_standard(lcs, workdir / "survey", fmt="parquet")
    cfg = preset(args.preset)
    changes = {"seeds": args.seeds, "regulator.epochs": args.epochs, "vmap_seeds": args.vmap_seeds,
               "classifier": args.classifier}
    changes = {k: v for k, v in changes.items() if v is not None}
    if args.quiet:
        changes["progress"] = False
    cfg = cfg.replace(**changes)
    name = f"simulated {args.cadence.upper()} survey" if donors is None else f"simulated survey with {observed}"
    result = run_experiment(lcs, cfg, workdir, seed=args.seed, name=name)
    wall = time.perf_counter() - t0
    print()
    print(summary_table(result.report))
    print(f"\n{result.report['split']['method']} split: train {result.report['split']['n_train']}, "
          f"validation {result.report['split']['n_val']}, test {result.report['split']['n_test']}; "
          f"L = {result.report['config']['seq_length']}; total {wall:.0f} s")
    print(f"report: {workdir / 'report.md'} (and report.json, figures/)")
    return 0
