"""Keras 3's learning-rate schedules as jittable functions of the step.

Each factory takes the arguments of its namesake in
``keras.optimizers.schedules`` and returns a schedule, ``step -> value`` (a
float32 scalar), usable as the ``learning_rate`` of any optx optimizer. The
step is Keras's ``optimizer.iterations``: 0 on the first update, which is also
optx's ``count``. Branches on the step use ``jnp.where``, so the schedules
``jit`` and ``vmap`` over a step array. Negative steps are read as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optx._src import base
from optx._src import schedules as core
from optx._src import validation as v


def _f32(x: ArrayLike) -> jax.Array:
  return jnp.asarray(x, jnp.float32)


def _step(step: ArrayLike) -> jax.Array:
  """The step as float32; negative steps are read as 0, as in optx's schedules."""
  return jnp.maximum(jnp.asarray(step), 0).astype(jnp.float32)


def _progress(step: ArrayLike, decay_steps: ArrayLike, staircase: bool) -> jax.Array:
  """``k / s`` in float32, as Keras rounds it; floored with ``staircase``."""
  p = _step(step) / _f32(decay_steps)
  return jnp.floor(p) if staircase else p


def _check_common(
  call: str, initial_learning_rate: ArrayLike, decay_steps: ArrayLike
) -> None:
  v.check_constant(call, "initial_learning_rate", initial_learning_rate)
  v.check_constant(call, "decay_steps", decay_steps, lower=0, lower_open=True)


def ExponentialDecay(
  initial_learning_rate: ArrayLike,
  decay_steps: ArrayLike,
  decay_rate: ArrayLike,
  staircase: bool = False,
) -> base.Schedule:
  r"""Keras's ``ExponentialDecay``: the rate is multiplied by ``decay_rate`` every ``decay_steps``.

  .. math::
    \eta(k) = \eta_0\, r^{k / s}

  where :math:`\eta_0` is ``initial_learning_rate``, :math:`r` is
  ``decay_rate``, :math:`s` is ``decay_steps`` and :math:`k` is the step (0 on
  the first update); ``staircase`` floors :math:`k/s`. This is
  :func:`optx.exponential_schedule`, computed in Keras's float32 operations
  (:math:`k/s` rounded once), so that its values are Keras's to the last bit
  where the book's schedule takes the quotient in integers.

  Args:
    initial_learning_rate: :math:`\eta_0`.
    decay_steps: :math:`s` (> 0).
    decay_rate: :math:`r` (> 0).
    staircase: floor :math:`k/s`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.ExponentialDecay(0.01, 20_000, 0.1)
    >>> print(f"{schedule(0):.4f} {schedule(20_000):.4f}")
    0.0100 0.0010
  """
  call = "keras.schedules.ExponentialDecay"
  _check_common(call, initial_learning_rate, decay_steps)
  v.check_constant(call, "decay_rate", decay_rate, lower=0, lower_open=True)
  v.check_bool(call, "staircase", staircase)

  def schedule(step):
    p = _progress(step, decay_steps, staircase)
    return _f32(initial_learning_rate) * _f32(decay_rate) ** p

  return schedule


def InverseTimeDecay(
  initial_learning_rate: ArrayLike,
  decay_steps: ArrayLike,
  decay_rate: ArrayLike,
  staircase: bool = False,
) -> base.Schedule:
  r"""Keras's ``InverseTimeDecay``: power scheduling with :math:`c = 1`.

  .. math::
    \eta(k) = \frac{\eta_0}{1 + r\, k / s}

  where :math:`\eta_0` is ``initial_learning_rate``, :math:`r` is
  ``decay_rate``, :math:`s` is ``decay_steps`` and :math:`k` is the step (0 on
  the first update); ``staircase`` floors :math:`k/s`. The legacy
  ``decay=d`` argument is ``InverseTimeDecay(lr, 1, d)``.

  Args:
    initial_learning_rate: :math:`\eta_0`.
    decay_steps: :math:`s` (> 0).
    decay_rate: :math:`r` (>= 0).
    staircase: floor :math:`k/s`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.InverseTimeDecay(0.01, 10_000, 1.0)
    >>> print(f"{schedule(10_000):.4f}")
    0.0050
  """
  call = "keras.schedules.InverseTimeDecay"
  _check_common(call, initial_learning_rate, decay_steps)
  v.check_constant(call, "decay_rate", decay_rate, lower=0)
  v.check_bool(call, "staircase", staircase)

  def schedule(step):
    p = _progress(step, decay_steps, staircase)
    return _f32(initial_learning_rate) / (1 + _f32(decay_rate) * p)

  return schedule


