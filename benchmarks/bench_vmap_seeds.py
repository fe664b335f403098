"""Speed-up of training S baseline seeds as one vmapped program over training them one after the other.

Both paths run the same protocol (`jaxpelsvae.experiments.repetitions.train_baseline_seeds`): the
same encoded data, initialisations, batches and early stopping; only `vmap` differs. Reported:
wall time including compilation, the steady-state time per epoch (epochs after the first), and
the speed-up. Data: random (Δt, Δm) sequences with a class signal (the speed does not depend on
what the CNN learns). Early stopping is disabled (patience > epochs) so both run every epoch.

    python benchmarks/bench_vmap_seeds.py            # N 2000, L 300, 4 layers, seeds 1 4 8, 4 epochs
    python benchmarks/bench_vmap_seeds.py --quick    # N 300, L 64, 2 layers, seeds 1 4, 2 epochs
    python benchmarks/bench_vmap_seeds.py --seeds 1 8 32 --json PATH   # S as gpu.sh runs it
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import benchlib


def make_data(n: int, length: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n).astype(np.int32)
    x = rng.normal(size=(n, length, 2)).astype(np.float32)
    x[..., 1] += 0.3 * y[:, None]
    return x, y


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a sanity check, not a measurement)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--seq-length", type=int, default=None)
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="numbers of seeds S to time")
    parser.add_argument("--batch-size", type=int, default=125)
    parser.add_argument("--json", default=None, help="write the result (benchlib's format) to this JSON file")
    args = parser.parse_args(argv)

    import jax

    from jaxpelsvae.experiments.repetitions import train_baseline_seeds
    from jaxpelsvae.train.classifier import TrainConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig

    n = args.n_train or (300 if args.quick else 2000)
    length = args.seq_length or (64 if args.quick else 300)
    layers = args.layers or (2 if args.quick else 4)
    epochs = args.epochs or (2 if args.quick else 4)
    seed_counts = args.seeds or ([1, 4] if args.quick else [1, 4, 8])
    k = 5
    xt, yt = make_data(n, length, k, 0)
    xv, yv = make_data(max(n // 4, 50), length, k, 1)
    xs, _ = make_data(max(n // 4, 50), length, k, 2)
    cfg = TrainConfig(mode="baseline", seq_length=length, layers=layers, learning_rate=1e-3,
                      batch_size=args.batch_size, eval_batch_size=500,
                      regulator=RegulatorConfig(epochs=epochs, patience=epochs + 1))
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), N {n}, L {length}, layers {layers}, "
          f"epochs {epochs}, batch {args.batch_size}")
    rows = []
    for s in seed_counts:
        seeds = list(range(s))
        out = {}
        for vmap in (False, True):
            t0 = time.perf_counter()
            res = train_baseline_seeds(xt, yt, xv, yv, xs, k, seeds, cfg, vmap=vmap)
            wall = time.perf_counter() - t0
            if vmap:
                steady = float(np.sum(res[0].epoch_seconds[1:]))
            else:  # each seed is its own program: sum the per-seed steady epochs
                steady = float(sum(np.sum(r.epoch_seconds[1:]) for r in res))
            out["vmap" if vmap else "sequential"] = {"wall_s": wall, "steady_s": steady}
        per_epoch_seq = out["sequential"]["steady_s"] / max(epochs - 1, 1)
        per_epoch_vmap = out["vmap"]["steady_s"] / max(epochs - 1, 1)
        row = {
            "seeds": s, "wall_sequential_s": out["sequential"]["wall_s"], "wall_vmap_s": out["vmap"]["wall_s"],
            "epoch_sequential_s": per_epoch_seq, "epoch_vmap_s": per_epoch_vmap,
            "speedup_steady": per_epoch_seq / per_epoch_vmap if per_epoch_vmap > 0 else float("nan"),
            "speedup_wall": out["sequential"]["wall_s"] / out["vmap"]["wall_s"],
        }
        rows.append(row)
        print(f"S={s:3d}  wall: sequential {row['wall_sequential_s']:7.1f} s, vmapped {row['wall_vmap_s']:7.1f} s "
              f"(x{row['speedup_wall']:.2f});  per epoch after compilation: {per_epoch_seq:.3f} s vs "
              f"{per_epoch_vmap:.3f} s (x{row['speedup_steady']:.2f})")
    metrics = []
    for row in rows:
        s = row["seeds"]
        metrics += [benchlib.metric(f"S={s}: epoch, vmapped", row["epoch_vmap_s"], "s", "lower"),
                    benchlib.metric(f"S={s}: epoch, sequential", row["epoch_sequential_s"], "s", "lower"),
                    benchlib.metric(f"S={s}: speed-up of vmap (steady)", row["speedup_steady"], "x")]
    benchlib.report(args.json, "vmap_seeds", metrics, quick=args.quick,
                    title=f"{len(seed_counts)} seed counts, N {n}, L {length}, {layers} layers, {epochs} epochs",
                    extra={"n_train": n, "seq_length": length, "layers": layers, "epochs": epochs, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
