"""Keras 3's base-optimizer options in optx.keras, against the real Keras 3.

``use_ema`` (with and without ``ema_overwrite_frequency``),
``gradient_accumulation_steps``, ``exclude_from_weight_decay``,
``loss_scale_factor``, ``LossScaleOptimizer`` and the cosine schedules' warmup
and restarts. Both sides get the same gradients, step after step, over a
pytree of leaves of different shapes, for 300 calls; Keras runs its functional
update (``optimizer.stateless_apply``, what ``model.fit`` runs on the JAX
backend) under ``jit`` + ``scan``. Every parameter of every call is compared,
and so are the optimizer's own variables (the moving average, the loss scale
and its counter): max |optx - keras| / max |keras| <= 1e-5 in float32. Run
with ``-s`` to print the figure of every case.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import oracles
import pytest

import optx

pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

STEPS = 300
TOLERANCE = 1e-5
SHAPES = {"bias": (5,), "conv": (2, 2, 3), "kernel": (3, 4)}
NAMES = sorted(SHAPES)
PARAMS, GRADS = oracles.drifting_gradients(SHAPES, STEPS)


def relative_error(ours, theirs):
  """max |ours - theirs| / max |theirs| over every leaf and step (0 when both are 0)."""
  diff = max(
    float(np.max(np.abs(np.asarray(ours[n]) - np.asarray(theirs[n])))) for n in theirs
  )
  size = max(float(np.max(np.abs(np.asarray(theirs[n])))) for n in theirs)
  return diff / size if size else diff


def check(case, ours, theirs, *, moved=0.1):
  """Asserts the figure; ``moved``: how far the parameters must travel (or None)."""
  error = relative_error(ours, theirs)
  print(f"\n[keras options] {case}: {error:.2e}")
  assert error <= TOLERANCE, f"{case}: relative error {error:.3e}"
  if moved is not None:
    travel = max(
      float(np.max(np.abs(np.asarray(theirs[n])[-1] - PARAMS[n]))) for n in NAMES
    )
    assert travel > moved, f"{case}: the parameters barely moved ({travel})"
  return error


def optx_run(tx, grads=GRADS, params=PARAMS, read=None):
  """Every call's parameters (and ``read(state)``), stacked (jit + scan)."""

  @jax.jit
  def run(params, grads):
    def body(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), (params, None if read is None else read(state))

    return jax.lax.scan(body, (params, tx.init(params)), grads)[1]

  return run(jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, grads))


def keras_run(optimizer, grads=GRADS, params=PARAMS, setup=None):
  """Every call's variables and optimizer variables, through ``stateless_apply``."""
  variables = [keras.Variable(params[n], name=n) for n in NAMES]
  if setup is not None:
    setup(optimizer, variables)
  optimizer.build(variables)

  @jax.jit
  def run(optimizer_values, values, grads):
    def body(carry, g):
      optimizer_values, values = carry
      values, optimizer_values = optimizer.stateless_apply(
        optimizer_values, list(g), values
      )
      return (optimizer_values, values), (values, optimizer_values)

    return jax.lax.scan(body, (optimizer_values, values), grads)[1]

  # Keras's EMA multiplies a float32 variable by an int32 flag, which this
  # suite's strict promotion refuses: trace Keras under the default.
  with jax.numpy_dtype_promotion("standard"):
    trajectory, optimizer_trajectory = run(
      [v.value for v in optimizer.variables],
      [v.value for v in variables],
      [jnp.asarray(grads[n]) for n in NAMES],
    )
  slots = {id(v): i for i, v in enumerate(optimizer.variables)}
  return dict(zip(NAMES, trajectory, strict=True)), optimizer_trajectory, slots


def _averages(optimizer, optimizer_trajectory, slots):
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  offset = len(optimizer._variables) if inner is not optimizer else 0
  return {
    n: optimizer_trajectory[offset + slots_of(inner)[id(a)]]
    for n, a in zip(NAMES, inner._model_variables_moving_average, strict=True)
  }


def slots_of(optimizer):
  return {id(v): i for i, v in enumerate(optimizer.variables)}


