"""Keras 3's optimizers as presets over optx's building blocks.

One update of a Keras optimizer is, in this order: clip the gradients
(``clipnorm`` per variable, ``global_clipnorm`` or ``clipvalue``), decay the
weights (``w -= lr * weight_decay * w``), then the optimizer's own step with
the learning rate of this update. The presets chain optx's blocks in that
order; the learning rate is applied where Keras applies it (inside the
momentum buffer of SGD and RMSprop), and a ``ReduceLROnPlateau`` callback is
placed right after it, so that a reduction lowers the learning rate itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import transform
from optx._src import validation as v
from optx._src import weight_decay as weight_decay_lib
from optx.keras import _callbacks
from optx.keras._callbacks import LearningRateScheduler
from optx.keras._callbacks import ReduceLROnPlateau

Callbacks = Sequence[ReduceLROnPlateau | LearningRateScheduler]


class _Default(float):
  """A default ``learning_rate`` that knows it is one, to tell ``lr=`` apart."""

  def __repr__(self) -> str:
    return float.__repr__(self)


_SGD_RATE = _Default(0.01)
_ADAPTIVE_RATE = _Default(0.001)


class WeightDecayState(NamedTuple):
  """State of a Keras optimizer with ``weight_decay``.

  Attributes:
    inner: the state of the clipping and optimizer-step chain.
    weight_decay: the state of :func:`optx.add_decoupled_weight_decay`
      (an :class:`optx.AddDecoupledWeightDecayState`).
  """

  inner: optax.OptState
  weight_decay: optax.OptState


def _with_weight_decay(
  inner: optax.GradientTransformationExtraArgs,
  decay: optax.GradientTransformation,
) -> optax.GradientTransformationExtraArgs:
  """Adds the decoupled weight decay of ``decay`` to the updates of ``inner``.

  The decay term is scaled by the plateau scale and by the rate of a
  ``LearningRateScheduler`` found in ``inner``'s state (one that carries its
  rate: two arguments, or run on the host), because Keras decays the weights
  with the (reduced, scheduled) learning rate; it cannot simply follow in a
  chain, where a momentum buffer between the learning rate and the decay
  would keep the scale from reaching it.
  """

  def init_fn(params):
    return WeightDecayState(inner.init(params), decay.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    steps, inner_state = inner.update(updates, state.inner, params, **extra_args)
    zeros = jax.tree.map(jnp.zeros_like, steps)
    decays, decay_state = decay.update(zeros, state.weight_decay, params)
    scale = plateau_lib.plateau_scale(inner_state) * _callbacks.scheduled_rate(
      inner_state
    )
    updates = jax.tree.map(lambda s, d: s + scale.astype(d.dtype) * d, steps, decays)
    return updates, WeightDecayState(inner_state, decay_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _clip_by_norm_per_variable(max_norm: ArrayLike) -> optax.GradientTransformation:
  """Keras's ``clipnorm``: each leaf clipped to its own L2 norm ``max_norm``."""
  # optax's global-norm clip, applied to one leaf at a time.
  clip = optax.clip_by_global_norm(max_norm)

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: clip.update(g, state)[0], updates), state

  return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _clip_by_global_norm(clip_norm: ArrayLike) -> optax.GradientTransformation:
  r"""Keras's ``global_clipnorm``: every leaf scaled by one factor of the global norm.

  .. math::
    N = \sqrt{\textstyle\sum_i \|g_i\|^2}, \qquad
    s = c \min(1/N, 1/c) + (N - N), \qquad g_i \leftarrow s\, g_i

  with :math:`c` = ``clip_norm`` and :math:`N` summed in float32. The
  :math:`N - N` term is Keras's: it is 0 for a finite :math:`N` and NaN
  otherwise, so an overflowing or infinite norm makes every update NaN.
  ``optax.clip_by_global_norm`` is not used because it keeps the gradients
  where :math:`N < c` and scales them by :math:`c / N` otherwise: a non-finite
  :math:`N` there zeroes the finite entries (the update is silently skipped),
  and the finite case rounds differently from Keras's.
  """
  c = _callbacks.concrete(clip_norm)
  # A Python float, as in Keras (1/c rounded once to float32); else traced.
  c = jnp.asarray(clip_norm, jnp.float32) if c is None else c

  def update_fn(updates, state, params=None):
    del params
    leaves = jax.tree.leaves(updates)
    if not leaves:
      return updates, state
    squares = [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in leaves]
    norm = jnp.sqrt(jnp.sum(jnp.stack(squares)))
    scale = c * jnp.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
    return jax.tree.map(lambda g: g * scale.astype(g.dtype), updates), state

  return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _clipping(
  call: str, clipnorm: Any, clipvalue: Any, global_clipnorm: Any
) -> list[optax.GradientTransformation]:
  given = {
    name: value
    for name, value in (
      ("clipnorm", clipnorm),
      ("clipvalue", clipvalue),
      ("global_clipnorm", global_clipnorm),
    )
    if value is not None
  }
  if len(given) > 1:
    raise ValueError(
      f"optx.{call}: only one of clipnorm, clipvalue and global_clipnorm can"
      f" be set, got {', '.join(f'{k}={x!r}' for k, x in given.items())}"
    )
  for name, value in given.items():
    v.check_number(call, name, value, lower=0, lower_open=True, schedule_ok=False)
  if clipnorm is not None:
    return [_clip_by_norm_per_variable(clipnorm)]
  if global_clipnorm is not None:
    return [_clip_by_global_norm(global_clipnorm)]
  if clipvalue is not None:
    return [optax.clip(clipvalue)]
  return []


