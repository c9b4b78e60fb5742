r"""Keras 3's loss scaling: ``loss_scale_factor`` and ``LossScaleOptimizer``.

The loss is multiplied by a scale :math:`s` before its gradients are taken
(:func:`scale_loss`), so that small float16 gradients do not underflow; the
optimizer divides the gradients by :math:`s` before anything else (clipping,
accumulation, weight decay, the step). ``loss_scale_factor=s`` keeps
:math:`s` fixed. :func:`LossScaleOptimizer` adapts it, as Keras 3's:

- a call whose (scaled) gradients hold an inf or a NaN is skipped: the
  parameters and the inner optimizer's state (its ``iterations`` too) stay,
  :math:`s \leftarrow s/2` and the counter restarts at 0;
- otherwise the inner optimizer updates with :math:`g / s`; then, if the
  counter equals ``dynamic_growth_steps - 1``, :math:`s \leftarrow 2s` and the
  counter restarts at 0, else it counts one more.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v


class LossScaleFactorState(NamedTuple):
  """State of an ``optx.keras`` optimizer with ``loss_scale_factor``: the factor."""

  loss_scale_factor: jax.Array


def divide_by_factor(factor: float) -> base.Elementwise:
  """``g / s``: Keras's ``loss_scale_factor`` (a float32 scale), first of all."""

  def init_fn(params):
    del params
    return LossScaleFactorState(base.fresh(factor, jnp.float32))

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    scale = state.loss_scale_factor
    return jax.tree.map(lambda g: g / scale.astype(g.dtype), updates), state

  return base.Elementwise(init_fn, update_fn)


class LossScaleState(NamedTuple):
  """State of :func:`LossScaleOptimizer`: Keras's variables of the same names.

  Attributes:
    step_counter: finite calls since the scale last changed (int32).
    dynamic_scale: the loss scale :math:`s` (float32).
    inner: the inner optimizer's state.
  """

  step_counter: jax.Array
  dynamic_scale: jax.Array
  inner: optax.OptState


def _is_factor(x: Any) -> bool:
  return isinstance(x, LossScaleFactorState)


def LossScaleOptimizer(
  inner_optimizer: optax.GradientTransformation,
  initial_scale: float = 2.0**15,
  dynamic_growth_steps: int = 2000,
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``LossScaleOptimizer``: dynamic loss scaling around an optimizer.

  .. math::
    \text{finite } g:\ \text{inner update with } g / s, \quad
    (c, s) \leftarrow \begin{cases} (0, 2s) & c = N - 1 \\ (c + 1, s) & \text{else}
    \end{cases}
    \qquad
    \text{else: no update}, \quad (c, s) \leftarrow (0, s/2)

  with :math:`s` the scale (float32, from ``initial_scale``), :math:`c` the
  counter and :math:`N` ``dynamic_growth_steps``. Multiply the loss by the
  current scale before taking its gradients: :func:`optx.keras.scale_loss`.
  As in Keras, a ``loss_scale_factor`` of the inner optimizer is switched off
  (it divides by 1).

  Args:
    inner_optimizer: an optax transformation, typically an ``optx.keras``
      optimizer.
    initial_scale: the first scale (> 0).
    dynamic_growth_steps: finite calls between two doublings (>= 1).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.LossScaleOptimizer(optx.keras.SGD(0.1), initial_scale=8.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, jnp.inf), state)
    >>> print(u[0], optx.keras.loss_scale(state))
    0.0 4.0
    >>> u, state = tx.update(jnp.full(1, 4.0), state)  # the gradient of 4 * loss
    >>> print(f"{u[0]:.2f}")
    -0.10
  """
  call = "keras.LossScaleOptimizer"
  if not isinstance(inner_optimizer, optax.GradientTransformation):
    raise TypeError(
      f"optx.{call}(inner_optimizer=...) must be an optax transformation (such"
      f" as optx.keras.SGD(...)), got {inner_optimizer!r}"
    )
  v.check_constant(call, "initial_scale", initial_scale, lower=0, lower_open=True)
  v.check_integer(call, "dynamic_growth_steps", dynamic_growth_steps, lower=1)
  inner = optax.with_extra_args_support(inner_optimizer)
  growth = int(dynamic_growth_steps)

  def init_fn(params):
    inner_state = jax.tree.map(
      lambda s: (
        LossScaleFactorState(base.fresh(1.0, jnp.float32)) if _is_factor(s) else s
      ),
      inner.init(params),
      is_leaf=_is_factor,
    )
    return LossScaleState(
      step_counter=base.zero_count(),
      dynamic_scale=base.fresh(initial_scale, jnp.float32),
      inner=inner_state,
    )

  def update_fn(updates, state, params=None, **extra_args):
    leaves = jax.tree.leaves(updates)
    finite = (
      jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves else True
    )
    scale = state.dynamic_scale

    def apply(updates, inner_state):
      unscaled = jax.tree.map(lambda g: jnp.divide(g, scale), updates)
      new_updates, inner_state = inner.update(
        unscaled, inner_state, params, **extra_args
      )
      grow = state.step_counter == growth - 1
      counter = jnp.where(grow, 0, state.step_counter + 1).astype(jnp.int32)
      return new_updates, inner_state, counter, jnp.where(grow, scale * 2.0, scale)

    def skip(updates, inner_state):
      shapes = jax.eval_shape(apply, updates, inner_state)[0]
      zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
      return zeros, inner_state, jnp.zeros([], jnp.int32), scale * 0.5

    new_updates, inner_state, counter, scale = jax.lax.cond(
      finite, apply, skip, updates, state.inner
    )
    return new_updates, LossScaleState(counter, scale, inner_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _is_scale(x: Any) -> bool:
  return isinstance(x, (LossScaleState, LossScaleFactorState))


def loss_scale(opt_state: optax.OptState) -> jax.Array:
  """The loss scale of an ``optx.keras`` state: Keras's ``dynamic_scale`` or factor.

  A :func:`LossScaleOptimizer`'s current scale, else the ``loss_scale_factor``
  the optimizer was built with, else 1.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.SGD(0.1, loss_scale_factor=128.0)
    >>> print(optx.keras.loss_scale(tx.init(jnp.zeros(1))))
    128.0
  """
  found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_scale) if _is_scale(s)]
  if not found:
    return jnp.ones([], jnp.float32)
  outer = found[0]
  if isinstance(outer, LossScaleState):
    return outer.dynamic_scale
  return outer.loss_scale_factor


def scale_loss(opt_state: optax.OptState, loss: ArrayLike) -> jax.Array:
  """Keras's ``optimizer.scale_loss(loss)``: the loss times :func:`loss_scale`.

  Take the gradients of the scaled loss; the optimizer divides them back.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.LossScaleOptimizer(optx.keras.SGD(0.1))
    >>> state = tx.init(jnp.zeros(1))
    >>> loss = lambda w: jnp.sum(w - 1.0) ** 2
    >>> g = jax.grad(lambda w: optx.keras.scale_loss(state, loss(w)))(jnp.zeros(1))
    >>> print(g[0])
    -65536.0
  """
  return jnp.multiply(loss, loss_scale(opt_state))
