"""`jaxpelsvae split DATA --out split.csv`: one train / val / test partition (`id,part`) for every other command."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli import add_min_points
from jaxpelsvae.experiments.config import PRESETS

HELP = "split a dataset once into train / val / test (CSV id,part) for the other commands' --split"
OUT_KIND = "file"  # --out names a file
DESCRIPTION = (
    "Read and validate DATA (rejected stars go to rejected.csv), find periods where missing (the hardness "
    "features use them; searched within each class's period limits, as `experiment` does), and partition "
    "the stars as `experiment` does with the same --preset, --seed and options: the data-shift scenario "
    "sends stars to the test part (hardness bias, or a stratified random share), then the training pool "
    "is split, stratified, into train and val (--val-fraction). Writes --out (columns id, part) and "
    "WORKDIR/split.json (the scenario and counts). Pass the file as --split to train-vae, fit-generator "
    "and period (train part), train (train, val for the best epoch; test) and evaluate (test)."
)


def _preset_values(get) -> str:
    """What each preset sets, for the help text (read from the presets, never restated)."""
    from jaxpelsvae.experiments.config import preset

    values = {name: get(preset(name)) for name in PRESETS}
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in every preset"
    return ", ".join(f"{name} {value}" for name, value in values.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaxpelsvae.data.shift import ShiftConfig

    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, ...)")
    parser.add_argument("--out", type=Path, default=None,
                        help="split file to write (CSV id,part); when omitted: WORKDIR/split.csv")
    parser.add_argument("--preset", choices=PRESETS, default="small",
                        help="take the scenario settings and validation fraction of this `experiment` preset")
    parser.add_argument("--scenario", choices=("hardness", "random"), default=None,
                        help="hardness: hard stars (random-forest Gini impurity) go to test more often; "
                             f"random: a stratified random test share; when omitted: the preset's ({_preset_values(lambda c: c.shift.scenario)})")
    parser.add_argument("--temperature", type=float, default=None,
                        help="hardness-bias temperature T (a star stays in training with probability exp(-T h)); "
                             f"when omitted: the preset's ({_preset_values(lambda c: c.shift.temperature)})")
    parser.add_argument("--in-sample-hardness", action=argparse.BooleanOptionalAction, default=None,
                        help="hardness from in-sample forest probabilities (the paper) instead of out-of-fold; "
                             f"when omitted: the preset's ({_preset_values(lambda c: c.shift.in_sample)})")
    parser.add_argument("--hardness-target", default=None, metavar="CLASS",
                        help="hardness from a forest that tells CLASS from the rest (Bias 1: RRLYR with --temperature 4); "
                             "when omitted: every class against every other")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help=f"--scenario random: stratified share of stars in the test part; when omitted: {ShiftConfig().test_fraction}")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="stratified share of the training pool in the val part; when omitted: the preset's "
                             f"({_preset_values(lambda c: c.val_fraction)})")
    add_min_points(parser, "; use the same value in every command")
    parser.add_argument("--quiet", action="store_true", help="no progress output while finding periods")


def shift_config_from_args(args: argparse.Namespace):
    """(ShiftConfig, val_fraction, ExperimentConfig) from --preset overridden by the explicit options."""
    from jaxpelsvae.experiments.config import preset

    cfg = preset(args.preset)
    changes = {"shift.scenario": args.scenario, "shift.temperature": args.temperature,
               "shift.in_sample": args.in_sample_hardness, "shift.test_fraction": args.test_fraction,
               "shift.hardness_target": args.hardness_target,
               "val_fraction": args.val_fraction}
    cfg = cfg.replace(**{k: v for k, v in changes.items() if v is not None})
    return cfg.shift, cfg.val_fraction, cfg


def run(args: argparse.Namespace) -> int:
    import json

    from jaxpelsvae.cli import load_data
    from jaxpelsvae.data.split import assign_parts, part_counts, write_split
    from jaxpelsvae.period import fill_periods

    shift, val_fraction, cfg = shift_config_from_args(args)
    workdir, lcs, rejected = load_data(args)
    if shift.scenario == "hardness":
        # The hardness features use periods; fill missing ones exactly as `experiment` does, so that
        # the same data, preset and seed give the same parts.
        lcs, n_found = fill_periods(lcs, config=cfg.period, progress=not args.quiet)
        if n_found:
            print(f"found periods for {n_found} stars (used by the hardness features only; not written)")
    partition = assign_parts(lcs, shift, args.seed, val_fraction)
    table = partition.table()
    out = write_split(table, args.out if args.out is not None else workdir / "split.csv")
    info = {**partition.info, "data": str(args.data), "seed": int(args.seed), "preset": args.preset,
            "split_file": str(out),
            "counts": {p: getattr(partition, p).class_counts() for p in ("train", "val", "test")}}
    (workdir / "split.json").write_text(json.dumps(info, indent=2, default=float) + "\n")
    counts = part_counts(table)
    print(f"split {info['method']}: train {counts['train']}, val {counts['val']}, test {counts['test']} stars; "
          f"written to {out}")
    return 0