def PiecewiseConstantDecay(
  boundaries: Sequence[float], values: Sequence[float]
) -> base.Schedule:
  r"""Keras's ``PiecewiseConstantDecay``: absolute values between step boundaries.

  .. math::
    \eta(k) = v_i \quad \text{for} \quad b_{i-1} < k \le b_i

  with :math:`b_{-1} = -\infty` and :math:`b_n = \infty`. **At step ==
  boundary the old value applies** (the left piece), unlike
  :func:`optx.piecewise_constant_schedule` and the book's ``if epoch < 5``:
  since the step is 0 on the first update, :math:`v_{i+1}` first applies on
  update :math:`b_i + 2`. Boundaries are cast to integer steps, as Keras casts
  them to the step's dtype.

  Args:
    boundaries: strictly increasing steps :math:`b_i`.
    values: the values :math:`v_i`, one more than ``boundaries``.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    >>> print([f"{schedule(k):.1f}" for k in range(6)])
    ['1.0', '1.0', '1.0', '0.5', '0.5', '0.1']
  """
  call = "keras.schedules.PiecewiseConstantDecay"
  v.check_piecewise(call, boundaries, values)
  for i, b in enumerate(boundaries):
    # The shifted boundary floor(b) + 1 must still be an int32 step.
    v.check_constant(call, f"boundaries[{i}]", b, lower=0, upper=2**31 - 2)
  for i, value in enumerate(values):
    v.check_constant(call, f"values[{i}]", value)
  # step <= b  <=>  step < floor(b) + 1 for integer steps: the core's rule
  # (the new value applies at step == boundary) one step later.
  shifted = [math.floor(float(b)) + 1 for b in boundaries]
  if any(b1 >= b2 for b1, b2 in zip(shifted[:-1], shifted[1:], strict=True)):
    raise ValueError(
      f"optx.{call}(boundaries=...) must be strictly increasing integer"
      f" steps, got {list(boundaries)}"
    )
  return core.piecewise_constant_schedule(shifted, values)


def PolynomialDecay(
  initial_learning_rate: ArrayLike,
  decay_steps: ArrayLike,
  end_learning_rate: ArrayLike = 0.0001,
  power: ArrayLike = 1.0,
  cycle: bool = False,
) -> base.Schedule:
  r"""Keras's ``PolynomialDecay``: a polynomial fall to ``end_learning_rate``.

  .. math::
    \eta(k) = (\eta_0 - \eta_e) \left(1 - \frac{\min(k, s)}{s}\right)^c + \eta_e

  where :math:`\eta_0` is ``initial_learning_rate``, :math:`\eta_e` is
  ``end_learning_rate``, :math:`s` is ``decay_steps``, :math:`c` is ``power``
  and :math:`k` is the step (0 on the first update). With ``cycle``, the
  horizon restarts: :math:`s` becomes :math:`s \lceil k/s \rceil` (:math:`s`
  at :math:`k = 0`) and :math:`k` is not clipped.

  Args:
    initial_learning_rate: :math:`\eta_0`.
    decay_steps: :math:`s` (> 0).
    end_learning_rate: :math:`\eta_e`.
    power: :math:`c`.
    cycle: restart the decay every ``decay_steps``.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)
    >>> print(f"{schedule(5):.4f} {schedule(20):.4f}")
    0.0500 0.0000
  """
  call = "keras.schedules.PolynomialDecay"
  _check_common(call, initial_learning_rate, decay_steps)
  v.check_constant(call, "end_learning_rate", end_learning_rate)
  v.check_constant(call, "power", power)
  v.check_bool(call, "cycle", cycle)

  def schedule(step):
    k = _step(step)
    steps = _f32(decay_steps)
    if cycle:
      steps = steps * jnp.where(k == 0, 1.0, jnp.ceil(k / steps))
    else:
      k = jnp.minimum(k, steps)
    start, end = _f32(initial_learning_rate), _f32(end_learning_rate)
    # Under jit XLA divides through a reciprocal, so at the horizon 1 - k/steps
    # can come out a hair below 0 (NaN for a fractional power): clamp it.
    return (start - end) * jnp.maximum(1 - k / steps, 0.0) ** _f32(power) + end

  return schedule


