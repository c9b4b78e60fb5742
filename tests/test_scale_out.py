"""optx inside JAX's SPMD machinery: pmap, sharded jit, vmap sweeps, no retrace.

The multi-device checks run in a process of their own with 8 simulated CPU
devices (``scale_out_worker.py``; JAX fixes its device count at start-up).
The vmap and retrace checks need one device and run here.
"""

import fcntl
import json
import os
import pathlib
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import oracles
import pytest
import registry

import optx

TESTS = pathlib.Path(__file__).parent
sys.path.insert(0, str(TESTS))
import scale_out_worker as worker  # noqa: E402

# pmap vs one device: float32 sums in another order (the pmean of 8 partial
# gradients vs one mean over the batch), so equal to a few ulps, not bitwise:
# 1e-6 absolute for values up to 1, relative to the leaf's largest above.
PMAP_TOLERANCE = 1e-6


def _run_worker():
  env = dict(os.environ)
  env["XLA_FLAGS"] = (
    env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
  ).strip()
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = os.pathsep.join(
    [str(TESTS.parent), *filter(None, [env.get("PYTHONPATH")])]
  )
  done = subprocess.run(
    [sys.executable, str(TESTS / "scale_out_worker.py")],
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert done.returncode == 0, done.stderr[-4000:]
  return done.stdout


@pytest.fixture(scope="module")
def multi_device(tmp_path_factory):
  """The worker's measurements on 8 simulated CPU devices.

  Under pytest-xdist the workers share one run of it (through the session's
  temporary directory, under a file lock) instead of one run each.
  """
  if "PYTEST_XDIST_WORKER" not in os.environ:
    return json.loads(_run_worker())
  shared = tmp_path_factory.getbasetemp().parent  # this session's, for all workers
  result = shared / "scale_out_worker.json"
  with open(shared / "scale_out_worker.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not result.exists():
      result.write_text(_run_worker())
  return json.loads(result.read_text())


# ----------------------------------------------------------------------------
# pmap data parallelism.


@pytest.mark.parametrize("name", list(worker.PMAP_OPTIMIZERS))
def test_pmap_step_equals_one_device_on_the_whole_batch(multi_device, name):
  result = multi_device["pmap"][name]
  assert result["max_diff"] <= PMAP_TOLERANCE, result
  assert result["replicas_identical"], result  # bitwise, every leaf
  assert result["counters_equal"], result  # step and plateau counters exactly
  if registry.OPTIMIZERS[name].plateau:
    assert result["plateau_scale_pmap"] == result["plateau_scale_single"] < 1


def test_shard_map_step_equals_one_device_on_the_whole_batch(multi_device):
  """jit(shard_map(step)) with observe(axis_name=...): Adam with a PyTorch-rule plateau."""
  result = multi_device["shard_map"]
  assert result["max_abs_diff"] <= PMAP_TOLERANCE, result
  assert result["counters_equal"], result
  assert result["plateau_scale"] == result["plateau_scale_single"] < 1


def test_plateau_decisions_are_the_same_on_every_replica(multi_device):
  result = multi_device["plateau"]
  expected = oracles.keras_plateau_scales([4, 3, 3, 3, 2, 2, 2], factor=0.5, patience=1)
  assert expected == [1, 1, 0.5, 0.25, 0.25, 0.125, 0.0625]
  assert result["single_scales"] == expected
  assert all(row == expected for row in result["scales"])  # every replica
  assert result["replicas_identical"]  # scale, best, wait, cooldown: bitwise
  assert result["equal_to_single"]
  # Without axis_name each replica decides on its own measurement: they split.
  assert result["local_scales_replica_0"] != result["local_scales_replica_1"]


# ----------------------------------------------------------------------------
# Sharded jit.


@pytest.mark.parametrize(
  "mesh, name",
  [(mesh, name) for mesh in worker.MESHES for name in worker.sharding_transforms(mesh)],
)
def test_state_and_updates_keep_the_params_sharding(multi_device, mesh, name):
  """Eager init, jit(init) without out_shardings, eager and jitted updates."""
  result = multi_device["sharding"][mesh][name]
  assert result["errors"] == []
  assert result["buffers"] == worker.SHARDING_TRANSFORMS[name][1]


def test_the_sharding_check_catches_replicated_buffers(multi_device):
  """Control: plain jnp.zeros_like under jit loses the sharding, and is caught."""
  errors = multi_device["naive_zeros"]["errors"]
  assert len(errors) == 3 and all("jit init" in e for e in errors)


def test_orbax_restores_a_sharded_state_sharded_and_bitwise(multi_device):
  """Adam with a schedule and a plateau on a 2-D mesh, saved and restored by Orbax."""
  result = multi_device["orbax_sharded"]
  assert result["errors"] == [] and result["buffers"] == 2
  assert result["restored_equal"] and result["continued_equal"]


def test_every_public_transform_is_checked_for_sharding():
  # flatten concatenates every leaf into one buffer per dtype: its state cannot
  # have the params' layout, sharded or not (it is for many small leaves).
  # chain keeps no buffers of its own: its parts' are checked. The learning
  # rate finder and early stopping are training tools, not transformations.
  not_transforms = {
    "observe",
    "plateau_scale",
    "has_plateau",
    "sweep",
    "flatten",
    "chain",
    "find_learning_rate",
    "early_stopping",
  }
  public = {
    name
    for name in optx.__all__
    if name[0].islower()
    and callable(getattr(optx, name))
    and not name.endswith("_schedule")
    and name not in not_transforms
  }
  missing = public - set(worker.SHARDING_TRANSFORMS)
  assert not missing, f"add {sorted(missing)} to scale_out_worker.SHARDING_TRANSFORMS"


# ----------------------------------------------------------------------------
# vmap sweeps and retracing.

STEPS = 12


def _data():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((STEPS, 16, 3)).astype(np.float32)
  y = (x @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)
  params = {"w": np.zeros(3, np.float32), "b": np.zeros([], np.float32)}
  return params, x, y


def _loss(params, x, y):
  prediction = x @ params["w"] + jnp.broadcast_to(params["b"], y.shape)
  return jnp.mean((prediction - y) ** 2)


def _train(tx, params, x, y):
  """STEPS updates of ``tx`` on a linear regression; returns params and state."""

  def step(carry, batch):
    params, state = carry
    updates, state = tx.update(jax.grad(_loss)(params, *batch), state, params)
    return (optax.apply_updates(params, updates), state), None

  (params, state), _ = jax.lax.scan(step, (params, tx.init(params)), (x, y))
  return params, state


SWEEPS = {
  "sgd/learning_rate": (lambda lr: optx.sgd(lr), [0.3, 0.1, 0.03, 0.01]),
  "momentum/momentum": (lambda m: optx.momentum(0.02, m), [0.0, 0.5, 0.9, 0.99]),
  "adam/b1": (lambda b1: optx.adam(0.05, b1=b1), [0.0, 0.5, 0.9, 0.95]),
  "adam/decay_rate": (
    lambda d: optx.adam(optx.exponential_schedule(0.1, steps=4, decay_rate=d)),
    [0.9, 0.5, 0.1, 0.01],
  ),
}


@pytest.mark.parametrize("name", list(SWEEPS))
def test_vmap_sweep_equals_separate_runs(name):
  make, values = SWEEPS[name]
  params, x, y = _data()
  # One compiled program trains len(values) models, one per hyperparameter.
  swept = jax.jit(jax.vmap(lambda h: _train(make(h), params, x, y)[0]))(
    jnp.asarray(values, jnp.float32)
  )
  for k, value in enumerate(values):
    alone = jax.jit(lambda value=value: _train(make(value), params, x, y)[0])()
    chex.assert_trees_all_close(
      jax.tree.map(lambda a, k=k: a[k], swept), alone, rtol=1e-6, atol=1e-7
    )
  finals = np.asarray(swept["w"])
  assert len({tuple(row) for row in finals.tolist()}) == len(values)  # all differ


def test_changing_hyperparameters_passed_as_arrays_does_not_retrace():
  params, x, y = _data()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def train(learning_rate, b1, decay_rate):
    schedule = optx.exponential_schedule(learning_rate, steps=4, decay_rate=decay_rate)
    tx = optx.adam(schedule, b1=b1, plateau=optx.reduce_on_plateau())
    return _train(tx, params, x, y)[0]

  for lr, b1, decay in [(0.1, 0.9, 0.5), (0.05, 0.8, 0.9), (0.2, 0.0, 0.1)]:
    got = train(jnp.float32(lr), jnp.float32(b1), jnp.float32(decay))
    schedule = optx.exponential_schedule(lr, steps=4, decay_rate=decay)
    tx = optx.adam(schedule, b1=b1, plateau=optx.reduce_on_plateau())
    expected = jax.jit(lambda tx=tx: _train(tx, params, x, y)[0])()
    chex.assert_trees_all_close(got, expected, rtol=1e-6, atol=1e-7)


def test_inject_hyperparams_changes_the_learning_rate_without_retracing():
  params, x, y = _data()
  tx = optax.inject_hyperparams(optx.rmsprop)(learning_rate=0.01, momentum=0.9)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def train(state):
    def step(carry, batch):
      params, state = carry
      updates, state = tx.update(jax.grad(_loss)(params, *batch), state, params)
      return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, state), (x, y))[0][0]

  for lr in [0.01, 0.03, 0.001]:
    state = tx.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
    expected = jax.jit(
      lambda lr=lr: _train(optx.rmsprop(lr, momentum=0.9), params, x, y)[0]
    )()
    chex.assert_trees_all_close(train(state), expected, rtol=1e-6, atol=1e-7)


