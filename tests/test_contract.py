"""The contract every optx optimizer keeps, driven by one registry."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx

# The optimizers under test: name -> factory of the learning rate.
REGISTRY = {
  "sgd": lambda lr: optx.sgd(lr),
  "momentum": lambda lr: optx.momentum(lr, 0.9),
  "nesterov": lambda lr: optx.nesterov(lr, 0.9),
  "momentum_scheduled": lambda lr: optx.momentum(
    lr, optx.onecycle_momentum_schedule(400)
  ),
  "adagrad": lambda lr: optx.adagrad(lr),
  "rmsprop": lambda lr: optx.rmsprop(lr),
  "rmsprop_centered_momentum": lambda lr: optx.rmsprop(lr, centered=True, momentum=0.5),
  "adam": lambda lr: optx.adam(lr),
  "adam_amsgrad": lambda lr: optx.adam(lr, amsgrad=True),
  "adam_plateau": lambda lr: optx.adam(lr, plateau=optx.reduce_on_plateau()),
  "keras_sgd": lambda lr: optx.keras.SGD(
    lr, momentum=0.9, weight_decay=1e-4, clipnorm=10.0
  ),
  "keras_rmsprop": lambda lr: optx.keras.RMSprop(lr, momentum=0.5, centered=True),
  "keras_adam": lambda lr: optx.keras.Adam(lr, amsgrad=True, global_clipnorm=10.0),
  "torch_sgd": lambda lr: optx.torch.SGD(
    lr, momentum=0.9, dampening=0.1, weight_decay=1e-4
  ),
  "torch_adagrad": lambda lr: optx.torch.Adagrad(lr, lr_decay=1e-3),
  "torch_adamw": lambda lr: optx.torch.AdamW(lr, amsgrad=True),
}
NAMES = sorted(REGISTRY)
# Learning rates that converge on the nested quadratic (the adaptive methods take bigger ones).
QUADRATIC_LR = {
  "adagrad": 0.2,
  "adam": 0.05,
  "adam_amsgrad": 0.05,
  "adam_plateau": 0.05,
  "keras_adam": 0.05,
  "torch_adagrad": 0.2,
  "torch_adamw": 0.05,
}


def nested_params(dtype=jnp.float32):
  return {
    "layer": {"w": jnp.full((3, 2), 1.5, dtype), "b": jnp.full((2,), -1.0, dtype)},
    "scalars": [jnp.asarray(2.0, dtype), jnp.asarray(-0.5, dtype)],
  }


def quadratic(params):
  return sum(
    jnp.sum(jnp.arange(1, x.size + 1, dtype=x.dtype).reshape(x.shape) * x**2)
    for x in jax.tree.leaves(params)
  )


def rosenbrock(params):
  x, y = params["x"], params["y"]
  return jnp.square(1 - x) + 100 * jnp.square(y - x**2)


def train(tx, loss, params, steps):
  @jax.jit
  def run(params):
    def step(carry, _):
      params, state = carry
      updates, state = tx.update(jax.grad(loss)(params), state, params)
      return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params

  return run(params)


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_a_nested_quadratic(name):
  tx = REGISTRY[name](QUADRATIC_LR.get(name, 0.01))
  params = nested_params()
  final = train(tx, quadratic, params, 400)
  assert float(quadratic(final)) < 1e-2 * float(quadratic(params))


ROSENBROCK_LR = {
  "sgd": 1e-3,
  "momentum": 1e-4,
  "nesterov": 1e-4,
  "momentum_scheduled": 1e-4,
  "adagrad": 0.04,
  "adam": 0.01,
  "adam_amsgrad": 0.01,
  "adam_plateau": 0.01,
  "keras_sgd": 1e-4,
  "keras_adam": 0.01,
  "torch_sgd": 1e-4,
  "torch_adagrad": 0.04,
  "torch_adamw": 0.01,
}


@pytest.mark.parametrize("name", NAMES)
def test_makes_progress_on_rosenbrock(name):
  tx = REGISTRY[name](ROSENBROCK_LR.get(name, 2e-3))
  params = {"x": jnp.asarray(-1.2), "y": jnp.asarray(1.0)}
  final = train(tx, rosenbrock, params, 2000)
  assert float(rosenbrock(final)) < 0.25 * float(rosenbrock(params))
  assert all(np.isfinite(np.asarray(x)) for x in jax.tree.leaves(final))


def _updates_twice(tx, update, params):
  state = tx.init(params)
  grads = jax.grad(quadratic)(params)
  u1, state = update(grads, state, params)
  u2, state = update(jax.tree.map(lambda g: -0.5 * g, grads), state, params)
  return u1, u2, state


@pytest.mark.parametrize("name", NAMES)
def test_jit_equals_eager(name):
  tx = REGISTRY[name](0.01)
  eager = _updates_twice(tx, tx.update, nested_params())
  jitted = _updates_twice(tx, jax.jit(tx.update), nested_params())
  chex.assert_trees_all_close(eager, jitted, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_no_retrace_on_later_updates(name):
  tx = REGISTRY[name](0.01)
  chex.clear_trace_counter()  # the counter is keyed on this test's code, shared by parameters

  @jax.jit
  @chex.assert_max_traces(n=1)
  def update(grads, state, params):
    return tx.update(grads, state, params)

  for _ in range(3):
    _updates_twice(tx, update, nested_params())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_keeps_dtypes(name, dtype):
  tx = REGISTRY[name](0.01)
  params = nested_params(dtype)
  u1, u2, state = _updates_twice(tx, jax.jit(tx.update), params)
  for u in jax.tree.leaves((u1, u2)):
    assert u.dtype == dtype
  for leaf in jax.tree.leaves(state):
    if leaf.ndim:  # per-parameter buffers follow the params
      assert leaf.dtype == dtype


def _has_count(x):
  return hasattr(x, "_fields") and "count" in x._fields


def _counts(state):
  """The step counters in ``state`` (a block with constant hyperparameters has none)."""
  nodes = jax.tree.leaves(state, is_leaf=_has_count)
  return [s.count for s in nodes if _has_count(s) and s.count is not None]


@pytest.mark.parametrize("name", NAMES)
def test_counters_saturate_at_int32_max(name):
  # A scheduled learning rate, so that every optimizer keeps a step count.
  tx = REGISTRY[name](optx.exponential_schedule(0.01, steps=1000))
  params = nested_params()
  top = jnp.iinfo(jnp.int32).max
  state = tx.init(params)
  assert _counts(state), "a scheduled learning rate keeps a step count"
  state = jax.tree.map(
    lambda s: (
      s._replace(count=jnp.asarray(top - 1, jnp.int32))
      if _has_count(s) and s.count is not None
      else s
    ),
    state,
    is_leaf=_has_count,
  )
  for _ in range(3):
    updates, state = tx.update(jax.grad(quadratic)(params), state, params)
    for leaf in jax.tree.leaves(updates):
      assert np.all(np.isfinite(np.asarray(leaf)))
  assert all(c.dtype == jnp.int32 and int(c) == top for c in _counts(state))


@pytest.mark.parametrize("name", NAMES)
def test_composes_with_clipping_and_apply_if_finite(name):
  tx = optax.chain(optax.clip_by_global_norm(1.0), REGISTRY[name](0.01))
  guarded = optax.apply_if_finite(tx, max_consecutive_errors=3)
  params = nested_params()
  state = guarded.init(params)
  grads = jax.grad(quadratic)(params)
  updates, state = guarded.update(grads, state, params)
  clipped, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
  reference, _ = REGISTRY[name](0.01).update(
    clipped, REGISTRY[name](0.01).init(params), params
  )
  chex.assert_trees_all_close(updates, reference, rtol=1e-6)
  bad = jax.tree.map(lambda g: g * jnp.nan, grads)
  skipped, state2 = guarded.update(bad, state, params)
  assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(skipped))
  chex.assert_trees_all_equal(state2.inner_state, state.inner_state)


@pytest.mark.parametrize("name", NAMES)
def test_constant_schedule_equals_constant(name):
  params = nested_params()
  constant = _updates_twice(
    REGISTRY[name](0.01), jax.jit(REGISTRY[name](0.01).update), params
  )
  tx = REGISTRY[name](
    lambda count: jnp.full([], 0.01, jnp.float32) + 0 * count.astype(jnp.float32)
  )
  scheduled = _updates_twice(tx, jax.jit(tx.update), params)
  chex.assert_trees_all_close(constant[:2], scheduled[:2], rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_ignores_unrelated_extra_args(name):
  tx = REGISTRY[name](0.01)
  params = nested_params()
  grads = jax.grad(quadratic)(params)
  plain, _ = tx.update(grads, tx.init(params), params)
  extra, _ = tx.update(grads, tx.init(params), params, some_other_arg=3)
  chex.assert_trees_all_equal(plain, extra)


@pytest.mark.parametrize("name", NAMES)
def test_structure_mismatch_is_a_clear_error(name):
  tx = REGISTRY[name](0.01)
  state = tx.init(nested_params())
  wrong = {"layer": {"w": jnp.ones((3, 2))}, "scalars": [jnp.ones(()), jnp.ones(())]}
  if name == "sgd":  # plain descent keeps no per-parameter state to compare against
    tx.update(wrong, state, wrong)
    return
  with pytest.raises(ValueError, match="tree structure differs"):
    tx.update(wrong, state, wrong)


def test_none_leaves_are_kept():
  params = {"a": jnp.ones(2), "frozen": None}
  for name in NAMES:
    tx = REGISTRY[name](0.01)
    updates, _ = tx.update({"a": jnp.ones(2), "frozen": None}, tx.init(params), params)
    assert updates["frozen"] is None
