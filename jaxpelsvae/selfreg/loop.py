"""The epoch loop: baseline (real data only) or self-regulated (synthetic passes + real pass) training.

Shape letters: N examples, B batch, L encoded sequence length, K classes.

One epoch of the self-regulated mode (ORIGINAL.md §7.2, with the §15.1 fixes listed in
`selfreg.state`):
1. if the policy asked for it, the generator creates a synthetic set with the requested per-class
   counts and temperature b (key ``fold_in(key(seed) → generator stream, regeneration index)``);
2. ``repetitions`` passes over the synthetic set with the synthetic optimiser (lr × scaling_factor)
   updating only the parameters outside the real mask (``subset="synthetic"``);
3. one pass over the real training set with the real optimiser on the masked subset;
4. evaluation in eval mode of the real training, validation and synthetic sets (loss, accuracy,
   macro-F1, ROC-AUC OvO/OvR, confusion); the policy (`policies.update`) decides regeneration
   (ranking on the training confusion) and early stopping;
5. a JSON line in ``metrics.jsonl``, a checkpoint (TrainState + RegulatorState + current synthetic
   set) and, on a new best validation loss, the best model.
The baseline mode runs step 3 with one optimiser over all parameters. At the end the best model
(by validation loss) is restored and evaluated on the test set.

Determinism: the data order of an epoch comes from ``np.random.default_rng([seed, epoch, stream])``
and every device key from ``fold_in``, so nothing but the checkpointed state carries randomness
across epochs and a resumed run repeats an uninterrupted one bit for bit (on the same device).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from jaxpelsvae.data.provenance import write_provenance
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.selfreg import policies
from jaxpelsvae.selfreg.metrics import classification_metrics
from jaxpelsvae.selfreg.state import RegulatorConfig, RegulatorState, json_safe

MODES = ("baseline", "selfreg")
SYNTHETIC_PERIODS = ("found", "true")
# Streams of np.random.default_rng([seed, epoch, stream]) and of the root key's fold_in.
_REAL_STREAM = 0
_SYNTH_STREAM = 1  # + repetition index
_KEY_MODEL, _KEY_TRAIN, _KEY_GENERATOR = 0, 1, 2
_ENCODE_SEEDS = {"train": 11, "val": 12, "test": 13}
_RESAMPLE_STREAM = 7  # np.random.default_rng([seed, epoch, stream]) -> the epoch's encoding seed


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of a classifier run; defaults are the original's ``nn_config.yaml`` (§13.1).

    learning_rate: Adam lr of the real-data optimiser (the original's base_learning_rate, 0.1).
    batch_size / synthetic_batch_size: 125 real, 128 synthetic (fixed; last batch padded).
    eval_batch_size: batch size of evaluation passes (only speed; padded, never dropped).
    seq_length: L, points per encoded curve; encode_order: "random" or "time" subsampling.
    regulator: the policy settings (epochs, patience, ranking method, EPS, scaling factor, ...).
    resample_pairs: draw each real training curve's L (Δt, Δm) pairs afresh every epoch (key from
        seed and epoch only, so resumption is unchanged) instead of once per run as the original;
        validation and test encodings stay fixed. A cheap augmentation against over-fitting.
    classifier: a registered view + backbone (`jaxpelsvae.views.registry.names()`); "cnn" is the
        original CNN on (Δt, Δm) pairs (``seq_length``, ``layers``), the others read the period.
    view_overrides / backbone_overrides: (field, value) pairs changing the classifier's view config
        (e.g. bins) and backbone keyword arguments (e.g. channels); ignored by "cnn".
    augment: training views drawn afresh every epoch with the view's augmentation (point dropout,
        phase jitter); validation, test and synthetic views never augment. Not for "cnn".
    synthetic_periods: the period a synthetic curve's view folds with: "found" (the same
        label-free Lomb-Scargle search as real curves, so aliases look alike) or "true" (the
        sampled period; cheaper).
    """

    mode: str = "selfreg"
    seq_length: int = 300
    layers: int = 4
    learning_rate: float = 0.1
    batch_size: int = 125
    synthetic_batch_size: int = 128
    eval_batch_size: int = 500
    loss: str = "focal"
    focal_gamma: float = 2.0
    clip_norm: float = 6.0
    encode_order: str = "random"
    regulator: RegulatorConfig = RegulatorConfig()
    resample_pairs: bool = False
    classifier: str = "cnn"
    view_overrides: tuple[tuple[str, Any], ...] = ()
    backbone_overrides: tuple[tuple[str, Any], ...] = ()
    augment: bool = False
    synthetic_periods: str = "found"

    def __post_init__(self):
        from jaxpelsvae.views import registry

        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {MODES}")
        registry.get(self.classifier)  # ConfigError naming the registered ones
        for name in ("view_overrides", "backbone_overrides"):
            value = getattr(self, name)
            if isinstance(value, dict):  # JSON round trips and keyword calls give dicts
                object.__setattr__(self, name, tuple(sorted(value.items())))
        if self.augment and self.classifier == "cnn":
            raise ConfigError("augment applies to period-aware views; the cnn uses resample_pairs")
        if self.synthetic_periods not in SYNTHETIC_PERIODS:
            raise ConfigError(f"synthetic_periods must be one of {SYNTHETIC_PERIODS}, got {self.synthetic_periods!r}")
        for name in ("seq_length", "layers", "batch_size", "synthetic_batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["regulator"] = self.regulator.to_dict()
        d["view_overrides"] = dict(self.view_overrides)
        d["backbone_overrides"] = dict(self.backbone_overrides)
        return d

    @property
    def reads_period(self) -> bool:
        """Whether the classifier's view folds with each curve's period."""
        return self.classifier != "cnn"

    @property
    def redraws_train_views(self) -> bool:
        """Whether the real training inputs are drawn afresh every epoch."""
        return self.resample_pairs or self.augment

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown TrainConfig keys: {sorted(unknown)}")
        if "regulator" in d and isinstance(d["regulator"], dict):
            d["regulator"] = RegulatorConfig.from_dict(d["regulator"])
        return cls(**d)


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


class TrainResult(NamedTuple):
    """What `train_classifier` returns: final metrics (also in ``workdir/metrics.json``), the final
    RegulatorState, and the best model's variables ``(graphdef, params, rest)``."""

    metrics: dict[str, Any]
    regulator: RegulatorState
    model: tuple[Any, Any, Any]


class Interrupted(Exception):
    """Raised by a callback to stop a run after its epoch checkpoint (used to test resumption)."""


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
    mode), with the model's graphdef and the two optimisers (``tx_syn`` at lr × scaling_factor)."""

    graphdef: Any
    train_real: Callable
    train_synthetic: Callable | None
    evaluate: Callable
    tx: Any
    tx_syn: Any


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
    alpha_K: tuple[float, ...]


