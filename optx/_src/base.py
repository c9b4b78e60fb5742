"""The types of the protocol, and the plumbing every building block shares.

A building block of optx is three things: a per-leaf *rule* (the equation,
written in the docstring's symbols), the state *buffers* it keeps per leaf, and
its *hyperparameters*. :func:`leafwise` turns them into an
``optax.GradientTransformation`` and is the one place that

- keeps the step count, and only where it is read: when a hyperparameter is a
  schedule, or the block asks for ``t`` (Adam's bias correction);
- evaluates hyperparameters at the step, once per step and dtype;
- checks and casts the leaves: Python scalars become arrays, non-floating
  leaves are refused by name, and the rule computes in the widest dtype of a
  leaf's gradient and buffers, at least float32, the results going back to
  each array's own dtype;
- makes the state: buffers shaped and sharded like the parameters, fresh
  arrays only.

The structure of a block's state depends only on its arguments' Python types
(a schedule keeps a count; a number, an array or a traced value does not), never
on their values, so ``jit``, ``vmap`` and ``optax.inject_hyperparams`` see the
same structure whatever the numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple
from typing import TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

Schedule: TypeAlias = Callable[[jax.Array], ArrayLike]
"""A jittable function of the step count (an int32 scalar) returning a scalar."""

ScalarOrSchedule: TypeAlias = ArrayLike | Schedule
"""A hyperparameter: a float, a scalar array, or a :data:`Schedule`."""

Rule: TypeAlias = Callable[..., Any]
"""A per-leaf update rule: ``rule(g, *buffers[, p], **scalars)`` returns the
update, or ``(update, *new_buffers)`` when the block keeps buffers."""


class Elementwise(optax.GradientTransformationExtraArgs):
  """A transformation whose update of each element depends on that element alone.

  Every block ``leafwise`` builds is one, and so is a chain of them
  (:func:`chain`); :func:`optx.flatten` runs only these, since it hands the
  transformation one buffer per dtype instead of the parameters' leaves,
  which a per-leaf norm or a mask on the leaves' shapes would see wrongly.
  Extra arguments (``value=``) are accepted and ignored by the blocks.
  """

  __slots__ = ()


def chain(
  *transforms: optax.GradientTransformation,
) -> optax.GradientTransformationExtraArgs:
  """``optax.chain(*transforms)``, an :class:`Elementwise` when every part is one.

  Examples:
    >>> import optx
    >>> tx = optx.chain(optx.scale_by_adam(), optx.scale_by_learning_rate(0.1))
    >>> isinstance(tx, optx.Elementwise)
    True
  """
  for i, t in enumerate(transforms):
    if not isinstance(t, optax.GradientTransformation):
      raise TypeError(
        f"optx.chain(transforms[{i}]=...) must be an optax.GradientTransformation,"
        f" got {t!r}"
      )
  chained = optax.chain(*transforms)
  if all(isinstance(t, Elementwise) for t in transforms):
    return Elementwise(chained.init, chained.update)
  return chained


def is_schedule(value: Any) -> bool:
  """Whether ``value`` is a schedule (a callable that is not an array)."""
  return callable(value) and not isinstance(value, (jax.Array, np.ndarray))


def one_minus(x: ScalarOrSchedule) -> ScalarOrSchedule:
  """``1 - x`` as the frameworks compute it from a Python number: in double
  precision, rounded to float32 once (``1 - 0.999`` is float32's 0.001, where
  ``1 - float32(0.999)`` is 0.0009999871); for an array or a schedule, in
  float32."""
  if isinstance(x, (int, float)):
    return 1 - x
  if is_schedule(x):
    return lambda count: 1 - jnp.asarray(x(count), jnp.float32)  # pyright: ignore[reportCallIssue]
  return 1 - jnp.asarray(x, jnp.float32)


def is_literal_zero(value: Any) -> bool:
  """Whether ``value`` is the Python number 0.

  A hyperparameter that is the number 0 may leave out what it switches off
  (PyTorch's ``momentum=0`` keeps no buffer); an array never does, even a
  zero one, so that a traced value builds the same state as a concrete one.
  """
  return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def counted(state: Any) -> Any:
  """The NamedTuple ``state`` with a leading int32 ``count``: its counted variant.

  Assign it to a module-level name (``CountedTraceState =
  counted(TraceState)``) so that it pickles.
  """
  name = f"Counted{state.__name__}"
  fields = [("count", "jax.Array"), *state.__annotations__.items()]
  variant = NamedTuple(name, fields)  # pyright: ignore[reportGeneralTypeIssues]
  variant.__module__ = state.__module__
  variant.__doc__ = (
    f"{state.__name__} with the step count ``count`` (int32, saturating),"
    " kept when a hyperparameter is a schedule or the rule reads the step."
  )
  return variant


def zero_count() -> jax.Array:
  """A fresh step counter: an int32 zero."""
  return jnp.zeros([], jnp.int32)


def increment(count: jax.Array) -> jax.Array:
  """``count + 1``, saturating at the dtype's maximum instead of wrapping (optax's)."""
  return jnp.asarray(optax.safe_increment(count))


def fresh(value: ArrayLike, dtype: Any) -> jax.Array:
  """``value`` as a new array of ``dtype``, never the caller's own buffer.

  Everything a state holds is made here or by :func:`full_like`, so that a
  step donating the state cannot delete an array the user still holds.
  """
  return jnp.array(value, dtype=dtype, copy=True)


@functools.partial(jax.jit, static_argnums=2)
def _filled_like(p: jax.Array, fill_value: ArrayLike, dtype: Any) -> jax.Array:
  # A plain jnp.full_like(p) does not read p, so under jit XLA makes it
  # replicated (or puts it on one device). Selecting against p makes XLA's
  # sharding propagation give the buffer p's sharding; the barrier hides the
  # constant predicate so the select is not folded away before propagation.
  # The select never picks p (NaN/Inf are harmless) and costs one read of p at
  # init; being jitted, it is also one dispatch per leaf when called eagerly.
  p = p.astype(dtype)
  keep = jax.lax.optimization_barrier(jnp.zeros([], bool))
  return jax.lax.select(keep, p, jnp.full_like(p, fill_value))


def full_like(tree: Any, fill_value: ArrayLike, dtype: Any = None) -> Any:
  """A tree of ``fill_value`` shaped and sharded like ``tree`` (``None`` stays ``None``).

  ``dtype`` overrides the leaves' dtype when given (the ``*_dtype`` options).
  """
  return jax.tree.map(
    lambda p: _filled_like(jnp.asarray(p), fill_value, dtype or jnp.asarray(p).dtype),
    tree,
  )


def as_leaves(call: str, tree: Any, *, real_only: bool = False) -> Any:
  """``tree`` with Python scalars as arrays; a named error for a leaf optx cannot update.

  A Python float leaf becomes a (weakly typed) float32 array, as in Optax. An
  integer or boolean leaf is refused: its update would be truncated (a step of
  0.05 on an int32 is 0), so the parameter would silently never move. With
  ``real_only``, so is a complex leaf.
  """
  tree = jax.tree.map(lambda x: x if isinstance(x, jax.Array) else jnp.asarray(x), tree)

  def ok(x):
    complex_ = jnp.issubdtype(x.dtype, jnp.complexfloating)
    return jnp.issubdtype(x.dtype, jnp.inexact) and not (real_only and complex_)

  if all(ok(x) for x in jax.tree.leaves(tree)):
    return tree
  path, leaf = next(
    (path, leaf)
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
    if not ok(leaf)
  )
  what = "floating-point arrays" if real_only else "floating-point (or complex) arrays"
  raise TypeError(
    f"optx.{call}: the leaf {jax.tree_util.keystr(path) or '(root)'} has dtype"
    f" {leaf.dtype}; it updates {what} only. Cast it (x.astype(jnp.float32))"
    " or keep it out of the optimizer (optax.masked, optax.set_to_zero)"
  )


def compute_dtype(*arrays: jax.Array) -> Any:
  """The widest dtype of ``arrays``, at least float32; complex if any is complex.

  Chosen explicitly: strict promotion refuses to mix float dtypes implicitly.
  """
  wide = max(jnp.finfo(a.dtype).bits for a in arrays) == 64
  if any(jnp.issubdtype(a.dtype, jnp.complexfloating) for a in arrays):
    return jnp.complex128 if wide else jnp.complex64
  return jnp.float64 if wide else jnp.float32


def scalar_dtype(dtype: Any) -> Any:
  """The real dtype in which a leaf's scalars are computed: float64 for a
  float64 (or complex128) leaf, float32 otherwise."""
  return jnp.float64 if jnp.finfo(dtype).bits == 64 else jnp.float32


def value_at(hyperparameter: ScalarOrSchedule, count: Any, dtype: Any) -> jax.Array:
  """The value of ``hyperparameter`` at step ``count`` as a scalar of ``dtype``.

  A schedule is called with the step count (float32 schedules stay
  float32-accurate in a float64 step); a number or an array is cast once.
  """
  if is_schedule(hyperparameter):
    hyperparameter = hyperparameter(count)  # pyright: ignore[reportCallIssue]
  return jnp.asarray(hyperparameter, dtype)


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


def _unzip(outputs: Any, like: Any, n: int) -> list[Any]:
  """Splits a tree of n-tuples (one per leaf of ``like``) into n trees."""
  treedef = jax.tree.structure(like)
  columns = zip(*treedef.flatten_up_to(outputs), strict=True)
  trees = [treedef.unflatten(column) for column in columns]
  return trees or [treedef.unflatten([])] * n


def _as_pairs(x: jax.Array) -> jax.Array:
  """A complex array as a real one with a trailing axis (re, im): ``torch.view_as_real``."""
  return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def _from_pairs(x: jax.Array) -> jax.Array:
  return jax.lax.complex(x[..., 0], x[..., 1])


def leafwise(
  call: str,
  rule: Rule,
  hyperparameters: Mapping[str, ScalarOrSchedule] | None = None,
  *,
  state: Any = None,
  counted_state: Any = None,
  buffers: Sequence[tuple[ArrayLike, Any] | None] = (),
  scalars: Callable[..., Mapping[str, jax.Array]] | None = None,
  needs_count: bool = False,
  needs_params: bool = False,
  complex_as_pairs: bool = False,
  real_only: bool = False,
  carry: tuple[ArrayLike, Any, Callable[..., jax.Array]] | None = None,
) -> Elementwise:
  r"""Builds a building block from its per-leaf ``rule``.

  Every update evaluates ``hyperparameters`` at the step count :math:`k` (0 on
  the first update), passes them through ``scalars`` (with :math:`t = k + 1`),
  and maps ``rule`` over the leaves:

  .. math::
    (u, b_1', \dots, b_n') = \mathrm{rule}(g, b_1, \dots, b_n[, p=\theta];
    \mathrm{scalars}(t, h(k)))

  Args:
    call: the public name, for errors (``"scale_by_adam"``).
    rule: ``rule(g, *buffers[, p=params], **scalars)``; returns the update,
      or ``(update, *new_buffers)`` when there are buffers.
    hyperparameters: name to a number, an array or a schedule.
    state: the NamedTuple of the buffers, for a block without a count
      (default: ``optax.EmptyState``).
    counted_state: the same with a leading ``count`` field (default:
      ``optax.ScaleByScheduleState`` for a block without buffers), used when
      a hyperparameter is a schedule or ``needs_count``.
    buffers: for each field of ``state``, ``(fill_value, dtype)`` of its
      buffer (a ``None`` dtype is the parameters'), or ``None`` for a field
      the block does not use (it stays ``None``: no memory).
    scalars: ``scalars(t, **hyperparameters)`` returns the keyword arguments
      of ``rule``: the step's scalar maths (bias corrections), computed once
      per step in float32 (float64 for float64 leaves). Default: the
      hyperparameters themselves.
    needs_count: keep a count even with constant hyperparameters.
    needs_params: pass the parameters to ``rule`` as ``p``.
    complex_as_pairs: give ``rule`` a complex leaf as a real array of
      (real, imaginary) pairs, as PyTorch's ``view_as_real``.
    real_only: refuse complex leaves (Keras's optimizers update real
      variables only).
    carry: ``(initial value, dtype, advance)`` of one scalar the block keeps
      across updates, the last field of ``counted_state`` (Keras's Nadam's
      running product ``u_product``): every update computes
      ``advance(c, t, **hyperparameters)`` once, in ``dtype`` (``None``:
      float32), stores it and passes it to ``scalars`` as ``carry=``. Needs
      a count.

  Returns:
    An :class:`Elementwise` transformation.
  """
  hyperparameters = dict(hyperparameters or {})
  counted = needs_count or any(map(is_schedule, hyperparameters.values()))
  if carry is not None and not (needs_count and scalars is not None):
    raise TypeError(f"optx.{call}: a block with a carry needs a count and scalars")
  made: Any
  if counted:
    made = counted_state or (optax.ScaleByScheduleState if not buffers else None)
    if made is None:
      raise TypeError(
        f"optx.{call}: a counted block with buffers needs a counted_state"
      )
  else:
    made = state or optax.EmptyState
  used = [i for i, spec in enumerate(buffers) if spec is not None]
  specs = [spec for spec in buffers if spec is not None]

  carry_dtype = None if carry is None else (carry[1] or jnp.float32)

  def make_state(count, fields, carried=None):
    values = [None] * len(buffers)
    for i, field in zip(used, fields, strict=True):
      values[i] = field
    values += [] if carry is None else [carried]
    return made(count, *values) if counted else made(*values)

  def init_fn(params):
    params = as_leaves(call, params, real_only=real_only)
    fields = [full_like(params, fill, dtype) for fill, dtype in specs]
    carried = None if carry is None else fresh(carry[0], carry_dtype)
    return make_state(zero_count() if counted else None, fields, carried)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args  # value= and the like are for other transformations of a chain
    if not isinstance(state, made):
      raise ValueError(
        f"optx.{call}: got a {type(state).__name__} state, where this"
        f" transformation's init makes a {made.__name__}"
        + (" (a state without a step count)" if counted else "")
        + "; pass the state made by its own init"
      )
    updates = as_leaves(call, updates, real_only=real_only)
    count = state.count if counted else None
    values = tuple(state)[int(counted) : len(state) - int(carry is not None)]
    carried: Any = None
    if carry is not None:
      h = {name: value_at(x, count, carry_dtype) for name, x in hyperparameters.items()}
      t = increment(state.count).astype(carry_dtype)
      carried = carry[2](state[-1], t, **h).astype(carry_dtype)
    fields = [values[i] for i in used]
    for field in fields:
      check_structure(call, updates, field)
    if needs_params:
      if params is None:
        raise ValueError(
          f"optx.{call} needs params: call update(updates, state, params)"
        )
      params = as_leaves(call, params)

    @functools.cache
    def step_scalars(dtype):
      real = scalar_dtype(dtype)
      h = {name: value_at(x, count, real) for name, x in hyperparameters.items()}
      if carry is not None:
        h["carry"] = carried.astype(real)
      if scalars is not None:
        h = scalars(None if count is None else increment(count).astype(real), **h)
      return {name: jnp.asarray(x, dtype) for name, x in h.items()}

    def leaf(g, *arrays):
      dtype = compute_dtype(g, *arrays)
      inputs = [a.astype(dtype) for a in (g, *arrays)]
      pairs = complex_as_pairs and jnp.issubdtype(dtype, jnp.complexfloating)
      if pairs:
        inputs = [_as_pairs(a) for a in inputs]
      *inputs, p = inputs if needs_params else (*inputs, None)
      kwargs = dict(step_scalars(scalar_dtype(dtype) if pairs else dtype))
      out = rule(*inputs, **kwargs) if p is None else rule(*inputs, p=p, **kwargs)
      outs = (out,) if not fields else out
      if pairs:
        outs = [_from_pairs(x) for x in outs]
      return tuple(x.astype(a.dtype) for x, a in zip(outs, (g, *arrays), strict=False))

    outputs = jax.tree.map(leaf, updates, *fields, *([params] if needs_params else []))
    new_updates, *new_fields = _unzip(outputs, updates, 1 + len(fields))
    next_count = None if count is None else increment(count)
    return new_updates, make_state(next_count, new_fields, carried)

  return Elementwise(init_fn, update_fn)
