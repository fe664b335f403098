"""One training epoch as a function, `run_epoch`: regeneration, synthetic and real passes, evaluation, policy update.

`selfreg.loop.train_classifier` drives it (resumption, checkpoints, logs) and
`experiments.repetitions.train_selfreg_seeds` runs its parts for S stacked seeds: the host parts
(`generate_requested`: the synthetic set the policy asked for; `close_epoch`: the epoch's record
and the policy's update) and the device part (`train_passes`: the synthetic passes then the real
pass, given the pass programs, so that the seeds hand it vmapped ones) are the same functions;
`benchmarks/bench_epoch.py` times them (and `epoch_passes`, the passes of an epoch) one by one.

One self-regulated epoch (ORIGINAL.md §7.2):
1. if the policy asked for it, the generator creates a synthetic set with the requested per-class
   counts and temperature b (key ``fold_in(key(seed) → generator stream, regeneration index)``);
2. ``repetitions`` passes over the synthetic set with the synthetic optimiser updating only the
   parameters outside the real mask;
3. one pass over the real training set with the real optimiser on the masked subset;
4. evaluation in eval mode of the real training, validation and synthetic sets; the policy
   (`policies.update`) decides regeneration and early stopping.
The baseline mode runs steps 3 and 4 only. The data order of a pass comes from
``np.random.default_rng([seed, epoch, stream])``, so an epoch depends on nothing but its inputs.

Run epochs in a loop of your own::

    from jaxpelsvae import prepare_epochs, run_epoch
    from jaxpelsvae.selfreg import policies
    from jaxpelsvae.train.classifier import init_train_state

    setup = prepare_epochs(config, classes, enc_train, enc_val, seed=0, generator=generator)
    state = init_train_state(len(classes), config, setup.steps, 0)
    regulator, _ = policies.init(config.regulator, len(classes), selfreg=config.mode == "selfreg")
    synthetic = None
    while not regulator.stopped:
        state, regulator, synthetic, actions, metrics = run_epoch(setup, state, regulator, synthetic)
        print(regulator.epoch, metrics["val"]["loss"], actions.new_best)
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from jaxpelsvae import seeds as streams
from jaxpelsvae.selfreg import policies
from jaxpelsvae.selfreg.state import RegulatorState
from jaxpelsvae.selfreg.synthetic import generate_set
from jaxpelsvae.train import batching
from jaxpelsvae.train.classifier import (
    Encoded,
    Steps,
    TrainConfig,
    build_steps,
    evaluate_set,
    evaluate_split,
    resample_split,
)


class Split(NamedTuple):
    """One set as the epoch reads it: host arrays, and their device copy on the compiled path."""

    host: Encoded
    device: batching.DeviceSet | None

    @classmethod
    def of(cls, data: Encoded, compiled: bool, *, bucket: bool | int = False) -> "Split":
        return cls(data, batching.DeviceSet.upload(data.arrays, bucket=bucket) if compiled else None)


class EpochSetup(NamedTuple):
    """What every epoch of a run reads and none changes (`prepare_epochs`)."""

    config: TrainConfig
    classes: tuple[str, ...]
    seed: int
    steps: Steps
    train: Split
    val: Split
    generator: Any  # None in baseline mode
    gen_key: Any  # the generator's key stream of ``seed``
    capacity: int  # template slots of the largest set the policy can ask for
    syn_rows: int  # rows every synthetic device set is padded to
    train_set: Any = None  # the training LightCurveSet, re-encoded every epoch when the config redraws views
    period_config: Any = None

    @property
    def selfreg(self) -> bool:
        return self.config.mode == "selfreg"


class EpochResult(NamedTuple):
    """`run_epoch`'s outcome: the new TrainState and RegulatorState, the synthetic set now current
    (None in baseline mode), the policy's `Actions` (``new_best``: keep this epoch's model) and the
    epoch's metrics per set ("train", "val", "synthetic": `classification_metrics`; "synthetic" is
    None in baseline mode)."""

    state: Any
    regulator: RegulatorState
    synthetic: Split | None
    actions: policies.Actions
    metrics: dict[str, dict[str, Any] | None]


def prepare_epochs(config: TrainConfig, classes: Sequence[str], train: Encoded, val: Encoded, seed: int = 0, *,
                   generator=None, steps: Steps | None = None, train_set=None, period_config=None) -> EpochSetup:
    """The `EpochSetup` of a run on encoded ``train`` / ``val`` splits with ``seed``.

    generator: the synthetic-curve generator (self-regulated mode); one with ``with_encoding``
      gets the run's encoding. steps: `build_steps` of the run (default: built with the class
      weights of train + validation labels, as `train_classifier`). train_set: the training
      LightCurveSet, needed when ``config.redraws_train_views``. On the compiled path
      (``config.compiled_epoch``) the sets are uploaded to the device here, once.
    """
    import jax

    from jaxpelsvae.train.losses import class_weights_alpha

    classes = tuple(classes)
    k = len(classes)
    if steps is None:
        steps = build_steps(k, config, class_weights_alpha(np.concatenate([train.y_N, val.y_N]), k))
    if config.mode == "selfreg" and hasattr(generator, "with_encoding"):
        # Synthetic curves get the run's own encoding (L, order), as real ones: a generator fitted
        # for another L still gives the same raw curves.
        generator = generator.with_encoding(config.seq_length, config.encode_order)
    rcfg = config.regulator
    capacity = policies.max_synthetic_total(rcfg, k)  # templates; generate_set scales it if needed
    compiled = config.compiled_epoch
    # Every synthetic set padded to the rows of the largest one the policy can ask for, so that each
    # regeneration reuses the compiled passes.
    return EpochSetup(config, classes, int(seed), steps, Split.of(train, compiled), Split.of(val, compiled),
                      generator, jax.random.fold_in(jax.random.key(seed), streams.KEY_GENERATOR), capacity,
                      capacity * rcfg.n_oversampling, train_set, period_config)


def run_epoch(setup: EpochSetup, state, regulator: RegulatorState, synthetic: Split | None = None) -> EpochResult:
    """Epoch ``regulator.epoch`` of the run set up by ``setup``, from TrainState ``state`` and the
    current synthetic set ``synthetic`` (None before the first; the policy asks for one then).
    The state passed in may be donated to the compiled passes: use the returned one."""
    import jax

    config = setup.config
    epoch = regulator.epoch
    t0 = time.perf_counter()
    regulator, new_set, temperature_used = generate_requested(
        setup.generator, setup.gen_key, regulator, setup.classes, config, setup.capacity, setup.period_config,
        train_ids=None if setup.train_set is None else setup.train_set.ids)
    if new_set is not None:
        synthetic = Split.of(new_set, config.compiled_epoch, bucket=setup.syn_rows)
    t_gen = time.perf_counter() - t0

    real = (Split.of(resample_split(setup.train_set, setup.classes, config, setup.seed, epoch), config.compiled_epoch)
            if config.redraws_train_views else setup.train)
    p = epoch_passes(setup, synthetic, real, epoch)
    state, syn_loss, real_loss = train_passes(p.synthetic_pass, p.real_pass, state, p.synthetic_data,
                                              p.synthetic_orders, p.real_data, p.real_order)
    jax.block_until_ready(state)
    t_train = time.perf_counter() - t0 - t_gen

    focus = setup.selfreg and config.regulator.focus > 0
    metrics = {"train": evaluate(setup, state, real, with_prob=focus), "val": evaluate(setup, state, setup.val),
               "synthetic": evaluate(setup, state, synthetic) if setup.selfreg else None}
    train_prob = metrics["train"].pop("prob_NK", None)
    t_eval = time.perf_counter() - t0 - t_gen - t_train
    regulator, actions = close_epoch(config.regulator, regulator, metrics, real_loss, syn_loss,
                                     regenerated=new_set is not None, temperature_used=temperature_used,
                                     wall_s={"generate": t_gen, "train": t_train, "evaluate": t_eval})
    regulator = with_need(config.regulator, regulator, train_prob, real.host.y_N)
    return EpochResult(state, regulator, synthetic, actions, metrics)


# ------------------------------------------------------------------------- the epoch's parts


def generate_requested(generator, gen_key, regulator: RegulatorState, classes: Sequence[str], config: TrainConfig,
                       capacity: int, period_config=None, *, train_ids=None
                       ) -> tuple[RegulatorState, Encoded | None, float | None]:
    """The synthetic set the policy asked for (``regulator.pending_counts``) at its temperature,
    with the regulator that records it and the temperature used; ``(regulator, None, None)`` when
    it asked for none. With ``regulator.pending_need`` (focus) the generator draws the training
    stars (``train_ids``, the need's order) with `selfreg.focus.focus_weights`."""
    import jax

    if regulator.pending_counts is None:
        return regulator, None, None
    rcfg = config.regulator
    weights = None
    if regulator.pending_need is not None:
        from jaxpelsvae.selfreg.focus import focus_weights

        weights = focus_weights(generator, train_ids, regulator.pending_need, rcfg.focus)
    synthetic = generate_set(generator, jax.random.fold_in(gen_key, regulator.regenerations),
                             regulator.pending_counts, regulator.temperature, classes, config.seq_length,
                             rcfg.n_oversampling, capacity, config, period_config, star_weights=weights)
    return policies.after_generation(regulator, rcfg), synthetic, regulator.temperature


def with_need(rcfg, regulator: RegulatorState, train_prob, y_N) -> RegulatorState:
    """``regulator`` with each training star's need (`selfreg.focus.star_need` of the epoch's
    training-set probabilities ``train_prob``) when the policy asked for a new set and
    ``rcfg.focus`` > 0; unchanged otherwise. On the regulator, the need is checkpointed with it."""
    if rcfg.focus <= 0 or regulator.pending_counts is None or train_prob is None:
        return regulator
    from jaxpelsvae.selfreg.focus import star_need

    return regulator.replace(pending_need=tuple(star_need(train_prob, y_N).tolist()))


def epoch_rngs(seed: int, epoch: int, repetitions: int) -> tuple[list[np.random.Generator], np.random.Generator]:
    """The data orders of an epoch: one generator per synthetic pass, and the real pass's."""
    return ([batching.epoch_rng(seed, epoch, streams.SYNTH_STREAM + r) for r in range(repetitions)],
            batching.epoch_rng(seed, epoch, streams.REAL_STREAM))


class Passes(NamedTuple):
    """An epoch's training passes and their inputs: `train_passes`'s arguments but the state."""

    synthetic_pass: Callable | None
    real_pass: Callable
    synthetic_data: Any
    synthetic_orders: list[tuple]
    real_data: Any
    real_order: tuple


def epoch_passes(setup: EpochSetup, synthetic: Split | None, real: Split, epoch: int) -> Passes:
    """The passes of epoch ``epoch`` over ``synthetic`` (``repetitions`` of them in self-regulated
    mode, none in baseline mode) and ``real``: compiled programs over the device sets and their
    index arrays (``config.compiled_epoch``), else per-step loops over the host sets in each pass's
    rng order."""
    config, steps = setup.config, setup.steps
    syn_rngs, real_rng = epoch_rngs(setup.seed, epoch, config.regulator.repetitions if setup.selfreg else 0)
    if config.compiled_epoch:
        return Passes(steps.synthetic_pass, steps.real_pass, None if synthetic is None else synthetic.device.data,
                      [synthetic.device.indices(config.synthetic_batch_size, rng) for rng in syn_rngs],
                      real.device.data, real.device.indices(config.batch_size, real_rng))
    return Passes(_per_step(steps.train_synthetic, config.synthetic_batch_size),
                  _per_step(steps.train_real, config.batch_size),
                  None if synthetic is None else synthetic.host.arrays, [(rng,) for rng in syn_rngs],
                  real.host.arrays, (real_rng,))


def train_passes(synthetic_pass: Callable, real_pass: Callable, state, synthetic_data, synthetic_orders,
                 real_data, real_order):
    """The device part of an epoch: one ``synthetic_pass(state, synthetic_data, *order)`` per order
    of ``synthetic_orders`` (none in baseline mode), then ``real_pass(state, real_data, *real_order)``.
    A pass is a compiled program over index arrays (`Steps.synthetic_pass`, or their vmap over
    stacked seeds) or a per-step loop over an rng. Returns (state, last synthetic loss or None, real loss)."""
    syn_loss = None
    for order in synthetic_orders:
        state, syn_loss = synthetic_pass(state, synthetic_data, *order)
    state, real_loss = real_pass(state, real_data, *real_order)
    return state, syn_loss, real_loss


def evaluate(setup: EpochSetup, state, split: Split, *, with_prob: bool = False) -> dict[str, Any]:
    """`classification_metrics` of ``state`` in eval mode on ``split`` (one program on the compiled
    path); with_prob: and the (N, K) probabilities under "prob_NK"."""
    config, steps = setup.config, setup.steps
    if split.device is None:
        return evaluate_split(steps.evaluate, state, split.host, setup.classes, config.eval_batch_size,
                              with_prob=with_prob)
    return evaluate_set(steps.evaluate_pass, state, split.device, split.host.y_N, setup.classes,
                        config.eval_batch_size, with_prob=with_prob)


def close_epoch(rcfg, regulator: RegulatorState, metrics: dict[str, dict | None], real_loss, syn_loss, *,
                regenerated: bool, temperature_used: float | None, wall_s: dict[str, float]
                ) -> tuple[RegulatorState, policies.Actions]:
    """The host part after evaluation: the epoch's record (metrics of every set, step losses,
    regeneration, weighted F1, timings) and `policies.update`'s new regulator and actions."""
    m_train, m_val, m_syn = metrics["train"], metrics["val"], metrics["synthetic"]
    record = {
        "train": summary(m_train),
        "val": summary(m_val),
        "synthetic": None if m_syn is None else summary(m_syn),
        "train_step_loss": float(real_loss),
        "synthetic_step_loss": None if syn_loss is None else float(syn_loss),
        "regenerated": regenerated,
        "temperature_used": temperature_used,
        "weighted_f1": (rcfg.weight_synthetic_f1 * m_syn["macro_f1"]
                        + (1 - rcfg.weight_synthetic_f1) * m_val["macro_f1"]) if m_syn else m_val["macro_f1"],
        "wall_s": wall_s,
    }
    report = policies.EpochReport(
        epoch=regulator.epoch, val_loss=m_val["loss"], train_confusion_KK=np.asarray(m_train["confusion"]),
        synthetic_accuracy=None if m_syn is None else m_syn["accuracy"], record=record)
    return policies.update(regulator, report, rcfg)


def summary(m: dict[str, Any]) -> dict[str, Any]:
    """The metrics an epoch's record keeps of a set."""
    keep = ("n", "loss", "accuracy", "macro_f1", "roc_auc_ovo", "roc_auc_ovr", "confusion")
    return {k: m[k] for k in keep if k in m}


def _per_step(step: Callable, batch_size: int) -> Callable:
    """A training pass driven from Python, one jitted ``step`` a batch, in ``rng``'s order."""
    def run(state, arrays, rng):
        return batching.train_pass(step, state, arrays, batch_size, rng)

    return run
