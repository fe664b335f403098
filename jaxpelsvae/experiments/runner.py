"""`run_experiment`: the paper's protocol on one dataset (or train on one, test on another), end to end.

Stages (each timed, each writing into the workdir):
  read + validate (rejected.csv) → periods where missing (Lomb-Scargle) → data-shift split
  (hardness.csv) → train/validation split of the training pool → choose L on the train part →
  quality cuts → subsamples (split.csv) → encode → PELS-VAE (vae/) and generator (generator/) on
  the train part → its realism report on the validation set (generator.realism) → baseline and
  self-regulated runs over seeds (runs/<mode>_seed<k>/) → report.json, report.md, figures/.
Nothing is fitted on validation or test stars. Validation and test encodings are shared by every
run; the training set and its pairs too unless `redraw_per_seed`, so seeds differ only in the
initialisation, the batch order, (self-regulated) the synthetic curves and, when redrawn, the
training subsample and pairs (`seed_variation` says which in report.md).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxpelsvae import seeds
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.validate import validation_notes
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.experiments.config import ExperimentConfig
from jaxpelsvae.pipeline import check_donors, encode, load_donors
from jaxpelsvae.train.classifier import resolve_synthetic_periods
from jaxpelsvae.train.metrics import absent_classes_warning

MAX_AUTO_SEQ_LENGTH = 300


def _log(msg: str, progress: bool) -> None:
    if progress:
        print(f"[experiment] {msg}", flush=True)


# ------------------------------------------------------------------------------------ helpers


def min_seq_length(layers: int) -> int:
    """Shortest L for which the CNN with `layers` blocks still has one time step after the last block."""
    from jaxpelsvae.models.cnn import CNNConfig

    for length in range(4, 4000):
        try:
            CNNConfig(seq_length=length, layers=layers).validate()
            return length
        except ConfigError:
            continue
    raise ConfigError(f"no sequence length works for {layers} layers")


def choose_seq_length(lcs: LightCurveSet, config: ExperimentConfig) -> tuple[int, dict]:
    """L from the config, or from the data: the `seq_length_quantile` of the number of consecutive
    (Δt, Δm) pairs per star, clipped to [min_seq_length(layers), 300]. Returns (L, description)."""
    pairs = np.maximum(lcs.lengths - 1, 0)
    stats = {
        "pairs_per_star_quantiles": {str(q): float(np.quantile(pairs, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
    }
    lo = min_seq_length(config.train.layers)
    if config.seq_length is not None:
        if config.seq_length < lo:
            raise ConfigError(f"seq_length {config.seq_length} is too short for a {config.train.layers}-layer CNN (>= {lo})")
        full = float(np.mean(pairs >= config.seq_length))
        return int(config.seq_length), {
            **stats, "automatic": False, "fraction_of_stars_filling_L": full,
            "reason": f"Given by the configuration; {100 * full:.0f}% of the training stars have at least L pairs "
                      "(shorter curves are zero-padded with a validity mask).",
        }
    q = config.seq_length_quantile
    raw = int(np.floor(np.quantile(pairs, q)))
    length = int(np.clip(raw, lo, MAX_AUTO_SEQ_LENGTH))
    full = float(np.mean(pairs >= length))
    why = (f"Chosen from the data: the {q:.0%} quantile of the number of consecutive pairs per training "
           f"star is {raw}")
    if length != raw:
        why += f", clipped to [{lo}, {MAX_AUTO_SEQ_LENGTH}] ({lo} is the shortest input a {config.train.layers}-layer CNN accepts)"
    why += (f"; {100 * full:.0f}% of the training stars fill all L = {length} pairs, the others are zero-padded "
            "with a validity mask. Pass --seq-length to fix it.")
    return length, {**stats, "automatic": True, "quantile": q, "raw": raw, "reason": why}


def stratified_subsample(lcs: LightCurveSet, n: int | None, seed: int, stream: int) -> LightCurveSet:
    """At most `n` stars, classes in proportion (every class keeps at least one star); all if n is None."""
    if n is None or len(lcs) <= n:
        return lcs
    frac = n / len(lcs)
    rng = np.random.default_rng([int(seed), stream])
    labels = lcs.labels
    keep = []
    for k in np.unique(labels):  # loop over classes, not stars
        members = np.flatnonzero(labels == k)
        m = max(1, int(round(frac * members.size)))
        keep.append(rng.choice(members, size=min(m, members.size), replace=False))
    return lcs.select(np.sort(np.concatenate(keep)))


def _part_sizes(sample_size: int | None, val_fraction: float) -> tuple[int | None, int | None]:
    """`sample_size` shared between the train and validation parts in proportion (None: all)."""
    if sample_size is None:
        return None, None
    n_val = int(round(sample_size * val_fraction))
    return sample_size - n_val, n_val


def seed_train_set(train_part: LightCurveSet, n: int | None, seed: int) -> LightCurveSet:
    """The stratified subsample of at most `n` stars of the train part that a run with `seed` trains
    on (the root seed's for every run unless `redraw_per_seed`)."""
    return stratified_subsample(train_part, n, seed, seeds.TRAIN_SUBSAMPLE_STREAM)


def ids_digest(ids) -> str:
    """First 16 hex digits of the SHA-256 of the sorted star ids: which stars, in a few bytes."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()[:16]


def _train_record(train_set: LightCurveSet) -> dict:
    return {"n_train": len(train_set), "train_ids_digest": ids_digest(train_set.ids)}


def seed_variation(config: ExperimentConfig, n_train: int, n_train_part: int) -> str:
    """One sentence for report.md: what differs between the runs of different seeds, what they share."""
    redrawn_set = config.redraw_per_seed and n_train < n_train_part
    varies = ["the classifier's initialisation and batch order"]
    pairs = "cnn" in config.classifiers  # only the original CNN reads (Δt, Δm) pairs
    if redrawn_set:
        varies.append(f"the stratified subsample of {n_train} of the {n_train_part} train-part stars")
    if pairs and config.resample_pairs:
        varies.append("the random (Δt, Δm) pairs of the training curves (redrawn every epoch)")
    elif pairs and config.redraw_per_seed:
        varies.append("the random (Δt, Δm) pairs of the training curves")
    if config.augment and any(c != "cnn" for c in config.classifiers):
        varies.append("the augmented training views of the period-aware classifiers (redrawn every epoch)")
    if "selfreg" in config.modes:
        varies.append("the synthetic curves (self-regulated runs)")
    shared = ["the split", "the validation and test sets" + (" with their pairs" if pairs else "")]
    if not redrawn_set:
        fixed_pairs = pairs and not (config.redraw_per_seed or config.resample_pairs)
        shared.append("the training set with its pairs" if fixed_pairs else "the training set")
    if "selfreg" in config.modes:
        shared.append("the VAE and the generator")
    return f"Between seeds only {_join(varies)} vary; {_join(shared)} are shared by every run."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _write_split(path: Path, train_part: LightCurveSet, val_set: LightCurveSet, test_set: LightCurveSet) -> None:
    """split.csv (`id, part`): the stars each part may use (train: the whole train part, from which
    each run's training set is drawn; val: early stopping; test: scores only)."""
    parts = [("train", train_part), ("val", val_set), ("test", test_set)]
    pd.DataFrame({"id": np.concatenate([np.asarray(s.ids, dtype=str) for _, s in parts]),
                  "part": np.concatenate([np.full(len(s), p) for p, s in parts])}).to_csv(path, index=False)


def _run_dir(workdir: Path, classifier: str, mode: str, seed: int) -> Path:
    """runs/<mode>_seed<k> for the cnn (as before classifiers were pluggable), runs/<name>_<mode>_seed<k> else."""
    prefix = "" if classifier == "cnn" else f"{classifier}_"
    return workdir / "runs" / f"{prefix}{mode}_seed{seed}"


def _run_entry(mode: str, seed: int, metrics: dict, wall_s: float, classifier: str = "cnn") -> dict:
    keys = ("macro_f1", "accuracy", "roc_auc_ovo", "roc_auc_ovr", "per_class", "confusion", "best_epoch", "epochs")
    entry = {"mode": mode, "seed": int(seed), "classifier": classifier, **{k: metrics.get(k) for k in keys},
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


# ------------------------------------------------------------------------------------ the protocol


@dataclasses.dataclass
class ExperimentResult:
    """report (the report.json dict), workdir, and the in-memory pieces for further use."""

    report: dict
    workdir: Path
    generator: Any = None
    splits: dict = dataclasses.field(default_factory=dict)


def run_experiment(
    data: str | Path | LightCurveSet,
    config: ExperimentConfig = ExperimentConfig(),
    workdir: str | Path = "workdir",
    seed: int = 0,
    *,
    test_data: str | Path | LightCurveSet | None = None,
    name: str | None = None,
    vae_generator_fn: Callable | None = None,
    resume: bool = True,
) -> ExperimentResult:
    """Run the whole protocol and write report.json, report.md and figures into `workdir`.

    data / test_data: dataset paths (any format `read_dataset` detects) or LightCurveSets. With
    `test_data` the classifier trains on `data` and is tested on `test_data` (classes matched by
    name); otherwise `config.shift` splits `data`. seed: root seed; repetition k of a mode uses
    seed + k. vae_generator_fn: replaces the VAE + generator stage (tests); called as
    fn(train_set, config, seed, workdir) -> (generator, generator_report dict), train_set being the
    root seed's training set (train part only: no validation or test star).
    resume: runs whose workdir (runs/<mode>_seed<k>/) holds a checkpoint of the same run continue
    from it (a finished run is not repeated); False starts every run afresh.
    Returns an ExperimentResult; raises DataError when no usable data is left.
    """
    from jaxpelsvae.data.shift import make_split
    from jaxpelsvae.data.validate import original_cuts, write_rejected
    from jaxpelsvae.experiments import report as report_lib

    t_start = time.perf_counter()
    timing: dict[str, float] = {}
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    progress = config.progress

    def lap(stage: str, t0: float) -> float:
        timing[stage] = timing.get(stage, 0.0) + time.perf_counter() - t0
        return time.perf_counter()

    # ---- read + validate
    t0 = time.perf_counter()
    lcs, rejected, path = _load(data, workdir, "")
    test_lcs = test_rejected = None
    if test_data is not None:
        test_lcs, test_rejected, test_path = _load(test_data, workdir / "test_data", "test ")
    left_out = {}
    if config.classes is not None:
        lcs, left_out["data"] = keep_classes(lcs, config.classes, "dataset", strict=True)
        if test_lcs is not None:
            test_lcs, left_out["test"] = keep_classes(test_lcs, config.classes, "test dataset", strict=False)
    if config.max_stars is not None:
        lcs = stratified_subsample(lcs, config.max_stars, seed, seeds.MAX_STARS_STREAM)
    _log(f"dataset: {len(lcs)} usable stars ({len(rejected)} rejected): {lcs.class_counts()}", progress)
    t0 = lap("read_validate", t0)

    # ---- periods
    from jaxpelsvae.period import fill_periods

    # label-free for every star (DESIGN.md principle 7): what the classifier reads never uses the class
    lcs, n_found = fill_periods(lcs, config=config.period, progress=progress)
    if test_lcs is not None:
        test_lcs, n_found_test = fill_periods(test_lcs, config=config.period, progress=progress)
    t0 = lap("periods", t0)

    # ---- split
    split = make_split(lcs, config.shift, seed, test_lcs=test_lcs)
    mismatch = class_mismatch_warning(split.info)
    if mismatch:
        print(f"warning: {mismatch}", file=sys.stderr)
        split.info["class_mismatch"] = mismatch
    hardness = split.info.pop("hardness_by_id", None)
    if hardness is not None:
        ids = np.asarray(list(hardness), dtype=str)
        pd.DataFrame({"id": ids, "hardness": list(hardness.values()),
                      "pool": np.where(np.isin(ids, split.train.ids), "train", "test")}
                     ).to_csv(workdir / "hardness.csv", index=False)
    # The training pool is split into its train and validation parts before anything is fitted:
    # L, the VAE, the generator (priors, latent model, donors) and the classifier see the train
    # part only; the validation part, which picks each run's best epoch, stays unseen until then.
    train_part, val_part = split.train.split((1.0 - config.val_fraction, config.val_fraction), seed=seed)
    test_set = split.test
    seq_length, seq_info = choose_seq_length(train_part, config)
    cut_info = {}
    if config.quality_cuts:
        # L is chosen before the cuts, so that the cut (> L points) and the encoder use the same L.
        train_part, rej_train = original_cuts(train_part, seq_length=seq_length, snr_threshold=config.snr_threshold)
        val_part, rej_val = original_cuts(val_part, seq_length=seq_length, snr_threshold=config.snr_threshold)
        write_rejected(pd.concat([rej_train, rej_val], ignore_index=True), workdir / "quality_cuts")
        cut_info["quality_cuts"] = {
            "seq_length": seq_length, "snr_threshold": config.snr_threshold,
            "n_rejected": int(len(rej_train) + len(rej_val)),
            "train_part_after": train_part.class_counts(), "val_part_after": val_part.class_counts(),
        }
        if len(train_part) == 0 or len(val_part) == 0:
            raise DataError("the original quality cuts left no training or no validation star; lower the SNR threshold or L")
    if config.quality_cuts_test:
        test_set, rej_test = original_cuts(test_set, seq_length=seq_length, snr_threshold=config.snr_threshold)
        write_rejected(rej_test, workdir / "quality_cuts_test")
        cut_info["quality_cuts_test"] = {"seq_length": seq_length, "snr_threshold": config.snr_threshold,
                                         "n_rejected": int(len(rej_test)), "test_pool_after": test_set.class_counts()}
    n_train, n_val = _part_sizes(config.sample_size, config.val_fraction)
    val_set = stratified_subsample(val_part, n_val, seed, seeds.VAL_SUBSAMPLE_STREAM)
    train_set = seed_train_set(train_part, n_train, seed)  # the root seed's; every seed's without redraw
    if len(test_set) == 0:
        raise DataError("the split left an empty test pool (raise the bias temperature or use --scenario random)")
    if len(val_set) == 0 or len(train_set) == 0:
        raise DataError(f"the training pool ({len(split.train)} stars) is too small for a train/validation split")
    absent = [c for c in train_set.classes if not test_set.class_counts().get(c)]
    absent_warning = absent_classes_warning(absent)
    if absent_warning:
        print(f"warning: {absent_warning}", file=sys.stderr)
    classes = tuple(train_set.classes)
    _write_split(workdir / "split.csv", train_part, val_set, test_set)
    donor_info = None
    if config.donors and "selfreg" in config.modes:
        donor_info = {"path": str(Path(config.donors).absolute()),
                      **check_donors(load_donors(config.donors), val_set, test_set, config.transductive_donors)}
    _log(f"split {split.info['method']}: train {len(train_set)}, validation {len(val_set)}, test {len(test_set)}", progress)
    t0 = lap("split", t0)

    # ---- encoding: validation and test once per classifier; the training set once, or per seed when redrawn
    _log(f"L = {seq_length}: {seq_info['reason']}", progress)
    encs = {}
    for clf in config.classifiers:
        ecfg = config.train_config(seq_length, "baseline", clf)
        encs[clf] = {part: encode(s, ecfg, seed, part)
                     for part, s in (("train", train_set), ("val", val_set), ("test", test_set))}
    t0 = lap("encode", t0)

    # ---- VAE + generator, fitted once on the root seed's training set (train part only)
    generator, gen_report, realism_sets = None, {}, None
    if "selfreg" in config.modes:
        fn = vae_generator_fn or fit_vae_and_generator
        generator, gen_report = fn(train_set, dataclasses.replace(config, seq_length=seq_length), seed, workdir)
        t0 = lap("vae_generator", t0)
        if generator is not None:
            gen_report["realism"], realism_sets = _realism(generator, val_set, train_set, config, seed)
            t0 = lap("realism", t0)

    # ---- runs
    run_seeds = [seed + k for k in range(config.seeds)]
    runs: list[dict] = []
    for clf, mode in ((c, m) for c in config.classifiers for m in config.modes):
        enc = encs[clf]
        tcfg = config.train_config(seq_length, mode, clf)
        t_mode = time.perf_counter()
        vmap = mode == "baseline" and config.vmap_seeds
        if vmap and clf != "cnn":
            _log(f"vmap_seeds ignored for {clf!r}: only the cnn's baseline seeds run as one vmapped program", progress)
            vmap = False
        if vmap and config.resample_pairs:
            _log("vmap_seeds ignored: resample_pairs re-encodes the training curves every epoch", progress)
            vmap = False
        if vmap and config.redraw_per_seed:
            _log("vmap_seeds ignored: redraw_per_seed gives every seed its own training set", progress)
            vmap = False
        if vmap:
            runs += [{**e, **_train_record(train_set)} for e in _vmapped_baseline(enc, classes, run_seeds, tcfg, progress)]
        else:
            for s in run_seeds:
                s_train, s_enc = train_set, enc
                if config.redraw_per_seed and s != seed:
                    # Same draws for both modes of a seed: baseline and selfreg stay paired.
                    t_enc = time.perf_counter()
                    s_train = seed_train_set(train_part, n_train, s)
                    s_enc = {**enc, "train": encode(s_train, tcfg, s, "train")}
                    timing["encode"] += time.perf_counter() - t_enc
                entry = _one_run(mode, s, s_enc, classes, tcfg, generator, workdir, progress, resume, train_set=s_train,
                                 period_config=config.period,
                                 fitted_ids=model_fitted_ids(s_train, val_set, train_set if mode == "selfreg" else None))
                runs.append({**entry, **_train_record(s_train)})
        key = f"runs_{mode}" if clf == config.classifiers[0] else f"runs_{clf}_{mode}"
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - t_mode
    t0 = time.perf_counter()

    # ---- report
    dataset_info = {
        "name": name or (Path(path).name if path else "dataset"),
        "path": str(path) if path else None,
        "n_stars": len(lcs),
        "classes": list(classes),
        "counts": {str(k): int(v) for k, v in lcs.class_counts().items()},
        "n_rejected": int(len(rejected)),
        "rejected_by_reason": _reasons(rejected),
        "validation_notes": validation_notes(rejected),
        "classes_selected": list(config.classes) if config.classes is not None else None,
        "n_left_out_by_classes": {k: sum(v.values()) for k, v in left_out.items()},
        "left_out_by_classes": left_out,
        "n_periods_found": n_found,
        "n_points_median": float(np.median(lcs.lengths)),
        "time_span_median_days": float(np.median(_spans(lcs))),
    }
    if test_lcs is not None:
        dataset_info["test"] = {
            "path": str(test_path) if test_path else None, "n_stars": len(test_lcs),
            "counts": {str(k): int(v) for k, v in test_lcs.class_counts().items()},
            "n_rejected": int(len(test_rejected)), "n_periods_found": n_found_test,
            "validation_notes": validation_notes(test_rejected),
        }
    split_info = {
        **split.info,
        "n_train": len(train_set), "n_val": len(val_set), "n_test": len(test_set),
        "counts_train": train_set.class_counts(), "counts_val": val_set.class_counts(),
        "counts_test": test_set.class_counts(),
        "val_fraction": config.val_fraction, "sample_size": config.sample_size,
        "n_train_part": len(train_part), "redraw_per_seed": config.redraw_per_seed,
        "seed_variation": seed_variation(config, len(train_set), len(train_part)),
        "classes_without_test_stars": absent,
        **cut_info,
    }
    cfg = {**config.to_dict(), "seq_length": seq_length, "seq_length_choice": seq_info, "root_seed": int(seed),
           "classifier": config.classifiers[0],
           "donors": (f"{donor_info['n_curves']} unlabelled curves of `{donor_info['path']}` (times and errors only"
                      + (f"; {donor_info['n_test_stars']} are test stars: transductive" if donor_info["transductive"] else "")
                      + ")") if donor_info else None,
           "train_config": {m: config.train_config(seq_length, m).to_dict() for m in config.modes},
           "synthetic_periods_used": resolve_synthetic_periods(config.train, train_set)}
    timing["total"] = time.perf_counter() - t_start
    report = report_lib.build_report(
        dataset=dataset_info, split=split_info, runs=runs, generator=gen_report, config=cfg,
        extra={"timing": timing},
    )
    figures = []
    if config.figures:
        figures = _figures(report, workdir, generator, train_set, classes, seed, config.regulator.synthetic_samples_by_class,
                           realism_sets, _synthetic_capacity(config, len(classes)))
    report["timing"].pop("total", None)
    report["timing"]["report"] = time.perf_counter() - t0
    report["timing"]["total"] = time.perf_counter() - t_start
    report_lib.write_report_json(report, workdir / "report.json")
    (workdir / "report.md").write_text(report_lib.render_markdown(report, figures))
    return ExperimentResult(report, workdir, generator, {"train": train_set, "val": val_set, "test": test_set})


def keep_classes(lcs: LightCurveSet, classes, what: str, *, strict: bool) -> tuple[LightCurveSet, dict[str, int]]:
    """(the stars of `lcs` whose class is in `classes`, {left-out class: stars}); labels index
    `classes` in the dataset's own order. strict: every class must have a star here (the training
    data), else a DataError naming the classes there are; a test dataset may lack some."""
    counts = lcs.class_counts()
    wanted = [str(c) for c in classes]
    absent = [c for c in wanted if counts.get(c, 0) == 0]
    if strict and absent:
        raise DataError(f"--classes: the {what} has no star of {', '.join(absent)}; "
                        f"its classes are {', '.join(c for c, n in counts.items() if n)}")
    order = [c for c in lcs.classes if c in wanted] + [c for c in wanted if c not in lcs.classes]
    left_out = {str(c): int(n) for c, n in counts.items() if str(c) not in wanted and n}
    return lcs.select_classes(order), left_out


def class_mismatch_warning(split_info: dict) -> str | None:
    """A line for stderr and report.json when a cross-dataset test set lacks training classes: the
    classifier can still predict them there, which costs F1 on the classes the test set has."""
    missing = split_info.get("classes_missing_in_test") or []
    if not missing:
        return None
    shared = [c for c in split_info.get("train_pool", {}) if c not in missing]
    return (f"the test data has no star of {', '.join(missing)}; the classifier can still predict "
            f"{'it' if len(missing) == 1 else 'them'} there, which lowers macro-F1 on the classes it has. "
            f"To train on the shared classes only: --classes {','.join(shared)}")


def _load(data, workdir: Path, what: str):
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.data.validate import validate, write_rejected

    if isinstance(data, LightCurveSet):
        kept, rejected = validate(data)
        write_rejected(rejected, workdir)
        for note in validation_notes(rejected):
            print(f"note: {what}dataset: {note}", file=sys.stderr)
        return kept, rejected, None
    kept, rejected = load_dataset(data, workdir=workdir)
    for note in validation_notes(rejected):
        print(f"note: {what}dataset: {note}", file=sys.stderr)
    if "class" not in kept.meta.columns:
        raise DataError(f"{data}: the {what}dataset has no class labels (meta column `class`)")
    return kept, rejected, Path(data)


def _reasons(rejected: pd.DataFrame) -> dict[str, int]:
    if rejected is None or len(rejected) == 0:
        return {}
    from jaxpelsvae.data.validate import rejection_summary

    return {str(k): int(v) for k, v in rejection_summary(rejected).items()}


def _spans(lcs: LightCurveSet) -> np.ndarray:
    ok = lcs.lengths > 0
    first = lcs.time[lcs.offsets[:-1][ok]]
    last = lcs.time[lcs.offsets[1:][ok] - 1]
    return last - first


def model_fitted_ids(train: LightCurveSet, val: LightCurveSet, generator_pool: LightCurveSet | None) -> list[str]:
    """The stars a run's saved model records (`model/fitted_ids.json`): its training and validation
    stars and, self-regulated, those of the generator (fitted on the root seed's training set
    `generator_pool`; its VAE on a subsample of it)."""
    parts = (train, val) if generator_pool is None else (train, val, generator_pool)
    return sorted({str(i) for part in parts for i in part.ids})


def _one_run(mode, seed, enc, classes, tcfg, generator, workdir: Path, progress: bool, resume: bool,
             train_set: LightCurveSet | None = None, period_config=None, fitted_ids=None) -> dict:
    from jaxpelsvae.selfreg.loop import train_classifier

    t0 = time.perf_counter()
    res = train_classifier(
        train_set if tcfg.redraws_train_views else None, None, None, tcfg,
        generator=generator if mode == "selfreg" else None,
        workdir=_run_dir(workdir, tcfg.classifier, mode, seed), seed=seed, mode=mode, resume=resume,
        progress=progress, encoded=(enc["train"], enc["val"], enc["test"]), classes=classes,
        period_config=period_config, fitted_ids=fitted_ids,
    )
    entry = _run_entry(mode, seed, res.metrics, time.perf_counter() - t0, tcfg.classifier)
    _log(f"{tcfg.classifier} {mode} seed {seed}: test macro-F1 {entry['macro_f1']:.3f}, best epoch {entry['best_epoch']}/{entry['epochs']}", progress)
    return entry


def _vmapped_baseline(enc, classes, seeds, tcfg, progress: bool) -> list[dict]:
    from jaxpelsvae.experiments.repetitions import train_baseline_seeds
    from jaxpelsvae.train.metrics import classification_metrics

    t0 = time.perf_counter()
    results = train_baseline_seeds(
        enc["train"].x_NL2, enc["train"].y_N, enc["val"].x_NL2, enc["val"].y_N, enc["test"].x_NL2,
        len(classes), seeds, tcfg, vmap=True, progress=progress,
    )
    wall = (time.perf_counter() - t0) / len(seeds)
    out = []
    for r in results:
        m = classification_metrics(enc["test"].y_N, np.exp(r.logprobs_test.astype(np.float64)), classes)
        m.update(best_epoch=r.best_epoch, epochs=r.epochs, best_val_loss=min(r.val_loss))
        entry = _run_entry("baseline", r.seed, m, wall)
        entry["vmapped"] = True
        out.append(entry)
        _log(f"baseline seed {r.seed} (vmapped): test macro-F1 {entry['macro_f1']:.3f}", progress)
    return out


# ------------------------------------------------------------------------------------ VAE + generator


def fit_vae_and_generator(pool: LightCurveSet, config: ExperimentConfig, seed: int, workdir: Path):
    """Train the PELS-VAE on the folded training set `pool` (the train part: never validation or test
    stars; as `jaxpelsvae train-vae`) and fit the generator on it (as `jaxpelsvae fit-generator`:
    priors, physics → latent, donor bank), composed of the `jaxpelsvae.pipeline` stages. Saves
    workdir/vae and workdir/generator. Stars without a usable period are left out of both. Returns
    (generator, quality dict: vae_recon_mse (validation, best epoch), vae_class_mean_mse (the same
    validation curves predicted by their class's mean training curve), latent_r2_heldout (of the
    chosen latent model), both latent models' R², epochs, sizes)."""
    from jaxpelsvae.pipeline import fit_generator, fit_vae, fitting_periods
    from jaxpelsvae.train.vae_train import save_vae

    progress = config.progress
    t0 = time.perf_counter()
    # for fitting only (a local copy): Lomb-Scargle periods searched again within each class's limits
    pool, period_info = fitting_periods(pool, priors=config.priors, period=config.period, drop_missing=True,
                                        progress=progress)
    vae_pool = stratified_subsample(pool, config.vae_max_stars, seed, seeds.VAE_SUBSAMPLE_STREAM)
    _log(f"training the PELS-VAE on {len(vae_pool)} folded curves", progress)
    vae = fit_vae(vae_pool, config.vae, dataclasses.replace(config.vae_train, progress=progress), seed=seed,
                  workdir=workdir / "vae")
    history, phys = vae.history, vae.phys
    save_vae(workdir / "vae" / "model", vae.model, vae.config, vae.scaler, classes=vae.classes,
             extra={"seed": int(seed), "val_mse": history["best_val_mse"]}, fitted_ids=vae_pool.ids)
    t_vae = time.perf_counter()
    _log(f"VAE (physics: {', '.join(phys.names) or 'none'}): validation reconstruction MSE "
         f"{history['best_val_mse']:.4g} (best epoch {history['best_epoch']}); fitting the generator", progress)
    gen_cfg = dataclasses.replace(config.generator, seq_length=config.seq_length or 300)
    generator = fit_generator(
        pool, vae.loaded, periods=pool.periods, priors_config=config.priors,
        latent_config=config.latent, config=gen_cfg, seed=seed,
        donors=load_donors(config.donors) if config.donors else None, donor_copies=config.donor_copies,
    )
    generator.save(workdir / "generator", fitted_ids=pool.ids)
    r = generator.report
    r2 = r.get("latent_r2_heldout") or {}
    chosen = r.get("chosen")
    quality = {
        "vae_recon_mse": float(history["best_val_mse"]),
        "vae_class_mean_mse": float(history["val_mse_class_mean"]),  # the yardstick: class-average curves
        "vae_recon_mse_all": r.get("vae_recon_mse"),
        "latent_r2_heldout": r2.get(chosen) if isinstance(r2, dict) else r2,
        "latent_r2_heldout_by_model": r2,
        "latent_model": chosen,
        "vae_best_epoch": int(history["best_epoch"]),
        "vae_epochs": len(history["epoch"]),
        "vae_n_train": int(history["n_train"]),
        "vae_n_val": int(history["n_val"]),
        "generator_n_stars": len(pool),
        "physics": list(phys.names),
        "physics_imputed": dict(phys.imputed),
        "donors_per_class": r.get("donors_per_class"),
        "stars_without_period": period_info["n_dropped"],
        "vae_seconds": t_vae - t0,
        "generator_seconds": time.perf_counter() - t_vae,
    }
    return generator, quality


def _realism(generator, val_set: LightCurveSet, train_set: LightCurveSet, config: ExperimentConfig, seed: int):
    """(the realism report of the generator on the validation set, its RealismSets for the figure);
    the validation stars were never seen by the generator, and the report only reports (it picks
    nothing). `synthetic_samples_by_class` curves per class in the loop's capacity
    (`_synthetic_capacity`), so the loop reuses the generation program compiled here when it draws
    one curve per template. A report that cannot be made is recorded as {"error": ...}: it must not
    fail the experiment."""
    from jaxpelsvae.synth.realism import realism_lines, realism_report

    try:
        # Periods as the classifier folds the curves: searched on both sets, or, where every
        # training star has a catalogue period, the real stars' and the sampled ones.
        periods = "given" if resolve_synthetic_periods(config.train, train_set) == "true" else "found"
        report, sets = realism_report(generator, val_set, per_class=config.regulator.synthetic_samples_by_class,
                                      seed=seed, period_config=config.period, periods=periods, return_sets=True,
                                      capacity=_synthetic_capacity(config, len(generator.classes)))
        _log(realism_lines(report)[0], config.progress)
        return report, sets
    except Exception as err:  # noqa: BLE001 -- a report of the generator must not fail the experiment
        print(f"warning: no realism report of the generator: {type(err).__name__}: {err}", file=sys.stderr)
        return {"error": f"{type(err).__name__}: {err}"}, None


def _synthetic_capacity(config: ExperimentConfig, num_classes: int) -> int:
    """Template slots of the self-regulated loop's generation program (`policies.max_synthetic_total`):
    the realism report and the figures generate in the same slots, so that the three share one
    compiled program (XLA:CPU takes seconds per compilation) where the loop draws one curve per template."""
    from jaxpelsvae.selfreg.policies import max_synthetic_total

    return max_synthetic_total(config.regulator, num_classes)


# ------------------------------------------------------------------------------------ figures


def _figures(report: dict, workdir: Path, generator, pool: LightCurveSet, classes, seed: int, per_class: int,
             realism_sets=None, capacity: int | None = None) -> list[str]:
    from jaxpelsvae.experiments import figures as fig

    folder = workdir / "figures"
    out = fig.report_figures(report, folder)
    if generator is not None:
        try:
            out += _generator_figures(generator, pool, classes, seed, folder, workdir, per_class, capacity)
        except Exception as err:  # noqa: BLE001 -- a figure must never fail a finished experiment
            (folder / "generator_figures_error.txt").write_text(f"{type(err).__name__}: {err}\n")
    if realism_sets is not None:
        try:
            path = fig.plot_realism(realism_sets, report["generator"]["realism"], folder / "realism.png")
            out.append(str(path.relative_to(workdir)))
        except Exception as err:  # noqa: BLE001 -- a figure must never fail a finished experiment
            (folder / "realism_figure_error.txt").write_text(f"{type(err).__name__}: {err}\n")
    return out


def _generator_figures(generator, pool: LightCurveSet, classes, seed: int, folder: Path, workdir: Path,
                       per_class: int, capacity: int | None = None) -> list[str]:
    import jax

    from jaxpelsvae.experiments import figures as fig

    # The loop's first synthetic set: `per_class` curves per class in its `capacity`, no new compilation.
    batch = generator.generate(jax.random.key(seed + seeds.FIGURE_KEY_OFFSET), {c: per_class for c in classes}, 1.0,
                               capacity=capacity).trim()
    real, synth = [], []
    labels = pool.labels
    periods = pool.periods if pool.periods is not None else np.full(len(pool), np.nan)
    for k, c in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        if idx.size:
            i = int(idx[0])
            t, m, _ = pool.curve(i)
            p = periods[i]
            x = ((t - t[0]) / p) % 1.0 if np.isfinite(p) and p > 0 else t - t[0]
            real.append((x, m, f"{c} ({pool.ids[i]})"))
        j = np.flatnonzero(np.asarray(batch.y_N) == k)
        if j.size:
            j = int(j[0])
            mask = np.asarray(batch.mask_NT[j], bool)
            t = np.asarray(batch.time_NT[j])[mask]
            p = float(batch.period_N[j])
            synth.append((((t - t[0]) / p) % 1.0 if p > 0 else t, np.asarray(batch.mag_NT[j])[mask], f"{c}, P={p:.3g} d"))
    out = [fig.plot_curves(real, synth, folder / "synthetic_vs_real.png", xlabel="phase (real: meta/LS period)")]
    pc = generator.priors.config
    names = [f"log10 {n}" if n in pc.log10_params else n for n in pc.params]
    real_pp = _real_physics(generator, pool)
    if real_pp is not None and names:
        out.append(fig.plot_physics(real_pp[0], real_pp[1], np.asarray(batch.phys_NP),
                                    np.asarray([classes[i] for i in np.asarray(batch.y_N)]), names,
                                    folder / "physics_samples_vs_real.png"))
    return [str(p.relative_to(workdir)) for p in out]


def _real_physics(generator, pool: LightCurveSet):
    """(phys_NP in the generator's model space, class names) of the real training pool, or None."""
    from jaxpelsvae.physics.priors import physics_table

    pc = generator.priors.config
    x = physics_table(pool.meta, pc.params, pc.log10_params)
    cls = pool.meta["class"].astype(str).to_numpy()
    ok = np.isfinite(x).all(axis=1)
    return (x[ok], cls[ok]) if ok.any() else None


def load_report(workdir: str | Path) -> dict:
    return json.loads((Path(workdir) / "report.json").read_text())
