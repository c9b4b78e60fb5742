"""Keras optimizers' variables as ``optx.keras``'s checkpoint functions read them.

Which Keras optimizer a state is, the attribute and variable name of each of
its slots, and where each trainable variable's slots sit in an optx state.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from optx._src import leaf_order
from optx._src import plateau as plateau_lib
from optx.keras import _adadelta
from optx.keras import _adam
from optx.keras import _optimizers
from optx.keras import _variants
from optx.keras._callbacks import LearningRateSchedulerState

SGD_KIND = ("SGD", {"momentum": ("momentums", "momentum")})
ADAGRAD_KIND = ("Adagrad", {"accumulator": ("_accumulators", "")})
RMSPROP_KIND = (
  "RMSprop",
  {
    "velocity": ("_velocities", ""),
    "average_gradient": ("_average_gradients", "centered"),
    "momentum": ("_momentums", "momentum"),
  },
)
ADAM_KIND = (
  "Adam",
  {
    "momentum": ("_momentums", ""),
    "velocity": ("_velocities", ""),
    "velocity_hat": ("_velocity_hats", "amsgrad"),
  },
)
ADAMAX_KIND = ("Adamax", {"momentum": ("_m", ""), "norm": ("_u", "")})
NADAM_KIND = (
  "Nadam",
  {"momentum": ("_momentums", ""), "velocity": ("_velocities", "")},
)
ADADELTA_KIND = (
  "Adadelta",
  {
    "accumulated_grad": ("_accumulated_grads", ""),
    "accumulated_delta_var": ("_accumulated_delta_vars", ""),
  },
)
# Each optx.keras state: Keras's class, and per buffer the attribute listing
# Keras's variables for it (one per trainable variable, in order) and the
# option that creates them ("" when they always exist).
KINDS: dict[type, tuple[str, Mapping[str, tuple[str, str]]]] = {
  _optimizers.SGDState: SGD_KIND,
  _optimizers.CountedSGDState: SGD_KIND,
  _optimizers.AdagradState: ADAGRAD_KIND,
  _optimizers.CountedAdagradState: ADAGRAD_KIND,
  _optimizers.RMSpropState: RMSPROP_KIND,
  _optimizers.CountedRMSpropState: RMSPROP_KIND,
  _adam.AdamState: ADAM_KIND,
  _variants.AdamaxState: ADAMAX_KIND,
  _variants.NadamState: NADAM_KIND,
  _adadelta.AdadeltaState: ADADELTA_KIND,
  _adadelta.CountedAdadeltaState: ADADELTA_KIND,
}
STATES = tuple(KINDS)
NODES = (*STATES, LearningRateSchedulerState, plateau_lib.ReduceOnPlateauState)


def is_node(x: Any) -> bool:
  return isinstance(x, NODES)


def parts(call: str, arg: str, state: Any) -> tuple[Any, Any]:
  """The optimizer's own state inside ``state``, and its scheduler's (or None)."""
  nodes = [x for x in jax.tree.leaves(state, is_leaf=is_node) if is_node(x)]
  found = [x for x in nodes if isinstance(x, STATES)]
  schedulers = [x for x in nodes if isinstance(x, LearningRateSchedulerState)]
  if any(isinstance(x, plateau_lib.ReduceOnPlateauState) for x in nodes):
    raise ValueError(
      f"optx.{call}({arg}=...) has a ReduceLROnPlateau: Keras keeps that"
      " callback's best, wait and cooldown in the callback, not in the"
      " optimizer's variables, so they are not carried over (not supported)"
    )
  if len(found) != 1 or len(schedulers) > 1:
    raise TypeError(
      f"optx.{call}({arg}=...) must be an optx.keras optimizer (SGD, Adagrad,"
      " RMSprop, Adam, AdamW, Adamax, Nadam or Adadelta, with or without a"
      " LearningRateScheduler) or its state;"
      f" its state holds {len(found)} optx.keras optimizer states:"
      f" {jax.tree.structure(state)}"
    )
  return found[0], schedulers[0] if schedulers else None


def keras_class(optimizer: Any) -> str | None:
  """Keras's optimizer class of ``optimizer`` (``AdamW`` is an ``Adam``)."""
  names = {kind[0] for kind in KINDS.values()}
  for cls in type(optimizer).__mro__:
    if cls.__module__.split(".")[0] == "keras" and cls.__name__ in names:
      return cls.__name__
  return None


