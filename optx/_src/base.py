"""Types and the few helpers every building block shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import TypeAlias

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

Schedule: TypeAlias = Callable[[jax.Array], ArrayLike]
"""A jittable function of the step count (an int32 scalar) returning a scalar."""

ScalarOrSchedule: TypeAlias = ArrayLike | Schedule
"""A hyperparameter: a float, a scalar array, or a :data:`Schedule`."""


def value_at(hyperparameter: ScalarOrSchedule, count: jax.Array | None) -> jax.Array:
  """Returns the value of ``hyperparameter`` at step ``count`` as a float32 scalar.

  A schedule is called with the step count; a constant is returned as is
  (``count`` may then be ``None``: blocks with constant hyperparameters keep
  no counter, see :func:`count_of`). Hyperparameters live in float32 whatever
  the parameters' dtype, and per-leaf maths casts them: with bfloat16
  parameters ``1 - b2`` and ``b2 ** t`` keep float32's precision; with
  float64 parameters (x64) the results are float32-accurate only, about 1e-7
  relative.
  """
  if callable(hyperparameter):
    if count is None:
      raise ValueError(
        "optx: a state without a step count was given to a block with a"
        " schedule; pass the state made by this transform's own init"
      )
    hyperparameter = hyperparameter(count)
  return jnp.asarray(hyperparameter, dtype=jnp.float32)


def zero_count() -> jax.Array:
  """A fresh step counter: an int32 zero."""
  return jnp.zeros([], jnp.int32)


def increment(count: jax.Array) -> jax.Array:
  """``count + 1``, saturating at the dtype's maximum instead of wrapping (optax's)."""
  return jnp.asarray(optax.safe_increment(count))


def any_schedule(*hyperparameters: Any) -> bool:
  """Whether any of ``hyperparameters`` is a schedule (so its block needs a count)."""
  return any(callable(h) for h in hyperparameters)


def count_of(state: Any) -> jax.Array | None:
  """A block state's step counter, or ``None`` for a state that keeps none.

  A block whose hyperparameters are all constants never reads its step, so
  its state has no ``count`` field at all (as Optax's constant blocks): the
  state stays at the minimum, the step has no scalar kernel for it (on a GPU
  each is a launch, a few microseconds), and
  ``optax.tree_utils.tree_get(state, "count")`` finds only real counters.
  """
  # Not getattr(state, "count"): every NamedTuple has tuple.count, a method.
  return state.count if "count" in getattr(state, "_fields", ()) else None


def with_count(count: jax.Array | None, plain: Any, counted: Any, *fields: Any) -> Any:
  """The next state: ``counted(count + 1, *fields)``, or ``plain(*fields)`` without a count."""
  return plain(*fields) if count is None else counted(increment(count), *fields)


@functools.partial(jax.jit, static_argnums=2)
def _filled_like(p: jax.Array, fill_value: ArrayLike, dtype: Any) -> jax.Array:
  # A plain jnp.full_like(p) does not read p, so under jit XLA makes it
  # replicated (or puts it on one device). Selecting against p makes XLA's
  # sharding propagation give the buffer p's sharding; the barrier hides the
  # constant predicate so the select is not folded away before propagation.
  # The select never picks p (NaN/Inf are harmless) and costs one read of p at
  # init; being jitted, it is also one dispatch per leaf when called eagerly.
  p = p if dtype is None else p.astype(dtype)
  keep = jax.lax.optimization_barrier(jnp.zeros([], bool))
  return jax.lax.select(keep, p, jnp.full_like(p, fill_value))


def full_like(tree: Any, fill_value: ArrayLike, dtype: Any = None) -> Any:
  """A tree of ``fill_value`` shaped and sharded like ``tree`` (``None`` stays ``None``).

  ``fill_value`` may be traced; ``dtype`` overrides the leaves' dtype when
  given (the ``*_dtype`` options). Every state buffer is made here.
  """
  return jax.tree.map(lambda p: _filled_like(jnp.asarray(p), fill_value, dtype), tree)


def zeros_like(tree: Any, dtype: Any = None) -> Any:
  """A tree of zeros shaped and sharded like ``tree`` (``None`` leaves stay ``None``).

  ``dtype`` overrides the leaves' dtype when given (the ``*_dtype`` options).
  """
  return full_like(tree, 0, dtype)


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
