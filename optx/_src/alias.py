"""The book's optimizers: building blocks chained in the order the equations need.

Every alias takes an optional ``plateau=`` transform (see
:func:`optx.reduce_on_plateau`) and places it where the learning rate is
applied, so that a reduction lowers the learning rate itself: inside the
momentum buffer for momentum and RMSProp-with-momentum, as Keras does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

from optx._src import adam as adam_lib
from optx._src import adaptive
from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import transform
from optx._src import validation as v

Plateau = optax.GradientTransformationExtraArgs | None


def learning_rate_blocks(
  call: str, learning_rate: base.ScalarOrSchedule, plateau: Plateau
) -> list[optax.GradientTransformation]:
  """``[scale_by_learning_rate(learning_rate), plateau]``, checked under ``call``'s name."""
  v.check_number(call, "learning_rate", learning_rate, lower=0)
  if plateau is not None and not isinstance(plateau, plateau_lib.ReduceOnPlateau):
    raise TypeError(
      f"optx.{call}(plateau=...) must be an optx.reduce_on_plateau(...)"
      f" transform, got {plateau!r}"
    )
  blocks = [transform.scale_by_learning_rate(learning_rate)]
  return blocks if plateau is None else [*blocks, plateau]


def moments(
  call: str,
  scale_by: Callable[..., optax.GradientTransformation],
  b1: Any,
  b2: Any,
  eps: Any,
  mu_dtype: Any,
  nu_dtype: Any,
  **options: Any,
) -> optax.GradientTransformation:
  """``scale_by(b1, b2, eps, ...)``, its moments' arguments checked under ``call``'s name."""
  v.check_moments(call, b1, b2, eps, mu_dtype, nu_dtype)
  return scale_by(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype, **options)


def _momentum(
  call: str,
  learning_rate: base.ScalarOrSchedule,
  momentum: base.ScalarOrSchedule,
  nesterov: bool,
  accumulator_dtype: Any,
  plateau: Plateau,
) -> optax.GradientTransformationExtraArgs:
  """chain(learning rate, [plateau], trace), its arguments checked under ``call``'s name."""
  v.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_bool(call, "nesterov", nesterov)
  v.check_dtype(call, "accumulator_dtype", accumulator_dtype)
  return base.chain(
    *learning_rate_blocks(call, learning_rate, plateau),
    transform.trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype),
  )


