"""Per-leaf numerics shared by the rules: squares, roots and running averages.

Each is one line of an equation, named after it, in the places where the book
and the frameworks optx reproduces write it differently: where ε goes in a
root, and how a running average is rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

EpsPlacement = Literal["inside", "outside"]
MomentForm = Literal["weighted", "interpolated", "torch"]

Average = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def abs2(g: jax.Array) -> jax.Array:
  r""":math:`|g|^2` in ``g``'s dtype: :math:`g \otimes g`, or :math:`g \otimes \bar g`
  for a complex ``g`` (Optax's rule, so that second moments stay real)."""
  if jnp.iscomplexobj(g):
    return jnp.real(g * jnp.conj(g)).astype(g.dtype)
  return jnp.square(g)


def rounded(x: jax.Array) -> jax.Array:
  """``x`` as computed, rounded to its dtype before any addition that follows.

  XLA's CPU backend fuses a product and the sum it feeds into one fused
  multiply-add (one rounding); PyTorch's separate ``mul_`` and ``add_`` round
  twice. The select hides the product from the adder (it gives ``x`` itself,
  NaN included), so the sum rounds as PyTorch's does.
  """
  return jnp.where(x == x, x, jnp.nan)


def root(
  s: jax.Array, eps: jax.Array, placement: EpsPlacement | Literal["hat"]
) -> jax.Array:
  r""":math:`\sqrt{s + \varepsilon}` (``"inside"``, the book's) or
  :math:`\sqrt{s} + \varepsilon` (``"outside"``, PyTorch's and Optax's Adam;
  ``"hat"`` too, Keras's Adam, whose :math:`\varepsilon` the caller rescales)."""
  return jnp.sqrt(s + eps) if placement == "inside" else jnp.sqrt(s) + eps


def weighted(m: jax.Array, x: jax.Array, beta: jax.Array) -> jax.Array:
  r""":math:`\beta m + (1 - \beta) x`: the book's running average (and Optax's)."""
  return beta * m + (1 - beta) * x


def interpolated(m: jax.Array, x: jax.Array, beta: jax.Array) -> jax.Array:
  r""":math:`m + (1 - \beta)(x - m)`: Keras's form of the same average."""
  return m + (1 - beta) * (x - m)


def lerp(m: jax.Array, x: jax.Array, w: jax.Array) -> jax.Array:
  r"""``torch.lerp(m, x, w)``: :math:`m + w(x - m)` for :math:`w < 1/2`, else
  :math:`x - (x - m)(1 - w)`, so that :math:`w = 1` gives :math:`x` exactly
  (PyTorch's kernel, whose products XLA fuses into the sums as PyTorch does)."""
  return jnp.where(w < 0.5, m + w * (x - m), x - (x - m) * (1 - w))


def _lerp_average(m: jax.Array, x: jax.Array, beta: jax.Array) -> jax.Array:
  return lerp(m, x, 1 - beta)


MOMENT_FORMS: dict[str, tuple[Average, Average]] = {
  "weighted": (weighted, weighted),
  "interpolated": (interpolated, interpolated),
  "torch": (_lerp_average, weighted),
}
"""The averages of the first and second moments, by ``moment_form``."""
