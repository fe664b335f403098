"""The `jaxpelsvae` command line: one sub-command per module in this package, shared options here.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Heavy imports (JAX, models) live inside `run` so that `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

from jaxpelsvae.errors import JaxPelsVaeError

# Order in which commands are listed by `jaxpelsvae --help`; names map to modules in this package.
# Every one must import: a command that fails to load is an error, never a silently shorter tool.
COMMANDS = (
    "demo",
    "simulate",
    "split",
    "period",
    "train_vae",
    "fit_generator",
    "synthesize",
    "train",
    "evaluate",
    "predict",
    "experiment",
)


# A help text that already says what happens when the option is left out, e.g. "(default 500)" for
# an option whose None means "the config's value", or "when omitted: WORKDIR/periods.csv".
STATES_DEFAULT = re.compile(r"\(default\b|\bdefault:|\bwhen omitted\b", re.IGNORECASE)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default once: appended as "(default: X)" unless the help text states it
    itself, and not at all for None (the option not given) or a flag that is off by default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if STATES_DEFAULT.search(text) or "%(default)" in text:
            return text
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def add_min_points(parser: argparse.ArgumentParser, note: str = "") -> None:
    """The --min-points option of the commands that read a dataset (its default is the readers')."""
    from jaxpelsvae.data.validate import DEFAULT_MIN_POINTS

    parser.add_argument("--min-points", type=int, default=None,
                        help=f"reject curves with fewer points (default {DEFAULT_MIN_POINTS}){note}")


def print_notes(rejected, what: str = "") -> None:
    """What validation changed without rejecting a star (merged class labels, dropped points), on stderr."""
    from jaxpelsvae.data.validate import validation_notes

    for note in validation_notes(rejected):
        print(f"note: {what}{note}", file=sys.stderr)


def load_data(args: argparse.Namespace):
    """(workdir, kept stars, rejected table) of a command's DATA: the workdir created, the dataset
    read and validated with --min-points, the rejected stars listed in WORKDIR/rejected.csv."""
    from jaxpelsvae.data.readers import load_dataset

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lcs, rejected = load_dataset(args.data, workdir=workdir, min_points=args.min_points)
    print(f"{len(lcs)} stars kept, {len(rejected)} rejected (see {workdir / 'rejected.csv'})")
    print_notes(rejected)
    return workdir, lcs, rejected


def _load(name: str):
    return importlib.import_module(f"jaxpelsvae.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxpelsvae",
        description=(
            "Classify periodic variable stars from raw light curves with a 1-D CNN whose training "
            "is self-regulated by a physics-enhanced latent-space VAE (CNN-PELSVAE in JAX)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        cmd = sub.add_parser(
            name.replace("_", "-"),
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=HelpFormatter,
        )
        cmd.add_argument("--seed", type=int, default=0, help="root random seed of the run")
        cmd.add_argument(
            "--workdir",
            type=Path,
            default=Path("workdir"),
            help="folder for outputs, checkpoints and logs",
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jaxpelsvae import compile_cache

    compile_cache.enable()  # every command compiles the same programs again: load them instead
    try:
        return int(args._run(args) or 0)
    except (JaxPelsVaeError, FileNotFoundError) as err:
        print(f"jaxpelsvae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxpelsvae {args.command}: interrupted", file=sys.stderr)
        return 130
