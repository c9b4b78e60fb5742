"""Kernels in the compiled train step of each optimizer: optx vs Optax.

Compiles the jitted, donating step of ``bench.py`` (``update`` +
``apply_updates``) on the one-leaf and 200-leaf trees for the backend at hand
and counts what the optimized HLO launches: fusions over the leaves, scalar
fusions (step counts, bias corrections) and any other op (a copy, say). On a
CPU a scalar kernel costs next to nothing; on a GPU each is a launch of a few
microseconds, which was the size of the gap between optx's and Optax's
one-leaf steps while every optx block kept a step count
(``benchmarks/README.md``).

Run from the repository root::

  python benchmarks/kernels.py
"""

from __future__ import annotations

import os
import re
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(__file__))

import bench  # noqa: E402

# Instructions that launch nothing: views, bookkeeping and control flow.
_FREE = {
  "parameter",
  "tuple",
  "get-tuple-element",
  "bitcast",
  "constant",
  "call",
  "command-buffer",
  "conditional",
  "while",
}


def _shapes_are_scalars(shape: str) -> bool:
  """Whether an HLO shape (``f32[]`` or a tuple of them, layouts included) is scalar."""
  parts = re.findall(r"\w+\[[^\]]*\]", shape)
  return bool(parts) and all(part.endswith("[]") for part in parts)


def kernels(tx, params) -> tuple[list[str], list[str], list[str]]:
  """The compiled step's launches: (fusions over leaves, scalar fusions, other ops).

  Every non-fused computation is read (the entry and, on a GPU, the command
  buffers and calls it wraps its kernels in); fused computations are skipped.
  """
  state = tx.init(params)
  step = jax.jit(bench._train_step(tx), donate_argnums=(0, 1))
  text = step.lower(params, state, params).compile().as_text()
  element, scalar, other = [], [], []
  fused_names = set(re.findall(r" fusion\(.*?calls=(%[\w.-]+)", text))
  fused = False
  for line in text.splitlines():
    if line and not line.startswith(" "):  # a computation's header
      fused = line.removeprefix("ENTRY ").split(" ")[0] in fused_names
      continue
    match = re.match(r"\s*(?:ROOT )?%?\S+ = (.+?) ([\w-]+)\(", line)
    if fused or not match:
      continue
    shape, op = match.groups()
    if op == "fusion":
      (scalar if _shapes_are_scalars(shape) else element).append(shape)
    elif op not in _FREE:
      other.append(op)
  return element, scalar, other


def main() -> None:
  print(f"jax {jax.__version__}, device {jax.devices()[0].device_kind}")
  trees = {
    tree: jax.tree.map(jnp.asarray, bench.make_tree(bench.make_shapes(tree), 0))
    for tree in ("one", "many")
  }
  print(
    f"  {'tree':<5} {'optimizer':<9} {'optx kernels':>13} {'scalar':>7} {'other':>6}"
    f" {'optax kernels':>14} {'scalar':>7} {'other':>6}"
  )
  for tree, params in trees.items():
    for name, spec in bench.OPTIMIZERS.items():
      ours = kernels(spec["optx"](), params)
      theirs = kernels(spec["optax"](), params)
      print(
        f"  {tree:<5} {name:<9} {len(ours[0]):>13} {len(ours[1]):>7} {len(ours[2]):>6}"
        f" {len(theirs[0]):>14} {len(theirs[1]):>7} {len(theirs[2]):>6}"
      )


if __name__ == "__main__":
  main()