def build_steps(num_classes: int, config: TrainConfig, alpha_K) -> Steps:
    """Jitted train (real, synthetic) and eval steps for ``config`` with class weights ``alpha_K``;
    cached, so that repeated runs in one process (seeds, resumption, evaluation) reuse the compiled
    programs."""
    key = _StepKey(num_classes, config.mode, config.classifier, config.view_overrides, config.backbone_overrides,
                   config.layers, config.seq_length, float(config.learning_rate),
                   config.loss, float(config.focal_gamma), float(config.clip_norm),
                   float(config.regulator.scaling_factor), tuple(float(a) for a in np.asarray(alpha_K)))
    return _build_steps(key)


@functools.lru_cache(maxsize=8)
def _build_steps(key: _StepKey) -> Steps:
    import jax
    import jax.numpy as jnp
    from flax import nnx

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
    evaluate = steps_lib.make_eval_step(graphdef, eval_fn)
    if key.mode == "baseline":
        tx = make_optimizer(key.learning_rate, clip_norm=key.clip_norm)
        train_real = steps_lib.make_train_step(graphdef, loss_fn, tx, subset="all")
        return Steps(graphdef, train_real, None, evaluate, tx, None)
    # Masked passes: the step clips the whole gradient first (the original's order), then masks.
    tx = make_optimizer(key.learning_rate, clip_norm=None)
    tx_syn = make_optimizer(key.learning_rate * key.scaling_factor, clip_norm=None)
    train_real = steps_lib.make_train_step(graphdef, loss_fn, tx, subset="real", clip_norm=key.clip_norm)
    train_syn = steps_lib.make_train_step(graphdef, loss_fn, tx_syn, subset="synthetic", clip_norm=key.clip_norm)
    return Steps(graphdef, train_real, train_syn, evaluate, tx, tx_syn)


def init_train_state(num_classes: int, config: TrainConfig, steps: Steps, seed: int):
    """Fresh TrainState for ``seed`` (masks by the EPS rule in self-regulated mode)."""
    import jax

    from jaxpelsvae.train.masks import make_masks
    from jaxpelsvae.train.state import create_train_state, split_model

    root = jax.random.key(seed)
    model = build_model(num_classes, config, jax.random.fold_in(root, _KEY_MODEL))
    key = jax.random.fold_in(root, _KEY_TRAIN)
    if config.mode == "baseline":
        return create_train_state(model, steps.tx, key)[1]
    _, params, _ = split_model(model)
    masks = make_masks(params, config.regulator.eps)
    return create_train_state(model, steps.tx, key, masks=masks, tx_syn=steps.tx_syn)[1]


