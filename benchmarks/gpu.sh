#!/usr/bin/env bash
# The benchmarks on a GPU machine, in one call of about nine minutes at most:
# the environment, the kernel counts, the host-dispatch check of
# optx.flatten, the tiny tree with the flatten variants (Adam and momentum,
# the two the targets name), the 200-leaf tree fully flattened, then the big
# trees with torch on the GPU. Each part writes its output to $OUT (default
# /tmp/optx-gpu) as it goes, so a part cut off by its timeout still returns
# what it printed. On 2026-11-26 compiles on the tiny tree took 5-30 s each
# (an H100 and an H200), so one optimizer there costs about a minute.
set -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/optx-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# Leave half the card to torch, which runs in the same process.
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45
PY=${PY:-python3}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem \
    --format=csv
  "$PY" -c 'import jax, optax, torch; print("jax", jax.__version__, "optax",
optax.__version__, "torch", torch.__version__, jax.devices())'
} 2>&1 | tee "$OUT/env.txt"

# Scalar kernels per step, optx vs Optax: the suspected cause of the one-leaf
# gap on the H100 (seconds).
timeout 60 "$PY" benchmarks/kernels.py 2>&1 | tee "$OUT/kernels.txt"

timeout 90 "$PY" benchmarks/dispatch.py 2>&1 | tee "$OUT/dispatch.txt"

timeout 150 "$PY" benchmarks/bench.py --trees tiny --variants \
  --optimizers adam momentum --reps 5 --steps 10 --compile-reps 1 \
  2>&1 | tee "$OUT/tiny.txt"

# Is flattening every leaf (copies are cheap there, buffers are not) a win on
# the GPU? On the CPU it is 5-6x slower on this tree.
timeout 60 "$PY" benchmarks/bench.py --trees many --variants --optimizers adam \
  --no-torch --flatten-max-leaf-size 1073741824 --reps 5 --steps 20 \
  --compile-reps 1 2>&1 | tee "$OUT/many-flat.txt"

timeout 200 "$PY" benchmarks/bench.py --trees one many --reps 9 --steps 20 \
  --compile-reps 1 2>&1 | tee "$OUT/big.txt"