# ----------------------------------------------------------------------------
# use_ema, ema_momentum, ema_overwrite_frequency

OPTIMIZERS = {
  "SGD(momentum)": ("SGD", {"learning_rate": 0.02, "momentum": 0.9}),
  "Adagrad": ("Adagrad", {"learning_rate": 0.1}),
  "RMSprop(centered, momentum)": (
    "RMSprop",
    {"learning_rate": 0.003, "centered": True, "momentum": 0.5},
  ),
  "Adam(weight_decay)": ("Adam", {"learning_rate": 0.02, "weight_decay": 0.05}),
}

EMA_CASES = {
  "no overwrite": {"use_ema": True},
  "overwrite every call": {"use_ema": True, "ema_overwrite_frequency": 1},
  "overwrite every 7": {
    "use_ema": True,
    "ema_momentum": 0.9,
    "ema_overwrite_frequency": 7,
  },
}


@pytest.mark.parametrize("ema", list(EMA_CASES))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_ema_matches_keras(name, ema):
  cls, kwargs = OPTIMIZERS[name]
  kwargs = dict(kwargs, **EMA_CASES[ema])
  ours, our_average = optx_run(
    getattr(optx.keras, cls)(**kwargs), read=optx.keras.ema_params
  )
  optimizer = getattr(keras.optimizers, cls)(**kwargs)
  theirs, optimizer_trajectory, slots = keras_run(optimizer)
  # Overwritten by the average at every call, the parameters move slowly.
  moved = 0.01 if ema == "overwrite every call" else 0.1
  check(f"{name} {ema}", ours, theirs, moved=moved)
  check(
    f"{name} {ema}: the average",
    our_average,
    _averages(optimizer, optimizer_trajectory, slots),
    moved=None,
  )


def test_ema_overwrites_on_keras_iterations():
  # The first call copies the parameters into the average; then every 5th
  # call writes the average into the parameters: there the parameters equal
  # the average (to the rounding of an additive update), and only there.
  tx = optx.keras.SGD(0.05, momentum=0.9, use_ema=True, ema_overwrite_frequency=5)
  params, average = optx_run(tx, read=optx.keras.ema_params)
  for n in NAMES:
    p, a = np.asarray(params[n]), np.asarray(average[n])
    close = np.abs(p - a) <= 1e-6 * np.maximum(np.abs(a), 1.0)
    calls = np.nonzero(np.all(close, axis=tuple(range(1, p.ndim))))[0]
    np.testing.assert_array_equal(calls, np.r_[0, np.arange(4, STEPS, 5)])


def test_ema_params_and_finalize_variable_values():
  params = {"w": jnp.ones(3)}
  tx = optx.keras.Adam(0.1, use_ema=True)
  state = tx.init(params)
  np.testing.assert_array_equal(optx.keras.ema_params(state)["w"], np.zeros(3))
  updates, state = tx.update({"w": jnp.ones(3)}, state, params)
  new = optax.apply_updates(params, updates)
  # The first call copies the parameters (Keras's momentum is 0 there).
  np.testing.assert_array_equal(optx.keras.ema_params(state)["w"], new["w"])
  final = optx.keras.finalize_variable_values(state, new)
  assert final is optx.keras.ema_params(state)
  plain = optx.keras.Adam(0.1)
  assert optx.keras.finalize_variable_values(plain.init(params), params) is params
  with pytest.raises(ValueError, match=r"use_ema=True; this state holds 0"):
    optx.keras.ema_params(plain.init(params))
  with pytest.raises(ValueError, match=r"use_ema=True\) needs params"):
    tx.update({"w": jnp.ones(3)}, state)


# ----------------------------------------------------------------------------
# gradient_accumulation_steps

