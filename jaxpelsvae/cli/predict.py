"""`jaxpelsvae predict DATA --out FILE [--model W]`: class probabilities of unlabelled curves from a trained or the shipped classifier."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxpelsvae.cli import add_min_points

HELP = "class probabilities of (unlabelled) light curves from a trained classifier"
OUT_KIND = "file"  # --out names a file
DESCRIPTION = (
    "Classify every star of DATA (labels, if any, are ignored) with the classifier saved by `jaxpelsvae "
    "train` or `experiment` (a run's model/ folder), or without --model the one shipped with the package "
    "(trained on simulated surveys of six cadences; see the README's model card). Stars without a period get one from the same "
    "label-free Lomb-Scargle search used for training stars (period-aware classifiers only). Writes a CSV "
    "with one row per star: id, one probability column per class, predicted, probability of the predicted "
    "class, period (days) and its source; stars rejected by validation are listed in --workdir/rejected.csv."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="dataset folder or file (standard layout, OGLE .dat, Gaia epoch photometry, ...)")
    parser.add_argument("--model", type=Path, default=None,
                        help="model folder written by `jaxpelsvae train` or `experiment` (WORKDIR/model or a run's "
                             "folder); default: the shipped model")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    add_min_points(parser)
    parser.add_argument("--batch-size", type=int, default=None, help="stars per evaluation batch (default: the model's)")
    parser.add_argument("--adapt", action="store_true",
                        help="first fine-tune the model to DATA without reading a label: simulated stars of every "
                             "class observed on DATA's own epochs and errors (adapted model in --workdir/adapt); "
                             "the CSV gains predicted_unadapted")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from jaxpelsvae.data.validate import write_rejected
    from jaxpelsvae.prediction import predict, resolve_model_dir

    model_dir = resolve_model_dir(args.model)
    if args.model is None:
        from jaxpelsvae.prediction import pretrained_card

        card = pretrained_card()
        print(f"model: the shipped {card['classifier']} ({card['mode']}; {card['trained_on']}); --model picks another")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    table = predict(args.data, model_dir, batch_size=args.batch_size, min_points=args.min_points,
                    seed=args.seed, progress=True, adapt=args.adapt, workdir=workdir)
    rejected = table.attrs["rejected"]
    write_rejected(pd.DataFrame({"id": list(rejected), "reason": list(rejected.values())}), workdir)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g", lineterminator="\n")
    if args.adapt:
        a = table.attrs["adapt"]
        print(f"adapted on {a['train']} + {a['val']} simulated stars observed on DATA's epochs ({a['epochs']} epochs, "
              f"best {a['best_epoch']}; their validation macro-F1 {a['val_macro_f1_before']:.3f} -> "
              f"{a['val_macro_f1_after']:.3f}): {a['changed']} of {a['stars']} stars changed class")
    counts = table["predicted"].value_counts().sort_index()
    print(f"{len(table)} stars classified ({len(rejected)} rejected): "
          + ", ".join(f"{c} {n}" for c, n in counts.items()) + f"; written to {out}")
    return 0
