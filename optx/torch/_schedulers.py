"""The scheduler protocol, and PyTorch's step and lambda schedulers.

A scheduler here takes the base learning rate where PyTorch takes the
optimizer, and is a function of the step count: ``scheduler(t)`` is the rate
of update :math:`t + 1` when PyTorch's ``scheduler.step()`` follows every
``optimizer.step()`` (``t`` is PyTorch's ``last_epoch``). Pass it as an
``optx.torch`` optimizer's ``lr``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optx._src import schedules as schedules_lib
from optx._src import validation as v
from optx.torch import _twofloat as two


class Scheduler:
  """A step schedule: ``scheduler(count)`` is the learning rate of update count + 1.

  Beside the value, a scheduler says what PyTorch's ``scheduler.step()`` does
  to the optimizer's current rate, which is how PyTorch's ``SequentialLR``
  and ``ChainedScheduler`` compose schedulers. By default it sets the rate
  from its base rate alone, as ``LambdaLR``, ``CyclicLR``, ``OneCycleLR`` and
  ``CosineAnnealingWarmRestarts`` do; :class:`Multiplicative` schedulers
  multiply it instead, and ``CosineAnnealingLR`` moves it towards ``eta_min``.
  Rates are pairs of float32 (:mod:`optx.torch._twofloat`) until the value is
  rounded once to float32.
  """

  def __call__(self, count: ArrayLike) -> jax.Array:
    return two.value(self._rate(epoch(count)))

  def _rate(self, t: jax.Array) -> two.Pair:
    """The rate at step ``t`` (an int32 >= 0), as a pair."""
    return jnp.asarray(self(t), jnp.float32), jnp.zeros((), jnp.float32)

  def _step(self, t: jax.Array, rate: two.Pair) -> two.Pair:
    """The rate PyTorch's ``step()`` to step ``t`` makes of the optimizer's ``rate``.

    At ``t = 0`` this is the step PyTorch takes when it builds the scheduler.
    """
    del rate  # set from the base rate alone
    return self._rate(t)

  def _entry_rate(self, t: jax.Array, previous: Callable[[], two.Pair]) -> two.Pair:
    """The rate at local step ``t`` when ``SequentialLR`` enters this at a milestone.

    PyTorch enters it with its closed form at step 0 where it has one, and
    ``get_lr()`` at step 0 otherwise; ``previous()`` is the optimizer's rate
    just before. For most schedulers this is :meth:`_rate`.
    """
    del previous
    return self._rate(t)

  def _milestone_error(self) -> str | None:
    """Why PyTorch's ``SequentialLR`` fails to enter this at a milestone, if it does."""
    return None

  def _cycled_momentum(self) -> Callable[[jax.Array], jax.Array] | None:
    """The momentum (or beta1) schedule this scheduler writes, if it cycles one."""
    return None

  def __repr__(self) -> str:
    fields = ", ".join(
      f"{name}={value!r}"
      for name, value in vars(self).items()
      if not name.startswith("_")
    )
    return f"optx.torch.{type(self).__name__}({fields})"


def epoch(count: ArrayLike) -> jax.Array:
  """The step as PyTorch's ``last_epoch``: an int32, negatives read as 0."""
  return jnp.maximum(jnp.asarray(count, jnp.int32), 0)


class Multiplicative(Scheduler):
  r"""A scheduler whose ``step()`` multiplies the optimizer's current rate.

  By :meth:`_initial` at the step PyTorch takes when it builds the scheduler,
  then by a factor :math:`f(k)` at each step :math:`k \ge 1`; so its rate is
  ``lr`` times their product, which the subclasses give in closed form.
  """

  lr: ArrayLike

  def _initial(self) -> two.Pair:
    """The factor of the initial step."""
    return two.ONE

  def _product(self, a: jax.Array, t: jax.Array) -> two.Pair:
    """The product of the factors of steps ``a + 1`` to ``t`` (1 when ``t <= a``)."""
    raise NotImplementedError

  def _multiplier(self, t: jax.Array) -> two.Pair:
    """The rate at step ``t`` over ``lr``."""
    return two.mul(self._initial(), self._product(jnp.zeros((), jnp.int32), t))

  def _rate(self, t):
    return two.mul(two.pair(self.lr), self._multiplier(t))

  def _step(self, t, rate):
    previous = jnp.maximum(t - 1, 0)
    factor = two.where(t == 0, self._initial(), self._product(previous, t))
    return two.mul(rate, factor)


class ExponentialLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.ExponentialLR``: multiply by ``gamma`` every step.

  .. math::
    \eta(t) = \eta_0\, \gamma^{t}

  where :math:`\eta_0` is ``lr`` (PyTorch's optimizer lr), :math:`\gamma` is
  ``gamma`` and :math:`t` is the step count (PyTorch's ``last_epoch``).
  PyTorch multiplies the rate by :math:`\gamma` at every step, in float64;
  this is the closed form, from float64 powers :math:`\gamma^{2^i}` kept in
  pairs of float32, so each value is PyTorch's rounded to float32 at any step
  (a traced ``gamma`` is float32, and so is its power).

  Args:
    lr: :math:`\eta_0` (>= 0), the base learning rate.
    gamma: :math:`\gamma` (>= 0); PyTorch has no default.

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.ExponentialLR(0.1, gamma=0.5)
    >>> print([f"{schedule(t):.4f}" for t in range(3)])
    ['0.1000', '0.0500', '0.0250']
  """

  def __init__(self, lr: ArrayLike, gamma: ArrayLike):
    v.check_number("torch.ExponentialLR", "lr", lr, lower=0, schedule_ok=False)
    v.check_number("torch.ExponentialLR", "gamma", gamma, lower=0, schedule_ok=False)
    self.lr, self.gamma = lr, gamma

  def _product(self, a, t):
    return two.power(self.gamma, jnp.maximum(t - a, 0))


class StepLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.StepLR``: multiply by ``gamma`` every ``step_size`` steps.

  .. math::
    \eta(t) = \eta_0\, \gamma^{\lfloor t / s \rfloor}

  where :math:`\eta_0` is ``lr``, :math:`s` is ``step_size`` and
  :math:`\gamma` is ``gamma``. At :math:`t = s` the decayed value applies.

  Args:
    lr: :math:`\eta_0` (>= 0).
    step_size: :math:`s` (>= 1).
    gamma: :math:`\gamma` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.StepLR(0.1, step_size=2)
    >>> print([f"{schedule(t):.4f}" for t in range(5)])
    ['0.1000', '0.1000', '0.0100', '0.0100', '0.0010']
  """

  def __init__(self, lr: ArrayLike, step_size: int, gamma: ArrayLike = 0.1):
    v.check_number("torch.StepLR", "lr", lr, lower=0, schedule_ok=False)
    v.check_integer("torch.StepLR", "step_size", step_size, lower=1)
    v.check_number("torch.StepLR", "gamma", gamma, lower=0, schedule_ok=False)
    self.lr, self.step_size, self.gamma = lr, step_size, gamma

  def _product(self, a, t):
    decays = jnp.maximum(t // self.step_size - a // self.step_size, 0)
    return two.power(self.gamma, decays)


class MultiStepLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.MultiStepLR``: multiply by ``gamma`` at each milestone.

  .. math::
    \eta(t) = \eta_0\, \gamma^{\#\{i : m_i \le t\}}

  where :math:`\eta_0` is ``lr`` and :math:`m_i` are the ``milestones`` (a
  repeated milestone counts as often as it appears, like PyTorch's Counter).
  **At step == milestone the decayed value already applies** (the right
  piece), unlike Keras's ``PiecewiseConstantDecay``.

  Args:
    lr: :math:`\eta_0` (>= 0).
    milestones: non-negative integer steps, in any order.
    gamma: :math:`\gamma` (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.MultiStepLR(1.0, milestones=[2, 4], gamma=0.5)
    >>> print([f"{schedule(t):.2f}" for t in range(6)])
    ['1.00', '1.00', '0.50', '0.50', '0.25', '0.25']
  """

  def __init__(self, lr: ArrayLike, milestones: Sequence[int], gamma: ArrayLike = 0.1):
    call = "torch.MultiStepLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    check_steps(call, "milestones", milestones)
    v.check_number(call, "gamma", gamma, lower=0, schedule_ok=False)
    self.lr, self.milestones, self.gamma = lr, sorted(int(m) for m in milestones), gamma

  def _passed(self, t):
    bounds = jnp.asarray(self.milestones, jnp.int32)
    return jnp.searchsorted(bounds, t, side="right").astype(jnp.int32)

  def _initial(self):
    return two.power(self.gamma, jnp.asarray(self.milestones.count(0), jnp.int32))

  def _product(self, a, t):
    return two.power(self.gamma, jnp.maximum(self._passed(t) - self._passed(a), 0))


def check_function(call: str, name: str, fn: Any) -> None:
  """Checks that ``fn`` is callable with one argument, as PyTorch calls it."""
  if not callable(fn):
    raise TypeError(f"optx.{call}({name}=...) must be callable, got {fn!r}")
  try:
    inspect.signature(fn).bind(0)
  except TypeError as error:
    raise TypeError(
      f"optx.{call}({name}=...) must take one argument (the step), got {fn!r}"
    ) from error
  except ValueError:  # no signature (some builtins): PyTorch would try anyway
    pass


def check_steps(call: str, name: str, steps: Any) -> None:
  """Checks that ``steps`` is a sequence of non-negative int32 integers."""
  if isinstance(steps, (str, bytes)) or not isinstance(steps, (Sequence, np.ndarray)):
    raise TypeError(f"optx.{call}({name}=...) must be a sequence, got {steps!r}")
  for i, m in enumerate(steps):
    v.check_integer(call, f"{name}[{i}]", m, lower=0)


class LambdaLR(Scheduler):
  r"""``torch.optim.lr_scheduler.LambdaLR``: the base rate times a function of the step.

  .. math::
    \eta(t) = \eta_0\, \lambda(t)

  where :math:`\eta_0` is ``lr`` and :math:`\lambda` is ``lr_lambda``, which
  sees Python's arithmetic as in PyTorch: it is traced with the step as a
  float32 holding an integer (``1 / (1 + t) ** 2`` never overflows), and one
  that branches on the step (Hugging Face's linear warmup, ``if step <
  warmup: ...``) is called on the host with a Python int instead, a host round
  trip per update (about 0.2 ms on a CPU).

  Args:
    lr: :math:`\eta_0` (>= 0).
    lr_lambda: :math:`\lambda`, a function of the step.

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.LambdaLR(0.1, lambda t: 1 / (1 + t))
    >>> print([f"{schedule(t):.4f}" for t in range(3)])
    ['0.1000', '0.0500', '0.0333']
    >>> def warmup(step):  # Hugging Face's linear warmup, 2 steps of 10
    ...   if step < 2:
    ...     return step / 2
    ...   return max(0.0, (10 - step) / 8)
    >>> schedule = optx.torch.LambdaLR(1.0, warmup)
    >>> print([f"{schedule(t):.3f}" for t in (0, 1, 2, 6, 12)])
    ['0.000', '0.500', '1.000', '0.500', '0.000']
  """

  def __init__(self, lr: ArrayLike, lr_lambda: Callable[[jax.Array], ArrayLike]):
    v.check_number("torch.LambdaLR", "lr", lr, lower=0, schedule_ok=False)
    check_function("torch.LambdaLR", "lr_lambda", lr_lambda)
    self.lr, self.lr_lambda = lr, lr_lambda
    self._factor, _ = schedules_lib.python_function("torch.LambdaLR", lr_lambda)

  def _rate(self, t):
    factor = jnp.asarray(self._factor(t), jnp.float32)
    return two.mul(two.pair(self.lr), (factor, jnp.zeros((), jnp.float32)))
