"""The model shipped with the package: trained on simulated surveys of many cadences only, rebuilt by `python -m jaxpelsvae.experiments.pretrained OUT`.

No real star is read: the training survey is `simulate_survey` at every cadence of
`CADENCES_USED`, the same number of stars per class and cadence. Half the stars keep their true
period as a catalogue period, the other half lose it and get the label-free search that `predict`
runs on curves without one, so the model has seen both kinds of period. The classifier is the
multi-period folded network with the nine-feature forest beside it, trained self-regulated
(`experiment --modes selfreg`, the small preset) on a random split of that survey; the run's
model folder (orbax checkpoint + model.json + forest npz/json, no pickle) is copied to OUT with a
`card.json` that records how it was made and its in-distribution scores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from jaxpelsvae.errors import ConfigError

CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")
CADENCES_USED = ("gaia", "ogle", "asas", "eros", "ztf", "tess")
STARS_PER_CLASS = 80  # per cadence: 2,400 training stars over six cadences
PERIOD_SHARE = 0.5  # share of stars that keep their true period as a catalogue period
CLASSIFIER = "multifold"
MODE = "selfreg"
# What `predict` and `evaluate` read (fitted_ids.json: the simulated stars it was fitted on, for the overlap
# check); checkpoints and figures stay in the workdir.
SHIPPED = ("model.json", "fitted_ids.json", "variables", "forest")
COMMIT_MARKER = "commit_success.txt"  # left out of the shipped files (see `build`)


def training_survey(seed: int = 0, stars_per_class: int = STARS_PER_CLASS, cadences=CADENCES_USED):
    """The simulated multi-cadence survey the shipped model is trained on (a LightCurveSet).

    Cadence k is simulated with seed `seed + k`; a seeded draw removes the period of
    1 - PERIOD_SHARE of the stars (label-free search at training time, as in `predict`).
    """
    from jaxpelsvae.data import LightCurveSet
    from jaxpelsvae.simulate import simulate_survey

    parts = [simulate_survey({c: stars_per_class for c in CLASSES}, cadence=cadence, seed=seed + k)
             for k, cadence in enumerate(cadences)]
    lcs = LightCurveSet.concatenate(parts)
    meta = lcs.meta.copy()
    drop = np.random.default_rng([seed, 26]).random(len(lcs)) >= PERIOD_SHARE
    meta["period"] = np.where(drop, np.nan, meta["period"].to_numpy(float))
    return lcs.with_meta(meta).with_classes(lcs.classes)


def experiment_config(epochs: int | None = None):
    """The small preset, one self-regulated multifold seed with its forest, a random split."""
    from jaxpelsvae.experiments.config import preset

    config = preset("small")
    config = config.replace(classifiers=(CLASSIFIER,), modes=(MODE,), seeds=1, forest=True, figures=False,
                            shift=dataclasses.replace(config.shift, scenario="random"))
    if epochs is not None:
        config = config.replace(regulator={"epochs": epochs})
    return config


def build(out: str | Path, *, workdir: str | Path, seed: int = 0, stars_per_class: int = STARS_PER_CLASS,
          epochs: int | None = None, quiet: bool = False) -> dict:
    """Train the shipped model and copy it to `out` (an earlier model there is replaced; any other
    non-empty folder is refused before training). Returns its card (a dict)."""
    from jaxpelsvae.experiments.runner import run_experiment

    out, workdir = Path(out), Path(workdir)
    if out.exists() and any(out.iterdir()) and not (out / "model.json").is_file():  # never wipe a user's folder
        raise ConfigError(f"{out}: not empty and not a model folder; give a new or empty folder")
    lcs = training_survey(seed, stars_per_class)
    config = experiment_config(epochs)
    if quiet:
        config = config.replace(progress=False)
    result = run_experiment(lcs, config, workdir=workdir, seed=seed, name="simulated multi-cadence survey")
    run = next(r for r in result.report["runs"] if r["classifier"] == f"{CLASSIFIER}+forest" and r["mode"] == MODE)
    model_dir = workdir / "runs" / f"{CLASSIFIER}_{MODE}_seed{seed}" / "model"
    if out.exists():  # new, empty or an earlier build (checked above, before training)
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in SHIPPED:
        src = model_dir / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, out / name)
    # orbax's commit markers name the builder's own folders; a restore from a local folder needs none
    for marker in out.rglob(COMMIT_MARKER):
        marker.unlink()
    card = {
        "trained_on": f"simulated surveys only: {stars_per_class} stars per class and cadence, cadences "
                      f"{', '.join(CADENCES_USED)}; {PERIOD_SHARE:.0%} with their true period, the rest searched label-free",
        "command": f"python -m jaxpelsvae.experiments.pretrained OUT --seed {seed} --stars-per-class {stars_per_class}"
                   + (f" --epochs {epochs}" if epochs is not None else ""),
        "classifier": f"{CLASSIFIER}+forest", "mode": MODE, "seed": seed, "classes": list(run["per_class"]),
        "n_train_stars": len(lcs),
        "simulated_test": {"macro_f1": run["macro_f1"], "accuracy": run["accuracy"], "best_epoch": run["best_epoch"],
                           "split": result.report["split"]},
    }
    (out / "card.json").write_text(json.dumps(card, indent=1, sort_keys=True, default=float) + "\n")
    return card


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxpelsvae.experiments.pretrained", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder to write the model into (replaced)")
    p.add_argument("--workdir", type=Path, default=None, help="the experiment's folder (default: OUT.workdir)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stars-per-class", type=int, default=STARS_PER_CLASS, help="per class and cadence")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the small preset's)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    workdir = args.workdir or args.out.with_name(args.out.name + ".workdir")
    card = build(args.out, workdir=workdir, seed=args.seed, stars_per_class=args.stars_per_class,
                 epochs=args.epochs, quiet=args.quiet)
    print(json.dumps(card["simulated_test"], default=float), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
