"""The classifier of a run: `TrainConfig`, its inputs (`Encoded`, encoding), the model and its compiled
steps, the initial state, saving and loading a model, and evaluating or applying a saved one.

Shape suffixes: see `jaxpelsvae` (package docstring).

The epoch loop that trains it is `jaxpelsvae.selfreg.loop.train_classifier`; the passes over a set
in fixed-size batches are `jaxpelsvae.train.batching`. JAX and the models are imported lazily, so
that the command line stays fast.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from jaxpelsvae.data.provenance import write_provenance
from jaxpelsvae import config as config_io
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.json_io import json_safe
from jaxpelsvae.seeds import ENCODE_STREAMS, KEY_MODEL, KEY_TRAIN, RESAMPLE_STREAM
from jaxpelsvae.train.metrics import classification_metrics
from jaxpelsvae.train.regulator_config import RegulatorConfig

MODES = ("baseline", "selfreg")
SYNTHETIC_PERIODS = ("auto", "found", "true")
# The output layer's bias in every classifier (`fc2` of the CNNs and of the view backbones), which
# `RegulatorConfig.synthetic_output_bias` lets the synthetic pass update too.
OUTPUT_BIAS = ("fc2/bias",)
# Seed streams (jaxpelsvae.seeds): a saved model encodes new stars on the "test" stream.

# The regulator of `TrainConfig()`: the `small` preset's budget (minutes on a CPU, not the original's
# 500 epochs), kept equal to it by tests/train/test_classifier.py.
TRAIN_REGULATOR = RegulatorConfig(epochs=40, patience=10, synthetic_samples_by_class=32, n_oversampling=1)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of a classifier run. Defaults are the original's ``nn_config.yaml`` (§13.1) except the
    optimisation budget, which is the `small` experiment preset's (tested; the original's 0.1 diverges
    on a few hundred curves): `experiments.config.preset("paper")` sets the original's values.

    learning_rate: Adam lr of the real-data optimiser (3e-3; the original's base_learning_rate is 0.1).
    batch_size / synthetic_batch_size: 64 real (the original's 125), 128 synthetic (fixed; last batch
        padded).
    eval_batch_size: batch size of evaluation passes (only speed; padded, never dropped).
    seq_length: L, points per encoded curve; encode_order: "random" or "time" subsampling.
    regulator: the policy settings (epochs, patience, ranking method, EPS, scaling factor, ...):
        `RegulatorConfig`'s (the original's) but for `TRAIN_REGULATOR` (40 epochs, patience 10, 32
        synthetic curves per class, one per decoded template), the `small` preset's.
    resample_pairs: the cnn's: draw each real training curve's L (Δt, Δm) pairs afresh every epoch
        (key from seed and epoch only, so resumption is unchanged) instead of once per run as the
        original; validation and test encodings stay fixed. A cheap augmentation against
        over-fitting. The period-aware classifiers ignore it (their counterpart is `augment`).
    classifier: a registered view + backbone (`jaxpelsvae.views.registry.names()`); "cnn" is the
        original CNN on (Δt, Δm) pairs (``seq_length``, ``layers``), the others read the period.
    view_overrides / backbone_overrides: (field, value) pairs changing the classifier's view config
        (e.g. bins) and backbone keyword arguments (e.g. channels); ignored by "cnn".
    augment: the period-aware classifiers': training views drawn afresh every epoch with the view's
        augmentation (point dropout, phase jitter); validation, test and synthetic views never
        augment. The cnn ignores it (its counterpart is `resample_pairs`), so one TrainConfig can
        serve every classifier of an experiment.
    synthetic_periods: the period a synthetic curve's view folds with: "found" (the same
        label-free Lomb-Scargle search as real curves, so aliases look alike), "true" (the
        sampled period; cheaper) or "auto" (the default): as the real training curves are folded,
        "true" when every one has a catalogue period, else "found" (`resolve_synthetic_periods`).
    compiled_epoch: sets live on the device and each pass over a set (training or evaluation) is
        one compiled program (`train.batching.make_epoch_pass` / `make_eval_pass`); False drives
        one jitted step a batch from Python. Same batch order; equal within float tolerance.
    checkpoint_every: the loop state is checkpointed every this many epochs, on a new best
        validation loss and at the end (asynchronously); a resumed run repeats the epochs after
        its latest checkpoint, so the result does not depend on it.
    """

    mode: str = "selfreg"
    seq_length: int = 300
    layers: int = 4
    learning_rate: float = 3e-3
    batch_size: int = 64
    synthetic_batch_size: int = 128
    eval_batch_size: int = 500
    loss: str = "focal"
    focal_gamma: float = 2.0
    clip_norm: float = 6.0
    encode_order: str = "random"
    regulator: RegulatorConfig = TRAIN_REGULATOR
    resample_pairs: bool = False
    classifier: str = "cnn"
    view_overrides: tuple[tuple[str, Any], ...] = ()
    backbone_overrides: tuple[tuple[str, Any], ...] = ()
    augment: bool = False
    synthetic_periods: str = "auto"
    compiled_epoch: bool = True
    checkpoint_every: int = 1

    def __post_init__(self):
        from jaxpelsvae.views import registry

        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {MODES}")
        registry.get(self.classifier)  # ConfigError naming the registered ones
        for name in ("view_overrides", "backbone_overrides"):
            value = getattr(self, name)
            if isinstance(value, dict):  # JSON round trips and keyword calls give dicts
                object.__setattr__(self, name, tuple(sorted(value.items())))
        if self.synthetic_periods not in SYNTHETIC_PERIODS:
            raise ConfigError(f"synthetic_periods must be one of {SYNTHETIC_PERIODS}, got {self.synthetic_periods!r}")
        config_io.require_positive(self, ("seq_length", "layers", "batch_size", "synthetic_batch_size",
                                          "eval_batch_size", "checkpoint_every"))
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")

    def to_dict(self) -> dict[str, Any]:
        return config_io.to_dict(self)

    @property
    def reads_period(self) -> bool:
        """Whether the classifier's view folds with each curve's period."""
        return self.classifier != "cnn"

    @property
    def augments(self) -> bool:
        """Whether this run's training views are augmented (`augment`, period-aware classifiers only)."""
        return self.augment and self.reads_period

    @property
    def redraws_train_views(self) -> bool:
        """Whether the real training inputs are drawn afresh every epoch."""
        return self.augments or (self.resample_pairs and not self.reads_period)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return config_io.from_dict(cls, d)


