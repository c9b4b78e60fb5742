"""The building blocks keep a step counter only where they read one.

A block whose hyperparameters are all constants keeps no ``count`` field (no
buffer, no scalar kernel per step); given the same values as schedules it
keeps an int32 count, and its updates are bitwise the same. Adam (bias
correction) and a damped ``trace`` (PyTorch's undamped first step) always
count.
"""

import jax
import jax.numpy as jnp
import jaxprs
import numpy as np
import optax
import oracles
import pytest

import optx


def _constant(value):
  """A schedule that always returns ``value``."""
  return lambda count: jnp.asarray(value, jnp.float32)


# name -> (block from hyperparameters, constant hyperparameters, counts anyway)
BLOCKS = {
  "scale_by_learning_rate": (lambda lr: optx.scale_by_learning_rate(lr), (0.1,), False),
  "trace": (lambda b: optx.trace(b), (0.9,), False),
  "trace_nesterov": (lambda b: optx.trace(b, nesterov=True), (0.9,), False),
  "trace_damped": (lambda b, d: optx.trace(b, dampening=d), (0.9, 0.3), True),
  "scale_by_rss": (lambda eps: optx.scale_by_rss(0.1, eps), (1e-7,), False),
  "scale_by_rms": (lambda b, eps: optx.scale_by_rms(b, eps), (0.9, 1e-7), False),
  "scale_by_stddev": (lambda b, eps: optx.scale_by_stddev(b, eps), (0.9, 1e-7), False),
  "scale_by_adam": (lambda b1, b2: optx.scale_by_adam(b1, b2), (0.9, 0.999), True),
  "add_decoupled_weight_decay": (
    lambda wd, lr: optx.add_decoupled_weight_decay(wd, lr),
    (0.01, 0.1),
    False,
  ),
}
STEPS = 5


def _run(tx, params, grads):
  state = tx.init(params)
  updates = []
  for g in grads:
    u, state = tx.update(g, state, params)
    updates.append(u)
  return updates, state


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_block_counts_only_when_it_reads_the_step(name):
  make, values, counts_anyway = BLOCKS[name]
  params = jnp.array([1.0, -2.0, 0.5])
  grads = [jnp.array([0.3, -1.0, 2.0]) * (k + 1) for k in range(STEPS)]

  constant_updates, constant_state = _run(make(*values), params, grads)
  scheduled_updates, scheduled_state = _run(
    make(*map(_constant, values)), params, grads
  )

  # The same numbers whichever way the hyperparameters are given.
  for a, b in zip(constant_updates, scheduled_updates, strict=True):
    np.testing.assert_array_equal(a, b)
  assert scheduled_state.count.dtype == jnp.int32
  assert int(scheduled_state.count) == STEPS
  if counts_anyway:
    assert int(constant_state.count) == STEPS
  else:
    # No count field at all, as Optax's constant blocks: tree_get finds none.
    assert "count" not in constant_state._fields
    assert optax.tree_utils.tree_get_all_with_path(constant_state, "count") == []
  # Only the counter differs between the two states.
  without_count = lambda state: [
    x for name, x in zip(state._fields, state, strict=True) if name != "count"
  ]
  np.testing.assert_array_equal(
    jax.tree.leaves(without_count(constant_state)),
    jax.tree.leaves(without_count(scheduled_state)),
  )


def test_damped_trace_counts_for_its_undamped_first_step():
  """m = g on the first update, then m = βm + (1 − τ)g (PyTorch's rule), in NumPy."""
  beta, tau = 0.9, 0.3
  tx = optx.trace(beta, dampening=tau)
  grads = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0]], np.float32)
  state = tx.init(jnp.zeros(2))
  m = np.zeros(2, np.float64)
  for k, g in enumerate(grads):
    u, state = jax.jit(tx.update)(jnp.asarray(g), state)
    m = g if k == 0 else beta * m + (1 - tau) * g
    np.testing.assert_allclose(u, m, rtol=1e-6)
  assert int(state.count) == len(grads)


def test_an_optimizer_with_constants_keeps_no_counter_and_compiles_none():
  tx = optx.momentum(0.1, 0.9)
  params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}
  state = tx.init(params)
  assert all("count" not in s._fields for s in state)
  assert all(x.ndim > 0 for x in jax.tree.leaves(state))  # buffers only
  # No counter in or out of the compiled step: in, the gradients and the
  # buffer; out, the updates and the buffer; all float32 and parameter-shaped.
  lowered = jax.jit(tx.update).lower(params, state)
  arrays = jax.tree.leaves((lowered.in_avals, lowered.out_info))
  assert len(arrays) == 4 * len(jax.tree.leaves(params))
  assert all(x.dtype == jnp.float32 and x.ndim > 0 for x in arrays)
  # ... nor inside it: every value the traced step computes is a float.
  traced = jax.make_jaxpr(tx.update)(params, state)
  values = [v.aval for e in jaxprs.equations(traced) for v in e.outvars]
  assert values and all(x.dtype == jnp.float32 for x in values)


def test_a_scheduled_block_refuses_a_state_without_a_count():
  params = jnp.zeros(2)
  state = optx.scale_by_learning_rate(0.1).init(params)
  scheduled = optx.scale_by_learning_rate(optx.exponential_schedule(0.1, steps=10))
  with pytest.raises(ValueError, match="without a step count"):
    scheduled.update(jnp.ones(2), state)


def test_adam_with_a_zero_beta2_keeps_a_small_gradient_after_a_large_one():
  # The seed's s <- b2 s + (1 - b2) g*g is g*g itself when b2 = 0. Computed as
  # s + (1 - b2)(g*g - s), a small g after a large one cancelled to s = 0 in
  # float32 and the step came out 1e4x too large.
  grads = [2.0, 1e-4, -3.0, 5e-5]
  tx = optx.scale_by_adam(b1=0.9, b2=0.0, eps=1e-7)
  state = tx.init(jnp.zeros(1))
  # The block's output is the step of Adam with a learning rate of -1.
  expected = oracles.updates(
    oracles.adam, 0.0, grads, 0.0, 0.0, 0.0, lr=-1.0, b1=0.9, b2=0.0, eps=1e-7
  )
  for g, step in zip(grads, expected, strict=True):
    u, state = tx.update(jnp.asarray([g], jnp.float32), state)
    np.testing.assert_allclose(float(u[0]), step, rtol=1e-5)


def test_tree_get_finds_the_one_step_count_as_in_optax():
  # Only blocks that read a step keep a count, so optax's tree utilities find
  # Adam's count alone, as in optax.adam's state (a None count beside it used
  # to be a second match, and tree_get raised).
  params = jnp.zeros(3)
  tx = optx.adam(0.1)
  state = tx.init(params)
  for _ in range(3):
    _, state = tx.update(jnp.ones(3), state)
  theirs = optax.adam(0.1).init(params)
  assert len(optax.tree_utils.tree_get_all_with_path(theirs, "count")) == 1
  assert len(optax.tree_utils.tree_get_all_with_path(state, "count")) == 1
  assert int(optax.tree_utils.tree_get(state, "count")) == 3
  # Setting it keeps the state's structure (no int32 written into a None).
  moved = optax.tree_utils.tree_set(state, count=jnp.asarray(7, jnp.int32))
  assert jax.tree.structure(moved) == jax.tree.structure(state)
  assert int(optax.tree_utils.tree_get(moved, "count")) == 7
  momentum = optx.momentum(0.1, 0.9).init(params)
  assert optax.tree_utils.tree_get_all_with_path(momentum, "count") == []
