"""Keras's learning-rate callbacks as optx schedules and plateau transforms.

Keras changes ``optimizer.learning_rate`` from a callback between epochs; optx
has no training loop to call back from, so these objects only hold Keras's
configuration. Pass them to an ``optx.keras`` optimizer as
``callbacks=[...]``: the optimizer turns a :class:`LearningRateScheduler`
into its learning-rate schedule and a :class:`ReduceLROnPlateau` into an
:func:`optx.reduce_on_plateau` placed where the learning rate is applied.
"""

from __future__ import annotations

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
from optx._src import transform
from optx._src import validation as v

_NOT_TRACEABLE = (
  jax.errors.ConcretizationTypeError,
  jax.errors.TracerIntegerConversionError,
  jax.errors.TracerArrayConversionError,
)


def concrete(value: Any) -> float | None:
  """``value`` as a Python float, or None when it is traced or a schedule."""
  if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
    return None
  try:
    return float(np.asarray(value))
  except _NOT_TRACEABLE:
    return None


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
    v.check_choice(call, "mode", mode, ["auto", "min", "max"])
    v.check_number(call, "min_delta", min_delta, schedule_ok=False)
    v.check_integer(call, "cooldown", cooldown, lower=0)
    v.check_number(call, "min_lr", min_lr, lower=0, schedule_ok=False)
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
  ) -> optax.GradientTransformationExtraArgs:
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
    if callable(learning_rate) and not isinstance(
      learning_rate, (jax.Array, np.ndarray)
    ):
      if concrete(min_lr) != 0.0:
        raise ValueError(
          "optx.keras.ReduceLROnPlateau(min_lr=...) is an absolute learning"
          " rate and needs a constant learning_rate, got a schedule and"
          f" min_lr={min_lr}; use min_lr=0.0"
        )
      min_scale: ArrayLike = 0.0
    else:
      lr0 = concrete(learning_rate)
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


def _needs_a_concrete_epoch(error: TypeError) -> bool:
  """Whether ``error``, raised while tracing a schedule, is about the tracer.

  Besides jax's own errors (a Python branch, ``int(epoch)``), a schedule that
  hashes its epoch (``table.get(epoch)``, ``epoch in {5, 10}``) fails with
  Python's ``unhashable type: '...Tracer'``. Both run on the host instead;
  any other TypeError is the schedule's own and is raised.
  """
  return isinstance(error, _NOT_TRACEABLE) or "Tracer" in str(error)


