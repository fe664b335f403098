"""jaxpelsvae.train.batching: the early-stopping rule shared by the classifier and the VAE fit."""
from __future__ import annotations

from jaxpelsvae.train.batching import EarlyStopping


def test_early_stopping_rule():
    stop = EarlyStopping(patience=2, min_delta=0.01)
    assert stop.update(0, 1.0) and not stop.should_stop
    assert not stop.update(1, 0.995)  # within min_delta: no improvement
    assert stop.update(2, 0.9)
    assert not stop.update(3, 0.95) and not stop.should_stop
    assert not stop.update(4, float("nan")) and stop.should_stop
    assert stop.best_epoch == 2 and stop.best == 0.9
    never = EarlyStopping(patience=0)
    for e in range(5):
        never.update(e, 1.0)
    assert not never.should_stop
