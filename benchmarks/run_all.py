"""The benchmark suite: runs every stage benchmark as a subprocess with a timeout and collects one table.

    .venv/bin/python benchmarks/run_all.py --quick                 # < 5 min on 2 quiet CPU cores
    .venv/bin/python benchmarks/run_all.py                         # full sizes (long)
    .venv/bin/python benchmarks/run_all.py --quick --only epoch,synth
    .venv/bin/python benchmarks/run_all.py --compare results/suite_cpu.json results/suite_gpu.json

Each benchmark script runs in its own process (``PYTHONPATH`` = the repository root, no
installation needed) with ``--json PATH``, under its own timeout; every script writes its result
through ``benchlib.report`` (benchlib's format: environment, metric rows with units), and this
file only gathers those files: nothing parses a script's printed output. A missing script, a
failure, a timeout or a run that wrote no result is a row marked "missing" / "failed" /
"timeout" / "no result" in the table, never a crash of the suite. Results go to
``--out`` (default benchmarks/results/, git-ignored; ``$OUT/benchmarks`` when ``$OUT`` is set):
one JSON and one log per benchmark, and ``suite_<label>.json`` / ``suite_<label>.md`` with the
machine (CPU model, cores, load), JAX devices, versions and date. The label (the table's column)
is the JAX backend unless ``--device-label`` says otherwise, so a GPU run gets its own column;
``--compare A.json B.json`` prints both columns and the speed-up of B over A.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclasses.dataclass(frozen=True)
class Bench:
    """One benchmark of the suite: its script, arguments per mode and timeouts (seconds)."""

    name: str
    script: str
    what: str
    quick_args: tuple[str, ...] = ("--quick",)
    full_args: tuple[str, ...] = ()
    quick_timeout: int = 180
    full_timeout: int = 1800
    in_quick: bool = True
    in_full: bool = True
    gpu_args: tuple[str, ...] = ()  # added on a non-CPU backend


SUITE = (
    Bench("data", "bench_data.py", "data layer: read, cuts, encode, fold (stars/s)",
          quick_timeout=150),
    Bench("period", "bench_period.py", "batched Lomb-Scargle periods vs astropy (stars/s)", quick_timeout=180,
          gpu_args=("--skip-astropy",)),
    Bench("simulate", "bench_simulate.py", "simulated survey generation (stars/s)",
          quick_timeout=120),
    Bench("train_step", "bench_train_step.py", "CNN training step (samples/s)", quick_timeout=240),
    # --quick leaves out the lax.scan variants of the VAE step (four more compilations of a big model).
    Bench("vae_step", "vae_step.py", "PELS-VAE training step (samples/s)", quick_args=("--quick", "--no-scan"),
          quick_timeout=240),
    Bench("synth", "bench_synth.py", "synthetic curves: generate vs per-curve loop (curves/s)", quick_timeout=300),
    # Trains its model through `experiment` (~30 s) first: out of the quick suite's 5 minutes (--with predict).
    Bench("predict", "bench_predict.py", "predict on Gaia-like stars without periods (stars/s)",
          in_quick=False, quick_timeout=240, full_timeout=900),
    Bench("epoch", "bench_epoch.py", "one self-regulated epoch, by phase (s)", quick_timeout=300),
    Bench("vmap_seeds", "bench_vmap_seeds.py", "S seeds as one vmapped program vs sequential", quick_timeout=240),
    Bench("selfreg", "bench_selfreg.py", "baseline vs self-regulated training (macro-F1, s/epoch)",
          in_quick=False, full_timeout=3600),
    Bench("scaling", "bench_scaling.py", "scaling with stars, L and batch size (log-log slopes)",
          in_quick=False, quick_timeout=900, full_timeout=3600),
)
BY_NAME = {b.name: b for b in SUITE}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="every benchmark's --quick mode")
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BY_NAME)}")
    p.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    p.add_argument("--with", dest="with_", default="",
                   help="add benchmarks that the mode leaves out (e.g. scaling,selfreg with --quick)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: $OUT/benchmarks when $OUT is set, else benchmarks/results)")
    p.add_argument("--device-label", default=None,
                   help="column label of this run (default: the JAX backend, e.g. cpu or gpu)")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every timeout (a loaded machine)")
    p.add_argument("--budget", type=float, default=None,
                   help="total seconds: benchmarks that would start after it are marked skipped")
    p.add_argument("--python", default=sys.executable, help="interpreter for the benchmark processes")
    p.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                   help="extra arguments for one benchmark, e.g. vmap_seeds='--seeds 1 8 32' (repeatable)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), default=None,
                   help="print the table of two suite_<label>.json files with the speed-up of B over A")
    p.add_argument("--md", type=Path, default=None, help="with --compare: also write the markdown table here")
    p.add_argument("--update-readme", nargs="+", type=Path, default=None, metavar="SUITE.json",
                   help="replace the suite table of benchmarks/README.md with this suite (CPU; a second "
                        "file, the GPU suite, adds its column and the speed-up)")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------ environment


def probe_environment(python: str, env: dict) -> dict:
    """Machine, devices and versions, read in a short subprocess (the suite process itself never
    initialises a JAX backend, which on a GPU would reserve memory the benchmarks need)."""
    code = ("import json, sys; sys.path.insert(0, %r); import benchlib; "
            "print('ENV=' + json.dumps(benchlib.environment()))" % str(HERE))
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=180)
        for line in out.stdout.splitlines():
            if line.startswith("ENV="):
                return json.loads(line[4:])
        return {"error": (out.stderr or out.stdout)[-2000:]}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": repr(exc)}


# ------------------------------------------------------------------------------------ results


def metrics_of(obj: dict) -> list[dict]:
    """The metric rows of a result file in benchlib's format (``{"metrics": [...]}``)."""
    rows = obj.get("metrics")
    if not isinstance(rows, list):
        raise ValueError("not a benchlib result (no 'metrics' list)")
    return [m for m in rows if isinstance(m, dict) and "name" in m]