# ------------------------------------------------------------------------------------ batching


def batch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed-size batches over ``n`` examples: [(idx_B int64, weight_B float32)], shuffled when
    ``rng`` is given; the last batch is padded with example 0 at weight 0 (never dropped)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    out = []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        weight = np.ones(batch_size, np.float32)
        if len(idx) < batch_size:
            weight[len(idx):] = 0.0
            idx = np.concatenate([idx, np.zeros(batch_size - len(idx), idx.dtype)])
        out.append((idx, weight))
    return out


def _batch(data: Encoded, idx: np.ndarray, weight: np.ndarray) -> dict[str, np.ndarray]:
    import jax

    return {"x": jax.tree.map(lambda a: a[idx], data.x), "y": data.y_N[idx], "weight": weight}


def train_pass(step: Callable, state, data: Encoded, batch_size: int, rng: np.random.Generator):
    """One shuffled pass of ``step`` over ``data``; returns (state, mean training loss as a device
    scalar, fetched by the caller once per epoch)."""
    import jax.numpy as jnp

    losses = []
    for idx, weight in batch_indices(len(data.y_N), batch_size, rng):
        state, m = step(state, _batch(data, idx, weight))
        losses.append(m["loss"])
    return state, (jnp.mean(jnp.stack(losses)) if losses else jnp.nan)


def predict(eval_step: Callable, state, data: Encoded, batch_size: int) -> tuple[np.ndarray, float]:
    """Eval-mode log-probabilities ``(N, K)`` and mean per-example loss over ``data``."""
    import jax

    outs = [eval_step(state, _batch(data, idx, w)) for idx, w in batch_indices(len(data.y_N), batch_size)]
    host = jax.device_get([(o["logprobs"], o["loss_sum"], o["weight_sum"]) for o in outs])
    n = len(data.y_N)
    logp = np.concatenate([h[0] for h in host])[:n] if host else np.zeros((0, 0), np.float32)
    total = sum(float(h[1]) for h in host)
    weight = sum(float(h[2]) for h in host)
    return logp, (total / weight if weight > 0 else float("nan"))


def evaluate_split(eval_step: Callable, state, data: Encoded, class_names: Sequence[str],
                   batch_size: int) -> dict[str, Any]:
    """`metrics.classification_metrics` of the model in eval mode on one split."""
    logp, loss = predict(eval_step, state, data, batch_size)
    prob = np.exp(logp.astype(np.float64)) if len(data.y_N) else np.zeros((0, len(class_names)))
    return classification_metrics(data.y_N, prob, class_names, loss=loss)


# ------------------------------------------------------------------------------------ encoding


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


def resample_split(lcs, classes: Sequence[str], config: TrainConfig, seed: int, epoch: int) -> Encoded:
    """Epoch ``epoch``'s inputs of the real training curves (``TrainConfig.redraws_train_views``):
    fresh L random pairs ("cnn") or a fresh augmented view per curve, from a seed that depends only
    on (seed, epoch), so a resumed run draws the same inputs as an uninterrupted one."""
    draw = int(np.random.default_rng([int(seed), int(epoch), _RESAMPLE_STREAM]).integers(2**20))
    return encode_split(lcs, classes, config, draw, _ENCODE_SEEDS["train"], augment=config.augment)


# ----------------------------------------------------------------------------------- synthetic