def _check_number(call: str, name: str, value: Any, **bounds: Any) -> None:
  """``validation.check_number`` for a hyperparameter that may be a schedule.

  Keras calls a ``learning_rate`` of no arguments at every update. optx calls
  a schedule with the step count and does not emulate that form: under
  ``jit`` the function would run once, at trace time, and its value would be
  frozen. Such a callable, or any that cannot take one positional argument,
  is refused here rather than failing inside the first update. A callable
  without a signature (some builtins) is trusted.
  """
  if (
    callable(value)
    and not isinstance(value, jax.Array)
    and not _callbacks.accepts(value, 0)
  ):
    if _callbacks.accepts(value):
      raise TypeError(
        f"optx.{call}({name}=...) got {value!r}, a function of no arguments:"
        " Keras calls it at every update, but under jit it would run once,"
        " at trace time, and its value would be frozen. Pass a value, a"
        " schedule of the step (such as optx.keras.schedules.ExponentialDecay),"
        f" or call the function yourself ({name}=fn())"
      )
    raise TypeError(
      f"optx.{call}({name}=...) must be a value or a schedule of the step (a"
      f" function of one argument), got {value!r} with signature"
      f" {inspect.signature(value)}"
    )
  v.check_number(call, name, value, **bounds)


def _learning_rate(call: str, learning_rate: Any, lr: Any) -> base.ScalarOrSchedule:
  """Resolves the legacy alias ``lr=`` against ``learning_rate=``."""
  if lr is not None:
    if not isinstance(learning_rate, _Default):
      raise ValueError(
        f"optx.{call}: pass learning_rate=... or its legacy alias lr=..., not"
        f" both, got learning_rate={learning_rate!r} and lr={lr!r}"
      )
    _check_number(call, "lr", lr, lower=0)
    return lr
  if isinstance(learning_rate, _Default):
    return float(learning_rate)
  _check_number(call, "learning_rate", learning_rate, lower=0)
  return learning_rate


def _legacy_decay(schedule: base.ScalarOrSchedule, decay: Any) -> base.ScalarOrSchedule:
  """tf.keras 2's ``decay``: ``lr(k) / (1 + decay * k)``, k = 0 on the first update."""
  if decay is None or _callbacks.concrete(decay) == 0.0:
    return schedule

  def decayed(count):
    k = jnp.asarray(count).astype(jnp.float32)
    return base.value_at(schedule, count) / (1 + jnp.asarray(decay, jnp.float32) * k)

  return decayed


def _split_callbacks(
  call: str, callbacks: Iterable[Any]
) -> tuple[ReduceLROnPlateau | None, LearningRateScheduler | None]:
  if isinstance(callbacks, (ReduceLROnPlateau, LearningRateScheduler)):
    callbacks = [callbacks]
  try:
    callbacks = list(callbacks)
  except TypeError:
    raise TypeError(
      f"optx.{call}(callbacks=...) must be a list of callbacks, got {callbacks!r}"
    ) from None
  found: dict[type, Any] = {}
  for callback in callbacks:
    kind = type(callback)
    if kind not in (ReduceLROnPlateau, LearningRateScheduler):
      raise TypeError(
        f"optx.{call}(callbacks=...) takes optx.keras.ReduceLROnPlateau and"
        f" optx.keras.LearningRateScheduler, got {callback!r}"
      )
    if kind in found:
      raise ValueError(f"optx.{call}(callbacks=...) has two {kind.__name__} callbacks")
    found[kind] = callback
  plateau, scheduler = found.get(ReduceLROnPlateau), found.get(LearningRateScheduler)
  if plateau is not None and scheduler is not None:
    raise ValueError(
      f"optx.{call}(callbacks=...) cannot combine ReduceLROnPlateau with"
      " LearningRateScheduler (in Keras the scheduler overwrites the"
      " reduction at the next epoch); use one of them"
    )
  return plateau, scheduler


