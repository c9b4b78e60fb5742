"""Keras optimizers' variables into ``optx.keras`` states, and back.

A built Keras 3 optimizer keeps its state in ``optimizer.variables``: the
``iteration`` counter, the ``learning_rate`` (unless it is a schedule) and,
for each trainable variable in order, its slots under the names the
``optx.keras`` states use (``momentum``, ``accumulator``, ``velocity``,
``average_gradient``, ``velocity_hat``, ``norm``, ``accumulated_grad``,
``accumulated_delta_var``). :func:`load_variables` puts them
into the state ``tx.init(params)`` makes, so that a run trained in Keras
continues in JAX on the same trajectory, and :func:`variable_values` gives
the values of a Keras optimizer's variables for an optx state. Both read the
optimizer only through its attributes: this module does not import Keras.
Nadam's scalar ``u_product`` is carried as the state's one scalar.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v
from optx.keras import _adam
from optx.keras import _optimizers
from optx.keras import _variants
from optx.keras._callbacks import LearningRateSchedulerState

_SGD = ("SGD", {"momentum": ("momentums", "momentum")})
_ADAGRAD = ("Adagrad", {"accumulator": ("_accumulators", "")})
_RMSPROP = (
  "RMSprop",
  {
    "velocity": ("_velocities", ""),
    "average_gradient": ("_average_gradients", "centered"),
    "momentum": ("_momentums", "momentum"),
  },
)
_ADAM = (
  "Adam",
  {
    "momentum": ("_momentums", ""),
    "velocity": ("_velocities", ""),
    "velocity_hat": ("_velocity_hats", "amsgrad"),
  },
)
_ADAMAX = ("Adamax", {"momentum": ("_m", ""), "norm": ("_u", "")})
_NADAM = ("Nadam", {"momentum": ("_momentums", ""), "velocity": ("_velocities", "")})
_ADADELTA = (
  "Adadelta",
  {
    "accumulated_grad": ("_accumulated_grads", ""),
    "accumulated_delta_var": ("_accumulated_delta_vars", ""),
  },
)
# Each optx.keras state: Keras's class, and per buffer the attribute listing
# Keras's variables for it (one per trainable variable, in order) and the
# option that creates them ("" when they always exist).
_KINDS: dict[type, tuple[str, Mapping[str, tuple[str, str]]]] = {
  _optimizers.SGDState: _SGD,
  _optimizers.CountedSGDState: _SGD,
  _optimizers.AdagradState: _ADAGRAD,
  _optimizers.CountedAdagradState: _ADAGRAD,
  _optimizers.RMSpropState: _RMSPROP,
  _optimizers.CountedRMSpropState: _RMSPROP,
  _adam.AdamState: _ADAM,
  _variants.AdamaxState: _ADAMAX,
  _variants.NadamState: _NADAM,
  _variants.AdadeltaState: _ADADELTA,
  _variants.CountedAdadeltaState: _ADADELTA,
}
_STATES = tuple(_KINDS)
_NODES = (*_STATES, LearningRateSchedulerState, plateau_lib.ReduceOnPlateauState)


def _is_node(x: Any) -> bool:
  return isinstance(x, _NODES)


def _parts(call: str, arg: str, state: Any) -> tuple[Any, Any]:
  """The optimizer's own state inside ``state``, and its scheduler's (or None)."""
  nodes = [x for x in jax.tree.leaves(state, is_leaf=_is_node) if _is_node(x)]
  found = [x for x in nodes if isinstance(x, _STATES)]
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


def _keras_class(optimizer: Any) -> str | None:
  """Keras's optimizer class of ``optimizer`` (``AdamW`` is an ``Adam``)."""
  names = {kind[0] for kind in _KINDS.values()}
  for cls in type(optimizer).__mro__:
    if cls.__module__.split(".")[0] == "keras" and cls.__name__ in names:
      return cls.__name__
  return None


def _check_optimizer(call: str, optimizer: Any, opt_state: Any) -> None:
  name, slots = _KINDS[type(opt_state)]
  found = _keras_class(optimizer)
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