ACCUMULATION_CASES = {
  "SGD(momentum, ExponentialDecay), n=3": (
    "SGD",
    lambda s: {"learning_rate": s.ExponentialDecay(0.05, 20, 0.5), "momentum": 0.9},
    3,
  ),
  "SGD(PiecewiseConstantDecay at its boundaries), n=4": (
    "SGD",
    lambda s: {
      "learning_rate": s.PiecewiseConstantDecay([99, 100, 103], [0.1, 0.05, 0.02, 0.01])
    },
    4,
  ),
  "Adagrad(clipnorm), n=2": (
    "Adagrad",
    lambda s: {"learning_rate": 0.2, "clipnorm": 1.0},
    2,
  ),
  "RMSprop(momentum, global_clipnorm), n=5": (
    "RMSprop",
    lambda s: {"learning_rate": 0.005, "momentum": 0.9, "global_clipnorm": 2.0},
    5,
  ),
  "Adam(CosineDecay warmup, weight_decay), n=3": (
    "Adam",
    lambda s: {
      "learning_rate": s.CosineDecay(0.0, 200, warmup_target=0.05, warmup_steps=40),
      "weight_decay": 0.1,
    },
    3,
  ),
  "Adam(amsgrad), n=7": ("Adam", lambda s: {"learning_rate": 0.05, "amsgrad": True}, 7),
}


@pytest.mark.parametrize("case", list(ACCUMULATION_CASES))
def test_gradient_accumulation_matches_keras(case):
  cls, make, n = ACCUMULATION_CASES[case]
  ours = optx_run(
    getattr(optx.keras, cls)(
      **make(optx.keras.schedules), gradient_accumulation_steps=n
    )
  )[0]
  theirs = keras_run(
    getattr(keras.optimizers, cls)(
      **make(keras.optimizers.schedules), gradient_accumulation_steps=n
    )
  )[0]
  check(case, ours, theirs)
  # The parameters change on the calls (r + 1) % n == 0 only (CosineDecay
  # reaches 0 at the end, where they stop).
  for name in NAMES:
    trajectory = np.concatenate([PARAMS[name][None], np.asarray(ours[name])])
    moved = np.any(
      trajectory[1:] != trajectory[:-1], axis=tuple(range(1, trajectory.ndim))
    )
    calls = np.nonzero(moved)[0]
    assert set(calls) <= set(range(n - 1, STEPS, n)) and len(calls) >= 60 // n


def test_optax_multisteps_counts_differently():
  # optax.MultiSteps gives the inner optimizer the number of updates applied
  # as its step; Keras's schedules read every call. With a schedule the two
  # part ways; optx.keras's gradient_accumulation_steps follows Keras.
  s = optx.keras.schedules
  schedule = s.PiecewiseConstantDecay([30, 60], [0.1, 0.01, 0.001])
  theirs = keras_run(
    keras.optimizers.SGD(
      keras.optimizers.schedules.PiecewiseConstantDecay([30, 60], [0.1, 0.01, 0.001]),
      momentum=0.9,
      gradient_accumulation_steps=3,
    )
  )[0]
  ours = optx_run(
    optx.keras.SGD(schedule, momentum=0.9, gradient_accumulation_steps=3)
  )[0]
  check("SGD(PiecewiseConstantDecay) n=3", ours, theirs)
  multisteps = optax.MultiSteps(optx.keras.SGD(schedule, momentum=0.9), 3)
  with jax.numpy_dtype_promotion("standard"):  # optax's own arithmetic
    multi = optx_run(multisteps.gradient_transformation())[0]
  assert relative_error(multi, theirs) > 1e-2


def test_gradient_accumulation_with_ema_matches_keras():
  # EMA moves on every call and reads Keras's iterations (calls // n): it
  # overwrites on n calls in a row.
  kwargs = dict(
    learning_rate=0.05,
    momentum=0.9,
    use_ema=True,
    ema_momentum=0.8,
    ema_overwrite_frequency=4,
    gradient_accumulation_steps=3,
  )
  ours, average = optx_run(optx.keras.SGD(**kwargs), read=optx.keras.ema_params)
  optimizer = keras.optimizers.SGD(**kwargs)
  theirs, trajectory, slots = keras_run(optimizer)
  check("SGD(momentum) n=3, EMA every 4", ours, theirs)
  check(
    "SGD(momentum) n=3, EMA every 4: the average",
    average,
    _averages(optimizer, trajectory, slots),
  )


