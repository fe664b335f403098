"""`run_experiment`: the paper's protocol on one dataset (or train on one, test on another), end to end.

Stages (each timed, each writing into the workdir), the `jaxpelsvae.pipeline` functions in order:
  read + validate (rejected.csv) → periods where missing (Lomb-Scargle) → the partition
  (`data.split.assign_parts`: data-shift split, hardness.csv, train/validation parts of the
  training pool) → L from the train part (`choose_seq_length`) → quality cuts (`quality_cuts`) →
  subsamples (`training_sets`; split.csv) → encode → PELS-VAE (vae/) and generator (generator/) on
  the training set with their realism report on the validation set (`generator_stage`) →
  baseline and self-regulated runs over seeds (`runs`: runs/<mode>_seed<k>/) → report.json,
  report.md, figures/.
Nothing is fitted on validation or test stars. Validation and test encodings are shared by every
run; the training set and its pairs too unless `redraw_per_seed`, so seeds differ only in the
initialisation, the batch order, (self-regulated) the synthetic curves and, when redrawn, the
training subsample and pairs (`seed_variation` says which in report.md).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxpelsvae import seeds
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.split import Partition, assign_parts, write_split
from jaxpelsvae.data.validate import validation_notes
from jaxpelsvae.errors import DataError
from jaxpelsvae.experiments.config import ExperimentConfig
from jaxpelsvae.experiments.generator_stage import fit_vae_and_generator, realism, synthetic_capacity
from jaxpelsvae.experiments.log import Log
from jaxpelsvae.experiments.runs import RunInputs, run_all
from jaxpelsvae.pipeline import (check_donors, choose_seq_length, encode, load_donors, part_sizes, quality_cuts,
                                 stratified_subsample, training_sets)
from jaxpelsvae.train.classifier import resolve_synthetic_periods
from jaxpelsvae.train.metrics import absent_classes_warning


@dataclasses.dataclass
class ExperimentResult:
    """report (the report.json dict), workdir, and the in-memory pieces for further use."""

    report: dict
    workdir: Path
    generator: Any = None
    splits: dict = dataclasses.field(default_factory=dict)


class Inputs(NamedTuple):
    """The validated datasets: the training data (and the test data of a cross-dataset run), the
    stars rejected from each, their paths, and the stars `--classes` left out ({"data"/"test": {class: n}})."""

    lcs: LightCurveSet
    rejected: pd.DataFrame
    path: Path | None
    test_lcs: LightCurveSet | None
    test_rejected: pd.DataFrame | None
    test_path: Path | None
    left_out: dict


class StageTimer:
    """`with timer("stage"):` adds the block's wall time to timer.timing["stage"]."""

    def __init__(self):
        self.timing: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timing[stage] = self.timing.get(stage, 0.0) + time.perf_counter() - t0


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
    from jaxpelsvae.experiments import report as report_lib
    from jaxpelsvae.period import fill_periods

    t_start = time.perf_counter()
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    log, timer = Log(config.progress), StageTimer()

    with timer("read_validate"):
        inputs = read_inputs(data, test_data, config, seed, workdir)
        log(f"dataset: {len(inputs.lcs)} usable stars ({len(inputs.rejected)} rejected): {inputs.lcs.class_counts()}")
    with timer("periods"):  # label-free for every star (DESIGN.md principle 7): what the classifier reads never uses the class
        lcs, n_found = fill_periods(inputs.lcs, config=config.period, progress=config.progress)
        test_lcs, n_found_test = (fill_periods(inputs.test_lcs, config=config.period, progress=config.progress)
                                  if inputs.test_lcs is not None else (None, None))
    with timer("split"):
        parts, seq_length, seq_info, cut_info, uncut_train = partition(lcs, test_lcs, config, seed, workdir)
        train_set, val_set = training_sets(parts.train, parts.val, sample_size=config.sample_size,
                                           val_fraction=config.val_fraction, seed=seed)
        classes, test_set = tuple(train_set.classes), parts.test
        absent = [c for c in classes if not test_set.class_counts().get(c)]
        warning = absent_classes_warning(absent)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        # split.csv: the stars each part may use (train: the whole train part, from which each run's
        # training set is drawn; val: early stopping; test: scores only)
        shared = (set(map(str, test_set.ids)) & set(map(str, np.concatenate([parts.train.ids, val_set.ids])))
                  if test_lcs is not None else set())  # only another dataset can repeat an id
        if shared:
            print(f"warning: the test dataset shares {len(shared)} star ids with the training dataset (e.g. "
                  f"{sorted(shared)[0]!r}); if they are the same stars, the test is not independent", file=sys.stderr)
        write_split(Partition(parts.train, val_set, test_set, {}).table(), workdir / "split.csv",
                    cross_dataset=test_lcs is not None)
        donor_info = donors_checked(config, val_set, test_set)
        log(f"split {parts.info['method']}: train {len(train_set)}, validation {len(val_set)}, test {len(test_set)}")
    with timer("encode"):  # validation and test once per classifier; the training set once, or per seed when redrawn
        log(f"L = {seq_length}: {seq_info['reason']}")
        encoded = {clf: {part: encode(s, config.train_config(seq_length, "baseline", clf), seed, part)
                         for part, s in (("train", train_set), ("val", val_set), ("test", test_set))}
                   for clf in config.classifiers}
    generator, gen_report, realism_sets = None, {}, None
    if "selfreg" in config.modes:  # fitted once on the root seed's training set (train part only)
        with timer("vae_generator"):
            fit = vae_generator_fn or fit_vae_and_generator
            fit_set, fitted_on = generator_set(uncut_train, train_set, parts, config, seed)
            cut_note = (f", {fitted_on['n_cut_stars']} of them cut from the classifier's"
                        if fitted_on["before_quality_cuts"] else "")
            log(f"generator fitted on {len(fit_set)} train-part stars{cut_note}")
            generator, gen_report = fit(fit_set, dataclasses.replace(config, seq_length=seq_length), seed, workdir)
            gen_report["fitted_on"] = fitted_on
        if generator is not None:
            with timer("realism"):
                gen_report["realism"], realism_sets = realism(generator, val_set, train_set, config, seed)
    runs = run_all(config, RunInputs(seq_length, encoded, classes, parts.train,
                                     part_sizes(config.sample_size, config.val_fraction)[0], train_set, val_set,
                                     test_set, generator),
                   seed=seed, workdir=workdir, resume=resume, timing=timer.timing, log=log)

    t0 = time.perf_counter()
    timer.timing["total"] = t0 - t_start
    report = report_lib.build_report(
        dataset=dataset_info(inputs, lcs, name, config, n_found, n_found_test, classes),
        split=split_info(parts, train_set, val_set, config, cut_info, absent), runs=runs, generator=gen_report,
        config=config_info(config, seq_length, seq_info, seed, donor_info, train_set), extra={"timing": timer.timing},
    )
    figures = []
    if config.figures:
        figures = _figures(report, workdir, generator, train_set, classes, seed, config.regulator.synthetic_samples_by_class,
                           realism_sets, synthetic_capacity(config, len(classes)))
    report["timing"].pop("total", None)
    report["timing"]["report"] = time.perf_counter() - t0
    report["timing"]["total"] = time.perf_counter() - t_start
    report_lib.write_report_json(report, workdir / "report.json")
    (workdir / "report.md").write_text(report_lib.render_markdown(report, figures))
    return ExperimentResult(report, workdir, generator, {"train": train_set, "val": val_set, "test": test_set})


