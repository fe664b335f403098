"""Physical parameters: per-class Bayesian Gaussian-mixture priors (tempered sampling) and the physics -> latent models."""
from __future__ import annotations

from jaxpelsvae.physics.latent import LatentConfig, LatentModel, fit_latent, mlp_gaussian, mlp_sample
from jaxpelsvae.physics.priors import (
    PhysPriors,
    PriorArrays,
    PriorConfig,
    fit_priors,
    mixture_logpdf,
    physics_table,
    read_prior_boxes,
    sample_one,
    sample_physics,
)

__all__ = [
    "LatentConfig",
    "LatentModel",
    "PhysPriors",
    "PriorArrays",
    "PriorConfig",
    "fit_latent",
    "fit_priors",
    "mixture_logpdf",
    "mlp_gaussian",
    "mlp_sample",
    "physics_table",
    "read_prior_boxes",
    "sample_one",
    "sample_physics",
]
