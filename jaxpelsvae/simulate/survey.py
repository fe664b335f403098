"""A simulated survey: physical parameters -> light-curve models -> cadence and noise -> dataset.

`simulate_survey(counts, cadence, seed)` returns a `LightCurveSet` whose meta table holds `class`,
`subclass`, `period` [d] and the six physical parameters (see `params.PARAM_UNITS`) plus
`mass`, the binary companion and orbit (`mass2`, `radius2`, `teff2`, `incl_deg`, `separation`,
`ecc`, `omega_deg`), and the
observation (`band`, `mean_mag`, `distance_pc`, `a_v`). Work is vectorised over stars; the only
Python loops run over classes and fixed-size chunks of stars (to bound memory).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.simulate import cadence as cad
from jaxpelsvae.simulate import shapes
from jaxpelsvae.simulate.donors import DonorCadences
from jaxpelsvae.simulate.surveys import CADENCES, Cadence
from jaxpelsvae.simulate.params import CLASSES, DEFAULT_FRACTIONS, draw_params

META_COLUMNS = (
    "id", "class", "subclass", "period", "teff", "feh", "abs_gmag", "radius", "logg", "mass",
    "luminosity", "mass2", "radius2", "teff2", "incl_deg", "separation", "ecc", "omega_deg", "band", "mean_mag",
    "distance_pc", "a_v",
)


# Padded epochs per star a chunk may average: long curves (TESS sectors, dense donors) come in
# smaller chunks; OGLE's at most 1500 epochs never reach it, which keeps its chunks as they were.
CHUNK_EPOCHS_PER_STAR = 2048


def _chunk_starts(n_points_sorted: np.ndarray, chunk_size: int) -> list[int]:
    """Start of each chunk of stars (sorted by epochs): at most `chunk_size` stars and
    chunk_size * CHUNK_EPOCHS_PER_STAR padded epochs (the longest star's width times the count)."""
    budget = chunk_size * CHUNK_EPOCHS_PER_STAR
    n = n_points_sorted.shape[0]
    starts, start = [], 0
    while start < n:  # loop over chunks
        starts.append(start)
        count = np.arange(1, min(chunk_size, n - start) + 1)
        fits = count * np.maximum(n_points_sorted[start : start + count.shape[0]], 1) <= budget
        start += max(int(fits.sum()), 1)  # the fitting prefix (its widths only grow)
    return starts


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings: number of stars when no counts are given, cadence (a `CADENCES` name),
    interstellar extinction on or off, stars per chunk (at most; a chunk also holds at most
    chunk_size * CHUNK_EPOCHS_PER_STAR padded epochs; bounds memory; each chunk has its own
    random stream, so keep it fixed to reproduce a survey bit for bit)."""

    n_stars: int = 10_000
    cadence: str = "ogle"
    extinction: bool = True
    chunk_size: int = 2048


def default_counts(n_stars: int, fractions: dict | None = None) -> dict[str, int]:
    """Stars per class for `n_stars` in total with the catalogue-like default class balance
    (largest-remainder rounding; every class gets at least one star when n_stars >= 5)."""
    if n_stars < 0:
        raise ConfigError(f"simulate: n_stars must be >= 0, got {n_stars}")
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    names = [c for c in CLASSES if c in fractions]
    p = np.array([fractions[c] for c in names], np.float64)
    p /= p.sum()
    raw = p * n_stars
    base = np.floor(raw).astype(int)
    if n_stars >= len(names):
        base = np.maximum(base, 1)
    rest = n_stars - base.sum()
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    for i in range(abs(rest)):  # loop over classes
        j = order[i % len(order)] if rest > 0 else np.argmax(base)
        base[j] += 1 if rest > 0 else -1
    return {c: int(k) for c, k in zip(names, base)}


def parse_counts(text: str) -> dict[str, int]:
    """'CEP=100,DSCT=50' -> {'CEP': 100, 'DSCT': 50} (ConfigError on a bad entry or class)."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or name not in CLASSES:
            raise ConfigError(f"simulate --counts: bad entry {part!r}; expected CLASS=N with CLASS in {CLASSES}")
        try:
            counts[name] = int(value)
        except ValueError:
            raise ConfigError(f"simulate --counts: {part!r} is not an integer count") from None
        if counts[name] < 0:
            raise ConfigError(f"simulate --counts: {part!r} is negative")
    return counts


def _simulate_class(cls: str, n: int, cadence: Cadence, seed: int, config: SimConfig,
                    donors: DonorCadences | None = None):
    """Curves of `n` stars of one class: (meta DataFrame, lengths (n,), time, mag, err (M,))."""
    survey = cadence.survey
    k = CLASSES.index(cls)
    params = draw_params(cls, n, np.random.default_rng([seed, k, 0]))
    rng = np.random.default_rng([seed, k, 1])
    shape = shapes.draw_shape(cls, params, survey.band, rng)
    abs_band = cad.absolute_mag(params["abs_gmag"], params["teff"], survey.band)
    target = None
    if donors is not None:  # its own stream: the stars' parameters stay those of the same seed without donors
        donor = np.random.default_rng([seed, k, 3]).integers(0, len(donors), n)
        target = donors.median_mag[donor]
    mean_mag, dist, a_v = cad.place_stars(abs_band, survey, rng, extinction=config.extinction, target=target)
    chunk_size = config.chunk_size
    if donors is not None:
        n_points = donors.lengths[donor]
    elif cadence.n_points is not None:
        n_points = cadence.n_points(n, rng)
    else:
        n_points = np.zeros(n, np.int64)
    # Stars are processed in order of their number of epochs so that a chunk's padded (n, T)
    # arrays waste little; the curves are put back in star order at the end.
    order = np.argsort(n_points, kind="stable")
    times, mags, errs, lengths = [], [], [], []
    starts = _chunk_starts(n_points[order], chunk_size)
    for c, (start, stop) in enumerate(zip(starts, starts[1:] + [n])):  # chunks of stars bound the memory
        idx = order[start:stop]
        crng = np.random.default_rng([seed, k, 2, c])
        if donors is not None:
            t, err, mask = donors.padded(donor[idx])
        elif cadence.n_points is not None:
            t, mask = cadence.times(n_points[idx], crng)
        else:
            t, mask = cadence.times(idx.shape[0], crng)
        true = mean_mag[idx, None] + shapes.evaluate(cls, shapes.take(shape, idx), t)
        if donors is None:
            mag, err = cad.add_noise(true, survey, crng)
        else:
            # The donor's errors, scaled by the survey's error law from its magnitude to the star's:
            # a factor 1 unless the star could not be placed at the donor's magnitude (10 pc - 60 kpc).
            scale = survey.error(mean_mag[idx]) / survey.error(donors.median_mag[donor[idx]])
            mag, err = cad.observe(true, err * scale[:, None], survey, crng)
        times.append(t[mask])
        mags.append(mag[mask])
        errs.append(err[mask])
        lengths.append(mask.sum(axis=1))
    # Ids name the seed and the cadence: independently simulated surveys share no star id, so the
    # fitted-star records (data.provenance) never take one survey's stars for another's.
    name = survey.name.upper() if donors is None else f"{survey.name.upper()}-FROM{donors.tag}"
    meta = pd.DataFrame({"id": [f"SIM{seed}-{name}-{cls}-{i:07d}" for i in range(n)], "class": cls})
    for name, values in params.items():
        meta[name] = values
    meta["band"] = survey.band
    meta["mean_mag"] = mean_mag
    meta["distance_pc"] = dist
    meta["a_v"] = a_v
    length_sorted = np.concatenate(lengths)
    gather = _csr_gather(length_sorted, np.argsort(order, kind="stable"))
    lengths_star = np.empty(n, np.int64)
    lengths_star[order] = length_sorted
    return meta, lengths_star, *(np.concatenate(x)[gather] for x in (times, mags, errs))


def _csr_gather(lengths_sorted: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Index that reorders concatenated curves (stored in processing order with `lengths_sorted`)
    into star order, where star i was processed at position rank[i]."""
    starts = np.zeros(lengths_sorted.shape[0], np.int64)
    np.cumsum(lengths_sorted[:-1], out=starts[1:])
    lens = lengths_sorted[rank]
    first = np.repeat(starts[rank], lens)
    within = np.arange(lens.sum(), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    return first + within


def simulate_survey(counts: dict[str, int] | None = None, cadence: str | None = "ogle", seed: int = 0, *,
                    n_stars: int | None = None, config: SimConfig | None = None,
                    donors: DonorCadences | None = None):
    """Simulate a survey of variable stars.

    counts: stars per class (e.g. {'CEP': 100, 'RRLYR': 300}); default: `n_stars` (or
      `config.n_stars`) split with the catalogue-like class balance `DEFAULT_FRACTIONS`.
    cadence: a `surveys.CADENCES` name: 'ogle' (I band, ~8 seasons, 300-1500 epochs), 'gaia' (G
      band, ~1000 d, 20-150 transits), 'asas' (V, ~600 epochs over 9 yr), 'eros' (red, 7 seasons),
      'ztf' (r, every ~3 nights for 3 yr), 'tess' (I-like, 1-13 sectors of 30-min cadence); None:
      `config.cadence`. seed: the same seed gives bit-identical output.
    donors: real cadences (`donors.load_donor_cadences`): each star draws a donor curve at random
      (with replacement, seeded), is placed at the donor's median magnitude and observed at its
      times with its errors (unshifted; errors scaled by the survey's error law from the donor's
      magnitude to the star's when the star cannot be placed there within 10 pc - 60 kpc);
      `cadence` gives the band, the error law and the outliers. The stars' physical parameters are
      those of the same seed without donors.
    Star ids are ``SIM<seed>-<CADENCE>-<class>-<n>`` (e.g. ``SIM0-OGLE-CEP-0000000``), with
      ``-FROM<digest of the donors>`` after the cadence when observed with donors: the same for
      the same seed and cadence, different for another seed, cadence or donor set.
    config: `SimConfig` (extinction on/off, default number of stars, chunk size).
    Returns a `LightCurveSet` (N stars, times in days, magnitudes and errors in mag, classes in
    `CLASSES` order restricted to those simulated); meta columns: `META_COLUMNS`.
    """
    from jaxpelsvae.data import LightCurveSet

    config = config or SimConfig()
    cadence = str(config.cadence if cadence is None else cadence).lower()
    if cadence not in CADENCES:
        raise ConfigError(f"simulate: unknown cadence {cadence!r}; choose one of {sorted(CADENCES)}")
    if counts is None:
        counts = default_counts(config.n_stars if n_stars is None else int(n_stars))
    bad = [c for c in counts if c not in CLASSES]
    if bad:
        raise ConfigError(f"simulate: unknown class(es) {bad}; known classes: {CLASSES}")
    metas, lengths, times, mags, errs = [], [], [], [], []
    for cls in CLASSES:  # loop over classes; each class is vectorised over its stars
        n = int(counts.get(cls, 0))
        if n <= 0:
            continue
        meta, length, t, m, e = _simulate_class(cls, n, CADENCES[cadence], int(seed), config, donors)
        metas.append(meta)
        lengths.append(length)
        times.append(t)
        mags.append(m)
        errs.append(e)
    if not metas:
        raise ConfigError("simulate: no stars requested (all counts are zero)")
    meta = pd.concat(metas, ignore_index=True).reindex(columns=list(META_COLUMNS))
    offsets = np.zeros(len(meta) + 1, np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    classes = tuple(c for c in CLASSES if counts.get(c, 0) > 0)
    return LightCurveSet.from_arrays(meta["id"].to_numpy(), np.concatenate(times), np.concatenate(mags),
                                     np.concatenate(errs), offsets=offsets, meta=meta, classes=classes)


def write_survey(lcs, out: str | Path, fmt: str = "csv.gz") -> Path:
    """Write `lcs` in the standard layout (lightcurves.<fmt> + meta.csv) into folder `out`; the same
    survey gives the same bytes (`jaxpelsvae.data.readers.write_standard`)."""
    from jaxpelsvae.data.readers import write_standard

    if fmt not in ("csv.gz", "csv", "parquet"):
        raise ConfigError(f"simulate: unknown output format {fmt!r}; use csv.gz, csv or parquet")
    return write_standard(lcs, Path(out), fmt=fmt)
