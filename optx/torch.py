"""PyTorch flavor: ``torch.optim`` optimizers and schedulers, update for update.

Each optimizer takes PyTorch's argument names and defaults (``lr``,
``momentum``, ``dampening``, ``betas``, ``alpha``, ``eps``, ...), validates
them as PyTorch does, and chains optx's building blocks in PyTorch's order:
the learning rate multiplies the whole step, outside every buffer, and
``weight_decay`` is a coupled L2 term added to the gradient (decoupled in
:func:`AdamW`). The schedulers take the base learning rate where PyTorch takes
the optimizer and return step schedules; pass them as ``lr=``.

PyTorch's usage ``opt.step(); sched.step()`` gives update :math:`t` (1-based)
the scheduler's value at ``last_epoch = t - 1``, which is optx's step count.
So ``optx.torch.SGD(lr=optx.torch.StepLR(0.1, 30))`` reproduces
``SGD(params, lr=0.1)`` with ``StepLR(opt, 30)`` stepped after every update.

``ReduceLROnPlateau`` needs measurements: give it to an optimizer as
``plateau=`` and call :func:`optx.observe` with the validation loss where
PyTorch calls ``scheduler.step(val_loss)``. This module does not import
PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import core
from jax.typing import ArrayLike

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import transform
from optx._src import validation as v
from optx._src import weight_decay as weight_decay_lib

__all__ = (
  "SGD",
  "Adagrad",
  "Adam",
  "AdamW",
  "ExponentialLR",
  "LambdaLR",
  "MultiStepLR",
  "OneCycleLR",
  "RMSprop",
  "ReduceLROnPlateau",
  "StepLR",
)


def _is_zero(value: Any) -> bool:
  """Whether ``value`` is a concrete zero (schedules and traced values are not)."""
  if callable(value) or isinstance(value, core.Tracer):
    return False
  try:
    return float(value) == 0.0
  except (TypeError, ValueError):
    return False


# ----------------------------------------------------------------------------
# Schedulers.


class _Scheduler:
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


def _epoch(count: ArrayLike) -> jax.Array:
  return jnp.maximum(jnp.asarray(count, jnp.int32), 0)


class ExponentialLR(_Scheduler):
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
    t = _epoch(count).astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** t


class StepLR(_Scheduler):
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
    k = (_epoch(count) // self.step_size).astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** k


class MultiStepLR(_Scheduler):
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
    k = jnp.searchsorted(bounds, _epoch(count), side="right").astype(jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * jnp.asarray(self.gamma, jnp.float32) ** k


class LambdaLR(_Scheduler):
  r"""``torch.optim.lr_scheduler.LambdaLR``: the base rate times a function of the step.

  .. math::
    \eta(t) = \eta_0\, \lambda(t)

  where :math:`\eta_0` is ``lr`` and :math:`\lambda` is ``lr_lambda``, called
  with the step count as an int32 array: it must be jittable (``jnp.where``
  instead of ``if``).

  Args:
    lr: :math:`\eta_0` (>= 0).
    lr_lambda: :math:`\lambda`, a jittable function of the step.

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.LambdaLR(0.1, lambda t: 1 / (1 + t))
    >>> print([f"{schedule(t):.4f}" for t in range(3)])
    ['0.1000', '0.0500', '0.0333']
  """

  def __init__(self, lr: ArrayLike, lr_lambda: Callable[[jax.Array], ArrayLike]):
    v.check_number("torch.LambdaLR", "lr", lr, lower=0, schedule_ok=False)
    if not callable(lr_lambda):
      raise TypeError(
        f"optx.torch.LambdaLR(lr_lambda=...) must be callable, got {lr_lambda!r}"
      )
    self.lr, self.lr_lambda = lr, lr_lambda

  def __call__(self, count):
    factor = jnp.asarray(self.lr_lambda(_epoch(count)), jnp.float32)
    return jnp.asarray(self.lr, jnp.float32) * factor


class OneCycleLR(_Scheduler):
  r"""``torch.optim.lr_scheduler.OneCycleLR``: the 1cycle policy, with its momentum.

  With :math:`T` = ``total_steps``, :math:`p` = ``pct_start``, the rate goes
  :math:`\eta_0 = \eta_{max}/d \to \eta_{max}` over steps :math:`[0, pT - 1]`,
  then :math:`\eta_{max} \to \eta_0 / f` until step :math:`T - 1`
  (``three_phase``: :math:`\eta_{max} \to \eta_0` until :math:`2pT - 2`, then
  :math:`\eta_0 \to \eta_0/f` until :math:`T - 1`). In a phase from step
  :math:`a` to :math:`b`, with :math:`r = (t - a)/(b - a)`:

  .. math::
    \eta(t) = \eta_{end} + \frac{\eta_{start} - \eta_{end}}{2}(\cos \pi r + 1)
    \quad \text{(cos)}, \qquad
    \eta(t) = \eta_{start} + (\eta_{end} - \eta_{start})\, r \quad \text{(linear)}

  where :math:`d` is ``div_factor`` and :math:`f` is ``final_div_factor``.
  With ``cycle_momentum``, :meth:`momentum` moves the other way, between
  ``max_momentum`` and ``base_momentum``; the optimizers of this module use it
  for ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam, AdamW) when this
  schedule is their ``lr``, as PyTorch overwrites them. PyTorch raises after
  ``total_steps`` scheduler steps; this schedule holds its value at step
  :math:`T` from then on. Each value is PyTorch's float64 value to float32
  rounding, down to the end of the cycle.

  Args:
    max_lr: :math:`\eta_{max}` (>= 0).
    total_steps: :math:`T`; or give ``epochs`` and ``steps_per_epoch``
      (not both ways: PyTorch ignores the second, optx raises).
    epochs: the number of epochs (with ``steps_per_epoch``).
    steps_per_epoch: updates per epoch (with ``epochs``).
    pct_start: :math:`p` in [0, 1], the fraction of the cycle spent rising.
    anneal_strategy: ``"cos"`` or ``"linear"``.
    cycle_momentum: cycle the optimizer's momentum (or :math:`\beta_1`).
    base_momentum: the momentum at the peak rate, in [0, 1].
    max_momentum: the momentum at both ends, in [0, 1].
    div_factor: :math:`d` (> 0).
    final_div_factor: :math:`f` (> 0).
    three_phase: use the three-phase cycle.

  Returns:
    A step schedule with a :meth:`momentum` schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.OneCycleLR(1.0, total_steps=10)
    >>> print([f"{schedule(t):.4f}" for t in (0, 1, 2, 9)])
    ['0.0400', '0.5200', '1.0000', '0.0000']
    >>> print([f"{schedule.momentum(t):.4f}" for t in (0, 2, 9)])
    ['0.9500', '0.8500', '0.9500']
  """

  def __init__(
    self,
    max_lr: ArrayLike,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: Literal["cos", "linear"] = "cos",
    cycle_momentum: bool = True,
    base_momentum: ArrayLike = 0.85,
    max_momentum: ArrayLike = 0.95,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
    three_phase: bool = False,
  ):
    call = "torch.OneCycleLR"
    v.check_number(call, "max_lr", max_lr, lower=0, schedule_ok=False)
    if total_steps is None:
      if epochs is None or steps_per_epoch is None:
        raise ValueError(
          f"optx.{call} needs total_steps=... or both epochs=... and steps_per_epoch=..."
        )
      v.check_integer(call, "epochs", epochs, lower=1)
      v.check_integer(call, "steps_per_epoch", steps_per_epoch, lower=1)
      total_steps = epochs * steps_per_epoch
    elif epochs is not None or steps_per_epoch is not None:
      # PyTorch silently ignores them; so would a positional call that puts
      # pct_start third, which must not pass unnoticed.
      raise ValueError(
        f"optx.{call}(total_steps=...) excludes epochs=... and steps_per_epoch=...,"
        f" got total_steps={total_steps!r}, epochs={epochs!r},"
        f" steps_per_epoch={steps_per_epoch!r}"
      )
    v.check_integer(call, "total_steps", total_steps, lower=1)
    v.check_number(call, "pct_start", pct_start, lower=0, upper=1, schedule_ok=False)
    v.check_choice(call, "anneal_strategy", anneal_strategy, ["cos", "linear"])
    v.check_bool(call, "cycle_momentum", cycle_momentum)
    v.check_number(
      call, "base_momentum", base_momentum, lower=0, upper=1, schedule_ok=False
    )
    v.check_number(
      call, "max_momentum", max_momentum, lower=0, upper=1, schedule_ok=False
    )
    v.check_number(
      call, "div_factor", div_factor, lower=0, lower_open=True, schedule_ok=False
    )
    v.check_number(
      call,
      "final_div_factor",
      final_div_factor,
      lower=0,
      lower_open=True,
      schedule_ok=False,
    )
    v.check_bool(call, "three_phase", three_phase)
    rise_end = float(pct_start * total_steps) - 1
    if rise_end == 0.0:
      raise ValueError(
        f"optx.{call}(pct_start=...) times total_steps must not be 1 (PyTorch divides"
        f" by zero at step 0), got pct_start={pct_start}, total_steps={total_steps}"
      )
    self.max_lr, self.total_steps, self.pct_start = max_lr, total_steps, pct_start
    self.anneal_strategy, self.cycle_momentum = anneal_strategy, cycle_momentum
    self.base_momentum, self.max_momentum = base_momentum, max_momentum
    self.div_factor, self.final_div_factor = div_factor, final_div_factor
    self.three_phase = three_phase
    # Phase ends as PyTorch computes them (float64). Each phase anneals from
    # the endpoint named by its key's first letter to the second: "i" initial,
    # "x" max, "f" final for the rate; "h" high, "l" low for the momentum.
    if three_phase:
      ends = [rise_end, float(2 * pct_start * total_steps) - 2, total_steps - 1]
      self._lr_keys, self._momentum_keys = ["ix", "xi", "if"], ["hl", "lh", "hh"]
    else:
      ends = [rise_end, total_steps - 1]
      self._lr_keys, self._momentum_keys = ["ix", "xf"], ["hl", "lh"]
    self._ends = [float(e) for e in ends]

  def _anneal(self, start, end, r, rest):
    # PyTorch's formulas rewritten as weighted sums of the two endpoints with
    # non-negative weights, r and rest = 1 - r, so nothing cancels in float32
    # as r -> 0 or r -> 1: (cos(pi r) + 1)/2 = sin(pi rest/2)^2 and
    # (1 - cos(pi r))/2 = sin(pi r/2)^2.
    if self.anneal_strategy == "cos":
      return (
        start * jnp.sin(math.pi / 2 * rest) ** 2 + end * jnp.sin(math.pi / 2 * r) ** 2
      )
    return start * rest + end * r

  def _phased(self, count, keys, values):
    # Steps are integers, so ``step <= end`` is decided on floor(end), exactly
    # as PyTorch's float64 comparison decides it. Within a phase, r = (t -
    # start)/length and rest = (end - t)/length are each an integer count of
    # steps plus a float64 remainder in [0, 1), over PyTorch's float64 length:
    # both are exact to float32 rounding, and non-negative on the phase's
    # steps (rest < 0 only at step T, PyTorch's last, extrapolated value).
    step = jnp.clip(jnp.asarray(count, jnp.int32), 0, self.total_steps)
    start = 0.0
    pieces = []
    for end, key in zip(self._ends, keys, strict=True):
      length = (end - start) or 1.0
      first, last = math.ceil(start), math.floor(end)
      r = ((step - first).astype(jnp.float32) + (first - start)) / length
      rest = ((last - step).astype(jnp.float32) + (end - last)) / length
      pieces.append((last, self._anneal(values[key[0]], values[key[1]], r, rest)))
      start = end
    result = pieces[-1][1]
    for last, value in reversed(pieces[:-1]):
      result = jnp.where(step <= last, value, result)
    return result

  def __call__(self, count):
    peak = jnp.asarray(self.max_lr, jnp.float32)
    initial = peak / jnp.asarray(self.div_factor, jnp.float32)
    final = initial / jnp.asarray(self.final_div_factor, jnp.float32)
    return self._phased(count, self._lr_keys, {"i": initial, "x": peak, "f": final})

  def momentum(self, count: ArrayLike) -> jax.Array:
    """The cycled momentum (PyTorch's ``momentum`` or ``betas[0]``) at step ``count``.

    Examples:
      >>> import optx
      >>> schedule = optx.torch.OneCycleLR(1.0, total_steps=10, three_phase=True)
      >>> print([f"{schedule.momentum(t):.4f}" for t in (0, 2, 4, 9)])
      ['0.9500', '0.8500', '0.9500', '0.9500']
    """
    high = jnp.asarray(self.max_momentum, jnp.float32)
    low = jnp.asarray(self.base_momentum, jnp.float32)
    return self._phased(count, self._momentum_keys, {"h": high, "l": low})


def _cycled_momentum(lr: Any) -> Callable[[jax.Array], jax.Array] | None:
  """The momentum schedule PyTorch's OneCycleLR imposes when ``lr`` is one."""
  if isinstance(lr, OneCycleLR) and lr.cycle_momentum:
    return lr.momentum
  return None


class ReduceLROnPlateau:
  r"""``torch.optim.lr_scheduler.ReduceLROnPlateau``: lower the rate when a metric stalls.

  Give it to an optimizer of this module as ``plateau=`` and call
  :func:`optx.observe` with the metric once per epoch, where PyTorch calls
  ``scheduler.step(metric)``. PyTorch's rule, per measurement :math:`x`:

  1. if :math:`x` improves on the best (``rel``: :math:`x < x^*(1 - \delta)`,
     ``abs``: :math:`x < x^* - \delta`; mirrored for ``mode="max"``),
     :math:`x^* \leftarrow x` and ``bad = 0``, else ``bad += 1``;
  2. in cooldown: ``cooldown_counter -= 1``, ``bad = 0``;
  3. if ``bad > patience``: :math:`\eta \leftarrow \max(f \eta, \eta_{min})`
     if that lowers :math:`\eta` by more than ``eps``; then
     ``cooldown_counter = cooldown`` and ``bad = 0``.

  :math:`\delta` is ``threshold`` and :math:`f` is ``factor``. The first
  reduction comes at measurement ``patience + 1`` (0-based), later ones every
  ``patience + cooldown + 1``. The reduction multiplies the whole step, as
  PyTorch's lower ``lr`` does. ``min_lr`` and ``eps`` are learning rates: the
  optimizer turns them into multipliers of its ``lr`` (of the schedule's value
  at step 0 when ``lr`` is a schedule; PyTorch compares against the current
  scheduled rate).

  Args:
    mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
    factor: :math:`f` in (0, 1).
    patience: bad measurements tolerated before a reduction (>= 0).
    threshold: :math:`\delta` (>= 0).
    threshold_mode: ``"rel"`` (PyTorch's default) or ``"abs"``.
    cooldown: measurements ignored after a reduction (>= 0).
    min_lr: :math:`\eta_{min}` (>= 0), the floor of the learning rate.
    eps: the smallest change of the learning rate applied (>= 0).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> plateau = optx.torch.ReduceLROnPlateau(factor=0.5, patience=1)
    >>> tx = optx.torch.SGD(lr=0.1, plateau=plateau)
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [1.0, 1.0, 1.0]:
    ...   state = optx.observe(state, loss)
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """

  def __init__(
    self,
    mode: Literal["min", "max"] = "min",
    factor: ArrayLike = 0.1,
    patience: int = 10,
    threshold: ArrayLike = 1e-4,
    threshold_mode: Literal["rel", "abs"] = "rel",
    cooldown: int = 0,
    min_lr: ArrayLike = 0.0,
    eps: ArrayLike = 1e-8,
  ):
    call = "torch.ReduceLROnPlateau"
    v.check_choice(call, "mode", mode, ["min", "max"])
    v.check_number(
      call,
      "factor",
      factor,
      lower=0,
      upper=1,
      lower_open=True,
      upper_open=True,
      schedule_ok=False,
    )
    v.check_integer(call, "patience", patience, lower=0)
    v.check_number(call, "threshold", threshold, lower=0, schedule_ok=False)
    v.check_choice(call, "threshold_mode", threshold_mode, ["rel", "abs"])
    v.check_integer(call, "cooldown", cooldown, lower=0)
    v.check_number(call, "min_lr", min_lr, lower=0, schedule_ok=False)
    v.check_number(call, "eps", eps, lower=0, schedule_ok=False)
    self.mode: Literal["min", "max"] = mode
    self.factor, self.patience = factor, patience
    self.threshold_mode: Literal["rel", "abs"] = threshold_mode
    self.threshold, self.cooldown = threshold, cooldown
    self.min_lr, self.eps = min_lr, eps

  def __repr__(self) -> str:
    fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
    return f"optx.torch.ReduceLROnPlateau({fields})"

  def transform(
    self, lr: base.ScalarOrSchedule
  ) -> optax.GradientTransformationExtraArgs:
    """The :func:`optx.reduce_on_plateau` transform for an optimizer whose rate is ``lr``.

    ``min_lr`` and ``eps`` become multipliers of ``lr`` (``eps`` of its value at
    step 0 when ``lr`` is a schedule, where ``min_lr`` must be 0). The
    optimizers of this module call it for you.

    Examples:
      >>> import optx
      >>> plateau = optx.torch.ReduceLROnPlateau(min_lr=0.01)
      >>> state = plateau.transform(0.1).init(None)
      >>> print(f"{state.config.min_scale:.4f}")
      0.1000
    """
    if callable(lr) and not _is_zero(self.min_lr):
      # The floor is an absolute rate; under a schedule it is no fixed
      # multiple of the rate, and a multiple of lr(0) would differ silently.
      raise ValueError(
        "optx.torch.ReduceLROnPlateau(min_lr=...) must be 0 when the optimizer's"
        f" lr is a schedule, got min_lr={self.min_lr}"
      )
    lr0 = base.value_at(lr, base.zero_count())
    safe = jnp.where(lr0 > 0, lr0, 1.0)
    # min_lr above lr never reduces (PyTorch's max(...) then raises the rate,
    # which its "old - new > eps" test refuses); a scale floor of 1 does the same.
    min_scale = jnp.where(
      lr0 > 0, jnp.minimum(jnp.asarray(self.min_lr, jnp.float32) / safe, 1.0), 0.0
    )
    eps = jnp.where(lr0 > 0, jnp.asarray(self.eps, jnp.float32) / safe, 0.0)
    return plateau_lib.reduce_on_plateau(
      self.factor,
      self.patience,
      min_delta=self.threshold,
      mode=self.mode,
      cooldown=self.cooldown,
      min_scale=min_scale,
      threshold_mode=self.threshold_mode,
      rule="torch",
      eps=eps,
    )


# ----------------------------------------------------------------------------
# Optimizers.


def _plateau(
  call: str, lr: base.ScalarOrSchedule, plateau: Any
) -> list[optax.GradientTransformation]:
  """The plateau's multiplier of the whole step (PyTorch lowers ``lr``), if any."""
  if plateau is None:
    return []
  if isinstance(plateau, ReduceLROnPlateau):
    return [plateau.transform(lr)]
  if isinstance(plateau, plateau_lib.ReduceOnPlateau):
    return [plateau]
  raise TypeError(
    f"optx.{call}(plateau=...) must be an optx.torch.ReduceLROnPlateau(...) or an"
    f" optx.reduce_on_plateau(...) transform, got {plateau!r}"
  )


def _gradient_prelude(
  maximize: bool, weight_decay: Any
) -> list[optax.GradientTransformation]:
  """PyTorch's first lines: negate for ``maximize``, then add ``weight_decay * w``."""
  blocks: list[optax.GradientTransformation] = []
  if maximize:
    blocks.append(optax.scale(-1.0))
  if not _is_zero(weight_decay):
    blocks.append(optax.add_decayed_weights(weight_decay))
  return blocks


def SGD(
  lr: base.ScalarOrSchedule = 1e-3,
  momentum: base.ScalarOrSchedule = 0.0,
  dampening: base.ScalarOrSchedule = 0.0,
  weight_decay: base.ScalarOrSchedule = 0.0,
  nesterov: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.SGD``: the learning rate outside the momentum buffer.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    b \leftarrow \mu b + (1 - \tau) g \;(b_1 = g), \quad
    \theta \leftarrow \theta - \eta \begin{cases} g + \mu b & \text{Nesterov} \\
    b & \text{otherwise} \end{cases}

  where :math:`\eta` is ``lr``, :math:`\mu` is ``momentum``, :math:`\tau` is
  ``dampening`` and :math:`\lambda` is ``weight_decay`` (coupled L2). With
  ``momentum=0`` there is no buffer: :math:`\theta \leftarrow \theta - \eta g`.
  Because :math:`\eta` multiplies the whole buffer, a changing rate differs
  from the seed's (and Keras's) velocity, which keeps past rates inside; with
  a constant rate and :math:`\tau = 0` the two agree. A
  :class:`OneCycleLR` ``lr`` with ``cycle_momentum`` replaces ``momentum``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    momentum: :math:`\mu` in [0, 1], a float, an array or a schedule.
    dampening: :math:`\tau` in [0, 1].
    weight_decay: :math:`\lambda` (>= 0); when nonzero, ``update`` needs
      ``params``.
    nesterov: Nesterov momentum (needs momentum > 0 and no dampening).
    maximize: ascend the objective (negates the gradient only).
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.SGD(lr=0.1, momentum=0.9)
    >>> state = tx.init(jnp.zeros(1))
    >>> for _ in range(2):
    ...   u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.1900
  """
  call = "torch.SGD"
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_number(call, "dampening", dampening, lower=0, upper=1)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_bool(call, "nesterov", nesterov)
  v.check_bool(call, "maximize", maximize)
  if nesterov and (_is_zero(momentum) or not _is_zero(dampening)):
    raise ValueError(
      f"optx.{call}(nesterov=True) requires momentum > 0 and dampening=0, got"
      f" momentum={momentum!r}, dampening={dampening!r}"
    )
  cycled = _cycled_momentum(lr)
  momentum = momentum if cycled is None else cycled
  blocks = _gradient_prelude(maximize, weight_decay)
  if not _is_zero(momentum):
    blocks.append(transform.trace(momentum, nesterov=nesterov, dampening=dampening))
  blocks.append(transform.scale_by_learning_rate(lr))
  return optax.chain(*blocks, *_plateau(call, lr, plateau))


def Adagrad(
  lr: base.ScalarOrSchedule = 1e-2,
  lr_decay: ArrayLike = 0.0,
  weight_decay: base.ScalarOrSchedule = 0.0,
  initial_accumulator_value: float = 0.0,
  eps: base.ScalarOrSchedule = 1e-10,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adagrad``: epsilon outside the root, accumulator from 0.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    s \leftarrow s + g \otimes g, \quad
    \theta \leftarrow \theta - \frac{\eta}{1 + (t - 1)\, \kappa}\,
    g \oslash (\sqrt{s} + \varepsilon)

  where :math:`\eta` is ``lr``, :math:`\kappa` is ``lr_decay``, :math:`t` is
  the 1-based update, :math:`s` starts at ``initial_accumulator_value``,
  :math:`\varepsilon` is ``eps`` and :math:`\lambda` is ``weight_decay``. The
  seed's (and Keras 3's) AdaGrad puts :math:`\varepsilon` inside the root and
  starts :math:`s` at 0.1.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    lr_decay: :math:`\kappa` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); when nonzero, ``update`` needs
      ``params``.
    initial_accumulator_value: the starting :math:`s` (>= 0).
    eps: :math:`\varepsilon` (>= 0).
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adagrad(lr=0.1)
    >>> u, _ = tx.update(jnp.full(1, 3.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  call = "torch.Adagrad"
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "lr_decay", lr_decay, lower=0, schedule_ok=False)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_number(
    call,
    "initial_accumulator_value",
    initial_accumulator_value,
    lower=0,
    schedule_ok=False,
  )
  v.check_number(call, "eps", eps, lower=0)
  v.check_bool(call, "maximize", maximize)
  if _cycled_momentum(lr) is not None:
    raise ValueError(
      f"optx.{call}(lr=OneCycleLR(cycle_momentum=True)): Adagrad has no momentum to"
      " cycle (PyTorch raises too); pass cycle_momentum=False"
    )
  applied_lr: base.ScalarOrSchedule = lr
  if not _is_zero(lr_decay):

    def decayed_lr(count):
      decay = jnp.asarray(lr_decay, jnp.float32)
      return base.value_at(lr, count) / (1 + count.astype(jnp.float32) * decay)

    applied_lr = decayed_lr

  return optax.chain(
    *_gradient_prelude(maximize, weight_decay),
    transform.scale_by_rss(initial_accumulator_value, eps, eps_placement="outside"),
    transform.scale_by_learning_rate(applied_lr),
    *_plateau(call, lr, plateau),
  )


def RMSprop(
  lr: base.ScalarOrSchedule = 1e-2,
  alpha: base.ScalarOrSchedule = 0.99,
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  momentum: base.ScalarOrSchedule = 0.0,
  centered: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.RMSprop``: decay 0.99, epsilon outside the root, rate outside the buffer.

  .. math::
    g \leftarrow \nabla_\theta J + \lambda \theta, \quad
    s \leftarrow \alpha s + (1 - \alpha)\, g \otimes g, \quad
    d = \sqrt{s} + \varepsilon, \quad
    b \leftarrow \mu b + g \oslash d, \quad
    \theta \leftarrow \theta - \eta b

  where :math:`\eta` is ``lr``, :math:`\alpha` is ``alpha``,
  :math:`\varepsilon` is ``eps``, :math:`\mu` is ``momentum`` and
  :math:`\lambda` is ``weight_decay``. Without momentum,
  :math:`\theta \leftarrow \theta - \eta\, g \oslash d`. ``centered`` uses
  :math:`d = \sqrt{s - a \otimes a} + \varepsilon` with
  :math:`a \leftarrow \alpha a + (1 - \alpha) g`. The seed (and Keras) use
  :math:`\alpha = 0.9`, :math:`\varepsilon` inside the root and the rate
  inside the buffer. A :class:`OneCycleLR` ``lr`` with ``cycle_momentum``
  replaces ``momentum``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    alpha: :math:`\alpha` in [0, 1].
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); when nonzero, ``update`` needs
      ``params``.
    momentum: :math:`\mu` in [0, 1], a float, an array or a schedule.
    centered: use the centered variant.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.RMSprop(lr=0.01)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.1000
  """
  call = "torch.RMSprop"
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "alpha", alpha, lower=0, upper=1)
  v.check_number(call, "eps", eps, lower=0)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_bool(call, "centered", centered)
  v.check_bool(call, "maximize", maximize)
  cycled = _cycled_momentum(lr)
  momentum = momentum if cycled is None else cycled
  scale = transform.scale_by_stddev if centered else transform.scale_by_rms
  blocks = [
    *_gradient_prelude(maximize, weight_decay),
    scale(alpha, eps, eps_placement="outside"),
  ]
  if not _is_zero(momentum):
    blocks.append(transform.trace(momentum))
  blocks.append(transform.scale_by_learning_rate(lr))
  return optax.chain(*blocks, *_plateau(call, lr, plateau))