def test_gradient_accumulation_with_learning_rate_scheduler_matches_keras():
  # The callback counts every call (Keras's fit counts batches): an epoch of
  # 10 calls ends between two updates of n = 3.
  epochs, per_epoch = 30, 10

  def fn(epoch, lr):
    return lr * 0.9 if epoch % 3 == 2 else lr

  scheduler = optx.keras.LearningRateScheduler(fn, steps_per_epoch=per_epoch)
  ours = optx_run(
    optx.keras.Adam(0.02, callbacks=[scheduler], gradient_accumulation_steps=3)
  )[0]
  optimizer = keras.optimizers.Adam(0.02, gradient_accumulation_steps=3)
  variables = [keras.Variable(PARAMS[n], name=n) for n in NAMES]
  optimizer.build(variables)
  lr_index = [v.path for v in optimizer.variables].index(optimizer._learning_rate.path)

  @jax.jit
  def run(optimizer_values, values, grads):
    def body(carry, g):
      optimizer_values, values = carry
      values, optimizer_values = optimizer.stateless_apply(
        optimizer_values, list(g), values
      )
      return (optimizer_values, values), values

    return jax.lax.scan(body, (optimizer_values, values), grads)

  optimizer_values = [v.value for v in optimizer.variables]
  values = [v.value for v in variables]
  pieces = []
  lr = 0.02
  for epoch in range(epochs):
    lr = float(np.float32(fn(epoch, lr)))
    optimizer_values[lr_index] = jnp.asarray(lr, jnp.float32)
    batch = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
    with jax.numpy_dtype_promotion("standard"):
      (optimizer_values, values), trajectory = run(
        optimizer_values, values, [jnp.asarray(GRADS[n][batch]) for n in NAMES]
      )
    optimizer_values = list(optimizer_values)
    pieces.append(trajectory)
  theirs = {n: np.concatenate([p[i] for p in pieces]) for i, n in enumerate(NAMES)}
  check("Adam(LearningRateScheduler) n=3", ours, theirs)


# ----------------------------------------------------------------------------
# exclude_from_weight_decay

EXCLUDE_CASES = {
  "names ['bias']": (["bias"], {"var_names": ["bias"]}),
  "regexes ['^ker', 'nv$']": (["^ker", "nv$"], {"var_names": ["^ker", "nv$"]}),
  "mask": (
    {"bias": True, "conv": False, "kernel": True},
    {"var_list": ["bias", "kernel"]},
  ),
  "function mask": (
    lambda params: jax.tree.map(lambda p: p.ndim == 3, params),
    {"var_list": ["conv"]},
  ),
}


@pytest.mark.parametrize("case", list(EXCLUDE_CASES))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_exclude_from_weight_decay_matches_keras(name, case):
  cls, kwargs = OPTIMIZERS[name]
  kwargs = dict(kwargs, weight_decay=0.2)
  ours_exclude, theirs_exclude = EXCLUDE_CASES[case]
  ours = optx_run(
    getattr(optx.keras, cls)(**kwargs, exclude_from_weight_decay=ours_exclude)
  )[0]

  def setup(optimizer, variables):
    by_name = dict(zip(NAMES, variables, strict=True))
    if "var_list" in theirs_exclude:
      optimizer.exclude_from_weight_decay(
        var_list=[by_name[n] for n in theirs_exclude["var_list"]]
      )
    else:
      optimizer.exclude_from_weight_decay(var_names=theirs_exclude["var_names"])

  theirs = keras_run(getattr(keras.optimizers, cls)(**kwargs), setup=setup)[0]
  check(f"{name} excluding {case}", ours, theirs)


def test_excluded_leaves_are_bitwise_those_without_decay():
  kwargs = {"learning_rate": 0.02, "momentum": 0.9}
  excluded = optx_run(
    optx.keras.SGD(
      **kwargs, weight_decay=0.3, exclude_from_weight_decay=["bias", "conv"]
    )
  )[0]
  plain = optx_run(optx.keras.SGD(**kwargs))[0]
  decayed = optx_run(optx.keras.SGD(**kwargs, weight_decay=0.3))[0]
  for n in ("bias", "conv"):
    np.testing.assert_array_equal(excluded[n], plain[n])
  np.testing.assert_array_equal(excluded["kernel"], decayed["kernel"])


