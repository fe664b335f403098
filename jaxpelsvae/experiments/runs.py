"""The classifier runs of an experiment: every classifier × mode × seed, one after the other or vmapped, as report entries."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.provenance import classifier_fitted, ids_digest
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.experiments.log import Log
from jaxpelsvae.pipeline import encode, seed_train_set

RUN_KEYS = ("macro_f1", "accuracy", "roc_auc_ovo", "roc_auc_ovr", "per_class", "confusion", "best_epoch", "epochs")


@dataclasses.dataclass
class RunInputs:
    """What every run of an experiment shares: L, the encoded parts per classifier ({classifier:
    {part: Encoded}}), the class names, the train part (a per-seed subsample of `n_train` stars is
    drawn from it when `redraw_per_seed`), the root seed's training set, the validation set and the
    generator; `test_set` is read only by the forest's ensemble entries (`config.forest`)."""

    seq_length: int
    encoded: dict[str, dict[str, Any]]
    classes: tuple[str, ...]
    train_part: LightCurveSet
    n_train: int | None
    train_set: LightCurveSet
    val_set: LightCurveSet
    test_set: LightCurveSet
    generator: Any = None


def run_dir(workdir: Path, classifier: str, mode: str, seed: int) -> Path:
    """runs/<mode>_seed<k> for the cnn (as before classifiers were pluggable), runs/<name>_<mode>_seed<k> else."""
    prefix = "" if classifier == "cnn" else f"{classifier}_"
    return workdir / "runs" / f"{prefix}{mode}_seed{seed}"


def run_entry(mode: str, seed: int, metrics: dict, wall_s: float, classifier: str = "cnn") -> dict:
    """report.json's `runs` entry of one run from its test metrics (JSON types; NaN AUCs as null)."""
    entry = {"mode": mode, "seed": int(seed), "classifier": classifier, **{k: metrics.get(k) for k in RUN_KEYS},
             "wall_s": float(wall_s)}
    for k in ("roc_auc_ovo", "roc_auc_ovr"):
        v = entry[k]
        entry[k] = None if v is None or not np.isfinite(v) else float(v)
    entry["per_class"] = {c: {m: (int(v[m]) if m == "support" else float(v[m])) for m in ("precision", "recall", "f1", "support") if m in v}
                          for c, v in entry["per_class"].items()}
    for k in ("regenerations", "best_val_loss", "wall_s_per_epoch"):
        if k in metrics:
            entry[k] = metrics[k]
    return entry


def train_record(train_set: LightCurveSet) -> dict:
    """Which stars a run trained on, in a few bytes (the first 16 hex digits of their ids' digest)."""
    return {"n_train": len(train_set), "train_ids_digest": ids_digest(train_set.ids)[:16]}


def run_all(config, inputs: RunInputs, *, seed: int, workdir: Path, resume: bool, timing: dict[str, float],
            log: Log) -> list[dict]:
    """Every classifier of `config` (an ExperimentConfig) in every mode over its seeds (seed + k):
    the seeds of a classifier and mode as one vmapped program when `vmap_seeds` allows it
    (`_vmappable`), else one by one (resuming from a checkpoint in their run folder). Adds each
    mode's wall time to `timing` and the seeds' training encodings, when redrawn, to
    timing["encode"]. Returns the run entries."""
    run_seeds = [seed + k for k in range(config.seeds)]
    runs: list[dict] = []
    for clf, mode in ((c, m) for c in config.classifiers for m in config.modes):
        t_mode = time.perf_counter()
        tcfg = config.train_config(inputs.seq_length, mode, clf)
        vmapped = _vmappable(config, clf, tcfg, log)
        if vmapped and clf == "cnn" and mode == "baseline":  # the plain program benchmarks/bench_vmap_seeds.py times
            runs += [{**e, **train_record(inputs.train_set)}
                     for e in _vmapped_baseline(inputs.encoded[clf], inputs.classes, run_seeds, tcfg, log)]
        elif vmapped:
            runs += _vmapped_runs(config, inputs, clf, mode, run_seeds, tcfg, workdir, log)
        else:
            for s in run_seeds:
                runs += _seed_run(config, inputs, clf, mode, s, seed, tcfg, workdir, resume, timing, log)
        key = f"runs_{mode}" if clf == config.classifiers[0] else f"runs_{clf}_{mode}"
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - t_mode
    return runs


