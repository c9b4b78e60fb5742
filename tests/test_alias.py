"""The seed's optimizers against independent NumPy loops of their equations.

Every run goes over a nested pytree for 120 updates with a *changing* learning
rate, and where the optimizer has one, a scheduled momentum or beta1. The
oracles (``oracles.py``) are the seed's equations, in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import oracles
import pytest

import optx

STEPS = 120
SHAPES = {"dense": {"w": (3, 4), "b": (4,)}, "out": [(2,), ()]}


def _tree(fn):
  return jax.tree.map(fn, SHAPES, is_leaf=lambda x: isinstance(x, tuple))


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return _tree(lambda s: rng.normal(size=s).astype(np.float32))


def _grads(seed=1):
  """A fixed sequence of gradients, one tree per step (leading axis = step)."""
  rng = np.random.default_rng(seed)
  return _tree(lambda s: rng.normal(size=(STEPS, *s)).astype(np.float32))


def lr_np(t):
  return 0.05 * 0.5 ** (t / 40)


def lr_jnp(t):
  return 0.05 * 0.5 ** (t.astype(jnp.float32) / 40)


def beta_np(t):
  return 0.85 + 0.1 * np.cos(t / 7)


def beta_jnp(t):
  return 0.85 + 0.1 * jnp.cos(t.astype(jnp.float32) / 7)


def run_optx(tx, params, grads):
  """Applies ``tx`` to the gradient sequence under jit; returns the final params."""

  @jax.jit
  def run(params, grads):
    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), grads)
    return params

  return run(params, grads)


def run_numpy(leaf_step, params, grads, n_state):
  """Runs ``leaf_step(t, theta, g, *state) -> (theta, *state)`` on every leaf in float64."""

  def one_leaf(theta, g_seq):
    theta = np.asarray(theta, np.float64)
    state = [np.zeros_like(theta) for _ in range(n_state)]
    for t in range(STEPS):
      theta, *state = leaf_step(t, theta, np.asarray(g_seq[t], np.float64), *state)
    return theta

  return jax.tree.map(one_leaf, params, grads)


def assert_close(actual, expected, rtol=2e-5):
  scale = max(np.max(np.abs(x)) for x in jax.tree.leaves(expected))
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(np.asarray(a, np.float64), e, rtol=0, atol=rtol * scale)


def test_momentum_matches_seed_equations():
  def leaf(t, theta, g, m):
    return oracles.momentum(theta, g, m, lr=lr_np(t), beta=beta_np(t))

  params, grads = _params(), _grads()
  actual = run_optx(optx.momentum(lr_jnp, beta_jnp), params, grads)
  assert_close(actual, run_numpy(leaf, params, grads, 1))


def test_sgd_routes_to_plain_descent_and_momentum():
  params, grads = _params(), _grads()

  def plain(t, theta, g):
    return oracles.sgd(theta, g, lr=lr_np(t))

  assert_close(
    run_optx(optx.sgd(lr_jnp), params, grads), run_numpy(plain, params, grads, 0)
  )
  assert_close(
    run_optx(optx.sgd(lr_jnp, momentum=beta_jnp), params, grads),
    run_optx(optx.momentum(lr_jnp, beta_jnp), params, grads),
    rtol=0,
  )


def test_momentum_differs_from_optax_sgd_under_changing_lr_only():
  """The seed keeps past learning rates in the velocity; optax scales the buffer."""
  params, grads = _params(), _grads()
  ours = run_optx(optx.momentum(lr_jnp, 0.9), params, grads)
  theirs = run_optx(optax.sgd(lr_jnp, momentum=0.9), params, grads)
  gap = max(
    np.max(np.abs(a - b))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True)
  )
  assert gap > 1e-2

  def optax_form(t, theta, g, b):  # b = g + mu*b; theta -= lr_t * b
    b = g + 0.9 * b
    return theta - lr_np(t) * b, b

  assert_close(theirs, run_numpy(optax_form, params, grads, 1))
  # With a constant learning rate the two forms agree.
  assert_close(
    run_optx(optx.momentum(0.03, 0.9), params, grads),
    run_optx(optax.sgd(0.03, momentum=0.9), params, grads),
    rtol=1e-5,
  )


def test_nesterov_update_rule():
  def leaf(t, theta, g, m):
    return oracles.momentum(theta, g, m, lr=lr_np(t), beta=beta_np(t), nesterov=True)

  params, grads = _params(), _grads()
  assert_close(
    run_optx(optx.nesterov(lr_jnp, beta_jnp), params, grads),
    run_numpy(leaf, params, grads, 1),
  )


def test_nesterov_reformulation_is_the_seed_look_ahead():
  """Feeding the gradient at the held params reproduces grad J(theta + beta m).

  The textbook sequence evaluates the gradient at the look-ahead point
  theta + beta m; the reformulation holds phi = theta + beta m and is fed the
  gradient at phi. A quadratic J(x) = 0.5 x^T A x - b^T x gives the gradient.
  """
  rng = np.random.default_rng(3)
  q = rng.normal(size=(5, 5))
  a = q @ q.T / 5 + np.eye(5)
  b = rng.normal(size=5)
  grad = lambda x: a @ x - b
  eta, beta = 0.05, 0.9

  theta, m = np.zeros(5), np.zeros(5)
  tx = optx.nesterov(eta, beta)
  phi = jnp.zeros(5, jnp.float32)
  state = tx.init(phi)
  for _ in range(100):
    m = beta * m - eta * grad(theta + beta * m)
    theta = theta + m
    updates, state = tx.update(
      jnp.asarray(grad(np.asarray(phi, np.float64)), jnp.float32), state
    )
    phi = optax.apply_updates(phi, updates)
    np.testing.assert_allclose(np.asarray(phi), theta + beta * m, atol=1e-4)


def test_adagrad_matches_seed_equations():
  def leaf(t, theta, g, s):
    s = s if t else s + 0.1  # the accumulator starts at 0.1
    return oracles.adagrad(theta, g, s, t=t + 1, lr=lr_np(t), eps=1e-7)

  params, grads = _params(), _grads()
  assert_close(
    run_optx(optx.adagrad(lr_jnp), params, grads), run_numpy(leaf, params, grads, 1)
  )


def test_rmsprop_matches_seed_equations():
  def leaf(t, theta, g, s, a, b):
    return oracles.rmsprop(theta, g, s, a, b, lr=lr_np(t), rho=0.9, eps=1e-7)

  params, grads = _params(), _grads()
  assert_close(
    run_optx(optx.rmsprop(lr_jnp), params, grads),
    run_numpy(leaf, params, grads, 3),
    rtol=5e-5,
  )


def test_rmsprop_centered_with_momentum():
  """Centered denominator and Keras's momentum with the learning rate inside the buffer."""

  def leaf(t, theta, g, s, a, b):
    return oracles.rmsprop(
      theta,
      g,
      s,
      a,
      b,
      lr=lr_np(t),
      rho=0.8,
      eps=1e-3,
      centered=True,
      momentum=beta_np(t),
    )

  params, grads = _params(), _grads()
  tx = optx.rmsprop(lr_jnp, decay=0.8, eps=1e-3, centered=True, momentum=beta_jnp)
  assert_close(
    run_optx(tx, params, grads), run_numpy(leaf, params, grads, 3), rtol=5e-5
  )


