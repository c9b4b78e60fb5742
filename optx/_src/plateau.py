"""Performance scheduling: reduce the learning rate when a measurement plateaus.

The book's ``ReduceLROnPlateau``: measure the validation error every N steps
and lower the learning rate by a factor when it stops dropping. Here the
reduction is a multiplicative ``scale`` held in the optimizer state; the
aliases accept the transform as ``plateau=`` and place it where the learning
rate is applied (inside the momentum buffer, as Keras lowers the learning
rate). :func:`observe` records a measurement into every plateau state of an
optimizer state, however deeply chained.

optax has ``optax.contrib.reduce_on_plateau``; optx writes its own because the
decision rules differ (absolute ``min_delta``, Keras's cooldown counting and
floor, a max mode, PyTorch's rule for ``optx.torch``) and because the
hyperparameters must live in the state for ``observe`` to need nothing else.
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
from optx._src import validation as v


class ReduceOnPlateau(base.Elementwise):
  """What :func:`reduce_on_plateau` returns: a transformation taking ``value=``.

  Its own type, so that an optimizer's ``plateau=`` can tell it from any
  other transformation (another one there would, for example, apply the
  learning rate twice).
  """

  __slots__ = ()


@functools.partial(
  jax.tree_util.register_dataclass,
  data_fields=["factor", "patience", "min_delta", "cooldown", "min_scale", "eps"],
  meta_fields=["mode", "threshold_mode", "rule"],
)
@dataclasses.dataclass(frozen=True)
class PlateauConfig:
  """The decision rule's hyperparameters, kept in the state.

  The numbers are arrays (a sweep can vary them); the mode, threshold mode and
  rule are static, so a measurement runs only the rule it needs.
  """

  factor: jax.Array
  patience: jax.Array
  min_delta: jax.Array
  cooldown: jax.Array
  min_scale: jax.Array
  eps: jax.Array
  mode: str = "min"
  threshold_mode: str = "abs"
  rule: str = "keras"


class ReduceOnPlateauState(NamedTuple):
  """State of :func:`reduce_on_plateau`.

  Attributes:
    scale: the current multiplier of the learning rate (starts at 1).
    best: the best measurement so far (±inf before the first).
    wait: measurements since the last improvement (Keras's ``wait``,
      PyTorch's ``num_bad_epochs``).
    cooldown_counter: measurements left in the cooldown.
    config: the rule's hyperparameters.
  """

  scale: jax.Array
  best: jax.Array
  wait: jax.Array
  cooldown_counter: jax.Array
  config: PlateauConfig


def reduce_on_plateau(
  factor: ArrayLike = 0.5,
  patience: int = 5,
  *,
  min_delta: ArrayLike = 1e-4,
  mode: Literal["min", "max"] = "min",
  cooldown: int = 0,
  min_scale: ArrayLike = 0.0,
  threshold_mode: Literal["abs", "rel"] = "abs",
  rule: Literal["keras", "torch"] = "keras",
  eps: ArrayLike = 0.0,
) -> ReduceOnPlateau:
  r"""Performance scheduling: scales updates down when a measurement plateaus.

  Updates are multiplied by a scale :math:`\lambda` (1 at first). At each
  measurement :math:`x` (:func:`observe`, or ``update(..., value=x)``), with
  Keras's rule (the book's ``ReduceLROnPlateau``):

  1. in cooldown: ``cooldown_counter -= 1``, ``wait = 0``;
  2. if :math:`x < x^* - \delta` (``mode="min"``; :math:`x > x^* + \delta`
     for ``"max"``), :math:`x^* \leftarrow x` and ``wait = 0``;
  3. else, out of cooldown, ``wait += 1``; when ``wait >= patience`` and
     :math:`\lambda > \lambda_{min}`:
     :math:`\lambda \leftarrow \max(f \lambda, \lambda_{min})`,
     ``cooldown_counter = cooldown``, ``wait = 0``.

  :math:`f` is ``factor``, :math:`\delta` is ``min_delta`` (absolute; with
  ``threshold_mode="rel"`` the bound is :math:`x^*(1 \mp \delta)`) and
  :math:`\lambda_{min}` is ``min_scale``. The first measurement is always an
  improvement. ``rule="torch"`` follows PyTorch's ``ReduceLROnPlateau``
  instead (count, then cooldown, reduce when ``wait > patience``, and only
  if :math:`\lambda` falls by more than ``eps``). A NaN measurement is ignored.

  Args:
    factor: :math:`f` in (0, 1) (the book uses 0.5).
    patience: measurements without improvement before a reduction (>= 0).
    min_delta: :math:`\delta` (>= 0).
    mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
    cooldown: measurements to wait after a reduction (>= 0).
    min_scale: :math:`\lambda_{min}` in [0, 1].
    threshold_mode: ``"abs"`` (Keras) or ``"rel"`` (PyTorch's default).
    rule: ``"keras"`` or ``"torch"``.
    eps: smallest change of :math:`\lambda` applied (``rule="torch"``).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` taking ``value=``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.sgd(0.1, plateau=optx.reduce_on_plateau(factor=0.5, patience=2))
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [1.0, 1.0, 1.0]:
    ...   state = optx.observe(state, loss)
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.0500
  """
  call = "reduce_on_plateau"
  v.check_factor(call, "factor", factor)
  v.check_integer(call, "patience", patience, lower=0)
  v.check_number(call, "min_delta", min_delta, lower=0, schedule_ok=False)
  v.check_choice(call, "mode", mode, ["min", "max"])
  v.check_integer(call, "cooldown", cooldown, lower=0)
  v.check_number(call, "min_scale", min_scale, lower=0, upper=1, schedule_ok=False)
  v.check_choice(call, "threshold_mode", threshold_mode, ["abs", "rel"])
  v.check_choice(call, "rule", rule, ["keras", "torch"])
  v.check_number(call, "eps", eps, lower=0, schedule_ok=False)

  def init_fn(params) -> Any:
    del params
    config = PlateauConfig(
      factor=base.fresh(factor, jnp.float32),
      patience=base.fresh(patience, jnp.int32),
      min_delta=base.fresh(min_delta, jnp.float32),
      cooldown=base.fresh(cooldown, jnp.int32),
      min_scale=base.fresh(min_scale, jnp.float32),
      eps=base.fresh(eps, jnp.float32),
      mode=mode,
      threshold_mode=threshold_mode,
      rule=rule,
    )
    return ReduceOnPlateauState(
      scale=jnp.ones([], jnp.float32),
      best=jnp.asarray(-jnp.inf if mode == "max" else jnp.inf, jnp.float32),
      wait=jnp.zeros([], jnp.int32),
      cooldown_counter=jnp.zeros([], jnp.int32),
      config=config,
    )

  def update_fn(updates, state, params=None, *, value=None, **extra_args) -> Any:
    del params, extra_args
    if value is not None:
      state = _record(state, _measurement("reduce_on_plateau(...).update", value))
    updates = jax.tree.map(lambda u: state.scale.astype(u.dtype) * u, updates)
    return updates, state

  return ReduceOnPlateau(init_fn, update_fn)


def _is_improvement(state: ReduceOnPlateauState, x: jax.Array) -> jax.Array:
  c, best = state.config, state.best
  if c.mode == "max":  # compare -x against -best
    x, best = -x, -best
  # Relative mode is PyTorch's literal ``best * (1 -/+ threshold)``.
  if c.threshold_mode == "rel":
    return x < best * (1 - c.min_delta if c.mode == "min" else 1 + c.min_delta)
  return x < best - c.min_delta


def _measurement(call: str, value: Any) -> jax.Array:
  """``value`` as a float32 scalar; a clear error for anything else.

  A measurement of another shape would broadcast into ``scale`` and ``best``
  and fail (or, worse, broadcast) in a later update, far from its cause.
  """
  if isinstance(value, (str, bytes)) or value is None:
    raise TypeError(f"optx.{call}(value=...) must be a real scalar, got {value!r}")
  x = jnp.asarray(value)
  if x.ndim != 0:
    raise ValueError(
      f"optx.{call}(value=...) must be a scalar (one measurement), got shape"
      f" {x.shape}; reduce it first (e.g. its mean)"
    )
  if not (
    jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
  ):
    raise TypeError(
      f"optx.{call}(value=...) must be a real number, got dtype {x.dtype}"
    )
  return x.astype(jnp.float32)


def _keras_rule(state: ReduceOnPlateauState, x: jax.Array) -> ReduceOnPlateauState:
  """Keras's ``on_epoch_end``: cooldown first, then improvement, then wait."""
  c, improved = state.config, _is_improvement(state, x)
  cooldown = jnp.maximum(state.cooldown_counter - 1, 0)
  wait = jnp.where(state.cooldown_counter > 0, 0, state.wait)
  in_cooldown = cooldown > 0
  wait = jnp.where(improved | in_cooldown, 0, base.increment(wait))
  reduce = ~improved & ~in_cooldown & (wait >= c.patience) & (state.scale > c.min_scale)
  return ReduceOnPlateauState(
    scale=jnp.where(
      reduce, jnp.maximum(state.scale * c.factor, c.min_scale), state.scale
    ),
    best=jnp.where(improved, x, state.best),
    wait=jnp.where(reduce, 0, wait),
    cooldown_counter=jnp.where(reduce, c.cooldown, cooldown),
    config=c,
  )


def _torch_rule(state: ReduceOnPlateauState, x: jax.Array) -> ReduceOnPlateauState:
  """PyTorch's ``step(metrics)``: count first, cooldown resets it, reduce when > patience."""
  c, improved = state.config, _is_improvement(state, x)
  in_cooldown = state.cooldown_counter > 0
  wait = jnp.where(improved | in_cooldown, 0, base.increment(state.wait))
  cooldown = jnp.where(in_cooldown, state.cooldown_counter - 1, 0)
  reduce = wait > c.patience
  reduced = jnp.maximum(state.scale * c.factor, c.min_scale)
  return ReduceOnPlateauState(
    scale=jnp.where(reduce & (state.scale - reduced > c.eps), reduced, state.scale),
    best=jnp.where(improved, x, state.best),
    wait=jnp.where(reduce, 0, wait),
    cooldown_counter=jnp.where(reduce, c.cooldown, cooldown),
    config=c,
  )


def _record(state: ReduceOnPlateauState, value: ArrayLike) -> ReduceOnPlateauState:
  """One measurement through the state's rule; a non-finite one leaves it as is."""
  x = jnp.asarray(value, jnp.float32)
  rule = _torch_rule if state.config.rule == "torch" else _keras_rule
  new = rule(state, x)
  return jax.tree.map(lambda a, b: jnp.where(jnp.isfinite(x), a, b), new, state)


def _is_plateau(x: Any) -> bool:
  return isinstance(x, ReduceOnPlateauState)


def observe(
  opt_state: optax.OptState, value: ArrayLike, *, axis_name: Any = None
) -> optax.OptState:
  r"""Records one measurement into every plateau state inside ``opt_state``.

  Call it every N steps with the validation loss (or the metric the plateau
  transforms watch); the decision applies from the next update on. Jittable.
  Under ``pmap``/``shard_map``, pass ``axis_name`` so that the measurement is
  averaged over that axis first and every replica takes the same decision.

  Args:
    opt_state: any optimizer state, e.g. of ``optax.chain(...)``.
    value: the scalar measurement. NaN is ignored.
    axis_name: the mapped axis to average ``value`` over, if any.

  Returns:
    ``opt_state`` with every :class:`ReduceOnPlateauState` updated.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.adam(1e-3, plateau=optx.reduce_on_plateau(patience=0))
    >>> state = optx.observe(tx.init(jnp.zeros(2)), 1.0)
    >>> state = optx.observe(state, 1.0)
    >>> print(optx.plateau_scale(state))
    0.5
  """
  if not has_plateau(opt_state):
    raise ValueError(
      "optx.observe: the optimizer state holds no plateau, so the measurement"
      " would change nothing. Give the optimizer one:"
      " optx.sgd(..., plateau=optx.reduce_on_plateau(...)),"
      " optx.keras.SGD(..., callbacks=[optx.keras.ReduceLROnPlateau(...)]) or"
      " optx.torch.SGD(..., plateau=optx.torch.ReduceLROnPlateau(...))"
    )
  value = _measurement("observe", value)
  if axis_name is not None:
    value = jax.lax.pmean(value, axis_name)
  return jax.tree.map(
    lambda s: _record(s, value) if _is_plateau(s) else s,
    opt_state,
    is_leaf=_is_plateau,
  )


def has_plateau(opt_state: optax.OptState) -> bool:
  """Whether ``opt_state`` holds a plateau (so that :func:`observe` acts on it).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> plateau = optx.reduce_on_plateau()
    >>> print(optx.has_plateau(optx.sgd(0.1, plateau=plateau).init(jnp.zeros(1))))
    True
  """
  return any(map(_is_plateau, jax.tree.leaves(opt_state, is_leaf=_is_plateau)))


def plateau_scale(opt_state: optax.OptState) -> jax.Array:
  """Returns the product of every plateau scale inside ``opt_state`` (1 if none).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> print(optx.plateau_scale(optx.sgd(0.1).init(jnp.zeros(1))))
    1.0
  """
  scales = [
    s.scale for s in jax.tree.leaves(opt_state, is_leaf=_is_plateau) if _is_plateau(s)
  ]
  result = jnp.ones([], jnp.float32)
  for scale in scales:
    result = result * scale
  return result


class ScaledLearningRateState(NamedTuple):
  """State of an optimizer whose learning rate a plateau lowers (:func:`with_plateau`)."""

  plateau: ReduceOnPlateauState
  """The plateau's state; its ``scale`` multiplies the learning rate."""
  inner: optax.OptState
  """The optimizer's own state."""


def with_plateau(
  optimizer: Callable[[base.ScalarOrSchedule], optax.GradientTransformation],
  learning_rate: base.ScalarOrSchedule,
  plateau: ReduceOnPlateau,
) -> optax.GradientTransformationExtraArgs:
  r"""``optimizer(η λ)``: the plateau's scale :math:`\lambda` multiplies the rate itself.

  Keras and PyTorch lower the optimizer's learning rate, wherever the update
  rule uses it (inside a momentum buffer, in a weight decay); an optimizer
  whose rule takes the rate, ``optimizer(lr)``, gets :math:`\eta(t)\lambda`,
  as an array or a schedule like ``learning_rate``. :func:`observe` (or
  ``update(..., value=x)``) updates :math:`\lambda`.
  """

  def rate(scale: jax.Array) -> base.ScalarOrSchedule:
    if base.is_schedule(learning_rate):
      return lambda count: jnp.asarray(learning_rate(count), jnp.float32) * scale  # pyright: ignore[reportCallIssue]
    return jnp.asarray(learning_rate, jnp.float32) * scale

  def init_fn(params) -> Any:
    inner = optimizer(rate(jnp.ones([], jnp.float32)))
    plateau_state: Any = plateau.init(params)
    return ScaledLearningRateState(plateau_state, inner.init(params))

  def update_fn(updates, state, params=None, *, value=None, **extra_args) -> Any:
    plateau_state = state.plateau
    if value is not None:
      plateau_state = _record(plateau_state, _measurement("update", value))
    inner = optax.with_extra_args_support(optimizer(rate(plateau_state.scale)))
    updates, inner_state = inner.update(updates, state.inner, params, **extra_args)
    return updates, ScaledLearningRateState(plateau_state, inner_state)

  elementwise = isinstance(optimizer(learning_rate), base.Elementwise)
  made = base.Elementwise if elementwise else optax.GradientTransformationExtraArgs
  return made(init_fn, update_fn)
