"""GPU readiness table: the figures gpu.sh measures, per device column, and the projected time of one paper cell.

Reads suite results (`run_all.py`'s `suite_<label>.json`, benchlib's metrics) and, for a GPU run,
the device utilisation sampled by `nvidia-smi` during the suite; prints one table with a CPU and a
GPU column (a column without a suite says "not measured") and, with `--update-readme`, writes it
into benchmarks/README.md's `gpu-readiness` block through `benchlib.update_readme_block`.

    python benchmarks/readiness.py --suite cpu=benchmarks/suite_cpu.json \
        [--suite gpu=results/suite_gpu.json --util gpu=results/gpu_util.csv \
         --selfreg-seeds gpu=results/epoch_selfreg_seeds.json] [--update-readme] [--md PATH]

Projection of one paper cell (the `paper` preset of `jaxpelsvae.experiments.config`: 40,000
curves shared 70/30 between training and validation, 30 seeds, both modes, at most 500 epochs,
64 synthetic curves a class × n_oversampling 10 = 3,200 synthetic curves for 5 classes), per
seed and epoch: the training samples (real + synthetic) at the CNN step's rate, the synthetic
set's generation at the R = 10 generation rate (regenerated every epoch: an upper bound), and the
evaluation of the training, validation and synthetic sets as forward passes at 3 times the
training rate (a forward pass is about a third of a training step's arithmetic). The cell is 30
seeds × 500 epochs of both modes, once with every seed in sequence and once with the seeds of each
mode as one vmapped program. 500 epochs is the preset's ceiling: early stopping (patience 10) ends most runs sooner, so this is an upper bound.
The vmapped cell divides each mode by its measured speed-up at the largest S (1 when not measured);
those speed-ups come from small configurations, so this row is indicative only.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from pathlib import Path

import benchlib

COLUMNS = ("cpu", "gpu")
README_BLOCK = "gpu-readiness"
SEEDS = (1, 8, 32)
# The paper preset (experiments/config.py `preset("paper")`), as counts of curves.
PAPER = {"train": 28_000, "val": 12_000, "synthetic": 64 * 10 * 5, "seeds": 30, "epochs": 500}
FORWARD_SPEEDUP = 3.0  # evaluation (forward only) against a training step, per sample


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--suite", action="append", default=[], metavar="LABEL=PATH",
                   help=f"a suite JSON for column LABEL ({', '.join(COLUMNS)}); repeatable")
    p.add_argument("--util", action="append", default=[], metavar="LABEL=CSV",
                   help="nvidia-smi utilisation samples (one percentage a line) taken during LABEL's suite")
    p.add_argument("--selfreg-seeds", action="append", default=[], metavar="LABEL=JSON",
                   help="`bench_epoch.py --selfreg-seeds 1,8,32 --json JSON` result (vmapped self-regulated seeds)")
    p.add_argument("--update-readme", action="store_true", help=f"write the table into the README's {README_BLOCK} block")
    p.add_argument("--md", type=Path, default=None, help="also write the table here")
    p.add_argument("--json", type=Path, default=None, help="write the figures (benchlib's format) here")
    return p.parse_args(argv)


def _pairs(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        label, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"expected LABEL=PATH, got {item!r}")
        out[label] = Path(path)
    return out


def suite_metrics(path: Path) -> tuple[dict[tuple[str, str], float], dict]:
    """{(benchmark, metric name): value} of a suite file, and its environment record."""
    suite = json.loads(path.read_text())
    values = {(r["name"], m["name"]): m["value"] for r in suite.get("results", []) for m in r.get("metrics", [])
              if m.get("value") is not None}
    return values, suite.get("env", {})


def utilisation(path: Path) -> dict[str, float] | None:
    """Mean and max of the utilisation samples in a CSV of percentages (None when there are none)."""
    samples = []
    with open(path) as f:
        for row in csv.reader(f):
            try:
                samples.append(float(row[0].strip().rstrip("%").strip()))
            except (ValueError, IndexError):
                continue
    return {"mean": statistics.fmean(samples), "max": max(samples), "n": len(samples)} if samples else None


def _best(values, bench: str, pattern: str) -> float | None:
    """The largest value of `bench`'s metrics whose whole name matches `pattern`."""
    found = [v for (b, name), v in values.items() if b == bench and re.fullmatch(pattern, name)]
    return max(found) if found else None


