"""Readers of light-curve files into LightCurveSet (standard layout, OGLE .dat, PELS-VAE .npy.gz, Gaia DR3).

Readers only parse: they keep file order and raise DataError for file-level problems (unreadable
file, missing columns). Per-star problems are left for `validate`, which rejects such stars with a
reason; a per-star file that cannot be parsed becomes an empty curve whose meta column
`read_error` holds the reason (validate turns it into a rejection). `load_dataset` does
read + validate (+ rejected.csv) in one call.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import DataError

STANDARD_FORMATS = ("csv.gz", "csv", "parquet", "ecsv", "fits")
_ASTROPY_TABLE_SUFFIXES = (".ecsv", ".fits", ".fit", ".fits.gz", ".xml", ".vot", ".votable")
MAG_PER_FLUX_RATIO = 2.5 / math.log(10.0)  # d(mag) = 2.5/ln10 · d(flux)/flux
GAIA_DR3_TIME_ZERO = 2455197.5  # Gaia epoch-photometry time = BJD(TCB) − 2455197.5 d


# ---------------------------------------------------------------------------- table helpers
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".fits.gz", ".npy.gz", ".dat.txt"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def read_table(path: str | Path) -> pd.DataFrame:
    """Any supported table file as a DataFrame (csv[.gz], parquet, ecsv, fits, votable).

    Columns named id/source_id are read as strings (Gaia ids exceed float precision).
    """
    path = Path(path)
    suffix = _suffix(path)
    try:
        if suffix in (".csv", ".csv.gz", ".txt"):
            head = pd.read_csv(path, nrows=0)
            str_cols = {c: str for c in head.columns if c.lower() in ("id", "source_id", "ogle_id", "ogle-id")}
            return pd.read_csv(path, dtype=str_cols)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in _ASTROPY_TABLE_SUFFIXES:
            from astropy.table import Table  # lazy: astropy import is slow

            fmt = {".ecsv": "ascii.ecsv", ".xml": "votable", ".vot": "votable", ".votable": "votable"}.get(suffix)
            table = Table.read(path, format=fmt) if fmt else Table.read(path)
            return _astropy_to_pandas(table)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure is a file-level data error
        raise DataError(f"{path}: cannot read table ({type(err).__name__}: {err}) (rule: unreadable file)") from None
    raise DataError(f"{path}: unsupported table format {suffix!r}; "
                    "use one of csv, csv.gz, parquet, ecsv, fits, votable")


def _astropy_to_pandas(table) -> pd.DataFrame:
    """astropy Table -> DataFrame; multidimensional (array) columns become object columns of arrays."""
    out = {}
    for name in table.colnames:
        col = table[name]
        masked_float = getattr(col, "mask", None) is not None and col.dtype.kind == "f"
        data = np.ma.filled(col, np.nan) if masked_float else np.asarray(col)
        if data.dtype.kind == "S":
            data = np.char.decode(data, "utf-8")
        if data.ndim > 1:
            out[name] = list(data)
        elif data.dtype.kind == "O":
            out[name] = [np.asarray(v) if isinstance(v, (np.ndarray, list, tuple)) else v for v in data]
        else:
            out[name] = data
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------- standard layout
def read_standard(folder: str | Path, *, classes: Sequence[str] = ()) -> LightCurveSet:
    """A dataset folder in the standard layout: `lightcurves.{csv,csv.gz,parquet,ecsv,fits}` with
    columns id, time (days), mag, err (one row per observation), and `meta.csv` with id, class,
    optional period (days) and any other columns. Without meta.csv the curves are unlabelled
    (ids taken from the light curves, in file order): enough for `predict` and donors."""
    folder = Path(folder)
    files = [folder / f"lightcurves.{fmt}" for fmt in STANDARD_FORMATS if (folder / f"lightcurves.{fmt}").is_file()]
    if not files:
        raise DataError(f"{folder}: no lightcurves.{{{','.join(STANDARD_FORMATS)}}} file (rule: standard layout)")
    if len(files) > 1:
        raise DataError(f"{folder}: several light-curve files {[f.name for f in files]}; keep one")
    meta_path = folder / "meta.csv"
    lc = read_table(files[0])
    meta = read_table(meta_path) if meta_path.is_file() else None
    for name, need in ((files[0], ("id", "time", "mag", "err")), (meta_path, ("id",))):
        table = lc if name == files[0] else meta
        if table is None:
            continue
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise DataError(f"{name}: missing column(s) {missing}; found {list(table.columns)} (rule: missing columns)")
    return LightCurveSet.from_frames(lc, meta, classes=classes, source=str(files[0]))


def write_standard(lcs: LightCurveSet, folder: str | Path, fmt: str = "csv.gz") -> Path:
    """Write `lcs` in the standard layout (lightcurves.<fmt> + meta.csv) into `folder`; returns it.

    fmt: "csv.gz", "csv" or "parquet". Times are written with full float64 precision.
    """
    if fmt not in ("csv.gz", "csv", "parquet"):
        raise DataError(f"write_standard: fmt must be 'csv.gz', 'csv' or 'parquet', got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for other in STANDARD_FORMATS:  # one light-curve file per folder, or read_standard refuses
        stale = folder / f"lightcurves.{other}"
        if other != fmt and stale.exists():
            stale.unlink()
    if fmt == "parquet":
        lc, _ = lcs.to_frames()
        lc.to_parquet(folder / "lightcurves.parquet", index=False)
    else:
        # text is written a chunk of stars at a time, so memory stays bounded for large surveys
        with open_text_output(folder / f"lightcurves.{fmt}") as fh:
            for start in range(0, max(len(lcs), 1), _WRITE_CHUNK_STARS):
                lc, _ = lcs.to_frames(slice(start, start + _WRITE_CHUNK_STARS))
                lc.to_csv(fh, index=False, header=start == 0, float_format="%.17g", lineterminator="\n")
    with open_text_output(folder / "meta.csv") as fh:
        lcs.meta.to_csv(fh, index=False, lineterminator="\n")
    return folder


@contextlib.contextmanager
def open_text_output(path: str | Path) -> Iterator[io.TextIOBase]:
    """A UTF-8 text file for writing, gzip-compressed when `path` ends in .gz, whose bytes depend
    only on what is written: the gzip header gets mtime 0 and no file name (gzip.open would stamp
    the time of writing, so two identical runs would differ), and line ends are "\\n" everywhere."""
    with open(path, "wb") as raw:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz, \
                    io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
                yield fh
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
                yield fh


_WRITE_CHUNK_STARS = 2000


# ---------------------------------------------------------------------------- OGLE .dat
_OGLE_ID = re.compile(r"^OGLE-([A-Z0-9]+)-([A-Z0-9]+)-(\d+)$", re.IGNORECASE)


def ogle_class_from_id(star_id: str) -> str | None:
    """Class token of an OGLE id (OGLE-LMC-DSCT-00310 -> 'DSCT'), None if it is not of that form."""
    m = _OGLE_ID.match(star_id)
    return m.group(2).upper() if m else None


def _ogle_id(path: Path) -> str:
    name = path.name
    for s in (".dat.txt", ".dat"):
        if name.lower().endswith(s):
            return name[: -len(s)]
    return path.stem


def parse_ogle_dat(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, mag, err) float64 arrays from one OGLE file: whitespace-separated `HJD−2450000 mag err`.

    Any amount of leading/repeated whitespace is accepted; lines starting with '#' are comments.
    Raises DataError naming the file and the line for a wrong column count or a non-number.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read ({err}) (rule: unreadable file)") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    tokens = " ".join(lines).split()
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        for k, ln in enumerate(lines, 1):
            try:
                [float(x) for x in ln.split()]
            except ValueError:
                raise DataError(f"{path}: line {k} {ln.strip()!r} is not numeric (rule: unreadable file)") from None
        raise
    if values.size % 3 or any(len(ln.split()) != 3 for ln in lines):
        bad = next(k for k, ln in enumerate(lines, 1) if len(ln.split()) != 3)
        raise DataError(f"{path}: line {bad} has {len(lines[bad - 1].split())} columns, expected 3 "
                        "(HJD-2450000 mag err) (rule: missing columns)")
    values = values.reshape(-1, 3)
    return values[:, 0].copy(), values[:, 1].copy(), values[:, 2].copy()


def _normalise_meta(meta: pd.DataFrame, source: str) -> pd.DataFrame:
    """Map common column spellings (ID, OGLE-ID, OGLE_id, source_id / Type / Period) to id/class/period."""
    meta = meta.copy()
    lower = {c.lower(): c for c in meta.columns}
    if "id" not in meta.columns:
        for alt in ("ogle-id", "ogle_id", "id", "source_id", "star_id"):
            if alt in lower:
                meta = meta.rename(columns={lower[alt]: "id"})
                break
        else:
            raise DataError(f"{source}: meta table has no id column (id, ID, OGLE-ID, OGLE_id or source_id) "
                            "(rule: missing columns)")
    if "class" not in meta.columns:
        for alt in ("type", "class", "label"):
            if alt in lower and lower[alt] != "id":
                meta = meta.rename(columns={lower[alt]: "class"})
                break
    if "period" not in meta.columns and "period" in lower:
        meta = meta.rename(columns={lower["period"]: "period"})
    meta["id"] = meta["id"].astype(str).str.strip().str.replace(r"\.dat(\.txt)?$", "", regex=True)
    return meta


def _meta_arg(meta, source: str) -> pd.DataFrame | None:
    if meta is None:
        return None
    if isinstance(meta, (str, Path)):
        meta = read_table(meta)
    return _normalise_meta(meta, source)


def read_ogle_dat(
    folder: str | Path,
    meta: pd.DataFrame | str | Path | None = None,
    *,
    classes: Sequence[str] = (),
    on_error: str = "reject",
    progress: bool = False,
) -> LightCurveSet:
    """A folder of raw OGLE `.dat` files (flat, or the OGLE tree field/class/phot/I/ID.dat; found
    recursively; `ID.dat.txt` accepted), or a single `.dat` file.

    Each file: whitespace-separated `HJD−2450000 mag err` (time in days as given, magnitudes).
    meta: table (DataFrame or file) with an id column (with or without `.dat`), class (`class` or
    `Type`) and optional period (`period`/`Period`, days). Without it the class is the id's third
    token (OGLE-LMC-DSCT-00310 -> DSCT) and there is no period. Only stars that have a file are
    returned; meta rows without a file are ignored.
    on_error: "reject" keeps an unparsable file as an empty curve with meta `read_error` (so that
    `validate` rejects it with that reason); "raise" raises the DataError at once.
    """
    folder = Path(folder)
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.is_file() and _suffix(p) in (".dat", ".dat.txt"))
    else:
        raise DataError(f"{folder}: no such file or folder")
    if not files:
        raise DataError(f"{folder}: no .dat files found (flat or field/class/phot/I/ID.dat) (rule: OGLE folder)")
    if on_error not in ("reject", "raise"):
        raise DataError(f"read_ogle_dat: on_error must be 'reject' or 'raise', got {on_error!r}")
    ids = [_ogle_id(p) for p in files]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise DataError(f"{folder}: star {dup!r} has more than one .dat file (rule: duplicated id)")
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="reading OGLE .dat", unit="file")
    times, mags, errs, read_errors = [], [], [], []
    for path in iterator:  # I/O loop over files (not a device hot path)
        try:
            t, m, e = parse_ogle_dat(path)
            read_errors.append(None)
        except DataError as err:
            if on_error == "raise":
                raise
            t = m = e = np.zeros(0)
            read_errors.append(str(err))
        times.append(t)
        mags.append(m)
        errs.append(e)
    table = pd.DataFrame({"id": ids, "file": [str(p) for p in files]})
    meta_df = _meta_arg(meta, str(meta) if isinstance(meta, (str, Path)) else "meta")
    if meta_df is None:
        table["class"] = [ogle_class_from_id(i) for i in ids]
    else:
        if meta_df["id"].duplicated().any():
            dup = meta_df["id"][meta_df["id"].duplicated()].iloc[0]
            raise DataError(f"meta: id {dup!r} appears twice (rule: duplicated id)")
        table = table.merge(meta_df, on="id", how="left", suffixes=("", "_meta"))
        if "class" not in table.columns:
            table["class"] = [ogle_class_from_id(i) for i in ids]
    if any(r is not None for r in read_errors):
        table["read_error"] = read_errors
    return LightCurveSet.from_arrays(ids, times, mags, errs, meta=table, classes=classes)


# ---------------------------------------------------------------------------- PELS-VAE .npy.gz
def read_pelsvae_npy_gz(
    path: str | Path,
    trust_pickle: bool = False,
    *,
    period_log10: bool | None = None,
    cycles: int = 1,
    classes: Sequence[str] = (),
) -> LightCurveSet:
    """The PELS-VAE folded data set (ORIGINAL.md §3.4): gzip of `np.save` of a 0-d object array
    wrapping {'lcs': (N, 600, 3) [phase in [0, 2), mag, err], 'meta': DataFrame(Type, OGLE_id,
    Period, physical parameters)}.

    The file is a Python pickle, which can run arbitrary code when loaded: it is refused with a
    DataError unless `trust_pickle=True`.

    Conversion: every row becomes one star of a folded curve. By default only the first cycle
    (phase < 1, the 300 original points; the second cycle is a copy shifted by one) is kept
    (`cycles=2` keeps both). Time = phase · period in days when the period is known (so folding
    with that period restores the phases), else time = phase (in cycles) and period = 1.
    Points are sorted by phase. `Period` is log10(days) in the `LOG` files: `period_log10=None`
    decides from the file name (contains 'LOG'). Ids: `OGLE_id`, with `~k` appended to the k-th
    repeat (augmentation repeats ids); the original id is kept in meta `source_id`.
    Meta keeps the physical-parameter columns under their original names; `class` = Type.
    """
    path = Path(path)
    if not trust_pickle:
        raise DataError(
            f"{path}: the PELS-VAE .npy.gz format is a Python pickle, and loading a pickle can run "
            "arbitrary code, so the commands refuse it. Only for a file you trust, convert it once to the "
            "standard layout in Python: from jaxpelsvae.data import read_pelsvae_npy_gz, write_standard; "
            f"write_standard(read_pelsvae_npy_gz({str(path)!r}, trust_pickle=True), 'OUT_FOLDER'); then pass "
            "OUT_FOLDER to the commands (rule: untrusted pickle)"
        )
    try:
        with gzip.open(path, "rb") as fh:
            obj = np.load(io.BytesIO(fh.read()), allow_pickle=True)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"{path}: cannot read PELS-VAE .npy.gz ({type(err).__name__}: {err}) "
                        "(rule: unreadable file)") from None
    data = obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object and obj.ndim == 0 else obj
    if not isinstance(data, dict) or "lcs" not in data or "meta" not in data:
        raise DataError(f"{path}: expected a dict with keys 'lcs' and 'meta' (rule: PELS-VAE format)")
    lcs_NT3 = np.asarray(data["lcs"], dtype=np.float64)
    meta = pd.DataFrame(data["meta"]).reset_index(drop=True)
    if lcs_NT3.ndim != 3 or lcs_NT3.shape[2] < 3 or lcs_NT3.shape[0] != len(meta):
        raise DataError(f"{path}: 'lcs' must be (N, T, 3) with N = len(meta) = {len(meta)}, got {lcs_NT3.shape} "
                        "(rule: PELS-VAE format)")
    for col in ("Type", "OGLE_id"):
        if col not in meta.columns:
            raise DataError(f"{path}: meta has no {col!r} column (rule: missing columns)")
    if period_log10 is None:
        period_log10 = "LOG" in path.name.upper()
    period = np.full(len(meta), np.nan)
    if "Period" in meta:
        period = pd.to_numeric(meta["Period"], errors="coerce").to_numpy(np.float64)
    if period_log10:
        period = 10.0 ** period
    known = np.isfinite(period) & (period > 0)
    scale = np.where(known, period, 1.0)
    phase, mag, err = lcs_NT3[..., 0], lcs_NT3[..., 1], lcs_NT3[..., 2]
    keep = np.isfinite(phase) & (phase < cycles)
    order = np.argsort(np.where(keep, phase, np.inf), axis=1, kind="stable")
    phase, mag, err = (np.take_along_axis(a, order, axis=1) for a in (phase, mag, err))
    keep = np.take_along_axis(keep, order, axis=1)
    lengths = keep.sum(1)
    offsets = np.zeros(len(meta) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    time = (phase * scale[:, None])[keep]
    src = meta["OGLE_id"].astype(str).str.replace(r"\.dat$", "", regex=True)
    rep = src.groupby(src).cumcount().to_numpy()
    ids = np.where(rep == 0, src.to_numpy(), src.to_numpy() + "~" + rep.astype(str))
    out = meta.drop(columns=["Type", "OGLE_id"] + (["Period"] if "Period" in meta else []))
    out.insert(0, "id", ids)
    out.insert(1, "class", meta["Type"].astype(str).to_numpy())
    out.insert(2, "period", scale)
    out.insert(3, "source_id", src.to_numpy())
    out["phase_folded"] = True
    return LightCurveSet(ids, time, mag[keep], err[keep], offsets, out, tuple(classes))


# ---------------------------------------------------------------------------- Gaia DR3 epoch photometry
_SOURCE_ID_IN_NAME = re.compile(r"(\d{6,})")


def _truthy(col: pd.Series) -> np.ndarray:
    if col.dtype == bool:
        return col.to_numpy()
    return col.astype(str).str.strip().str.lower().isin(("true", "1", "t", "yes")).to_numpy()


def _explode_array_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per source with array cells (gaiadr3.epoch_photometry as queried) -> one row per transit.

    Array cells may be numpy arrays (VOTable/ECSV) or strings like "(1.0, 2.0)" / "[1.0 2.0]" (CSV).
    """
    cols = [c for c in df.columns if c.startswith(("g_transit_", "variability_flag_g"))]
    parsed = {}
    for c in cols:
        cells = []
        for v in df[c]:
            if isinstance(v, str):
                tokens = [x for x in re.split(r"[\s,()\[\]]+", v) if x]
                if c.startswith("variability_flag"):
                    cells.append(np.array([x.lower() in ("true", "1", "t") for x in tokens]))
                else:
                    cells.append(np.array([np.nan if x.lower() in ("null", "nan", "--", "none") else float(x)
                                           for x in tokens]))
            elif np.ndim(v) == 0:
                cells.append(np.array([v]))
            else:
                arr = np.asarray(v)
                cells.append(np.ma.filled(np.ma.asarray(v), np.nan) if arr.dtype.kind == "f" else arr)
        parsed[c] = cells
    n = np.array([len(x) for x in parsed["g_transit_time"]])
    for c, cells in parsed.items():
        if any(len(x) != k for x, k in zip(cells, n)):
            raise DataError(f"{source}: array column {c!r} has a different length than g_transit_time "
                            "(rule: Gaia epoch photometry)")
    out = pd.DataFrame({c: np.concatenate(cells) if len(cells) else [] for c, cells in parsed.items()})
    out.insert(0, "source_id", np.repeat(df["source_id"].astype(str).to_numpy(), n))
    return out


