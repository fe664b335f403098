"""Baseline vs self-regulated training: test macro-F1 and wall time per epoch of each mode.

Two datasets: a simulated survey with a hardness-biased train/test split (`data.shift`), and the
Gaia DR3 development set beside the checkout (stratified split; skipped when absent). For each:
train a PELS-VAE and fit the generator on the training stars (the `train-vae` and `fit-generator`
commands), then train the classifier in both modes with the same settings and seed.

    .venv/bin/python benchmarks/bench_selfreg.py --quick          # minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_selfreg.py --out bench_out  # longer
Writes OUT/results.json (every run) and, through benchlib, the table and `--json PATH`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import benchlib


SHARED_GAIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gaia_dr3_dev"


def settings(quick: bool):
    from jaxpelsvae.train.classifier import TrainConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig

    reg = RegulatorConfig(epochs=12 if quick else 80, patience=5 if quick else 15, ranking_method="proportion",
                          synthetic_samples_by_class=16, n_oversampling=2)
    train = TrainConfig(seq_length=48, layers=3, learning_rate=2e-3, regulator=reg)
    vae = ["--units", "16", "--levels", "5", "--latent", "4", "--epochs", "15" if quick else "40",
           "--patience", "5", "--batch-size", "64", "--no-progress"]
    return train, vae


def datasets(quick: bool, seed: int):
    from jaxpelsvae.data.readers import load_dataset
    from jaxpelsvae.data.shift import hardness_split
    from jaxpelsvae.simulate import simulate_survey

    n = 60 if quick else 300
    sim = simulate_survey({c: n for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=seed)
    split = hardness_split(sim, 3.0, seed)  # the paper's Bias 2: in-sample forest, T = 3
    train, val = split.train.split((0.8, 0.2), seed=seed)
    out = {"simulated_hardness_T3": (train, val, split.test, split.info)}
    if SHARED_GAIA.is_dir():
        gaia, rejected = load_dataset(SHARED_GAIA)
        tr, va, te = gaia.split((0.7, 0.15, 0.15), seed=seed)
        out["gaia_dr3_dev"] = (tr, va, te, {"method": "stratified", "rejected": len(rejected)})
    return out


def fit_generator_for(train, workdir: Path, vae_args, seq_length: int, seed: int, reuse: bool = False):
    from jaxpelsvae.cli import main
    from jaxpelsvae.data.readers import write_standard
    from jaxpelsvae.synth.generator import Generator

    if reuse and (workdir / "gen" / "generator" / "generator.json").is_file():
        return Generator.load(workdir / "gen" / "generator"), {"reused": True}
    data = write_standard(train, workdir / "train_data")
    t0 = time.perf_counter()
    if main(["train-vae", str(data), "--workdir", str(workdir / "vae"), "--seed", str(seed), *vae_args]) != 0:
        raise SystemExit("train-vae failed")
    t1 = time.perf_counter()
    if main(["fit-generator", str(data), "--vae", str(workdir / "vae"), "--workdir", str(workdir / "gen"),
             "--seq-length", str(seq_length), "--seed", str(seed)]) != 0:
        raise SystemExit("fit-generator failed")
    t2 = time.perf_counter()
    return Generator.load(workdir / "gen" / "generator"), {"train_vae_s": t1 - t0, "fit_generator_s": t2 - t1}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.parse_common(parser, "selfreg")  # --quick: small survey, few epochs
    parser.add_argument("--out", type=Path, default=Path("bench_selfreg_out"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--seeds", default=None, help="classifier seeds, e.g. 0,1,2 (default: --seed)")
    parser.add_argument("--reuse", action="store_true", help="reuse OUT's fitted generators when present")
    parser.add_argument("--only", default=None, help="run one dataset (simulated_hardness_T3 or gaia_dr3_dev)")
    args = parser.parse_args(argv)

    from jaxpelsvae.selfreg.loop import train_classifier

    config, vae_args = settings(args.quick)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"config": config.to_dict(), "quick": args.quick, "seed": args.seed, "datasets": {}}
    for name, (train, val, test, info) in datasets(args.quick, args.seed).items():
        if args.only and name != args.only:
            continue
        wd = args.out / name
        gen, gen_times = fit_generator_for(train, wd, vae_args, config.seq_length, args.seed, args.reuse)
        entry = {"split": {**info, "n_train": len(train), "n_val": len(val), "n_test": len(test),
                           "train_counts": train.class_counts(), "test_counts": test.class_counts()},
                 "generator": {**gen_times, **{k: gen.report.get(k) for k in ("vae_recon_mse", "latent_r2_heldout",
                                                                             "chosen")}},
                 "runs": {}}
        for seed in seeds:
            for mode in ("baseline", "selfreg"):
                cfg = dataclasses.replace(config, mode=mode)
                res = train_classifier(train, val, test, cfg, generator=gen if mode == "selfreg" else None,
                                       workdir=wd / f"{mode}_seed{seed}", seed=seed, resume=False,
                                       progress=not args.no_progress)
                m = res.metrics
                run = {k: m[k] for k in ("macro_f1", "accuracy", "roc_auc_ovo", "roc_auc_ovr", "best_epoch", "epochs",
                                         "regenerations", "wall_s", "wall_s_per_epoch", "epoch_wall_s",
                                         "first_epoch_wall_s")}
                hist = res.regulator.history
                run["val_macro_f1"] = m["splits"]["val"]["macro_f1"]
                run["mean_epoch_wall_s_after_first"] = float(sum(sum(h["wall_s"].values()) for h in hist[1:])
                                                             / max(len(hist) - 1, 1))
                run["generate_wall_s"] = [h["wall_s"]["generate"] for h in hist if h.get("regenerated")]
                entry["runs"][f"{mode}_seed{seed}"] = run
                print(f"{name} {mode} seed {seed}: test macro-F1 {m['macro_f1']:.3f} (best epoch {m['best_epoch']} "
                      f"of {m['epochs']}), median epoch {m['wall_s_per_epoch']:.2f} s {m['epoch_wall_s']}", flush=True)
        results["datasets"][name] = entry
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))

    metrics, epochs = [], []
    for name, entry in results["datasets"].items():
        for mode in ("baseline", "selfreg"):
            runs = [r for key, r in entry["runs"].items() if key.startswith(mode + "_")]
            f1 = [r["macro_f1"] for r in runs]
            wall = sorted(r["wall_s_per_epoch"] for r in runs)[len(runs) // 2]
            metrics += [
                benchlib.metric(f"{name} · {mode}: test macro-F1, mean of {len(runs)} seeds", sum(f1) / len(f1), "F1",
                                min=min(f1), max=max(f1)),
                benchlib.metric(f"{name} · {mode}: ROC-AUC ovo, mean", sum(r["roc_auc_ovo"] for r in runs) / len(runs),
                                "AUC"),
                benchlib.metric(f"{name} · {mode}: s/epoch, median seed", wall, "s", "lower"),
            ]
            epochs.append(f"{name} {mode}: " + ", ".join(f"{r['epochs']} (best {r['best_epoch']})" for r in runs))
    benchlib.report(args.json, "selfreg", metrics, quick=args.quick, title="Baseline vs self-regulated training",
                    extra={"results": str(args.out / "results.json")})
    print("\nepochs run (best epoch) per seed:\n" + "\n".join(epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