# ------------------------------------------------------------------------------------ stages


def read_inputs(data, test_data, config: ExperimentConfig, seed: int, workdir: Path) -> Inputs:
    """The datasets read and validated (rejected.csv), restricted to `config.classes` and capped at
    `config.max_stars` (a stratified subsample)."""
    lcs, rejected, path = _load(data, workdir, "")
    test_lcs = test_rejected = test_path = None
    if test_data is not None:
        test_lcs, test_rejected, test_path = _load(test_data, workdir / "test_data", "test ")
    left_out = {}
    if config.classes is not None:
        lcs, left_out["data"] = keep_classes(lcs, config.classes, "dataset", strict=True)
        if test_lcs is not None:
            test_lcs, left_out["test"] = keep_classes(test_lcs, config.classes, "test dataset", strict=False)
    if config.max_stars is not None:
        lcs = stratified_subsample(lcs, config.max_stars, seed, seeds.MAX_STARS_STREAM)
    return Inputs(lcs, rejected, path, test_lcs, test_rejected, test_path, left_out)


def partition(lcs: LightCurveSet, test_lcs: LightCurveSet | None, config: ExperimentConfig, seed: int,
              workdir: Path) -> tuple[Partition, int, dict, dict, LightCurveSet]:
    """(the train, validation and test parts, L, why that L, what the quality cuts did, the train
    part before the cuts): the data-shift split and the train/validation parts of its training pool
    (`assign_parts`, before anything is fitted: L, the VAE, the generator and the classifier see
    the train part only), L chosen on the train part, then the original quality cuts where
    configured (with that L, so the cut and the encoder agree). Writes hardness.csv for a hardness
    split."""
    parts = assign_parts(lcs, config.shift, seed, config.val_fraction, test_lcs=test_lcs)
    mismatch = class_mismatch_warning(parts.info)
    if mismatch:
        print(f"warning: {mismatch}", file=sys.stderr)
        parts.info["class_mismatch"] = mismatch
    if parts.hardness is not None:
        ids = np.asarray(list(parts.hardness), dtype=str)
        pd.DataFrame({"id": ids, "hardness": list(parts.hardness.values()),
                      "pool": np.where(np.isin(ids, parts.test.ids), "test", "train")}
                     ).to_csv(workdir / "hardness.csv", index=False)
    seq_length, seq_info = choose_seq_length(parts.train, layers=config.train.layers, given=config.seq_length,
                                             quantile=config.seq_length_quantile)
    cut_info, uncut_train = {}, parts.train
    cut = dict(seq_length=seq_length, snr_threshold=config.snr_threshold)
    if config.quality_cuts:
        kept, cut_info["quality_cuts"] = quality_cuts({"train_part": parts.train, "val_part": parts.val}, **cut,
                                                      folder=workdir / "quality_cuts")
        parts = parts._replace(train=kept["train_part"], val=kept["val_part"])
    if config.quality_cuts_test:
        kept, cut_info["quality_cuts_test"] = quality_cuts({"test_pool": parts.test}, **cut,
                                                           folder=workdir / "quality_cuts_test")
        parts = parts._replace(test=kept["test_pool"])
    return parts, seq_length, seq_info, cut_info, uncut_train


