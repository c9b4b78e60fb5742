"""Schedules at every step of their range, against closed forms written here."""

import jax
import jax.numpy as jnp
import numpy as np
import oracles
import pytest

import optx


def evaluate(schedule, steps):
  """Eager per step, jitted per step and vmapped over the step array must agree."""
  steps = np.asarray(steps, np.int32)
  eager = np.array([float(schedule(jnp.int32(t))) for t in steps])
  jitted_fn = jax.jit(schedule)
  jitted = np.array([float(jitted_fn(jnp.int32(t))) for t in steps])
  vmapped = np.asarray(jax.vmap(schedule)(jnp.asarray(steps)))
  # XLA fuses the jitted arithmetic, so the two may differ in the last bit.
  np.testing.assert_allclose(jitted, eager, rtol=3e-6)
  np.testing.assert_allclose(vmapped, eager, rtol=3e-6)
  return eager


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_power_schedule(power, staircase):
  t = np.arange(0, 60)
  p = np.floor(t / 7) if staircase else t / 7
  expected = 0.1 / (1 + p) ** power
  np.testing.assert_allclose(
    evaluate(optx.power_schedule(0.1, 7, power, staircase=staircase), t),
    expected,
    rtol=1e-6,
  )


def test_power_schedule_is_keras_legacy_decay():
  """Keras's ``SGD(lr=0.01, decay=1e-4)``: lr / (1 + decay * iterations)."""
  t = np.arange(0, 30_000, 997)
  np.testing.assert_allclose(
    evaluate(optx.power_schedule(0.01, 1 / 1e-4), t), 0.01 / (1 + 1e-4 * t), rtol=1e-6
  )


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_schedule(staircase):
  t = np.arange(0, 100)
  p = np.floor(t / 20) if staircase else t / 20
  np.testing.assert_allclose(
    evaluate(optx.exponential_schedule(0.01, 20, staircase=staircase), t),
    0.01 * 0.1**p,
    rtol=3e-6,
  )
  np.testing.assert_allclose(
    evaluate(optx.exponential_schedule(2.0, 5, 0.5), t), 2.0 * 0.5 ** (t / 5), rtol=3e-6
  )


def test_piecewise_constant_new_value_applies_at_the_boundary():
  """The book's ``if epoch < 5 ... elif epoch < 15``: at the boundary, the new value."""
  t = np.arange(0, 25)
  schedule = optx.piecewise_constant_schedule([5, 15], [0.01, 0.005, 0.001])
  np.testing.assert_allclose(
    evaluate(schedule, t), [oracles.piecewise_constant_fn(e) for e in t], rtol=1e-7
  )
  assert float(schedule(4)) == pytest.approx(0.01)
  assert float(schedule(5)) == pytest.approx(0.005)
  assert float(schedule(15)) == pytest.approx(0.001)


def test_onecycle_matches_the_seed_notebook():
  # The values the notebook's callback printed for iterations=10, max_rate=1.
  published = [0.1, 0.325, 0.55, 0.775, 1.0, 0.775, 0.55, 0.325, 0.1, 0.05005]
  np.testing.assert_allclose(
    evaluate(optx.onecycle_schedule(10, 1.0), np.arange(10)), published, rtol=1e-6
  )
  for total, kwargs in [
    (97, {}),
    (250, {"start_value": 0.05, "end_value": 1e-5, "final_steps": 30}),
  ]:
    expected = oracles.geron_one_cycle(
      total,
      0.4,
      kwargs.get("start_value"),
      kwargs.get("final_steps"),
      kwargs.get("end_value"),
    )
    np.testing.assert_allclose(
      evaluate(optx.onecycle_schedule(total, 0.4, **kwargs), np.arange(total)),
      expected,
      rtol=1e-5,
      atol=1e-9,
    )


def test_onecycle_holds_end_value_past_the_horizon():
  schedule = optx.onecycle_schedule(100, 1.0)
  np.testing.assert_allclose(evaluate(schedule, [100, 101, 10_000]), 1e-4, rtol=1e-5)


