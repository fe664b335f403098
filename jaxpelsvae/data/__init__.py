"""Light-curve data layer: container, readers, validation, classifier encoding and VAE folding."""
from __future__ import annotations

from jaxpelsvae.data.encode import encode_batch, encode_curve, encode_set
from jaxpelsvae.data.fold import (
    PHASE_GRID,
    PHASE_GRID_VAE,
    Folded,
    fold_batch,
    fold_curve,
    fold_phased_batch,
    fold_phased_curve,
    fold_set,
    phase_to_vae_time,
    unnormalise,
    vae_input,
)
from jaxpelsvae.data.lightcurves import LightCurveSet, PaddedCurves
from jaxpelsvae.data.template import Templates, fold_for_vae, fold_templates
from jaxpelsvae.data.readers import (
    load_dataset,
    read_dataset,
    read_gaia_epoch,
    read_ogle_dat,
    read_pelsvae_npy_gz,
    read_standard,
    write_standard,
)
from jaxpelsvae.data.validate import DataConfig, original_cuts, rejection_summary, validate, write_rejected

__all__ = [
    "DataConfig",
    "Folded",
    "LightCurveSet",
    "PHASE_GRID",
    "PHASE_GRID_VAE",
    "PaddedCurves",
    "encode_batch",
    "encode_curve",
    "encode_set",
    "fold_batch",
    "fold_curve",
    "fold_for_vae",
    "fold_templates",
    "Templates",
    "fold_phased_batch",
    "fold_phased_curve",
    "fold_set",
    "load_dataset",
    "original_cuts",
    "phase_to_vae_time",
    "read_dataset",
    "read_gaia_epoch",
    "read_ogle_dat",
    "read_pelsvae_npy_gz",
    "read_standard",
    "rejection_summary",
    "unnormalise",
    "vae_input",
    "validate",
    "write_rejected",
    "write_standard",
]
