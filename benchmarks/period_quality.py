"""Period quality: share of label-free periods within 1 % of the truth, and how well `fap` / `alias_flag` mark the wrong ones.

Datasets: EROS-1 dev (../shared/data/eros1_dev, catalogue periods; skipped when absent), Gaia DR3
dev (no periods: only the agreement column and the time) and simulated OGLE and Gaia surveys
(`simulate_survey`, true periods known). Every star is searched as `predict` and `experiment`
search it: label-free (`fill.find_periods_label_free`), default settings except the period prior
and the coarse-to-fine step given (`PeriodConfig.coarse`; 1 = the whole grid). Per dataset and
class the table gives
  ok1      share within 1 % of the true period,
  ok1_hd   share within 1 % of the true period, its half or its double,
  flag|bad share flagged (alias_flag, or fap above --fap) among the stars not within 1 % (ok1_hd
           for alias_flag-only analyses is in the JSON),
  flag|ok  share flagged among the stars within 1 % (false alarms),
  same     share of stars whose period is within 1e-4 of the whole grid's (coarse 1, same prior;
           NaN when coarse 1 is not run),
  s        seconds of the search of the whole dataset (compilation included).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/period_quality.py                 # priors 0, 1, auto
    PYTHONPATH=$PWD .venv/bin/python benchmarks/period_quality.py --quick --priors auto
    PYTHONPATH=$PWD .venv/bin/python benchmarks/period_quality.py --priors 1 --coarse 1,2,4,5 \
        --datasets eros1_dev,gaia_dr3_dev,sim_gaia,sim_ogle
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
GAIA_DEV = ROOT.parent / "shared" / "data" / "gaia_dr3_dev"
TOLERANCE = 0.01


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priors", default="0,1,auto", help="comma-separated period_prior values (numbers or 'auto')")
    p.add_argument("--datasets", default="eros1_dev,sim_gaia,sim_ogle", help="comma-separated datasets")
    p.add_argument("--coarse", default="4", help="comma-separated PeriodConfig.coarse values (1 = whole grid)")
    p.add_argument("--eros", type=Path, default=EROS_DEV, help="EROS-1 dev folder")
    p.add_argument("--gaia", type=Path, default=GAIA_DEV, help="Gaia DR3 dev folder (no periods)")
    p.add_argument("--n-gaia", type=int, default=60, help="simulated Gaia stars per class")
    p.add_argument("--n-ogle", type=int, default=20, help="simulated OGLE stars per class (long curves: slow on CPUs)")
    p.add_argument("--fap", type=float, default=0.01, help="a star is flagged when alias_flag or fap > this")
    p.add_argument("--quick", action="store_true", help="EROS-1 only, first 100 stars")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated surveys")
    p.add_argument("--json", type=Path, default=None, help="write the per-star results and the table here")
    return p.parse_args(argv)


def load(name: str, args):
    """(LightCurveSet, true periods (N,) days, NaN where unknown) of one dataset."""
    import numpy as np

    from jaxpelsvae.data import read_dataset, validate
    from jaxpelsvae.simulate import simulate_survey

    if name in ("eros1_dev", "gaia_dr3_dev"):
        folder = args.eros if name == "eros1_dev" else args.gaia
        lcs, _ = validate(read_dataset(folder), require_class=True, sort_times=True, source=str(folder))
        if args.quick:
            lcs = lcs.select(np.arange(min(100, len(lcs))))
        if "period" not in lcs.meta.columns:
            return lcs, np.full(len(lcs), np.nan)
    else:
        cadence = name.split("_", 1)[1]
        n = args.n_gaia if cadence == "gaia" else args.n_ogle
        lcs = simulate_survey({c: n for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence, args.seed)
    return lcs, lcs.meta["period"].to_numpy(float)


def parse_prior(text: str):
    return text if text == "auto" else float(text)


def score(found, true, classes, fap_limit: float, whole=None):
    """Per-class rows of the table (dicts) from one search's result; whole: the whole grid's result."""
    import numpy as np

    known = np.isfinite(true).any()
    same = (np.abs(found["period"].to_numpy(float) / whole["period"].to_numpy(float) - 1) < 1e-4
            if whole is not None else None)
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
            "ok1": float(ok[sel].mean()) if known else float("nan"),
            "ok1_hd": float(ok_hd[sel].mean()) if known else float("nan"),
            "flag_bad": float(flag[bad].mean()) if bad.any() and known else float("nan"),
            "flag_ok": float(flag[good].mean()) if good.any() else float("nan"),
            "alias_bad": float(alias[bad].mean()) if bad.any() and known else float("nan"),
            "alias_ok": float(alias[good].mean()) if good.any() else float("nan"),
            "same": float(same[sel].mean()) if same is not None else float("nan"),
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
    coarses = sorted({int(c) for c in args.coarse.split(",") if c.strip()})
    table, stars = [], {}
    print(f"{'dataset':12s} {'prior':>5s} {'coarse':>6s} {'class':6s} {'n':>4s} {'ok1':>6s} {'ok1_hd':>6s} "
          f"{'flag|bad':>8s} {'flag|ok':>8s} {'alias|bad':>9s} {'alias|ok':>8s} {'same':>6s} {'s':>6s}")
    for name in datasets:
        folder = {"eros1_dev": args.eros, "gaia_dr3_dev": args.gaia}.get(name)
        if folder is not None and not folder.is_dir():
            print(f"{name}: {folder} not found, skipped")
            continue
        lcs, true = load(name, args)
        classes = lcs.meta["class"].astype(str).to_numpy()
        for prior in priors:
            whole = None
            for coarse in coarses:  # ascending: coarse 1 (the whole grid) first when asked
                start = time.perf_counter()
                found = find_periods_label_free(lcs, PeriodConfig(period_prior=prior, coarse=coarse))
                seconds = time.perf_counter() - start
                whole = found if coarse == 1 else whole
                for row in score(found, true, classes, args.fap, whole):
                    row.update(dataset=name, prior=str(prior), coarse=coarse, seconds=seconds,
                               median_points=float(np.median(lcs.lengths)))
                    table.append(row)
                    print(f"{name:12s} {str(prior):>5s} {coarse:6d} {row['class']:6s} {row['n']:4d} {row['ok1']:6.3f} "
                          f"{row['ok1_hd']:6.3f} {row['flag_bad']:8.3f} {row['flag_ok']:8.3f} {row['alias_bad']:9.3f} "
                          f"{row['alias_ok']:8.3f} {row['same']:6.3f} {seconds:6.1f}")
                stars[f"{name}/{prior}/{coarse}"] = {
                    "id": found["id"].astype(str).tolist(), "true": true.tolist(), "class": classes.tolist(),
                    "n_points": lcs.lengths.tolist(),
                    **{c: found[c].tolist() for c in ("period", "power", "fap", "alias_flag")}}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"table": table, "stars": stars}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
