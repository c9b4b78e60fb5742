"""Runs a transformation on one flat buffer per dtype instead of one per leaf.

For models with thousands of small leaves the cost of a jitted train step is
dominated by per-array overheads (each argument and result of the jitted call
is handled separately; see optax issue #1498 and jax-ml/jax issue #4667), not
by arithmetic. Keeping the optimizer state as a single buffer per dtype removes
most of those arrays. ``optax.flatten`` does the same with ``ravel_pytree``,
which casts every leaf to one common dtype; this wrapper keeps each dtype in a
buffer of its own, so bfloat16 stays bfloat16 and float32 stays float32.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import validation as v


class FlattenState(NamedTuple):
  """State of :func:`flatten`: the inner state, over one flat buffer per dtype."""

  inner_state: optax.OptState


def _flat(tree: Any, max_leaf_size: int) -> dict[str, jax.Array]:
  """Concatenates the raveled small leaves of ``tree`` into one buffer per dtype.

  Leaves with more than ``max_leaf_size`` elements stay buffers of their own,
  under the key ``"leaf<index>"``.
  """
  groups: dict[str, list[jax.Array]] = {}
  flat = {}
  for index, leaf in enumerate(jax.tree.leaves(tree)):
    if int(np.prod(np.shape(leaf))) > max_leaf_size:
      flat[f"leaf{index:06d}"] = leaf
    else:
      groups.setdefault(jnp.dtype(leaf.dtype).name, []).append(jnp.ravel(leaf))
  for name, leaves in groups.items():
    flat[name] = leaves[0] if len(leaves) == 1 else jnp.concatenate(leaves)
  return flat


def _unflat(flat: dict[str, jax.Array], like: Any, max_leaf_size: int) -> Any:
  """Cuts the buffers of :func:`_flat` back into a tree shaped like ``like``."""
  leaves, treedef = jax.tree.flatten(like)
  offsets = dict.fromkeys(flat, 0)
  pieces = []
  for index, leaf in enumerate(leaves):
    size = int(np.prod(leaf.shape))
    if size > max_leaf_size:
      pieces.append(flat[f"leaf{index:06d}"])
      continue
    name = jnp.dtype(leaf.dtype).name
    start = offsets[name]
    offsets[name] = start + size
    pieces.append(flat[name][start : start + size].reshape(leaf.shape))
  return treedef.unflatten(pieces)


def flatten(
  inner: optax.GradientTransformation, *, max_leaf_size: int = 2**14
) -> optax.GradientTransformationExtraArgs:
  r"""Applies ``inner`` to one flat buffer per dtype: faster for many small leaves.

  The leaves of the gradients (and of the parameters, when given) are raveled
  and concatenated, one buffer per dtype; ``inner`` sees a dict of those
  buffers, and its updates are cut back into the gradients' tree:

  .. math::
    u = \operatorname{unflatten}\big(T(\operatorname{flatten}(g))\big)

  where :math:`T` is ``inner``. Every elementwise optimizer gives the same
  numbers as without the wrapper, while its state shrinks to one buffer per
  dtype per moment, so a jitted step passes and returns far fewer arrays.

  A trade-off, hence opt-in (figures in ``benchmarks/README.md``): with
  thousands of small leaves the step is 2-3x faster, but the compile is about
  2-4x slower (XLA compiles each leaf's slice of the flat updates as a kernel
  of its own, where the per-leaf kernels of the plain path are identical and
  compiled once); flattening large leaves would make the step several times
  slower (extra copies of the gradients and updates). Use it for long runs of
  models with many small parameters. Leaves larger than ``max_leaf_size`` elements
  keep buffers of their own, so that a model mixing large matrices with many
  small vectors pays the copies only on the small ones. The gradients must have
  the parameters' structure and dtypes.

  Args:
    inner: an elementwise transformation, e.g. ``optx.adam(1e-3)``.
    max_leaf_size: leaves with more elements than this are not flattened
      (default 16384: below it the copy costs less than the per-array
      overhead it saves).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` whose state is a
    :class:`FlattenState`; extra arguments (such as ``value=``) are forwarded.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(3)}
    >>> tx = optx.flatten(optx.adam(0.1))
    >>> state = tx.init(params)
    >>> print(state.inner_state[0].mu["float32"].shape)
    (7,)
    >>> grads = {"w": jnp.full((2, 2), 0.5), "b": jnp.ones(3)}
    >>> updates, state = tx.update(grads, state, params)
    >>> print(f"{updates['w'][0, 0]:.4f} {updates['b'][0]:.4f}")
    -0.1000 -0.1000
  """
  if not isinstance(inner, optax.GradientTransformation):
    raise TypeError(
      f"optx.flatten(inner=...) must be an optax.GradientTransformation, got {inner!r}"
    )
  v.check_integer("flatten", "max_leaf_size", max_leaf_size, lower=0)
  inner = optax.with_extra_args_support(inner)

  def init_fn(params):
    return FlattenState(inner.init(_flat(params, max_leaf_size)))

  def update_fn(updates, state, params=None, **extra_args):
    flat_params = None if params is None else _flat(params, max_leaf_size)
    flat_updates, inner_state = inner.update(
      _flat(updates, max_leaf_size), state.inner_state, flat_params, **extra_args
    )
    flat_updates = cast(
      dict[str, jax.Array], flat_updates
    )  # inner keeps _flat's layout
    return _unflat(flat_updates, updates, max_leaf_size), FlattenState(inner_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
