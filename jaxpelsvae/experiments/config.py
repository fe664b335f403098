"""`ExperimentConfig` (frozen) for the full protocol, its presets (tiny, small, paper), and JSON round trips."""
from __future__ import annotations

import dataclasses
from typing import Any

from jaxpelsvae.data.shift import ShiftConfig
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.vae import VAEConfig
from jaxpelsvae.period.search import PeriodConfig
from jaxpelsvae.physics.latent import LatentConfig
from jaxpelsvae.physics.priors import PriorConfig
from jaxpelsvae.train.classifier import MODES, TrainConfig
from jaxpelsvae.selfreg.state import RegulatorConfig
from jaxpelsvae.synth.generator import GeneratorConfig
from jaxpelsvae.train.vae_train import VAETrainConfig

PRESETS = ("tiny", "small", "paper")

# Fields of the nested configs that every run sets itself (from the data or from the experiment's
# own fields): a config that sets them is refused, and `to_dict` leaves them out.
RUN_SET = {
    "train": {"mode": "ExperimentConfig.modes", "seq_length": "ExperimentConfig.seq_length (or the data)",
              "classifier": "ExperimentConfig.classifiers"},
    "vae": {"seq_len": "the folded curves", "num_classes": "the training classes",
            "phys_dim": "the physical parameters found in the data"},
    "vae_train": {"progress": "ExperimentConfig.progress"},
    "generator": {"seq_length": "ExperimentConfig.seq_length (or the data)"},
}

# Flat names of earlier versions -> where the setting lives now, so that config files written for
# the flat ExperimentConfig keep loading. `*_overrides` objects change fields of the nested config.
FLAT_NAMES = {
    **{name: f"train.{name}" for name in ("learning_rate", "layers", "batch_size", "loss", "focal_gamma",
                                          "synthetic_batch_size", "view_overrides", "backbone_overrides",
                                          "synthetic_periods")},
    **{name: f"regulator.{name}" for name in ("epochs", "patience", "ranking_method", "synthetic_samples_by_class",
                                              "eps", "repetitions", "n_oversampling")},
    "vae_epochs": "vae_train.epochs", "vae_patience": "vae_train.patience",
    "regulator_overrides": "regulator", "vae_overrides": "vae", "vae_train_overrides": "vae_train",
    "generator_overrides": "generator", "priors_overrides": "priors", "latent_overrides": "latent",
    "period_overrides": "period",
}
# Earlier one-setting prefixes: shift_temperature -> shift.temperature, regulator_eps -> regulator.eps.
FLAT_PREFIXES = ("shift", "regulator")
# Settings of every run that live in `train` (TrainConfig) and are also named at the top, as the CLI,
# the presets and earlier files do: "regulator.eps" is "train.regulator.eps".
IN_TRAIN = ("regulator", "augment", "resample_pairs")


def nest_flat_names(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the flat names of earlier versions (FLAT_NAMES, shift_<field>,
    regulator_<field>) written as the nested paths they map to; nested names pass through."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        path = FLAT_NAMES.get(key)
        if path is None:
            prefix = key.partition("_")[0]
            if prefix in FLAT_PREFIXES and key != prefix and key.partition("_")[2] and "." not in key:
                path = f"{prefix}.{key.partition('_')[2]}"
        if path is not None and "." not in path:  # an *_overrides object: fields of the nested config
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be an object of {path} settings; write it as \"{path}\": {{...}}")
            out.update({f"{path}.{k}": v for k, v in value.items()})
        else:
            out[path or key] = value
    return _into_train(_without_empty_cut_settings(out))


