"""Keras 3's ``exclude_from_weight_decay``: leaves whose weight decay is skipped.

Keras's ``optimizer.exclude_from_weight_decay(var_list=None, var_names=None)``
names variables, or fragments of their names: a variable is excluded when
``re.search("|".join(var_names), variable.name)`` finds a match. A JAX model
has a pytree of parameters instead of named variables, so optx takes, as
``exclude_from_weight_decay=``, either

- a sequence of strings, Keras's ``var_names``: regular expressions searched
  (``re.search``, joined with ``|`` as Keras does) in each leaf's path written
  ``"a/b/0"`` (dict keys, attribute names and sequence indices joined with
  ``/``, as Keras writes a variable's ``path``); Keras's names are the last
  part (``"bias"``), so ``["bias"]`` excludes the same leaves in both; or
- a mask: a pytree of bools like the parameters (``True`` excludes the leaf),
  or a function of the parameters returning one (as ``optax.masked``'s mask),
  which takes the place of Keras's ``var_list``.

An excluded leaf gets the optimizer's step alone, bit for bit as without
weight decay; the others get the decay, as ever.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple
from typing import TypeAlias

import jax
import numpy as np
import optax

Exclusion: TypeAlias = Sequence[str] | Callable[[Any], Any] | Any
"""Names (regular expressions) searched in the leaves' paths, a pytree of bools
like the parameters (``True`` excludes), or a function of the parameters
returning one."""


class Excluding(NamedTuple):
  """A weight decay with the leaves it skips, as ``options.build`` hands it to a step."""

  value: Any
  exclude: Any


def check(call: str, exclude: Any) -> Any:
  """Returns ``exclude`` in a canonical form (a tuple of names, or the mask)."""
  if isinstance(exclude, (str, bytes)):
    raise TypeError(
      f"optx.{call}(exclude_from_weight_decay=...) takes a list of names, got the"
      f" string {exclude!r}: Keras joins the characters of a string with '|'"
      f" (any 'b', 'i', ...); pass [{exclude!r}]"
    )
  if callable(exclude):
    return exclude
  if isinstance(exclude, (list, tuple)) and any(isinstance(x, str) for x in exclude):
    bad = [x for x in exclude if not isinstance(x, str)]
    if bad:
      raise TypeError(
        f"optx.{call}(exclude_from_weight_decay=...) mixes names with {bad[0]!r}:"
        " pass a list of names, or a pytree of bools like the parameters"
      )
    for name in exclude:
      try:
        re.compile(name)
      except re.error as error:
        raise ValueError(
          f"optx.{call}(exclude_from_weight_decay=...) holds {name!r}, not a"
          f" regular expression: {error}"
        ) from None
    return tuple(exclude)
  return exclude


def _path(path: Any) -> str:
  parts = []
  for key in path:
    for attribute in ("key", "name", "idx"):
      if hasattr(key, attribute):
        parts.append(str(getattr(key, attribute)))
        break
    else:
      parts.append(str(key))
  return "/".join(parts)


def mask(call: str, exclude: Any, params: Any) -> list[bool]:
  """For each leaf of ``params`` (in order), whether it is excluded."""
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  if isinstance(exclude, tuple) and all(isinstance(x, str) for x in exclude):
    if not exclude:
      return [False] * len(leaves)
    pattern = re.compile("|".join(set(exclude)))
    return [pattern.search(_path(path)) is not None for path, _ in leaves]
  tree = exclude(params) if callable(exclude) else exclude
  treedef = jax.tree.structure(params)
  try:
    flags = treedef.flatten_up_to(tree)
  except (ValueError, TypeError):
    raise ValueError(
      f"optx.{call}(exclude_from_weight_decay=...) must be a pytree of bools"
      f" like the parameters ({treedef}), or a function returning one; got"
      f" {jax.tree.structure(tree)}"
    ) from None
  out = []
  for flag in flags:
    try:
      out.append(bool(np.asarray(flag)))
    except (TypeError, jax.errors.ConcretizationTypeError):
      raise TypeError(
        f"optx.{call}(exclude_from_weight_decay=...) must hold Python bools"
        f" (known when the optimizer is traced), got {flag!r}"
      ) from None
  return out


def per_leaf(
  call: str,
  exclude: Any,
  decayed: optax.GradientTransformation,
  plain: optax.GradientTransformation,
) -> optax.GradientTransformationExtraArgs:
  """``decayed``'s update on the leaves kept, ``plain``'s on those excluded.

  The two share their state (the weight decay changes the update, never a
  buffer); each leaf's choice is static, so under ``jit`` only one of the two
  is computed per leaf.
  """

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError(
        f"optx.{call}(weight_decay=...) needs params: call update(updates,"
        " state, params)"
      )
    excluded = mask(call, exclude, params)
    ours, new_state = decayed.update(updates, state, params, **extra_args)
    theirs, _ = plain.update(updates, state, None, **extra_args)
    treedef = jax.tree.structure(ours)
    chosen = [
      p if skip else d
      for skip, d, p in zip(
        excluded,
        treedef.flatten_up_to(ours),
        treedef.flatten_up_to(theirs),
        strict=True,
      )
    ]
    return treedef.unflatten(chosen), new_state

  return optax.GradientTransformationExtraArgs(decayed.init, update_fn)


def split(weight_decay: Any) -> tuple[Any, Any]:
  """``(weight_decay, exclude)`` from what ``options.build`` hands a step."""
  if isinstance(weight_decay, Excluding):
    return weight_decay.value, weight_decay.exclude
  return weight_decay, None
