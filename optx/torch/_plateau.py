"""``torch.optim.lr_scheduler.ReduceLROnPlateau`` as a plateau of an ``optx.torch`` optimizer."""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Mapping
from typing import Literal

import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v


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
    min_lr: :math:`\eta_{min}` (>= 0), the floor of the learning rate; under
      :func:`optx.torch.param_groups`, also a mapping of each group's label
      to its floor (PyTorch's per-group list).
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
    min_lr: ArrayLike | Mapping[Hashable, ArrayLike] = 0.0,
    eps: ArrayLike = 1e-8,
  ):
    call = "torch.ReduceLROnPlateau"
    v.check_choice(call, "mode", mode, ["min", "max"])
    v.check_factor(call, "factor", factor)
    v.check_integer(call, "patience", patience, lower=0)
    v.check_number(call, "threshold", threshold, lower=0, schedule_ok=False)
    v.check_choice(call, "threshold_mode", threshold_mode, ["rel", "abs"])
    v.check_integer(call, "cooldown", cooldown, lower=0)
    floors = min_lr.items() if isinstance(min_lr, Mapping) else [(None, min_lr)]
    for label, floor in floors:
      name = "min_lr" if label is None else f"min_lr[{label!r}]"
      v.check_number(call, name, floor, lower=0, schedule_ok=False)
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
    if isinstance(self.min_lr, Mapping):
      raise ValueError(
        "optx.torch.ReduceLROnPlateau(min_lr=...) is a floor per group"
        f" ({self.min_lr!r}), which optx.torch.param_groups reads; an optimizer"
        " of one group takes a number"
      )
    if base.is_schedule(lr) and v.concrete(self.min_lr) != 0.0:
      # The floor is an absolute rate; under a schedule it is no fixed
      # multiple of the rate, and a multiple of lr(0) would differ silently.
      raise ValueError(
        "optx.torch.ReduceLROnPlateau(min_lr=...) must be 0 when the optimizer's"
        f" lr is a schedule, got min_lr={self.min_lr}"
      )
    lr0 = base.value_at(lr, base.zero_count(), jnp.float32)
    safe = jnp.where(lr0 > 0, lr0, 1.0)
    # min_lr above lr never reduces (PyTorch's max(...) then raises the rate,
    # which its "old - new > eps" test refuses); a scale floor of 1 does the same.
    min_scale = jnp.where(
      lr0 > 0, jnp.minimum(jnp.asarray(self.min_lr, jnp.float32) / safe, 1.0), 0.0
    )
    eps = jnp.where(lr0 > 0, jnp.asarray(self.eps, jnp.float32) / safe, 0.0)
    return plateau_lib.reduce_on_plateau(
      factor=self.factor,
      patience=self.patience,
      min_delta=self.threshold,
      mode=self.mode,
      cooldown=self.cooldown,
      min_scale=min_scale,
      threshold_mode=self.threshold_mode,
      rule="torch",
      eps=eps,
    )
