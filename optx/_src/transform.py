"""Building blocks of the first-order methods: the learning rate and momentum.

Each block is its rule, the equation of its docstring written in the same
symbols, handed to :func:`optx._src.base.leafwise`, which keeps the step count,
evaluates the hyperparameters (floats, arrays or schedules), casts the leaves
and builds the state. A state is a public NamedTuple with Optax's field names;
its ``Counted*`` variant adds the ``count`` a block keeps only when one of its
hyperparameters is a schedule (or a dampening needs the first step). The
adaptive blocks are in ``adaptive.py`` and ``adam.py``; the aliases in
``alias.py`` chain them in the order the equations need.

optax has blocks of the same names; optx writes its own because optax's take
only floats for momentum, decay and betas (no schedules, which 1cycle needs for
momentum) and place epsilon in one fixed spot, where the book and the
frameworks optx reproduces each place it differently.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v


class ScaleByLearningRateState(NamedTuple):
  """State of :func:`scale_by_learning_rate` with a scheduled rate.

  A constant learning rate needs no step: its state is ``optax.EmptyState()``.
  """

  count: jax.Array
  """The step the schedule sees next (int32, saturating)."""


def scale_by_learning_rate(
  learning_rate: base.ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
  r"""Scales the updates by the learning rate, negated for descent.

  .. math::
    u \leftarrow -\eta(t)\, g

  where :math:`\eta(t)` is ``learning_rate`` (a constant or a schedule of the
  step count :math:`t`, 0 on the first update).

  Args:
    learning_rate: a float, a scalar array or a schedule.
    flip_sign: negate the scale (descent). Set False for ascent.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_learning_rate(optx.power_schedule(0.1, steps=1))
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.ones(2), state)
    >>> u, state = tx.update(jnp.ones(2), state)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  v.check_number("scale_by_learning_rate", "learning_rate", learning_rate, lower=0)
  v.check_bool("scale_by_learning_rate", "flip_sign", flip_sign)
  sign = -1.0 if flip_sign else 1.0

  def rule(g, *, eta):
    return sign * eta * g

  return base.leafwise(
    "scale_by_learning_rate",
    rule,
    dict(eta=learning_rate),
    counted_state=ScaleByLearningRateState,
  )


class TraceState(NamedTuple):
  """State of :func:`trace` with a constant ``decay`` and no dampening."""

  trace: optax.Params
  """The momentum buffer :math:`m`."""


CountedTraceState = base.counted(TraceState)


def trace(
  decay: base.ScalarOrSchedule,
  *,
  nesterov: bool = False,
  dampening: base.ScalarOrSchedule = 0.0,
  accumulator_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Accumulates updates into a momentum buffer.

  .. math::
    m \leftarrow \beta\, m + (1 - \tau)\, g, \qquad
    u = \begin{cases} g + \beta\, m & \text{Nesterov} \\ m & \text{otherwise}
    \end{cases}

  where :math:`\beta` is ``decay`` and :math:`\tau` is ``dampening``. The
  buffer starts at zero; on the first update :math:`m = g` whatever
  :math:`\tau` (PyTorch's rule, which only matters when :math:`\tau \ne 0`).

  Placed *after* :func:`scale_by_learning_rate`, the buffer holds the book's
  velocity :math:`m \leftarrow \beta m - \eta g` with the learning rate inside.

  Args:
    decay: the momentum :math:`\beta` in [0, 1], a float or a schedule.
    nesterov: return the look-ahead update :math:`g + \beta m`.
    dampening: :math:`\tau` in [0, 1] (PyTorch's ``dampening``). Any value
      but the number 0 keeps a step count, for the undamped first update.
    accumulator_dtype: dtype of the buffer; default: the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.trace(0.9)
    >>> state = tx.init(jnp.zeros(1))
    >>> for _ in range(2):
    ...   u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    1.9000
  """
  v.check_number("trace", "decay", decay, lower=0, upper=1)
  v.check_number("trace", "dampening", dampening, lower=0, upper=1)
  v.check_bool("trace", "nesterov", nesterov)
  v.check_dtype("trace", "accumulator_dtype", accumulator_dtype)
  damped = not base.is_literal_zero(dampening)

  def rule(g, m, *, beta, tau):
    m = beta * m + (1 - tau) * g
    return (g + beta * m if nesterov else m), m

  def first_undamped(t, beta, tau):
    return dict(beta=beta, tau=jnp.where(t == 1, 0.0, tau))

  return base.leafwise(
    "trace",
    rule,
    dict(beta=decay, tau=dampening),
    buffers=[(0.0, accumulator_dtype)],
    state=TraceState,
    counted_state=CountedTraceState,
    scalars=first_undamped if damped else None,
    needs_count=damped,
  )
