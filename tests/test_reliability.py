"""Reliability: non-finite values, counters, long runs, precision, determinism.

Each test keeps one promise of the README's "Guarantees" section, for every
optimizer of the registry (``registry.py``) where it is about optimizers.
Oracles are float64 NumPy closed forms (here and in ``oracles.py``), IEEE
arithmetic reasoned from the update rules (the registry's ``non_finite``),
and runs of the same optimizer on inputs that avoid the fault.
"""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import oracles
import pytest
import registry

import optx
import optx.keras
import optx.torch

INT32_MAX = int(np.iinfo(np.int32).max)
ULP = 2.0**-24  # float32 unit roundoff


def _optimizer(name, lr=0.1):
  return registry.OPTIMIZERS[name].make(lr)


OPTIMIZERS = registry.names()


def _tree_equal(a, b):
  """Bitwise equality of two pytrees: same structure, dtypes and bytes."""
  if jax.tree.structure(a) != jax.tree.structure(b):
    return False
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
      return False
  return True


# ----------------------------------------------------------------------------
# Non-finite gradients: what IEEE arithmetic makes of one bad gradient
# coordinate is each optimizer's ``non_finite`` in the registry, reasoned
# from its update rule.


def _classify(x):
  x = float(x)
  if np.isnan(x):
    return "nan"
  if np.isinf(x):
    return "inf"
  return "zero" if x == 0 else "finite"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("name", registry.names(lambda o: o.non_finite))
def test_non_finite_gradient_propagates_and_is_never_reset(name, bad):
  tx = _optimizer(name)
  params = jnp.array([1.0, -2.0, 0.5])
  clean = [jnp.array([0.3, 1.0, -0.7]), jnp.array([0.2, -0.4, 0.9])]
  dirty = [clean[0].at[0].set(bad), clean[1]]

  def run(grads):
    state, updates = tx.init(params), []
    for g in grads:
      u, state = tx.update(g, state, params)
      updates.append(u)
    return updates, state

  clean_updates, clean_state = run(clean)
  dirty_updates, dirty_state = run(dirty)
  expected = registry.OPTIMIZERS[name].non_finite["nan" if np.isnan(bad) else "inf"]
  assert (_classify(dirty_updates[0][0]), _classify(dirty_updates[1][0])) == expected
  # The other coordinates never see the bad value: bitwise the clean run.
  for u_dirty, u_clean in zip(dirty_updates, clean_updates, strict=True):
    np.testing.assert_array_equal(u_dirty[1:], u_clean[1:])
  # No silent reset: every counter advanced, and every buffer that saw the
  # bad coordinate still holds a non-finite value there.
  for dirty_leaf, clean_leaf in zip(
    jax.tree.leaves(dirty_state), jax.tree.leaves(clean_state), strict=True
  ):
    if dirty_leaf.shape == (3,) and not np.array_equal(dirty_leaf, clean_leaf):
      assert not np.isfinite(dirty_leaf[0])
      np.testing.assert_array_equal(dirty_leaf[1:], clean_leaf[1:])
  assert all(int(c) == 2 for c in _counts(dirty_state))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_apply_if_finite_skips_the_bad_step_and_keeps_the_state(name):
  tx = _optimizer(name)
  guarded = optax.apply_if_finite(tx, max_consecutive_errors=3)
  guarded_update = jax.jit(guarded.update)
  params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  g1 = {"w": jnp.array([0.3, 1.0]), "b": jnp.array(-0.7)}
  g2 = {"w": jnp.array([0.2, -0.4]), "b": jnp.array(0.9)}

  # The guarded run must equal a plain run that never saw the bad gradient.
  # Both are compiled (``lax.cond`` compiles the inner update anyway): see
  # the determinism tests for why compiled and eager results may differ.
  update = jax.jit(tx.update)
  plain = tx.init(params)
  p1, plain = update(g1, plain, params)
  p2, plain = update(g2, plain, params)

  for bad in (np.nan, np.inf, -np.inf):
    bad_g = {"w": jnp.array([bad, 1.0]), "b": jnp.array(0.1)}
    state = guarded.init(params)
    u1, state = guarded_update(g1, state, params)
    before = state
    u_bad, state = guarded_update(bad_g, state, params)
    assert _tree_equal(state.inner_state, before.inner_state)
    assert int(state.notfinite_count) == 1
    assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(u_bad))
    u2, state = guarded_update(g2, state, params)
    assert int(state.notfinite_count) == 0
    assert _tree_equal((u1, u2, state.inner_state), (p1, p2, plain))


