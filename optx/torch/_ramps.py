"""``ConstantLR``, ``LinearLR`` and ``PolynomialLR``: factors that change over ``total_iters`` steps.

PyTorch's ``step()`` multiplies the current rate by the ratio of consecutive
factors; the products telescope to the closed forms computed here, except
where ``total_iters = 0``, which each docstring describes.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from optx._src import validation as v
from optx.torch import _twofloat as two
from optx.torch._schedulers import Multiplicative


class ConstantLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.ConstantLR``: a constant factor until ``total_iters``.

  .. math::
    \eta(t) = \begin{cases} \eta_0 f & t < T \\ \eta_0 & t \ge T \end{cases}

  where :math:`\eta_0` is ``lr``, :math:`f` is ``factor`` and :math:`T` is
  ``total_iters``: at step :math:`T` the full rate applies. This is PyTorch's
  recursion, ``step()`` multiplying the rate by :math:`f` at step 0 and by
  :math:`1/f` at step :math:`T`, which is what a user stepping it gets. Its
  closed form differs for ``total_iters=0``: the recursion keeps
  :math:`\eta_0 f` forever (its step 0 comes first, and no later step is
  :math:`T`), the closed form gives :math:`\eta_0`; this follows the
  recursion. ``factor`` must be > 0: PyTorch accepts 0, and divides by it at
  step :math:`T`.

  Args:
    lr: :math:`\eta_0` (>= 0).
    factor: :math:`f`, in (0, 1].
    total_iters: :math:`T` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.ConstantLR(0.05, factor=0.5, total_iters=2)
    >>> print([f"{schedule(t):.3f}" for t in range(4)])
    ['0.025', '0.025', '0.050', '0.050']
  """

  def __init__(self, lr: ArrayLike, factor: ArrayLike = 1.0 / 3, total_iters: int = 5):
    call = "torch.ConstantLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    v.check_number(
      call, "factor", factor, lower=0, upper=1, lower_open=True, schedule_ok=False
    )
    v.check_integer(call, "total_iters", total_iters, lower=0)
    self.lr, self.factor, self.total_iters = lr, factor, total_iters

  def _initial(self):
    return two.pair(self.factor)

  def _product(self, a, t):
    if self.total_iters == 0:
      return two.ONE
    restore = two.of(lambda f: 1.0 / f, self.factor)
    crossed = (a < self.total_iters) & (t >= self.total_iters)
    return two.where(crossed, restore, two.ONE)

  def _entry_rate(self, t, previous):
    # Entered at a milestone, PyTorch's closed form at step 0 gives lr itself
    # when total_iters = 0; no later step divides it.
    if self.total_iters == 0:
      return two.pair(self.lr)
    return self._rate(t)


def _fraction(numerator, denominator) -> two.Pair:
  return two.div(two.integer(numerator), two.integer(denominator))


class LinearLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.LinearLR``: a factor moving linearly over ``total_iters`` steps.

  .. math::
    \eta(t) = \eta_0 \left(f_s + (f_e - f_s)\frac{\min(t, T)}{T}\right)

  where :math:`\eta_0` is ``lr``, :math:`f_s` is ``start_factor``,
  :math:`f_e` is ``end_factor`` and :math:`T` is ``total_iters``. PyTorch's
  ``step()`` multiplies the rate by :math:`f_s` at step 0, then by
  :math:`1 + (f_e - f_s)/(T f_s + (t - 1)(f_e - f_s))` at steps 1 to
  :math:`T`: the product is the closed form, to float64 rounding. With
  ``total_iters=0`` the recursion keeps :math:`\eta_0 f_s` forever, where the
  closed form divides by zero; this follows the recursion.

  Args:
    lr: :math:`\eta_0` (>= 0).
    start_factor: :math:`f_s`, in (0, 1].
    end_factor: :math:`f_e`, in [0, 1].
    total_iters: :math:`T` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.LinearLR(0.05, start_factor=0.25, total_iters=3)
    >>> print([f"{schedule(t):.4f}" for t in range(5)])
    ['0.0125', '0.0250', '0.0375', '0.0500', '0.0500']
  """

  def __init__(
    self,
    lr: ArrayLike,
    start_factor: ArrayLike = 1.0 / 3,
    end_factor: ArrayLike = 1.0,
    total_iters: int = 5,
  ):
    call = "torch.LinearLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    v.check_number(
      call,
      "start_factor",
      start_factor,
      lower=0,
      upper=1,
      lower_open=True,
      schedule_ok=False,
    )
    v.check_number(call, "end_factor", end_factor, lower=0, upper=1, schedule_ok=False)
    v.check_integer(call, "total_iters", total_iters, lower=0)
    self.lr, self.start_factor, self.end_factor = lr, start_factor, end_factor
    self.total_iters = total_iters

  def _factor(self, t) -> two.Pair:
    # (f_s (T - t) + f_e t) / T, with t <= T: two non-negative terms.
    total = self.total_iters
    t = jnp.minimum(t, total)
    start = two.mul(two.pair(self.start_factor), two.integer(total - t))
    end = two.mul(two.pair(self.end_factor), two.integer(t))
    return two.div(two.add(start, end), two.integer(jnp.asarray(total, jnp.int32)))

  def _initial(self):
    return two.pair(self.start_factor)

  def _multiplier(self, t):
    return self._initial() if self.total_iters == 0 else self._factor(t)

  def _product(self, a, t):
    if self.total_iters == 0:
      return two.ONE
    ratio = two.div(self._factor(t), self._factor(a))
    return two.where(a >= self.total_iters, two.ONE, ratio)

  def _milestone_error(self) -> str | None:
    if self.total_iters == 0:
      return "PyTorch's closed form divides by total_iters=0 at the milestone"
    return None


class PolynomialLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.PolynomialLR``: a polynomial decay to 0 over ``total_iters`` steps.

  .. math::
    \eta(t) = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^{p}

  where :math:`\eta_0` is ``lr``, :math:`T` is ``total_iters`` and :math:`p`
  is ``power``. PyTorch's ``step()`` multiplies the rate by
  :math:`\left((1 - t/T)/(1 - (t - 1)/T)\right)^p` at steps 1 to :math:`T`
  and keeps it after: the product is the closed form, to float64 rounding.
  With ``total_iters=0`` the recursion keeps :math:`\eta_0`, where the closed
  form divides by zero; this follows the recursion. ``power`` must be >= 0:
  PyTorch raises at step :math:`T` for a negative one.

  Args:
    lr: :math:`\eta_0` (>= 0).
    total_iters: :math:`T` (>= 0).
    power: :math:`p` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.PolynomialLR(0.1, total_iters=4, power=2.0)
    >>> print([f"{schedule(t):.5f}" for t in range(6)])
    ['0.10000', '0.05625', '0.02500', '0.00625', '0.00000', '0.00000']
  """

  def __init__(self, lr: ArrayLike, total_iters: int = 5, power: ArrayLike = 1.0):
    call = "torch.PolynomialLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    v.check_integer(call, "total_iters", total_iters, lower=0)
    v.check_number(call, "power", power, lower=0, schedule_ok=False)
    self.lr, self.total_iters, self.power = lr, total_iters, power

  def _product(self, a, t):
    total = self.total_iters
    if total == 0:
      return two.ONE
    remaining = _fraction(total - jnp.minimum(t, total), total - jnp.minimum(a, total))
    return two.where(a >= total, two.ONE, two.real_power(remaining, self.power))

  def _milestone_error(self) -> str | None:
    if self.total_iters == 0:
      return "PyTorch's closed form divides by total_iters=0 at the milestone"
    return None
