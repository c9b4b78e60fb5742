"""Performance scheduling against the real Keras callback and PyTorch scheduler.

Each measurement sequence is fed to ``optx.observe`` and to the framework's
own ``ReduceLROnPlateau`` (driven by hand, epoch by epoch); the learning-rate
multipliers must agree after every epoch.
"""

import types

import jax
import jax.numpy as jnp
import keras  # noqa: E402
import numpy as np
import pytest
import torch  # noqa: E402

import optx

# Keras 3.15's variables convert to NumPy through an ``__array__`` that NumPy 2
# flags as deprecated; the warning is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def optx_scales(values, **kwargs):
  state = optx.reduce_on_plateau(**kwargs).init(None)
  observe = jax.jit(optx.observe)
  scales = []
  for value in values:
    state = observe(state, jnp.float32(value))
    scales.append(float(state.scale))
  return np.array(scales)


def keras_scales(values, factor, patience, cooldown, min_delta, mode, min_lr):
  optimizer = keras.optimizers.SGD(learning_rate=1.0)
  callback = keras.callbacks.ReduceLROnPlateau(
    monitor="val_loss" if mode == "min" else "val_accuracy",
    factor=factor,
    patience=patience,
    cooldown=cooldown,
    min_delta=min_delta,
    mode=mode,
    min_lr=min_lr,
  )
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  callback.on_train_begin()
  key = "val_loss" if mode == "min" else "val_accuracy"
  scales = []
  for epoch, value in enumerate(values):
    callback.on_epoch_end(epoch, {key: float(value)})
    scales.append(float(optimizer.learning_rate))
  return np.array(scales)


def torch_scales(
  values, factor, patience, cooldown, threshold, threshold_mode, mode, min_lr
):
  param = torch.nn.Parameter(torch.zeros(1))
  optimizer = torch.optim.SGD([param], lr=1.0)
  scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
    optimizer,
    mode=mode,
    factor=factor,
    patience=patience,
    threshold=threshold,
    threshold_mode=threshold_mode,
    cooldown=cooldown,
    min_lr=min_lr,
  )
  scales = []
  for value in values:
    scheduler.step(float(value))
    scales.append(optimizer.param_groups[0]["lr"])
  return np.array(scales)


def sequences():
  rng = np.random.default_rng(0)
  flat = np.ones(40)
  noisy = 1.0 + 0.05 * rng.normal(size=60).cumsum() * 0.1
  falling = np.concatenate(
    [np.linspace(1.0, 0.5, 10), np.full(20, 0.5), np.linspace(0.5, 0.4, 10)]
  )
  # Improvements smaller than min_delta that add up past it. (optx compares in
  # float32; steps of exactly min_delta / 2 would make float64 ties.)
  tiny_steps = 1.0 - 3e-5 * np.arange(30)
  return {"flat": flat, "noisy": noisy, "falling": falling, "tiny": tiny_steps}


CASES = [
  dict(factor=0.5, patience=5, cooldown=0),
  dict(factor=0.5, patience=2, cooldown=0),
  dict(factor=0.5, patience=2, cooldown=1),
  dict(factor=0.5, patience=2, cooldown=2),
  dict(factor=0.1, patience=0, cooldown=3),
  dict(factor=0.3, patience=3, cooldown=1),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["flat", "noisy", "falling", "tiny"])
def test_keras_rule_matches_keras_callback(case, name):
  values = sequences()[name]
  expected = keras_scales(values, min_delta=1e-4, mode="min", min_lr=0.0, **case)
  actual = optx_scales(values, min_delta=1e-4, mode="min", **case)
  np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_keras_rule_max_mode_and_floor():
  values = np.concatenate([np.linspace(0.5, 0.9, 8), np.full(40, 0.9)])
  expected = keras_scales(values, 0.5, 2, 0, 1e-4, "max", min_lr=0.05)
  actual = optx_scales(
    values, factor=0.5, patience=2, min_delta=1e-4, mode="max", min_scale=0.05
  )
  np.testing.assert_allclose(actual, expected, rtol=1e-6)
  assert actual[-1] == pytest.approx(0.05)


