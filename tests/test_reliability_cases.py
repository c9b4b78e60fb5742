"""The eight cases of the reliability review, each against its reference.

Each case once gave a wrong or unclear answer: a traced zero that changed
the algorithm (1) or crashed a chain (2), leaf-aware transforms inside
``optx.flatten`` (3), integer arithmetic in epoch and step functions (4), the
user's arrays held in the state and deleted by donation (5), Python float
leaves (6), integer leaves (7), mixed dtypes under ``flatten`` (8), and
float64 parameters under ``jax_enable_x64``. The references are PyTorch,
Keras, Python's own arithmetic, Optax, and optx's plain (unflattened) path.
The registry-wide checks that cover these classes of bug for every optimizer
are in ``test_contract.py`` (hyperparameters at their edges, state aliasing,
Python float and non-floating leaves).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import torch

import optx
import optx.keras
import optx.torch


def _torch_sgd_updates(steps, **kwargs):
  """PyTorch's SGD updates of a scalar parameter at gradient 1."""
  p = torch.zeros(1, requires_grad=False)
  opt = torch.optim.SGD([p], **kwargs)
  out = []
  for _ in range(steps):
    before = p.clone()
    p.grad = torch.ones(1)
    opt.step()
    out.append(float(p - before))
  return np.asarray(out, np.float32)


def _updates(tx, steps, params=None):
  params = jnp.zeros(1) if params is None else params
  state = tx.init(params)
  out = []
  for _ in range(steps):
    u, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    out.append(u)
  return jax.tree.map(lambda *u: jnp.stack(u), *out)


# 1. A traced zero changed the algorithm: with momentum 0 PyTorch ignores
# dampening, and so does optx whether momentum is concrete, swept or traced.


def test_case_1_a_swept_zero_momentum_ignores_dampening_as_pytorch():
  make = functools.partial(optx.torch.SGD, lr=1.0, dampening=0.5)
  tx = optx.sweep(make, momentum=jnp.array([0.0, 0.9]))
  ours = np.asarray(_updates(tx, 3, jnp.zeros((2, 1))))[:, :, 0]
  for k, momentum in enumerate((0.0, 0.9)):
    theirs = _torch_sgd_updates(3, lr=1.0, momentum=momentum, dampening=0.5)
    np.testing.assert_allclose(ours[:, k], theirs, rtol=1e-6)
  np.testing.assert_array_equal(ours[:, 0], [-1.0, -1.0, -1.0])


def test_case_1_a_jitted_zero_momentum_ignores_dampening_as_pytorch():
  @jax.jit
  def run(momentum):
    return _updates(optx.torch.SGD(lr=1.0, momentum=momentum, dampening=0.5), 3)

  theirs = _torch_sgd_updates(3, lr=1.0, momentum=0.0, dampening=0.5)
  np.testing.assert_array_equal(np.asarray(run(0.0))[:, 0], theirs)


# 2. The same root crashed chains: a hyperparameter at 0 under
# inject_hyperparams, or set to 0 with tree_set, runs as the framework does.

INJECTED = [
  (optx.torch.SGD, dict(lr=0.1, momentum=0.0), "torch"),
  (optx.torch.Adam, dict(lr=0.1, weight_decay=0.0), "torch"),
  (optx.torch.AdamW, dict(lr=0.1, weight_decay=0.0), "torch"),
  (optx.torch.Adagrad, dict(lr=0.1, lr_decay=0.0), "torch"),
  (optx.keras.SGD, dict(learning_rate=0.1, momentum=0.0), "keras"),
  (optx.keras.RMSprop, dict(learning_rate=0.1, momentum=0.0), "keras"),
  # tf.keras 2's legacy decay: its reference is optx's own eager run (the
  # injected betas are float32 arrays, so 1 - beta is rounded in float32).
  (optx.keras.Adam, dict(learning_rate=0.1, decay=0.0), "optx"),
]


def _framework_updates(factory, kwargs, flavor, steps=3):
  grads = [np.float32([1.0, -2.0]) * (t + 1) for t in range(steps)]
  out = []
  if flavor == "torch":
    p = torch.ones(2)
    opt = getattr(torch.optim, factory.__name__)([p], **kwargs)
    for g in grads:
      before = p.clone()
      p.grad = torch.tensor(g)
      opt.step()
      out.append((p - before).numpy())
  elif flavor == "optx":  # the same injected optimizer, eagerly
    params = jnp.ones(2)
    tx = optax.inject_hyperparams(factory)(**kwargs)
    state = tx.init(params)
    for g in grads:
      u, state = tx.update(jnp.asarray(g), state, params)
      params = optax.apply_updates(params, u)
      out.append(np.asarray(u))
  else:
    opt = getattr(keras.optimizers, factory.__name__)(**kwargs)
    var = keras.Variable(np.ones(2, np.float32))
    for g in grads:
      before = np.asarray(var)
      opt.apply([jnp.asarray(g)], [var])
      out.append(np.asarray(var) - before)
  return np.stack(out), grads


