#!/usr/bin/env bash
# The benchmarks on a GPU machine, in one call of under ten minutes: the
# environment, the kernel counts, the big trees (the one-leaf tree also from a
# baseline checkout when BASELINE names one, for a before/after on the same
# card), the tiny tree with the flatten variants for the optimizers not yet
# run there, the 200-leaf tree fully flattened, and the host-dispatch check of
# optx.flatten. Each part writes its output to $OUT (default /tmp/optx-gpu)
# as it goes, so a part cut off by its timeout still returns what it printed.
# PARTS picks the parts (default: all of them); TINY_OPTIMIZERS the optimizers
# of the tiny tree (default: the three the first GPU runs left out).
# On 2026-11-26 compiles on the tiny tree took 5-30 s each (an H100 and an
# H200), so one optimizer there costs about a minute.
set -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/optx-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# Leave half the card to torch, which runs in the same process.
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45
PY=${PY:-python3}
PARTS=${PARTS:-kernels one many tiny many-flat dispatch}
TINY_OPTIMIZERS=${TINY_OPTIMIZERS:-nesterov adagrad rmsprop}
part() { [[ " $PARTS " == *" $1 "* ]]; }

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem \
    --format=csv
  "$PY" -c 'import jax, optax, torch; print("jax", jax.__version__, "optax",
optax.__version__, "torch", torch.__version__, jax.devices())'
} 2>&1 | tee "$OUT/env.txt"

# Scalar kernels per step, optx vs Optax (seconds).
part kernels && timeout 45 "$PY" benchmarks/kernels.py 2>&1 | tee "$OUT/kernels.txt"

# One leaf: every optimizer against Optax, the floor and torch (fused too).
part one && timeout 100 "$PY" benchmarks/bench.py --trees one --reps 15 --steps 50 \
  --compile-reps 1 2>&1 | tee "$OUT/one.txt"

# The same cells from another checkout (its own bench.py imports its optx).
if part one && [ -n "${BASELINE:-}" ] && [ -d "$BASELINE" ]; then
  timeout 75 "$PY" "$BASELINE/benchmarks/bench.py" --trees one --no-torch \
    --reps 15 --steps 50 --compile-reps 1 2>&1 | tee "$OUT/one-baseline.txt"
fi

part many && timeout 100 "$PY" benchmarks/bench.py --trees many --no-torch --reps 9 \
  --steps 20 --compile-reps 1 2>&1 | tee "$OUT/many.txt"

# About a minute per optimizer.
# shellcheck disable=SC2086  # one word per optimizer
part tiny && timeout 250 "$PY" benchmarks/bench.py --trees tiny --variants --no-torch \
  --optimizers $TINY_OPTIMIZERS --reps 5 --steps 10 --compile-reps 1 \
  2>&1 | tee "$OUT/tiny.txt"

# Is flattening every leaf (copies are cheap there, buffers are not) a win on
# the GPU? On the CPU it is 5-6x slower on this tree.
part many-flat && timeout 50 "$PY" benchmarks/bench.py --trees many --variants --optimizers adam \
  --no-torch --flatten-max-leaf-size 1073741824 --reps 5 --steps 20 \
  --compile-reps 1 2>&1 | tee "$OUT/many-flat.txt"

part dispatch && timeout 60 "$PY" benchmarks/dispatch.py 2>&1 | tee "$OUT/dispatch.txt"
:  # the script succeeds whichever parts ran
