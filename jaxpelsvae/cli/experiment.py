"""`jaxpelsvae experiment DATA [--test DATA2]`: the full protocol on a dataset, with report.json/.md and figures."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the full protocol (split, VAE, generator, baseline and self-regulated runs over seeds) and write a report"
DESCRIPTION = (
    "Read and validate DATA (rejected stars go to rejected.csv), find periods where missing, split it "
    "into a training pool and a shifted test pool (hardness bias by default; or train on DATA and test "
    "on --test DATA2), split the training pool into train and validation parts, train the PELS-VAE and "
    "fit the generator on the train part, then train the classifier in baseline and self-regulated "
    "mode over --seeds seeds. Writes report.json, report.md and figures/ into "
    "--workdir. Settings come from --preset, then --config (a Python file with get_config() or a JSON "
    "file), then the options given here."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, Gaia epoch photometry, .npy.gz)")
    parser.add_argument("--test", type=Path, default=None, help="second dataset to test on (cross-dataset evaluation)")
    parser.add_argument("--classes", default=None, metavar="NAME[,NAME...]",
                        help="train and test on these classes only (e.g. the classes a --test survey has); "
                             "stars of other classes are left out and counted in the report (default: all)")
    parser.add_argument("--preset", choices=("tiny", "small", "paper"), default="small", help="starting settings")
    parser.add_argument("--config", type=Path, default=None,
                        help="experiment config: a .py file with get_config() or a .json file (applied after --preset)")
    parser.add_argument("--seeds", type=int, default=None, help="repetitions per mode (default: the preset's)")
    parser.add_argument("--modes", default=None, help="comma-separated training modes (baseline,selfreg) (default: the preset's)")
    parser.add_argument("--scenario", choices=("hardness", "random", "snr", "seq_length"), default=None,
                        help="data-shift scenario (ignored with --test); snr and seq_length are the hardness split "
                             "with --quality-cuts (--snr-threshold, --seq-length) (default: the preset's)")
    parser.add_argument("--temperature", type=float, default=None, help="hardness-bias temperature T (Bias 2: 3) (default: the preset's)")
    parser.add_argument("--in-sample-hardness", action=argparse.BooleanOptionalAction, default=None,
                        help="hardness from in-sample forest probabilities (the paper) instead of out-of-fold (default: the preset's)")
    parser.add_argument("--hardness-target", default=None, metavar="CLASS",
                        help="hardness from a forest that tells CLASS from the rest (Bias 1 of the paper's SNR "
                             "sweep: RRLYR with --temperature 4) (default: every class against every other)")
    parser.add_argument("--snr-threshold", type=float, default=None, help="SNR threshold of the original cuts (default: the preset's)")
    parser.add_argument("--seq-length", type=int, default=None, help="L, (Δt, Δm) pairs per curve (default: chosen from the data)")
    parser.add_argument("--quality-cuts", action=argparse.BooleanOptionalAction, default=None,
                        help="apply the original quality cuts (> L points, SNR > threshold) to the training pool (default: the preset's)")
    parser.add_argument("--quality-cuts-test", action=argparse.BooleanOptionalAction, default=None,
                        help="apply the same cuts to the test pool, as the original (default: the preset's)")
    parser.add_argument("--generator-before-cuts", action=argparse.BooleanOptionalAction, default=None,
                        help="fit the VAE and generator on the train part before the quality cuts (train stars "
                             "only), as the original fitted its VAE on a broader set (default: the preset's)")
    parser.add_argument("--sample-size", type=int, default=None, help="stratified subsample of the training pool (default: the preset's)")
    parser.add_argument("--redraw-per-seed", action=argparse.BooleanOptionalAction, default=None,
                        help="each seed draws its own training subsample and (Δt, Δm) pairs, as the original (default: the preset's)")
    parser.add_argument("--regulator", action="append", default=None, metavar="KEY=VALUE",
                        help="a self-regulation setting (RegulatorConfig field, e.g. decay_parameter_2=0.46, "
                             "threshold_acc_synthetic=0.8, scaling_factor=0.5, beta_initial=1.0); repeatable")
    parser.add_argument("--max-stars", type=int, default=None, help="stratified cap on the dataset before splitting (default: the preset's)")
    parser.add_argument("--epochs", type=int, default=None, help="classifier epochs at most (default: the preset's)")
    parser.add_argument("--period-prior", type=float, default=None,
                        help="prior of the label-free period search, density f^-X per unit frequency "
                             "(PeriodConfig.period_prior; 1 = log-uniform in period, 0 = plain Lomb-Scargle) "
                             "(default: the preset's)")
    parser.add_argument("--vae-epochs", type=int, default=None, help="VAE epochs at most (default: the preset's)")
    parser.add_argument("--ranking", default=None, help="ranking policy (CCR, max_confusion, proportion, max_pairwise_confusion, no_priority) (default: the preset's)")
    parser.add_argument("--loss", default=None, help="classifier loss (focal, cross_entropy, nll, unweighted_cross_entropy) (default: the preset's)")
    parser.add_argument("--vmap-seeds", action=argparse.BooleanOptionalAction, default=None,
                        help="train the seeds of each classifier and mode together as one vmapped program, where "
                             "their training views are fixed (no --augment) (default: the preset's)")
    parser.add_argument("--resample-pairs", action=argparse.BooleanOptionalAction, default=None,
                        help="draw fresh (Δt, Δm) pairs of every training curve each epoch (default: the preset's)")
    parser.add_argument("--classifier", default=None, metavar="NAME[,NAME...]",
                        help="registered classifiers (view + backbone) to train, the first is the main one: "
                             "cnn (the original, on (Δt, Δm) pairs), folded, hybrid, multifold (default: the preset's)")
    parser.add_argument("--init-model", default=None,
                        help="start the runs of the classifier a saved model holds from its weights (a fine-tune): a "
                             "model folder, or 'pretrained' for the shipped one (same classifier, sizes and classes)")
    parser.add_argument("--forest", action=argparse.BooleanOptionalAction, default=None,
                        help="also score each period-aware run's network together with a nine-feature random forest "
                             "of the same training stars (report entries <classifier>+forest; saved beside the "
                             "run's model, so predict uses both) (default: the preset's)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="draw augmented training views every epoch (period-aware classifiers) (default: the preset's)")
    parser.add_argument("--synthetic-periods", choices=("auto", "found", "true"), default=None,
                        help="period a synthetic curve is folded at: found by the same label-free search as real "
                             "curves, the true sampled one, or auto: true when every training star has a catalogue "
                             "period, else found (default: the preset's)")
    parser.add_argument("--donors", default=None, metavar="DIR",
                        help="unlabelled curves (e.g. of the survey the classifier is for) whose times and errors "
                             "observe the synthetic curves; their labels are never read (default: training stars)")
    parser.add_argument("--transductive-donors", action="store_true",
                        help="allow donors among the test stars (the test survey's own cadences: transductive)")
    parser.add_argument("--no-resume", action="store_true",
                        help="start every classifier run afresh instead of continuing from its checkpoint in --workdir")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def config_from_args(args):
    """(ExperimentConfig, Sweep or None) from --preset, --config and the explicit options (the
    options change the base of a sweep)."""
    from jaxpelsvae.data.shift import CUT_SCENARIOS
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.config_files import Sweep, load_config

    cfg = preset(args.preset)
    sweep = None
    if args.config is not None:
        loaded = load_config(args.config, base=cfg)
        if isinstance(loaded, Sweep):
            sweep = loaded
            cfg = (loaded.base or cfg).replace(**dict(loaded.changes))
            sweep = Sweep(loaded.name, loaded.setting, loaded.values, None, loaded.description)
        else:
            cfg = loaded
    changes = {
        "classes": args.classes, "seeds": args.seeds, "seq_length": args.seq_length, "quality_cuts": args.quality_cuts,
        "snr_threshold": args.snr_threshold, "sample_size": args.sample_size, "max_stars": args.max_stars,
        "regulator.epochs": args.epochs, "vae_train.epochs": args.vae_epochs, "period.period_prior": args.period_prior, "regulator.ranking_method": args.ranking,
        "train.loss": args.loss, "vmap_seeds": args.vmap_seeds, "resample_pairs": args.resample_pairs,
        "quality_cuts_test": args.quality_cuts_test, "redraw_per_seed": args.redraw_per_seed,
        "generator_before_cuts": args.generator_before_cuts,
        "classifier": args.classifier, "augment": args.augment, "forest": args.forest, "train.synthetic_periods": args.synthetic_periods,
        "donors": str(args.donors) if args.donors else None, "init_model": args.init_model,
        "transductive_donors": True if args.transductive_donors else None,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    changes.update({f"regulator.{k}": v for k, v in _key_values(args.regulator or []).items()})
    if args.modes:
        changes["modes"] = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    shift = {"scenario": args.scenario, "temperature": args.temperature, "in_sample": args.in_sample_hardness,
             "hardness_target": args.hardness_target}
    if args.scenario in CUT_SCENARIOS:  # one route for the cuts: the quality_cuts setting
        shift["scenario"] = "hardness"
        changes["quality_cuts"] = True
    changes.update({f"shift.{k}": v for k, v in shift.items() if v is not None})
    if args.no_figures:
        changes["figures"] = False
    if args.quiet:
        changes["progress"] = False
    return cfg.replace(**changes), sweep


def _key_values(items: list[str]) -> dict:
    """{key: value} from KEY=VALUE strings; values are read as JSON (numbers, lists), else kept as text."""
    import json

    from jaxpelsvae.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--regulator expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run(args) -> int:
    from jaxpelsvae.experiments.config_files import run_sweep
    from jaxpelsvae.experiments.report import summary_table
    from jaxpelsvae.experiments.runner import run_experiment

    cfg, sweep = config_from_args(args)
    if sweep is not None:
        out = run_sweep(args.data, sweep, cfg, args.workdir, seed=args.seed, test_data=args.test,
                        resume=not args.no_resume)
        print()
        print(out["table"])
        print(f"\nsweep: {args.workdir.absolute() / 'sweep.md'}")
        return 0
    result = run_experiment(args.data, cfg, args.workdir, seed=args.seed, test_data=args.test,
                            resume=not args.no_resume)
    print()
    print(summary_table(result.report))
    print(f"\nreport: {result.workdir / 'report.md'} (and report.json, figures/)")
    return 0