def _has_array_cells(col: pd.Series) -> bool:
    if col.dtype.kind in "fiub":
        return False
    for v in col:
        if isinstance(v, (np.ndarray, list, tuple)):
            return True
        if isinstance(v, str):
            return bool(re.search(r"[\s,()\[\]]", v.strip()))
    return False


def _gaia_g_band(df: pd.DataFrame, source: str, drop_rejected: bool) -> pd.DataFrame:
    """DataFrame[id, time, mag, err] (G band) from any of the archive's epoch-photometry layouts."""
    cols = set(df.columns)
    if "source_id" not in cols and "id" in cols:
        df = df.rename(columns={"id": "source_id"})
        cols = set(df.columns)
    if "source_id" not in cols:
        raise DataError(f"{source}: no source_id column (rule: missing columns)")
    if "g_transit_time" in cols:
        if _has_array_cells(df["g_transit_time"]):
            df = _explode_array_columns(df, source)
        time_col, mag_col = "g_transit_time", "g_transit_mag"
        flux, flux_err, foe = "g_transit_flux", "g_transit_flux_error", "g_transit_flux_over_error"
        flags = ("variability_flag_g_reject", "rejected_by_variability", "rejected_by_photometry")
        reject_cols = [c for c in flags if c in df]
        rows = np.ones(len(df), bool)
    elif "band" in cols:
        rows = df["band"].astype(str).str.strip().str.upper().eq("G").to_numpy()
        time_col = "time" if "time" in cols else "obs_time"
        mag_col, flux, flux_err, foe = "mag", "flux", "flux_error", "flux_over_error"
        reject_cols = [c for c in ("rejected_by_variability", "rejected_by_photometry") if c in df]
    else:
        raise DataError(f"{source}: neither g_transit_* columns nor a band column: not Gaia epoch photometry "
                        "(rule: missing columns)")
    for c in (time_col, mag_col):
        if c not in df.columns:
            raise DataError(f"{source}: missing column {c!r} (rule: missing columns)")
    if drop_rejected:
        for c in reject_cols:
            rows = rows & ~_truthy(df[c])
    num = lambda c: pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)[rows]  # noqa: E731
    if "mag_error" in df.columns or "g_transit_mag_error" in df.columns:
        err = num("mag_error" if "mag_error" in df.columns else "g_transit_mag_error")
    elif flux in df.columns and flux_err in df.columns:
        err = MAG_PER_FLUX_RATIO * num(flux_err) / num(flux)
    elif foe in df.columns:
        err = MAG_PER_FLUX_RATIO / num(foe)
    else:
        raise DataError(f"{source}: no magnitude error: need {foe!r} or {flux!r}+{flux_err!r} (rule: missing columns)")
    return pd.DataFrame({"id": df["source_id"].astype(str).to_numpy()[rows], "time": num(time_col),
                         "mag": num(mag_col), "err": err})