def _stack(tree, k):
  return jax.tree.map(lambda a: np.stack([a] * k), tree)


def test_sweep_trains_k_models_equal_to_k_runs():
  """optx.sweep over two hyperparameters at once, plateau and measurements included."""
  params, x, y = _data()
  lrs, b1s = [0.1, 0.05, 0.02], [0.9, 0.5, 0.0]
  # One measurement per model and step: a plateau, a steady fall, a rise.
  measurements = np.stack(
    [[3.0] + [2.0] * (STEPS - 1), np.arange(STEPS, 0, -1), np.arange(STEPS)]
  ).astype(np.float32)
  make = lambda learning_rate, b1: optx.adam(
    learning_rate, b1=b1, plateau=optx.reduce_on_plateau(0.5, patience=1)
  )
  tx = optx.sweep(make, learning_rate=jnp.asarray(lrs), b1=jnp.asarray(b1s))

  @jax.jit
  def step(params, state, x, y, measurement):
    grads = jax.vmap(jax.grad(_loss), in_axes=(0, None, None))(params, x, y)
    state = jax.vmap(optx.observe)(state, measurement)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  swept, state = _stack(params, len(lrs)), tx.init(_stack(params, len(lrs)))
  for t in range(STEPS):
    swept, state = step(swept, state, x[t], y[t], measurements[:, t])

  for k, (lr, b1) in enumerate(zip(lrs, b1s, strict=True)):
    tx_k = make(lr, b1)

    @jax.jit
    def step_k(params, state, x, y, measurement, tx_k=tx_k):
      state = optx.observe(state, measurement)
      updates, state = tx_k.update(jax.grad(_loss)(params, x, y), state, params)
      return optax.apply_updates(params, updates), state

    alone, state_k = params, tx_k.init(params)
    for t in range(STEPS):
      alone, state_k = step_k(alone, state_k, x[t], y[t], measurements[k, t])
    chex.assert_trees_all_close(
      jax.tree.map(lambda a, k=k: a[k], swept), alone, rtol=1e-6, atol=1e-7
    )
    assert optx.plateau_scale(state)[k] == optx.plateau_scale(state_k)
  assert len(set(np.asarray(optx.plateau_scale(state)).tolist())) == len(lrs)