def generate_set(generator, key, counts: Sequence[int], temperature: float, classes: Sequence[str],
                 seq_length: int, n_oversampling: int = 1, capacity: int | None = None,
                 config: TrainConfig | None = None) -> Encoded:
    """Ask the generator for ``count`` templates of each class, each made into ``n_oversampling``
    light curves, keep the valid slots and map its labels to ``classes``.

    The original drew ``n_oversampling`` random subsequences of every decoded curve; generators that
    take ``repeats`` (`jaxpelsvae.synth.Generator`) decode each template once and reverse-fold it
    ``n_oversampling`` times, each time with its own donor cadence, phase and noise; others are
    asked for ``count × n_oversampling`` independent curves. Classes the generator does not know get
    no synthetic curves. ``capacity`` (template slots) is passed on to generators that take it, so
    that every regeneration of a run reuses one compiled program.
    ``config``: for a period-aware classifier the raw synthetic curves go through its view (the
    same function as real curves), folded at the period found on them (``synthetic_periods``).
    """
    import inspect

    gen_classes = tuple(getattr(generator, "classes", classes))
    params = inspect.signature(generator.generate).parameters
    m = int(n_oversampling)
    takes_repeats = "repeats" in params
    per_count = 1 if takes_repeats else m  # templates (or independent curves) asked per counted curve
    request = {c: int(n) * per_count for c, n in zip(classes, counts) if c in gen_classes}
    kwargs = {"repeats": m} if takes_repeats and m > 1 else {}
    if capacity is not None and "capacity" in params:
        kwargs["capacity"] = max(int(capacity) * per_count, sum(request.values()))
    out = generator.generate(key, request, float(temperature), **kwargs)
    keep = getattr(out, "slot_valid_N", None)
    keep = np.ones(len(np.asarray(out.y_N)), bool) if keep is None else np.asarray(keep, bool)
    y = np.asarray(out.y_N, np.int64)[keep]
    if config is not None and config.reads_period:
        x = _synthetic_views(out, keep, config, key)
    else:
        x = np.asarray(out.x_NL2, np.float32)[keep]
    if gen_classes != tuple(classes):
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.asarray([lookup.get(c, -1) for c in gen_classes])[y]
        if (y < 0).any():
            raise DataError("the generator produced classes unknown to the classifier")
    if config is None or not config.reads_period:
        if x.ndim != 3 or x.shape[1:] != (seq_length, 2) or len(x) != len(y):
            raise ConfigError(f"synthetic curves must be (N, {seq_length}, 2) with N labels, got {x.shape}"
                              f" and {y.shape}")
    return Encoded(x, y.astype(np.int32))


def _synthetic_views(out, keep: np.ndarray, config: TrainConfig, key):
    """The classifier's view of the kept raw synthetic curves of a `SynthBatch`."""
    import jax

    from jaxpelsvae.views.apply import view_arrays

    time, mag, err, mask = (np.asarray(a)[keep] for a in (out.time_NT, out.mag_NT, out.err_NT, out.mask_NT))
    periods = np.asarray(out.period_N, np.float64)[keep]
    if config.synthetic_periods == "found":
        periods = synthetic_found_periods(time, mag, err, mask)
    return view_arrays(config.classifier, time, mag, err, mask, periods, jax.random.fold_in(key, 1),
                       **dict(config.view_overrides))


def synthetic_found_periods(time_NT, mag_NT, err_NT, mask_NT) -> np.ndarray:
    """Periods of synthetic curves found as those of real curves are (label-free Lomb-Scargle):
    the view then folds a synthetic curve at the same aliases a real one would show."""
    from jaxpelsvae.data.lightcurves import LightCurveSet
    from jaxpelsvae.period import fill_periods

    lcs = LightCurveSet.from_padded(np.arange(len(time_NT)).astype(str), time_NT.astype(np.float64),
                                    mag_NT.astype(np.float64), err_NT.astype(np.float64), mask_NT)
    return fill_periods(lcs)[0].periods