def momentum(
  learning_rate: base.ScalarOrSchedule,
  momentum: base.ScalarOrSchedule = 0.9,
  *,
  nesterov: bool = False,
  accumulator_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Momentum optimization, with the learning rate inside the velocity.

  .. math::
    m \leftarrow \beta m - \eta \nabla_\theta J(\theta), \qquad
    \theta \leftarrow \theta + m

  where :math:`\eta` is ``learning_rate`` and :math:`\beta` is ``momentum``
  (both may be schedules). Because :math:`\eta` is inside :math:`m`, past
  learning rates stay in the velocity: with a *changing* learning rate this
  differs from ``optax.sgd(momentum=...)``, which multiplies the whole buffer
  by the current rate (the two agree for a constant rate). This is Keras's
  ``SGD(momentum=...)``.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    momentum: :math:`\beta` in [0, 1], a float, an array or a schedule.
    nesterov: use :func:`nesterov`'s look-ahead update.
    accumulator_dtype: dtype of :math:`m`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optx
    >>> params = {"w": jnp.array([1.0, -2.0])}
    >>> loss = lambda p: jnp.sum(p["w"] ** 2)
    >>> tx = optx.momentum(learning_rate=0.1, momentum=0.9)
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(jax.grad(loss)(params), state)
    ...   params = optax.apply_updates(params, updates)
    >>> print(f"{params['w'][0]:.4f}")
    0.0620
  """
  return _momentum(
    "momentum", learning_rate, momentum, nesterov, accumulator_dtype, plateau
  )


def nesterov(
  learning_rate: base.ScalarOrSchedule,
  momentum: base.ScalarOrSchedule = 0.9,
  *,
  accumulator_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Nesterov momentum: the gradient is taken after the momentum step.

  The book's look-ahead definition,

  .. math::
    m \leftarrow \beta m - \eta \nabla_\theta J(\theta + \beta m), \qquad
    \theta \leftarrow \theta + m,

  is run in its standard reformulation on :math:`\phi = \theta + \beta m`,
  whose gradient is the one the definition asks for:

  .. math::
    m \leftarrow \beta m - \eta \nabla J(\phi), \qquad
    \phi \leftarrow \phi + \beta m - \eta \nabla J(\phi).

  So the parameters this optimizer holds are :math:`\theta + \beta m` of the
  textbook sequence, and the gradient is fed at the current parameters, as
  usual. This is Keras's ``SGD(momentum=..., nesterov=True)``.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    momentum: :math:`\beta` in [0, 1], a float, an array or a schedule.
    accumulator_dtype: dtype of :math:`m`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.nesterov(learning_rate=0.1, momentum=0.9)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.1900
  """
  call = "nesterov"
  return _momentum(call, learning_rate, momentum, True, accumulator_dtype, plateau)


def sgd(
  learning_rate: base.ScalarOrSchedule,
  momentum: base.ScalarOrSchedule | None = None,
  nesterov: bool = False,
  *,
  accumulator_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Stochastic gradient descent, with optax's signature.

  .. math::
    \theta \leftarrow \theta - \eta \nabla_\theta J(\theta)

  With ``momentum`` set it is :func:`momentum` (or :func:`nesterov`): the
  learning rate sits inside the velocity, as in the book and Keras, not
  outside as in ``optax.sgd``.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    momentum: None for plain descent, else :math:`\beta` in [0, 1].
    nesterov: use the look-ahead update (needs ``momentum``).
    accumulator_dtype: dtype of the velocity; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.sgd(0.1)
    >>> u, _ = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  v.check_bool("sgd", "nesterov", nesterov)
  if momentum is None:
    if nesterov:
      raise ValueError("optx.sgd(nesterov=True) needs momentum=..., got momentum=None")
    v.check_dtype("sgd", "accumulator_dtype", accumulator_dtype)
    return base.chain(*learning_rate_blocks("sgd", learning_rate, plateau))
  return _momentum("sgd", learning_rate, momentum, nesterov, accumulator_dtype, plateau)


def adagrad(
  learning_rate: base.ScalarOrSchedule,
  initial_accumulator_value: float = 0.1,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdaGrad: per-coordinate rates that shrink with the sum of squared gradients.

  .. math::
    s \leftarrow s + \nabla_\theta J \otimes \nabla_\theta J, \qquad
    \theta \leftarrow \theta - \eta\, \nabla_\theta J \oslash \sqrt{s + \varepsilon}

  where :math:`\eta` is ``learning_rate``, :math:`s` starts at
  ``initial_accumulator_value`` and :math:`\varepsilon` is ``eps`` (inside the
  square root, as in the book and Keras 3).

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    initial_accumulator_value: the starting :math:`s` (>= 0).
    eps: :math:`\varepsilon` (>= 0).
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.adagrad(0.1)
    >>> u, _ = tx.update(jnp.full(1, 3.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.0994
  """
  v.check_constant(
    "adagrad", "initial_accumulator_value", initial_accumulator_value, lower=0
  )
  v.check_number("adagrad", "eps", eps, lower=0)
  return base.chain(
    adaptive.scale_by_rss(initial_accumulator_value, eps),
    *learning_rate_blocks("adagrad", learning_rate, plateau),
  )


def rmsprop(
  learning_rate: base.ScalarOrSchedule,
  decay: base.ScalarOrSchedule = 0.9,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  initial_scale: float = 0.0,
  centered: bool = False,
  momentum: base.ScalarOrSchedule | None = None,
  nesterov: bool = False,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""RMSProp: divides by the root of a decaying average of squared gradients.

  .. math::
    s \leftarrow \beta s + (1 - \beta)\, \nabla_\theta J \otimes \nabla_\theta J,
    \qquad
    \theta \leftarrow \theta - \eta\, \nabla_\theta J \oslash \sqrt{s + \varepsilon}

  where :math:`\beta` is ``decay``, :math:`\eta` is ``learning_rate`` and
  :math:`\varepsilon` is ``eps``. ``centered`` subtracts the square of the
  gradients' average inside the root; ``momentum`` :math:`\mu` accumulates the
  scaled step with the learning rate inside the buffer, as Keras does:
  :math:`b \leftarrow \mu b + \eta g / \sqrt{s + \varepsilon}`,
  :math:`\theta \leftarrow \theta - b`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    decay: :math:`\beta` in [0, 1] (the book's 0.9).
    eps: :math:`\varepsilon` (>= 0).
    initial_scale: the starting :math:`s`.
    centered: use the centered variant.
    momentum: None, or :math:`\mu` in [0, 1].
    nesterov: Nesterov momentum (needs ``momentum``).
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.rmsprop(0.01)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.0316
  """
  v.check_number("rmsprop", "decay", decay, lower=0, upper=1)
  v.check_number("rmsprop", "eps", eps, lower=0)
  v.check_constant("rmsprop", "initial_scale", initial_scale, lower=0)
  if momentum is not None:
    v.check_number("rmsprop", "momentum", momentum, lower=0, upper=1)
  v.check_bool("rmsprop", "centered", centered)
  v.check_bool("rmsprop", "nesterov", nesterov)
  if nesterov and momentum is None:
    raise ValueError(
      "optx.rmsprop(nesterov=True) needs momentum=..., got momentum=None"
    )
  scale = adaptive.scale_by_stddev if centered else adaptive.scale_by_rms
  blocks = [
    scale(decay, eps, initial_scale=initial_scale),
    *learning_rate_blocks("rmsprop", learning_rate, plateau),
  ]
  if momentum is not None:
    blocks.append(transform.trace(momentum, nesterov=nesterov))
  return base.chain(*blocks)


def adam(
  learning_rate: base.ScalarOrSchedule,
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  amsgrad: bool = False,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Adam: decaying averages of past gradients and of past squared gradients.

  The book's five equations, :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m - (1 - \beta_1) \nabla_\theta J, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2) \nabla_\theta J \otimes \nabla_\theta J,

  .. math::
    \hat m = \frac{m}{1 - \beta_1^t}, \quad
    \hat s = \frac{s}{1 - \beta_2^t}, \quad
    \theta \leftarrow \theta + \eta\, \hat m \oslash \sqrt{\hat s + \varepsilon}

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``b1``, ``b2``, ``eps``. :math:`\varepsilon` is inside the square root of
  the bias-corrected :math:`\hat s`: this is ``optax.adam(eps=0,
  eps_root=eps)``, not ``optax.adam(eps=eps)`` nor Keras's Adam.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    b1: :math:`\beta_1` in [0, 1), a float, an array or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float, an array or a schedule.
    eps: :math:`\varepsilon` (>= 0).
    amsgrad: use the running maximum of :math:`s` (AMSGrad).
    mu_dtype: dtype of :math:`m`; default: the parameters'.
    nu_dtype: dtype of :math:`s`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.adam(0.001)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.001000
  """
  v.check_bool("adam", "amsgrad", amsgrad)
  scaled = moments(
    "adam", adam_lib.scale_by_adam, b1, b2, eps, mu_dtype, nu_dtype, amsgrad=amsgrad
  )
  return base.chain(scaled, *learning_rate_blocks("adam", learning_rate, plateau))