def test_exclusion_matches_the_path_of_nested_leaves():
  params = {"dense": {"kernel": jnp.ones(2), "bias": jnp.ones(2)}, "out": [jnp.ones(2)]}
  tx = optx.keras.SGD(
    0.1, weight_decay=0.5, exclude_from_weight_decay=["dense/bias", "^out/0$"]
  )
  updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
  assert float(updates["dense"]["kernel"][0]) != 0.0
  assert float(updates["dense"]["bias"][0]) == 0.0
  assert float(updates["out"][0][0]) == 0.0


# ----------------------------------------------------------------------------
# loss_scale_factor and LossScaleOptimizer


def _with_non_finite(grads, calls):
  grads = {n: g.copy() for n, g in grads.items()}
  for i, call in enumerate(calls):
    name = NAMES[i % len(NAMES)]
    grads[name][call].flat[i % grads[name][call].size] = [np.inf, -np.inf, np.nan][
      i % 3
    ]
  return grads


SCALED = {n: g * np.float32(1024.0) for n, g in GRADS.items()}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_loss_scale_factor_matches_keras(name):
  cls, kwargs = OPTIMIZERS[name]
  ours = optx_run(
    getattr(optx.keras, cls)(**kwargs, loss_scale_factor=1000.0), grads=SCALED
  )[0]
  theirs = keras_run(
    getattr(keras.optimizers, cls)(**kwargs, loss_scale_factor=1000.0), grads=SCALED
  )[0]
  check(f"{name} loss_scale_factor=1000", ours, theirs)


def _scale_and_counter(state):
  return optx.keras.loss_scale(state), state.step_counter


LOSS_SCALE_CASES = {
  "SGD(momentum), growth 25": (
    "SGD",
    {"learning_rate": 0.02, "momentum": 0.9},
    {"dynamic_growth_steps": 25},
  ),
  "Adam(weight_decay), growth 40, scale 2**10": (
    "Adam",
    {"learning_rate": 0.02, "weight_decay": 0.05},
    {"dynamic_growth_steps": 40, "initial_scale": 1024.0},
  ),
  "RMSprop(momentum), defaults": (
    "RMSprop",
    {"learning_rate": 0.003, "momentum": 0.5},
    {},
  ),
  "Adam(use_ema, accumulation 3), growth 10": (
    "Adam",
    {
      "learning_rate": 0.02,
      "use_ema": True,
      "ema_overwrite_frequency": 5,
      "gradient_accumulation_steps": 3,
    },
    {"dynamic_growth_steps": 10},
  ),
  "Adagrad(loss_scale_factor switched off), growth 30": (
    "Adagrad",
    {"learning_rate": 0.1, "loss_scale_factor": 7.0},
    {"dynamic_growth_steps": 30},
  ),
}


@pytest.mark.parametrize("case", list(LOSS_SCALE_CASES))
def test_loss_scale_optimizer_matches_keras(case):
  cls, kwargs, scaling = LOSS_SCALE_CASES[case]
  # Non-finite gradients at single calls and on a run of calls (the scale
  # halves on each), between which the scale grows back.
  grads = _with_non_finite(SCALED, [3, 50, 51, 52, 53, 120, 121, 299])
  ours, (scale, counter) = optx_run(
    optx.keras.LossScaleOptimizer(getattr(optx.keras, cls)(**kwargs), **scaling),
    grads=grads,
    read=_scale_and_counter,
  )
  optimizer = keras.optimizers.LossScaleOptimizer(
    getattr(keras.optimizers, cls)(**kwargs), **scaling
  )
  theirs, trajectory, slots = keras_run(optimizer, grads=grads)
  check(case, ours, theirs, moved=0.02)
  their_scale = np.asarray(trajectory[slots[id(optimizer.dynamic_scale)]])
  their_counter = np.asarray(trajectory[slots[id(optimizer.step_counter)]])
  np.testing.assert_array_equal(np.asarray(scale), their_scale)
  np.testing.assert_array_equal(np.asarray(counter), their_counter)
  assert len(set(their_scale.tolist())) > 3  # it shrank and grew
  # A skipped call leaves the parameters as they were.
  for call in (50, 51, 120):
    for n in NAMES:
      np.testing.assert_array_equal(ours[n][call], ours[n][call - 1])


