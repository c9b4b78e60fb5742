"""PyTorch's ``state_dict()`` as read and written by ``optx.torch``'s checkpoint functions.

Which PyTorch optimizer a dict is (its ``param_groups`` keys), which buffers
each keeps under which option, how a dict (or a file, loaded with
``weights_only=True``) is read and checked, and where each PyTorch parameter's
buffers sit in an optx state.
"""

from __future__ import annotations

import numbers
import os
import pickle
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import leaf_order
from optx._src import plateau as plateau_lib
from optx.torch import _adam
from optx.torch import _optimizers
from optx.torch import _variants


class Kind(NamedTuple):
  """What tells a PyTorch optimizer's ``state_dict()`` apart, and what it keeps."""

  name: str
  signature: frozenset[str]
  """Keys of its ``param_groups`` that no other optimizer here has all of."""
  options: Mapping[str, str]
  """Each buffer, and the option that keeps it ("" when it is always kept)."""
  step: bool
  """Whether PyTorch keeps a per-parameter ``step``."""


SGD_KIND = Kind(
  "SGD",
  frozenset({"momentum", "dampening", "nesterov"}),
  {"momentum_buffer": "momentum"},
  False,
)
ADAGRAD_KIND = Kind(
  "Adagrad", frozenset({"lr_decay", "initial_accumulator_value"}), {"sum": ""}, True
)
RMSPROP_KIND = Kind(
  "RMSprop",
  frozenset({"alpha", "centered"}),
  {"square_avg": "", "grad_avg": "centered", "momentum_buffer": "momentum"},
  True,
)
ADAM_KIND = Kind(
  "Adam",
  frozenset({"betas", "amsgrad"}),
  {"exp_avg": "", "exp_avg_sq": "", "max_exp_avg_sq": "amsgrad"},
  True,
)
NADAM_KIND = Kind(
  "NAdam",
  frozenset({"betas", "momentum_decay"}),
  {"exp_avg": "", "exp_avg_sq": ""},  # and the scalar mu_product (load, export)
  True,
)
ADADELTA_KIND = Kind(
  "Adadelta", frozenset({"rho"}), {"square_avg": "", "acc_delta": ""}, True
)
# Adamax's keys are all Adam's too: an Adam state_dict read as Adamax's is
# refused by its missing 'exp_inf'.
ADAMAX_KIND = Kind("Adamax", frozenset({"betas"}), {"exp_avg": "", "exp_inf": ""}, True)
KINDS: dict[type, Kind] = {  # each optimizer's states, without and with a count
  state: kind
  for kind, *states in [
    (SGD_KIND, _optimizers.SGDState, _optimizers.CountedSGDState),
    (ADAGRAD_KIND, _optimizers.AdagradState, _optimizers.CountedAdagradState),
    (RMSPROP_KIND, _optimizers.RMSpropState, _optimizers.CountedRMSpropState),
    (ADAM_KIND, _adam.AdamState),
    (ADAMAX_KIND, _variants.AdamaxState),
    (NADAM_KIND, _variants.NAdamState),
    (ADADELTA_KIND, _variants.AdadeltaState, _variants.CountedAdadeltaState),
  ]
  for state in states
}
STATES = tuple(KINDS)
PLATEAU_KEYS = frozenset({"best", "num_bad_epochs", "cooldown_counter"})
MAX_REDUCTIONS = 10_000


# ----------------------------------------------------------------------------
# Reading PyTorch's dicts.


def describe(value: Any) -> str:
  if isinstance(value, Mapping):
    return f"a dict with keys {sorted(map(str, value))}"
  return f"{type(value).__name__}"


def read(call: str, arg: str, value: Any) -> Any:
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


def optimizer_dict(call: str, arg: str, value: Any) -> tuple[list[dict], Mapping]:
  """The ``param_groups`` and ``state`` of a PyTorch optimizer's ``state_dict()``."""
  value = read(call, arg, value)
  if (
    not isinstance(value, Mapping)
    or "state" not in value
    or "param_groups" not in value
  ):
    raise TypeError(
      f"optx.{call}({arg}=...) must be a PyTorch optimizer's state_dict() (a dict"
      f" with 'state' and 'param_groups') or a file holding one, got"
      f" {describe(value)}"
    )
  groups = [dict(group) for group in value["param_groups"]]
  if not groups or not isinstance(value["state"], Mapping):
    raise ValueError(
      f"optx.{call}({arg}=...) has no parameter groups, or a 'state' that is not"
      " a dict; pass the state_dict() of an optimizer built over the parameters"
    )
  return groups, value["state"]


def scheduler_dict(call: str, arg: str, value: Any) -> dict:
  value = read(call, arg, value)
  if not isinstance(value, Mapping) or not (
    "last_epoch" in value or PLATEAU_KEYS <= value.keys()
  ):
    raise TypeError(
      f"optx.{call}({arg}=...) must be a PyTorch scheduler's state_dict() (a dict"
      f" with 'last_epoch') or a file holding one, got {describe(value)}"
    )
  return dict(value)


