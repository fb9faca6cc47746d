#!/usr/bin/env bash
# The wheels scripts/gpu.sh installs on a GPU machine without network: what qgpt-jax's bench and
# study import there beyond such an image's own JAX, flax, optax, numpy, scipy, networkx,
# matplotlib and tqdm (PennyLane, Qiskit and Aer, pydantic, rapidfuzz, ...), for CPython 3.12 on
# x86-64 Linux, at the versions of constraints.txt; about 31 MB. Lightning and IBM Runtime stay
# out (25 MB more, and the GPU run uses neither).
#
#   scripts/gpu-wheels.sh [DIR] [PYTHON]    defaults: .whl and 3.12; run where pip reaches an index
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
python_version=${2:-3.12}
wanted=(
  pennylane autoray autograd appdirs cachetools diastatic-malt termcolor gast tomlkit rustworkx
  qiskit qiskit-aer dill stevedore
  pydantic pydantic-core annotated-types typing-inspection typing-extensions
  rapidfuzz platformdirs tensorboardX pylatexenc
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
  manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
  --python-version "$python_version" "${platforms[@]}" -c constraints.txt -d "$dir" "${wanted[@]}"
echo "$(ls "$dir"/*.whl | wc -l) wheels, $(du -sh "$dir" | cut -f1), in $dir"