def check_optimizer(call: str, optimizer: Any, opt_state: Any) -> None:
  name, slots = KINDS[type(opt_state)]
  found = keras_class(optimizer)
  if found is None:
    raise TypeError(
      f"optx.{call}(optimizer=...) must be a Keras 3 optimizer"
      " (keras.optimizers.SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, Nadam"
      " or Adadelta), got"
      f" {type(optimizer).__name__}"
    )
  if found != name:
    raise ValueError(
      f"optx.{call}: the optimizer is a Keras {type(optimizer).__name__}, and the"
      f" optx state is an optx.keras.{name}'s: build the optx optimizer as the"
      " Keras one, with the same class and arguments"
    )
  for option in ("use_ema", "gradient_accumulation_steps"):
    if getattr(optimizer, option, None):
      raise ValueError(
        f"optx.{call}: the Keras optimizer has {option}="
        f"{getattr(optimizer, option)!r}, which keeps variables (and an update)"
        " optx.keras has not"
      )
  if not getattr(optimizer, "built", False):
    raise ValueError(
      f"optx.{call}: the Keras optimizer is not built, so it has no variables"
      " yet: call optimizer.build(model.trainable_variables) first"
    )
  for field, (attribute, option) in slots.items():
    theirs = list(getattr(optimizer, attribute, None) or [])
    ours = getattr(opt_state, field) is not None
    if ours != bool(theirs):
      raise ValueError(
        f"optx.{call}: Keras's {type(optimizer).__name__} has {option}="
        f"{getattr(optimizer, option, None)!r}, which keeps"
        f" {'' if theirs else 'no '}{field!r} variables, and the optx state"
        f" {'keeps' if ours else 'keeps no'} {field!r} buffer: build the optx"
        f" optimizer with the same {option}"
      )
    if any(var is None for var in theirs):
      raise ValueError(
        f"optx.{call}: the Keras optimizer has no {field!r} variable for a"
        " variable it overwrites with its gradient (overwrite_with_gradient)"
      )


def leaf_paths(tree: Any) -> list[str]:
  return [
    jax.tree_util.keystr(path) or "(root)"
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


def positions_of(
  call: str, order: Any, trainable: Sequence[Any], paths: list[str]
) -> list[int]:
  """For each leaf, the position of its Keras variable among the trainable ones."""
  n = len(paths)
  if len(trainable) != n:
    raise ValueError(
      f"optx.{call}: params has {n} leaves and the Keras optimizer was built"
      f" with {len(trainable)} trainable variables; they must be the same"
      " variables (leaf i is Keras's variable i, in model.trainable_variables"
      " order, unless order= says otherwise)"
    )
  return leaf_order.positions(
    call,
    order,
    paths,
    [getattr(var, "path", None) for var in trainable],
    item="Keras variable",
    entries="ints (positions among the trainable variables) or variable paths",
    names_are="the Keras variables are",
  )


def as_numpy(value: Any) -> np.ndarray:
  """A variable's or a backend tensor's value as a NumPy array."""
  if hasattr(value, "assign") and hasattr(value, "value"):  # a keras.Variable
    value = value.value
  if hasattr(value, "detach"):  # the torch backend's tensors
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def describe(variable: Any) -> str:
  return f"the Keras variable {getattr(variable, 'path', None) or variable!r}"


def trainable_variables(optimizer: Any) -> list[Any]:
  return list(optimizer._trainable_variables)  # Keras keeps no public list


def learning_rate_variable(optimizer: Any, variables: list[Any]) -> Any:
  rate = getattr(optimizer, "_learning_rate", None)
  return rate if any(rate is var for var in variables) else None


def index_of(variables: list[Any], variable: Any) -> int:
  return next(i for i, var in enumerate(variables) if var is variable)
