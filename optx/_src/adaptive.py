"""Building blocks of the adaptive methods: AdaGrad, RMSProp and centered RMSProp.

Each divides the update by the root of a per-coordinate average of squared
gradients; the rule is the docstring's equation (see ``transform.py`` for how
a block is built).
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v
from optx._src.numerics import EpsPlacement
from optx._src.numerics import abs2
from optx._src.numerics import root


class ScaleByRssState(NamedTuple):
  """State of :func:`scale_by_rss` with a constant ``eps``."""

  sum_of_squares: optax.Params
  """The sum of squares :math:`s`."""


CountedScaleByRssState = base.counted(ScaleByRssState)


def scale_by_rss(
  initial_accumulator_value: ArrayLike = 0.1,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  eps_placement: EpsPlacement = "inside",
) -> optax.GradientTransformation:
  r"""Divides by the root of the sum of past squared gradients (AdaGrad).

  .. math::
    s \leftarrow s + g \otimes g, \qquad u = g \oslash \sqrt{s + \varepsilon}

  where :math:`s` starts at ``initial_accumulator_value`` and
  :math:`\varepsilon` is ``eps``. With ``eps_placement="outside"`` the
  denominator is :math:`\sqrt{s} + \varepsilon` (PyTorch, legacy tf.keras).
  For complex :math:`g`, :math:`g \otimes g` is :math:`|g|^2`.

  Args:
    initial_accumulator_value: the starting value of :math:`s` (>= 0).
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    eps_placement: ``"inside"`` (the book's, Keras 3) or ``"outside"`` the
      square root.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 3.0), state)
    >>> u, state = tx.update(jnp.full(1, 4.0), state)
    >>> print(f"{u[0]:.4f}")
    0.8000
  """
  call = "scale_by_rss"
  v.check_constant(
    call, "initial_accumulator_value", initial_accumulator_value, lower=0
  )
  v.check_number(call, "eps", eps, lower=0)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside"])

  def rule(g, s, *, eps):
    s = s + abs2(g)
    return g / root(s, eps, eps_placement), s

  return base.leafwise(
    call,
    rule,
    dict(eps=eps),
    buffers=[(initial_accumulator_value, None)],
    state=ScaleByRssState,
    counted_state=CountedScaleByRssState,
  )


def _check_average(
  call: str, decay: Any, eps: Any, initial_scale: Any, eps_placement: Any
) -> None:
  """The arguments RMSProp's two blocks share."""
  v.check_number(call, "decay", decay, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  v.check_constant(call, "initial_scale", initial_scale, lower=0)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside"])


class ScaleByRmsState(NamedTuple):
  """State of :func:`scale_by_rms` with constant ``decay`` and ``eps``."""

  nu: optax.Params
  """The squares' average :math:`s`."""


CountedScaleByRmsState = base.counted(ScaleByRmsState)


def scale_by_rms(
  decay: base.ScalarOrSchedule = 0.9,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  initial_scale: float = 0.0,
  eps_placement: EpsPlacement = "inside",
) -> optax.GradientTransformation:
  r"""Divides by the root of a decaying average of squared gradients (RMSProp).

  .. math::
    s \leftarrow \beta s + (1 - \beta)\, g \otimes g, \qquad
    u = g \oslash \sqrt{s + \varepsilon}

  where :math:`\beta` is ``decay``, :math:`\varepsilon` is ``eps`` and
  :math:`s` starts at ``initial_scale``. ``eps_placement="outside"`` uses
  :math:`\sqrt{s} + \varepsilon` (PyTorch).

  Args:
    decay: :math:`\beta` in [0, 1], a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    initial_scale: the starting value of :math:`s`.
    eps_placement: ``"inside"`` (the book's) or ``"outside"`` the square root.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_rms(decay=0.9, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 2.0), state)
    >>> print(f"{u[0]:.4f}")
    3.1623
  """
  call = "scale_by_rms"
  _check_average(call, decay, eps, initial_scale, eps_placement)

  def rule(g, s, *, beta, eps):
    s = beta * s + (1 - beta) * abs2(g)
    return g / root(s, eps, eps_placement), s

  return base.leafwise(
    call,
    rule,
    dict(beta=decay, eps=eps),
    buffers=[(initial_scale, None)],
    state=ScaleByRmsState,
    counted_state=CountedScaleByRmsState,
  )


class ScaleByStddevState(NamedTuple):
  """State of :func:`scale_by_stddev` with constant ``decay`` and ``eps``."""

  mu: optax.Params
  """The gradients' average :math:`a`."""
  nu: optax.Params
  """The squares' average :math:`s`."""


CountedScaleByStddevState = base.counted(ScaleByStddevState)


def scale_by_stddev(
  decay: base.ScalarOrSchedule = 0.9,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  initial_scale: float = 0.0,
  eps_placement: EpsPlacement = "inside",
) -> optax.GradientTransformation:
  r"""Centered RMSProp: divides by a running estimate of the gradients' stddev.

  .. math::
    a \leftarrow \beta a + (1 - \beta)\, g, \quad
    s \leftarrow \beta s + (1 - \beta)\, g \otimes g, \quad
    u = g \oslash \sqrt{s - a \otimes a + \varepsilon}

  where :math:`\beta` is ``decay`` and :math:`\varepsilon` is ``eps``;
  ``eps_placement="outside"`` uses :math:`\sqrt{s - a^2} + \varepsilon`
  (PyTorch).

  Args:
    decay: :math:`\beta` in [0, 1], a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    initial_scale: the starting value of :math:`s`.
    eps_placement: ``"inside"`` or ``"outside"`` the square root.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_stddev(decay=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 2.0), state)
    >>> print(f"{u[0]:.4f}")
    2.0000
  """
  call = "scale_by_stddev"
  _check_average(call, decay, eps, initial_scale, eps_placement)

  def rule(g, a, s, *, beta, eps):
    a = beta * a + (1 - beta) * g
    s = beta * s + (1 - beta) * abs2(g)
    return g / root(s - abs2(a), eps, eps_placement), a, s

  return base.leafwise(
    call,
    rule,
    dict(beta=decay, eps=eps),
    buffers=[(0.0, None), (initial_scale, None)],
    state=ScaleByStddevState,
    counted_state=CountedScaleByStddevState,
  )
