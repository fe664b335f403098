"""Per-star validation with reasons, the original's quality cuts (ORIGINAL.md §4.2), and rejected.csv."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError

DEFAULT_MIN_POINTS = 10
# Bounds beyond which a point cannot be a measurement of a star, whatever the survey: the Sun is at
# −26.7 mag and the deepest images reach about 31, so |mag| > 50 is a sentinel (99.99) or a broken
# value; an error above 10 mag means the flux is uncertain by a factor of 10^4, no information.
# Such points are dropped (not the star); one of them could otherwise decide a prediction alone.
MAG_LIMIT = 50.0
ERR_LIMIT = 10.0


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Data-layer settings with the original's defaults (nn_config.yaml `data.*`).

    min_points: fewest observations a star needs to pass `validate`.
    seq_length: L, pairs per encoded curve; the original cuts keep a star only with > L rows.
    snr_threshold: original cut SNR = (max−min mag)/mean(err) > threshold (`data.sn_ratio` = 4).
    delta_time_max: original cut Δt < this many days (100).
    quantiles: original cut (low, high) quantiles for Δm and the low one for Δt.
    original_cuts: apply the original's cuts after validation.
    encode_order: "random" (original sampling) or "time" (random contiguous window).
    """

    min_points: int = DEFAULT_MIN_POINTS
    seq_length: int = 300
    snr_threshold: float = 4.0
    delta_time_max: float = 100.0
    quantiles: tuple[float, float] = (0.001, 0.999)
    original_cuts: bool = True
    encode_order: str = "random"

    def __post_init__(self):
        if self.min_points < 2:
            raise ConfigError(f"DataConfig.min_points must be >= 2 (one Δ pair), got {self.min_points}")
        if self.seq_length < 1:
            raise ConfigError(f"DataConfig.seq_length must be >= 1, got {self.seq_length}")
        lo, hi = self.quantiles
        if not 0.0 <= lo < hi <= 1.0:
            raise ConfigError(f"DataConfig.quantiles must satisfy 0 <= low < high <= 1, got {self.quantiles}")
        if self.encode_order not in ("random", "time"):
            raise ConfigError(f"DataConfig.encode_order must be 'random' or 'time', got {self.encode_order!r}")


# ---------------------------------------------------------------------------- helpers
def _per_star_count(lcs: LightCurveSet, flags_M: np.ndarray) -> np.ndarray:
    return np.bincount(lcs.star_index, weights=flags_M.astype(np.float64), minlength=len(lcs)).astype(np.int64)


def _pair_within_star(lcs: LightCurveSet) -> np.ndarray:
    """(M−1,) bool: observation j and j+1 belong to the same star."""
    s = lcs.star_index
    return s[1:] == s[:-1]


