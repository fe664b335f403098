"""Benchmark: what a new user waits for. `jaxpelsvae demo` and the Gaia DR3 dev experiment, timed as whole commands, with a stage table.

Each command runs in its own process with an empty compilation cache (a new user's first run;
`--warm` keeps one cache for both runs of each command and reports the second) and is timed from
start to exit. The stages come from the command's report.json (`timing`, with the generator's realism
report; the generator's `vae_seconds`) and each run's metrics.jsonl (per-epoch generate / train /
evaluate seconds; what a run took beyond its epochs is the best model's saving and final
evaluation).

    .venv/bin/python benchmarks/bench_first_hour.py                     # both, ~10 min on 2 cores
    .venv/bin/python benchmarks/bench_first_hour.py --only gaia --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GAIA = HERE.parents[1] / "shared" / "data" / "gaia_dr3_dev"
JOBS = {
    "demo": ["demo"],
    "gaia": ["experiment", str(GAIA), "--classifier", "multifold"],
}
STAGES = ("read_validate", "periods", "split", "encode", "vae", "generator", "realism", "epochs: synthetic sets",
          "epochs: training", "epochs: evaluation", "best model: save + test", "report", "other", "total")


def run_job(args: list[str], workdir: Path, cache: Path) -> float:
    """Seconds from start to exit of `jaxpelsvae ARGS --workdir WORKDIR --quiet` with `cache`."""
    env = {**os.environ, "JAXPELSVAE_XLA_CACHE": str(cache)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jaxpelsvae", *args, "--workdir", str(workdir), "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def stage_table(workdir: Path, wall_s: float) -> dict[str, float]:
    """Seconds per stage (STAGES) of a finished experiment in `workdir`."""
    report = json.loads((workdir / "report.json").read_text())
    timing, gen = report["timing"], report.get("generator") or {}
    out = {k: float(timing.get(k, 0.0)) for k in ("read_validate", "periods", "split", "encode", "realism", "report")}
    out["vae"] = float(gen.get("vae_seconds", 0.0))
    out["generator"] = float(timing.get("vae_generator", 0.0)) - out["vae"]
    parts = {"generate": 0.0, "train": 0.0, "evaluate": 0.0}
    for log in sorted((workdir / "runs").glob("*/metrics.jsonl")):
        for line in log.read_text().splitlines():
            for k, v in json.loads(line)["wall_s"].items():
                parts[k] += v
    runs = sum(v for k, v in timing.items() if k.startswith("runs_"))
    out["epochs: synthetic sets"] = parts["generate"]
    out["epochs: training"] = parts["train"]
    out["epochs: evaluation"] = parts["evaluate"]
    out["best model: save + test"] = runs - sum(parts.values())
    out["total"] = wall_s
    out["other"] = wall_s - sum(v for k, v in out.items() if k != "total")  # start-up, simulation, imports
    return {k: round(out[k], 1) for k in STAGES}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="demo,gaia", help="comma-separated jobs: demo, gaia")
    p.add_argument("--warm", action="store_true", help="run each job twice on one cache, report the second")
    p.add_argument("--out", type=Path, default=None, help="keep the workdirs here (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="write the table as JSON")
    args = p.parse_args(argv)
    jobs = [j.strip() for j in args.only.split(",") if j.strip()]
    if "gaia" in jobs and not GAIA.is_dir():
        print(f"skipping gaia: {GAIA} not found", file=sys.stderr)
        jobs.remove("gaia")
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_first_hour-"))
    results = {}
    for job in jobs:
        cache = root / f"{job}-xla"
        workdir = root / job
        wall = run_job(JOBS[job], workdir, cache)
        if args.warm:
            import shutil

            shutil.rmtree(workdir)
            wall = run_job(JOBS[job], workdir, cache)
        results[job] = stage_table(workdir, wall)
        print(f"{job}: {wall:.0f} s", file=sys.stderr)
    print("| stage | " + " | ".join(f"{j} (s)" for j in results) + " |")
    print("|---|" + "---|" * len(results))
    for stage in STAGES:
        print(f"| {stage} | " + " | ".join(f"{results[j][stage]:.1f}" for j in results) + " |")
    if args.json:
        args.json.write_text(json.dumps({"cache": "warm" if args.warm else "cold", "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
