"""Which stars a fitted VAE, generator or classifier saw: a small `fitted_ids.json` in its folder, and the overlap check.

A saved artefact records the ids of every star whose curve, cadence, errors or parameters reached
it (directly or through an artefact it was built on), as a sorted list and its sha256 digest.
`train` and `evaluate` compare the stars they test on with these ids and refuse to score stars an
artefact was fitted on (unless the user explicitly allows it), so no result is judged on the
stars that produced it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxpelsvae.errors import DataError

PROVENANCE_FILE = "fitted_ids.json"
FORMAT = "jaxpelsvae-fitted-ids-1"
_EXAMPLES = 5


class Fitted(NamedTuple):
    """Stars an artefact was fitted on, and the parts it was built on whose stars are unknown (e.g.
    "the PELS-VAE runs/vae/vae", saved by an older version): what the save functions' `fitted_ids` take
    besides a plain list of ids."""

    ids: Iterable
    unknown: tuple[str, ...] = ()


def ids_digest(ids: Iterable) -> str:
    """sha256 (hex) of the sorted, de-duplicated ids joined by newlines: order-independent."""
    text = "\n".join(sorted({str(i) for i in ids}))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def classifier_fitted(train_ids: Iterable, val_ids: Iterable, *, generator_ids: Iterable | None = None,
                      generator_unknown: Iterable[str] = ()) -> Fitted:
    """What a classifier's saved model records: the stars it trained on, those that picked its best
    epoch, and (self-regulated) the stars of the generator whose curves it trained on, as ids
    (`generator_ids`) or as parts whose stars are not known (`generator_unknown`)."""
    ids = {*map(str, train_ids), *map(str, val_ids), *map(str, generator_ids if generator_ids is not None else ())}
    return Fitted(sorted(ids), tuple(generator_unknown))


def write_provenance(folder: str | Path, ids: Iterable | Fitted | None, *, unknown: Iterable[str] = ()) -> Path | None:
    """Record `ids` as the stars the artefact in `folder` was fitted on; returns the file.

    ids None: nothing is known, so any earlier record in the folder is removed (a stale record
    would describe another fit) and None is returned.
    unknown: parts the artefact was built on whose stars are not recorded (e.g. a VAE saved by an
    older version); the record is then incomplete and the overlap check says so.
    """
    path = Path(folder) / PROVENANCE_FILE
    if isinstance(ids, Fitted):
        ids, unknown = ids.ids, (*unknown, *ids.unknown)
    if ids is None:
        path.unlink(missing_ok=True)
        return None
    unique = sorted({str(i) for i in ids})
    doc = {"format": FORMAT, "n": len(unique), "sha256": ids_digest(unique), "unknown": sorted(unknown),
           "ids": unique}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=0) + "\n")
    return path


def read_provenance(folder: str | Path) -> frozenset[str] | None:
    """The ids recorded in `folder`, or None when the artefact predates provenance records.

    Raises DataError when the record is unreadable or its digest does not match its list (edited)."""
    record = read_record(folder)
    return None if record is None else frozenset(record["ids"])


def read_record(folder: str | Path) -> dict | None:
    """The whole record of `folder` (n, sha256, unknown, ids), checked as `read_provenance` says."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        ids = [str(i) for i in doc["ids"]]
        digest = doc["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{path}: unreadable record of fitted stars ({err}) (rule: provenance)") from None
    if ids_digest(ids) != digest:
        raise DataError(f"{path}: the id list does not match its sha256 digest (rule: provenance)")
    return {**doc, "ids": ids, "unknown": list(doc.get("unknown", []))}


def check_overlap(
    test_ids: Iterable,
    artefacts: Mapping[str, str | Path],
    *,
    allow: bool = False,
    tested: str = "test stars",
) -> list[str]:
    """Refuse to test on stars an artefact was fitted on.

    test_ids: the stars about to be scored (or used to pick a model). artefacts: {description:
    folder} of the fitted VAE / generator / classifier. allow: the user's explicit override, which
    turns the error into a warning. tested: how the message names `test_ids`.
    Returns warning lines (overlap allowed, or an artefact without a record, whose overlap cannot
    be checked); raises DataError naming the count and a few ids of the first overlap otherwise.
    """
    test = np.unique(np.asarray([str(i) for i in test_ids], dtype=str))
    warnings = []
    for what, folder in artefacts.items():
        record = read_record(folder)
        if record is None:
            warnings.append(f"warning: {what} ({folder}) has no record of the stars it was fitted on (saved by an "
                            f"older version); overlap with the {tested} cannot be checked")
            continue
        if record["unknown"]:
            warnings.append(f"warning: {what} ({folder}) was built on {', '.join(record['unknown'])} without a record "
                            f"of its stars; their overlap with the {tested} cannot be checked")
        both = test[np.isin(test, np.asarray(record["ids"], dtype=str))]
        if both.size == 0:
            continue
        examples = ", ".join(repr(str(i)) for i in both[:_EXAMPLES]) + (", ..." if both.size > _EXAMPLES else "")
        msg = (f"{both.size} of the {test.size} {tested} are stars the {what} ({folder}) was fitted on "
               f"(e.g. {examples})")
        if not allow:
            raise DataError(f"{msg}: results on them would be leaked. Make one split with `jaxpelsvae split` and "
                            "pass --split to every command, or pass --allow-overlap to go on anyway "
                            "(rule: fitted on test stars)")
        warnings.append(f"warning: {msg}; going on because of --allow-overlap: results on them are leaked")
    return warnings