@pytest.mark.parametrize("name", registry.names(lambda o: o.plateau))
def test_plateau_ignores_non_finite_measurements(name):
  """NaN/inf neither counts as a bad value nor resets the wait, nor blocks later values."""
  assert registry.PLATEAU == dict(factor=0.5, patience=2)
  tx = _optimizer(name)
  params = jnp.zeros(1)

  def observed(values):
    state = tx.init(params)
    for x in values:
      state = optx.observe(state, x)
    return state

  clean = [1.0, 2.0, 2.0, 2.0]
  noisy = [1.0, np.nan, 2.0, np.nan, np.inf, 2.0, -np.inf, 2.0, np.nan]
  assert _tree_equal(observed(noisy), observed(clean))
  # Keras reduces after 2 bad values, PyTorch after 3: both reduced once here.
  assert float(optx.plateau_scale(observed(noisy))) == 0.5
  # Not stuck: a better value after NaNs becomes the best.
  state = observed([1.0, np.nan, np.nan, 0.25])
  best = optax.tree_utils.tree_get(state, "best")
  assert float(best) == 0.25
  # The same through ``update(..., value=nan)`` inside the chain.
  state = tx.init(params)
  _, state = tx.update(jnp.ones(1), state, params, value=jnp.float32(np.nan))
  assert float(optax.tree_utils.tree_get(state, "best")) == np.inf
  assert int(optax.tree_utils.tree_get(state, "wait")) == 0


# ----------------------------------------------------------------------------
# Counters and horizons.


def _counts(state):
  """The step counters in ``state`` (blocks with constant hyperparameters keep none)."""
  return [c for _, c in optax.tree_utils.tree_get_all_with_path(state, "count")]


def _set_counts(state, value):
  """``state`` with every step counter set to ``value``."""
  assert _counts(state), "no step counter in this state"

  def has_count(node):
    return hasattr(node, "_fields") and "count" in node._fields

  def set_count(node):
    if has_count(node):
      return node._replace(count=jnp.asarray(value, jnp.int32))
    return node

  return jax.tree.map(set_count, state, is_leaf=has_count)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_counters_saturate_at_int32_max(name):
  # A scheduled learning rate: every optimizer then keeps at least one counter.
  tx = _optimizer(name, optx.exponential_schedule(0.1, steps=1000))
  params = jnp.array([1.0, -2.0])
  state = _set_counts(tx.init(params), INT32_MAX - 2)
  update = jax.jit(tx.update)
  for _ in range(4):
    updates, state = update(jnp.array([0.3, -0.1]), state, params)
    assert np.all(np.isfinite(updates))
  counts = [int(c) for c in _counts(state)]
  assert counts and counts == [INT32_MAX] * len(counts)


def test_adam_at_the_saturated_count_has_no_bias_correction_left():
  """β^t underflows to 0 at t = 2**31 - 1: the update is m / √(s + ε) of one step."""
  lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
  tx = optx.adam(lr, b1, b2, eps)
  g = np.array([0.5, -3.0], np.float32)
  state = _set_counts(tx.init(jnp.zeros(2)), INT32_MAX)
  updates, _ = tx.update(jnp.asarray(g), state)
  # The hyperparameters are float32: 1 - b2 is 0.00099998713, not 0.001.
  b1, b2, eps, lr = (float(np.float32(v)) for v in (b1, b2, eps, lr))
  # From zero moments: m = (1 - b1) g, s = (1 - b2) g², with b^t = 0.
  expected, *_ = oracles.adam(
    0.0, g.astype(np.float64), 0.0, 0.0, 0.0, t=INT32_MAX, lr=lr, b1=b1, b2=b2, eps=eps
  )
  np.testing.assert_allclose(updates, expected, rtol=1e-6)


@pytest.mark.parametrize("rule", ["keras", "torch"])
def test_plateau_wait_saturates_at_int32_max(rule):
  patience = INT32_MAX if rule == "torch" else 1
  tx = optx.sgd(
    0.1, plateau=optx.reduce_on_plateau(patience=patience, min_scale=1.0, rule=rule)
  )
  state = tx.init(jnp.zeros(1))
  state = optax.tree_utils.tree_set(
    state, wait=jnp.int32(INT32_MAX), best=jnp.float32(0.0)
  )
  state = optx.observe(state, 1.0)  # no improvement: wait would go up
  assert int(optax.tree_utils.tree_get(state, "wait")) >= 0