def _vmappable(config, classifier: str, tcfg, log) -> bool:
    """Whether this classifier's seeds run as one vmapped program (`vmap_seeds`): when every seed
    trains on the same fixed encoding from its own initialisation; logs why not otherwise."""
    if not config.vmap_seeds:
        return False
    if config.redraw_per_seed:
        log("vmap_seeds ignored: redraw_per_seed gives every seed its own training set")
        return False
    if tcfg.redraws_train_views:
        log(f"vmap_seeds ignored for {classifier!r}: its training views are redrawn every epoch "
            "(augment / resample_pairs; --no-augment draws them once)")
        return False
    if config.init_model is not None:
        log("vmap_seeds ignored: the runs start from --init-model's weights")
        return False
    return True


def init_variables(init_model: str | None, classifier: str, tcfg, classes):
    """(params, rest) a run of `classifier` starts from (`ExperimentConfig.init_model`), or None:
    no init model, or one of another classifier. The run's classes may be any of the model's (its
    output layer keeps theirs). ConfigError when a class is unknown to the model or its
    architecture settings differ from the run's."""
    if init_model is None:
        return None
    from jaxpelsvae.prediction import resolve_model_dir
    from jaxpelsvae.train.classifier import TrainConfig, load_model

    model_dir = resolve_model_dir(None if init_model == "pretrained" else init_model)
    _, params, rest, info = load_model(model_dir)
    saved = TrainConfig.from_dict(info["config"])
    if saved.classifier != classifier:
        return None
    missing = [c for c in classes if c not in info["classes"]]
    if missing:
        raise ConfigError(f"init_model {model_dir}: the run's classes {missing} are not among the model's "
                          f"{info['classes']} (use --classes to keep only those it knows)")
    params = _head_rows(params, [list(info["classes"]).index(c) for c in classes])
    # The architecture is what must match, not every setting: a view option that only changes input
    # values (no amplitude scalar) or training (noise augmentation) keeps every weight's shape.
    differ = _shape_differences(params, rest, tcfg, len(classes))
    if differ:
        raise ConfigError(f"init_model {model_dir}: its {classifier} has other weight shapes than the run's "
                          f"(settings {_architecture(saved)} against {_architecture(tcfg)}; first difference: "
                          f"{differ[0]})")
    return params, rest


def _architecture(tcfg) -> dict:
    return {f: getattr(tcfg, f) for f in ("layers", "view_overrides", "backbone_overrides")}


