"""`predict`: class probabilities of unlabelled light curves from a saved classifier, in one call (what `jaxpelsvae predict` runs)."""
from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from jaxpelsvae.errors import DataError

# The columns of a table of observations (one row per point); any other column, a class one
# included, is not read.
CURVE_COLUMNS = ("id", "time", "mag", "err")

# The model shipped with the package (trained on simulated surveys only; its card.json and the
# README's model card say how): `predict` uses it when no model is given.
PRETRAINED = Path(__file__).parent / "pretrained"


def pretrained_model() -> Path:
    """The folder of the shipped model (DataError when the installation lacks it)."""
    if not (PRETRAINED / "model.json").is_file():
        raise DataError(f"{PRETRAINED}: the shipped model is missing from this installation; reinstall "
                        "jaxpelsvae, or give a model folder written by `jaxpelsvae train` or `experiment`")
    return PRETRAINED


def pretrained_card() -> dict:
    """The shipped model's card: how it was trained (`experiments.pretrained`) and its scores on simulated stars."""
    import json

    return json.loads((pretrained_model() / "card.json").read_text())


def resolve_model_dir(path: str | os.PathLike | None) -> Path:
    """The folder holding model.json: ``path`` itself or its model/ subfolder; None: the shipped model."""
    if path is None:
        return pretrained_model()
    path = Path(path)
    for cand in (path, path / "model"):
        if (cand / "model.json").is_file():
            return cand
    raise DataError(f"{path}: no saved classifier here (expected model.json in it or in its model/ folder)")