def generator_set(uncut_train: LightCurveSet, train_set: LightCurveSet, parts: Partition, config: ExperimentConfig,
                  seed: int) -> tuple[LightCurveSet, dict]:
    """(the stars the VAE and generator are fitted on, report.json's `generator.fitted_on`): the root
    seed's training set, or with `generator_before_cuts` (and quality cuts) the train part before
    the cuts, subsampled as the training set is, as the original fitted its VAE on a broader set than
    the cut pool. Either way train-part stars only: no validation or test star."""
    before = config.generator_before_cuts and config.quality_cuts and len(uncut_train) > len(parts.train)
    chosen = training_sets(uncut_train, parts.val, sample_size=config.sample_size, val_fraction=config.val_fraction,
                           seed=seed)[0] if before else train_set
    return chosen, {"n_stars": len(chosen), "counts": chosen.class_counts(), "before_quality_cuts": bool(before),
                    "n_cut_stars": int(len(chosen) - int(np.isin(chosen.ids, train_set.ids).sum()))}


def donors_checked(config: ExperimentConfig, val_set: LightCurveSet, test_set: LightCurveSet) -> dict | None:
    """What report.md says of `config.donors` after checking them (`check_donors`), None without donors
    or without self-regulated runs."""
    if not config.donors or "selfreg" not in config.modes:
        return None
    return {"path": str(Path(config.donors).absolute()),
            **check_donors(load_donors(config.donors), val_set, test_set, config.transductive_donors)}


# ------------------------------------------------------------------------------------ the report


