"""`jaxpelsvae train DATA --mode baseline|selfreg`: train the CNN classifier, resumably, in a workdir."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "train the CNN classifier: baseline (real curves only) or self-regulated (with synthetic curves)"
DESCRIPTION = (
    "Train the 1-D CNN on DATA (a dataset folder or file). With --split FILE (from `jaxpelsvae split`) the "
    "CNN trains on the file's train part, picks its best epoch on the val part and is scored on the test "
    "part; without it DATA is split at random (--fractions). With --test DATA2, DATA gives train/validation "
    "and DATA2 is the test set. The self-regulated mode needs a fitted generator (--generator, from "
    "`jaxpelsvae fit-generator`). Training stops with an error when the generator was fitted on any "
    "validation or test star (--allow-overlap goes on with a warning). "
    "Writes metrics.jsonl (one line per epoch), metrics.json (best model on the test set), model/ "
    "(for `jaxpelsvae evaluate`), figures/ and checkpoints/ into --workdir; a killed run started again "
    "with the same arguments resumes from its last epoch."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.train.classifier import MODES, TrainConfig
    from jaxpelsvae.selfreg.state import RANKING_METHODS

    # None means "the config's value" (from --config, else TrainConfig's default), which the help states.
    train = TrainConfig()
    reg = train.regulator
    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, ...)")
    parser.add_argument("--mode", choices=MODES, default=train.mode,
                        help="baseline: real curves only; selfreg: self-regulated training with synthetic curves from --generator")
    parser.add_argument("--generator", type=Path, default=None,
                        help="fitted generator folder (required by --mode selfreg)")
    parser.add_argument("--test", type=Path, default=None, help="separate test dataset")
    parser.add_argument("--split", type=Path, default=None,
                        help="split file from `jaxpelsvae split` (CSV id,part): train on its train part, pick "
                             "the best epoch on val, score on test (with --test: score on DATA2 instead)")
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15),
                        metavar=("TRAIN", "VAL", "TEST"),
                        help="without --split: stratified random split fractions of DATA")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="go on (with a warning) when the generator was fitted on validation or test stars")
    parser.add_argument("--config", type=Path, default=None,
                        help="JSON file with TrainConfig fields (command-line options override it)")
    parser.add_argument("--epochs", type=int, default=None, help=f"maximum epochs (default {reg.epochs})")
    parser.add_argument("--patience", type=int, default=None, help=f"early-stopping patience (default {reg.patience})")
    parser.add_argument("--lr", type=float, default=None, help=f"Adam learning rate (default {train.learning_rate})")
    parser.add_argument("--batch-size", type=int, default=None, help=f"real-data batch size (default {train.batch_size})")
    parser.add_argument("--seq-length", type=int, default=None, help=f"points per encoded curve L (default {train.seq_length})")
    parser.add_argument("--layers", type=int, default=None, help=f"conv blocks, 2-4 (default {train.layers})")
    parser.add_argument("--ranking", default=None,
                        choices=RANKING_METHODS,
                        help=f"class ranking of the self-regulation (default {reg.ranking_method})")
    parser.add_argument("--synthetic-per-class", type=int, default=None,
                        help=f"synthetic curves per class, before ranking factors (default {reg.synthetic_samples_by_class})")
    parser.add_argument("--repetitions", type=int, default=None, help=f"synthetic passes per epoch (default {reg.repetitions})")
    parser.add_argument("--eps", type=float, default=None, help=f"fraction of weights for synthetic updates (default {reg.eps})")
    parser.add_argument("--scaling-factor", type=float, default=None, help=f"synthetic lr factor (default {reg.scaling_factor})")
    add_min_points(parser)
    parser.add_argument("--resample-pairs", action=argparse.BooleanOptionalAction, default=None,
                        help="draw fresh (Δt, Δm) pairs of every training curve each epoch (default: once per run)")
    parser.add_argument("--classifier", default=None,
                        help="registered classifier (view + backbone): cnn (the original, on (Δt, Δm) pairs), "
                             f"folded, hybrid, multifold (default {train.classifier})")
    parser.add_argument("--forest", action="store_true",
                        help="period-aware classifiers: also fit a random forest on nine period-based features of the "
                             "training stars and save it beside the model (model/forest/), so evaluate and predict "
                             "average the two models' probabilities; prints the pair's test scores")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="draw augmented training views every epoch (period-aware classifiers; default off)")
    parser.add_argument("--period-prior", type=float, default=None,
                        help="prior of the label-free period search, density f^-X per unit frequency "
                             "(PeriodConfig.period_prior; 1 = log-uniform in period, 0 = plain Lomb-Scargle) "
                             f"(default {PeriodConfig().period_prior}); recorded in the model for `predict`")
    parser.add_argument("--synthetic-periods", choices=("auto", "found", "true"), default=None,
                        help="period a synthetic curve is folded at: found label-free as for real curves, the "
                             "sampled one, or auto: the sampled one when every training star has a catalogue "
                             f"period, else found (default {train.synthetic_periods})")
    parser.add_argument("--donors", type=Path, default=None, metavar="DIR",
                        help="unlabelled curves whose times and errors observe the generator's synthetic curves "
                             "(e.g. of the survey the classifier is for); labels are never read")
    parser.add_argument("--transductive-donors", action="store_true",
                        help="allow donors among the test stars (the test survey's own cadences: transductive)")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if workdir has a checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


_TRAIN_OPTIONS = {"lr": "learning_rate", "batch_size": "batch_size", "seq_length": "seq_length",
                  "layers": "layers", "resample_pairs": "resample_pairs", "classifier": "classifier",
                  "augment": "augment", "synthetic_periods": "synthetic_periods"}
_REGULATOR_OPTIONS = {"epochs": "epochs", "patience": "patience", "ranking": "ranking_method",
                      "synthetic_per_class": "synthetic_samples_by_class", "repetitions": "repetitions",
                      "eps": "eps", "scaling_factor": "scaling_factor"}


def config_from_args(args: argparse.Namespace):
    """TrainConfig from --config (JSON) overridden by explicit options."""
    from jaxpelsvae.config import from_dict
    from jaxpelsvae.errors import ConfigError
    from jaxpelsvae.train.classifier import TrainConfig

    base = {}
    if args.config is not None:
        try:
            base = json.loads(Path(args.config).read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{args.config}: not valid JSON ({err})") from None
    base["mode"] = args.mode
    for opt, field in _TRAIN_OPTIONS.items():
        if getattr(args, opt, None) is not None:
            base[field] = getattr(args, opt)
    reg = dict(base.get("regulator", {}))
    for opt, field in _REGULATOR_OPTIONS.items():
        if getattr(args, opt, None) is not None:
            reg[field] = getattr(args, opt)
    base["regulator"] = reg
    config = from_dict(TrainConfig, base)
    if args.augment and not config.reads_period:
        raise ConfigError("--augment applies to the period-aware classifiers; the cnn's counterpart is --resample-pairs")
    return config


def _check_generator(folder: Path, val, test, allow: bool) -> None:
    """Stop when the generator (its VAE, priors, latent model or donors) saw a validation or test star."""
    from jaxpelsvae.data.provenance import check_overlap

    for stars, name in ((test, "test stars"), (val, "validation stars (they pick the best epoch)")):
        for line in check_overlap(stars.ids, {"generator": folder}, allow=allow, tested=name):
            print(line)


def _model_fitted_ids(train, val, generator_dir: Path | None):
    """The classifier's stars: train and validation (the best epoch), and the generator's as its
    folder records them."""
    from jaxpelsvae.data.provenance import classifier_fitted, read_record

    record = read_record(generator_dir) if generator_dir is not None else None
    if generator_dir is not None and record is None:
        return classifier_fitted(train.ids, val.ids, generator_unknown=(f"the generator {generator_dir}",))
    return classifier_fitted(train.ids, val.ids, generator_ids=record["ids"] if record else None,
                             generator_unknown=record["unknown"] if record else ())


def _set_forest(model_dir: Path, train, test, seed: int) -> None:
    """`--forest`: the feature forest saved beside the model and the pair's test scores printed;
    without it, a forest an earlier run left there is removed."""
    from jaxpelsvae.train.classifier import evaluate_saved_model, set_forest
    from jaxpelsvae.train.metrics import fmt_metric

    set_forest(model_dir, train, seed=seed)
    if train is not None and len(test):
        m = evaluate_saved_model(model_dir, test, seed=seed)
        print(f"with the forest: test macro-F1 {fmt_metric(m['macro_f1'], 4)}, accuracy {fmt_metric(m['accuracy'], 4)}, "
              f"ROC-AUC ovo {fmt_metric(m['roc_auc_ovo'])}")


def run(args: argparse.Namespace) -> int:
    from jaxpelsvae.cli import load_data, print_notes
    from jaxpelsvae.train.metrics import absent_classes_warning, fmt_metric
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.errors import ConfigError
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.selfreg.loop import train_classifier
    from jaxpelsvae.synth.generator import load_generator

    config = config_from_args(args)
    if args.forest and not config.reads_period:
        raise ConfigError("--forest reads the period the view folds with: a period-aware --classifier, not the cnn")
    period_config = PeriodConfig() if args.period_prior is None else PeriodConfig(period_prior=args.period_prior)
    workdir, lcs, rejected = load_data(args)
    if args.split is not None:
        from jaxpelsvae.data.split import parts_from_file

        train, val, test = parts_from_file(lcs, args.split, ("train", "val", "test"), rejected=rejected)
        if args.test is not None:
            print(f"scoring on {args.test}, not on the {len(test)} test stars of the split")
    if args.test is not None:
        test, test_rejected = load_dataset(args.test, min_points=args.min_points, classes=lcs.classes)
        print_notes(test_rejected, "test data: ")
    if args.split is None and args.test is not None:
        f_train, f_val, _ = args.fractions
        train, val = lcs.split((f_train / (f_train + f_val), f_val / (f_train + f_val)), seed=args.seed)
    elif args.split is None:
        train, val, test = lcs.split(tuple(args.fractions), seed=args.seed)
    if config.reads_period:
        # The view folds at each star's period: catalogue periods as given, the rest found without
        # the class, the same way for training, validation and test stars.
        from jaxpelsvae.period import fill_periods

        train, val, test = (fill_periods(s, config=period_config, progress=not args.no_progress)[0]
                            for s in (train, val, test))
    generator = None
    if config.mode == "selfreg":
        if args.generator is None:
            raise ConfigError("--mode selfreg needs --generator (a folder written by `jaxpelsvae fit-generator`)")
        _check_generator(args.generator, val, test, args.allow_overlap)
        generator = load_generator(args.generator)
        if args.donors is not None:
            from jaxpelsvae.pipeline import check_donors, load_donors

            donors = load_donors(str(args.donors))
            info = check_donors(donors, val, test, args.transductive_donors)
            generator = generator.with_donors(donors, seed=args.seed)
            print(f"synthetic curves observed at the cadences of {info['n_curves']} curves of {args.donors}"
                  + (" (transductive: test stars among them)" if info["transductive"] else ""))
    result = train_classifier(train, val, test, config, generator=generator, workdir=workdir, seed=args.seed,
                              resume=not args.no_resume, progress=not args.no_progress, period_config=period_config,
                              fitted_ids=_model_fitted_ids(train, val, args.generator if generator else None))
    m = result.metrics
    print(f"{config.mode}: best epoch {m['best_epoch']} of {m['epochs']}; test macro-F1 {fmt_metric(m['macro_f1'], 4)}, "
          f"accuracy {fmt_metric(m['accuracy'], 4)}, ROC-AUC ovo {fmt_metric(m['roc_auc_ovo'])}; written to {workdir}")
    _set_forest(workdir / "model", train if args.forest else None, test, args.seed)
    absent = absent_classes_warning(m.get("classes_absent"))
    if absent:
        print(f"warning: {absent}", file=sys.stderr)
    return 0
