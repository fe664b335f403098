"""The epoch loop: baseline (real data only) or self-regulated (synthetic passes + real pass) training.

Shape suffixes: see `jaxpelsvae` (package docstring).

One epoch of the self-regulated mode (ORIGINAL.md §7.2, with the §15.1 fixes listed in
`selfreg.state`) is `selfreg.epoch.run_epoch`:
1. if the policy asked for it, the generator creates a synthetic set with the requested per-class
   counts and temperature b (key ``fold_in(key(seed) → generator stream, regeneration index)``);
2. ``repetitions`` passes over the synthetic set with the synthetic optimiser (lr × scaling_factor)
   updating only the parameters outside the real mask (``subset="synthetic"``); BatchNorm normalises
   these batches with their own statistics but, unless ``synthetic_statistics``, leaves its running
   statistics (what evaluation normalises real curves with) to the real passes;
3. one pass over the real training set with the real optimiser on the masked subset;
4. evaluation in eval mode of the real training, validation and synthetic sets (loss, accuracy,
   macro-F1, ROC-AUC OvO/OvR, confusion); the policy (`policies.update`) decides regeneration
   (ranking on the training confusion) and early stopping.
This loop drives it: resumption, then after each epoch a JSON line in ``metrics.jsonl`` and, every
``checkpoint_every`` epochs, on a new best validation loss and at the end, one asynchronous
checkpoint of the loop state.
The baseline mode runs step 3 with one optimiser over all parameters. At the end the best model
(by validation loss) is restored and evaluated on the test set.

The loop state is everything that carries from one epoch to the next: the TrainState, the
RegulatorState, the current synthetic set and the best epoch's parameters; it is saved as one
orbax checkpoint (arrays + a JSON item naming the run). The configuration, the model and its
compiled steps and passes live in `train.classifier`, the batching in `train.batching`, the
synthetic set's creation in `selfreg.synthetic`, the epoch in `selfreg.epoch`.

With ``TrainConfig.compiled_epoch`` (the default) the sets live on the device, uploaded once, and
each pass over a set (training or evaluation) is one compiled program; otherwise one jitted step
a batch is driven from Python. Both read the same batch order.

Determinism: the data order of an epoch comes from ``np.random.default_rng([seed, epoch, stream])``
and every device key from ``fold_in``, so nothing but the checkpointed state carries randomness
across epochs and a resumed run repeats an uninterrupted one bit for bit (on the same device),
whichever epoch its last checkpoint was written at.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from jaxpelsvae.config import to_dict
from jaxpelsvae.errors import CheckpointError, ConfigError, DataError
from jaxpelsvae import seeds as streams
from jaxpelsvae.selfreg import policies
from jaxpelsvae.json_io import json_safe
from jaxpelsvae.selfreg.epoch import Split, evaluate, prepare_epochs, run_epoch
from jaxpelsvae.selfreg.state import RegulatorState
from jaxpelsvae.train.classifier import (
    Encoded,
    TrainConfig,
    build_steps,
    encode_split,
    init_train_state,
    resolve_synthetic_periods,
    save_model,
    write_atomic,
)


class TrainResult(NamedTuple):
    """What `train_classifier` returns: final metrics (also in ``workdir/metrics.json``), the final
    RegulatorState, and the best model's variables ``(graphdef, params, rest)``."""

    metrics: dict[str, Any]
    regulator: RegulatorState
    model: tuple[Any, Any, Any]


class Interrupted(Exception):
    """Raised by a callback to stop a run after an epoch (used to test resumption)."""


class RunFiles(NamedTuple):
    """Where a run writes: see `train_classifier`."""

    root: Path
    checkpoints: Path  # the loop state, one orbax checkpoint per saved epoch
    model: Path  # the best model (`save_model`)
    metrics_jsonl: Path
    metrics_json: Path
    figures: Path

    @classmethod
    def of(cls, workdir: Path) -> "RunFiles":
        root = Path(workdir).absolute()
        return cls(root, root / "checkpoints", root / "model", root / "metrics.jsonl",
                   root / "metrics.json", root / "figures")


