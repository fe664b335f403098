"""Fixtures of the self-regulation tests: a tiny simulated survey split three ways, a generator fitted on its training part, and a tiny CNN's self-regulated settings."""
from __future__ import annotations

import pytest

L = 32  # the (Δt, Δm) pairs of the tests' CNN and of the generator's encoding
COUNTS = {"CEP": 10, "DSCT": 10, "ECL": 10, "LPV": 10, "RRLYR": 10}


@pytest.fixture(scope="module")
def survey():
    from jaxpelsvae.simulate.survey import simulate_survey

    lcs = simulate_survey(COUNTS, cadence="gaia", seed=3)
    return lcs.split((0.6, 0.2, 0.2), seed=0)


@pytest.fixture(scope="module")
def real_generator(survey, make_tiny_generator):
    """The project's generator fitted on the training split, with a tiny untrained VAE (fast)."""
    return make_tiny_generator(survey[0], seq_length=L)


@pytest.fixture(scope="module")
def config():
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.train.classifier import TrainConfig

    reg = RegulatorConfig(ranking_method="CCR", synthetic_samples_by_class=6, max_synthetic_age=2,
                          threshold_acc_synthetic=0.99, epochs=4, patience=10, n_oversampling=1)
    return TrainConfig(mode="selfreg", seq_length=L, layers=2, learning_rate=3e-3, batch_size=16,
                       synthetic_batch_size=16, eval_batch_size=64, regulator=reg)
