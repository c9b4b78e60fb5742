"""Property tests: schedules and optimizers on inputs drawn by hypothesis.

Schedules are checked at random steps up to the int32 maximum against float64
closed forms written here (with the float32 values of their hyperparameters),
for finiteness, sign, monotonicity and continuity. Optimizers run on random
pytrees (random shapes, empty and scalar leaves, ``None`` leaves, float32,
bfloat16 and float16) and must keep the tree's structure, shapes and dtypes.
Example counts are modest: the file runs in well under a minute.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import oracles
import registry
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import optx

INT32_MAX = int(np.iinfo(np.int32).max)
ULP = 2.0**-24

SETTINGS = settings(
  max_examples=25,
  deadline=None,
  derandomize=True,  # deterministic: the same examples on every run
  suppress_health_check=[HealthCheck.too_slow],
)

steps = st.lists(st.integers(0, INT32_MAX), min_size=1, max_size=12).map(
  lambda t: np.sort(np.asarray(t, np.int64))
)


def f32(x):
  """The float32 value of a hyperparameter, as a Python float."""
  return float(np.float32(x))


def evaluate(schedule, t, width=64):
  """The schedule at the steps ``t``, padded to one shape so nothing recompiles."""
  t = np.asarray(t, np.int64).ravel()
  assert t.size <= width
  padded = np.concatenate([t, np.zeros(width - t.size, np.int64)])
  return np.asarray(schedule(jnp.asarray(padded, jnp.int32)), np.float64)[: t.size]


def assert_close_in_exponent(got, expected, log_ratio, slack=8):
  """|got - expected| <= slack ulp · (1 + |log_ratio|) · expected, or both below 1e-30."""
  tolerance = slack * ULP * (1 + np.abs(log_ratio)) * expected + 1e-30
  bad = np.abs(got - expected) > tolerance
  assert not bad.any(), f"got {got[bad]}, expected {expected[bad]}"


def assert_non_increasing(values, slack=4 * ULP):
  assert np.all(values[1:] <= values[:-1] * (1 + slack) + 1e-38), values


# ----------------------------------------------------------------------------
# Schedules.


@SETTINGS
@given(
  init=st.floats(0, 10),
  s=st.one_of(st.integers(1, 10**7), st.floats(0.5, 1e7)),
  power=st.floats(0, 3),
  staircase=st.booleans(),
  t=steps,
)
def test_power_schedule_properties(init, s, power, staircase, t):
  got = evaluate(optx.power_schedule(init, s, power, staircase=staircase), t)
  assert np.all(np.isfinite(got)) and np.all(got >= 0)
  assert_non_increasing(got)
  p = t / f32(s) if not isinstance(s, int) else t / s
  p = np.floor(p) if staircase else p
  log_ratio = -f32(power) * np.log1p(p)
  assert_close_in_exponent(got, f32(init) * np.exp(log_ratio), log_ratio, slack=16)


@SETTINGS
@given(
  init=st.floats(0, 10),
  s=st.integers(1, 10**7),
  log_rate=st.floats(-30, 30),  # rate**(2**31 / s) stays inside [1e-13, 1e13]
  staircase=st.booleans(),
  t=steps,
)
def test_exponential_schedule_properties(init, s, log_rate, staircase, t):
  rate = f32(np.exp(log_rate * s / 2**31))
  if rate == 0.0:
    rate = 1e-30
  got = evaluate(optx.exponential_schedule(init, s, rate, staircase=staircase), t)
  assert np.all(np.isfinite(got)) and np.all(got >= 0)
  if rate <= 1:
    assert_non_increasing(got)
  else:
    assert_non_increasing(got[::-1])
  p = np.floor(t / s) if staircase else t / s
  log_ratio = p * np.log(rate)
  assert_close_in_exponent(got, f32(init) * np.exp(log_ratio), log_ratio)


@SETTINGS
@given(
  init=st.floats(0.001, 10),
  s=st.integers(1, 10**6),
  log_rate=st.floats(-5, 5),
  t=st.integers(0, INT32_MAX - 1),
)
def test_smooth_schedules_are_continuous(init, s, log_rate, t):
  """One step moves the value by at most its derivative's bound (plus rounding)."""
  rate = f32(np.exp(log_rate * s / 2**31))
  pair = np.array([t, t + 1])
  exponential = evaluate(optx.exponential_schedule(init, s, rate), pair)
  bound = exponential.max() * abs(np.log(rate)) / s
  assert (
    abs(exponential[1] - exponential[0])
    <= bound + 16 * ULP * (1 + abs(t / s * np.log(rate))) * exponential.max()
  )
  power = evaluate(optx.power_schedule(init, s, 1.0), pair)
  assert abs(power[1] - power[0]) <= f32(init) / s + 8 * ULP * power.max()


