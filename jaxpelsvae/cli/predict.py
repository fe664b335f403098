"""`jaxpelsvae predict --model W DATA --out FILE`: class probabilities of unlabelled curves from a trained classifier."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "class probabilities of (unlabelled) light curves from a trained classifier"
OUT_KIND = "file"  # --out names a file
DESCRIPTION = (
    "Classify every star of DATA (labels, if any, are ignored) with the classifier saved by `jaxpelsvae "
    "train` or `experiment` (a run's model/ folder). Stars without a period get one from the same "
    "label-free Lomb-Scargle search used for training stars (period-aware classifiers only). Writes a CSV "
    "with one row per star: id, one probability column per class, predicted, probability of the predicted "
    "class, period (days) and its source; stars rejected by validation are listed in --workdir/rejected.csv."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, Gaia epoch photometry, ...)")
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder written by `jaxpelsvae train` or `experiment` (WORKDIR/model or a run's folder)")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    add_min_points(parser)
    parser.add_argument("--batch-size", type=int, default=None, help="stars per evaluation batch (default: the model's)")


def resolve_model_dir(path: Path) -> Path:
    """The folder holding model.json: ``path`` itself or its model/ subfolder."""
    from jaxpelsvae.errors import DataError

    path = Path(path)
    for cand in (path, path / "model"):
        if (cand / "model.json").is_file():
            return cand
    raise DataError(f"{path}: no saved classifier here (expected model.json in it or in its model/ folder)")


def run(args: argparse.Namespace) -> int:
    from jaxpelsvae.cli import print_notes
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.train.classifier import load_model, predict_saved_model

    model_dir = resolve_model_dir(args.model)
    load_model(model_dir)  # a broken model stops here, before the data are read and classified
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # The curves to classify need no class column (any class given is never read).
    lcs, rejected = load_dataset(args.data, workdir=workdir, min_points=args.min_points, require_class=False)
    print_notes(rejected)
    table = predict_saved_model(model_dir, lcs, seed=args.seed, batch_size=args.batch_size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g", lineterminator="\n")
    counts = table["predicted"].value_counts().sort_index()
    print(f"{len(table)} stars classified ({len(rejected)} rejected): "
          + ", ".join(f"{c} {n}" for c, n in counts.items()) + f"; written to {out}")
    return 0
