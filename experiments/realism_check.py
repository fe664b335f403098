"""Realism check of the simulator: a random forest trained only on simulated Gaia-cadence stars
classifies the real Gaia DR3 development stars (macro-F1, per-class recall, confusion matrix).

    .venv/bin/python experiments/realism_check.py [--n-per-class 400] [--seed 0] [--data DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "gaia_dr3_dev"

# Shape features only: brightness- and noise-level features (median magnitude, mean error, SNR,
# number of points) describe the survey selection, not the class, and would not transfer.
FEATURES = (
    "amplitude", "p95_p5", "p75_p25", "median_minus_mean", "std", "skewness", "kurtosis",
    "log10_period", "fourier_a1", "fourier_r21", "fourier_r31", "fourier_phi21",
)
MIN_FREQ, MAX_FREQ = 1.0 / 1000.0, 30.0  # cycles per day


def estimate_periods(lcs) -> tuple[np.ndarray, np.ndarray]:
    """Best Lomb-Scargle period [d] and its power for every star of `lcs` ((N,), (N,)).

    Uses the project's batched JAX periodogram (`jaxpelsvae.period.find_periods`) when available,
    else astropy's LombScargle star by star.
    """
    try:
        from jaxpelsvae.period import find_periods
    except ImportError:
        find_periods = None
    if find_periods is not None:
        # Plain Lomb-Scargle, no class-dependent doubling test (that would read the labels).
        table = find_periods(lcs, min_period=1.0 / MAX_FREQ, max_period=1.0 / MIN_FREQ, nterms=1,
                             double_test="off", progress=False)
        table = table.set_index("id").loc[list(lcs.ids)]
        return table["period"].to_numpy(np.float64), table["power"].to_numpy(np.float64)
    from astropy.timeseries import LombScargle

    periods = np.full(len(lcs), np.nan)
    powers = np.full(len(lcs), np.nan)
    for i in range(len(lcs)):  # a check script, not a hot path
        t, m, e = lcs.curve(i)
        if t.size < 5:
            continue
        ls = LombScargle(t, m, e)
        freq, power = ls.autopower(minimum_frequency=MIN_FREQ, maximum_frequency=MAX_FREQ,
                                   samples_per_peak=10, method="fast")
        k = int(np.argmax(power))
        periods[i], powers[i] = 1.0 / freq[k], power[k]
    return periods, powers


def features(lcs) -> pd.DataFrame:
    """Feature table (stars x FEATURES + log-power) with the estimated periods."""
    from jaxpelsvae.data.features import light_curve_features

    period, power = estimate_periods(lcs)
    table = light_curve_features(lcs, period)[list(FEATURES)].copy()
    table["ls_power"] = power
    return table.fillna(-99.0)


def read_real(folder: Path):
    from jaxpelsvae.data.readers import read_standard

    return read_standard(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-per-class", type=int, default=400, help="simulated training stars per class")
    parser.add_argument("--seed", type=int, default=0, help="simulation and forest seed")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real dataset (standard layout)")
    parser.add_argument("--trees", type=int, default=500, help="trees in the random forest")
    parser.add_argument("--json", type=Path, default=None, help="write the result here as JSON")
    args = parser.parse_args(argv)

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import confusion_matrix, f1_score, recall_score

    from jaxpelsvae.simulate import CLASSES, simulate_survey

    if not args.data.is_dir():
        print(f"realism_check: no real data at {args.data}", file=sys.stderr)
        return 2
    start = time.time()
    sim = simulate_survey({c: args.n_per_class for c in CLASSES}, cadence="gaia", seed=args.seed)
    real = read_real(args.data)
    x_sim, x_real = features(sim), features(real)
    y_sim = sim.meta["class"].to_numpy(str)
    y_real = real.meta["class"].to_numpy(str)
    forest = RandomForestClassifier(n_estimators=args.trees, min_samples_leaf=2, class_weight="balanced",
                                    random_state=args.seed, n_jobs=1)
    forest.fit(x_sim.to_numpy(), y_sim)
    pred = forest.predict(x_real.to_numpy())
    labels = list(CLASSES)
    result = {
        "n_train_per_class": args.n_per_class,
        "n_real": int(len(real)),
        "macro_f1": float(f1_score(y_real, pred, labels=labels, average="macro")),
        "recall": dict(zip(labels, map(float, recall_score(y_real, pred, labels=labels, average=None)))),
        "confusion": confusion_matrix(y_real, pred, labels=labels).tolist(),
        "labels": labels,
        "feature_importance": dict(zip(x_sim.columns, map(float, forest.feature_importances_))),
        "wall_s": time.time() - start,
        "seed": args.seed,
    }
    print(f"macro-F1 {result['macro_f1']:.3f}   recall " +
          " ".join(f"{c} {r:.2f}" for c, r in result["recall"].items()))
    print("confusion (rows true, columns predicted):", labels)
    for c, row in zip(labels, result["confusion"]):
        print(f"  {c:6s}", row)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
