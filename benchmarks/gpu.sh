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
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
BUDGET="${BUDGET:-470}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
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
timeout 380 "$PY" benchmarks/run_all.py --quick --only "$ORDER" --budget 300 --timeout-scale 0.6 \
  --out "$RESULTS" "${LABEL_ARG[@]}" \
  || echo "(suite ended with status $?)"

if [ "$(left)" -gt 120 ]; then
  echo "== accelerator readiness tests (transfer guards enforced on a GPU)"
  timeout 90 "$PY" -m pytest tests/test_accelerator_ready.py -q -x -p no:cacheprovider 2>&1 | tail -15 \
    | tee "$RESULTS/accelerator_ready.log"
fi

if [ "$(left)" -gt 60 ]; then
  T=$(( $(left) - 15 ))
  echo "== scaling (quick sizes, $T s at most)"
  timeout "$T" "$PY" benchmarks/bench_scaling.py --quick --max-seconds 20 --repeats 2 \
    --figures "$RESULTS/figures" --json "$RESULTS/scaling_gpu.json" 2>&1 | tee "$RESULTS/scaling_gpu.log" | tail -14 \
    || echo "(scaling ended early)"
fi

echo "== final table"
SUITE_JSON=$(ls -t "$RESULTS"/suite_*.json 2>/dev/null | grep -v suite_cpu | head -1)
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
