"""Keras 3's base-optimizer options, the same for every ``optx.keras`` optimizer.

One update of a Keras optimizer is, in this order: clip the gradients
(``clipnorm`` per variable, ``global_clipnorm`` or ``clipvalue``), decay the
weights (``w -= w * weight_decay * lr``), then the optimizer's own step at the
learning rate of this update. :func:`build` assembles that from an
optimizer's step (a block taking the learning rate) and Keras's options: the
clipping in front, the weight decay folded into the step's rule (so that the
parameters come out as Keras's ``w - w * wd * lr - delta`` does), the legacy
``lr=`` and ``decay=`` spellings, and the callbacks, which set the learning
rate the step is given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import TypedDict

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v
from optx.keras import _accumulate
from optx.keras import _ema
from optx.keras import _exclude
from optx.keras import _loss_scale
from optx.keras._callbacks import LearningRateScheduler
from optx.keras._callbacks import ReduceLROnPlateau
from optx.keras._callbacks import accepts
from optx.keras._clipping import clipping

Callbacks = Sequence[ReduceLROnPlateau | LearningRateScheduler]


class Options(TypedDict, total=False):
  """Keras 3's base-optimizer options that wrap the update, as keywords.

  ``use_ema``, ``ema_momentum`` (0.99) and ``ema_overwrite_frequency``: a
  moving average of the parameters (:func:`optx.keras.ema_params`);
  ``gradient_accumulation_steps``: an update every ``n`` calls with the mean
  gradient; ``exclude_from_weight_decay``: the leaves the weight decay skips;
  ``loss_scale_factor``: the gradients divided by a fixed loss scale. See
  ``docs/porting_keras.md``.
  """

  use_ema: bool
  ema_momentum: float
  ema_overwrite_frequency: int | None
  gradient_accumulation_steps: int | None
  exclude_from_weight_decay: _exclude.Exclusion | None
  loss_scale_factor: float | None


class _Default(float):
  """A default ``learning_rate`` that knows it is one, to tell ``lr=`` apart."""

  def __repr__(self) -> str:
    return float.__repr__(self)


SGD_RATE = _Default(0.01)
ADAPTIVE_RATE = _Default(0.001)


def with_weight_decay(step: base.Rule) -> base.Rule:
  r"""Keras's weight decay, then ``step``: :math:`w' = (w - w \lambda \eta) + u`.

  ``step(g, *buffers, lr=..., ...)`` is an optimizer's rule; given the
  parameters ``p`` and the decay ``lam`` it also decays them, and its update
  is :math:`w' - w`, so that ``optax.apply_updates`` gives Keras's
  :math:`w'` to the last bit whenever :math:`w'` is within a factor of 2 of
  :math:`w` (then :math:`w' - w` is exact); otherwise to one rounding.
  """

  def rule(g, *buffers, p=None, lam=None, **scalars):
    out = step(g, *buffers, **scalars)
    u, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
    if p is not None:
      decayed = p - p * lam * scalars["lr"]
      u = (decayed + u) - p
    return (u, *rest) if rest else u

  return rule


def check_number(call: str, name: str, value: Any, **bounds: Any) -> None:
  """``validation.check_number`` for a hyperparameter that may be a schedule.

  Keras calls a ``learning_rate`` of no arguments at every update. optx calls
  a schedule with the step count and does not emulate that form: under
  ``jit`` the function would run once, at trace time, and its value would be
  frozen. Such a callable, or any that cannot take one positional argument,
  is refused here rather than failing inside the first update. A callable
  without a signature (some builtins) is trusted.
  """
  if callable(value) and not isinstance(value, jax.Array) and not accepts(value, 0):
    if accepts(value):
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


def check_betas(call: str, **betas: Any) -> None:
  """``validation.check_betas`` by :func:`check_number`: each in [0, 1)."""
  for name, beta in betas.items():
    check_number(call, name, beta, lower=0, upper=1, upper_open=True)


def _learning_rate(call: str, learning_rate: Any, lr: Any) -> base.ScalarOrSchedule:
  """Resolves the legacy alias ``lr=`` against ``learning_rate=``."""
  if lr is not None:
    if not isinstance(learning_rate, _Default):
      raise ValueError(
        f"optx.{call}: pass learning_rate=... or its legacy alias lr=..., not"
        f" both, got learning_rate={learning_rate!r} and lr={lr!r}"
      )
    check_number(call, "lr", lr, lower=0)
    return lr
  if isinstance(learning_rate, _Default):
    return float(learning_rate)
  check_number(call, "learning_rate", learning_rate, lower=0)
  return learning_rate


def _legacy_decay(rate: base.ScalarOrSchedule, decay: Any) -> base.ScalarOrSchedule:
  """tf.keras 2's ``decay``: ``lr(k) / (1 + decay * k)``, k = 0 on the first update.

  The number 0 (or None) leaves the rate as it is; an array, even 0, decays.
  """
  if decay is None or base.is_literal_zero(decay):
    return rate

  def decayed(count):
    k = jnp.asarray(count).astype(jnp.float32)
    return base.value_at(rate, count, jnp.float32) / (
      1 + jnp.asarray(decay, jnp.float32) * k
    )

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


# The arguments every optimizer takes besides its own maths and the options,
# which build reads from the optimizer's locals() (or keras_options={...}).
_ARGUMENTS = (
  "learning_rate",
  "lr",
  "decay",
  "callbacks",
  "weight_decay",
  "clipnorm",
  "clipvalue",
  "global_clipnorm",
)

Step = Callable[[str, base.ScalarOrSchedule, Any], optax.GradientTransformation]


def step(rule: base.Rule, hyperparameters: dict[str, Any], **kwargs: Any) -> Step:
  """The optimizer's ``step(call, rate, weight_decay)``: :func:`block` at ``lr=rate``.

  ``hyperparameters`` are the rule's besides ``lr``; ``kwargs`` are
  ``base.leafwise``'s (``state``, ``counted_state``, ``buffers``, ...).
  """
  return lambda call, rate, weight_decay: block(
    call, rule, dict(lr=rate, **hyperparameters), weight_decay, **kwargs
  )


def build(
  call: str,
  step: Step,
  arguments: dict[str, Any],
  /,
  *,
  use_ema: bool = False,
  ema_momentum: float = 0.99,
  ema_overwrite_frequency: int | None = None,
  gradient_accumulation_steps: int | None = None,
  exclude_from_weight_decay: Any = None,
  loss_scale_factor: float | None = None,
  **unknown: Any,
) -> optax.GradientTransformationExtraArgs:
  """Clipping, then the optimizer's ``step`` at the rate the options give.

  ``arguments`` are the optimizer's own, by name (its ``locals()``): build
  reads ``learning_rate``, ``lr``, ``decay``, ``callbacks``,
  ``weight_decay`` and the clipping from them, so that every optimizer hands
  them on in one line, ``build(call, step, locals(), **keras_options)``.
  ``step(call, rate, weight_decay)`` is the optimizer's block at a learning
  rate (a number, an array or a schedule), with the weight decay (or
  ``None``), which it hands to :func:`block` (see :func:`step`). In Keras's
  order, the options of :class:`Options` wrap it: the loss scale divides the
  gradients first, the accumulation calls the clipping and the step every
  ``n`` calls (inside the learning-rate callbacks, which count every call),
  and the moving average reads the parameters last.
  """
  given = dict(locals())
  options = {name: given[name] for name in Options.__annotations__}
  # inspect.Signature.bind(...).apply_defaults() gathers the variadic options
  # into one argument named after them, and optax.inject_hyperparams calls
  # the optimizer with it: keras_options={...}. Unpacked, they are rebound as
  # if passed to the optimizer.
  nested = unknown.pop("keras_options", None)
  if isinstance(nested, dict) and nested:
    arguments = arguments | {k: x for k, x in nested.items() if k in _ARGUMENTS}
    options |= {k: x for k, x in nested.items() if k not in _ARGUMENTS}
    return build(call, step, arguments, **options, **unknown)
  if unknown:
    name = next(iter(unknown))
    why = " (an optax transformation has no name)" if name == "name" else ""
    raise TypeError(
      f"optx.{call}() got an unexpected keyword argument {name!r}{why}; Keras's"
      f" base-optimizer options are {', '.join(Options.__annotations__)}"
    )
  base_rate = _learning_rate(call, arguments["learning_rate"], arguments["lr"])
  decay, weight_decay = arguments["decay"], arguments["weight_decay"]
  if decay is not None:
    v.check_constant(call, "decay", decay, lower=0)
  if weight_decay is not None:
    check_number(call, "weight_decay", weight_decay, lower=0)
  clip = clipping(
    call, arguments["clipnorm"], arguments["clipvalue"], arguments["global_clipnorm"]
  )
  plateau, scheduler = _split_callbacks(call, arguments["callbacks"])
  v.check_bool(call, "use_ema", use_ema)
  if use_ema:  # Keras checks these only with use_ema=True, and so does optx
    v.check_constant(call, "ema_momentum", ema_momentum, lower=0, upper=1)
    if ema_overwrite_frequency is not None:
      v.check_integer(call, "ema_overwrite_frequency", ema_overwrite_frequency, lower=1)
  steps = gradient_accumulation_steps
  if steps is not None:
    v.check_integer(call, "gradient_accumulation_steps", steps, lower=2)
    steps = int(steps)
  if exclude_from_weight_decay is not None:
    exclude = _exclude.check(call, exclude_from_weight_decay)
    if weight_decay is not None:
      weight_decay = _exclude.Excluding(weight_decay, exclude)
  if loss_scale_factor is not None:
    v.check_constant(
      call, "loss_scale_factor", loss_scale_factor, lower=0, lower_open=True
    )

  def optimizer(rate: base.ScalarOrSchedule) -> optax.GradientTransformation:
    rate = _legacy_decay(rate, decay)
    if steps is None:
      return base.chain(*clip, step(call, rate, weight_decay))
    core = base.chain(
      *clip, step(call, _accumulate.raw_step(rate, steps), weight_decay)
    )
    return _accumulate.accumulate(core, steps)

  tx: optax.GradientTransformation
  if scheduler is not None:
    if base.is_schedule(base_rate):
      raise ValueError(
        f"optx.{call}(callbacks=[LearningRateScheduler(...)]) needs a number as"
        " learning_rate, got a schedule (Keras refuses it too)"
      )
    tx = scheduler.transform(optimizer, base_rate)
  elif plateau is not None:
    tx = plateau_lib.with_plateau(optimizer, base_rate, plateau.as_transform(base_rate))
  else:
    tx = optimizer(base_rate)
  if use_ema:
    tx = _ema.ema(call, tx, ema_momentum, ema_overwrite_frequency, steps)
  if loss_scale_factor is not None:
    tx = base.chain(_loss_scale.divide_by_factor(loss_scale_factor), tx)
  return optax.with_extra_args_support(tx)


def block(call, rule, hyperparameters, weight_decay, *, scalars=None, **kwargs):
  """The block of ``rule`` with Keras's weight decay folded in (when given).

  A weight decay that excludes leaves (``exclude_from_weight_decay``) makes
  two blocks of one state, with and without the decay, each leaf taking its
  update from one of them.
  """
  weight_decay, exclude = _exclude.split(weight_decay)
  decayed = weight_decay is not None
  if decayed:
    hyperparameters = dict(hyperparameters, lam=weight_decay)
    if scalars is not None:
      step_scalars = scalars
      scalars = lambda t, lam, **h: dict(step_scalars(t, **h), lam=lam)  # noqa: E731
  kwargs["scalars"] = scalars
  made = base.leafwise(
    call,
    with_weight_decay(rule),
    hyperparameters,
    needs_params=decayed,
    real_only=True,
    **kwargs,
  )
  if exclude is None:
    return made
  # Without params the rule skips the decay; the same hyperparameters (lam
  # included) give the same state, counted or not.
  plain = base.leafwise(
    call, with_weight_decay(rule), hyperparameters, real_only=True, **kwargs
  )
  return _exclude.per_leaf(call, exclude, made, plain)