def _build(
  call: str,
  *,
  learning_rate: Any,
  lr: Any,
  decay: Any,
  callbacks: Any,
  weight_decay: Any,
  clipnorm: Any,
  clipvalue: Any,
  global_clipnorm: Any,
  before: Sequence[optax.GradientTransformation],
  after: Sequence[optax.GradientTransformation],
) -> optax.GradientTransformationExtraArgs:
  """Chains clip, [before], learning rate, [plateau], [after], weight decay."""
  base_rate = _learning_rate(call, learning_rate, lr)
  if decay is not None:
    v.check_number(call, "decay", decay, lower=0, schedule_ok=False)
  if weight_decay is not None:
    _check_number(call, "weight_decay", weight_decay, lower=0)
  clip = _clipping(call, clipnorm, clipvalue, global_clipnorm)
  plateau, scheduler = _split_callbacks(call, callbacks)

  if scheduler is None:
    rate = _legacy_decay(base_rate, decay)
    scale = transform.scale_by_learning_rate(rate)
  else:
    if callable(base_rate):
      raise ValueError(
        f"optx.{call}(callbacks=[LearningRateScheduler(...)]) needs a number as"
        " learning_rate, got a schedule (Keras refuses it too)"
      )
    if scheduler.two_arguments or not scheduler._traced():
      # A recurrence over epochs, or a host callback: the rate is carried in
      # the state (and read from it by _with_weight_decay), so the schedule
      # runs once per epoch rather than replaying the recurrence or calling
      # the host at every update.
      scale = scheduler._as_transform(
        base_rate,
        lambda rate, count: base.value_at(_legacy_decay(rate, decay), count),
      )
      rate = _legacy_decay(1.0, decay)
    else:
      rate = _legacy_decay(scheduler.as_schedule(base_rate), decay)
      scale = transform.scale_by_learning_rate(rate)

  blocks = [*clip, *before, scale]
  if plateau is not None:
    blocks.append(plateau.as_transform(base_rate))
  step = optax.chain(*blocks, *after)
  if weight_decay is None:
    return step
  return _with_weight_decay(
    step, weight_decay_lib.add_decoupled_weight_decay(weight_decay, rate)
  )


