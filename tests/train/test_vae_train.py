"""jaxpelsvae.train.vae_train: the schedule, reference errors and a tiny fit that learns more than class averages."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.models.vae import VAEConfig
from jaxpelsvae.models.vae_inputs import one_hot
from jaxpelsvae.train.vae_train import (
    VAETrainConfig,
    cosine_annealing_per_epoch,
    reference_mse,
    train_vae,
)


def test_cosine_schedule_matches_pytorch_closed_form():
    steps_per_epoch = 7
    sched = cosine_annealing_per_epoch(1e-3, steps_per_epoch, t_max=50, eta_min=1e-5)
    for epoch in (0, 1, 25, 49, 50, 75, 100):
        expected = 1e-5 + (1e-3 - 1e-5) * (1 + np.cos(np.pi * epoch / 50)) / 2
        for s in (epoch * steps_per_epoch, epoch * steps_per_epoch + steps_per_epoch - 1):
            np.testing.assert_allclose(float(sched(s)), expected, rtol=1e-5)
    np.testing.assert_allclose(float(sched(50 * steps_per_epoch)), 1e-5, rtol=1e-4)


def test_reference_mse_of_mean_and_class_mean_curves():
    mag = np.array([[0.0, 1.0], [0.0, 3.0], [2.0, 2.0], [1.0, 1.0], [2.0, 4.0]])
    labels = np.array([0, 0, 1, 0, 2])
    ref = reference_mse(mag, labels, np.array([0, 1, 2]), np.array([3, 4]))
    # training mean curve (2/3, 2); class 0 mean (0, 2); class 2 absent from training -> the mean curve
    want_mean = np.mean([(1 - 2 / 3) ** 2, 1.0, (2 - 2 / 3) ** 2, 4.0])
    want_class = np.mean([1.0, 1.0, (2 - 2 / 3) ** 2, 4.0])
    assert ref["mean_curve"] == pytest.approx(want_mean) and ref["class_mean"] == pytest.approx(want_class)


def test_vae_learns_curve_shapes_beyond_the_class_averages():
    """On simulated folded curves the small-preset VAE must reconstruct validation curves clearly
    better than their class's mean curve within 300 steps. Phases are thinned 4x (150) to keep the
    test ~15 s. With the original residual init the same run stays at the class average (1.06 of
    it, against 0.52 with "identity")."""
    from jaxpelsvae.data.template import fold_for_vae
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey({c: 40 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="ogle", seed=0)
    x = fold_for_vae(lcs)[:, ::4]
    cfg = VAEConfig(latent_dim=4, units=8, levels=5, dropout=0.0, seq_len=x.shape[1], num_classes=5, phys_dim=0,
                    residual_init="identity")
    _, hist = train_vae(x, one_hot(lcs.labels, 5), None, cfg,
                        VAETrainConfig(epochs=30, batch_size=16, lr=3e-3, patience=0, progress=False), seed=0)
    assert hist["n_train"] * 30 // 16 <= 300
    assert hist["val_mse_class_mean"] < hist["val_mse_mean_curve"]  # the class average is a real yardstick
    assert hist["best_val_mse"] < 0.75 * hist["val_mse_class_mean"], hist["val_mse"]


@pytest.mark.parametrize("coherence, message", [
    (np.full(3, 0.5), r"\(N,\) = \(4,\)"),
    (np.array([0.5, 1.5, 1.0, 1.0]), "in \\[0, 1\\]"),
    (np.array([0.5, np.nan, 1.0, 1.0]), "in \\[0, 1\\]"),
    (np.zeros(4), "every curve has weight 0"),
])
def test_bad_coherence_weights_stop_before_training(coherence, message):
    from jaxpelsvae.errors import DataError

    cfg = VAEConfig(latent_dim=2, units=8, levels=7, num_classes=2, phys_dim=0)
    x = np.zeros((4, 600, 3), np.float32)
    onehot = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    with pytest.raises(DataError, match=message):
        train_vae(x, onehot, None, cfg, coherence_N=coherence)
