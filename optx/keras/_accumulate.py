"""Keras 3's ``gradient_accumulation_steps``: an update every ``n`` calls.

Keras counts every call of ``apply`` in its ``_iterations`` and updates the
variables on the calls where ``(_iterations + 1) % n == 0``, with the mean of
the ``n`` gradients since the last update; on the other calls it only adds
the gradient to its accumulators. Its optimizers read ``iterations =
_iterations // n`` (Adam's bias correction: the number of updates applied),
while its learning-rate schedules read the raw ``_iterations``. ``optax.MultiSteps``
gives the inner optimizer one count, the number of updates applied, so a
schedule there sees ``k`` where Keras's sees ``k n + n - 1``.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optx._src import base


class GradientAccumulationState(NamedTuple):
  """State of an ``optx.keras`` optimizer with ``gradient_accumulation_steps``.

  Attributes:
    count: Keras's ``_iterations``, every call so far (int32, saturating).
    gradient_accumulator: the sum of the gradients since the last update,
      Keras's ``gradient_accumulator`` variables.
    inner: the optimizer's state, advanced only by the updates applied.
  """

  count: jax.Array
  gradient_accumulator: optax.Updates
  inner: optax.OptState


def raw_step(rate: base.ScalarOrSchedule, steps: int) -> base.ScalarOrSchedule:
  """``rate`` read at Keras's raw step: update ``k`` (0-based) is call ``k n + n - 1``.

  The inner optimizer counts the updates it applies (``k``); Keras's schedules
  read ``_iterations``, the calls so far, which is ``k n + n - 1`` on the call
  that applies update ``k``. Saturates at the int32 maximum.
  """
  if not base.is_schedule(rate):
    return rate
  top = (jnp.iinfo(jnp.int32).max - (steps - 1)) // steps

  def at_raw_step(count):
    k = jnp.minimum(jnp.asarray(count, jnp.int32), top)
    return rate(k * steps + (steps - 1))  # pyright: ignore[reportCallIssue]

  return at_raw_step


def accumulate(
  inner: optax.GradientTransformation, steps: int
) -> optax.GradientTransformationExtraArgs:
  r"""``inner`` applied every ``steps`` calls to the mean gradient, as Keras 3 does.

  With :math:`r` the calls so far (0 on the first) and :math:`a` the
  accumulator (zeros at first), a call with gradient :math:`g` is

  .. math::
    \begin{cases}
      \text{update with } (g + a) / n, \quad a \leftarrow 0
        & \text{if } (r + 1) \bmod n = 0 \\
      \text{no update (zeros)}, \quad a \leftarrow a + g & \text{otherwise}
    \end{cases}

  in Keras's operations (``(g + a) / n``, not a running mean). The inner
  state moves only on the calls that update. Like Keras's JAX backend, the
  inner step is computed on every call and kept on the updating ones.
  """
  elementwise = isinstance(inner, base.Elementwise)
  inner = optax.with_extra_args_support(inner)

  def init_fn(params):
    params = base.as_leaves("keras", params)
    return GradientAccumulationState(
      count=base.zero_count(),
      gradient_accumulator=base.full_like(params, 0.0),
      inner=inner.init(params),
    )

  def update_fn(updates, state, params=None, **extra_args):
    updates = base.as_leaves("keras", updates)
    base.check_structure("keras", updates, state.gradient_accumulator)
    is_update = (state.count + 1) % steps == 0
    # As Keras's JAX backend: the step runs on every call, on the mean or on
    # the gradient, and its results are kept on the calls that update. (A
    # lax.cond would skip the work, but XLA then fuses the step differently
    # and rounds some updates otherwise than Keras.)
    mean = jax.tree.map(
      lambda g, a: jnp.where(is_update, (g + a) / steps, g),
      updates,
      state.gradient_accumulator,
    )
    stepped, stepped_state = inner.update(mean, state.inner, params, **extra_args)
    new_updates = jax.tree.map(
      lambda u: jnp.where(is_update, u, jnp.zeros_like(u)), stepped
    )
    inner_state = jax.tree.map(
      lambda new, old: jnp.where(is_update, new, old), stepped_state, state.inner
    )
    accumulator = jax.tree.map(
      lambda g, a: jnp.where(is_update, jnp.zeros_like(a), (g + a).astype(a.dtype)),
      updates,
      state.gradient_accumulator,
    )
    return new_updates, GradientAccumulationState(
      count=base.increment(state.count),
      gradient_accumulator=accumulator,
      inner=inner_state,
    )

  made: Any = base.Elementwise if elementwise else optax.GradientTransformationExtraArgs
  return made(init_fn, update_fn)
