#!/usr/bin/env bash
# Runs the benchmark suite on a machine with a GPU in under 8 minutes, from a plain checkout.
#
#   bash benchmarks/gpu.sh            # results under $OUT/benchmarks when $OUT is set, else benchmarks/results
#
# Needs only what such a machine has (Python 3.12 with jax[cuda], flax, optax, orbax-checkpoint, chex,
# scikit-learn, scipy, numpy, pandas, matplotlib, tqdm, pytest): no installation, PYTHONPATH=$PWD.
# astropy is not needed (the period benchmark skips its astropy comparison on a GPU). Every step has
# its own timeout and the script goes on after a failure; the final table is printed at the end.
# PYTHON overrides the interpreter (default: python3). BUDGET (seconds, default 470) bounds the whole run.
# VMAP_SEEDS (default "1 8 32") are the seed counts S of the vmapped-seeds benchmark.
#
# Besides the suite it samples the device utilisation (nvidia-smi, every 250 ms) while the suite
# runs, and ends with benchmarks/readiness.py: epoch program, utilisation, vmapped seeds, synthesis
# and the projected time of one paper cell, GPU beside the reference CPU run, written into the
# README's gpu-readiness block and into $RESULTS/readiness.md (the copy to bring back).
#
#   bash benchmarks/gpu.sh --dry-run  # on a CPU (JAX_PLATFORMS=cpu): every step at tiny sizes, README untouched
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
BUDGET="${BUDGET:-470}"
VMAP_SEEDS="${VMAP_SEEDS:-1 8 32}"
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
if [ "$DRY_RUN" = 1 ]; then
  # The pieces of a GPU run, checked on a CPU: tiny seed counts, no tests or scaling, column "dryrun".
  export JAX_PLATFORMS=cpu
  VMAP_SEEDS="1 2"
  LABEL="${LABEL:-dryrun}"
  ORDER="${ORDER:-train_step,synth,epoch,vmap_seeds}"
  BUDGET="${BUDGET_DRY:-1200}"
fi
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg PYTHONUNBUFFERED=1
RESULTS="${OUT:+$OUT/benchmarks}"
RESULTS="${RESULTS:-$PWD/benchmarks/results}"
mkdir -p "$RESULTS"
LABEL="${LABEL:-}"
START=$SECONDS
left() { echo $(( BUDGET - (SECONDS - START) )); }

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
timeout 120 "$PY" - <<'EOF' || echo "(environment probe failed)"
import sys, jax
print("python", sys.version.split()[0], "| jax", jax.__version__, "| backend", jax.default_backend(), "|", jax.devices())
for m in ("flax", "optax", "orbax.checkpoint", "chex", "sklearn", "scipy", "pandas", "matplotlib", "astropy", "pyarrow", "yaml"):
    try:
        mod = __import__(m, fromlist=["_"])
        print(f"  {m} {getattr(mod, '__version__', '?')}")
    except Exception as exc:
        print(f"  {m}: missing ({type(exc).__name__})")
EOF

LABEL_ARG=()
[ -n "$LABEL" ] && LABEL_ARG=(--device-label "$LABEL")

echo "== suite (quick sizes; each benchmark with its own timeout)"
# The accelerator-bound benchmarks first; the CPU-bound ones (period and data were also measured on
# their own on an H100, simulate is host NumPy) last. Benchmarks that would start after 300 s are
# marked skipped; the whole suite is cut at 380 s.
ORDER="${ORDER:-train_step,vae_step,synth,epoch,vmap_seeds,period,data,simulate}"
UTIL_CSV="$RESULTS/gpu_util.csv"
rm -f "$UTIL_CSV"
SAMPLER=""
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 250 > "$UTIL_CSV" 2>/dev/null &
  SAMPLER=$!