def _adam(
  call: str,
  lr: base.ScalarOrSchedule,
  betas: Sequence[base.ScalarOrSchedule],
  eps: base.ScalarOrSchedule,
  weight_decay: base.ScalarOrSchedule,
  amsgrad: bool,
  maximize: bool,
  decoupled_weight_decay: bool,
  plateau: Any,
) -> optax.GradientTransformationExtraArgs:
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "eps", eps, lower=0)
  if (
    isinstance(betas, (str, bytes))
    or not isinstance(betas, Sequence)
    or len(betas) != 2
  ):
    raise TypeError(
      f"optx.{call}(betas=...) must be a pair (beta1, beta2), got {betas!r}"
    )
  for i, beta in enumerate(betas):
    v.check_number(call, f"betas[{i}]", beta, lower=0, upper=1, upper_open=True)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_bool(call, "amsgrad", amsgrad)
  v.check_bool(call, "maximize", maximize)
  v.check_bool(call, "decoupled_weight_decay", decoupled_weight_decay)
  cycled = _cycled_momentum(lr)
  b1 = betas[0] if cycled is None else cycled
  decay = not _is_zero(weight_decay)
  blocks = _gradient_prelude(maximize, 0.0 if decoupled_weight_decay else weight_decay)
  blocks.append(
    transform.scale_by_adam(
      b1,
      betas[1],
      eps,
      eps_placement="outside",
      moment_form="torch",
      amsgrad=amsgrad,
    )
  )
  blocks.append(transform.scale_by_learning_rate(lr))
  if decay and decoupled_weight_decay:
    blocks.append(weight_decay_lib.add_decoupled_weight_decay(weight_decay, lr))
  # The plateau multiplies the decoupled decay too: PyTorch's decay uses the lowered lr.
  return optax.chain(*blocks, *_plateau(call, lr, plateau))


