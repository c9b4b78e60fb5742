"""The learning-rate finder: the book's exponential range test, one jitted scan.

To pick 1cycle's maximum rate, the book trains for one epoch while the
learning rate grows exponentially from a tiny to a huge value, plots the loss
against the rate on a log axis, takes a rate near the bottom of the curve (about
ten times lower than the turning point, where the loss starts to climb) and
restores the weights. :func:`find_learning_rate` is that procedure as a pure
function: the parameters it is given are never changed, so there is nothing
to restore.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import transform
from optx._src import validation as v

OptimizerFactory = Callable[[ArrayLike], optax.GradientTransformation]


class LearningRateFinderResult(NamedTuple):
  """What :func:`find_learning_rate` returns; plot ``losses`` against ``learning_rates``.

  Attributes:
    learning_rates: :math:`\\eta_i`, the rate of update :math:`i`, shape ``(K,)``.
    losses: :math:`L_i`, the loss of batch :math:`i` before update :math:`i`
      (what the book's callback records), shape ``(K,)``.
    turning_point: :math:`\\eta_{i^*}`, the rate of the lowest finite loss,
      where the curve stops falling and starts to climb.
    suggestion: the suggested maximum rate, ``turning_point / divisor``.
  """

  learning_rates: jax.Array
  losses: jax.Array
  turning_point: jax.Array
  suggestion: jax.Array


def find_learning_rate(
  loss_fn: Callable[[Any, Any], jax.Array],
  params: optax.Params,
  optimizer: OptimizerFactory | optax.GradientTransformation,
  batches: Any,
  *,
  min_learning_rate: ArrayLike = 1e-4,
  max_learning_rate: ArrayLike = 1.0,
  divisor: ArrayLike = 10.0,
) -> LearningRateFinderResult:
  r"""The book's learning-rate finder: grow :math:`\eta` exponentially over one pass.

  Over the :math:`K` batches :math:`B_0, \dots, B_{K-1}` (one epoch), update
  :math:`i` uses

  .. math::
    \eta_i = \eta_{min} \left(\frac{\eta_{max}}{\eta_{min}}\right)^{i / K},
    \qquad L_i = J(\theta_i; B_i), \qquad
    \theta_{i+1} = \theta_i + u_i(\nabla_\theta J(\theta_i; B_i), \eta_i)

  (the book's ``factor = (max_rate / min_rate) ** (1 / iterations)``,
  multiplied in after every batch, so the last rate is
  :math:`\eta_{max}` divided by that factor), where :math:`u_i` is the
  optimizer's update at rate :math:`\eta_i`. The book then plots :math:`L_i`
  against :math:`\eta_i` on a log axis and takes a rate a bit lower than the
  turning point, where the loss stops falling and starts to climb (typically
  ten times lower):

  .. math::
    i^* = \operatorname{arg\,min}_{i : L_i \text{ finite}} L_i, \qquad
    \eta_{suggested} = \eta_{i^*} / d

  where :math:`d` is ``divisor``. The whole test is one ``jax.lax.scan``
  under ``jax.jit`` (compiled once per ``loss_fn`` and ``optimizer``). The
  function is pure: ``params`` is left as it was, and no trained parameters
  come back (the book restores the initial weights; here there is nothing to
  restore). A loss that overflows (the rate is far too large) is recorded as
  is and never chosen. If the lowest loss is the last one, the curve had not
  turned yet: widen the range.

  Args:
    loss_fn: ``loss_fn(params, batch)``, a scalar loss.
    params: the initial parameters (a pytree).
    optimizer: a function of the learning rate returning a transformation
      (``optx.sgd``, ``lambda lr: optx.momentum(lr, 0.9)``,
      ``optx.keras.Adam``, ``optax.adam``), called with each rate as a
      scalar array; or a transformation without a learning rate (a
      direction, such as ``optax.scale_by_adam()``), whose updates are then
      multiplied by :math:`-\eta_i`.
    batches: the batches of one epoch, a pytree whose leaves share a leading
      axis of size :math:`K`; ``loss_fn`` sees one slice at a time.
    min_learning_rate: :math:`\eta_{min} > 0` (the book's 1e-4).
    max_learning_rate: :math:`\eta_{max} > \eta_{min}` (the book's 1).
    divisor: :math:`d > 0`, how far below the turning point to suggest.

  Returns:
    A :class:`LearningRateFinderResult`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> loss_fn = lambda w, x: jnp.mean((w - x) ** 2)
    >>> batches = jnp.ones((60, 3))  # 60 batches of a 3-vector target
    >>> result = optx.find_learning_rate(
    ...   loss_fn, jnp.zeros(3), optx.sgd, batches,
    ...   min_learning_rate=1e-3, max_learning_rate=10.0)
    >>> print(result.learning_rates.shape, f"{result.learning_rates[0]:.4f}")
    (60,) 0.0010
    >>> print(f"{result.turning_point:.4f} {result.suggestion:.4f}")
    2.9286 0.2929
  """
  call = "find_learning_rate"
  if not callable(loss_fn):
    raise TypeError(
      f"optx.{call}(loss_fn=...) must be a function loss_fn(params, batch), got {loss_fn!r}"
    )
  is_transform = isinstance(optimizer, optax.GradientTransformation)
  if not (is_transform or callable(optimizer)):
    raise TypeError(
      f"optx.{call}(optimizer=...) must be a function of the learning rate"
      f" returning a transformation (e.g. optx.sgd) or a transformation, got {optimizer!r}"
    )
  for name, value in (
    ("min_learning_rate", min_learning_rate),
    ("max_learning_rate", max_learning_rate),
    ("divisor", divisor),
  ):
    v.check_number(call, name, value, lower=0, lower_open=True, schedule_ok=False)
  low, high = v.concrete(min_learning_rate), v.concrete(max_learning_rate)
  if low is not None and high is not None and not high > low:
    raise ValueError(
      f"optx.{call}(max_learning_rate=...) must be > min_learning_rate ({low}), got {high}"
    )
  leaves = jax.tree.leaves(batches)
  sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
  if not leaves or None in sizes or len(sizes) != 1 or 0 in sizes:
    raise ValueError(
      f"optx.{call}(batches=...) must be a pytree of arrays sharing a non-empty"
      f" leading axis (one entry per batch), got leading sizes"
      f" {[np.shape(leaf)[:1] for leaf in leaves]}"
    )
  factory = _with_learning_rate(optimizer) if is_transform else optimizer
  return _range_test(
    loss_fn,
    factory,
    params,
    batches,
    jnp.asarray(min_learning_rate, jnp.float32),
    jnp.asarray(max_learning_rate, jnp.float32),
    jnp.asarray(divisor, jnp.float32),
  )


@functools.cache
def _with_learning_rate(direction: optax.GradientTransformation) -> OptimizerFactory:
  """``eta -> chain(direction, scale by -eta)``, one function per transformation (for jit's cache)."""
  return lambda eta: base.chain(direction, transform.scale_by_learning_rate(eta))


@functools.partial(jax.jit, static_argnames=("loss_fn", "factory"))
def _range_test(
  loss_fn: Callable[[Any, Any], jax.Array],
  factory: OptimizerFactory,
  params: optax.Params,
  batches: Any,
  low: jax.Array,
  high: jax.Array,
  divisor: jax.Array,
) -> LearningRateFinderResult:
  """One pass, update ``i`` with ``factory(rates[i])``; the rule on its losses."""
  steps = jax.tree.leaves(batches)[0].shape[0]
  i = jnp.arange(steps, dtype=jnp.float32)
  rates = low * (high / low) ** (i / jnp.float32(steps))
  state = factory(rates[0]).init(params)

  def step(carry, inputs):
    params, state = carry
    rate, batch = inputs
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, state = factory(rate).update(grads, state, params)
    return (optax.apply_updates(params, updates), state), loss

  _, losses = jax.lax.scan(step, (params, state), (rates, batches))
  losses = jnp.asarray(losses, jnp.float32)
  finite = jnp.isfinite(losses)
  best = jnp.argmin(jnp.where(finite, losses, jnp.inf))
  turning_point = jnp.where(jnp.any(finite), rates[best], jnp.nan)
  return LearningRateFinderResult(rates, losses, turning_point, turning_point / divisor)
