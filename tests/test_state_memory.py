"""Optimizer state holds exactly the minimum per-parameter buffers, and donation works.

Bytes of the state's non-scalar leaves are counted against the parameters'
bytes: momentum keeps one buffer, AdaGrad one, RMSProp one (centered two),
Adam two (AMSGrad three); everything else is scalars: step counters (only
where a block reads its step: Adam's bias correction, a schedule) and plateau
bookkeeping. A jitted train step that donates params and state must reuse
every donated buffer (no "donated buffers were not usable" warning, which
``filterwarnings = error`` turns into a failure) and allocate no temporaries
the size of a buffer.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry

import optx

NAMES = registry.names()


def params_tree(dtype=jnp.float32):
  return {
    "dense": {"w": jnp.ones((5, 3), dtype), "b": jnp.zeros((3,), dtype)},
    "layers": [jnp.ones((2, 2, 2), dtype), jnp.ones((7,), dtype)],
    "scale": jnp.ones((1,), dtype),
  }


def nbytes(tree):
  return sum(np.asarray(x).nbytes for x in jax.tree.leaves(tree))


def split_state(state):
  leaves = jax.tree.leaves(state)
  return [x for x in leaves if np.ndim(x) > 0], [x for x in leaves if np.ndim(x) == 0]


def _cases(names):
  """Each name, plain and inside ``optx.flatten`` where it is elementwise."""
  for name in names:
    yield pytest.param(name, False, id=f"{name}-plain")
    if registry.OPTIMIZERS[name].elementwise:
      yield pytest.param(name, True, id=f"{name}-flatten")


@pytest.mark.parametrize(("name", "wrap"), list(_cases(NAMES)))
def test_state_holds_the_minimum_buffers(name, wrap):
  optimizer = registry.OPTIMIZERS[name]
  buffers, counters = optimizer.buffers, optimizer.counters
  tx = optx.flatten(optimizer.make(0.1)) if wrap else optimizer.make(0.1)
  params = params_tree()
  state = tx.init(params)
  arrays, scalars = split_state(state)
  assert sum(x.nbytes for x in arrays) == buffers * nbytes(params)
  assert all(x.dtype == jnp.float32 for x in arrays)
  assert len(scalars) <= 16  # counters and plateau bookkeeping only
  # A step counter only where one is read (flatten keeps its own, for offsets).
  found = optax.tree_utils.tree_get_all_with_path(state, "count")
  assert len(found) == counters + wrap
  # Updates keep the state's layout: no buffer appears or grows.
  _, state = tx.update(params, state, params)
  arrays_after, scalars_after = split_state(state)
  assert [x.shape for x in arrays_after] == [x.shape for x in arrays]
  assert len(scalars_after) == len(scalars)


def test_flatten_keeps_one_buffer_per_dtype_per_moment():
  params = {"a": jnp.ones((3, 4)), "b": jnp.ones(5, jnp.bfloat16), "c": jnp.ones(2)}
  arrays, _ = split_state(optx.flatten(optx.adam(0.1)).init(params))
  assert sorted((x.dtype.name, x.shape) for x in arrays) == [
    ("bfloat16", (5,)),
    ("bfloat16", (5,)),
    ("float32", (14,)),
    ("float32", (14,)),
  ]


def test_reduced_precision_moments_take_their_own_bytes():
  params = params_tree()
  state = optx.adam(0.1, mu_dtype=jnp.bfloat16).init(params)
  arrays, _ = split_state(state)
  assert sum(x.nbytes for x in arrays) == nbytes(params) + nbytes(params) // 2


@pytest.mark.parametrize(("name", "wrap"), list(_cases(NAMES)))
def test_donated_train_step_reuses_every_buffer(name, wrap):
  optimizer = registry.OPTIMIZERS[name]
  buffers = optimizer.buffers
  tx = optx.flatten(optimizer.make(0.1)) if wrap else optimizer.make(0.1)
  params = {"w": jnp.ones((64, 64)), "b": jnp.ones((64,))}
  grads = jax.tree.map(lambda p: 0.01 * p, params)

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  donated = nbytes(params) + nbytes(state)
  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
  memory = compiled.memory_analysis()
  if memory is None:  # pragma: no cover - backends without the analysis
    pytest.skip("no memory analysis on this backend")
  # Every donated byte is aliased to an output: updated in place.
  assert memory.alias_size_in_bytes == donated
  if not wrap:
    # No temporary as large as a parameter buffer beyond the ones the rule
    # needs (the flat path's only temporaries are its concatenated gradients
    # and updates).
    assert memory.temp_size_in_bytes < (optimizer.temporaries + 1) * 64 * 64 * 4
  # Running it donates for real; a warning would fail the test.
  params, state = compiled(params, state, grads)
  assert jax.tree.structure(state) == jax.tree.structure(tx.init(params))
  assert buffers * nbytes(params) == sum(x.nbytes for x in split_state(state)[0])