def dataset_info(inputs: Inputs, lcs: LightCurveSet, name: str | None, config: ExperimentConfig,
                 n_found: int, n_found_test: int | None, classes) -> dict:
    """report.json's `dataset`: counts, rejected stars, periods found, cadence summary."""
    info = {
        "name": name or (Path(inputs.path).name if inputs.path else "dataset"),
        "path": str(inputs.path) if inputs.path else None,
        "n_stars": len(lcs),
        "classes": list(classes),
        "counts": {str(k): int(v) for k, v in lcs.class_counts().items()},
        "n_rejected": int(len(inputs.rejected)),
        "rejected_by_reason": _reasons(inputs.rejected),
        "validation_notes": validation_notes(inputs.rejected),
        "classes_selected": list(config.classes) if config.classes is not None else None,
        "n_left_out_by_classes": {k: sum(v.values()) for k, v in inputs.left_out.items()},
        "left_out_by_classes": inputs.left_out,
        "n_periods_found": n_found,
        "n_points_median": float(np.median(lcs.lengths)),
        "time_span_median_days": float(np.median(_spans(lcs))),
    }
    if inputs.test_lcs is not None:
        info["test"] = {
            "path": str(inputs.test_path) if inputs.test_path else None, "n_stars": len(inputs.test_lcs),
            "counts": {str(k): int(v) for k, v in inputs.test_lcs.class_counts().items()},
            "n_rejected": int(len(inputs.test_rejected)), "n_periods_found": n_found_test,
            "validation_notes": validation_notes(inputs.test_rejected),
        }
    return info


def split_info(parts: Partition, train_set: LightCurveSet, val_set: LightCurveSet, config: ExperimentConfig,
               cut_info: dict, absent: list[str]) -> dict:
    """report.json's `split`: the scenario's description, the sets' sizes and class counts, the cuts."""
    return {
        **parts.info,
        "n_train": len(train_set), "n_val": len(val_set), "n_test": len(parts.test),
        "counts_train": train_set.class_counts(), "counts_val": val_set.class_counts(),
        "counts_test": parts.test.class_counts(),
        "val_fraction": config.val_fraction, "sample_size": config.sample_size,
        "n_train_part": len(parts.train), "redraw_per_seed": config.redraw_per_seed,
        "seed_variation": seed_variation(config, len(train_set), len(parts.train)),
        "classes_without_test_stars": absent,
        **cut_info,
    }


def config_info(config: ExperimentConfig, seq_length: int, seq_info: dict, seed: int, donor_info: dict | None,
                train_set: LightCurveSet) -> dict:
    """report.json's `config`: the settings, L and why, the root seed, the donors, each mode's TrainConfig."""
    donors = None
    if donor_info:
        donors = (f"{donor_info['n_curves']} unlabelled curves of `{donor_info['path']}` (times and errors only"
                  + (f"; {donor_info['n_test_stars']} are test stars: transductive" if donor_info["transductive"] else "")
                  + ")")
    return {**config.to_dict(), "seq_length": seq_length, "seq_length_choice": seq_info, "root_seed": int(seed),
            "classifier": config.classifiers[0], "donors": donors,
            "train_config": {m: config.train_config(seq_length, m).to_dict() for m in config.modes},
            "synthetic_periods_used": resolve_synthetic_periods(config.train, train_set)}


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


# ------------------------------------------------------------------------------------ figures


def _figures(report: dict, workdir: Path, generator, pool: LightCurveSet, classes, seed: int, per_class: int,
             realism_sets=None, capacity: int | None = None) -> list[str]:
    """The report's figures, the generator's and the realism figure, as paths relative to `workdir`;
    a figure that fails leaves a note in figures/ instead of failing a finished experiment."""
    from jaxpelsvae.experiments import figures as fig

    folder = workdir / "figures"
    try:
        out = fig.report_figures(report, folder)
    except Exception as err:  # noqa: BLE001 -- a figure must never fail a finished experiment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report_figures_error.txt").write_text(f"{type(err).__name__}: {err}\n")
        out = []
    if generator is not None:
        try:
            paths = fig.generator_figures(generator, pool, classes, seed, folder, per_class, capacity)
            out += [str(p.relative_to(workdir)) for p in paths]
        except Exception as err:  # noqa: BLE001 -- a figure must never fail a finished experiment
            (folder / "generator_figures_error.txt").write_text(f"{type(err).__name__}: {err}\n")
    if realism_sets is not None:
        try:
            path = fig.plot_realism(realism_sets, report["generator"]["realism"], folder / "realism.png")
            out.append(str(path.relative_to(workdir)))
        except Exception as err:  # noqa: BLE001 -- a figure must never fail a finished experiment
            (folder / "realism_figure_error.txt").write_text(f"{type(err).__name__}: {err}\n")
    return out


# ------------------------------------------------------------------------------------ helpers


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


def load_report(workdir: str | Path) -> dict:
    return json.loads((Path(workdir) / "report.json").read_text())
