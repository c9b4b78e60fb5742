"""Keras 3's ``Adadelta``: Keras's ``update_step``.

See ``_optimizers.py`` for how a Keras optimizer is built.
"""

from __future__ import annotations

from typing import NamedTuple
from typing import Unpack

import jax.numpy as jnp
import optax

from optx._src import base
from optx.keras import _options as options


class AdadeltaState(NamedTuple):
  """State of :func:`Adadelta`: Keras's ``accumulated_grad`` and
  ``accumulated_delta_var``."""

  accumulated_grad: optax.Params
  accumulated_delta_var: optax.Params


CountedAdadeltaState = base.counted(AdadeltaState)


def Adadelta(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  rho: base.ScalarOrSchedule = 0.95,
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
  r"""Keras 3's ``Adadelta``: steps scaled by the RMS of the past steps.

  .. math::
    s \leftarrow \rho s + (1 - \rho)\, g \otimes g, \quad
    \Delta = -\frac{\sqrt{x + \varepsilon}\, g}{\sqrt{s + \varepsilon}}, \quad
    x \leftarrow \rho x + (1 - \rho)\, \Delta \otimes \Delta, \quad
    w \leftarrow w + \eta \Delta

  where :math:`s` is ``accumulated_grad``, :math:`x` is
  ``accumulated_delta_var`` and :math:`\eta, \rho, \varepsilon` are
  ``learning_rate``, ``rho``, ``epsilon`` (Zeiler, 2012, with a learning
  rate). Keras's defaults are :math:`\eta = 0.001`, :math:`\rho = 0.95`,
  :math:`\varepsilon = 10^{-7}`; PyTorch's ``Adadelta`` takes 1.0, 0.9 and
  :math:`10^{-6}`.

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    rho: :math:`\rho` in [0, 1].
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
    >>> tx = optx.keras.Adadelta(learning_rate=1.0, epsilon=1e-6)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.004472
  """
  call = "keras.Adadelta"
  options.check_number(call, "rho", rho, lower=0, upper=1)
  options.check_number(call, "epsilon", epsilon, lower=0)

  def rule(g, s, x, *, lr, rho, one_minus_rho, eps):
    s = rho * s + one_minus_rho * jnp.square(g)
    delta = -((jnp.sqrt(x + eps) * g) / jnp.sqrt(s + eps))
    x = rho * x + one_minus_rho * jnp.square(delta)
    return lr * delta, s, x

  step = options.step(
    rule,
    dict(rho=rho, one_minus_rho=base.one_minus(rho), eps=epsilon),
    state=AdadeltaState,
    counted_state=CountedAdadeltaState,
    buffers=[(0.0, None), (0.0, None)],
  )
  return options.build(call, step, locals(), **keras_options)
