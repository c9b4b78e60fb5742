"""Checkpoints of :func:`optx.torch.param_groups`: one PyTorch param group per optx group.

Each optx group's state is that of one ``optx.torch`` optimizer over the
group's leaves (the others masked), so each is read from, or written to,
one of PyTorch's ``param_groups`` by the functions of ``_checkpoint.py``, and
the groups are put back together. The leaves of a group are where its buffers
are not masked; its PyTorch group is the one holding their parameters, or
``groups=`` says it (needed where a group keeps no buffer, as SGD without
momentum).
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import jax
import optax

from optx.torch import _checkpoint as ck
from optx.torch import _checkpoint_export as ck_export
from optx.torch import _state_format as fmt


def is_grouped(state: Any) -> bool:
  """Whether ``state`` is the state of :func:`optx.torch.param_groups`."""
  return isinstance(state, optax.PartitionState)


def _masked(x: Any) -> bool:
  return isinstance(x, optax.MaskedNode)


def _members(call: str, arg: str, inner: Mapping[Hashable, Any]) -> tuple[Any, Any]:
  """Every leaf position's path (None if no group keeps buffers), and each group's
  leaf positions (None for a group without buffers)."""
  paths, members = None, {}
  for label, state in inner.items():
    opt_state, _ = fmt.parts(call, arg, state)
    buffers = fmt.buffers_of(opt_state, fmt.KINDS[type(opt_state)])
    if not buffers:
      members[label] = None
      continue
    tree = getattr(opt_state, next(iter(buffers)))
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_masked)[0]
    paths = [jax.tree_util.keystr(path) or "(root)" for path, _ in flat]
    members[label] = [j for j, (_, x) in enumerate(flat) if not _masked(x)]
  return paths, members


def _match(
  call: str,
  inner: Mapping[Hashable, Any],
  torch_groups: list[dict],
  members: Mapping[Hashable, Any],
  ids: list[Any] | None,
  groups: Sequence[Hashable] | None,
) -> dict[Hashable, int]:
  """Each optx group's index in PyTorch's ``param_groups``."""
  labels = list(inner)
  if len(torch_groups) != len(labels):
    raise ValueError(
      f"optx.{call}: the PyTorch optimizer has {len(torch_groups)} param groups and"
      f" the optx one {len(labels)} ({labels}); they must be the same groups"
    )
  if groups is not None:
    if sorted(map(repr, groups)) != sorted(map(repr, labels)):
      raise ValueError(
        f"optx.{call}(groups=...) must name each optx group once, in the order"
        f" of PyTorch's param_groups; got {list(groups)}, the groups are {labels}"
      )
    found = {label: i for i, label in enumerate(groups)}
  else:
    found = {}
  owner = {pid: i for i, group in enumerate(torch_groups) for pid in group["params"]}
  for label in labels:
    if members[label] is None or ids is None:
      continue
    theirs = {owner[ids[j]] for j in members[label]}
    i = found.get(label, min(theirs) if theirs else None)
    pids = sorted(ids[j] for j in members[label])
    if i is None or theirs != {i} or sorted(torch_groups[i]["params"]) != pids:
      raise ValueError(
        f"optx.{call}: the parameters of the optx group {label!r} (PyTorch's"
        f" {pids}) are not one PyTorch param group"
        + ("" if i is None else f" (param_groups[{i}] has {torch_groups[i]['params']})")
      )
    found[label] = i
  left = [label for label in labels if label not in found]
  free = sorted(set(range(len(labels))) - set(found.values()))
  if len(left) == 1 and len(free) == 1:
    found[left[0]] = free[0]
  elif left:
    raise ValueError(
      f"optx.{call}: the optx groups {left} keep no buffer that says which PyTorch"
      " param group they are: pass groups=, the label of each of PyTorch's"
      " param_groups in order"
    )
  return found


def _for(value: Any, label: Hashable) -> Any:
  """A group's own ``lr=``: the mapping's entry, or the one value of every group."""
  return value.get(label) if isinstance(value, Mapping) else value


def _plan(
  call: str,
  arg: str,
  state: Any,
  torch_groups: list[dict],
  order: Any,
  groups: Sequence[Hashable] | None,
) -> tuple[dict[Hashable, Any], dict[Hashable, int], dict[Hashable, Any]]:
  """Each group's inner state, PyTorch group index and parameter order."""
  inner = {label: masked.inner_state for label, masked in state.inner_states.items()}
  paths, members = _members(call, arg, inner)
  ids = None if paths is None else fmt.positions(call, order, torch_groups, paths)[0]
  index = _match(call, inner, torch_groups, members, ids, groups)
  orders = {}
  for label, i in index.items():
    own = torch_groups[i]["params"]
    rows = members[label]
    orders[label] = None if rows is None else [own.index(ids[j]) for j in rows]  # pyright: ignore[reportOptionalSubscript]
  return inner, index, orders


