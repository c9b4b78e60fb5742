"""Keras 3's ``Adamax``, ``Nadam`` and ``AdamW``: Keras's ``update_step``.

See ``_optimizers.py`` for how a Keras optimizer is built. Where Keras's
Python writes ``1 - self.beta_1`` the constant is taken in double precision
and rounded once (:func:`optx._src.base.one_minus`); where it first casts
``beta_1`` to the variable's dtype (Nadam) the subtraction is in float32, as
here.
"""

from __future__ import annotations

from typing import NamedTuple
from typing import Unpack

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx.keras import _adam
from optx.keras import _options as options


class AdamaxState(NamedTuple):
  """State of :func:`Adamax`: Keras's ``iterations``, ``momentum`` and ``norm``."""

  count: jax.Array
  momentum: optax.Params
  norm: optax.Params


def Adamax(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  beta_1: base.ScalarOrSchedule = 0.9,
  beta_2: base.ScalarOrSchedule = 0.999,
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
  r"""Keras 3's ``Adamax``: epsilon added to the infinity norm.

  With :math:`t` the 1-based update number:

  .. math::
    m \leftarrow m + (1 - \beta_1)(g - m), \quad
    u \leftarrow \max(\beta_2 u, |g|), \quad
    w \leftarrow w - \frac{\eta\, m}{(1 - \beta_1^t)(u + \varepsilon)}

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``beta_1``, ``beta_2``, ``epsilon``. This is the book's :func:`optx.adamax`
  (PyTorch and Optax put :math:`\varepsilon` inside the maximum).

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    beta_1: :math:`\beta_1` in [0, 1).
    beta_2: :math:`\beta_2` in [0, 1).
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
    >>> tx = optx.keras.Adamax(learning_rate=0.1)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  call = "keras.Adamax"
  options.check_betas(call, beta_1=beta_1, beta_2=beta_2)
  options.check_number(call, "epsilon", epsilon, lower=0)

  def rule(g, m, u, *, lr, one_minus_b1, b2, bc1, eps):
    m = m + (g - m) * one_minus_b1
    u = jnp.maximum(b2 * u, jnp.abs(g))
    return -((lr * m) / (bc1 * (u + eps))), m, u

  def bias_correction(t, lr, b1, one_minus_b1, b2, eps):
    return dict(lr=lr, one_minus_b1=one_minus_b1, b2=b2, bc1=1 - b1**t, eps=eps)

  step = options.step(
    rule,
    dict(b1=beta_1, one_minus_b1=base.one_minus(beta_1), b2=beta_2, eps=epsilon),
    counted_state=AdamaxState,
    buffers=[(0.0, None), (0.0, None)],
    scalars=bias_correction,
    needs_count=True,
  )
  return options.build(call, step, locals(), **keras_options)


class NadamState(NamedTuple):
  """State of :func:`Nadam`: Keras's ``iterations``, ``momentum``, ``velocity``
  and ``u_product`` (one float32 scalar, :math:`\\prod_{i \\le t} u_i`)."""

  count: jax.Array
  momentum: optax.Params
  velocity: optax.Params
  u_product: jax.Array


def Nadam(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  beta_1: base.ScalarOrSchedule = 0.9,
  beta_2: base.ScalarOrSchedule = 0.999,
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
  r"""Keras 3's ``Nadam``: Dozat's momentum schedule and its running product.

  With :math:`t` the 1-based update number, :math:`u_t = \beta_1 (1 - 0.5
  \cdot 0.96^t)` and :math:`\Pi_t = u_1 \cdots u_t` (Keras's ``u_product``):

  .. math::
    m \leftarrow m + (1 - \beta_1)(g - m), \quad
    v \leftarrow v + (1 - \beta_2)(g^2 - v),

  .. math::
    \hat m = \frac{u_{t+1}\, m}{1 - \Pi_t u_{t+1}} + \frac{(1 - u_t)\, g}{1 - \Pi_t},
    \quad
    w \leftarrow w - \eta\, \hat m \oslash
    \Big(\sqrt{\frac{v}{1 - \beta_2^t}} + \varepsilon\Big)

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``beta_1``, ``beta_2``, ``epsilon``. Keras's schedule warms :math:`u_t`
  up within about a hundred updates; PyTorch's ``NAdam`` uses
  :math:`0.96^{0.004 t}` (thousands), and the book's :func:`optx.nadam` a
  constant :math:`\beta_1` (Optax's).

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    beta_1: :math:`\beta_1` in [0, 1).
    beta_2: :math:`\beta_2` in [0, 1).
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
    >>> tx = optx.keras.Nadam(learning_rate=0.1)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1063
  """
  call = "keras.Nadam"
  options.check_betas(call, beta_1=beta_1, beta_2=beta_2)
  options.check_number(call, "epsilon", epsilon, lower=0)

  def rule(g, m, v, *, lr, b1, b2, eps, t, u_product):
    # Keras's update_step, its per-step scalars included: computed beside the
    # update, XLA fuses them as it fuses Keras's (computed once per step in
    # `scalars`, a step could differ from Keras's jitted one by a rounding).
    u_t = b1 * (1.0 - 0.5 * jnp.power(jnp.asarray(0.96, g.dtype), t))
    u_next = b1 * (1.0 - 0.5 * jnp.power(jnp.asarray(0.96, g.dtype), t + 1))
    m = m + (g - m) * (1 - b1)
    v = v + (jnp.square(g) - v) * (1 - b2)
    m_hat = (u_next * m) / (1 - u_product * u_next) + ((1 - u_t) * g) / (1 - u_product)
    return -((m_hat * lr) / (jnp.sqrt(v / (1 - jnp.power(b2, t))) + eps)), m, v

  def advance(u_product, t, b1, **_):  # Keras's _backend_update_step
    return u_product * b1 * (1.0 - 0.5 * jnp.power(jnp.asarray(0.96, t.dtype), t))

  def step_count(t, lr, b1, b2, eps, carry):
    return dict(lr=lr, b1=b1, b2=b2, eps=eps, t=t, u_product=carry)

  step = options.step(
    rule,
    dict(b1=beta_1, b2=beta_2, eps=epsilon),
    counted_state=NadamState,
    buffers=[(0.0, None), (0.0, None)],
    scalars=step_count,
    needs_count=True,
    carry=(1.0, jnp.float32, advance),
  )
  return options.build(call, step, locals(), **keras_options)


def AdamW(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  weight_decay: base.ScalarOrSchedule = 0.004,
  beta_1: base.ScalarOrSchedule = 0.9,
  beta_2: base.ScalarOrSchedule = 0.999,
  epsilon: base.ScalarOrSchedule = 1e-7,
  amsgrad: bool = False,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: options.Callbacks = (),
  **keras_options: Unpack[options.Options],
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``AdamW``: :func:`optx.keras.Adam` with ``weight_decay`` 0.004.

  Keras's AdamW is its Adam with the decoupled decay every Keras optimizer
  has, applied before the step at the step's learning rate:

  .. math::
    w \leftarrow w - w \lambda \eta, \qquad
    w \leftarrow w - \alpha\, m \oslash (\sqrt{v} + \varepsilon)

  with :math:`m, v, \alpha` as in :func:`optx.keras.Adam` and :math:`\lambda`
  ``weight_decay`` (Keras refuses ``None``); ``update`` needs ``params``.
  PyTorch's ``AdamW`` multiplies by :math:`1 - \eta\lambda` instead, and the
  book's :func:`optx.adamw` puts :math:`\varepsilon` inside the root of
  :math:`\hat s`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    weight_decay: :math:`\lambda` (>= 0).
    beta_1: :math:`\beta_1` in [0, 1).
    beta_2: :math:`\beta_2` in [0, 1).
    epsilon: :math:`\varepsilon` (>= 0).
    amsgrad: use the running maximum of :math:`v`.
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
    >>> tx = optx.keras.AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> w = jnp.ones(1)
    >>> u, _ = tx.update(jnp.zeros(1), tx.init(w), w)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  if weight_decay is None:
    raise TypeError(
      "optx.keras.AdamW(weight_decay=...) must be a number (Keras refuses"
      " None), got None"
    )
  return _adam.adam("keras.AdamW", beta_1, beta_2, epsilon, amsgrad, locals())