# ------------------------------------------------------------------------------- checkpointing


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_npz_atomic(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


class RunFiles(NamedTuple):
    """Where a run writes: see `train_classifier`."""

    root: Path
    checkpoints: Path  # run.json (what run this is), synthetic.npz (current set), steps/ (orbax)
    model: Path  # the best model (`save_model`)
    metrics_jsonl: Path
    metrics_json: Path
    figures: Path

    @classmethod
    def of(cls, workdir: Path) -> "RunFiles":
        root = Path(workdir).absolute()
        return cls(root, root / "checkpoints", root / "model", root / "metrics.jsonl",
                   root / "metrics.json", root / "figures")

    @property
    def run(self) -> Path:
        return self.checkpoints / "run.json"

    @property
    def steps(self) -> Path:
        return self.checkpoints / "steps"

    @property
    def synthetic(self) -> Path:
        return self.checkpoints / "synthetic.npz"


def save_model(path: Path, params, rest, info: dict[str, Any], fitted_ids: Sequence[str] | None = None) -> None:
    """Write a classifier (``params``, ``rest`` as host arrays) and ``model.json`` (config, classes,
    best epoch) into the folder ``path``; `load_model` reads it back."""
    from jaxpelsvae.train import checkpoint as ckpt

    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    step = max(int(info.get("best_epoch", 0)), 0)
    ckpt.save(path / "variables", step, {"params": params, "rest": rest}, {"best_epoch": step}, max_to_keep=1)
    _write_atomic(path / "model.json", json.dumps(json_safe(info), indent=1))
    write_provenance(path, fitted_ids)  # the stars it was fitted or selected on (None: removes a stale record)


def load_model(path: Path):
    """(graphdef, params, rest, info) of a classifier saved by `save_model` (a run's ``model/``)."""
    import jax

    from jaxpelsvae.train import checkpoint as ckpt
    from jaxpelsvae.train.state import split_model

    path = Path(path).absolute()
    info_file = path / "model.json"
    if not info_file.is_file():
        raise DataError(f"{path}: not a saved classifier (no model.json)")
    info = json.loads(info_file.read_text())
    config = TrainConfig.from_dict(info["config"])
    model = build_model(len(info["classes"]), config, jax.random.key(0))
    graphdef, params, rest = split_model(model)
    variables, _ = ckpt.restore(path / "variables", {"params": params, "rest": rest})
    return graphdef, variables["params"], variables["rest"], info


# ----------------------------------------------------------------------------------- the loop


def _fingerprint(*splits: Encoded) -> str:
    """SHA-1 of the encoded inputs and labels: a resumed run must see the same data."""
    import hashlib

    h = hashlib.sha1()
    for split in splits:
        for leaf in _leaves(split.x):
            h.update(np.ascontiguousarray(leaf).tobytes())
        h.update(np.ascontiguousarray(split.y_N).tobytes())
    return h.hexdigest()


def _leaves(x) -> list[np.ndarray]:
    """The arrays of an input pytree, in a fixed order (a plain array is its own leaf)."""
    import jax

    return [np.asarray(a) for a in jax.tree.leaves(x)]


def _log_line(record: dict[str, Any]) -> str:
    return json.dumps(json_safe(record), allow_nan=False)


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    keep = ("n", "loss", "accuracy", "macro_f1", "roc_auc_ovo", "roc_auc_ovr", "confusion")
    return {k: m[k] for k in keep if k in m}


def train_classifier(
    train_set,
    val_set,
    test_set,
    config: TrainConfig = TrainConfig(),
    generator=None,
    workdir: Path | str = "workdir",
    seed: int = 0,
    *,
    mode: str | None = None,
    resume: bool = True,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool = True,
    encoded: tuple[Encoded, Encoded, Encoded] | None = None,
    classes: Sequence[str] | None = None,
) -> TrainResult:
    """Train the CNN on ``train_set`` (LightCurveSets; the synthetic sets come from ``generator``),
    early-stop on ``val_set``, restore the best epoch and evaluate it on ``test_set``.

    mode: "baseline" or "selfreg" (overrides ``config.mode``); selfreg needs ``generator``, an
      object with ``generate(key, {class: count}, b) -> SynthBatch(x_NL2, valid_NL, y_N, ...)``.
    workdir: ``metrics.jsonl`` (one JSON line per epoch), ``checkpoints/`` (resumption),
      ``model/`` (the best model, for ``jaxpelsvae evaluate``), ``metrics.json`` (final metrics),
      ``figures/`` (learning curves, test confusion matrix).
    resume: continue from ``workdir/checkpoints`` when it holds a checkpoint of the same run
      configuration (a different configuration is an error); False starts afresh.
    callback: ``callback(epoch, record)`` after each epoch's checkpoint; raising `Interrupted`
      from it stops the run there (the next call resumes it).
    encoded / classes: already encoded (train, val, test) splits and label names (skips encoding);
      with ``config.resample_pairs`` ``train_set`` must still be given (it is re-encoded every epoch).
    Returns a `TrainResult`.
    """
    import jax

    from jaxpelsvae.train import checkpoint as ckpt
    from jaxpelsvae.train.losses import class_weights_alpha

    if mode is not None and mode != config.mode:
        config = dataclasses.replace(config, mode=mode)
    selfreg = config.mode == "selfreg"
    if selfreg and generator is None:
        raise ConfigError("self-regulated training needs a synthetic-curve generator")
    t_start = time.perf_counter()
    files = RunFiles.of(Path(workdir))
    files.root.mkdir(parents=True, exist_ok=True)

    if encoded is None:
        classes = tuple(train_set.classes)
        enc_train, enc_val, enc_test = (
            encode_split(s, classes, config, seed, _ENCODE_SEEDS[name])
            for name, s in (("train", train_set), ("val", val_set), ("test", test_set))
        )
    else:
        if classes is None:
            raise ConfigError("train_classifier: `classes` must be given with `encoded`")
        classes = tuple(classes)
        enc_train, enc_val, enc_test = encoded
    if config.redraws_train_views and train_set is None:
        raise ConfigError("resample_pairs / augment need the training LightCurveSet (train_set), not only "
                          "its encoding")
    k = len(classes)
    if len(enc_train.y_N) == 0 or len(enc_val.y_N) == 0:
        raise DataError("training and validation sets must not be empty")
    if config.classifier == "cnn" and np.shape(enc_train.x)[1:] != (config.seq_length, 2):
        raise ConfigError(f"encoded curves must be (N, {config.seq_length}, 2), got {np.shape(enc_train.x)}")

    # Class weights on train + validation labels, as the original (§6.1).
    alpha = class_weights_alpha(np.concatenate([enc_train.y_N, enc_val.y_N]), k)
    steps = build_steps(k, config, alpha)
    rcfg = config.regulator
    run_id = {"config": config.to_dict(), "seed": int(seed), "classes": list(classes),
              "n_train": len(enc_train.y_N), "n_val": len(enc_val.y_N),
              "data_sha1": _fingerprint(enc_train, enc_val, enc_test)}

    state = init_train_state(k, config, steps, seed)
    regulator, _ = policies.init(rcfg, k, selfreg=selfreg)
    synthetic: Encoded | None = None
    best: tuple[Any, Any] | None = None  # host copies of (params, rest) of the best epoch
    if resume and _has_checkpoint(files):
        state, regulator, synthetic, best = _resume(files, run_id, state, enc_train.x)
    else:
        _start_afresh(files, run_id)

    root = jax.random.key(seed)
    gen_key = jax.random.fold_in(root, _KEY_GENERATOR)
    model_info = {**run_id, "mode": config.mode, "alpha": [float(a) for a in alpha]}
    capacity = policies.max_synthetic_total(rcfg, k)  # templates; generate_set scales it if needed
    store = ckpt.CheckpointStore(files.steps, max_to_keep=2)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rcfg.epochs, initial=regulator.epoch, desc=f"train {config.mode}", unit="epoch",
                   leave=False)
    try:
        while not regulator.stopped:
            epoch = regulator.epoch
            t0 = time.perf_counter()
            regenerated, temperature_used = False, None
            if regulator.pending_counts is not None:
                temperature_used = regulator.temperature
                synthetic = generate_set(generator, jax.random.fold_in(gen_key, regulator.regenerations),
                                         regulator.pending_counts, regulator.temperature, classes,
                                         config.seq_length, rcfg.n_oversampling, capacity, config)
                regulator = policies.after_generation(regulator, rcfg)
                regenerated = True
                _save_npz_atomic(files.synthetic, y=synthetic.y_N,
                                 **{f"x{i}": leaf for i, leaf in enumerate(_leaves(synthetic.x))})
            t_gen = time.perf_counter() - t0

            syn_train_loss = None
            if selfreg:
                for r in range(rcfg.repetitions):
                    rng = np.random.default_rng([seed, epoch, _SYNTH_STREAM + r])
                    state, syn_train_loss = train_pass(steps.train_synthetic, state, synthetic,
                                                       config.synthetic_batch_size, rng)
            epoch_train = (resample_split(train_set, classes, config, seed, epoch) if config.redraws_train_views
                           else enc_train)
            rng = np.random.default_rng([seed, epoch, _REAL_STREAM])
            state, real_train_loss = train_pass(steps.train_real, state, epoch_train, config.batch_size, rng)
            jax.block_until_ready(state)
            t_train = time.perf_counter() - t0 - t_gen

            ev = functools.partial(evaluate_split, steps.evaluate, state, class_names=classes,
                                   batch_size=config.eval_batch_size)
            m_train, m_val = ev(data=epoch_train), ev(data=enc_val)
            m_syn = ev(data=synthetic) if selfreg else None
            t_eval = time.perf_counter() - t0 - t_gen - t_train
            record = {
                "train": _summary(m_train),
                "val": _summary(m_val),
                "synthetic": None if m_syn is None else _summary(m_syn),
                "train_step_loss": float(real_train_loss),
                "synthetic_step_loss": None if syn_train_loss is None else float(syn_train_loss),
                "regenerated": regenerated,
                "temperature_used": temperature_used,
                "weighted_f1": (rcfg.weight_synthetic_f1 * m_syn["macro_f1"]
                                + (1 - rcfg.weight_synthetic_f1) * m_val["macro_f1"]) if m_syn else m_val["macro_f1"],
                "wall_s": {"generate": t_gen, "train": t_train, "evaluate": t_eval},
            }
            report = policies.EpochReport(
                epoch=epoch, val_loss=m_val["loss"], train_confusion_KK=np.asarray(m_train["confusion"]),
                synthetic_accuracy=None if m_syn is None else m_syn["accuracy"], record=record)
            regulator, actions = policies.update(regulator, report, rcfg)
            if actions.new_best:
                best = jax.device_get((state.params, state.rest))
            # The best model travels in every checkpoint (a placeholder until there is one).
            store.save(epoch, {"state": state, "best": best if best is not None else (state.params, state.rest)},
                       regulator.to_dict(), force=True)
            with files.metrics_jsonl.open("a") as f:
                f.write(_log_line(regulator.history[-1]) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_loss=f"{m_val['loss']:.3f}", val_f1=f"{m_val['macro_f1']:.3f}",
                                best=regulator.best_epoch)
            if callback is not None:
                store.wait_until_finished()
                callback(epoch, regulator.history[-1])
    finally:
        store.close()
        if bar is not None:
            bar.close()

    # The best epoch's model (ORIGINAL.md §15.1 bug 1: the original reported the last epoch's).
    if best is None:
        raise DataError("no epoch produced a finite validation loss")
    save_model(files.model, best[0], best[1], {**model_info, "best_epoch": regulator.best_epoch})
    best_state = state.replace(params=jax.device_put(best[0]), rest=jax.device_put(best[1]))
    splits = {"test": enc_test, "val": enc_val, "train": enc_train, "synthetic": synthetic}
    final = {name: evaluate_split(steps.evaluate, best_state, data, classes, config.eval_batch_size)
             for name, data in splits.items() if data is not None and len(data.y_N)}
    metrics = _final_metrics(final, regulator, config, seed, classes, time.perf_counter() - t_start)
    _write_atomic(files.metrics_json, json.dumps(json_safe(metrics), indent=1))
    _write_figures(files, regulator, metrics, classes, config.mode)
    return TrainResult(json_safe(metrics), regulator, (steps.graphdef, best[0], best[1]))