@pytest.mark.parametrize(
  "hyperparameters, message",
  [
    ({}, "at least one"),
    ({"learning_rate": 0.1}, "1-D"),
    ({"learning_rate": [0.1, 0.2], "b1": [0.9]}, "differ in length"),
    ({"learning_rate": [0.1, -0.2]}, "learning_rate"),
    ({"b1": [0.9, 1.0]}, "b1"),
  ],
)
def test_sweep_rejects_bad_hyperparameters(hyperparameters, message):
  with pytest.raises(ValueError, match=message):
    optx.sweep(
      lambda learning_rate=0.1, b1=0.9: optx.adam(learning_rate, b1), **hyperparameters
    )


def test_sweep_rejects_a_factory_that_is_not_callable():
  with pytest.raises(TypeError, match=r"optx.sweep\(factory\)"):
    optx.sweep(optx.adam(0.1), learning_rate=[0.1])


@pytest.mark.parametrize("mode", ["eager", "jit", "vmap"])
def test_state_buffers_ignore_non_finite_params(mode):
  """Buffers are built from the params (for their sharding) but never from their values."""
  params = {"w": jnp.array([jnp.nan, jnp.inf, -jnp.inf, -0.0, 3.0], jnp.float32)}
  tx = optax.chain(
    optx.scale_by_rss(initial_accumulator_value=0.25),
    optx.scale_by_adam(mu_dtype=jnp.bfloat16),
  )
  if mode == "jit":
    state = jax.jit(tx.init)(params)
  elif mode == "vmap":
    state = jax.tree.map(lambda a: a[1], jax.vmap(tx.init)(_stack(params, 2)))
  else:
    state = tx.init(params)
  rss, adam = state
  np.testing.assert_array_equal(rss.sum_of_squares["w"], np.full(5, 0.25, np.float32))
  for buffer, dtype in [(adam.mu["w"], jnp.bfloat16), (adam.nu["w"], jnp.float32)]:
    assert buffer.dtype == dtype
    assert not np.signbit(np.asarray(buffer, np.float32)).any()  # +0.0, not -0.0
    np.testing.assert_array_equal(np.asarray(buffer, np.float32), np.zeros(5))


def test_sweep_built_inside_jit_takes_traced_hyperparameters_without_retracing():
  params = {"w": jnp.zeros((3, 2))}  # three stacked models
  grads = {"w": jnp.ones((3, 2))}

  @jax.jit
  @chex.assert_max_traces(n=1)
  def first_updates(learning_rates):
    tx = optx.sweep(
      lambda learning_rate: optx.momentum(learning_rate, 0.9),
      learning_rate=learning_rates,
    )
    return tx.update(grads, tx.init(params), params)[0]

  for lrs in ([0.1, 0.2, 0.3], [0.5, 0.05, 0.005]):
    got = first_updates(jnp.asarray(lrs, jnp.float32))
    expected = -np.asarray(lrs, np.float32)[:, None] * np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(got["w"], expected)
