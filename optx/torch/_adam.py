"""``torch.optim.Adam`` and ``AdamW``: the rule is the loop body of PyTorch's own.

See ``_optimizers.py`` for how a PyTorch optimizer is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v
from optx._src.numerics import lerp
from optx._src.numerics import rounded
from optx.torch import _common as common
from optx.torch import _twofloat as tf


class AdamState(NamedTuple):
  """State of :func:`Adam` and :func:`AdamW`; ``max_exp_avg_sq`` is ``None``
  without ``amsgrad``."""

  count: jax.Array
  """Updates so far, PyTorch's ``step`` (int32, saturating)."""
  exp_avg: optax.Params
  exp_avg_sq: optax.Params
  max_exp_avg_sq: optax.Params


def _adam(
  call: str,
  lr: base.ScalarOrSchedule,
  betas: Sequence[base.ScalarOrSchedule],
  eps: base.ScalarOrSchedule,
  weight_decay: base.ScalarOrSchedule,
  amsgrad: bool,
  maximize: bool,
  decoupled: bool,
  plateau: Any,
) -> common.Optimizer:
  common.checked(call, lr, weight_decay, maximize)
  v.check_number(call, "eps", eps, lower=0)
  beta1, beta2 = common.betas(call, lr, betas)
  v.check_bool(call, "amsgrad", amsgrad)
  v.check_bool(call, "decoupled_weight_decay", decoupled)

  def rule(g, m, s, *s_max, p=None, w1, b2, w2, step_size, bc2_sqrt, eps, lam, keep):
    g = common.gradient(g, None if decoupled else p, lam, maximize)
    m = lerp(m, g, w1)  # exp_avg.lerp_(g, 1 − β1)
    s = rounded(b2 * s) + w2 * g * g  # exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2)
    s_max = [jnp.maximum(s_max[0], s)] if amsgrad else []
    u = -step_size * m / (jnp.sqrt(s_max[0] if amsgrad else s) / bc2_sqrt + eps)
    if decoupled and p is not None:  # param.mul_(1 − ηλ) before the step
      u = (rounded(p * keep) + u) - p
    return u, m, s, *s_max

  def bias_corrections(t, lr, lr_t, b1, w1, b2, w2, eps, lam):
    # PyTorch computes these in Python's double precision, each rounded to
    # float32 where a kernel takes it: pairs of float32 carry them here
    # (exact doubles under x64).
    if t.dtype == jnp.float64:
      bc1, bc2 = 1 - b1**t, 1 - b2**t
      step_size, bc2_sqrt, keep = lr_t / bc1, jnp.sqrt(bc2), 1 - lr_t * lam
    else:
      k = t.astype(jnp.int32)
      bc1 = tf.add(tf.ONE, tf.negative(tf.power(tf.scalar(beta1, b1), k)))
      bc2 = tf.add(tf.ONE, tf.negative(tf.power(tf.scalar(beta2, b2), k)))
      rate = tf.number(lr, lr_t)
      decay = tf.mul(rate, tf.number(weight_decay, lam))
      step_size = tf.value(tf.div(rate, bc1))
      bc2_sqrt = tf.value(tf.sqrt(bc2))
      keep = tf.value(tf.add(tf.ONE, tf.negative(decay)))
    return dict(
      w1=w1,
      b2=b2,
      w2=w2,
      step_size=step_size,
      bc2_sqrt=bc2_sqrt,
      eps=eps,
      lam=lam,
      keep=keep,
    )

  return common.optimizer(
    call,
    rule,
    lr,
    dict(**common.moment_rates(beta1, beta2), eps=eps, lam=weight_decay),
    plateau=plateau,
    scalars=bias_corrections,
    counted_state=AdamState,
    buffers=[(0.0, None), (0.0, None), (0.0, None) if amsgrad else None],
  )


@common.takes_no_parameters
def Adam(
  lr: base.ScalarOrSchedule = 1e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  decoupled_weight_decay: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.Adam``: epsilon added to the bias-corrected root.

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    \theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\,
    m \oslash \Big(\frac{\sqrt{s}}{\sqrt{1 - \beta_2^t}} + \varepsilon\Big)

  where :math:`\eta` is ``lr``, :math:`(\beta_1, \beta_2)` are ``betas``,
  :math:`\varepsilon` is ``eps`` and :math:`t` is the 1-based update; with
  ``weight_decay`` :math:`\lambda`, :math:`g = \nabla_\theta J + \lambda
  \theta` (coupled L2), or, with ``decoupled_weight_decay``, :math:`\theta
  \leftarrow \theta (1 - \eta \lambda)` before the step (AdamW). ``amsgrad``
  replaces :math:`s` in the denominator by its running maximum (over the raw
  :math:`s`). The book puts :math:`\varepsilon` inside the root of the
  bias-corrected :math:`\hat s`; Keras adds it to the uncorrected root. A
  :class:`OneCycleLR` ``lr`` with ``cycle_momentum`` replaces
  :math:`\beta_1`, and the bias correction uses the current :math:`\beta_1`.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1), floats or schedules.
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    amsgrad: use the running maximum of :math:`s`.
    maximize: ascend the objective.
    decoupled_weight_decay: decay the weights as AdamW does.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adam(lr=0.001)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.001000
  """
  return _adam(
    "torch.Adam",
    lr,
    betas,
    eps,
    weight_decay,
    amsgrad,
    maximize,
    decoupled_weight_decay,
    plateau,
  )


@common.takes_no_parameters
def AdamW(
  lr: base.ScalarOrSchedule = 1e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 1e-2,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.AdamW``: Adam with decoupled weight decay, 0.01 by default.

  .. math::
    \theta \leftarrow \theta (1 - \eta \lambda) - \frac{\eta}{1 - \beta_1^t}\,
    m \oslash \Big(\frac{\sqrt{s}}{\sqrt{1 - \beta_2^t}} + \varepsilon\Big)

  with :math:`m, s` as in :func:`Adam` (on the raw gradient), :math:`\eta`
  ``lr`` and :math:`\lambda` ``weight_decay``. ``update`` needs ``params``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0).
    amsgrad: use the running maximum of :math:`s`.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.AdamW(lr=0.1, weight_decay=0.5)
    >>> params = jnp.ones(1)
    >>> u, _ = tx.update(jnp.zeros(1), tx.init(params), params)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  return _adam(
    "torch.AdamW", lr, betas, eps, weight_decay, amsgrad, maximize, True, plateau
  )