# ------------------------------------------------------------------------------------ running


def run_one(bench: Bench, args, env: dict, out_dir: Path, backend: str) -> dict:
    """Run one benchmark; returns {name, status, seconds, metrics, log, json, ...}."""
    script = HERE / bench.script
    record = {"name": bench.name, "script": bench.script, "what": bench.what, "metrics": []}
    if not script.is_file():
        return {**record, "status": "missing", "seconds": 0.0}
    cmd = [args.python, str(script), *(bench.quick_args if args.quick else bench.full_args)]
    cmd += shlex.split(dict(a.split("=", 1) for a in args.args if "=" in a).get(bench.name, ""))
    if backend not in ("cpu", "unknown"):
        cmd += list(bench.gpu_args)
        if bench.name == "period":
            cmd += ["--platform", os.environ.get("JAX_PLATFORMS") or backend]
    json_path = out_dir / f"{bench.name}.json"
    if json_path.exists():
        json_path.unlink()
    cmd += ["--json", str(json_path)]
    if bench.name == "selfreg":
        cmd += ["--out", str(out_dir / "selfreg"), "--no-progress"]
    if bench.name == "scaling":
        cmd += ["--figures", str(out_dir / "figures"), "--label", out_dir.name]
    timeout = (bench.quick_timeout if args.quick else bench.full_timeout) * args.timeout_scale
    log_path = out_dir / f"{bench.name}.log"
    print(f"[{bench.name}] {' '.join(Path(c).name if c == args.python else c for c in cmd[1:])} "
          f"(timeout {timeout:.0f} s)", flush=True)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        text = proc.stdout + ("\n--- stderr ---\n" + proc.stderr if proc.stderr else "")
    except subprocess.TimeoutExpired as exc:
        status = f"timeout ({timeout:.0f} s)"
        text = _text(exc.stdout) + "\n--- stderr ---\n" + _text(exc.stderr)
    seconds, cpu_s = time.perf_counter() - t0, _children_cpu() - cpu0
    log_path.write_text(text)
    metrics = []
    if json_path.is_file():
        try:
            metrics = metrics_of(json.loads(json_path.read_text()))
        except (ValueError, OSError) as exc:
            text += f"\n(unreadable result: {exc})"
    if status == "ok" and not metrics:
        status = "ok (no result written)"
    tail = "\n".join(text.strip().splitlines()[-6:])
    print(f"[{bench.name}] {status} in {seconds:.0f} s, {len(metrics)} numbers"
          + ("" if status == "ok" else f"\n    {tail.replace(chr(10), chr(10) + '    ')}"), flush=True)
    return {**record, "status": status, "seconds": seconds, "cpu_s": cpu_s, "metrics": metrics, "log": str(log_path),
            "json": str(json_path) if json_path.is_file() else None, "command": cmd[1:]}


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes (a load-independent cost measure)."""
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    except (ImportError, OSError):
        return 0.0


def _text(x) -> str:
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else str(x)


# ------------------------------------------------------------------------------------ tables


def fmt(v) -> str:
    if v is None:
        return "-"
    sys.path.insert(0, str(HERE))
    from benchlib import format_value

    return format_value(float(v))


def rows_of(suite: dict) -> dict[tuple[str, str, str], dict]:
    """{(benchmark, metric, unit): metric row}, plus a status row for benchmarks without numbers."""
    out = {}
    for r in suite["results"]:
        if not r["metrics"]:
            out[(r["name"], "", "")] = {"value": None, "status": r["status"]}
        for m in r["metrics"]:
            out[(r["name"], m["name"], m.get("unit", ""))] = {**m, "status": r["status"]}
    return out


def cell(row: dict | None) -> str:
    if row is None:
        return "missing"
    if row.get("value") is None:
        return row.get("status", "-") if row.get("status") != "ok" else "-"
    return fmt(row["value"])


def markdown(suite: dict, gpu_placeholder: bool = True) -> str:
    env = suite.get("env", {})
    label = suite["label"]
    mach = env.get("machine", {})
    v = env.get("versions", {})
    lines = [
        f"Suite run {env.get('date', '?')} (`run_all.py{' --quick' if suite.get('quick') else ''}`), "
        f"{suite.get('total_s', 0):.0f} s in all. Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, "
        f"load average {mach.get('load_avg_1m', '?')} at the start. Devices: {', '.join(env.get('devices', []))}. "
        f"Versions: python {v.get('python')}, jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, flax {v.get('flax')}, "
        f"numpy {v.get('numpy')}.",
        "",
    ]
    placeholder = gpu_placeholder and label == "cpu"
    head = f"| benchmark | metric | unit | {label} |" + (" gpu |" if placeholder else "")
    lines += [head, "|---|---|---|---:|" + ("---:|" if placeholder else "")]
    for (bench, name, unit), row in rows_of(suite).items():
        gpu = " not measured |" if placeholder else ""
        lines.append(f"| {bench} | {name or '-'} | {unit or '-'} | {cell(row)} |{gpu}")
    lines.append("")
    lines.append("| benchmark | status | wall s | CPU s (all threads) |")
    lines.append("|---|---|---:|---:|")
    for r in suite["results"]:
        cpu = r.get("cpu_s")
        lines.append(f"| {r['name']} | {r['status']} | {r['seconds']:.0f} | {'-' if cpu is None else f'{cpu:.0f}'} |")
    return "\n".join(lines)


def compare(a_path: Path, b_path: Path, md: Path | None = None) -> str:
    """Both suites' numbers and the speed-up of B over A (time ratio A/B for times, B/A for rates)."""
    a, b = (json.loads(Path(p).read_text()) for p in (a_path, b_path))
    ra, rb = rows_of(a), rows_of(b)
    la, lb = a["label"], b["label"]
    if la == lb:
        la, lb = f"{la} (A)", f"{lb} (B)"
    def describe(tag, path, suite):
        env = suite.get("env", {})
        mach, ver = env.get("machine", {}), env.get("versions", {})
        return (f"{tag}: {Path(path).name} ({env.get('date', '?')}; {', '.join(env.get('devices', []))}; "
                f"{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores; jax {ver.get('jax')}, "
                f"{'quick' if suite.get('quick') else 'full'} sizes)")

    lines = [describe("A", a_path, a), "", describe("B", b_path, b), "", f"| benchmark | metric | unit | {la} | {lb} | speed-up {lb} vs {la} |", "|---|---|---|---:|---:|---:|"]
    for key in list(ra) + [k for k in rb if k not in ra]:
        x, y = ra.get(key), rb.get(key)
        ratio = "-"
        if x and y and x.get("value") and y.get("value"):
            better = (y.get("better") or x.get("better") or "higher")
            r = y["value"] / x["value"] if better == "higher" else x["value"] / y["value"]
            ratio = f"{r:.2f}×" if (x.get("unit") not in ("x", "log-log")) else "-"
        bench, name, unit = key
        lines.append(f"| {bench} | {name or '-'} | {unit or '-'} | {cell(x)} | {cell(y)} | {ratio} |")
    text = "\n".join(lines)
    if md:
        md.write_text(text + "\n")
    return text


