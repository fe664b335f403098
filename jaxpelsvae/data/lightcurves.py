"""LightCurveSet (ragged host-side light curves + meta table) and PaddedCurves (device-ready arrays).

Shape suffixes: see `jaxpelsvae` (package docstring).
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxpelsvae.errors import ConfigError, DataError


class PaddedCurves(NamedTuple):
    """Light curves padded to a common length T, ready for the device.

    time: (N, T) float32, days since the curve's own reference epoch `t0` (subtracted in float64
        on the host, so float32 keeps sub-second resolution over decades). Padding is 0.
    mag: (N, T) float32 magnitudes; padding 0.
    err: (N, T) float32 magnitude errors; padding 1 (so 1/err stays finite under any mask).
    mask: (N, T) bool, True on real observations (a prefix of each row).
    lengths: (N,) int32 number of real observations per row (after any truncation to T).
    t0: (N,) float64 reference epoch per curve (first observation), in the set's time units.
    """

    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    t0: np.ndarray


def _as_ids(ids: Iterable) -> np.ndarray:
    if isinstance(ids, np.ndarray) and ids.dtype.kind == "U":
        return ids.reshape(-1)
    return np.asarray([str(i) for i in ids], dtype=str).reshape(-1)


def _concat(arrays: Sequence) -> np.ndarray:
    if len(arrays) == 0:
        return np.zeros(0, np.float64)
    return np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays])


def bucket_size(n: int, minimum: int = 1) -> int:
    """Smallest power of two >= max(n, minimum): padded sizes that keep jit recompilations rare."""
    return 1 << max(0, max(int(n), int(minimum)) - 1).bit_length()


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class LightCurveSet:
    """Ragged light curves on the host in float64, with one meta row per star.

    ids: (N,) str star identifiers (unique).
    time, mag, err: (M,) float64, all curves concatenated; time in days (any zero point),
        mag in magnitudes, err in magnitudes.
    offsets: (N+1,) int64; curve i is the slice offsets[i]:offsets[i+1]. Readers keep file order;
        after `validate` the times of every curve are strictly increasing.
    meta: DataFrame with N rows in the same order as `ids`; column `id` (str), `class` (str; may be
        absent for unlabelled data), optional `period` (days), any physical-parameter columns.
    classes: label names; `labels` indexes into them. Sorted unique classes by default; selections
        and splits keep the tuple unchanged so labels stay comparable across subsets.
    pair_ok: None, or (M,) bool: observation j forms an encodable (Δt, Δm) pair with its star's
        previous observation. Set by the original's quality cuts, which keep pairs, not rows
        (`data.validate.original_cuts`); None: every consecutive pair counts.
    """

    ids: np.ndarray
    time: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    offsets: np.ndarray
    meta: pd.DataFrame
    classes: tuple[str, ...] = ()
    pair_ok: np.ndarray | None = None

    def __post_init__(self):
        ids = _as_ids(self.ids)
        object.__setattr__(self, "ids", ids)
        for name in ("time", "mag", "err"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))
        offsets = np.asarray(self.offsets, dtype=np.int64)
        object.__setattr__(self, "offsets", offsets)
        n, m = ids.shape[0], self.time.shape[0]
        if offsets.shape != (n + 1,) or offsets[0] != 0 or offsets[-1] != m or np.any(np.diff(offsets) < 0):
            raise DataError(f"LightCurveSet: offsets must be non-decreasing, shape ({n + 1},), from 0 to {m}")
        if self.mag.shape != (m,) or self.err.shape != (m,):
            raise DataError(f"LightCurveSet: time, mag and err must all have shape ({m},)")
        if self.pair_ok is not None:
            object.__setattr__(self, "pair_ok", np.asarray(self.pair_ok, dtype=bool).reshape(-1))
            if self.pair_ok.shape != (m,):
                raise DataError(f"LightCurveSet: pair_ok must have shape ({m},)")
        if len(set(ids.tolist())) != n:
            dup = pd.Series(ids).loc[pd.Series(ids).duplicated()].iloc[0]
            raise DataError(f"LightCurveSet: star id {dup!r} appears more than once (ids must be unique)")
        meta = self.meta
        if meta is None:
            meta = pd.DataFrame({"id": ids})
        meta = meta.reset_index(drop=True).copy()
        if "id" not in meta.columns:
            meta.insert(0, "id", ids)
        meta["id"] = meta["id"].astype(str)
        if len(meta) != n or not np.array_equal(meta["id"].to_numpy(dtype=str), ids):
            raise DataError("LightCurveSet: meta must have one row per star, in the order of `ids`")
        if "class" in meta.columns:
            cls = meta["class"]
            meta["class"] = cls.where(cls.isna(), cls.astype(str))
        object.__setattr__(self, "meta", meta)
        classes = tuple(str(c) for c in self.classes)
        if not classes and "class" in meta.columns:
            classes = tuple(sorted(meta["class"].dropna().unique().tolist()))
        if len(set(classes)) != len(classes):
            raise ConfigError(f"LightCurveSet: class names must be unique, got {classes}")
        object.__setattr__(self, "classes", classes)

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.class_counts().items())
        return f"LightCurveSet(N={len(self)}, M={self.time.shape[0]}, classes={{{counts}}})"

    def curve(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, mag, err) of star i, each (n_i,) float64 views (do not modify)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.time[a:b], self.mag[a:b], self.err[a:b]

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """(N,) int64 number of observations per star."""
        return np.diff(self.offsets)

    @functools.cached_property
    def star_index(self) -> np.ndarray:
        """(M,) int64 star index of every observation (row i of the CSR storage)."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    @property
    def star_classes(self) -> np.ndarray:
        """(N,) object array of class names (None/NaN where unknown)."""
        if "class" not in self.meta.columns:
            raise DataError("LightCurveSet: this set has no `class` column in its meta table")
        return self.meta["class"].to_numpy(dtype=object)

    @functools.cached_property
    def labels(self) -> np.ndarray:
        """(N,) int32 index of each star's class in `classes` (DataError if a class is unknown)."""
        cls = self.star_classes
        out = pd.Categorical(cls, categories=list(self.classes)).codes.astype(np.int32)  # -1: unknown/NaN
        if np.any(out < 0):
            bad = int(np.flatnonzero(out < 0)[0])
            raise DataError(
                f"LightCurveSet: star {self.ids[bad]!r} has class {cls[bad]!r}, not one of {self.classes} "
                "(run validate(..., classes=...) to reject such stars)"
            )
        return out

    @property
    def periods(self) -> np.ndarray | None:
        """(N,) float64 periods in days from meta['period'], or None when the column is absent."""
        if "period" not in self.meta.columns:
            return None
        return pd.to_numeric(self.meta["period"], errors="coerce").to_numpy(dtype=np.float64)

    def class_counts(self) -> dict[str, int]:
        """Number of stars per class name (classes order first, then any others)."""
        if "class" not in self.meta.columns:
            return {}
        vc = self.meta["class"].value_counts(dropna=False)
        out = {c: int(vc.get(c, 0)) for c in self.classes}
        for c, v in vc.items():
            if c not in out:
                out[str(c)] = int(v)
        return out

    def to_frames(self, stars: slice = slice(None)) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(lightcurves DataFrame[id, time, mag, err], meta DataFrame) in the standard layout.

        The id column is categorical (one code per observation, not one string), which keeps a
        survey of 100,000 stars and 5e7 observations within a few GB. stars: a contiguous slice of
        stars (e.g. for writing in chunks)."""
        first, stop, step = stars.indices(len(self))
        if step != 1:
            raise ValueError("to_frames: stars must be a contiguous slice")
        stop = max(stop, first)
        a, b = self.offsets[first], self.offsets[stop]
        codes = np.repeat(np.arange(stop - first, dtype=np.int32), np.diff(self.offsets[first:stop + 1]))
        ids = pd.Categorical.from_codes(codes, categories=pd.Index(self.ids[first:stop], dtype=object))
        lc = pd.DataFrame({"id": ids, "time": self.time[a:b], "mag": self.mag[a:b], "err": self.err[a:b]})
        return lc, self.meta.iloc[first:stop].reset_index(drop=True).copy()

    # ------------------------------------------------------------------ selection
    def select(self, idx) -> LightCurveSet:
        """Stars at integer indices (any order; repeats not allowed) or a boolean (N,) mask.

        `classes` is kept unchanged so that labels mean the same thing in every subset.
        """
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise DataError(f"select: boolean mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        lengths = self.lengths[idx]
        offsets = np.zeros(idx.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Gather the observation rows of the chosen stars without a Python loop over stars.
        within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        rows = np.repeat(self.offsets[:-1][idx], lengths) + within
        return LightCurveSet(
            ids=self.ids[idx],
            time=self.time[rows],
            mag=self.mag[rows],
            err=self.err[rows],
            offsets=offsets,
            meta=self.meta.iloc[idx].reset_index(drop=True),
            classes=self.classes,
            pair_ok=None if self.pair_ok is None else self.pair_ok[rows],
        )

    def select_classes(self, names: Sequence[str]) -> LightCurveSet:
        """Stars whose class is in `names`; `classes` becomes `names` in the order given."""
        names = tuple(str(n) for n in names)
        keep = self.meta["class"].isin(names).to_numpy() if "class" in self.meta.columns else np.zeros(len(self), bool)
        return dataclasses.replace(self.select(keep), classes=names)

    def with_classes(self, names: Sequence[str]) -> LightCurveSet:
        """Same stars, label names (and so label indices) set to `names` in that order."""
        return dataclasses.replace(self, classes=tuple(str(n) for n in names))

    def with_meta(self, df: pd.DataFrame) -> LightCurveSet:
        """Same curves with a new meta table, aligned on its `id` column (every star needs a row).

        If `df` has no `class` column the current classes are kept.
        """
        if "id" not in df.columns:
            raise DataError("with_meta: the new meta table has no `id` column")
        df = df.copy()
        df["id"] = df["id"].astype(str)
        if df["id"].duplicated().any():
            raise DataError(f"with_meta: id {df['id'][df['id'].duplicated()].iloc[0]!r} appears twice")
        missing = np.setdiff1d(self.ids, df["id"].to_numpy(dtype=str))
        if missing.size:
            raise DataError(f"with_meta: {missing.size} stars have no meta row, e.g. {missing[0]!r}")
        new = df.set_index("id").loc[list(self.ids)].reset_index()
        if "class" not in new.columns and "class" in self.meta.columns:
            new["class"] = self.meta["class"].to_numpy()
        classes = self.classes if "class" not in df.columns else ()
        return dataclasses.replace(self, meta=new, classes=classes)

    def split(
        self, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0, stratify: bool = True
    ) -> tuple[LightCurveSet, ...]:
        """Random disjoint parts with the given fractions (summing to 1), one per fraction.

        Stratified by class (each class split in the same proportions; largest-remainder rounding,
        and every part with a positive fraction gets a star of a class that has enough stars).
        A class with fewer stars than parts simply lands in the first parts: no error.
        Seeded with `np.random.default_rng([seed, 0x5917])`; stars keep their original order within
        a part.
        """
        fr = np.asarray(fractions, dtype=np.float64)
        if fr.ndim != 1 or fr.size == 0 or np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
            raise ConfigError(f"split: fractions must be non-negative and sum to 1, got {tuple(fractions)}")
        rng = np.random.default_rng([int(seed), 0x5917])
        if stratify and "class" in self.meta.columns:
            groups = self.meta["class"].astype(str).to_numpy()
            order = sorted(set(groups.tolist()))
        else:
            groups = np.zeros(len(self), dtype=str)
            order = [""]
        part = np.empty(len(self), np.int64)
        for g in order:  # loop over classes, not stars
            members = np.flatnonzero(groups == g)
            counts = _allocate(members.size, fr)
            perm = rng.permutation(members)
            part[perm] = np.repeat(np.arange(fr.size), counts)
        return tuple(self.select(np.flatnonzero(part == k)) for k in range(fr.size))

    # ------------------------------------------------------------------ device arrays
    def to_padded(self, max_len: int | None = None, *, multiple_of: int = 1) -> PaddedCurves:
        """Pad (or truncate: keep the first `max_len` observations) to length T, see PaddedCurves.

        T = max_len if given, else the longest curve rounded up to `multiple_of` (bucketing keeps
        the number of distinct jit shapes small). The reference epoch t0 of each curve is its first
        observation, subtracted in float64 before the cast to float32.
        """
        n = len(self)
        longest = int(self.lengths.max()) if n else 0
        t_len = int(max_len) if max_len is not None else max(1, -(-longest // multiple_of) * multiple_of)
        if t_len < 1:
            raise ConfigError(f"to_padded: max_len must be >= 1, got {max_len}")
        lengths = np.minimum(self.lengths, t_len)
        t0 = np.zeros(n, np.float64)
        nonempty = self.lengths > 0
        t0[nonempty] = self.time[self.offsets[:-1][nonempty]]
        within = np.arange(self.time.shape[0], dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)
        keep = within < t_len
        rows, cols = self.star_index[keep], within[keep]
        time = np.zeros((n, t_len), np.float32)
        mag = np.zeros((n, t_len), np.float32)
        err = np.ones((n, t_len), np.float32)
        mask = np.zeros((n, t_len), bool)
        time[rows, cols] = (self.time[keep] - t0[rows]).astype(np.float32)
        mag[rows, cols] = self.mag[keep]
        err[rows, cols] = self.err[keep]
        mask[rows, cols] = True
        return PaddedCurves(time, mag, err, mask, lengths.astype(np.int32), t0)

    def padded_chunks(self, chunk: int = 4096, *, min_len: int = 64, min_rows: int = 16):
        """Yield (star indices (n,), PaddedCurves) for consecutive chunks of at most `chunk` stars.

        Both the row count and T are rounded up to powers of two (T >= min_len, rows >= min_rows;
        extra rows are empty: mask False, length 0), so a jitted kernel sees few distinct shapes
        across chunks and datasets. Ignore rows past len(indices).
        """
        n = len(self)
        for a in range(0, n, chunk):
            idx = np.arange(a, min(a + chunk, n))
            part = self.select(idx)
            t_len = bucket_size(int(part.lengths.max()), min_len)
            rows = min(bucket_size(len(idx), min_rows), max(chunk, len(idx)))
            p = part.to_padded(max_len=t_len)
            extra = rows - len(idx)
            if extra:
                fills = PaddedCurves(time=0, mag=0, err=1, mask=False, lengths=0, t0=0)
                p = PaddedCurves(*(np.concatenate([arr, np.full((extra,) + arr.shape[1:], fill, arr.dtype)])
                                   for arr, fill in zip(p, fills)))
            yield idx, p

    def pad_values(self, values, max_len: int | None = None, fill: float = 0.0, dtype=np.float32) -> np.ndarray:
        """Any per-observation (M,) array laid out like `to_padded` (N, T): first T values per star."""
        values = np.asarray(values)
        n = len(self)
        t_len = int(max_len) if max_len is not None else max(1, int(self.lengths.max()) if n else 1)
        within = np.arange(self.time.shape[0], dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)
        keep = within < t_len
        out = np.full((n, t_len), fill, dtype=dtype)
        out[self.star_index[keep], within[keep]] = values[keep]
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        ids: Sequence,
        time,
        mag,
        err,
        *,
        offsets=None,
        star_class: Sequence | None = None,
        period: Sequence[float] | None = None,
        meta: pd.DataFrame | None = None,
        classes: Sequence[str] = (),
    ) -> LightCurveSet:
        """Build from per-star sequences (time[i] is star i's (n_i,) array) or, with `offsets`,
        from concatenated (M,) arrays. `star_class` (N,) and `period` (N,) days fill the meta table
        (merged into `meta` if both are given; `meta` rows are in `ids` order)."""
        ids = _as_ids(ids)
        if offsets is None:
            parts = [np.asarray(x, np.float64).reshape(-1) for x in time]
            if len(parts) != ids.shape[0]:
                raise DataError(f"from_arrays: {len(parts)} time arrays for {ids.shape[0]} ids")
            lengths = np.array([p.shape[0] for p in parts], np.int64)
            t, m, e = _concat(parts), _concat(mag), _concat(err)
            offsets = np.zeros(ids.shape[0] + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
        else:
            t, m, e = (np.asarray(x, np.float64) for x in (time, mag, err))
        meta = pd.DataFrame({"id": ids}) if meta is None else meta.reset_index(drop=True).copy()
        if "id" not in meta.columns:
            meta.insert(0, "id", ids)
        if star_class is not None:
            meta["class"] = [c if c is None or (isinstance(c, float) and np.isnan(c)) else str(c)
                             for c in star_class]
        if period is not None:
            meta["period"] = np.asarray(period, np.float64)
        return cls(ids, t, m, e, offsets, meta, tuple(classes))

    @classmethod
    def from_padded(
        cls, ids: Sequence, time_NT, mag_NT, err_NT, mask_NT, *, t0=None, meta=None, classes=()
    ) -> LightCurveSet:
        """Inverse of `to_padded`: keep the masked entries of each row (t0 (N,) added back)."""
        time_NT, mag_NT, err_NT, mask_NT = (np.asarray(a) for a in (time_NT, mag_NT, err_NT, mask_NT))
        mask_NT = mask_NT.astype(bool)
        t = time_NT.astype(np.float64)
        if t0 is not None:
            t = t + np.asarray(t0, np.float64)[:, None]
        offsets = np.zeros(mask_NT.shape[0] + 1, np.int64)
        np.cumsum(mask_NT.sum(1), out=offsets[1:])
        return cls(_as_ids(ids), t[mask_NT], mag_NT[mask_NT], err_NT[mask_NT], offsets,
                   meta if meta is not None else None, tuple(classes))

    @classmethod
    def from_frames(
        cls, lightcurves: pd.DataFrame, meta: pd.DataFrame | None = None, *, classes: Sequence[str] = (),
        source: str = "lightcurves",
    ) -> LightCurveSet:
        """Build from a long table (columns id, time, mag, err; one row per observation) and a meta
        table (id, class, optional period, ...).

        Star order: meta order, then ids found only in the light curves (their class is left empty,
        so `validate` rejects them as 'missing class'). Meta stars without observations get empty
        curves (`validate` rejects them as 'too few points'). Observations keep file order.
        `source` names the file in error messages.
        """
        need = ["id", "time", "mag", "err"]
        missing = [c for c in need if c not in lightcurves.columns]
        if missing:
            raise DataError(f"{source}: missing column(s) {missing}; required: {need} (rule: missing columns)")
        lc_ids = lightcurves["id"].astype(str).to_numpy()
        if meta is None:
            meta = pd.DataFrame({"id": pd.unique(lc_ids)})
        else:
            if "id" not in meta.columns:
                raise DataError(f"{source}: meta table has no `id` column (rule: missing columns)")
            meta = meta.reset_index(drop=True).copy()
            meta["id"] = meta["id"].astype(str)
            if meta["id"].duplicated().any():
                raise DataError(f"{source}: star id {meta['id'][meta['id'].duplicated()].iloc[0]!r} "
                                "appears twice in the meta table (rule: duplicated id)")
            extra = pd.unique(lc_ids[~np.isin(lc_ids, meta["id"].to_numpy(dtype=str))])
            if extra.size:
                meta = pd.concat([meta, pd.DataFrame({"id": extra})], ignore_index=True)
        ids = meta["id"].to_numpy(dtype=str)
        pos = pd.Index(ids).get_indexer(lc_ids)
        order = np.argsort(pos, kind="stable")  # group rows by star, keeping file order inside a star
        counts = np.bincount(pos, minlength=ids.shape[0])
        offsets = np.zeros(ids.shape[0] + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])

        def col(name):
            values = pd.to_numeric(lightcurves[name], errors="coerce").to_numpy(dtype=np.float64)
            return values[order]

        return cls(ids, col("time"), col("mag"), col("err"), offsets, meta, tuple(classes))

    @staticmethod
    def concatenate(sets: Sequence[LightCurveSet], classes: Sequence[str] | None = None) -> LightCurveSet:
        """Stars of all sets in order (ids must stay unique); classes = union unless given."""
        if not sets:
            raise DataError("concatenate: no sets given")
        offsets = [np.zeros(1, np.int64)]
        base = 0
        for s in sets:
            offsets.append(s.offsets[1:] + base)
            base += s.offsets[-1]
        if classes is None:
            seen: list[str] = []
            for s in sets:
                seen += [c for c in s.classes if c not in seen]
            classes = sorted(seen) if all(s.classes == tuple(sorted(s.classes)) for s in sets) else seen
        return LightCurveSet(
            ids=np.concatenate([s.ids for s in sets]),
            time=np.concatenate([s.time for s in sets]),
            mag=np.concatenate([s.mag for s in sets]),
            err=np.concatenate([s.err for s in sets]),
            offsets=np.concatenate(offsets),
            meta=pd.concat([s.meta for s in sets], ignore_index=True),
            classes=tuple(classes),
            pair_ok=None if all(s.pair_ok is None for s in sets) else np.concatenate(
                [np.ones(s.time.shape[0], bool) if s.pair_ok is None else s.pair_ok for s in sets]),
        )


def _allocate(n: int, fractions: np.ndarray) -> np.ndarray:
    """Integer counts summing to n in the given proportions (largest remainder, ties to earlier parts);
    if n allows, every part with a positive fraction gets at least one."""
    raw = n * fractions
    counts = np.floor(raw).astype(np.int64)
    rest = n - counts.sum()
    if rest > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:rest]] += 1
    wanted = fractions > 0
    if n >= wanted.sum():
        for k in np.flatnonzero(wanted & (counts == 0)):
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[k] += 1
    return counts
