"""PyTorch's parameter groups: per-group hyperparameters over a labelled pytree.

PyTorch gives an optimizer a list of groups, each a dict of parameters and
the hyperparameters that differ from the optimizer's keyword arguments.
Here a pytree of labels (one per leaf, or per subtree) names each leaf's
group, and ``optax.partition`` runs one ``optx.torch`` optimizer per
group, built from the defaults updated by the group's dict.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from typing import Any

import jax
import optax

from optx._src import base
from optx.torch._plateau import ReduceLROnPlateau
from optx.torch._schedulers import Scheduler

_CALL = "optx.torch.param_groups"


def _arguments(optimizer: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
  """The keyword arguments ``optimizer`` takes (name to default), and whether it
  takes any (``**kwargs``)."""
  parameters = inspect.signature(optimizer).parameters.values()
  named = {
    p.name: p.default
    for p in parameters
    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
  }
  return named, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _name(optimizer: Callable[..., Any]) -> str:
  module = getattr(optimizer, "__module__", "") or ""
  name = getattr(optimizer, "__name__", repr(optimizer))
  return f"optx.torch.{name}" if module.startswith("optx.torch") else name


def _check_keys(
  where: str, keys: Any, optimizer: Callable[..., Any], named: dict, anything: bool
) -> None:
  for key in keys:
    if key == "plateau" and where != "defaults":
      raise ValueError(
        f"{_CALL}(groups=...): {where} sets 'plateau'; the plateau is shared by"
        " every group, as PyTorch's ReduceLROnPlateau reduces every group's lr:"
        " give it once, as plateau=, with min_lr={label: floor, ...} for"
        " per-group floors"
      )
    if not anything and key not in named:
      raise TypeError(
        f"{_CALL}: {where} sets {key!r}, which {_name(optimizer)} does not take;"
        f" its arguments are {sorted(named)}"
      )


def _group_plateaus(plateau: Any, labels: list[Hashable]) -> dict[Hashable, Any]:
  """One plateau per group: the same decisions, each group's own ``min_lr``."""
  floors = getattr(plateau, "min_lr", None)
  if not isinstance(plateau, ReduceLROnPlateau) or not isinstance(floors, Mapping):
    return dict.fromkeys(labels, plateau)
  missing = [label for label in labels if label not in floors]
  unknown = [label for label in floors if label not in labels]
  if missing or unknown:
    raise ValueError(
      f"{_CALL}(plateau=ReduceLROnPlateau(min_lr=...)) must give one floor per"
      f" group {labels}; missing {missing}, unknown {unknown}"
    )
  plateaus = {}
  for label in labels:
    plateaus[label] = copy.copy(plateau)
    plateaus[label].min_lr = floors[label]
  return plateaus


def _check_labels(labels: Any, tree: Any, names: list[Hashable], what: str) -> None:
  """``labels`` is a prefix of ``tree`` and names groups only."""
  labels_def = jax.tree.structure(labels)
  try:
    labels_def.flatten_up_to(tree)
  except (ValueError, TypeError) as error:
    raise ValueError(
      f"{_CALL}(labels=...) must have the structure of the {what} (or a prefix"
      f" of it), one group label per leaf.\n  labels: {labels_def}\n  {what}:"
      f" {jax.tree.structure(tree)}"
    ) from error
  for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
    if not isinstance(label, Hashable) or label not in names:
      raise ValueError(
        f"{_CALL}(labels=...): the label {label!r} at"
        f" {jax.tree_util.keystr(path) or '(root)'} names no group; the groups"
        f" are {names}"
      )


