"""One train / validation / test partition of a dataset (`id,part` file) that every command honours.

`assign_parts` is the partition `experiment` makes: a data-shift scenario (`shift.make_split`)
sends stars to the test pool, then the training pool is split, stratified, into train and
validation with `pool.split((1 - val_fraction, val_fraction), seed=seed)`. The split file written
by `jaxpelsvae split` lets the separate commands use the same parts: anything fitted (VAE, priors,
latent model, donor bank) sees `train` only, model selection `val`, scores `test`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.shift import ShiftConfig, make_split
from jaxpelsvae.errors import ConfigError, DataError

PARTS = ("train", "val", "test")
_EXAMPLES = 5


class Partition(NamedTuple):
    """The three parts as LightCurveSets (same `classes`), the scenario's JSON-able description,
    and each star's hardness (hardness scenarios; {id: h}, else None)."""

    train: LightCurveSet
    val: LightCurveSet
    test: LightCurveSet
    info: dict
    hardness: dict | None = None

    def table(self) -> pd.DataFrame:
        """DataFrame[id, part], the rows in train, val, test order (stars in dataset order within a part)."""
        frames = [pd.DataFrame({"id": getattr(self, p).ids.astype(str), "part": p}) for p in PARTS]
        return pd.concat(frames, ignore_index=True)