class Encoded(NamedTuple):
    """A split ready for the classifier: x, the classifier's view of N curves (the "cnn": an
    (N, L, 2) float32 array of (Δt, Δm) pairs; other views: a dict of (N, ...) arrays), y (N,) int32."""

    x: Any
    y_N: np.ndarray

    @property
    def x_NL2(self) -> np.ndarray:
        """The (N, L, 2) pairs of the "cnn" classifier (the same as ``x``)."""
        return self.x

    def take(self, idx: np.ndarray) -> "Encoded":
        """The examples ``idx`` (host arrays)."""
        import jax

        return Encoded(jax.tree.map(lambda a: np.asarray(a)[idx], self.x), np.asarray(self.y_N)[idx])

    @property
    def arrays(self) -> dict[str, Any]:
        """``{"x": x, "y": y_N}``: the data set `train.batching` takes batches of."""
        return {"x": self.x, "y": self.y_N}


# ----------------------------------------------------------------------------- model and steps


def build_model(num_classes: int, config: TrainConfig, key):
    """The classifier's backbone for ``config`` with parameters drawn from ``key`` (a typed JAX key):
    the original CNN for "cnn", else the registered backbone sized for its view."""
    from flax import nnx

    if config.classifier == "cnn":
        from jaxpelsvae.models.cnn import CNN

        return CNN(num_classes, layers=config.layers, seq_length=config.seq_length,
                   rngs=nnx.Rngs(params=key))
    from jaxpelsvae.views import registry

    return registry.build_backbone(config.classifier, num_classes, nnx.Rngs(params=key),
                                   view_overrides=dict(config.view_overrides), **dict(config.backbone_overrides))


