"""The one period filler: catalogue periods as given, Lomb-Scargle for the rest (label-free, or within class limits for fitting).

Two uses, one function (DESIGN.md principle 7):
  * what a classifier reads: `fill_periods(lcs)` without class limits, the same for training,
    validation, test and unlabelled stars, so no label reaches an input through the period;
  * fitting the VAE / generator on training stars: `fill_for_fitting(train, class_limits)` searches
    each labelled star within its class's period limits (sparse cadences alias, e.g. Gaia LPVs peak
    at 0.03 d), and takes an eclipsing binary's period among its periodogram's peaks and their
    doubles by the coherence of its fold (`dispersion.coherent_periods`), for the fitter's own use
    only; its result must not flow back into classifier inputs.
meta['period_source'] says where each period came from: `catalogue` (given in the data, used as is),
`lomb_scargle` (label-free search) or `lomb_scargle_class` (class-limited search).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jaxpelsvae.errors import DataError
from jaxpelsvae.period.grid import auto_grid
from jaxpelsvae.period.search import (
    CLASS_LIMIT_MARGIN,
    PeriodConfig,
    class_limited_config,
    find_periods,
    find_periods_by_class,
)

CATALOGUE = "catalogue"
LOMB_SCARGLE = "lomb_scargle"
LOMB_SCARGLE_CLASS = "lomb_scargle_class"
# spellings of a given period's source written by earlier versions
_CATALOGUE_ALIASES = ("", "nan", "none", "meta", CATALOGUE)

# The search's quality of a found period, kept in meta (columns) from `find_periods` (names).
QUALITY_COLUMNS = {"period_power": "power", "period_fap": "fap", "period_alias_flag": "alias_flag"}
_MISSING = {"period_power": np.nan, "period_fap": np.nan, "period_alias_flag": False}
# Classes whose fitting period is the most coherent fold among the periodogram's peaks and their
# doubles at or above the class's minimum period (`dispersion.coherent_periods`): an eclipse is no
# sinusoid. On EROS-1 dev's 100 eclipsing binaries (catalogue periods hidden) it finds 37 % within
# 1 % against the class-limited search's 28 %, and puts 4 % above 11 d (the catalogue: 3 %) against
# 25 %; on 100 simulated Gaia-cadence binaries 28 % against 30 %, above 11 d 0 % against 15 %; below
# the class minimum 0 % on both and on Gaia DR3 dev (experiments/README.md).
COHERENT_FOLD_CLASSES = ("ECL",)

if TYPE_CHECKING:
    from jaxpelsvae.data.lightcurves import LightCurveSet


def _valid(periods: np.ndarray) -> np.ndarray:
    return np.isfinite(periods) & (periods > 0)


def period_sources(lcs: LightCurveSet) -> np.ndarray:
    """(N,) object array: each star's period source; a valid meta period without a recorded source is
    a catalogue period, a star without a valid period has source ''."""
    periods = lcs.periods
    valid = np.zeros(len(lcs), bool) if periods is None else _valid(periods)
    if "period_source" in lcs.meta.columns:
        # fillna first: pandas 3's str dtype keeps a missing source (a concatenated set) as NaN
        raw = lcs.meta["period_source"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        src = np.array([CATALOGUE if s.lower() in _CATALOGUE_ALIASES else s for s in raw], dtype=object)
    else:
        src = np.full(len(lcs), CATALOGUE, dtype=object)
    return np.where(valid, src, "")


def _quality(lcs: LightCurveSet) -> dict[str, np.ndarray]:
    """Each star's period quality as recorded in meta (missing where there is none)."""
    out = {}
    for column, missing in _MISSING.items():
        dtype = bool if isinstance(missing, bool) else np.float64
        if column in lcs.meta.columns:
            out[column] = lcs.meta[column].fillna(missing).to_numpy(dtype, copy=True)  # filled in place
        else:
            out[column] = np.full(len(lcs), missing, dtype)
    return out


def without_labels(lcs: LightCurveSet) -> LightCurveSet:
    """``lcs`` with no `class` column: a search on it cannot read a label (the doubling test of
    `PeriodConfig.double_test='auto'` picks its stars by class, which would hand the class of an
    eclipsing binary to every view that folds at the period)."""
    if "class" not in lcs.meta.columns:
        return lcs
    return dataclasses.replace(lcs, meta=lcs.meta.drop(columns=["class"]), classes=())


