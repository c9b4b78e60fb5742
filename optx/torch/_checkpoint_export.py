"""``optx.torch`` states into PyTorch's ``state_dict()``: the reverse of ``load_state_dict``.

:func:`state_dict` and :func:`scheduler_state_dict` fill a fresh PyTorch
optimizer's and scheduler's own ``state_dict()`` (the template) from an optx
state, for ``load_state_dict`` there. PyTorch is imported only inside them,
to make the tensors.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import base
from optx.torch._checkpoint import checkpoint_groups
from optx.torch._checkpoint import one_group
from optx.torch._onecycle import cycled_momentum
from optx.torch._state_format import KINDS
from optx.torch._state_format import NADAM_KIND
from optx.torch._state_format import buffers_of
from optx.torch._state_format import check_buffers
from optx.torch._state_format import check_groups
from optx.torch._state_format import counted
from optx.torch._state_format import is_plateau_dict
from optx.torch._state_format import leaf_paths
from optx.torch._state_format import optimizer_dict
from optx.torch._state_format import parts
from optx.torch._state_format import plain
from optx.torch._state_format import positions
from optx.torch._state_format import scheduler_dict
from optx.torch._state_plateau import check_plateau
from optx.torch._state_plateau import lowered


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
    return float(plain(group["lr"]))
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
  if checkpoint_groups().is_grouped(state):
    return checkpoint_groups().export(
      call, state, template, lr, count, order, group_labels
    )
  one_group(call, group_labels)
  opt_state, plateau = parts(call, "state", state)
  kind = KINDS[type(opt_state)]
  groups, _ = optimizer_dict(call, "template", template)
  check_groups(call, "template", kind, groups)
  check_buffers(call, kind, opt_state, groups[0])
  buffers = buffers_of(opt_state, kind)
  if buffers:
    paths = leaf_paths(getattr(opt_state, next(iter(buffers))))
    ids, _ = positions(call, order, groups, paths)
  else:  # SGD without momentum: PyTorch keeps no state either
    ids = []
  own = int(opt_state.count) if counted(opt_state) else None
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
    if kind is NADAM_KIND:
      product = float(opt_state.mu_product)
      entry["mu_product"] = torch.tensor(product, dtype=_scalar_dtype(torch))
    exported[pid] = entry
  rate = _rate(call, lr, own, groups[0])
  if plateau is not None:
    config = plateau.config
    rate = lowered(
      call, plateau, rate, float(config.min_scale) * rate, float(config.eps) * rate
    )
  momentum = cycled_momentum(lr)
  for group in groups:
    group["lr"] = rate
    group["params"] = list(group["params"])
    if momentum is not None and own is not None:
      value = float(momentum(jnp.asarray(own, jnp.int32)))
      if "betas" in group:  # Adam, AdamW, Adamax, NAdam
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
  template = scheduler_dict(call, "template", template)
  if checkpoint_groups().is_grouped(state):
    return checkpoint_groups().scheduler_export(call, state, template, lr, group_labels)
  one_group(call, group_labels)
  opt_state, plateau = parts(call, "state", state)
  out = dict(template)
  groups = len(template.get("_last_lr", [None]))
  if is_plateau_dict(template):
    if plateau is None:
      raise ValueError(
        f"optx.{call}(template=...) is a ReduceLROnPlateau's state, and the optx"
        " state has no plateau"
      )
    check_plateau(call, plateau.config, template)
    if base.is_schedule(lr):
      raise ValueError(
        f"optx.{call}(lr=...) must be a number with a ReduceLROnPlateau (the rate"
        " it lowers), got a schedule"
      )
    start = float(lr) if lr is not None else float(template["_last_lr"][0])
    rate = lowered(
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
  if not counted(opt_state):
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
