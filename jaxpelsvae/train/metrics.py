"""Classification metrics on the host (numpy + sklearn): accuracy, macro-F1, ROC-AUC OvO/OvR, confusion.

Robust to classes missing from a split (tiny classes such as DSCT may be absent from validation):
every function takes the number of classes explicitly; macro averages run over the classes present
in the true labels (a class without a single true star has no recall, and scoring it 0, as
sklearn's default does when it is predicted, would only measure the set's composition: such
classes are listed under `classes_absent` instead); an undefined AUC (fewer than two classes
present) is NaN, written as null in JSON.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

from jaxpelsvae.errors import ConfigError


def confusion_matrix(y_true_N: np.ndarray, y_pred_N: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true_N, np.int64), np.asarray(y_pred_N, np.int64)), 1)
    return cm


def binary_auc(positive_N: np.ndarray, score_N: np.ndarray) -> float:
    """ROC-AUC of scores for a boolean target by the rank-sum (Mann-Whitney) identity, ties counted
    half; equal to sklearn's `roc_auc_score` and much cheaper for many small calls. NaN if one
    class is empty."""
    pos = np.asarray(positive_N, bool)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score_N, np.float64))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def normalise_rows(cm_KK: np.ndarray) -> np.ndarray:
    """Row-normalised confusion matrix (rows = true class; sklearn ``normalize='true'``): each row
    sums to 1, an empty row (a class without examples) stays zero."""
    cm = np.asarray(cm_KK, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def _probabilities(prob_NK: np.ndarray) -> np.ndarray:
    p = np.asarray(prob_NK, np.float64)
    return p / np.clip(p.sum(axis=1, keepdims=True), 1e-300, None)


def roc_auc_ovr(y_true_N: np.ndarray, prob_NK: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``y_true`` (sklearn's 'ovr' when all are)."""
    y = np.asarray(y_true_N)
    p = _probabilities(prob_NK)
    scores = [
        binary_auc(y == c, p[:, c]) for c in range(p.shape[1]) if 0 < np.sum(y == c) < len(y)
    ]
    return float(np.mean(scores)) if scores else float("nan")


def roc_auc_ovo(y_true_N: np.ndarray, prob_NK: np.ndarray) -> float:
    """Macro one-vs-one ROC-AUC (Hand & Till, sklearn's 'ovo') over pairs of classes present."""
    y = np.asarray(y_true_N)
    p = _probabilities(prob_NK)
    present = [c for c in range(p.shape[1]) if np.any(y == c)]
    scores = []
    for a, b in itertools.combinations(present, 2):
        sel = (y == a) | (y == b)
        auc_a = binary_auc(y[sel] == a, p[sel, a])
        auc_b = binary_auc(y[sel] == b, p[sel, b])
        scores.append(0.5 * (auc_a + auc_b))
    return float(np.mean(scores)) if scores else float("nan")


def per_class_scores(cm_KK: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision_K, recall_K, f1_K) from a confusion matrix; 0 where undefined."""
    cm = np.asarray(cm_KK, np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def classification_metrics(
    y_true_N: np.ndarray,
    prob_NK: np.ndarray,
    class_names: Sequence[str],
    *,
    loss: float | None = None,
    with_auc: bool = True,
) -> dict:
    """All metrics of one split.

    y_true_N: int labels in [0, K); prob_NK: class probabilities (rows are renormalised).
    Returns ``{n, loss, accuracy, macro_f1, roc_auc_ovo, roc_auc_ovr, per_class {name: {precision,
    recall, f1, support}}, confusion (K×K counts, rows = true), classes_absent}``: macro-F1 averages
    the classes with at least one true star; `classes_absent` names the others (left out of it).
    """
    y = np.asarray(y_true_N, np.int64)
    p = np.asarray(prob_NK)
    k = len(class_names)
    if p.ndim != 2 or p.shape != (len(y), k):
        raise ConfigError(f"probabilities must have shape ({len(y)}, {k}), got {p.shape}")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ConfigError(f"labels must lie in [0, {k}), got range [{y.min()}, {y.max()}]")
    pred = p.argmax(axis=1)
    cm = confusion_matrix(y, pred, k)
    precision, recall, f1 = per_class_scores(cm)
    present = cm.sum(axis=1) > 0
    nan = float("nan")
    return {
        "n": int(len(y)),
        "loss": nan if loss is None else float(loss),
        "accuracy": float(np.mean(pred == y)) if len(y) else nan,
        "macro_f1": float(f1[present].mean()) if present.any() else nan,
        "roc_auc_ovo": roc_auc_ovo(y, p) if with_auc and len(y) else nan,
        "roc_auc_ovr": roc_auc_ovr(y, p) if with_auc and len(y) else nan,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(cm[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
        "confusion": cm.tolist(),
        "classes_absent": [name for i, name in enumerate(class_names) if not present[i]],
    }


def absent_classes_warning(classes_absent: Sequence[str], what: str = "the test set") -> str | None:
    """A line saying which classes `what` has no star of (left out of macro-F1), or None."""
    if not classes_absent:
        return None
    return (f"{what} has no star of {', '.join(classes_absent)}: macro-F1 averages the other classes only "
            "(a class without true stars has no recall to score)")


def fmt_metric(value, digits: int = 3) -> str:
    """A metric for people: `digits` decimals, 'n/a' when undefined (None or NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{float(value):.{digits}f}"