def _horizon_cases():
  """(schedule, horizon, final value in float32 computed here), per schedule with an end."""
  f32 = np.float32
  start = f32(f32(0.3) / f32(10))  # onecycle's default start, as float32 arithmetic
  return {
    "onecycle": (optx.onecycle_schedule(1000, 0.3), 1000, f32(start / f32(1000))),
    "onecycle_end_value": (
      optx.onecycle_schedule(
        1000, 0.3, start_value=0.02, end_value=1e-4, final_steps=50
      ),
      1000,
      f32(1e-4),
    ),
    "onecycle_momentum": (
      optx.onecycle_momentum_schedule(1000, 0.95, 0.85),
      2 * ((1000 - 101) // 2),
      f32(0.95),
    ),
    "piecewise": (
      optx.piecewise_constant_schedule([10, 500], [0.1, 0.01, 0.002]),
      500,
      f32(0.002),
    ),
    "epoch": (
      optx.epoch_schedule(lambda e: jnp.where(e < 3, 0.1, 0.005), 7),
      21,
      f32(0.005),
    ),
  }


@pytest.mark.parametrize("name", sorted(_horizon_cases()))
def test_schedules_hold_their_final_value_past_the_horizon(name):
  schedule, horizon, final = _horizon_cases()[name]
  steps = np.array(
    [horizon, horizon + 1, 2 * horizon, 10**6, 2**24 + 1, INT32_MAX - 1, INT32_MAX]
  )
  values = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
  np.testing.assert_allclose(values, np.full(steps.shape, final), rtol=2 * ULP)
  # ... and not one step before the horizon (the test can tell "held" from "constant").
  assert float(schedule(jnp.int32(horizon - 1))) != float(final)


# ----------------------------------------------------------------------------
# Precision of the step beyond 2**24.

# Steps float32 cannot hold exactly, near the int32 maximum, and next to
# multiples of the ``steps`` used below.
LONG_STEPS = np.array(
  [
    2**24 + 1,
    2**25 - 1,
    2**30 + 3,
    2**31 - 1025,
    2**31 - 1024,
    2**31 - 129,
    2**31 - 2,
    INT32_MAX,
  ],
  np.int64,
)


def _ratio64(t, s, staircase):
  p = t.astype(np.float64) / s
  return np.floor(p) if staircase else p


@pytest.mark.parametrize("staircase", [False, True], ids=["smooth", "staircase"])
@pytest.mark.parametrize("s", [1, 3, 1000, 1024, 86_400, 2**20])
def test_exponential_schedule_is_accurate_up_to_int32_max(s, staircase):
  # A rate that keeps the value well inside float32's range at 2**31:
  # r**(t/s) = exp(-12 t / 2**31).
  rate = float(np.float32(np.exp(-12.0 * s / 2**31)))
  schedule = optx.exponential_schedule(0.5, s, rate, staircase=staircase)
  t = np.unique(
    np.concatenate([LONG_STEPS, (LONG_STEPS // s) * s, (LONG_STEPS // s) * s - 1])
  )
  t = t[(t >= 0) & (t <= INT32_MAX)]
  got = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(t, jnp.int32)), np.float64)
  x = _ratio64(t, s, staircase) * np.log(rate)  # log of value / init_value
  expected = 0.5 * np.exp(x)
  # float32 arithmetic on an exponent of size |x|: a few roundings of x.
  err = np.abs(got - expected) / expected / (ULP * (1 + np.abs(x)))
  assert err.max() <= 8, f"error of {err.max():.1f} ulp·(1+|x|) at t={t[err.argmax()]}"


@pytest.mark.parametrize("staircase", [False, True], ids=["smooth", "staircase"])
@pytest.mark.parametrize(
  ("s", "power"), [(1, 0.5), (7, 1.0), (1024, 2.0), (10_000, 1.0), (2**20, 0.75)]
)
def test_power_schedule_is_accurate_up_to_int32_max(s, power, staircase):
  schedule = optx.power_schedule(0.5, s, power, staircase=staircase)
  t = np.unique(
    np.concatenate([LONG_STEPS, (LONG_STEPS // s) * s, (LONG_STEPS // s) * s - 1])
  )
  t = t[(t >= 0) & (t <= INT32_MAX)]
  got = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(t, jnp.int32)), np.float64)
  x = -power * np.log1p(_ratio64(t, s, staircase))
  expected = 0.5 * np.exp(x)
  err = np.abs(got - expected) / expected / (ULP * (1 + np.abs(x)))
  assert err.max() <= 8, f"error of {err.max():.1f} ulp·(1+|x|) at t={t[err.argmax()]}"


@pytest.mark.parametrize("final_steps", [7, 1000, None])
def test_onecycle_is_accurate_up_to_int32_max(final_steps):
  total = INT32_MAX - 100  # leaves room to check the hold after the end
  start, peak, end = 0.01, 0.1, 1e-5
  schedule = optx.onecycle_schedule(
    total, peak, start_value=start, end_value=end, final_steps=final_steps
  )
  final = total // 10 + 1 if final_steps is None else final_steps
  h = (total - final) // 2
  t = np.array(
    [
      0,
      1,
      2**24 + 1,
      h - 1,
      h,
      h + 1,
      2 * h - 1,
      2 * h,
      2 * h + 1,
      2 * h + 3,
      total - 2,
      total - 1,
      total,
      INT32_MAX,
    ],
    np.int64,
  )
  s32, p32, e32 = (float(np.float32(v)) for v in (start, peak, end))
  expected = oracles.onecycle(t, total, s32, p32, e32, final)
  got = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(t, jnp.int32)), np.float64)
  # A linear interpolation is accurate to a few roundings of its largest end.
  np.testing.assert_allclose(got, expected, rtol=0, atol=4 * ULP * p32)


# ----------------------------------------------------------------------------
# Long runs.

LONG_RUN = 10**6


def _long_run_schedules():
  """Schedules crossing their horizon inside the run, with float64 closed forms."""
  half = LONG_RUN // 2
  return {
    "power": (optx.power_schedule(0.1, 1000), lambda t: 0.1 / (1 + t / 1000)),
    "exponential": (
      optx.exponential_schedule(0.1, 100_000),
      lambda t: 0.1 * 0.1 ** (t / 100_000),
    ),
    "exponential_staircase": (
      optx.exponential_schedule(0.1, 300_000, 0.5, staircase=True),
      lambda t: 0.1 * 0.5 ** np.floor(t / 300_000),
    ),
    "piecewise": (
      optx.piecewise_constant_schedule([10, 1000], [0.1, 0.01, 0.001]),
      lambda t: np.select([t < 10, t < 1000], [0.1, 0.01], 0.001),
    ),
    "onecycle": (
      optx.onecycle_schedule(half, 0.1, start_value=0.01, end_value=1e-5),
      lambda t: oracles.onecycle(t, half, 0.01, 0.1, 1e-5, half // 10 + 1),
    ),
    "onecycle_momentum": (
      optx.onecycle_momentum_schedule(half),
      lambda t: oracles.onecycle(t, half, 0.95, 0.85, 0.95, half // 10 + 1),
    ),
    "epoch": (
      optx.epoch_schedule(lambda e: 0.01 * 0.5 ** (e.astype(jnp.float32) / 200), 1000),
      lambda t: 0.01 * 0.5 ** (np.floor(t / 1000) / 200),
    ),
  }


def test_a_million_steps_of_every_schedule_stay_finite_and_exact():
  """SGD driven by each schedule for 10**6 jitted steps (one ``lax.scan``)."""
  cases = _long_run_schedules()
  names = sorted(cases)
  txs = [optx.sgd(cases[n][0]) for n in names]

  @jax.jit
  def run():
    def body(carry, _):
      states, ok, low = carry
      new_states, lrs = [], []
      for tx, state in zip(txs, states, strict=True):
        u, state = tx.update(-jnp.ones([]), state)  # u = +lr(t): the rate itself
        new_states.append(state)
        lrs.append(u)
      lrs = jnp.stack(lrs)
      return (
        tuple(new_states),
        ok & jnp.all(jnp.isfinite(lrs)),
        jnp.minimum(low, lrs),
      ), lrs[:, None]

    states = tuple(tx.init(jnp.zeros([])) for tx in txs)
    carry = (states, jnp.array(True), jnp.full(len(txs), jnp.inf, jnp.float32))
    (states, ok, low), _ = jax.lax.scan(body, carry, None, length=LONG_RUN - 1)
    (states, ok, low), last = body((states, ok, low), None)
    return states, ok, low, last[:, 0]

  states, ok, low, last = run()
  assert bool(ok)
  assert np.all(np.asarray(low) >= 0)
  expected = np.array([cases[n][1](np.float64(LONG_RUN - 1)) for n in names])
  np.testing.assert_allclose(last, expected, rtol=1e-5)
  for state in states:
    assert int(optax.tree_utils.tree_get(state, "count")) == LONG_RUN


def _flavor_schedules():
  """(schedule, horizon, final value or None) for the Keras and PyTorch schedules."""
  keras, torch = optx.keras.schedules, optx.torch
  f32 = np.float32
  return {
    "keras.ExponentialDecay": (keras.ExponentialDecay(0.1, 1000, 0.5), None, None),
    "keras.InverseTimeDecay": (keras.InverseTimeDecay(0.1, 1000, 0.5), None, None),
    "keras.PolynomialDecay": (
      keras.PolynomialDecay(0.1, 1000, end_learning_rate=1e-4),
      1000,
      f32(1e-4),
    ),
    "keras.PolynomialDecay_sqrt": (
      keras.PolynomialDecay(0.1, 1000, end_learning_rate=1e-4, power=0.5),
      1000,
      f32(1e-4),
    ),
    "keras.PolynomialDecay_cycle": (
      keras.PolynomialDecay(0.1, 1000, end_learning_rate=1e-4, cycle=True),
      None,
      None,
    ),
    "keras.CosineDecay": (keras.CosineDecay(0.1, 1000, alpha=0.01), 1000, f32(1e-3)),
    "keras.CosineDecay_warmup": (
      keras.CosineDecay(0.0, 1000, alpha=0.01, warmup_target=0.1, warmup_steps=100),
      1100,
      f32(1e-3),
    ),
    "keras.PiecewiseConstantDecay": (
      keras.PiecewiseConstantDecay([10, 999], [0.1, 0.01, 0.001]),
      1000,
      f32(1e-3),
    ),
    "torch.StepLR": (torch.StepLR(0.1, 100_000, 0.5), None, None),
    "torch.MultiStepLR": (torch.MultiStepLR(0.1, [10, 999]), 999, f32(0.1) * f32(0.01)),
    "torch.ExponentialLR": (torch.ExponentialLR(0.1, 0.99999), None, None),
    "torch.LambdaLR": (
      torch.LambdaLR(0.1, lambda e: 0.5 ** (e.astype(jnp.float32) / 10**5)),
      None,
      None,
    ),
    # PyTorch's last legal step is total_steps itself; optx holds its value.
    "torch.OneCycleLR": (torch.OneCycleLR(0.1, total_steps=1000), 1000, None),
  }


def test_a_million_steps_of_every_flavor_schedule_stay_finite():
  cases = _flavor_schedules()
  names = sorted(cases)

  @jax.jit
  def run():
    def body(carry, t):
      ok, low = carry
      values = jnp.stack([cases[n][0](t) for n in names])
      return (ok & jnp.all(jnp.isfinite(values)), jnp.minimum(low, values)), None

    init = (jnp.array(True), jnp.full(len(names), jnp.inf, jnp.float32))
    return jax.lax.scan(body, init, jnp.arange(LONG_RUN, dtype=jnp.int32))[0]

  ok, low = run()
  assert bool(ok)
  assert np.all(np.asarray(low) >= 0)


@pytest.mark.parametrize(
  "name",
  sorted(n for n, case in _flavor_schedules().items() if case[1] is not None),
)
def test_flavor_schedules_hold_their_value_past_the_horizon(name):
  """Jitted, past the horizon: the held value, equal to the closed form's end."""
  schedule, horizon, final = _flavor_schedules()[name]
  steps = np.array([horizon, horizon + 1, 2 * horizon, 10**6, INT32_MAX - 1, INT32_MAX])
  values = np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))
  np.testing.assert_array_equal(values, np.full(steps.shape, values[0]))
  if final is not None:
    np.testing.assert_allclose(values[0], final, rtol=4 * ULP)


def test_a_million_adagrad_steps_with_huge_gradients_stay_finite():
  """s grows to 10**6 · 2**100 ≈ 1.3e36 (float32 max is 3.4e38): exact, finite."""
  g = 2.0**50  # a power of two: every partial sum k · 2**100 is exact in float32
  lr = 0.1
  tx = optx.adagrad(lr)

  @jax.jit
  def run(params):
    def body(carry, _):
      params, state = carry
      updates, state = tx.update(jnp.full(params.shape, g, jnp.float32), state, params)
      return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(body, (params, tx.init(params)), None, length=LONG_RUN)[0]

  params, state = run(jnp.zeros(3))
  (rss_state, lr_state) = state
  # The starting 0.1 vanishes in the first sum: s = 10**6 · 2**100 exactly.
  np.testing.assert_array_equal(
    rss_state.sum_of_squares, np.float32(LONG_RUN) * np.float32(2.0**100)
  )
  # Constant hyperparameters: neither block keeps a step counter.
  assert "count" not in rss_state._fields and "count" not in lr_state._fields
  # θ = -η Σ_k g / √(k g² + ε) ≈ -η Σ_k 1/√k: each update from float64, then
  # accumulated in float32 one step at a time as the parameters are (a float64
  # sum differs by 0.16%: the rounding of 10**6 float32 additions).
  k = np.arange(1, LONG_RUN + 1, dtype=np.float64)
  steps = (-lr * g / np.sqrt(k * g * g + 1e-7)).astype(np.float32)
  expected = np.cumsum(steps, dtype=np.float32)[-1]
  assert np.all(np.isfinite(params))
  np.testing.assert_allclose(params, np.full(3, expected), rtol=1e-5)


# ----------------------------------------------------------------------------
# Precision: bfloat16 parameters with float32 optimizer state.

# The tolerance below is the promise: a bfloat16 model holds its weights to
# 8 bits, so an update smaller than half a weight's ulp is lost; with float32
# moments the final loss stays within this fraction of float32 training's.
BF16_LOSS_RTOL = 0.03


def _regression():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(256, 8)).astype(np.float32)
  w = rng.normal(size=(8,)).astype(np.float32)
  y = (x @ w + 0.5 + 0.3 * rng.normal(size=256)).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(y)


