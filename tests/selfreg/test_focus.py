"""`RegulatorConfig.focus`: synthetic curves drawn near the training stars the classifier gets wrong or barely right."""
from __future__ import annotations

import dataclasses
import types

import jax
import numpy as np
import pytest

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.selfreg import loop, policies
from jaxpelsvae.selfreg.focus import focus_weights, star_need
from jaxpelsvae.selfreg.state import RegulatorConfig, RegulatorState


def test_need_is_half_one_minus_the_margin():
    prob = np.array([[1.0, 0.0, 0.0],  # right, certain
                     [0.4, 0.4, 0.2],  # a tie with the runner-up
                     [0.0, 1.0, 0.0],  # wrong, certain
                     [0.2, 0.7, 0.1]])  # right, margin 0.5
    np.testing.assert_allclose(star_need(prob, [0, 0, 0, 1]), [0.0, 0.5, 1.0, 0.25])


def test_weights_follow_the_bank_order_and_leave_other_stars_at_one():
    gen = types.SimpleNamespace(star_ids=np.array(["a", "b", "c", "d"]), stars=object())
    w = focus_weights(gen, ["d", "b", "x"], [1.0, 0.5, 0.9], focus=2.0)  # "x": not in the bank
    np.testing.assert_allclose(w, [1.0, 2.0, 1.0, 3.0])  # "a", "c": not in the training set


def test_a_generator_without_identified_stars_is_refused():
    with pytest.raises(ConfigError, match="posterior-mode"):
        focus_weights(types.SimpleNamespace(star_ids=None, stars=None), ["a"], [0.5], focus=1.0)
    with pytest.raises(ConfigError, match="ids of the training stars"):
        focus_weights(types.SimpleNamespace(star_ids=np.array(["a"]), stars=object()), None, [0.5], focus=1.0)
    with pytest.raises(ConfigError, match="focus"):
        RegulatorConfig(focus=-1.0)


def test_the_pending_need_survives_the_checkpointed_json():
    state = RegulatorState(num_classes=3, pending_counts=(4, 4, 4), pending_need=(0.125, 0.7000000000000001, 1.0))
    assert RegulatorState.from_json(state.to_json()) == state
    assert RegulatorState.from_dict({k: v for k, v in state.to_dict().items() if k != "pending_need"}
                                    ).pending_need is None  # a checkpoint written before focus existed


class WeightRecording:
    """The real generator, recording the star weights of every request."""

    def __init__(self, generator):
        self.generator, self.classes, self.calls = generator, generator.classes, []
        self.star_ids, self.stars = generator.star_ids, generator.stars

    def generate(self, key, counts_per_class, b, *, capacity=None, star_weights=None):
        self.calls.append(None if star_weights is None else np.asarray(star_weights))
        return self.generator.generate(key, counts_per_class, b, capacity=capacity, star_weights=star_weights)


@pytest.fixture(scope="module")
def focused(config):
    # threshold 0: a new set after every epoch, so every epoch but the first draws with the focus
    reg = dataclasses.replace(config.regulator, threshold_acc_synthetic=0.0, epochs=3, focus=3.0)
    return dataclasses.replace(config, regulator=reg)


def test_the_next_set_is_drawn_by_the_epoch_end_margins(survey, real_generator, focused):
    from jaxpelsvae import prepare_epochs, run_epoch
    from jaxpelsvae.selfreg.epoch import evaluate
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import encode_split, init_train_state

    classes = tuple(survey[0].classes)
    train, val = (encode_split(s, classes, focused, 0, ENCODE_STREAMS[name])
                  for name, s in zip(("train", "val"), survey))
    recording = WeightRecording(real_generator)
    setup = prepare_epochs(focused, classes, train, val, seed=0, generator=recording, train_set=survey[0])
    regulator, _ = policies.init(focused.regulator, len(classes), selfreg=True)
    state = init_train_state(len(classes), focused, setup.steps, 0)
    state, regulator, synthetic, _, _ = run_epoch(setup, state, regulator)
    assert recording.calls == [None]  # the first set: no trained classifier has judged the stars yet
    assert regulator.pending_counts is not None
    prob = evaluate(setup, state, setup.train, with_prob=True)["prob_NK"]
    need = star_need(prob, train.y_N)
    np.testing.assert_allclose(regulator.pending_need, need, rtol=0, atol=1e-12)
    assert 0.0 < min(need) and max(need) <= 1.0

    run_epoch(setup, state, regulator, synthetic)
    weights = recording.calls[1]
    expected = focus_weights(real_generator, survey[0].ids, need, focused.regulator.focus)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert weights.min() >= 1.0 and weights.max() <= 1.0 + focused.regulator.focus and weights.std() > 0


def test_a_focused_run_resumes_identically(survey, real_generator, focused, tmp_path, killed_then_resumed):
    full = loop.train_classifier(*survey, focused, generator=real_generator, workdir=tmp_path / "full", seed=0,
                                 progress=False, figures=False)

    resumed = killed_then_resumed(survey, focused, real_generator, tmp_path / "cut", killed_after=0)
    for a, b in zip(jax.tree.leaves(resumed.model[1:]), jax.tree.leaves(full.model[1:]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [h["val_loss"] for h in resumed.regulator.history] == [h["val_loss"] for h in full.regulator.history]


def test_vmapped_seeds_draw_with_the_focus_as_the_loop_does(survey, real_generator, focused, tmp_path):
    """`train_seeds` carries each seed's need as `train_classifier` does: the same star weights,
    within the float drift of the vmapped program (test_loop.py's tolerance, times the focus)."""
    from jaxpelsvae.experiments.repetitions import train_selfreg_seeds
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import encode_split

    classes = tuple(survey[0].classes)
    encoded = tuple(encode_split(s, classes, focused, 0, ENCODE_STREAMS[name])
                    for name, s in zip(("train", "val", "test"), survey))
    vmapped, sequential = WeightRecording(real_generator), WeightRecording(real_generator)
    train_selfreg_seeds(encoded, classes, vmapped, [0], focused, train_ids=survey[0].ids)
    loop.train_classifier(*survey, focused, generator=sequential, workdir=tmp_path, seed=0, progress=False,
                          figures=False, encoded=encoded, classes=classes)
    assert vmapped.calls[0] is None and sequential.calls[0] is None
    assert len(vmapped.calls) == len(sequential.calls) > 1
    for a, b in zip(vmapped.calls[1:], sequential.calls[1:]):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-2 * (1 + focused.regulator.focus))
    with pytest.raises(ConfigError, match="ids of the training stars"):
        train_selfreg_seeds(encoded, classes, real_generator, [0], focused)
