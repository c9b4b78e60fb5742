"""``torch.optim.lr_scheduler``'s closed-form schedulers as step schedules.

A scheduler here takes the base learning rate where PyTorch takes the
optimizer, and is a function of the step count: ``scheduler(t)`` is the rate
of update :math:`t + 1` when PyTorch's ``scheduler.step()`` follows every
``optimizer.step()`` (``t`` is PyTorch's ``last_epoch``). Pass it as an
``optx.torch`` optimizer's ``lr``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optx._src import schedules as schedules_lib
from optx._src import validation as v


class Scheduler:
  """A step schedule: ``scheduler(count)`` is the learning rate of update count + 1."""

  def __call__(self, count: ArrayLike) -> jax.Array:
    raise NotImplementedError

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


class ExponentialLR(Scheduler):
  r"""``torch.optim.lr_scheduler.ExponentialLR``: multiply by ``gamma`` every step.

  .. math::
    \eta(t) = \eta_0\, \gamma^{t}

  where :math:`\eta_0` is ``lr`` (PyTorch's optimizer lr), :math:`\gamma` is
  ``gamma`` and :math:`t` is the step count (PyTorch's ``last_epoch``).
  PyTorch multiplies recursively in float64; this is the closed form in
  float32.

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

  def __call__(self, count):
    t = epoch(count).astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** t


class StepLR(Scheduler):
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

  def __call__(self, count):
    k = (epoch(count) // self.step_size).astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** k


class MultiStepLR(Scheduler):
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
    if isinstance(milestones, (str, bytes)) or not isinstance(
      milestones, (Sequence, np.ndarray)
    ):
      raise TypeError(
        f"optx.{call}(milestones=...) must be a sequence, got {milestones!r}"
      )
    for i, m in enumerate(milestones):
      v.check_integer(call, f"milestones[{i}]", m, lower=0)
    v.check_number(call, "gamma", gamma, lower=0, schedule_ok=False)
    self.lr, self.milestones, self.gamma = lr, sorted(int(m) for m in milestones), gamma

  def __call__(self, count):
    bounds = jnp.asarray(self.milestones, jnp.int32)
    k = jnp.searchsorted(bounds, epoch(count), side="right").astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** k


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
    if not callable(lr_lambda):
      raise TypeError(
        f"optx.torch.LambdaLR(lr_lambda=...) must be callable, got {lr_lambda!r}"
      )
    self.lr, self.lr_lambda = lr, lr_lambda
    self._factor, _ = schedules_lib.python_function("torch.LambdaLR", lr_lambda)

  def __call__(self, count):
    return jnp.asarray(self.lr, jnp.float32) * self._factor(epoch(count))