def _train(tx, dtype, steps=300):
  """Full-batch linear regression; the loss is computed in float32 from ``dtype`` weights."""
  x, y = _regression()

  def loss(params):
    w, b = (p.astype(jnp.float32) for p in (params["w"], params["b"]))
    return jnp.mean((x @ w + b - y) ** 2)

  @jax.jit
  def run(params):
    def body(carry, _):
      params, state = carry
      updates, state = tx.update(jax.grad(loss)(params), state, params)
      return (optax.apply_updates(params, updates), state), None

    (params, state), _ = jax.lax.scan(
      body, (params, tx.init(params)), None, length=steps
    )
    return params, state, loss(params)

  return run({"w": jnp.zeros(8, dtype), "b": jnp.zeros([], dtype)})


def _mixed_precision_cases():
  lr = optx.exponential_schedule(0.05, 300, 0.1)
  f32 = jnp.float32
  return {
    "adam": (optx.adam(lr), optx.adam(lr, mu_dtype=f32, nu_dtype=f32)),
    "amsgrad": (
      optx.adam(lr, amsgrad=True),
      optx.adam(lr, amsgrad=True, mu_dtype=f32, nu_dtype=f32),
    ),
    "momentum": (optx.momentum(lr, 0.9), optx.momentum(lr, 0.9, accumulator_dtype=f32)),
    "nesterov": (optx.nesterov(lr, 0.9), optx.nesterov(lr, 0.9, accumulator_dtype=f32)),
  }


