"""``torch.optim.lr_scheduler.OneCycleLR``: the 1cycle policy, with its momentum."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optx._src import validation as v
from optx.torch import _twofloat as tf
from optx.torch._cosine import sin_squared
from optx.torch._schedulers import Scheduler


class OneCycleLR(Scheduler):
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

  def _anneal(self, start: tf.Pair, end: tf.Pair, r: tf.Pair, rest: tf.Pair) -> tf.Pair:
    # PyTorch's formulas as weighted sums of the two endpoints with
    # non-negative weights, r and rest = 1 - r, so that nothing cancels as
    # r -> 0 or r -> 1: (cos(pi r) + 1)/2 = sin(pi rest/2)^2 and
    # (1 - cos(pi r))/2 = sin(pi r/2)^2; in pairs of float32, as PyTorch's
    # float64 (:mod:`optx.torch._twofloat`).
    if self.anneal_strategy == "cos":
      return tf.add(tf.mul(start, sin_squared(rest)), tf.mul(end, sin_squared(r)))
    return tf.add(tf.mul(start, rest), tf.mul(end, r))

  def _phased(self, count, keys, values):
    # Steps are integers, so ``step <= end`` is decided on floor(end), exactly
    # as PyTorch's float64 comparison decides it. Within a phase, r = (t -
    # start)/length and rest = (end - t)/length are each an integer count of
    # steps plus a float64 remainder in [0, 1), over PyTorch's float64 length:
    # non-negative on the phase's steps (rest < 0 only at step T, PyTorch's
    # last, extrapolated value).
    step = jnp.clip(jnp.asarray(count, jnp.int32), 0, self.total_steps)
    start = 0.0
    pieces = []
    for end, key in zip(self._ends, keys, strict=True):
      length = tf.pair((end - start) or 1.0)
      first, last = math.ceil(start), math.floor(end)
      r = tf.div(tf.add(tf.integer(step - first), tf.pair(first - start)), length)
      rest = tf.div(tf.add(tf.integer(last - step), tf.pair(end - last)), length)
      pieces.append((last, self._anneal(values[key[0]], values[key[1]], r, rest)))
      start = end
    result = pieces[-1][1]
    for last, value in reversed(pieces[:-1]):
      result = tf.where(step <= last, value, result)
    return tf.value(result)

  def __call__(self, count):
    peak = tf.pair(self.max_lr)
    initial = tf.of(lambda m, d: m / d, self.max_lr, self.div_factor)
    final = tf.of(
      lambda m, d, f: m / d / f, self.max_lr, self.div_factor, self.final_div_factor
    )
    return self._phased(count, self._lr_keys, {"i": initial, "x": peak, "f": final})

  def momentum(self, count: ArrayLike) -> jax.Array:
    """The cycled momentum (PyTorch's ``momentum`` or ``betas[0]``) at step ``count``.

    Examples:
      >>> import optx
      >>> schedule = optx.torch.OneCycleLR(1.0, total_steps=10, three_phase=True)
      >>> print([f"{schedule.momentum(t):.4f}" for t in (0, 2, 4, 9)])
      ['0.9500', '0.8500', '0.9500', '0.9500']
    """
    high, low = tf.pair(self.max_momentum), tf.pair(self.base_momentum)
    return self._phased(count, self._momentum_keys, {"h": high, "l": low})

  def _cycled_momentum(self):
    return self.momentum if self.cycle_momentum else None


def cycled_momentum(lr: Any) -> Callable[[jax.Array], jax.Array] | None:
  """The momentum schedule PyTorch's scheduler imposes when ``lr`` is one that cycles it.

  ``OneCycleLR`` and ``CyclicLR`` with ``cycle_momentum=True`` do, and so do
  ``SequentialLR`` and ``ChainedScheduler`` holding one of them.
  """
  if isinstance(lr, Scheduler):
    return lr._cycled_momentum()
  return None
