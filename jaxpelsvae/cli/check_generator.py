"""`jaxpelsvae check-generator --generator G DATA --split S`: the realism report of a fitted generator on real stars it was not fitted on."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "the realism report of a fitted generator against real stars it was not fitted on"
OUT_KIND = "dir"  # --out names a folder
DESCRIPTION = (
    "Generate --per-class synthetic curves per class and compare them with the real stars of DATA (with "
    "--split: its --part, the validation part by default), which must be stars the generator was not fitted "
    "on (checked against its fitted_ids.json). Features of both (Lomb-Scargle power at the label-free period, "
    "amplitude, std, skewness, kurtosis, R21, phi21, beyond-1-std) feed random forests: the two-sample AUC "
    "(can a forest tell synthetic from real? 0.5: no; overall and per class, next to real vs real), label "
    "fidelity (a forest fitted on the real stars gives the synthetic curves their class?) and train on "
    "synthetic / test on real macro-F1; with --split, the same three for the real curves of the training stars "
    "the synthetic ones were made from (the copy control: what a perfect copy of those stars scores). Writes "
    "realism.json and realism.png into --out and prints the table."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="dataset of real, labelled stars (standard layout, OGLE .dat, ...)")
    parser.add_argument("--generator", type=Path, required=True,
                        help="generator folder written by `jaxpelsvae fit-generator` (or its workdir)")
    parser.add_argument("--split", type=Path, default=None,
                        help="split file from `jaxpelsvae split`: judge on its --part only (when omitted: every star "
                             "of DATA, all of which must be unseen by the generator)")
    parser.add_argument("--part", choices=("val", "test"), default="val", help="with --split: the part judged on")
    parser.add_argument("--per-class", type=int, default=40, help="synthetic curves generated per class")
    parser.add_argument("--out", type=Path, default=None, help="folder for realism.json and realism.png (default WORKDIR)")
    add_min_points(parser)


def write_realism(generator, real, folder: Path, *, per_class: int, seed: int, period_config=None,
                  train=None) -> dict:
    """Compute the realism report of `generator` on `real` (unseen stars: the caller checks; `train`:
    its training stars, for the copy control), write folder/realism.json and folder/realism.png (a
    figure that fails leaves a note, never an error), and print its lines. Returns the report."""
    import json

    from jaxpelsvae.experiments.figures import plot_realism
    from jaxpelsvae.json_io import json_default
    from jaxpelsvae.synth.realism import realism_lines, realism_report

    report, sets = realism_report(generator, real, per_class=per_class, seed=seed, period_config=period_config,
                                  return_sets=True, train=train)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "realism.json").write_text(json.dumps(report, indent=2, default=json_default))
    try:
        plot_realism(sets, report, folder / "realism.png")
    except Exception as err:  # noqa: BLE001 -- the figure must not lose the report
        print(f"note: no realism figure: {type(err).__name__}: {err}", file=sys.stderr)
    for line in realism_lines(report):
        print(line)
    print(f"realism report: {folder / 'realism.json'}")
    return report


def run(args: argparse.Namespace) -> int:
    from jaxpelsvae.cli import load_data
    from jaxpelsvae.data.provenance import check_overlap
    from jaxpelsvae.errors import ConfigError
    from jaxpelsvae.synth.generator import generator_folder, load_generator

    if args.per_class < 2:
        raise ConfigError(f"--per-class must be at least 2, got {args.per_class}")
    folder = generator_folder(args.generator)
    generator = load_generator(folder)  # before the data: a bad --generator stops at once
    workdir, real, rejected = load_data(args)
    if args.split is not None:
        from jaxpelsvae.data.split import parts_from_file

        real, train = parts_from_file(real, args.split, (args.part, "train"), rejected=rejected)
    else:
        train = None
    # never judged on a star whose curve, cadence or parameters reached the generator
    for line in check_overlap(real.ids, {"generator": folder}, tested="stars judged"):
        print(line)
    write_realism(generator, real, args.out if args.out is not None else workdir, per_class=args.per_class,
                  seed=args.seed, train=train)
    return 0
