"""Simulated surveys of periodic variable stars: physical parameters, light-curve physics,
OGLE-, Gaia-, ASAS-, EROS-, ZTF- and TESS-like cadences and noise or those of real curves (the
project's embedded default dataset)."""
from __future__ import annotations

from jaxpelsvae.simulate.donors import DonorCadences, donor_cadences, load_donor_cadences
from jaxpelsvae.simulate.params import CLASSES, DEFAULT_FRACTIONS, PARAM_COLUMNS, PARAM_UNITS, draw_params
from jaxpelsvae.simulate.survey import SimConfig, default_counts, parse_counts, simulate_survey, write_survey

__all__ = [
    "CLASSES",
    "DEFAULT_FRACTIONS",
    "DonorCadences",
    "PARAM_COLUMNS",
    "PARAM_UNITS",
    "SimConfig",
    "default_counts",
    "donor_cadences",
    "draw_params",
    "load_donor_cadences",
    "parse_counts",
    "simulate_survey",
    "write_survey",
]
