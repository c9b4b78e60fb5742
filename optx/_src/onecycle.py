"""The book's 1cycle scheduling: the rate up, down, then a final drop; momentum mirrored.

Segment offsets and boundaries are taken in the step's integer dtype, so each
segment is exact at every int32 step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optx._src import base
from optx._src import validation as v
from optx._src.schedules import clamped_step


def _onecycle_half(
  call: str, total_steps: int, final_steps: int | None
) -> tuple[int, int]:
  v.check_integer(call, "total_steps", total_steps, lower=3)
  if final_steps is None:
    final_steps = total_steps // 10 + 1
  v.check_integer(call, "final_steps", final_steps, lower=1)
  if total_steps - final_steps < 2:
    raise ValueError(
      f"optx.{call}(final_steps=...) must be <= total_steps - 2 ="
      f" {total_steps - 2}, got {final_steps}"
    )
  return (total_steps - final_steps) // 2, final_steps


def _three_segments(
  count: ArrayLike, half: int, total_steps: int, start, peak, end
) -> jax.Array:
  t = clamped_step(count)

  def lerp(a, b, fraction):  # exact at both ends, unlike a + (b - a) * fraction
    return a * (1 - fraction) + b * fraction

  def since(origin: int) -> jax.Array:
    # The offset is taken in the step's dtype: exact for an int32 step.
    return (t - origin).astype(jnp.float32)

  rise = lerp(start, peak, since(0) / half)
  fall = lerp(peak, start, since(half) / half)
  last = lerp(start, end, since(2 * half) / (total_steps - 2 * half))
  # Held exactly from the horizon on: XLA may turn the division by a constant
  # into a product with its reciprocal, so the fraction at T can be 1 - 2**-24.
  last = jnp.where(t >= total_steps, end, last)
  return jnp.where(t < half, rise, jnp.where(t < 2 * half, fall, last))


def onecycle_schedule(
  total_steps: int,
  max_value: ArrayLike,
  *,
  start_value: ArrayLike | None = None,
  end_value: ArrayLike | None = None,
  final_steps: int | None = None,
) -> base.Schedule:
  r"""The book's 1cycle: up linearly, down linearly, then a final linear drop.

  With :math:`h = \lfloor (T - F) / 2 \rfloor`:

  .. math::
    \eta(t) = \begin{cases}
      \eta_0 + (\eta_1 - \eta_0)\, t / h & t < h \\
      \eta_1 + (\eta_0 - \eta_1)\, (t - h) / h & h \le t < 2h \\
      \eta_0 + (\eta_e - \eta_0)\, (t - 2h) / (T - 2h) & 2h \le t
    \end{cases}

  where :math:`T` is ``total_steps``, :math:`F` is ``final_steps`` (default
  :math:`\lfloor T/10 \rfloor + 1`), :math:`\eta_1` is ``max_value``,
  :math:`\eta_0` is ``start_value`` (default :math:`\eta_1/10`) and
  :math:`\eta_e` is ``end_value`` (default :math:`\eta_0/1000`), reached at
  step :math:`T` and held after it.

  Args:
    total_steps: :math:`T`, the number of training steps (>= 3).
    max_value: :math:`\eta_1`, the peak.
    start_value: :math:`\eta_0`.
    end_value: :math:`\eta_e`.
    final_steps: :math:`F`, the length of the final drop (< T - 1).

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.onecycle_schedule(10, 1.0)
    >>> print([f"{schedule(t):.4f}" for t in (0, 4, 8, 9)])
    ['0.1000', '1.0000', '0.1000', '0.0501']
  """
  call = "onecycle_schedule"
  half, _ = _onecycle_half(call, total_steps, final_steps)
  v.check_number(call, "max_value", max_value, lower=0, schedule_ok=False)
  if start_value is not None:
    v.check_number(call, "start_value", start_value, lower=0, schedule_ok=False)
  if end_value is not None:
    v.check_number(call, "end_value", end_value, lower=0, schedule_ok=False)

  def schedule(count):
    peak = jnp.asarray(max_value, jnp.float32)
    start = peak / 10 if start_value is None else jnp.asarray(start_value, jnp.float32)
    end = start / 1000 if end_value is None else jnp.asarray(end_value, jnp.float32)
    return _three_segments(count, half, total_steps, start, peak, end)

  return schedule


def onecycle_momentum_schedule(
  total_steps: int,
  max_value: ArrayLike = 0.95,
  min_value: ArrayLike = 0.85,
  *,
  final_steps: int | None = None,
) -> base.Schedule:
  r"""Momentum for 1cycle: high → low → high, the mirror of :func:`onecycle_schedule`.

  .. math::
    \beta(t) = \begin{cases}
      \beta_1 + (\beta_0 - \beta_1)\, t / h & t < h \\
      \beta_0 + (\beta_1 - \beta_0)\, (t - h) / h & h \le t < 2h \\
      \beta_1 & 2h \le t
    \end{cases}

  with :math:`h` as in :func:`onecycle_schedule`, :math:`\beta_1` =
  ``max_value`` and :math:`\beta_0` = ``min_value``. Pass it as ``momentum=``
  (or ``b1=``) next to a :func:`onecycle_schedule` learning rate.

  Args:
    total_steps: :math:`T` (>= 3).
    max_value: :math:`\beta_1` in [0, 1], at both ends.
    min_value: :math:`\beta_0` in [0, 1], at the learning rate's peak.
    final_steps: as in :func:`onecycle_schedule`.

  Returns:
    A schedule, ``step -> value``.

  Examples:
    >>> import optx
    >>> schedule = optx.onecycle_momentum_schedule(10)
    >>> print([f"{schedule(t):.4f}" for t in (0, 4, 8, 9)])
    ['0.9500', '0.8500', '0.9500', '0.9500']
  """
  call = "onecycle_momentum_schedule"
  half, _ = _onecycle_half(call, total_steps, final_steps)
  v.check_number(call, "max_value", max_value, lower=0, upper=1, schedule_ok=False)
  v.check_number(call, "min_value", min_value, lower=0, upper=1, schedule_ok=False)

  def schedule(count):
    high = jnp.asarray(max_value, jnp.float32)
    low = jnp.asarray(min_value, jnp.float32)
    return _three_segments(count, half, total_steps, high, low, high)

  return schedule