def default_fitted_ids(train_set, val_set, selfreg: bool):
    """What a model trained on ``train_set`` and validated on ``val_set`` records without being told
    (`train_classifier`'s ``fitted_ids``): their ids, with the generator's stars unknown when one
    was used; None when either set is missing (only encodings were given)."""
    from jaxpelsvae.data.provenance import classifier_fitted

    if train_set is None or val_set is None:
        return None
    return classifier_fitted(train_set.ids, val_set.ids,
                             generator_unknown=("the synthetic-curve generator",) if selfreg else ())


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
    period_config=None,
    fitted_ids=None,
    init_variables=None,
    figures: bool = True,
) -> TrainResult:
    """Train the CNN on ``train_set`` (LightCurveSets; the synthetic sets come from ``generator``),
    early-stop on ``val_set``, restore the best epoch and evaluate it on ``test_set``.

    mode: "baseline" or "selfreg" (overrides ``config.mode``); selfreg needs ``generator``, an
      object with ``generate(key, {class: count}, b) -> SynthBatch(x_NL2, valid_NL, y_N, ...)``.
    workdir: ``metrics.jsonl`` (one JSON line per epoch), ``checkpoints/`` (resumption),
      ``model/`` (the best model, for ``jaxpelsvae evaluate``), ``metrics.json`` (final metrics),
      ``figures/`` (learning curves, test confusion matrix).
    resume: continue from the latest checkpoint in ``workdir/checkpoints`` when it holds one of the
      same run (configuration, seed, data; another run is an error); False starts afresh.
    callback: ``callback(epoch, record)`` after each epoch (its checkpoint, if any, written);
      raising `Interrupted` from it stops the run there (the next call resumes it from the
      latest checkpoint, repeating the epochs after it).
    encoded / classes: already encoded (train, val, test) splits and label names (skips encoding);
      with ``config.resample_pairs`` ``train_set`` must still be given (it is re-encoded every epoch).
    period_config: the `PeriodConfig` that found the periods the view folds with (period-aware
      classifiers); recorded in the saved model so that `predict` finds periods the same way.
    fitted_ids: the stars the saved model records as fitted on (`model/fitted_ids.json`: ids or a
      `data.provenance.Fitted`), so that `evaluate` refuses to score them; include the generator's.
      None: the ids of ``train_set`` and ``val_set`` (validation picks the best epoch), the generator
      marked as unrecorded in self-regulated mode; no record when they are not given.
    init_variables: (params, rest) of a saved classifier of the same configuration and classes
      (`train.classifier.load_model`) to start from instead of the seed's initialisation: a
      fine-tune (`adaptation`). Their digest joins the run's identity, so a checkpoint of another
      start is not resumed.
    figures: draw ``figures/`` (False: none, for many short runs whose curves nobody reads; the
      suite's numeric comparisons spent ~25 s drawing them).
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
    if config.reads_period and config.synthetic_periods == "auto":
        config = dataclasses.replace(config, synthetic_periods=resolve_synthetic_periods(config, train_set))
    t_start = time.perf_counter()
    files = RunFiles.of(Path(workdir))
    files.root.mkdir(parents=True, exist_ok=True)

    if encoded is None:
        classes = tuple(train_set.classes)
        enc_train, enc_val, enc_test = (
            encode_split(s, classes, config, seed, streams.ENCODE_STREAMS[name])
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
    compiled = config.compiled_epoch
    run_id = run_identity(config, seed, classes, enc_train, enc_val, enc_test)

    fresh = init_train_state(k, config, steps, seed)
    if init_variables is not None:
        fresh, run_id["init_sha1"] = _warm_start(fresh, init_variables)
    store = ckpt.CheckpointStore(files.checkpoints, max_to_keep=2)
    try:
        loop_state = _resume(store, files, run_id, fresh, enc_train.x) if resume else None
    except Exception:
        store.close()
        raise
    if loop_state is None:
        store.close()
        _start_afresh(files)
        store = ckpt.CheckpointStore(files.checkpoints, max_to_keep=2)
        loop_state = _LoopState(fresh, policies.init(rcfg, k, selfreg=selfreg)[0], None, None)
    state, regulator, synthetic, best = loop_state

    model_info = saved_model_info(run_id, config, alpha, period_config)
    setup = prepare_epochs(config, classes, enc_train, enc_val, seed, generator=generator, steps=steps,
                           train_set=train_set, period_config=period_config)
    syn_split = None if synthetic is None else Split.of(synthetic, compiled, bucket=setup.syn_rows)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rcfg.epochs, initial=regulator.epoch, desc=f"train {config.mode}", unit="epoch",
                   leave=False)
    try:
        while not regulator.stopped:
            epoch = regulator.epoch
            state, regulator, syn_split, actions, m = run_epoch(setup, state, regulator, syn_split)
            synthetic = None if syn_split is None else syn_split.host
            if actions.new_best:
                best = jax.device_get((state.params, state.rest))
            if (regulator.epoch % config.checkpoint_every == 0 or actions.new_best or regulator.stopped):
                _save(store, _LoopState(state, regulator, synthetic, best), run_id)
            with files.metrics_jsonl.open("a") as f:
                f.write(_log_line(regulator.history[-1]) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val_loss=f"{m['val']['loss']:.3f}", val_f1=f"{m['val']['macro_f1']:.3f}",
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
    if fitted_ids is None:
        fitted_ids = default_fitted_ids(train_set, val_set, selfreg)
    save_model(files.model, best[0], best[1], {**model_info, "best_epoch": regulator.best_epoch},
               fitted_ids=fitted_ids)
    best_state = state.replace(params=jax.device_put(best[0]), rest=jax.device_put(best[1]))
    splits = {"test": Split.of(enc_test, compiled) if len(enc_test.y_N) else None, "val": setup.val,
              "train": setup.train, "synthetic": syn_split}
    final = {name: evaluate(setup, best_state, split) for name, split in splits.items()
             if split is not None and len(split.host.y_N)}
    metrics = _final_metrics(final, regulator, config, seed, classes, time.perf_counter() - t_start)
    write_atomic(files.metrics_json, json.dumps(json_safe(metrics), indent=1))
    if figures:
        _write_figures(files, regulator, metrics, classes, config.mode)
    return TrainResult(json_safe(metrics), regulator, (steps.graphdef, best[0], best[1]))


def run_identity(config: TrainConfig, seed: int, classes: Sequence[str], enc_train: Encoded, enc_val: Encoded,
                 enc_test: Encoded) -> dict[str, Any]:
    """What makes a run this run (its checkpoints resume only into it; model.json records it):
    configuration, seed, classes, set sizes and a digest of the encoded data."""
    return json_safe({"config": config.to_dict(), "seed": int(seed), "classes": list(classes),
                      "n_train": len(enc_train.y_N), "n_val": len(enc_val.y_N),
                      "data_sha1": _fingerprint(enc_train, enc_val, enc_test)})


def saved_model_info(run_id: dict[str, Any], config: TrainConfig, alpha, period_config=None) -> dict[str, Any]:
    """model.json's content but the best epoch: the run's identity, mode, class weights and the
    period search the view's periods came from (so that `predict` searches the same way)."""
    info = {**run_id, "mode": config.mode, "alpha": [float(a) for a in alpha]}
    if config.reads_period and period_config is not None:
        info["period"] = to_dict(period_config)
    return info


