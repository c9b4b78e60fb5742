"""``torch.optim.lr_scheduler.CyclicLR``: triangles between two rates, with the momentum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optx._src import schedules as schedules_lib
from optx._src import validation as v
from optx.torch import _twofloat as two
from optx.torch._schedulers import Scheduler
from optx.torch._schedulers import check_function
from optx.torch._schedulers import epoch

_INT32_MAX = 2**31 - 1


class CyclicLR(Scheduler):
  r"""``torch.optim.lr_scheduler.CyclicLR``: the cyclical learning rate policy, with its momentum.

  Each cycle rises for :math:`s_u` steps and falls for :math:`s_d`. With
  :math:`p = t \bmod (s_u + s_d)` the step within the cycle and
  :math:`c = \lfloor t/(s_u + s_d) \rfloor + 1` the cycle:

  .. math::
    w(t) = \begin{cases} p / s_u & p \le s_u \\
    (s_u + s_d - p)/s_d & p > s_u \end{cases}, \qquad
    \eta(t) = \eta_b + (\eta_{max} - \eta_b)\, w(t)\, g

  where :math:`\eta_b` is ``base_lr``, :math:`\eta_{max}` is ``max_lr``,
  :math:`s_u` is ``step_size_up`` and :math:`s_d` is ``step_size_down``. The
  amplitude's scale :math:`g` is 1 (``"triangular"``), :math:`2^{1 - c}`
  (``"triangular2"``), :math:`\gamma^t` (``"exp_range"``, :math:`\gamma` being
  ``gamma``), or ``scale_fn`` of :math:`c` (``scale_mode="cycle"``) or of
  :math:`t` (``"iterations"``) when given, which then overrides ``mode``; like
  ``LambdaLR``'s function, it sees Python's arithmetic, traced with a float32
  integer, or called on the host when it branches. As in PyTorch, each mode
  sets its own ``scale_mode`` when ``scale_fn`` is None. With
  ``cycle_momentum``, :meth:`momentum` moves the other way,
  :math:`\mu(t) = \mu_{max} - (\mu_{max} - \mu_b)\, w(t)\, g`, from
  ``max_momentum`` to ``base_momentum``; the optimizers of this module use it
  for ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam, AdamW) when this
  schedule is their ``lr``, as PyTorch overwrites them, and an SGD created
  without momentum gets it. The cycle position is exact integer arithmetic,
  so the values are PyTorch's to float32 rounding at any step.

  Args:
    base_lr: :math:`\eta_b` (>= 0), the rate at the start of each cycle.
    max_lr: :math:`\eta_{max}` (>= 0), the rate at its peak (before scaling).
    step_size_up: :math:`s_u` (>= 1).
    step_size_down: :math:`s_d` (>= 0); None means :math:`s_u`.
    mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
    gamma: :math:`\gamma` (>= 0), for ``"exp_range"``.
    scale_fn: a function of the cycle or the step, replacing ``mode``.
    scale_mode: ``"cycle"`` or ``"iterations"``, what ``scale_fn`` is given.
    cycle_momentum: cycle the optimizer's momentum (or :math:`\beta_1`).
    base_momentum: :math:`\mu_b`, the momentum at the peak, in [0, 1].
    max_momentum: :math:`\mu_{max}`, the momentum at the start, in [0, 1].

  Returns:
    A step schedule with a :meth:`momentum` schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.CyclicLR(0.1, 0.5, step_size_up=2, mode="triangular2")
    >>> print([f"{schedule(t):.2f}" for t in range(9)])
    ['0.10', '0.30', '0.50', '0.30', '0.10', '0.20', '0.30', '0.20', '0.10']
    >>> print([f"{schedule.momentum(t):.3f}" for t in range(5)])
    ['0.900', '0.850', '0.800', '0.850', '0.900']
  """

  def __init__(
    self,
    base_lr: ArrayLike,
    max_lr: ArrayLike,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
    gamma: ArrayLike = 1.0,
    scale_fn: Callable[[jax.Array], ArrayLike] | None = None,
    scale_mode: Literal["cycle", "iterations"] = "cycle",
    cycle_momentum: bool = True,
    base_momentum: ArrayLike = 0.8,
    max_momentum: ArrayLike = 0.9,
  ):
    call = "torch.CyclicLR"
    v.check_number(call, "base_lr", base_lr, lower=0, schedule_ok=False)
    v.check_number(call, "max_lr", max_lr, lower=0, schedule_ok=False)
    v.check_integer(call, "step_size_up", step_size_up, lower=1)
    if step_size_down is not None:
      v.check_integer(call, "step_size_down", step_size_down, lower=0)
      if step_size_up + step_size_down > _INT32_MAX:
        raise ValueError(
          f"optx.{call}(step_size_down=...) plus step_size_up must fit in int32,"
          f" got {step_size_up} + {step_size_down}"
        )
    v.check_choice(call, "mode", mode, ["triangular", "triangular2", "exp_range"])
    v.check_number(call, "gamma", gamma, lower=0, schedule_ok=False)
    if scale_fn is not None:
      check_function(call, "scale_fn", scale_fn)
    v.check_choice(call, "scale_mode", scale_mode, ["cycle", "iterations"])
    v.check_bool(call, "cycle_momentum", cycle_momentum)
    for name, value in (
      ("base_momentum", base_momentum),
      ("max_momentum", max_momentum),
    ):
      v.check_number(call, name, value, lower=0, upper=1, schedule_ok=False)
    self.base_lr, self.max_lr = base_lr, max_lr
    self.step_size_up, self.step_size_down = step_size_up, step_size_down
    self.mode, self.gamma, self.scale_fn = mode, gamma, scale_fn
    self.scale_mode, self.cycle_momentum = scale_mode, cycle_momentum
    self.base_momentum, self.max_momentum = base_momentum, max_momentum
    self._down = step_size_up if step_size_down is None else step_size_down
    if scale_fn is None:  # PyTorch's _init_scale_fn overrides scale_mode
      self._scale_mode = "iterations" if mode == "exp_range" else "cycle"
      self._scale = None
    else:
      self._scale_mode = scale_mode
      self._scale, _ = schedules_lib.python_function(call, scale_fn)

  def _weight(self, t: jax.Array) -> two.Pair:
    """:math:`w(t)\\, g`, the fraction of the amplitude at step ``t``."""
    up, down = self.step_size_up, self._down
    cycle = t // (up + down) + 1
    p = t % (up + down)
    rising = two.div(two.integer(p), two.pair(up))
    if down == 0:
      w = rising
    else:
      falling = two.div(two.integer(up + down - p), two.pair(down))
      w = two.where(p <= up, rising, falling)
    x = cycle if self._scale_mode == "cycle" else t
    if self._scale is not None:
      scale = jnp.asarray(self._scale(x), jnp.float32)
      g = (scale, jnp.zeros_like(scale))
    elif self.mode == "triangular2":
      g = two.power(0.5, cycle - 1)
    elif self.mode == "exp_range":
      g = two.power(self.gamma, t)
    else:
      g = two.ONE
    return two.mul(w, g)

  def _rate(self, t):
    height = two.of(lambda low, high: high - low, self.base_lr, self.max_lr)
    return two.add(two.pair(self.base_lr), two.mul(height, self._weight(t)))

  def momentum(self, count: ArrayLike) -> jax.Array:
    """The cycled momentum (PyTorch's ``momentum`` or ``betas[0]``) at step ``count``.

    Examples:
      >>> import optx
      >>> schedule = optx.torch.CyclicLR(0.1, 1.0, step_size_up=4, base_momentum=0.5)
      >>> print([f"{schedule.momentum(t):.3f}" for t in (0, 2, 4, 6, 8)])
      ['0.900', '0.700', '0.500', '0.700', '0.900']
    """
    t = epoch(count)
    depth = two.of(lambda low, high: high - low, self.base_momentum, self.max_momentum)
    fall = two.mul(depth, self._weight(t))
    return two.value(two.add(two.pair(self.max_momentum), two.negative(fall)))

  def _cycled_momentum(self):
    return self.momentum if self.cycle_momentum else None
