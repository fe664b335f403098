"""`jaxpelsvae evaluate [--model W] DATA`: metrics JSON and confusion-matrix figure of a trained classifier."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "evaluate a trained classifier on a dataset: metrics JSON and a confusion-matrix figure"
DESCRIPTION = (
    "Classify every star of DATA with the classifier saved by `jaxpelsvae train` (its workdir's model/ "
    "folder, or the workdir itself; without --model the shipped one) and write evaluation.json (macro_f1, accuracy, roc_auc_ovo/ovr, "
    "per-class precision/recall/f1, confusion) and confusion.png (row-normalised) into --workdir. With "
    "--split FILE only the file's test part is scored. Stops with an error when any scored star is one the "
    "classifier (or its generator) was fitted or validated on (--allow-overlap goes on with a warning)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="dataset folder or file with labelled stars")
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder written by `jaxpelsvae train` (WORKDIR/model or WORKDIR); default: the "
                             "shipped model (trained on simulated surveys only)")
    add_min_points(parser)
    parser.add_argument("--drop-unknown", action="store_true",
                        help="skip stars whose class the model does not know (default: error)")
    parser.add_argument("--split", type=Path, default=None,
                        help="split file from `jaxpelsvae split` (CSV id,part): score its test part only")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="go on (with a warning) when scored stars are ones the classifier or its generator "
                             "was fitted or validated on (results on them are leaked)")


def run(args: argparse.Namespace) -> int:
    from jaxpelsvae.cli import print_notes
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.errors import DataError
    from jaxpelsvae.selfreg.figures import plot_confusion
    from jaxpelsvae.json_io import json_safe
    from jaxpelsvae.train.metrics import absent_classes_warning, fmt_metric
    from jaxpelsvae.train.classifier import evaluate_saved_model, load_model

    from jaxpelsvae.prediction import resolve_model_dir

    model_dir = resolve_model_dir(args.model)
    classes = load_model(model_dir)[3]["classes"]  # a broken model stops here, before the data are read
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lcs, rejected = load_dataset(args.data, workdir=workdir, min_points=args.min_points)
    print_notes(rejected)
    if args.split is not None:
        from jaxpelsvae.data.split import parts_from_file

        (lcs,) = parts_from_file(lcs, args.split, ("test",), rejected=rejected)
    from jaxpelsvae.data.provenance import check_overlap

    for line in check_overlap(lcs.ids, {"classifier": model_dir}, allow=args.allow_overlap, tested="stars scored"):
        print(line)
    known = lcs.meta["class"].astype(str).isin(classes).to_numpy()
    if not known.all():
        unknown = sorted(set(lcs.meta["class"].astype(str)[~known]))
        if not args.drop_unknown:
            raise DataError(f"{args.data}: classes {unknown} are unknown to the model (classes {classes}); "
                            "use --drop-unknown to skip those stars")
        print(f"skipping {int((~known).sum())} stars of classes {unknown} unknown to the model")
        lcs = lcs.select(known)
    metrics = evaluate_saved_model(model_dir, lcs, seed=args.seed)
    metrics["data"] = str(Path(args.data).absolute())
    metrics["rejected"] = int(len(rejected))
    out = workdir / "evaluation.json"
    out.write_text(json.dumps(json_safe(metrics), indent=1))
    plot_confusion(metrics["confusion"], metrics["classes"], workdir / "confusion.png",
                   title=f"{Path(args.data).name}: macro-F1 {metrics['macro_f1']:.3f}")
    print(f"{len(lcs)} stars: macro-F1 {fmt_metric(metrics['macro_f1'], 4)}, accuracy "
          f"{fmt_metric(metrics['accuracy'], 4)}, ROC-AUC ovo {fmt_metric(metrics['roc_auc_ovo'])}; written to {out}")
    absent = absent_classes_warning(metrics.get("classes_absent"), "the scored data")
    if absent:
        print(f"warning: {absent}", file=sys.stderr)
    return 0