def result_metrics(path: Path, benchmark: str) -> dict[tuple[str, str], float]:
    """{(benchmark, metric name): value} of one script's result file (benchlib's format)."""
    result = json.loads(path.read_text())
    return {(benchmark, m["name"]): m["value"] for m in result.get("metrics", []) if m.get("value") is not None}


def figures(values: dict[tuple[str, str], float], util: dict | None) -> dict[str, float | None]:
    """The table's quantities for one device column (None: not in this suite)."""
    f: dict[str, float | None] = {
        "cnn_step": _best(values, "train_step", r"cnn step, host loop \w+"),
        "epoch_s": values.get(("epoch", "epoch (steady, median)")),
        "epoch_train": values.get(("epoch", "training samples/s (both passes)")),
        "epoch_synth": values.get(("epoch", "synthetic curves/s (generate)")),
        "gen_r1": _best(values, "synth", r"generate N=\d+, R=1"),
        "gen_r10": _best(values, "synth", r"generate N=\d+, R=10"),
        "util_mean": util["mean"] if util else None,
        "util_max": util["max"] if util else None,
    }
    for s in SEEDS:
        f[f"selfreg_{s}"] = values.get(("epoch_selfreg_seeds", f"S={s}: epoch, vmapped"))
        f[f"selfreg_speedup_{s}"] = values.get(("epoch_selfreg_seeds", f"S={s}: speed-up"))
        f[f"vmap_{s}"] = values.get(("vmap_seeds", f"S={s}: epoch, vmapped"))
        f[f"vmap_speedup_{s}"] = values.get(("vmap_seeds", f"S={s}: speed-up of vmap (steady)"))
    speedups = [(int(name.split(":")[0][2:]), v) for (b, name), v in values.items()
                if b == "vmap_seeds" and name.endswith("speed-up of vmap (steady)")]
    f["vmap_largest_s"], f["vmap_largest_speedup"] = max(speedups) if speedups else (None, None)
    selfreg = [(int(name.split(":")[0][2:]), v) for (b, name), v in values.items()
               if b == "epoch_selfreg_seeds" and name.endswith(": speed-up")]
    f["selfreg_largest_speedup"] = max(selfreg)[1] if selfreg else None
    f.update(project_cell(f))
    return f


def project_cell(f: dict) -> dict[str, float | None]:
    """Hours of one paper cell (module docstring), from the CNN step and R = 10 generation rates."""
    train, gen = f.get("cnn_step"), f.get("gen_r10")
    if not train or not gen:
        return {"cell_seq_h": None, "cell_vmap_h": None, "selfreg_epoch_s": None, "baseline_epoch_s": None}
    n_tr, n_val, n_syn = PAPER["train"], PAPER["val"], PAPER["synthetic"]
    forward = FORWARD_SPEEDUP * train
    selfreg = (n_tr + n_syn) / train + n_syn / gen + (n_tr + n_val + n_syn) / forward
    baseline = n_tr / train + (n_tr + n_val) / forward
    runs = PAPER["seeds"] * PAPER["epochs"]
    base_speedup = max(f.get("vmap_largest_speedup") or 1.0, 1e-9)
    selfreg_speedup = max(f.get("selfreg_largest_speedup") or 1.0, 1e-9)
    return {"selfreg_epoch_s": selfreg, "baseline_epoch_s": baseline,
            "cell_seq_h": runs * (selfreg + baseline) / 3600,
            "cell_vmap_h": runs * (selfreg / selfreg_speedup + baseline / base_speedup) / 3600}


