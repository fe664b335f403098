"""`repetitions.train_seeds`: a period-aware classifier's seeds, either mode, as one program = sequential runs."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from jaxpelsvae.selfreg import loop


@pytest.mark.parametrize("mode", ["baseline", "selfreg"])
def test_vmapped_seeds_of_a_period_aware_classifier_equal_sequential_seeds(survey, config, real_generator, tmp_path,
                                                                           mode):
    """`experiments.repetitions.train_seeds` runs any registered view in either mode: the folded
    classifier's seeds (views drawn once) as one program reproduce sequential `train_classifier`
    runs on the same encodings, within the tolerance of test_loop.py's cnn seeds (validation
    losses, and the test probabilities where the best epoch is no near-tie)."""
    from jaxpelsvae.experiments.repetitions import train_seeds
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import build_steps, encode_split, predict
    from jaxpelsvae.train.losses import class_weights_alpha
    from jaxpelsvae.train.state import TrainState

    reg = dataclasses.replace(config.regulator, epochs=2, max_synthetic_age=10, threshold_acc_synthetic=1.0)
    cfg = dataclasses.replace(config, classifier="folded", mode=mode, augment=False, regulator=reg,
                              learning_rate=1e-4)
    classes = tuple(survey[0].classes)
    encoded = tuple(encode_split(s, classes, cfg, 0, ENCODE_STREAMS[name])
                    for name, s in zip(("train", "val", "test"), survey))
    k, tol = len(classes), 2e-2
    evaluate = build_steps(k, cfg, class_weights_alpha(np.concatenate([encoded[0].y_N, encoded[1].y_N]), k)).evaluate
    together = train_seeds(encoded, classes, real_generator if mode == "selfreg" else None, [0, 5], cfg)
    for res in together:
        run = loop.train_classifier(*survey, cfg, generator=real_generator if mode == "selfreg" else None,
                                    workdir=tmp_path / str(res.seed), seed=res.seed, progress=False, figures=False,
                                    encoded=encoded, classes=classes)
        seq, vm = run.regulator, res.regulator
        assert vm.epoch == seq.epoch == 2 and vm.regenerations == seq.regenerations == (mode == "selfreg")
        val_seq = [h["val_loss"] for h in seq.history]
        np.testing.assert_allclose([h["val_loss"] for h in vm.history], val_seq, rtol=tol)
        if abs(val_seq[1] - val_seq[0]) > 3 * tol * min(val_seq):  # the best epoch is no near-tie
            assert vm.best_epoch == seq.best_epoch
            state = TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=run.model[1], rest=run.model[2],
                               opt_state=None, key=jax.random.key(0))
            logp, _ = predict(evaluate, state, encoded[2], cfg.eval_batch_size)
            np.testing.assert_allclose(np.exp(res.logprobs_test), np.exp(logp), atol=3 * tol, rtol=0)
    assert not np.allclose(together[0].logprobs_test, together[1].logprobs_test)  # the seeds differ
