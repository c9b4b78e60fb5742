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

import functools
from typing import Any
from typing import NamedTuple
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optx._src import base
from optx._src import validation as v


class FlattenState(NamedTuple):
  """State of :func:`flatten`: the inner state, over one flat buffer per dtype."""

  inner_state: optax.OptState
  count: jax.Array
  """Updates applied (int32, saturating); also hides the slice offsets from XLA."""


_FAN_IN = 10
"""Leaves per group: operands per concatenation, leaves per hidden offset, and
offsets per sort that hides them (on GPU).

Ten measured best (2000 leaves: concatenation 1.0 s against 1.1-1.4 s for 4,
6, 16 or 25; with one hidden offset per 1, 10 or 50 leaves, the momentum step
traces and compiles in 5.3 s, 3.1 s or 3.3 s).
"""


_GROUP_MAX_SIZE = 2**14
"""Pieces of at most this many elements are joined in groups before the final
concatenation; larger pieces are copied once, by the final one."""


def _runs(pieces: list[jax.Array]) -> list[list[jax.Array]]:
  """``pieces`` in order, as runs of up to ten small pieces; a large one runs alone."""
  runs: list[list[jax.Array]] = []
  for piece in pieces:
    if (
      piece.size <= _GROUP_MAX_SIZE
      and runs
      and runs[-1][0].size <= _GROUP_MAX_SIZE
      and len(runs[-1]) < _FAN_IN
    ):
      runs[-1].append(piece)
    else:
      runs.append([piece])
  return runs


def _concatenate(pieces: list[jax.Array]) -> jax.Array:
  """``jnp.concatenate(pieces)``, runs of small pieces first joined in groups of ten.

  XLA's CPU backend emits a concatenation as one kernel whose code grows with
  its operand count: joining 2000 leaves in one op takes 4 s to compile, in
  groups of ten 1 s (the groups of equal shapes are the same kernel). The
  barrier between levels keeps XLA from merging the groups back into one op.
  Each level copies its pieces once more, nothing for small pieces but a pass
  over memory for large ones, so large pieces skip the groups: with all 200
  leaves of 16M floats flattened (XLA CPU), Adam's step took 0.97x
  ``optax.flatten``'s time instead of 1.16x, at 63 MB less peak memory.
  """
  while len(pieces) > _FAN_IN:
    runs = _runs(pieces)
    if len(runs) == len(pieces):  # no two small pieces side by side
      break
    joined = [jax.lax.concatenate(run, 0) for run in runs if len(run) > 1]
    groups = iter(jax.lax.optimization_barrier(joined))
    pieces = [next(groups) if len(run) > 1 else run[0] for run in runs]
  return pieces[0] if len(pieces) == 1 else jax.lax.concatenate(pieces, 0)


def _opaque(values: list[int], count: jax.Array) -> list[jax.Array]:
  """``values`` as int32 scalars whose values XLA cannot read at compile time.

  The leaves' slices of a flat buffer differ only by their offsets; as
  constants, the offsets make every slice a kernel of its own, and XLA's CPU
  backend generates code for each (2000 leaves of 64 floats: 14 s). Offsets
  XLA cannot see make the slices of equal sizes one kernel. The values are
  the constants whatever XLA makes of the ops that hide them; only compile
  and step times depend on which ops, chosen when the step is lowered: a
  while loop that never runs (the cheapest on CPU; TPUs run loops on the
  device), or sorts for CUDA and ROCm, whose runtime blocks the host on a
  loop's condition every step (on an H200 the loop's step returned to the
  host only when the device was done, 98% of the step, the sorts' after 66%;
  on an H100 and an H200 the sorts also compiled 10-24% faster).
  """
  sorts = functools.partial(_sorted, values)
  loop = functools.partial(_looped, values)
  return jax.lax.platform_dependent(count, cuda=sorts, rocm=sorts, default=loop)


def _looped(values: list[int], count: jax.Array) -> list[jax.Array]:
  """``values`` out of a while loop that never runs.

  The loop starts at max(count, 0) and runs while negative; its body adds the
  loop's own counter, so XLA can neither fold the outputs nor rewrite them as
  constants plus the trip count.
  """
  start = jnp.maximum(count, 0)
  carry = jax.lax.while_loop(
    lambda carry: carry[0] < 0,
    lambda carry: (carry[0] + 1, *(x + carry[0] for x in carry[1:])),
    (start, *(jnp.asarray(value, jnp.int32) for value in values)),
  )
  return list(carry[1:])


