"""Decoupled weight decay, scaled by the learning rate (Keras 3, AdamW)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax
import optax

from optx._src import base
from optx._src import validation as v


class AddDecoupledWeightDecayState(NamedTuple):
  """State of :func:`add_decoupled_weight_decay` with a scheduled hyperparameter.

  With constants the state is ``optax.EmptyState()``.
  """

  count: jax.Array
  """The step the schedules see next (int32, saturating)."""


def add_decoupled_weight_decay(
  weight_decay: base.ScalarOrSchedule,
  learning_rate: base.ScalarOrSchedule,
  *,
  mask: Any | Callable[[optax.Params], Any] | None = None,
) -> optax.GradientTransformation:
  r"""Adds the decoupled weight-decay step to the updates.

  .. math::
    u \leftarrow u - \eta(t)\, \lambda\, \theta

  where :math:`\eta` is ``learning_rate`` and :math:`\lambda` is
  ``weight_decay``: Keras 3's ``weight_decay`` (:math:`w \leftarrow w - w
  \lambda \eta` before the step) and PyTorch's ``AdamW`` (:math:`w \leftarrow
  w (1 - \eta \lambda)`). Put it last in a chain, after the learning rate.

  Args:
    weight_decay: :math:`\lambda` (>= 0), a float or a schedule.
    learning_rate: :math:`\eta` (>= 0), a float or a schedule.
    mask: a tree of bools (or a function of the params returning one) saying
      which leaves decay; default: all.

  Returns:
    An ``optax.GradientTransformation`` that needs ``params``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.add_decoupled_weight_decay(0.5, 0.1)
    >>> params = jnp.ones(1)
    >>> u, _ = tx.update(jnp.zeros(1), tx.init(params), params)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  call = "add_decoupled_weight_decay"
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_number(call, "learning_rate", learning_rate, lower=0)

  def rule(u, p, *, eta, lam):
    return u - eta * lam * p

  tx = base.leafwise(
    call,
    rule,
    dict(eta=learning_rate, lam=weight_decay),
    counted_state=AddDecoupledWeightDecayState,
    needs_params=True,
  )
  return tx if mask is None else optax.masked(tx, mask)