def SGD(
  learning_rate: base.ScalarOrSchedule = _SGD_RATE,
  momentum: base.ScalarOrSchedule = 0.0,
  nesterov: bool = False,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: Callbacks = (),
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``SGD``: gradient descent with the learning rate inside the velocity.

  .. math::
    m \leftarrow \mu m - \eta g, \qquad
    w \leftarrow w + m \quad (\text{Nesterov: } w \leftarrow w + \mu m - \eta g)

  where :math:`\eta` is ``learning_rate`` at this update, :math:`\mu` is
  ``momentum`` and :math:`m` starts at zero; with ``momentum=0`` it is
  :math:`w \leftarrow w - \eta g`. Because :math:`\eta` is inside :math:`m`,
  a changing rate (schedule, ``decay``, ``ReduceLROnPlateau``) differs from
  ``optax.sgd``. The seed's default :func:`optx.momentum` is the same maths.

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    momentum: :math:`\mu` in [0, 1].
    nesterov: use Nesterov momentum.
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.SGD(lr=0.01, decay=1e-4)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.ones(1), state)
    >>> print(f"{u[0]:.4f}")
    -0.0100
  """
  call = "keras.SGD"
  _check_number(call, "momentum", momentum, lower=0, upper=1)
  v.check_bool(call, "nesterov", nesterov)
  after = []
  if _callbacks.concrete(momentum) != 0.0:
    after.append(transform.trace(momentum, nesterov=nesterov))
  return _build(
    call,
    learning_rate=learning_rate,
    lr=lr,
    decay=decay,
    callbacks=callbacks,
    weight_decay=weight_decay,
    clipnorm=clipnorm,
    clipvalue=clipvalue,
    global_clipnorm=global_clipnorm,
    before=[],
    after=after,
  )


def Adagrad(
  learning_rate: base.ScalarOrSchedule = _ADAPTIVE_RATE,
  initial_accumulator_value: float = 0.1,
  epsilon: base.ScalarOrSchedule = 1e-7,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: Callbacks = (),
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``Adagrad``: epsilon inside the square root, accumulator from 0.1.

  .. math::
    s \leftarrow s + g \otimes g, \qquad
    w \leftarrow w - \eta\, g \oslash \sqrt{s + \varepsilon}

  where :math:`\eta` is ``learning_rate``, :math:`s` starts at
  ``initial_accumulator_value`` and :math:`\varepsilon` is ``epsilon``. This
  is the seed's :func:`optx.adagrad`. (Legacy tf.keras 2 and PyTorch put
  :math:`\varepsilon` outside the root; ``decay=`` here keeps Keras 3's.)

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    initial_accumulator_value: the starting :math:`s` (>= 0).
    epsilon: :math:`\varepsilon` (>= 0).
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.Adagrad(learning_rate=0.1)
    >>> u, _ = tx.update(jnp.full(1, 3.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.4f}")
    -0.0994
  """
  call = "keras.Adagrad"
  v.check_number(
    call,
    "initial_accumulator_value",
    initial_accumulator_value,
    lower=0,
    schedule_ok=False,
  )
  _check_number(call, "epsilon", epsilon, lower=0)
  return _build(
    call,
    learning_rate=learning_rate,
    lr=lr,
    decay=decay,
    callbacks=callbacks,
    weight_decay=weight_decay,
    clipnorm=clipnorm,
    clipvalue=clipvalue,
    global_clipnorm=global_clipnorm,
    before=[
      transform.scale_by_rss(initial_accumulator_value, epsilon, eps_placement="inside")
    ],
    after=[],
  )