class Steps(NamedTuple):
    """The compiled programs of a configuration: ``train_real`` (subset "all" in baseline, "real"
    in selfreg), ``train_synthetic`` (subset "synthetic"; None in baseline), ``evaluate`` (eval
    mode), with the model's graphdef and the two optimisers (``tx_syn`` at lr × scaling_factor).

    The same steps as whole passes over a device-resident set (`train.batching`): ``real_pass`` and
    ``synthetic_pass`` (`make_epoch_pass`: one program a training pass, state donated) and
    ``evaluate_pass`` (`make_eval_pass`: one program a set's evaluation). ``plain_real`` and
    ``plain_synthetic`` are the un-jitted steps all of these are built from, for callers that
    transform them further (`experiments.repetitions` vmaps them over seeds)."""

    graphdef: Any
    train_real: Callable
    train_synthetic: Callable | None
    evaluate: Callable
    tx: Any
    tx_syn: Any
    real_pass: Callable
    synthetic_pass: Callable | None
    evaluate_pass: Callable
    plain_real: Callable
    plain_synthetic: Callable | None


class _StepKey(NamedTuple):
    """The settings that change the compiled steps (epochs, patience, ... do not)."""

    num_classes: int
    mode: str
    classifier: str
    view_overrides: tuple
    backbone_overrides: tuple
    layers: int
    seq_length: int
    learning_rate: float
    loss: str
    focal_gamma: float
    clip_norm: float
    scaling_factor: float
    synthetic_statistics: bool
    synthetic_output_bias: bool
    alpha_K: tuple[float, ...]


def build_steps(num_classes: int, config: TrainConfig, alpha_K) -> Steps:
    """Jitted train (real, synthetic) and eval steps for ``config`` with class weights ``alpha_K``;
    cached, so that repeated runs in one process (seeds, resumption, evaluation) reuse the compiled
    programs."""
    key = _StepKey(num_classes, config.mode, config.classifier, config.view_overrides, config.backbone_overrides,
                   config.layers, config.seq_length, float(config.learning_rate),
                   config.loss, float(config.focal_gamma), float(config.clip_norm),
                   float(config.regulator.scaling_factor), bool(config.regulator.synthetic_statistics),
                   bool(config.regulator.synthetic_output_bias), tuple(float(a) for a in np.asarray(alpha_K)))
    return _build_steps(key)


@functools.lru_cache(maxsize=8)
def _build_steps(key: _StepKey) -> Steps:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxpelsvae.train import batching
    from jaxpelsvae.train import steps as steps_lib
    from jaxpelsvae.train.state import make_optimizer, split_model

    alpha = jnp.asarray(key.alpha_K, jnp.float32)
    config = TrainConfig(mode=key.mode, layers=key.layers, seq_length=key.seq_length, classifier=key.classifier,
                         view_overrides=key.view_overrides, backbone_overrides=key.backbone_overrides)
    # Abstract model: the graph definition without running the initialisers.
    model = nnx.eval_shape(lambda: build_model(key.num_classes, config, jax.random.key(0)))
    graphdef, _, _ = split_model(model)
    loss_fn = steps_lib.classifier_loss_fn(key.loss, alpha_K=alpha, gamma=key.focal_gamma)
    eval_fn = steps_lib.classifier_eval_fn(key.loss, alpha_K=alpha, gamma=key.focal_gamma)
    eval_plain = steps_lib.make_eval_step(graphdef, eval_fn, jit=False)
    evaluate = jax.jit(eval_plain)
    evaluate_pass = batching.make_eval_pass(eval_plain, key.num_classes)

    def both(plain):  # the per-step program and the whole-pass program of one plain step
        return jax.jit(plain, donate_argnums=(0,)), batching.make_epoch_pass(plain)

    if key.mode == "baseline":
        tx = make_optimizer(key.learning_rate, clip_norm=key.clip_norm)
        plain_real = steps_lib.make_train_step(graphdef, loss_fn, tx, subset="all", jit=False)
        train_real, real_pass = both(plain_real)
        return Steps(graphdef, train_real, None, evaluate, tx, None, real_pass, None, evaluate_pass, plain_real, None)
    # Masked passes: the step clips the whole gradient first (the original's order), then masks.
    tx = make_optimizer(key.learning_rate, clip_norm=None)
    tx_syn = make_optimizer(key.learning_rate * key.scaling_factor, clip_norm=None)
    plain_real = steps_lib.make_train_step(graphdef, loss_fn, tx, subset="real", clip_norm=key.clip_norm, jit=False)
    plain_syn = steps_lib.make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=key.clip_norm,
                                          jit=False, update_statistics=key.synthetic_statistics,
                                          shared=OUTPUT_BIAS if key.synthetic_output_bias else ())
    train_real, real_pass = both(plain_real)
    train_syn, syn_pass = both(plain_syn)
    return Steps(graphdef, train_real, train_syn, evaluate, tx, tx_syn, real_pass, syn_pass, evaluate_pass,
                 plain_real, plain_syn)


