"""The hybrid view: the folded view and the scale-free pair view of one curve, side by side."""
from __future__ import annotations

import dataclasses

import jax

from jaxpelsvae.views.folded import FoldedViewConfig, folded_view
from jaxpelsvae.views.pairs import PairsViewConfig, scaled_pairs_view


@dataclasses.dataclass(frozen=True)
class HybridViewConfig:
    """Static settings: one for each part."""

    folded: FoldedViewConfig = FoldedViewConfig()
    pairs: PairsViewConfig = PairsViewConfig()


def hybrid_view(time_T, mag_T, err_T, mask_T, period, key, *, config: HybridViewConfig = HybridViewConfig()):
    """{"folded", "scalars"} of `folded_view` plus {"pairs", "valid"} of `scaled_pairs_view` for ONE curve."""
    k_fold, k_pairs = jax.random.split(key)
    out = folded_view(time_T, mag_T, err_T, mask_T, period, k_fold, config=config.folded)
    out.update(scaled_pairs_view(time_T, mag_T, err_T, mask_T, period, k_pairs, config=config.pairs))
    return out
