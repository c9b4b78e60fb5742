"""The ``order=`` of a framework checkpoint: which of its items each leaf is.

Keras's variables and PyTorch's parameters come in the framework's own order;
``order=`` lists, leaf by leaf, the position of the leaf's item in that order
(an int) or its name. Each flavor names its items in its errors.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax


def positions(
  call: str,
  order: Any,
  paths: Sequence[str],
  names: Sequence[Any] | None,
  *,
  item: str,
  entries: str,
  names_are: str,
  no_names: str = "",
) -> list[int]:
  """For each leaf, the position of its item in the framework's order.

  Args:
    call: the public name of the reader, for the errors.
    order: None (leaf i is item i), or a tree with one position or name per leaf.
    paths: the leaves' paths, one per item.
    names: the items' names, or None where the framework keeps none.
    item: what an item is called, e.g. ``"Keras variable"``.
    entries: what ``order`` may hold, e.g. ``"ints (...) or variable paths"``.
    names_are: the start of the sentence that lists ``names``.
    no_names: why a name cannot be looked up when ``names`` is None.

  Returns:
    The positions, one per leaf, each item once.
  """
  n = len(paths)
  if order is None:
    return list(range(n))
  leaves = jax.tree.leaves(order)
  if len(leaves) != n:
    raise ValueError(
      f"optx.{call}(order=...) must give one {item} per leaf of params ({n}),"
      f" got {len(leaves)}"
    )
  found = []
  for path, entry in zip(paths, leaves, strict=True):
    if isinstance(entry, str):
      if names is None or entry not in names:
        known = no_names if names is None else f"{names_are} {list(names)}"
        raise ValueError(
          f"optx.{call}(order=...) names {entry!r} for the leaf {path}, and {known}"
        )
      found.append(list(names).index(entry))
    elif isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
      if not 0 <= int(entry) < n:
        raise ValueError(
          f"optx.{call}(order=...) must hold positions in [0, {n}), got"
          f" {entry!r} for the leaf {path}"
        )
      found.append(int(entry))
    else:
      raise TypeError(f"optx.{call}(order=...) must hold {entries}, got {entry!r}")
  if len(set(found)) != n:
    twice = sorted({p for p in found if found.count(p) > 1})
    raise ValueError(
      f"optx.{call}(order=...) must name each {item} once; the positions {twice}"
      " come more than once"
    )
  return found
