"""An experiment's generator stage: the PELS-VAE and the generator fitted on the training set, and their realism report on the validation set."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from jaxpelsvae import seeds
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.experiments.config import ExperimentConfig
from jaxpelsvae.experiments.log import Log
from jaxpelsvae.pipeline import load_donors, stratified_subsample
from jaxpelsvae.train.classifier import resolve_synthetic_periods


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

    progress, log = config.progress, Log(config.progress)
    t0 = time.perf_counter()
    # for fitting only (a local copy): Lomb-Scargle periods searched again within each class's limits
    pool, period_info = fitting_periods(pool, priors=config.priors, period=config.period, drop_missing=True,
                                        progress=progress)
    vae_pool = stratified_subsample(pool, config.vae_max_stars, seed, seeds.VAE_SUBSAMPLE_STREAM)
    log(f"training the PELS-VAE on {len(vae_pool)} folded curves")
    vae = fit_vae(vae_pool, config.vae, dataclasses.replace(config.vae_train, progress=progress), seed=seed,
                  workdir=workdir / "vae")
    history, phys = vae.history, vae.phys
    save_vae(workdir / "vae" / "model", vae.model, vae.config, vae.scaler, classes=vae.classes,
             extra={"seed": int(seed), "val_mse": history["best_val_mse"]}, fitted_ids=vae_pool.ids)
    t_vae = time.perf_counter()
    log(f"VAE (physics: {', '.join(phys.names) or 'none'}): validation reconstruction MSE "
        f"{history['best_val_mse']:.4g} (best epoch {history['best_epoch']}); fitting the generator")
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
        "periods_refolded": period_info["n_refolded"],  # eclipsing binaries at their most coherent fold
        "vae_seconds": t_vae - t0,
        "generator_seconds": time.perf_counter() - t_vae,
    }
    return generator, quality


def realism(generator, val_set: LightCurveSet, train_set: LightCurveSet, config: ExperimentConfig, seed: int):
    """(the realism report of the generator on the validation set, its RealismSets for the figure);
    the validation stars were never seen by the generator, and the report only reports (it picks
    nothing). `synthetic_samples_by_class` curves per class in the loop's capacity
    (`synthetic_capacity`), so the loop reuses the generation program compiled here when it draws
    one curve per template (with `--donors`, at the training stars' own cadences: `realism_report`).
    A report that cannot be made is recorded as {"error": ...}: it must not fail the experiment."""
    from jaxpelsvae.synth.realism import realism_lines, realism_report

    try:
        # Periods as the classifier folds the curves: searched on both sets, or, where every
        # training star has a catalogue period, the real stars' and the sampled ones.
        periods = "given" if resolve_synthetic_periods(config.train, train_set) == "true" else "found"
        report, sets = realism_report(generator, val_set, per_class=config.regulator.synthetic_samples_by_class,
                                      seed=seed, period_config=config.period, periods=periods, return_sets=True,
                                      capacity=synthetic_capacity(config, len(generator.classes)), train=train_set)
        Log(config.progress)(realism_lines(report)[0])
        return report, sets
    except Exception as err:  # noqa: BLE001 -- a report of the generator must not fail the experiment
        print(f"warning: no realism report of the generator: {type(err).__name__}: {err}", file=sys.stderr)
        return {"error": f"{type(err).__name__}: {err}"}, None


def synthetic_capacity(config: ExperimentConfig, num_classes: int) -> int:
    """Template slots of the self-regulated loop's generation program (`policies.max_synthetic_total`):
    the realism report and the figures generate in the same slots, so that the three share one
    compiled program (XLA:CPU takes seconds per compilation) where the loop draws one curve per template."""
    from jaxpelsvae.selfreg.policies import max_synthetic_total

    return max_synthetic_total(config.regulator, num_classes)
