#!/usr/bin/env bash
# The GPU run: the bench at `small` and `nanogpt-gpu` (classical and enhance; tokens/s and FLOP/s
# against the GPU's own measured matmul peak), five seeds as one program on the one GPU, and the
# qubit sweep to 16 qubits on default.qubit, then one page of their figures. Sized for 8 minutes.
#
#   scripts/gpu.sh [OUT]        on a machine whose JAX sees a GPU (default OUT: runs/gpu)
#   scripts/gpu.sh --dry [OUT]  the same steps at CPU sizes, in about a minute (the tests run it)
#
# No network needed: when $QGPT_WHEELS (default .whl) holds wheels, made where pip can reach an
# index by scripts/gpu-wheels.sh, they are installed into $QGPT_SITE first. JAX, flax and optax
# are the machine's own. $PYTHON (default python3) runs every step.
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
if [ "${1:-}" = "--dry" ]; then
  dry=1
  shift
fi
out=${1:-runs/gpu}
wheels=${QGPT_WHEELS:-.whl}
python=${PYTHON:-python3}

if compgen -G "$wheels/*.whl" >/dev/null; then
  site=${QGPT_SITE:-/tmp/qgpt-site}
  echo "installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

if [ "$dry" = 1 ]; then
  presets=tiny,original qubits=2,3 seconds=1 seeds=2 steps=20
else
  presets=small,nanogpt-gpu qubits=4,6,8,10,12,14,16 seconds=15 seeds=5 steps=2000
  "$python" -c 'import jax, sys
backend = jax.default_backend()
sys.exit(None if backend == "gpu" else f"error: JAX runs on {backend}, not a GPU; install a "
         "CUDA build of jax there, or run scripts/gpu.sh --dry for the CPU-sized steps")'
fi
first=${presets%%,*}
bench=("$python" -m experiments.bench --devices default.qubit --compile-cache off
       --max-steps "$steps" --seconds "$seconds")
mkdir -p "$out"
SECONDS=0
echo "== 1/3 sizes: classical and enhance at $presets"
"${bench[@]}" --models classical,enhance --sweep "preset=$presets" --out "$out/sizes"
echo "== 2/3 seeds: $seeds seeds as one program at $first, on one device (${SECONDS}s so far)"
"${bench[@]}" --models classical,enhance --preset "$first" --seeds-together "$seeds" \
  --mesh "seed=1" --out "$out/seeds"
echo "== 3/3 qubits: enhance at $first, n_qubits=$qubits (${SECONDS}s so far)"
"${bench[@]}" --models enhance --preset "$first" --sweep "n_qubits=$qubits" --out "$out/qubits"
"$python" -m experiments.results_doc "$out/sizes" "$out/seeds" "$out/qubits" --out "$out/gpu.md"
echo "done in ${SECONDS}s: $out/gpu.md"
