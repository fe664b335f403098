"""Self-regulation policies: the original's ranking test vectors, count rules, schedule, state machine."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.selfreg import policies
from jaxpelsvae.selfreg.policies import EpochReport
from jaxpelsvae.selfreg.state import RegulatorConfig, RegulatorState

# Notebook-3 test matrix of the original (raw counts, classes 0..3), ORIGINAL.md §7.3.
CM = np.array([[30, 20, 10, 5], [24, 40, 5, 27], [25, 10, 50, 15], [12, 10, 50, 15]])


def test_ccr_ranking():
    ranking, ccr = policies.rank_classes(CM, "CCR")
    assert ranking.tolist() == [3, 1, 0, 2]
    np.testing.assert_allclose(ccr, [15 / 87, 40 / 96, 30 / 65, 50 / 100])


def test_max_confusion_ranking():
    ranking, off = policies.rank_classes(CM, "max_confusion")
    assert ranking.tolist() == [3, 1, 2, 0]
    np.testing.assert_allclose(off, [72, 56, 50, 35])


def test_proportion_ranking_and_scaled_counts():
    ranking, props = policies.rank_classes(CM, "proportion")
    assert ranking.tolist() == [3, 1, 2, 0]
    np.testing.assert_allclose(props, [0.20689655, 0.16091954, 0.14367816, 0.10057471], atol=1e-8)
    counts = policies.proportion_counts(ranking, props, 8, 24)
    assert dict(enumerate(counts)) == {3: 24, 1: 17, 2: 14, 0: 8}


def test_proportion_with_equal_proportions_does_not_divide_by_zero():
    ranking, props = policies.rank_classes(np.eye(4) * 10, "proportion")
    counts = policies.proportion_counts(ranking, props, 8, 24)
    assert counts == (16, 16, 16, 16)


def test_max_pairwise_confusion_ranking():
    ranking, _ = policies.rank_classes(CM, "max_pairwise_confusion")
    assert ranking.tolist() == [2, 3, 0, 1]


def test_row_normalised_matrix_gives_same_order_for_ccr_family():
    cm = policies.normalise_rows(CM)
    np.testing.assert_allclose(cm.sum(1), 1.0)
    for method in ("CCR", "max_confusion", "proportion"):
        assert policies.rank_classes(cm, method)[0].tolist() == [3, 1, 0, 2]


def test_empty_class_row_is_handled():
    cm = CM.astype(float).copy()
    cm[2] = 0  # class absent from the data
    cm_n = policies.normalise_rows(cm)
    assert np.all(np.isfinite(cm_n)) and cm_n[2].sum() == 0
    assert policies.rank_classes(cm_n, "CCR")[0][0] == 2  # rate 0: ranked worst


@pytest.mark.parametrize(
    "n, expected", [(64, [80, 64, 51, 40, 32]), (28, [35, 28, 22, 17, 14])]
)
def test_penalisation_rule(n, expected):
    ranking = np.array([4, 0, 3, 1, 2])
    counts = policies.penalised_counts(ranking, n, 1.25)
    assert [counts[c] for c in ranking] == expected


def test_penalisation_factor_stops_below_half():
    counts = policies.penalised_counts(np.arange(7), 100, 1.25)
    assert counts == (125, 100, 80, 64, 51, 40, 40)


def test_synthetic_counts_rule_by_method_and_epoch():
    k = 4
    for method in ("CCR", "max_confusion", "max_pairwise_confusion", "proportion", "no_priority"):
        cfg = RegulatorConfig(ranking_method=method, synthetic_samples_by_class=64)
        for epoch in (0, 1):
            assert policies.synthetic_counts(CM, epoch, cfg, k) == (64,) * k
    cfg = RegulatorConfig(ranking_method="no_priority")
    assert policies.synthetic_counts(CM, 5, cfg, k) == (64,) * k
    cfg = RegulatorConfig(ranking_method="CCR")
    assert policies.synthetic_counts(CM, 2, cfg, k) == (51, 64, 40, 80)  # ranking [3, 1, 0, 2]
    cfg = RegulatorConfig(ranking_method="max_pairwise_confusion")
    assert policies.synthetic_counts(CM, 2, cfg, k) == (51, 40, 80, 64)  # ranking [2, 3, 0, 1]
    cfg = RegulatorConfig(ranking_method="proportion")
    counts = policies.synthetic_counts(CM, 3, cfg, k)  # row-normalised: order [3, 1, 0, 2]
    assert counts[3] == 24 and counts[2] == 8 and counts[1] > counts[0]


def test_temperature_schedule():
    cfg = RegulatorConfig(decay_parameter_1=0.77, decay_parameter_2=0.6)
    assert policies.temperature(0, cfg) == pytest.approx(1.0)
    assert policies.temperature(1, cfg) == pytest.approx(0.77 + 0.23 * math.exp(-0.6))
    assert policies.temperature(5, cfg) == pytest.approx(0.77 + 0.23 * math.exp(-3.0))
    values = [policies.temperature(e, cfg) for e in range(50)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.77, abs=1e-10)


def test_regeneration_rule():
    cfg = RegulatorConfig()
    assert policies.should_regenerate(0.75, 1, cfg)
    assert not policies.should_regenerate(0.74, 1, cfg)  # strictly greater
    assert not policies.should_regenerate(0.1, 6, cfg)
    assert policies.should_regenerate(0.1, 7, cfg)
    assert not policies.should_regenerate(None, 3, cfg)


def _run(cfg, accs, losses, k=4, cm=CM):
    """Drive the state machine like the loop does; returns (states, actions per epoch, b used)."""
    state, act = policies.init(cfg, k)
    used = []
    for epoch, (acc, loss) in enumerate(zip(accs, losses)):
        if act.regenerate:
            used.append((epoch, act.counts, act.temperature))
            state = policies.after_generation(state, cfg)
        state, act = policies.update(state, EpochReport(epoch, loss, cm, acc), cfg)
        if act.stop:
            break
    return state, used


def test_set_reused_at_most_seven_epochs_and_temperatures_lag_one_creation():
    cfg = RegulatorConfig(ranking_method="CCR", epochs=30, patience=100)
    state, used = _run(cfg, [0.1] * 20, np.linspace(2, 1, 20))
    assert [e for e, _, _ in used] == [0, 7, 14]
    assert used[0][2] == 1.0  # beta_initial
    assert used[1][2] == pytest.approx(policies.temperature(0, cfg))
    assert used[2][2] == pytest.approx(policies.temperature(7, cfg))
    assert used[0][1] == (64,) * 4 and used[1][1] == (51, 64, 40, 80)
    assert state.regenerations == 3


def test_mastered_set_regenerates_next_epoch_with_no_priority_at_epoch_1():
    cfg = RegulatorConfig(ranking_method="max_confusion", epochs=30, patience=100)
    _, used = _run(cfg, [0.9, 0.9, 0.1, 0.9, 0.1], np.linspace(2, 1, 5))
    assert [e for e, _, _ in used] == [0, 1, 2, 4]
    assert used[1][1] == (64,) * 4  # epoch 1: equal counts
    assert used[0][2] == 1.0 and used[1][2] == 1.0  # the first two creations both use b = 1
    assert used[2][2] == pytest.approx(policies.temperature(1, cfg))
    # The loop ranks the row-normalised matrix: max_confusion order is then [3, 1, 0, 2].
    assert used[2][1] == policies.penalised_counts(np.array([3, 1, 0, 2]), 64)


def test_early_stopping_and_best_epoch():
    cfg = RegulatorConfig(patience=3, epochs=100)
    losses = [1.0, 0.8, 0.9, 0.85, 0.7, 0.71, 0.72, 0.73, 0.6]
    state, _ = _run(cfg, [0.1] * len(losses), losses)
    assert state.stopped and state.epoch == 8  # epochs 5, 6, 7 do not improve on 0.7
    assert state.best_epoch == 4 and state.best_val_loss == pytest.approx(0.7)
    assert state.pending_counts is None


def test_nan_validation_loss_is_never_best():
    cfg = RegulatorConfig(patience=2)
    state, _ = _run(cfg, [0.1] * 3, [float("nan"), 1.0, float("nan")])
    assert state.best_epoch == 1
    json.loads(state.to_json())


def test_baseline_mode_never_regenerates():
    cfg = RegulatorConfig(epochs=4)
    state, act = policies.init(cfg, 3, selfreg=False)
    assert not act.regenerate
    for e in range(4):
        state, act = policies.update(state, EpochReport(e, 1.0 / (e + 1)), cfg)
        assert not act.regenerate
    assert act.stop and state.epoch == 4 and state.regenerations == 0


def test_update_is_pure_and_state_round_trips_json():
    cfg = RegulatorConfig(epochs=10)
    state, _ = policies.init(cfg, 4)
    state = policies.after_generation(state, cfg)
    report = EpochReport(0, 0.5, CM, 0.8, record={"train": {"f1": np.float32(0.5)}})
    s1, a1 = policies.update(state, report, cfg)
    s2, a2 = policies.update(state, report, cfg)
    assert s1 == s2 and a1 == a2 and state.epoch == 0
    back = RegulatorState.from_json(s1.to_json())
    assert back == s1
    assert RegulatorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_bad_config_and_report_raise():
    with pytest.raises(ConfigError):
        RegulatorConfig(ranking_method="best")
    with pytest.raises(ConfigError):
        RegulatorConfig(patience=0)
    state, _ = policies.init(RegulatorConfig(), 3)
    with pytest.raises(ConfigError):
        policies.update(state, EpochReport(2, 1.0), RegulatorConfig())
    with pytest.raises(ConfigError):
        policies.rank_classes(np.ones((2, 3)), "CCR")


@pytest.mark.parametrize("method", ["CCR", "max_confusion", "proportion", "max_pairwise_confusion", "no_priority"])
def test_max_synthetic_total_bounds_every_request(method):
    cfg = RegulatorConfig(ranking_method=method, synthetic_samples_by_class=20)
    bound = policies.max_synthetic_total(cfg, 5)
    rng = np.random.default_rng(1)
    for epoch in range(6):
        cm = rng.integers(0, 30, (5, 5))
        assert sum(policies.synthetic_counts(cm, epoch, cfg, 5)) <= bound
    # equal counts at the first creations (5 × 20) exceed the penalised ones (25+20+16+12+10 = 83)
    assert bound == (120 if method == "proportion" else 100)
