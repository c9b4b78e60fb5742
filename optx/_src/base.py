"""Types and the few helpers every building block shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

Schedule: TypeAlias = Callable[[jax.Array], ArrayLike]
"""A jittable function of the step count (an int32 scalar) returning a scalar."""

ScalarOrSchedule: TypeAlias = ArrayLike | Schedule
"""A hyperparameter: a float, a scalar array, or a :data:`Schedule`."""


def value_at(hyperparameter: ScalarOrSchedule, count: jax.Array) -> jax.Array:
  """Returns the value of ``hyperparameter`` at step ``count`` as a float32 scalar.

  A schedule is called with the step count; a constant is returned as is.
  Hyperparameters live in float32 whatever the parameters' dtype, so that
  ``1 - b2`` and ``b2 ** t`` keep their precision; per-leaf maths casts them.
  """
  value = hyperparameter(count) if callable(hyperparameter) else hyperparameter
  return jnp.asarray(value, dtype=jnp.float32)


def zero_count() -> jax.Array:
  """A fresh step counter: an int32 zero."""
  return jnp.zeros([], jnp.int32)


# optax's counter saturates at the int32 maximum instead of wrapping around.
increment = optax.safe_increment


def zeros_like(tree: Any, dtype: Any = None) -> Any:
  """A tree of zeros shaped like ``tree`` (``None`` leaves stay ``None``).

  ``dtype`` overrides the leaves' dtype when given (the ``*_dtype`` options).
  """
  return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=dtype), tree)


def full_like(tree: Any, fill_value: ArrayLike, dtype: Any = None) -> Any:
  """A tree of ``fill_value`` shaped like ``tree``; ``fill_value`` may be traced."""
  return jax.tree.map(
      lambda p: jnp.full_like(p, fill_value, dtype=dtype), tree
  )


def check_structure(call: str, updates: Any, state_tree: Any) -> None:
  """Raises a ValueError naming both structures when ``updates`` and ``state_tree`` differ."""
  updates_def = jax.tree.structure(updates)
  state_def = jax.tree.structure(state_tree)
  if updates_def != state_def:
    raise ValueError(
        f"optx.{call}: the updates' tree structure differs from the one the"
        f" state was initialised with.\n  updates: {updates_def}\n  state:  "
        f" {state_def}"
    )
