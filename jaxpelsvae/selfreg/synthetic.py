"""The synthetic set of a self-regulated epoch: ask the generator for per-class counts and give the
classifier its view of the curves (`generate_set`), the same view as real curves get."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.train.classifier import Encoded, TrainConfig


def generate_set(generator, key, counts: Sequence[int], temperature: float, classes: Sequence[str],
                 seq_length: int, n_oversampling: int = 1, capacity: int | None = None,
                 config: TrainConfig | None = None, period_config=None, star_weights=None) -> Encoded:
    """Ask the generator for ``count`` templates of each class, each made into ``n_oversampling``
    light curves, keep the valid slots and map its labels to ``classes``.

    The original drew ``n_oversampling`` random subsequences of every decoded curve; generators that
    take ``repeats`` (`jaxpelsvae.synth.Generator`) decode each template once and reverse-fold it
    ``n_oversampling`` times, each time with its own donor cadence, phase and noise; others are
    asked for ``count × n_oversampling`` independent curves. Classes the generator does not know get
    no synthetic curves. ``capacity`` (template slots) is passed on to generators that take it, so
    that every regeneration of a run reuses one compiled program.
    ``config``: for a period-aware classifier the raw synthetic curves go through its view (the
    same function as real curves), folded at the period found on them (``synthetic_periods``) by the
    search real curves went through (``period_config``, a `PeriodConfig`; None: the default).
    ``star_weights``: the posterior-mode generator's odds of each of its stars (`selfreg.focus`).
    """
    import inspect

    gen_classes = tuple(getattr(generator, "classes", classes))
    params = inspect.signature(generator.generate).parameters
    m = int(n_oversampling)
    takes_repeats = "repeats" in params
    per_count = 1 if takes_repeats else m  # templates (or independent curves) asked per counted curve
    request = {c: int(n) * per_count for c, n in zip(classes, counts) if c in gen_classes}
    kwargs = {"repeats": m} if takes_repeats and m > 1 else {}
    if capacity is not None and "capacity" in params:
        kwargs["capacity"] = max(int(capacity) * per_count, sum(request.values()))
    if star_weights is not None:
        if "star_weights" not in params:
            raise ConfigError(f"{type(generator).__name__}.generate takes no star_weights (regulator focus)")
        kwargs["star_weights"] = star_weights
    out = generator.generate(key, request, float(temperature), **kwargs)
    keep = getattr(out, "slot_valid_N", None)
    keep = np.ones(len(np.asarray(out.y_N)), bool) if keep is None else np.asarray(keep, bool)
    y = np.asarray(out.y_N, np.int64)[keep]
    if config is not None and config.reads_period:
        x = _synthetic_views(out, keep, config, key, period_config)
    else:
        x = np.asarray(out.x_NL2, np.float32)[keep]
    if gen_classes != tuple(classes):
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.asarray([lookup.get(c, -1) for c in gen_classes])[y]
        if (y < 0).any():
            raise DataError("the generator produced classes unknown to the classifier")
    if config is None or not config.reads_period:
        if x.ndim != 3 or x.shape[1:] != (seq_length, 2) or len(x) != len(y):
            raise ConfigError(f"synthetic curves must be (N, {seq_length}, 2) with N labels, got {x.shape}"
                              f" and {y.shape}")
    return Encoded(x, y.astype(np.int32))


def _synthetic_views(out, keep: np.ndarray, config: TrainConfig, key, period_config=None):
    """The classifier's view of the kept raw synthetic curves of a `SynthBatch`."""
    import jax

    from jaxpelsvae.views.apply import view_arrays

    time, mag, err, mask = (np.asarray(a) for a in (out.time_NT, out.mag_NT, out.err_NT, out.mask_NT))
    periods = np.asarray(out.period_N, np.float64)
    if config.synthetic_periods != "true":  # "auto" unresolved (no training set known here): "found"
        periods = periods.copy()
        periods[keep] = synthetic_found_periods(time[keep], mag[keep], err[keep], mask[keep], period_config)
    # The view runs on every slot of the batch, whose shape is fixed by the generator's capacity,
    # so a regeneration of another size reuses the compiled view; each kept curve's key is still
    # that of its index among the kept curves, and the empty slots are dropped afterwards.
    index = np.where(keep, np.cumsum(keep) - 1, 0).astype(np.int32)
    views = view_arrays(config.classifier, time, mag, err, mask, periods, jax.random.fold_in(key, 1), index,
                        **dict(config.view_overrides))
    return jax.tree.map(lambda a: a[keep], views)


def synthetic_found_periods(time_NT, mag_NT, err_NT, mask_NT, period_config=None) -> np.ndarray:
    """Periods of synthetic curves found as those of real curves are (label-free Lomb-Scargle):
    the view then folds a synthetic curve at the same aliases a real one would show."""
    from jaxpelsvae.data.lightcurves import LightCurveSet
    from jaxpelsvae.period import fill_periods

    lcs = LightCurveSet.from_padded(np.arange(len(time_NT)).astype(str), time_NT.astype(np.float64),
                                    mag_NT.astype(np.float64), err_NT.astype(np.float64), mask_NT)
    return fill_periods(lcs, config=period_config)[0].periods