def init_train_state(num_classes: int, config: TrainConfig, steps: Steps, seed: int):
    """Fresh TrainState for ``seed`` (masks by the EPS rule in self-regulated mode)."""
    import jax

    from jaxpelsvae.train.masks import make_masks
    from jaxpelsvae.train.state import create_train_state, split_model

    root = jax.random.key(seed)
    model = build_model(num_classes, config, jax.random.fold_in(root, KEY_MODEL))
    key = jax.random.fold_in(root, KEY_TRAIN)
    if config.mode == "baseline":
        return create_train_state(model, steps.tx, key)[1]
    _, params, _ = split_model(model)
    masks = make_masks(params, config.regulator.eps)
    return create_train_state(model, steps.tx, key, masks=masks, tx_syn=steps.tx_syn)[1]


# --------------------------------------------------------------------------------- evaluation


def predict(eval_step: Callable, state, data: Encoded, batch_size: int) -> tuple[np.ndarray, float]:
    """Eval-mode log-probabilities ``(N, K)`` and mean per-example loss over ``data``."""
    import jax

    from jaxpelsvae.train import batching

    outs = batching.padded_eval(eval_step, state, data.arrays, batch_size)
    host = jax.device_get([(o["logprobs"], o["loss_sum"], o["weight_sum"]) for o in outs])
    n = len(data.y_N)
    logp = batching.concat_rows([h[0] for h in host], n) if host else np.zeros((0, 0), np.float32)
    total = sum(float(h[1]) for h in host)
    weight = sum(float(h[2]) for h in host)
    return logp, (total / weight if weight > 0 else float("nan"))


def evaluate_split(eval_step: Callable, state, data: Encoded, class_names: Sequence[str],
                   batch_size: int, *, with_prob: bool = False) -> dict[str, Any]:
    """`metrics.classification_metrics` of the model in eval mode on one split (with_prob: and the
    (N, K) probabilities under "prob_NK")."""
    logp, loss = predict(eval_step, state, data, batch_size)
    prob = np.exp(logp.astype(np.float64)) if len(data.y_N) else np.zeros((0, len(class_names)))
    return _with_prob(classification_metrics(data.y_N, prob, class_names, loss=loss), prob, with_prob)


def _with_prob(metrics: dict[str, Any], prob: np.ndarray, with_prob: bool) -> dict[str, Any]:
    return {**metrics, "prob_NK": prob} if with_prob else metrics


