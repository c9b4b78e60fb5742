"""Keras's gradient clipping: ``clipnorm`` per variable, ``global_clipnorm``, ``clipvalue``.

Each as Keras writes it, after optx's check of the leaves (the optimizer's
blocks, which check them too, come after the clipping).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v


def _clip_by_norm(clip_norm: ArrayLike) -> optax.GradientTransformation:
  """Keras's ``clipnorm``: each variable to ``g c / max(||g||, c)``, as Keras writes it."""

  def clip(g):
    l2sum = jnp.sum(jnp.square(g), keepdims=True)
    positive = l2sum > 0  # Keras's two-tap where: no NaN gradient at 0
    l2norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1.0)), l2sum)
    return (g * jnp.asarray(clip_norm, g.dtype)) / jnp.maximum(l2norm, clip_norm)

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(clip, updates), state

  return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _clip_by_global_norm(clip_norm: ArrayLike) -> optax.GradientTransformation:
  r"""Keras's ``global_clipnorm``: every leaf scaled by one factor of the global norm.

  .. math::
    N = \sqrt{\textstyle\sum_i \|g_i\|^2}, \qquad
    s = c \min(1/N, 1/c) + (N - N), \qquad g_i \leftarrow s\, g_i

  with :math:`c` = ``clip_norm`` and :math:`N` summed in float32. The
  :math:`N - N` term is Keras's: it is 0 for a finite :math:`N` and NaN
  otherwise, so an overflowing or infinite norm makes every update NaN.
  ``optax.clip_by_global_norm`` is not used because it keeps the gradients
  where :math:`N < c` and scales them by :math:`c / N` otherwise: a non-finite
  :math:`N` there zeroes the finite entries (the update is silently skipped),
  and the finite case rounds differently from Keras's.
  """
  c = v.concrete(clip_norm)
  # A Python float, as in Keras (1/c rounded once to float32); else traced.
  c = jnp.asarray(clip_norm, jnp.float32) if c is None else c

  def update_fn(updates, state, params=None):
    del params
    leaves = jax.tree.leaves(updates)
    if not leaves:
      return updates, state
    squares = [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in leaves]
    norm = jnp.sqrt(jnp.sum(jnp.stack(squares)))
    scale = c * jnp.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
    return jax.tree.map(lambda g: g * scale.astype(g.dtype), updates), state

  return optax.GradientTransformation(optax.init_empty_state, update_fn)


def clipping(
  call: str, clipnorm: Any, clipvalue: Any, global_clipnorm: Any
) -> list[optax.GradientTransformation]:
  given = {
    name: value
    for name, value in (
      ("clipnorm", clipnorm),
      ("clipvalue", clipvalue),
      ("global_clipnorm", global_clipnorm),
    )
    if value is not None
  }
  if len(given) > 1:
    raise ValueError(
      f"optx.{call}: only one of clipnorm, clipvalue and global_clipnorm can"
      f" be set, got {', '.join(f'{k}={x!r}' for k, x in given.items())}"
    )
  for name, value in given.items():
    v.check_constant(call, name, value, lower=0, lower_open=True)
  if clipnorm is not None:
    return [_on_leaves(call, _clip_by_norm(clipnorm))]
  if global_clipnorm is not None:
    return [_on_leaves(call, _clip_by_global_norm(global_clipnorm))]
  if clipvalue is not None:  # elementwise, unlike the two norms
    clip = optax.clip(clipvalue)
    clip = base.Elementwise(clip.init, optax.with_extra_args_support(clip).update)
    return [_on_leaves(call, clip)]
  return []


def _on_leaves(call: str, clip: Any) -> Any:
  """``clip`` after optx's leaf check, which the optimizer's blocks run after it:
  Python float leaves become arrays, a non-floating leaf is refused by name."""

  def update_fn(updates, state, params=None, **extra_args):
    return optax.with_extra_args_support(clip).update(
      base.as_leaves(call, updates), state, params, **extra_args
    )

  kind = (
    base.Elementwise
    if isinstance(clip, base.Elementwise)
    else (optax.GradientTransformationExtraArgs)
  )
  return kind(clip.init, update_fn)