def assign_parts(
    lcs: LightCurveSet,
    shift: ShiftConfig,
    seed: int = 0,
    val_fraction: float = 0.3,
    *,
    test_lcs: LightCurveSet | None = None,
) -> Partition:
    """Partition `lcs` as `run_experiment` does: `make_split(lcs, shift, seed)` sends stars to the
    test part, then the training pool is split, stratified, (1 - val_fraction, val_fraction) with
    the same seed. Quality cuts and subsamples come after, in whoever uses the parts.

    test_lcs: cross-dataset (as `make_split`): every star of `lcs` goes to train or val, `test_lcs`
    is the test part. The info dict has the scenario's description and the part sizes.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    split = make_split(lcs, shift, seed, test_lcs=test_lcs)
    train, val = split.train.split((1.0 - val_fraction, val_fraction), seed=seed)
    if len(split.test) == 0:
        raise DataError("the split left an empty test part (raise the bias temperature or use --scenario random)")
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"the training pool ({len(split.train)} stars) is too small for a train/validation split")
    info = {k: v for k, v in split.info.items() if k != "hardness_by_id"}
    info.update(val_fraction=float(val_fraction), n_train=len(train), n_val=len(val), n_test=len(split.test))
    return Partition(train, val, split.test, info, split.info.get("hardness_by_id"))


def write_split(table: pd.DataFrame, path: str | Path, *, cross_dataset: bool = False) -> Path:
    """Write DataFrame[id, part] as CSV (`id,part`, LF line ends: same parts, same bytes).
    cross_dataset: the test part comes from a second dataset, whose ids may repeat those of the
    first (two surveys numbering their stars alike); the file then lists such an id twice."""
    check_table(table if not cross_dataset else table[table["part"] != "test"], str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table[["id", "part"]].to_csv(path, index=False, lineterminator="\n")
    return path


def read_split(path: str | Path) -> pd.DataFrame:
    """DataFrame[id (str), part] of a split file; DataError for a missing column, an unknown part or a
    repeated id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no split file (write one with `jaxpelsvae split DATA --out {path}`)")
    try:
        table = pd.read_csv(path, dtype={"id": str, "part": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable split file ({err}) (rule: split file)") from None
    check_table(table, str(path))
    return table[["id", "part"]].reset_index(drop=True)


def check_table(table: pd.DataFrame, source: str) -> None:
    """DataError unless `table` has columns id and part, parts in PARTS, and no repeated id."""
    missing = [c for c in ("id", "part") if c not in table.columns]
    if missing:
        raise DataError(f"{source}: split file without column(s) {missing} (expected `id,part`) (rule: split file)")
    bad = ~table["part"].isin(PARTS)
    if bad.any():
        row = table[bad].iloc[0]
        raise DataError(f"{source}: star {row['id']!r} has part {row['part']!r}, not one of {PARTS} "
                        "(rule: split file)")
    dup = table["id"].duplicated()
    if dup.any():
        raise DataError(f"{source}: star {table['id'][dup].iloc[0]!r} is listed twice (rule: split file)")


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(str(i)) for i in ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def select_parts(
    lcs: LightCurveSet,
    table: pd.DataFrame,
    parts: Iterable[str],
    *,
    source: str = "split",
    rejected_ids: Iterable = (),
    unlisted: str = "error",
) -> tuple[LightCurveSet, ...]:
    """The stars of `lcs` in each of `parts` (one LightCurveSet per part, in the order given, stars
    in dataset order, `classes` unchanged).

    The split and the data must describe the same stars:
    - a star of `lcs` the split does not list is an error (the split was made on other data),
      or, with unlisted="skip", left out and counted in a printed note;
    - a split id absent from `lcs` is an error, unless it is among `rejected_ids` (bad stars this
      command's validation skipped, listed in rejected.csv), which are counted in a printed note.
    """
    parts = tuple(parts)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ConfigError(f"unknown split part(s) {unknown}; parts are {PARTS}")
    if unlisted not in ("error", "skip"):
        raise ConfigError(f"unlisted must be 'error' or 'skip', got {unlisted!r}")
    ids = lcs.ids.astype(str)
    listed = table["id"].to_numpy(dtype=str)
    part_of = dict(zip(listed, table["part"].to_numpy(dtype=str)))

    not_listed = ids[~np.isin(ids, listed)]
    if not_listed.size and unlisted == "error":
        raise DataError(f"{source}: {not_listed.size} of the {ids.size} stars of the data are not in the split "
                        f"(e.g. {_examples(not_listed)}); the split was made on other data: write it again with "
                        "`jaxpelsvae split` on this data (rule: split covers the data)")
    if not_listed.size:
        print(f"{source}: {not_listed.size} stars of the data are not in the split; left out")

    absent = listed[~np.isin(listed, ids)]
    if absent.size:
        rejected = np.isin(absent, np.asarray([str(i) for i in rejected_ids], dtype=str))
        if not rejected.all():
            other = absent[~rejected]
            raise DataError(f"{source}: {other.size} of the {listed.size} stars of the split are not in the data "
                            f"(e.g. {_examples(other)}); the split was made on other data: write it again with "
                            "`jaxpelsvae split` on this data (rule: split covers the data)")
        print(f"{source}: {absent.size} stars of the split were rejected here as bad stars (see rejected.csv)")

    where = np.asarray([part_of.get(i, "") for i in ids])
    return tuple(lcs.select(where == p) for p in parts)


def part_counts(table: pd.DataFrame) -> dict[str, int]:
    """Stars per part, in PARTS order."""
    counts = table["part"].value_counts()
    return {p: int(counts.get(p, 0)) for p in PARTS}


def parts_from_file(
    lcs: LightCurveSet,
    path: str | Path,
    parts: Iterable[str],
    *,
    rejected: pd.DataFrame | None = None,
    unlisted: str = "error",
) -> tuple[LightCurveSet, ...]:
    """`select_parts` with the split file at `path`; `rejected` is the command's rejected-star table
    (DataFrame[id, reason]). Prints how many stars each part gives."""
    parts = tuple(parts)
    rejected_ids = () if rejected is None or len(rejected) == 0 else rejected["id"].astype(str).tolist()
    out = select_parts(lcs, read_split(path), parts, source=str(path), rejected_ids=rejected_ids, unlisted=unlisted)
    print(f"split {path}: " + ", ".join(f"{p} {len(s)} stars" for p, s in zip(parts, out)))
    return out
