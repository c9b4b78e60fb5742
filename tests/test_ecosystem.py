"""optx in the libraries around it: Flax's TrainState and nnx.Optimizer, Orbax, pickle.

Each test runs the same optimizer, data and measurements through the library
and through a plain loop of ``tx.update`` / ``optax.apply_updates`` /
``optx.observe``, and asserts bitwise equality. The optimizers are the
registry's (``registry.py``) that carry a plateau, each with a scheduled
learning rate (a step counter) and with a constant one (no counter), and the
measurements are built so that the plateau reduces the learning rate both
before and after the checkpoint: a restored run that lost or changed any
counter would diverge.
"""

import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
import registry
from flax import nnx
from flax.training import train_state

import optx

STEPS = 12
CHECKPOINT_AT = 6
# A validation measurement per step. With the registry's plateau (factor 0.5,
# patience 2), Keras's rule reduces at steps 3, 6 and 10, PyTorch's at 7 and
# 11; at the checkpoint (after step 5) both wait 1, so the next reduction
# needs the restored counter.
MEASUREMENTS = np.array([5, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2], np.float32)
LEARNING_RATES = {
  "scheduled": lambda: optx.exponential_schedule(0.05, steps=4, decay_rate=0.5),
  # Constant hyperparameters: the optimizer's blocks keep no step counter.
  "constant": lambda: 0.05,
}
OPTIMIZERS = [
  pytest.param(name, lr, id=f"{name}-{lr}")
  for name in registry.names(lambda o: o.plateau)
  for lr in LEARNING_RATES
]


def make(name, lr):
  return registry.OPTIMIZERS[name].make(LEARNING_RATES[lr]())


def _data():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((STEPS, 8, 3)).astype(np.float32)
  y = np.tanh(x @ rng.standard_normal((3, 2)).astype(np.float32))
  params = {
    "w": (0.1 * rng.standard_normal((3, 2))).astype(np.float32),
    "b": np.zeros(2, np.float32),
  }
  return params, x, y


def _apply(params, x):
  return x @ params["w"] + params["b"][None, :]


def _loss(params, x, y):
  return jnp.mean((_apply(params, x) - y) ** 2)


def _plain_run(tx, params, x, y, measurements):
  """The reference: params and state after one jitted plain step per batch."""

  @jax.jit
  def step(params, state, x, y, measurement):
    state = optx.observe(state, measurement)
    updates, state = tx.update(jax.grad(_loss)(params, x, y), state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  for t in range(len(x)):
    params, state = step(params, state, x[t], y[t], measurements[t])
  return params, state


@jax.jit
def _train_state_step(state, x, y, measurement):
  grads = jax.grad(_loss)(state.params, x, y)
  state = state.replace(opt_state=optx.observe(state.opt_state, measurement))
  return state.apply_gradients(grads=grads)


def _train_state_run(state, start, stop):
  _, x, y = _data()
  for t in range(start, stop):
    state = _train_state_step(state, x[t], y[t], MEASUREMENTS[t])
  return state


def _new_train_state(tx):
  params, _, _ = _data()
  return train_state.TrainState.create(apply_fn=_apply, params=params, tx=tx)


@pytest.mark.parametrize(("name", "lr"), OPTIMIZERS)
def test_flax_train_state_equals_the_plain_loop(name, lr):
  tx = make(name, lr)
  state = _train_state_run(_new_train_state(tx), 0, STEPS)
  params, opt_state = _plain_run(tx, *_data(), MEASUREMENTS)
  chex.assert_trees_all_equal(state.params, params)
  chex.assert_trees_all_equal(state.opt_state, opt_state)
  assert int(state.step) == STEPS
  assert float(optx.plateau_scale(state.opt_state)) < 1  # the plateau acted


def _arrays(state):
  """What a checkpoint holds: the TrainState's arrays (its tx and apply_fn are code)."""
  return {"step": state.step, "params": state.params, "opt_state": state.opt_state}


def _save_orbax(tmp_path, state):
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(tmp_path / "checkpoint", _arrays(state))


def _restore_orbax(tmp_path, template):
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _arrays(template))
  with ocp.StandardCheckpointer() as checkpointer:
    return template.replace(**checkpointer.restore(tmp_path / "checkpoint", abstract))