def evaluate_set(evaluate_pass: Callable, state, data, y_N: np.ndarray, class_names: Sequence[str],
                 batch_size: int, *, with_prob: bool = False) -> dict[str, Any]:
    """`evaluate_split` of a device-resident set (`train.batching.DeviceSet` with labels ``y_N``) in
    one compiled program (`Steps.evaluate_pass`): the host adds the per-batch loss sums in the
    same order as the per-batch path and computes the metrics from the probabilities (the AUCs
    need them), as `evaluate_split` does."""
    import jax

    from jaxpelsvae.train import batching

    n = data.n
    batch_size = batching.eval_batch_size(data.rows, batch_size)
    out = jax.device_get(evaluate_pass(state, data.data, *data.indices(batch_size)))
    batches = -(-n // batch_size)
    total = sum(float(x) for x in out["loss_sum"][:batches])
    weight = sum(float(x) for x in out["weight_sum"][:batches])
    loss = total / weight if weight > 0 else float("nan")
    prob = np.exp(out["logprobs"][:n].astype(np.float64)) if n else np.zeros((0, len(class_names)))
    return _with_prob(classification_metrics(y_N, prob, class_names, loss=loss), prob, with_prob)


# ------------------------------------------------------------------------------------- inputs


def view_inputs(lcs, config: TrainConfig, seed: int, stream: int, *, augment: bool = False):
    """The classifier's input for every curve of ``lcs``, without labels: the shared (Δt, Δm)
    encoder for "cnn" (the same as synthetic curves), else the registered view folded at each
    star's ``meta['period']`` (which must be found without the class: `jaxpelsvae.period.fill_periods`).
    The draw depends on (seed, stream) and each curve's index only; ``augment`` turns the view's
    training augmentation on."""
    if config.classifier == "cnn":
        from jaxpelsvae.data.encode import encode_set

        x, _valid, _ = encode_set(lcs, length=config.seq_length, seed=int(seed) * 1000 + stream,
                                  order=config.encode_order)
        return np.asarray(x, np.float32)
    import jax

    from jaxpelsvae.views.apply import view_set

    if lcs.periods is None or not np.isfinite(lcs.periods).any():
        raise DataError(f"the {config.classifier!r} classifier folds each curve at its period: none of the "
                        "stars has one (fill them first, without their class: jaxpelsvae.period.fill_periods)")
    overrides = {**dict(config.view_overrides), **({"augment": True} if augment else {})}
    return view_set(config.classifier, lcs, jax.random.key(int(seed) * 1000 + stream), **overrides)


def encode_split(lcs, classes: Sequence[str], config: TrainConfig, seed: int, stream: int, *,
                 augment: bool = False) -> Encoded:
    """`view_inputs` of a LightCurveSet with its labels following ``classes`` (a class of ``lcs``
    not in ``classes`` is an error)."""
    unknown = sorted(set(lcs.meta["class"].astype(str)) - set(classes)) if len(lcs) else []
    if unknown:
        raise DataError(f"classes {unknown} are not among the training classes {list(classes)}")
    lcs = lcs.with_classes(classes)
    return Encoded(view_inputs(lcs, config, seed, stream, augment=augment), np.asarray(lcs.labels, np.int32))


def resolve_synthetic_periods(config: TrainConfig, train_set) -> str:
    """"found" or "true" for ``config.synthetic_periods`` "auto": synthetic curves are folded the way
    the real training curves are, at their true (sampled) period when every training star has a
    catalogue period, else at the period the label-free search finds on them. A search on every
    synthetic curve at every regeneration costs more than the rest of a run on dense cadences
    (OGLE: ~0.4 s a curve), and where real curves fold at catalogue periods it only adds aliases
    that real curves do not show."""
    if config.synthetic_periods != "auto":
        return config.synthetic_periods
    from jaxpelsvae.period.fill import CATALOGUE, period_sources

    if train_set is not None and len(train_set) and bool(np.all(period_sources(train_set) == CATALOGUE)):
        return "true"
    return "found"


def resample_split(lcs, classes: Sequence[str], config: TrainConfig, seed: int, epoch: int) -> Encoded:
    """Epoch ``epoch``'s inputs of the real training curves (``TrainConfig.redraws_train_views``):
    fresh L random pairs ("cnn") or a fresh augmented view per curve, from a seed that depends only
    on (seed, epoch), so a resumed run draws the same inputs as an uninterrupted one."""
    draw = int(np.random.default_rng([int(seed), int(epoch), RESAMPLE_STREAM]).integers(2**20))
    return encode_split(lcs, classes, config, draw, ENCODE_STREAMS["train"], augment=config.augments)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so that a reader never sees half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_model(path: Path, params, rest, info: dict[str, Any], fitted_ids: Sequence[str] | None = None) -> None:
    """Write a classifier (``params``, ``rest`` as host arrays) and ``model.json`` (config, classes,
    best epoch) into the folder ``path``; `load_model` reads it back."""
    from jaxpelsvae.train import checkpoint as ckpt

    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    step = max(int(info.get("best_epoch", 0)), 0)
    ckpt.save(path / "variables", step, {"params": params, "rest": rest}, {"best_epoch": step}, max_to_keep=1)
    write_atomic(path / "model.json", json.dumps(json_safe(info), indent=1))
    write_provenance(path, fitted_ids)  # the stars it was fitted or selected on (None: removes a stale record)


def read_model_info(path: Path) -> dict[str, Any]:
    """The ``model.json`` of the classifier saved in the folder ``path``, checked: valid JSON with a
    ``config`` object and a list of ``classes`` (a hand-edited or cut-short file is a `DataError`)."""
    info_file = Path(path) / "model.json"
    if not info_file.is_file():
        raise DataError(f"{path}: not a saved classifier (no model.json)")
    try:
        info = json.loads(info_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{info_file}: not valid JSON ({err})") from None
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict) or \
            not isinstance(info.get("classes"), list) or not info["classes"]:
        raise DataError(f"{info_file}: not a classifier description (needs a 'config' object and a "
                        "non-empty 'classes' list)")
    return info


def load_model(path: Path):
    """(graphdef, params, rest, info) of a classifier saved by `save_model` (a run's ``model/``)."""
    import jax

    from jaxpelsvae.train import checkpoint as ckpt
    from jaxpelsvae.train.state import split_model

    path = Path(path).absolute()
    info = read_model_info(path)
    config = TrainConfig.from_dict(info["config"])
    model = build_model(len(info["classes"]), config, jax.random.key(0))
    graphdef, params, rest = split_model(model)
    variables, _ = ckpt.restore(path / "variables", {"params": params, "rest": rest})
    return graphdef, variables["params"], variables["rest"], info


# ------------------------------------------------------------------------- evaluating a saved model


def recorded_period_config(info: dict[str, Any]):
    """The `PeriodConfig` of the label-free search a saved model's training stars went through
    (its model.json; models saved before it was recorded: the default search)."""
    from jaxpelsvae.config import from_dict
    from jaxpelsvae.period.search import PeriodConfig

    return from_dict(PeriodConfig, info["period"]) if info.get("period") else PeriodConfig()


def periods_as_trained(info: dict[str, Any], lcs):
    """``lcs`` with the periods the saved model (its model.json ``info``) reads found where missing,
    by the search its training stars went through (`period.fill_periods`); unchanged for a
    classifier that reads no period."""
    if not TrainConfig.from_dict(info["config"]).reads_period:
        return lcs
    from jaxpelsvae.period import fill_periods

    return fill_periods(lcs, config=recorded_period_config(info), progress=False)[0]


def _saved_classifier(model_dir: Path, lcs):
    """(config, classes, eval step, eval-mode TrainState, info, ``lcs`` with the periods its view
    reads) of the classifier saved in ``model_dir``. Missing periods are found as for training stars:
    label-free (`jaxpelsvae.period.fill_periods`) with the search settings recorded at training, so
    no label reaches the input."""
    import jax
    import jax.numpy as jnp

    from jaxpelsvae.train.state import TrainState

    _, params, rest, info = load_model(model_dir)
    config = TrainConfig.from_dict(info["config"])
    classes = tuple(info["classes"])
    lcs = periods_as_trained(info, lcs)
    alpha = info.get("alpha") or [1.0] * len(classes)
    eval_step = build_steps(len(classes), config, alpha).evaluate
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=None,
                       key=jax.random.key(0))
    return config, classes, eval_step, state, info, lcs