@pytest.mark.parametrize(
  "factory, kwargs, flavor",
  INJECTED,
  ids=[f"{flavor}.{f.__name__}-{list(k)[1]}" for f, k, flavor in INJECTED],
)
def test_case_2_a_zero_hyperparameter_under_inject_hyperparams_runs(
  factory, kwargs, flavor
):
  theirs, grads = _framework_updates(factory, kwargs, flavor)
  tx = optax.inject_hyperparams(factory)(**kwargs)
  params = jnp.ones(2)
  state = tx.init(params)
  update = jax.jit(tx.update)
  for g, want in zip(grads, theirs, strict=True):
    u, state = update(jnp.asarray(g), state, params)
    params = optax.apply_updates(params, u)
    np.testing.assert_allclose(np.asarray(u), want, rtol=1e-6, atol=1e-7)


def test_case_2_momentum_set_to_zero_with_tree_set_runs_as_pytorch():
  tx = optax.inject_hyperparams(optx.torch.SGD)(lr=1.0, momentum=0.9, dampening=0.5)
  state = optax.tree_utils.tree_set(tx.init(jnp.zeros(1)), momentum=jnp.float32(0.0))
  out = []
  for _ in range(3):  # eagerly, as the review did
    u, state = tx.update(jnp.ones(1), state, jnp.zeros(1))
    out.append(float(u[0]))
  theirs = _torch_sgd_updates(3, lr=1.0, momentum=0.0, dampening=0.5)
  np.testing.assert_array_equal(out, theirs)


# 3. optx.flatten and leaf-aware transforms: refused, naming flatten.


def _decay_matrices(params):
  return jax.tree.map(lambda x: x.ndim >= 2, params)


@pytest.mark.parametrize(
  "inner",
  [
    lambda: optx.keras.SGD(1.0, clipnorm=1.0),
    lambda: optx.chain(
      optx.sgd(0.1), optx.add_decoupled_weight_decay(0.1, 0.1, mask=_decay_matrices)
    ),
    lambda: optax.adamw(0.1, mask=_decay_matrices),
  ],
  ids=["keras-clipnorm", "optx-decay-mask", "optax-adamw-mask"],
)
def test_case_3_flatten_refuses_leaf_aware_transforms(inner):
  params = {"a": jnp.ones((2, 2)), "b": jnp.ones(3)}
  with pytest.raises(
    TypeError, match=r"optx\.flatten\(inner=\.\.\.\) must act on each element"
  ):
    tx = optx.flatten(inner())
    tx.update(params, tx.init(params), params)


# 4. Epoch and step functions see Python's arithmetic, as the frameworks
# call them with Python integers.