def RMSprop(
  learning_rate: base.ScalarOrSchedule = _ADAPTIVE_RATE,
  rho: base.ScalarOrSchedule = 0.9,
  momentum: base.ScalarOrSchedule = 0.0,
  epsilon: base.ScalarOrSchedule = 1e-7,
  centered: bool = False,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: Callbacks = (),
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``RMSprop``: epsilon inside the root, learning rate inside the momentum.

  .. math::
    v \leftarrow \rho v + (1 - \rho)\, g \otimes g, \qquad
    \Delta = \eta\, g \oslash \sqrt{v + \varepsilon}

  then :math:`w \leftarrow w - \Delta`, or with momentum :math:`b \leftarrow
  \mu b + \Delta`, :math:`w \leftarrow w - b`. ``centered`` also tracks
  :math:`a \leftarrow \rho a + (1 - \rho) g` and uses
  :math:`\sqrt{v - a \otimes a + \varepsilon}`. :math:`\eta, \rho, \mu,
  \varepsilon` are ``learning_rate``, ``rho``, ``momentum``, ``epsilon``.
  This is the seed's :func:`optx.rmsprop` (with ``momentum=`` when
  :math:`\mu > 0`).

  Clipping, weight decay, ``lr=``, ``decay=`` and ``callbacks=`` are as in
  :func:`optx.keras.Adam`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    rho: :math:`\rho` in [0, 1].
    momentum: :math:`\mu` in [0, 1].
    epsilon: :math:`\varepsilon` (>= 0).
    centered: use the centered variant.
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.RMSprop(lr=0.001, rho=0.9)
    >>> u, _ = tx.update(jnp.full(1, 2.0), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.5f}")
    -0.00316
  """
  call = "keras.RMSprop"
  _check_number(call, "rho", rho, lower=0, upper=1)
  _check_number(call, "momentum", momentum, lower=0, upper=1)
  _check_number(call, "epsilon", epsilon, lower=0)
  v.check_bool(call, "centered", centered)
  scale = transform.scale_by_stddev if centered else transform.scale_by_rms
  after = []
  if _callbacks.concrete(momentum) != 0.0:
    after.append(transform.trace(momentum))
  return _build(
    call,
    learning_rate=learning_rate,
    lr=lr,
    decay=decay,
    callbacks=callbacks,
    weight_decay=weight_decay,
    clipnorm=clipnorm,
    clipvalue=clipvalue,
    global_clipnorm=global_clipnorm,
    before=[scale(rho, epsilon, eps_placement="inside")],
    after=after,
  )


def Adam(
  learning_rate: base.ScalarOrSchedule = _ADAPTIVE_RATE,
  beta_1: base.ScalarOrSchedule = 0.9,
  beta_2: base.ScalarOrSchedule = 0.999,
  epsilon: base.ScalarOrSchedule = 1e-7,
  amsgrad: bool = False,
  weight_decay: base.ScalarOrSchedule | None = None,
  clipnorm: float | None = None,
  clipvalue: float | None = None,
  global_clipnorm: float | None = None,
  *,
  lr: base.ScalarOrSchedule | None = None,
  decay: float | None = None,
  callbacks: Callbacks = (),
) -> optax.GradientTransformationExtraArgs:
  r"""Keras 3's ``Adam``: epsilon added to the uncorrected root ("epsilon hat").

  With :math:`t` the 1-based update number:

  .. math::
    m \leftarrow m + (1 - \beta_1)(g - m), \quad
    v \leftarrow v + (1 - \beta_2)(g^2 - v), \quad
    \alpha = \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}, \quad
    w \leftarrow w - \alpha\, m \oslash (\sqrt{v} + \varepsilon)

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``beta_1``, ``beta_2``, ``epsilon``; ``amsgrad`` replaces :math:`v` by its
  running maximum (of the raw :math:`v`). This is
  ``optx.scale_by_adam(eps_placement="hat")``, not the seed's
  :func:`optx.adam` (:math:`\varepsilon` inside the root of :math:`\hat v`)
  nor ``optax.adam``.

  Every Keras optimizer here shares these options, applied in Keras's order
  (clip, then weight decay, then the step): ``clipnorm`` clips each variable
  to :math:`g\, c / \max(\|g\|, c)`, ``global_clipnorm`` all of them by their
  global norm, ``clipvalue`` each entry (at most one of the three);
  ``weight_decay`` :math:`\lambda` adds :math:`-\eta \lambda w`, decoupled.
  ``lr=`` is the legacy alias of ``learning_rate`` and ``decay=`` tf.keras
  2's :math:`\eta / (1 + d\, k)` with :math:`k` updates done (0 on the first),
  on top of any schedule. ``callbacks=`` takes Keras's learning-rate
  callbacks (see :class:`optx.keras.ReduceLROnPlateau`).

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or any schedule.
    beta_1: :math:`\beta_1` in [0, 1).
    beta_2: :math:`\beta_2` in [0, 1).
    epsilon: :math:`\varepsilon` (>= 0).
    amsgrad: use the running maximum of :math:`v`.
    weight_decay: decoupled weight decay, ``w -= lr * weight_decay * w``.
    clipnorm: clip each variable's gradient to this L2 norm.
    clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
    global_clipnorm: clip all gradients to this global L2 norm.
    lr: the legacy alias of ``learning_rate``.
    decay: tf.keras 2's legacy decay, ``lr / (1 + decay * iterations)``.
    callbacks: an optional :class:`optx.keras.ReduceLROnPlateau` or
      :class:`optx.keras.LearningRateScheduler`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optx
    >>> tx = optx.keras.Adam(learning_rate=0.1, epsilon=0.01)
    >>> w = jnp.ones(1)
    >>> state = tx.init(w)
    >>> for g in [1.0, -0.5]:
    ...   u, state = tx.update(jnp.full(1, g), state)
    ...   w = optax.apply_updates(w, u)
    >>> print(f"{w[0]:.4f}")
    0.9033
  """
  call = "keras.Adam"
  _check_number(call, "beta_1", beta_1, lower=0, upper=1, upper_open=True)
  _check_number(call, "beta_2", beta_2, lower=0, upper=1, upper_open=True)
  _check_number(call, "epsilon", epsilon, lower=0)
  v.check_bool(call, "amsgrad", amsgrad)
  return _build(
    call,
    learning_rate=learning_rate,
    lr=lr,
    decay=decay,
    callbacks=callbacks,
    weight_decay=weight_decay,
    clipnorm=clipnorm,
    clipvalue=clipvalue,
    global_clipnorm=global_clipnorm,
    before=[
      transform.scale_by_adam(
        beta_1,
        beta_2,
        epsilon,
        eps_placement="hat",
        moment_form="interpolated",
        amsgrad=amsgrad,
      )
    ],
    after=[],
  )
