#!/bin/bash
# The GPU measurements of issue 24 (JAX and PyTorch), as run on the
# workplace's device machine: one NVIDIA H200, Python 3.12 with torch and
# jax installed, no TensorFlow and no network. The wheels Keras and
# keras_autolr need beyond those come in .whl/ (cp312), installed offline.
#
#     bash benchmarks/gpu.sh            # results under $OUT (default: /tmp/gpu)
#
# 1. The snapshots of a 54.6M-parameter model with Adam (benchmarks/speed.py
#    --only-snapshots), with one warmup-cosine fit of the same model beside.
# 2. The convnet fit-time ratio on JAX, with the no-op batch-end hook control
#    (benchmarks/backend_speed.py --control).
set -u
PY=${PY:-$(command -v python3)}
OUT=${OUT:-/tmp/gpu}
mkdir -p "$OUT"
"$PY" -m pip install --no-deps --no-index -q .whl/*.whl
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
for backend in jax torch; do
  KERAS_BACKEND=$backend timeout 150 "$PY" benchmarks/speed.py --only-snapshots \
    --snapshot-baseline --out "$OUT/snapshots_$backend.json" 2>&1 | grep -v Warning | tail -4
done
KERAS_BACKEND=jax timeout "${CONVNET_SECONDS:-240}" "$PY" benchmarks/backend_speed.py --backends jax \
  --pairs "${PAIRS:-2}" --control --python "jax=$PY" --out "$OUT/backend_speed_jax.json" 2>&1 | tail -8
