"""`jaxpelsvae fit-generator DATA --vae W`: fit the physics priors, the physics -> latent model and the donor bank."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "fit the synthetic-curve generator (physics priors, physics->latent model, donor cadences) on DATA"
OUT_KIND = "dir"  # --out names a folder
DESCRIPTION = (
    "Read DATA, reject bad stars (rejected.csv), find periods where missing (Lomb-Scargle), fit one "
    "Bayesian Gaussian mixture per class over the physical parameters (one component per prior box of "
    "--priors; missing values imputed per class), encode every curve with the PELS-VAE of --vae, fit the "
    "physics -> latent random forest and JAX conditional network (held-out R^2 and NLL of both; the "
    "better is used with --latent-source prior; by default codes come from the training stars' own "
    "encoder posteriors), and keep the real cadences as reverse-folding donors. Writes --out (default "
    "WORKDIR/generator) for `jaxpelsvae synthesize --generator`, and generator_report.json; with --split, "
    "also the generator's realism report on the val part (realism.json, realism.png in --out)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.synth.generator import LATENT_SOURCES, GeneratorConfig

    gen, latent = GeneratorConfig(), LatentConfig()  # the options' defaults are the configs'
    parser.add_argument("data", type=Path, help="training dataset (standard layout, OGLE .dat, ...)")
    parser.add_argument("--vae", type=Path, required=True,
                        help="PELS-VAE written by `jaxpelsvae train-vae` (its workdir or the vae/ folder in it)")
    parser.add_argument("--split", type=Path, default=None,
                        help="split file from `jaxpelsvae split` (CSV id,part): fit on its train part only, and "
                             "refuse a --vae fitted on its val or test stars (recommended)")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="with --split: go on (with a warning) when the --vae was fitted on val or test stars")
    parser.add_argument("--out", type=Path, default=None, help="generator folder (default WORKDIR/generator)")
    parser.add_argument("--priors", default="default",
                        help="prior boxes (priors.yaml format); 'default' = the original's boxes; 'none' = no boxes")
    parser.add_argument("--truncate", action="store_true", help="restrict sampled parameters to the prior boxes")
    parser.add_argument("--latent-source", choices=LATENT_SOURCES, default=gen.latent_source,
                        help="posterior: codes from the encoder posteriors of training stars of the class, decoded "
                             "with the star's fold detail, period, amplitude and scatter; prior: physics sampled from "
                             "the priors, mapped to codes by the physics->latent model (the original's path)")
    parser.add_argument("--latent-model", choices=("auto", "rf", "mlp"), default=latent.model,
                        help="physics->latent model; auto = better held-out R^2")
    parser.add_argument("--seq-length", type=int, default=gen.seq_length, help="classifier input length L of generated curves (`train` encodes them "
                             "with its own --seq-length)")
    parser.add_argument("--order", choices=("random", "time"), default=gen.order, help="encoding order of (dt, dm) pairs")
    parser.add_argument("--target-snr", type=float, default=gen.target_snr,
                        help="> 0: scale donor errors so amplitude / median error equals this")
    add_min_points(parser)
    parser.add_argument("--donors", type=Path, default=None, metavar="DIR",
                        help="unlabelled curves (e.g. of the survey the classifier is for) whose times and errors "
                             "observe the synthetic curves; labels are never read (default: the training stars)")
    parser.add_argument("--donor-copies", type=int, default=4,
                        help="target cadences drawn for each training donor with --donors")
    parser.add_argument("--realism-per-class", type=int, default=40,
                        help="with --split: synthetic curves per class of the realism report on the split's val "
                             "part (realism.json in the generator folder, as `jaxpelsvae check-generator`); 0: no report")


def _vae_dir(path: Path) -> Path:
    if (path / "vae.json").is_file():
        return path
    if (path / "vae" / "vae.json").is_file():
        return path / "vae"
    raise FileNotFoundError(f"{path}: no PELS-VAE here (expected vae.json or vae/vae.json from `jaxpelsvae train-vae`)")


def _fitted_ids(ids, vae_dir: Path):
    """The generator's stars: those it was fitted on and those its VAE was fitted on (a VAE saved
    without a record makes the generator's record incomplete, which the overlap check reports)."""
    from jaxpelsvae.data.provenance import Fitted, read_provenance

    vae_ids = read_provenance(vae_dir)
    unknown = () if vae_ids is not None else (f"the PELS-VAE {vae_dir}",)
    return Fitted(sorted({*map(str, ids), *(vae_ids or ())}), unknown)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def mixture_line(cls: str, info: dict) -> str:
    """One class's prior mixture as fit-generator prints it (info: the priors report of the class)."""
    imputed = {k: v for k, v in info["imputed"].items() if v}
    return (f"{cls}: {_plural(info['n_fit'], 'star')} in the mixture ({_plural(info['n_components'], 'component')}); "
            f"imputed {imputed or 'none'}")


