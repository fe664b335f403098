"""Classifier views (pure per-curve functions from a padded curve and its period to a model input) and their registry."""
from __future__ import annotations

from jaxpelsvae.views.folded import FoldedViewConfig, folded_view
from jaxpelsvae.views.hybrid import HybridViewConfig, hybrid_view
from jaxpelsvae.views.multifold import MultiFoldViewConfig, multifold_view
from jaxpelsvae.views.pairs import PairsViewConfig, pairs_view, scaled_pairs_view
from jaxpelsvae.views.registry import Classifier, build_backbone, get, names, register, view_batch, view_config

__all__ = [
    "Classifier",
    "FoldedViewConfig",
    "HybridViewConfig",
    "MultiFoldViewConfig",
    "PairsViewConfig",
    "build_backbone",
    "folded_view",
    "get",
    "hybrid_view",
    "multifold_view",
    "names",
    "pairs_view",
    "register",
    "scaled_pairs_view",
    "view_batch",
    "view_config",
]