fi
SUITE_T=380; SUITE_BUDGET=300; SCALE=0.6
[ "$DRY_RUN" = 1 ] && { SUITE_T=1100; SUITE_BUDGET=1000; SCALE=3; }
timeout "$SUITE_T" "$PY" benchmarks/run_all.py --quick --only "$ORDER" --budget "$SUITE_BUDGET" \
  --timeout-scale "$SCALE" --args "vmap_seeds=--seeds $VMAP_SEEDS" --out "$RESULTS" "${LABEL_ARG[@]}" \
  || echo "(suite ended with status $?)"
[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null

SELFREG_SEEDS="${SELFREG_SEEDS:-1,8,32}"
[ "$DRY_RUN" = 1 ] && SELFREG_SEEDS=1,2
SELFREG_JSON="$RESULTS/epoch_selfreg_seeds.json"
rm -f "$SELFREG_JSON"
if "$PY" benchmarks/bench_epoch.py --help 2>/dev/null | grep -q -- "--selfreg-seeds"; then
  T=$(( $(left) - 100 )); [ "$T" -gt 240 ] && T=240
  if [ "$T" -gt 30 ]; then
    echo "== vmapped self-regulated seeds S = $SELFREG_SEEDS ($T s at most)"
    timeout "$T" "$PY" benchmarks/bench_epoch.py --selfreg-seeds "$SELFREG_SEEDS" --json "$SELFREG_JSON" 2>&1 \
      | tee "$RESULTS/epoch_selfreg_seeds.log" | tail -8 || echo "(self-regulated seeds ended early)"
  fi
else
  echo "== (bench_epoch.py has no --selfreg-seeds here: vmapped self-regulated seeds not measured)"
fi

if [ "$DRY_RUN" = 0 ] && [ "$(left)" -gt 120 ]; then
  echo "== accelerator readiness tests (transfer guards enforced on a GPU)"
  timeout 90 "$PY" -m pytest tests/test_accelerator_ready.py -q -x -p no:cacheprovider 2>&1 | tail -15 \
    | tee "$RESULTS/accelerator_ready.log"
fi

if [ "$DRY_RUN" = 0 ] && [ "$(left)" -gt 60 ]; then
  T=$(( $(left) - 15 ))
  echo "== scaling (quick sizes, $T s at most)"
  timeout "$T" "$PY" benchmarks/bench_scaling.py --quick --max-seconds 20 --repeats 2 \
    --figures "$RESULTS/figures" --json "$RESULTS/scaling_gpu.json" 2>&1 | tee "$RESULTS/scaling_gpu.log" | tail -14 \
    || echo "(scaling ended early)"
fi

echo "== final table"
SUITE_JSON=$(ls -t "$RESULTS"/suite_*.json 2>/dev/null | grep -v suite_cpu | head -1)
if [ -n "$SUITE_JSON" ]; then
  echo "== readiness (GPU beside the reference CPU run)"
  README_ARG=(--update-readme)
  [ "$DRY_RUN" = 1 ] && README_ARG=()
  timeout 60 "$PY" benchmarks/readiness.py --suite cpu=benchmarks/suite_cpu.json --suite "gpu=$SUITE_JSON" \
    --util "gpu=$UTIL_CSV" --selfreg-seeds "gpu=$SELFREG_JSON" --md "$RESULTS/readiness.md" --json "$RESULTS/readiness.json" "${README_ARG[@]}" \
    || echo "(readiness table failed)"
fi
if [ -n "$SUITE_JSON" ]; then
  cat "${SUITE_JSON%.json}.md"
  if [ -f benchmarks/suite_cpu.json ]; then
    echo
    echo "== GPU vs this project's reference CPU run (benchmarks/suite_cpu.json)"
    timeout 60 "$PY" benchmarks/run_all.py --compare benchmarks/suite_cpu.json "$SUITE_JSON" \
      --md "$RESULTS/compare_cpu_gpu.md" || true
  fi
else
  echo "(no suite result found in $RESULTS)"
fi
echo "== done in $(( SECONDS - START )) s; results in $RESULTS"