def _leaf_paths(tree: Any) -> list[str]:
  return [
    jax.tree_util.keystr(path) or "(root)"
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


def _positions(
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
  if order is None:
    return list(range(n))
  names = [getattr(var, "path", None) for var in trainable]
  entries = jax.tree.leaves(order)
  if len(entries) != n:
    raise ValueError(
      f"optx.{call}(order=...) must give one Keras variable per leaf of params"
      f" ({n}), got {len(entries)}"
    )
  positions = []
  for j, entry in enumerate(entries):
    if isinstance(entry, str):
      if entry not in names:
        raise ValueError(
          f"optx.{call}(order=...) names {entry!r} for the leaf {paths[j]}, and"
          f" the Keras variables are {names}"
        )
      positions.append(names.index(entry))
    elif isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
      if not 0 <= int(entry) < n:
        raise ValueError(
          f"optx.{call}(order=...) must hold positions in [0, {n}), got"
          f" {entry!r} for the leaf {paths[j]}"
        )
      positions.append(int(entry))
    else:
      raise TypeError(
        f"optx.{call}(order=...) must hold ints (positions among the trainable"
        f" variables) or variable paths, got {entry!r}"
      )
  if len(set(positions)) != n:
    twice = sorted({p for p in positions if positions.count(p) > 1})
    raise ValueError(
      f"optx.{call}(order=...) must name each Keras variable once; the positions"
      f" {twice} come more than once"
    )
  return positions


def _numpy(value: Any) -> np.ndarray:
  """A variable's or a backend tensor's value as a NumPy array."""
  if hasattr(value, "assign") and hasattr(value, "value"):  # a keras.Variable
    value = value.value
  if hasattr(value, "detach"):  # the torch backend's tensors
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def _describe(variable: Any) -> str:
  return f"the Keras variable {getattr(variable, 'path', None) or variable!r}"


def _trainable(optimizer: Any) -> list[Any]:
  return list(optimizer._trainable_variables)  # Keras keeps no public list


def _learning_rate_variable(optimizer: Any, variables: list[Any]) -> Any:
  rate = getattr(optimizer, "_learning_rate", None)
  return rate if any(rate is var for var in variables) else None


def _index(variables: list[Any], variable: Any) -> int:
  return next(i for i, var in enumerate(variables) if var is variable)


def load_variables(
  tx: optax.GradientTransformation,
  optimizer: Any,
  params: optax.Params,
  *,
  values: Sequence[Any] | None = None,
  order: Any = None,
  steps_per_epoch: int | None = None,
) -> optax.OptState:
  r"""The state of ``tx`` for ``params`` from a Keras optimizer's variables.

  ``tx.init(params)`` with Keras's slots in it, leaf by leaf: the
  :math:`i`-th leaf of ``params`` (``jax.tree.leaves`` order) is the
  :math:`i`-th variable the optimizer was built with
  (``model.trainable_variables`` order) unless ``order`` says otherwise, and
  the step count is ``optimizer.iterations``. Continuing with the same
  gradients gives Keras's trajectory. ``tx`` must be the ``optx.keras``
  optimizer of the same class and arguments (Keras's ``AdamW`` is
  ``optx.keras.Adam(weight_decay=...)``): the class and the options that keep
  variables (``momentum``, ``centered``, ``amsgrad``) are checked, the other
  hyperparameters cannot be. With a :class:`LearningRateScheduler`, the
  scheduler's rate is the optimizer's ``learning_rate`` variable, the one
  Keras's callback set at the start of the current epoch.

  Args:
    tx: an ``optx.keras`` optimizer, or a chain holding exactly one.
    optimizer: the built Keras optimizer (``keras.optimizers.SGD``, ...).
    params: the parameters, as Keras's are at the checkpoint.
    values: the values of ``optimizer.variables``, in that order, if not the
      variables' own: plain arrays, such as ``stateless_apply`` returns them
      or a file of arrays holds them.
    order: the Keras variable of each leaf, as a list or a pytree like
      ``params``: its position among the trainable variables or its ``path``.
    steps_per_epoch: the :class:`LearningRateScheduler`'s, needed with one.

  Returns:
    The optimizer state, like ``tx.init(params)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import pytest
    >>> import optx
    >>> keras = pytest.importorskip("keras")  # Keras's side
    >>> w = keras.Variable(jnp.zeros(2))
    >>> optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    >>> optimizer.build([w])
    >>> for _ in range(3):
    ...   optimizer.apply([jnp.ones(2)], [w])
    >>> tx = optx.keras.SGD(0.1, momentum=0.9)
    >>> state = optx.keras.load_variables(tx, optimizer, w.value)
    >>> print(state[0].momentum)
    [-0.271 -0.271]
  """
  call = "keras.load_variables"
  template = tx.init(params)
  opt_state, scheduler = _parts(call, "tx", template)
  _check_optimizer(call, optimizer, opt_state)
  _, slots = _KINDS[type(opt_state)]
  variables = list(optimizer.variables)
  if values is None:
    values = variables
  elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
    raise TypeError(
      f"optx.{call}(values=...) must be a list of arrays, one per"
      f" optimizer.variables entry, got {type(values).__name__}"
    )
  if len(values) != len(variables):
    raise ValueError(
      f"optx.{call}(values=...) must hold one array per optimizer.variables"
      f" entry ({len(variables)}), got {len(values)}"
    )
  if scheduler is not None:
    if steps_per_epoch is None:
      raise ValueError(
        f"optx.{call}(steps_per_epoch=...) is needed with a LearningRateScheduler"
        " (the one it was built with): the epoch of the checkpoint follows from it"
      )
    v.check_integer(call, "steps_per_epoch", steps_per_epoch, lower=1)
  fields = [field for field in slots if getattr(opt_state, field) is not None]
  some = getattr(opt_state, fields[0]) if fields else params
  paths = _leaf_paths(some)
  trainable = _trainable(optimizer)
  positions = _positions(call, order, trainable, paths)

  replaced: dict[str, Any] = {}
  for field in fields:
    attribute = slots[field][0]
    slot_variables = list(getattr(optimizer, attribute))
    like = getattr(opt_state, field)
    leaves = []
    for j, (leaf, p) in enumerate(zip(jax.tree.leaves(like), positions, strict=True)):
      variable = slot_variables[p]
      x = _numpy(values[_index(variables, variable)])
      if x.shape != leaf.shape:
        raise ValueError(
          f"optx.{call}: {_describe(variable)} (the {field!r} of"
          f" {_describe(trainable[p])}, trainable variable {p}) has shape"
          f" {x.shape}, and the params leaf {paths[j]} {leaf.shape}; the leaves"
          " must be the trainable variables in order, or pass order="
        )
      leaves.append(jax.device_put(x.astype(leaf.dtype), leaf.sharding))
    replaced[field] = jax.tree.unflatten(jax.tree.structure(like), leaves)
  iterations = int(_numpy(values[_index(variables, optimizer.iterations)]))
  if "count" in opt_state._fields:
    replaced["count"] = base.fresh(iterations, jnp.int32)
  if "u_product" in opt_state._fields:  # Nadam's scalar variable
    product = _numpy(values[_index(variables, optimizer._u_product)])
    replaced["u_product"] = base.fresh(product, jnp.float32)
  replacements = {id(opt_state): opt_state._replace(**replaced)}
  if scheduler is not None:
    rate = _learning_rate_variable(optimizer, variables)
    if rate is None:
      raise ValueError(
        f"optx.{call}: the optx optimizer has a LearningRateScheduler, and the"
        " Keras optimizer's learning_rate is a schedule, not a variable the"
        " callback sets"
      )
    epoch = (iterations - 1) // int(steps_per_epoch or 1) if iterations > 0 else -1
    replacements[id(scheduler)] = LearningRateSchedulerState(
      count=base.fresh(iterations, jnp.int32),
      epoch=base.fresh(epoch, jnp.int32),
      learning_rate=base.fresh(_numpy(values[_index(variables, rate)]), jnp.float32),
    )
  return jax.tree.map(lambda x: replacements.get(id(x), x), template, is_leaf=_is_node)


def variable_values(
  state: optax.OptState, optimizer: Any, *, order: Any = None
) -> list[np.ndarray]:
  r"""The values of a Keras optimizer's variables for an ``optx.keras`` state.

  One NumPy array per entry of ``optimizer.variables``, in that order: the
  state's buffers in the slots of each trainable variable, its step count as
  ``iteration`` (a state without a count leaves the optimizer's own) and a
  :class:`LearningRateScheduler`'s current rate as ``learning_rate``; any
  other variable keeps its value. Assign them
  (``for v, x in zip(optimizer.variables, values): v.assign(x)``) or pass
  them to ``optimizer.stateless_apply``. ``optimizer`` must be built, over
  the same variables, with the same class and arguments.

  Args:
    state: an ``optx.keras`` optimizer's state.
    optimizer: the built Keras optimizer to continue with.
    order: as in :func:`load_variables`.

  Returns:
    A list of NumPy arrays, one per ``optimizer.variables`` entry.

  Examples:
    >>> import jax.numpy as jnp
    >>> import pytest
    >>> import optx
    >>> tx = optx.keras.Adam(learning_rate=0.1)
    >>> _, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    >>> keras = pytest.importorskip("keras")  # from here on, Keras's side
    >>> w = keras.Variable(jnp.zeros(2))
    >>> optimizer = keras.optimizers.Adam(learning_rate=0.1)
    >>> optimizer.build([w])
    >>> values = optx.keras.variable_values(state, optimizer)
    >>> for variable, value in zip(optimizer.variables, values):
    ...   _ = variable.assign(value)
    >>> print(int(optimizer.iterations.value), optimizer.variables[2].value)
    1 [0.1 0.1]
  """
  call = "keras.variable_values"
  opt_state, scheduler = _parts(call, "state", state)
  _check_optimizer(call, optimizer, opt_state)
  _, slots = _KINDS[type(opt_state)]
  variables = list(optimizer.variables)
  out = [np.array(_numpy(var)) for var in variables]
  fields = [field for field in slots if getattr(opt_state, field) is not None]
  trainable = _trainable(optimizer)
  if fields:
    like = getattr(opt_state, fields[0])
    positions = _positions(call, order, trainable, _leaf_paths(like))
  for field in fields:
    slot_variables = list(getattr(optimizer, slots[field][0]))
    for leaf, p in zip(
      jax.tree.leaves(getattr(opt_state, field)), positions, strict=True
    ):
      i = _index(variables, slot_variables[p])
      if out[i].shape != leaf.shape:
        raise ValueError(
          f"optx.{call}: {_describe(variables[i])} has shape {out[i].shape}, and"
          f" the state's {field!r} for trainable variable {p} {leaf.shape}"
        )
      out[i] = np.asarray(leaf).astype(out[i].dtype)
  if "u_product" in opt_state._fields:  # Nadam's scalar variable
    i = _index(variables, optimizer._u_product)
    out[i] = np.asarray(opt_state.u_product).astype(out[i].dtype)
  count = None
  if "count" in opt_state._fields:
    count = int(opt_state.count)
  if scheduler is not None:
    count = int(scheduler.count)
    rate = _learning_rate_variable(optimizer, variables)
    if rate is None:
      raise ValueError(
        f"optx.{call}: the optx state has a LearningRateScheduler, and the Keras"
        " optimizer's learning_rate is a schedule, not a variable to set"
      )
    i = _index(variables, rate)
    out[i] = np.asarray(scheduler.learning_rate).astype(out[i].dtype)
  if count is not None:
    i = _index(variables, optimizer.iterations)
    out[i] = np.asarray(count).astype(out[i].dtype)
  return out