def _warm_start(fresh, init_variables):
    """(``fresh`` with the given (params, rest), a digest of them); ConfigError when their structure
    or shapes differ from the configured model's."""
    import hashlib

    import jax

    params, rest = init_variables
    for name, given, own in (("params", params, fresh.params), ("rest", rest, fresh.rest)):
        shapes = jax.tree.map(np.shape, given)
        if jax.tree.structure(given) != jax.tree.structure(own) or shapes != jax.tree.map(np.shape, own):
            raise ConfigError(f"train_classifier: init_variables' {name} do not fit the configured model "
                              "(another classifier, size or number of classes)")
    digest = hashlib.sha1()
    for leaf in jax.tree.leaves((params, rest)):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return fresh.replace(params=jax.device_put(params), rest=jax.device_put(rest)), digest.hexdigest()


# ------------------------------------------------------------------------- the loop state on disk


class _LoopState(NamedTuple):
    """What carries from one epoch to the next: TrainState, RegulatorState, the current synthetic
    set (None before the first) and host copies of the best epoch's (params, rest) (None before it)."""

    state: Any
    regulator: RegulatorState
    synthetic: Encoded | None
    best: tuple[Any, Any] | None


def _save(store, loop_state: _LoopState, run_id: dict[str, Any]) -> None:
    """One asynchronous checkpoint of the loop state under its epoch count: the arrays (train
    state, best model, synthetic set) in one item, the run identity, the regulator and the
    synthetic set's shapes in the JSON item."""
    state, regulator, synthetic, best = loop_state
    arrays = {"state": state, "best": best if best is not None else (state.params, state.rest)}
    shapes = None
    if synthetic is not None:
        arrays["synthetic"] = {"x": synthetic.x, "y": synthetic.y_N}
        shapes = [[list(np.shape(a)), str(np.asarray(a).dtype)] for a in _leaves(synthetic.x)]
    store.save(regulator.epoch, arrays, {"run": run_id, "regulator": regulator.to_dict(), "synthetic": shapes},
               force=True)