def CosineDecay(
  initial_learning_rate: ArrayLike,
  decay_steps: ArrayLike,
  alpha: ArrayLike = 0.0,
  warmup_target: ArrayLike | None = None,
  warmup_steps: ArrayLike = 0,
) -> base.Schedule:
  r"""Keras's ``CosineDecay``: an optional linear warmup, then a cosine decay.

  Without warmup (``warmup_target=None``), with :math:`k' = \min(k, s)`:

  .. math::
    \eta(k) = \eta_0 \left((1 - \alpha)\, \tfrac12 \left(1 + \cos \frac{\pi k'}{s}\right)
    + \alpha\right)

  With warmup, :math:`k' = \min(k, s + w)`: for :math:`k' < w` the rate goes
  linearly :math:`\eta_0 + (\eta_1 - \eta_0) k'/w`, then the cosine above
  decays from :math:`\eta_1` over :math:`k' - w`. :math:`\eta_0` is
  ``initial_learning_rate``, :math:`s` ``decay_steps``, :math:`\alpha`
  ``alpha``, :math:`\eta_1` ``warmup_target``, :math:`w` ``warmup_steps``,
  and :math:`k` the step (0 on the first update).

  Args:
    initial_learning_rate: :math:`\eta_0`.
    decay_steps: :math:`s` (> 0).
    alpha: :math:`\alpha`, the final fraction of the rate.
    warmup_target: :math:`\eta_1`, or None for no warmup.
    warmup_steps: :math:`w` (>= 0).

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=5)
    >>> print([f"{schedule(k):.4f}" for k in (0, 5, 10, 15)])
    ['0.0000', '0.1000', '0.0500', '0.0000']
  """
  call = "keras.schedules.CosineDecay"
  _check_common(call, initial_learning_rate, decay_steps)
  v.check_constant(call, "alpha", alpha)
  if warmup_target is not None:
    v.check_constant(call, "warmup_target", warmup_target)
  v.check_constant(call, "warmup_steps", warmup_steps, lower=0)

  def cosine(k, steps, start):
    decayed = 0.5 * (1 + jnp.cos(jnp.pi * (k / steps)))
    a = _f32(alpha)
    return start * ((1 - a) * decayed + a)

  def schedule(step):
    k = _step(step)
    steps = _f32(decay_steps)
    lr0 = _f32(initial_learning_rate)
    if warmup_target is None:
      return cosine(jnp.minimum(k, steps), steps, lr0)
    target, warmup = _f32(warmup_target), _f32(warmup_steps)
    k = jnp.minimum(k, steps + warmup)
    rising = (target - lr0) * (k / jnp.where(warmup > 0, warmup, 1.0)) + lr0
    return jnp.where(k < warmup, rising, cosine(k - warmup, steps, target))

  return schedule


def CosineDecayRestarts(
  initial_learning_rate: ArrayLike,
  first_decay_steps: ArrayLike,
  t_mul: ArrayLike = 2.0,
  m_mul: ArrayLike = 1.0,
  alpha: ArrayLike = 0.0,
) -> base.Schedule:
  r"""Keras's ``CosineDecayRestarts`` (SGDR): cosine decays that restart.

  With :math:`x = k / s` the step in units of the first period, the restart
  :math:`i` and the fraction :math:`f` of it done are

  .. math::
    i = \lfloor x \rfloor,\ f = x - i \quad (t = 1); \qquad
    i = \left\lfloor \frac{\log(1 - x (1 - t))}{\log t} \right\rfloor,\
    f = \frac{x - (1 - t^i)/(1 - t)}{t^i} \quad (t \ne 1)

  and :math:`\eta(k) = \eta_0 \left((1 - \alpha)\, \tfrac12 m^i (1 + \cos \pi f)
  + \alpha\right)`: period :math:`i` lasts :math:`s t^i` steps and starts
  from :math:`\eta_0 m^i`. :math:`\eta_0` is ``initial_learning_rate``,
  :math:`s` ``first_decay_steps``, :math:`t` ``t_mul``, :math:`m` ``m_mul``,
  :math:`\alpha` ``alpha`` (a fraction of :math:`\eta_0`), :math:`k` the step
  (0 on the first update). Computed in Keras's float32 operations, so that a
  restart falls on the step where Keras's does (the logarithm's rounding
  decides it for :math:`t \ne 1`).

  Args:
    initial_learning_rate: :math:`\eta_0`.
    first_decay_steps: :math:`s` (> 0), the first period.
    t_mul: :math:`t` (> 0), each period's length over the previous one's.
    m_mul: :math:`m`, each period's initial rate over the previous one's.
    alpha: :math:`\alpha`, the minimum as a fraction of :math:`\eta_0`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.keras.schedules.CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5)
    >>> print([f"{schedule(k):.4f}" for k in (0, 5, 10, 20)])
    ['0.1000', '0.0500', '0.0500', '0.0250']
  """
  call = "keras.schedules.CosineDecayRestarts"
  v.check_constant(call, "initial_learning_rate", initial_learning_rate)
  v.check_constant(
    call, "first_decay_steps", first_decay_steps, lower=0, lower_open=True
  )
  v.check_constant(call, "t_mul", t_mul, lower=0, lower_open=True)
  v.check_constant(call, "m_mul", m_mul, lower=0)
  v.check_constant(call, "alpha", alpha)
  geometric = v.concrete(t_mul) != 1.0

  # Keras computes the restart inside a cond, which XLA compiles even when
  # the schedule runs eagerly; jit gives an eager call the same rounding.
  @jax.jit
  def restart(fraction, t):
    if geometric:
      i = jnp.floor(jnp.log(1.0 - fraction * (1.0 - t)) / jnp.log(t))
      done = jnp.divide(1.0 - jnp.power(t, i), 1.0 - t)
      return i, (fraction - done) / jnp.power(t, i)
    i = jnp.floor(fraction)
    return i, fraction - i

  def schedule(step):
    lr0 = _f32(initial_learning_rate)
    first, a = _f32(first_decay_steps), _f32(alpha)
    t, m = _f32(t_mul), _f32(m_mul)
    i, fraction = restart(_step(step) / first, t)
    cosine = 0.5 * jnp.power(m, i) * (1.0 + jnp.cos(jnp.float32(math.pi) * fraction))
    return lr0 * ((1 - a) * cosine + a)

  return schedule