def baseline_bucket(baseline_days: np.ndarray) -> np.ndarray:
    """The power of two (days, at least 1) at or above each time span: the span a star's
    label-free frequency grid is built for."""
    span = np.maximum(np.asarray(baseline_days, np.float64), 1.0)
    return np.exp2(np.ceil(np.log2(span)))


def find_periods_label_free(lcs: LightCurveSet, config: PeriodConfig | None = None, *,
                            progress: bool = False) -> pd.DataFrame:
    """`find_periods` of every star with no label and a frequency grid that depends on the star alone.

    A set's shared grid is built on its longest time span, so a star's period would change with the
    company it is searched in (a test star alone vs. within its survey, a curve in `predict`). Stars
    are grouped by `baseline_bucket` of their own span and each group is searched on its bucket's
    grid: the same curve gets the same period in any set.
    """
    config = config or PeriodConfig()
    lcs = without_labels(lcs)
    spans = np.zeros(len(lcs))
    has = lcs.lengths > 1
    starts = lcs.offsets[:-1][has]
    spans[has] = np.maximum.reduceat(lcs.time, starts) - np.minimum.reduceat(lcs.time, starts)
    bucket = baseline_bucket(spans)
    out = []
    for b in np.unique(bucket):  # a handful of buckets, each one batched search
        idx = np.flatnonzero(bucket == b)
        sub = lcs.select(idx)
        grid = auto_grid(float(b), min_period=config.min_period, max_period=config.max_period,
                         oversampling=config.oversampling, n_points=int(np.median(sub.lengths)))
        if (sub.lengths > 1).any():
            out.append(find_periods(sub, config, grid=grid, progress=progress))
        else:
            out.append(pd.DataFrame({"id": sub.ids, "period": np.nan, "power": np.nan, "fap": np.nan,
                                     "alias_flag": False}))
    found = pd.concat(out, ignore_index=True)
    order = {str(i): k for k, i in enumerate(lcs.ids)}
    return found.iloc[np.argsort([order[str(i)] for i in found["id"]], kind="stable")].reset_index(drop=True)


def fill_periods(
    lcs: LightCurveSet,
    *,
    class_limits: dict | None = None,
    margin: float = CLASS_LIMIT_MARGIN,
    config: PeriodConfig | None = None,
    progress: bool = False,
    on_group=None,
    **search_overrides,
) -> tuple[LightCurveSet, int]:
    """Complete meta['period'] [d] and meta['period_source'] of every star.

    Catalogue periods are kept as given. Other stars are searched with Lomb-Scargle
    (`find_periods`; `config` and `search_overrides` set `PeriodConfig`):
      class_limits None (or empty): label-free, source `lomb_scargle`; stars that already hold a
        `lomb_scargle` period keep it (the same search would give the same period).
      class_limits {class: (min, max)} days: a star whose class is listed is searched within
        [min / margin, max * margin] (`find_periods_by_class`), source `lomb_scargle_class`, also
        when it held a label-free period; stars of unlisted classes or without a class get the
        label-free search. For fitting on training stars only (module docstring).
    Searched stars also get the search's quality in meta: `period_power`, `period_fap` and
    `period_alias_flag` (`find_periods`' power, fap and alias_flag; NaN, NaN, False for catalogue
    periods). Stars where nothing is found get NaN. Returns (the set with the completed meta, number of stars
    searched that got a period).
    """
    n = len(lcs)
    periods = lcs.periods
    periods = np.full(n, np.nan) if periods is None else periods.copy()
    source = period_sources(lcs)
    limits = dict(class_limits or {})
    if limits and "class" in lcs.meta.columns:
        cls = lcs.meta["class"].to_numpy(dtype=object)
        limited = np.array([isinstance(c, str) and c in limits for c in cls])
    else:
        limited = np.zeros(n, bool)
    target = np.where(limited, LOMB_SCARGLE_CLASS, LOMB_SCARGLE)
    quality = _quality(lcs)
    search = (source != CATALOGUE) & (source != target)
    if search.any():
        idx = np.flatnonzero(search)
        sub = lcs.select(idx)
        if limited[idx].any():
            found = find_periods_by_class(sub, limits, config, margin=margin, progress=progress,
                                          on_group=on_group, **search_overrides)
        else:
            found = find_periods_label_free(sub, dataclasses.replace(config or PeriodConfig(), **search_overrides),
                                            progress=progress)
        found = found.set_index(found["id"].astype(str)).reindex([str(i) for i in lcs.ids[idx]])
        periods[idx] = found["period"].to_numpy(float)
        source[idx] = target[idx]
        for column, name in QUALITY_COLUMNS.items():
            quality[column][idx] = found[name].to_numpy(quality[column].dtype, na_value=_MISSING[column])
    meta = lcs.meta.copy()
    meta["period"] = periods
    meta["period_source"] = np.where(_valid(periods), source, "").astype(str)
    for column, values in quality.items():
        meta[column] = np.where(source == CATALOGUE, _MISSING[column], values)
    out = lcs.with_meta(meta).with_classes(lcs.classes)
    return out, int(_valid(periods[search]).sum())