@SETTINGS
@given(
  boundaries=st.lists(
    st.integers(0, INT32_MAX), min_size=0, max_size=6, unique=True
  ).map(sorted),
  data=st.data(),
)
def test_piecewise_constant_schedule_properties(boundaries, data):
  values = data.draw(
    st.lists(
      st.floats(-10, 10), min_size=len(boundaries) + 1, max_size=len(boundaries) + 1
    )
  )
  schedule = optx.piecewise_constant_schedule(boundaries, values)
  t = data.draw(steps)
  # At the boundaries themselves (new value) and one step before (old value).
  t = np.concatenate(
    [t, boundaries, np.maximum(np.asarray(boundaries, np.int64) - 1, 0)]
  ).astype(np.int64)
  expected = np.float32(values)[np.searchsorted(boundaries, t, side="right")]
  np.testing.assert_array_equal(evaluate(schedule, t), expected)


@st.composite
def onecycles(draw):
  total = draw(st.integers(3, INT32_MAX))
  final = draw(st.one_of(st.none(), st.integers(1, total - 2)))
  return (
    total,
    final,
    draw(st.floats(0, 10)),
    draw(st.floats(0, 10)),
    draw(st.floats(0, 10)),
  )


@SETTINGS
@given(cycle=onecycles(), t=steps)
def test_onecycle_schedule_properties(cycle, t):
  total, final, peak, start, end = cycle
  schedule = optx.onecycle_schedule(
    total, peak, start_value=start, end_value=end, final_steps=final
  )
  final = total // 10 + 1 if final is None else final
  h = (total - final) // 2
  # Random steps, the joints of the segments and their neighbours, the end.
  joints = np.array(
    [0, h - 1, h, h + 1, 2 * h - 1, 2 * h, 2 * h + 1, total - 1, total, INT32_MAX],
    np.int64,
  )
  t = np.unique(np.clip(np.concatenate([t, joints]), 0, INT32_MAX))
  got = evaluate(schedule, t)
  s32, p32, e32 = f32(start), f32(peak), f32(end)
  scale = max(s32, p32, e32)
  assert np.all(np.isfinite(got)) and np.all(got >= 0)
  np.testing.assert_allclose(
    got, oracles.onecycle(t, total, s32, p32, e32, final), rtol=0, atol=4 * ULP * scale
  )
  # Linear pieces: monotone inside each segment, the right way.
  for mask, direction in [
    (t <= h, p32 - s32),
    ((t >= h) & (t <= 2 * h), s32 - p32),
    (t >= 2 * h, e32 - s32),
  ]:
    piece = got[mask] * np.sign(direction)
    assert np.all(np.diff(piece) >= -4 * ULP * scale)
  # Continuous: no step moves it by more than the steepest slope.
  slope = max(abs(p32 - s32) / h, abs(e32 - s32) / (total - 2 * h))
  pairs = np.unique(np.clip(np.concatenate([t, t - 1]), 0, INT32_MAX - 1))
  jumps = np.abs(evaluate(schedule, pairs + 1) - evaluate(schedule, pairs))
  assert np.all(jumps <= slope + 8 * ULP * scale)
  # Held after the horizon.
  np.testing.assert_array_equal(got[t >= total], np.float32(e32))


