"""The pipeline's stages, one function each: periods for fitting, the PELS-VAE, the generator, a part's encoding.

The `train-vae`, `fit-generator` and `experiment` commands, `experiments.runner` and the scripts in
experiments/ compose these functions instead of rebuilding the chain:
  choose_seq_length L from the training stars (or as given);
  quality_cuts      the original's cuts (> L points, SNR above a threshold) on some parts;
  training_sets     the stratified subsamples of the train and validation parts a run uses;
  fitting_periods   training stars with a period each, searched within their class's limits;
  fit_vae           fold the curves, scale the physics and train the PELS-VAE;
  fit_generator     priors, physics -> latent model and donor bank (`synth.fit.fit_generator`),
                    observing synthetic curves at the cadences of `load_donors` (`check_donors`);
  encode            the classifier's view of one part (train / val / test), from its seed stream.
Every random draw takes its stream from `jaxpelsvae.seeds`.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpelsvae import seeds
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.models.vae import VAEConfig
from jaxpelsvae.models.vae_inputs import DEFAULT_PHYS, PhysScaler, PhysTable
from jaxpelsvae.period.search import PeriodConfig
from jaxpelsvae.physics.priors import PriorConfig
from jaxpelsvae.synth.fit import fit_generator
from jaxpelsvae.train.vae_train import LoadedVAE, VAETrainConfig


def fitting_periods(lcs: LightCurveSet, *, priors: PriorConfig = PriorConfig(), period: PeriodConfig = PeriodConfig(),
                    drop_missing: bool = False, progress: bool = False, source: str = "the training stars",
                    coherent_classes: Sequence[str] | None = None) -> tuple[LightCurveSet, dict[str, int]]:
    """`lcs` with meta['period'] [d] for fitting the VAE and the generator: catalogue periods as
    given, Lomb-Scargle for the rest within each labelled star's class limits of `priors`' boxes
    (sparse cadences alias otherwise). For fitting only: a classifier's inputs must not use these
    class-limited periods (`period.fill`). Stars still without a period are left out when
    `drop_missing`, else a DataError naming one. Eclipsing binaries take the most coherent fold
    among their periodogram's peaks and doubles (`coherent_classes`; None: `period.fill.COHERENT_FOLD_CLASSES`).
    Returns (set, {n_searched, n_dropped, n_refolded})."""
    from jaxpelsvae.period.fill import COHERENT_FOLD_CLASSES, fill_for_fitting
    from jaxpelsvae.physics.priors import class_period_limits

    return fill_for_fitting(lcs, class_period_limits(priors), config=period, drop_missing=drop_missing,
                            progress=progress, source=source,
                            coherent_classes=COHERENT_FOLD_CLASSES if coherent_classes is None else coherent_classes)


class VAEFit(NamedTuple):
    """A trained PELS-VAE: model, its config, the physics scaler, class names (one-hot order),
    the physical parameters it was given (`PhysTable`) and the training history (`train_vae`)."""

    model: Any
    config: VAEConfig
    scaler: PhysScaler
    classes: tuple[str, ...]
    phys: PhysTable
    history: dict

    @property
    def loaded(self) -> LoadedVAE:
        """As `train.vae_train.load_vae` returns it (what `fit_generator` takes)."""
        return LoadedVAE(self.model, self.config, self.scaler, self.classes, {})


def fit_vae(lcs: LightCurveSet, config: VAEConfig, train_config: VAETrainConfig, *, seed: int,
            workdir: str | Path | None = None, phys_names: Sequence[str] = DEFAULT_PHYS, strict: bool = False,
            source: str = "training pool") -> VAEFit:
    """Fold every curve of `lcs` (periods in meta: `fitting_periods`) into its template on the
    two-cycle phase grid (`data.template.fold_templates`; each curve weighs in the loss by its
    fold's coherence), min-max scale its physical parameters (`phys_names`; `strict`: every named one must exist) and
    train the PELS-VAE. `config`'s seq_len, num_classes and phys_dim are set from the data."""
    from jaxpelsvae.data.fold import vae_input
    from jaxpelsvae.data.template import fold_templates
    from jaxpelsvae.models.vae_inputs import one_hot, physical_parameters
    from jaxpelsvae.train.vae_train import train_vae

    classes = tuple(lcs.classes)
    labels = lcs.labels
    phys = physical_parameters(lcs.meta, labels, phys_names, periods_N=lcs.periods, strict=strict, source=source)
    scaler = PhysScaler.fit(phys.values, phys.names, columns=phys.columns, transforms=phys.transforms)
    templates = fold_templates(lcs, lcs.periods)
    x = vae_input(templates.folded)
    config = dataclasses.replace(config, seq_len=x.shape[1], num_classes=len(classes), phys_dim=len(phys.names))
    model, history = train_vae(x, one_hot(labels, len(classes)), scaler.transform(phys.values), config, train_config,
                               seed=seed, workdir=workdir, coherence_N=templates.coherence)
    return VAEFit(model, config, scaler, classes, phys, history)


def load_donors(path: str, min_points: int | None = None) -> LightCurveSet:
    """Unlabelled donor curves whose times and errors observe synthetic curves (`fit_generator`'s
    `donors`): validated, with any class column dropped (a donor gives times and errors only).
    An experiment reads them twice (to check them, to fit); the second read comes from a cache that
    files changed since do not hit."""
    return _load_donors(str(path), min_points, _files_stamp(Path(path)))


def _files_stamp(path: Path) -> tuple:
    """(name, size, modification time) of ``path`` or of every file under it."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


@functools.lru_cache(maxsize=1)
def _load_donors(path: str, min_points: int | None, stamp: tuple) -> LightCurveSet:
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.period.fill import without_labels

    del stamp  # part of the cache key only
    # Donors are unlabelled curves: a star without a class is as good a donor as one with.
    kept, _ = load_dataset(path, min_points=min_points, require_class=False)
    return without_labels(kept)


def check_donors(donors: LightCurveSet, val_set: LightCurveSet, test_set: LightCurveSet, transductive: bool) -> dict:
    """Refuse donors among the validation stars, and among the test stars unless `transductive`;
    returns what report.md says of them."""
    ids = set(map(str, donors.ids))
    in_val = ids & set(map(str, val_set.ids))
    if in_val:
        raise DataError(f"{len(in_val)} donor curves are validation stars (e.g. {sorted(in_val)[:3]}); the "
                        "generator may not see the stars that pick the best epoch")
    in_test = ids & set(map(str, test_set.ids))
    if in_test and not transductive:
        raise DataError(f"{len(in_test)} donor curves are test stars (e.g. {sorted(in_test)[:3]}): using the test "
                        "survey's own cadences is transductive; pass --transductive-donors to allow it")
    return {"n_curves": len(donors), "n_test_stars": len(in_test), "transductive": bool(in_test)}


def encode(lcs: LightCurveSet, config, seed: int, part: str, *, classes: Sequence[str] | None = None):
    """`train.classifier.Encoded` of one part ("train", "val" or "test"): the classifier's view of every
    curve (TrainConfig `config`) drawn from the part's stream, labels in the order of `classes`
    (default: the set's own). The same function for every part and every caller."""
    from jaxpelsvae.train.classifier import encode_split

    return encode_split(lcs, tuple(classes or lcs.classes), config, seed, seeds.ENCODE_STREAMS[part])


# ------------------------------------------------------------------------------------ L, cuts, subsamples

MAX_AUTO_SEQ_LENGTH = 300


def min_seq_length(layers: int) -> int:
    """Shortest L for which the CNN with `layers` blocks still has one time step after the last block."""
    from jaxpelsvae.models.cnn import CNNConfig

    for length in range(4, 4000):
        try:
            CNNConfig(seq_length=length, layers=layers).validate()
            return length
        except ConfigError:
            continue
    raise ConfigError(f"no sequence length works for {layers} layers")


def choose_seq_length(lcs: LightCurveSet, *, layers: int, given: int | None = None, quantile: float = 0.25
                      ) -> tuple[int, dict]:
    """L as `given`, or from the data: the `quantile` of the number of consecutive (Δt, Δm) pairs per
    star of `lcs` (the training stars only), clipped to [min_seq_length(layers), 300]. Returns (L,
    description for the report)."""
    pairs = np.maximum(lcs.lengths - 1, 0)
    stats = {
        "pairs_per_star_quantiles": {str(q): float(np.quantile(pairs, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
    }
    lo = min_seq_length(layers)
    if given is not None:
        if given < lo:
            raise ConfigError(f"seq_length {given} is too short for a {layers}-layer CNN (>= {lo})")
        full = float(np.mean(pairs >= given))
        return int(given), {
            **stats, "automatic": False, "fraction_of_stars_filling_L": full,
            "reason": f"Given by the configuration; {100 * full:.0f}% of the training stars have at least L pairs "
                      "(shorter curves are zero-padded with a validity mask).",
        }
    raw = int(np.floor(np.quantile(pairs, quantile)))
    length = int(np.clip(raw, lo, MAX_AUTO_SEQ_LENGTH))
    full = float(np.mean(pairs >= length))
    why = (f"Chosen from the data: the {quantile:.0%} quantile of the number of consecutive pairs per training "
           f"star is {raw}")
    if length != raw:
        why += f", clipped to [{lo}, {MAX_AUTO_SEQ_LENGTH}] ({lo} is the shortest input a {layers}-layer CNN accepts)"
    why += (f"; {100 * full:.0f}% of the training stars fill all L = {length} pairs, the others are zero-padded "
            "with a validity mask. Pass --seq-length to fix it.")
    return length, {**stats, "automatic": True, "quantile": quantile, "raw": raw, "reason": why}


def quality_cuts(sets: dict[str, LightCurveSet], *, seq_length: int, snr_threshold: float, folder: str | Path
                 ) -> tuple[dict[str, LightCurveSet], dict]:
    """The original's cuts (more than `seq_length` points, SNR above `snr_threshold`: ORIGINAL.md §4.2)
    on each of `sets` ({name: set}); the stars cut go to folder/rejected.csv. Returns (the kept sets,
    {seq_length, snr_threshold, n_rejected, <name>_after: class counts}); a DataError naming the set
    the cuts leave empty."""
    import pandas as pd

    from jaxpelsvae.data.validate import original_cuts, write_rejected

    kept, rejected = {}, []
    for name, lcs in sets.items():  # a set left empty is a DataError naming it
        kept[name], cut = original_cuts(lcs, seq_length=seq_length, snr_threshold=snr_threshold,
                                        source=f"{name} (L = {seq_length}, SNR > {snr_threshold})")
        rejected.append(cut)
    write_rejected(pd.concat(rejected, ignore_index=True), Path(folder))
    info = {"seq_length": int(seq_length), "snr_threshold": float(snr_threshold),
            "n_rejected": int(sum(len(r) for r in rejected)),
            **{f"{name}_after": lcs.class_counts() for name, lcs in kept.items()}}
    return kept, info


def stratified_subsample(lcs: LightCurveSet, n: int | None, seed: int, stream: int) -> LightCurveSet:
    """At most `n` stars, classes in proportion (every class keeps at least one star); all if n is None."""
    if n is None or len(lcs) <= n:
        return lcs
    frac = n / len(lcs)
    rng = np.random.default_rng([int(seed), stream])
    labels = lcs.labels
    keep = []
    for k in np.unique(labels):  # loop over classes, not stars
        members = np.flatnonzero(labels == k)
        m = max(1, int(round(frac * members.size)))
        keep.append(rng.choice(members, size=min(m, members.size), replace=False))
    return lcs.select(np.sort(np.concatenate(keep)))


def part_sizes(sample_size: int | None, val_fraction: float) -> tuple[int | None, int | None]:
    """`sample_size` shared between the train and validation parts in proportion (None: all)."""
    if sample_size is None:
        return None, None
    n_val = int(round(sample_size * val_fraction))
    return sample_size - n_val, n_val


def seed_train_set(train_part: LightCurveSet, n: int | None, seed: int) -> LightCurveSet:
    """The stratified subsample of at most `n` stars of the train part that a run with `seed` trains
    on (the root seed's for every run unless the experiment redraws it per seed)."""
    return stratified_subsample(train_part, n, seed, seeds.TRAIN_SUBSAMPLE_STREAM)


def training_sets(train_part: LightCurveSet, val_part: LightCurveSet, *, sample_size: int | None,
                  val_fraction: float, seed: int) -> tuple[LightCurveSet, LightCurveSet]:
    """(the root seed's training set, the validation set): stratified subsamples of the two parts
    sharing `sample_size` in proportion (all stars when None); DataError when either is empty."""
    n_train, n_val = part_sizes(sample_size, val_fraction)
    val_set = stratified_subsample(val_part, n_val, seed, seeds.VAL_SUBSAMPLE_STREAM)
    train_set = seed_train_set(train_part, n_train, seed)
    if len(val_set) == 0 or len(train_set) == 0:
        raise DataError(f"the training pool ({len(train_part) + len(val_part)} stars) is too small for a "
                        "train/validation split")
    return train_set, val_set


__all__ = ["VAEFit", "check_donors", "choose_seq_length", "encode", "fit_generator", "fit_vae", "fitting_periods",
           "load_donors", "min_seq_length", "quality_cuts", "seed_train_set", "stratified_subsample", "training_sets"]
