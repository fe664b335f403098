"""The pipeline's stages, one function each: periods for fitting, the PELS-VAE, the generator, a part's encoding.

The `train-vae`, `fit-generator` and `experiment` commands, `experiments.runner` and the scripts in
experiments/ compose these functions instead of rebuilding the chain:
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

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import DataError
from jaxpelsvae.models.vae import VAEConfig
from jaxpelsvae.models.vae_inputs import DEFAULT_PHYS, PhysScaler, PhysTable
from jaxpelsvae.period.search import PeriodConfig
from jaxpelsvae.physics.priors import PriorConfig
from jaxpelsvae.seeds import ENCODE_STREAMS
from jaxpelsvae.synth.fit import fit_generator
from jaxpelsvae.train.vae_train import LoadedVAE, VAETrainConfig


def fitting_periods(lcs: LightCurveSet, *, priors: PriorConfig = PriorConfig(), period: PeriodConfig = PeriodConfig(),
                    drop_missing: bool = False, progress: bool = False, source: str = "the training stars"
                    ) -> tuple[LightCurveSet, dict[str, int]]:
    """`lcs` with meta['period'] [d] for fitting the VAE and the generator: catalogue periods as
    given, Lomb-Scargle for the rest within each labelled star's class limits of `priors`' boxes
    (sparse cadences alias otherwise). For fitting only: a classifier's inputs must not use these
    class-limited periods (`period.fill`). Stars still without a period are left out when
    `drop_missing`, else a DataError naming one. Returns (set, {n_searched, n_dropped})."""
    from jaxpelsvae.period.fill import fill_for_fitting
    from jaxpelsvae.physics.priors import class_period_limits

    return fill_for_fitting(lcs, class_period_limits(priors), config=period, drop_missing=drop_missing,
                            progress=progress, source=source)


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

    return encode_split(lcs, tuple(classes or lcs.classes), config, seed, ENCODE_STREAMS[part])


__all__ = ["VAEFit", "check_donors", "encode", "fit_generator", "fit_vae", "fitting_periods", "load_donors"]