def Adam(
  lr: base.ScalarOrSchedule = 1e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 0.0,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  decoupled_weight_decay: bool = False,
  plateau: Any = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adam``: epsilon added to the bias-corrected root.

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    \theta \leftarrow \theta - \frac{\eta}{1 - \beta_1^t}\,
    m \oslash \Big(\frac{\sqrt{s}}{\sqrt{1 - \beta_2^t}} + \varepsilon\Big)

  where :math:`\eta` is ``lr``, :math:`(\beta_1, \beta_2)` are ``betas``,
  :math:`\varepsilon` is ``eps`` and :math:`t` is the 1-based update; with
  ``weight_decay`` :math:`\lambda`, :math:`g = \nabla_\theta J + \lambda
  \theta` (coupled L2), or, with ``decoupled_weight_decay``, :math:`\theta
  \leftarrow \theta (1 - \eta \lambda)` before the step (AdamW). ``amsgrad``
  replaces :math:`s` in the denominator by its running maximum (over the raw
  :math:`s`). The seed puts :math:`\varepsilon` inside the root of the
  bias-corrected :math:`\hat s`; Keras adds it to the uncorrected root. A
  :class:`OneCycleLR` ``lr`` with ``cycle_momentum`` replaces
  :math:`\beta_1`, and the bias correction uses the current :math:`\beta_1`.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1), floats or schedules.
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0); when nonzero, ``update`` needs
      ``params``.
    amsgrad: use the running maximum of :math:`s`.
    maximize: ascend the objective.
    decoupled_weight_decay: decay the weights as AdamW does.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.Adam(lr=0.001)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.001000
  """
  return _adam(
    "torch.Adam",
    lr,
    betas,
    eps,
    weight_decay,
    amsgrad,
    maximize,
    decoupled_weight_decay,
    plateau,
  )


def AdamW(
  lr: base.ScalarOrSchedule = 1e-3,
  betas: Sequence[base.ScalarOrSchedule] = (0.9, 0.999),
  eps: base.ScalarOrSchedule = 1e-8,
  weight_decay: base.ScalarOrSchedule = 1e-2,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  plateau: Any = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.AdamW``: Adam with decoupled weight decay, 0.01 by default.

  .. math::
    \theta \leftarrow \theta (1 - \eta \lambda) - \frac{\eta}{1 - \beta_1^t}\,
    m \oslash \Big(\frac{\sqrt{s}}{\sqrt{1 - \beta_2^t}} + \varepsilon\Big)

  with :math:`m, s` as in :func:`Adam` (on the raw gradient), :math:`\eta`
  ``lr`` and :math:`\lambda` ``weight_decay``. ``update`` needs ``params``.

  Args:
    lr: :math:`\eta` (>= 0), a float, an array or a schedule.
    betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0).
    amsgrad: use the running maximum of :math:`s`.
    maximize: ascend the objective.
    plateau: an optional :class:`ReduceLROnPlateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.torch.AdamW(lr=0.1, weight_decay=0.5)
    >>> params = jnp.ones(1)
    >>> u, _ = tx.update(jnp.zeros(1), tx.init(params), params)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  return _adam(
    "torch.AdamW", lr, betas, eps, weight_decay, amsgrad, maximize, True, plateau
  )