def with_forest(model_dir: Path, lcs, classes: Sequence[str], prob_NK: np.ndarray) -> np.ndarray:
    """``prob_NK`` averaged with the feature forest saved in ``model_dir``/forest (`models.forest`),
    which reads the stars' periods in meta as the view does; ``prob_NK`` itself without one."""
    from jaxpelsvae.models.forest import load_forest

    forest = load_forest(Path(model_dir) / "forest")
    if forest is None:
        return prob_NK
    if tuple(forest.classes) != tuple(classes):
        raise DataError(f"{model_dir}/forest: classes {forest.classes} differ from the model's {tuple(classes)}")
    return 0.5 * (prob_NK + forest.predict_proba(lcs))


def set_forest(model_dir: Path, train_set=None, *, seed: int = 0) -> None:
    """Fit the feature forest (`models.forest`) on ``train_set`` (periods in meta) and save it in
    ``model_dir``/forest, where `with_forest` finds it; None removes a forest an earlier run left
    there, so a model trained again without one does not keep averaging with it."""
    from jaxpelsvae.models.forest import fit_forest, remove_forest

    if train_set is None:
        remove_forest(Path(model_dir) / "forest")
    else:
        fit_forest(train_set, seed=seed).save(Path(model_dir) / "forest")


def evaluate_saved_model(model_dir: Path, lcs, *, seed: int = 0, batch_size: int | None = None
                         ) -> dict[str, Any]:
    """Metrics (`metrics.classification_metrics`) of the classifier saved in ``model_dir`` on the
    LightCurveSet ``lcs``; stars of classes the model does not know are an error. The curves are
    encoded as `train_classifier` encodes its test set for ``seed``. With a forest saved beside the
    model the scores are the pair's (`with_forest`); ``loss`` stays the network's own."""
    config, classes, eval_step, state, info, lcs = _saved_classifier(model_dir, lcs)
    data = encode_split(lcs, classes, config, seed, ENCODE_STREAMS["test"])
    logp, loss = predict(eval_step, state, data, batch_size or config.eval_batch_size)
    prob = with_forest(model_dir, lcs, classes, np.exp(logp.astype(np.float64)))
    m = classification_metrics(data.y_N, prob, classes, loss=loss)
    return {"model": str(Path(model_dir).absolute()), "classes": list(classes),
            "best_epoch": info.get("best_epoch"), **m}


