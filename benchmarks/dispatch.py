"""Does the host wait for the device while stepping ``optx.flatten``?

``optx.flatten`` hides its slice offsets from XLA with ops chosen when the
step is lowered: sorts on CUDA and ROCm, a zero-trip while loop elsewhere.
This script lowers the same step with each (the loop forced through the
module's ``_opaque``), checks that both give the plain path's numbers and that
the default step for this backend holds the expected ops, then times, over
``--steps`` steps: how long the host takes to enqueue them (``dispatch``) and
how long until the device is done (``total``). When the host waits on the
device every step, dispatch is about equal to total. It also times a step
that only passes the same buffers in and out (the host's cost per call).

The default tree (200 leaves of 64 floats and one of 2**28 floats, 1 GiB per
array) gives the device more work per step (about 5 GiB moved) than the host
has in handling the call's ~600 buffers: only then can a host that waits on
the device show. With 2000 small leaves both cards tried so far were
host-bound, loop or not (``benchmarks/README.md``). Meant for a GPU; on CPU
the default is the loop itself.

Run from the repository root::

  python benchmarks/dispatch.py
  python benchmarks/dispatch.py --small 2000 --big 16777216  # the host-bound case
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import bench  # noqa: E402  (puts the repository root on the path too)

import optx  # noqa: E402
from optx._src import flatten as flatten_module  # noqa: E402


def make_tree(seed: int, small: int, big: int) -> dict[str, np.ndarray]:
  """``small`` leaves of 64 floats, plus one leaf of ``big`` floats."""
  rng = np.random.default_rng(seed)
  tree = {f"p{i:04d}": rng.standard_normal(64, dtype=np.float32) for i in range(small)}
  tree["big"] = rng.standard_normal(big, dtype=np.float32)
  return tree


def compile_step(tx, params, state, grads):
  """``bench.py``'s train step of ``tx``: compiled, its lowered text, seconds."""
  start = time.perf_counter()
  step = jax.jit(bench._train_step(tx), donate_argnums=(0, 1))
  lowered = step.lower(params, state, grads)
  text = lowered.as_text()
  compiled = lowered.compile()
  return compiled, text, time.perf_counter() - start


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--reps", type=int, default=5)
  parser.add_argument("--small", type=int, default=200, help="leaves of 64 floats")
  parser.add_argument(
    "--big", type=int, default=2**28, help="floats in the one big leaf"
  )
  args = parser.parse_args(argv)
  print(
    f"jax {jax.__version__}, device {jax.devices()[0].device_kind};"
    f" {args.small} leaves of 64 floats and one of {args.big}"
  )
  params_np = make_tree(0, args.small, args.big)
  grads_np = make_tree(1, args.small, args.big)
  grads = jax.tree.map(jnp.asarray, grads_np)

  def fresh(tx):
    params = jax.tree.map(jnp.asarray, params_np)
    return params, tx.init(params)

  # Reference: three steps of the plain path.
  plain = optx.momentum(1e-3, 0.9)
  params, state = fresh(plain)
  run, _, _ = compile_step(plain, params, state, grads)
  for _ in range(3):
    params, state = run(params, state, grads)
  expected = jax.device_get(params)

  # No kernels at all: the cost of passing the step's buffers in and out.
  def no_op(params, state, grads):
    return params, state

  params, state = fresh(plain)
  run = jax.jit(no_op, donate_argnums=(0, 1)).lower(params, state, grads).compile()
  no_op_s = []
  for _ in range(args.reps):
    start = time.perf_counter()
    for _ in range(args.steps):
      params, state = run(params, state, grads)
    jax.block_until_ready((params, state))
    no_op_s.append((time.perf_counter() - start) / args.steps)
  n_in = len(jax.tree.leaves((params, state, grads)))
  print(f"no-op step over {n_in} buffers: {1e6 * statistics.median(no_op_s):.1f} us")

  default_opaque = flatten_module._opaque
  hiders = {"default": default_opaque, "loop": flatten_module._looped}
  rows = []
  for name, hide in hiders.items():
    flatten_module._opaque = hide
    try:
      tx = optx.flatten(optx.momentum(1e-3, 0.9))
      params, state = fresh(tx)
      run, text, compile_s = compile_step(tx, params, state, grads)
    finally:
      flatten_module._opaque = default_opaque
    ops = {op: text.count(f"stablehlo.{op}") for op in ("sort", "while")}
    for _ in range(3):
      params, state = run(params, state, grads)
    got = jax.device_get(params)
    error = max(float(np.max(np.abs(got[k] - expected[k]))) for k in expected)
    dispatch, total = [], []
    for _ in range(args.reps):
      jax.block_until_ready(params)
      start = time.perf_counter()
      for _ in range(args.steps):
        params, state = run(params, state, grads)
      enqueued = time.perf_counter()
      jax.block_until_ready((params, state))
      done = time.perf_counter()
      dispatch.append((enqueued - start) / args.steps)
      total.append((done - start) / args.steps)
    rows.append((name, ops, error, compile_s, dispatch, total))

  print(f"\n{args.steps} steps x {args.reps} rounds; medians per step")
  print(
    f"  {'hiding':<8} {'sorts':>5} {'whiles':>6} {'max |err|':>9} {'compile s':>9}"
    f" {'dispatch us':>11} {'total us':>9} {'dispatch/total':>14}"
  )
  for name, ops, error, compile_s, dispatch, total in rows:
    d, t = statistics.median(dispatch), statistics.median(total)
    print(
      f"  {name:<8} {ops['sort']:>5} {ops['while']:>6} {error:>9.2e} {compile_s:>9.2f}"
      f" {1e6 * d:>11.1f} {1e6 * t:>9.1f} {d / t:>14.2f}"
    )


if __name__ == "__main__":
  main()