def read_gaia_epoch(
    path: str | Path,
    meta: pd.DataFrame | str | Path | None = None,
    *,
    drop_rejected: bool = True,
    drop_nonfinite: bool = True,
    classes: Sequence[str] = (),
    progress: bool = False,
) -> LightCurveSet:
    """Gaia DR3 epoch photometry as the archive delivers it, G band only.

    path: one table for many sources, one file per source, or a folder of such files
    (csv, csv.gz, ecsv, votable .xml/.vot, fits, parquet). Layouts understood:
    - DataLink "INDIVIDUAL"/"COMBINED" rows: source_id, band (G/BP/RP), time, mag, flux,
      flux_error, flux_over_error, rejected_by_photometry, rejected_by_variability;
    - gaiadr3.epoch_photometry columns g_transit_time, g_transit_mag, g_transit_flux[_error],
      g_transit_flux_over_error, variability_flag_g_reject, either one row per transit or one row
      per source with array cells.
    Time stays as delivered: BJD(TCB) − 2455197.5 d. err = 2.5/ln10 · flux_error/flux, or
    2.5/ln10 / flux_over_error when only that is given. With `drop_rejected` transits flagged by
    the variability/photometry pipelines are dropped; with `drop_nonfinite` transits without a
    finite time/mag/err (Gaia leaves the magnitude of some transits empty) are dropped instead
    of rejecting the whole star. A file without a source_id column takes the id from the first
    long run of digits in its name (DataLink names like "EPOCH_PHOTOMETRY-Gaia DR3 123....xml").
    meta: optional table with source_id/id and class (and period); without it there are no classes.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in
                       (".csv", ".csv.gz", ".ecsv", ".xml", ".vot", ".votable", ".fits", ".parquet")
                       and p.name != "meta.csv")
        if not files:
            raise DataError(f"{path}: no epoch-photometry files (csv, ecsv, votable, fits, parquet)")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"{path}: no such file or folder")
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="reading Gaia epoch photometry", unit="file")
    frames = []
    for f in iterator:
        df = read_table(f)
        if "source_id" not in df.columns and "id" not in df.columns:
            m = _SOURCE_ID_IN_NAME.findall(f.name)
            if not m:
                raise DataError(f"{f}: no source_id column and no source id in the file name (rule: missing columns)")
            df["source_id"] = m[-1]
        frames.append(_gaia_g_band(df, str(f), drop_rejected))
    lc = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if drop_nonfinite:
        lc = lc[np.isfinite(lc[["time", "mag", "err"]].to_numpy()).all(1)]
    meta_df = _meta_arg(meta, str(meta) if isinstance(meta, (str, Path)) else "meta")
    if meta_df is not None:
        meta_df = meta_df[meta_df["id"].isin(lc["id"].unique())]
    return LightCurveSet.from_frames(lc, meta_df, classes=classes, source=str(path))


# ---------------------------------------------------------------------------- auto-detection
def _table_kind(columns) -> str | None:
    cols = {c.lower() for c in columns}
    if "g_transit_time" in cols or ("band" in cols and ("time" in cols or "obs_time" in cols)):
        return "gaia"
    if {"id", "time", "mag", "err"} <= cols:
        return "long"
    return None


def _peek_columns(path: Path) -> list[str]:
    if _suffix(path) in (".csv", ".csv.gz"):
        try:
            return list(pd.read_csv(path, nrows=0).columns)
        except Exception as err:  # noqa: BLE001
            raise DataError(f"{path}: cannot read table ({err}) (rule: unreadable file)") from None
    return list(read_table(path).columns)


def read_dataset(path: str | Path, **kw) -> LightCurveSet:
    """Read any supported dataset, detecting the format; keyword arguments go to the chosen reader.

    - folder with lightcurves.* (+ meta.csv, without which the curves are unlabelled) -> `read_standard`
    - `.npy.gz` / `.npy` file (or a folder holding exactly one) -> `read_pelsvae_npy_gz` (needs trust_pickle=True)
    - `.dat` file or folder with `.dat` files (any depth) -> `read_ogle_dat`
    - table file(s) with Gaia epoch-photometry columns -> `read_gaia_epoch` (a meta.csv beside is used)
    - a single long table id,time,mag,err -> rows as light curves, meta.csv beside it if present
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if any((path / f"lightcurves.{fmt}").is_file() for fmt in STANDARD_FORMATS):
            return read_standard(path, **kw)
        npy = sorted(p for p in path.iterdir() if _suffix(p) in (".npy.gz", ".npy"))
        if len(npy) == 1 and not any(path.rglob("*.dat")):
            return read_pelsvae_npy_gz(npy[0], **kw)
        if any(_suffix(p) in (".dat", ".dat.txt") for p in path.rglob("*") if p.is_file()):
            if "meta" not in kw and (path / "meta.csv").is_file():
                kw["meta"] = path / "meta.csv"
            return read_ogle_dat(path, **kw)
        tables = [p for p in sorted(path.iterdir()) if p.is_file() and p.name != "meta.csv" and _suffix(p) in
                  (".csv", ".csv.gz", ".ecsv", ".xml", ".vot", ".votable", ".fits", ".parquet")]
        if tables and _table_kind(_peek_columns(tables[0])) == "gaia":
            if "meta" not in kw and (path / "meta.csv").is_file():
                kw["meta"] = path / "meta.csv"
            return read_gaia_epoch(path, **kw)
        raise DataError(f"{path}: cannot tell the dataset format (expected lightcurves.* + meta.csv, .dat files, "
                        "Gaia epoch photometry or a PELS-VAE .npy.gz)")
    suffix = _suffix(path)
    if suffix in (".npy.gz", ".npy"):
        return read_pelsvae_npy_gz(path, **kw)
    if suffix in (".dat", ".dat.txt"):
        return read_ogle_dat(path, **kw)
    if path.name.startswith("lightcurves."):
        return read_standard(path.parent, **kw)
    kind = _table_kind(_peek_columns(path))
    meta_beside = path.parent / "meta.csv"
    if kind == "gaia":
        if "meta" not in kw and meta_beside.is_file():
            kw["meta"] = meta_beside
        return read_gaia_epoch(path, **kw)
    if kind == "long":
        meta = kw.pop("meta", meta_beside if meta_beside.is_file() else None)
        meta_df = _meta_arg(meta, str(meta)) if meta is not None else None
        return LightCurveSet.from_frames(read_table(path), meta_df, source=str(path), **kw)
    raise DataError(f"{path}: cannot tell the format from its columns (rule: missing columns)")


def load_dataset(
    path: str | Path,
    *,
    workdir: str | Path | None = None,
    min_points: int | None = None,
    classes: Sequence[str] | None = None,
    require_class: bool = True,
    **kw,
) -> tuple[LightCurveSet, pd.DataFrame]:
    """read_dataset + validate (+ rejected.csv in `workdir`): the usual entry point of a run.

    require_class: False keeps stars without a class (unlabelled curves: donors, `predict`).
    Returns (usable LightCurveSet, rejected DataFrame[id, reason]); raises DataError only when no
    star is usable.
    """
    from jaxpelsvae.data.validate import DEFAULT_MIN_POINTS, validate, write_rejected

    lcs = read_dataset(path, **kw)
    kept, rejected = validate(
        lcs, min_points=DEFAULT_MIN_POINTS if min_points is None else min_points, classes=classes,
        require_class=require_class, source=str(path),
    )
    if workdir is not None:
        write_rejected(rejected, workdir)
    return kept, rejected