ROWS = [  # (key, label, unit)
    ("cnn_step", "CNN train step, batch 125, L 300 (best host loop)", "samples/s"),
    ("epoch_s", "self-regulated epoch (quick sizes, steady, median)", "s"),
    ("epoch_train", "epoch program: training samples/s (both passes)", "samples/s"),
    ("epoch_synth", "epoch program: synthetic curves/s (generate)", "curves/s"),
    ("util_mean", "device utilisation during the suite, mean", "%"),
    ("util_max", "device utilisation during the suite, max", "%"),
    *[(f"selfreg_{s}", f"vmapped self-regulated seeds S = {s}: epoch (tiny config)", "s") for s in SEEDS],
    *[(f"selfreg_speedup_{s}", f"vmapped self-regulated seeds S = {s}: speed-up over sequential", "x")
      for s in SEEDS],
    *[(f"vmap_{s}", f"vmapped baseline seeds S = {s}: epoch (quick sizes)", "s") for s in SEEDS],
    *[(f"vmap_speedup_{s}", f"vmapped baseline seeds S = {s}: speed-up over sequential", "x") for s in SEEDS],
    ("gen_r1", "synthesis, R = 1 (best size)", "curves/s"),
    ("gen_r10", "synthesis, R = 10 (best size)", "curves/s"),
    ("selfreg_epoch_s", "paper cell: one self-regulated seed-epoch (projected)", "s"),
    ("baseline_epoch_s", "paper cell: one baseline seed-epoch (projected)", "s"),
    ("cell_seq_h", "paper cell: 30 seeds × 500 epochs × both modes, in sequence (projected)", "h"),
    ("cell_vmap_h", "paper cell: the same, seeds vmapped where measured (projected)", "h"),
]


def table(columns: dict[str, dict | None], envs: dict[str, dict], sources: dict[str, Path]) -> str:
    lines = []
    for label in COLUMNS:
        env = envs.get(label)
        if env is None:
            lines.append(f"- {label}: not measured.")
            continue
        mach, ver = env.get("machine", {}), env.get("versions", {})
        lines.append(f"- {label}: `{sources[label]}` ({env.get('date', '?')}; {', '.join(env.get('devices', []))}; "
                     f"{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, load {mach.get('load_avg_1m', '?')}; "
                     f"jax {ver.get('jax')}).")
    lines += ["", f"| quantity | unit | {' | '.join(COLUMNS)} |", "|---|---|" + "---:|" * len(COLUMNS)]
    for key, label, unit in ROWS:
        cells = []
        for col in COLUMNS:
            f = columns.get(col)
            if f is None:
                cells.append("not measured")
            else:
                v = f.get(key)
                cells.append("-" if v is None else benchlib.format_value(v))
        lines.append(f"| {label} | {unit} | {' | '.join(cells)} |")
    lines += ["", "\"-\": not in that run (no nvidia-smi on a CPU; the quick CPU suite times baseline seeds at S = 1, 4 "
              "only; self-regulated seeds come from `bench_epoch.py --selfreg-seeds`, run by gpu.sh where it exists). "
              "The paper-cell rows are the projection of `benchmarks/readiness.py` (its docstring says how)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    suites, utils, selfreg = _pairs(args.suite), _pairs(args.util), _pairs(args.selfreg_seeds)
    unknown = sorted(set(suites) - set(COLUMNS))
    if unknown:
        raise SystemExit(f"unknown column(s) {unknown}; expected {COLUMNS}")
    columns: dict[str, dict | None] = {}
    envs: dict[str, dict] = {}
    for label in COLUMNS:
        if label not in suites:
            columns[label] = None
            continue
        values, envs[label] = suite_metrics(suites[label])
        if label in selfreg and selfreg[label].is_file():
            values.update(result_metrics(selfreg[label], "epoch_selfreg_seeds"))
        util = utilisation(utils[label]) if label in utils and utils[label].is_file() else None
        columns[label] = figures(values, util)
    text = table(columns, envs, suites)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    if args.update_readme:
        benchlib.update_readme_block(README_BLOCK, text)
        print(f"\nupdated {benchlib.README}")
    if args.json:
        metrics = [benchlib.metric(f"{label} ({col})", f[key], unit,
                                   "lower" if unit in ("s", "h") else "higher")
                   for col, f in columns.items() if f for key, label, unit in ROWS if f.get(key) is not None]
        benchlib.write_result(args.json, "readiness", metrics, quick=True, env={"columns": envs},
                              extra={"paper": PAPER, "forward_speedup": FORWARD_SPEEDUP})
    return 0


if __name__ == "__main__":
    sys.exit(main())
