"""``torch.optim.Adamax``, ``NAdam`` and ``Adadelta``: the loop bodies of PyTorch's own.

See ``_optimizers.py`` for how a PyTorch optimizer is built, and ``_adam.py``
for the double-precision scalars PyTorch computes in Python, carried here in
pairs of float32 (:mod:`optx.torch._twofloat`).
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


class AdamaxState(NamedTuple):
  """State of :func:`Adamax`: PyTorch's ``step``, ``exp_avg`` and ``exp_inf``."""

  count: jax.Array
  """Updates so far, PyTorch's ``step`` (int32, saturating)."""
  exp_avg: optax.Params
  exp_inf: optax.Params


@common.takes_no_parameters
def Adamax(
  lr: base.ScalarOrSchedule = 2e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.Adamax``: epsilon inside the maximum.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    u \leftarrow \max(\beta_2 u, |g| + \varepsilon), \quad
    \theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\, m \oslash u

  where :math:`\eta` is ``lr``, :math:`(\beta_1, \beta_2)` are ``betas``,
  :math:`\varepsilon` is ``eps``, :math:`\lambda` is ``weight_decay`` and
  :math:`t` the 1-based update; :math:`\eta / (1 - \beta_1^t)` is PyTorch's
  double-precision scalar. Keras (and the book's :func:`optx.adamax`) add
  :math:`\varepsilon` to :math:`u` instead. A :class:`OneCycleLR` ``lr`` with
  ``cycle_momentum`` replaces :math:`\beta_1`.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1), floats or schedules.
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adamax(lr=0.002)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.002000
  """
  call = common.checked("torch.Adamax", lr, weight_decay, maximize)
  v.check_number(call, "eps", eps, lower=0)
  beta1, beta2 = common.betas(call, lr, betas)

  def rule(g, m, u, p=None, *, w1, b2, eps, clr, lam):
    g = common.gradient(g, p, lam, maximize)
    m = lerp(m, g, w1)  # exp_avg.lerp_(g, 1 − β1)
    u = jnp.maximum(b2 * u, jnp.abs(g) + eps)  # max(exp_inf.mul_(β2), |g| + ε)
    return -clr * m / u, m, u  # addcdiv_(exp_avg, exp_inf, value=−clr)

  def step_size(t, lr, lr_t, b1, w1, b2, eps, lam):
    if t.dtype == jnp.float64:
      clr = lr_t / (1 - b1**t)
    else:
      k = t.astype(jnp.int32)
      bc1 = tf.add(tf.ONE, tf.negative(tf.power(tf.scalar(beta1, b1), k)))
      clr = tf.value(tf.div(tf.number(lr, lr_t), bc1))
    return dict(w1=w1, b2=b2, eps=eps, clr=clr, lam=lam)

  return common.optimizer(
    call,
    rule,
    lr,
    dict(b1=beta1, b2=beta2, w1=base.one_minus(beta1), eps=eps, lam=weight_decay),
    plateau=plateau,
    scalars=step_size,
    counted_state=AdamaxState,
    buffers=[(0.0, None), (0.0, None)],
  )


class NAdamState(NamedTuple):
  """State of :func:`NAdam`: PyTorch's ``step``, ``exp_avg``, ``exp_avg_sq`` and
  ``mu_product`` (one float32 scalar, as PyTorch keeps per parameter)."""

  count: jax.Array
  """Updates so far, PyTorch's ``step`` (int32, saturating)."""
  exp_avg: optax.Params
  exp_avg_sq: optax.Params
  mu_product: jax.Array


@common.takes_no_parameters
def NAdam(
  lr: base.ScalarOrSchedule = 2e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  momentum_decay: float = 4e-3,
  decoupled_weight_decay: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.NAdam``: Dozat's momentum schedule, warmed up over thousands of steps.

  With :math:`t` the 1-based update, :math:`\mu_k = \beta_1 (1 - 0.5 \cdot
  0.96^{\psi k})` and :math:`\Pi_t = \mu_1 \cdots \mu_t` (``mu_product``):

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    d = \sqrt{\frac{s}{1 - \beta_2^t}} + \varepsilon,

  .. math::
    \theta \leftarrow \theta - \frac{\eta (1 - \mu_t)}{1 - \Pi_t}\, g \oslash d
    - \frac{\eta\, \mu_{t+1}}{1 - \Pi_t \mu_{t+1}}\, m \oslash d

  where :math:`\eta` is ``lr``, :math:`(\beta_1, \beta_2)` are ``betas``,
  :math:`\varepsilon` is ``eps``, :math:`\psi` is ``momentum_decay`` and
  :math:`\lambda` is ``weight_decay`` (coupled, or with
  ``decoupled_weight_decay`` :math:`\theta \leftarrow \theta (1 - \eta
  \lambda)` first). :math:`\Pi_t` is PyTorch's float32 product; the step
  sizes are its double-precision scalars. Keras's ``Nadam`` uses
  :math:`\psi = 1`; the book's :func:`optx.nadam` a constant
  :math:`\beta_1`. ``update`` always needs ``params``: PyTorch adds the two
  terms to the parameters one after the other.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1), floats or schedules.
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0).
    momentum_decay: :math:`\psi` (>= 0).
    decoupled_weight_decay: decay the weights as AdamW does.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.NAdam(lr=0.002)
    >>> params = jnp.zeros(1)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(params), params)
    >>> print(f"{u[0]:.6f}")
    -0.002113
  """
  call = common.checked("torch.NAdam", lr, weight_decay, maximize)
  v.check_number(call, "eps", eps, lower=0)
  v.check_constant(call, "momentum_decay", momentum_decay, lower=0)
  v.check_bool(call, "decoupled_weight_decay", decoupled_weight_decay)
  beta1, beta2 = common.betas(call, lr, betas)
  decayed = not base.is_literal_zero(weight_decay)
  coupled = decayed and not decoupled_weight_decay
  decoupled = decayed and decoupled_weight_decay

  def rule(g, m, s, *, p, w1, b2, w2, bc2, eps, lam, keep, c_g, c_m):
    g = common.gradient(g, p if coupled else None, lam, maximize)
    m = lerp(m, g, w1)  # exp_avg.lerp_(g, 1 − β1)
    s = rounded(b2 * s) + w2 * g * g  # exp_avg_sq.mul_(β2).addcmul_(g, g, 1 − β2)
    d = jnp.sqrt(s / bc2) + eps
    q = rounded(p * keep) if decoupled else p  # param.mul_(1 − ηλ)
    q = q + c_g * g / d  # addcdiv_(g, d, value=−η(1 − μ)/(1 − Π))
    q = q + c_m * m / d  # addcdiv_(exp_avg, d, value=−ημ'/(1 − Πμ'))
    return q - p, m, s

  # 0.96^(ψk) as (0.96^ψ)^k, 0.96^ψ in float64: PyTorch's double to 44 bits.
  decay_base = 0.96**momentum_decay if v.concrete(momentum_decay) is not None else None

  def mu(b1, psi, k):
    """μ_k = β1 (1 − 0.5·0.96^(ψk)) as a pair."""
    decay = tf.power(jnp.power(0.96, psi) if decay_base is None else decay_base, k)
    half = tf.mul((jnp.float32(0.5), jnp.float32(0.0)), decay)
    return tf.mul(tf.number(beta1, b1), tf.add(tf.ONE, tf.negative(half)))

  def advance(product, t, b1, psi, **_):  # mu_product *= mu, in float32
    return product * tf.value(mu(b1, psi, t.astype(jnp.int32)))

  def step_sizes(t, lr, lr_t, b1, w1, b2, w2, eps, lam, psi, carry):
    if t.dtype == jnp.float64:
      mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
      mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
      c_g = -lr_t * (1 - mu_t) / (1 - carry)
      c_m = -lr_t * mu_next / (1 - carry * mu_next)
      bc2, keep = 1 - b2**t, 1 - lr_t * lam
    else:
      k = t.astype(jnp.int32)
      rate = tf.number(lr, lr_t)
      mu_t, mu_next = mu(b1, psi, k), mu(b1, psi, k + 1)
      product = (carry, jnp.zeros_like(carry))
      c_g = tf.div(
        tf.mul(tf.negative(rate), tf.add(tf.ONE, tf.negative(mu_t))),
        tf.add(tf.ONE, tf.negative(product)),
      )
      c_m = tf.div(
        tf.mul(tf.negative(rate), mu_next),
        tf.add(tf.ONE, tf.negative(tf.mul(product, mu_next))),
      )
      c_g, c_m = tf.value(c_g), tf.value(c_m)
      bc2 = tf.value(tf.add(tf.ONE, tf.negative(tf.power(tf.scalar(beta2, b2), k))))
      decay = tf.mul(rate, tf.number(weight_decay, lam))
      keep = tf.value(tf.add(tf.ONE, tf.negative(decay)))
    return dict(
      w1=w1, b2=b2, w2=w2, bc2=bc2, eps=eps, lam=lam, keep=keep, c_g=c_g, c_m=c_m
    )

  hyperparameters = dict(
    **common.moment_rates(beta1, beta2), eps=eps, lam=weight_decay, psi=momentum_decay
  )
  return common.optimizer(
    call,
    rule,
    lr,
    hyperparameters,
    plateau=plateau,
    scalars=step_sizes,
    counted_state=NAdamState,
    buffers=[(0.0, None), (0.0, None)],
    needs_params=True,
    carry=(1.0, jnp.float32, advance),
  )


class AdadeltaState(NamedTuple):
  """State of :func:`Adadelta`: PyTorch's ``square_avg`` and ``acc_delta``."""

  square_avg: optax.Params
  acc_delta: optax.Params