def is_plateau_dict(scheduler: Mapping) -> bool:
  return PLATEAU_KEYS <= scheduler.keys()


def plain(value: Any) -> Any:
  """A tensor as a Python number (PyTorch allows a tensor ``lr``); anything else as is."""
  if hasattr(value, "detach"):
    return value.detach().cpu().item()
  return value


def torch_name(group: Mapping) -> str:
  kinds = (SGD_KIND, ADAGRAD_KIND, RMSPROP_KIND, ADAM_KIND, NADAM_KIND)
  for kind in (*kinds, ADADELTA_KIND, ADAMAX_KIND):
    if kind.signature <= group.keys():
      adamw = kind is ADAM_KIND and group.get("decoupled_weight_decay")
      return "AdamW" if adamw else kind.name
  keys = sorted(str(k) for k in group if k not in ("params", "param_names"))
  return f"optimizer whose param_groups have the keys {keys}"


def check_groups(call: str, arg: str, kind: Kind, groups: list[dict]) -> None:
  """Same class as ``kind``, and one set of hyperparameters in every group."""
  for group in groups:
    if not kind.signature <= group.keys():
      raise ValueError(
        f"optx.{call}: {arg} is the state of a PyTorch {torch_name(group)}, and"
        f" the optx state is an optx.torch.{kind.name}'s; build the optx optimizer"
        " as the PyTorch one, with the same class and arguments"
      )
  first = groups[0]
  for i, group in enumerate(groups[1:], 1):
    for key in sorted((first.keys() | group.keys()) - {"params", "param_names"}):
      if plain(first.get(key)) != plain(group.get(key)):
        raise ValueError(
          f"optx.{call}: {arg}['param_groups'][{i}][{key!r}] is"
          f" {group.get(key)!r}, param_groups[0]'s {first.get(key)!r}: an optx"
          " optimizer has one set of hyperparameters (build the optx one with"
          " optx.torch.param_groups)"
        )


def option_on(value: Any) -> bool:
  value = plain(value)
  return value != 0 if isinstance(value, numbers.Number) else bool(value)


def check_buffers(call: str, kind: Kind, opt_state: Any, group: Mapping) -> None:
  """The buffers PyTorch keeps (by its options) are the ones the optx state keeps."""
  for field, option in kind.options.items():
    ours = getattr(opt_state, field) is not None
    theirs = not option or option_on(group.get(option))
    if ours != theirs:
      raise ValueError(
        f"optx.{call}: PyTorch's {torch_name(group)} has {option}="
        f"{group.get(option)!r}, which keeps {'a' if theirs else 'no'} {field!r}"
        f" buffer, and the optx state has {'one' if ours else 'none'}: build the"
        f" optx optimizer with the same {option}"
      )


# ----------------------------------------------------------------------------
# The optx side.


def is_node(x: Any) -> bool:
  return isinstance(x, (*STATES, plateau_lib.ReduceOnPlateauState))


def parts(call: str, arg: str, state: Any) -> tuple[Any, Any]:
  """The optimizer's own state inside ``state``, and its plateau's (or None)."""
  nodes = [x for x in jax.tree.leaves(state, is_leaf=is_node) if is_node(x)]
  found = [x for x in nodes if isinstance(x, STATES)]
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


def replace(state: Any, new: Mapping[int, Any]) -> Any:
  """``state`` with each node whose ``id`` is a key of ``new`` replaced."""
  return jax.tree.map(lambda x: new.get(id(x), x), state, is_leaf=is_node)


def counted(opt_state: Any) -> bool:
  return "count" in opt_state._fields


def leaf_paths(tree: Any) -> list[str]:
  return [
    jax.tree_util.keystr(path) or "(root)"
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


def buffers_of(opt_state: Any, kind: Kind) -> dict[str, list[jax.Array]]:
  return {
    field: jax.tree.leaves(getattr(opt_state, field))
    for field in kind.options
    if getattr(opt_state, field) is not None
  }


def positions(
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
  positions = leaf_order.positions(
    call,
    order,
    paths,
    names,
    item="PyTorch parameter",
    entries="ints (positions in PyTorch's parameter order) or parameter names",
    names_are="its names are",
    no_names="the state_dict has no param_names: build the PyTorch optimizer"
    " from model.named_parameters(), or give positions",
  )
  described = [
    f"PyTorch parameter {p}" + (f" ({names[p]!r})" if names else "") for p in positions
  ]
  return [ids[p] for p in positions], described


def numpy(value: Any) -> np.ndarray:
  """A tensor (or an array) as a NumPy array, without importing PyTorch."""
  if hasattr(value, "detach"):
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16 of its own
      value = value.float()
    value = value.numpy()
  return np.asarray(value)


def array(call: str, what: str, value: Any, like: jax.Array, path: str) -> jax.Array:
  """``value`` as a new array with the dtype and placement of the buffer ``like``."""
  x = numpy(value)
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


def resolve_count(
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
