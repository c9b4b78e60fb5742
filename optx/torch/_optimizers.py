"""``torch.optim``'s optimizers: each rule is the loop body of PyTorch's own.

Each optimizer is one optx block whose per-leaf rule follows PyTorch's
single-tensor implementation (its default on a CPU) line by line, in
PyTorch's order of operations; its state uses PyTorch's names for the
buffers (``momentum_buffer``, ``sum``, ``square_avg``, ``grad_avg``,
``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``). The learning rate is inside
the rule, so a ``ReduceLROnPlateau`` lowers it where PyTorch's does.

The number 0 for ``momentum``, ``weight_decay`` or ``lr_decay`` leaves that
part out, as PyTorch does; an array, traced or not, keeps it, and the rule
then gives PyTorch's result at 0 (``momentum=0`` ignores ``dampening``), so
``jit``, ``optx.sweep`` and ``optax.inject_hyperparams`` see one state
structure whatever the values.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v
from optx._src.numerics import lerp
from optx._src.numerics import rounded
from optx.torch import _common as common
from optx.torch import _twofloat as tf
from optx.torch._onecycle import cycled_momentum


class SGDState(NamedTuple):
  """State of :func:`SGD`: the momentum buffer (``None`` without momentum)."""

  momentum_buffer: optax.Params


CountedSGDState = base.counted(SGDState)


@common.takes_no_parameters
def SGD(
  lr: base.ScalarOrSchedule = 1e-3,
  momentum: base.ScalarOrSchedule = 0.0,
  dampening: base.ScalarOrSchedule = 0.0,
  weight_decay: base.ScalarOrSchedule = 0.0,
  nesterov: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.SGD``: the learning rate outside the momentum buffer.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    b \leftarrow \mu b + (1 - \tau) g \;(b_1 = g), \quad
    \theta \leftarrow \theta - \eta \begin{cases} g + \mu b & \text{Nesterov} \\
    b & \text{otherwise} \end{cases}

  where :math:`\eta` is ``lr``, :math:`\mu` is ``momentum``, :math:`\tau` is
  ``dampening`` and :math:`\lambda` is ``weight_decay`` (coupled L2). With
  ``momentum=0`` there is no buffer: :math:`\theta \leftarrow \theta - \eta g`.
  Because :math:`\eta` multiplies the whole buffer, a changing rate differs
  from the book's (and Keras's) velocity, which keeps past rates inside; with
  a constant rate and :math:`\tau = 0` the two agree. A
  :class:`OneCycleLR` ``lr`` with ``cycle_momentum`` replaces ``momentum``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    momentum: :math:`\mu` in [0, 1], a float, an array or a schedule.
    dampening: :math:`\tau` in [0, 1].
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    nesterov: Nesterov momentum (needs momentum > 0 and no dampening).
    maximize: ascend the objective (negates the gradient only).
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.SGD(lr=0.1, momentum=0.9)
    >>> state = tx.init(jnp.zeros(1))
    >>> for _ in range(2):
    ...   u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.1900
  """
  call = common.checked("torch.SGD", lr, weight_decay, maximize)
  v.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_number(call, "dampening", dampening, lower=0, upper=1)
  v.check_bool(call, "nesterov", nesterov)
  if nesterov and (
    v.concrete(momentum) == 0.0 or v.concrete(dampening) not in (0.0, None)
  ):
    raise ValueError(
      f"optx.{call}(nesterov=True) requires momentum > 0 and dampening=0, got"
      f" momentum={momentum!r}, dampening={dampening!r}"
    )
  momentum = cycled_momentum(lr) or momentum
  buffered = not base.is_literal_zero(momentum)
  damped = buffered and not base.is_literal_zero(dampening)

  def plain(g, p=None, *, lr, mu, undamped, lam):
    return -lr * common.gradient(g, p, lam, maximize)

  def rule(g, b, p=None, *, lr, mu, undamped, lam):
    g = common.gradient(g, p, lam, maximize)
    b = rounded(mu * b) + undamped * g  # buf.mul_(μ).add_(g, alpha=1 − τ)
    return -lr * (g + mu * b if nesterov else b), b

  def first_undamped(t, lr, lr_t, mu, undamped, lam):
    del lr  # the rate at the step is enough
    # b = g at first, and without momentum:
    undamped = jnp.where((t == 1) | (mu == 0), 1.0, undamped)
    return dict(lr=lr_t, mu=mu, undamped=undamped, lam=lam)

  return common.optimizer(
    call,
    rule if buffered else plain,
    lr,
    dict(mu=momentum, undamped=base.one_minus(dampening), lam=weight_decay),
    plateau=plateau,
    scalars=first_undamped if damped else None,
    state=SGDState,
    counted_state=CountedSGDState,
    buffers=[(0.0, None) if buffered else None],
  )


class AdagradState(NamedTuple):
  """State of :func:`Adagrad`: the sum of squares (PyTorch's ``sum``)."""

  sum: optax.Params


CountedAdagradState = base.counted(AdagradState)