# ------------------------------------------------------------------------------------ main


README_BLOCK = "suite-table"  # the README's <!-- suite-table:start/end --> block


def update_readme(paths: list[Path], readme: Path | None = None) -> str:
    """Put the table of one suite (a 'gpu: not measured' column for a CPU suite) or the comparison
    of two suites between the suite-table markers of the README (appended when they are absent)."""
    if len(paths) == 1:
        table = markdown(json.loads(Path(paths[0]).read_text()))
    else:
        a = json.loads(Path(paths[0]).read_text())
        table = markdown(a, gpu_placeholder=False).split("\n\n")[0] + "\n\n" + compare(paths[0], paths[1])
    sys.path.insert(0, str(HERE))
    from benchlib import update_readme_block

    update_readme_block(README_BLOCK, table, readme or HERE / "README.md")
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.update_readme:
        print(update_readme(args.update_readme))
        print(f"\nupdated {HERE / 'README.md'}")
        return 0
    if args.compare:
        print(compare(*args.compare, md=args.md))
        return 0
    names = [n for n in args.only.split(",") if n] or [
        b.name for b in SUITE if (b.in_quick if args.quick else b.in_full)]
    names += [n for n in args.with_.split(",") if n and n not in names]
    names = [n for n in names if n not in set(args.skip.split(","))]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("MPLBACKEND", "Agg")
    t_start = time.perf_counter()
    info = probe_environment(args.python, env)
    backend = info.get("backend", "unknown")
    label = args.device_label or backend
    out_root = args.out or (Path(os.environ["OUT"]) / "benchmarks" if os.environ.get("OUT") else HERE / "results")
    out_dir = out_root / label
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"suite: {len(names)} benchmarks ({'quick' if args.quick else 'full'}) on {label}: "
          f"{', '.join(info.get('devices', []) or ['?'])}; {info.get('machine', {}).get('cpu', '?')}, "
          f"{info.get('machine', {}).get('cores', '?')} cores, load {info.get('machine', {}).get('load_avg_1m', '?')}; "
          f"results in {out_dir}", flush=True)
    results: list[dict] = []

    def write_suite(final: bool) -> str:
        # Written after every benchmark, so that a suite cut short still leaves its table.
        suite = {"label": label, "quick": args.quick, "env": info, "total_s": time.perf_counter() - t_start,
                 "complete": final, "results": results}
        text = json.dumps(suite, indent=1, default=str).replace(str(ROOT) + os.sep, "")  # repository-relative
        (out_root / f"suite_{label}.json").write_text(text)
        md = markdown(suite)
        (out_root / f"suite_{label}.md").write_text(md + "\n")
        return md

    for name in names:
        elapsed = time.perf_counter() - t_start
        if args.budget is not None and elapsed > args.budget:
            results.append({"name": name, "script": BY_NAME[name].script, "what": BY_NAME[name].what,
                            "status": "skipped (budget)", "seconds": 0.0, "metrics": []})
            continue
        try:
            results.append(run_one(BY_NAME[name], args, env, out_dir, backend))
        except Exception as exc:  # noqa: BLE001 - the suite reports, never crashes
            results.append({"name": name, "script": BY_NAME[name].script, "what": BY_NAME[name].what,
                            "status": f"failed ({type(exc).__name__}: {exc})", "seconds": 0.0, "metrics": []})
        write_suite(final=False)
    md = write_suite(final=True)
    print("\n" + md)
    print(f"\nwrote {out_root / f'suite_{label}.json'} and {out_root / f'suite_{label}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