def predict_saved_model(model_dir: Path, lcs, *, seed: int = 0, batch_size: int | None = None):
    """Class probabilities of every star of ``lcs`` (labels, if any, are not read) from the classifier
    saved in ``model_dir`` (with the feature forest saved beside it, if any: `with_forest`): a
    DataFrame with id, one column per class, ``predicted``,
    ``probability`` (of the predicted class), ``period`` [d] and ``period_source`` (what the view
    folded with; empty for the "cnn", which reads no period), then the period's quality
    ``period_power``, ``period_fap``, ``period_alias_flag`` (`period.fill_periods`). Inputs are drawn as for a test set."""
    import pandas as pd

    meta = lcs.meta.drop(columns=[c for c in ("class",) if c in lcs.meta.columns])
    lcs = lcs.with_meta(meta)
    config, classes, eval_step, state, _, lcs = _saved_classifier(model_dir, lcs)
    x = view_inputs(lcs, config, seed, ENCODE_STREAMS["test"])
    data = Encoded(x, np.zeros(len(lcs), np.int32))  # placeholder labels: only log-probs are read
    logp, _ = predict(eval_step, state, data, batch_size or config.eval_batch_size)
    prob = np.exp(logp.astype(np.float64))
    prob = with_forest(model_dir, lcs, classes, prob / prob.sum(axis=1, keepdims=True))
    table = pd.DataFrame({"id": lcs.ids})
    for k, c in enumerate(classes):
        table[c] = prob[:, k]
    best = prob.argmax(axis=1)
    table["predicted"] = np.asarray(classes, dtype=object)[best]
    table["probability"] = prob[np.arange(len(best)), best]
    periods = lcs.periods if (config.reads_period and lcs.periods is not None) else np.full(len(lcs), np.nan)
    table["period"] = periods
    table["period_source"] = (lcs.meta["period_source"].astype(str).to_numpy()
                              if config.reads_period and "period_source" in lcs.meta.columns else "")
    from jaxpelsvae.period.fill import QUALITY_COLUMNS

    for column in QUALITY_COLUMNS:  # the search's quality of the period (empty for catalogue periods)
        table[column] = (lcs.meta[column].to_numpy() if config.reads_period and column in lcs.meta.columns
                         else np.nan)
    return table