@common.takes_no_parameters
def Adagrad(
  lr: base.ScalarOrSchedule = 1e-2,
  lr_decay: base.ScalarOrSchedule = 0.0,
  weight_decay: base.ScalarOrSchedule = 0.0,
  initial_accumulator_value: float = 0.0,
  eps: base.ScalarOrSchedule = 1e-10,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.Adagrad``: epsilon outside the root, accumulator from 0.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    s \leftarrow s + g \otimes g, \quad
    \theta \leftarrow \theta - \frac{\eta}{1 + (t - 1)\, \kappa}\,
    g \oslash (\sqrt{s} + \varepsilon)

  where :math:`\eta` is ``lr``, :math:`\kappa` is ``lr_decay``, :math:`t` is
  the 1-based update, :math:`s` starts at ``initial_accumulator_value``,
  :math:`\varepsilon` is ``eps`` and :math:`\lambda` is ``weight_decay``. The
  book's (and Keras 3's) AdaGrad puts :math:`\varepsilon` inside the root and
  starts :math:`s` at 0.1.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    lr_decay: :math:`\kappa` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    initial_accumulator_value: the starting :math:`s` (>= 0).
    eps: :math:`\varepsilon` (>= 0).
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adagrad(lr=0.1)
    >>> u, _ = tx.update(jnp.full(1, 3.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  call = common.checked("torch.Adagrad", lr, weight_decay, maximize)
  v.check_constant(call, "lr_decay", lr_decay, lower=0)
  v.check_constant(
    call, "initial_accumulator_value", initial_accumulator_value, lower=0
  )
  v.check_number(call, "eps", eps, lower=0)
  common.check_no_cycled_momentum(call, lr)
  decaying = not base.is_literal_zero(lr_decay)

  def rule(g, s, p=None, *, lr, eps, lam):
    g = common.gradient(g, p, lam, maximize)
    s = s + g * g
    return -lr * g / (jnp.sqrt(s) + eps), s  # lr: PyTorch's clr

  def decayed_rate(t, lr, lr_t, lr_decay_t, eps, lam):
    # PyTorch's Python double, rounded to float32 once: pairs of float32
    # carry it (an exact double under x64).
    if t.dtype == jnp.float64:
      return dict(lr=lr_t / (1 + (t - 1) * lr_decay_t), eps=eps, lam=lam)
    steps = tf.integer(t.astype(jnp.int32) - 1)
    slowdown = tf.add(tf.ONE, tf.mul(steps, tf.number(lr_decay, lr_decay_t)))
    return dict(lr=tf.value(tf.div(tf.number(lr, lr_t), slowdown)), eps=eps, lam=lam)

  decay = dict(lr_decay_t=lr_decay) if decaying else {}
  return common.optimizer(
    call,
    rule,
    lr,
    dict(**decay, eps=eps, lam=weight_decay),
    plateau=plateau,
    scalars=decayed_rate if decaying else None,
    state=AdagradState,
    counted_state=CountedAdagradState,
    buffers=[(initial_accumulator_value, None)],
  )


class RMSpropState(NamedTuple):
  """State of :func:`RMSprop`; ``grad_avg`` is ``None`` unless ``centered``,
  ``momentum_buffer`` without momentum."""

  square_avg: optax.Params
  grad_avg: optax.Params
  momentum_buffer: optax.Params


CountedRMSpropState = base.counted(RMSpropState)


@common.takes_no_parameters
def RMSprop(
  lr: base.ScalarOrSchedule = 1e-2,
  alpha: base.ScalarOrSchedule = 0.99,
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  momentum: base.ScalarOrSchedule = 0.0,
  centered: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.RMSprop``: decay 0.99, epsilon outside the root, rate outside the buffer.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    s \leftarrow \alpha s + (1 - \alpha)\, g \otimes g, \quad
    d = \sqrt{s} + \varepsilon, \quad
    b \leftarrow \mu b + g \oslash d, \quad
    \theta \leftarrow \theta - \eta b

  where :math:`\eta` is ``lr``, :math:`\alpha` is ``alpha``,
  :math:`\varepsilon` is ``eps``, :math:`\mu` is ``momentum`` and
  :math:`\lambda` is ``weight_decay``. Without momentum,
  :math:`\theta \leftarrow \theta - \eta\, g \oslash d`. ``centered`` uses
  :math:`d = \sqrt{s - a \otimes a} + \varepsilon` with
  :math:`a \leftarrow \alpha a + (1 - \alpha) g`. The book (and Keras) use
  :math:`\alpha = 0.9`, :math:`\varepsilon` inside the root and the rate
  inside the buffer. A :class:`OneCycleLR` ``lr`` with ``cycle_momentum``
  replaces ``momentum``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    alpha: :math:`\alpha` in [0, 1].
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    momentum: :math:`\mu` in [0, 1], a float, an array or a schedule.
    centered: use the centered variant.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.RMSprop(lr=0.01)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  call = common.checked("torch.RMSprop", lr, weight_decay, maximize)
  v.check_number(call, "alpha", alpha, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  v.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_bool(call, "centered", centered)
  momentum = cycled_momentum(lr) or momentum
  buffered = not base.is_literal_zero(momentum)

  def rule(g, s, *ab, p=None, lr, alpha, w, eps, mu, lam):
    g = common.gradient(g, p, lam, maximize)
    s = rounded(alpha * s) + w * g * g  # mul_(α).addcmul_(g, g, 1 − α)
    a = lerp(ab[0], g, w) if centered else None
    d = jnp.sqrt(s if a is None else s - a * a) + eps
    b = rounded(mu * ab[-1]) + g / d if buffered else None
    u = -lr * g / d if b is None else -lr * b
    return u, s, *(x for x in (a, b) if x is not None)

  zeros = (0.0, None)  # a buffer of zeros in the parameters' dtype
  return common.optimizer(
    call,
    rule,
    lr,
    dict(alpha=alpha, w=base.one_minus(alpha), eps=eps, mu=momentum, lam=weight_decay),
    plateau=plateau,
    state=RMSpropState,
    counted_state=CountedRMSpropState,
    buffers=[zeros, zeros if centered else None, zeros if buffered else None],
  )
