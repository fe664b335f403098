"""Synthetic curves near the training stars the classifier needs: each star's need from its margin, and the generator's star weights.

The regulator's counts say how many synthetic curves each class gets; with
``RegulatorConfig.focus`` > 0 the stars those curves are drawn from (a posterior-mode generator
draws a training star of the class, then a code from that star's encoder posterior) are no longer
equally likely. A star's need is (1 − margin) / 2, margin = p(true class) − max p(other class) of
the classifier at the end of the epoch that asked for the new set: 0 for a star it gets right with
certainty, 1/2 at a tie, 1 for one it gets wrong with certainty. The star's odds are 1 + focus × need.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jaxpelsvae.errors import ConfigError


def star_need(prob_NK: np.ndarray, y_N: np.ndarray) -> np.ndarray:
    """(N,) need in [0, 1] of each star, (1 − margin) / 2 with margin = p(true) − max p(other)."""
    prob = np.asarray(prob_NK, np.float64)
    y = np.asarray(y_N, np.int64)
    rows = np.arange(len(y))
    true = prob[rows, y]
    other = np.where(np.eye(prob.shape[1], dtype=bool)[y], -np.inf, prob).max(axis=1)
    return np.clip((1.0 - (true - other)) / 2.0, 0.0, 1.0)


def focus_weights(generator, train_ids, need_N, focus: float) -> np.ndarray:
    """(S,) odds of each star of the generator's bank: 1 + focus × need for the training stars
    (``train_ids``, in the order of ``need_N``), 1 for bank stars the run does not train on (a
    generator fitted on more stars than the classifier's set, e.g. before the quality cuts).
    ConfigError for a generator without a bank of identified stars (the prior mode)."""
    bank_ids = getattr(generator, "star_ids", None)
    if getattr(generator, "stars", None) is None or bank_ids is None:
        raise ConfigError("regulator focus > 0 needs a posterior-mode generator that records its stars' ids "
                          "(GeneratorConfig.latent_source='posterior'); refit the generator or set focus=0")
    if train_ids is None:
        raise ConfigError("regulator focus > 0 needs the ids of the training stars (pass the training LightCurveSet)")
    need = np.asarray(need_N, np.float64)
    if len(need) != len(train_ids):
        raise ConfigError(f"focus: {len(need)} needs for {len(train_ids)} training stars")
    where = pd.Index(np.asarray(bank_ids, str)).get_indexer(np.asarray(train_ids, str))
    weights = np.ones(len(bank_ids), np.float64)
    known = where >= 0
    weights[where[known]] = 1.0 + float(focus) * need[known]
    return weights