def select_rows(lcs: LightCurveSet, keep_M: np.ndarray, pair_ok_M: np.ndarray | None = None) -> LightCurveSet:
    """Same stars (and meta), only the observations where keep_M (M,) is True.

    pair_ok_M (M,) bool: which kept observations pair with the kept observation before them (see
    `LightCurveSet.pair_ok`); None: every consecutive pair of the result counts."""
    counts = _per_star_count(lcs, keep_M)
    offsets = np.zeros(len(lcs) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    pair_ok = None if pair_ok_M is None else np.asarray(pair_ok_M, bool)[keep_M]
    return dataclasses.replace(lcs, time=lcs.time[keep_M], mag=lcs.mag[keep_M], err=lcs.err[keep_M], offsets=offsets,
                               pair_ok=pair_ok)


def rejection_summary(rejected: pd.DataFrame) -> dict[str, int]:
    """Counts per rule (the reason text before its first ':')."""
    if rejected is None or len(rejected) == 0:
        return {}
    return rejected["reason"].str.split(":").str[0].value_counts().to_dict()


def _fail_if_empty(n_total: int, n_kept: int, rejected: pd.DataFrame, source: str | None, stage: str) -> None:
    if n_kept == 0:
        counts = ", ".join(f"{k}: {v}" for k, v in rejection_summary(rejected).items()) or "the set is empty"
        raise DataError(f"{source or 'dataset'}: no usable light curves after {stage}: "
                        f"all {n_total} stars rejected ({counts}); see rejected.csv")


# ---------------------------------------------------------------------------- class labels
def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _class_key(label: str) -> str:
    return "".join(label.split()).casefold()


def _known_classes() -> tuple[str, ...]:
    from jaxpelsvae.simulate.params import CLASSES

    return CLASSES


def normalise_class_labels(lcs: LightCurveSet, classes: Sequence[str] | None = None) -> tuple[LightCurveSet, list[str]]:
    """Labels that differ only in case or whitespace (`cep`, ` CEP`, `Cep`) become one class.

    Each group of such spellings takes the spelling of `classes` (when given), else of the default
    class names (CEP, DSCT, ECL, LPV, RRLYR), else its most frequent spelling (whitespace removed;
    ties: the first in sorted order). Returns (the set with meta `class` rewritten and `classes`
    mapped the same way, one note per renamed group, e.g. "class labels 'cep' (3 stars), 'Cep'
    (1) read as 'CEP'").
    """
    if "class" not in lcs.meta.columns:
        return lcs, []
    raw = lcs.meta["class"].to_numpy(dtype=object)
    labelled = [c for c in raw if isinstance(c, str) and c.strip()]
    counts = pd.Series(labelled, dtype=object).value_counts() if labelled else pd.Series(dtype=object)
    reference = {_class_key(c): c for c in (*_known_classes(), *(classes or ()))}  # `classes` wins
    groups: dict[str, list[str]] = {}
    for label in sorted(counts.index):
        groups.setdefault(_class_key(label), []).append(label)
    mapping, notes = {}, []
    for key, spellings in groups.items():
        target = reference.get(key)
        if target is None:
            target = "".join(max(spellings, key=lambda c: counts[c]).split())  # ties: the first, sorted
        renamed = [c for c in spellings if c != target]
        if renamed:
            mapping.update({c: target for c in renamed})
            notes.append(f"class labels {', '.join(f'{c!r} ({_plural(int(counts[c]), 'star')})' for c in renamed)} read as {target!r} "
                         "(case and spaces ignored)")
    if not mapping:
        return lcs, []
    meta = lcs.meta.copy()
    meta["class"] = [mapping.get(c, c) if isinstance(c, str) else c for c in raw]
    mapped = [mapping.get(c, c) for c in lcs.classes]
    new_classes = tuple(dict.fromkeys(mapped))
    if lcs.classes == tuple(sorted(lcs.classes)):
        new_classes = tuple(sorted(new_classes))
    return dataclasses.replace(lcs, meta=meta, classes=new_classes), notes


def drop_implausible_points(lcs: LightCurveSet) -> tuple[LightCurveSet, np.ndarray, list[str]]:
    """Drop the points with |mag| > MAG_LIMIT or err > ERR_LIMIT (see there); non-finite values
    are left for `validate`'s rules. Returns (set, (N,) points dropped per star, notes)."""
    with np.errstate(invalid="ignore"):
        bad = (np.abs(lcs.mag) > MAG_LIMIT) | (lcs.err > ERR_LIMIT)
    n_bad = _per_star_count(lcs, bad)
    if not n_bad.any():
        return lcs, n_bad, []
    worst = np.argsort(-n_bad, kind="stable")[: min(3, int((n_bad > 0).sum()))]
    note = (f"dropped {_plural(int(n_bad.sum()), 'implausible point')} (|mag| > {MAG_LIMIT:g} or err > {ERR_LIMIT:g} mag) "
            f"of {_plural(int((n_bad > 0).sum()), 'star')}, e.g. " + ", ".join(f"{str(lcs.ids[i])!r} ({n_bad[i]})" for i in worst))
    return select_rows(lcs, ~bad, lcs.pair_ok), n_bad, [note]


def validation_notes(rejected: pd.DataFrame | None) -> list[str]:
    """The notes `validate` attached to its rejected table: what it changed without rejecting a star."""
    return list(getattr(rejected, "attrs", {}).get("notes", [])) if rejected is not None else []


# ---------------------------------------------------------------------------- validate
def validate(
    lcs: LightCurveSet,
    min_points: int = DEFAULT_MIN_POINTS,
    classes: Sequence[str] | None = None,
    *,
    require_class: bool = True,
    sort_times: bool = False,
    source: str | None = None,
) -> tuple[LightCurveSet, pd.DataFrame]:
    """Reject bad stars, each with one reason (the first rule it breaks, in this order):

    unreadable file (meta `read_error` from a reader), missing class, unknown class (not in
    `classes`, default `lcs.classes`), too few points (< min_points), non-finite values (time, mag or
    err), non-positive errors, unsorted times (unless `sort_times`, which sorts instead), duplicated
    times. File-level problems (missing columns) are raised by the readers.

    Before the rules, class labels that differ only in case or spaces are merged
    (`normalise_class_labels`) and implausible points (|mag| > MAG_LIMIT, err > ERR_LIMIT) are
    dropped (`drop_implausible_points`; a star left with too few points is rejected). What these
    two steps changed is listed in `rejected.attrs["notes"]` (see `validation_notes`).

    Returns (kept set, rejected DataFrame[id, reason]); the kept set's `classes` is `classes` when
    given. Raises DataError, with counts per rule, only when no star is left.
    """
    lcs, notes = normalise_class_labels(lcs, classes)
    lcs, n_dropped, dropped_notes = drop_implausible_points(lcs)
    notes += dropped_notes
    n = len(lcs)
    reason = np.full(n, None, dtype=object)

    def mark(bad: np.ndarray, text) -> None:
        new = bad & (reason == None)  # noqa: E711 - elementwise on an object array
        for i in np.flatnonzero(new):
            reason[i] = text(i) if callable(text) else text

    if "read_error" in lcs.meta.columns:
        errs = lcs.meta["read_error"].to_numpy(dtype=object)
        bad = np.array([isinstance(e, str) and e != "" for e in errs])
        mark(bad, lambda i: f"unreadable file: {errs[i]}")
    allowed = tuple(classes) if classes is not None else lcs.classes
    if require_class or classes is not None:
        if "class" not in lcs.meta.columns:
            mark(np.ones(n, bool), "missing class: no class column (no meta.csv, or one without `class`)")
        else:
            cls = lcs.meta["class"].to_numpy(dtype=object)
            missing = np.array([not isinstance(c, str) or c.strip() == "" for c in cls])
            mark(missing, "missing class: no class in the meta table")
            allowed_set = set(allowed)
            unknown = np.array([isinstance(c, str) and c not in allowed_set for c in cls])
            mark(unknown, lambda i: f"unknown class: {cls[i]!r} is not one of {', '.join(allowed)}")
    lengths = lcs.lengths
    mark(lengths < min_points, lambda i: f"too few points: {lengths[i]} < {min_points}"
         + (f" after dropping {n_dropped[i]} implausible points" if n_dropped[i] else ""))
    nonfinite = ~(np.isfinite(lcs.time) & np.isfinite(lcs.mag) & np.isfinite(lcs.err))
    n_nonfinite = _per_star_count(lcs, nonfinite)
    mark(n_nonfinite > 0, lambda i: f"non-finite values: {n_nonfinite[i]} of {lengths[i]} rows have NaN/inf "
                                    "in time, mag or err")
    n_nonpos = _per_star_count(lcs, lcs.err <= 0)
    mark(n_nonpos > 0, lambda i: f"non-positive errors: {n_nonpos[i]} of {lengths[i]} errors are <= 0")
    if sort_times:
        order = np.lexsort((lcs.time, lcs.star_index))  # stable per star; stars stay in place
        lcs = dataclasses.replace(lcs, time=lcs.time[order], mag=lcs.mag[order], err=lcs.err[order], pair_ok=None)
    within = _pair_within_star(lcs)
    step = np.diff(lcs.time)
    first_of_pair = lcs.star_index[:-1]
    n_dec = np.bincount(first_of_pair[within & (step < 0)], minlength=n)
    n_dup = np.bincount(first_of_pair[within & (step == 0)], minlength=n)
    mark(n_dec > 0, lambda i: f"unsorted times: {n_dec[i]} steps go back in time")
    mark(n_dup > 0, lambda i: f"duplicated times: {n_dup[i]} repeated epochs")
    bad = reason != None  # noqa: E711
    rejected = pd.DataFrame({"id": lcs.ids[bad], "reason": reason[bad].astype(str)})
    rejected.attrs["notes"] = notes
    _fail_if_empty(n, int((~bad).sum()), rejected, source, "validation")
    kept = lcs.select(~bad)
    if classes is not None:
        kept = kept.with_classes(classes)
    return kept, rejected


def write_rejected(rejected: pd.DataFrame, workdir: str | Path) -> Path:
    """Write rejected.csv (id, reason[, other columns]) into `workdir` (created); returns its path."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "rejected.csv"
    frame = rejected if rejected is not None else pd.DataFrame(columns=["id", "reason"])
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")  # same bytes on every platform
    return path


# ---------------------------------------------------------------------------- original cuts
def group_quantile(values: np.ndarray, groups: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """(n_groups,) linear-interpolated quantile of `values` per group, bit-identical to pandas'
    `Series.quantile(q)` (numpy's 'linear' method; pandas 1.x went through np.percentile(q·100),
    which can differ in the last bit); NaN for an empty group. values and groups are (K,) arrays
    without NaN; groups are integers in [0, n_groups)."""
    counts = np.bincount(groups, minlength=n_groups)
    out = np.full(n_groups, np.nan)
    n = counts.astype(np.float64)
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    nxt = prev + 1
    top = virtual >= n - 1
    prev[top] = n[top] - 1
    nxt[top] = n[top] - 1
    gamma = virtual - np.floor(virtual)
    # Sort within groups on a padded (groups, longest) matrix, +inf padding at the end of each row:
    # row-wise sorts of short rows are much faster than one global lexsort. Chunked over groups
    # (about 4M cells a chunk) to bound memory.
    order = np.argsort(groups, kind="stable")
    g_sorted, v_sorted = groups[order], values[order]
    first = np.zeros(n_groups + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    col = np.arange(values.shape[0], dtype=np.int64) - first[g_sorted]
    step = max(1, (1 << 22) // max(int(counts.max(initial=1)), 1))
    for lo in range(0, n_groups, step):
        hi = min(lo + step, n_groups)
        rows = slice(first[lo], first[hi])
        mat = np.full((hi - lo, max(int(counts[lo:hi].max(initial=0)), 1)), np.inf)
        mat[g_sorted[rows] - lo, col[rows]] = v_sorted[rows]
        mat.sort(axis=1)
        has = counts[lo:hi] > 0
        r = np.flatnonzero(has)
        a = mat[r, prev[lo:hi][has].astype(np.int64)]
        b = mat[r, nxt[lo:hi][has].astype(np.int64)]
        g = gamma[lo:hi][has]
        diff = b - a
        res = a + diff * g
        up = g >= 0.5
        res[up] = b[up] - diff[up] * (1 - g[up])  # numpy's _lerp, for identical rounding
        out[lo:hi][has] = res
    return out


def original_cuts(
    lcs: LightCurveSet,
    seq_length: int = 300,
    snr_threshold: float = 4.0,
    delta_time_max: float = 100.0,
    quantiles: tuple[float, float] = (0.001, 0.999),
    *,
    source: str | None = None,
) -> tuple[LightCurveSet, pd.DataFrame]:
    """The original's per-curve filter (ORIGINAL.md §4.2 steps 1-6), vectorised over all stars.

    Per star: drop non-finite rows; Δt, Δm = differences to the previous observation (the first
    row has none and is dropped); keep rows with q_lo(Δm) < Δm < q_hi(Δm), then Δt < delta_time_max,
    then Δt > q_lo(Δt) recomputed on the rows left (pandas-linear quantiles); a constant err (or mag)
    column rejects the star; SNR = (max − min mag) / mean(err) over kept rows; accept iff
    kept rows > seq_length and SNR > snr_threshold (both strict).

    The cuts keep *pairs*, not rows: as in the original, each kept row is encoded against its
    original predecessor, never against the kept row before it (which, after a season gap whose
    first night was cut for Δt >= delta_time_max, would put a Δt > 100 d pair back in). The kept set
    therefore holds the kept rows and their original predecessors, with `pair_ok` True exactly on
    the kept rows; the encoder uses only those pairs.

    Returns (kept set with meta columns `snr`, `signal`; rejected DataFrame[id, reason, n_kept,
    snr]); n_kept counts kept pairs (the original's rows). Because Δt > q_lo(Δt) is strict, a
    perfectly regular cadence (all Δt equal) keeps no rows, as in the original.
    """
    lo_q, hi_q = quantiles
    n = len(lcs)
    finite = np.isfinite(lcs.time) & np.isfinite(lcs.mag) & np.isfinite(lcs.err)
    work = select_rows(lcs, finite)  # the original's dropna
    star = work.star_index
    has_prev = np.zeros(work.time.shape[0], bool)
    has_prev[1:] = _pair_within_star(work)
    dt = np.full(work.time.shape[0], np.nan)
    dm = np.full(work.time.shape[0], np.nan)
    dt[1:] = np.diff(work.time)
    dm[1:] = np.diff(work.mag)
    q_lo_m = group_quantile(dm[has_prev], star[has_prev], n, lo_q)
    q_hi_m = group_quantile(dm[has_prev], star[has_prev], n, hi_q)
    with np.errstate(invalid="ignore"):
        keep = has_prev & (dm > q_lo_m[star]) & (dm < q_hi_m[star]) & (dt < delta_time_max)
        q_lo_t = group_quantile(dt[keep], star[keep], n, lo_q)
        keep &= dt > q_lo_t[star]
    n_kept = _per_star_count(work, keep)
    ks, km, ke = star[keep], work.mag[keep], work.err[keep]
    mag_max = np.full(n, -np.inf)
    mag_min = np.full(n, np.inf)
    np.maximum.at(mag_max, ks, km)
    np.minimum.at(mag_min, ks, km)
    sum_e = np.bincount(ks, weights=ke, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_e = sum_e / n_kept
        signal = np.where(n_kept > 0, mag_max - mag_min, np.nan)
        snr = signal / mean_e
    err_max = np.full(n, -np.inf)
    err_min = np.full(n, np.inf)
    np.maximum.at(err_max, ks, ke)
    np.minimum.at(err_min, ks, ke)
    # pandas std == 0 <=> all values equal (n >= 2); tested on the spread to avoid round-off
    const_err = (n_kept >= 2) & (err_max == err_min)
    const_mag = (n_kept >= 2) & (signal == 0)
    reason = np.full(n, None, dtype=object)
    for bad, text in (
        (const_err, lambda i: "constant error: err has zero spread after the original cuts"),
        (const_mag, lambda i: "constant magnitude: mag has zero spread after the original cuts"),
        (n_kept <= seq_length, lambda i: f"too short after cuts: {n_kept[i]} rows kept <= seq_length {seq_length}"),
        (~(snr > snr_threshold), lambda i: f"low SNR: {snr[i]:.3f} <= {snr_threshold}"),
    ):
        for i in np.flatnonzero(bad & (reason == None)):  # noqa: E711
            reason[i] = text(i)
    bad = reason != None  # noqa: E711
    rejected = pd.DataFrame({"id": lcs.ids[bad], "reason": reason[bad].astype(str),
                             "n_kept": n_kept[bad], "snr": snr[bad]})
    _fail_if_empty(n, int((~bad).sum()), rejected, source, "the original cuts")
    # a kept row's predecessor is in the same star (has_prev), so row j-1 stays whenever row j is kept
    needed = keep.copy()
    needed[:-1] |= keep[1:]
    cut = select_rows(work, needed, pair_ok_M=keep)
    meta = cut.meta.copy()
    meta["snr"] = snr
    meta["signal"] = signal
    return dataclasses.replace(cut, meta=meta).select(~bad), rejected
