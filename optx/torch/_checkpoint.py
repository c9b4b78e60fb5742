"""PyTorch checkpoints into ``optx.torch`` states, and back.

PyTorch's ``optimizer.state_dict()`` holds, per parameter (by its index in
``model.parameters()`` order), the optimizer's buffers under the names the
``optx.torch`` states use (``momentum_buffer``, ``sum``, ``square_avg``,
``grad_avg``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) and a ``step``,
and, per parameter group, the hyperparameters. :func:`load_state_dict` puts
the buffers, the step count and a ``ReduceLROnPlateau``'s state into the state
``tx.init(params)`` makes, so that a run trained in PyTorch continues in JAX
on the same trajectory; :func:`state_dict` and :func:`scheduler_state_dict`
fill a fresh PyTorch optimizer's and scheduler's own ``state_dict()`` from an
optx state, for ``load_state_dict`` there.

PyTorch is imported only inside these functions, to read a file
(``torch.load(path, weights_only=True)``, which unpickles no arbitrary object)
and to make the tensors of an export.
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx.torch import _adam
from optx.torch import _optimizers
from optx.torch._onecycle import cycled_momentum


class _Kind(NamedTuple):
  """What tells a PyTorch optimizer's ``state_dict()`` apart, and what it keeps."""

  name: str
  signature: frozenset[str]
  """Keys of its ``param_groups`` that no other optimizer here has all of."""
  options: Mapping[str, str]
  """Each buffer, and the option that keeps it ("" when it is always kept)."""
  step: bool
  """Whether PyTorch keeps a per-parameter ``step``."""


_SGD = _Kind(
  "SGD",
  frozenset({"momentum", "dampening", "nesterov"}),
  {"momentum_buffer": "momentum"},
  False,
)
_ADAGRAD = _Kind(
  "Adagrad", frozenset({"lr_decay", "initial_accumulator_value"}), {"sum": ""}, True
)
_RMSPROP = _Kind(
  "RMSprop",
  frozenset({"alpha", "centered"}),
  {"square_avg": "", "grad_avg": "centered", "momentum_buffer": "momentum"},
  True,
)
_ADAM = _Kind(
  "Adam",
  frozenset({"betas", "amsgrad"}),
  {"exp_avg": "", "exp_avg_sq": "", "max_exp_avg_sq": "amsgrad"},
  True,
)
_KINDS: dict[type, _Kind] = {
  _optimizers.SGDState: _SGD,
  _optimizers.CountedSGDState: _SGD,
  _optimizers.AdagradState: _ADAGRAD,
  _optimizers.CountedAdagradState: _ADAGRAD,
  _optimizers.RMSpropState: _RMSPROP,
  _optimizers.CountedRMSpropState: _RMSPROP,
  _adam.AdamState: _ADAM,
}
_STATES = tuple(_KINDS)
_PLATEAU_KEYS = frozenset({"best", "num_bad_epochs", "cooldown_counter"})
_MAX_REDUCTIONS = 10_000


# ----------------------------------------------------------------------------
# Reading PyTorch's dicts.


def _describe(value: Any) -> str:
  if isinstance(value, Mapping):
    return f"a dict with keys {sorted(map(str, value))}"
  return f"{type(value).__name__}"