@pytest.mark.parametrize("name", sorted(_mixed_precision_cases()))
def test_bfloat16_params_with_float32_state_reach_the_float32_loss(name):
  tx32, tx_mixed = _mixed_precision_cases()[name]
  _, _, loss32 = _train(tx32, jnp.float32)
  params, state, loss_mixed = _train(tx_mixed, jnp.bfloat16)
  # The parameters and updates stay bfloat16, the state float32.
  assert all(p.dtype == jnp.bfloat16 for p in jax.tree.leaves(params))
  buffers = [x for x in jax.tree.leaves(state) if x.ndim > 0]
  assert buffers and all(x.dtype == jnp.float32 for x in buffers)
  # The float32 run reaches the least-squares optimum (computed here).
  x, y = _regression()
  design = np.concatenate([np.asarray(x, np.float64), np.ones((256, 1))], axis=1)
  solution, *_ = np.linalg.lstsq(design, np.asarray(y, np.float64), rcond=None)
  optimum = np.mean((design @ solution - np.asarray(y, np.float64)) ** 2)
  assert float(loss32) == pytest.approx(optimum, rel=1e-3)
  assert abs(float(loss_mixed) - float(loss32)) <= BF16_LOSS_RTOL * float(loss32)


def test_adam_second_moment_moves_in_bfloat16_state():
  """0.999 is 1.0 in bfloat16: 1 - b2 must be taken before the cast."""
  tx = optx.scale_by_adam()
  state = tx.init(jnp.zeros(2, jnp.bfloat16))
  _, state = tx.update(jnp.ones(2, jnp.bfloat16), state)
  # nu = (1 - b2) g² = 0.001 (to bfloat16's 3 digits), not 0.
  np.testing.assert_allclose(np.asarray(state.nu, np.float32), 1e-3, rtol=1e-2)