def test_onecycle_momentum_mirrors_the_rate():
  total = 100
  lr = evaluate(
    optx.onecycle_schedule(total, 1.0, start_value=0.1, end_value=0.1), np.arange(total)
  )
  momentum = evaluate(
    optx.onecycle_momentum_schedule(total, 0.95, 0.85), np.arange(total)
  )
  # Momentum is an affine, decreasing image of the rate over the two ramps: high when the rate is low.
  half = (total - (total // 10 + 1)) // 2
  ramp = slice(0, 2 * half)
  np.testing.assert_allclose(
    momentum[ramp], 0.95 - (lr[ramp] - 0.1) / 0.9 * 0.1, atol=1e-6
  )
  np.testing.assert_allclose(momentum[2 * half :], 0.95, atol=1e-7)


def test_epoch_schedule_runs_the_seed_functions():
  steps = np.arange(0, 4000, 37)
  schedule = optx.epoch_schedule(
    oracles.exponential_decay(lr0=0.01, s=20), steps_per_epoch=100
  )
  np.testing.assert_allclose(
    evaluate(schedule, steps), 0.01 * 0.1 ** ((steps // 100) / 20), rtol=2e-6
  )
  piecewise = optx.epoch_schedule(
    optx.piecewise_constant_schedule([5, 15], [0.01, 0.005, 0.001]), 100
  )
  expected = np.where(steps // 100 < 5, 0.01, np.where(steps // 100 < 15, 0.005, 0.001))
  np.testing.assert_allclose(evaluate(piecewise, steps), expected, rtol=1e-7)


def test_schedule_as_learning_rate_sees_count_from_zero():
  tx = optx.sgd(optx.piecewise_constant_schedule([2], [1.0, 0.5]))
  state = tx.init(jnp.zeros(1))
  rates = []
  for _ in range(4):
    u, state = tx.update(jnp.ones(1), state)
    rates.append(-float(u[0]))
  assert rates == [1.0, 1.0, 0.5, 0.5]


@pytest.mark.parametrize(
  "step", [np.uint32(2**31 + 5), np.uint32(2**32 - 1)], ids=["2**31+5", "uint32 max"]
)
def test_step_schedules_do_not_wrap_a_wider_step(step):
  # A uint32 step (or an int64 one under x64) past the int32 maximum is taken
  # in its own dtype: as int32 it would wrap to a negative step.
  piecewise = optx.piecewise_constant_schedule([5, 15], [1.0, 2.0, 3.0])
  assert float(piecewise(step)) == 3.0
  assert float(jax.jit(piecewise)(step)) == 3.0
  epochs = optx.epoch_schedule(lambda epoch: epoch // 1000, steps_per_epoch=1000)
  assert float(epochs(step)) == np.float32(int(step) // 1000 // 1000)


def test_epoch_functions_see_pythons_arithmetic():
  # Keras and PyTorch call these with Python ints: 2 ** -1 is 0.5 and 2 ** 31
  # does not overflow. Under jit an int32 epoch gave 0.0 at epoch 10 and a
  # negative rate from epoch 31.
  halving = optx.epoch_schedule(lambda e: 0.1 * 2 ** -(e // 10), steps_per_epoch=1)
  doubling = optx.epoch_schedule(lambda e: 0.1 / 2**e, steps_per_epoch=1)
  epochs = np.arange(40)
  jitted = jax.jit(jax.vmap(lambda e: (halving(e), doubling(e))))
  ours = [np.asarray(x) for x in jitted(jnp.asarray(epochs, jnp.int32))]
  python = [
    np.array([np.float32(0.1 * 2 ** -(e // 10)) for e in epochs.tolist()]),
    np.array([np.float32(0.1 / 2**e) for e in epochs.tolist()]),
  ]
  for mine, reference in zip(ours, python, strict=True):
    np.testing.assert_allclose(mine, reference, rtol=2e-7)
  assert ours[0][10] == np.float32(0.05) and ours[1][31] > 0


def test_epoch_schedule_takes_the_books_branching_function_unchanged():
  piecewise_constant_fn = oracles.piecewise_constant_fn  # the book's, verbatim
  schedule = optx.epoch_schedule(piecewise_constant_fn, steps_per_epoch=10)
  steps = np.arange(0, 200, 7)
  ours = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
  expected = [np.float32(piecewise_constant_fn(int(s) // 10)) for s in steps]
  np.testing.assert_array_equal(ours, expected)
  # And inside a jitted training step, as the learning rate.
  tx = optx.sgd(schedule)
  state, rates = tx.init(jnp.zeros(1)), []
  step = jax.jit(tx.update)
  for _ in range(60):
    u, state = step(jnp.ones(1), state)
    rates.append(-float(u[0]))
  assert rates[49] == np.float32(0.01) and rates[50] == np.float32(0.005)