CountedAdadeltaState = base.counted(AdadeltaState)


@common.takes_no_parameters
def Adadelta(
  lr: base.ScalarOrSchedule = 1.0,
  rho: base.ScalarOrSchedule = 0.9,
  eps: base.ScalarOrSchedule = 1e-6,
  weight_decay: base.ScalarOrSchedule = 0.0,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> common.Optimizer:
  r"""``torch.optim.Adadelta``: learning rate 1, rho 0.9, epsilon 1e-6.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    s \leftarrow \rho s + (1 - \rho)\, g \otimes g, \quad
    \Delta = \frac{\sqrt{x + \varepsilon}}{\sqrt{s + \varepsilon}}\, g, \quad
    x \leftarrow \rho x + (1 - \rho)\, \Delta \otimes \Delta, \quad
    \theta \leftarrow \theta - \eta \Delta

  where :math:`s` is ``square_avg``, :math:`x` is ``acc_delta`` and
  :math:`\eta, \rho, \varepsilon, \lambda` are ``lr``, ``rho``, ``eps``,
  ``weight_decay`` (coupled). Keras's ``Adadelta`` is the same rule with
  defaults 0.001, 0.95 and 1e-7 and decoupled weight decay.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    rho: :math:`\rho` in [0, 1].
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); unless it is the number 0,
      ``update`` needs ``params``.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adadelta()
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.003162
  """
  call = common.checked("torch.Adadelta", lr, weight_decay, maximize)
  v.check_number(call, "rho", rho, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  common.check_no_cycled_momentum(call, lr)

  def rule(g, s, x, p=None, *, lr, rho, w, eps, lam):
    g = common.gradient(g, p, lam, maximize)
    s = rounded(rho * s) + w * g * g  # square_avg.mul_(ρ).addcmul_(g, g, 1 − ρ)
    delta = jnp.sqrt(x + eps) / jnp.sqrt(s + eps) * g
    x = rounded(rho * x) + w * delta * delta  # acc_delta.mul_(ρ).addcmul_(Δ, Δ, 1 − ρ)
    return -lr * delta, s, x  # param.add_(Δ, alpha=−η)

  return common.optimizer(
    call,
    rule,
    lr,
    dict(rho=rho, w=base.one_minus(rho), eps=eps, lam=weight_decay),
    plateau=plateau,
    state=AdadeltaState,
    counted_state=CountedAdadeltaState,
    buffers=[(0.0, None), (0.0, None)],
  )
