"""Self-regulated training: policy state and pure policies, and the epoch loop.

The loop module imports JAX and the models lazily, so the policies can be used on their own.
`RegulatorConfig` (`train.regulator_config`) and `classification_metrics` (`train.metrics`) live
below this package, so that baseline training needs none of it; they are re-exported here.
"""
from __future__ import annotations

from jaxpelsvae.train.metrics import classification_metrics
from jaxpelsvae.selfreg.policies import (
    Actions,
    EpochReport,
    after_generation,
    init,
    rank_classes,
    should_regenerate,
    synthetic_counts,
    temperature,
    update,
)
from jaxpelsvae.selfreg.state import RANKING_METHODS, RegulatorConfig, RegulatorState

__all__ = [
    "RANKING_METHODS",
    "Actions",
    "EpochReport",
    "RegulatorConfig",
    "RegulatorState",
    "after_generation",
    "classification_metrics",
    "init",
    "rank_classes",
    "should_regenerate",
    "synthetic_counts",
    "temperature",
    "update",
]