def test_keras_reduction_epochs_documented():
  """semantics.md B.2: patience=2 reduces at epochs [2,4,6] for c in {0,1}, [2,5,8] for c=2."""
  for cooldown, epochs in [(0, [2, 4, 6]), (1, [2, 4, 6]), (2, [2, 5, 8])]:
    scales = optx_scales(np.ones(9), factor=0.5, patience=2, cooldown=cooldown)
    reductions = [e for e in range(9) if scales[e] < (scales[e - 1] if e else 1.0)]
    assert reductions[:3] == epochs


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["flat", "noisy", "falling", "tiny"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_torch_rule_matches_torch_scheduler(case, name, threshold_mode):
  values = sequences()[name]
  expected = torch_scales(
    values,
    threshold=1e-4,
    threshold_mode=threshold_mode,
    mode="min",
    min_lr=0.0,
    **case,
  )
  actual = optx_scales(
    values,
    min_delta=1e-4,
    threshold_mode=threshold_mode,
    rule="torch",
    eps=1e-8,
    **case,
  )
  np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_torch_rule_max_mode_and_floor():
  values = np.concatenate([np.linspace(0.5, 0.9, 8), np.full(40, 0.9)])
  expected = torch_scales(values, 0.5, 2, 1, 1e-3, "rel", "max", min_lr=0.05)
  actual = optx_scales(
    values,
    factor=0.5,
    patience=2,
    cooldown=1,
    min_delta=1e-3,
    mode="max",
    min_scale=0.05,
    threshold_mode="rel",
    rule="torch",
    eps=1e-8,
  )
  np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_nan_measurement_is_ignored():
  with_nan = optx_scales([1.0, np.nan, 1.0, np.nan, 1.0, 1.0], factor=0.5, patience=2)
  without = optx_scales([1.0, 1.0, 1.0, 1.0], factor=0.5, patience=2)
  np.testing.assert_array_equal(with_nan[[0, 2, 4, 5]], without)
  np.testing.assert_array_equal(with_nan[[1, 3]], with_nan[[0, 2]])


def test_observe_reaches_nested_plateau_states():
  import optax

  inner = optx.adam(1e-3, plateau=optx.reduce_on_plateau(factor=0.5, patience=0))
  tx = optax.chain(optax.clip_by_global_norm(1.0), inner, optax.scale(1.0))
  state = tx.init({"w": jnp.zeros(3)})
  state = optx.observe(optx.observe(state, 2.0), 2.0)
  assert float(optx.plateau_scale(state)) == 0.5


@pytest.mark.parametrize(
  "value, error",
  [
    (np.array([1.0, 2.0]), ValueError),  # would broadcast into scale and best
    (jnp.ones((1,)), ValueError),
    ("0.5", TypeError),
    (1.0 + 2.0j, TypeError),
  ],
  ids=["vector", "one-element vector", "str", "complex"],
)
def test_a_measurement_that_is_not_a_real_scalar_is_refused(value, error):
  tx = optx.sgd(0.1, plateau=optx.reduce_on_plateau(patience=0))
  state = tx.init(jnp.zeros(3))
  with pytest.raises(error, match=r"optx\.observe\(value=\.\.\.\)"):
    optx.observe(state, value)
  plateau = optx.reduce_on_plateau(patience=0)
  with pytest.raises(error, match=r"optx\.reduce_on_plateau\(\.\.\.\)\.update\(value"):
    plateau.update(jnp.zeros(3), plateau.init(jnp.zeros(3)), value=value)
  # The state is untouched and still steps with a scalar measurement.
  state = optx.observe(optx.observe(state, 1.0), 1.0)
  assert optx.plateau_scale(state) == 0.5
  assert state[1].best.shape == ()


def test_observe_refuses_a_state_without_a_plateau():
  # It used to return the state unchanged: the measurement silently did
  # nothing, and the learning rate never fell.
  params = jnp.zeros(2)
  for tx in (optx.sgd(0.1), optx.keras.SGD(0.1), optx.torch.SGD(0.1)):
    with pytest.raises(
      ValueError, match=r"optx\.observe: the optimizer state holds no plateau"
    ):
      optx.observe(tx.init(params), 1.0)
  assert not optx.has_plateau(optx.adam(0.1).init(params))
  plateau = optx.keras.ReduceLROnPlateau()
  assert optx.has_plateau(optx.keras.Adam(callbacks=[plateau]).init(params))
