"""The `jaxpelsvae` command line: one sub-command per module in this package, shared options here.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Heavy imports (JAX, models) live inside `run` so that `--help` stays fast. Optional: `OUT_KIND`
("file" or "dir": what its `--out` names) and `uses_workdir(args) -> bool` (default: it writes into
--workdir). Before `run`, `main` checks that every output can be written and locks the workdir.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import re
import sys
import tempfile
from pathlib import Path

from jaxpelsvae.errors import JaxPelsVaeError, OutputError

# Order in which commands are listed by `jaxpelsvae --help`; names map to modules in this package.
# Every one must import: a command that fails to load is an error, never a silently shorter tool.
COMMANDS = (
    "demo",
    "simulate",
    "split",
    "period",
    "train_vae",
    "fit_generator",
    "check_generator",
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


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be written in ``folder`` (created if missing), or None when it can."""
    if folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        # A parent that is a file: ENOTDIR or EEXIST; no permission or a read-only file system: EACCES,
        # EROFS, EPERM (a read-only mount stops root as well).
        return "a parent of it is a file" if err.errno in (errno.ENOTDIR, errno.EEXIST) else err.strerror
    return None


def check_out_dir(path: Path, option: str) -> Path:
    """Create the output folder ``path`` (of ``option``) and make sure a file can be written in it,
    so that a bad path stops the command before any work, with a message instead of a traceback."""
    path = Path(path)
    reason = _unwritable(path)
    if reason is not None:
        raise OutputError(f"{option} {path} cannot be written: {reason}")
    return path


def check_out_file(path: Path, option: str) -> Path:
    """Make sure the output file ``path`` (of ``option``) can be written (its folder created)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name")
    reason = _unwritable(path.parent)
    if reason is not None:
        raise OutputError(f"{option} {path} cannot be written: its folder {path.parent}: {reason}")
    return path


@contextlib.contextmanager
def workdir_lock(workdir: Path):
    """Hold an exclusive lock on ``workdir`` (WORKDIR/.lock) for the block: a second command into the
    same workdir stops at once. The lock is the open file's, so the system frees it when the process
    ends, however it ends (a killed run leaves no stale lock)."""
    import fcntl

    path = check_out_dir(workdir, "--workdir") / ".lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise OutputError(f"--workdir {workdir} is in use by another jaxpelsvae command"
                              f"{f' (process {holder})' if holder.isdigit() else ''}; wait for it to "
                              "finish or use another --workdir") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _claim_outputs(args: argparse.Namespace, module) -> contextlib.AbstractContextManager:
    """Check the command's --out and lock its --workdir (when it writes there); the lock is held
    by the returned context."""
    out_kind = getattr(module, "OUT_KIND", None)
    if out_kind is not None and getattr(args, "out", None) is not None:
        (check_out_file if out_kind == "file" else check_out_dir)(args.out, "--out")
    uses_workdir = getattr(module, "uses_workdir", None)
    if uses_workdir is None or uses_workdir(args):
        return workdir_lock(args.workdir)
    return contextlib.nullcontext()


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
        cmd.set_defaults(_run=module.run, _module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jaxpelsvae import compile_cache

    try:
        with _claim_outputs(args, args._module):  # before importing JAX: a busy or bad output stops at once
            compile_cache.enable()  # every command compiles the same programs again: load them instead
            return int(args._run(args) or 0)
    except (JaxPelsVaeError, FileNotFoundError) as err:
        print(f"jaxpelsvae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxpelsvae {args.command}: interrupted", file=sys.stderr)
        return 130
