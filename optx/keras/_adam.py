"""Keras 3's ``Adam``: the rule is Keras's ``update_step``.

See ``_optimizers.py`` for how a Keras optimizer is built.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple
from typing import Unpack

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v
from optx.keras import _options as options


class AdamState(NamedTuple):
  """State of :func:`Adam`: Keras's ``iterations``, ``momentum``, ``velocity``
  and ``velocity_hat`` (``None`` without ``amsgrad``)."""

  count: jax.Array
  momentum: optax.Params
  velocity: optax.Params
  velocity_hat: optax.Params


def Adam(
  learning_rate: base.ScalarOrSchedule = options.ADAPTIVE_RATE,
  beta_1: base.ScalarOrSchedule = 0.9,
  beta_2: base.ScalarOrSchedule = 0.999,
  epsilon: base.ScalarOrSchedule = 1e-7,
  amsgrad: bool = False,
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
  r"""Keras 3's ``Adam``: epsilon added to the uncorrected root ("epsilon hat").

  With :math:`t` the 1-based update number:

  .. math::
    m \leftarrow m + (1 - \beta_1)(g - m), \quad
    v \leftarrow v + (1 - \beta_2)(g^2 - v), \quad
    \alpha = \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}, \quad
    w \leftarrow w - \alpha\, m \oslash (\sqrt{v} + \varepsilon)

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``beta_1``, ``beta_2``, ``epsilon``; ``amsgrad`` replaces :math:`v` by its
  running maximum (of the raw :math:`v`). This is
  ``optx.scale_by_adam(eps_placement="hat")``, not the book's
  :func:`optx.adam` (:math:`\varepsilon` inside the root of :math:`\hat v`)
  nor ``optax.adam``.

  Every Keras optimizer here shares these options, applied in Keras's order
  (clip, then weight decay, then the step): ``clipnorm`` clips each variable
  to :math:`g\, c / \max(\|g\|, c)`, ``global_clipnorm`` all of them by their
  global norm, ``clipvalue`` each entry (at most one of the three);
  ``weight_decay`` :math:`\lambda` adds :math:`-\eta \lambda w`, decoupled.
  ``lr=`` is the legacy alias of ``learning_rate`` and ``decay=`` tf.keras
  2's :math:`\eta / (1 + d\, k)` with :math:`k` updates done (0 on the first),
  on top of any schedule. ``callbacks=`` takes Keras's learning-rate
  callbacks (see :class:`optx.keras.ReduceLROnPlateau`).

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
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
    >>> import optax
    >>> import optx
    >>> tx = optx.keras.Adam(learning_rate=0.1, epsilon=0.01)
    >>> w = jnp.ones(1)
    >>> state = tx.init(w)
    >>> for g in [1.0, -0.5]:
    ...   u, state = tx.update(jnp.full(1, g), state)
    ...   w = optax.apply_updates(w, u)
    >>> print(f"{w[0]:.4f}")
    0.9033
  """
  return adam("keras.Adam", beta_1, beta_2, epsilon, amsgrad, locals())


def adam(
  call: str,
  beta_1: base.ScalarOrSchedule,
  beta_2: base.ScalarOrSchedule,
  epsilon: base.ScalarOrSchedule,
  amsgrad: bool,
  arguments: dict[str, Any],
) -> optax.GradientTransformationExtraArgs:
  """:func:`Adam`, its arguments checked under ``call``'s name (``keras.AdamW``).

  ``arguments`` are the optimizer's (its ``locals()``), for
  :func:`optx.keras._options.build`.
  """
  options.check_betas(call, beta_1=beta_1, beta_2=beta_2)
  options.check_number(call, "epsilon", epsilon, lower=0)
  v.check_bool(call, "amsgrad", amsgrad)

  def rule(g, m, v, *v_hat, lr, alpha, one_minus_b1, one_minus_b2, eps):
    m = m + (g - m) * one_minus_b1
    v = v + (jnp.square(g) - v) * one_minus_b2
    v_hat = [jnp.maximum(v_hat[0], v)] if amsgrad else []
    return -((m * alpha) / (jnp.sqrt(v_hat[0] if amsgrad else v) + eps)), m, v, *v_hat

  def step_size(t, lr, b1, b2, one_minus_b1, one_minus_b2, eps):
    alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    return dict(
      lr=lr, alpha=alpha, one_minus_b1=one_minus_b1, one_minus_b2=one_minus_b2, eps=eps
    )

  hyperparameters = dict(
    b1=beta_1,
    b2=beta_2,
    one_minus_b1=base.one_minus(beta_1),
    one_minus_b2=base.one_minus(beta_2),
    eps=epsilon,
  )
  step = options.step(
    rule,
    hyperparameters,
    counted_state=AdamState,
    buffers=[(0.0, None), (0.0, None), (0.0, None) if amsgrad else None],
    scalars=step_size,
    needs_count=True,
  )
  return options.build(call, step, arguments, **arguments["keras_options"])
