"""Fixtures of the experiment tests: a small simulated survey and a recorder in place of classifier training."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")


@pytest.fixture(scope="module")
def survey():
    from jaxpelsvae.simulate import simulate_survey

    return simulate_survey({c: 16 for c in CLASSES}, cadence="gaia", seed=1)


@pytest.fixture()
def trained(monkeypatch):
    """Replaces classifier training by a recorder (the protocol is under test, not the CNN): each call
    records its mode, seed, config, training curves and encoded training inputs, and returns
    metrics of fixed random predictions."""
    from jaxpelsvae.selfreg import loop
    from jaxpelsvae.train.metrics import classification_metrics

    calls = []

    def fake(train_set, val_set, test_set, config, *, seed, mode, encoded, classes, **_):
        calls.append(SimpleNamespace(mode=mode, seed=seed, config=config, train_set=train_set, classes=classes,
                                     x_train=np.asarray(encoded[0].x_NL2)))
        y = np.asarray(encoded[2].y_N)
        probs = np.random.default_rng(seed).dirichlet(np.ones(len(classes)), size=y.size)
        metrics = classification_metrics(y, probs, classes)
        metrics.update(best_epoch=0, epochs=1)
        return SimpleNamespace(metrics=metrics)

    monkeypatch.setattr(loop, "train_classifier", fake)
    return calls