def _has_checkpoint(files: RunFiles) -> bool:
    from jaxpelsvae.train import checkpoint as ckpt

    if not files.run.is_file():
        return False
    with ckpt.CheckpointStore(files.steps, max_to_keep=2) as store:
        return store.latest_step() is not None


def _resume(files: RunFiles, run_id: dict[str, Any], fresh_state, enc_train_x):
    """(TrainState, RegulatorState, current synthetic set or None, best (params, rest) or None)
    from the latest checkpoint of ``files``; its run must be ``run_id``."""
    import jax

    from jaxpelsvae.train import checkpoint as ckpt

    if json.loads(files.run.read_text()) != json_safe(run_id):
        raise ConfigError(f"{files.checkpoints}: holds a run with another configuration, seed or "
                          "data; use another --workdir or start afresh (resume=False, --no-resume)")
    with ckpt.CheckpointStore(files.steps, max_to_keep=2) as store:
        saved, regulator_dict = store.restore({"state": fresh_state, "best": (fresh_state.params, fresh_state.rest)})
    # Fresh host copies: restored arrays come back committed to a device, which would make
    # every jitted step compile again for a different input placement.
    state = _uncommitted(saved["state"])
    regulator = RegulatorState.from_dict(regulator_dict)
    synthetic = None
    if regulator.synthetic_counts and regulator.pending_counts is None:
        with np.load(files.synthetic) as z:
            treedef = jax.tree.structure(enc_train_x)
            leaves = ([z["x"]] if "x" in z.files  # written before inputs could be pytrees
                      else [z[f"x{i}"] for i in range(treedef.num_leaves)])
            synthetic = Encoded(jax.tree.unflatten(treedef, leaves), z["y"])
    best = jax.device_get(saved["best"]) if regulator.best_epoch >= 0 else None
    # Epochs logged after the checkpoint are run again: the log restarts from the state's history.
    files.metrics_jsonl.write_text("".join(_log_line(h) + "\n" for h in regulator.history))
    return state, regulator, synthetic, best