# ----------------------------------------------------------------------------
# Determinism and checkpoints.


def _trajectory(tx, update, steps=5):
  """A few updates on a nested tree with bfloat16 and float32 leaves."""
  rng = np.random.default_rng(3)
  params = {
    "dense": {
      "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
      "b": jnp.zeros(4, jnp.float32),
    },
    "head": [
      jnp.asarray(rng.normal(size=(4,)), jnp.bfloat16),
      jnp.asarray(0.5, jnp.float32),
    ],
  }
  state = tx.init(params)
  out = []
  for _ in range(steps):
    grads = jax.tree.map(
      lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params
    )
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
    out.append(updates)
  return out, params, state


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_runs_are_bitwise_reproducible_and_checkpoints_round_trip(name):
  tx = _optimizer(name)
  update = jax.jit(tx.update)
  updates, params, state = _trajectory(tx, update)
  # Two fresh optimizers, two fresh compilations: the same bits.
  again = _optimizer(name)
  assert _tree_equal(
    (updates, params, state), _trajectory(again, jax.jit(again.update))
  )
  # A host checkpoint round-trips bitwise (dtypes included, bfloat16 too) ...
  restored = pickle.loads(pickle.dumps(jax.device_get(state)))
  assert _tree_equal(restored, state)
  # ... and training resumed from it takes the very same next step.
  grads = jax.tree.map(lambda p: jnp.full(p.shape, 0.25, p.dtype), params)
  assert _tree_equal(update(grads, restored, params), update(grads, state, params))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_eager_and_jitted_updates_agree(name):
  """Bitwise where XLA permits: only plain SGD (the book's, Keras, PyTorch).

  Compiled kernels fuse ``a * b + c`` into one fused multiply-add (XLA:CPU
  contracts them; so do GPUs), which rounds once instead of twice, so every
  optimizer with a buffer ``β m + (1 - β) g`` or a sum ``s + g²`` may differ
  from op-by-op execution in the last bits of a step. The gap stays at float32
  rounding level: 3e-5 relative at most over these steps (16-bit leaves
  included, since the rules compute in float32 and round once).
  """
  optimizer = registry.OPTIMIZERS[name]
  tx = optimizer.make(0.1)
  eager = _trajectory(tx, tx.update)
  jitted = _trajectory(tx, jax.jit(tx.update))
  if optimizer.exact_under_jit:
    assert _tree_equal(eager, jitted)
  for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
    assert a.dtype == b.dtype
    narrow = jnp.issubdtype(a.dtype, jnp.floating) and jnp.finfo(a.dtype).bits < 32
    if optimizer.rounds_in_leaf_dtype and narrow:
      # Where part of the step runs in the 16-bit leaf's own dtype, the gap is
      # a few roundings of that dtype, of the leaf's size.
      eps = float(jnp.finfo(a.dtype).eps)
      a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
      atol = 4 * eps * float(np.max(np.abs(b)))
      np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    else:
      np.testing.assert_allclose(
        np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=1e-4, atol=1e-7
      )
