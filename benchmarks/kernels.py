"""Kernels in the compiled train step of each optimizer: optx vs Optax.

Compiles the jitted, donating step of ``bench.py`` (``update`` +
``apply_updates``) on one leaf for the backend at hand and counts the fusions
in the optimized HLO's entry computation: elementwise kernels over the leaf,
and scalar kernels (step counts, bias corrections). On a CPU a scalar kernel
costs next to nothing; on a GPU each is a launch of a few microseconds, which
is the size of the gap between optx's and Optax's one-leaf steps measured on
an H100 (``benchmarks/README.md``).

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


def kernels(tx, params) -> tuple[list[str], list[str]]:
  """The fusions of the compiled step's entry computation: (over leaves, scalar)."""
  state = tx.init(params)
  step = jax.jit(bench._train_step(tx), donate_argnums=(0, 1))
  text = step.lower(params, state, params).compile().as_text()
  entry = text[text.index("\nENTRY") :]
  shapes = re.findall(r"= (\S+) fusion\(", entry)
  scalar = [shape for shape in shapes if re.fullmatch(r"\w+\[\]", shape)]
  return [shape for shape in shapes if shape not in scalar], scalar


def main() -> None:
  print(f"jax {jax.__version__}, device {jax.devices()[0].device_kind}")
  params = {"w": jnp.ones((4096, 4096), jnp.float32)}
  print(
    f"  {'optimizer':<9} {'optx kernels':>13} {'scalar':>7} {'optax kernels':>14} {'scalar':>7}"
  )
  for name, spec in bench.OPTIMIZERS.items():
    ours = kernels(spec["optx"](), params)
    theirs = kernels(spec["optax"](), params)
    print(
      f"  {name:<9} {len(ours[0]):>13} {len(ours[1]):>7}"
      f" {len(theirs[0]):>14} {len(theirs[1]):>7}"
    )


if __name__ == "__main__":
  main()