def load(
  call: str,
  template: Any,
  groups: list[dict],
  states: Mapping,
  theirs: Mapping | None,
  count: int | None,
  order: Any,
  lr: Any,
  labels: Sequence[Hashable] | None,
) -> Any:
  """``load_state_dict`` for a ``param_groups`` template."""
  inner, index, orders = _plan(call, "tx", template, groups, order, labels)
  loaded = {}
  for label, i in index.items():
    scheduler = theirs
    if theirs is not None and fmt.is_plateau_dict(theirs):
      scheduler = {**theirs, "min_lrs": [theirs["min_lrs"][i]]}
    try:
      loaded[label] = ck.load_state_dict(
        _made(inner[label]),
        {"state": states, "param_groups": [groups[i]]},
        [0.0] * len(groups[i]["params"]),  # stands for the group's leaves
        scheduler=scheduler,
        count=count,
        order=orders[label],
        lr=_for(lr, label),
      )
    except (TypeError, ValueError) as error:
      raise type(error)(f"{error} (the optx group {label!r})") from error
  return template._replace(
    inner_states={
      label: masked._replace(inner_state=loaded[label])
      for label, masked in template.inner_states.items()
    }
  )


def _made(state: Any) -> optax.GradientTransformation:
  """A transformation whose ``init`` makes ``state``: one group's template."""

  def init_fn(params: optax.Params) -> optax.OptState:
    del params
    return state

  def update_fn(updates, state, params=None):
    raise NotImplementedError  # only init is called

  return optax.GradientTransformation(init_fn, update_fn)


def export(
  call: str,
  state: Any,
  template: Any,
  lr: Any,
  count: int | None,
  order: Any,
  labels: Sequence[Hashable] | None,
) -> dict[str, Any]:
  """``state_dict`` for a ``param_groups`` state."""
  torch_groups, _ = fmt.optimizer_dict(call, "template", template)
  inner, index, orders = _plan(call, "state", state, torch_groups, order, labels)
  exported, out_groups = {}, list(torch_groups)
  for label, i in index.items():
    one = ck_export.state_dict(
      inner[label],
      {"state": {}, "param_groups": [torch_groups[i]]},
      lr=_for(lr, label),
      count=count,
      order=orders[label],
    )
    exported.update(one["state"])
    out_groups[i] = one["param_groups"][0]
  return {"state": exported, "param_groups": out_groups}


def scheduler_export(
  call: str, state: Any, template: Mapping, lr: Any, labels: Sequence[Hashable] | None
) -> dict[str, Any]:
  """``scheduler_state_dict`` for a ``param_groups`` state."""
  inner = {label: masked.inner_state for label, masked in state.inner_states.items()}
  if labels is None and len(inner) > 1:
    raise ValueError(
      f"optx.{call}: the state is an optx.torch.param_groups optimizer's: pass"
      " groups=, the label of each of PyTorch's param_groups in order"
    )
  labels = list(inner) if labels is None else list(labels)
  if sorted(map(repr, labels)) != sorted(map(repr, inner)):
    raise ValueError(
      f"optx.{call}(groups=...) must name each optx group once, got {labels}; the"
      f" groups are {list(inner)}"
    )
  out, rates = dict(template), []
  for i, label in enumerate(labels):
    one = dict(template)
    for key in ("_last_lr", "min_lrs"):
      if key in template:
        one[key] = [template[key][i]]
    one = ck_export.scheduler_state_dict(inner[label], one, lr=_for(lr, label))
    rates.append(one["_last_lr"][0])
    out.update({k: x for k, x in one.items() if k not in ("_last_lr", "min_lrs")})
  out["_last_lr"] = rates
  return out
