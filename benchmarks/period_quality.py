"""Period quality: share of label-free periods within 1 % of the truth, and how well `fap` / `alias_flag` mark the wrong ones.

Datasets: EROS-1 dev (../shared/data/eros1_dev, catalogue periods; skipped when absent) and
simulated OGLE and Gaia surveys (`simulate_survey`, true periods known). Every star is searched as
`predict` and `experiment` search it: label-free (`fill.find_periods_label_free`), default settings
except the period prior given. Per dataset and class the table gives
  ok1      share within 1 % of the true period,
  ok1_hd   share within 1 % of the true period, its half or its double,
  flag|bad share flagged (alias_flag, or fap above --fap) among the stars not within 1 % (ok1_hd
           for alias_flag-only analyses is in the JSON),
  flag|ok  share flagged among the stars within 1 % (false alarms).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/period_quality.py                 # priors 0, 1, auto
    PYTHONPATH=$PWD .venv/bin/python benchmarks/period_quality.py --quick --priors auto
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import benchlib

ROOT = benchlib.ROOT
EROS_DEV = ROOT.parent / "shared" / "data" / "eros1_dev"
TOLERANCE = 0.01


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priors", default="0,1,auto", help="comma-separated period_prior values (numbers or 'auto')")
    p.add_argument("--datasets", default="eros1_dev,sim_gaia,sim_ogle", help="comma-separated datasets")
    p.add_argument("--eros", type=Path, default=EROS_DEV, help="EROS-1 dev folder")
    p.add_argument("--n-gaia", type=int, default=60, help="simulated Gaia stars per class")
    p.add_argument("--n-ogle", type=int, default=20, help="simulated OGLE stars per class (long curves: slow on CPUs)")
    p.add_argument("--fap", type=float, default=0.01, help="a star is flagged when alias_flag or fap > this")
    p.add_argument("--quick", action="store_true", help="EROS-1 only, first 100 stars")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated surveys")
    p.add_argument("--json", type=Path, default=None, help="write the per-star results and the table here")
    return p.parse_args(argv)


def load(name: str, args):
    """(LightCurveSet, true periods (N,) days) of one dataset."""
    from jaxpelsvae.data import read_dataset, validate
    from jaxpelsvae.simulate import simulate_survey

    if name == "eros1_dev":
        lcs, _ = validate(read_dataset(args.eros), require_class=True, sort_times=True, source=str(args.eros))
        if args.quick:
            lcs = lcs.select(slice(0, 100))
    else:
        cadence = name.split("_", 1)[1]
        n = args.n_gaia if cadence == "gaia" else args.n_ogle
        lcs = simulate_survey({c: n for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence, args.seed)
    return lcs, lcs.meta["period"].to_numpy(float)


def parse_prior(text: str):
    return text if text == "auto" else float(text)


def score(found, true, classes, fap_limit: float):
    """Per-class rows of the table (dicts) from one search's result."""
    import numpy as np

    ratio = found["period"].to_numpy(float) / true
    ok = np.abs(ratio - 1) < TOLERANCE
    ok_hd = ok | (np.abs(ratio - 2) < 2 * TOLERANCE) | (np.abs(ratio - 0.5) < 0.5 * TOLERANCE)
    alias = found["alias_flag"].to_numpy(bool)
    flag = alias | ~(found["fap"].to_numpy(float) <= fap_limit)  # NaN fap (no period) flags too
    rows = []
    for name in ["all"] + sorted(set(classes)):
        sel = np.ones(len(true), bool) if name == "all" else classes == name
        bad, good = sel & ~ok, sel & ok
        rows.append({
            "class": name, "n": int(sel.sum()),
            "ok1": float(ok[sel].mean()), "ok1_hd": float(ok_hd[sel].mean()),
            "flag_bad": float(flag[bad].mean()) if bad.any() else float("nan"),
            "flag_ok": float(flag[good].mean()) if good.any() else float("nan"),
            "alias_bad": float(alias[bad].mean()) if bad.any() else float("nan"),
            "alias_ok": float(alias[good].mean()) if good.any() else float("nan"),
        })
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import numpy as np

    from jaxpelsvae.period import PeriodConfig
    from jaxpelsvae.period.fill import find_periods_label_free

    datasets = ["eros1_dev"] if args.quick else [d.strip() for d in args.datasets.split(",") if d.strip()]
    priors = [parse_prior(p.strip()) for p in args.priors.split(",") if p.strip()]
    table, stars = [], {}
    print(f"{'dataset':10s} {'prior':>5s} {'class':6s} {'n':>4s} {'ok1':>6s} {'ok1_hd':>6s} "
          f"{'flag|bad':>8s} {'flag|ok':>8s} {'alias|bad':>9s} {'alias|ok':>8s} {'s':>6s}")
    for name in datasets:
        if name == "eros1_dev" and not args.eros.is_dir():
            print(f"{name}: {args.eros} not found, skipped")
            continue
        lcs, true = load(name, args)
        classes = lcs.meta["class"].astype(str).to_numpy()
        for prior in priors:
            start = time.perf_counter()
            found = find_periods_label_free(lcs, PeriodConfig(period_prior=prior))
            seconds = time.perf_counter() - start
            for row in score(found, true, classes, args.fap):
                row.update(dataset=name, prior=str(prior), seconds=seconds, median_points=float(np.median(lcs.lengths)))
                table.append(row)
                print(f"{name:10s} {str(prior):>5s} {row['class']:6s} {row['n']:4d} {row['ok1']:6.3f} {row['ok1_hd']:6.3f} "
                      f"{row['flag_bad']:8.3f} {row['flag_ok']:8.3f} {row['alias_bad']:9.3f} {row['alias_ok']:8.3f} "
                      f"{seconds:6.1f}")
            stars[f"{name}/{prior}"] = {"id": found["id"].astype(str).tolist(), "true": true.tolist(),
                                        "class": classes.tolist(), "n_points": lcs.lengths.tolist(),
                                        **{c: found[c].tolist() for c in ("period", "power", "fap", "alias_flag")}}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"table": table, "stars": stars}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