def _adam_leaf(amsgrad):
  def leaf(t, theta, g, m, s, s_max):
    return oracles.adam(
      theta,
      g,
      m,
      s,
      s_max,
      t=t + 1,
      lr=lr_np(t),
      b1=beta_np(t),
      b2=0.99,
      eps=1e-7,
      amsgrad=amsgrad,
    )

  return leaf


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_seed_equations(amsgrad):
  params, grads = _params(), _grads()
  tx = optx.adam(lr_jnp, b1=beta_jnp, b2=0.99, amsgrad=amsgrad)
  assert_close(
    run_optx(tx, params, grads),
    run_numpy(_adam_leaf(amsgrad), params, grads, 3),
    rtol=5e-5,
  )


def test_adam_is_optax_adam_with_eps_in_the_root():
  params, grads = _params(), _grads()
  # optax's bias correction raises an int32 count to a float power, which the
  # strict promotion mode of this suite rejects: run optax under the default.
  with jax.numpy_dtype_promotion("standard"):
    theirs = run_optx(optax.adam(lr_jnp, eps=0.0, eps_root=1e-7), params, grads)
  assert_close(
    run_optx(optx.adam(lr_jnp), params, grads),
    jax.tree.map(np.asarray, theirs),
    rtol=1e-5,
  )


def test_adam_mu_dtype_keeps_state_in_float32_for_bfloat16_params():
  params = jax.tree.map(lambda p: jnp.asarray(p, jnp.bfloat16), _params())
  tx = optx.adam(1e-2, mu_dtype=jnp.float32, nu_dtype=jnp.float32)
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, state = tx.update(grads, state)
  adam_state = state[0]
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(adam_state.mu))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(adam_state.nu))
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))
  # First Adam step with a constant gradient is -lr * g/|g| (eps negligible).
  for u in jax.tree.leaves(updates):
    np.testing.assert_allclose(np.asarray(u, np.float32), -1e-2, rtol=1e-2)


def test_plateau_lowers_the_rate_inside_the_momentum_buffer():
  """A reduction lowers eta for the next steps only; the velocity keeps the past."""
  params, grads = _params(), _grads()
  tx = optx.momentum(0.05, 0.9, plateau=optx.reduce_on_plateau(factor=0.5, patience=0))
  state = tx.init(params)
  state = optx.observe(optx.observe(state, 1.0), 1.0)  # second one is no better
  assert float(optx.plateau_scale(state)) == 0.5

  def leaf(t, theta, g, m):
    return oracles.momentum(theta, g, m, lr=0.025, beta=0.9)

  p = params
  for t in range(STEPS):
    updates, state = tx.update(jax.tree.map(lambda g, t=t: g[t], grads), state)
    p = optax.apply_updates(p, updates)
  assert_close(p, run_numpy(leaf, params, grads, 1))


def test_plateau_value_extra_arg_through_chain():
  tx = optx.sgd(1.0, plateau=optx.reduce_on_plateau(factor=0.1, patience=0))
  state = tx.init(jnp.zeros(2))
  _, state = tx.update(jnp.ones(2), state, value=jnp.asarray(2.0))
  u, state = tx.update(jnp.ones(2), state, value=jnp.asarray(3.0))
  np.testing.assert_allclose(np.asarray(u), -0.1)


def test_sgd_rejects_nesterov_without_momentum():
  with pytest.raises(ValueError, match=r"optx.sgd\(nesterov=True\)"):
    optx.sgd(0.1, nesterov=True)