def _resume(store, files: RunFiles, run_id: dict[str, Any], fresh_state, enc_train_x) -> _LoopState | None:
    """The loop state of the latest readable checkpoint in ``store`` (None when there is none); its
    run must be ``run_id``. A checkpoint that cannot be read (cut short by a crash or a full disk)
    is passed over for the one before it; when none can be read the run stops with a message.
    ``metrics.jsonl`` is rewritten from the restored history: epochs logged after the checkpoint
    are run again."""
    steps = sorted(store.all_steps(), reverse=True)
    for step in steps:
        try:
            return _restore_step(store, step, files, run_id, fresh_state, enc_train_x)
        except CheckpointError as err:
            print(f"warning: {err}; trying the checkpoint before it", file=sys.stderr)
    if steps:
        raise CheckpointError(f"{files.checkpoints}: no checkpoint can be read (truncated or corrupted); "
                              "start afresh with --no-resume (resume=False) or use another --workdir")
    return None


def _restore_step(store, step: int, files: RunFiles, run_id: dict[str, Any], fresh_state,
                  enc_train_x) -> _LoopState:
    """The loop state saved at ``step`` (see `_resume`)."""
    import jax
    import jax.numpy as jnp

    info = store.restore_json(step)
    if info.get("run") != run_id:
        raise ConfigError(f"{files.checkpoints}: holds a run with another configuration, seed or "
                          "data; use another --workdir or start afresh (resume=False, --no-resume)")
    target = {"state": fresh_state, "best": (fresh_state.params, fresh_state.rest)}
    if info.get("synthetic") is not None:  # a set of the size saved, with the inputs' structure
        leaves = [jnp.zeros(shape, dtype) for shape, dtype in info["synthetic"]]
        target["synthetic"] = {"x": jax.tree.unflatten(jax.tree.structure(enc_train_x), leaves),
                               "y": jnp.zeros(info["synthetic"][0][0][0], jnp.int32)}
    saved, _ = store.restore(target, step)
    regulator = RegulatorState.from_dict(info["regulator"])
    synthetic = None
    if "synthetic" in saved:
        synthetic = Encoded(jax.tree.map(np.asarray, saved["synthetic"]["x"]), np.asarray(saved["synthetic"]["y"]))
    best = jax.device_get(saved["best"]) if regulator.best_epoch >= 0 else None
    files.metrics_jsonl.write_text("".join(_log_line(h) + "\n" for h in regulator.history))
    # Fresh host copies: restored arrays come back committed to a device, which would make
    # every jitted step compile again for a different input placement.
    return _LoopState(_uncommitted(saved["state"]), regulator, synthetic, best)


def _start_afresh(files: RunFiles) -> None:
    import shutil

    for stale in (files.checkpoints, files.model):
        if stale.exists():
            shutil.rmtree(stale)
    files.checkpoints.mkdir(parents=True)
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


# ------------------------------------------------------------------------------------- helpers


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
                                          "per_class", "confusion", "classes_absent")},
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

