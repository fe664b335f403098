"""Pure self-regulation policies: class rankings, synthetic counts, temperature, regeneration, stopping.

Everything here is a pure function of numpy arrays, `RegulatorConfig` and `RegulatorState`; the epoch
loop (`selfreg.loop`) does the side effects. The shape mirrors `optax.contrib.reduce_on_plateau`:
``init(config, K) -> (state, actions)``, ``update(state, report, config) -> (state, actions)``, plus
``after_generation(state, config)`` once the loop has created the synthetic set it was asked for.

Confusion matrices ``cm_KK`` have rows = true class, columns = predicted class (sklearn's layout).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.json_io import json_safe
from jaxpelsvae.train.metrics import normalise_rows
from jaxpelsvae.selfreg.state import RegulatorConfig, RegulatorState


# ----------------------------------------------------------------------------------- rankings


def _argsort_desc(x: np.ndarray) -> np.ndarray:
    # Stable: ties keep the lower class index first.
    return np.argsort(-x, kind="stable")


def rank_ccr(cm_KK: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct-classification rate per class, worst first: ``(ranking_K, ccr in that order)``.

    A class with no example (empty row) has rate 0, so it ranks among the worst.
    """
    ccr = np.diag(normalise_rows(cm_KK))
    ranking = np.argsort(ccr, kind="stable")
    return ranking, ccr[ranking]