def _start_afresh(files: RunFiles, run_id: dict[str, Any]) -> None:
    import shutil

    for stale in (files.checkpoints, files.model):
        if stale.exists():
            shutil.rmtree(stale)
    files.checkpoints.mkdir(parents=True)
    _write_atomic(files.run, json.dumps(json_safe(run_id)))
    files.metrics_jsonl.write_text("")


def _uncommitted(tree):
    """``tree`` with every array copied through the host onto the default device, uncommitted."""
    import jax
    import jax.numpy as jnp

    def one(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(jax.device_put(np.asarray(jax.random.key_data(x))),
                                            impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x)) if isinstance(x, jax.Array) else x

    return jax.tree.map(one, tree)


def _final_metrics(final: dict[str, dict], regulator: RegulatorState, config: TrainConfig, seed: int,
                   classes: Sequence[str], wall_s: float) -> dict[str, Any]:
    """The run's summary: the best model's test metrics at the top level (report.json's run entry),
    every split's metrics under ``splits``, epochs and timings."""
    test = final.get("test", {})
    walls = {part: [h["wall_s"][part] for h in regulator.history] for part in ("generate", "train", "evaluate")}
    totals = [sum(parts) for parts in zip(*walls.values())]
    return {
        "mode": config.mode,
        "seed": int(seed),
        "classes": list(classes),
        **{key: test.get(key) for key in ("macro_f1", "accuracy", "roc_auc_ovo", "roc_auc_ovr",
                                          "per_class", "confusion")},
        "best_epoch": regulator.best_epoch,
        "best_val_loss": regulator.best_val_loss,
        "epochs": regulator.epoch,
        "regenerations": regulator.regenerations,
        "wall_s": wall_s,  # this call (a resumed run: since the resumption)
        "epochs_wall_s": float(sum(totals)),  # all epochs, across resumptions
        # Median over epochs (the first one also compiles): total and its parts.
        "wall_s_per_epoch": float(np.median(totals)) if totals else None,
        "epoch_wall_s": {part: float(np.median(v)) for part, v in walls.items() if v},
        "first_epoch_wall_s": totals[0] if totals else None,
        "splits": final,
        "config": config.to_dict(),
    }


