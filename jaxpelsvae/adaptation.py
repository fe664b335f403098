"""Unsupervised adaptation of a saved classifier to the curves it is about to classify (`predict --adapt`).

No label of the target curves is read. The simulator observes stars of every class of the model
on the target's own epochs and errors (`simulate.donor_cadences`: each simulated star takes one
target curve's times, errors and median magnitude); the network is fine-tuned on them for a few
epochs from its saved weights (early stopping on a held-out part of the simulated stars), and the
feature forest saved beside it is kept. Simulated stars keep their true period in the share of
target stars that have a catalogue period; the others get the label-free search the model
records, as the target curves without a period do.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from jaxpelsvae.config import require_positive
from jaxpelsvae.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """Settings of `adapt_model`.

    stars_per_class: simulated stars per class of the model (on the target's cadences).
    epochs, patience: fine-tuning epochs at most, and epochs without a better validation loss
        before stopping (validation: `val_fraction` of the simulated stars, per class).
    lr_scale: the fine-tune's learning rate as a fraction of the model's.
    band: the simulator's survey whose band and outliers the simulated stars get (`simulate.CADENCES`);
        epochs and errors are the target's whatever it is.
    """

    stars_per_class: int = 100
    epochs: int = 8
    patience: int = 3
    lr_scale: float = 0.3
    val_fraction: float = 0.25
    band: str = "ogle"

    def __post_init__(self):
        require_positive(self, ("stars_per_class", "epochs", "patience"), label="AdaptConfig: ")
        if not (np.isfinite(self.lr_scale) and self.lr_scale > 0):
            raise ConfigError(f"AdaptConfig: lr_scale must be a positive number, got {self.lr_scale}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"AdaptConfig: val_fraction must be in (0, 1), got {self.val_fraction}")


def _stratified_halves(y_N: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): `fraction` of every class, at least one star, to validation."""
    rng = np.random.default_rng([seed, 31])
    val = []
    for label in np.unique(y_N):
        idx = rng.permutation(np.flatnonzero(y_N == label))
        val.extend(idx[:max(1, int(round(fraction * idx.size)))].tolist())
    val = np.sort(np.asarray(val, np.int64))
    return np.setdiff1d(np.arange(y_N.size), val), val


def catalogue_share(lcs) -> float:
    """Share of the stars of `lcs` whose period is a catalogue one (periods an earlier search filled in do not count)."""
    from jaxpelsvae.period import period_sources
    from jaxpelsvae.period.fill import CATALOGUE

    return float(np.mean(period_sources(lcs) == CATALOGUE)) if len(lcs) else 0.0


def simulated_on_target(lcs, classes, config: AdaptConfig, period_config, seed: int = 0):
    """Simulated stars of `classes` observed on the epochs and errors of `lcs` (labels never read),
    their periods as described in the module docstring (a LightCurveSet with periods in meta)."""
    from jaxpelsvae.period import fill_periods
    from jaxpelsvae.simulate import donor_cadences, simulate_survey
    from jaxpelsvae.simulate.params import CLASSES

    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ConfigError(f"adapt: the simulator has no model of class(es) {unknown} (it simulates {list(CLASSES)})")
    donors = donor_cadences(lcs)
    synth = simulate_survey({c: config.stars_per_class for c in classes}, cadence=config.band, seed=seed,
                            donors=donors)
    share = catalogue_share(lcs)
    keep = np.random.default_rng([seed, 32]).random(len(synth)) < share
    meta = synth.meta.copy()
    meta["period"] = np.where(keep, meta["period"].to_numpy(float), np.nan)
    synth = synth.with_meta(meta).with_classes(list(classes))
    return fill_periods(synth, config=period_config, progress=False)[0]


def adapt_model(model_dir, lcs, workdir, config: AdaptConfig = AdaptConfig(), *, seed: int = 0,
                progress: bool = False) -> tuple[Path, dict]:
    """Fine-tune the classifier saved in `model_dir` to the curves `lcs` (no label read); returns
    (the adapted model's folder, workdir/model, and a summary dict: simulated stars, epochs run,
    best epoch, validation macro-F1 on simulated stars before and after). `workdir` must be new,
    empty, or an earlier fine-tune's (which is replaced)."""
    from jaxpelsvae.selfreg.loop import train_classifier
    from jaxpelsvae.train.classifier import TrainConfig, evaluate_saved_model, load_model, recorded_period_config

    model_dir, workdir = Path(model_dir), Path(workdir)
    _, params, rest, info = load_model(model_dir)
    classes = list(info["classes"])
    train_config = TrainConfig.from_dict(info["config"])
    period_config = recorded_period_config(info)
    synth = simulated_on_target(lcs, classes, config, period_config, seed)
    y_N = synth.meta["class"].map({c: k for k, c in enumerate(classes)}).to_numpy(np.int64)
    train_idx, val_idx = _stratified_halves(y_N, config.val_fraction, seed)
    train_set, val_set = synth.select(train_idx), synth.select(val_idx)
    before = evaluate_saved_model(model_dir, val_set, seed=seed)["macro_f1"]
    tuned = dataclasses.replace(
        train_config, mode="baseline", learning_rate=train_config.learning_rate * config.lr_scale,
        regulator=dataclasses.replace(train_config.regulator, epochs=config.epochs, patience=config.patience))
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / "metrics.jsonl").exists():  # never wipe a folder this function did not write
            raise ConfigError(f"adapt: {workdir} is not empty and holds no earlier fine-tune; give an empty or new folder")
        shutil.rmtree(workdir)  # a fine-tune of other curves must not resume here
    result = train_classifier(train_set, val_set, val_set, tuned, workdir=workdir, seed=seed, progress=progress,
                              classes=None, period_config=period_config, init_variables=(params, rest))
    adapted = workdir / "model"
    if (model_dir / "forest").is_dir():
        shutil.copytree(model_dir / "forest", adapted / "forest")
    after = evaluate_saved_model(adapted, val_set, seed=seed)["macro_f1"]
    summary = {"simulated_stars": len(synth), "train": len(train_set), "val": len(val_set),
               "epochs": len(result.regulator.history), "best_epoch": int(result.regulator.best_epoch),
               "val_macro_f1_before": float(before), "val_macro_f1_after": float(after),
               "catalogue_period_share": catalogue_share(lcs)}
    return adapted, summary


__all__ = ["AdaptConfig", "adapt_model", "catalogue_share", "simulated_on_target"]