def rank_max_confusion(cm_KK: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Off-diagonal mass per row (examples of the class predicted as another), largest first."""
    cm = np.asarray(cm_KK, dtype=np.float64)
    off = cm.sum(axis=1) - np.diag(cm)
    ranking = _argsort_desc(off)
    return ranking, off[ranking]


def rank_proportion(cm_KK: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of all examples that are class i predicted as another, largest first."""
    cm = np.asarray(cm_KK, dtype=np.float64)
    total = cm.sum()
    m = cm / total if total > 0 else np.zeros_like(cm)
    np.fill_diagonal(m, 0.0)
    props = m.sum(axis=1)
    ranking = _argsort_desc(props)
    return ranking, props[ranking]


def rank_max_pairwise_confusion(cm_KK: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classes of the most confused pairs first (symmetric confusion ``cm + cmᵀ``).

    K times: take the row-major first maximum (a, b) of the pair matrix with its diagonal zeroed,
    zero both (a, b) and (b, a), append a then b when not yet ranked; then append missing classes.
    Returns ``(ranking_K, the pair matrix after the eliminations)`` as the original does.
    """
    cm = np.asarray(cm_KK, dtype=np.float64)
    k = len(cm)
    m = cm + cm.T
    np.fill_diagonal(m, 0.0)
    ranking: list[int] = []
    for _ in range(k):
        a, b = np.unravel_index(int(np.argmax(m)), m.shape)
        m[a, b] = 0.0
        m[b, a] = 0.0
        for c in (int(a), int(b)):
            if c not in ranking:
                ranking.append(c)
    ranking += [c for c in range(k) if c not in ranking]
    return np.asarray(ranking[:k]), m


_RANKERS = {
    "CCR": rank_ccr,
    "max_confusion": rank_max_confusion,
    "proportion": rank_proportion,
    "max_pairwise_confusion": rank_max_pairwise_confusion,
}


def rank_classes(cm_KK: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Ranking of classes, most in need of synthetic data first, and the method's scores."""
    cm = np.asarray(cm_KK)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ConfigError(f"confusion matrix must be square (K, K), got shape {cm.shape}")
    if method not in _RANKERS:
        raise ConfigError(f"ranking method {method!r} has no ranking (one of {sorted(_RANKERS)})")
    return _RANKERS[method](cm)


# ------------------------------------------------------------------------------------- counts


def no_priority_counts(num_classes: int, n: int) -> tuple[int, ...]:
    """Equal counts ``n`` for every class."""
    return (int(n),) * num_classes


def penalised_counts(ranking_K: np.ndarray, n: int, factor: float = 1.25) -> tuple[int, ...]:
    """Counts by rank: ``int(n·r)`` with r = factor for the first class, then ``r ← r/factor`` while
    r > 0.5 (1.25, 1, 0.8, 0.64, 0.512, 0.4096, 0.4096, …). Returned indexed by class label."""
    counts = [0] * len(ranking_K)
    r = float(factor)
    for c in ranking_K:
        counts[int(c)] = int(n * r)
        if r > 0.5:
            r = r / factor
    return tuple(counts)


def proportion_counts(
    ranking_K: np.ndarray, sorted_props_K: np.ndarray, lo: int = 8, hi: int = 24
) -> tuple[int, ...]:
    """Counts from proportions (in ranking order) scaled linearly to ``[lo, hi]`` and truncated.

    When all proportions are equal (the original divides by zero) every class gets ``(lo + hi)/2``.
    Returned indexed by class label.
    """
    props = np.asarray(sorted_props_K, dtype=np.float64)
    span = props.max() - props.min()
    if span > 0:
        scaled = (props - props.min()) / span * (hi - lo) + lo
    else:
        scaled = np.full_like(props, (lo + hi) / 2)
    counts = [0] * len(ranking_K)
    for c, s in zip(ranking_K, scaled):
        counts[int(c)] = int(s)
    return tuple(counts)


def synthetic_counts(cm_KK: np.ndarray | None, epoch: int, config: RegulatorConfig,
                     num_classes: int) -> tuple[int, ...]:
    """Per-class counts of a synthetic set created at ``epoch`` (the original's §7.2 rule).

    ``cm_KK``: confusion matrix of the real training set (any scale; rows are normalised here).
    Creations before ``config.no_priority_epochs`` or without a matrix use equal counts.
    """
    n = config.synthetic_samples_by_class
    if config.ranking_method == "no_priority" or epoch < config.no_priority_epochs or cm_KK is None:
        return no_priority_counts(num_classes, n)
    cm = normalise_rows(cm_KK)
    ranking, scores = rank_classes(cm, config.ranking_method)
    if config.ranking_method == "proportion":
        lo, hi = config.proportion_range
        return proportion_counts(ranking, scores, lo, hi)
    return penalised_counts(ranking, n, config.penalisation_factor)


def max_synthetic_total(config: RegulatorConfig, num_classes: int) -> int:
    """Upper bound of ``sum(synthetic_counts(...))`` over every matrix and epoch for ``config``
    (lets a generator compile one program for the whole run)."""
    n, k = config.synthetic_samples_by_class, num_classes
    bound = k * n  # equal counts (no_priority, and the first creations)
    if config.ranking_method == "proportion":
        bound = max(bound, k * config.proportion_range[1])
    elif config.ranking_method != "no_priority":
        bound = max(bound, sum(penalised_counts(np.arange(k), n, config.penalisation_factor)))
    return int(bound)


# ------------------------------------------------------------------------- schedule and rules


def temperature(epoch: int, config: RegulatorConfig) -> float:
    """b_e = d1 + (1 − d1)·exp(−d2·e): the b set right after a creation at epoch e."""
    d1, d2 = config.decay_parameter_1, config.decay_parameter_2
    return float(d1 + (1.0 - d1) * math.exp(-d2 * epoch))


def should_regenerate(synthetic_accuracy: float | None, age: int, config: RegulatorConfig) -> bool:
    """True when the classifier masters the current set (accuracy > threshold) or it is too old.

    ``age``: epochs the current set has been trained on, including the one just finished.
    """
    mastered = synthetic_accuracy is not None and synthetic_accuracy > config.threshold_acc_synthetic
    return bool(mastered or age >= config.max_synthetic_age)


# ---------------------------------------------------------------------------- state machine


class Actions(NamedTuple):
    """What the loop must do before the next epoch (``regenerate`` with ``counts`` at
    ``temperature``), whether to stop, and whether the epoch just finished is the new best."""

    regenerate: bool
    counts: tuple[int, ...] | None
    temperature: float
    stop: bool
    new_best: bool


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What the policy reads from a finished epoch.

    ``val_loss``: mean validation loss; ``train_confusion_KK``: confusion of the real training set
    (eval mode); ``synthetic_accuracy``: accuracy on the current synthetic set (None in baseline);
    ``record``: metrics appended to the state's history (JSON-safe after `json_safe`).
    """

    epoch: int
    val_loss: float
    train_confusion_KK: Any = None
    synthetic_accuracy: float | None = None
    record: dict[str, Any] = dataclasses.field(default_factory=dict)


def _actions(state: RegulatorState, new_best: bool = False) -> Actions:
    return Actions(
        regenerate=state.pending_counts is not None,
        counts=state.pending_counts,
        temperature=state.temperature,
        stop=state.stopped,
        new_best=new_best,
    )


def init(config: RegulatorConfig, num_classes: int, selfreg: bool = True
         ) -> tuple[RegulatorState, Actions]:
    """Initial state; in self-regulated mode the first action creates a set with equal counts."""
    if num_classes < 2:
        raise ConfigError(f"need at least 2 classes, got {num_classes}")
    pending = synthetic_counts(None, 0, config, num_classes) if selfreg else None
    state = RegulatorState(
        num_classes=num_classes,
        selfreg=selfreg,
        temperature=float(config.beta_initial),
        pending_counts=pending,
    )
    return state, _actions(state)


def after_generation(state: RegulatorState, config: RegulatorConfig) -> RegulatorState:
    """State once the pending synthetic set exists (created before epoch ``state.epoch``)."""
    if state.pending_counts is None:
        raise ConfigError("after_generation called without a pending synthetic set")
    return state.replace(
        synthetic_counts=state.pending_counts,
        pending_counts=None,
        pending_need=None,
        synthetic_age=0,
        regenerations=state.regenerations + 1,
        temperature=temperature(state.epoch, config),
    )


def update(state: RegulatorState, report: EpochReport, config: RegulatorConfig
           ) -> tuple[RegulatorState, Actions]:
    """Advance the policy by one finished epoch; pure.

    Order as in the original: regeneration rule on the synthetic accuracy and age, then early
    stopping on the validation loss. A requested set gets its counts from ``report``'s training
    confusion with the ranking method (equal counts for creations before epoch 2).
    """
    if report.epoch != state.epoch:
        raise ConfigError(f"report for epoch {report.epoch} but the state expects {state.epoch}")
    next_epoch = state.epoch + 1
    pending = None
    age = state.synthetic_age
    if state.selfreg:
        age += 1
        if should_regenerate(report.synthetic_accuracy, age, config):
            pending = synthetic_counts(report.train_confusion_KK, next_epoch, config,
                                       state.num_classes)
    val = float(report.val_loss)
    new_best = state.best_val_loss is None or val < state.best_val_loss
    if new_best and math.isfinite(val):
        best_val, best_epoch, patience_counter = val, report.epoch, 0
    else:
        new_best = False
        best_val, best_epoch = state.best_val_loss, state.best_epoch
        patience_counter = state.patience_counter + 1
    stop = patience_counter >= config.patience or next_epoch >= config.epochs
    record = json_safe({
        "epoch": report.epoch,
        **report.record,
        "val_loss": val,
        "synthetic_accuracy": report.synthetic_accuracy,
        "synthetic_age": age if state.selfreg else 0,
        "synthetic_counts": list(state.synthetic_counts),
        "new_best": new_best,
        "regenerate_next": pending is not None,
    })
    new_state = state.replace(
        epoch=next_epoch,
        synthetic_age=age,
        best_val_loss=best_val,
        best_epoch=best_epoch,
        patience_counter=patience_counter,
        pending_counts=None if stop else pending,
        stopped=stop,
        history=state.history + (record,),
    )
    return new_state, _actions(new_state, new_best)
