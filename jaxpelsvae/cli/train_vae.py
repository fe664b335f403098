"""`jaxpelsvae train-vae DATA`: fold the curves and train the PELS-VAE, with validation MSE and a loss figure."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "train the PELS-VAE (TCN VAE conditioned on class and physical parameters) on folded curves"
DESCRIPTION = (
    "Read DATA (any supported dataset), reject bad stars (rejected.csv), fold every curve with its "
    "period (meta column `period`; where missing, found by Lomb-Scargle within the star's class "
    "period limits of the packaged prior boxes) onto the fixed two-cycle "
    "600-phase grid, and train the PELS-VAE with a validation split, early stopping and a cosine "
    "learning-rate schedule. Physical parameters (--phys) go to the encoder, min-max scaled; missing "
    "values are filled with the median of the star's class. Writes vae/ (the model, for "
    "`jaxpelsvae fit-generator --vae`), vae_loss.png, vae_summary.json (and periods.csv when periods were "
    "found) into --workdir and prints "
    "the validation reconstruction MSE."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.models.vae import RESIDUAL_INITS
    from jaxpelsvae.models.vae_inputs import DEFAULT_PHYS

    # The options' defaults are the `small` experiment preset's (tested; about a minute on 2 cores
    # for a few hundred stars), not the original's size (--units 48 --levels 9 --dropout 0.2
    # --epochs 150 --batch-size 128 --lr 0.001 --patience 20), which learns class averages from a
    # few hundred curves and takes ten times longer on a CPU.
    small = preset("small")
    vae, opt = small.vae, small.vae_train
    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, ...)")
    parser.add_argument("--split", type=Path, default=None,
                        help="split file from `jaxpelsvae split` (CSV id,part): train on its train part only "
                             "(recommended; without it every star of DATA is fitted and then cannot be tested on)")
    parser.add_argument("--phys", default=",".join(DEFAULT_PHYS),
                        help="comma-separated physical parameters for the encoder (canonical names "
                             f"{', '.join(DEFAULT_PHYS)} accept common column spellings; other names are "
                             "meta columns used as they are); 'none' for no parameters. With the default, "
                             "parameters absent from the data are skipped; named ones must exist")
    parser.add_argument("--units", type=int, default=vae.units, help="TCN width H")
    parser.add_argument("--levels", type=int, default=vae.levels,
                        help="TCN levels (dilation 2^i), >= 3; the encoder must see all 600 phases: "
                             "1 + 2 (kernel - 1) (2^levels - 1) >= 600 (kernel 4: levels >= 7)")
    parser.add_argument("--kernel", type=int, default=vae.kernel_size, help="TCN kernel size")
    parser.add_argument("--latent", type=int, default=vae.latent_dim, help="latent dimensions")
    parser.add_argument("--dropout", type=float, default=vae.dropout, help="dropout rate")
    parser.add_argument("--residual-init", choices=RESIDUAL_INITS, default=vae.residual_init,
                        help="init of the TCN's width-changing residual convolutions: the original's "
                             "N(0, 0.01), or identity (every block starts as an identity map), which learns "
                             "curve shapes in far fewer steps on small data sets")
    parser.add_argument("--beta", type=float, default=vae.beta, help="KL weight (times the original's 1e-4)")
    parser.add_argument("--epochs", type=int, default=opt.epochs, help="maximum epochs")
    parser.add_argument("--batch-size", type=int, default=opt.batch_size, help="batch size")
    parser.add_argument("--lr", type=float, default=opt.lr, help="Adam learning rate (cosine-annealed per epoch)")
    parser.add_argument("--patience", type=int, default=opt.patience, help="early-stopping patience in epochs (0: off)")
    parser.add_argument("--val-fraction", type=float, default=opt.val_fraction, help="fraction of curves for validation")
    add_min_points(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import json
    import time

    import jax

    from jaxpelsvae.cli import load_data
    from jaxpelsvae.errors import ConfigError
    from jaxpelsvae.models.vae import VAEConfig, count_params
    from jaxpelsvae.models.vae_inputs import DEFAULT_PHYS
    from jaxpelsvae.period import period_sources
    from jaxpelsvae.pipeline import fit_vae, fitting_periods
    from jaxpelsvae.train.vae_train import VAETrainConfig, save_vae

    t_start = time.perf_counter()
    workdir, lcs, rejected = load_data(args)
    if args.split is not None:
        from jaxpelsvae.data.split import parts_from_file

        (lcs,) = parts_from_file(lcs, args.split, ("train",), rejected=rejected)
    # Catalogue periods as given, Lomb-Scargle for the rest within each star's class limits of the
    # packaged prior boxes (sparse cadences alias otherwise): the one stage for fitting periods.
    searched = period_sources(lcs) != "catalogue"
    if searched.any():
        print(f"finding periods for {int(searched.sum())} stars without a catalogue one (Lomb-Scargle)")
    lcs, period_info = fitting_periods(lcs, progress=not args.no_progress, source=str(args.data))
    if period_info["n_refolded"]:
        print(f"{period_info['n_refolded']} eclipsing binaries take the most coherent fold among their periodogram's "
              "peaks and doubles")
    n_found = int(searched.sum())
    if n_found:
        import pandas as pd

        pd.DataFrame({"id": lcs.ids, "period": lcs.periods}).to_csv(workdir / "periods.csv", index=False)
        print(f"periods written to {workdir / 'periods.csv'}")

    names = [] if args.phys.strip().lower() in ("", "none") else [p.strip() for p in args.phys.split(",") if p.strip()]
    if len(lcs) < 2:
        raise ConfigError(f"{args.data}: need at least 2 usable stars to train the VAE, got {len(lcs)}")
    config = VAEConfig(latent_dim=args.latent, units=args.units, levels=args.levels, kernel_size=args.kernel,
                       dropout=args.dropout, beta=args.beta, residual_init=args.residual_init)
    train_config = VAETrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
        val_fraction=args.val_fraction, progress=not args.no_progress,
    )
    vae = fit_vae(lcs, config, train_config, seed=args.seed, workdir=workdir, phys_names=names,
                  strict=tuple(names) != DEFAULT_PHYS, source=str(args.data))
    model, config, history, phys = vae.model, vae.config, vae.history, vae.phys
    for name, why in phys.dropped.items():
        print(f"physical parameter {name!r} skipped: {why}")
    for name, count in phys.imputed.items():
        if count:
            print(f"physical parameter {name!r}: {count} missing values filled with the class median")
    model_dir = save_vae(workdir / "vae", model, config, vae.scaler, classes=lcs.classes,
                         extra={"data": str(args.data), "seed": args.seed, "val_mse": history["best_val_mse"],
                                "split": None if args.split is None else str(args.split)},
                         fitted_ids=lcs.ids)
    summary = {
        "data": str(args.data),
        "n_stars": len(lcs),
        "n_rejected": int(len(rejected)),
        "classes": list(lcs.classes),
        "class_counts": lcs.class_counts(),
        "periods_found": n_found,
        "phys": list(phys.names),
        "phys_columns": list(phys.columns),
        "phys_imputed": phys.imputed,
        "phys_skipped": phys.dropped,
        "config": config.to_dict(),
        "train_config": {k: v for k, v in vars(train_config).items()},
        "n_params": count_params(model),
        "n_train": history["n_train"],
        "n_val": history["n_val"],
        "epochs_run": len(history["epoch"]),
        "best_epoch": history["best_epoch"],
        "stopped_early": history["stopped_early"],
        "val_loss": history["best_val_loss"],
        "val_mse": history["best_val_mse"],
        "val_mse_class_mean": history["val_mse_class_mean"],
        "val_mse_mean_curve": history["val_mse_mean_curve"],
        "coherence_mean": history["coherence_mean"],
        "n_incoherent": history["n_incoherent"],
        "history": {k: history[k] for k in ("train_loss", "train_mse", "val_loss", "val_mse", "lr")},
        "model": str(model_dir),
        "figure": str(workdir / "vae_loss.png"),
        "backend": jax.default_backend(),
        "wall_s": time.perf_counter() - t_start,
    }
    (workdir / "vae_summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"validation reconstruction MSE {history['best_val_mse']:.6g} (normalised magnitude, z = mu; "
          f"best epoch {history['best_epoch'] + 1} of {len(history['epoch'])}, {history['n_val']} curves); "
          f"class-average curves give {history['val_mse_class_mean']:.6g}, the mean curve "
          f"{history['val_mse_mean_curve']:.6g}")
    print(f"{history['n_incoherent']} of {history['n_train'] + history['n_val']} folds weighted down as not periodic "
          f"at their period (coherence < 0.5; mean weight {history['coherence_mean']:.2f})")
    print(f"model: {model_dir}; summary: {workdir / 'vae_summary.json'}")
    return 0