def param_groups(
  optimizer: Callable[..., optax.GradientTransformation],
  labels: Any,
  groups: Mapping[Hashable, Mapping[str, Any]],
  *,
  scheduler: Callable[[Any], base.Schedule] | None = None,
  **defaults: Any,
) -> optax.GradientTransformationExtraArgs:
  r"""PyTorch's parameter groups: ``optimizer`` with per-group hyperparameters.

  ``torch.optim.SGD([{"params": decay}, {"params": no_decay,
  "weight_decay": 0.0}], lr=0.1, weight_decay=1e-4)`` becomes
  ``param_groups(optx.torch.SGD, labels, {"decay": {}, "no_decay":
  {"weight_decay": 0.0}}, lr=0.1, weight_decay=1e-4)``: ``labels`` is a pytree
  like the parameters (or a prefix of it, or a function of the parameters
  returning one, as in ``optax.partition``) whose leaves name each
  parameter's group, and each group runs ``optimizer(**defaults, **group)``
  on its own parameters (a boolean mask is labels too, with groups ``True``
  and ``False``). Each group keeps its own state, and its own step count,
  which equals PyTorch's per-parameter ``step`` since every group steps at
  every update.

  Schedulers, as PyTorch's act on every group's ``lr``:

  - ``scheduler=lambda lr: optx.torch.CosineAnnealingLR(lr, T_max=...)`` is
    PyTorch's one scheduler over the optimizer: it is built on each group's
    ``lr`` (PyTorch's ``base_lrs``, one per group). With ``OneCycleLR`` the
    group's ``lr`` is its ``max_lr`` (PyTorch's per-group list).
  - A group's ``lr`` may be a schedule of its own, used as given.
  - ``plateau=optx.torch.ReduceLROnPlateau(...)`` is shared: one sequence of
    decisions (:func:`optx.observe` records the metric into every group), and
    each group's rate is lowered from its own, to its own floor, as PyTorch
    lowers every group; ``min_lr`` is a number (every group's floor) or a
    mapping from each label to its group's floor (PyTorch's per-group list).
    Each group's plateau state is at ``state.inner_states[label]``;
    :func:`optx.plateau_scale` multiplies the groups' scales.

  :func:`optx.torch.load_state_dict`, :func:`optx.torch.state_dict` and
  :func:`optx.torch.scheduler_state_dict` convert its state from and to
  PyTorch's, one PyTorch param group per optx group.

  Args:
    optimizer: an ``optx.torch`` optimizer (``optx.torch.SGD``, ...) or any
      function of keyword hyperparameters returning an optax transformation.
    labels: a pytree of group names like the parameters (or a prefix of
      them), or a function of the parameters returning one.
    groups: each group name to the hyperparameters it overrides (``{}`` for
      none); every label must be one of them.
    scheduler: a function of a group's ``lr`` returning its schedule, applied
      to every group.
    **defaults: the hyperparameters of every group (PyTorch's keyword
      arguments), ``plateau=`` included.

  Returns:
    An ``optax.GradientTransformationExtraArgs`` (``optax.partition``).

  Examples:
    torchvision's ``--norm-weight-decay 0``: no weight decay on biases and
    normalization scales (the leaves of at most one dimension).

    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optx
    >>> params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    >>> labels = jax.tree.map(lambda p: "norm" if p.ndim <= 1 else "other", params)
    >>> tx = optx.torch.param_groups(
    ...   optx.torch.SGD, labels, {"other": {}, "norm": {"weight_decay": 0.0}},
    ...   lr=0.1, momentum=0.9, weight_decay=0.5)
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> updates, state = tx.update(grads, tx.init(params), params)
    >>> print(f"{updates['kernel'][0, 0]:.4f} {updates['bias'][0]:.4f}")
    -0.1500 -0.1000
  """
  if not callable(optimizer):
    raise TypeError(f"{_CALL}(optimizer=...) must be callable, got {optimizer!r}")
  if not isinstance(groups, Mapping) or not groups:
    raise TypeError(
      f"{_CALL}(groups=...) must be a non-empty dict of group name to the"
      f" hyperparameters it overrides, got {groups!r}"
    )
  if isinstance(scheduler, ReduceLROnPlateau):
    raise TypeError(
      f"{_CALL}(scheduler=...) is a ReduceLROnPlateau, which needs a metric:"
      " give it as plateau=, and call optx.observe with the metric"
    )
  if scheduler is not None and (
    isinstance(scheduler, Scheduler) or not callable(scheduler)
  ):
    raise TypeError(
      f"{_CALL}(scheduler=...) must be a function of a group's lr returning its"
      " schedule, e.g. scheduler=lambda lr: optx.torch.CosineAnnealingLR(lr,"
      f" T_max=100), got {scheduler!r}"
    )
  named, anything = _arguments(optimizer)
  _check_keys("defaults", defaults, optimizer, named, anything)
  names = list(groups)
  plateaus = _group_plateaus(defaults.pop("plateau", None), names)
  transforms = {}
  for label, overrides in groups.items():
    where = f"groups[{label!r}]"
    if not isinstance(overrides, Mapping):
      raise TypeError(
        f"{_CALL}: {where} must be a dict of hyperparameters, got {overrides!r}"
      )
    _check_keys(where, overrides, optimizer, named, anything)
    kwargs = {**defaults, **overrides}
    if scheduler is not None:
      lr = kwargs.get("lr", named.get("lr", inspect.Parameter.empty))
      if lr is inspect.Parameter.empty or base.is_schedule(lr):
        has = "no lr" if lr is inspect.Parameter.empty else "a schedule as lr"
        raise ValueError(
          f"{_CALL}: {where} has {has}, and scheduler= builds each group's"
          " schedule from its lr: give the group a number as lr, or leave"
          " scheduler= out"
        )
      kwargs["lr"] = scheduler(lr)
    if plateaus[label] is not None:
      kwargs["plateau"] = plateaus[label]
    try:
      transforms[label] = optimizer(**kwargs)
    except (TypeError, ValueError) as error:
      raise type(error)(f"{_CALL}: {where}: {error}") from error
  partitioned = optax.partition(transforms, labels)

  def resolved(tree: Any, what: str) -> Any:
    found = labels(tree) if callable(labels) else labels
    _check_labels(found, tree, names, what)
    return found

  def init_fn(params: optax.Params) -> optax.OptState:
    resolved(params, "params")
    return partitioned.init(params)

  def update_fn(updates, state, params=None, **extra_args):
    resolved(updates, "updates")
    return partitioned.update(updates, state, params, **extra_args)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