def accepts(fn: Callable[..., Any], *args: Any) -> bool:
  """Whether ``fn`` can be called with ``args`` (one argument if it has no signature)."""
  try:
    inspect.signature(fn).bind(*args)
  except TypeError:
    return False
  except ValueError:  # no signature (some builtins): assume the one-argument form
    return len(args) == 1
  return True


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
  ``callbacks=[...]``. With the two-argument form, or a ``schedule`` that runs
  on the host, the optimizer carries the current rate in its state
  (:class:`LearningRateSchedulerState`) and calls ``schedule`` once per
  epoch, at its first update, as Keras does; :meth:`as_schedule` is a pure
  function of the step instead. ``schedule`` is traced with an int32 epoch
  when it can be (``0.01 * 0.1 ** (epoch / 20)``); one that branches in
  Python on the epoch (``if epoch < 5:``) or hashes it (``table.get(epoch)``,
  ``epoch in {5, 10}``) is called on the host through ``jax.pure_callback``
  instead, which works under ``jit`` but is slower and does not ``vmap``
  cheaply.

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
    return (
      f"LearningRateScheduler({self.schedule!r},"
      f" steps_per_epoch={self.steps_per_epoch})"
    )

  def _epoch_fn(self) -> tuple[Callable[..., jax.Array], bool]:
    """``schedule`` as a float32-valued jax function, and whether it is traced.

    One that cannot be traced is called on the host through a callback.
    """
    fn = self.schedule
    n_args = 2 if self.two_arguments else 1
    specs = [jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), jnp.float32)]
    try:
      jax.eval_shape(lambda *a: jnp.asarray(fn(*a), jnp.float32), *specs[:n_args])
    except TypeError as error:  # jax's tracer errors are TypeErrors too
      if not _needs_a_concrete_epoch(error):
        raise

      def host(*args):
        python_args = (int(args[0]), *(float(a) for a in args[1:]))
        return np.float32(fn(*python_args))

      def on_host(*args):
        out = jax.ShapeDtypeStruct((), jnp.float32)
        return jax.pure_callback(host, out, *args, vmap_method="sequential")

      return on_host, False
    return (lambda *a: jnp.asarray(fn(*a), jnp.float32)), True

  def _traced(self) -> bool:
    """Whether ``schedule`` can be traced (else it runs on the host)."""
    return self._epoch_fn()[1]

  def _steps_per_epoch(self) -> int:
    call = "keras.LearningRateScheduler"
    if self.steps_per_epoch is None:
      raise ValueError(
        f"optx.{call}(steps_per_epoch=...) is needed to turn epochs into"
        " update steps (Keras's fit counts epochs, optx counts updates), got None"
      )
    v.check_integer(call, "steps_per_epoch", self.steps_per_epoch, lower=1)
    return self.steps_per_epoch

  def as_schedule(self, learning_rate: ArrayLike) -> base.Schedule:
    """The schedule of the step, starting from the optimizer's ``learning_rate``.

    Args:
      learning_rate: :math:`\\eta_0`, the rate before the first epoch (only
        the two-argument form reads it).

    Returns:
      A schedule, ``step -> value``.
    """
    steps_per_epoch = self._steps_per_epoch()
    self._check_two_argument_rate(learning_rate)
    fn, _ = self._epoch_fn()
    if not self.two_arguments:
      return schedules_lib.epoch_schedule(fn, steps_per_epoch)

    def epoch_rate(epoch):
      lr0 = jnp.asarray(learning_rate, jnp.float32)
      return jax.lax.fori_loop(0, epoch + 1, lambda e, lr: fn(e, lr), lr0)

    return schedules_lib.epoch_schedule(epoch_rate, steps_per_epoch)

  def _check_two_argument_rate(self, learning_rate: Any) -> None:
    if (
      self.two_arguments and concrete(learning_rate) is None and callable(learning_rate)
    ):
      raise ValueError(
        "optx.keras.LearningRateScheduler with a schedule(epoch, lr) needs a"
        " number as the optimizer's learning_rate, got a schedule (Keras"
        " refuses it too)"
      )

  def _as_transform(
    self,
    learning_rate: ArrayLike,
    adjust: Callable[[jax.Array, jax.Array], jax.Array],
  ) -> optax.GradientTransformation:
    r"""The schedule as a learning-rate block that carries the rate in its state.

    .. math::
      u \leftarrow -\operatorname{adjust}(r_e, k)\, g, \qquad
      r_e = f(e, r_{e-1}) \text{ or } f(e), \; r_{-1} = \eta_0, \;
      e = \lfloor k/n \rfloor

    with :math:`f` called once, at the first update of each epoch, as Keras's
    callback does. Used for the two-argument form, which :meth:`as_schedule`
    can only replay from epoch 0 at every update (O(epoch) calls), and for a
    one-argument ``schedule`` that runs on the host (a callback per update
    otherwise). The optimizer's count advances one update at a time, so every
    epoch is visited; a state whose count is set by hand to a later epoch
    calls ``schedule`` once, for that epoch. ``adjust`` maps the epoch's rate
    and the update's count to the rate applied (tf.keras 2's ``decay=``).
    """
    steps_per_epoch = self._steps_per_epoch()
    self._check_two_argument_rate(learning_rate)
    fn, traced = self._epoch_fn()
    two_arguments = self.two_arguments

    def init_fn(params):
      del params
      return LearningRateSchedulerState(
        count=base.zero_count(),
        epoch=jnp.asarray(-1, jnp.int32),
        learning_rate=jnp.asarray(learning_rate, jnp.float32),
      )

    def update_fn(updates, state, params=None):
      del params
      epoch = jnp.maximum(state.count, 0) // steps_per_epoch

      def new_rate(rate):
        return fn(epoch, rate) if two_arguments else fn(epoch)

      starts = epoch > state.epoch
      if traced:  # a select, not control flow: no host round trip on GPU
        rate = jnp.where(starts, new_rate(state.learning_rate), state.learning_rate)
      else:  # a host callback: only at the first update of each epoch
        rate = jax.lax.cond(starts, new_rate, lambda r: r, state.learning_rate)
      negative = transform._per_dtype((-adjust(rate, state.count)).astype)
      updates = jax.tree.map(lambda g: negative(g.dtype) * g, updates)
      new_state = LearningRateSchedulerState(
        count=base.increment(state.count),
        epoch=jnp.maximum(epoch, state.epoch),
        learning_rate=rate,
      )
      return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


class LearningRateSchedulerState(NamedTuple):
  """State of an ``optx.keras`` optimizer's :class:`LearningRateScheduler`.

  Used for a ``schedule(epoch, lr)``, and for a ``schedule(epoch)`` that runs
  on the host (one that branches in Python or hashes its epoch); a traced
  ``schedule(epoch)`` is a pure function of the step and needs no state.

  Attributes:
    count: updates so far (int32; saturates at the int32 maximum).
    epoch: the last epoch whose rate was set (-1 before the first update).
    learning_rate: that epoch's rate, ``schedule(epoch, previous rate)`` or
      ``schedule(epoch)``.
  """

  count: jax.Array
  epoch: jax.Array
  learning_rate: jax.Array


def scheduled_rate(opt_state: optax.OptState) -> jax.Array:
  """The product of the rates of every ``LearningRateSchedulerState`` in ``opt_state``."""
  states = jax.tree.leaves(opt_state, is_leaf=_is_scheduler_state)
  result = jnp.ones([], jnp.float32)
  for state in states:
    if _is_scheduler_state(state):
      result = result * state.learning_rate
  return result


def _is_scheduler_state(x: Any) -> bool:
  return isinstance(x, LearningRateSchedulerState)
