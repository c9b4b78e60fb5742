"""The book's learning-rate schedules as pure, jittable functions of the step.

A schedule maps the step count ``t`` (0 on the first update, as Keras's
``iterations`` and optax's ``count``) to a float32 scalar. Schedules use
``jnp.where``/``jnp.clip``, never Python branches on the step, so they
``jit`` and ``vmap`` over a step array. Negative steps are read as 0.

The step is an integer that can reach the int32 maximum, but float32 holds
integers exactly only up to 2**24. So whatever depends on the step's exact
value is computed from the integer: :math:`t / s` as the integer quotient plus
the remainder's fraction when ``steps`` is a concrete integer (exact floors for
``staircase``), and 1cycle's segment offsets and boundaries in int32.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v


def clamped_step(count: ArrayLike) -> jax.Array:
  """The step, negatives read as 0, in its own dtype (an integer stays exact)."""
  return jnp.maximum(jnp.asarray(count), 0)


def _concrete_integer(value: ArrayLike) -> int | None:
  """``value`` as a Python int when it is a concrete integral number, else None."""
  if isinstance(value, bool):
    return None
  if isinstance(value, (numbers.Integral, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)) and float(value).is_integer():
    return int(value)
  return None


def _ratio(count: ArrayLike, steps: ArrayLike, staircase: bool) -> jax.Array:
  """:math:`t / s` (floored with ``staircase``) as float32.

  With an integer step and a concrete integer ``steps``, the quotient and the
  remainder are taken in integers, so the floor is exact at every int32 step
  (its float32 value too while below 2**24) and the fraction is off by at most
  one float32 rounding of the result.
  Otherwise the step is rounded to float32 first (exact below 2**24).
  """
  t = clamped_step(count)
  s = _concrete_integer(steps)
  if (
    s is not None
    and 1 <= s <= np.iinfo(np.int32).max
    and jnp.issubdtype(t.dtype, jnp.integer)
  ):
    quotient = (t // s).astype(jnp.float32)
    if staircase:
      return quotient
    return quotient + (t % s).astype(jnp.float32) / np.float32(s)
  p = t.astype(jnp.float32) / jnp.asarray(steps, jnp.float32)
  return jnp.floor(p) if staircase else p


def _check_start(call: str, init_value: ArrayLike, steps: ArrayLike) -> None:
  """The arguments the power and exponential schedules share: where they start, how fast."""
  v.check_constant(call, "init_value", init_value, lower=0)
  v.check_constant(call, "steps", steps, lower=0, lower_open=True)


def power_schedule(
  init_value: ArrayLike,
  steps: ArrayLike,
  power: ArrayLike = 1.0,
  *,
  staircase: bool = False,
) -> base.Schedule:
  r"""Power scheduling: the rate falls as a power of the step.

  .. math::
    \eta(t) = \frac{\eta_0}{(1 + t/s)^c}

  where :math:`\eta_0` is ``init_value``, :math:`s` is ``steps`` and :math:`c`
  is ``power``. With ``staircase``, :math:`t/s` is floored. Keras's legacy
  ``decay=d`` is ``power_schedule(lr, 1 / d, 1.0)``.

  Args:
    init_value: :math:`\eta_0` (>= 0).
    steps: :math:`s` (> 0).
    power: :math:`c` (>= 0).
    staircase: floor :math:`t/s`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.power_schedule(0.01, steps=10_000)
    >>> print(f"{schedule(10_000):.4f}")
    0.0050
  """
  _check_start("power_schedule", init_value, steps)
  v.check_constant("power_schedule", "power", power, lower=0)
  v.check_bool("power_schedule", "staircase", staircase)

  def schedule(count):
    p = _ratio(count, steps, staircase)
    return jnp.asarray(init_value, jnp.float32) / (1 + p) ** jnp.asarray(
      power, jnp.float32
    )

  return schedule


def exponential_schedule(
  init_value: ArrayLike,
  steps: ArrayLike,
  decay_rate: ArrayLike = 0.1,
  *,
  staircase: bool = False,
) -> base.Schedule:
  r"""Exponential scheduling: the rate is multiplied by ``decay_rate`` every ``steps``.

  .. math::
    \eta(t) = \eta_0 \, r^{t/s}

  where :math:`\eta_0` is ``init_value``, :math:`r` is ``decay_rate`` (the
  book's 0.1) and :math:`s` is ``steps``. With ``staircase``, :math:`t/s` is
  floored.

  Args:
    init_value: :math:`\eta_0` (>= 0).
    steps: :math:`s` (> 0).
    decay_rate: :math:`r` (> 0).
    staircase: floor :math:`t/s`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.exponential_schedule(0.01, steps=20)
    >>> print(f"{schedule(20):.4f} {schedule(40):.5f}")
    0.0010 0.00010
  """
  _check_start("exponential_schedule", init_value, steps)
  v.check_constant(
    "exponential_schedule", "decay_rate", decay_rate, lower=0, lower_open=True
  )
  v.check_bool("exponential_schedule", "staircase", staircase)

  def schedule(count):
    p = _ratio(count, steps, staircase)
    return (
      jnp.asarray(init_value, jnp.float32) * jnp.asarray(decay_rate, jnp.float32) ** p
    )

  return schedule


def piecewise_constant_schedule(
  boundaries: Sequence[int], values: Sequence[float]
) -> base.Schedule:
  r"""Piecewise constant scheduling: absolute values between step boundaries.

  .. math::
    \eta(t) = v_i \quad \text{for} \quad b_{i-1} \le t < b_i

  with :math:`b_{-1} = -\infty` and :math:`b_n = \infty`. **At step ==
  boundary the new value applies** (the book's ``if epoch < 5``); Keras's
  ``PiecewiseConstantDecay`` keeps the old value there instead.

  Args:
    boundaries: strictly increasing non-negative integer steps :math:`b_i`.
    values: the values :math:`v_i`, one more than ``boundaries``.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.piecewise_constant_schedule([5, 15], [0.01, 0.005, 0.001])
    >>> print(schedule(4), schedule(5), schedule(15))
    0.01 0.005 0.001
  """
  call = "piecewise_constant_schedule"
  v.check_piecewise(call, boundaries, values)
  for i, b in enumerate(boundaries):
    v.check_integer(call, f"boundaries[{i}]", b, lower=0)
  for i, value in enumerate(values):
    v.check_constant(call, f"values[{i}]", value)
  if any(b1 >= b2 for b1, b2 in zip(boundaries[:-1], boundaries[1:], strict=False)):
    raise ValueError(
      f"optx.{call}(boundaries=...) must be strictly increasing, got {list(boundaries)}"
    )
  bounds = jnp.asarray(boundaries, jnp.int32)
  table = jnp.asarray(values, jnp.float32)

  def schedule(count):
    t = clamped_step(count)  # in its own dtype: an int64 or uint32 step does not wrap
    index = jnp.searchsorted(bounds.astype(t.dtype), t, side="right")
    return table[index]

  return schedule


_NOT_TRACEABLE = (
  jax.errors.ConcretizationTypeError,
  jax.errors.TracerIntegerConversionError,
  jax.errors.TracerArrayConversionError,
)


def _needs_a_concrete_value(error: TypeError) -> bool:
  """Whether ``error``, raised while tracing a user's function, is about the tracer.

  Besides jax's own errors (a Python branch, ``int(epoch)``, an index), a
  function that hashes its argument (``table.get(epoch)``) fails with
  Python's ``unhashable type: '...Tracer'``; any other TypeError is the
  function's own.
  """
  return isinstance(error, _NOT_TRACEABLE) or "Tracer" in str(error)


def python_function(
  call: str, fn: Callable[..., ArrayLike], *extra: jax.ShapeDtypeStruct
) -> tuple[Callable[..., jax.Array], bool]:
  """``fn`` of an integer (an epoch or a step), with Python's arithmetic, as a jax function.

  Keras and PyTorch call such functions with Python integers, so ``2 **
  -(epoch // 10)`` is 0.5 and ``1 / (1 + t) ** 2`` never overflows. Here
  ``fn`` is traced with the integer as a float32 scalar (exact below 2**24),
  which gives Python's float arithmetic in float32. A function that needs the
  concrete value (an ``if`` on it, an index, ``math.exp``) is called instead
  on the host with a Python int through ``jax.pure_callback`` (memoized):
  exact, but a host round trip per call (about 0.2 ms on a CPU, a device
  synchronization on a GPU). ``extra`` are the specs of further float32
  arguments (Keras's ``schedule(epoch, lr)``).

  Returns:
    The jax function, taking the integer as an array, and whether it traces.
  """
  specs = [jax.ShapeDtypeStruct((), jnp.float32), *extra]
  try:
    out = jax.eval_shape(lambda *a: jnp.asarray(fn(*a), jnp.float32), *specs)
  except TypeError as error:  # jax's tracer errors are TypeErrors too
    if not _needs_a_concrete_value(error):
      raise

    @functools.lru_cache(maxsize=4096)
    def cached(*args):
      return np.asarray(fn(*args), np.float32)

    def on_host(*args):
      def host(n, *rest):
        return cached(int(n), *(float(r) for r in rest))

      out = jax.ShapeDtypeStruct((), jnp.float32)
      return jax.pure_callback(host, out, *args, vmap_method="sequential")

    return on_host, False
  if out.shape != ():
    raise ValueError(
      f"optx.{call}: the function must return a scalar, got shape {out.shape}"
    )

  def traced(n, *rest):
    return jnp.asarray(fn(jnp.asarray(n).astype(jnp.float32), *rest), jnp.float32)

  return traced, True


def epoch_schedule(
  fn: Callable[[jax.Array], ArrayLike], steps_per_epoch: int
) -> base.Schedule:
  r"""Turns a per-epoch function (Keras ``LearningRateScheduler`` style) into a step schedule.

  .. math::
    \eta(t) = f(\lfloor t / n \rfloor)

  where :math:`f` is ``fn``, called with the 0-based epoch, and :math:`n` is
  ``steps_per_epoch``. ``fn`` sees Python's arithmetic, as in Keras: it is
  traced with the epoch as a float32 holding an integer (``2 ** -(epoch //
  10)`` is 0.5, nothing overflows), and one that branches on the epoch (the
  book's ``if epoch < 5: ... elif ...``) or indexes with it is called on the
  host with a Python int instead: exact, at the cost of a host round trip per
  step (about 0.2 ms on a CPU). Where that matters, write the branches as
  ``piecewise_constant_schedule([5, 15], [...])``.

  Args:
    fn: ``epoch -> value``.
    steps_per_epoch: :math:`n` (>= 1).

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> def exponential_decay_fn(epoch):
    ...   return 0.01 * 0.1 ** (epoch / 20)
    >>> schedule = optx.epoch_schedule(exponential_decay_fn, steps_per_epoch=100)
    >>> print(f"{schedule(1999):.4f} {schedule(2000):.4f}")
    0.0011 0.0010
    >>> def piecewise_constant_fn(epoch):
    ...   if epoch < 5:
    ...     return 0.01
    ...   elif epoch < 15:
    ...     return 0.005
    ...   return 0.001
    >>> schedule = optx.epoch_schedule(piecewise_constant_fn, steps_per_epoch=10)
    >>> print(schedule(49), schedule(50))
    0.01 0.005
  """
  if not callable(fn):
    raise TypeError(f"optx.epoch_schedule(fn=...) must be callable, got {fn!r}")
  v.check_integer("epoch_schedule", "steps_per_epoch", steps_per_epoch, lower=1)
  epoch_fn, _ = python_function("epoch_schedule", fn)

  def schedule(count):
    t = clamped_step(count)  # in its own dtype: an int64 or uint32 step does not wrap
    if not jnp.issubdtype(t.dtype, jnp.integer):
      t = t.astype(jnp.int32)
    return epoch_fn(t // steps_per_epoch)

  return schedule
