"""Early stopping: end training when a measurement stops improving; keep the best parameters.

The book pairs performance scheduling with Keras's
``EarlyStopping(patience=..., restore_best_weights=True)``. Here it is a pair
of pure functions over a small state, so that it fits inside a jitted
training loop (a ``lax.scan`` over epochs, or a ``while_loop`` on
``state.stop``): :func:`early_stopping` returns ``init(params)`` and
``update(state, value, params)``, where ``value`` is the same scalar
measurement per epoch that :func:`optx.observe` gives performance scheduling.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v


@functools.partial(
  jax.tree_util.register_dataclass,
  data_fields=["patience", "min_delta"],
  meta_fields=["mode"],
)
@dataclasses.dataclass(frozen=True)
class EarlyStoppingConfig:
  """The rule's hyperparameters, kept in the state (arrays, so a sweep can vary them)."""

  patience: jax.Array
  min_delta: jax.Array
  mode: str = "min"


class EarlyStoppingState(NamedTuple):
  """State of :func:`early_stopping`.

  Attributes:
    best: the best measurement so far (±inf before the first).
    wait: measurements since the last improvement (Keras's ``wait``).
    count: measurements recorded (the epoch index of the next one).
    best_count: the index of the best measurement (Keras's ``best_epoch``).
    stop: whether patience ran out; once True, updates change nothing.
    best_params: the parameters at the best measurement, to restore at the
      end (None with ``restore_best_params=False``).
    config: the rule's hyperparameters.
  """

  best: jax.Array
  wait: jax.Array
  count: jax.Array
  best_count: jax.Array
  stop: jax.Array
  best_params: Any
  config: EarlyStoppingConfig


class EarlyStopping(NamedTuple):
  """What :func:`early_stopping` returns: two pure, jittable functions."""

  init: Callable[[optax.Params], EarlyStoppingState]
  """``init(params)``: the state before the first measurement."""
  update: Callable[..., EarlyStoppingState]
  """``update(state, value, params, *, axis_name=None)``: records one measurement."""


def early_stopping(
  patience: int = 0,
  *,
  min_delta: ArrayLike = 0.0,
  mode: Literal["min", "max"] = "min",
  restore_best_params: bool = True,
) -> EarlyStopping:
  r"""Early stopping as a state: stop after ``patience`` measurements without progress.

  At each measurement :math:`x` (once per epoch, the validation loss), with
  Keras's ``EarlyStopping`` rule (``baseline=None``, ``start_from_epoch=0``):

  1. ``wait += 1``;
  2. if :math:`x + \delta < x^*` (``mode="min"``; :math:`x - \delta > x^*`
     for ``"max"``), :math:`x^* \leftarrow x`, ``wait = 0`` and the current
     parameters are kept as the best;
  3. else, if ``wait >= patience`` and this is not the first measurement,
     ``stop`` becomes True.

  :math:`\delta` is ``min_delta`` (absolute) and :math:`x^*` starts at
  :math:`+\infty` (:math:`-\infty` for ``"max"``), so the first measurement
  is always an improvement. A NaN measurement is never one (a diverged run
  stops after ``patience`` epochs). Once ``stop`` is True the state no longer
  changes: leave the loop, or freeze the parameters with
  ``jnp.where(state.stop, ...)`` inside a scan. At the end, use
  ``state.best_params``, as Keras's ``restore_best_weights=True`` restores
  the best epoch's weights when training ends (stopped early or not).

  Args:
    patience: measurements without improvement before stopping (>= 0).
    min_delta: :math:`\delta` (>= 0), the smallest change that counts.
    mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
    restore_best_params: keep a copy of the best parameters in the state.

  Returns:
    An :class:`EarlyStopping` with ``init(params)`` and
    ``update(state, value, params)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> stopper = optx.early_stopping(patience=2)
    >>> state = stopper.init(jnp.zeros(1))
    >>> for epoch, loss in enumerate([0.9, 0.5, 0.6, 0.7, 0.4]):
    ...   state = stopper.update(state, loss, jnp.array([float(epoch)]))
    ...   if state.stop:
    ...     break
    >>> print(epoch, int(state.best_count), f"{state.best_params[0]:.1f}")
    3 1 1.0
  """
  call = "early_stopping"
  v.check_integer(call, "patience", patience, lower=0)
  v.check_number(call, "min_delta", min_delta, lower=0, schedule_ok=False)
  v.check_choice(call, "mode", mode, ["min", "max"])
  v.check_bool(call, "restore_best_params", restore_best_params)

  def init_fn(params: optax.Params) -> EarlyStoppingState:
    best_params = None
    if restore_best_params:
      best_params = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
    return EarlyStoppingState(
      best=jnp.asarray(-jnp.inf if mode == "max" else jnp.inf, jnp.float32),
      wait=jnp.zeros([], jnp.int32),
      count=jnp.zeros([], jnp.int32),
      best_count=jnp.zeros([], jnp.int32),
      stop=jnp.zeros([], jnp.bool_),
      best_params=best_params,
      config=EarlyStoppingConfig(
        patience=base.fresh(patience, jnp.int32),
        min_delta=base.fresh(min_delta, jnp.float32),
        mode=mode,
      ),
    )

  def update_fn(
    state: EarlyStoppingState,
    value: ArrayLike,
    params: optax.Params | None = None,
    *,
    axis_name: Any = None,
  ) -> EarlyStoppingState:
    x = plateau_lib._measurement("early_stopping(...).update", value)
    if axis_name is not None:
      x = jax.lax.pmean(x, axis_name)
    if restore_best_params and params is None:
      raise ValueError(
        "optx.early_stopping(...).update(state, value, params) needs params to"
        " keep the best ones (restore_best_params=True)"
      )
    return _record(state, x, params)

  return EarlyStopping(init_fn, update_fn)


def _record(
  state: EarlyStoppingState, x: jax.Array, params: optax.Params | None
) -> EarlyStoppingState:
  c = state.config
  delta = c.min_delta
  improved = (x - delta > state.best) if c.mode == "max" else (x + delta < state.best)
  wait = jnp.where(improved, 0, base.increment(state.wait))
  stop = ~improved & (wait >= c.patience) & (state.count > 0)
  best_params = state.best_params
  if best_params is not None:
    # Keras keeps the first epoch's weights even when that epoch is no improvement.
    keep = improved | (state.count == 0)
    best_params = jax.tree.map(
      lambda new, old: jnp.where(keep, new, old), params, best_params
    )
  new = EarlyStoppingState(
    best=jnp.where(improved, x, state.best),
    wait=wait,
    count=base.increment(state.count),
    best_count=jnp.where(improved, state.count, state.best_count),
    stop=stop,
    best_params=best_params,
    config=c,
  )
  # Stopped is final: Keras runs no further epoch.
  return jax.tree.map(lambda old, n: jnp.where(state.stop, old, n), state, new)
