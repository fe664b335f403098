"""Fitting periods of one class with its catalogue periods hidden: the class-limited search alone against the coherent fold of eclipsing binaries.

For each DATA folder: the stars of --class lose their catalogue periods, `pipeline.fitting_periods`
finds them twice (`coherent_classes=()` and the default, `period.fill.COHERENT_FOLD_CLASSES`), and prints the
share above 11 d and below the class's minimum period and, where catalogue periods exist, the share within 1 % of them and at their
double or half (experiments/README.md, "Eclipsing binaries' fitting periods").

Usage: python experiments/fitting_periods.py DATA [DATA ...] [--class ECL]
"""
from __future__ import annotations

import argparse

import numpy as np


def recovery(found: np.ndarray, true: np.ndarray | None, shortest: float = 0.0) -> dict:
    """Shares of `found` periods [d] above 11 d, below `shortest` (the class's minimum period), and
    within 1 % / at 2x or 1/2 of `true` (when given)."""
    out = {"n": int(found.size), "above_11_d": float(np.mean(found > 11)), "below_min": float(np.mean(found < shortest))}
    if true is not None and np.isfinite(true).all():
        ratio = found / true
        out["within_1pc"] = float(np.mean(np.abs(ratio - 1) < 0.01))
        out["double_or_half"] = float(np.mean((np.abs(ratio - 2) < 0.02) | (np.abs(ratio - 0.5) < 0.005)))
    return out


def main(argv=None) -> int:
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.physics.priors import PriorConfig, class_period_limits
    from jaxpelsvae.pipeline import fitting_periods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--class", dest="star_class", default="ECL")
    args = parser.parse_args(argv)
    shortest = class_period_limits(PriorConfig()).get(args.star_class, (0.0, np.inf))[0]
    for path in args.data:
        lcs, _ = load_dataset(path)
        stars = lcs.select_classes([args.star_class])
        true = stars.periods
        hidden = stars.with_meta(stars.meta.assign(period=np.nan)).with_classes(stars.classes)
        for label, classes in (("class-limited search", ()), ("+ coherent fold", None)):
            got, info = fitting_periods(hidden, drop_missing=True, coherent_classes=classes)
            kept = None if true is None else true[np.isin(stars.ids, got.ids)]
            r = recovery(got.periods, kept, shortest)
            print(f"{path} {args.star_class} {label}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                                            for k, v in r.items()) + f", refolded {info['n_refolded']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
