"""jaxpelsvae.cli.train_vae: the train-vae command end to end on a tiny dataset."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from jaxpelsvae.train.vae_train import load_vae


def _tiny_dataset(folder):
    rng = np.random.default_rng([7, 0])
    rows, meta = [], []
    for c, cls in enumerate(["CEP", "ECL", "RRLYR"]):
        for j in range(6):
            sid = f"{cls}-{j}"
            period = rng.uniform(0.3, 5.0)
            t = np.sort(rng.uniform(0.0, 200.0, 50))
            mag = 15 + 0.3 * np.sin(2 * np.pi * (t / period) * (c + 1)) + rng.normal(0, 0.01, t.size)
            rows.append(pd.DataFrame({"id": sid, "time": t, "mag": mag, "err": 0.01}))
            meta.append({"id": sid, "class": cls, "period": period,
                         "teff_val": np.nan if j == 0 else rng.uniform(4000, 8000), "abs_Gmag": rng.normal()})
    folder.mkdir()
    pd.concat(rows).to_csv(folder / "lightcurves.csv", index=False)
    pd.DataFrame(meta).to_csv(folder / "meta.csv", index=False)
    return folder


def test_cli_train_vae_end_to_end(tmp_path, capsys):
    from jaxpelsvae.cli import main

    data = _tiny_dataset(tmp_path / "data")
    wd = tmp_path / "wd"
    common = ["train-vae", str(data), "--workdir", str(wd), "--units", "8", "--levels", "7", "--kernel", "4",
              "--latent", "2", "--epochs", "2", "--batch-size", "8", "--residual-init", "identity", "--no-progress"]
    assert main([*common, "--phys", "period,logg"]) == 2  # named parameter absent: clear error
    assert "logg" in capsys.readouterr().err
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "validation reconstruction MSE" in out and "class median" in out and "class-average curves give" in out
    summary = json.loads((wd / "vae_summary.json").read_text())
    assert summary["config"]["residual_init"] == "identity" and 0 < summary["val_mse_class_mean"] < 1
    assert summary["phys"] == ["period", "teff", "abs_gmag"] and summary["phys_imputed"]["teff"] == 3
    assert summary["epochs_run"] == 2 and summary["n_train"] + summary["n_val"] == 18
    assert np.isfinite(summary["val_mse"]) and 0 < summary["val_mse"] < 1
    assert (wd / "vae_loss.png").stat().st_size > 0
    loaded = load_vae(wd / "vae")
    assert loaded.classes == ("CEP", "ECL", "RRLYR") and loaded.config.seq_len == 600
    assert loaded.scaler.names == ("period", "teff", "abs_gmag")


def test_train_vae_defaults_are_the_small_presets_tested_vae():
    # A new user's `train-vae DATA` trains the VAE the experiments use (minutes on a CPU), not the
    # original's size, which learns class averages from a few hundred curves.
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.experiments.config import preset

    args = build_parser().parse_args(["train-vae", "data"])
    small = preset("small")
    assert (args.units, args.levels, args.kernel, args.latent, args.dropout, args.residual_init, args.beta) == (
        small.vae.units, small.vae.levels, small.vae.kernel_size, small.vae.latent_dim, small.vae.dropout,
        small.vae.residual_init, small.vae.beta)
    assert (args.epochs, args.batch_size, args.lr, args.patience) == (
        small.vae_train.epochs, small.vae_train.batch_size, small.vae_train.lr, small.vae_train.patience)
