"""Simulated surveys of periodic variable stars: physical parameters, light-curve physics,
OGLE-, Gaia-, ASAS-, EROS-, ZTF- and TESS-like cadences and noise or those of real curves (the
project's embedded default dataset)."""
from __future__ import annotations

from jaxpelsvae.simulate.params import CLASSES, DEFAULT_FRACTIONS, PARAM_COLUMNS, PARAM_UNITS, draw_params
from jaxpelsvae.simulate.survey import SimConfig, default_counts, parse_counts, simulate_survey, write_survey

__all__ = [
    "CLASSES",
    "DEFAULT_FRACTIONS",
    "PARAM_COLUMNS",
    "PARAM_UNITS",
    "SimConfig",
    "default_counts",
    "draw_params",
    "parse_counts",
    "simulate_survey",
    "write_survey",
]
