"""`FeatureForest`: a random forest on nine period-based light-curve features, stored as plain arrays (no pickle) and applied in numpy.

Beside a period-aware network it reads what the folded views standardise away (the amplitude in
magnitudes, the shape of the magnitude distribution) and makes different errors: the mean of the
two models' class probabilities beats both across surveys (experiments/README.md, "The network and
the forest together"). The trees are fitted with scikit-learn and exported as arrays (children,
split feature and threshold, class fractions per node), so a saved forest loads with numpy alone
in any later version, and predicts exactly as scikit-learn's `predict_proba` did.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from jaxpelsvae.errors import DataError

# Period, amplitude and shape features that mean the same in any band (amplitudes in magnitudes).
FOREST_FEATURES = ("log10_period", "amplitude", "p95_p5", "p75_p25", "skewness", "kurtosis",
                   "fourier_r21", "fourier_r31", "fourier_phi21")
FOREST_FILES = ("forest.npz", "forest.json")
FORMAT = "jaxpelsvae-forest-1"
_LEAF = -1


class FeatureForest(NamedTuple):
    """Trees concatenated node by node: `left_X`, `right_X` (child node or -1 at a leaf),
    `feature_X`, `threshold_X` (go left when feature <= threshold), `value_XK` (class fractions of
    the node's training stars, class order `classes`), and `tree_roots` (each tree's first node).
    Shape suffixes: see `jaxpelsvae` (package docstring)."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    left_X: np.ndarray
    right_X: np.ndarray
    feature_X: np.ndarray
    threshold_X: np.ndarray
    value_XK: np.ndarray
    tree_roots: np.ndarray

    def predict_proba(self, lcs, periods=None) -> np.ndarray:
        """(N, K) class probabilities of the stars of `lcs` (periods (N,) days, default meta['period']):
        the mean over trees of the class fractions of the leaf each star reaches."""
        return self.predict_features(feature_matrix(lcs, periods, self.features))

    def predict_features(self, x_NC: np.ndarray) -> np.ndarray:
        """`predict_proba` of a feature table (N, len(features)) already computed."""
        # scikit-learn compares float32 features with float64 thresholds: the same casts here give
        # the same leaves.
        x = np.asarray(x_NC, np.float32).astype(np.float64)
        rows = np.arange(x.shape[0])
        prob = np.zeros((x.shape[0], len(self.classes)))
        for root in self.tree_roots:  # loop over trees; each descends all stars at once
            node = np.full(x.shape[0], root)
            while True:
                inner = self.left_X[node] != _LEAF
                if not inner.any():
                    break
                go_left = x[rows, np.where(inner, self.feature_X[node], 0)] <= self.threshold_X[node]
                node = np.where(inner, np.where(go_left, self.left_X[node], self.right_X[node]), node)
            prob += self.value_XK[node]
        return prob / len(self.tree_roots)

    def save(self, folder: str | Path) -> Path:
        """forest.npz (the arrays) and forest.json (classes, features, format) in `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / FOREST_FILES[0], left_X=self.left_X, right_X=self.right_X, feature_X=self.feature_X,
                 threshold_X=self.threshold_X, value_XK=self.value_XK, tree_roots=self.tree_roots)
        (folder / FOREST_FILES[1]).write_text(json.dumps(
            {"format": FORMAT, "classes": list(self.classes), "features": list(self.features),
             "trees": int(len(self.tree_roots))}, indent=1) + "\n")
        return folder


def feature_matrix(lcs, periods, features: Sequence[str] = FOREST_FEATURES) -> np.ndarray:
    """(N, C) float64 `features` of the stars of `lcs` (`data.features.light_curve_features`)."""
    from jaxpelsvae.data.features import light_curve_features

    return light_curve_features(lcs, periods)[list(features)].to_numpy(np.float64)


def fit_forest(lcs, periods=None, *, seed: int = 0, trees: int = 300) -> FeatureForest:
    """A random forest (`trees` trees, balanced class weights) on FOREST_FEATURES of the labelled
    stars of `lcs` (periods (N,) days, default meta['period']: found without the class, as the
    classifier's), classes in `lcs.classes` order."""
    from sklearn.ensemble import RandomForestClassifier

    y = np.asarray(lcs.labels)
    k = len(lcs.classes)
    if len(np.unique(y)) < 2:
        raise DataError("the feature forest needs training stars of at least two classes")
    rf = RandomForestClassifier(trees, random_state=seed, n_jobs=1, class_weight="balanced")
    rf.fit(feature_matrix(lcs, periods), y)
    parts, roots, start = [], [], 0
    for est in rf.estimators_:
        t = est.tree_
        value = np.zeros((t.node_count, k))
        value[:, rf.classes_] = t.value[:, 0, :]  # columns of the classes the forest saw
        value /= np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
        inner = t.children_left != _LEAF
        parts.append((np.where(inner, t.children_left + start, _LEAF), np.where(inner, t.children_right + start, _LEAF),
                      t.feature.astype(np.int64), t.threshold.astype(np.float64), value))
        roots.append(start)
        start += t.node_count
    left, right, feature, threshold, value = (np.concatenate(a) for a in zip(*parts))
    return FeatureForest(tuple(lcs.classes), FOREST_FEATURES, left.astype(np.int64), right.astype(np.int64),
                         feature, threshold, value, np.asarray(roots, np.int64))


def remove_forest(folder: str | Path) -> None:
    """Remove the forest saved in `folder`, if any: a model trained again without one must not keep
    averaging with a forest of an earlier run (`predict` and `evaluate` use whatever is there)."""
    import shutil

    shutil.rmtree(Path(folder), ignore_errors=True)


def load_forest(folder: str | Path) -> FeatureForest | None:
    """The forest saved in `folder` (`FeatureForest.save`), or None when there is none."""
    folder = Path(folder)
    if not (folder / FOREST_FILES[1]).is_file():
        return None
    info = json.loads((folder / FOREST_FILES[1]).read_text())
    if info.get("format") != FORMAT:
        raise DataError(f"{folder}: forest format {info.get('format')!r}, expected {FORMAT!r}")
    with np.load(folder / FOREST_FILES[0], allow_pickle=False) as a:
        arrays = {name: a[name] for name in ("left_X", "right_X", "feature_X", "threshold_X", "value_XK", "tree_roots")}
    return FeatureForest(tuple(info["classes"]), tuple(info["features"]), **arrays)