def _sorted(values: list[int], count: jax.Array) -> list[jax.Array]:
  """``values`` out of sorts of the pairs ``[value, value]`` by keys ``[count, count]``.

  XLA cannot evaluate a sort whose keys are known only at run time, and in
  whatever order a sort leaves a pair, its first element is ``value``. On CPU
  the 2000-leaf momentum step took 0.5-1.0 ms (5-10%) longer with sorts than
  with the loop: each pair is a kernel of its own, where the loop copies.
  """
  keys = jax.lax.broadcast(count, (2,))
  hidden = []
  for start in range(0, len(values), _FAN_IN):
    pairs = [
      jax.lax.full((2,), value, jnp.int32) for value in values[start : start + _FAN_IN]
    ]
    _, *sorted_pairs = jax.lax.sort((keys, *pairs), num_keys=1)
    hidden += [jax.lax.index_in_dim(pair, 0, keepdims=False) for pair in sorted_pairs]
  return hidden


# Per-leaf helpers on lax, not jax.numpy: each jnp call traces a nested jit, and
# with 2000 leaves they were a quarter of the step's trace time (0.49 s -> 0.36 s).


def _reshape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """``x.reshape(shape)``; ``x`` itself when the shape already matches."""
  return x if np.shape(x) == shape else jax.lax.reshape(x, shape)


def _add(x: jax.Array, step: int) -> jax.Array:
  """``x + step`` for an int32 scalar ``x``; ``x`` itself when ``step`` is 0."""
  return x if step == 0 else jax.lax.add(x, np.int32(step))


def _flat(tree: Any, max_leaf_size: int, like: Any = None) -> dict[str, jax.Array]:
  """Concatenates the raveled small leaves of ``tree`` into one buffer per dtype.

  The buffers are named after the dtypes of ``like``'s leaves (default:
  ``tree``'s own), so that gradients of another dtype than their parameters
  (float32 gradients of bfloat16 parameters) group as the parameters do, each
  buffer in its gradients' dtype. Leaves with more than ``max_leaf_size``
  elements stay buffers of their own, under the key ``"leaf<index>"``.
  """
  names = [
    jnp.dtype(x.dtype).name for x in jax.tree.leaves(tree if like is None else like)
  ]
  groups: dict[str, list[jax.Array]] = {}
  flat = {}
  for index, (leaf, name) in enumerate(zip(jax.tree.leaves(tree), names, strict=True)):
    size = int(np.prod(np.shape(leaf)))
    if size > max_leaf_size:
      flat[f"leaf{index:06d}"] = leaf
    else:
      groups.setdefault(name, []).append(_reshape(leaf, (size,)))
  for name, leaves in groups.items():
    if len({x.dtype for x in leaves}) > 1:
      dtypes = sorted({jnp.dtype(x.dtype).name for x in leaves})
      raise TypeError(
        f"optx.flatten: the gradients of the {name} parameters have several"
        f" dtypes ({', '.join(dtypes)}); one buffer holds one dtype. Cast them"
        " to one dtype per parameter dtype"
      )
    flat[name] = _concatenate(leaves)
  return flat