def _star_arrays(star_id, curve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, mag, err) of one star given as a 3-sequence of equally long 1-D arrays."""
    if isinstance(curve, (str, bytes)) or not hasattr(curve, "__len__") or len(curve) != 3:
        raise DataError(f"star {star_id!r}: expected (time, mag, err), got {type(curve).__name__} "
                        "(rule: missing columns)")
    arrays = tuple(np.asarray(a, np.float64).reshape(-1) for a in curve)
    if len({a.shape[0] for a in arrays}) != 1:
        raise DataError(f"star {star_id!r}: time, mag and err have different lengths "
                        f"{[a.shape[0] for a in arrays]}")
    return arrays


def _from_mapping(curves: dict):
    from jaxpelsvae.data.lightcurves import LightCurveSet

    if not curves:
        raise DataError("predict: no light curves given (an empty dict)")
    parts = [_star_arrays(star_id, curve) for star_id, curve in curves.items()]
    return LightCurveSet.from_arrays(list(curves), *zip(*parts))


def as_lightcurves(curves):
    """The unlabelled LightCurveSet of any input `predict` takes, before validation: a LightCurveSet;
    a path `read_dataset` reads; a DataFrame with columns id, time, mag, err (one row per
    observation); a dict {id: (time, mag, err)}; or one star's (time, mag, err) (id "0"). The class
    column, if any, is dropped: no label is read."""
    import pandas as pd

    from jaxpelsvae.data.lightcurves import LightCurveSet
    from jaxpelsvae.data.readers import read_dataset

    if isinstance(curves, LightCurveSet):
        lcs = curves
    elif isinstance(curves, (str, os.PathLike)):
        lcs = read_dataset(curves)
    elif isinstance(curves, pd.DataFrame):
        missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
        if missing:
            raise DataError(f"predict: the DataFrame lacks column(s) {missing}; it needs {list(CURVE_COLUMNS)}, "
                            "one row per observation (rule: missing columns)")
        lcs = LightCurveSet.from_frames(curves[list(CURVE_COLUMNS)], source="DataFrame")
    elif isinstance(curves, dict):
        lcs = _from_mapping(curves)
    elif isinstance(curves, (tuple, list)):
        lcs = _from_mapping({"0": curves})
    else:
        raise DataError(f"predict: cannot read light curves from a {type(curves).__name__} (give a "
                        "LightCurveSet, a path, a DataFrame id/time/mag/err, a dict {id: (time, mag, err)} "
                        "or one (time, mag, err))")
    # `with_meta` would carry the class over; replacing the table drops it.
    return dataclasses.replace(lcs, meta=lcs.meta.drop(columns=["class"], errors="ignore"), classes=())


def _report(rejected, n_total: int, progress: bool) -> None:
    """Say what validation did: `note:` lines on stderr (as the command line prints them) with
    ``progress``, else one warning when it rejected or changed anything."""
    from jaxpelsvae.data.validate import rejection_summary, validation_notes

    notes = validation_notes(rejected)
    if progress:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return
    parts = []
    if len(rejected):
        counts = ", ".join(f"{rule}: {n}" for rule, n in rejection_summary(rejected).items())
        parts.append(f"{len(rejected)} of {n_total} stars rejected ({counts}), listed in the result's "
                     "attrs['rejected']")
    parts += notes
    if parts:
        warnings.warn("predict: " + "; ".join(parts), stacklevel=3)


def predict(curves, model=None, *, batch_size: int | None = None, min_points: int | None = None,
            seed: int = 0, progress: bool = False, adapt=False, workdir=None):
    """Class probabilities of unlabelled light curves from a saved classifier, as `jaxpelsvae predict`
    writes them.

    curves: a LightCurveSet; a dataset path (anything `read_dataset` reads); a pandas DataFrame with
        columns id, time [d], mag, err [mag], one row per observation (err is required); a dict
        {id: (time, mag, err)} of 1-D arrays; or one star's (time, mag, err) (its id is "0"). Labels
        are never read (a class column is ignored); catalogue periods of a LightCurveSet or a
        dataset's meta.csv are used, other stars get one from the label-free search the model's
        training stars went through.
    model: the model folder written by `jaxpelsvae train` or `experiment` (the folder holding
        model.json, or the run folder above it); None: the model shipped with the package, trained
        on simulated surveys of six cadences only (`pretrained_card()`; README, "The shipped model").
    batch_size: stars per evaluation batch (None: the model's); min_points: curves with fewer points
        are rejected (None: the readers' default); seed: the draw of the inputs (as `--seed`).
    progress: print validation notes on stderr, as the command line does; otherwise what validation
        rejected or changed is one `warnings.warn`.
    adapt: True (or an `adaptation.AdaptConfig`): first fine-tune the model to these curves without
        reading a label (`adaptation.adapt_model`: simulated stars of every class observed on the
        curves' own epochs and errors), then classify with the adapted model. The table gains
        ``predicted_unadapted`` (the class before adapting) and ``df.attrs["adapt"]`` says what
        changed. workdir: keep the adapted model in workdir/adapt (default: a temporary folder).

    Returns a DataFrame with one row per usable star: id, one probability column per class of the
    model, ``predicted``, ``probability`` (of the predicted class), ``period`` [d], ``period_source``,
    ``period_power``, ``period_fap``, ``period_alias_flag`` (see `train.classifier.predict_saved_model`).
    ``df.attrs["rejected"]`` maps each rejected star's id to its reason (a dict, so that results
    still concatenate with `pandas.concat`). Raises DataError for a bad model folder (checked before
    the curves are read), unreadable curves, or when no star is usable.
    """
    from jaxpelsvae.data.validate import DEFAULT_MIN_POINTS, validate
    from jaxpelsvae.train.classifier import load_model, predict_saved_model

    model_dir = resolve_model_dir(model)
    load_model(model_dir)  # a broken model stops here, before the curves are read and searched
    lcs = as_lightcurves(curves)
    source = str(curves) if isinstance(curves, (str, os.PathLike)) else "predict"
    kept, rejected = validate(lcs, min_points=DEFAULT_MIN_POINTS if min_points is None else min_points,
                              require_class=False, source=source)
    _report(rejected, len(lcs), progress)
    if adapt:  # one label-free search serves both models (the adapted one records the same search)
        from jaxpelsvae.train.classifier import periods_as_trained, read_model_info

        kept = periods_as_trained(read_model_info(model_dir), kept)
    table = predict_saved_model(model_dir, kept, seed=seed, batch_size=batch_size)
    if adapt:
        table = _adapted(table, model_dir, kept, adapt, seed=seed, batch_size=batch_size, progress=progress,
                         workdir=workdir)
    table.attrs["rejected"] = dict(zip(rejected["id"].tolist(), rejected["reason"].tolist()))
    return table


def _adapted(before, model_dir: Path, kept, adapt, *, seed: int, batch_size, progress: bool, workdir):
    """The table of the model adapted to `kept` (`predict`'s adapt), with what changed."""
    import tempfile

    from jaxpelsvae.adaptation import AdaptConfig, adapt_model
    from jaxpelsvae.train.classifier import predict_saved_model

    config = adapt if isinstance(adapt, AdaptConfig) else AdaptConfig()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(workdir) / "adapt" if workdir is not None else Path(tmp) / "adapt"
        adapted, summary = adapt_model(model_dir, kept, folder, config, seed=seed, progress=progress)
        table = predict_saved_model(adapted, kept, seed=seed, batch_size=batch_size)
    table["predicted_unadapted"] = before["predicted"].to_numpy()
    changed = table["predicted"] != table["predicted_unadapted"]
    summary.update(changed=int(changed.sum()), stars=len(table),
                   counts_before={str(k): int(v) for k, v in before["predicted"].value_counts().sort_index().items()},
                   counts_after={str(k): int(v) for k, v in table["predicted"].value_counts().sort_index().items()})
    table.attrs["adapt"] = summary
    return table
