"""Host-side inputs of the PELS-VAE: physical-parameter columns (aliases, log units, per-class imputation)
and their min-max scaler, one-hot labels.

Shape suffixes: see `jaxpelsvae` (package docstring).

The six default parameters are the original's `PTMARG` set (ORIGINAL.md §3.3-3.4) in the units of
its `LOG` files: log10 period [days], log10 Teff [K], [Fe/H] [dex], absolute G magnitude, log10
radius [R_sun], logg [dex, cgs]. Missing values are filled with the median of the star's class (the
original imputed per class too, with a KNN imputer); the counts are reported.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.physics.schema import DEFAULT_PARAMS, SCHEMA, apply_transform, resolve_column, transform_of

DEFAULT_PHYS = DEFAULT_PARAMS

# Canonical name -> (accepted meta column names, in order of preference; transform applied), read
# from the one schema that the priors use too (`physics.schema`).
PHYS_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {n: (p.aliases, p.transform) for n, p in SCHEMA.items()}


@dataclasses.dataclass(frozen=True)
class PhysScaler:
    """Min-max scaling of physical parameters to [0, 1] (fitted on the data), kept with the model.

    names: canonical parameter names; columns: the meta columns they were read from; transforms:
    "log10" or "none" applied before scaling (see `PHYS_COLUMNS`).
    """

    names: tuple[str, ...]
    data_min: tuple[float, ...]
    data_max: tuple[float, ...]
    columns: tuple[str, ...] = ()
    transforms: tuple[str, ...] = ()

    @classmethod
    def fit(cls, phys_NP: np.ndarray, names: Sequence[str], *, columns: Sequence[str] = (),
            transforms: Sequence[str] = ()) -> "PhysScaler":
        phys_NP = np.asarray(phys_NP, dtype=np.float64).reshape(-1, len(names))
        if not np.all(np.isfinite(phys_NP)):
            raise DataError("physical parameters contain non-finite values; impute them before scaling")
        if len(phys_NP):
            lo, hi = phys_NP.min(axis=0), phys_NP.max(axis=0)
        else:
            lo, hi = np.zeros(len(names)), np.ones(len(names))
        return cls(tuple(names), tuple(float(v) for v in lo), tuple(float(v) for v in hi),
                   tuple(columns), tuple(transforms))

    def _span(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.asarray(self.data_min, np.float64), np.asarray(self.data_max, np.float64)
        return lo, np.where(hi > lo, hi - lo, 1.0)

    def transform(self, phys_NP: np.ndarray) -> np.ndarray:
        """(N, P) transformed values (log units) -> (N, P) float32 in [0, 1] (constant columns -> 0)."""
        lo, span = self._span()
        return ((np.asarray(phys_NP, np.float64).reshape(-1, len(self.names)) - lo) / span).astype(np.float32)

    def inverse_transform(self, scaled_NP: np.ndarray) -> np.ndarray:
        """(N, P) scaled -> (N, P) float64 in the transformed (log) units."""
        lo, span = self._span()
        return np.asarray(scaled_NP, np.float64).reshape(-1, len(self.names)) * span + lo

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PhysScaler":
        return cls(tuple(d["names"]), tuple(float(v) for v in d["data_min"]), tuple(float(v) for v in d["data_max"]),
                   tuple(d.get("columns", ())), tuple(d.get("transforms", ())))


class PhysTable(NamedTuple):
    """Physical parameters of N stars: values_NP float64 in transformed units (no NaN after imputation),
    names/columns/transforms per parameter, imputed {name: count filled}, dropped {name: reason}."""

    values: np.ndarray
    names: tuple[str, ...]
    columns: tuple[str, ...]
    transforms: tuple[str, ...]
    imputed: dict[str, int]
    dropped: dict[str, str]


def _find_column(meta: pd.DataFrame, name: str) -> tuple[str | None, str]:
    """Meta column for a parameter name (canonical or a literal column) and its transform (`physics.schema`)."""
    return resolve_column(meta.columns, name), transform_of(name)


def physical_parameters(meta: pd.DataFrame, labels_N: np.ndarray, names: Sequence[str] = DEFAULT_PHYS, *,
                        periods_N: np.ndarray | None = None, strict: bool = False,
                        source: str = "meta") -> PhysTable:
    """Read, transform and impute physical parameters from a meta table.

    names: canonical names (see PHYS_COLUMNS: common column spellings are accepted) or literal
    column names (used as they are). periods_N (days) overrides the meta period (e.g. found by
    Lomb-Scargle). Values that are not finite (or <= 0 before a log10) are missing; they are filled
    with the median of the star's class (labels_N), or the median of all stars when the class has
    none. strict: a parameter that is absent or entirely missing raises ConfigError; otherwise it
    is dropped and listed in `dropped`.
    """
    labels_N = np.asarray(labels_N)
    n = len(meta)
    cols, used, columns, transforms, imputed, dropped = [], [], [], [], {}, {}
    for name in names:
        column, transform = _find_column(meta, name)
        if name == "period" and periods_N is not None:
            raw = np.asarray(periods_N, np.float64).reshape(-1)
            column = column or "period (found)"
        elif column is None:
            msg = f"no column for {name!r} (accepted: {', '.join(PHYS_COLUMNS.get(name, ((name,), ''))[0])})"
            if strict:
                raise ConfigError(f"{source}: {msg} (rule: missing physical-parameter column)")
            dropped[name] = msg
            continue
        else:
            raw = pd.to_numeric(meta[column], errors="coerce").to_numpy(np.float64)
        vals = apply_transform(raw, transform)
        missing = ~np.isfinite(vals)
        if missing.all():
            msg = f"column {column!r} has no usable value"
            if strict:
                raise ConfigError(f"{source}: {msg} for {name!r} (rule: missing physical parameter)")
            dropped[name] = msg
            continue
        if missing.any():
            overall = float(np.median(vals[~missing]))
            for k in np.unique(labels_N[missing]):
                in_class = labels_N == k
                ok = in_class & ~missing
                fill = float(np.median(vals[ok])) if ok.any() else overall
                vals[in_class & missing] = fill
        imputed[name] = int(missing.sum())
        cols.append(vals)
        used.append(name)
        columns.append(column)
        transforms.append(transform)
    values = np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.float64)
    return PhysTable(values, tuple(used), tuple(columns), tuple(transforms), imputed, dropped)


def one_hot(labels_N: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) int labels -> (N, K) float32 one-hot."""
    labels_N = np.asarray(labels_N, np.int64)
    if len(labels_N) and (labels_N.min() < 0 or labels_N.max() >= num_classes):
        raise DataError(f"labels must lie in [0, {num_classes}), got range [{labels_N.min()}, {labels_N.max()}]")
    return np.eye(num_classes, dtype=np.float32)[labels_N]
