"""Building blocks: the per-leaf maths of the seed's optimizers.

Each block is an ``optax.GradientTransformation`` with a public NamedTuple state
(optax's field names). Every numeric hyperparameter is a float, a scalar array
or a schedule of the block's own step count. A block keeps an int32 ``count``
(saturating at the int32 maximum) only where it reads one: when one of its
hyperparameters is a schedule, for Adam's bias correction and for PyTorch's
first-step dampening rule; elsewhere its state has no ``count`` field (the
``Counted*`` states are the ones with one), as Optax's constant blocks. The
aliases in ``alias.py`` chain these blocks in the order the equations need.

optax has blocks of the same names; optx writes its own because optax's take
only floats for momentum, decay and betas (no schedules, which 1cycle needs for
momentum) and place epsilon in one fixed spot, where the seed and the
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

EpsPlacement = Literal["inside", "outside"]
AdamEpsPlacement = Literal["inside", "outside", "hat"]
AdamMomentForm = Literal["weighted", "interpolated", "torch"]


def _scaled_sqrt_inverse(s: jax.Array, eps: jax.Array, placement: str) -> jax.Array:
  """``1/√(s + ε)`` ("inside", the seed's) or ``1/(√s + ε)`` ("outside")."""
  if placement == "inside":
    return jax.lax.rsqrt(s + eps)
  return 1 / (jnp.sqrt(s) + eps)


def _scaled(g: jax.Array, s: jax.Array, epsilon: Any, placement: str) -> jax.Array:
  """``g`` times :func:`_scaled_sqrt_inverse` of ``s``, in ``g``'s dtype.

  The product is taken in the wider of the two dtypes, so a state kept in
  another dtype than the gradients (bfloat16 parameters, float32 gradients)
  neither changes the updates' dtype nor loses the wider one's precision.
  ``epsilon`` maps a dtype to ε in it.
  """
  dtype = _wider(g.dtype, s.dtype)
  inverse = _scaled_sqrt_inverse(s.astype(dtype), epsilon(dtype), placement)
  return (g.astype(dtype) * inverse).astype(g.dtype)


def _per_dtype(coefficients):
  """Memoizes ``coefficients(dtype)`` for one update call.

  A step's scalar coefficients are then cast once per dtype rather than once
  per leaf: with thousands of leaves that is thousands fewer HLO ops to trace
  and compile, for the same numbers.
  """
  cache = {}

  def get(dtype):
    dtype = jnp.dtype(dtype)
    if dtype not in cache:
      cache[dtype] = coefficients(dtype)
    return cache[dtype]

  return get


# ----------------------------------------------------------------------------
# Learning rate.


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
  counted = base.any_schedule(learning_rate)

  def init_fn(params):
    del params
    if counted:
      return ScaleByLearningRateState(base.zero_count())
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    count = base.count_of(state)
    eta = _per_dtype((sign * base.value_at(learning_rate, count)).astype)
    updates = jax.tree.map(lambda g: eta(g.dtype) * g, updates)
    return updates, base.with_count(count, optax.EmptyState, ScaleByLearningRateState)

  return optax.GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------
# Momentum.


class TraceState(NamedTuple):
  """State of :func:`trace` with a constant ``decay`` and no dampening."""

  trace: optax.Params
  """The momentum buffer :math:`m`."""


class CountedTraceState(NamedTuple):
  """State of :func:`trace` with a scheduled ``decay`` or a dampening."""

  count: jax.Array
  """Updates so far (int32, saturating): the schedule's step, and 0 marks
  PyTorch's undamped first update."""
  trace: optax.Params
  """The momentum buffer :math:`m`."""


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

  Placed *after* :func:`scale_by_learning_rate`, the buffer holds the seed's
  velocity :math:`m \leftarrow \beta m - \eta g` with the learning rate inside.

  Args:
    decay: the momentum :math:`\beta` in [0, 1], a float or a schedule.
    nesterov: return the look-ahead update :math:`g + \beta m`.
    dampening: :math:`\tau` in [0, 1] (PyTorch's ``dampening``).
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
  # Without dampening (a literal 0) the factor is 1: skip one op per leaf.
  undamped = isinstance(dampening, (int, float)) and dampening == 0
  # Dampening (any but a literal 0) reads the step: the first update is undamped.
  counted = base.any_schedule(decay) or not undamped

  def init_fn(params):
    buffer = base.zeros_like(params, accumulator_dtype)
    return (
      CountedTraceState(base.zero_count(), buffer) if counted else TraceState(buffer)
    )

  def update_fn(updates, state, params=None):
    del params
    base.check_structure("trace", updates, state.trace)
    count = base.count_of(state)
    beta_ = _per_dtype(base.value_at(decay, count).astype)
    if not undamped:
      if count is None:
        raise ValueError(
          "optx.trace: a state without a step count was given to a damped"
          " trace (its first update is undamped); pass the state made by this"
          " transform's own init"
        )
      damp = 1.0 - base.value_at(dampening, count)
      damp_ = _per_dtype(jnp.where(count == 0, 1.0, damp).astype)

    def leaf(g, m):
      g_m = g.astype(m.dtype) if undamped else damp_(m.dtype) * g.astype(m.dtype)
      m = beta_(m.dtype) * m + g_m
      u = g + beta_(g.dtype) * m.astype(g.dtype) if nesterov else m
      return u.astype(g.dtype), m

    pairs = jax.tree.map(leaf, updates, state.trace)
    updates, new_trace = _unzip(pairs, updates, 2)
    return updates, base.with_count(count, TraceState, CountedTraceState, new_trace)

  return optax.GradientTransformation(init_fn, update_fn)


def _wider(a: Any, b: Any) -> Any:
  """The wider of two float dtypes, chosen explicitly (strict promotion refuses to mix them)."""
  return a if jnp.finfo(a).bits >= jnp.finfo(b).bits else b


def _unzip(pairs: Any, like: Any, n: int) -> tuple[Any, ...]:
  """Splits a tree of n-tuples (one per leaf of ``like``) into n trees."""
  treedef = jax.tree.structure(like)
  leaves = treedef.flatten_up_to(pairs)
  columns = list(zip(*leaves, strict=True)) if leaves else [()] * n
  return tuple(treedef.unflatten(column) for column in columns)


# ----------------------------------------------------------------------------
# AdaGrad.


class ScaleByRssState(NamedTuple):
  """State of :func:`scale_by_rss` with a constant ``eps``."""

  sum_of_squares: optax.Params
  """The sum of squares :math:`s`."""


class CountedScaleByRssState(NamedTuple):
  """State of :func:`scale_by_rss` with a scheduled ``eps``."""

  count: jax.Array
  """The step the schedule sees next (int32, saturating)."""
  sum_of_squares: optax.Params
  """The sum of squares :math:`s`."""


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

  Args:
    initial_accumulator_value: the starting value of :math:`s` (>= 0).
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    eps_placement: ``"inside"`` (the seed's, Keras 3) or ``"outside"`` the
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
  v.check_number(
    "scale_by_rss",
    "initial_accumulator_value",
    initial_accumulator_value,
    lower=0,
    schedule_ok=False,
  )
  v.check_number("scale_by_rss", "eps", eps, lower=0)
  v.check_choice("scale_by_rss", "eps_placement", eps_placement, ["inside", "outside"])

  counted = base.any_schedule(eps)

  def init_fn(params):
    s = base.full_like(params, initial_accumulator_value)
    return (
      CountedScaleByRssState(base.zero_count(), s) if counted else ScaleByRssState(s)
    )

  def update_fn(updates, state, params=None):
    del params
    base.check_structure("scale_by_rss", updates, state.sum_of_squares)
    count = base.count_of(state)
    epsilon = _per_dtype(base.value_at(eps, count).astype)

    def leaf(g, s):
      s = s + jnp.square(g).astype(s.dtype)
      return _scaled(g, s, epsilon, eps_placement), s

    updates, sum_of_squares = _unzip(
      jax.tree.map(leaf, updates, state.sum_of_squares), updates, 2
    )
    return updates, base.with_count(
      count, ScaleByRssState, CountedScaleByRssState, sum_of_squares
    )

  return optax.GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------
# RMSProp.


class ScaleByRmsState(NamedTuple):
  """State of :func:`scale_by_rms` with constant ``decay`` and ``eps``."""

  nu: optax.Params
  """The squares' average :math:`s`."""


class CountedScaleByRmsState(NamedTuple):
  """State of :func:`scale_by_rms` with a scheduled ``decay`` or ``eps``."""

  count: jax.Array
  """The step the schedules see next (int32, saturating)."""
  nu: optax.Params
  """The squares' average :math:`s`."""


class ScaleByStddevState(NamedTuple):
  """State of :func:`scale_by_stddev` with constant ``decay`` and ``eps``."""

  mu: optax.Params
  """The gradients' average :math:`a`."""
  nu: optax.Params
  """The squares' average :math:`s`."""


class CountedScaleByStddevState(NamedTuple):
  """State of :func:`scale_by_stddev` with a scheduled ``decay`` or ``eps``."""

  count: jax.Array
  """The step the schedules see next (int32, saturating)."""
  mu: optax.Params
  """The gradients' average :math:`a`."""
  nu: optax.Params
  """The squares' average :math:`s`."""


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
    eps_placement: ``"inside"`` (the seed's) or ``"outside"`` the square root.

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
  v.check_number("scale_by_rms", "decay", decay, lower=0, upper=1)
  v.check_number("scale_by_rms", "eps", eps, lower=0)
  v.check_number(
    "scale_by_rms", "initial_scale", initial_scale, lower=0, schedule_ok=False
  )
  v.check_choice("scale_by_rms", "eps_placement", eps_placement, ["inside", "outside"])

  counted = base.any_schedule(decay, eps)

  def init_fn(params):
    nu = base.full_like(params, initial_scale)
    return (
      CountedScaleByRmsState(base.zero_count(), nu) if counted else ScaleByRmsState(nu)
    )

  def update_fn(updates, state, params=None):
    del params
    base.check_structure("scale_by_rms", updates, state.nu)
    count = base.count_of(state)
    beta = base.value_at(decay, count)
    epsilon = _per_dtype(base.value_at(eps, count).astype)
    coefficients = _per_dtype(
      lambda dtype: (beta.astype(dtype), (1 - beta).astype(dtype))
    )

    def leaf(g, s):
      b, one_minus_b = coefficients(s.dtype)
      s = b * s + one_minus_b * jnp.square(g).astype(s.dtype)
      return _scaled(g, s, epsilon, eps_placement), s

    updates, nu = _unzip(jax.tree.map(leaf, updates, state.nu), updates, 2)
    return updates, base.with_count(count, ScaleByRmsState, CountedScaleByRmsState, nu)

  return optax.GradientTransformation(init_fn, update_fn)


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
  v.check_number("scale_by_stddev", "decay", decay, lower=0, upper=1)
  v.check_number("scale_by_stddev", "eps", eps, lower=0)
  v.check_number(
    "scale_by_stddev", "initial_scale", initial_scale, lower=0, schedule_ok=False
  )
  v.check_choice(
    "scale_by_stddev", "eps_placement", eps_placement, ["inside", "outside"]
  )

  counted = base.any_schedule(decay, eps)

  def init_fn(params):
    mu, nu = base.zeros_like(params), base.full_like(params, initial_scale)
    if counted:
      return CountedScaleByStddevState(base.zero_count(), mu, nu)
    return ScaleByStddevState(mu, nu)

  def update_fn(updates, state, params=None):
    del params
    base.check_structure("scale_by_stddev", updates, state.nu)
    count = base.count_of(state)
    beta = base.value_at(decay, count)
    epsilon = _per_dtype(base.value_at(eps, count).astype)
    coefficients = _per_dtype(
      lambda dtype: (beta.astype(dtype), (1 - beta).astype(dtype))
    )

    def leaf(g, a, s):
      b, one_minus_b = coefficients(s.dtype)
      a = b * a + one_minus_b * g.astype(a.dtype)
      s = b * s + one_minus_b * jnp.square(g).astype(s.dtype)
      return _scaled(g, s - a * a, epsilon, eps_placement), a, s

    updates, mu, nu = _unzip(
      jax.tree.map(leaf, updates, state.mu, state.nu), updates, 3
    )
    return updates, base.with_count(
      count, ScaleByStddevState, CountedScaleByStddevState, mu, nu
    )

  return optax.GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------
# Adam.


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
  moment_form: AdamMomentForm = "weighted",
  amsgrad: bool = False,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Rescales updates with Adam's bias-corrected moment estimates.

  The seed's five equations (its :math:`m` is the negative of this one, which
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
  seed's, Optax's); ``"interpolated"`` computes :math:`m + (1-\beta)(g - m)`
  (Keras's), which loses a small :math:`g` after a large :math:`m` when
  :math:`\beta = 0`; ``"torch"`` is PyTorch's ``lerp`` for :math:`m` and the
  weighted form for :math:`s`.

  Args:
    b1: :math:`\beta_1` in [0, 1), a float or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    eps_placement: ``"inside"`` (the seed's), ``"outside"`` or ``"hat"``.
    moment_form: ``"weighted"`` (the seed's), ``"interpolated"`` or ``"torch"``.
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
  v.check_number("scale_by_adam", "b1", b1, lower=0, upper=1, upper_open=True)
  v.check_number("scale_by_adam", "b2", b2, lower=0, upper=1, upper_open=True)
  v.check_number("scale_by_adam", "eps", eps, lower=0)
  v.check_choice(
    "scale_by_adam", "eps_placement", eps_placement, ["inside", "outside", "hat"]
  )
  v.check_choice(
    "scale_by_adam", "moment_form", moment_form, ["weighted", "interpolated", "torch"]
  )
  v.check_bool("scale_by_adam", "amsgrad", amsgrad)
  v.check_dtype("scale_by_adam", "mu_dtype", mu_dtype)
  v.check_dtype("scale_by_adam", "nu_dtype", nu_dtype)

  def init_fn(params):
    mu = base.zeros_like(params, mu_dtype)
    nu = base.zeros_like(params, nu_dtype)
    if amsgrad:
      return ScaleByAmsgradState(
        base.zero_count(), mu, nu, base.zeros_like(params, nu_dtype)
      )
    return ScaleByAdamState(base.zero_count(), mu, nu)

  def update_fn(updates, state, params=None):
    del params
    base.check_structure("scale_by_adam", updates, state.mu)
    beta1 = base.value_at(b1, state.count)
    beta2 = base.value_at(b2, state.count)
    epsilon = base.value_at(eps, state.count)
    # Bias corrections: scalars, once per step, in float32 (t counted from 1).
    t = base.increment(state.count).astype(jnp.float32)
    bc1 = 1 - beta1**t
    bc2 = 1 - beta2**t
    if eps_placement == "hat":
      epsilon = epsilon / jnp.sqrt(bc2)
    inv_bc1, inv_bc2 = 1 / bc1, 1 / bc2
    one_minus_b1 = _per_dtype((1 - beta1).astype)
    one_minus_b2 = _per_dtype((1 - beta2).astype)
    beta1_ = _per_dtype(beta1.astype)
    beta2_ = _per_dtype(beta2.astype)
    scalars = _per_dtype(
      lambda dtype: (
        inv_bc1.astype(dtype),
        inv_bc2.astype(dtype),
        epsilon.astype(dtype),
      )
    )

    def moments(g, m, s):
      g_m, g2 = g.astype(m.dtype), jnp.square(g).astype(s.dtype)
      w1, w2 = one_minus_b1(m.dtype), one_minus_b2(s.dtype)
      if moment_form == "interpolated":
        return m + w1 * (g_m - m), s + w2 * (g2 - s)
      s = beta2_(s.dtype) * s + w2 * g2
      if moment_form == "torch":
        # torch.lerp(m, g, w): from the nearer end, so w = 1 gives g exactly.
        return jnp.where(
          w1 < 0.5, m + w1 * (g_m - m), g_m - (g_m - m) * beta1_(m.dtype)
        ), s
      return beta1_(m.dtype) * m + w1 * g_m, s

    def direction(g, m, s):
      dtype = _wider(m.dtype, s.dtype)
      inv_bc1_, inv_bc2_, epsilon_ = scalars(dtype)
      m_hat = m.astype(dtype) * inv_bc1_
      s_hat = s.astype(dtype) * inv_bc2_
      if eps_placement == "inside":
        u = m_hat * jax.lax.rsqrt(s_hat + epsilon_)
      else:
        u = m_hat / (jnp.sqrt(s_hat) + epsilon_)
      return u.astype(g.dtype)

    if amsgrad:

      def amsgrad_leaf(g, m, s, s_max):
        m, s = moments(g, m, s)
        s_max = jnp.maximum(s_max, s)
        return direction(g, m, s_max), m, s, s_max

      updates, mu, nu, nu_max = _unzip(
        jax.tree.map(amsgrad_leaf, updates, state.mu, state.nu, state.nu_max),
        updates,
        4,
      )
      return updates, ScaleByAmsgradState(base.increment(state.count), mu, nu, nu_max)

    def leaf(g, m, s):
      m, s = moments(g, m, s)
      return direction(g, m, s), m, s

    updates, mu, nu = _unzip(
      jax.tree.map(leaf, updates, state.mu, state.nu), updates, 3
    )
    return updates, ScaleByAdamState(base.increment(state.count), mu, nu)

  return optax.GradientTransformation(init_fn, update_fn)
