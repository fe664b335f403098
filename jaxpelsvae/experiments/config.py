"""`ExperimentConfig` (frozen) for the full protocol, its presets (tiny, small, paper), and JSON round trips."""
from __future__ import annotations

import dataclasses
from typing import Any

from jaxpelsvae.data.shift import ShiftConfig
from jaxpelsvae.errors import ConfigError

PRESETS = ("tiny", "small", "paper")
MODES = ("baseline", "selfreg")
# RegulatorConfig fields that ExperimentConfig sets through fields of its own.
_OWN_REGULATOR_FIELDS = ("ranking_method", "synthetic_samples_by_class", "patience", "epochs", "repetitions",
                         "eps", "n_oversampling")
_OVERRIDES = ("vae_overrides", "vae_train_overrides", "generator_overrides", "priors_overrides", "latent_overrides",
              "period_overrides", "regulator_overrides", "view_overrides", "backbone_overrides")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything `run_experiment` needs besides the data.

    shift: how the dataset becomes a training and a (shifted) test pool.
    seeds: repetitions per mode (seeds root_seed, root_seed+1, ...); modes: which training modes.
    seq_length: L (pairs per curve); None chooses it from the data: the `seq_length_quantile` of the
        per-star number of consecutive pairs, clipped to [shortest L the CNN accepts, 300].
    sample_size: stratified subsample of the training pool (the paper's 40,000); None keeps all.
    max_stars: stratified cap on the whole dataset before splitting (quick runs); None keeps all.
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
    epochs / patience / learning_rate / layers / batch_size / loss / focal_gamma / ranking_method /
        synthetic_samples_by_class / eps / repetitions / n_oversampling: classifier and policy
        settings (selfreg.loop.TrainConfig and RegulatorConfig).
    synthetic_batch_size: batch size of the synthetic passes (TrainConfig; the original's fixed 128).
    regulator_overrides: other RegulatorConfig fields (threshold_acc_synthetic, decay_parameter_1,
        decay_parameter_2, beta_initial, scaling_factor, max_synthetic_age, ...), e.g.
        {"decay_parameter_2": 0.46}; the fields above that have their own setting are refused here.
    resample_pairs: fresh random (Δt, Δm) pairs of every training curve each epoch (TrainConfig).
    vae_epochs / vae_patience / vae_train_overrides (other VAETrainConfig fields, e.g. {"batch_size": 32})
        / vae_overrides: VAE training (VAETrainConfig) and architecture
        (VAEConfig field overrides, e.g. {"units": 16, "levels": 8}).
    vae_max_stars: stratified cap on the curves the VAE trains on (the generator is still fitted on
        the whole training pool); None uses all.
    generator_overrides / priors_overrides / latent_overrides: GeneratorConfig, PriorConfig and
        LatentConfig field overrides.
    vmap_seeds: train the baseline seeds together as one vmapped program.
    period_overrides: keyword arguments of `jaxpelsvae.period.find_periods`.
    classifiers: registered classifiers (`jaxpelsvae.views.registry.names()`) trained in every mode;
        the first is the run's main classifier (report.json `summary`), each one's runs are in
        `summary_by_classifier`. "cnn" is the original (Δt, Δm) CNN.
    view_overrides / backbone_overrides / augment / synthetic_periods: the period-aware classifiers'
        view and backbone settings, training-view augmentation and the period a synthetic curve's
        view folds with (selfreg.loop.TrainConfig).
    donors: a dataset of unlabelled curves (e.g. of the survey the classifier is meant for) whose
        times and errors the generator observes synthetic curves with (labels are never read);
        None: the training stars' own cadences. donor_copies: target cadences per training donor.
    transductive_donors: allow donors among the test stars (transductive: the test survey's own
        cadences); refused otherwise. Donors among the validation stars are always refused.
    """

    preset: str = "small"
    shift: ShiftConfig = ShiftConfig()
    seeds: int = 3
    modes: tuple[str, ...] = MODES
    seq_length: int | None = None
    seq_length_quantile: float = 0.25
    sample_size: int | None = None
    max_stars: int | None = None
    val_fraction: float = 0.3
    redraw_per_seed: bool = False
    quality_cuts: bool = False
    quality_cuts_test: bool = False
    snr_threshold: float = 4.0
    epochs: int = 30
    patience: int = 6
    learning_rate: float = 1e-3
    layers: int = 4
    batch_size: int = 125
    loss: str = "focal"
    focal_gamma: float = 2.0
    ranking_method: str = "proportion"
    synthetic_samples_by_class: int = 64
    eps: float = 0.15
    repetitions: int = 1
    n_oversampling: int = 1
    synthetic_batch_size: int = 128
    regulator_overrides: tuple[tuple[str, Any], ...] = ()
    resample_pairs: bool = False
    vae_epochs: int = 40
    vae_patience: int = 8
    vae_train_overrides: tuple[tuple[str, Any], ...] = ()
    vae_max_stars: int | None = None
    vae_overrides: tuple[tuple[str, Any], ...] = ()
    generator_overrides: tuple[tuple[str, Any], ...] = ()
    priors_overrides: tuple[tuple[str, Any], ...] = ()
    latent_overrides: tuple[tuple[str, Any], ...] = ()
    period_overrides: tuple[tuple[str, Any], ...] = ()
    vmap_seeds: bool = False
    classifiers: tuple[str, ...] = ("cnn",)
    view_overrides: tuple[tuple[str, Any], ...] = ()
    backbone_overrides: tuple[tuple[str, Any], ...] = ()
    augment: bool = False
    synthetic_periods: str = "found"
    donors: str | None = None
    donor_copies: int = 4
    transductive_donors: bool = False
    figures: bool = True
    progress: bool = True

    def __post_init__(self):
        from jaxpelsvae.views import registry

        if not self.classifiers or len(set(self.classifiers)) != len(self.classifiers):
            raise ConfigError(f"ExperimentConfig.classifiers must be distinct names, got {self.classifiers}")
        for name in self.classifiers:
            registry.get(name)  # a ConfigError naming the registered classifiers
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
        for name in ("epochs", "patience", "vae_epochs", "batch_size", "synthetic_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExperimentConfig.{name} must be >= 1")
        self.regulator_config()  # unknown or invalid regulator settings fail here, not after the VAE

    def regulator_config(self):
        """The RegulatorConfig of every classifier run: this config's policy fields plus
        `regulator_overrides`."""
        from jaxpelsvae.selfreg.state import RegulatorConfig

        known = {f.name for f in dataclasses.fields(RegulatorConfig)}
        overrides = dict(self.regulator_overrides)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown regulator settings {unknown}; RegulatorConfig has {sorted(known - set(_OWN_REGULATOR_FIELDS))}")
        own = sorted(set(overrides) & set(_OWN_REGULATOR_FIELDS))
        if own:
            # Two places for one setting would make a config file ambiguous.
            raise ConfigError(f"regulator settings {own} are ExperimentConfig fields of their own; set them there")
        if "proportion_range" in overrides:
            overrides["proportion_range"] = tuple(overrides["proportion_range"])
        return RegulatorConfig(**{name: getattr(self, name) for name in _OWN_REGULATOR_FIELDS}, **overrides)

    def replace(self, **changes) -> "ExperimentConfig":
        """A copy with fields changed; `shift_*` keys change fields of `shift` (e.g. shift_temperature),
        `regulator_*` keys add to `regulator_overrides` (e.g. regulator_decay_parameter_2)."""
        shift_changes = {k[len("shift_"):]: changes.pop(k) for k in list(changes) if k.startswith("shift_")}
        if shift_changes:
            changes["shift"] = dataclasses.replace(changes.get("shift", self.shift), **shift_changes)
        if "classifier" in changes:  # one name or a comma-separated list (the CLI's --classifier)
            value = changes.pop("classifier")
            changes["classifiers"] = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        if isinstance(changes.get("classifiers"), (list, str)):
            value = changes["classifiers"]
            changes["classifiers"] = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        reg_changes = {k[len("regulator_"):]: changes.pop(k) for k in list(changes)
                       if k.startswith("regulator_") and k != "regulator_overrides"}
        if reg_changes:
            changes["regulator_overrides"] = {**dict(changes.get("regulator_overrides", self.regulator_overrides)),
                                              **reg_changes}
        for key in _OVERRIDES:
            if isinstance(changes.get(key), dict):
                # lists (JSON) become tuples so that the frozen config stays hashable
                changes[key] = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in changes[key].items()))
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown experiment settings: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in _OVERRIDES:
            d[key] = dict(getattr(self, key))
        d["modes"] = list(self.modes)
        d["classifiers"] = list(self.classifiers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentConfig":
        d = dict(d)
        if isinstance(d.get("shift"), dict):
            d["shift"] = ShiftConfig(**d["shift"])
        if "modes" in d:
            d["modes"] = tuple(d["modes"])
        return cls().replace(**d)


def preset(name: str) -> ExperimentConfig:
    """tiny: seconds (tests); small: a few minutes on 2 CPU cores (the demo); paper: the paper's
    protocol (Bias 2: hardness T = 3 with in-sample forest probabilities, L = 300, SNR > 4 cuts of
    the training and the test pool, sample_size 40,000 and random pairs redrawn for each of 30 seeds,
    500 epochs, the original's optimiser settings)."""
    if name == "tiny":
        return ExperimentConfig(
            preset="tiny", shift=ShiftConfig(temperature=1.0, in_sample=False, n_estimators=20), seeds=1, max_stars=150,
            epochs=2, patience=2, layers=2, batch_size=32, synthetic_samples_by_class=8,
            vae_epochs=2, vae_patience=2, figures=True, progress=False,
            # The encoder must see all 600 phases (VAEConfig checks it): levels 7 with kernel 4 cover 763.
            vae_overrides=(("latent_dim", 4), ("levels", 7), ("residual_init", "identity"), ("units", 8)),
            generator_overrides=(("capacity_multiple", 16),),
            latent_overrides=(("max_epochs", 20), ("model", "mlp"), ("patience", 5), ("rf_trees", 20)),
            priors_overrides=(("max_iter", 100),),
        )
    if name == "small":
        return ExperimentConfig(
            preset="small", shift=ShiftConfig(in_sample=False, n_estimators=100), seeds=3, max_stars=None,
            # Small training sets need many small steps: 125-curve batches left a few hundred curves
            # at chance level. Fresh (Δt, Δm) pairs every epoch (resample_pairs) stop the CNN from
            # memorising the fixed draw (best epoch 2-4 without; validation macro-F1 0.29 -> 0.40 on
            # the demo survey), so it trains longer: 30 epochs, patience 8, batch 64 (as good as 32
            # on validation, faster).
            # With BatchNorm's warm-up no run stalls at epoch 0 any more, and on Gaia DR3 dev the
            # best epochs reached 24-30 of 30: 40 epochs, patience 10.
            epochs=40, patience=10, batch_size=64, learning_rate=3e-3, synthetic_samples_by_class=32,
            resample_pairs=True,
            # The period-folded classifier first (it reads the curve in phase, as the classifiers that
            # carry across surveys do: ANCHORS.md), the original CNN beside it for comparison. Its
            # training views are augmented (point dropout, random phase origin) every epoch: the
            # largest single gain in the classifier study (Gaia DR3 dev random split 0.81 -> 0.90).
            classifiers=("folded", "cnn"), augment=True,
            # The VAE must learn curve shapes, not class averages, from ~300 curves in a few hundred
            # steps: an encoder that sees all 600 phases (levels 8, kernel 4: 1,531; levels 4 saw the
            # last 91), residual_init "identity", no dropout, batch 32, lr 3e-3, 25 epochs (250 steps;
            # 45 of batch 128 before). Validation MSE on the demo survey's 400 VAE curves: 0.060 -> 0.015,
            # where the class-average curves give 0.034 (Gaia DR3 dev: 0.092 -> 0.017, 0.030); ~50 s.
            vae_epochs=25, vae_patience=5, vae_max_stars=400,
            vae_overrides=(("dropout", 0.0), ("levels", 8), ("residual_init", "identity"), ("units", 8)),
            vae_train_overrides=(("batch_size", 32), ("lr", 3e-3)),
            generator_overrides=(("capacity_multiple", 64),),
            latent_overrides=(("max_epochs", 300), ("rf_trees", 100)),
            priors_overrides=(("max_iter", 300),),
        )
    if name == "paper":
        return ExperimentConfig(
            preset="paper", shift=ShiftConfig(temperature=3.0, in_sample=True, max_depth=12), seeds=30,
            seq_length=300, sample_size=40_000, redraw_per_seed=True, quality_cuts=True, quality_cuts_test=True,
            snr_threshold=4.0,
            epochs=500, patience=10, learning_rate=0.1, synthetic_samples_by_class=64, n_oversampling=10,
            vae_epochs=150, vae_patience=20,
            classifiers=("cnn",),  # the paper's classifier, on (Δt, Δm) pairs
        )
    raise ConfigError(f"unknown preset {name!r}; expected one of {PRESETS}")