def _save_pickle(tmp_path, state):
  (tmp_path / "state.pkl").write_bytes(pickle.dumps(jax.device_get(_arrays(state))))


def _restore_pickle(tmp_path, template):
  arrays = pickle.loads((tmp_path / "state.pkl").read_bytes())
  return template.replace(**jax.tree.map(jnp.asarray, arrays))


FORMATS = {
  "orbax": (_save_orbax, _restore_orbax),
  "pickle": (_save_pickle, _restore_pickle),
}


@pytest.mark.parametrize("format", list(FORMATS))
@pytest.mark.parametrize(("name", "lr"), OPTIMIZERS)
def test_restored_run_continues_bitwise(tmp_path, name, lr, format):
  save, restore = FORMATS[format]
  tx = make(name, lr)
  state = _train_state_run(_new_train_state(tx), 0, CHECKPOINT_AT)
  save(tmp_path, state)
  uninterrupted = _train_state_run(state, CHECKPOINT_AT, STEPS)

  # A fresh process would build a new TrainState and restore into it.
  fresh = _new_train_state(make(name, lr))
  restored = restore(tmp_path, fresh)
  # The state's types (optx's NamedTuples) come back, with every value and dtype.
  assert jax.tree.structure(restored.opt_state) == jax.tree.structure(state.opt_state)
  chex.assert_trees_all_equal(restored.opt_state, state.opt_state)
  chex.assert_trees_all_equal_dtypes(restored.opt_state, state.opt_state)
  chex.assert_trees_all_equal(restored.params, state.params)
  assert int(restored.step) == CHECKPOINT_AT
  resumed = _train_state_run(restored, CHECKPOINT_AT, STEPS)
  chex.assert_trees_all_equal(resumed.params, uninterrupted.params)
  chex.assert_trees_all_equal(resumed.opt_state, uninterrupted.opt_state)
  assert float(optx.plateau_scale(resumed.opt_state)) < float(
    optx.plateau_scale(state.opt_state)
  )  # reductions happened after the checkpoint too


class _Linear(nnx.Module):
  def __init__(self, params):
    self.w = nnx.Param(jnp.asarray(params["w"]))
    self.b = nnx.Param(jnp.asarray(params["b"]))

  def __call__(self, x):
    return _apply({"w": self.w[...], "b": self.b[...]}, x)


@pytest.mark.parametrize(("name", "lr"), OPTIMIZERS)
def test_nnx_optimizer_equals_the_plain_loop(name, lr):
  params, x, y = _data()
  tx = make(name, lr)
  model = _Linear(params)
  optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

  @nnx.jit
  def step(model, optimizer, x, y, measurement):
    grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    # Extra arguments reach the plateau: it records the measurement, then scales.
    optimizer.update(model, grads, value=measurement)

  for t in range(STEPS):
    step(model, optimizer, x[t], y[t], MEASUREMENTS[t])

  @jax.jit
  def plain_step(params, state, x, y, measurement):
    grads = jax.grad(_loss)(params, x, y)
    updates, state = tx.update(grads, state, params, value=measurement)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  for t in range(STEPS):
    params, state = plain_step(params, state, x[t], y[t], MEASUREMENTS[t])
  chex.assert_trees_all_equal({"w": model.w[...], "b": model.b[...]}, params)
  assert int(optimizer.step[...]) == STEPS
  # nnx keeps optx's state (its NamedTuples) with each array in a Variable.
  is_variable = lambda node: isinstance(node, nnx.Variable)
  nnx_leaves = jax.tree.leaves(optimizer.opt_state, is_leaf=is_variable)
  chex.assert_trees_all_equal([v[...] for v in nnx_leaves], jax.tree.leaves(state))
  assert float(optx.plateau_scale(state)) < 1
