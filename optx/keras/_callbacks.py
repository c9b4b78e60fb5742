"""Keras's learning-rate callbacks, for the optimizers of ``optx.keras``.

Keras changes ``optimizer.learning_rate`` from a callback between epochs; optx
has no training loop to call back from, so these objects hold Keras's
configuration, and an ``optx.keras`` optimizer given one as ``callbacks=[...]``
keeps the learning rate it sets in its state: a :class:`ReduceLROnPlateau`
becomes an :func:`optx.reduce_on_plateau` that lowers the rate (see
:func:`optx.observe`), a :class:`LearningRateScheduler` sets the rate at the
first update of each epoch.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import schedules as schedules_lib
from optx._src import validation as v


def accepts(fn: Callable[..., Any], *args: Any) -> bool:
  """Whether ``fn`` can be called with ``args`` (one argument if it has no signature)."""
  try:
    inspect.signature(fn).bind(*args)
  except TypeError:
    return False
  except ValueError:  # no signature (some builtins): assume the one-argument form
    return len(args) == 1
  return True


class ReduceLROnPlateau:
  r"""Keras's ``ReduceLROnPlateau`` callback, for an ``optx.keras`` optimizer.

  Pass it as ``callbacks=[...]`` to an ``optx.keras`` optimizer and call
  :func:`optx.observe` with the monitored value at the end of every epoch.
  The decision rule is Keras's, measurement by measurement: the first value
  sets the best; a value counts as an improvement when it beats the best by
  more than the absolute ``min_delta``; after ``patience`` measurements
  without improvement the learning rate becomes :math:`\max(f \eta,
  \eta_{min})` if :math:`\eta > \eta_{min}`, then ``cooldown - 1``
  measurements are ignored. :math:`f` is ``factor`` and :math:`\eta_{min}`
  is ``min_lr``, an absolute learning rate: the optimizer turns it into a
  floor on the scale, ``min_lr / learning_rate``. The reduction lowers the
  learning rate itself, inside the momentum buffer of ``SGD(momentum=...)``
  and ``RMSprop(momentum=...)``, as Keras does. Unlike Keras, a NaN or
  infinite measurement is ignored (Keras counts a NaN as an epoch without
  improvement); see ``docs/porting_keras.md``.

  Args:
    monitor: the name of the watched quantity; it only chooses the direction
      when ``mode="auto"`` (a name ending in ``loss`` is minimized).
    factor: :math:`f`, in (0, 1).
    patience: measurements without improvement before a reduction (>= 0).
    verbose: accepted for compatibility; optx prints nothing.
    mode: ``"auto"``, ``"min"`` or ``"max"``. ``"auto"`` needs a ``monitor``
      of the form ``[val_]loss``; for a metric, say ``"max"`` or ``"min"``.
    min_delta: the absolute improvement threshold (its sign is ignored).
    cooldown: measurements to wait after a reduction (>= 0).
    min_lr: :math:`\eta_{min}` (>= 0), an absolute learning rate.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> callback = optx.keras.ReduceLROnPlateau(factor=0.5, patience=2)
    >>> tx = optx.keras.SGD(0.1, callbacks=[callback])
    >>> state = tx.init(jnp.zeros(1))
    >>> for val_loss in [1.0, 1.0, 1.0]:
    ...   state = optx.observe(state, val_loss)
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """

  def __init__(
    self,
    monitor: str = "val_loss",
    factor: float = 0.1,
    patience: int = 10,
    verbose: int = 0,
    mode: Literal["auto", "min", "max"] = "auto",
    min_delta: float = 1e-4,
    cooldown: int = 0,
    min_lr: float = 0.0,
  ):
    call = "keras.ReduceLROnPlateau"
    if not isinstance(monitor, str):
      raise TypeError(f"optx.{call}(monitor=...) must be a str, got {monitor!r}")
    v.check_factor(call, "factor", factor)
    v.check_integer(call, "patience", patience, lower=0)
    v.check_choice(call, "mode", mode, ["auto", "min", "max"])
    v.check_constant(call, "min_delta", min_delta)
    v.check_integer(call, "cooldown", cooldown, lower=0)
    v.check_constant(call, "min_lr", min_lr, lower=0)
    direction: Literal["min", "max"] = "max" if mode == "max" else "min"
    if mode == "auto":
      if monitor.removeprefix("val_") != "loss":
        raise ValueError(
          f"optx.{call}(mode='auto') can only infer the direction of"
          f" monitor='loss' or 'val_loss', got monitor={monitor!r}: pass"
          " mode='min' or mode='max'"
        )
    self.monitor = monitor
    self.factor = factor
    self.patience = patience
    self.verbose = verbose
    self.mode: Literal["min", "max"] = direction
    self.min_delta = abs(min_delta)
    self.cooldown = cooldown
    self.min_lr = min_lr

  def __repr__(self) -> str:
    return (
      f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor},"
      f" patience={self.patience}, mode={self.mode!r},"
      f" min_delta={self.min_delta}, cooldown={self.cooldown},"
      f" min_lr={self.min_lr})"
    )

  def as_transform(
    self, learning_rate: base.ScalarOrSchedule
  ) -> plateau_lib.ReduceOnPlateau:
    """The :func:`optx.reduce_on_plateau` transform for a base ``learning_rate``.

    ``min_lr`` becomes the scale floor ``min_lr / learning_rate`` (1, no
    reduction, when ``learning_rate <= min_lr``). A schedule has no single
    base rate, so it needs ``min_lr=0`` (Keras refuses the combination).

    Args:
      learning_rate: the optimizer's base learning rate.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` to place right after the
      learning rate.
    """
    min_lr = self.min_lr
    if base.is_schedule(learning_rate):
      if v.concrete(min_lr) != 0.0:
        raise ValueError(
          "optx.keras.ReduceLROnPlateau(min_lr=...) is an absolute learning"
          " rate and needs a constant learning_rate, got a schedule and"
          f" min_lr={min_lr}; use min_lr=0.0"
        )
      min_scale: ArrayLike = 0.0
    else:
      lr0 = v.concrete(learning_rate)
      if lr0 is None:  # traced: the same floor, in jnp
        lr = jnp.asarray(learning_rate, jnp.float32)
        safe = jnp.where(lr > min_lr, lr, 1.0)
        min_scale = jnp.where(lr > min_lr, min_lr / safe, 1.0)
      else:
        min_scale = min_lr / lr0 if lr0 > min_lr else 1.0
    return plateau_lib.reduce_on_plateau(
      self.factor,
      self.patience,
      min_delta=self.min_delta,
      mode=self.mode,
      cooldown=self.cooldown,
      min_scale=min_scale,
    )


class LearningRateScheduler:
  r"""Keras's ``LearningRateScheduler`` callback as a schedule of the step.

  Keras calls ``schedule(epoch, lr)`` (or ``schedule(epoch)``) at the start of
  every epoch, epochs counted from 0, and sets the learning rate to the
  result. Here the epoch of update :math:`k` (0 on the first update) is
  :math:`\lfloor k / n \rfloor` with :math:`n` = ``steps_per_epoch``:

  .. math::
    \eta(k) = f(\lfloor k/n \rfloor)
    \quad \text{or, two-argument form,} \quad
    \eta(k) = f(e, f(e - 1, \dots f(0, \eta_0))), \; e = \lfloor k/n \rfloor

  where :math:`f` is ``schedule`` and :math:`\eta_0` the optimizer's
  ``learning_rate``. Pass it to an ``optx.keras`` optimizer as
  ``callbacks=[...]``. As in Keras, ``schedule`` is called on the host with a
  Python int epoch (and the current rate as a Python float), once per epoch,
  at its first update, and its result rounded to float32 is the rate of that
  epoch: the optimizer carries the rate in its state
  (:class:`LearningRateSchedulerState`), and a ``jax.lax.cond`` calls the
  host (``jax.pure_callback``) only when an epoch starts. So any Python
  function works unchanged (``if epoch < 5:``, ``table.get(epoch)``) and
  gives Keras's numbers exactly; the cost is the condition at every update
  (free on a CPU, a synchronization with the host on a GPU) and one host call
  per epoch. :meth:`as_schedule` is a pure function of the step instead (see
  :func:`optx.epoch_schedule`).

  Args:
    schedule: ``f(epoch) -> lr`` or ``f(epoch, lr) -> lr``.
    steps_per_epoch: updates per epoch (>= 1). Keras's ``fit`` knows it from
      the data; optx must be told, here or later as
      ``scheduler.steps_per_epoch = n``, before the optimizer is built.
    verbose: accepted for compatibility; optx prints nothing.

  Examples:
    >>> import optx
    >>> scheduler = optx.keras.LearningRateScheduler(
    ...     lambda epoch: 0.01 * 0.1 ** (epoch / 20), steps_per_epoch=100)
    >>> schedule = scheduler.as_schedule(0.01)
    >>> print(f"{schedule(1999):.5f} {schedule(2000):.5f}")
    0.00112 0.00100
  """

  def __init__(
    self,
    schedule: Callable[..., Any],
    steps_per_epoch: int | None = None,
    verbose: int = 0,
  ):
    call = "keras.LearningRateScheduler"
    if not callable(schedule):
      raise TypeError(f"optx.{call}(schedule=...) must be callable, got {schedule!r}")
    if steps_per_epoch is not None:
      v.check_integer(call, "steps_per_epoch", steps_per_epoch, lower=1)
    if accepts(schedule, 0, 0.0):
      self.two_arguments = True
    elif accepts(schedule, 0):
      self.two_arguments = False
    else:
      raise TypeError(
        f"optx.{call}(schedule=...) must take (epoch) or (epoch, lr), got {schedule!r}"
      )
    self.schedule = schedule
    self.steps_per_epoch = steps_per_epoch
    self.verbose = verbose

  def __repr__(self) -> str:
    steps = self.steps_per_epoch
    return f"LearningRateScheduler({self.schedule!r}, steps_per_epoch={steps})"

  def _epochs(self) -> int:
    call = "keras.LearningRateScheduler"
    if self.steps_per_epoch is None:
      raise ValueError(
        f"optx.{call}(steps_per_epoch=...) is needed to turn epochs into"
        " update steps (Keras's fit counts epochs, optx counts updates), got None"
      )
    v.check_integer(call, "steps_per_epoch", self.steps_per_epoch, lower=1)
    return self.steps_per_epoch

  def _check_rate(self, learning_rate: Any) -> None:
    if base.is_schedule(learning_rate):
      raise ValueError(
        "optx.keras.LearningRateScheduler needs a number as the optimizer's"
        " learning_rate, got a schedule (Keras refuses it too)"
      )

  def as_schedule(self, learning_rate: ArrayLike) -> base.Schedule:
    """The schedule of the step, starting from the optimizer's ``learning_rate``.

    A pure function of the step, as :func:`optx.epoch_schedule` makes one; the
    two-argument form replays its recurrence from epoch 0 at every call.

    Args:
      learning_rate: :math:`\\eta_0`, the rate before the first epoch (only
        the two-argument form reads it).

    Returns:
      A schedule, ``step -> value``.
    """
    steps_per_epoch = self._epochs()
    self._check_rate(learning_rate)
    if not self.two_arguments:
      return schedules_lib.epoch_schedule(self.schedule, steps_per_epoch)
    spec = jax.ShapeDtypeStruct((), jnp.float32)
    fn, _ = schedules_lib.python_function(
      "keras.LearningRateScheduler", self.schedule, spec
    )

    def epoch_rate(epoch):
      lr0 = jnp.asarray(learning_rate, jnp.float32)
      last = jnp.asarray(epoch).astype(jnp.int32)
      return jax.lax.fori_loop(0, last + 1, lambda e, lr: fn(e, lr), lr0)

    return schedules_lib.epoch_schedule(epoch_rate, steps_per_epoch)

  def transform(
    self,
    optimizer: Callable[[base.ScalarOrSchedule], optax.GradientTransformation],
    learning_rate: base.ScalarOrSchedule,
    adjust: Callable[[jax.Array], base.ScalarOrSchedule] = lambda rate: rate,
  ) -> optax.GradientTransformationExtraArgs:
    r"""``optimizer`` at the rate this callback sets, carried in the state.

    .. math::
      r_e = f(e, r_{e-1}) \text{ or } f(e), \quad r_{-1} = \eta_0, \quad
      e = \lfloor k/n \rfloor

    with :math:`f` called on the host once, at the first update of epoch
    :math:`e`, as Keras's callback does; ``optimizer(adjust(r_e))`` makes the
    update (``adjust`` adds tf.keras 2's ``decay=``). The count advances one
    update at a time, so every epoch is visited; a state whose count is set
    by hand to a later epoch calls ``schedule`` once, for that epoch. The
    ``optx.keras`` optimizers call it for you.
    """
    steps_per_epoch = self._epochs()
    self._check_rate(learning_rate)
    fn, two_arguments = self.schedule, self.two_arguments
    lr0 = np.asarray(learning_rate, np.float32)
    # Keras calls the schedule at the first epoch; so does this probe, so that
    # a schedule with a bug of its own fails here, where it is built.
    float(fn(0, float(lr0)) if two_arguments else fn(0))

    @functools.lru_cache(maxsize=4096)
    def host(epoch: int, rate: float) -> np.ndarray:
      return np.asarray(fn(epoch, rate) if two_arguments else fn(epoch), np.float32)

    def new_rate(epoch, rate):
      out = jax.ShapeDtypeStruct((), jnp.float32)
      call_host = lambda e, r: host(int(e), float(r))  # noqa: E731
      return jax.pure_callback(call_host, out, epoch, rate, vmap_method="sequential")

    def init_fn(params):
      scheduler = LearningRateSchedulerState(
        count=base.zero_count(),
        epoch=jnp.asarray(-1, jnp.int32),
        learning_rate=base.fresh(lr0, jnp.float32),
      )
      rate = adjust(scheduler.learning_rate)
      return ScheduledLearningRateState(scheduler, optimizer(rate).init(params))

    def update_fn(updates, state, params=None, **extra_args):
      scheduler = state.scheduler
      epoch = jnp.maximum(scheduler.count, 0) // steps_per_epoch
      rate = jax.lax.cond(
        epoch > scheduler.epoch,
        new_rate,
        lambda e, r: r,
        epoch,
        scheduler.learning_rate,
      )
      inner = optax.with_extra_args_support(optimizer(adjust(rate)))
      updates, inner_state = inner.update(updates, state.inner, params, **extra_args)
      scheduler = LearningRateSchedulerState(
        count=base.increment(scheduler.count),
        epoch=jnp.maximum(epoch, scheduler.epoch),
        learning_rate=rate,
      )
      return updates, ScheduledLearningRateState(scheduler, inner_state)

    elementwise = isinstance(optimizer(learning_rate), base.Elementwise)
    made = base.Elementwise if elementwise else optax.GradientTransformationExtraArgs
    return made(init_fn, update_fn)


class LearningRateSchedulerState(NamedTuple):
  """The rate a :class:`LearningRateScheduler` set, and when.

  Attributes:
    count: updates so far (int32; saturates at the int32 maximum).
    epoch: the last epoch whose rate was set (-1 before the first update).
    learning_rate: that epoch's rate, ``schedule(epoch, previous rate)`` or
      ``schedule(epoch)``, rounded to float32.
  """

  count: jax.Array
  epoch: jax.Array
  learning_rate: jax.Array


class ScheduledLearningRateState(NamedTuple):
  """State of an ``optx.keras`` optimizer with a :class:`LearningRateScheduler`."""

  scheduler: LearningRateSchedulerState
  inner: optax.OptState


class WeightDecayState(NamedTuple):
  """Deprecated: no ``optx.keras`` state uses it any more.

  Keras optimizers with ``weight_decay`` used to keep the decay in a state of
  its own; the decay is now part of each optimizer's step. The name stays so
  that imports keep working.
  """

  inner: optax.OptState
  weight_decay: optax.OptState