def _read(call: str, arg: str, value: Any) -> Any:
  """``value``, or the object in the file it names, read without unpickling code."""
  if not isinstance(value, (str, os.PathLike)):
    return value
  import torch  # only here: optx.torch does not import PyTorch

  try:
    return torch.load(value, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as error:
    raise ValueError(
      f"optx.{call}({arg}=...) read {os.fspath(value)!r} with torch.load(...,"
      " weights_only=True), which refuses to unpickle arbitrary objects, and it"
      f" refused this file: {error}"
    ) from error


def _optimizer_dict(call: str, arg: str, value: Any) -> tuple[list[dict], Mapping]:
  """The ``param_groups`` and ``state`` of a PyTorch optimizer's ``state_dict()``."""
  value = _read(call, arg, value)
  if (
    not isinstance(value, Mapping)
    or "state" not in value
    or "param_groups" not in value
  ):
    raise TypeError(
      f"optx.{call}({arg}=...) must be a PyTorch optimizer's state_dict() (a dict"
      f" with 'state' and 'param_groups') or a file holding one, got"
      f" {_describe(value)}"
    )
  groups = [dict(group) for group in value["param_groups"]]
  if not groups or not isinstance(value["state"], Mapping):
    raise ValueError(
      f"optx.{call}({arg}=...) has no parameter groups, or a 'state' that is not"
      " a dict; pass the state_dict() of an optimizer built over the parameters"
    )
  return groups, value["state"]


def _scheduler_dict(call: str, arg: str, value: Any) -> dict:
  value = _read(call, arg, value)
  if not isinstance(value, Mapping) or not (
    "last_epoch" in value or _PLATEAU_KEYS <= value.keys()
  ):
    raise TypeError(
      f"optx.{call}({arg}=...) must be a PyTorch scheduler's state_dict() (a dict"
      f" with 'last_epoch') or a file holding one, got {_describe(value)}"
    )
  return dict(value)


def _is_plateau_dict(scheduler: Mapping) -> bool:
  return _PLATEAU_KEYS <= scheduler.keys()


def _plain(value: Any) -> Any:
  """A tensor as a Python number (PyTorch allows a tensor ``lr``); anything else as is."""
  if hasattr(value, "detach"):
    return value.detach().cpu().item()
  return value


def _torch_name(group: Mapping) -> str:
  for kind in (_SGD, _ADAGRAD, _RMSPROP, _ADAM):
    if kind.signature <= group.keys():
      adamw = kind is _ADAM and group.get("decoupled_weight_decay")
      return "AdamW" if adamw else kind.name
  keys = sorted(str(k) for k in group if k not in ("params", "param_names"))
  return f"optimizer whose param_groups have the keys {keys}"


def _check_groups(call: str, arg: str, kind: _Kind, groups: list[dict]) -> None:
  """Same class as ``kind``, and one set of hyperparameters in every group."""
  for group in groups:
    if not kind.signature <= group.keys():
      raise ValueError(
        f"optx.{call}: {arg} is the state of a PyTorch {_torch_name(group)}, and"
        f" the optx state is an optx.torch.{kind.name}'s; build the optx optimizer"
        " as the PyTorch one, with the same class and arguments"
      )
  first = groups[0]
  for i, group in enumerate(groups[1:], 1):
    for key in sorted((first.keys() | group.keys()) - {"params", "param_names"}):
      if _plain(first.get(key)) != _plain(group.get(key)):
        raise ValueError(
          f"optx.{call}: {arg}['param_groups'][{i}][{key!r}] is"
          f" {group.get(key)!r}, param_groups[0]'s {first.get(key)!r}: an optx"
          " optimizer has one set of hyperparameters (build the optx one with"
          " optx.torch.param_groups)"
        )


def _option_on(value: Any) -> bool:
  value = _plain(value)
  return value != 0 if isinstance(value, numbers.Number) else bool(value)


def _check_buffers(call: str, kind: _Kind, opt_state: Any, group: Mapping) -> None:
  """The buffers PyTorch keeps (by its options) are the ones the optx state keeps."""
  for field, option in kind.options.items():
    ours = getattr(opt_state, field) is not None
    theirs = not option or _option_on(group.get(option))
    if ours != theirs:
      raise ValueError(
        f"optx.{call}: PyTorch's {_torch_name(group)} has {option}="
        f"{group.get(option)!r}, which keeps {'a' if theirs else 'no'} {field!r}"
        f" buffer, and the optx state has {'one' if ours else 'none'}: build the"
        f" optx optimizer with the same {option}"
      )


# ----------------------------------------------------------------------------
# The optx side.


def _is_node(x: Any) -> bool:
  return isinstance(x, (*_STATES, plateau_lib.ReduceOnPlateauState))


def _parts(call: str, arg: str, state: Any) -> tuple[Any, Any]:
  """The optimizer's own state inside ``state``, and its plateau's (or None)."""
  nodes = [x for x in jax.tree.leaves(state, is_leaf=_is_node) if _is_node(x)]
  found = [x for x in nodes if isinstance(x, _STATES)]
  plateaus = [x for x in nodes if isinstance(x, plateau_lib.ReduceOnPlateauState)]
  if len(found) > 1 and any(
    isinstance(x, optax.PartitionState)
    for x in jax.tree.leaves(
      state, is_leaf=lambda x: isinstance(x, optax.PartitionState)
    )
  ):
    raise ValueError(
      f"optx.{call}({arg}=...) holds an optx.torch.param_groups state inside another"
      " transformation; pass the param_groups optimizer (or its state) itself"
    )
  if len(found) != 1 or len(plateaus) > 1:
    raise TypeError(
      f"optx.{call}({arg}=...) must be an optx.torch optimizer (SGD, Adagrad,"
      " RMSprop, Adam or AdamW, with or without plateau=) or its state; its"
      f" state holds {len(found)} optx.torch optimizer states and"
      f" {len(plateaus)} plateaus: {jax.tree.structure(state)}"
    )
  return found[0], plateaus[0] if plateaus else None


def _replace(state: Any, new: Mapping[int, Any]) -> Any:
  """``state`` with each node whose ``id`` is a key of ``new`` replaced."""
  return jax.tree.map(lambda x: new.get(id(x), x), state, is_leaf=_is_node)


def _counted(opt_state: Any) -> bool:
  return "count" in opt_state._fields


def _leaf_paths(tree: Any) -> list[str]:
  return [
    jax.tree_util.keystr(path) or "(root)"
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


def _buffers(opt_state: Any, kind: _Kind) -> dict[str, list[jax.Array]]:
  return {
    field: jax.tree.leaves(getattr(opt_state, field))
    for field in kind.options
    if getattr(opt_state, field) is not None
  }


def _positions(
  call: str, order: Any, groups: list[dict], paths: list[str]
) -> tuple[list[int], list[str]]:
  """For each leaf, PyTorch's parameter id, and a description of that parameter.

  ``order`` lists, leaf by leaf, the position of its parameter in PyTorch's
  order (``model.parameters()``) or its name (with ``named_parameters()``).
  """
  ids = [pid for group in groups for pid in group["params"]]
  names = (
    [name for group in groups for name in group["param_names"]]
    if all("param_names" in group for group in groups)
    else None
  )
  n = len(paths)
  if len(ids) != n:
    raise ValueError(
      f"optx.{call}: params has {n} leaves and the PyTorch optimizer {len(ids)}"
      " parameters; they must be the same parameters (leaf i is PyTorch's"
      " parameter i, in model.parameters() order, unless order= says otherwise)"
    )
  if order is None:
    positions = list(range(n))
  else:
    entries = jax.tree.leaves(order)
    if len(entries) != n:
      raise ValueError(
        f"optx.{call}(order=...) must give one PyTorch parameter per leaf of"
        f" params ({n}), got {len(entries)}"
      )
    positions = []
    for j, entry in enumerate(entries):
      if isinstance(entry, str):
        if names is None:
          raise ValueError(
            f"optx.{call}(order=...) names {entry!r} for the leaf {paths[j]}, and"
            " the state_dict has no param_names: build the PyTorch optimizer"
            " from model.named_parameters(), or give positions"
          )
        if entry not in names:
          raise ValueError(
            f"optx.{call}(order=...) names {entry!r} for the leaf {paths[j]}, and"
            f" its names are {names}"
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
          f"optx.{call}(order=...) must hold ints (positions in PyTorch's"
          f" parameter order) or parameter names, got {entry!r}"
        )
    if len(set(positions)) != n:
      twice = sorted({p for p in positions if positions.count(p) > 1})
      raise ValueError(
        f"optx.{call}(order=...) must name each PyTorch parameter once; the"
        f" positions {twice} come more than once"
      )
  described = [
    f"PyTorch parameter {p}" + (f" ({names[p]!r})" if names else "") for p in positions
  ]
  return [ids[p] for p in positions], described


def _numpy(value: Any) -> np.ndarray:
  """A tensor (or an array) as a NumPy array, without importing PyTorch."""
  if hasattr(value, "detach"):
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16 of its own
      value = value.float()
    value = value.numpy()
  return np.asarray(value)


def _array(call: str, what: str, value: Any, like: jax.Array, path: str) -> jax.Array:
  """``value`` as a new array with the dtype and placement of the buffer ``like``."""
  x = _numpy(value)
  if x.shape != like.shape:
    hint = ""
    if x.ndim == 2 and x.shape[::-1] == like.shape:
      hint = (
        " (its transpose has the leaf's shape: PyTorch's Linear keeps its weight"
        " as (out, in); transpose the parameter and its buffers, or compare the"
        " order of the parameters)"
      )
    raise ValueError(
      f"optx.{call}: {what} has shape {x.shape}, and the params leaf {path}"
      f" {like.shape}{hint}; the leaves must be PyTorch's parameters in"
      " model.parameters() order, or pass order="
    )
  if np.iscomplexobj(x) and not jnp.issubdtype(like.dtype, jnp.complexfloating):
    raise TypeError(
      f"optx.{call}: {what} is complex, and the params leaf {path} is {like.dtype}"
    )
  return jax.device_put(x.astype(like.dtype), like.sharding)


def _resolve_count(
  call: str, counted: bool, candidates: list[tuple[int, str]], needed: bool
) -> int | None:
  """The one step count the sources agree on (None for a state without one)."""
  if not counted:
    return None
  values = {value for value, _ in candidates}
  if len(values) > 1:
    said = "; ".join(f"{source}: {value}" for value, source in candidates)
    raise ValueError(
      f"optx.{call}: the step counts disagree ({said}); optx keeps one count of"
      " updates, which PyTorch's step and a scheduler stepped after every"
      " optimizer.step() both equal"
    )
  if not values:
    if needed:
      raise ValueError(
        f"optx.{call}: the optx state keeps a step count (a schedule, or"
        " dampening) and PyTorch's state_dict has none (SGD keeps no step): pass"
        " scheduler= (the scheduler's state_dict()) or count= (the updates so far)"
      )
    return 0
  (value,) = values
  if not 0 <= value <= np.iinfo(np.int32).max:
    raise ValueError(f"optx.{call}: the step count must be an int32 >= 0, got {value}")
  return value


# ----------------------------------------------------------------------------
# ReduceLROnPlateau: PyTorch's lowered rate <-> optx's scale, by the number of reductions.


def _torch_rates(lr: float, factor: float, min_lr: float, eps: float) -> list[float]:
  """PyTorch's rate after 0, 1, 2, ... reductions (``_reduce_lr``), while it changes."""
  rates = [lr]
  while len(rates) < _MAX_REDUCTIONS:
    new = max(rates[-1] * factor, min_lr)
    if not rates[-1] - new > eps:
      break
    rates.append(new)
  return rates


def _optx_scales(config: plateau_lib.PlateauConfig) -> list[np.float32]:
  """optx's scale after 0, 1, 2, ... reductions (its ``rule="torch"``), in float32."""
  factor, floor, eps = (
    np.float32(config.factor),
    np.float32(config.min_scale),
    np.float32(config.eps),
  )
  scales = [np.float32(1.0)]
  while len(scales) < _MAX_REDUCTIONS:
    reduced = np.maximum(scales[-1] * factor, floor)
    if not scales[-1] - reduced > eps:
      break
    scales.append(reduced)
  return scales


def _reductions(call: str, sequence: Sequence[Any], value: float, what: str) -> int:
  """The number of reductions after which ``sequence`` reaches ``value``."""
  if value <= 0 or sequence[0] <= 0:
    return 0
  logs = np.log(np.asarray(sequence, np.float64))
  k = int(np.argmin(np.abs(logs - math.log(value))))
  if abs(float(sequence[k]) / value - 1) > 1e-4:
    raise ValueError(
      f"optx.{call}: {what} is {value!r}, which is no whole number of"
      f" ReduceLROnPlateau reductions of {float(sequence[0])!r} (the nearest is"
      f" {float(sequence[k])!r}, after {k})"
    )
  return k


def _check_plateau(
  call: str, config: plateau_lib.PlateauConfig, theirs: Mapping
) -> None:
  """PyTorch's scheduler and the optx plateau decide alike."""
  pairs = [
    ("mode", theirs.get("mode"), config.mode),
    ("threshold_mode", theirs.get("threshold_mode"), config.threshold_mode),
    ("patience", theirs.get("patience"), int(config.patience)),
    ("cooldown", theirs.get("cooldown"), int(config.cooldown)),
    ("factor", np.float32(theirs.get("factor")), np.float32(config.factor)),
    ("threshold", np.float32(theirs.get("threshold")), np.float32(config.min_delta)),
  ]
  if config.rule != "torch":
    raise ValueError(
      f"optx.{call}: the optx plateau follows Keras's rule; a PyTorch"
      " ReduceLROnPlateau needs optx.torch.ReduceLROnPlateau(...) as plateau="
    )
  for key, their, our in pairs:
    if their != our:
      raise ValueError(
        f"optx.{call}: the PyTorch ReduceLROnPlateau has {key}={their!r}, the optx"
        f" plateau {our!r}: build optx.torch.ReduceLROnPlateau with the same"
        " arguments"
      )
  min_lrs = {float(x) for x in theirs.get("min_lrs", [0.0])}
  if len(min_lrs) > 1:
    raise ValueError(
      f"optx.{call}: the PyTorch ReduceLROnPlateau has one min_lr per group"
      f" ({sorted(min_lrs)}); optx's has one"
    )


def _base_lr(
  call: str, config: plateau_lib.PlateauConfig, theirs: Mapping, lr: Any
) -> float:
  """The optimizer's ``lr`` before any reduction.

  PyTorch keeps only the lowered rate; optx's plateau keeps ``eps`` and
  ``min_lr`` divided by the optimizer's ``lr``, from which it follows.
  """
  if lr is not None:
    if base.is_schedule(lr):
      raise ValueError(
        f"optx.{call}(lr=...) must be a number with a ReduceLROnPlateau (a rate"
        " it lowers), got a schedule"
      )
    return float(lr)
  if float(config.eps) > 0:
    return float(theirs["eps"]) / float(config.eps)
  if 0 < float(config.min_scale) < 1:
    return float(theirs["min_lrs"][0]) / float(config.min_scale)
  raise ValueError(
    f"optx.{call}: with eps=0 and min_lr=0 the optx plateau does not know the"
    " optimizer's lr: pass lr= (the lr both optimizers were built with)"
  )


def _plateau_in(
  call: str, plateau: Any, theirs: Mapping, current_lr: float, lr: Any
) -> Any:
  """The optx plateau state of PyTorch's scheduler and lowered rate."""
  config = plateau.config
  _check_plateau(call, config, theirs)
  lr0 = _base_lr(call, config, theirs, lr)
  rates = _torch_rates(
    lr0, float(theirs["factor"]), float(theirs["min_lrs"][0]), float(theirs["eps"])
  )
  k = _reductions(call, rates, current_lr, "PyTorch's current lr")
  scales = _optx_scales(config)
  return plateau._replace(
    scale=base.fresh(scales[min(k, len(scales) - 1)], jnp.float32),
    best=base.fresh(float(theirs["best"]), jnp.float32),
    wait=base.fresh(int(theirs["num_bad_epochs"]), jnp.int32),
    cooldown_counter=base.fresh(int(theirs["cooldown_counter"]), jnp.int32),
  )


def _lowered(call: str, plateau: Any, lr: float, min_lr: float, eps: float) -> float:
  """PyTorch's rate after the plateau's reductions so far, from ``lr``."""
  scales = _optx_scales(plateau.config)
  k = _reductions(call, scales, float(plateau.scale), "the plateau's scale")
  rates = _torch_rates(lr, float(plateau.config.factor), min_lr, eps)
  return rates[min(k, len(rates) - 1)]


# ----------------------------------------------------------------------------
# The public functions.


def _checkpoint_groups() -> Any:
  """The module for :func:`optx.torch.param_groups` states (it imports this one)."""
  from optx.torch import _checkpoint_groups

  return _checkpoint_groups


def _one_group(call: str, group_labels: Any) -> None:
  if group_labels is not None:
    raise ValueError(
      f"optx.{call}(group_labels=...) is for an optx.torch.param_groups optimizer;"
      " this one has one group"
    )


def load_state_dict(
  tx: optax.GradientTransformation,
  state_dict: Any,
  params: optax.Params,
  *,
  scheduler: Any = None,
  count: int | None = None,
  order: Any = None,
  lr: Any = None,
  group_labels: Sequence[Hashable] | None = None,
) -> optax.OptState:
  r"""The state of ``tx`` for ``params`` from a PyTorch optimizer's ``state_dict()``.

  ``tx.init(params)`` with PyTorch's buffers in it, leaf by leaf: the
  :math:`i`-th leaf of ``params`` (``jax.tree.leaves`` order) is PyTorch's
  :math:`i`-th parameter (``model.parameters()`` order, the ``params`` indices
  of ``param_groups``) unless ``order`` says otherwise. Continuing with the
  same gradients gives PyTorch's trajectory. ``tx`` must be the
  ``optx.torch`` optimizer of the same class and arguments: the class and the
  options that keep buffers (``momentum``, ``centered``, ``amsgrad``) are
  checked, the other hyperparameters cannot be (``tx`` does not expose them).
  The step count is PyTorch's per-parameter ``step`` (Adam, Adagrad,
  RMSprop), the scheduler's ``last_epoch`` or ``count``, which must agree; a
  parameter without state (it has had no gradient yet) starts fresh, as in
  PyTorch. A ``ReduceLROnPlateau``'s ``state_dict()`` gives the plateau its
  best, ``num_bad_epochs``, ``cooldown_counter`` and, from the lowered rate,
  its scale: the number of reductions PyTorch made, replayed by optx's rule.

  Args:
    tx: an ``optx.torch`` optimizer (``plateau=`` allowed), or a chain holding
      exactly one.
    state_dict: ``optimizer.state_dict()``, or the path of a file saved with
      ``torch.save`` (read with ``torch.load(..., weights_only=True)``).
    params: the parameters, as PyTorch's are at the checkpoint.
    scheduler: the scheduler's ``state_dict()`` (or a file): a scheduler
      stepped after every ``optimizer.step()`` gives the step count, a
      ``ReduceLROnPlateau`` the plateau's state (needed when ``tx`` has one).
    count: the updates so far, where nothing else says (a damped or scheduled
      SGD without a scheduler state); unused by a state that keeps no count.
    order: the PyTorch parameter of each leaf, as a list or a pytree like
      ``params``: its position in ``model.parameters()`` or its name (an
      optimizer built from ``model.named_parameters()``).
    lr: the ``lr`` both optimizers were built with, only needed with a
      ``ReduceLROnPlateau`` whose ``eps`` and ``min_lr`` are both 0 (for
      :func:`optx.torch.param_groups`, one per group: a dict from label to ``lr``).
    group_labels: for a :func:`optx.torch.param_groups` optimizer, the label of each of
      PyTorch's ``param_groups``, in order; by default each group is the
      PyTorch group holding its parameters (known where it keeps buffers).

  Each optx group of a :func:`optx.torch.param_groups` optimizer is read from one of
  PyTorch's ``param_groups`` (the same parameters, in any order) with its own
  hyperparameters, and a ``ReduceLROnPlateau``'s lowered rate and ``min_lr``
  of that group.

  Returns:
    The optimizer state, like ``tx.init(params)``.

  Examples:
    A hand-written ``state_dict()`` of ``torch.optim.SGD([w], lr=0.1,
    momentum=0.9)``:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optx
    >>> group = dict(lr=0.1, momentum=0.9, dampening=0, weight_decay=0,
    ...              nesterov=False, maximize=False, params=[0])
    >>> saved = {"state": {0: {"momentum_buffer": np.full(2, 0.5, np.float32)}},
    ...          "param_groups": [group]}
    >>> tx = optx.torch.SGD(lr=0.1, momentum=0.9)
    >>> state = optx.torch.load_state_dict(tx, saved, jnp.zeros(2))
    >>> u, state = tx.update(jnp.ones(2), state)
    >>> print(f"{u[0]:.4f}")
    -0.1450
  """
  call = "torch.load_state_dict"
  groups, states = _optimizer_dict(call, "state_dict", state_dict)
  theirs = None if scheduler is None else _scheduler_dict(call, "scheduler", scheduler)
  if count is not None and (
    not isinstance(count, numbers.Integral) or isinstance(count, bool)
  ):
    raise TypeError(f"optx.{call}(count=...) must be an int, got {count!r}")
  template = tx.init(params)
  if _checkpoint_groups().is_grouped(template):
    return _checkpoint_groups().load(
      call, template, groups, states, theirs, count, order, lr, group_labels
    )
  _one_group(call, group_labels)
  opt_state, plateau = _parts(call, "tx", template)
  kind = _KINDS[type(opt_state)]
  _check_groups(call, "state_dict", kind, groups)
  _check_buffers(call, kind, opt_state, groups[0])
  buffers = _buffers(opt_state, kind)
  paths = _leaf_paths(getattr(opt_state, next(iter(buffers)))) if buffers else []
  if not buffers:  # SGD without momentum keeps nothing per leaf
    paths = _leaf_paths(params)
  ids, described = _positions(call, order, groups, paths)

  new: dict[str, list[jax.Array]] = {field: [] for field in buffers}
  steps: list[tuple[int, str]] = []
  fresh: list[str] = []
  for j, (pid, who) in enumerate(zip(ids, described, strict=True)):
    entry = states.get(pid) or {}
    if not entry:
      fresh.append(who)
    elif kind.step:
      if "step" not in entry:
        raise ValueError(f"optx.{call}: {who}'s state has no 'step': {sorted(entry)}")
      steps.append((round(float(_plain(entry["step"]))), f"{who}'s step"))
    for field, leaves in buffers.items():
      if not entry:
        new[field].append(leaves[j])  # no state yet: PyTorch starts it as init does
        continue
      if field not in entry or entry[field] is None:
        raise ValueError(
          f"optx.{call}: {who}'s state has no {field!r} (its keys: {sorted(entry)});"
          f" the optx state keeps one"
        )
      new[field].append(
        _array(call, f"{who}'s {field!r}", entry[field], leaves[j], paths[j])
      )
  if kind.step and fresh and steps:
    steps += [(0, f"{who} (no state yet)") for who in fresh]
  candidates = list(steps)
  if theirs is not None and not _is_plateau_dict(theirs):
    if not _counted(opt_state):
      raise ValueError(
        f"optx.{call}(scheduler=...) is an LRScheduler's state, and the optx state"
        " keeps no step count: its lr is a number. Build the optx optimizer with"
        " the matching optx.torch scheduler as lr="
      )
    candidates.append((int(theirs["last_epoch"]), "the scheduler's last_epoch"))
  if count is not None:
    candidates.append((int(count), "count="))
  step_count = _resolve_count(
    call, _counted(opt_state), candidates, len(fresh) < len(ids)
  )
  damped = kind is _SGD and _option_on(groups[0].get("dampening"))
  if damped and fresh and len(fresh) < len(ids) and step_count:
    raise ValueError(
      f"optx.{call}: {fresh[0]} has no momentum_buffer yet, which PyTorch's damped"
      " SGD starts at the gradient itself and optx only at the first update"
    )

  replaced = {
    field: jax.tree.unflatten(jax.tree.structure(getattr(opt_state, field)), leaves)
    for field, leaves in new.items()
  }
  if step_count is not None:
    replaced["count"] = base.fresh(step_count, jnp.int32)
  replacements = {id(opt_state): opt_state._replace(**replaced)}
  if plateau is not None:
    if theirs is None or not _is_plateau_dict(theirs):
      raise ValueError(
        f"optx.{call}: the optx optimizer has a plateau; pass scheduler= (the"
        " PyTorch ReduceLROnPlateau's state_dict()), whose best and counters it"
        " continues from"
      )
    current = float(_plain(groups[0]["lr"]))
    replacements[id(plateau)] = _plateau_in(call, plateau, theirs, current, lr)
  elif theirs is not None and _is_plateau_dict(theirs):
    raise ValueError(
      f"optx.{call}(scheduler=...) is a ReduceLROnPlateau's state, and the optx"
      " optimizer has no plateau: build it with"
      " plateau=optx.torch.ReduceLROnPlateau(...)"
    )
  return _replace(template, replacements)


def _scalar_dtype(torch: Any) -> Any:
  """PyTorch's dtype for ``step``: float64 under a float64 default, else float32."""
  return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _tensor(torch: Any, leaf: jax.Array) -> Any:
  x = np.asarray(leaf)
  if x.dtype == jnp.bfloat16:
    return torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
  return torch.from_numpy(np.array(x))  # a writable copy


def _rate(call: str, lr: Any, count: int | None, group: Mapping) -> float:
  """The optimizer's rate at ``count``, before a plateau's reductions."""
  if lr is None:
    if "initial_lr" in group:
      raise ValueError(
        f"optx.{call}: a scheduler sets the rate of the template's param groups"
        " (they have 'initial_lr'): pass lr= (the optx.torch scheduler the optx"
        " optimizer was built with), whose value at the state's count is exported"
      )
    return float(_plain(group["lr"]))
  if base.is_schedule(lr):
    if count is None:
      raise ValueError(
        f"optx.{call}(lr=...) is a schedule, and the state keeps no step count to"
        " evaluate it at (was the optx optimizer built with it?)"
      )
    return float(lr(count))
  return float(lr)


def state_dict(
  state: optax.OptState,
  template: Any,
  *,
  lr: Any = None,
  count: int | None = None,
  order: Any = None,
  group_labels: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
  r"""A PyTorch optimizer's ``state_dict()`` holding an ``optx.torch`` state.

  ``template`` is the ``state_dict()`` of the PyTorch optimizer to load into,
  built over the same parameters with the same class and arguments (and its
  scheduler already built, as PyTorch asks before ``load_state_dict``): its
  ``param_groups`` give the hyperparameters and parameter indices, and the
  returned dict has, per parameter, the optx state's buffers as tensors and
  its step count as ``step``. The rate in ``param_groups`` is lowered by the
  plateau's reductions, as PyTorch's ``ReduceLROnPlateau`` lowers it; with a
  scheduler, pass the optx schedule as ``lr`` and its value (and ``OneCycleLR``'s
  momentum) at the state's count is written there. Imports PyTorch.

  Args:
    state: an ``optx.torch`` optimizer's state.
    template: the target optimizer's ``state_dict()``.
    lr: the ``lr`` the optx optimizer was built with, needed for a schedule.
    count: PyTorch's ``step`` for a state that keeps no count (RMSprop, or
      Adagrad without ``lr_decay``, where PyTorch's arithmetic does not read
      it); 0 by default.
    order: as in :func:`load_state_dict`.
    group_labels: as in :func:`load_state_dict`; ``lr`` is then a dict from
      label to each group's ``lr`` (or one for every group).

  Returns:
    A dict for ``optimizer.load_state_dict``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import pytest
    >>> import optx
    >>> tx = optx.torch.SGD(lr=0.1, momentum=0.9)
    >>> params = {"b": jnp.zeros(2), "w": jnp.zeros((2, 3))}
    >>> _, state = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params))
    >>> torch = pytest.importorskip("torch")  # from here on, PyTorch's side
    >>> model = torch.nn.Linear(3, 2)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> exported = optx.torch.state_dict(state, optimizer.state_dict(), order=[1, 0])
    >>> optimizer.load_state_dict(exported)
    >>> print(optimizer.state[model.bias]["momentum_buffer"])
    tensor([1., 1.])
  """
  call = "torch.state_dict"
  if _checkpoint_groups().is_grouped(state):
    return _checkpoint_groups().export(
      call, state, template, lr, count, order, group_labels
    )
  _one_group(call, group_labels)
  opt_state, plateau = _parts(call, "state", state)
  kind = _KINDS[type(opt_state)]
  groups, _ = _optimizer_dict(call, "template", template)
  _check_groups(call, "template", kind, groups)
  _check_buffers(call, kind, opt_state, groups[0])
  buffers = _buffers(opt_state, kind)
  if buffers:
    paths = _leaf_paths(getattr(opt_state, next(iter(buffers))))
    ids, _ = _positions(call, order, groups, paths)
  else:  # SGD without momentum: PyTorch keeps no state either
    ids = []
  own = int(opt_state.count) if _counted(opt_state) else None
  if own is not None and count is not None and own != count:
    raise ValueError(
      f"optx.{call}(count={count!r}) differs from the state's count {own}"
    )
  step = own if own is not None else count or 0
  import torch  # only here: optx.torch does not import PyTorch

  exported: dict[Any, dict[str, Any]] = {}
  for j, pid in enumerate(ids):
    entry = {field: _tensor(torch, leaves[j]) for field, leaves in buffers.items()}
    if kind.step:
      entry = {"step": torch.tensor(float(step), dtype=_scalar_dtype(torch)), **entry}
    exported[pid] = entry
  rate = _rate(call, lr, own, groups[0])
  if plateau is not None:
    config = plateau.config
    rate = _lowered(
      call, plateau, rate, float(config.min_scale) * rate, float(config.eps) * rate
    )
  momentum = cycled_momentum(lr)
  for group in groups:
    group["lr"] = rate
    group["params"] = list(group["params"])
    if momentum is not None and own is not None:
      value = float(momentum(jnp.asarray(own, jnp.int32)))
      if kind is _ADAM:
        group["betas"] = (value, group["betas"][1])
      else:
        group["momentum"] = value
  return {"state": exported, "param_groups": groups}


def scheduler_state_dict(
  state: optax.OptState,
  template: Any,
  *,
  lr: Any = None,
  group_labels: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
  r"""A PyTorch scheduler's ``state_dict()`` at the point an ``optx.torch`` state is.

  ``template`` is the ``state_dict()`` of the PyTorch scheduler to load into,
  built with the same class and arguments on a fresh optimizer. For a
  ``ReduceLROnPlateau``, the plateau's best, ``num_bad_epochs``,
  ``cooldown_counter`` and lowered rate are written; for a scheduler stepped
  after every update, ``last_epoch`` is the state's step count and the last
  rate the value of ``lr``, the optx schedule the optimizer was built with,
  at that count. ``SequentialLR`` and ``ChainedScheduler`` keep their
  schedulers' states and are not supported; ``CosineAnnealingWarmRestarts``'s
  cycle position is computed. Load it before the optimizer's
  :func:`state_dict`, as PyTorch asks.

  Args:
    state: an ``optx.torch`` optimizer's state.
    template: the target scheduler's ``state_dict()``.
    lr: the optimizer's ``lr``: the optx scheduler (needed unless the
      template is a ``ReduceLROnPlateau``'s), or for a plateau the number it
      lowers (by default the template's last rate); a dict from label to
      ``lr`` for a :func:`optx.torch.param_groups` state.
    group_labels: for a :func:`optx.torch.param_groups` state of several groups, the
      label of each of PyTorch's ``param_groups``, in order (needed).

  Returns:
    A dict for ``scheduler.load_state_dict``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> schedule = optx.torch.StepLR(0.1, step_size=2)
    >>> tx = optx.torch.SGD(lr=schedule, momentum=0.9)
    >>> state = tx.init(jnp.zeros(2))
    >>> for _ in range(3):
    ...   _, state = tx.update(jnp.ones(2), state)
    >>> fresh = {"step_size": 2, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 0,
    ...          "_step_count": 1, "_last_lr": [0.1]}
    >>> saved = optx.torch.scheduler_state_dict(state, fresh, lr=schedule)
    >>> print(saved["last_epoch"], f"{saved['_last_lr'][0]:.4f}")
    3 0.0100
  """
  call = "torch.scheduler_state_dict"
  template = _scheduler_dict(call, "template", template)
  if _checkpoint_groups().is_grouped(state):
    return _checkpoint_groups().scheduler_export(
      call, state, template, lr, group_labels
    )
  _one_group(call, group_labels)
  opt_state, plateau = _parts(call, "state", state)
  out = dict(template)
  groups = len(template.get("_last_lr", [None]))
  if _is_plateau_dict(template):
    if plateau is None:
      raise ValueError(
        f"optx.{call}(template=...) is a ReduceLROnPlateau's state, and the optx"
        " state has no plateau"
      )
    _check_plateau(call, plateau.config, template)
    if base.is_schedule(lr):
      raise ValueError(
        f"optx.{call}(lr=...) must be a number with a ReduceLROnPlateau (the rate"
        " it lowers), got a schedule"
      )
    start = float(lr) if lr is not None else float(template["_last_lr"][0])
    rate = _lowered(
      call, plateau, start, float(template["min_lrs"][0]), float(template["eps"])
    )
    out.update(
      best=float(plateau.best),
      num_bad_epochs=int(plateau.wait),
      cooldown_counter=int(plateau.cooldown_counter),
      _last_lr=[rate] * groups,
    )
    return out
  if plateau is not None:
    raise ValueError(
      f"optx.{call}: the optx state has a plateau; its template is a"
      " ReduceLROnPlateau's state_dict()"
    )
  if "_schedulers" in template:
    raise ValueError(
      f"optx.{call}(template=...) is the state of a SequentialLR or"
      " ChainedScheduler, which keep their schedulers' own states: not"
      " supported (load_state_dict reads its last_epoch)"
    )
  if not _counted(opt_state):
    raise ValueError(
      f"optx.{call}: the optx state keeps no step count (its lr is a number), so"
      " it was built without a scheduler"
    )
  if lr is None:
    raise ValueError(
      f"optx.{call}(lr=...) is needed: the optx scheduler the optimizer was built"
      " with, whose value at the state's count is the scheduler's last rate"
    )
  count = int(opt_state.count)
  rate = _rate(call, lr, count, {})
  out.update(last_epoch=count, _step_count=count + 1, _last_lr=[rate] * groups)
  if "T_cur" in template:  # CosineAnnealingWarmRestarts: the position in the cycle
    t_cur, t_i, t_mult = 0, int(template["T_0"]), int(template["T_mult"])
    for _ in range(count):
      t_cur += 1
      if t_cur >= t_i:
        t_cur, t_i = t_cur % t_i, t_i * t_mult
    out.update(T_cur=t_cur, T_i=t_i)
  return out
