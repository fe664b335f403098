"""Quality of synthetic curves: a CNN trained only on synthetic curves, tested on real held-out stars, beside one trained on real curves.

For each dataset (the simulated survey, and the Gaia DR3 dev set when present): split the stars
70/15/15 (stratified), train the PELS-VAE on the training stars' folded curves, fit the generator on
them (priors, physics -> latent models, donor cadences), then train the CNN (baseline mode, no
self-regulation) twice with the same settings and test both on the same real test stars:
  real:      trained on the real training stars, early-stopped on the real validation stars;
  synthetic: trained on generated curves only (as many per class as the real training set holds,
             at least --min-per-class), early-stopped on a second, independent synthetic set.
Reported per dataset: test macro-F1 of both, the generator's latent_r2_heldout {rf, mlp},
latent_nll_heldout, vae_recon_mse (training stars) and the VAE reconstruction MSE on the test stars.

Usage: python experiments/synthetic_only.py [--quick] [--out DIR] [--gaia PATH|none] [--seed S]
       [--synthetic-factor F] [--lr LR] [--epochs E] [--reuse]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
GAIA_DEFAULT = ROOT.parent / "shared" / "data" / "gaia_dr3_dev"


def train_vae_on(lcs, *, quick: bool, seed: int, workdir: Path, epochs: int | None = None):
    """The PELS-VAE of `jaxpelsvae.pipeline.fit_vae` on `lcs` (periods in meta), as train-vae and the
    experiment runner train it; returns LoadedVAE and its summary. --quick uses the small preset's
    VAE (architecture and optimisation), else the original's."""
    import dataclasses

    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.models.vae import VAEConfig
    from jaxpelsvae.pipeline import fit_vae
    from jaxpelsvae.train.vae_train import VAETrainConfig

    if quick:
        small = preset("small")
        cfg, tcfg = small.vae, dataclasses.replace(small.vae_train, epochs=epochs or small.vae_train.epochs)
    else:
        cfg, tcfg = VAEConfig(), VAETrainConfig(epochs=epochs or 150, patience=20)
    vae = fit_vae(lcs, cfg, dataclasses.replace(tcfg, progress=False), seed=seed, workdir=workdir, source="meta")
    hist = vae.history
    return vae.loaded, {"val_mse": hist["best_val_mse"], "val_mse_class_mean": hist["val_mse_class_mean"],
                        "epochs": len(hist["epoch"])}


