"""Figure: simulated (Gaia cadence) and real Gaia DR3 development light curves of every class,
side by side, raw and folded.

    .venv/bin/python experiments/plot_sim_vs_real.py --out FIGDIR [--per-class 2] [--seed 0]

Writes FIGDIR/sim_vs_real_gaia.png (rows: classes; columns: simulated raw / folded, then real
raw / folded, `--per-class` stars each). Simulated stars fold on their true period (eclipsing
binaries on the orbital period); real stars on their Lomb-Scargle period, doubled for eclipsing
binaries (the periodogram of an eclipsing binary peaks at half the orbital period).
Add `--cadence ogle` to show OGLE-cadence simulations instead (real panels stay Gaia).
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def _realism_module():
    spec = importlib.util.spec_from_file_location("realism_check", ROOT / "realism_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder for the PNG")
    parser.add_argument("--per-class", type=int, default=2, help="stars per class and source")
    parser.add_argument("--seed", type=int, default=0, help="simulation and selection seed")
    parser.add_argument("--cadence", default="gaia", choices=("gaia", "ogle"), help="cadence of the simulated stars")
    parser.add_argument("--data", type=Path, default=None, help="real dataset folder (default: shared Gaia dev)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxpelsvae.simulate import CLASSES, simulate_survey

    realism = _realism_module()
    k = args.per_class
    rng = np.random.default_rng([args.seed, 7])
    sim = simulate_survey({c: 20 * k for c in CLASSES}, cadence=args.cadence, seed=args.seed)
    real_all = realism.read_real(args.data or realism.DEFAULT_DATA)
    pick_real = np.concatenate([rng.choice(np.flatnonzero(real_all.meta["class"].to_numpy(str) == c), k, replace=False)
                                for c in CLASSES])
    real = real_all.select(pick_real)
    real_period, _ = realism.estimate_periods(real)
    real_class = real.meta["class"].to_numpy(str)
    real_period = np.where(real_class == "ECL", 2 * real_period, real_period)
    sim_class = sim.meta["class"].to_numpy(str)
    pick_sim = np.concatenate([rng.choice(np.flatnonzero(sim_class == c), k, replace=False) for c in CLASSES])

    fig, axes = plt.subplots(len(CLASSES), 4 * k, figsize=(4.2 * k * 4 / 2, 2.3 * len(CLASSES)), squeeze=False)
    for row, cls in enumerate(CLASSES):
        for j in range(k):
            i_sim = pick_sim[row * k + j]
            i_real = row * k + j
            panels = (
                (sim, i_sim, float(sim.meta["period"].iloc[i_sim]), f"sim {sim.meta['subclass'].iloc[i_sim]}", "C0"),
                (real, i_real, float(real_period[i_real]), "real Gaia DR3", "C3"),
            )
            for p, (lcs, i, period, label, colour) in enumerate(panels):
                t, m, e = lcs.curve(i)
                ax_raw = axes[row, p * 2 * k + 2 * j]
                ax_fold = axes[row, p * 2 * k + 2 * j + 1]
                ax_raw.errorbar(t - t.min(), m, e, fmt=".", ms=3, color=colour, elinewidth=0.5)
                phase = np.mod(t, period) / period
                ax_fold.errorbar(np.r_[phase, phase + 1], np.r_[m, m], np.r_[e, e], fmt=".", ms=3,
                                 color=colour, elinewidth=0.5)
                for ax in (ax_raw, ax_fold):
                    ax.invert_yaxis()
                    ax.tick_params(labelsize=6)
                ax_raw.set_title(f"{cls} {label} raw", fontsize=7)
                ax_fold.set_title(f"folded P={period:.4g} d", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("days / phase", fontsize=7)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"sim_vs_real_{args.cadence}.png"
    fig.savefig(path, dpi=110)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