def _write_figures(files: RunFiles, regulator: RegulatorState, metrics: dict, classes, mode: str) -> None:
    from jaxpelsvae.selfreg.figures import plot_confusion, plot_learning_curves

    plot_learning_curves(regulator.history, files.figures / "learning_curves.png", title=f"{mode} training")
    if metrics.get("confusion") is not None:
        plot_confusion(np.asarray(metrics["confusion"]), classes, files.figures / "confusion_test.png",
                       title=f"test, best epoch {metrics['best_epoch']} ({mode})")


# ------------------------------------------------------------------------- evaluating a saved model


def _saved_classifier(model_dir: Path, lcs):
    """(config, classes, eval step, eval-mode TrainState, info, ``lcs`` with the periods its view
    reads) of the classifier saved in ``model_dir``. Missing periods are found as for training stars:
    label-free (`jaxpelsvae.period.fill_periods`), so no label reaches the input."""
    import jax
    import jax.numpy as jnp

    from jaxpelsvae.train.state import TrainState

    _, params, rest, info = load_model(model_dir)
    config = TrainConfig.from_dict(info["config"])
    classes = tuple(info["classes"])
    if config.reads_period:
        from jaxpelsvae.period import fill_periods

        lcs = fill_periods(lcs, progress=False)[0]
    alpha = info.get("alpha") or [1.0] * len(classes)
    eval_step = build_steps(len(classes), config, alpha).evaluate
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=None,
                       key=jax.random.key(0))
    return config, classes, eval_step, state, info, lcs


def evaluate_saved_model(model_dir: Path, lcs, *, seed: int = 0, batch_size: int | None = None
                         ) -> dict[str, Any]:
    """Metrics (`metrics.classification_metrics`) of the classifier saved in ``model_dir`` on the
    LightCurveSet ``lcs``; stars of classes the model does not know are an error. The curves are
    encoded as `train_classifier` encodes its test set for ``seed``."""
    config, classes, eval_step, state, info, lcs = _saved_classifier(model_dir, lcs)
    data = encode_split(lcs, classes, config, seed, _ENCODE_SEEDS["test"])
    m = evaluate_split(eval_step, state, data, classes, batch_size or config.eval_batch_size)
    return {"model": str(Path(model_dir).absolute()), "classes": list(classes),
            "best_epoch": info.get("best_epoch"), **m}


def predict_saved_model(model_dir: Path, lcs, *, seed: int = 0, batch_size: int | None = None):
    """Class probabilities of every star of ``lcs`` (labels, if any, are not read) from the classifier
    saved in ``model_dir``: a DataFrame with id, one column per class, ``predicted``,
    ``probability`` (of the predicted class), ``period`` [d] and ``period_source`` (what the view
    folded with; empty for the "cnn", which reads no period). Inputs are drawn as for a test set."""
    import pandas as pd

    meta = lcs.meta.drop(columns=[c for c in ("class",) if c in lcs.meta.columns])
    lcs = lcs.with_meta(meta)
    config, classes, eval_step, state, _, lcs = _saved_classifier(model_dir, lcs)
    x = view_inputs(lcs, config, seed, _ENCODE_SEEDS["test"])
    data = Encoded(x, np.zeros(len(lcs), np.int32))  # placeholder labels: only log-probs are read
    logp, _ = predict(eval_step, state, data, batch_size or config.eval_batch_size)
    prob = np.exp(logp.astype(np.float64))
    prob /= prob.sum(axis=1, keepdims=True)
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
    return table
