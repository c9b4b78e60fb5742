"""Keras 3's optimizers: each rule is the ``update_step`` of Keras's own.

Each optimizer is one optx block whose per-leaf rule is Keras 3's
``update_step`` line by line, in Keras's order of operations and with its
constants (``1 - beta`` taken in double precision, as Keras's Python does),
the learning rate inside; :func:`optx.keras._options.build` adds the options
every Keras optimizer shares. Its state uses Keras's names for the buffers
(``momentum``, ``accumulator``, ``velocity``, ``average_gradient``,
``velocity_hat``).

The number 0 for ``momentum`` leaves the buffer out, as Keras does; an array,
traced or not, keeps it, so that ``jit``, ``optx.sweep`` and
``optax.inject_hyperparams`` see one state structure whatever the values.
"""

from __future__ import annotations

from typing import NamedTuple
from typing import Unpack

import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v
from optx.keras import _options as options


class SGDState(NamedTuple):
  """State of :func:`SGD`: Keras's ``momentum`` buffer (``None`` without momentum)."""

  momentum: optax.Params


CountedSGDState = base.counted(SGDState)


def SGD(
  learning_rate: base.ScalarOrSchedule = options.SGD_RATE,
  momentum: base.ScalarOrSchedule = 0.0,
  nesterov: bool = False,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: options.Callbacks = (),
  **keras_options: Unpack[options.Options],
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``SGD``: gradient descent with the learning rate inside the velocity.

  .. math::
    m \leftarrow \mu m - \eta g, \qquad
    w \leftarrow w + m \quad (\text{Nesterov: } w \leftarrow w + \mu m - \eta g)

  where :math:`\eta` is ``learning_rate`` at this update, :math:`\mu` is
  ``momentum`` and :math:`m` starts at zero; with ``momentum=0`` it is
  :math:`w \leftarrow w - \eta g`. Because :math:`\eta` is inside :math:`m`,
  a changing rate (schedule, ``decay``, ``ReduceLROnPlateau``) differs from
  ``optax.sgd``. The book's default :func:`optx.momentum` is the same maths.

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    momentum: :math:`\mu` in [0, 1].
    nesterov: use Nesterov momentum.
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.
    **keras_options: Keras's ``use_ema``, ``ema_momentum``,
      ``ema_overwrite_frequency``, ``gradient_accumulation_steps``,
      ``exclude_from_weight_decay`` and ``loss_scale_factor``
      (:class:`optx.keras.Options`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.SGD(lr=0.01, decay=1e-4)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.0100
  """
  call = "keras.SGD"
  options.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_bool(call, "nesterov", nesterov)
  buffered = not base.is_literal_zero(momentum)

  def rule(g, *m, lr, mu):
    if not buffered:
      return -(g * lr)
    m = m[0] * mu - g * lr
    return (m * mu - g * lr if nesterov else m), m

  step = options.step(
    rule,
    dict(mu=momentum),
    state=SGDState,
    counted_state=CountedSGDState,
    buffers=[(0.0, None) if buffered else None],
  )
  return options.build(call, step, locals(), **keras_options)


class AdagradState(NamedTuple):
  """State of :func:`Adagrad`: Keras's ``accumulator``."""

  accumulator: optax.Params


CountedAdagradState = base.counted(AdagradState)


def Adagrad(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  initial_accumulator_value: float = 0.1,
  epsilon: base.ScalarOrSchedule = 1e-7,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: options.Callbacks = (),
  **keras_options: Unpack[options.Options],
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``Adagrad``: epsilon inside the square root, accumulator from 0.1.

  .. math::
    s \leftarrow s + g \otimes g, \qquad
    w \leftarrow w - \eta\, g \oslash \sqrt{s + \varepsilon}

  where :math:`\eta` is ``learning_rate``, :math:`s` starts at
  ``initial_accumulator_value`` and :math:`\varepsilon` is ``epsilon``. This
  is the book's :func:`optx.adagrad`. (Legacy tf.keras 2 and PyTorch put
  :math:`\varepsilon` outside the root; ``decay=`` here keeps Keras 3's.)

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    initial_accumulator_value: the starting :math:`s` (>= 0).
    epsilon: :math:`\varepsilon` (>= 0).
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.
    **keras_options: Keras's ``use_ema``, ``ema_momentum``,
      ``ema_overwrite_frequency``, ``gradient_accumulation_steps``,
      ``exclude_from_weight_decay`` and ``loss_scale_factor``
      (:class:`optx.keras.Options`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.Adagrad(learning_rate=0.1)
    >>> u, _ = tx.update(jnp.full(1, 3.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.0994
  """
  call = "keras.Adagrad"
  v.check_constant(
    call, "initial_accumulator_value", initial_accumulator_value, lower=0
  )
  options.check_number(call, "epsilon", epsilon, lower=0)

  def rule(g, s, *, lr, eps):
    s = s + jnp.square(g)
    return -((lr * g) / jnp.sqrt(s + eps)), s

  step = options.step(
    rule,
    dict(eps=epsilon),
    state=AdagradState,
    counted_state=CountedAdagradState,
    buffers=[(initial_accumulator_value, None)],
  )
  return options.build(call, step, locals(), **keras_options)


class RMSpropState(NamedTuple):
  """State of :func:`RMSprop`: Keras's ``velocity``, ``average_gradient``
  (``None`` unless ``centered``) and ``momentum`` (``None`` without momentum)."""

  velocity: optax.Params
  average_gradient: optax.Params
  momentum: optax.Params


CountedRMSpropState = base.counted(RMSpropState)


def RMSprop(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  rho: base.ScalarOrSchedule = 0.9,
  momentum: base.ScalarOrSchedule = 0.0,
  epsilon: base.ScalarOrSchedule = 1e-7,
  centered: bool = False,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: options.Callbacks = (),
  **keras_options: Unpack[options.Options],
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``RMSprop``: epsilon inside the root, learning rate inside the momentum.

  .. math::
    v \leftarrow \rho v + (1 - \rho)\, g \otimes g, \qquad
    \Delta = \eta\, g \oslash \sqrt{v + \varepsilon}

  then :math:`w \leftarrow w - \Delta`, or with momentum :math:`b \leftarrow
  \mu b + \Delta`, :math:`w \leftarrow w - b`. ``centered`` also tracks
  :math:`a \leftarrow \rho a + (1 - \rho) g` and uses
  :math:`\sqrt{v - a \otimes a + \varepsilon}`. :math:`\eta, \rho, \mu,
  \varepsilon` are ``learning_rate``, ``rho``, ``momentum``, ``epsilon``.
  This is the book's :func:`optx.rmsprop` (with ``momentum=`` when
  :math:`\mu > 0`).

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    rho: :math:`\rho` in [0, 1].
    momentum: :math:`\mu` in [0, 1].
    epsilon: :math:`\varepsilon` (>= 0).
    centered: use the centered variant.
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.
    **keras_options: Keras's ``use_ema``, ``ema_momentum``,
      ``ema_overwrite_frequency``, ``gradient_accumulation_steps``,
      ``exclude_from_weight_decay`` and ``loss_scale_factor``
      (:class:`optx.keras.Options`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.RMSprop(lr=0.001, rho=0.9)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.5f}")
    -0.00316
  """
  call = "keras.RMSprop"
  options.check_number(call, "rho", rho, lower=0, upper=1)
  options.check_number(call, "momentum", momentum, lower=0, upper=1)
  options.check_number(call, "epsilon", epsilon, lower=0)
  v.check_bool(call, "centered", centered)
  buffered = not base.is_literal_zero(momentum)

  def rule(g, s, *ab, lr, rho, one_minus_rho, eps, mu):
    s = rho * s + one_minus_rho * jnp.square(g)
    a = rho * ab[0] + one_minus_rho * g if centered else None
    increment = (lr * g) / jnp.sqrt(s + eps if a is None else s - jnp.square(a) + eps)
    b = mu * ab[-1] + increment if buffered else None
    return -(increment if b is None else b), s, *(x for x in (a, b) if x is not None)

  zeros = (0.0, None)  # a buffer of zeros in the parameters' dtype
  step = options.step(
    rule,
    dict(rho=rho, one_minus_rho=base.one_minus(rho), eps=epsilon, mu=momentum),
    state=RMSpropState,
    counted_state=CountedRMSpropState,
    buffers=[zeros, zeros if centered else None, zeros if buffered else None],
  )
  return options.build(call, step, locals(), **keras_options)
