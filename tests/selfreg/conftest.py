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


@pytest.fixture(scope="session")
def killed_then_resumed():
    """The helper below: `killed_then_resumed(survey, config, generator, workdir, killed_after)`."""
    return _killed_then_resumed


def _killed_then_resumed(survey, config, generator, workdir, killed_after: int):
    """`train_classifier` on `survey` stopped by an `Interrupted` raised after epoch `killed_after`,
    then called again in the same workdir (it resumes from the latest checkpoint): the second run's result."""
    from jaxpelsvae.selfreg import loop

    def kill(epoch, record):
        if epoch == killed_after:
            raise loop.Interrupted

    with pytest.raises(loop.Interrupted):
        loop.train_classifier(*survey, config, generator=generator, workdir=workdir, seed=0, progress=False,
                              figures=False, callback=kill)
    return loop.train_classifier(*survey, config, generator=generator, workdir=workdir, seed=0, progress=False,
                                 figures=False)
