"""Synthetic light curves: reverse folding of decoded templates onto real cadences, and the jitted generator."""
from __future__ import annotations

from jaxpelsvae.synth.fit import complete_periods, fit_generator, vae_latents
from jaxpelsvae.synth.generator import Generator, GeneratorConfig, SynthBatch, load_generator, slot_labels
from jaxpelsvae.synth.reverse_fold import (
    DonorBank,
    SynthCurves,
    build_donor_bank,
    fold_phase,
    reverse_fold,
    select_donor,
    synthesize_batch,
    synthesize_one,
)

__all__ = [
    "DonorBank",
    "Generator",
    "GeneratorConfig",
    "SynthBatch",
    "SynthCurves",
    "build_donor_bank",
    "complete_periods",
    "fit_generator",
    "fold_phase",
    "load_generator",
    "reverse_fold",
    "select_donor",
    "slot_labels",
    "synthesize_batch",
    "synthesize_one",
    "vae_latents",
]
