"""Fitting the generator from real curves and a trained PELS-VAE: priors, physics -> latent model, donor bank, report.

Shape suffixes: see `jaxpelsvae` (package docstring). T counts the 600 template phases.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.physics.latent import LatentConfig, fit_latent
from jaxpelsvae.physics.priors import PriorConfig, class_period_limits, fit_priors, physics_table
from jaxpelsvae.synth.generator import Generator, GeneratorConfig
from jaxpelsvae.synth.reverse_fold import build_donor_bank, donor_ids
from jaxpelsvae.synth.stars import build_star_bank, median_errors


def complete_periods(lcs, periods=None, *, class_limits: dict | None = None,
                     margin: float | None = None) -> tuple[np.ndarray, int]:
    """Periods (N,) [d] for fitting on training stars, through the one filler `period.fill_periods`.

    `periods` (N,), where valid, are used as given; without them catalogue periods in meta are.
    Every other star is searched with Lomb-Scargle, a star of a class listed in `class_limits`
    ({class: (min_period, max_period)} days, e.g. `physics.priors.class_period_limits`) only within
    its limits widened by `margin` (default `period.CLASS_LIMIT_MARGIN`), also when meta holds a
    label-free Lomb-Scargle period for it (`period_source` lomb_scargle). For fitting only: a
    classifier's inputs must not use these class-limited periods.
    Returns (periods, number searched). Raises DataError when some star has none.
    """
    from jaxpelsvae.period import CLASS_LIMIT_MARGIN
    from jaxpelsvae.period.fill import CATALOGUE, fill_for_fitting

    if periods is not None:
        given = np.array(periods, np.float64, copy=True).reshape(-1)
        ok = np.isfinite(given) & (given > 0)
        lcs = lcs.with_meta(lcs.meta.assign(period=given, period_source=np.where(ok, CATALOGUE, ""))).with_classes(
            lcs.classes)
    filled, info = fill_for_fitting(lcs, class_limits or {}, margin=CLASS_LIMIT_MARGIN if margin is None else margin)
    return filled.periods, info["n_searched"]


def vae_latents(model, x_NT3, onehot_NK, phys_NP, *, batch: int = 256):
    """Encoder means mu (N, Z) and per-star reconstruction MSE (N,) with z = mu (evaluation mode)."""
    mu, _, xhat = vae_posteriors(model, x_NT3, onehot_NK, phys_NP, batch=batch)
    return mu, np.mean((xhat - x_NT3[..., 1]) ** 2, axis=-1)


def vae_posteriors(model, x_NT3, onehot_NK, phys_NP, *, batch: int = 256):
    """Encoder posteriors (mu (N, Z), logvar (N, Z)) and the reconstructions (N, T) decoded from
    z = mu (evaluation mode)."""
    from flax import nnx

    graphdef, state = nnx.split(model)

    @jax.jit
    def fwd(state, x, oh, pp):
        m = nnx.merge(graphdef, state)
        mu, logvar = m.encode(x, oh, pp)
        xhat = m.decode(mu, oh, x[..., 0], pp)
        return mu, logvar, xhat

    n = len(x_NT3)
    bs = int(min(batch, max(n, 1)))
    parts = []
    for a in range(0, n, bs):  # fixed batch shape (last one padded): one compilation
        idx = np.arange(a, a + bs) % n
        out = fwd(state, jnp.asarray(x_NT3[idx]), jnp.asarray(onehot_NK[idx]), jnp.asarray(phys_NP[idx]))
        parts.append([np.asarray(o)[: min(bs, n - a)] for o in out])
    return tuple(np.concatenate(p) for p in zip(*parts))


def vae_inputs_for(lcs, vae, periods, *, with_templates: bool = False):
    """(x_NT3, onehot_NK, phys_NP scaled) for the VAE from curves + periods, as train-vae builds them
    (with_templates: and the `data.template.Templates` x was made from, as a fourth item)."""
    from jaxpelsvae.data.fold import vae_input
    from jaxpelsvae.data.template import fold_templates
    from jaxpelsvae.models.vae_inputs import physical_parameters

    vae_classes = tuple(vae.classes) or tuple(lcs.classes)
    missing = [c for c in lcs.classes if c not in vae_classes]
    if missing:
        raise ConfigError(f"classes {missing} of the data are not among the VAE's classes {vae_classes}")
    to_vae = np.array([vae_classes.index(c) for c in lcs.classes])
    onehot = np.eye(vae.config.num_classes, dtype=np.float32)[to_vae[lcs.labels]]
    templates = fold_templates(lcs, periods)
    x = vae_input(templates.folded)
    if vae.config.phys_dim:
        if vae.scaler is None:
            raise ConfigError("the VAE uses physical parameters but was saved without its scaler")
        phys = physical_parameters(lcs.meta, lcs.labels, vae.scaler.names, periods_N=periods)
        pp = vae.scaler.transform(phys.values)
    else:
        pp = np.zeros((len(lcs), 0), np.float32)
    if with_templates:
        return x, onehot, pp.astype(np.float32), templates
    return x, onehot, pp.astype(np.float32)


def fit_generator(
    lcs,
    vae,
    *,
    periods=None,
    priors_config: PriorConfig = PriorConfig(),
    latent_config: LatentConfig = LatentConfig(),
    config: GeneratorConfig = GeneratorConfig(),
    seed: int = 0,
    donors=None,
    donor_copies: int = 4,
) -> Generator:
    """Fit priors, the physics -> latent model and the donor bank from training curves `lcs`.

    vae: a `jaxpelsvae.train.vae_train.LoadedVAE` (model, config, scaler, classes). periods: (N,) days
    (default: catalogue periods in meta, Lomb-Scargle for the rest, searched within each class's
    period limits of the prior boxes widened by `period.CLASS_LIMIT_MARGIN`; see `complete_periods`). The report (Generator.report) holds
    latent_r2_heldout {rf, mlp}, latent_nll_heldout, vae_recon_mse (encoder mean decoded, over all
    given curves, normalised magnitude), chosen, priors (per-class counts and imputations), donors
    per class, timings.
    donors: unlabelled curves (a LightCurveSet) of the survey the classifier is meant for: synthetic
    curves are then observed at their times and with their errors (`Generator.with_donors`, each
    training donor ``donor_copies`` times; its `own_cadences` is the same generator at the training
    stars' cadences); None uses the training stars' own cadences.
    """
    t0 = time.perf_counter()
    if not lcs.classes or len(lcs) == 0:
        raise DataError("fit_generator: the training set is empty or unlabelled")
    periods, n_found = complete_periods(lcs, periods, class_limits=class_period_limits(priors_config))
    meta = lcs.meta.copy()
    meta["period"] = periods
    priors = fit_priors(meta, tuple(lcs.classes), priors_config)
    t_priors = time.perf_counter()

    x, onehot, pp, templates = vae_inputs_for(lcs, vae, periods, with_templates=True)
    mu, logvar, xhat = vae_posteriors(vae.model, x, onehot, pp)
    mse = np.mean((xhat - x[..., 1]) ** 2, axis=-1)
    t_vae = time.perf_counter()

    labels = np.asarray(lcs.labels)
    phys = priors.impute(physics_table(meta, priors.config.params, priors.config.log10_params), labels)
    latent = fit_latent(phys, labels, mu, len(lcs.classes), dataclasses_replace_seed(latent_config, seed))
    t_latent = time.perf_counter()

    bank = build_donor_bank(lcs, periods, max_len=config.donor_max_len, seed=seed, templates=templates)
    ids = donor_ids(lcs, periods)
    donor_info = {"source": "training stars", "n_curves": int(len(bank.label_D))}
    # each training star's own bank row, so that it never donates the cadence of its own curve
    rows = {star_id: d for d, star_id in enumerate(ids)}
    stars = build_star_bank(mu, logvar, labels, phys, templates, [rows.get(i, -1) for i in lcs.ids],
                            detail_SG=x[..., 1] - xhat, err_S=median_errors(lcs))
    counts = np.bincount(bank.label_D, minlength=len(lcs.classes))
    report = {
        "latent_r2_heldout": latent.report["latent_r2_heldout"],
        # physics -> latent against the class alone, per class: why the posterior mode is the default
        "latent_r2_within_class": {lcs.classes[k]: v for k, v in latent.report["latent_r2_within_class"].items()},
        "latent_source": config.latent_source,
        "templates": _template_report(templates, labels, lcs.classes),
        "latent_nll_heldout": latent.report["latent_nll_heldout"],
        "vae_recon_mse": float(np.mean(mse)),
        "chosen": latent.kind,
        "n_stars": len(lcs),
        "periods_found": n_found,
        "latent": latent.report,
        "priors": priors.report,
        "donors_per_class": {c: int(n) for c, n in zip(lcs.classes, counts)},
        "donors": donor_info,
        "seconds": {"priors": t_priors - t0, "vae_encode": t_vae - t_priors, "latent": t_latent - t_vae,
                    "total": time.perf_counter() - t0},
    }
    own = Generator(priors, latent, vae.model, tuple(vae.classes) or tuple(lcs.classes), bank, config,
                    vae_scaler=vae.scaler, report=report, donor_ids=ids, stars=stars, star_ids=lcs.ids)
    return own if donors is None else own.with_donors(donors, copies=donor_copies, seed=seed)


def _template_report(templates, labels, classes) -> dict:
    """Per class: stars, how many folds the VAE weighted down (coherence < 0.5), median red and white
    scatter [mag]."""
    from jaxpelsvae.train.vae_train import INCOHERENT

    out = {}
    for k, c in enumerate(classes):
        rows = labels == k
        if rows.any():
            out[c] = {"n": int(rows.sum()), "n_incoherent": int((templates.coherence[rows] < INCOHERENT).sum()),
                      "red_sigma_median": float(np.median(templates.red_sigma[rows])),
                      "white_sigma_median": float(np.median(templates.white_sigma[rows]))}
    return out


def dataclasses_replace_seed(config: LatentConfig, seed: int) -> LatentConfig:
    """The latent config with its seed offset by the run's seed (seed 0 keeps the config's own)."""
    import dataclasses

    return dataclasses.replace(config, seed=config.seed + seed) if seed else config