def _shape_differences(params, rest, tcfg, n_classes: int) -> list[str]:
    """'path: saved shape != run shape' for each weight whose shape (or presence) differs between the
    saved variables and a fresh model of the run's settings (built abstractly: nothing is computed)."""
    import jax

    from jaxpelsvae.train.classifier import build_model
    from jaxpelsvae.train.state import split_model

    def shapes(tree):
        return {jax.tree_util.keystr(p): tuple(np.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(tree)}

    fresh_params, fresh_rest = jax.eval_shape(lambda: split_model(build_model(n_classes, tcfg, jax.random.key(0)))[1:])
    saved, fresh = shapes((params, rest)), shapes((fresh_params, fresh_rest))
    return [f"{k}: {saved.get(k)} != {fresh.get(k)}" for k in sorted(set(saved) | set(fresh))
            if saved.get(k) != fresh.get(k)]


def _head_rows(params, keep: list[int]):
    """`params` with the output layer (every classifier's `fc2`) cut to the classes `keep`, in that
    order: the model's logits of those classes, so its softmax over them is its own given that the
    star is one of them."""
    import jax

    def cut(path, leaf):
        return leaf[..., np.asarray(keep)] if "fc2" in jax.tree_util.keystr(path) else leaf

    return jax.tree_util.tree_map_with_path(cut, params)


def _seed_run(config, inputs: RunInputs, classifier: str, mode: str, seed: int, root_seed: int, tcfg,
              workdir: Path, resume: bool, timing: dict[str, float], log) -> list[dict]:
    """One run (`train_classifier`) and its report entry, then, with `config.forest` and a
    period-aware classifier, the entry of the run's network and feature forest together
    (`forest_entry`); with `redraw_per_seed` a seed other than the root trains on its own subsample
    of the train part."""
    from jaxpelsvae.selfreg.loop import train_classifier

    enc, train_set = inputs.encoded[classifier], inputs.train_set
    if config.redraw_per_seed and seed != root_seed:
        # Same draws for both modes of a seed: baseline and selfreg stay paired.
        t_enc = time.perf_counter()
        train_set = seed_train_set(inputs.train_part, inputs.n_train, seed)
        enc = {**enc, "train": encode(train_set, tcfg, seed, "train")}
        timing["encode"] += time.perf_counter() - t_enc
    selfreg = mode == "selfreg"
    t0 = time.perf_counter()
    # The curves themselves: for views redrawn every epoch, and for the focus's star ids.
    needs_curves = tcfg.redraws_train_views or (selfreg and tcfg.regulator.focus > 0)
    res = train_classifier(
        train_set if needs_curves else None, None, None, tcfg,
        generator=inputs.generator if selfreg else None,
        workdir=run_dir(workdir, classifier, mode, seed), seed=seed, mode=mode, resume=resume,
        progress=config.progress, encoded=(enc["train"], enc["val"], enc["test"]), classes=inputs.classes,
        period_config=config.period,
        fitted_ids=_fitted(inputs, train_set, selfreg),
        init_variables=init_variables(config.init_model, classifier, tcfg, inputs.classes),
    )
    return _entries(config, inputs, classifier, mode, seed, tcfg, res.metrics, time.perf_counter() - t0,
                    train_set, enc["test"].y_N, workdir, log)


def _fitted(inputs: RunInputs, train_set: LightCurveSet, selfreg: bool):
    """The stars a run's saved model records as fitted on: its training and validation stars, and
    in self-regulated mode the generator's (its own record; the root training set without one)."""
    generator_ids = None
    if selfreg:
        generator_ids = getattr(inputs.generator, "star_ids", None)
        generator_ids = inputs.train_set.ids if generator_ids is None else generator_ids
    return classifier_fitted(train_set.ids, inputs.val_set.ids, generator_ids=generator_ids)


def _entries(config, inputs: RunInputs, classifier: str, mode: str, seed: int, tcfg, metrics: dict, wall_s: float,
             train_set: LightCurveSet, y_test, workdir: Path, log, extra: dict | None = None) -> list[dict]:
    """The report entries of one run whose model is saved in its run folder: the network's, then,
    with `config.forest` and a period-aware classifier, the network and its feature forest together
    (`forest_entry`); without, a forest an earlier run left in the folder is removed."""
    from jaxpelsvae.train.classifier import set_forest

    entry = {**run_entry(mode, seed, metrics, wall_s, classifier), **(extra or {})}
    log(f"{classifier} {mode} seed {seed}: test macro-F1 {entry['macro_f1']:.3f}, best epoch "
        f"{entry['best_epoch']}/{entry['epochs']}")
    entries = [{**entry, **train_record(train_set)}]
    model_dir = run_dir(workdir, classifier, mode, seed) / "model"
    if not (config.forest and tcfg.reads_period):
        set_forest(model_dir, None)
        return entries
    t0 = time.perf_counter()
    ens = forest_entry(model_dir, train_set, inputs.test_set, y_test, inputs.classes, seed)
    ens = {**run_entry(mode, seed, {**metrics, **ens}, time.perf_counter() - t0, f"{classifier}+forest"),
           **(extra or {}), **train_record(train_set)}
    log(f"{classifier}+forest {mode} seed {seed}: test macro-F1 {ens['macro_f1']:.3f}")
    return entries + [ens]


def _vmapped_runs(config, inputs: RunInputs, classifier: str, mode: str, seeds: list[int], tcfg, workdir: Path,
                  log) -> list[dict]:
    """The seeds of one classifier and mode as one vmapped program (`repetitions.train_seeds`), each
    seed's best model saved in its run folder as a sequential run saves it, then its entries
    (`_entries`, marked ``vmapped``). Nothing is resumed: the program runs from the start."""
    from jaxpelsvae.experiments.repetitions import train_seeds
    from jaxpelsvae.selfreg.loop import run_identity, saved_model_info
    from jaxpelsvae.train.classifier import save_model
    from jaxpelsvae.train.losses import class_weights_alpha
    from jaxpelsvae.train.metrics import classification_metrics

    enc, selfreg, classes = inputs.encoded[classifier], mode == "selfreg", inputs.classes
    splits = (enc["train"], enc["val"], enc["test"])
    t0 = time.perf_counter()
    results = train_seeds(splits, classes, inputs.generator if selfreg else None, seeds, tcfg,
                          progress=config.progress, period_config=config.period, train_ids=inputs.train_set.ids)
    wall = (time.perf_counter() - t0) / len(seeds)
    alpha = class_weights_alpha(np.concatenate([enc["train"].y_N, enc["val"].y_N]), len(classes))
    shared = saved_model_info(run_identity(tcfg, seeds[0], classes, *splits), tcfg, alpha, config.period)
    entries = []
    for r in results:
        reg = r.regulator
        info = {**shared, "seed": int(r.seed)}  # the seeds share everything else (one digest of the data)
        save_model(run_dir(workdir, classifier, mode, r.seed) / "model", r.best[0], r.best[1],
                   {**info, "best_epoch": reg.best_epoch}, fitted_ids=_fitted(inputs, inputs.train_set, selfreg))
        m = classification_metrics(enc["test"].y_N, np.exp(r.logprobs_test.astype(np.float64)), classes)
        m.update(best_epoch=reg.best_epoch, epochs=reg.epoch, best_val_loss=reg.best_val_loss,
                 regenerations=reg.regenerations, wall_s_per_epoch=float(np.median(r.epoch_seconds)))
        entries += _entries(config, inputs, classifier, mode, r.seed, tcfg, m, wall, inputs.train_set,
                            enc["test"].y_N, workdir, log, extra={"vmapped": True})
    return entries


def forest_entry(model_dir: Path, train_set: LightCurveSet, test_set: LightCurveSet, y_test, classes, seed: int
                 ) -> dict:
    """Fit the feature forest on the run's training stars (`models.forest`), save it beside the run's
    model (so `predict` and `evaluate` average the two as well) and return the test metrics of the
    mean of the network's and the forest's class probabilities."""
    from jaxpelsvae.train.classifier import predict_saved_model, set_forest
    from jaxpelsvae.train.metrics import classification_metrics

    set_forest(model_dir, train_set, seed=seed)
    table = predict_saved_model(model_dir, test_set, seed=seed)  # the network with the forest beside it
    return classification_metrics(np.asarray(y_test), table[list(classes)].to_numpy(np.float64), classes)


def _vmapped_baseline(enc, classes, seeds, tcfg, log) -> list[dict]:
    from jaxpelsvae.experiments.repetitions import train_baseline_seeds
    from jaxpelsvae.train.metrics import classification_metrics

    t0 = time.perf_counter()
    results = train_baseline_seeds(
        enc["train"].x_NL2, enc["train"].y_N, enc["val"].x_NL2, enc["val"].y_N, enc["test"].x_NL2,
        len(classes), seeds, tcfg, vmap=True, progress=log.enabled,
    )
    wall = (time.perf_counter() - t0) / len(seeds)
    out = []
    for r in results:
        m = classification_metrics(enc["test"].y_N, np.exp(r.logprobs_test.astype(np.float64)), classes)
        m.update(best_epoch=r.best_epoch, epochs=r.epochs, best_val_loss=min(r.val_loss))
        entry = run_entry("baseline", r.seed, m, wall)
        entry["vmapped"] = True
        out.append(entry)
        log(f"baseline seed {r.seed} (vmapped): test macro-F1 {entry['macro_f1']:.3f}")
    return out
