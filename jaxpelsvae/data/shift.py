"""Data-shift scenarios: hardness bias, random split, cross-dataset.

Each scenario turns one labelled LightCurveSet (or two, for cross-dataset) into a training pool and
a test pool, deterministically for a seed, and says what it did in a JSON-able `info` dict that
goes into report.json's `split` entry. The original's quality cuts (SNR, sequence length) of the
paper's sweeps are not a scenario: they apply after any split (`pipeline.quality_cuts`,
`ExperimentConfig.quality_cuts`).

Hardness bias (Pérez-Galarce et al. 2021; ORIGINAL.md §12.2): a random forest on simple light-curve
features gives every star class probabilities p; its Gini impurity h = 1 − Σ_c p_c² measures how
ambiguous it is. A star stays in the training pool with probability exp(−T·h), else it goes to the
test pool, so hard stars are over-represented in test (Bias 2 of the paper: T = 3, max_depth 12,
in-sample probabilities). Bias 1 (the paper's SNR sweep, T2) took h from a binary forest, RR Lyrae
against the rest, at T = 4 (ORIGINAL.md §12.2): `hardness_target` names that one class.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from jaxpelsvae.data.features import light_curve_features
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError

SCENARIOS = ("hardness", "random", "cross")
# Scenarios of earlier versions: the hardness split with the quality cuts of the training pool.
CUT_SCENARIOS = ("snr", "seq_length")
_HARDNESS_STREAM = 0x4A2D
_RANDOM_STREAM = 0x2A11


@dataclasses.dataclass(frozen=True)
class ShiftConfig:
    """How to split a dataset into a training pool and a (shifted) test pool.

    scenario: one of SCENARIOS; "cross" needs a second dataset (train on one, test on the other).
    temperature: T of the hardness bias (Bias 2: 3; Bias 1: 4). T = 0 sends nothing to test.
    in_sample: hardness from in-sample forest probabilities as the paper (True), or out-of-fold
        (`n_folds`-fold, better for small datasets where an in-sample forest memorises everything).
    test_fraction: for "random": stratified fraction of stars in the test pool.
    hardness_target: None (every class against every other: Bias 2), or one class judged against
        the rest by a binary forest (Bias 1: "RRLYR", with T = 4).
    """

    scenario: str = "hardness"
    temperature: float = 3.0
    in_sample: bool = True
    max_depth: int = 12
    n_estimators: int = 100
    n_folds: int = 5
    test_fraction: float = 0.3
    hardness_target: str | None = None

    def __post_init__(self):
        if self.scenario in CUT_SCENARIOS:
            raise ConfigError(f"ShiftConfig.scenario {self.scenario!r} is the hardness split with the original "
                              "quality cuts of the training pool: set ExperimentConfig quality_cuts=True with "
                              "snr_threshold (and seq_length), or pass --quality-cuts --snr-threshold X")
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"ShiftConfig.scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.temperature < 0:
            raise ConfigError(f"ShiftConfig.temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"ShiftConfig.test_fraction must be in (0, 1), got {self.test_fraction}")


class SplitResult(NamedTuple):
    """train / test pools and a JSON-able description (method, parameters, counts)."""

    train: LightCurveSet
    test: LightCurveSet
    info: dict


def gini_hardness(
    features_NC: np.ndarray,
    labels_N: np.ndarray,
    *,
    seed: int = 0,
    in_sample: bool = True,
    max_depth: int = 12,
    n_estimators: int = 100,
    n_folds: int = 5,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """(N,) Gini impurity h = 1 − Σ_c p_c² of random-forest class probabilities, in [0, 1 − 1/K].

    in_sample=True fits on all stars and predicts the same stars (as the paper's Bias 2);
    otherwise each star's probabilities come from a forest that did not see it (stratified folds).
    Deterministic for a seed (the forest's random_state and the fold assignment derive from it).
    class_names: the names of the label values (labels index them), for error messages.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(features_NC, np.float64)
    y = np.asarray(labels_N)
    classes = np.unique(y)
    if classes.size < 2:
        present = [class_names[int(c)] for c in classes] if class_names is not None else classes.tolist()
        raise DataError(f"hardness: needs stars of at least 2 classes, got only {', '.join(map(str, present)) or 'none'}")

    def forest():
        return RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=int(seed), n_jobs=1
        )

    proba = np.zeros((y.shape[0], classes.size))
    min_count = int(np.bincount(np.searchsorted(classes, y)).min())
    if in_sample or min_count < 2:
        model = forest().fit(x, y)
        proba[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(x)
    else:
        folds = StratifiedKFold(n_splits=min(n_folds, min_count), shuffle=True, random_state=int(seed))
        for fit_idx, pred_idx in folds.split(x, y):
            model = forest().fit(x[fit_idx], y[fit_idx])
            proba[np.ix_(pred_idx, np.searchsorted(classes, model.classes_))] = model.predict_proba(x[pred_idx])
    return 1.0 - np.sum(proba**2, axis=1)


def _counts(lcs: LightCurveSet) -> dict[str, int]:
    return {str(k): int(v) for k, v in lcs.class_counts().items()}


def hardness_split(
    lcs: LightCurveSet,
    temperature: float = 3.0,
    seed: int = 0,
    *,
    features: pd.DataFrame | None = None,
    hardness: np.ndarray | None = None,
    in_sample: bool = True,
    max_depth: int = 12,
    n_estimators: int = 100,
    n_folds: int = 5,
    target: str | None = None,
) -> SplitResult:
    """Hardness-biased split: star i stays in train with probability exp(−T·h_i), else test.

    features: (N, F) table from `light_curve_features(lcs)` (computed here when None; periods from
        meta['period'] where present).
    hardness: (N,) precomputed h (from `gini_hardness`): skips the forest, e.g. to draw several
        splits or temperatures from one fit. The draw u ~ U(0, 1) depends on `seed` only.
    target: a class name: the forest tells that class from the rest (Bias 1), h in [0, 1/2].
    Returns SplitResult whose info holds per-pool class counts, the mean hardness of each pool,
    and (under "hardness_by_id") h of every star.
    """
    if len(lcs) == 0:
        raise DataError("hardness_split: the dataset is empty")
    if hardness is not None:
        h = np.asarray(hardness, np.float64).reshape(-1)
        if h.shape != (len(lcs),):
            raise ConfigError(f"hardness_split: hardness has shape {h.shape}, expected ({len(lcs)},)")
        feature_names = []
    else:
        if features is None:
            features = light_curve_features(lcs)
        feature_names = list(features.columns)
        h = gini_hardness(
            features.to_numpy(np.float64), _hardness_labels(lcs, target), seed=seed, in_sample=in_sample,
            max_depth=max_depth, n_estimators=n_estimators, n_folds=n_folds,
            class_names=lcs.classes if target is None else (f"not {target}", target),
        )
    u = np.random.default_rng([int(seed), _HARDNESS_STREAM]).uniform(size=len(lcs))
    keep = np.exp(-float(temperature) * h) > u
    train, test = lcs.select(keep), lcs.select(~keep)
    info = {
        "method": "hardness",
        "parameters": {
            "temperature": float(temperature), "in_sample": bool(in_sample), "max_depth": int(max_depth),
            "n_estimators": int(n_estimators), "seed": int(seed), "features": feature_names,
            **({"target": target} if target is not None else {}),  # Bias 1 only: earlier reports unchanged
        },
        "train_pool": _counts(train),
        "test_pool": _counts(test),
        "hardness_mean_train": float(h[keep].mean()) if keep.any() else None,
        "hardness_mean_test": float(h[~keep].mean()) if (~keep).any() else None,
        "hardness_by_id": dict(zip(lcs.ids.tolist(), np.round(h, 6).tolist())),
    }
    return SplitResult(train, test, info)


def _hardness_labels(lcs: LightCurveSet, target: str | None) -> np.ndarray:
    """The labels the hardness forest learns: the classes, or 1 for `target` and 0 for the rest."""
    if target is None:
        return lcs.labels
    if target not in lcs.classes:
        raise ConfigError(f"hardness target {target!r} is not a class of the dataset {tuple(lcs.classes)}")
    return (lcs.labels == lcs.classes.index(target)).astype(np.int64)


def random_split(lcs: LightCurveSet, test_fraction: float = 0.3, seed: int = 0) -> SplitResult:
    """Stratified random split (no shift): `test_fraction` of every class goes to test."""
    rng = np.random.default_rng([int(seed), _RANDOM_STREAM])
    labels = lcs.labels
    test = np.zeros(len(lcs), bool)
    for k in np.unique(labels):  # loop over classes, not stars
        members = rng.permutation(np.flatnonzero(labels == k))
        test[members[: int(round(test_fraction * members.size))]] = True
    train_set, test_set = lcs.select(~test), lcs.select(test)
    info = {
        "method": "random",
        "parameters": {"test_fraction": float(test_fraction), "seed": int(seed)},
        "train_pool": _counts(train_set),
        "test_pool": _counts(test_set),
    }
    return SplitResult(train_set, test_set, info)


def match_classes(train: LightCurveSet, test: LightCurveSet) -> SplitResult:
    """Cross-dataset evaluation: train on `train`, test on `test`, classes matched by name.

    Test stars of classes the training set lacks are dropped (they cannot be predicted); the info
    lists classes missing on either side. Both sets get the training set's class tuple, so labels
    index the same names.
    """
    if "class" not in test.meta.columns:
        raise DataError("cross-dataset: the test dataset has no `class` column in its meta table")
    train_classes = tuple(c for c in train.classes if c in set(train.meta["class"].dropna()))
    test_present = sorted(set(test.meta["class"].dropna().astype(str)))
    common = [c for c in train_classes if c in test_present]
    if not common:
        raise DataError(
            f"cross-dataset: no class in common between training {train_classes} and test {tuple(test_present)}"
        )
    missing_in_test = [c for c in train_classes if c not in test_present]
    missing_in_train = [c for c in test_present if c not in train_classes]
    dropped = int(test.meta["class"].isin(missing_in_train).sum())
    test_m = test.select_classes(common).with_classes(train_classes)
    train_m = train.select_classes(train_classes)
    info = {
        "method": "cross",
        "parameters": {},
        "train_pool": _counts(train_m),
        "test_pool": _counts(test_m),
        "classes_missing_in_test": missing_in_test,
        "classes_missing_in_train": missing_in_train,
        "test_stars_dropped": dropped,
    }
    return SplitResult(train_m, test_m, info)


def make_split(
    lcs: LightCurveSet,
    config: ShiftConfig,
    seed: int = 0,
    *,
    test_lcs: LightCurveSet | None = None,
    features: pd.DataFrame | None = None,
) -> SplitResult:
    """Dispatch on `config.scenario`; with `test_lcs` the scenario is cross-dataset whatever it says."""
    if test_lcs is not None or config.scenario == "cross":
        if test_lcs is None:
            raise ConfigError("scenario 'cross' needs a second dataset (--test DATA2)")
        return match_classes(lcs, test_lcs)
    if config.scenario == "random":
        return random_split(lcs, config.test_fraction, seed)
    return hardness_split(
        lcs, config.temperature, seed, features=features, in_sample=config.in_sample,
        max_depth=config.max_depth, n_estimators=config.n_estimators, n_folds=config.n_folds,
        target=config.hardness_target,
    )
