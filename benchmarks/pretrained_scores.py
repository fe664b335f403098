"""The shipped model's scores on real labelled surveys: `predict` without and with `--adapt`, macro-F1 over each dataset's classes.

The model never saw a real star (see its card); labels are read here only to score. For each
dataset (default: ../shared/data/gaia_dr3_dev and eros1_dev, skipped when absent) the table gives
macro-F1 over the classes the dataset has (a prediction of another class counts as an error),
accuracy, and per-class recall, for plain `predict` and for `predict --adapt` (the fine-tune on
simulated stars observed on the dataset's own epochs; no label read), with the wall time of each.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/pretrained_scores.py [--model DIR] [--no-adapt] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import benchlib

DATA = benchlib.ROOT.parent / "shared" / "data"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=f"{DATA / 'gaia_dr3_dev'},{DATA / 'eros1_dev'}",
                   help="comma-separated labelled dataset folders")
    p.add_argument("--model", type=Path, default=None, help="a model folder (default: the shipped model)")
    p.add_argument("--no-adapt", action="store_true", help="plain predict only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def scores(table, lcs) -> dict:
    """macro-F1 / accuracy / per-class recall of `table` against the classes in lcs.meta."""
    import numpy as np
    from sklearn.metrics import f1_score

    truth = lcs.meta.set_index(lcs.meta["id"].astype(str))["class"].astype(str)
    y_true = truth.reindex(table["id"].astype(str)).to_numpy()
    y_pred = table["predicted"].astype(str).to_numpy()
    labels = sorted(set(y_true))
    return {"macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "accuracy": float(np.mean(y_true == y_pred)), "n": int(len(y_true)),
            "recall": {c: float(np.mean(y_pred[y_true == c] == c)) for c in labels}}


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jaxpelsvae
    from jaxpelsvae.data import read_dataset, validate

    rows = []
    for folder in (Path(d.strip()) for d in args.datasets.split(",") if d.strip()):
        if not folder.is_dir():
            print(f"{folder}: not found, skipped")
            continue
        lcs, _ = validate(read_dataset(folder), require_class=True, sort_times=True, source=str(folder))
        for adapt in ([False] if args.no_adapt else [False, True]):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = jaxpelsvae.predict(folder, args.model, seed=args.seed, adapt=adapt)
            row = {"dataset": folder.name, "adapt": adapt, "seconds": time.perf_counter() - start, **scores(table, lcs)}
            if adapt:
                row["adapt_summary"] = table.attrs["adapt"]
            rows.append(row)
            recall = " ".join(f"{c} {v:.2f}" for c, v in row["recall"].items())
            print(f"{folder.name:14s} adapt={str(adapt):5s} macro-F1 {row['macro_f1']:.3f} accuracy {row['accuracy']:.3f} "
                  f"({row['n']} stars; recall {recall}) {row['seconds']:.0f} s", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": benchlib.environment(), "rows": rows}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
