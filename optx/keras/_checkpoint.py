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

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import base
from optx._src import validation as v
from optx.keras._callbacks import LearningRateSchedulerState
from optx.keras._variables import KINDS
from optx.keras._variables import as_numpy
from optx.keras._variables import check_optimizer
from optx.keras._variables import describe
from optx.keras._variables import index_of
from optx.keras._variables import is_node
from optx.keras._variables import leaf_paths
from optx.keras._variables import learning_rate_variable
from optx.keras._variables import parts
from optx.keras._variables import positions_of
from optx.keras._variables import trainable_variables


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
  opt_state, scheduler = parts(call, "tx", template)
  check_optimizer(call, optimizer, opt_state)
  _, slots = KINDS[type(opt_state)]
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
  paths = leaf_paths(some)
  trainable = trainable_variables(optimizer)
  positions = positions_of(call, order, trainable, paths)

  replaced: dict[str, Any] = {}
  for field in fields:
    attribute = slots[field][0]
    slot_variables = list(getattr(optimizer, attribute))
    like = getattr(opt_state, field)
    leaves = []
    for j, (leaf, p) in enumerate(zip(jax.tree.leaves(like), positions, strict=True)):
      variable = slot_variables[p]
      x = as_numpy(values[index_of(variables, variable)])
      if x.shape != leaf.shape:
        raise ValueError(
          f"optx.{call}: {describe(variable)} (the {field!r} of"
          f" {describe(trainable[p])}, trainable variable {p}) has shape"
          f" {x.shape}, and the params leaf {paths[j]} {leaf.shape}; the leaves"
          " must be the trainable variables in order, or pass order="
        )
      leaves.append(jax.device_put(x.astype(leaf.dtype), leaf.sharding))
    replaced[field] = jax.tree.unflatten(jax.tree.structure(like), leaves)
  iterations = int(as_numpy(values[index_of(variables, optimizer.iterations)]))
  if "count" in opt_state._fields:
    replaced["count"] = base.fresh(iterations, jnp.int32)
  if "u_product" in opt_state._fields:  # Nadam's scalar variable
    product = as_numpy(values[index_of(variables, optimizer._u_product)])
    replaced["u_product"] = base.fresh(product, jnp.float32)
  replacements = {id(opt_state): opt_state._replace(**replaced)}
  if scheduler is not None:
    rate = learning_rate_variable(optimizer, variables)
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
      learning_rate=base.fresh(
        as_numpy(values[index_of(variables, rate)]), jnp.float32
      ),
    )
  return jax.tree.map(lambda x: replacements.get(id(x), x), template, is_leaf=is_node)


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
  opt_state, scheduler = parts(call, "state", state)
  check_optimizer(call, optimizer, opt_state)
  _, slots = KINDS[type(opt_state)]
  variables = list(optimizer.variables)
  out = [np.array(as_numpy(var)) for var in variables]
  fields = [field for field in slots if getattr(opt_state, field) is not None]
  trainable = trainable_variables(optimizer)
  if fields:
    like = getattr(opt_state, fields[0])
    positions = positions_of(call, order, trainable, leaf_paths(like))
  for field in fields:
    slot_variables = list(getattr(optimizer, slots[field][0]))
    for leaf, p in zip(
      jax.tree.leaves(getattr(opt_state, field)), positions, strict=True
    ):
      i = index_of(variables, slot_variables[p])
      if out[i].shape != leaf.shape:
        raise ValueError(
          f"optx.{call}: {describe(variables[i])} has shape {out[i].shape}, and"
          f" the state's {field!r} for trainable variable {p} {leaf.shape}"
        )
      out[i] = np.asarray(leaf).astype(out[i].dtype)
  if "u_product" in opt_state._fields:  # Nadam's scalar variable
    i = index_of(variables, optimizer._u_product)
    out[i] = np.asarray(opt_state.u_product).astype(out[i].dtype)
  count = None
  if "count" in opt_state._fields:
    count = int(opt_state.count)
  if scheduler is not None:
    count = int(scheduler.count)
    rate = learning_rate_variable(optimizer, variables)
    if rate is None:
      raise ValueError(
        f"optx.{call}: the optx state has a LearningRateScheduler, and the Keras"
        " optimizer's learning_rate is a schedule, not a variable to set"
      )
    i = index_of(variables, rate)
    out[i] = np.asarray(scheduler.learning_rate).astype(out[i].dtype)
  if count is not None:
    i = index_of(variables, optimizer.iterations)
    out[i] = np.asarray(count).astype(out[i].dtype)
  return out