def run(args: argparse.Namespace) -> int:
    import json

    from jaxpelsvae.cli import load_data
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.physics.priors import PriorConfig
    from jaxpelsvae.synth.fit import fit_generator
    from jaxpelsvae.synth.generator import GeneratorConfig
    from jaxpelsvae.train.vae_train import load_vae

    vae_dir = _vae_dir(Path(args.vae))
    workdir, lcs, rejected = load_data(args)
    if args.realism_per_class == 1 or args.realism_per_class < 0:
        from jaxpelsvae.errors import ConfigError

        raise ConfigError(f"--realism-per-class must be 0 or at least 2, got {args.realism_per_class}")
    if args.split is not None:
        from jaxpelsvae.data.provenance import check_overlap
        from jaxpelsvae.data.split import parts_from_file

        lcs, val, test = parts_from_file(lcs, args.split, ("train", "val", "test"), rejected=rejected)
        for line in check_overlap([*val.ids, *test.ids], {"PELS-VAE": vae_dir}, allow=args.allow_overlap,
                                  tested="val and test stars of the split"):
            print(line)
    donors = None
    if args.donors is not None:
        from jaxpelsvae.pipeline import load_donors

        donors = load_donors(str(args.donors), args.min_points)
        print(f"synthetic curves observed at the cadences of {len(donors)} curves of {args.donors}")
    vae = load_vae(vae_dir)
    priors = None if args.priors.lower() == "none" else args.priors
    gen = fit_generator(
        lcs, vae,
        priors_config=PriorConfig(prior_boxes=priors, truncate=args.truncate),
        latent_config=LatentConfig(model=args.latent_model),
        config=GeneratorConfig(seq_length=args.seq_length, order=args.order, target_snr=args.target_snr,
                               latent_source=args.latent_source),
        seed=args.seed, donors=donors, donor_copies=args.donor_copies,
    )
    out = gen.save(args.out if args.out is not None else workdir / "generator",
                   fitted_ids=_fitted_ids(lcs.ids, vae_dir))
    rep = gen.report
    (workdir / "generator_report.json").write_text(json.dumps(rep, indent=2, default=str))
    for cls, info in rep["priors"]["per_class"].items():
        print(mixture_line(cls, info))
    r2, nll = rep["latent_r2_heldout"], rep["latent_nll_heldout"]
    used = ("codes from the training stars' posteriors (latent source posterior)" if rep["latent_source"] == "posterior"
            else f"using {rep['chosen']}")
    print(f"physics->latent held-out R^2: rf {r2['rf']:.3f}, mlp {r2['mlp']:.3f}; NLL rf {nll['rf']:.3f}, "
          f"mlp {nll['mlp']:.3f}; {used}")
    within = {c: v for c, v in rep["latent_r2_within_class"].items() if v is not None}
    if within:
        print("  within a class, physics vs the class alone (held-out R^2): " + ", ".join(
            f"{c} {max(v['rf'], v['mlp']):.2f} vs {v['class_mean']:.2f}" for c, v in within.items()))
    print(f"VAE reconstruction MSE {rep['vae_recon_mse']:.5g}; generator: {out}")
    if args.split is not None and args.realism_per_class > 0:
        from jaxpelsvae.cli.check_generator import write_realism
        from jaxpelsvae.errors import JaxPelsVaeError

        try:  # judged on the val part: stars neither the generator nor (checked above) its VAE saw
            write_realism(gen, val, out, per_class=args.realism_per_class, seed=args.seed, train=lcs)
        except JaxPelsVaeError as err:  # the generator is saved: a report that cannot be made is a note
            print(f"note: no realism report: {err}")
    return 0