def run_dataset(name: str, lcs, args, out: Path) -> dict:
    import jax
    import numpy as np

    from jaxpelsvae import seeds
    from jaxpelsvae.pipeline import encode, fit_generator, fitting_periods
    from jaxpelsvae.selfreg.loop import train_classifier
    from jaxpelsvae.selfreg.synthetic import generate_set
    from jaxpelsvae.train.classifier import TrainConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.synth.fit import vae_inputs_for, vae_latents
    from jaxpelsvae.synth.generator import GeneratorConfig

    t0 = time.perf_counter()
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    lcs, period_info = fitting_periods(lcs, source=name)
    n_found = period_info["n_searched"]
    train, val, test = lcs.split((0.7, 0.15, 0.15), seed=args.seed)
    print(f"[{name}] {len(lcs)} stars ({n_found} periods found by Lomb-Scargle); train {len(train)}, "
          f"val {len(val)}, test {len(test)}", flush=True)

    saved = work / "generator" / "generator.json"
    if args.reuse and saved.is_file():  # same split and seed: reuse the VAE and generator fitted before
        from jaxpelsvae.synth.generator import load_generator
        from jaxpelsvae.train.vae_train import LoadedVAE

        gen = load_generator(work / "generator")
        vae = LoadedVAE(gen.vae_model, gen.vae_model.config, gen.vae_scaler, gen.vae_classes, {})
        vae_info = json.loads((work / "vae_info.json").read_text())
        print(f"[{name}] reusing {work / 'generator'}", flush=True)
    else:
        vae, vae_info = train_vae_on(train, quick=args.quick, seed=args.seed, workdir=work, epochs=args.vae_epochs)
        gen = fit_generator(train, vae, config=GeneratorConfig(seq_length=args.seq_length), seed=args.seed)
        gen.save(work / "generator")
        (work / "vae_info.json").write_text(json.dumps(vae_info, default=float))
    x_te, oh_te, pp_te = vae_inputs_for(test, vae, test.periods)
    _, mse_te = vae_latents(vae.model, x_te, oh_te, pp_te)
    rep = gen.report
    print(f"[{name}] VAE val MSE {vae_info['val_mse']:.4g} (class-average curves "
          f"{vae_info.get('val_mse_class_mean', float('nan')):.4g}), test MSE {float(np.mean(mse_te)):.4g}; latent R^2 "
          f"{rep['latent_r2_heldout']}; chosen {rep['chosen']}", flush=True)

    regulator = RegulatorConfig(epochs=args.epochs, patience=args.patience)
    # The original's optimiser (lr 0.1, batch 125), with which the README's numbers were measured.
    config = TrainConfig(mode="baseline", seq_length=args.seq_length, regulator=regulator,
                         learning_rate=args.lr, batch_size=125)
    classes = tuple(train.classes)
    counts = np.maximum(np.bincount(train.labels, minlength=len(classes)) * args.synthetic_factor,
                        args.min_per_class)
    root = jax.random.key(args.seed)
    syn_train = generate_set(gen, jax.random.fold_in(root, seeds.SYNTHETIC_TRAIN_KEY), counts, 1.0, classes,
                             args.seq_length)
    syn_val = generate_set(gen, jax.random.fold_in(root, seeds.SYNTHETIC_VAL_KEY), np.maximum(counts // 4, 8), 1.0,
                           classes, args.seq_length)
    enc_test = encode(test, config, args.seed, "test", classes=classes)
    runs = {}
    for label, enc in (("real", None), ("synthetic", (syn_train, syn_val, enc_test))):
        res = train_classifier(train, val, test, config, workdir=work / f"cnn_{label}", seed=args.seed,
                               resume=False, progress=False, encoded=enc, classes=classes if enc else None)
        m = res.metrics
        runs[label] = {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"], "best_epoch": m["best_epoch"],
                       "epochs": m["epochs"], "per_class_f1": {c: v["f1"] for c, v in m["per_class"].items()}}
        print(f"[{name}] CNN trained on {label} curves: test macro-F1 {m['macro_f1']:.3f} "
              f"(accuracy {m['accuracy']:.3f}, {m['epochs']} epochs)", flush=True)
    return {
        "synthetic_factor": args.synthetic_factor,
        "n_stars": len(lcs), "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "periods_found": n_found, "synthetic_train_per_class": dict(zip(classes, counts.tolist())),
        "n_synthetic_val": int(len(syn_val.y_N)),
        "latent_r2_heldout": rep["latent_r2_heldout"], "latent_nll_heldout": rep["latent_nll_heldout"],
        "latent_chosen": rep["chosen"], "vae_recon_mse": rep["vae_recon_mse"],
        "vae_recon_mse_test": float(np.mean(mse_te)), "vae_val_mse": vae_info["val_mse"],
        "vae_val_mse_class_mean": vae_info.get("val_mse_class_mean"),
        "vae_epochs": vae_info["epochs"], "cnn": runs, "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small survey, small VAE, few epochs")
    parser.add_argument("--out", type=Path, default=Path("workdir/synthetic_only"), help="output folder")
    parser.add_argument("--gaia", default=str(GAIA_DEFAULT), help="Gaia dev set folder, or 'none'")
    parser.add_argument("--stars", type=int, default=None, help="simulated survey size")
    parser.add_argument("--epochs", type=int, default=None, help="CNN epochs (max)")
    parser.add_argument("--patience", type=int, default=None, help="CNN early-stopping patience")
    parser.add_argument("--seq-length", type=int, default=None, help="L of the classifier input")
    parser.add_argument("--min-per-class", type=int, default=64, help="synthetic training curves per class, at least")
    parser.add_argument("--lr", type=float, default=0.1, help="CNN Adam learning rate (the original's)")
    parser.add_argument("--vae-epochs", type=int, default=None, help="PELS-VAE epochs (max)")
    parser.add_argument("--synthetic-factor", type=int, default=1,
                        help="synthetic training curves per class = factor x real training stars (at least --min-per-class)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse OUT/<dataset>/generator from an earlier run with the same seed (skips the VAE)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.stars = args.stars or (1000 if args.quick else 5000)
    args.epochs = args.epochs or (15 if args.quick else 100)
    args.patience = args.patience or (5 if args.quick else 10)
    args.seq_length = args.seq_length or (100 if args.quick else 300)

    import jax

    from jaxpelsvae.data import load_dataset
    from jaxpelsvae.simulate import default_counts, simulate_survey

    args.out.mkdir(parents=True, exist_ok=True)
    results = {"config": {k: str(v) for k, v in vars(args).items()}, "backend": jax.default_backend(), "datasets": {}}
    sim = simulate_survey(default_counts(args.stars), cadence="ogle", seed=args.seed)
    results["datasets"]["simulated"] = run_dataset("simulated", sim, args, args.out)
    if args.gaia.lower() != "none" and Path(args.gaia).is_dir():
        gaia, rejected = load_dataset(args.gaia, workdir=args.out / "gaia")
        results["datasets"]["gaia_dr3_dev"] = run_dataset("gaia_dr3_dev", gaia, args, args.out)
        results["datasets"]["gaia_dr3_dev"]["n_rejected"] = int(len(rejected))
    (args.out / "synthetic_only.json").write_text(json.dumps(results, indent=1, default=float))
    lines = ["| dataset | CNN on real: test macro-F1 | CNN on synthetic only: test macro-F1 | latent R² held-out (rf / mlp) "
             "| VAE recon MSE (train / test) |", "|---|---|---|---|---|"]
    for name, r in results["datasets"].items():
        lines.append(f"| {name} | {r['cnn']['real']['macro_f1']:.3f} | {r['cnn']['synthetic']['macro_f1']:.3f} | "
                     f"{r['latent_r2_heldout']['rf']:.3f} / {r['latent_r2_heldout']['mlp']:.3f} | "
                     f"{r['vae_recon_mse']:.4f} / {r['vae_recon_mse_test']:.4f} |")
    (args.out / "synthetic_only.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
