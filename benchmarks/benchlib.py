"""Shared helpers of the benchmark scripts: environment record, timing, the one result format, README blocks, fixtures.

Every script prints its table and writes its result through `report` (nothing else parses a
script's output); `run_all.py` only gathers the JSON files. Result format (``--json PATH``)::

    {"benchmark": "epoch", "quick": true, "env": {...environment()...},
     "metrics": [{"name": "epoch total", "value": 12.3, "unit": "s", "better": "lower"}, ...],
     "extra": {...free-form details...}}

Scripts run as ``python benchmarks/<name>.py`` (this folder is then on ``sys.path``); they add the
repository root to ``sys.path`` themselves so that no installation is needed (``PYTHONPATH=$PWD``
works as well). Nothing here imports JAX at module level: scripts set ``JAX_PLATFORMS`` / XLA flags
before the first JAX import.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    """The CPU's model name (lscpu, else /proc/cpuinfo, else platform)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def mem_available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "unknown")
    except Exception:  # noqa: BLE001 - a missing optional package is recorded as None
        return None


def environment(with_jax: bool = True) -> dict[str, Any]:
    """Machine (CPU model, cores, load, memory), JAX devices and backend, versions, UTC date."""
    env: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "mem_available_gb": (round(mem_available_bytes() / 2**30, 1) if mem_available_bytes() else None),
        },
        "versions": {"python": platform.python_version()},
    }
    for name in ("numpy", "jax", "jaxlib", "flax", "optax", "chex"):
        env["versions"][name] = _version(name)
    if with_jax:
        import jax

        devices = jax.devices()
        env["backend"] = jax.default_backend()
        env["devices"] = [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devices]
        env["device_kind"] = getattr(devices[0], "device_kind", devices[0].platform)
    return env


def block(tree):
    """Wait for every array in ``tree`` (asynchronous dispatch) and return it."""
    import jax

    return jax.block_until_ready(tree)


def time_call(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Seconds of ``fn()`` (its outputs waited for): first (incl. compilation), best, median."""
    t0 = time.perf_counter()
    block(fn())
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        block(fn())
    runs = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        block(fn())
        runs.append(time.perf_counter() - t0)
    return {"first_s": first, "best_s": min(runs), "median_s": statistics.median(runs)}


def metric(name: str, value: float | None, unit: str, better: str = "higher", **info) -> dict[str, Any]:
    """One row of a result: ``better`` is "higher" (a rate) or "lower" (a time)."""
    row = {"name": name, "value": None if value is None else float(value), "unit": unit, "better": better}
    row.update(info)
    return row


def write_result(path: str | Path | None, benchmark: str, metrics: list[dict], *, quick: bool,
                 extra: dict | None = None, env: dict | None = None) -> dict[str, Any]:
    """Build the result dict (see the module docstring); write it to ``path`` when given."""
    result = {"benchmark": benchmark, "quick": bool(quick), "env": env or environment(),
              "metrics": metrics, "extra": extra or {}}
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1, default=_json_default))
    return result


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def report(json_path: str | Path | None, benchmark: str, metrics: list[dict], *, quick: bool, title: str,
           extra: dict | None = None) -> dict[str, Any]:
    """The one output of a benchmark script: its table on stdout and its result as JSON (when a path is given)."""
    print_metrics(title, metrics)
    return write_result(json_path, benchmark, metrics, quick=quick, extra=extra)


def update_readme_block(key: str, text: str, readme: str | Path = README) -> None:
    """Replace the text between ``<!-- key:start -->`` and ``<!-- key:end -->`` in the README (the block is
    appended, with its markers, when they are absent); the one place that rewrites benchmarks/README.md."""
    readme = Path(readme)
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{text}\n{end}"
    old = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(new)


def print_metrics(title: str, metrics: list[dict]) -> None:
    """A small markdown table of ``metrics`` on stdout."""
    print(f"\n{title}\n")
    print("| metric | value | unit |")
    print("|---|---:|---|")
    for m in metrics:
        v = m["value"]
        print(f"| {m['name']} | {'-' if v is None else format_value(v)} | {m['unit']} |")


def format_value(v: float) -> str:
    """Three significant digits, thousands separators for large numbers."""
    if v == 0 or not (v == v):  # zero or NaN
        return str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


# ------------------------------------------------------------------------------ shared fixtures


def untrained_vae(classes, *, full_size: bool = True, seed: int = 0):
    """An untrained PELS-VAE (`LoadedVAE`) without physics input; ``full_size`` keeps the original's
    architecture (speed does not depend on training), else a tiny one for tests."""
    from flax import nnx

    from jaxpelsvae.models.vae import PelsVAE, VAEConfig
    from jaxpelsvae.train.vae_train import LoadedVAE

    k = len(classes)
    if full_size:
        cfg = VAEConfig(num_classes=k, phys_dim=0)
    else:
        cfg = VAEConfig(latent_dim=2, units=8, levels=7, kernel_size=4, num_classes=k, phys_dim=0)
    return LoadedVAE(PelsVAE(cfg, rngs=nnx.Rngs(seed)), cfg, None, tuple(classes), {})


def make_generator(train_lcs, *, seq_length: int = 300, full_size: bool = True, capacity_multiple: int = 128,
                   donor_max_len: int = 1000, seed: int = 0):
    """The project's generator fitted on ``train_lcs`` with an untrained VAE and the MLP latent model
    (traceable: generation is one jitted program); few fitting iterations (speed is what counts)."""
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.physics.priors import PriorConfig
    from jaxpelsvae.synth.fit import fit_generator
    from jaxpelsvae.synth.generator import GeneratorConfig

    vae = untrained_vae(train_lcs.classes, full_size=full_size, seed=seed)
    return fit_generator(
        train_lcs, vae,
        priors_config=PriorConfig(max_iter=100, truncate=True),
        latent_config=LatentConfig(model="mlp", rf_trees=4, max_epochs=5, hidden=(64, 64)),
        config=GeneratorConfig(seq_length=seq_length, capacity_multiple=capacity_multiple,
                               donor_max_len=donor_max_len),
        seed=seed,
    )


def parse_common(parser, name: str):
    """Add ``--quick`` and ``--json PATH`` (every suite script has both) and parse."""
    parser.add_argument("--quick", action="store_true", help="small sizes (the suite's quick mode)")
    parser.add_argument("--json", type=Path, default=None, help=f"write the {name} result as JSON here")
    return parser