def _unflat(
  flat: dict[str, jax.Array],
  tree: Any,
  max_leaf_size: int,
  count: jax.Array,
  like: Any = None,
) -> Any:
  """Cuts the buffers of :func:`_flat` back into a tree shaped like ``tree``
  (the buffers named after ``like``'s dtypes, as :func:`_flat` named them)."""
  leaves, treedef = jax.tree.flatten(tree)
  names = [
    jnp.dtype(x.dtype).name for x in jax.tree.leaves(tree if like is None else like)
  ]
  ends = dict.fromkeys(flat, 0)
  cuts = []  # (leaf index, buffer name, offset, size) of each flattened leaf
  pieces = []
  for index, (leaf, name) in enumerate(zip(leaves, names, strict=True)):
    size = int(np.prod(leaf.shape))
    if size > max_leaf_size:
      pieces.append(flat[f"leaf{index:06d}"])
      continue
    cuts.append((index, name, ends[name], size))
    ends[name] += size
    pieces.append(None)
  offsets: Any = [offset for _, _, offset, _ in cuts]
  if len(cuts) > 1 and max(ends.values()) < 2**31:  # int32 offsets
    # One hidden offset per ten leaves, the others as constant steps from it:
    # equal leaves still share a kernel per step (ten kernels), and a tenth of
    # the values are hidden.
    firsts = offsets[::_FAN_IN]
    bases = _opaque(firsts, count)
    offsets = [
      _add(bases[i // _FAN_IN], offset - firsts[i // _FAN_IN])
      for i, offset in enumerate(offsets)
    ]
  for (index, name, _, size), offset in zip(cuts, offsets, strict=True):
    # Offsets are never negative: no wrap-around code in every leaf's kernel.
    piece = jax.lax.dynamic_slice_in_dim(
      flat[name], offset, size, allow_negative_indices=False
    )
    pieces[index] = _reshape(piece, np.shape(leaves[index]))
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

  Opt-in (figures in ``benchmarks/README.md``): with thousands of small
  leaves the step is about 2x faster and the compile no slower (2000 leaves
  of 64 floats, XLA CPU: Adam 0.40x Optax's step time and 0.36x its compile
  time, momentum 0.54x and 0.89x; on an H200, Adam 0.29x and 0.28x), but the
  state is no longer shaped like the parameters (no per-leaf moments to
  inspect, no sharding taken from the parameters), and on a CPU flattening
  large leaves makes the step several times slower (extra copies of the
  gradients and updates). Leaves larger than ``max_leaf_size`` elements keep
  buffers of their own, so that a model mixing large matrices with many small
  vectors pays the copies only on the small ones. On a GPU, where copies are
  cheap and each array costs the host, a large ``max_leaf_size`` can win:
  Adam on 200 leaves totalling 16M floats stepped in 0.46-0.60x Optax's time
  with every leaf flattened (H200), against 4-6x on a CPU.

  Only transformations that act on each element alone
  (:class:`optx.Elementwise`) are accepted: a per-leaf norm (Keras's
  ``clipnorm``), a global norm or a weight-decay mask on the leaves' shapes
  would see the buffers instead of the parameters, so they are refused by
  name; chain them outside ``flatten``, on the parameters' tree. The
  gradients must have the parameters' structure; gradients of another dtype
  than their parameters (float32 for bfloat16) are grouped by the
  parameters' dtypes, which ``update`` then needs as ``params``.

  Args:
    inner: an elementwise transformation (:class:`optx.Elementwise`): an
      optx optimizer or block, or a chain of them (``optx.chain``), e.g.
      ``optx.adam(1e-3)``; anything else is refused.
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
  if not isinstance(inner, base.Elementwise):
    raise TypeError(
      "optx.flatten(inner=...) must act on each element alone, as optx's"
      " optimizers and blocks do: flatten hands it one buffer per dtype, where a"
      " per-leaf norm (Keras's clipnorm), a global norm, or a mask on the leaves'"
      " shapes would see the buffers instead of the parameters. Put such"
      " transformations outside, on the parameters' tree:"
      " optax.chain(optax.clip_by_global_norm(1.0), optx.flatten(optx.adam(1e-3)));"
      f" got {inner!r}"
    )
  v.check_integer("flatten", "max_leaf_size", max_leaf_size, lower=0)

  def init_fn(params):
    flat = _flat(base.as_leaves("flatten", params), max_leaf_size)
    return FlattenState(inner.init(flat), base.zero_count())

  def update_fn(updates, state, params=None, **extra_args):
    updates = base.as_leaves("flatten", updates)
    if params is not None:
      params = base.as_leaves("flatten", params)
      if jax.tree.structure(params) != jax.tree.structure(updates):
        raise ValueError(
          "optx.flatten: the updates' tree structure differs from the"
          f" parameters'.\n  updates: {jax.tree.structure(updates)}\n  params: "
          f" {jax.tree.structure(params)}"
        )
    flat_params = None if params is None else _flat(params, max_leaf_size)
    flat_updates = _flat(updates, max_leaf_size, like=params)
    try:
      flat_updates, inner_state = inner.update(
        flat_updates, state.inner_state, flat_params, **extra_args
      )
    except ValueError as error:
      if params is None and "tree structure differs" in str(error):
        raise ValueError(
          "optx.flatten: the gradients group by dtype as"
          f" {sorted(flat_updates)}, not as the parameters did at init; when"
          " gradients and parameters differ in dtype, pass the parameters:"
          " tx.update(grads, state, params)"
        ) from error
      raise
    flat_updates = cast(dict[str, jax.Array], flat_updates)  # inner keeps the layout
    updates = _unflat(flat_updates, updates, max_leaf_size, state.count, like=params)
    return updates, FlattenState(inner_state, base.increment(state.count))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
