"""Building blocks: the per-leaf maths of the book's optimizers.

Each block is its rule, the equation of its docstring written in the same
symbols, handed to :func:`optx._src.base.leafwise`, which keeps the step count,
evaluates the hyperparameters (floats, arrays or schedules), casts the leaves
and builds the state. A state is a public NamedTuple with Optax's field names;
the ``Counted*`` variants add the ``count`` a block keeps only when one of its
hyperparameters is a schedule (or, for Adam and PyTorch's dampening, always).
The aliases in ``alias.py`` chain these blocks in the order the equations need.

optax has blocks of the same names; optx writes its own because optax's take
only floats for momentum, decay and betas (no schedules, which 1cycle needs for
momentum) and place epsilon in one fixed spot, where the book and the
frameworks optx reproduces each place it differently.
"""

from __future__ import annotations

from typing import Any
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v
from optx._src.numerics import MOMENT_FORMS
from optx._src.numerics import EpsPlacement
from optx._src.numerics import MomentForm
from optx._src.numerics import abs2
from optx._src.numerics import root

AdamEpsPlacement = Literal["inside", "outside", "hat"]


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
  v.check_number(
    call,
    "initial_accumulator_value",
    initial_accumulator_value,
    lower=0,
    schedule_ok=False,
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
  v.check_number(call, "decay", decay, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  v.check_number(call, "initial_scale", initial_scale, lower=0, schedule_ok=False)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside"])

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
  v.check_number(call, "decay", decay, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  v.check_number(call, "initial_scale", initial_scale, lower=0, schedule_ok=False)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside"])

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


class ScaleByAdamState(NamedTuple):
  """State of :func:`scale_by_adam`: step count, first and second moments."""

  count: jax.Array
  mu: optax.Params
  nu: optax.Params


class ScaleByAmsgradState(NamedTuple):
  """State of :func:`scale_by_adam` with ``amsgrad=True``: adds the running max of ``nu``."""

  count: jax.Array
  mu: optax.Params
  nu: optax.Params
  nu_max: optax.Params


def scale_by_adam(
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  eps_placement: AdamEpsPlacement = "inside",
  moment_form: MomentForm = "weighted",
  amsgrad: bool = False,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Rescales updates with Adam's bias-corrected moment estimates.

  The book's five equations (its :math:`m` is the negative of this one, which
  the learning-rate block negates instead), with :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    \hat m = \frac{m}{1 - \beta_1^t}, \quad
    \hat s = \frac{s}{1 - \beta_2^t}, \quad
    u = \hat m \oslash \sqrt{\hat s + \varepsilon}

  :math:`\beta_1, \beta_2, \varepsilon` are ``b1``, ``b2``, ``eps``. With a
  scheduled :math:`\beta`, the bias correction uses the current value
  (PyTorch's rule under ``OneCycleLR``). ``eps_placement`` moves
  :math:`\varepsilon`: ``"outside"`` gives :math:`\hat m / (\sqrt{\hat s} +
  \varepsilon)` (PyTorch, Optax); ``"hat"`` gives
  :math:`\hat m / (\sqrt{\hat s} + \varepsilon / \sqrt{1 - \beta_2^t})`, which
  is :math:`\alpha\, m / (\sqrt{s} + \varepsilon)` with Keras's
  :math:`\alpha = \sqrt{1-\beta_2^t} / (1-\beta_1^t)`. With ``amsgrad`` the
  running maximum of the raw :math:`s` replaces :math:`s` (Keras and PyTorch).

  ``moment_form`` is how the averages are rounded, equal in exact arithmetic:
  ``"weighted"`` computes :math:`\beta m + (1-\beta) g` as written (the
  book's, Optax's); ``"interpolated"`` computes :math:`m + (1-\beta)(g - m)`
  (Keras's), which loses a small :math:`g` after a large :math:`m` when
  :math:`\beta = 0`; ``"torch"`` is PyTorch's ``lerp`` for :math:`m` and the
  weighted form for :math:`s`.

  Args:
    b1: :math:`\beta_1` in [0, 1), a float or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    eps_placement: ``"inside"`` (the book's), ``"outside"`` or ``"hat"``.
    moment_form: ``"weighted"`` (the book's), ``"interpolated"`` or ``"torch"``.
    amsgrad: keep the running maximum of :math:`s`.
    mu_dtype: dtype of :math:`m`; default: the parameters' dtype.
    nu_dtype: dtype of :math:`s` (and its maximum); default: the parameters'.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_adam(eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 0.5), state)
    >>> print(f"{u[0]:.4f}")
    1.0000
  """
  call = "scale_by_adam"
  v.check_number(call, "b1", b1, lower=0, upper=1, upper_open=True)
  v.check_number(call, "b2", b2, lower=0, upper=1, upper_open=True)
  v.check_number(call, "eps", eps, lower=0)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside", "hat"])
  v.check_choice(call, "moment_form", moment_form, list(MOMENT_FORMS))
  v.check_bool(call, "amsgrad", amsgrad)
  v.check_dtype(call, "mu_dtype", mu_dtype)
  v.check_dtype(call, "nu_dtype", nu_dtype)
  average_m, average_s = MOMENT_FORMS[moment_form]
  placement = "outside" if eps_placement == "hat" else eps_placement

  def rule(g, m, s, *, b1, b2, bc1, bc2, eps):
    m = average_m(m, g, b1)
    s = average_s(s, abs2(g), b2)
    return (m / bc1) / root(s / bc2, eps, placement), m, s

  def amsgrad_rule(g, m, s, s_max, *, b1, b2, bc1, bc2, eps):
    m = average_m(m, g, b1)
    s = average_s(s, abs2(g), b2)
    s_max = jnp.maximum(s_max, s)
    return (m / bc1) / root(s_max / bc2, eps, placement), m, s, s_max

  def bias_corrections(t, b1, b2, eps):
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    if eps_placement == "hat":
      eps = eps / jnp.sqrt(bc2)
    return dict(b1=b1, b2=b2, bc1=bc1, bc2=bc2, eps=eps)

  return base.leafwise(
    call,
    amsgrad_rule if amsgrad else rule,
    dict(b1=b1, b2=b2, eps=eps),
    buffers=[(0.0, mu_dtype), (0.0, nu_dtype), (0.0, nu_dtype)][: 3 if amsgrad else 2],
    counted_state=ScaleByAmsgradState if amsgrad else ScaleByAdamState,
    scalars=bias_corrections,
    needs_count=True,
  )
