"""The one physical-parameter schema: canonical names, accepted column spellings, units and log10 transforms.

Both consumers read parameters through this module: the PELS-VAE inputs (`models.vae_inputs`) and
the priors / latent-model space (`physics.priors`). Before it existed they kept two alias tables that
disagreed (Gaia DR3 `teff_gspphot` was a VAE input but invisible to the priors), so the same meta
table gave the VAE and the priors different parameters.

Units of the model space are the original's `LOG` files (ORIGINAL.md §3.3-3.4): log10 period [d],
log10 Teff [K], [Fe/H] [dex], absolute G magnitude [mag], log10 radius [R_sun], logg [dex, cgs].
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

TRANSFORMS = ("log10", "none")


class PhysParam(NamedTuple):
    """One canonical parameter: accepted meta columns (in order of preference), linear unit, transform."""

    name: str
    aliases: tuple[str, ...]
    unit: str
    transform: str


# Aliases: our name first, then survey spellings (Gaia DR3 *_gspphot, Gaia DR2 *_val, OGLE / the
# original's feature tables, the original's priors.yaml keys). Single letters are left out on
# purpose: a column `R` or `P` is as likely an R-band magnitude or a probability as a radius or period.
SCHEMA: dict[str, PhysParam] = {p.name: p for p in (
    PhysParam("period", ("period", "Period", "period_days"), "d", "log10"),
    PhysParam("teff", ("teff", "Teff", "teff_gspphot", "teff_val", "TEFF"), "K", "log10"),
    PhysParam("feh", ("feh", "[Fe/H]", "[Fe/H]_J95", "FeH_J95", "FeH", "fe_h", "mh_gspphot", "metallicity"),
              "dex", "none"),
    PhysParam("abs_gmag", ("abs_gmag", "abs_Gmag", "abs_G", "M_G", "absmag_g"), "mag", "none"),
    PhysParam("radius", ("radius", "radius_gspphot", "radius_val", "radius_rsun"), "R_sun", "log10"),
    PhysParam("logg", ("logg", "logg_gspphot", "log_g", "logg_val"), "dex (cgs)", "none"),
)}

DEFAULT_PARAMS: tuple[str, ...] = tuple(SCHEMA)
DEFAULT_LOG10_PARAMS: tuple[str, ...] = tuple(n for n, p in SCHEMA.items() if p.transform == "log10")


def aliases(name: str) -> tuple[str, ...]:
    """Accepted column names of a parameter; a name outside the schema is a literal column."""
    return SCHEMA[name].aliases if name in SCHEMA else (name,)


def transform_of(name: str) -> str:
    """'log10' or 'none': the transform into the model space (literal columns: 'none')."""
    return SCHEMA[name].transform if name in SCHEMA else "none"


def canonical_name(column: str) -> str | None:
    """The canonical parameter a column name spells (exact, then case-insensitive), or None."""
    for exact in (True, False):
        for name, p in SCHEMA.items():
            if any(a == column if exact else a.lower() == column.lower() for a in p.aliases):
                return name
    return None


def resolve_column(columns: Iterable[str], name: str) -> str | None:
    """The column holding parameter `name`: the first alias present exactly, else the first present
    case-insensitively (so an exact `Teff` beats a `teff` spelled otherwise); None when absent."""
    columns = [str(c) for c in columns]
    present = set(columns)
    names = aliases(name)
    for alias in names:
        if alias in present:
            return alias
    lower = {}
    for c in columns:
        lower.setdefault(c.lower(), c)
    for alias in names:
        if alias.lower() in lower:
            return lower[alias.lower()]
    return None


def apply_transform(values, transform: str) -> np.ndarray:
    """Linear values -> the model space; non-positive values under log10 become NaN."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; expected one of {TRANSFORMS}")
    raw = np.asarray(values, np.float64)
    if transform == "none":
        return raw.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(raw > 0, np.log10(np.where(raw > 0, raw, 1.0)), np.nan)


__all__ = ["DEFAULT_LOG10_PARAMS", "DEFAULT_PARAMS", "SCHEMA", "PhysParam", "aliases", "apply_transform",
           "canonical_name", "resolve_column", "transform_of"]