def test_scale_loss_multiplies_by_the_current_scale():
  params = jnp.zeros(2)
  tx = optx.keras.LossScaleOptimizer(
    optx.keras.SGD(0.1), initial_scale=16.0, dynamic_growth_steps=2
  )
  state = tx.init(params)
  assert float(optx.keras.scale_loss(state, 2.0)) == 32.0
  for g, scale in (
    (jnp.ones(2), 16.0),
    (jnp.ones(2), 32.0),
    (jnp.full(2, jnp.nan), 16.0),
  ):
    _, state = tx.update(g, state, params)
    assert float(optx.keras.loss_scale(state)) == scale
  assert float(optx.keras.scale_loss(optx.keras.SGD(0.1).init(params), 3.0)) == 3.0
  static = optx.keras.Adam(loss_scale_factor=64.0).init(params)
  assert float(optx.keras.scale_loss(static, 2.0)) == 128.0


VARIANTS = {
  "Adamax": {"learning_rate": 0.02},
  "Nadam": {"learning_rate": 0.02},
  "AdamW": {"learning_rate": 0.02},
  "Adadelta": {"learning_rate": 1.0},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_options_on_the_other_keras_optimizers(name):
  # Every option at once: the loss scale, accumulation (Nadam's u_product
  # moves on the updating calls only), the average overwriting the
  # parameters, and the biases out of the weight decay.
  kwargs = dict(
    VARIANTS[name],
    weight_decay=0.05,
    use_ema=True,
    ema_momentum=0.9,
    ema_overwrite_frequency=7,
    gradient_accumulation_steps=3,
    loss_scale_factor=1024.0,
  )
  ours, average = optx_run(
    getattr(optx.keras, name)(**kwargs, exclude_from_weight_decay=["bias"]),
    grads=SCALED,
    read=optx.keras.ema_params,
  )
  optimizer = getattr(keras.optimizers, name)(**kwargs)
  theirs, trajectory, slots = keras_run(
    optimizer,
    grads=SCALED,
    setup=lambda o, _: o.exclude_from_weight_decay(var_names=["bias"]),
  )
  check(f"{name} with every option", ours, theirs, moved=0.05)
  check(
    f"{name} with every option: the average",
    average,
    _averages(optimizer, trajectory, slots),
    moved=None,
  )


# ----------------------------------------------------------------------------
# Schedules: CosineDecay's warmup, CosineDecayRestarts

COSINE_CASES = {
  "CosineDecay(warmup)": (
    "CosineDecay",
    {
      "initial_learning_rate": 0.001,
      "decay_steps": 150,
      "warmup_target": 0.05,
      "warmup_steps": 60,
    },
  ),
  "CosineDecay(warmup from 0, alpha)": (
    "CosineDecay",
    {
      "initial_learning_rate": 0.0,
      "decay_steps": 1000,
      "alpha": 0.01,
      "warmup_target": 0.1,
      "warmup_steps": 100,
    },
  ),
  "CosineDecay(warmup_steps=0)": (
    "CosineDecay",
    {"initial_learning_rate": 0.02, "decay_steps": 100, "warmup_target": 0.1},
  ),
  "CosineDecayRestarts()": (
    "CosineDecayRestarts",
    {"initial_learning_rate": 0.1, "first_decay_steps": 10},
  ),
  "CosineDecayRestarts(t_mul=1, m_mul=0.5, alpha)": (
    "CosineDecayRestarts",
    {
      "initial_learning_rate": 0.05,
      "first_decay_steps": 7,
      "t_mul": 1.0,
      "m_mul": 0.5,
      "alpha": 0.1,
    },
  ),
  "CosineDecayRestarts(t_mul=1.5, m_mul=0.9)": (
    "CosineDecayRestarts",
    {
      "initial_learning_rate": 0.05,
      "first_decay_steps": 13,
      "t_mul": 1.5,
      "m_mul": 0.9,
      "alpha": 0.01,
    },
  ),
  "CosineDecayRestarts(t_mul=3)": (
    "CosineDecayRestarts",
    {"initial_learning_rate": 0.05, "first_decay_steps": 3, "t_mul": 3.0},
  ),
}


@pytest.mark.parametrize("case", list(COSINE_CASES))
def test_cosine_schedules_equal_keras_at_every_step(case):
  name, kwargs = COSINE_CASES[case]
  ours = getattr(optx.keras.schedules, name)(**kwargs)
  theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
  steps = jnp.arange(0, 5000, dtype=jnp.int32)
  a = np.asarray(jax.jit(jax.vmap(ours))(steps))
  b = np.asarray(jax.jit(jax.vmap(theirs))(steps))
  np.testing.assert_array_equal(a, b)
  # Eagerly, op by op, a value may round apart from the compiled one (XLA
  # fuses under jit), in Keras as in optx. Keras's warmup runs in a cond whose
  # operands are all constants when called eagerly, so XLA folds it: equal to
  # the compiled value to a rounding. Everything else is Keras's eager value.
  folded = name == "CosineDecay" and "warmup_target" in kwargs
  for step in (0, 1, 5, 6, 7, 9, 10, 11, 13, 60, 149, 150, 209, 210, 211):
    value = float(ours(step))
    np.testing.assert_allclose(value, b[step], rtol=0, atol=4e-7 * np.max(b))
    if not folded:
      assert value == float(theirs(step)), step
  print(f"\n[keras options] {case}: 0 differences in 5000 steps (jit)")


def test_restarts_fall_where_keras_restarts():
  # t_mul = 2: periods of 10, 20, 40 steps; each restart jumps back up.
  schedule = optx.keras.schedules.CosineDecayRestarts(0.1, 10, m_mul=0.5)
  values = np.asarray(jax.vmap(schedule)(jnp.arange(80)))
  jumps = np.nonzero(np.diff(values) > 0)[0] + 1
  np.testing.assert_array_equal(jumps, [10, 30, 70])
  np.testing.assert_allclose(
    values[[0, 10, 30, 70]], [0.1, 0.05, 0.025, 0.0125], rtol=1e-6
  )


@pytest.mark.parametrize(
  "case",
  ["CosineDecayRestarts(t_mul=1.5, m_mul=0.9)", "CosineDecay(warmup from 0, alpha)"],
)
def test_cosine_schedule_as_learning_rate_matches_keras(case):
  name, kwargs = COSINE_CASES[case]
  ours = optx_run(
    optx.keras.SGD(getattr(optx.keras.schedules, name)(**kwargs), momentum=0.9)
  )[0]
  theirs = keras_run(
    keras.optimizers.SGD(
      getattr(keras.optimizers.schedules, name)(**kwargs), momentum=0.9
    )
  )[0]
  check(f"SGD(momentum, {case})", ours, theirs)


# ----------------------------------------------------------------------------
# Bad input

BAD = [
  (
    lambda: optx.keras.SGD(use_ema=1),
    TypeError,
    r"keras.SGD\(use_ema=...\) must be a bool",
  ),
  (
    lambda: optx.keras.Adam(use_ema=True, ema_momentum=1.5),
    ValueError,
    r"ema_momentum=...\) must be <= 1",
  ),
  (
    lambda: optx.keras.Adam(use_ema=True, ema_overwrite_frequency=0),
    ValueError,
    r"ema_overwrite_frequency=...\) must be >= 1",
  ),
  (
    lambda: optx.keras.Adam(use_ema=True, ema_overwrite_frequency=2.5),
    TypeError,
    r"ema_overwrite_frequency=...\) must be an integer",
  ),
  (
    lambda: optx.keras.RMSprop(gradient_accumulation_steps=1),
    ValueError,
    r"gradient_accumulation_steps=...\) must be >= 2",
  ),
  (
    lambda: optx.keras.Adagrad(gradient_accumulation_steps=2.0),
    TypeError,
    r"gradient_accumulation_steps=...\) must be an integer",
  ),
  (
    lambda: optx.keras.SGD(loss_scale_factor=0.0),
    ValueError,
    r"loss_scale_factor=...\) must be > 0",
  ),
  (
    lambda: optx.keras.Adam(weight_decay=0.1, exclude_from_weight_decay="bias"),
    TypeError,
    r"exclude_from_weight_decay=...\) takes a list of names",
  ),
  (
    lambda: optx.keras.Adam(weight_decay=0.1, exclude_from_weight_decay=["bias", 3]),
    TypeError,
    r"mixes names with 3",
  ),
  (
    lambda: optx.keras.Adam(weight_decay=0.1, exclude_from_weight_decay=["("]),
    ValueError,
    r"not a regular expression",
  ),
  (
    lambda: optx.keras.LossScaleOptimizer(0.1),
    TypeError,
    r"inner_optimizer=...\) must be an optax",
  ),
  (
    lambda: optx.keras.LossScaleOptimizer(optx.keras.SGD(), initial_scale=-1.0),
    ValueError,
    r"initial_scale=...\) must be > 0",
  ),
  (
    lambda: optx.keras.LossScaleOptimizer(optx.keras.SGD(), dynamic_growth_steps=0),
    ValueError,
    r"dynamic_growth_steps=...\) must be >= 1",
  ),
  (
    lambda: optx.keras.schedules.CosineDecayRestarts(0.1, 0),
    ValueError,
    r"first_decay_steps=...\) must be > 0",
  ),
  (
    lambda: optx.keras.Adam(not_an_option=1),
    TypeError,
    r"keras.Adam\(\) got an unexpected keyword argument 'not_an_option'",
  ),
  (
    lambda: optx.keras.SGD(name="sgd"),
    TypeError,
    r"keras.SGD\(\) got an unexpected keyword argument 'name' \(an optax",
  ),
]


@pytest.mark.parametrize("make,error,message", BAD)
def test_bad_options_raise_and_name_the_argument(make, error, message):
  with pytest.raises(error, match=message):
    make()


def test_option_defaults_are_keras_defaults():
  import inspect

  from optx.keras import _options

  ours = inspect.signature(_options.build).parameters
  for name in ("SGD", "Adagrad", "RMSprop", "Adam"):
    theirs = inspect.signature(getattr(keras.optimizers, name)).parameters
    for argument in (
      "use_ema",
      "ema_momentum",
      "ema_overwrite_frequency",
      "gradient_accumulation_steps",
      "loss_scale_factor",
    ):
      assert ours[argument].default == theirs[argument].default, (name, argument)
  assert set(_options.Options.__annotations__) == {
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "gradient_accumulation_steps",
    "exclude_from_weight_decay",
    "loss_scale_factor",
  }
  theirs = inspect.signature(keras.optimizers.LossScaleOptimizer).parameters
  ours = inspect.signature(optx.keras.LossScaleOptimizer).parameters
  for argument in ("initial_scale", "dynamic_growth_steps"):
    assert ours[argument].default == theirs[argument].default, argument


def test_a_mask_unlike_the_params_raises_and_names_the_argument():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  tx = optx.keras.SGD(0.1, weight_decay=0.1, exclude_from_weight_decay={"a": True})
  with pytest.raises(
    ValueError, match=r"exclude_from_weight_decay=...\) must be a pytree of bools"
  ):
    tx.update(params, tx.init(params), params)


def test_options_keep_the_state_structure_and_jit_once():
  params = {n: jnp.asarray(p) for n, p in PARAMS.items()}
  tx = optx.keras.Adam(
    0.01,
    weight_decay=0.1,
    use_ema=True,
    ema_overwrite_frequency=3,
    gradient_accumulation_steps=2,
    exclude_from_weight_decay=["bias"],
    loss_scale_factor=8.0,
  )
  tx = optx.keras.LossScaleOptimizer(tx, dynamic_growth_steps=3)
  state = tx.init(params)
  traces = []

  @jax.jit
  def step(params, state, g):
    traces.append(1)
    updates, state = tx.update(g, state, params)
    return optax.apply_updates(params, updates), state

  for k in range(6):
    new_params, new_state = step(
      params, state, jax.tree.map(lambda p, k=k: jnp.full_like(p, k), params)
    )
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    params, state = new_params, new_state
  assert len(traces) == 1