def _into_train(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the IN_TRAIN names ("regulator", "regulator.eps", "augment", ...) as the paths
    into `train` where those settings live; a ConfigError when one setting is given both ways (one
    would silently replace the other)."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        path = f"train.{key}" if key.partition(".")[0] in IN_TRAIN else key
        if path in out:
            raise ConfigError(f"{key} and {path} name the same setting (it lives in train); give one")
        out[path] = value
    train = out.get("train")
    if isinstance(train, dict):
        both = [name for name in IN_TRAIN if f"train.{name}" in out and name in train]
        if both:
            raise ConfigError(f"{both[0]} is given at the top and inside train; give one (it lives in train)")
    return out


# ShiftConfig settings of earlier versions, when the cuts were also a scenario: files state them as null.
_EARLIER_SHIFT = ("snr_threshold", "seq_length")


def _without_empty_cut_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` without the null `shift.snr_threshold` / `shift.seq_length` of earlier files (the
    cuts are ExperimentConfig.quality_cuts now); a value that is set still reaches ShiftConfig, which refuses it."""
    out = {k: v for k, v in changes.items() if not (k in {f"shift.{n}" for n in _EARLIER_SHIFT} and v is None)}
    if isinstance(out.get("shift"), dict):
        out["shift"] = {k: v for k, v in out["shift"].items() if not (k in _EARLIER_SHIFT and v is None)}
    return out


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything `run_experiment` needs besides the data.

    shift: how the dataset becomes a training and a (shifted) test pool.
    seeds: repetitions per mode (seeds root_seed, root_seed+1, ...); modes: which training modes.
    seq_length: L (pairs per curve); None chooses it from the data: the `seq_length_quantile` of the
        per-star number of consecutive pairs, clipped to [shortest L the CNN accepts, 300].
    sample_size: stratified subsample of the training pool (the paper's 40,000); None keeps all.
    max_stars: stratified cap on the whole dataset before splitting (quick runs); None keeps all.
    classes: the classes to keep, in the training data and the `--test` data alike (stars of other
        classes are left out before anything else, counted in report.json); None keeps all. Across
        surveys, a class the test survey lacks can still be predicted there and only costs F1.
    val_fraction: stratified validation share of the training pool (0.3 as the original). The pool
        is split into a train part and a validation part first; L, the VAE and the generator are
        fitted on the train part only, and `sample_size` is shared between the parts in proportion.
    redraw_per_seed: each seed draws its own stratified `sample_size` subsample of the train part
        and its own random (Δt, Δm) pairs, as the original did for every run; the validation set,
        the test pool, the VAE and the generator stay fixed. Off: every seed trains on the root
        seed's subsample and pairs.
    quality_cuts: apply the original cuts (> L points, SNR > snr_threshold) to the training pool
        (train and validation parts).
    quality_cuts_test: apply the same cuts (same L and threshold) to the test pool, as the original.
    generator_before_cuts: with quality cuts, fit the VAE and the generator on the train part before
        the cuts (train-part stars only, never validation or test ones), as the original fitted its
        VAE once on a broader OGLE set: under strict cuts the generator still knows the stars the
        classifier's training set lost. Off: on the classifier's own (cut) training set.
    train: the classifier runs' settings (train.classifier.TrainConfig: learning_rate, layers,
        batch_size, synthetic_batch_size, loss, focal_gamma, view_overrides, backbone_overrides,
        synthetic_periods, ...), among them `regulator`, the self-regulation policy
        (selfreg.state.RegulatorConfig: epochs, patience, ranking_method, synthetic_samples_by_class,
        eps, decay_parameter_2, ...), `augment` (augmented views of the period-aware classifiers)
        and `resample_pairs` (fresh (Δt, Δm) pairs of the "cnn"), each for the classifiers it
        applies to; "regulator.eps", "augment" and "resample_pairs" name them too (`replace`). Its
        fields in RUN_SET (mode, seq_length, classifier) are set per run and may not be given here.
        A whole TrainConfig given here brings its own regulator (TrainConfig's default, not this
        class's): change fields with {"train": {...}} to keep the rest.
    vae / vae_train: the PELS-VAE's architecture (models.vae.VAEConfig; seq_len, num_classes and
        phys_dim come from the data) and optimisation (train.vae_train.VAETrainConfig).
    vae_max_stars: stratified cap on the curves the VAE trains on (the generator is still fitted on
        the whole training pool); None uses all.
    generator / priors / latent: the generator (synth.generator.GeneratorConfig; its seq_length is
        L), the physics priors (physics.priors.PriorConfig) and the physics -> latent model
        (physics.latent.LatentConfig).
    period: the Lomb-Scargle search where a period is missing (period.search.PeriodConfig).
    vmap_seeds: train the seeds of each classifier and mode together as one vmapped program
        (`experiments.repetitions`), where every seed trains on the same views (no augment,
        resample_pairs, redraw_per_seed or init_model); each seed's model is saved as a sequential
        run's, but the program is not resumed from checkpoints.
    classifiers: registered classifiers (`jaxpelsvae.views.registry.names()`) trained in every mode;
        the first is the run's main classifier (report.json `summary`), each one's runs are in
        `summary_by_classifier`. "cnn" is the original (Δt, Δm) CNN.
    forest: beside every run of a period-aware classifier, a random forest on nine period-based
        features of the same training stars (`models.forest`), saved in the run's model folder, and
        a report entry "<classifier>+forest" scoring the mean of the two models' class
        probabilities (`predict` and `evaluate` of that model average them too). The network's own
        entries are unchanged.
    donors: a dataset of unlabelled curves (e.g. of the survey the classifier is meant for) whose
        times and errors the generator observes synthetic curves with (labels are never read);
        None: the training stars' own cadences. donor_copies: target cadences per training donor.
    transductive_donors: allow donors among the test stars (transductive: the test survey's own
        cadences); refused otherwise. Donors among the validation stars are always refused.
    init_model: a saved classifier folder, or "pretrained" (the model shipped with the package):
        every run of the classifier it holds starts from its weights instead of the seed's
        initialisation (a fine-tune on this experiment's training stars; `runs.init_variables`).
        Its classifier settings must be the run's and the run's classes among its own (the output
        layer keeps theirs); other classifiers start afresh.
    """

    preset: str = "small"
    shift: ShiftConfig = ShiftConfig()
    seeds: int = 3
    modes: tuple[str, ...] = MODES
    seq_length: int | None = None
    seq_length_quantile: float = 0.25
    sample_size: int | None = None
    max_stars: int | None = None
    classes: tuple[str, ...] | None = None
    val_fraction: float = 0.3
    redraw_per_seed: bool = False
    quality_cuts: bool = False
    quality_cuts_test: bool = False
    generator_before_cuts: bool = False
    snr_threshold: float = 4.0
    # The experiment's defaults where they differ from the nested configs' own (the original's, but for
    # TrainConfig's optimisation budget, which is the `small` preset's: the README's second table).
    train: TrainConfig = TrainConfig(learning_rate=1e-3, batch_size=125,
                                     regulator=RegulatorConfig(epochs=30, patience=6, n_oversampling=1))
    vae: VAEConfig = VAEConfig()
    vae_train: VAETrainConfig = VAETrainConfig(epochs=40, patience=8)
    vae_max_stars: int | None = None
    generator: GeneratorConfig = GeneratorConfig()
    priors: PriorConfig = PriorConfig()
    latent: LatentConfig = LatentConfig()
    period: PeriodConfig = PeriodConfig()
    vmap_seeds: bool = False
    classifiers: tuple[str, ...] = ("cnn",)
    forest: bool = False
    donors: str | None = None
    donor_copies: int = 4
    transductive_donors: bool = False
    init_model: str | None = None
    figures: bool = True
    progress: bool = True

    def __post_init__(self):
        from jaxpelsvae.views import registry

        if not self.classifiers or len(set(self.classifiers)) != len(self.classifiers):
            raise ConfigError(f"ExperimentConfig.classifiers must be distinct names, got {self.classifiers}")
        for name in self.classifiers:
            registry.get(name)  # a ConfigError naming the registered classifiers
        if self.classes is not None and (not self.classes or len(set(self.classes)) != len(self.classes)
                                         or not all(isinstance(c, str) and c.strip() for c in self.classes)):
            raise ConfigError(f"ExperimentConfig.classes must be distinct class names or None, got {self.classes}")
        if self.seeds < 1:
            raise ConfigError(f"ExperimentConfig.seeds must be >= 1, got {self.seeds}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ConfigError(f"ExperimentConfig.modes must be a non-empty subset of {MODES}, got {self.modes}")
        if self.seq_length is not None and self.seq_length < 8:
            raise ConfigError(f"ExperimentConfig.seq_length must be >= 8, got {self.seq_length}")
        if not 0.0 < self.seq_length_quantile <= 1.0:
            raise ConfigError("ExperimentConfig.seq_length_quantile must be in (0, 1]")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"ExperimentConfig.val_fraction must be in (0, 1), got {self.val_fraction}")
        for name, fields in RUN_SET.items():
            value, kind = getattr(self, name), type(self.__dataclass_fields__[name].default)
            if type(value) is not kind:
                raise ConfigError(f"ExperimentConfig.{name} must be a {kind.__name__}, got {type(value).__name__}")
            for field, source in fields.items():
                if getattr(value, field) != getattr(kind(), field):
                    # One setting, one place: a value here would be overwritten by every run.
                    raise ConfigError(f"ExperimentConfig.{name}.{field} is set for each run from {source}; "
                                      "leave it out")

    @property
    def regulator(self) -> RegulatorConfig:
        """The self-regulation policy of every run (it lives in `train`)."""
        return self.train.regulator

    @property
    def augment(self) -> bool:
        """Augmented training views of the period-aware classifiers (`train.augment`)."""
        return self.train.augment

    @property
    def resample_pairs(self) -> bool:
        """Fresh (Δt, Δm) pairs of the cnn every epoch (`train.resample_pairs`)."""
        return self.train.resample_pairs

    def train_config(self, seq_length: int, mode: str, classifier: str | None = None):
        """The TrainConfig of one run: `train` with the run's mode, L and classifier, and only the
        settings that apply to it: the cnn keeps `resample_pairs` and no view settings, the
        period-aware classifiers `augment`."""
        classifier = classifier or self.classifiers[0]
        cnn = classifier == "cnn"
        return dataclasses.replace(
            self.train, mode=mode, seq_length=seq_length, classifier=classifier,
            resample_pairs=self.resample_pairs and cnn, augment=self.augment and not cnn,
            view_overrides=() if cnn else self.train.view_overrides,
            backbone_overrides=() if cnn else self.train.backbone_overrides,
        )

    def replace(self, **changes) -> "ExperimentConfig":
        """A copy with settings changed: fields, nested objects ({"regulator": {"eps": 0.2}} changes
        only `eps`), dotted paths ("regulator.eps"), or the flat names of earlier versions
        (FLAT_NAMES, shift_<field>, regulator_<field>). `classifier`/`classifiers` and `classes` take
        one name, a list or a comma-separated string (the CLI's --classifier, --classes)."""
        from jaxpelsvae.config import update

        for key, field in (("classes", "classes"), ("classifier", "classifiers"), ("classifiers", "classifiers")):
            if key in changes:
                value = changes.pop(key)
                if isinstance(value, str):
                    value = _names(value)
                elif value is not None:
                    value = tuple(value)
                changes[field] = value
        return update(self, nest_flat_names(changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, nested as the config (the per-run fields of RUN_SET left out)."""
        from jaxpelsvae.config import to_dict

        d = to_dict(self)
        for name, fields in RUN_SET.items():
            for field in fields:
                d[name].pop(field)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentConfig":
        """The config of `to_dict` (or a partial one, over the defaults; flat files of earlier versions too)."""
        return cls().replace(**d)


def _names(text: str) -> tuple[str, ...]:
    """("CEP", "ECL") from "CEP, ECL": the comma-separated lists of the CLI (--classes, --classifier)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def preset(name: str) -> ExperimentConfig:
    """tiny: seconds (tests); small: a few minutes on 2 CPU cores (the demo); paper: the paper's
    protocol (Bias 2: hardness T = 3 with in-sample forest probabilities, L = 300, SNR > 4 cuts of
    the training and the test pool, sample_size 40,000 and random pairs redrawn for each of 30 seeds,
    500 epochs, the original's optimiser settings)."""
    base = ExperimentConfig()
    if name == "tiny":
        return base.replace(
            preset="tiny", shift=ShiftConfig(temperature=1.0, in_sample=False, n_estimators=20), seeds=1, max_stars=150,
            train={"layers": 2, "batch_size": 32},
            regulator={"epochs": 2, "patience": 2, "synthetic_samples_by_class": 8},
            vae_train={"epochs": 2, "patience": 2}, figures=True,  # progress: --quiet decides, not the size
            # The encoder must see all 600 phases (VAEConfig checks it): levels 7 with kernel 4 cover 763.
            vae={"latent_dim": 4, "levels": 7, "residual_init": "identity", "units": 8},
            generator={"capacity_multiple": 16},
            latent={"max_epochs": 20, "model": "mlp", "patience": 5, "rf_trees": 20},
            priors={"max_iter": 100},
        )
    if name == "small":
        return base.replace(
            preset="small", shift=ShiftConfig(in_sample=False, n_estimators=100), seeds=3, max_stars=None,
            # Small training sets need many small steps: 125-curve batches left a few hundred curves
            # at chance level. Fresh (Δt, Δm) pairs every epoch (resample_pairs) stop the CNN from
            # memorising the fixed draw (best epoch 2-4 without; validation macro-F1 0.29 -> 0.40 on
            # the demo survey), so it trains longer: 30 epochs, patience 8, batch 64 (as good as 32
            # on validation, faster).
            # With BatchNorm's warm-up no run stalls at epoch 0 any more, and on Gaia DR3 dev the
            # best epochs reached 24-30 of 30: 40 epochs, patience 10.
            train={"batch_size": 64, "learning_rate": 3e-3},
            regulator={"epochs": 40, "patience": 10, "synthetic_samples_by_class": 32},
            resample_pairs=True,
            # The period-folded classifier first (it reads the curve in phase, as the classifiers that
            # carry across surveys do: ANCHORS.md), the original CNN beside it for comparison. Its
            # training views are augmented (point dropout, random phase origin) every epoch: the
            # largest single gain in the classifier study (Gaia DR3 dev random split 0.81 -> 0.90).
            classifiers=("folded", "cnn"), augment=True,
            # The network and a nine-feature forest of the same stars make different errors: their
            # mean probabilities gained 0.05-0.16 macro-F1 through `experiment` (Gaia DR3 dev random
            # split 0.933 -> 0.980, Gaia -> EROS-1 0.422 -> 0.582; experiments/README.md).
            forest=True,
            # The VAE must learn curve shapes, not class averages, from ~300 curves in a few hundred
            # steps: an encoder that sees all 600 phases (levels 8, kernel 4: 1,531; levels 4 saw the
            # last 91), residual_init "identity", no dropout, batch 32, lr 3e-3, 25 epochs (250 steps;
            # 45 of batch 128 before). Validation MSE on the demo survey's 400 VAE curves: 0.060 -> 0.015,
            # where the class-average curves give 0.034 (Gaia DR3 dev: 0.092 -> 0.017, 0.030); ~50 s.
            vae_train={"epochs": 25, "patience": 5, "batch_size": 32, "lr": 3e-3}, vae_max_stars=400,
            vae={"dropout": 0.0, "levels": 8, "residual_init": "identity", "units": 8},
            generator={"capacity_multiple": 64},
            latent={"max_epochs": 300, "rf_trees": 100},
            priors={"max_iter": 300},
        )
    if name == "paper":
        return base.replace(
            preset="paper", shift=ShiftConfig(temperature=3.0, in_sample=True, max_depth=12), seeds=30,
            seq_length=300, sample_size=40_000, redraw_per_seed=True, quality_cuts=True, quality_cuts_test=True,
            snr_threshold=4.0, generator_before_cuts=True,
            train={"learning_rate": 0.1, "batch_size": 125},
            regulator={"epochs": 500, "patience": 10, "synthetic_samples_by_class": 64, "n_oversampling": 10},
            vae_train={"epochs": 150, "patience": 20},
            classifiers=("cnn",),  # the paper's classifier, on (Δt, Δm) pairs
        )
    raise ConfigError(f"unknown preset {name!r}; expected one of {PRESETS}")
