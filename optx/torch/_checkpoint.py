"""PyTorch checkpoints into ``optx.torch`` states, and back.

PyTorch's ``optimizer.state_dict()`` holds, per parameter (by its index in
``model.parameters()`` order), the optimizer's buffers under the names the
``optx.torch`` states use (``momentum_buffer``, ``sum``, ``square_avg``,
``grad_avg``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``exp_inf``,
``acc_delta``; NAdam's scalar ``mu_product``, one for all) and a ``step``,
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

import numbers
from collections.abc import Hashable
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx.torch._state_format import KINDS
from optx.torch._state_format import NADAM_KIND
from optx.torch._state_format import SGD_KIND
from optx.torch._state_format import array
from optx.torch._state_format import buffers_of
from optx.torch._state_format import check_buffers
from optx.torch._state_format import check_groups
from optx.torch._state_format import counted
from optx.torch._state_format import is_plateau_dict
from optx.torch._state_format import leaf_paths
from optx.torch._state_format import optimizer_dict
from optx.torch._state_format import option_on
from optx.torch._state_format import parts
from optx.torch._state_format import plain
from optx.torch._state_format import positions
from optx.torch._state_format import replace
from optx.torch._state_format import resolve_count
from optx.torch._state_format import scheduler_dict
from optx.torch._state_plateau import plateau_in


def checkpoint_groups() -> Any:
  """The module for :func:`optx.torch.param_groups` states (it imports this one)."""
  from optx.torch import _checkpoint_groups

  return _checkpoint_groups


def one_group(call: str, group_labels: Any) -> None:
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
  groups, states = optimizer_dict(call, "state_dict", state_dict)
  theirs = None if scheduler is None else scheduler_dict(call, "scheduler", scheduler)
  if count is not None and (
    not isinstance(count, numbers.Integral) or isinstance(count, bool)
  ):
    raise TypeError(f"optx.{call}(count=...) must be an int, got {count!r}")
  template = tx.init(params)
  if checkpoint_groups().is_grouped(template):
    return checkpoint_groups().load(
      call, template, groups, states, theirs, count, order, lr, group_labels
    )
  one_group(call, group_labels)
  opt_state, plateau = parts(call, "tx", template)
  kind = KINDS[type(opt_state)]
  check_groups(call, "state_dict", kind, groups)
  check_buffers(call, kind, opt_state, groups[0])
  buffers = buffers_of(opt_state, kind)
  paths = leaf_paths(getattr(opt_state, next(iter(buffers)))) if buffers else []
  if not buffers:  # SGD without momentum keeps nothing per leaf
    paths = leaf_paths(params)
  ids, described = positions(call, order, groups, paths)

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
      steps.append((round(float(plain(entry["step"]))), f"{who}'s step"))
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
        array(call, f"{who}'s {field!r}", entry[field], leaves[j], paths[j])
      )
  if kind.step and fresh and steps:
    steps += [(0, f"{who} (no state yet)") for who in fresh]
  candidates = list(steps)
  if theirs is not None and not is_plateau_dict(theirs):
    if not counted(opt_state):
      raise ValueError(
        f"optx.{call}(scheduler=...) is an LRScheduler's state, and the optx state"
        " keeps no step count: its lr is a number. Build the optx optimizer with"
        " the matching optx.torch scheduler as lr="
      )
    candidates.append((int(theirs["last_epoch"]), "the scheduler's last_epoch"))
  if count is not None:
    candidates.append((int(count), "count="))
  step_count = resolve_count(
    call, counted(opt_state), candidates, len(fresh) < len(ids)
  )
  damped = kind is SGD_KIND and option_on(groups[0].get("dampening"))
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
  if kind is NADAM_KIND:  # one float32 product, which PyTorch keeps per parameter
    products = {
      float(plain(states[pid]["mu_product"]))
      for pid in ids
      if states.get(pid) and "mu_product" in states[pid]
    }
    if len(products) > 1:
      raise ValueError(
        f"optx.{call}: the parameters' 'mu_product' differ ({sorted(products)}):"
        " optx's NAdam keeps one for all"
      )
    if products:
      replaced["mu_product"] = base.fresh(products.pop(), jnp.float32)
  replacements = {id(opt_state): opt_state._replace(**replaced)}
  if plateau is not None:
    if theirs is None or not is_plateau_dict(theirs):
      raise ValueError(
        f"optx.{call}: the optx optimizer has a plateau; pass scheduler= (the"
        " PyTorch ReduceLROnPlateau's state_dict()), whose best and counters it"
        " continues from"
      )
    current = float(plain(groups[0]["lr"]))
    replacements[id(plateau)] = plateau_in(call, plateau, theirs, current, lr)
  elif theirs is not None and is_plateau_dict(theirs):
    raise ValueError(
      f"optx.{call}(scheduler=...) is a ReduceLROnPlateau's state, and the optx"
      " optimizer has no plateau: build it with"
      " plateau=optx.torch.ReduceLROnPlateau(...)"
    )
  return replace(template, replacements)