@pytest.mark.parametrize(
  "fn, epoch",
  [
    (lambda e: 0.1 * 2 ** -(e // 10), 10),
    (lambda e: 0.1 / 2**e, 31),
    (lambda e: 0.1 * 2 ** -(e // 10), 25),
  ],
)
def test_case_4_epoch_functions_see_pythons_arithmetic(fn, epoch):
  schedule = jax.jit(optx.epoch_schedule(fn, 1))
  assert float(schedule(epoch)) == float(np.float32(fn(epoch)))


def test_case_4_lambda_lr_sees_pythons_arithmetic_past_46341():
  fn = lambda t: 1 / (1 + t) ** 2  # noqa: E731
  schedule = jax.jit(optx.torch.LambdaLR(1.0, fn))
  for t in (46340, 46341, 100_000):
    assert float(schedule(t)) == float(np.float32(fn(t)))


def test_case_4_keras_learning_rate_scheduler_keeps_training_at_epoch_10():
  fn = lambda e: 0.1 * 2 ** -(e // 10)  # noqa: E731
  tx = optx.keras.SGD(0.1, callbacks=[optx.keras.LearningRateScheduler(fn, 1)])
  updates = jax.jit(lambda: _updates(tx, 12))()
  np.testing.assert_allclose(np.asarray(updates)[10:, 0], [-0.05, -0.05], rtol=1e-6)


# 5. No state leaf is the user's array: a donating step keeps them alive.


def _donating_steps(tx, steps=3):
  params = jnp.ones(3)
  state = tx.init(params)

  @functools.partial(jax.jit, donate_argnums=1)
  def step(params, state):
    updates, state = tx.update(jnp.ones(3), state, params)
    return optx.observe(state, jnp.float32(1.0)) if optx.has_plateau(state) else state

  for _ in range(steps):
    state = step(params, state)
  return state


def test_case_5_a_donating_step_keeps_the_users_plateau_factor():
  factor = jnp.float32(0.5)
  tx = optx.sgd(0.1, plateau=optx.reduce_on_plateau(factor=factor))
  _donating_steps(tx)
  _donating_steps(tx)  # tx is usable again
  assert float(factor) == 0.5


def test_case_5_one_array_for_two_hyperparameters_can_be_donated():
  same = jnp.float32(0.1)
  tx = optx.sgd(0.1, plateau=optx.reduce_on_plateau(min_delta=same, min_scale=same))
  _donating_steps(tx)
  assert float(same) == np.float32(0.1)


def test_case_5_keras_scheduler_state_is_not_the_users_rate():
  rate = jnp.float32(0.1)
  scheduler = optx.keras.LearningRateScheduler(lambda e, lr: lr, steps_per_epoch=1)
  tx = optx.keras.SGD(rate, callbacks=[scheduler])
  _donating_steps(tx)
  assert float(rate) == np.float32(0.1)


# 6. Python float leaves update as Optax updates them.


@pytest.mark.parametrize(
  "ours, theirs, rtol",
  [
    (optx.sgd(0.1), optax.sgd(0.1), 0),
    (optx.momentum(0.1, 0.9), optax.sgd(0.1, momentum=0.9), 0),
    # optx forms 1 - beta as a Python double, Optax in float32: 7e-6 apart.
    (optx.adam(0.1), optax.adam(0.1, eps=0.0, eps_root=1e-7), 1e-5),
  ],
  ids=["sgd", "momentum", "adam"],
)
def test_case_6_python_float_leaves_update_as_optax(ours, theirs, rtol):
  with jax.numpy_dtype_promotion("standard"):  # Optax's Adam mixes int32 and float
    want = _updates(theirs, 3, {"w": jnp.float32(1.0)})
  params = {"w": 1.0}
  state = ours.init(params)
  for k in range(3):
    u, state = ours.update({"w": 1.0}, state, params)
    np.testing.assert_allclose(float(u["w"]), float(want["w"][k]), rtol=rtol)


# 7. Non-floating leaves are refused, naming the leaf's path and dtype
# (Optax would update an int32 leaf in its own dtype, truncating each step).


@pytest.mark.parametrize(
  "tx",
  [optx.sgd(1.5), optx.momentum(0.1, 0.9), optx.keras.SGD(0.1), optx.adam(0.1)],
  ids=["sgd", "momentum", "keras.SGD", "adam"],
)
def test_case_7_integer_leaves_are_refused_by_path_and_dtype(tx):
  params = {"layer": {"w": jnp.ones(2), "step": jnp.array([1], jnp.int32)}}
  with pytest.raises(TypeError, match=r"\['layer'\]\['step'\].*int32"):
    tx.update(params, tx.init(params), params)


# 8. optx.flatten with bfloat16 params and float32 gradients: as the plain path.


def test_case_8_flatten_accepts_float32_gradients_of_bfloat16_params():
  params = {"a": jnp.full(3, 1.5, jnp.bfloat16), "b": jnp.full(2, -1.0)}
  grads = {"a": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array([1.0, 3.0])}
  plain = _two_steps(optx.adam(0.1), params, grads)
  flat = _two_steps(optx.flatten(optx.adam(0.1)), params, grads)
  chex.assert_trees_all_equal(flat, plain)


def _two_steps(tx, params, grads):
  state = tx.init(params)
  u1, state = tx.update(grads, state, params)
  u2, state = tx.update(grads, state, params)
  return u1, u2


# Float64 parameters under jax_enable_x64 compute in float64, as Optax does.

_X64 = textwrap.dedent(
  """
  import jax, jax.numpy as jnp, numpy as np, optax, optx
  assert jax.config.jax_enable_x64
  params = jnp.linspace(-1.0, 2.0, 7, dtype=jnp.float64)
  for ours, theirs in [
    (optx.sgd(0.1), optax.sgd(0.1)),
    (optx.momentum(0.1, 0.9), optax.sgd(0.1, momentum=0.9)),
    (optx.adam(1e-3), optax.adam(1e-3, eps=0.0, eps_root=1e-7)),
    (optx.rmsprop(1e-3), optax.rmsprop(1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=True)),
  ]:
    a, b = ours.init(params), theirs.init(params)
    for k in range(20):
      g = jnp.sin(params * (k + 1))
      ua, a = ours.update(g, a, params)
      ub, b = theirs.update(g, b, params)
      assert ua.dtype == jnp.float64
    print(float(jnp.max(jnp.abs(ua - ub)) / jnp.max(jnp.abs(ub))))
  """
)


def test_float64_params_match_optax_to_float64_rounding():
  env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
  out = subprocess.run(
    [sys.executable, "-c", _X64], env=env, capture_output=True, text=True, check=True
  )
  errors = [float(x) for x in out.stdout.split()]
  assert len(errors) == 4
  assert max(errors) < 1e-15, errors
