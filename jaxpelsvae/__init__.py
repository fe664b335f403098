"""jaxpelsvae: self-regulated CNN classification of periodic variable stars with a PELS-VAE, in JAX.

Shape suffixes: an array's name ends in its axes, one letter per axis (`x_NL2`: N stars, L steps,
2 features; digits are literal sizes). Each letter has one meaning across the package:

- A: components of a class's Gaussian mixture prior (padded to the largest class)
- B: batch rows of one step
- C: features per row or step: channels, columns of a design matrix
- D: donor curves of a donor bank
- E: runs trained together, one per seed
- F: trial frequencies of a period search
- G: phases of the two-cycle template grid (600) where a padded curve's T points are in play too
- H: harmonics of a Fourier model
- I: input channels of a convolution kernel (of one group)
- J: knots of a red-noise walk
- K: classes
- L: steps of an encoded sequence (a CNN's input length)
- M: observations of all stars together (ragged, CSR)
- N: stars, examples, samples or generated slots (the rows of a data set)
- O: output channels of a convolution kernel (of one group)
- P: physical parameters
- Q: phase bins of one folded cycle
- R: candidates per row (periodogram peaks of a star, rejection draws of a sample)
- S: training stars of a generator's star bank
- T: points of one sequence: observations of a padded curve, time steps, the template grid's phases
- U: frequency blocks of one chunk of a period search
- V: boxes of a class prior (padded)
- W: taps of a convolution kernel or pooling window
- X: nodes of a forest's trees, all trees together
- Y: output length of a convolution or pooling
- Z: latent dimensions
- n: batches of one epoch pass

Public arguments named before this table keep their names: in `conv1d(w_KIO)`,
`causal_conv1d(w_KIO)` and `filter_mask(kernel_KIO)` K counts kernel taps (W); in `phases_at(freqs_NK)`
and `fourier_power_one(phase_KT)` / `fourier_power_batch(phase_NKT)` it counts candidates (R).

The public API, importable from the top level (resolved lazily so `import jaxpelsvae` and the CLI's
`--help` stay fast; `from jaxpelsvae import CNN` imports JAX and the model on first use):

- data: `LightCurveSet`, `PaddedCurves`, `read_dataset`, `write_standard`, `validate`,
  `original_cuts`, `encode_curve`, `encode_batch`, `encode_set`, `fold_curve`, `fold_batch`,
  `fold_set`, `PHASE_GRID`, `make_split`, `hardness_split`
- periods: `find_periods`, `lomb_scargle_batch`
- simulated survey: `simulate_survey`
- views (a curve and its period to a model input; `register_classifier` adds a view + backbone):
  `Classifier`, `register_classifier`, `get_classifier`, `classifier_names`, `view_config`,
  `view_batch`, `view_set`, `view_synthetic`, `view_arrays`, `build_backbone`, `folded_view`,
  `FoldedViewConfig`, `hybrid_view`, `HybridViewConfig`, `multifold_view`, `MultiFoldViewConfig`,
  `pairs_view`, `scaled_pairs_view`, `PairsViewConfig`
- models: `CNN`, `CNNConfig`, `cnn_from_torch_state`, `conv1d`, `max_pool1d`, `PelsVAE`, `VAEConfig`;
  backbones of the folded views: `FoldedCNN`, `FoldedCNNConfig`, `HybridCNN`; `TemporalConvNet`
- training: `TrainState`, `create_train_state`, `make_optimizer`, `make_train_step`, `make_eval_step`,
  `classifier_loss_fn`, `classifier_eval_fn`, `make_masks`, `focal_loss`, `weighted_cross_entropy`,
  `class_weights_alpha`, `CheckpointStore`, `data_mesh`, `shard_batch`, `make_sharded_train_step`,
  `train_vae`, `save_vae`, `load_vae`, `LoadedVAE`
- generator: `fit_priors`, `PriorConfig`, `sample_physics`, `fit_latent`, `LatentConfig`,
  `reverse_fold`, `Generator`, `GeneratorConfig`, `SynthBatch`, `fit_generator`, `load_generator`
- self-regulation: `RegulatorConfig`, `RegulatorState`, `update`, `rank_classes`, `temperature`,
  `TrainConfig`, `encode_split`, `init_train_state`, `train_classifier`, `prepare_epochs`,
  `run_epoch` (one epoch inside a loop of your own), `EpochSetup`, `EpochResult`,
  `classification_metrics`
- predicting (a saved classifier on unlabelled curves, as `jaxpelsvae predict`): `predict`
- experiments: `ExperimentConfig`, `preset`, `run_experiment`, `validate_report`
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "jaxpelsvae.data": (
        "LightCurveSet", "PaddedCurves", "read_dataset", "write_standard", "validate", "original_cuts",
        "encode_curve", "encode_batch", "encode_set", "fold_curve", "fold_batch", "fold_set", "PHASE_GRID",
    ),
    "jaxpelsvae.data.shift": ("make_split", "hardness_split"),
    "jaxpelsvae.period": ("find_periods", "lomb_scargle_batch"),
    "jaxpelsvae.simulate": ("simulate_survey",),
    "jaxpelsvae.models.cnn": ("CNN", "CNNConfig"),
    "jaxpelsvae.models.convert": ("cnn_from_torch_state",),
    "jaxpelsvae.models.conv": ("conv1d", "max_pool1d"),
    "jaxpelsvae.models.vae": ("PelsVAE", "VAEConfig"),
    "jaxpelsvae.models.folded_cnn": ("FoldedCNN", "FoldedCNNConfig", "HybridCNN"),
    "jaxpelsvae.models.tcn": ("TemporalConvNet",),
    "jaxpelsvae.views": ("folded_view", "FoldedViewConfig", "hybrid_view", "HybridViewConfig", "multifold_view",
                         "MultiFoldViewConfig", "pairs_view", "scaled_pairs_view", "PairsViewConfig"),
    "jaxpelsvae.views.registry": ("Classifier", "register_classifier", "get_classifier", "classifier_names",
                                  "view_config", "view_batch", "build_backbone"),
    "jaxpelsvae.views.apply": ("view_set", "view_synthetic", "view_arrays"),
    "jaxpelsvae.train.state": ("TrainState", "create_train_state", "make_optimizer"),
    "jaxpelsvae.train.steps": ("make_train_step", "make_eval_step", "classifier_loss_fn", "classifier_eval_fn"),
    "jaxpelsvae.train.masks": ("make_masks",),
    "jaxpelsvae.train.losses": ("focal_loss", "weighted_cross_entropy", "class_weights_alpha"),
    "jaxpelsvae.train.checkpoint": ("CheckpointStore",),
    "jaxpelsvae.train.sharding": ("data_mesh", "shard_batch", "make_sharded_train_step"),
    "jaxpelsvae.train.vae_train": ("train_vae", "save_vae", "load_vae", "LoadedVAE"),
    "jaxpelsvae.physics": ("fit_priors", "PriorConfig", "sample_physics", "fit_latent", "LatentConfig"),
    "jaxpelsvae.synth": ("reverse_fold", "Generator", "GeneratorConfig", "SynthBatch", "fit_generator",
                         "load_generator"),
    "jaxpelsvae.selfreg": ("RegulatorConfig", "RegulatorState", "update", "rank_classes", "temperature",
                           "classification_metrics"),
    "jaxpelsvae.train.classifier": ("TrainConfig", "encode_split", "init_train_state"),
    "jaxpelsvae.selfreg.loop": ("train_classifier",),
    "jaxpelsvae.selfreg.epoch": ("prepare_epochs", "run_epoch", "EpochSetup", "EpochResult"),
    "jaxpelsvae.prediction": ("predict",),
    "jaxpelsvae.experiments.config": ("ExperimentConfig", "preset"),
    "jaxpelsvae.experiments.runner": ("run_experiment",),
    "jaxpelsvae.experiments.report": ("validate_report",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'jaxpelsvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