@SETTINGS
@given(cycle=onecycles(), t=steps)
def test_onecycle_momentum_schedule_properties(cycle, t):
  total, final, *_ = cycle
  high, low = 0.95, 0.85
  schedule = optx.onecycle_momentum_schedule(total, high, low, final_steps=final)
  final = total // 10 + 1 if final is None else final
  h = (total - final) // 2
  t = np.unique(
    np.concatenate([t, [h - 1, h, 2 * h - 1, 2 * h, total]]).clip(0, INT32_MAX)
  )
  got = evaluate(schedule, t)
  expected = oracles.onecycle(t, total, f32(high), f32(low), f32(high), final)
  np.testing.assert_allclose(got, expected, rtol=0, atol=4 * ULP)
  assert np.all((got >= f32(low) - 4 * ULP) & (got <= f32(high) + 4 * ULP))


@SETTINGS
@given(n=st.integers(1, 10**6), t=steps, lr0=st.floats(0, 1), s=st.floats(1, 100))
def test_epoch_schedule_is_the_function_of_the_epoch(n, t, lr0, s):
  def fn(epoch):
    return lr0 * 0.1 ** (epoch.astype(jnp.float32) / s)

  got = evaluate(optx.epoch_schedule(fn, n), t)
  epoch = t // n  # exact integer epochs
  assert_close_in_exponent(
    got, f32(lr0) * 0.1 ** (epoch / f32(s)), epoch / s * np.log(10), slack=16
  )


# ----------------------------------------------------------------------------
# Optimizers on random pytrees.

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]
SHAPES = [(), (0,), (3,), (2, 0), (2, 3), (1, 1, 2)]


leaves = st.one_of(
  st.none(),
  st.builds(
    lambda d, s: (jnp.dtype(d), s), st.sampled_from(DTYPES), st.sampled_from(SHAPES)
  ),
)
trees = st.recursive(
  leaves,
  lambda children: st.one_of(
    st.lists(children, max_size=3),
    st.lists(children, max_size=3).map(tuple),
    st.dictionaries(st.sampled_from("abcd"), children, max_size=3),
  ),
  max_leaves=6,
).filter(lambda tree: tree is not None)  # params=None means "not given"


def _materialize(spec, seed):
  """Arrays for a tree of (dtype, shape) specs; None leaves stay None."""
  rng = np.random.default_rng(seed)

  def make(leaf):
    if leaf is None:
      return None
    dtype, shape = leaf
    return jnp.asarray(rng.normal(size=shape).astype(np.float32), dtype)

  return jax.tree.map(
    make,
    spec,
    is_leaf=lambda x: (
      x is None or isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.dtype)
    ),
  )


def _optimizers():
  """Every optimizer of the registry (``registry.py``), each with a schedule
  for its learning rate (so that every one counts its steps) and without."""
  schedule = optx.onecycle_schedule(100, 0.1)
  return [
    optimizer.make(lr)
    for optimizer in registry.OPTIMIZERS.values()
    for lr in (0.1, schedule)
  ]


def _signature(tree):
  """Structure plus each leaf's shape and dtype."""
  return jax.tree.structure(tree), [(x.shape, x.dtype) for x in jax.tree.leaves(tree)]


@settings(SETTINGS, max_examples=15)
@given(spec=trees)
def test_optimizers_keep_structure_shapes_and_dtypes(spec):
  params = _materialize(spec, 0)
  for tx in _optimizers():
    state = tx.init(params)
    init_signature = _signature(state)
    for seed in (1, 2):
      grads = _materialize(spec, seed)
      updates, state = tx.update(grads, state, params)
      assert _signature(updates) == _signature(grads)
      assert _signature(state) == init_signature
      params = optax.apply_updates(params, updates)
      assert _signature(params) == _signature(grads)
    # Blocks whose hyperparameters are constants keep no counter; the others
    # count both updates.
    for _, count in optax.tree_utils.tree_get_all_with_path(state, "count"):
      assert count.dtype == jnp.int32 and int(count) == 2
