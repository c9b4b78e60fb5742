"""``CosineAnnealingLR`` and ``CosineAnnealingWarmRestarts``: half cosines between two rates.

Both weigh the base rate and ``eta_min`` by :math:`\\cos^2` and
:math:`\\sin^2` of half the angle, :math:`(1 \\pm \\cos \\pi r)/2` rewritten
so that nothing cancels in float32 near either end: each weight is the
square of a sine of an argument computed from exact integers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optx._src import validation as v
from optx.torch import _twofloat as two
from optx.torch._schedulers import Scheduler

_INT32_MAX = 2**31 - 1


# sin²(v)/v² = sum over k of (-1)^k 2^(2k+1) v^(2k) / (2k+2)!: for v <= pi/4
# its first four terms in pairs and the next five in float32 give 2**-44.
_SERIES = [(-1) ** k * 2 ** (2 * k + 1) / math.factorial(2 * k + 2) for k in range(9)]


def sin_squared(fraction: two.Pair) -> two.Pair:
  """:math:`\\sin^2(\\pi f / 2)` for any fraction :math:`f`, to about 2**-44 (times |f|).

  With :math:`u = \\pi f/2` and :math:`v = \\min(u, \\pi/2 - u)`,
  :math:`\\sin^2 v` is its series, and :math:`\\sin^2 u = 1 - \\sin^2 v`
  past :math:`\\pi/4`: no float32 sine, whose rounding the square would
  double.
  """
  # sin²(πf/2) is even with period 2: f into [0, 1] first (an extrapolated
  # step past a phase's end has f < 0 or f > 1).
  shift = np.float32(2.0) * jnp.round(fraction[0] / np.float32(2.0))
  fraction = two.add(fraction, (-shift, jnp.zeros_like(shift)))
  fraction = two.where(fraction[0] < 0, two.negative(fraction), fraction)
  half_pi = two.pair(math.pi / 2)
  u = two.mul(half_pi, fraction)
  past = u[0] > np.float32(math.pi / 4)
  v = two.where(past, two.add(half_pi, two.negative(u)), u)
  z = two.mul(v, v)
  tail = jnp.zeros((), jnp.float32)
  for c in reversed(_SERIES[4:]):
    tail = tail * z[0] + np.float32(c)
  series = (tail, jnp.zeros_like(tail))
  for c in reversed(_SERIES[:4]):
    series = two.add(two.mul(series, z), two.pair(c))
  low = two.mul(z, series)
  return two.where(past, two.add(two.ONE, two.negative(low)), low)


def _between(base: ArrayLike, eta_min: ArrayLike, rest: two.Pair, done: two.Pair):
  """``base`` weighted by sin²(π rest/2) plus ``eta_min`` by sin²(π done/2)."""
  return two.add(
    two.mul(two.pair(base), sin_squared(rest)),
    two.mul(two.pair(eta_min), sin_squared(done)),
  )


class CosineAnnealingLR(Scheduler):
  r"""``torch.optim.lr_scheduler.CosineAnnealingLR``: a half cosine from ``lr`` to ``eta_min``.

  .. math::
    \eta(t) = \eta_{min} + \frac{\eta_0 - \eta_{min}}{2}
    \left(1 + \cos\frac{\pi t}{T}\right)

  where :math:`\eta_0` is ``lr``, :math:`\eta_{min}` is ``eta_min`` and
  :math:`T` is ``T_max``. Past :math:`T` it goes on as PyTorch's does, back
  up to :math:`\eta_0` at :math:`2T` and so on, with period :math:`2T`.
  PyTorch's ``step()`` computes it recursively, multiplying the distance to
  :math:`\eta_{min}` by the ratio of consecutive :math:`1 + \cos`, and adding
  :math:`(\eta_0 - \eta_{min})(1 - \cos(\pi/T))/2` just after each minimum;
  alone, that recursion is the closed form above (to float64 rounding), which
  is what this computes. It differs when another scheduler changes the rate
  as well: :class:`SequentialLR` and :class:`ChainedScheduler` replay the
  recursion. Near the minimum with ``eta_min=0``, PyTorch's own float64
  :math:`1 + \cos` is off by up to 1e-16, which exceeds float32's
  resolution of the rate once it is below about 1e-10 times ``lr`` (the last
  few steps of a ``T_max`` above about 1e5; at ``T_max = 1e6``, 52 float32
  roundings at step :math:`T - 1`); the value here is the exact one.

  Args:
    lr: :math:`\eta_0` (>= 0).
    T_max: :math:`T` (>= 1), the steps of the half period.
    eta_min: :math:`\eta_{min}` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.CosineAnnealingLR(0.1, T_max=4)
    >>> print([f"{schedule(t):.5f}" for t in range(6)])
    ['0.10000', '0.08536', '0.05000', '0.01464', '0.00000', '0.01464']
  """

  def __init__(self, lr: ArrayLike, T_max: int, eta_min: ArrayLike = 0.0):
    call = "torch.CosineAnnealingLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    v.check_integer(call, "T_max", T_max, lower=1)
    v.check_number(call, "eta_min", eta_min, lower=0, schedule_ok=False)
    self.lr, self.T_max, self.eta_min = lr, T_max, eta_min

  def _distance(self, t: jax.Array) -> jax.Array:
    """Steps from the nearest minimum: |T - (t mod 2T)|."""
    period = 2 * self.T_max
    phase = t % period if period <= _INT32_MAX else t
    return jnp.abs(self.T_max - phase)

  def weight(self, t: jax.Array) -> two.Pair:
    """:math:`(1 + \\cos(\\pi t/T))/2`, the weight of ``lr`` at step ``t``."""
    return sin_squared(two.div(two.integer(self._distance(t)), two.pair(self.T_max)))

  def _rate(self, t):
    d = self._distance(t)
    total = two.pair(self.T_max)
    rest = two.div(two.integer(d), total)
    done = two.div(two.integer(self.T_max - d), total)
    return _between(self.lr, self.eta_min, rest, done)

  def _rate_from(self, t: jax.Array, start: two.Pair) -> two.Pair:
    """The rate at step ``t`` when PyTorch's first step finds ``start``, not ``lr``.

    It keeps ``start`` and moves it towards ``eta_min`` until :math:`T`; from
    the step after, it is :meth:`_rate`, anchored on ``lr``.
    """
    eta = two.pair(self.eta_min)
    moved = two.add(eta, two.mul(two.add(start, two.negative(eta)), self.weight(t)))
    return two.where(t <= self.T_max, moved, self._rate(t))

  def _step(self, t, rate):
    # PyTorch's get_lr(): x + (lr - eta_min)(1 - cos(pi/T))/2 just after a
    # minimum, else eta_min + (x - eta_min) times the ratio of 1 + cos.
    period = 2 * self.T_max
    after = t - 1 - self.T_max
    if period <= _INT32_MAX:
      restart = (after >= 0) & (after % period == 0)
    else:
      restart = after == 0
    lift = two.of(
      lambda lr, eta: (lr - eta) * (1 - math.cos(math.pi / self.T_max)) / 2,
      self.lr,
      self.eta_min,
    )
    eta = two.pair(self.eta_min)
    ratio = two.div(self.weight(t), self.weight(jnp.maximum(t - 1, 0)))
    moved = two.add(eta, two.mul(two.add(rate, two.negative(eta)), ratio))
    stepped = two.where(restart, two.add(rate, lift), moved)
    return two.where(t == 0, rate, stepped)


class CosineAnnealingWarmRestarts(Scheduler):
  r"""``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``: SGDR's cosines, restarting.

  .. math::
    \eta(t) = \eta_{min} + \frac{\eta_0 - \eta_{min}}{2}
    \left(1 + \cos\frac{\pi T_{cur}}{T_i}\right)

  where :math:`\eta_0` is ``lr`` and :math:`\eta_{min}` is ``eta_min``. The
  :math:`i`-th cycle (from 0) lasts :math:`T_i = T_0 m^i` steps, :math:`T_0`
  being ``T_0`` and :math:`m` ``T_mult``, and :math:`T_{cur}` counts the steps
  since it began: at the first step of a cycle the rate is back to
  :math:`\eta_0`. This is PyTorch's ``step()`` (its integer counters, exact
  at every step); ``step(epoch)``'s closed form finds the cycle through a
  float logarithm instead, which this does not reproduce.

  Args:
    lr: :math:`\eta_0` (>= 0).
    T_0: :math:`T_0` (>= 1), the steps of the first cycle.
    T_mult: :math:`m` (>= 1), the growth of each cycle.
    eta_min: :math:`\eta_{min}` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.CosineAnnealingWarmRestarts(0.1, T_0=2, T_mult=2)
    >>> print([f"{schedule(t):.4f}" for t in range(8)])
    ['0.1000', '0.0500', '0.1000', '0.0854', '0.0500', '0.0146', '0.1000', '0.0962']
  """

  def __init__(
    self,
    lr: ArrayLike,
    T_0: int,
    T_mult: int = 1,
    eta_min: ArrayLike = 0.0,
  ):
    call = "torch.CosineAnnealingWarmRestarts"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    v.check_integer(call, "T_0", T_0, lower=1)
    v.check_integer(call, "T_mult", T_mult, lower=1)
    v.check_number(call, "eta_min", eta_min, lower=0, schedule_ok=False)
    self.lr, self.T_0, self.T_mult, self.eta_min = lr, T_0, T_mult, eta_min
    # The steps where cycles begin, while they fit in int32; each cycle's
    # length and its end as float64 numbers, the end less int32's maximum.
    starts, length = [0], T_0
    while T_mult > 1 and starts[-1] + length <= _INT32_MAX:
      starts.append(starts[-1] + length)
      length *= T_mult
    self._starts = np.asarray(starts, np.int32)
    self._lengths = [float(T_0 * T_mult**n) for n in range(len(starts))]
    self._ends = [
      float(s + n - _INT32_MAX) for s, n in zip(starts, self._lengths, strict=True)
    ]

  def _rate(self, t):
    if self.T_mult == 1:
      done = t % self.T_0
      length = two.pair(self.T_0)
      rest = two.integer(self.T_0 - done)
    else:
      n = jnp.searchsorted(self._starts, t, side="right") - 1
      done = t - jnp.asarray(self._starts)[n]

      def table(values):
        pairs = [two.pair(x) for x in values]
        return jnp.stack([p[0] for p in pairs])[n], jnp.stack([p[1] for p in pairs])[n]

      length = table(self._lengths)
      rest = two.add(table(self._ends), two.integer(_INT32_MAX - t))
    return _between(
      self.lr,
      self.eta_min,
      two.div(rest, length),
      two.div(two.integer(done), length),
    )