def fill_for_fitting(lcs: LightCurveSet, class_limits: dict, *, margin: float = CLASS_LIMIT_MARGIN,
                     config: PeriodConfig | None = None, drop_missing: bool = False, progress: bool = False,
                     source: str = "the training stars", coherent_classes: Sequence[str] = COHERENT_FOLD_CLASSES
                     ) -> tuple[LightCurveSet, dict[str, int]]:
    """`fill_periods` with `class_limits` for fitting (the VAE, the generator) on training stars,
    where every star needs a period: those still without one are left out when `drop_missing`,
    else a DataError naming one (`source` says whose). Searched stars of `coherent_classes` then
    take the most coherent fold among their class-limited periodogram's peaks and doubles (their
    `period_power` and `period_fap` stay the search's). Returns (set, {n_searched: stars whose
    period was searched afresh, n_dropped, n_refolded: stars whose period the fold's coherence changed})."""
    before = period_sources(lcs)
    filled, _ = fill_periods(lcs, class_limits=class_limits, margin=margin, config=config, progress=progress)
    filled, n_refolded = _coherent_folds(filled, class_limits, margin, config or PeriodConfig(), coherent_classes)
    ok = _valid(filled.periods)
    info = {"n_searched": int((period_sources(filled) != before).sum()), "n_dropped": int((~ok).sum()),
            "n_refolded": n_refolded}
    if ok.all():
        return filled, info
    if not drop_missing:
        raise DataError(f"{source}: no period found for {int((~ok).sum())} stars, e.g. "
                        f"{str(lcs.ids[np.flatnonzero(~ok)[0]])!r} (rule: missing period)")
    if not ok.any():
        raise DataError(f"the VAE needs periods: none of {source} has one")
    return filled.select(ok), info


def _coherent_folds(lcs: LightCurveSet, class_limits: dict, margin: float, config: PeriodConfig,
                    classes: Sequence[str]) -> tuple[LightCurveSet, int]:
    """The class-limited periods of the stars of `classes` replaced by their most coherent fold
    (searched within the same limits, chosen at or above the class's minimum period); (set, how many changed)."""
    from jaxpelsvae.period.dispersion import coherent_periods

    if "class" not in lcs.meta.columns:
        return lcs, 0
    periods, sources = lcs.periods.copy(), period_sources(lcs)
    names = lcs.meta["class"].astype(str).to_numpy()
    changed = 0
    for name in classes:
        idx = np.flatnonzero((names == name) & (sources == LOMB_SCARGLE_CLASS) & _valid(periods))
        if name not in class_limits or idx.size == 0:
            continue
        new = coherent_periods(lcs.select(idx), periods[idx], class_limited_config(config, class_limits[name], margin),
                               shortest=class_limits[name][0])
        changed += int((new != periods[idx]).sum())
        periods[idx] = new
    if not changed:
        return lcs, 0
    return lcs.with_meta(lcs.meta.assign(period=periods)).with_classes(lcs.classes), changed


__all__ = ["CATALOGUE", "LOMB_SCARGLE", "LOMB_SCARGLE_CLASS", "QUALITY_COLUMNS", "COHERENT_FOLD_CLASSES", "fill_for_fitting", "find_periods_label_free", "fill_periods", "period_sources",
           "without_labels"]
